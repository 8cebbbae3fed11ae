/*
 * The router: the sink after every pipeline. Entries that passed the
 * stages go to every push client (shipper/client.h), and the router tracks
 * which source offsets every client has settled, so positions only ever
 * advance past lines the servers accepted (or refused for good).
 *
 * Owns: the push clients (created from their configs here, so their ack
 * callbacks point at the router), a cache of formatted label sets, one
 * record per source key, and the per-source stash of entries a full client
 * refused.
 *
 * The position rule. For each source (a file path, "journal-<job>", ...)
 * and each channel (client, tenant) the router knows the highest offset
 * added and the highest offset acknowledged. A channel with added > acked
 * has entries in flight. The safe offset of a source is the minimum of
 *   - `done`: the offset of the last input line the pipeline finished with
 *     (it passed and was added, or was dropped), reported by
 *     noa_route_line_done, or, while a stage holds lines of the source
 *     (cri partials, a multiline block), the `done` offset from just before
 *     the held run started (a held line is not delivered yet);
 *   - for every channel with entries in flight, its acked offset;
 *   - the offset just before the first stashed entry (refused by a full
 *     client, not yet added).
 * Acks with a status < 0 (dropped for good after a 4xx or max_retries)
 * settle the batch like a success: Promtail's behaviour; the client counts
 * and logs the drop. Safe offsets are handed to the commit callback (for
 * files noa_tailer_commit, which writes positions with the identity) at
 * noa_route_tick and at stop; the positions file is saved every
 * sync_period by its owner. Restart after kill -9 therefore resumes from
 * the last saved safe offset: every line after it may be sent again (at
 * most what was acknowledged since the last save, plus what was in
 * flight), and no line before it is lost.
 *
 * Backpressure: when a client answers NOA_ELIMIT the entry is copied to
 * the source's stash and noa_route_add answers NOA_ELIMIT. The reader
 * checks noa_route_blocked(source) BEFORE running a line through its
 * pipeline and refuses the line while the source is blocked (the tailer
 * offers it again later), so the stash holds at most what one input line
 * released (a line, or a multiline block). The stash is retried by
 * noa_route_blocked and noa_route_tick; a client that is full for one
 * tenant does not stop sources that feed other tenants.
 *
 * Per line (noa_route_add): the __tenant_id__ label is removed and names
 * the tenant; the label set is formatted once per distinct set (cache
 * keyed by its hash, compared in full; in front of it a few recent sets
 * in their unsorted order, so a run of lines from one file is neither
 * sorted nor hashed) and the client copies the entry; nothing is
 * allocated once the caches are warm. The last source looked up is
 * remembered (a line asks about its source up to three times), and
 * noa_route_blocked answers without the lock while nothing is stashed.
 *
 * Wiring a reader to the router (what shipper.c does per input line):
 *   on_line:       if (noa_route_blocked(r, src)) return NOA_ELIMIT;
 *                  fill the entry (source = src, offset = the line's offset);
 *                  noa_stages_run(p, e, noa_route_sink(r), now);
 *                  noa_route_line_done(r, src, offset, noa_stages_holding(p, src));
 *   on_file_done:  noa_stages_flush(p, src, noa_route_sink(r));
 *                  noa_route_line_done(r, src, 0, 0);   (nothing held any more)
 *                  noa_route_source_end(r, src);
 *   on_tick:       noa_stages_tick(p, now, sink); noa_route_refresh_holds(r, cb, ud);
 *                  noa_route_tick(r); noa_positions_tick(...) (from a worker)
 *   commit:        for file paths, noa_tailer_commit(t, src, offset).
 *   stop:          noa_tailer_stop (on_file_done flushes stages), then
 *                  noa_route_stop (clients drain, last commit), then
 *                  noa_positions_save; free the router before the tailer
 *                  (commits call into the tailer).
 *
 * THREAD SAFETY: every function may be called from any thread (readers
 * call add / line_done / blocked, sender threads run the ack callback, the
 * controller calls tick / stop). One mutex guards the sources, the stash
 * and the label cache; the commit callback runs without it, serialised by
 * a second mutex (lock order: commit lock, then the router lock).
 */
#ifndef NOA_SHIPPER_ROUTE_H
#define NOA_SHIPPER_ROUTE_H

#include "common/buf.h"
#include "common/err.h"
#include "shipper/client.h"
#include "shipper/entry.h"
#include "shipper/stage.h"

