/*
 * The RocksDB label index (layout in ingester/index.h): writing a flushed
 * chunk's series, postings and ref in one synced batch, and the lookups the
 * querier needs (series by selector, chunk refs, label names and values,
 * stats), plus per-day maintenance for retention. The only file that
 * includes rocksdb/c.h.
 *
 * THREAD SAFETY: the RocksDB handle and the read/write options are shared
 * by every thread and never modified after open; each call makes its own
 * iterators and scratch buffers. The corrupt-record counter is atomic;
 * seq_lock serialises add_chunk's read-modify-write of a stream's flushed
 * sequence (the batch write happens under it, so sequences never go back).
 */
#include "ingester/index.h"

#include "common/log.h"
#include "common/mem.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TYPE_SERIES 'S'
#define TYPE_POSTING 'P'
#define TYPE_CHUNK 'C'
#define TYPE_SEQ 'Q'
#define VALUE_VERSION 1
#define FORMAT_KEY "Mformat"
#define FORMAT_VALUE "1"

struct noa_index {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_cache_t *cache;
    rocksdb_readoptions_t *ro_prefix; /* iteration stays inside one tenant-day */
    rocksdb_readoptions_t *ro_total;  /* iteration across tenant-days */
    rocksdb_writeoptions_t *wo_sync;
    atomic_uint_fast64_t corrupt;
    pthread_mutex_t seq_lock; /* held across reading and raising a stream's 'Q' key */
};

/* ---- key encoding ---------------------------------------------------------- */

static void put_esc(struct noa_buf *b, const char *p, size_t n)
{
    noa_buf_reserve(b, n + 8);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 1) {
            noa_buf_putc(b, 1);
            noa_buf_putc(b, (char)(c + 1));
        } else {
            noa_buf_putc(b, (char)c);
        }
    }
}

static void put_day(struct noa_buf *b, int32_t day)
{
    noa_buf_put_be32(b, (uint32_t)day ^ 0x80000000u);
}

static void put_i64(struct noa_buf *b, int64_t v)
{
    noa_buf_put_be64(b, (uint64_t)v ^ 0x8000000000000000ull);
}

static int64_t get_i64(const unsigned char *p)
{
    return (int64_t)(noa_get_be64(p) ^ 0x8000000000000000ull);
}

/* type | esc(tenant) | 0x00 */
static void put_tenant(struct noa_buf *b, char type, struct noa_str tenant)
{
    b->len = 0;
    noa_buf_putc(b, type);
    put_esc(b, tenant.p, tenant.len);
    noa_buf_putc(b, 0);
}

/* P0 = type | esc(tenant) | 0x00 | day */
static void put_p0(struct noa_buf *b, char type, struct noa_str tenant, int32_t day)
{
    put_tenant(b, type, tenant);
    put_day(b, day);
}

/* Length of the escaped segment starting at p (up to its 0x00 terminator),
 * or n when there is no terminator. */
static size_t esc_len(const unsigned char *p, size_t n)
{
    const unsigned char *z = memchr(p, 0, n);
    return z ? (size_t)(z - p) : n;
}

/* Unescapes p[0..n) into *out: a slice of p when nothing is escaped (the
 * common case), else of scratch. Returns -1 on a bad escape. */
static int unesc(const unsigned char *p, size_t n, struct noa_buf *scratch, struct noa_str *out)
{
    if (!memchr(p, 1, n)) {
        *out = (struct noa_str){(const char *)p, n};
        return 0;
    }
    scratch->len = 0;
    noa_buf_reserve(scratch, n);
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 1) {
            noa_buf_putc(scratch, (char)p[i]);
            continue;
        }
        if (i + 1 >= n || (p[i + 1] != 1 && p[i + 1] != 2))
            return -1;
        noa_buf_putc(scratch, (char)(p[i + 1] - 1));
        i++;
    }
    *out = (struct noa_str){scratch->data, scratch->len};
    return 0;
}

/* Length of P0 in key, or 0 when key is not a tenant-day key. */
static size_t p0_len(const char *key, size_t n)
{
    if (n < 1 || (key[0] != TYPE_SERIES && key[0] != TYPE_POSTING && key[0] != TYPE_CHUNK))
        return 0;
    size_t t = esc_len((const unsigned char *)key + 1, n - 1);
    if (1 + t + 1 + 4 > n)
        return 0;
    return 1 + t + 1 + 4;
}

/* The prefix extractor: P0, so bloom filters answer "does this tenant-day
 * exist in this file" and iterators stay inside one tenant-day. */
static char *p0_transform(void *state, const char *key, size_t n, size_t *dst_len)
{
    (void)state;
    *dst_len = p0_len(key, n);
    return (char *)key;
}

static unsigned char p0_in_domain(void *state, const char *key, size_t n)
{
    (void)state;
    return p0_len(key, n) != 0;
}

static unsigned char p0_in_range(void *state, const char *key, size_t n)
{
    (void)state;
    (void)key;
    (void)n;
    return 0;
}

/* RocksDB's C wrapper calls the destructor unconditionally. */
static void p0_destroy(void *state)
{
    (void)state;
}

static const char *p0_name(void *state)
{
    (void)state;
    return "noa.index.p0.v1";
}

/* ---- values ---------------------------------------------------------------- */

static void encode_labels(struct noa_buf *b, const struct noa_labels *ls)
{
    b->len = 0;
    noa_buf_putc(b, VALUE_VERSION);
    noa_buf_put_uvarint(b, ls->n);
    for (uint32_t i = 0; i < ls->n; i++) {
        noa_buf_put_uvarint(b, ls->v[i].name.len);
        noa_buf_append(b, ls->v[i].name.p, ls->v[i].name.len);
        noa_buf_put_uvarint(b, ls->v[i].value.len);
        noa_buf_append(b, ls->v[i].value.p, ls->v[i].value.len);
    }
}

/* Reads a uvarint-prefixed string at p[*off..n). */
static int get_str(const unsigned char *p, size_t n, size_t *off, struct noa_str *out)
{
    uint64_t len;
    size_t k = noa_get_uvarint(p + *off, n - *off, &len);
    if (!k || len > n - *off - k)
        return -1;
    *out = (struct noa_str){(const char *)p + *off + k, (size_t)len};
    *off += k + (size_t)len;
    return 0;
}

/* A reusable label array for decoded series values. */
struct lbuf {
    struct noa_label *v;
    size_t cap;
};

/* Decodes a series value; labels borrow from val. Returns -1 when corrupt. */
static int decode_labels(const char *val, size_t n, struct lbuf *lb, struct noa_labels *out)
{
    const unsigned char *p = (const unsigned char *)val;
    size_t off = 1, k;
    uint64_t count;

    if (n < 2 || p[0] != VALUE_VERSION)
        return -1;
    k = noa_get_uvarint(p + off, n - off, &count);
    if (!k || count > (n - off - k) / 2)
        return -1;
    off += k;
    if (count > lb->cap) {
        lb->cap = count;
        lb->v = noa_xrealloc(lb->v, count * sizeof(*lb->v));
    }
    for (uint64_t i = 0; i < count; i++)
        if (get_str(p, n, &off, &lb->v[i].name) < 0 || get_str(p, n, &off, &lb->v[i].value) < 0 ||
            lb->v[i].name.len == 0)
            return -1;
    if (off != n)
        return -1;
    out->v = lb->v;
    out->n = (uint32_t)count;
    return 0;
}

