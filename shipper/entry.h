/*
 * One log entry on its way through the shipper: what a target (file
 * tailer, journal reader, push receiver) produces, what pipeline stages
 * change, and what the push client sends.
 *
 * Promtail's model (logentry/stages): labels, timestamp, line, structured
 * metadata and the "extracted" map, which starts as a copy of the labels
 * so that stages can read labels as sources. Extracted values are always
 * text here: parsers store strings, and JSON objects, arrays, numbers and
 * booleans are stored as their JSON text, which is what Promtail's stages
 * make of them when they need a string.
 *
 * The reserved label __tenant_id__ (set by the `tenant` stage) names the
 * tenant the entry is sent as; the push client strips it.
 *
 * An entry belongs to one thread at a time (the target's reader); stages
 * that hold entries (cri, multiline) copy them.
 */
#ifndef NOA_SHIPPER_ENTRY_H
#define NOA_SHIPPER_ENTRY_H

#include "common/buf.h"
#include "shipper/kvlist.h"

#include <stdint.h>

#define NOA_ENTRY_TENANT_LABEL "__tenant_id__"

struct noa_entry {
    struct noa_kvlist labels;    /* stream labels */
    struct noa_kvlist extracted; /* the extracted map (labels copied in first) */
    struct noa_kvlist meta;      /* structured metadata */
    struct noa_buf line;         /* the line, without its final newline */
    int64_t ts_ns;               /* the entry's time (read time until a stage sets it) */
    /* Where the entry came from, for positions: the source key (a file
     * path, "journal-<job>", ...) and the source offset just past the last
     * raw byte this entry covers. A stage that joins entries (multiline,
     * cri partials) keeps the offset of the last one joined. */
    struct noa_buf source;
    uint64_t offset;
};

void noa_entry_init(struct noa_entry *e);
void noa_entry_fini(struct noa_entry *e);
/* Empties every part, keeping the memory. */
void noa_entry_reset(struct noa_entry *e);
/* Makes dst a deep copy of src. */
void noa_entry_copy(struct noa_entry *dst, const struct noa_entry *src);

#endif
