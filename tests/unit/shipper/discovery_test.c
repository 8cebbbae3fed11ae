/*
 * Unit tests for shipper/discovery.c: static groups with Promtail's target
 * rules (__path__, __path_exclude__, __host__, "__" labels stripped, keys),
 * file_sd files re-read on change, and Kubernetes pods found in a fake
 * kubelet log directory labelled by the Promtail Helm chart's own rules.
 * Single-threaded; files live in a mkdtemp directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "shipper/discovery.h"
#include "shipper/shipper_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEC 1000000000LL

static char root[64];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/noa-disc-XXXXXX");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static void mkpath(const char *rel)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    for (char *s = p + strlen(root) + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    }
    mkdir(p, 0755);
}

static void write_file(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static struct noa_shipper_config *load(const char *text)
{
    struct noa_shipper_config *cfg = NULL;
    struct noa_error err = {0};
    if (noa_shipper_config_parse(text, strlen(text), "d.yaml", 0, &cfg, &err))
        fail_msg("config: %s", err.msg);
    return cfg;
}

static const char *kv(const struct noa_kvlist *l, const char *name)
{
    static char buf[512];
    struct noa_str v;
    if (!noa_kvlist_get(l, noa_str_c(name), &v))
        return NULL;
    snprintf(buf, sizeof(buf), "%.*s", (int)v.len, v.p);
    return buf;
}

static void run(struct noa_shipper_config *cfg, uint32_t job, const struct noa_discovery_options *o,
                int64_t now, struct noa_discovery **d, struct noa_discovery_targets *t)
{
    struct noa_error err = {0};
    if (!*d)
        assert_int_equal(noa_discovery_new(&cfg->scrape[job], o, d, &err), 0);
    assert_int_equal(noa_discovery_run(*d, now, t), 0);
}

static void test_static(void **state)
{
    (void)state;
    struct noa_shipper_config *cfg =
        load("scrape_configs:\n"
             "  - job_name: varlogs\n"
             "    static_configs:\n"
             "      - targets: [localhost]\n"
             "        labels: {job: varlogs, __path__: /var/log/*.log, __path_exclude__: "
             "/var/log/x.log}\n"
             "      - labels: {job: nopath}\n"
             "      - labels: {job: elsewhere, __path__: /a.log, __host__: other-host}\n"
             "      - labels: {job: here, __path__: /b.log, __host__: host-a, __meta_x: y}\n"
             "      - labels: {job: dropme, __path__: /c.log}\n"
             "      - targets: [t1, t2]\n"
             "        labels: {__path__: /d.log}\n"
             "    relabel_configs:\n"
             "      - source_labels: [job]\n        regex: dropme\n        action: drop\n"
             "      - source_labels: [__address__]\n        target_label: addr\n");
    struct noa_discovery_options o = {.hostname = "host-a", .node_name = "n"};
    struct noa_discovery *d = NULL;
    struct noa_discovery_targets t = {0};
    run(cfg, 0, &o, 0, &d, &t);
    assert_int_equal(t.dropped_no_path, 1);
    assert_int_equal(t.dropped_wrong_host, 1);
    assert_int_equal(t.dropped_relabel, 1);
    assert_int_equal(t.n, 4);
    /* Sorted by key: "/b.log:...", "/d.log:{addr=t1}", "/d.log:{addr=t2}", "/var/log/...". */
    assert_string_equal(t.v[0].path, "/b.log");
    assert_string_equal(t.v[0].key, "/b.log:{addr=\"localhost\", job=\"here\"}");
    assert_null(kv(&t.v[0].labels, "__host__"));
    assert_null(kv(&t.v[0].labels, "__meta_x"));
    assert_string_equal(kv(&t.v[0].discovered, "__meta_x"), "y");
    assert_string_equal(t.v[1].key, "/d.log:{addr=\"t1\"}");
    assert_string_equal(t.v[2].key, "/d.log:{addr=\"t2\"}");
    assert_string_equal(t.v[3].path, "/var/log/*.log");
    assert_string_equal(t.v[3].path_exclude, "/var/log/x.log");
    assert_string_equal(t.v[3].key,
                        "/var/log/*.log:{addr=\"localhost\", job=\"varlogs\"}:/var/log/x.log");
    assert_null(t.v[0].path_exclude);
    /* Labels come out sorted by name and without "__" names. */
    assert_int_equal(t.v[3].labels.n, 2);
    assert_memory_equal(noa_kvlist_name(&t.v[3].labels, 0).p, "addr", 4);
    assert_memory_equal(noa_kvlist_name(&t.v[3].labels, 1).p, "job", 3);
    /* A second run gives the same targets (and resets the counters). */
    run(cfg, 0, &o, 1, &d, &t);
    assert_int_equal(t.n, 4);
    assert_int_equal(t.dropped_relabel, 1);
    noa_discovery_targets_fini(&t);
    noa_discovery_free(d);
    noa_shipper_config_free(cfg);
}