/* Fills ref from a chunk key's tail (fp, from, through, checksum: 28 bytes)
 * and its value. Returns -1 when corrupt. */
static int decode_ref(const unsigned char *tail, const char *val, size_t n,
                      struct noa_chunk_ref *ref)
{
    const unsigned char *p = (const unsigned char *)val;
    size_t off = 1, k;
    uint64_t f[4];
    struct noa_str key;

    ref->fp = noa_get_be64(tail);
    ref->from_ns = get_i64(tail + 8);
    ref->through_ns = get_i64(tail + 16);
    ref->checksum = noa_get_be32(tail + 24);
    if (n < 1 || p[0] != VALUE_VERSION)
        return -1;
    for (int i = 0; i < 4; i++) {
        k = noa_get_uvarint(p + off, n - off, &f[i]);
        if (!k)
            return -1;
        off += k;
    }
    if (get_str(p, n, &off, &key) < 0 || off != n || key.len == 0 || key.len >= sizeof(ref->key) ||
        memchr(key.p, 0, key.len))
        return -1;
    ref->entries = f[0];
    ref->raw_bytes = f[1];
    ref->compressed_bytes = f[2];
    ref->seq = f[3];
    memcpy(ref->key, key.p, key.len);
    ref->key[key.len] = 0;
    return 0;
}

/* ---- open / close ---------------------------------------------------------- */

static int rocks_err(struct noa_error *err, int code, const char *what, char *msg)
{
    noa_error_set(err, code, "index: %s: %s", what, msg ? msg : "unknown error");
    rocksdb_free(msg);
    return code;
}

/* Stamps a new index with its format, or checks an existing one's. */
static int check_format(struct noa_index *idx, struct noa_error *err)
{
    char *e = NULL;
    size_t vlen = 0;
    char *v = rocksdb_get(idx->db, idx->ro_total, FORMAT_KEY, strlen(FORMAT_KEY), &vlen, &e);
    if (e)
        return rocks_err(err, -EIO, "reading the format stamp", e);
    if (!v) {
        rocksdb_put(idx->db, idx->wo_sync, FORMAT_KEY, strlen(FORMAT_KEY), FORMAT_VALUE,
                    strlen(FORMAT_VALUE), &e);
        return e ? rocks_err(err, -EIO, "writing the format stamp", e) : 0;
    }
    int ok = vlen == strlen(FORMAT_VALUE) && memcmp(v, FORMAT_VALUE, vlen) == 0;
    rocksdb_free(v);
    return ok ? 0 : noa_error_set(err, NOA_ECORRUPT, "index: unknown index format");
}

/*
 * The RocksDB options. Memory is bounded by one LRU cache holding data,
 * index and filter blocks, plus at most two small memtables: the server's
 * RSS budget is 200 MiB and the index is a small part of it.
 */
static rocksdb_options_t *make_options(rocksdb_cache_t *cache, size_t wbuf)
{
    rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(t, cache);
    rocksdb_block_based_options_set_filter_policy(t, rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(t, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(t, 1);
    rocksdb_block_based_options_set_whole_key_filtering(t, 1);

    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_block_based_table_factory(o, t);
    rocksdb_block_based_options_destroy(t); /* the factory holds a copy */
    rocksdb_options_set_prefix_extractor(
        o, rocksdb_slicetransform_create(NULL, p0_destroy, p0_transform, p0_in_domain, p0_in_range,
                                         p0_name));
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(o, 0.05);
    rocksdb_options_set_compression(o, rocksdb_lz4_compression);
    rocksdb_options_set_write_buffer_size(o, wbuf);
    rocksdb_options_set_max_write_buffer_number(o, 2);
    rocksdb_options_set_max_total_wal_size(o, 4 * wbuf);
    rocksdb_options_set_level_compaction_dynamic_level_bytes(o, 1);
    rocksdb_options_set_max_background_jobs(o, 2);
    rocksdb_options_set_max_open_files(o, 256);
    rocksdb_options_set_keep_log_file_num(o, 2);
    rocksdb_options_set_max_log_file_size(o, 1u << 20);
    rocksdb_options_set_info_log_level(o, 2 /* WARN */);
    return o;
}

int noa_index_open(const char *dir, const struct noa_index_opts *o, struct noa_index **out,
                   struct noa_error *err)
{
    struct noa_index *idx = noa_xcalloc(1, sizeof(*idx));
    size_t cache = o && o->block_cache_bytes ? o->block_cache_bytes : 8u << 20;
    size_t wbuf = o && o->write_buffer_bytes ? o->write_buffer_bytes : 4u << 20;
    char *e = NULL;
    int rc;

    *out = NULL;
    pthread_mutex_init(&idx->seq_lock, NULL);
    idx->cache = rocksdb_cache_create_lru(cache);
    idx->opts = make_options(idx->cache, wbuf);
    idx->ro_prefix = rocksdb_readoptions_create();
    rocksdb_readoptions_set_prefix_same_as_start(idx->ro_prefix, 1);
    idx->ro_total = rocksdb_readoptions_create();
    rocksdb_readoptions_set_total_order_seek(idx->ro_total, 1);
    idx->wo_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(idx->wo_sync, 1);

    idx->db = rocksdb_open(idx->opts, dir, &e);
    if (e) {
        /* A held LOCK (another process owns the index) is the usual cause. */
        rc = rocks_err(err, strstr(e, "lock") ? NOA_EUNAVAIL : -EIO, dir, e);
        goto fail;
    }
    if ((rc = check_format(idx, err)) < 0)
        goto fail;
    *out = idx;
    return 0;

fail:
    noa_index_close(idx);
    return rc;
}

void noa_index_close(struct noa_index *idx)
{
    if (!idx)
        return;
    if (idx->db)
        rocksdb_close(idx->db);
    rocksdb_writeoptions_destroy(idx->wo_sync);
    rocksdb_readoptions_destroy(idx->ro_total);
    rocksdb_readoptions_destroy(idx->ro_prefix);
    rocksdb_options_destroy(idx->opts);
    rocksdb_cache_destroy(idx->cache);
    pthread_mutex_destroy(&idx->seq_lock);
    noa_free(idx);
}

uint64_t noa_index_corrupt_count(const struct noa_index *idx)
{
    return atomic_load(&((struct noa_index *)idx)->corrupt);
}

static void note_corrupt(struct noa_index *idx, const char *what, const char *key, size_t klen)
{
    char hex[65];
    size_t n = klen < 32 ? klen : 32;
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)key[i]);
    hex[2 * n] = 0;
    atomic_fetch_add(&idx->corrupt, 1);
    noa_log(NOA_LOG_WARN, "index", "msg=\"corrupt index record skipped\" what=%s key=%s", what,
            hex);
}

/* 1 while the iterator is on a key starting with prefix[0..n). */
static int it_in(rocksdb_iterator_t *it, const struct noa_buf *prefix, const char **k, size_t *kl)
{
    if (!rocksdb_iter_valid(it))
        return 0;
    *k = rocksdb_iter_key(it, kl);
    return *kl >= prefix->len && memcmp(*k, prefix->data, prefix->len) == 0;
}

