/* WAL record payload helpers (see walrec.h for the layout). Any thread. */
#include "ingester/walrec.h"
#include "ingester/chunk.h"
#include "ingester/validate.h"

void noa_walrec_set_seq(char *rec, uint64_t seq)
{
    for (int i = 0; i < 8; i++)
        rec[NOA_WALREC_SEQ_OFFSET + i] = (char)(seq >> (8 * i));
}

int noa_walrec_header(const char *rec, size_t len, int *type, uint64_t *seq)
{
    if (len < 9)
        return NOA_ECORRUPT;
    const unsigned char *p = (const unsigned char *)rec;
    uint64_t s = 0;
    for (int i = 7; i >= 0; i--)
        s = (s << 8) | p[NOA_WALREC_SEQ_OFFSET + i];
    *type = p[0];
    *seq = s;
    return 0;
}

void noa_walrec_reader_init(struct noa_walrec_reader *r, const char *rec, size_t len)
{
    r->p = (const unsigned char *)rec;
    r->len = len;
    r->pos = len < 9 ? len : 9;
}

int noa_walrec_get_uvarint(struct noa_walrec_reader *r, uint64_t *v)
{
    size_t k = noa_get_uvarint(r->p + r->pos, r->len - r->pos, v);
    if (!k)
        return NOA_ECORRUPT;
    r->pos += k;
    return 0;
}

int noa_walrec_get_varint(struct noa_walrec_reader *r, int64_t *v)
{
    size_t k = noa_get_varint(r->p + r->pos, r->len - r->pos, v);
    if (!k)
        return NOA_ECORRUPT;
    r->pos += k;
    return 0;
}

int noa_walrec_get_bytes(struct noa_walrec_reader *r, size_t n, struct noa_str *s)
{
    if (n > r->len - r->pos)
        return NOA_ECORRUPT;
    s->p = (const char *)r->p + r->pos;
    s->len = n;
    r->pos += n;
    return 0;
}

int noa_walrec_get_str(struct noa_walrec_reader *r, struct noa_str *s)
{
    uint64_t n;
    int rc = noa_walrec_get_uvarint(r, &n);
    if (rc < 0)
        return rc;
    return noa_walrec_get_bytes(r, (size_t)n, s);
}

void noa_walrec_put_str(struct noa_buf *b, struct noa_str s)
{
    noa_buf_put_uvarint(b, s.len);
    noa_buf_append(b, s.p, s.len);
}

void noa_walrec_begin(struct noa_buf *b, int type)
{
    static const char zero_seq[8];
    noa_buf_putc(b, (char)type);
    noa_buf_append(b, zero_seq, 8);
}

void noa_walrec_encode_push(const char *tenant, const struct noa_validated *v, struct noa_buf *b)
{
    noa_walrec_begin(b, NOA_WALREC_PUSH);
    noa_walrec_put_str(b, noa_str_c(tenant));
    noa_buf_put_uvarint(b, v->n);
    for (uint32_t i = 0; i < v->n; i++) {
        const struct noa_valid_stream *s = &v->streams[i];
        noa_walrec_put_str(b, s->canonical);
        noa_buf_put_uvarint(b, s->n_entries);
        for (uint32_t k = 0; k < s->n_entries; k++) {
            const struct noa_push_entry *e = &s->entries[k];
            noa_chunk_block_append(b, e->ts_ns, e->line, e->meta, e->n_meta);
        }
    }
}