static void test_file_sd(void **state)
{
    (void)state;
    mkpath("sd");
    write_file("sd/a.json", "[{\"targets\": [\"localhost\"], \"labels\": {\"__path__\": "
                            "\"/var/log/a.log\", \"job\": \"a\"}}]\n");
    write_file("sd/b.yml", "- targets: [localhost]\n  labels:\n    __path__: /var/log/b.log\n"
                           "    job: b\n");
    write_file("sd/ignored.txt", "not matched by the glob");
    char text[1024];
    snprintf(text, sizeof(text),
             "scrape_configs:\n  - job_name: sd\n    file_sd_configs:\n"
             "      - files: ['%s/sd/*.json', '%s/sd/*.yml']\n        refresh_interval: 1m\n"
             "    relabel_configs:\n      - source_labels: [__meta_filepath]\n"
             "        regex: '.*/(.*)'\n        target_label: from\n",
             root, root);
    struct noa_shipper_config *cfg = load(text);
    struct noa_discovery *d = NULL;
    struct noa_discovery_targets t = {0};
    run(cfg, 0, NULL, 0, &d, &t);
    assert_int_equal(t.n, 2);
    assert_string_equal(t.v[0].path, "/var/log/a.log");
    assert_string_equal(kv(&t.v[0].labels, "from"), "a.json");
    assert_string_equal(kv(&t.v[1].labels, "job"), "b");
    assert_string_equal(kv(&t.v[1].labels, "from"), "b.yml");

    /* A changed file is re-read at the next run, before refresh_interval. */
    write_file("sd/a.json", "[{\"targets\": [\"localhost\"], \"labels\": {\"__path__\": "
                            "\"/var/log/a2.log\", \"job\": \"a2\"}}, {\"targets\": [\"localhost\"],"
                            " \"labels\": {\"__path__\": \"/var/log/a3.log\"}}]\n");
    run(cfg, 0, NULL, 1, &d, &t);
    assert_int_equal(t.n, 3);
    assert_string_equal(t.v[0].path, "/var/log/a2.log");
    assert_string_equal(t.v[1].path, "/var/log/a3.log");

    /* A broken file keeps its previous groups. */
    write_file("sd/a.json", "[{\"targets\": [\"localhost\"], \"labels\": {\"bad-name\": \"x\"}}, "
                            "{\"oops\": 1}]\n");
    run(cfg, 0, NULL, 2, &d, &t);
    assert_int_equal(t.n, 3);
    assert_string_equal(t.v[0].path, "/var/log/a2.log");

    /* A removed file takes its targets with it. */
    char p[256];
    snprintf(p, sizeof(p), "%s/sd/a.json", root);
    unlink(p);
    run(cfg, 0, NULL, 3, &d, &t);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.v[0].path, "/var/log/b.log");
    noa_discovery_targets_fini(&t);
    noa_discovery_free(d);
    noa_shipper_config_free(cfg);
}

/* The Promtail Helm chart's kubernetes-pods job, as the chart renders it. */
static const char helm_job[] =
    "scrape_configs:\n"
    "  - job_name: kubernetes-pods\n"
    "    pipeline_stages:\n      - cri: {}\n"
    "    kubernetes_sd_configs:\n      - role: pod\n%s"
    "    relabel_configs:\n"
    "      - source_labels: [__meta_kubernetes_pod_controller_name]\n"
    "        regex: ([0-9a-z-.]+?)(-[0-9a-f]{8,10})?\n        action: replace\n"
    "        target_label: __tmp_controller_name\n"
    "      - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_name,"
    " __meta_kubernetes_pod_label_app, __tmp_controller_name, __meta_kubernetes_pod_name]\n"
    "        regex: ^;*([^;]+)(;.*)?$\n        action: replace\n        target_label: app\n"
    "      - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_instance,"
    " __meta_kubernetes_pod_label_instance]\n"
    "        regex: ^;*([^;]+)(;.*)?$\n        action: replace\n        target_label: instance\n"
    "      - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_component,"
    " __meta_kubernetes_pod_label_component]\n"
    "        regex: ^;*([^;]+)(;.*)?$\n        action: replace\n        target_label: component\n"
    "      - action: replace\n        source_labels: [__meta_kubernetes_pod_node_name]\n"
    "        target_label: node_name\n"
    "      - action: replace\n        source_labels: [__meta_kubernetes_namespace]\n"
    "        target_label: namespace\n"
    "      - action: replace\n        replacement: $1\n        separator: /\n"
    "        source_labels: [namespace, app]\n        target_label: job\n"
    "      - action: replace\n        source_labels: [__meta_kubernetes_pod_name]\n"
    "        target_label: pod\n"
    "      - action: replace\n        source_labels: [__meta_kubernetes_pod_container_name]\n"
    "        target_label: container\n"
    "      - action: replace\n        replacement: /var/log/pods/*$1/*.log\n        separator: /\n"
    "        source_labels: [__meta_kubernetes_pod_uid, __meta_kubernetes_pod_container_name]\n"
    "        target_label: __path__\n"
    "      - action: replace\n        replacement: /var/log/pods/*$1/*.log\n"
    "        regex: true/(.*)\n        separator: /\n"
    "        source_labels: [__meta_kubernetes_pod_annotationpresent_kubernetes_io_config_hash,"
    " __meta_kubernetes_pod_annotation_kubernetes_io_config_hash,"
    " __meta_kubernetes_pod_container_name]\n"
    "        target_label: __path__\n";