#include <stddef.h>
#include <stdint.h>

/* Push clients per router (Promtail's clients[]). */
#define NOA_ROUTE_MAX_CLIENTS 16

struct noa_route_config {
    /* The clients' configs (copied at _new; their ack/ack_ud are replaced
     * by the router's). At least one. */
    const struct noa_client_config *clients;
    size_t n_clients;
    /*
     * Called with a source's new safe offset when it advanced (never
     * backwards); return value ignored. For files pass a wrapper around
     * noa_tailer_commit; cursor sources map offsets their own way. Runs on
     * the thread that called noa_route_tick / _stop. May be NULL.
     */
    int (*commit)(void *ud, struct noa_str source, uint64_t offset);
    void *commit_ud;
    /* Passed to every client (noa_client_config.room): a client has room
     * again, paused readers may go on. May be NULL. */
    void (*room)(void *ud);
    void *room_ud;
    size_t label_cache; /* formatted label sets kept [4096] */
};

struct noa_route_stats {
    uint64_t added;    /* entries handed to every client */
    uint64_t stashed;  /* entries refused by a full client (kept) */
    uint64_t rejected; /* entries a client refused for good (bad labels,
                        * too big): counted, their offset is settled */
    uint64_t commits;  /* commit callbacks made */
    uint64_t sources;  /* gauge: sources tracked */
};

struct noa_route;

/* Creates the clients. Returns 0 or as noa_client_new (NOA_EINVAL). */
int noa_route_new(const struct noa_route_config *cfg, struct noa_route **out);

/*
 * Adds one entry that passed the pipeline (e->source and e->offset say
 * where it came from; e may be changed: the tenant label is removed) to
 * every client. Returns 0; NOA_ELIMIT when a client was full (the entry is
 * stashed: do not add it again); NOA_EUNAVAIL after stop.
 */
int noa_route_add(struct noa_route *r, struct noa_entry *e);

/*
 * The pipeline finished with the input line of source ending at offset:
 * every entry it produced was added (or it was dropped). holding: 1 when
 * a stage still holds lines of this source (noa_stages_holding). An
 * offset not above the last one only updates holding (offset 0 with
 * holding 0 after a flush: nothing is held any more).
 */
void noa_route_line_done(struct noa_route *r, struct noa_str source, uint64_t offset, int holding);

/*
 * Stages release held entries from noa_stages_tick too (a multiline block
 * that waited max_wait_time): asks holding(ud, source) for every source
 * the router believes held, and clears the hold of those that answer 0,
 * so their position can advance. Call on the reader thread after
 * noa_stages_tick (holding typically returns noa_stages_holding of the
 * source's pipeline). The callback runs without the router's lock.
 */
void noa_route_refresh_holds(struct noa_route *r, int (*holding)(void *ud, struct noa_str source),
                             void *ud);

/*
 * 1 when source has stashed entries that the clients still refuse (the
 * reader must not feed it new lines yet); retries the stash first.
 */
int noa_route_blocked(struct noa_route *r, struct noa_str source);

/*
 * A source ended (file released): once its entries settle it is
 * committed one last time and forgotten.
 */
void noa_route_source_end(struct noa_route *r, struct noa_str source);

/* Retries stashes and commits advanced safe offsets. Call about every
 * 100 ms (the tailer's on_tick) and before saving positions. */
void noa_route_tick(struct noa_route *r);

/* Current safe offset of source: 0 and *offset, or NOA_ENOTFOUND. */
int noa_route_safe(struct noa_route *r, struct noa_str source, uint64_t *offset);

/*
 * Flushes the clients, waits up to drain_ms for their queues, stops them,
 * and makes a last commit of every source. Stashed entries are abandoned
 * (their lines are re-read after restart). Returns 0 or NOA_ETIMEOUT.
 */
int noa_route_stop(struct noa_route *r, int64_t drain_ms);

/* The i-th client (borrowed), for stats and flush. */
struct noa_client *noa_route_client(struct noa_route *r, size_t i);

/* A stages sink that calls noa_route_add (borrowed for the life of r). */
struct noa_stages_sink *noa_route_sink(struct noa_route *r);

void noa_route_stats(struct noa_route *r, struct noa_route_stats *out);

/* Stops (drain 0) if needed and frees; NULL is a no-op. */
void noa_route_free(struct noa_route *r);

#endif
