/*
 * Loki 3.x's query statistics as JSON (querier/stats_json.h). The key
 * list and order follow Loki's stats.Result golden (result_zero.json);
 * keys with omitempty in Loki (summary.estimatedQueryBytes,
 * ingester.recvWaitTime) are left out, as Loki does at zero. Pure.
 */
#include "querier/stats_json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void noa_stats_json_add(struct noa_stats_json *s, const struct noa_logsel_result *r)
{
    s->bytes_processed += r->bytes_processed;
    s->lines_processed += r->lines_processed;
    s->post_filter_lines += r->post_filter_lines;
    s->chunks_ref += r->chunks_read;
    s->chunks_downloaded += r->chunks_read;
    s->decompressed_bytes += r->decompressed_bytes;
    s->decompressed_lines += r->decompressed_lines;
    s->compressed_bytes += r->compressed_bytes;
    s->duplicates += r->duplicates;
    s->head_bytes += r->head_bytes;
    s->head_lines += r->head_lines;
    s->streams += r->n_streams;
    s->blocks_skipped += r->blocks_skipped;
    s->ingester_reached++;
}

void noa_stats_json_put_seconds(struct noa_buf *b, double s)
{
    char tmp[64];
    if (!(s > 0) || !isfinite(s)) {
        noa_buf_putc(b, '0');
        return;
    }
    int n = snprintf(tmp, sizeof(tmp), "%.6f", s);
    if (n <= 0 || (size_t)n >= sizeof(tmp)) {
        noa_buf_putc(b, '0');
        return;
    }
    while (n > 1 && tmp[n - 1] == '0')
        n--;
    if (tmp[n - 1] == '.')
        n--;
    noa_buf_append(b, tmp, (size_t)n);
}

static void put_u(struct noa_buf *b, const char *key, uint64_t v)
{
    noa_buf_printf(b, "\"%s\":%llu", key, (unsigned long long)v);
}

/* One querier/ingester "store" object. */
static void put_store(struct noa_buf *b, uint64_t refs, uint64_t downloaded, uint64_t head_bytes,
                      uint64_t head_lines, uint64_t dec_bytes, uint64_t dec_lines,
                      uint64_t comp_bytes, uint64_t dups, uint64_t post_filter)
{
    noa_buf_append_str(b, NOA_STR("{"));
    put_u(b, "totalChunksRef", refs);
    noa_buf_putc(b, ',');
    put_u(b, "totalChunksDownloaded", downloaded);
    noa_buf_append_str(b, NOA_STR(",\"chunksDownloadTime\":0,"
                                  "\"queryReferencedStructuredMetadata\":false,"
                                  "\"queryUsedV2Engine\":false,\"chunk\":{"));
    put_u(b, "headChunkBytes", head_bytes);
    noa_buf_putc(b, ',');
    put_u(b, "headChunkLines", head_lines);
    noa_buf_putc(b, ',');
    put_u(b, "decompressedBytes", dec_bytes);
    noa_buf_putc(b, ',');
    put_u(b, "decompressedLines", dec_lines);
    noa_buf_putc(b, ',');
    put_u(b, "compressedBytes", comp_bytes);
    noa_buf_putc(b, ',');
    put_u(b, "totalDuplicates", dups);
    noa_buf_putc(b, ',');
    put_u(b, "postFilterLines", post_filter);
    noa_buf_append_str(b, NOA_STR(
        ",\"headChunkStructuredMetadataBytes\":0,\"decompressedStructuredMetadataBytes\":0},"
        "\"chunkRefsFetchTime\":0,\"congestionControlLatency\":0,"
        "\"pipelineWrapperFilteredLines\":0,\"dataobj\":{"
        "\"prePredicateDecompressedRows\":0,\"prePredicateDecompressedBytes\":0,"
        "\"prePredicateDecompressedStructuredMetadataBytes\":0,\"postPredicateRows\":0,"
        "\"postPredicateDecompressedBytes\":0,\"postPredicateStructuredMetadataBytes\":0,"
        "\"postFilterRows\":0,\"pagesScanned\":0,\"pagesDownloaded\":0,"
        "\"pagesDownloadedBytes\":0,\"pageBatches\":0,\"totalRowsAvailable\":0,"
        "\"totalPageDownloadTime\":0,\"wireBytesTransferred\":0}}"));
}

