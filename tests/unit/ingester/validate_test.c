/* Unit tests for ingester/validate.c: Loki's push validation, message by
 * message, its discard accounting, stream merging and tenant rules. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/mem.h"
#include "ingester/validate.h"

#define SEC 1000000000LL
#define NOW (1700000000LL * SEC) /* 2023-11-14T22:13:20Z */
#define OLDEST (NOW - 7 * 24 * 3600 * SEC)
#define NEWEST (NOW + 600 * SEC)

static char *discover_list[] = {
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
};

/* Loki's defaults (ingester/limits.c owns the real ones). */
static void limits_for_test(struct noa_limits *l)
{
    memset(l, 0, sizeof(*l));
    l->ingestion_rate_bytes = 4 << 20;
    l->ingestion_burst_bytes = 6 << 20;
    l->per_stream_rate_bytes = 3 << 20;
    l->per_stream_burst_bytes = 15 << 20;
    l->max_line_size = 256 * 1024;
    l->max_label_names_per_series = 15;
    l->max_label_name_length = 1024;
    l->max_label_value_length = 2048;
    l->reject_old_samples = 1;
    l->reject_old_samples_max_age_ns = 7 * 24 * 3600 * SEC;
    l->creation_grace_period_ns = 600 * SEC;
    l->max_global_streams_per_user = 5000;
    l->allow_structured_metadata = 1;
    l->max_structured_metadata_size = 64 * 1024;
    l->max_structured_metadata_entries_count = 128;
    l->discover_log_levels = 1;
    l->discover_service_name = discover_list;
    l->n_discover_service_name = (int)(sizeof(discover_list) / sizeof(discover_list[0]));
}

/* ---- a request under construction ----------------------------------------- */

#define MAX_STREAMS 32
#define MAX_ENTRIES 64
#define MAX_META 200

struct fx {
    struct noa_limits lim;
    struct noa_push_request req;
    struct noa_arena arena;
    struct noa_validated v;
};

static struct fx *fx_new(void)
{
    struct fx *f = noa_xcalloc(1, sizeof(*f));
    limits_for_test(&f->lim);
    f->req.streams = noa_arena_alloc(&f->req.arena, MAX_STREAMS * sizeof(*f->req.streams));
    return f;
}

static void fx_free(struct fx *f)
{
    noa_validated_fini(&f->v);
    noa_arena_fini(&f->arena);
    noa_push_request_fini(&f->req);
    noa_free(f);
}

static struct noa_push_stream *fx_stream_n(struct fx *f, const char *labels, size_t len)
{
    assert_true(f->req.n_streams < MAX_STREAMS);
    struct noa_push_stream *s = &f->req.streams[f->req.n_streams++];
    s->labels = (struct noa_str){labels, len};
    s->entries = noa_arena_alloc(&f->req.arena, MAX_ENTRIES * sizeof(*s->entries));
    s->n_entries = 0;
    return s;
}

static struct noa_push_stream *fx_stream(struct fx *f, const char *labels)
{
    return fx_stream_n(f, labels, strlen(labels));
}

static struct noa_push_entry *fx_entry_n(struct noa_push_stream *s, int64_t ts, const char *line,
                                         size_t len)
{
    assert_true(s->n_entries < MAX_ENTRIES);
    struct noa_push_entry *e = &s->entries[s->n_entries++];
    *e = (struct noa_push_entry){ts, {line, len}, NULL, 0};
    return e;
}

static struct noa_push_entry *fx_entry(struct noa_push_stream *s, int64_t ts, const char *line)
{
    return fx_entry_n(s, ts, line, strlen(line));
}

static void fx_meta(struct fx *f, struct noa_push_entry *e, const char *name, const char *value)
{
    if (!e->meta)
        e->meta = noa_arena_alloc(&f->req.arena, MAX_META * sizeof(*e->meta));
    assert_true(e->n_meta < MAX_META);
    e->meta[e->n_meta++] = (struct noa_label){noa_str_c(name), noa_str_c(value)};
}

static int fx_run(struct fx *f)
{
    return noa_validate_push(&f->lim, NOW, &f->req, &f->arena, &f->v);
}

static const char *errors(struct fx *f)
{
    return noa_buf_cstr(&f->v.errors);
}

static void assert_str(struct noa_str got, const char *want)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%.*s", (int)got.len, got.p ? got.p : "");
    assert_string_equal(buf, want);
}

