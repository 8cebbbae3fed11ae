/*
 * File target discovery for one scrape config (see discovery.h): static
 * groups, file_sd files (re-read when changed on disk or when
 * refresh_interval passes), and Kubernetes pods read from the kubelet's log
 * directory; then relabelling and Promtail's target rules. Owns the file_sd
 * cache and the targets lists it hands out. Runs on the caller's
 * (discovery) thread and blocks on disk.
 */
#include "shipper/discovery.h"

#include "common/log.h"
#include "common/mem.h"
#include "common/yaml.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KUBELET_PODS_DIR "/var/log/pods"
/* Bounds on what a directory scan or an SD file may feed in. */
#define MAX_PODS_ENTRIES 100000u
#define MAX_SD_FILE (16u << 20)

/* One target group as a file_sd file lists it. */
struct group {
    struct noa_kvlist labels;
    char **targets;
    size_t n_targets;
};

/* One file matched by a file_sd glob, with what it held when last read. */
struct sd_file {
    char *path;
    struct timespec mtime;
    off_t size;
    ino_t ino;
    int64_t read_ns;
    struct group *groups;
    size_t n_groups;
    int seen; /* matched in the current run */
};

struct sd_cache {
    struct sd_file *v;
    size_t n, cap;
};

struct noa_discovery {
    const struct noa_shipper_scrape_config *sc;
    char *pods_dir_opt; /* from the options, or NULL */
    char *node_name;
    char *hostname;
    struct sd_cache *file_sd; /* one per file_sd config */
    int pods_dir_warned;
};

/* ---- small helpers ---------------------------------------------------------------- */

/* The buffer's bytes as an owned C string (b is left empty). */
static char *buf_take(struct noa_buf *b)
{
    noa_buf_cstr(b);
    return noa_buf_steal(b, NULL);
}

static char *env_or_host(const char *first_env, const char *second_env)
{
    const char *v = first_env ? getenv(first_env) : NULL;
    if (!v || !*v)
        v = second_env ? getenv(second_env) : NULL;
    if (v && *v)
        return noa_xstrdup(v);
    char host[256] = "";
    if (gethostname(host, sizeof(host) - 1) != 0)
        host[0] = '\0';
    return noa_xstrdup(host);
}

static void groups_free(struct group *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        noa_kvlist_fini(&g[i].labels);
        for (size_t j = 0; j < g[i].n_targets; j++)
            noa_free(g[i].targets[j]);
        noa_free(g[i].targets);
    }
    noa_free(g);
}

static void cache_fini(struct sd_cache *c)
{
    for (size_t i = 0; i < c->n; i++) {
        noa_free(c->v[i].path);
        groups_free(c->v[i].groups, c->v[i].n_groups);
    }
    noa_free(c->v);
}

void noa_discovery_free(struct noa_discovery *d)
{
    if (!d)
        return;
    for (uint32_t i = 0; d->file_sd && i < d->sc->n_file_sd; i++)
        cache_fini(&d->file_sd[i]);
    noa_free(d->file_sd);
    noa_free(d->pods_dir_opt);
    noa_free(d->node_name);
    noa_free(d->hostname);
    noa_free(d);
}

int noa_discovery_new(const struct noa_shipper_scrape_config *sc,
                      const struct noa_discovery_options *opt, struct noa_discovery **out,
                      struct noa_error *err)
{
    *out = NULL;
    if (!sc || !sc->job_name)
        return noa_error_set(err, NOA_EINVAL, "discovery needs a scrape config with a job_name");
    struct noa_discovery *d = noa_xcalloc(1, sizeof(*d));
    d->sc = sc;
    d->pods_dir_opt = opt && opt->pods_dir ? noa_xstrdup(opt->pods_dir) : NULL;
    d->node_name =
        opt && opt->node_name ? noa_xstrdup(opt->node_name) : env_or_host("NODE_NAME", "HOSTNAME");
    d->hostname = opt && opt->hostname ? noa_xstrdup(opt->hostname) : env_or_host("HOSTNAME", NULL);
    d->file_sd = noa_xcalloc(sc->n_file_sd ? sc->n_file_sd : 1, sizeof(*d->file_sd));
    *out = d;
    return 0;
}

/* ---- targets list --------------------------------------------------------------------- */

static void target_fini(struct noa_discovery_target *t)
{
    noa_free(t->key);
    noa_free(t->path);
    noa_free(t->path_exclude);
    noa_kvlist_fini(&t->labels);
    noa_kvlist_fini(&t->discovered);
}

