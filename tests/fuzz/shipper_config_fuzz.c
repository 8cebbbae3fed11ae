/*
 * Fuzz target for the shipper's configuration loader (shipper/shipper_config.c):
 * any bytes must load or fail with a code and a message, and a config that
 * loads must print as YAML that loads again to the same shape.
 */
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "shipper/shipper_config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct noa_error err = {0};
    struct noa_shipper_config *cfg = NULL, *again = NULL;
    struct noa_buf out = {0};
    noa_log_set_level(NOA_LOG_ERROR);
    int rc = noa_shipper_config_parse((const char *)data, size, "fuzz.yaml", 0, &cfg, &err);
    if (rc != 0) {
        if (cfg || err.msg[0] == '\0' || err.code != rc ||
            (rc != NOA_EINVAL && rc != NOA_ETOOBIG && rc != NOA_EUNSUPP))
            abort(); /* every failure says what went wrong */
        return 0;
    }
    noa_shipper_config_print(cfg, &out);
    if (noa_shipper_config_parse(out.data ? out.data : "", out.len, "printed.yaml", 0, &again,
                                 &err) != 0)
        abort(); /* what noa prints, noa reads */
    if (again->n_clients != cfg->n_clients || again->n_scrape != cfg->n_scrape)
        abort();
    for (uint32_t i = 0; i < cfg->n_scrape; i++)
        if (strcmp(cfg->scrape[i].job_name, again->scrape[i].job_name) != 0 ||
            cfg->scrape[i].relabel->n != again->scrape[i].relabel->n ||
            cfg->scrape[i].n_static != again->scrape[i].n_static)
            abort();
    noa_buf_fini(&out);
    noa_shipper_config_free(again);
    noa_shipper_config_free(cfg);
    return 0;
}