static struct noa_str meta_value(const struct noa_push_entry *e, const char *name)
{
    for (uint32_t i = 0; i < e->n_meta; i++)
        if (noa_str_eq_c(e->meta[i].name, name))
            return e->meta[i].value;
    return (struct noa_str){NULL, 0};
}

/* ---- whole-request outcomes ------------------------------------------------ */

static void test_no_streams_is_422(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    assert_int_equal(fx_run(f), NOA_EEMPTY);
    assert_string_equal(errors(f), "error at least one valid stream is required for ingestion");
    assert_int_equal(f->v.n, 0);
    fx_free(f);
}

static void test_bad_labels_fail_whole_request(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    fx_entry(fx_stream(f, "{app=\"good\"}"), NOW, "kept?");
    fx_entry(fx_stream(f, "{foo-bar=\"x\"}"), NOW, "line");
    assert_int_equal(fx_run(f), NOA_EINVAL);
    assert_int_equal(f->v.n, 0);
    assert_int_equal(f->v.accepted_lines, 0);
    assert_true(strncmp(errors(f), "couldn't parse labels: ", 23) == 0);
    fx_free(f);

    /* Even a stream without entries must parse. */
    f = fx_new();
    fx_entry(fx_stream(f, "{app=\"good\"}"), NOW, "line");
    fx_stream(f, "not labels");
    assert_int_equal(fx_run(f), NOA_EINVAL);
    fx_free(f);
}

static void test_invalid_utf8_label_rejected(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    fx_entry(fx_stream(f, "{app=\"a\xff"
                          "b\"}"),
             NOW, "line");
    assert_int_equal(fx_run(f), NOA_EINVAL);
    assert_string_equal(errors(f), "couldn't parse labels: 1:6: parse error: invalid UTF-8 rune");
    fx_free(f);

    f = fx_new(); /* U+FFFD itself is refused by Prometheus' lexer too */
    fx_entry(fx_stream(f, "{a=\"1\", b=\"\xef\xbf\xbd\"}"), NOW, "line");
    assert_int_equal(fx_run(f), NOA_EINVAL);
    assert_string_equal(errors(f), "couldn't parse labels: 1:11: parse error: invalid UTF-8 rune");
    fx_free(f);

    f = fx_new(); /* valid UTF-8 is fine */
    fx_entry(fx_stream(f, "{app=\"caf\xc3\xa9\"}"), NOW, "line");
    assert_int_equal(fx_run(f), 0);
    assert_int_equal(f->v.n, 1);
    assert_str(f->v.streams[0].canonical, "{app=\"caf\xc3\xa9\", service_name=\"caf\xc3\xa9\"}");
    fx_free(f);
}

static void test_huge_label_text_is_413(void **state)
{
    (void)state;
    size_t n = NOA_VALIDATE_MAX_LABELS_TEXT + 1;
    char *text = noa_xmalloc(n);
    memset(text, ' ', n);
    memcpy(text, "{a=\"b\"}", 7);
    struct fx *f = fx_new();
    fx_entry(fx_stream_n(f, text, n), NOW, "line");
    assert_int_equal(fx_run(f), NOA_ETOOBIG);
    assert_string_equal(errors(f),
                        "request body too large: stream labels size 17 MB exceeds limit of 17 MB");
    fx_free(f);
    noa_free(text);
}

/* ---- accepted streams ------------------------------------------------------ */

static void test_accepts_and_enriches(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    struct noa_push_stream *s = fx_stream(f, "{job=\"api\", env=\"\"}");
    fx_entry(s, NOW, "hello");
    fx_entry(s, NOW + 1, "level=warn msg=x");
    assert_int_equal(fx_run(f), 0);
    assert_int_equal(f->v.errors.len, 0);
    assert_int_equal(f->v.n, 1);
    const struct noa_valid_stream *vs = &f->v.streams[0];
    assert_str(vs->canonical, "{job=\"api\", service_name=\"api\"}");
    assert_int_equal(vs->labels.n, 2);
    assert_int_equal(vs->fp, noa_labels_hash(&vs->labels));
    assert_int_equal(vs->n_entries, 2);
    assert_str(meta_value(&vs->entries[0], "detected_level"), "unknown");
    assert_str(meta_value(&vs->entries[1], "detected_level"), "warn");
    /* zero-copy: the line is the request's bytes */
    assert_ptr_equal(vs->entries[0].line.p, s->entries[0].line.p);
    /* bytes count line + metadata, detected_level included */
    uint64_t want = (5 + 14 + 7) + (16 + 14 + 4);
    assert_int_equal(vs->bytes, want);
    assert_int_equal(f->v.accepted_bytes, want);
    assert_int_equal(f->v.accepted_lines, 2);
    assert_int_equal(f->v.rejected_lines, 0);
    fx_free(f);
}

