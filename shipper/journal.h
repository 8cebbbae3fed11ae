/*
 * The systemd journal target (Promtail's `journal` scrape config): one
 * reader thread per target reads the journal with libsystemd's sd-journal
 * and hands every entry to an emit callback as a shipper entry.
 *
 * What an entry looks like (as Promtail's journal target makes it):
 *   line    MESSAGE (entries without MESSAGE are skipped and counted), or with
 *           json: true every field of the entry as one JSON object (keys
 *           sorted, values strings, Go's encoding/json escaping: <, >, & as
 *           \u003c \u003e \u0026, invalid UTF-8 as \ufffd);
 *   ts_ns   __REALTIME_TIMESTAMP (microseconds) * 1000;
 *   labels  every field as __journal_<field lower-cased> (e.g.
 *           __journal__systemd_unit, __journal__hostname, __journal_priority,
 *           __journal_syslog_identifier), plus __journal_priority_keyword
 *           (emerg alert crit error warning notice info debug) when PRIORITY
 *           is present, then the configured labels (which win on a clash).
 *           The caller applies relabel_configs to this set, then drops the
 *           labels starting with "__", and drops the entry when no label is
 *           left (Promtail's "empty labels" error);
 *   source  "journal-<job>"; offset a sequence number starting at 1 and
 *           increasing by one per emitted entry (restarts at 1 every run).
 *
 * Where reading starts: the cursor saved in the positions under
 * "cursor-<job>" (Promtail's key; a legacy "journal-<job>" key is read when
 * the first is absent), resuming just after that entry. With no cursor, or
 * a cursor whose entry is gone or older than max_age, reading starts at
 * now - max_age, and older entries are skipped.
 *
 * Delivery: the cursor only moves past entries the downstream acknowledged.
 * The target remembers the cursor of recently emitted sequence numbers in a
 * bounded table (NOA_JOURNAL_TRACK slots; when full, every other slot is
 * dropped, so a later ack may save a slightly older cursor: at worst a few
 * entries are sent twice after a restart, never lost). noa_journal_acked(N)
 * stores in the positions the cursor of the newest remembered sequence <= N.
 *
 * Backpressure: when emit answers NOA_ELIMIT the reader keeps the entry and
 * offers it again after a short sleep (10 ms doubling to 200 ms), reading
 * nothing meanwhile: no busy loop, no buffering.
 *
 * THREAD SAFETY: _new/_start/_stop/_free on one controlling thread. emit and
 * tick run on the target's reader thread. noa_journal_acked and
 * noa_journal_stats may be called from any thread (a mutex guards the
 * cursor table and counters).
 */
#ifndef NOA_SHIPPER_JOURNAL_H
#define NOA_SHIPPER_JOURNAL_H

#include "common/err.h"
#include "common/labels.h"
#include "shipper/entry.h"
#include "shipper/positions.h"

#include <stddef.h>
#include <stdint.h>

#define NOA_JOURNAL_DEFAULT_MAX_AGE_NS (7LL * 3600 * 1000000000LL)
/* Cursor slots remembered between emit and ack. */
#define NOA_JOURNAL_TRACK 1024u
/* Longest matches string accepted (a config value, not input). */
#define NOA_JOURNAL_MAX_MATCHES 64u

/* The target's configuration (Promtail's `journal` block plus the job).
 * Every pointer is borrowed for the duration of noa_journal_new only. */
struct noa_journal_config {
    const char *job_name;           /* required: scrape config's job_name */
    const char *path;               /* journal.path: a directory of journal files;
                                     * NULL or "": the system journal (local machine:
                                     * /var/log/journal and /run/log/journal) */
    int64_t max_age_ns;             /* journal.max_age; <= 0: 7h */
    int json;                       /* journal.json */
    const char *matches;            /* journal.matches: "FIELD=value ..." separated by
                                     * blanks; "+" between groups is an OR (journalctl
                                     * syntax); NULL or "": everything */
    const struct noa_label *labels; /* journal.labels */
    size_t n_labels;
};

