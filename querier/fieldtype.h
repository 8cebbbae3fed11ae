/*
 * Value classification for Loki's "detected" endpoints: the type Loki
 * infers for a detected field (pkg/querier/queryrange/detected_fields.go
 * determineType: Go's strconv.ParseInt, ParseFloat, ParseBool,
 * time.ParseDuration and go-humanize's ParseBytes tried in that order),
 * the "looks like an ID" test that drops a label from detected_labels
 * (ParseFloat or google/uuid's Parse), and humanize's byte formatting that
 * detected_field/<name>/values applies to byte sizes. Each check accepts
 * exactly the strings its Go counterpart accepts. Pure functions; any
 * thread.
 */
#ifndef NOA_QUERIER_FIELDTYPE_H
#define NOA_QUERIER_FIELDTYPE_H

#include "common/buf.h"

#include <stdint.h>

enum noa_fieldtype {
    NOA_FIELDTYPE_STRING = 0,
    NOA_FIELDTYPE_INT = 1,
    NOA_FIELDTYPE_FLOAT = 2,
    NOA_FIELDTYPE_BOOLEAN = 3,
    NOA_FIELDTYPE_DURATION = 4,
    NOA_FIELDTYPE_BYTES = 5,
};

/* Loki's determineType: the first of int, float, boolean, duration, bytes
 * that parses the whole value, else string. */
enum noa_fieldtype noa_fieldtype_of(struct noa_str v);

/* The JSON spelling: "string", "int", "float", "boolean", "duration",
 * "bytes". */
const char *noa_fieldtype_name(enum noa_fieldtype t);

/* Go's strconv.ParseInt(v, 10, 64) succeeds. */
int noa_fieldtype_is_int(struct noa_str v);
/* Go's strconv.ParseFloat(v, 64) succeeds (decimal and hex forms, inf,
 * infinity, nan; out of range fails). */
int noa_fieldtype_is_float(struct noa_str v);
/* Go's strconv.ParseBool succeeds. */
int noa_fieldtype_is_bool(struct noa_str v);
/* Go's time.ParseDuration succeeds. */
int noa_fieldtype_is_duration(struct noa_str v);
/* google/uuid's Parse succeeds (36-char, {...}, urn:uuid:..., 32 hex). */
int noa_fieldtype_is_uuid(struct noa_str v);

/* The byte-size values that detected_field/<name>/values rewrites: ParseBytes
 * accepts v and its lower-case form ends in a unit Loki allows (b, kb, kib,
 * k, ki ... e). Fills *bytes. */
int noa_fieldtype_is_size(struct noa_str v, uint64_t *bytes);

#endif