static void test_empty_label_set_gets_unknown_service(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    fx_entry(fx_stream(f, "{}"), NOW, "line");
    assert_int_equal(fx_run(f), 0);
    assert_int_equal(f->v.n, 1);
    assert_str(f->v.streams[0].canonical, "{service_name=\"unknown_service\"}");
    fx_free(f);
}

static void test_no_discovery_empty_labels_missing(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->lim.n_discover_service_name = 0;
    struct noa_push_stream *s = fx_stream(f, "{}");
    fx_entry(s, NOW, "abc");
    fx_entry(s, NOW, "de");
    fx_entry(fx_stream(f, "{app=\"x\"}"), NOW, "ok");
    assert_int_equal(fx_run(f), 0);
    assert_string_equal(errors(f), "error at least one label pair is required per stream");
    assert_int_equal(f->v.n, 1);
    assert_str(f->v.streams[0].canonical, "{app=\"x\"}"); /* no service_name either */
    assert_int_equal(f->v.rejected_lines, 2);
    /* Loki counts missing_labels once, without bytes, and invalid_labels per entry. */
    assert_int_equal(f->v.discarded_lines[NOA_VALIDATE_MISSING_LABELS], 1);
    assert_int_equal(f->v.discarded_bytes[NOA_VALIDATE_MISSING_LABELS], 0);
    assert_int_equal(f->v.discarded_lines[NOA_VALIDATE_INVALID_LABELS], 2);
    assert_int_equal(f->v.discarded_bytes[NOA_VALIDATE_INVALID_LABELS], 5);
    fx_free(f);
}

static void test_streams_without_entries_are_skipped(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->lim.n_discover_service_name = 0;
    fx_stream(f, "{}"); /* would be missing_labels, but has no entries */
    assert_int_equal(fx_run(f), 0);
    assert_int_equal(f->v.n, 0);
    assert_int_equal(f->v.errors.len, 0);
    fx_free(f);
}

static void test_same_labels_are_merged(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    fx_entry(fx_stream(f, "{b=\"2\", a=\"1\"}"), NOW, "one");
    fx_entry(fx_stream(f, "{c=\"3\"}"), NOW, "other");
    struct noa_push_stream *s = fx_stream(f, "{a=\"1\",b=\"2\"}");
    fx_entry(s, NOW + 1, "two");
    fx_entry(s, NOW + 2, "three");
    assert_int_equal(fx_run(f), 0);
    assert_int_equal(f->v.n, 2);
    const struct noa_valid_stream *m = &f->v.streams[0];
    assert_str(m->canonical, "{a=\"1\", b=\"2\", service_name=\"unknown_service\"}");
    assert_int_equal(m->n_entries, 3);
    assert_str(m->entries[0].line, "one");
    assert_str(m->entries[1].line, "two");
    assert_str(m->entries[2].line, "three");
    assert_int_equal(f->v.streams[1].n_entries, 1);
    assert_int_equal(f->v.accepted_lines, 4);
    assert_int_equal(m->bytes + f->v.streams[1].bytes, f->v.accepted_bytes);
    fx_free(f);
}

static void test_non_utf8_line_accepted(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    fx_entry_n(fx_stream(f, "{app=\"x\"}"), NOW, "bin\xff\xfe\0data", 10);
    assert_int_equal(fx_run(f), 0);
    assert_int_equal(f->v.n, 1);
    assert_int_equal(f->v.streams[0].entries[0].line.len, 10);
    fx_free(f);
}

/* ---- label checks ---------------------------------------------------------- */