static int it_status(rocksdb_iterator_t *it)
{
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    if (!e)
        return 0;
    rocksdb_free(e);
    return -EIO;
}

/* ---- writing --------------------------------------------------------------- */

static int write_batch(struct noa_index *idx, rocksdb_writebatch_t *wb, const char *what,
                       struct noa_error *err)
{
    char *e = NULL;
    rocksdb_write(idx->db, idx->wo_sync, wb, &e);
    rocksdb_writebatch_destroy(wb);
    return e ? rocks_err(err, -EIO, what, e) : 0;
}

/* 'Q' | esc(tenant) | 0x00 | fp */
static void put_seq_key(struct noa_buf *b, struct noa_str tenant, uint64_t fp)
{
    put_tenant(b, TYPE_SEQ, tenant);
    noa_buf_put_be64(b, fp);
}

/* Reads a stream's flushed sequence: 0, NOA_ENOTFOUND, -EIO. A damaged
 * value counts as absent (replay then re-applies, which dedups). */
static int get_seq(struct noa_index *idx, const struct noa_buf *key, uint64_t *seq)
{
    char *e = NULL;
    size_t vl = 0;
    char *v = rocksdb_get(idx->db, idx->ro_total, key->data, key->len, &vl, &e);
    if (e) {
        rocksdb_free(e);
        return -EIO;
    }
    if (!v)
        return NOA_ENOTFOUND;
    int rc = NOA_ENOTFOUND;
    if (vl == 8) {
        *seq = noa_get_be64((const unsigned char *)v);
        rc = 0;
    } else {
        note_corrupt(idx, "stream_seq", key->data, key->len);
    }
    rocksdb_free(v);
    return rc;
}

/* fp | from | through | checksum after P0: the tail of a 'C' key. */
static void put_chunk_key(struct noa_buf *b, struct noa_str t, int32_t day,
                          const struct noa_chunk_ref *ref, uint64_t fp)
{
    put_p0(b, TYPE_CHUNK, t, day);
    noa_buf_put_be64(b, fp);
    put_i64(b, ref->from_ns);
    put_i64(b, ref->through_ns);
    noa_buf_put_be32(b, ref->checksum);
}

/* Adds the chunk's series, postings and ref under every day in [d0, d1]. */
static void batch_chunk(rocksdb_writebatch_t *wb, struct noa_str t, const struct noa_labels *ls,
                        uint64_t fp, const struct noa_chunk_ref *ref, int64_t d0, int64_t d1)
{
    struct noa_buf key = {0}, val = {0}, lv = {0};
    size_t klen = strlen(ref->key);

    encode_labels(&lv, ls);
    noa_buf_putc(&val, VALUE_VERSION);
    noa_buf_put_uvarint(&val, ref->entries);
    noa_buf_put_uvarint(&val, ref->raw_bytes);
    noa_buf_put_uvarint(&val, ref->compressed_bytes);
    noa_buf_put_uvarint(&val, ref->seq);
    noa_buf_put_uvarint(&val, klen);
    noa_buf_append(&val, ref->key, klen);
    for (int64_t d = d0; d <= d1; d++) {
        put_p0(&key, TYPE_SERIES, t, (int32_t)d);
        noa_buf_put_be64(&key, fp);
        rocksdb_writebatch_put(wb, key.data, key.len, lv.data, lv.len);
        for (uint32_t i = 0; i < ls->n; i++) {
            put_p0(&key, TYPE_POSTING, t, (int32_t)d);
            put_esc(&key, ls->v[i].name.p, ls->v[i].name.len);
            noa_buf_putc(&key, 0);
            put_esc(&key, ls->v[i].value.p, ls->v[i].value.len);
            noa_buf_putc(&key, 0);
            noa_buf_put_be64(&key, fp);
            rocksdb_writebatch_put(wb, key.data, key.len, "", 0);
        }
        put_chunk_key(&key, t, (int32_t)d, ref, fp);
        rocksdb_writebatch_put(wb, key.data, key.len, val.data, val.len);
    }
    noa_buf_fini(&key);
    noa_buf_fini(&val);
    noa_buf_fini(&lv);
}

/* Writes wb together with raising stream fp's flushed sequence to seq
 * (never lowering it: a retried older flush must not undo a newer one).
 * The lock spans the read and the write so two flushes cannot interleave. */
static int write_with_seq(struct noa_index *idx, rocksdb_writebatch_t *wb, struct noa_str t,
                          uint64_t fp, uint64_t seq, struct noa_error *err)
{
    struct noa_buf key = {0};
    uint64_t cur = 0;
    int rc;

    put_seq_key(&key, t, fp);
    pthread_mutex_lock(&idx->seq_lock);
    rc = get_seq(idx, &key, &cur);
    if (rc < 0 && rc != NOA_ENOTFOUND) {
        rocksdb_writebatch_destroy(wb);
        rc = noa_error_set(err, rc, "index: reading a stream's sequence failed");
        goto out;
    }
    if (seq > cur) {
        unsigned char v[8];
        for (int i = 0; i < 8; i++)
            v[i] = (unsigned char)(seq >> (56 - 8 * i));
        rocksdb_writebatch_put(wb, key.data, key.len, (const char *)v, 8);
    }
    rc = write_batch(idx, wb, "writing a chunk", err);
out:
    pthread_mutex_unlock(&idx->seq_lock);
    noa_buf_fini(&key);
    return rc;
}

int noa_index_add_chunk(struct noa_index *idx, const char *tenant, const struct noa_labels *ls,
                        uint64_t fp, const struct noa_chunk_ref *ref, struct noa_error *err)
{
    struct noa_str t = noa_str_c(tenant);
    size_t klen = strnlen(ref->key, sizeof(ref->key));

    if (t.len == 0 || ref->from_ns > ref->through_ns || klen == 0 || klen == sizeof(ref->key))
        return noa_error_set(err, NOA_EINVAL, "index: bad chunk ref");
    int64_t d0 = noa_index_day(ref->from_ns), d1 = noa_index_day(ref->through_ns);
    if (d1 - d0 >= NOA_INDEX_MAX_CHUNK_DAYS)
        return noa_error_set(err, NOA_EINVAL, "index: chunk spans %" PRId64 " days (max %d)",
                             d1 - d0 + 1, NOA_INDEX_MAX_CHUNK_DAYS);
    for (uint32_t i = 0; i < ls->n; i++)
        if (ls->v[i].name.len == 0 || (i && noa_str_cmp(ls->v[i - 1].name, ls->v[i].name) >= 0))
            return noa_error_set(err, NOA_EINVAL, "index: labels not sorted or empty name");

    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    batch_chunk(wb, t, ls, fp, ref, d0, d1);
    if (ref->seq == 0) {
        /* Under seq_lock too: noa_index_prune_day relies on it. */
        pthread_mutex_lock(&idx->seq_lock);
        int rc = write_batch(idx, wb, "writing a chunk", err);
        pthread_mutex_unlock(&idx->seq_lock);
        return rc;
    }
    return write_with_seq(idx, wb, t, fp, ref->seq, err);
}

int noa_index_stream_seq(struct noa_index *idx, const char *tenant, uint64_t fp, uint64_t *seq)
{
    struct noa_buf key = {0};
    *seq = 0;
    put_seq_key(&key, noa_str_c(tenant), fp);
    int rc = get_seq(idx, &key, seq);
    noa_buf_fini(&key);
    return rc;
}