void noa_discovery_targets_fini(struct noa_discovery_targets *t)
{
    for (size_t i = 0; i < t->n; i++)
        target_fini(&t->v[i]);
    noa_free(t->v);
    memset(t, 0, sizeof(*t));
}

static struct noa_discovery_target *targets_push(struct noa_discovery_targets *t)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->v = noa_xrealloc(t->v, t->cap * sizeof(*t->v));
    }
    struct noa_discovery_target *x = &t->v[t->n++];
    memset(x, 0, sizeof(*x));
    noa_kvlist_init(&x->labels);
    noa_kvlist_init(&x->discovered);
    return x;
}

static char *label_dup(const struct noa_kvlist *l, const char *name)
{
    struct noa_str v;
    if (!noa_kvlist_get(l, noa_str_c(name), &v) || v.len == 0)
        return NULL;
    return noa_xstrndup(v.p, v.len);
}

/* Re-roots a __path__ glob under the configured pods dir. */
static char *reroot(const char *path, const char *pods_dir)
{
    size_t pre = sizeof(KUBELET_PODS_DIR) - 1;
    if (!pods_dir || strcmp(pods_dir, KUBELET_PODS_DIR) == 0 ||
        strncmp(path, KUBELET_PODS_DIR "/", pre + 1) != 0)
        return noa_xstrdup(path);
    struct noa_buf b = {0};
    size_t dl = strlen(pods_dir);
    while (dl > 1 && pods_dir[dl - 1] == '/')
        dl--;
    noa_buf_append(&b, pods_dir, dl);
    noa_buf_append(&b, path + pre, strlen(path + pre));
    return buf_take(&b);
}

/*
 * Promtail's per-target rules over the discovered labels in *t (already
 * pushed): relabel, __host__, __path__, strip "__" labels, key. Returns 1
 * when the target stays, 0 when it was dropped (and counted).
 */
static int finish_target(struct noa_discovery *d, struct noa_discovery_targets *out,
                         struct noa_discovery_target *t, const char *k8s_dir)
{
    struct noa_kvlist *l = &t->labels;
    noa_kvlist_copy(l, &t->discovered);
    if (!noa_relabel_process(d->sc->relabel, l)) {
        out->dropped_relabel++;
        return 0;
    }
    struct noa_str host;
    if (noa_kvlist_get(l, NOA_STR("__host__"), &host) && !noa_str_eq_c(host, d->hostname)) {
        out->dropped_wrong_host++;
        return 0;
    }
    char *path = label_dup(l, "__path__");
    if (!path) {
        out->dropped_no_path++;
        return 0;
    }
    t->path = reroot(path, k8s_dir);
    noa_free(path);
    t->path_exclude = label_dup(l, "__path_exclude__");
    /* Labels starting with "__" never leave discovery; sort the rest. */
    struct noa_kvlist sorted;
    struct noa_labels ls;
    noa_kvlist_init(&sorted);
    noa_kvlist_labels(l, &ls);
    for (uint32_t i = 0; i < ls.n; i++)
        if (!(ls.v[i].name.len >= 2 && ls.v[i].name.p[0] == '_' && ls.v[i].name.p[1] == '_'))
            noa_kvlist_set(&sorted, ls.v[i].name, ls.v[i].value);
    noa_kvlist_copy(l, &sorted);
    noa_kvlist_fini(&sorted);
    struct noa_buf key = {0};
    noa_buf_append(&key, t->path, strlen(t->path));
    noa_buf_putc(&key, ':');
    noa_kvlist_format(l, &key);
    if (t->path_exclude) {
        noa_buf_putc(&key, ':');
        noa_buf_append(&key, t->path_exclude, strlen(t->path_exclude));
    }
    t->key = buf_take(&key);
    return 1;
}

/* Adds one target of a group: group labels, then the target's address. */
static void add_target(struct noa_discovery *d, struct noa_discovery_targets *out,
                       const struct noa_kvlist *group_labels, const char *address,
                       const char *filepath)
{
    struct noa_discovery_target *t = targets_push(out);
    noa_kvlist_copy(&t->discovered, group_labels);
    if (address)
        noa_kvlist_set(&t->discovered, NOA_STR("__address__"), noa_str_c(address));
    if (filepath)
        noa_kvlist_set(&t->discovered, NOA_STR("__meta_filepath"), noa_str_c(filepath));
    if (!finish_target(d, out, t, NULL)) {
        target_fini(t);
        out->n--;
    }
}