static void test_too_many_labels(void **state)
{
    (void)state;
    /* 15 own labels + the added service_name: allowed (service_name does not count) */
    const char *ok = "{a=\"1\", b=\"1\", c=\"1\", d=\"1\", e=\"1\", f=\"1\", g=\"1\", h=\"1\", "
                     "i=\"1\", j=\"1\", k=\"1\", l=\"1\", m=\"1\", n=\"1\", o=\"1\"}";
    struct fx *f = fx_new();
    fx_entry(fx_stream(f, ok), NOW, "x");
    assert_int_equal(fx_run(f), 0);
    assert_int_equal(f->v.n, 1);
    assert_int_equal(f->v.streams[0].labels.n, 16);
    fx_free(f);

    /* 16 own labels: the message quotes the canonical text, service_name included */
    f = fx_new();
    fx_entry(fx_stream(f,
                       "{a=\"1\", b=\"1\", c=\"1\", d=\"1\", e=\"1\", f=\"1\", g=\"1\", h=\"1\", "
                       "i=\"1\", j=\"1\", k=\"1\", l=\"1\", m=\"1\", n=\"1\", o=\"1\", p=\"1\"}"),
             NOW, "xy");
    assert_int_equal(fx_run(f), 0);
    assert_int_equal(f->v.n, 0);
    assert_string_equal(errors(f),
                        "entry for stream '{a=\"1\", b=\"1\", c=\"1\", d=\"1\", e=\"1\", f=\"1\", "
                        "g=\"1\", h=\"1\", i=\"1\", j=\"1\", k=\"1\", l=\"1\", m=\"1\", n=\"1\", "
                        "o=\"1\", p=\"1\", service_name=\"unknown_service\"}' has 16 label names; "
                        "limit 15");
    assert_int_equal(f->v.discarded_lines[NOA_VALIDATE_MAX_LABEL_NAMES], 1);
    assert_int_equal(f->v.discarded_bytes[NOA_VALIDATE_MAX_LABEL_NAMES], 2);
    assert_int_equal(f->v.discarded_lines[NOA_VALIDATE_INVALID_LABELS], 1);
    fx_free(f);

    /* A stream that brings its own service_name is quoted as it was sent. */
    f = fx_new();
    f->lim.max_label_names_per_series = 1;
    fx_entry(fx_stream(f, "{service_name=\"s\",b=\"2\", a=\"1\"}"), NOW, "x");
    assert_int_equal(fx_run(f), 0);
    assert_string_equal(
        errors(f), "entry for stream '{service_name=\"s\",b=\"2\", a=\"1\"}' has 2 label names; "
                   "limit 1");
    fx_free(f);
}

static void test_label_name_and_value_length(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->lim.max_label_name_length = 4;
    f->lim.max_label_value_length = 3;
    fx_entry(fx_stream(f, "{abcd=\"xyz\"}"), NOW, "at the limits");
    fx_entry(fx_stream(f, "{abcde=\"x\"}"), NOW, "name");
    fx_entry(fx_stream(f, "{ab=\"wxyz\"}"), NOW, "value");
    f->lim.n_discover_service_name = 0;
    assert_int_equal(fx_run(f), 0);
    assert_int_equal(f->v.n, 1);
    assert_string_equal(errors(f),
                        "1 errors like: stream '{abcde=\"x\"}' has label name too long: 'abcde'; "
                        "1 errors like: stream '{ab=\"wxyz\"}' has label value too long: 'wxyz'");
    assert_int_equal(f->v.discarded_lines[NOA_VALIDATE_LABEL_NAME_TOO_LONG], 1);
    assert_int_equal(f->v.discarded_bytes[NOA_VALIDATE_LABEL_NAME_TOO_LONG], 4);
    assert_int_equal(f->v.discarded_lines[NOA_VALIDATE_LABEL_VALUE_TOO_LONG], 1);
    assert_int_equal(f->v.discarded_lines[NOA_VALIDATE_INVALID_LABELS], 2);
    fx_free(f);

    /* the discovered service_name value is checked like any label */
    f = fx_new();
    f->lim.max_label_value_length = 3;
    fx_entry(fx_stream(f, "{x=\"a\"}"), NOW, "line");
    assert_int_equal(fx_run(f), 0);
    assert_string_equal(errors(f),
                        "stream '{service_name=\"unknown_service\", x=\"a\"}' has label value too "
                        "long: 'unknown_service'");
    fx_free(f);
}

/* ---- entry checks ---------------------------------------------------------- */