int noa_index_max_seq(struct noa_index *idx, uint64_t *seq)
{
    const char *k, *v;
    size_t kl, vl;
    struct noa_buf prefix = {0};
    rocksdb_iterator_t *it = rocksdb_create_iterator(idx->db, idx->ro_total);
    *seq = 0;
    noa_buf_putc(&prefix, TYPE_SEQ);
    for (rocksdb_iter_seek(it, prefix.data, prefix.len); it_in(it, &prefix, &k, &kl);
         rocksdb_iter_next(it)) {
        v = rocksdb_iter_value(it, &vl);
        if (vl != 8) {
            note_corrupt(idx, "stream_seq", k, kl);
            continue;
        }
        uint64_t x = noa_get_be64((const unsigned char *)v);
        *seq = x > *seq ? x : *seq;
    }
    int rc = it_status(it);
    rocksdb_iter_destroy(it);
    noa_buf_fini(&prefix);
    return rc;
}

int noa_index_put_raw(struct noa_index *idx, const void *key, size_t klen, const void *val,
                      size_t vlen)
{
    char *e = NULL;
    rocksdb_put(idx->db, idx->wo_sync, key, klen, val, vlen, &e);
    if (e) {
        rocksdb_free(e);
        return -EIO;
    }
    return 0;
}

/* Deletes [P0(day), P0(day + 1)) for one type. */
static void delete_day_range(rocksdb_writebatch_t *wb, char type, struct noa_str t, int32_t day)
{
    struct noa_buf a = {0}, b = {0};
    put_p0(&a, type, t, day);
    if (day == INT32_MAX) {
        put_tenant(&b, type, t);
        b.data[b.len - 1] = 1; /* past the tenant's terminator: the tenant's end */
    } else {
        put_p0(&b, type, t, day + 1);
    }
    rocksdb_writebatch_delete_range(wb, a.data, a.len, b.data, b.len);
    noa_buf_fini(&a);
    noa_buf_fini(&b);
}

int noa_index_drop_day(struct noa_index *idx, const char *tenant, int32_t day,
                       struct noa_error *err)
{
    struct noa_str t = noa_str_c(tenant);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    delete_day_range(wb, TYPE_SERIES, t, day);
    delete_day_range(wb, TYPE_POSTING, t, day);
    delete_day_range(wb, TYPE_CHUNK, t, day);
    return write_batch(idx, wb, "dropping a day", err);
}

int noa_index_delete_chunk(struct noa_index *idx, const char *tenant,
                           const struct noa_chunk_ref *ref, struct noa_error *err)
{
    struct noa_str t = noa_str_c(tenant);
    struct noa_buf key = {0};
    int64_t d0 = noa_index_day(ref->from_ns), d1 = noa_index_day(ref->through_ns);
    if (ref->from_ns > ref->through_ns || d1 - d0 >= NOA_INDEX_MAX_CHUNK_DAYS)
        return noa_error_set(err, NOA_EINVAL, "index: bad chunk ref");
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    for (int64_t d = d0; d <= d1; d++) {
        put_chunk_key(&key, t, (int32_t)d, ref, ref->fp);
        rocksdb_writebatch_delete(wb, key.data, key.len);
    }
    noa_buf_fini(&key);
    return write_batch(idx, wb, "deleting a chunk", err);
}

int noa_index_delete_chunks(struct noa_index *idx, const char *tenant,
                            const struct noa_chunk_ref *refs, size_t n, struct noa_error *err)
{
    struct noa_str t = noa_str_c(tenant);
    struct noa_buf key = {0};
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int64_t d0 = noa_index_day(refs[i].from_ns), d1 = noa_index_day(refs[i].through_ns);
        if (refs[i].from_ns > refs[i].through_ns || d1 - d0 >= NOA_INDEX_MAX_CHUNK_DAYS)
            return noa_error_set(err, NOA_EINVAL, "index: bad chunk ref");
    }
    /* One synced batch for the lot: retention removes thousands of refs per
     * sweep and one fsync each would make the sweep slow for no benefit. */
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    for (size_t i = 0; i < n; i++) {
        int64_t d0 = noa_index_day(refs[i].from_ns), d1 = noa_index_day(refs[i].through_ns);
        for (int64_t d = d0; d <= d1; d++) {
            put_chunk_key(&key, t, (int32_t)d, &refs[i], refs[i].fp);
            rocksdb_writebatch_delete(wb, key.data, key.len);
        }
    }
    noa_buf_fini(&key);
    return write_batch(idx, wb, "deleting chunks", err);
}

/* 1 when some 'C' key starts with prefix (P0 of a day, maybe with an fp),
 * 0 when none, -EIO. */
static int has_chunk_key(struct noa_index *idx, const struct noa_buf *prefix)
{
    const char *k;
    size_t kl;
    rocksdb_iterator_t *it = rocksdb_create_iterator(idx->db, idx->ro_total);
    rocksdb_iter_seek(it, prefix->data, prefix->len);
    int rc = it_in(it, prefix, &k, &kl);
    if (!rc && it_status(it) < 0)
        rc = -EIO;
    rocksdb_iter_destroy(it);
    return rc;
}

/* Deletes a series key and its postings (labels from the series value). */
static void batch_drop_series(rocksdb_writebatch_t *wb, struct noa_str t, int32_t day,
                              const char *k, size_t kl, const struct noa_labels *ls,
                              struct noa_buf *key)
{
    rocksdb_writebatch_delete(wb, k, kl);
    uint64_t fp = noa_get_be64((const unsigned char *)k + kl - 8);
    for (uint32_t i = 0; i < ls->n; i++) {
        put_p0(key, TYPE_POSTING, t, day);
        put_esc(key, ls->v[i].name.p, ls->v[i].name.len);
        noa_buf_putc(key, 0);
        put_esc(key, ls->v[i].value.p, ls->v[i].value.len);
        noa_buf_putc(key, 0);
        noa_buf_put_be64(key, fp);
        rocksdb_writebatch_delete(wb, key->data, key->len);
    }
}

/* Series checked per lock hold: bounds how long a flush may wait. */
#define PRUNE_BATCH 256

int noa_index_prune_day(struct noa_index *idx, const char *tenant, int32_t day,
                        struct noa_error *err)
{
    struct noa_str t = noa_str_c(tenant);
    struct noa_buf sp = {0}, cp = {0}, key = {0};
    struct lbuf lb = {0};
    struct noa_labels ls;
    const char *k, *v;
    size_t kl, vl;
    int rc = 0, n = 0;
    rocksdb_writebatch_t *wb = NULL;
    rocksdb_iterator_t *it = NULL;