/* ---- static_configs ----------------------------------------------------------------- */

static void run_static(struct noa_discovery *d, struct noa_discovery_targets *out)
{
    for (uint32_t i = 0; i < d->sc->n_static; i++) {
        const struct noa_shipper_static_config *s = &d->sc->static_configs[i];
        if (s->targets.n == 0)
            add_target(d, out, &s->labels, "localhost", NULL);
        for (int j = 0; j < s->targets.n; j++)
            add_target(d, out, &s->labels, s->targets.v[j], NULL);
    }
}

/* ---- file_sd_configs ---------------------------------------------------------------- */

/* Parses an SD file's groups. Returns 0 or NOA_EINVAL with err set. */
static int parse_sd(const struct noa_yaml_node *root, struct group **out, size_t *n,
                    struct noa_error *err)
{
    *out = NULL;
    *n = 0;
    if (noa_yaml_is_null(root))
        return 0;
    if (root->kind != NOA_YAML_SEQ)
        return noa_yaml_error(err, root, "cannot unmarshal %s into []*targetgroup.Group",
                              noa_yaml_type_name(root));
    struct group *g = noa_xcalloc(root->n ? root->n : 1, sizeof(*g));
    int rc = 0;
    for (size_t i = 0; i < root->n && rc == 0; i++) {
        const struct noa_yaml_node *m = root->items[i];
        noa_kvlist_init(&g[i].labels);
        *n = i + 1;
        if (m->kind != NOA_YAML_MAP) {
            rc = noa_yaml_error(err, m, "cannot unmarshal %s into targetgroup.Group",
                                noa_yaml_type_name(m));
            break;
        }
        for (size_t k = 0; k < m->n && rc == 0; k++) {
            const struct noa_yaml_node *key = m->pairs[k].key, *v = m->pairs[k].value;
            if (strcmp(key->str, "labels") == 0 &&
                (noa_yaml_is_null(v) || v->kind == NOA_YAML_MAP)) {
                for (size_t j = 0; v->kind == NOA_YAML_MAP && j < v->n && rc == 0; j++) {
                    const struct noa_yaml_pair *p = &v->pairs[j];
                    if (!noa_relabel_valid_name(p->key->str, p->key->len) ||
                        p->value->kind != NOA_YAML_SCALAR)
                        rc = noa_yaml_error(err, p->key, "\"%.*s\" is not a valid label",
                                            (int)(p->key->len > 100 ? 100 : p->key->len),
                                            p->key->str);
                    else
                        noa_kvlist_set(&g[i].labels, (struct noa_str){p->key->str, p->key->len},
                                       (struct noa_str){p->value->str, p->value->len});
                }
            } else if (strcmp(key->str, "targets") == 0 &&
                       (noa_yaml_is_null(v) || v->kind == NOA_YAML_SEQ)) {
                g[i].targets = noa_xcalloc(v->n ? v->n : 1, sizeof(char *));
                for (size_t j = 0; j < v->n && rc == 0; j++) {
                    if (v->items[j]->kind != NOA_YAML_SCALAR)
                        rc = noa_yaml_error(err, v->items[j], "target must be a string");
                    else
                        g[i].targets[g[i].n_targets++] =
                            noa_xstrndup(v->items[j]->str, v->items[j]->len);
                }
            } else {
                rc = noa_yaml_error(err, key, "field %.*s not valid in a target group",
                                    (int)(key->len > 100 ? 100 : key->len), key->str);
            }
        }
    }
    if (rc) {
        groups_free(g, *n);
        *n = 0;
        return rc;
    }
    *out = g;
    return 0;
}

static void sd_file_read(struct sd_file *f, const struct stat *st, int64_t now_ns)
{
    struct noa_yaml_doc *doc = NULL;
    struct noa_error err = {0};
    struct group *g = NULL;
    size_t n = 0;
    struct noa_yaml_limits lim = {.max_bytes = MAX_SD_FILE};
    f->read_ns = now_ns;
    f->mtime = st->st_mtim;
    f->size = st->st_size;
    f->ino = st->st_ino;
    int rc = noa_yaml_load_file(f->path, 0, &lim, &doc, &err);
    if (rc == 0)
        rc = parse_sd(doc->root, &g, &n, &err);
    noa_yaml_free(doc);
    if (rc) {
        /* Keep what the file held before, as Prometheus does. */
        noa_log(NOA_LOG_WARN, "discovery", "msg=\"file_sd file not read\" path=%s err=\"%s\"",
                f->path, err.msg);
        return;
    }
    groups_free(f->groups, f->n_groups);
    f->groups = g;
    f->n_groups = n;
}