static void test_timestamp_boundaries(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    struct noa_push_stream *s = fx_stream(f, "{job=\"api\"}");
    fx_entry(s, OLDEST, "oldest accepted");
    fx_entry(s, OLDEST - 1, "one ns too old");
    fx_entry(s, NEWEST, "newest accepted");
    fx_entry(s, NEWEST + 1, "one ns too new");
    assert_int_equal(fx_run(f), 0);
    assert_int_equal(f->v.n, 1);
    assert_int_equal(f->v.streams[0].n_entries, 2);
    assert_str(f->v.streams[0].entries[0].line, "oldest accepted");
    assert_str(f->v.streams[0].entries[1].line, "newest accepted");
    assert_string_equal(errors(f),
                        "1 errors like: entry for stream '{job=\"api\", service_name=\"api\"}' has "
                        "timestamp too old: 2023-11-07T22:13:19Z, oldest acceptable timestamp is: "
                        "2023-11-07T22:13:20Z; 1 errors like: entry for stream '{job=\"api\", "
                        "service_name=\"api\"}' has timestamp too new: 2023-11-14T22:23:20Z");
    assert_int_equal(f->v.discarded_lines[NOA_VALIDATE_TOO_OLD], 1);
    assert_int_equal(f->v.discarded_bytes[NOA_VALIDATE_TOO_OLD], 14);
    assert_int_equal(f->v.discarded_lines[NOA_VALIDATE_TOO_NEW], 1);
    assert_int_equal(f->v.rejected_lines, 2);
    fx_free(f);

    /* reject_old_samples off: very old entries pass, future ones still fail */
    f = fx_new();
    f->lim.reject_old_samples = 0;
    s = fx_stream(f, "{job=\"api\"}");
    fx_entry(s, 0, "epoch");
    fx_entry(s, -1, "before the epoch");
    assert_int_equal(fx_run(f), 0);
    assert_int_equal(f->v.accepted_lines, 2);
    fx_free(f);
}

static void test_line_too_long_and_truncation(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->lim.max_line_size = 5;
    struct noa_push_stream *s = fx_stream(f, "{job=\"api\"}");
    fx_entry(s, NOW, "12345");
    fx_entry(s, NOW, "123456");
    assert_int_equal(fx_run(f), 0);
    assert_int_equal(f->v.accepted_lines, 1);
    assert_string_equal(errors(f),
                        "Max entry size '5' bytes exceeded for stream '{job=\"api\", "
                        "service_name=\"api\"}' while adding an entry with length '6' bytes");
    assert_int_equal(f->v.discarded_lines[NOA_VALIDATE_LINE_TOO_LONG], 1);
    assert_int_equal(f->v.discarded_bytes[NOA_VALIDATE_LINE_TOO_LONG], 6);
    fx_free(f);

    f = fx_new();
    f->lim.max_line_size = 5;
    f->lim.max_line_size_truncate = 1;
    s = fx_stream(f, "{job=\"api\"}");
    fx_entry(s, NOW, "12345");
    fx_entry(s, NOW, "123456789");
    assert_int_equal(fx_run(f), 0);
    assert_int_equal(f->v.errors.len, 0);
    assert_int_equal(f->v.accepted_lines, 2);
    assert_str(f->v.streams[0].entries[1].line, "12345");
    assert_int_equal(f->v.truncated_lines, 1);
    assert_int_equal(f->v.truncated_bytes, 4);
    fx_free(f);

    f = fx_new(); /* 0 = unlimited */
    f->lim.max_line_size = 0;
    static char big[300 * 1024];
    memset(big, 'x', sizeof(big));
    fx_entry_n(fx_stream(f, "{job=\"api\"}"), NOW, big, sizeof(big));
    assert_int_equal(fx_run(f), 0);
    assert_int_equal(f->v.accepted_lines, 1);
    fx_free(f);
}