    /* The flush path takes seq_lock around its writes: holding it between
     * "no ref left" and the delete keeps a concurrent flush into this day
     * from losing its series. */
    pthread_mutex_lock(&idx->seq_lock);
    put_p0(&cp, TYPE_CHUNK, t, day);
    rc = has_chunk_key(idx, &cp);
    if (rc == 0) {
        wb = rocksdb_writebatch_create();
        delete_day_range(wb, TYPE_SERIES, t, day);
        delete_day_range(wb, TYPE_POSTING, t, day);
        rc = write_batch(idx, wb, "dropping a day's series", err);
        pthread_mutex_unlock(&idx->seq_lock);
        goto done;
    }
    pthread_mutex_unlock(&idx->seq_lock);
    if (rc < 0) {
        rc = noa_error_set(err, rc, "index: reading chunk refs failed");
        goto done;
    }
    rc = 0;
    put_p0(&sp, TYPE_SERIES, t, day);
    it = rocksdb_create_iterator(idx->db, idx->ro_prefix);
    rocksdb_iter_seek(it, sp.data, sp.len);
    while (rc == 0 && it_in(it, &sp, &k, &kl)) {
        if (n == 0) {
            pthread_mutex_lock(&idx->seq_lock);
            wb = rocksdb_writebatch_create();
        }
        v = rocksdb_iter_value(it, &vl);
        if (kl == sp.len + 8 && decode_labels(v, vl, &lb, &ls) == 0) {
            put_p0(&cp, TYPE_CHUNK, t, day);
            noa_buf_append(&cp, k + sp.len, 8);
            rc = has_chunk_key(idx, &cp);
            if (rc == 0)
                batch_drop_series(wb, t, day, k, kl, &ls, &key);
            rc = rc < 0 ? rc : 0;
        }
        rocksdb_iter_next(it);
        if (++n == PRUNE_BATCH || rc < 0 || !it_in(it, &sp, &k, &kl)) {
            int wrc = write_batch(idx, wb, "pruning a day's series", err);
            pthread_mutex_unlock(&idx->seq_lock);
            wb = NULL;
            n = 0;
            if (rc == 0)
                rc = wrc;
        }
    }
    if (n > 0) { /* the loop ended on an iterator error mid-batch */
        rocksdb_writebatch_destroy(wb);
        pthread_mutex_unlock(&idx->seq_lock);
    }
    if (rc == 0 && it_status(it) < 0)
        rc = -EIO;
    if (rc < 0 && (!err || !err->msg[0]))
        noa_error_set(err, rc, "index: pruning series failed");
done:
    if (it)
        rocksdb_iter_destroy(it);
    noa_buf_fini(&sp);
    noa_buf_fini(&cp);
    noa_buf_fini(&key);
    noa_free(lb.v);
    return rc;
}

/* The first day >= from_day holding a key of one type for tenant. */
static int next_day_of(struct noa_index *idx, char type, struct noa_str t, int32_t from_day,
                       int32_t *day)
{
    struct noa_buf prefix = {0}, seek = {0};
    const char *k;
    size_t kl;
    int rc = NOA_ENOTFOUND;
    rocksdb_iterator_t *it = rocksdb_create_iterator(idx->db, idx->ro_total);
    put_tenant(&prefix, type, t);
    put_p0(&seek, type, t, from_day);
    rocksdb_iter_seek(it, seek.data, seek.len);
    if (it_in(it, &prefix, &k, &kl)) {
        if (kl >= prefix.len + 4) {
            *day = (int32_t)(noa_get_be32((const unsigned char *)k + prefix.len) ^ 0x80000000u);
            rc = 0;
        } else {
            note_corrupt(idx, "day_key", k, kl);
            rc = -EIO;
        }
    } else if (it_status(it) < 0) {
        rc = -EIO;
    }
    rocksdb_iter_destroy(it);
    noa_buf_fini(&prefix);
    noa_buf_fini(&seek);
    return rc;
}

int noa_index_next_day(struct noa_index *idx, const char *tenant, int32_t from_day, int32_t *day)
{
    struct noa_str t = noa_str_c(tenant);
    int32_t ds = 0, dc = 0;
    int rs = next_day_of(idx, TYPE_SERIES, t, from_day, &ds);
    int rcn = next_day_of(idx, TYPE_CHUNK, t, from_day, &dc);
    if ((rs < 0 && rs != NOA_ENOTFOUND) || (rcn < 0 && rcn != NOA_ENOTFOUND))
        return -EIO;
    if (rs == NOA_ENOTFOUND && rcn == NOA_ENOTFOUND)
        return NOA_ENOTFOUND;
    if (rs == NOA_ENOTFOUND)
        *day = dc;
    else if (rcn == NOA_ENOTFOUND)
        *day = ds;
    else
        *day = ds < dc ? ds : dc;
    return 0;
}

/* ---- reading: shared machinery --------------------------------------------- */

/* A sorted set of 64-bit fingerprints. */
struct u64v {
    uint64_t *v;
    size_t n, cap;
};

static void u64v_push(struct u64v *a, uint64_t x)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->v = noa_xrealloc(a->v, a->cap * sizeof(*a->v));
    }
    a->v[a->n++] = x;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void u64v_sort_uniq(struct u64v *a)
{
    size_t w = 0;
    if (a->n == 0)
        return; /* a->v may still be NULL */
    qsort(a->v, a->n, sizeof(*a->v), u64_cmp);
    for (size_t i = 0; i < a->n; i++)
        if (w == 0 || a->v[w - 1] != a->v[i])
            a->v[w++] = a->v[i];
    a->n = w;
}