static struct sd_file *cache_get(struct sd_cache *c, const char *path)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->v[i].path, path) == 0)
            return &c->v[i];
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->v = noa_xrealloc(c->v, c->cap * sizeof(*c->v));
    }
    struct sd_file *f = &c->v[c->n++];
    memset(f, 0, sizeof(*f));
    f->path = noa_xstrdup(path);
    f->read_ns = INT64_MIN;
    return f;
}

static void cache_refresh(struct sd_cache *c, const struct noa_shipper_file_sd_config *cfg,
                          int64_t now_ns)
{
    for (size_t i = 0; i < c->n; i++)
        c->v[i].seen = 0;
    for (int p = 0; p < cfg->files.n; p++) {
        glob_t gl;
        memset(&gl, 0, sizeof(gl));
        if (glob(cfg->files.v[p], 0, NULL, &gl) != 0) {
            globfree(&gl);
            continue;
        }
        for (size_t i = 0; i < gl.gl_pathc; i++) {
            struct stat st;
            if (stat(gl.gl_pathv[i], &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            struct sd_file *f = cache_get(c, gl.gl_pathv[i]);
            f->seen = 1;
            int changed = f->read_ns == INT64_MIN || st.st_mtim.tv_sec != f->mtime.tv_sec ||
                          st.st_mtim.tv_nsec != f->mtime.tv_nsec || st.st_size != f->size ||
                          st.st_ino != f->ino;
            if (changed || now_ns - f->read_ns >= cfg->refresh_interval_ns)
                sd_file_read(f, &st, now_ns);
        }
        globfree(&gl);
    }
    /* Files that vanished or stopped matching take their targets with them. */
    size_t w = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->v[i].seen) {
            c->v[w++] = c->v[i];
        } else {
            noa_free(c->v[i].path);
            groups_free(c->v[i].groups, c->v[i].n_groups);
        }
    }
    c->n = w;
}

static void run_file_sd(struct noa_discovery *d, int64_t now_ns, struct noa_discovery_targets *out)
{
    for (uint32_t i = 0; i < d->sc->n_file_sd; i++) {
        struct sd_cache *c = &d->file_sd[i];
        cache_refresh(c, &d->sc->file_sd[i], now_ns);
        for (size_t f = 0; f < c->n; f++)
            for (size_t g = 0; g < c->v[f].n_groups; g++)
                for (size_t t = 0; t < c->v[f].groups[g].n_targets; t++)
                    add_target(d, out, &c->v[f].groups[g].labels, c->v[f].groups[g].targets[t],
                               c->v[f].path);
    }
}

/* ---- kubernetes pods from the kubelet's log directory ---------------------------------- */

/* 1 when the pod name ends in Kubernetes' generateName suffix "-xxxxx". */
static size_t controller_len(const char *pod, size_t n)
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    if (n > 6 && pod[n - 6] == '-') {
        int ok = 1;
        for (size_t i = n - 5; i < n && ok; i++)
            ok = strchr(alphabet, pod[i]) != NULL && pod[i] != '\0';
        if (ok)
            return n - 6;
    }
    /* StatefulSet pods: "<name>-<ordinal>". */
    size_t i = n;
    while (i > 0 && pod[i - 1] >= '0' && pod[i - 1] <= '9')
        i--;
    if (i < n && i > 1 && pod[i - 1] == '-')
        return i - 1;
    return 0;
}

