/* Entries of the shipper (see entry.h): lifetime and copies. */
#include "shipper/entry.h"

void noa_entry_init(struct noa_entry *e)
{
    memset(e, 0, sizeof(*e));
}

void noa_entry_fini(struct noa_entry *e)
{
    noa_kvlist_fini(&e->labels);
    noa_kvlist_fini(&e->extracted);
    noa_kvlist_fini(&e->meta);
    noa_buf_fini(&e->line);
    noa_buf_fini(&e->source);
    memset(e, 0, sizeof(*e));
}

void noa_entry_reset(struct noa_entry *e)
{
    noa_kvlist_reset(&e->labels);
    noa_kvlist_reset(&e->extracted);
    noa_kvlist_reset(&e->meta);
    noa_buf_reset(&e->line);
    noa_buf_reset(&e->source);
    e->ts_ns = 0;
    e->offset = 0;
}

void noa_entry_copy(struct noa_entry *dst, const struct noa_entry *src)
{
    noa_kvlist_copy(&dst->labels, &src->labels);
    noa_kvlist_copy(&dst->extracted, &src->extracted);
    noa_kvlist_copy(&dst->meta, &src->meta);
    noa_buf_reset(&dst->line);
    if (src->line.len)
        noa_buf_append(&dst->line, src->line.data, src->line.len);
    noa_buf_reset(&dst->source);
    if (src->source.len)
        noa_buf_append(&dst->source, src->source.data, src->source.len);
    dst->ts_ns = src->ts_ns;
    dst->offset = src->offset;
}