static int u64v_has(const struct u64v *a, uint64_t x)
{
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->v[mid] == x)
            return 1;
        if (a->v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* a = a ∩ b (both sorted). */
static void u64v_intersect(struct u64v *a, const struct u64v *b)
{
    size_t i = 0, j = 0, w = 0;
    while (i < a->n && j < b->n) {
        if (a->v[i] < b->v[j])
            i++;
        else if (a->v[i] > b->v[j])
            j++;
        else {
            a->v[w++] = a->v[i];
            i++;
            j++;
        }
    }
    a->n = w;
}

/* seen = seen ∪ add (both sorted); add is emptied. */
static void u64v_merge(struct u64v *seen, struct u64v *add)
{
    for (size_t i = 0; i < add->n; i++)
        u64v_push(seen, add->v[i]);
    if (add->n)
        u64v_sort_uniq(seen);
    add->n = 0;
}

/*
 * Clamps [*d0, *d1] to the days where tenant has any series (one seek at
 * each end), so open-ended ranges cost nothing for days without data.
 * Returns 1 when something is left, 0 when not, -EIO.
 */
static int clamp_days(struct noa_index *idx, struct noa_str t, int64_t from_ns, int64_t through_ns,
                      int64_t *d0, int64_t *d1)
{
    struct noa_buf p = {0};
    const char *k;
    size_t kl;
    int rc = 0;

    if (from_ns > through_ns)
        return 0;
    *d0 = noa_index_day(from_ns);
    *d1 = noa_index_day(through_ns);
    rocksdb_iterator_t *it = rocksdb_create_iterator(idx->db, idx->ro_total);
    put_tenant(&p, TYPE_SERIES, t);
    rocksdb_iter_seek(it, p.data, p.len);
    if (!it_in(it, &p, &k, &kl) || kl < p.len + 4)
        goto out;
    int64_t lo = (int32_t)(noa_get_be32((const unsigned char *)k + p.len) ^ 0x80000000u);
    size_t plen = p.len;
    noa_buf_append(&p, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 13);
    rocksdb_iter_seek_for_prev(it, p.data, p.len);
    p.len = plen;
    if (!it_in(it, &p, &k, &kl) || kl < p.len + 4)
        goto out;
    int64_t hi = (int32_t)(noa_get_be32((const unsigned char *)k + p.len) ^ 0x80000000u);
    *d0 = *d0 > lo ? *d0 : lo;
    *d1 = *d1 < hi ? *d1 : hi;
    rc = *d0 <= *d1;
out:
    if (it_status(it) < 0)
        rc = -EIO;
    rocksdb_iter_destroy(it);
    noa_buf_fini(&p);
    return rc;
}

/* ---- series ---------------------------------------------------------------- */

struct series_q {
    struct noa_index *idx;
    struct noa_str tenant;
    int64_t from, through;
    const struct noa_selector *sel;
    int (*cb)(uint64_t fp, const struct noa_labels *ls, void *ctx);
    void *ctx;
    rocksdb_iterator_t *it;           /* postings and series */
    rocksdb_iterator_t *cit;          /* chunk-overlap checks */
    struct noa_buf key, ckey, s1, s2; /* ckey: has_overlap's own, key is in use around it */
    struct u64v seen, added, cand, tmp;
    struct lbuf lb;
};

/* fps posted under name=value in day d, ascending, into out. */
static void postings_eq(struct series_q *q, int32_t d, const struct noa_matcher *m,
                        struct u64v *out)
{
    const char *k;
    size_t kl;
    out->n = 0;
    put_p0(&q->key, TYPE_POSTING, q->tenant, d);
    put_esc(&q->key, m->name, strlen(m->name));
    noa_buf_putc(&q->key, 0);
    put_esc(&q->key, m->value, m->value_len);
    noa_buf_putc(&q->key, 0);
    for (rocksdb_iter_seek(q->it, q->key.data, q->key.len); it_in(q->it, &q->key, &k, &kl);
         rocksdb_iter_next(q->it)) {
        if (kl != q->key.len + 8) {
            note_corrupt(q->idx, "posting", k, kl);
            continue;
        }
        u64v_push(out, noa_get_be64((const unsigned char *)k + kl - 8));
    }
}

/* fps whose value of m->name matches m, into out (sorted). Values that do
 * not match are skipped with one seek each, not walked fp by fp. */
static void postings_re(struct series_q *q, int32_t d, const struct noa_matcher *m,
                        struct u64v *out)
{
    const char *k;
    size_t kl, plen;
    const unsigned char *last = NULL;
    size_t last_len = 0;
    int last_ok = 0;

    out->n = 0;
    put_p0(&q->key, TYPE_POSTING, q->tenant, d);
    put_esc(&q->key, m->name, strlen(m->name));
    noa_buf_putc(&q->key, 0);
    plen = q->key.len;
    rocksdb_iter_seek(q->it, q->key.data, q->key.len);
    while (it_in(q->it, &q->key, &k, &kl)) {
        const unsigned char *v = (const unsigned char *)k + plen;
        size_t vl = esc_len(v, kl - plen);
        struct noa_str value;
        if (plen + vl + 1 + 8 != kl || unesc(v, vl, &q->s1, &value) < 0) {
            note_corrupt(q->idx, "posting", k, kl);
            rocksdb_iter_next(q->it);
            continue;
        }
        /* Consecutive keys share a value: match it once. The key bytes stay
         * valid only until the iterator moves, so compare by copy. */
        if (!last || last_len != vl || memcmp(last, v, vl) != 0) {
            q->s2.len = 0;
            noa_buf_append(&q->s2, v, vl);
            last = (const unsigned char *)q->s2.data;
            last_len = vl;
            last_ok = noa_matcher_matches(m, value);
        }
        if (last_ok) {
            u64v_push(out, noa_get_be64((const unsigned char *)k + kl - 8));
            rocksdb_iter_next(q->it);
            continue;
        }
        q->key.len = plen;
        noa_buf_append(&q->key, v, vl);
        noa_buf_putc(&q->key, 1); /* just past every key of this value */
        rocksdb_iter_seek(q->it, q->key.data, q->key.len);
        q->key.len = plen;
    }
    u64v_sort_uniq(out);
}

/* Narrows candidates with the selector's positive matchers. Returns 1 when
 * *cand holds the candidates, 0 when no matcher could narrow (scan all). */
static int candidates(struct series_q *q, int32_t d)
{
    int have = 0;
    if (!q->sel)
        return 0;
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < q->sel->n; i++) {
            const struct noa_matcher *m = &q->sel->m[i];
            /* equality first: cheaper and usually narrower than regexes */
            if (pass == 0 && m->type != NOA_MATCH_EQ)
                continue;
            if (pass == 1 && m->type != NOA_MATCH_RE)
                continue;
            if (noa_matcher_matches_empty(m))
                continue;
            struct u64v *dst = have ? &q->tmp : &q->cand;
            if (m->type == NOA_MATCH_EQ)
                postings_eq(q, d, m, dst);
            else
                postings_re(q, d, m, dst);
            if (have)
                u64v_intersect(&q->cand, &q->tmp);
            have = 1;
            if (q->cand.n == 0)
                return 1;
        }
    }
    return have;
}

/* 1 when stream fp has a chunk under day d overlapping the query range. */
static int has_overlap(struct series_q *q, int32_t d, uint64_t fp)
{
    const char *k;
    size_t kl;
    put_p0(&q->ckey, TYPE_CHUNK, q->tenant, d);
    noa_buf_put_be64(&q->ckey, fp);
    for (rocksdb_iter_seek(q->cit, q->ckey.data, q->ckey.len); it_in(q->cit, &q->ckey, &k, &kl);
         rocksdb_iter_next(q->cit)) {
        if (kl != q->ckey.len + 20)
            continue;
        int64_t from = get_i64((const unsigned char *)k + q->ckey.len);
        int64_t through = get_i64((const unsigned char *)k + q->ckey.len + 8);
        if (from > q->through)
            return 0; /* refs are sorted by from */
        if (through >= q->from)
            return 1;
    }
    return 0;
}

/* Handles one series record (the iterator is on it). */
static int series_one(struct series_q *q, int32_t d, int partial, uint64_t fp)
{
    struct noa_labels ls;
    const char *k, *v;
    size_t kl, vl;
    if (u64v_has(&q->seen, fp))
        return 0;
    k = rocksdb_iter_key(q->it, &kl);
    v = rocksdb_iter_value(q->it, &vl);
    if (decode_labels(v, vl, &q->lb, &ls) < 0) {
        note_corrupt(q->idx, "series", k, kl);
        return 0;
    }
    if (q->sel && !noa_selector_matches(q->sel, &ls))
        return 0;
    if (partial && !has_overlap(q, d, fp))
        return 0;
    u64v_push(&q->added, fp);
    return q->cb(fp, &ls, q->ctx);
}