/* Counters, read with noa_journal_stats. */
struct noa_journal_stats {
    uint64_t entries;     /* entries emitted (accepted by emit) */
    uint64_t no_message;  /* skipped: no MESSAGE field (non-JSON mode) */
    uint64_t too_old;     /* skipped: older than max_age at start */
    uint64_t read_errors; /* sd-journal errors (the reader retries) */
    uint64_t limited;     /* emit answered NOA_ELIMIT (each retry counted) */
    uint64_t acked_seq;   /* highest sequence acknowledged */
    uint64_t emitted_seq; /* highest sequence emitted */
};

/* Callbacks of a target. */
struct noa_journal_callbacks {
    /* Required. One entry, borrowed for the call (the callee copies what it
     * keeps; it may change e). Returns 0 when taken (an ack for e->offset
     * will come through noa_journal_acked), 1 when finished without an ack
     * to wait for (dropped by the pipeline or by relabelling), NOA_ELIMIT
     * when the downstream is full (the reader offers the same entry again
     * later). Any other negative value is treated as 1 and logged. */
    int (*emit_cb)(struct noa_entry *e, void *ctx);
    /* Optional: called on the reader thread about every 100 ms, also when
     * idle, so pipeline stages holding entries (multiline) can time out. */
    void (*tick_cb)(int64_t now_ns, void *ctx);
    /* Optional: called on the reader thread once when it ends, so held
     * entries can be flushed through emit_cb before the thread exits. */
    void (*flush_cb)(void *ctx);
    void *ctx;
};

struct noa_journal;

/*
 * Checks cfg, opens the journal and positions the reader (cursor or
 * max_age), without starting the thread. positions is borrowed for the life
 * of the target (may be NULL: no cursor is loaded or saved). Returns 0,
 * NOA_EINVAL (bad matches or job name; err says which) or -errno when the
 * journal cannot be opened (err says which path).
 */
int noa_journal_new(const struct noa_journal_config *cfg, const struct noa_journal_callbacks *cb,
                    struct noa_positions *positions, struct noa_journal **out,
                    struct noa_error *err);

/* Starts the reader thread. 0 or -errno. */
int noa_journal_start(struct noa_journal *j);

/* Stops the reader thread and waits for it (at most about 250 ms plus the
 * running callback). Safe when never started; idempotent. */
void noa_journal_stop(struct noa_journal *j);

/* Stops if running and frees; NULL is a no-op. */
void noa_journal_free(struct noa_journal *j);

/* Every entry emitted with offset <= seq is acknowledged: saves the cursor
 * of the newest remembered one into the positions. Any thread. */
void noa_journal_acked(struct noa_journal *j, uint64_t seq);

/* The source key of the target's entries ("journal-<job>"), and the
 * positions key of its cursor ("cursor-<job>"). Borrowed for the target's life. */
const char *noa_journal_source(const struct noa_journal *j);
const char *noa_journal_cursor_key(const struct noa_journal *j);

/* A snapshot of the counters. Any thread. */
void noa_journal_stats(struct noa_journal *j, struct noa_journal_stats *out);

/*
 * Parses a matches string into its terms, calling term_cb(field, value, ctx)
 * for each "FIELD=value" and or_cb(ctx) for each "+"; pure, for tests and
 * config checks (either callback may be NULL). Field names must be non-empty
 * upper-case letters, digits and '_' not starting with a digit (journald's
 * rule); the value is what follows the first '='. Returns 0 or NOA_EINVAL
 * with err naming the bad term.
 */
int noa_journal_parse_matches(const char *matches,
                              int (*term_cb)(struct noa_str field, struct noa_str value, void *ctx),
                              int (*or_cb)(void *ctx), void *ctx, struct noa_error *err);

/* Promtail's priority keyword for a PRIORITY value ("3" -> "error"); other
 * values are returned as they are. */
struct noa_str noa_journal_priority_keyword(struct noa_str priority);

#endif