static void put_caches(struct noa_buf *b)
{
    static const char *const names[] = {"chunk",        "index",       "result",
                                        "statsResult",  "volumeResult", "seriesResult",
                                        "labelResult",  "instantMetricResult",
                                        "logResult",    "taskResult"};
    noa_buf_putc(b, '{');
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (i)
            noa_buf_putc(b, ',');
        noa_buf_printf(b,
                       "\"%s\":{\"entriesFound\":0,\"entriesRequested\":0,\"entriesStored\":0,"
                       "\"bytesReceived\":0,\"bytesSent\":0,\"requests\":0,\"downloadTime\":0,"
                       "\"queryLengthServed\":0}",
                       names[i]);
    }
    noa_buf_putc(b, '}');
}

void noa_stats_json_put(struct noa_buf *b, const struct noa_stats_json *s)
{
    /* Loki computes the rates as int64(total / execTime seconds). */
    double bps = s->exec_s > 0 ? floor((double)s->bytes_processed / s->exec_s) : 0;
    double lps = s->exec_s > 0 ? floor((double)s->lines_processed / s->exec_s) : 0;
    noa_buf_printf(b, "{\"summary\":{\"bytesProcessedPerSecond\":%.0f,"
                      "\"linesProcessedPerSecond\":%.0f,",
                   bps, lps);
    put_u(b, "totalBytesProcessed", s->bytes_processed);
    noa_buf_putc(b, ',');
    put_u(b, "totalLinesProcessed", s->lines_processed);
    noa_buf_append_str(b, NOA_STR(",\"execTime\":"));
    noa_stats_json_put_seconds(b, s->exec_s);
    noa_buf_append_str(b, NOA_STR(",\"queueTime\":"));
    noa_stats_json_put_seconds(b, s->queue_s);
    noa_buf_append_str(b, NOA_STR(",\"subqueries\":0,"));
    put_u(b, "totalEntriesReturned", s->entries_returned);
    noa_buf_append_str(b, NOA_STR(",\"splits\":0,\"shards\":0,"));
    put_u(b, "totalPostFilterLines", s->post_filter_lines);
    noa_buf_append_str(b, NOA_STR(",\"totalStructuredMetadataBytesProcessed\":0},"
                                  "\"querier\":{\"store\":"));
    put_store(b, s->chunks_ref, s->chunks_downloaded, 0, 0, s->decompressed_bytes,
              s->decompressed_lines, s->compressed_bytes, s->duplicates, s->post_filter_lines);
    noa_buf_append_str(b, NOA_STR(",\"querierExecTime\":"));
    noa_stats_json_put_seconds(b, s->exec_s);
    noa_buf_append_str(b, NOA_STR("},\"ingester\":{"));
    put_u(b, "totalReached", s->ingester_reached);
    noa_buf_append_str(b, NOA_STR(",\"totalChunksMatched\":0,\"totalBatches\":0,"));
    put_u(b, "totalLinesSent", 0);
    noa_buf_append_str(b, NOA_STR(",\"store\":"));
    put_store(b, 0, 0, s->head_bytes, s->head_lines, 0, 0, 0, 0, 0);
    noa_buf_append_str(b, NOA_STR("},\"cache\":"));
    put_caches(b);
    noa_buf_append_str(b, NOA_STR(",\"index\":{"));
    put_u(b, "totalChunks", s->chunks_ref);
    noa_buf_putc(b, ',');
    put_u(b, "postFilterChunks", s->chunks_downloaded);
    /* noa's per-block token summaries play the part of Loki's bloom filters. */
    noa_buf_printf(b, ",\"shardsDuration\":0,\"usedBloomFilters\":%s,",
                   s->blocks_skipped ? "true" : "false");
    put_u(b, "totalStreams", s->streams);
    noa_buf_append_str(b, NOA_STR(",\"chunkRefsLookupTime\":0,\"bloomFilterTime\":0}}"));
}