static int series_day(struct series_q *q, int32_t d)
{
    const char *k;
    size_t kl, plen;
    int rc = 0;
    int64_t day_start = (int64_t)d * NOA_INDEX_DAY_NS;
    int partial = q->from > day_start || q->through < day_start + (NOA_INDEX_DAY_NS - 1);

    if (candidates(q, d)) {
        for (size_t i = 0; i < q->cand.n && rc == 0; i++) {
            put_p0(&q->key, TYPE_SERIES, q->tenant, d);
            noa_buf_put_be64(&q->key, q->cand.v[i]);
            rocksdb_iter_seek(q->it, q->key.data, q->key.len);
            if (it_in(q->it, &q->key, &k, &kl) && kl == q->key.len)
                rc = series_one(q, d, partial, q->cand.v[i]);
        }
    } else {
        put_p0(&q->key, TYPE_SERIES, q->tenant, d);
        plen = q->key.len;
        for (rocksdb_iter_seek(q->it, q->key.data, q->key.len);
             rc == 0 && it_in(q->it, &q->key, &k, &kl); rocksdb_iter_next(q->it)) {
            if (kl != plen + 8) {
                note_corrupt(q->idx, "series_key", k, kl);
                continue;
            }
            rc = series_one(q, d, partial, noa_get_be64((const unsigned char *)k + plen));
        }
    }
    u64v_merge(&q->seen, &q->added);
    return rc;
}

int noa_index_series(struct noa_index *idx, const char *tenant, int64_t from_ns, int64_t through_ns,
                     const struct noa_selector *sel,
                     int (*cb)(uint64_t fp, const struct noa_labels *ls, void *ctx), void *ctx)
{
    struct series_q q = {.idx = idx,
                         .tenant = noa_str_c(tenant),
                         .from = from_ns,
                         .through = through_ns,
                         .sel = sel,
                         .cb = cb,
                         .ctx = ctx};
    int64_t d0, d1;
    int rc = clamp_days(idx, q.tenant, from_ns, through_ns, &d0, &d1);
    if (rc <= 0)
        return rc;
    q.it = rocksdb_create_iterator(idx->db, idx->ro_prefix);
    q.cit = rocksdb_create_iterator(idx->db, idx->ro_prefix);
    rc = 0;
    for (int64_t d = d0; d <= d1 && rc == 0; d++)
        rc = series_day(&q, (int32_t)d);
    if (rc == 0 && (it_status(q.it) < 0 || it_status(q.cit) < 0))
        rc = -EIO;
    rocksdb_iter_destroy(q.it);
    rocksdb_iter_destroy(q.cit);
    noa_buf_fini(&q.key);
    noa_buf_fini(&q.ckey);
    noa_buf_fini(&q.s1);
    noa_buf_fini(&q.s2);
    noa_free(q.seen.v);
    noa_free(q.added.v);
    noa_free(q.cand.v);
    noa_free(q.tmp.v);
    noa_free(q.lb.v);
    return rc;
}

/* ---- chunk refs ------------------------------------------------------------ */

/* (from, through, checksum) of chunks crossing midnight already reported. */
struct span_set {
    struct noa_chunk_ref *v; /* only the three fields are used */
    size_t n, cap;
};

static int span_seen(struct span_set *s, const struct noa_chunk_ref *r)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].from_ns == r->from_ns && s->v[i].through_ns == r->through_ns &&
            s->v[i].checksum == r->checksum)
            return 1;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = noa_xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n].from_ns = r->from_ns;
    s->v[s->n].through_ns = r->through_ns;
    s->v[s->n].checksum = r->checksum;
    s->n++;
    return 0;
}

int noa_index_chunks(struct noa_index *idx, const char *tenant, uint64_t fp, int64_t from_ns,
                     int64_t through_ns, int (*cb)(const struct noa_chunk_ref *ref, void *ctx),
                     void *ctx)
{
    struct noa_str t = noa_str_c(tenant);
    struct noa_buf key = {0};
    struct span_set spans = {0};
    struct noa_chunk_ref ref;
    const char *k, *v;
    size_t kl, vl;
    int64_t d0, d1;
    int rc = clamp_days(idx, t, from_ns, through_ns, &d0, &d1);
    if (rc <= 0)
        return rc;
    rocksdb_iterator_t *it = rocksdb_create_iterator(idx->db, idx->ro_prefix);
    rc = 0;
    for (int64_t d = d0; d <= d1 && rc == 0; d++) {
        put_p0(&key, TYPE_CHUNK, t, (int32_t)d);
        noa_buf_put_be64(&key, fp);
        for (rocksdb_iter_seek(it, key.data, key.len); rc == 0 && it_in(it, &key, &k, &kl);
             rocksdb_iter_next(it)) {
            v = rocksdb_iter_value(it, &vl);
            if (kl != key.len + 20 ||
                decode_ref((const unsigned char *)k + key.len - 8, v, vl, &ref) < 0) {
                note_corrupt(idx, "chunk_ref", k, kl);
                continue;
            }
            if (ref.from_ns > through_ns)
                break; /* sorted by from: nothing later overlaps */
            if (ref.through_ns < from_ns)
                continue;
            if (noa_index_day(ref.from_ns) != noa_index_day(ref.through_ns) &&
                span_seen(&spans, &ref))
                continue;
            rc = cb(&ref, ctx);
        }
    }
    if (rc == 0 && it_status(it) < 0)
        rc = -EIO;
    rocksdb_iter_destroy(it);
    noa_buf_fini(&key);
    noa_free(spans.v);
    return rc;
}

int noa_index_day_chunks(struct noa_index *idx, const char *tenant, int32_t day,
                         int (*cb)(const struct noa_chunk_ref *ref, void *ctx), void *ctx)
{
    struct noa_buf key = {0};
    struct noa_chunk_ref ref;
    const char *k, *v;
    size_t kl, vl;
    int rc = 0;
    rocksdb_iterator_t *it = rocksdb_create_iterator(idx->db, idx->ro_prefix);
    put_p0(&key, TYPE_CHUNK, noa_str_c(tenant), day);
    for (rocksdb_iter_seek(it, key.data, key.len); rc == 0 && it_in(it, &key, &k, &kl);
         rocksdb_iter_next(it)) {
        v = rocksdb_iter_value(it, &vl);
        if (kl != key.len + 28 || decode_ref((const unsigned char *)k + key.len, v, vl, &ref) < 0) {
            note_corrupt(idx, "chunk_ref", k, kl);
            continue;
        }
        rc = cb(&ref, ctx);
    }
    if (rc == 0 && it_status(it) < 0)
        rc = -EIO;
    rocksdb_iter_destroy(it);
    noa_buf_fini(&key);
    return rc;
}

/* ---- label names and values ------------------------------------------------ */

/* Distinct strings, gathered then sorted. */
struct strset {
    struct noa_arena arena;
    struct noa_str *v;
    size_t n, cap;
};

static void strset_add(struct strset *s, struct noa_str x)
{
    if (s->n && noa_str_eq(s->v[s->n - 1], x))
        return; /* postings yield runs of the same string */
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = noa_xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = noa_arena_str(&s->arena, x);
}

static int str_cmp(const void *a, const void *b)
{
    return noa_str_cmp(*(const struct noa_str *)a, *(const struct noa_str *)b);
}

static int strset_emit(struct strset *s, int (*cb)(struct noa_str, void *), void *ctx)
{
    int rc = 0;
    if (s->n)
        qsort(s->v, s->n, sizeof(*s->v), str_cmp);
    for (size_t i = 0; i < s->n && rc == 0; i++)
        if (i == 0 || !noa_str_eq(s->v[i - 1], s->v[i]))
            rc = cb(s->v[i], ctx);
    return rc;
}

static void strset_fini(struct strset *s)
{
    noa_arena_fini(&s->arena);
    noa_free(s->v);
}

