/*
 * Fuzz target for common/yaml: parses the input with small limits, walks the
 * tree through every scalar conversion, applies it to noa-server's config
 * table (common/config), and runs environment expansion over the same bytes.
 * Any crash, leak or sanitizer report is a bug.
 */
#include "common/config.h"
#include "common/log.h"
#include "common/yaml.h"
#include "querier/server_config.h"

#include <string.h>

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Visits at most `budget` nodes so alias-heavy inputs stay fast. */
static void walk(const struct noa_yaml_node *n, int depth, long *budget)
{
    if (!n || depth > 80 || --*budget < 0)
        return;
    int b;
    int64_t i;
    double d;
    (void)noa_yaml_type_name(n);
    (void)noa_yaml_is_null(n);
    (void)noa_yaml_bool(n, &b);
    (void)noa_yaml_int64(n, &i);
    (void)noa_yaml_double(n, &d);
    if (n->kind == NOA_YAML_MAP) {
        for (size_t k = 0; k < n->n; k++) {
            walk(n->pairs[k].key, depth + 1, budget);
            walk(n->pairs[k].value, depth + 1, budget);
        }
        (void)noa_yaml_get(n, "a");
    } else if (n->kind == NOA_YAML_SEQ) {
        for (size_t k = 0; k < n->n; k++)
            walk(n->items[k], depth + 1, budget);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct noa_yaml_limits lim = {.max_bytes = 1 << 20, .max_depth = 32, .max_nodes = 100000};
    struct noa_yaml_doc *doc = NULL;
    struct noa_error err;
    if (noa_yaml_parse((const char *)data, size, "fuzz.yaml", &lim, &doc, &err) == 0) {
        long budget = 200000;
        walk(doc->root, 0, &budget);
        (void)noa_yaml_path(doc->root, "a.b.c");
        /* Ignored blocks log warnings; keep the fuzzer's output quiet. */
        noa_log_set_level(NOA_LOG_ERROR);
        const struct noa_config_table *t = noa_server_config_table();
        struct noa_server_config cfg;
        memset(&cfg, 0, sizeof(cfg));
        noa_config_defaults(t, &cfg);
        if (noa_config_apply(t, &cfg, doc->root, &err) == 0) {
            struct noa_buf dump = {0};
            noa_config_dump(t, &cfg, NOA_CONFIG_DUMP_DIFFS, &dump);
            noa_buf_fini(&dump);
        }
        noa_config_fini(t, &cfg);
        noa_yaml_free(doc);
    }
    struct noa_buf out = {0};
    (void)noa_yaml_expand_env((const char *)data, size, "fuzz.yaml", &out, &err);
    noa_buf_fini(&out);
    return 0;
}
