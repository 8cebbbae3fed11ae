/*
 * The `stats` object of Loki 3.x query responses (pkg/logqlmodel/stats
 * Result, as its JSON golden pins it): summary, querier, ingester, cache
 * and index sections with every key Loki emits, in Loki's order and units
 * (times in seconds as floats where Loki uses seconds, integer ns where
 * Loki uses ns). Keys noa has no figure for are 0 / false. Pure; any thread.
 */
#ifndef NOA_QUERIER_STATS_JSON_H
#define NOA_QUERIER_STATS_JSON_H

#include "common/buf.h"
#include "querier/logsel.h"

#include <stdint.h>

struct noa_stats_json {
    double exec_s;  /* seconds the query ran on its worker */
    double queue_s; /* seconds between the request and the worker starting */
    uint64_t entries_returned;
    uint64_t bytes_processed, lines_processed; /* every line read, memory and chunks */
    uint64_t post_filter_lines;                /* lines that passed the pipeline */
    /* querier.store: flushed chunks */
    uint64_t chunks_ref, chunks_downloaded;
    uint64_t decompressed_bytes, decompressed_lines, compressed_bytes, duplicates;
    /* ingester: data still in memory */
    uint64_t ingester_reached;
    uint64_t head_bytes, head_lines;
    /* index */
    uint64_t streams;
    uint64_t blocks_skipped; /* blocks a summary ruled out: index.usedBloomFilters */
};

/* Adds one selection's figures (one tenant of a query) to s. */
void noa_stats_json_add(struct noa_stats_json *s, const struct noa_logsel_result *r);

/* Appends the stats object ({"summary":...,"index":{...}}) to b. */
void noa_stats_json_put(struct noa_buf *b, const struct noa_stats_json *s);

/* Appends a float as Go's encoding/json prints it for these values: no
 * exponent, no trailing zeros ("0.095202", "2", "0"); microsecond
 * resolution. */
void noa_stats_json_put_seconds(struct noa_buf *b, double s);

#endif