static void make_pods(void)
{
    mkpath("pods/default_web-5d8f9c7b6f-x2k9p_0b7e4a3c-1111-2222-3333-444455556666/web");
    write_file("pods/default_web-5d8f9c7b6f-x2k9p_0b7e4a3c-1111-2222-3333-444455556666/web/0.log",
               "2026-01-01T00:00:00Z stdout F hi\n");
    mkpath("pods/default_web-5d8f9c7b6f-x2k9p_0b7e4a3c-1111-2222-3333-444455556666/istio-proxy");
    mkpath("pods/kube-system_etcd-node1_9f86d081884c7d659a2feaa0c55ad015/etcd");
    mkpath("pods/monitoring_prom-0_u-3/prometheus");
    mkpath("pods/not-a-pod-dir/c");
    mkpath("pods/too_many_under_scores/c");
    write_file("pods/stray_file_x", "");
}

static const struct noa_discovery_target *find(const struct noa_discovery_targets *t,
                                               const char *container, const char *pod)
{
    for (size_t i = 0; i < t->n; i++) {
        const char *c = kv(&t->v[i].labels, "container");
        if (c && strcmp(c, container) == 0 && strcmp(kv(&t->v[i].labels, "pod"), pod) == 0)
            return &t->v[i];
    }
    return NULL;
}

static void test_kubernetes_helm(void **state)
{
    (void)state;
    make_pods();
    char extra[256], text[8192], want[512];
    snprintf(extra, sizeof(extra), "        pods_dir: %s/pods\n", root);
    snprintf(text, sizeof(text), helm_job, extra);
    struct noa_shipper_config *cfg = load(text);
    struct noa_discovery_options o = {.node_name = "node-1", .hostname = "node-1"};
    struct noa_discovery *d = NULL;
    struct noa_discovery_targets t = {0};
    run(cfg, 0, &o, 0, &d, &t);
    assert_int_equal(t.n, 4);

    const struct noa_discovery_target *w = find(&t, "web", "web-5d8f9c7b6f-x2k9p");
    assert_non_null(w);
    assert_string_equal(kv(&w->labels, "namespace"), "default");
    assert_string_equal(kv(&w->labels, "app"), "web");
    assert_string_equal(kv(&w->labels, "job"), "default/web");
    assert_string_equal(kv(&w->labels, "node_name"), "node-1");
    assert_null(kv(&w->labels, "instance"));
    assert_null(kv(&w->labels, "component"));
    assert_int_equal(w->labels.n, 6);
    /* The chart's /var/log/pods glob, re-rooted under the fake directory. */
    snprintf(want, sizeof(want), "%s/pods/*0b7e4a3c-1111-2222-3333-444455556666/web/*.log", root);
    assert_string_equal(w->path, want);
    assert_string_equal(kv(&w->discovered, "__meta_kubernetes_pod_uid"),
                        "0b7e4a3c-1111-2222-3333-444455556666");
    assert_string_equal(kv(&w->discovered, "__meta_kubernetes_pod_controller_name"),
                        "web-5d8f9c7b6f");
    assert_non_null(find(&t, "istio-proxy", "web-5d8f9c7b6f-x2k9p"));

    /* A static pod: no controller, app falls back to the pod name; its
     * directory carries the config hash, which the uid rule uses. */
    const struct noa_discovery_target *e = find(&t, "etcd", "etcd-node1");
    assert_non_null(e);
    assert_string_equal(kv(&e->labels, "app"), "etcd-node1");
    assert_string_equal(kv(&e->labels, "job"), "kube-system/etcd-node1");
    assert_null(kv(&e->discovered, "__meta_kubernetes_pod_controller_name"));
    snprintf(want, sizeof(want), "%s/pods/*9f86d081884c7d659a2feaa0c55ad015/etcd/*.log", root);
    assert_string_equal(e->path, want);

    const struct noa_discovery_target *p = find(&t, "prometheus", "prom-0");
    assert_non_null(p);
    assert_string_equal(kv(&p->labels, "app"), "prom");
    assert_string_equal(kv(&p->labels, "job"), "monitoring/prom");
    noa_discovery_targets_fini(&t);
    noa_discovery_free(d);

    /* Pods dir from the options wins; the default path stays when it is
     * /var/log/pods itself (nothing to re-root). */
    char pods[128];
    snprintf(pods, sizeof(pods), "%s/pods", root);
    o.pods_dir = pods;
    d = NULL;
    run(cfg, 0, &o, 0, &d, &t);
    assert_int_equal(t.n, 4);
    noa_discovery_targets_fini(&t);
    noa_discovery_free(d);
    noa_shipper_config_free(cfg);

    /* namespaces.names filters pods. */
    snprintf(extra, sizeof(extra),
             "        pods_dir: %s/pods\n        namespaces:\n"
             "          names: [monitoring]\n",
             root);
    snprintf(text, sizeof(text), helm_job, extra);
    cfg = load(text);
    o.pods_dir = NULL;
    d = NULL;
    run(cfg, 0, &o, 0, &d, &t);
    assert_int_equal(t.n, 1);
    assert_string_equal(kv(&t.v[0].labels, "namespace"), "monitoring");
    noa_discovery_targets_fini(&t);
    noa_discovery_free(d);
    noa_shipper_config_free(cfg);

    /* A missing pods dir yields nothing, without failing. */
    snprintf(extra, sizeof(extra), "        pods_dir: %s/nope\n", root);
    snprintf(text, sizeof(text), helm_job, extra);
    cfg = load(text);
    d = NULL;
    run(cfg, 0, &o, 0, &d, &t);
    assert_int_equal(t.n, 0);
    noa_discovery_targets_fini(&t);
    noa_discovery_free(d);
    noa_shipper_config_free(cfg);
}