static void test_structured_metadata_limits(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->lim.allow_structured_metadata = 0;
    struct noa_push_stream *s = fx_stream(f, "{job=\"api\"}");
    fx_meta(f, fx_entry(s, NOW, "with"), "trace_id", "abc");
    fx_entry(s, NOW, "without");
    assert_int_equal(fx_run(f), 0);
    assert_int_equal(f->v.accepted_lines, 1);
    assert_string_equal(
        errors(f), "stream '{job=\"api\", service_name=\"api\"}' includes structured metadata, "
                   "but this feature is disallowed. Please see "
                   "`limits_config.allow_structured_metadata` or contact your Loki "
                   "administrator to enable it.");
    assert_int_equal(f->v.discarded_bytes[NOA_VALIDATE_SM_DISALLOWED], 4 + 11);
    /* no level discovery without structured metadata */
    assert_int_equal(f->v.streams[0].entries[0].n_meta, 0);
    fx_free(f);

    f = fx_new();
    f->lim.max_structured_metadata_size = 10;
    s = fx_stream(f, "{job=\"api\"}");
    fx_meta(f, fx_entry(s, NOW, "at limit"), "abcde", "12345");
    fx_meta(f, fx_entry(s, NOW, "over"), "abcde", "123456");
    assert_int_equal(fx_run(f), 0);
    assert_int_equal(f->v.accepted_lines, 1);
    assert_string_equal(errors(f),
                        "stream '{job=\"api\", service_name=\"api\"}' has structured metadata too "
                        "large: '11' bytes, limit: '10' bytes. Please see "
                        "`limits_config.max_structured_metadata_size` or contact your Loki "
                        "administrator to increase it.");
    fx_free(f);

    f = fx_new();
    f->lim.max_structured_metadata_entries_count = 2;
    s = fx_stream(f, "{job=\"api\"}");
    struct noa_push_entry *e = fx_entry(s, NOW, "two");
    fx_meta(f, e, "a", "1");
    fx_meta(f, e, "b", "2");
    e = fx_entry(s, NOW, "three");
    fx_meta(f, e, "a", "1");
    fx_meta(f, e, "b", "2");
    fx_meta(f, e, "c", "3");
    assert_int_equal(fx_run(f), 0);
    assert_int_equal(f->v.accepted_lines, 1);
    assert_string_equal(
        errors(f), "stream '{job=\"api\", service_name=\"api\"}' has too many structured "
                   "metadata labels: '3', limit: '2'. Please see "
                   "`limits_config.max_structured_metadata_entries_count` or contact your Loki "
                   "administrator to increase it.");
    /* detected_level is added after the count check, so the accepted entry has 3 */
    assert_int_equal(f->v.streams[0].entries[0].n_meta, 3);
    fx_free(f);
}

static void test_metadata_sanitised(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    struct noa_push_entry *e = fx_entry(fx_stream(f, "{job=\"api\"}"), NOW, "x");
    fx_meta(f, e, "trace-id", "a");
    fx_meta(f, e, "1st", "b");
    fx_meta(f, e, "_x", "c");
    fx_meta(f, e, "__y", "d");
    fx_meta(f, e, "caf\xc3\xa9.n", "e");
    fx_meta(f, e, "ok_name", "bad\xff\xfevalue\xef\xbf\xbd!");
    fx_meta(f, e, "_", "f");
    assert_int_equal(fx_run(f), 0);
    const struct noa_push_entry *o = &f->v.streams[0].entries[0];
    assert_int_equal(o->n_meta, 8);
    assert_str(o->meta[0].name, "trace_id");
    assert_str(o->meta[1].name, "key_1st");
    assert_str(o->meta[2].name, "key_x");
    assert_str(o->meta[3].name, "__y");
    assert_str(o->meta[4].name, "caf__n");
    assert_str(o->meta[5].name, "ok_name");
    assert_str(o->meta[5].value, "bad  value !");
    assert_str(o->meta[6].name, "key_");
    assert_str(o->meta[7].name, "detected_level");
    /* the request itself is not modified */
    assert_str(e->meta[0].name, "trace-id");
    fx_free(f);
}

static void test_detected_level_sources(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    struct noa_push_stream *s = fx_stream(f, "{job=\"api\", level=\"WARN\"}");
    fx_entry(s, NOW, "an error");
    s = fx_stream(f, "{job=\"web\"}");
    fx_meta(f, fx_entry(s, NOW, "an error"), "severity", "dbg");
    fx_meta(f, fx_entry(s, NOW, "x"), "detected_level", "ERROR");
    fx_entry(s, NOW, "{\"level\":\"critical\"}");
    assert_int_equal(fx_run(f), 0);
    assert_int_equal(f->v.n, 2);
    assert_str(meta_value(&f->v.streams[0].entries[0], "detected_level"), "warn");
    const struct noa_valid_stream *w = &f->v.streams[1];
    assert_str(meta_value(&w->entries[0], "detected_level"), "debug");
    assert_int_equal(w->entries[1].n_meta, 1); /* normalised in place, not appended */
    assert_str(meta_value(&w->entries[1], "detected_level"), "error");
    assert_str(meta_value(&w->entries[2], "detected_level"), "critical");
    fx_free(f);

    f = fx_new();
    f->lim.discover_log_levels = 0;
    fx_entry(fx_stream(f, "{job=\"api\"}"), NOW, "an error");
    assert_int_equal(fx_run(f), 0);
    assert_int_equal(f->v.streams[0].entries[0].n_meta, 0);
    assert_int_equal(f->v.accepted_bytes, 8);
    fx_free(f);
}