int noa_discovery_pod_labels(const char *pod_dir_name, const char *container, const char *node_name,
                             struct noa_kvlist *out)
{
    const char *u1 = strchr(pod_dir_name, '_');
    const char *u2 = strrchr(pod_dir_name, '_');
    if (!u1 || u1 == u2 || u1 == pod_dir_name || u2[1] == '\0' || u2 == u1 + 1 ||
        memchr(u1 + 1, '_', (size_t)(u2 - u1 - 1)) || !container || !*container)
        return 0;
    struct noa_str ns = {pod_dir_name, (size_t)(u1 - pod_dir_name)};
    struct noa_str pod = {u1 + 1, (size_t)(u2 - u1 - 1)};
    struct noa_str uid = noa_str_c(u2 + 1);
    noa_kvlist_set(out, NOA_STR("__meta_kubernetes_namespace"), ns);
    noa_kvlist_set(out, NOA_STR("__meta_kubernetes_pod_name"), pod);
    noa_kvlist_set(out, NOA_STR("__meta_kubernetes_pod_uid"), uid);
    noa_kvlist_set(out, NOA_STR("__meta_kubernetes_pod_container_name"), noa_str_c(container));
    noa_kvlist_set(out, NOA_STR("__meta_kubernetes_pod_container_init"), NOA_STR("false"));
    if (node_name && *node_name)
        noa_kvlist_set(out, NOA_STR("__meta_kubernetes_pod_node_name"), noa_str_c(node_name));
    size_t cl = controller_len(pod.p, pod.len);
    if (cl)
        noa_kvlist_set(out, NOA_STR("__meta_kubernetes_pod_controller_name"),
                       (struct noa_str){pod.p, cl});
    return 1;
}

static int ns_allowed(const struct noa_shipper_k8s_sd_config *k, const char *dir_name)
{
    if (k->namespaces.n == 0)
        return 1;
    const char *u = strchr(dir_name, '_');
    size_t n = u ? (size_t)(u - dir_name) : strlen(dir_name);
    for (int i = 0; i < k->namespaces.n; i++)
        if (strlen(k->namespaces.v[i]) == n && strncmp(k->namespaces.v[i], dir_name, n) == 0)
            return 1;
    return 0;
}

static int is_dir_at(int dfd, const char *name)
{
    struct stat st;
    return fstatat(dfd, name, &st, 0) == 0 && S_ISDIR(st.st_mode);
}

static void scan_pod(struct noa_discovery *d, struct noa_discovery_targets *out, int root_fd,
                     const char *pod_dir, const char *pods_dir)
{
    int fd = openat(root_fd, pod_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    DIR *dir = fdopendir(fd);
    if (!dir) {
        close(fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.' || !is_dir_at(fd, de->d_name))
            continue;
        struct noa_discovery_target *t = targets_push(out);
        if (!noa_discovery_pod_labels(pod_dir, de->d_name, d->node_name, &t->discovered) ||
            !finish_target(d, out, t, pods_dir)) {
            target_fini(t);
            out->n--;
        }
    }
    closedir(dir);
}

static void run_k8s(struct noa_discovery *d, struct noa_discovery_targets *out)
{
    for (uint32_t i = 0; i < d->sc->n_k8s_sd; i++) {
        const struct noa_shipper_k8s_sd_config *k = &d->sc->k8s_sd[i];
        const char *dir = d->pods_dir_opt;
        if (!dir || !*dir)
            dir = k->pods_dir && *k->pods_dir ? k->pods_dir : getenv("NOA_PODS_DIR");
        if (!dir || !*dir)
            dir = KUBELET_PODS_DIR;
        DIR *root = opendir(dir);
        if (!root) {
            if (!d->pods_dir_warned)
                noa_log(NOA_LOG_WARN, "discovery",
                        "msg=\"pods directory not readable\" job=%s path=%s err=\"%s\"",
                        d->sc->job_name, dir, strerror(errno));
            d->pods_dir_warned = 1;
            continue;
        }
        d->pods_dir_warned = 0;
        struct dirent *de;
        unsigned seen = 0;
        while ((de = readdir(root)) != NULL && seen++ < MAX_PODS_ENTRIES) {
            if (de->d_name[0] == '.' || !ns_allowed(k, de->d_name))
                continue;
            scan_pod(d, out, dirfd(root), de->d_name, dir);
        }
        closedir(root);
    }
}

/* ---- run -------------------------------------------------------------------------------- */

static int target_cmp(const void *a, const void *b)
{
    return strcmp(((const struct noa_discovery_target *)a)->key,
                  ((const struct noa_discovery_target *)b)->key);
}

int noa_discovery_run(struct noa_discovery *d, int64_t now_ns, struct noa_discovery_targets *out)
{
    noa_discovery_targets_fini(out);
    run_static(d, out);
    run_file_sd(d, now_ns, out);
    run_k8s(d, out);
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), target_cmp);
    /* Equal keys are one target (Promtail: "ignoring target, already exists"). */
    size_t w = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (w > 0 && strcmp(out->v[w - 1].key, out->v[i].key) == 0)
            target_fini(&out->v[i]);
        else
            out->v[w++] = out->v[i];
    }
    out->n = w;
    return 0;
}