static void test_pods_dir_env(void **state)
{
    (void)state;
    make_pods();
    char text[8192], pods[128];
    snprintf(text, sizeof(text), helm_job, "");
    snprintf(pods, sizeof(pods), "%s/pods", root);
    setenv("NOA_PODS_DIR", pods, 1);
    struct noa_shipper_config *cfg = load(text);
    struct noa_discovery_options o = {.node_name = "node-1"};
    struct noa_discovery *d = NULL;
    struct noa_discovery_targets t = {0};
    run(cfg, 0, &o, 0, &d, &t);
    assert_int_equal(t.n, 4);
    unsetenv("NOA_PODS_DIR");
    noa_discovery_targets_fini(&t);
    noa_discovery_free(d);
    noa_shipper_config_free(cfg);
}

static void test_pod_labels(void **state)
{
    (void)state;
    struct noa_kvlist l;
    noa_kvlist_init(&l);
    assert_int_equal(noa_discovery_pod_labels("ns_pod-bcdfg_uid", "c", "n1", &l), 1);
    assert_string_equal(kv(&l, "__meta_kubernetes_namespace"), "ns");
    assert_string_equal(kv(&l, "__meta_kubernetes_pod_name"), "pod-bcdfg");
    assert_string_equal(kv(&l, "__meta_kubernetes_pod_uid"), "uid");
    assert_string_equal(kv(&l, "__meta_kubernetes_pod_container_name"), "c");
    assert_string_equal(kv(&l, "__meta_kubernetes_pod_node_name"), "n1");
    assert_string_equal(kv(&l, "__meta_kubernetes_pod_controller_name"), "pod");
    noa_kvlist_reset(&l);
    /* Vowels never appear in generateName suffixes: no controller guess. */
    assert_int_equal(noa_discovery_pod_labels("ns_my-debug_uid", "c", NULL, &l), 1);
    assert_null(kv(&l, "__meta_kubernetes_pod_controller_name"));
    assert_null(kv(&l, "__meta_kubernetes_pod_node_name"));
    noa_kvlist_reset(&l);
    assert_int_equal(noa_discovery_pod_labels("nounderscore", "c", NULL, &l), 0);
    assert_int_equal(noa_discovery_pod_labels("a_b", "c", NULL, &l), 0);
    assert_int_equal(noa_discovery_pod_labels("a_b_c_d", "c", NULL, &l), 0);
    assert_int_equal(noa_discovery_pod_labels("_b_c", "c", NULL, &l), 0);
    assert_int_equal(noa_discovery_pod_labels("a__c", "c", NULL, &l), 0);
    assert_int_equal(noa_discovery_pod_labels("a_b_", "c", NULL, &l), 0);
    assert_int_equal(noa_discovery_pod_labels("a_b_c", "", NULL, &l), 0);
    assert_int_equal(l.n, 0);
    noa_kvlist_fini(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_static, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_sd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubernetes_helm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pods_dir_env, setup, teardown),
        cmocka_unit_test(test_pod_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