/* ---- the 400 body ---------------------------------------------------------- */

static void test_grouped_errors(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    f->lim.max_line_size = 1;
    struct noa_push_stream *s = fx_stream(f, "{job=\"api\"}");
    fx_entry(s, NOW, "aa");
    fx_entry(s, NOW, "bb");
    fx_entry(s, NOW, "cc");
    assert_int_equal(fx_run(f), 0);
    assert_string_equal(
        errors(f), "3 errors like: Max entry size '1' bytes exceeded for stream '{job=\"api\", "
                   "service_name=\"api\"}' while adding an entry with length '2' bytes");
    fx_free(f);

    /* Past NOA_VALIDATE_MAX_ERRORS distinct messages the rest are counted. */
    f = fx_new();
    f->lim.max_line_size = 1;
    f->lim.n_discover_service_name = 0;
    s = fx_stream(f, "{job=\"api\"}");
    static const char *lines[] = {"22",         "333",         "4444",         "55555",
                                  "666666",     "7777777",     "88888888",     "999999999",
                                  "10........", "11.........", "12..........", "13..........."};
    for (size_t i = 0; i < 12; i++)
        fx_entry(s, NOW, lines[i]);
    fx_entry(s, NOW, "22");
    assert_int_equal(fx_run(f), 0);
    const char *body = errors(f);
    const char *head = "2 errors like: Max entry size '1' bytes exceeded for stream "
                       "'{job=\"api\"}' while adding an entry with length '2' bytes; 1 "
                       "errors like: ";
    assert_true(strncmp(body, head, strlen(head)) == 0);
    const char *tail = "; 2 more errors not shown";
    assert_string_equal(body + strlen(body) - strlen(tail), tail);
    assert_non_null(strstr(body, "length '11' bytes"));
    assert_null(strstr(body, "length '12' bytes"));
    assert_int_equal(f->v.rejected_lines, 13);
    fx_free(f);
}

static void test_partial_acceptance(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    fx_entry(fx_stream(f, "{job=\"good\"}"), NOW, "kept");
    fx_entry(fx_stream(f, "{job=\"old\"}"), OLDEST - SEC, "dropped");
    assert_int_equal(fx_run(f), 0);
    assert_int_equal(f->v.n, 1);
    assert_str(f->v.streams[0].canonical, "{job=\"good\", service_name=\"good\"}");
    assert_true(f->v.errors.len > 0);
    assert_int_equal(f->v.accepted_lines, 1);
    assert_int_equal(f->v.rejected_lines, 1);
    fx_free(f);
}

/* ---- tenants --------------------------------------------------------------- */