/* Walks the distinct escaped segments that follow `prefix` in one day's
 * keys (label names after P0, or values after P0|name|0x00), one seek per
 * distinct segment. */
static int skip_scan(struct noa_index *idx, rocksdb_iterator_t *it, struct noa_buf *prefix,
                     struct noa_buf *scratch, struct strset *out)
{
    const char *k;
    size_t kl, plen = prefix->len;
    struct noa_str s;
    struct noa_buf seen = {0}; /* the escaped segment just collected */
    rocksdb_iter_seek(it, prefix->data, prefix->len);
    while (it_in(it, prefix, &k, &kl)) {
        const unsigned char *seg = (const unsigned char *)k + plen;
        size_t sl = esc_len(seg, kl - plen);
        if (sl == kl - plen || unesc(seg, sl, scratch, &s) < 0) {
            note_corrupt(idx, "posting", k, kl);
            rocksdb_iter_next(it);
            continue;
        }
        strset_add(out, s);
        noa_buf_reset(&seen);
        noa_buf_append(&seen, seg, sl);
        /* Most segments (label values above all) have a few postings: step
         * over them, and seek past the rest only when there are many. */
        int steps = 0;
        for (;;) {
            rocksdb_iter_next(it);
            if (!it_in(it, prefix, &k, &kl))
                break;
            seg = (const unsigned char *)k + plen;
            if (kl - plen <= seen.len || seg[seen.len] != 0 ||
                memcmp(seg, seen.data, seen.len) != 0)
                break; /* the next segment starts here */
            if (++steps == 8) {
                noa_buf_append(prefix, seen.data, seen.len);
                noa_buf_putc(prefix, 1); /* past every key carrying this segment */
                rocksdb_iter_seek(it, prefix->data, prefix->len);
                prefix->len = plen;
                break;
            }
        }
    }
    noa_buf_fini(&seen);
    return it_status(it);
}

struct collect_q {
    struct strset *set;
    struct noa_str name; /* the label whose values are collected; empty = names */
};

static int collect_cb(uint64_t fp, const struct noa_labels *ls, void *ctx)
{
    struct collect_q *c = ctx;
    (void)fp;
    for (uint32_t i = 0; i < ls->n; i++) {
        if (c->name.len == 0)
            strset_add(c->set, ls->v[i].name);
        else if (noa_str_eq(ls->v[i].name, c->name))
            strset_add(c->set, ls->v[i].value);
    }
    return 0;
}

/* Shared by label names (name.len == 0) and label values. */
static int labels_query(struct noa_index *idx, const char *tenant, struct noa_str name,
                        int64_t from_ns, int64_t through_ns, const struct noa_selector *sel,
                        int (*cb)(struct noa_str, void *), void *ctx)
{
    struct noa_str t = noa_str_c(tenant);
    struct strset set = {0};
    struct noa_buf prefix = {0}, scratch = {0};
    int64_t d0, d1;
    int rc;

    if (sel) {
        struct collect_q c = {&set, name};
        rc = noa_index_series(idx, tenant, from_ns, through_ns, sel, collect_cb, &c);
    } else if ((rc = clamp_days(idx, t, from_ns, through_ns, &d0, &d1)) > 0) {
        rocksdb_iterator_t *it = rocksdb_create_iterator(idx->db, idx->ro_prefix);
        rc = 0;
        for (int64_t d = d0; d <= d1 && rc == 0; d++) {
            put_p0(&prefix, TYPE_POSTING, t, (int32_t)d);
            if (name.len) {
                put_esc(&prefix, name.p, name.len);
                noa_buf_putc(&prefix, 0);
            }
            rc = skip_scan(idx, it, &prefix, &scratch, &set);
        }
        rocksdb_iter_destroy(it);
    }
    if (rc == 0)
        rc = strset_emit(&set, cb, ctx);
    strset_fini(&set);
    noa_buf_fini(&prefix);
    noa_buf_fini(&scratch);
    return rc;
}

int noa_index_label_names(struct noa_index *idx, const char *tenant, int64_t from_ns,
                          int64_t through_ns, const struct noa_selector *sel,
                          int (*cb)(struct noa_str name, void *ctx), void *ctx)
{
    return labels_query(idx, tenant, (struct noa_str){NULL, 0}, from_ns, through_ns, sel, cb, ctx);
}

int noa_index_label_values(struct noa_index *idx, const char *tenant, struct noa_str name,
                           int64_t from_ns, int64_t through_ns, const struct noa_selector *sel,
                           int (*cb)(struct noa_str value, void *ctx), void *ctx)
{
    if (name.len == 0)
        return 0;
    return labels_query(idx, tenant, name, from_ns, through_ns, sel, cb, ctx);
}

/* ---- stats and tenants ----------------------------------------------------- */

struct stats_q {
    struct noa_index *idx;
    const char *tenant;
    int64_t from, through;
    struct noa_index_stats *out;
};

static int stats_chunk_cb(const struct noa_chunk_ref *ref, void *ctx)
{
    struct noa_index_stats *s = ctx;
    s->chunks++;
    s->bytes += ref->raw_bytes;
    s->entries += ref->entries;
    return 0;
}

static int stats_series_cb(uint64_t fp, const struct noa_labels *ls, void *ctx)
{
    struct stats_q *q = ctx;
    (void)ls;
    q->out->streams++;
    return noa_index_chunks(q->idx, q->tenant, fp, q->from, q->through, stats_chunk_cb, q->out);
}

int noa_index_stats(struct noa_index *idx, const char *tenant, int64_t from_ns, int64_t through_ns,
                    const struct noa_selector *sel, struct noa_index_stats *out)
{
    struct stats_q q = {idx, tenant, from_ns, through_ns, out};
    memset(out, 0, sizeof(*out));
    return noa_index_series(idx, tenant, from_ns, through_ns, sel, stats_series_cb, &q);
}

int noa_index_tenants(struct noa_index *idx, int (*cb)(struct noa_str tenant, void *ctx), void *ctx)
{
    struct noa_buf prefix = {0}, scratch = {0}, seek = {0};
    struct noa_str t;
    const char *k;
    size_t kl;
    int rc = 0;
    rocksdb_iterator_t *it = rocksdb_create_iterator(idx->db, idx->ro_total);

    noa_buf_putc(&prefix, TYPE_SERIES);
    rocksdb_iter_seek(it, prefix.data, prefix.len);
    while (rc == 0 && it_in(it, &prefix, &k, &kl)) {
        const unsigned char *seg = (const unsigned char *)k + 1;
        size_t sl = esc_len(seg, kl - 1);
        if (sl == kl - 1 || unesc(seg, sl, &scratch, &t) < 0) {
            note_corrupt(idx, "series_key", k, kl);
            rocksdb_iter_next(it);
            continue;
        }
        /* k stays valid through the callback: only this iterator moves it. */
        rc = cb(t, ctx);
        seek.len = 0;
        noa_buf_append(&seek, k, 1 + sl);
        noa_buf_putc(&seek, 1); /* past every key of this tenant */
        rocksdb_iter_seek(it, seek.data, seek.len);
    }
    if (rc == 0 && it_status(it) < 0)
        rc = -EIO;
    rocksdb_iter_destroy(it);
    noa_buf_fini(&prefix);
    noa_buf_fini(&scratch);
    noa_buf_fini(&seek);
    return rc;
}