static void test_tenant(void **state)
{
    (void)state;
    char out[NOA_VALIDATE_TENANT_MAX + 1];
    struct noa_error err = {0};
    assert_int_equal(noa_validate_tenant("anything|else", 0, out, sizeof(out), &err), 0);
    assert_string_equal(out, "fake");
    assert_int_equal(noa_validate_tenant(NULL, 0, out, sizeof(out), &err), 0);
    assert_string_equal(out, "fake");

    assert_int_equal(noa_validate_tenant(NULL, 1, out, sizeof(out), &err), NOA_EAUTH);
    assert_string_equal(err.msg, "no org id");
    assert_int_equal(noa_validate_tenant("", 1, out, sizeof(out), &err), NOA_EAUTH);

    assert_int_equal(noa_validate_tenant("team-A_1.prod!*'()", 1, out, sizeof(out), &err), 0);
    assert_string_equal(out, "team-A_1.prod!*'()");
    assert_int_equal(noa_validate_tenant("a|a", 1, out, sizeof(out), &err), 0);
    assert_string_equal(out, "a");

    assert_int_equal(noa_validate_tenant("a|b", 1, out, sizeof(out), &err), NOA_EINVAL);
    assert_string_equal(err.msg, "multiple org IDs present");
    /* every part is checked before the count */
    assert_int_equal(noa_validate_tenant("a|b/c", 1, out, sizeof(out), &err), NOA_EINVAL);
    assert_string_equal(err.msg, "tenant ID 'b/c' contains unsupported character '/'");
    assert_int_equal(noa_validate_tenant("caf\xc3\xa9", 1, out, sizeof(out), &err), NOA_EINVAL);
    assert_string_equal(err.msg,
                        "tenant ID 'caf\xc3\xa9' contains unsupported character '\xc3\x83'");
    assert_int_equal(noa_validate_tenant("a b", 1, out, sizeof(out), &err), NOA_EINVAL);
    assert_string_equal(err.msg, "tenant ID 'a b' contains unsupported character ' '");
    assert_int_equal(noa_validate_tenant(".", 1, out, sizeof(out), &err), NOA_EINVAL);
    assert_string_equal(err.msg, "tenant ID is '.' or '..'");
    assert_int_equal(noa_validate_tenant("..", 1, out, sizeof(out), &err), NOA_EINVAL);
    assert_int_equal(noa_validate_tenant("...", 1, out, sizeof(out), &err), 0);

    char longest[NOA_VALIDATE_TENANT_MAX + 2];
    memset(longest, 'x', sizeof(longest));
    longest[NOA_VALIDATE_TENANT_MAX] = '\0';
    assert_int_equal(noa_validate_tenant(longest, 1, out, sizeof(out), &err), 0);
    assert_int_equal(strlen(out), NOA_VALIDATE_TENANT_MAX);
    longest[NOA_VALIDATE_TENANT_MAX] = 'x';
    longest[NOA_VALIDATE_TENANT_MAX + 1] = '\0';
    assert_int_equal(noa_validate_tenant(longest, 1, out, sizeof(out), &err), NOA_EINVAL);
    assert_string_equal(err.msg, "tenant ID is too long: max 150 characters");

    assert_int_equal(noa_validate_tenant("a", 1, out, 10, &err), -ENOSPC);
    assert_int_equal(noa_validate_tenant("|", 1, out, sizeof(out), &err), NOA_EAUTH);
}

static void test_rfc3339_and_reasons(void **state)
{
    (void)state;
    char b[40];
    assert_string_equal(noa_validate_rfc3339(0, b, sizeof(b)), "1970-01-01T00:00:00Z");
    assert_string_equal(noa_validate_rfc3339(NOW + 999999999, b, sizeof(b)),
                        "2023-11-14T22:13:20Z");
    assert_string_equal(noa_validate_rfc3339(-1, b, sizeof(b)), "1969-12-31T23:59:59Z");
    assert_string_equal(noa_validate_rfc3339(INT64_MAX, b, sizeof(b)), "2262-04-11T23:47:16Z");
    assert_string_equal(noa_validate_reason_name(NOA_VALIDATE_TOO_OLD),
                        "greater_than_max_sample_age");
    assert_string_equal(noa_validate_reason_name(NOA_VALIDATE_TOO_NEW), "too_far_in_future");
    assert_string_equal(noa_validate_reason_name(NOA_VALIDATE_RATE_LIMITED), "rate_limited");
    assert_string_equal(noa_validate_reason_name(NOA_VALIDATE_REASON_COUNT), "unknown");
    for (int r = 0; r < NOA_VALIDATE_REASON_COUNT; r++)
        assert_non_null(noa_validate_reason_name((enum noa_validate_reason)r));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_streams_is_422),
        cmocka_unit_test(test_bad_labels_fail_whole_request),
        cmocka_unit_test(test_invalid_utf8_label_rejected),
        cmocka_unit_test(test_huge_label_text_is_413),
        cmocka_unit_test(test_accepts_and_enriches),
        cmocka_unit_test(test_empty_label_set_gets_unknown_service),
        cmocka_unit_test(test_no_discovery_empty_labels_missing),
        cmocka_unit_test(test_streams_without_entries_are_skipped),
        cmocka_unit_test(test_same_labels_are_merged),
        cmocka_unit_test(test_non_utf8_line_accepted),
        cmocka_unit_test(test_too_many_labels),
        cmocka_unit_test(test_label_name_and_value_length),
        cmocka_unit_test(test_timestamp_boundaries),
        cmocka_unit_test(test_line_too_long_and_truncation),
        cmocka_unit_test(test_structured_metadata_limits),
        cmocka_unit_test(test_metadata_sanitised),
        cmocka_unit_test(test_detected_level_sources),
        cmocka_unit_test(test_grouped_errors),
        cmocka_unit_test(test_partial_acceptance),
        cmocka_unit_test(test_tenant),
        cmocka_unit_test(test_rfc3339_and_reasons),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
