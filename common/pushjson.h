/*
 * Loki's JSON push body (POST /loki/api/v1/push, Content-Type
 * application/json) decoded into struct noa_push_request. The one adapter
 * over jansson for push bodies. Pure function; any thread.
 *
 *   {"streams":[{"stream":{"job":"api"},
 *                "values":[["1700000000000000000","a line",{"trace_id":"x"}]]}]}
 *
 * Acceptance follows Loki 3.x's decoder (pkg/loghttp/query.go):
 *  - the body is one JSON value; bytes after it are ignored; an empty body
 *    is "EOF"; a top-level `null`, a missing "streams" key (matched
 *    case-insensitively, as jsoniter matches struct fields) or
 *    "streams":null give a request with no streams;
 *  - a stream must be an object. "stream" must be an object whose values
 *    are taken as strings (a non-string value is used as its JSON text);
 *    the labels become `{k="v", k2="v2"}` with names sorted bytewise and
 *    values Go-quoted (names are not checked here: the ingester's label
 *    parser rejects bad ones as Loki does). A stream without "stream" has
 *    empty label text. Other keys are ignored;
 *  - "values" null or missing: no entries. Otherwise an array whose null
 *    elements are skipped and whose other elements are arrays:
 *    [0] a string holding a base-10 integer of nanoseconds (optional '-';
 *    "1.5", numbers and RFC3339 are errors), [1] a string line, [2] an
 *    object of string values (structured metadata, in received order);
 *    extra elements are ignored, missing ones leave the timestamp at
 *    INT64_MIN (Go's zero time; validation rejects it) and the line empty.
 * Errors (NOA_EINVAL) carry Loki's text, e.g.
 *   loghttp.PushRequest.Streams: []loghttp.LogProtoStream: unmarshalerDecoder:
 *   Value is string, but can't find closing '"' symbol, error found in #10
 *   byte of ...|<10 bytes>|..., bigger context ...|<100 bytes>|...
 * with err->line/col set for syntax errors. jansson rejects invalid UTF-8
 * and integers beyond int64 anywhere in the body (Loki accepts both): those
 * are 400s here. Nesting deeper than jansson's JSON_PARSER_MAX_DEPTH (2048)
 * is a clean 400, never a stack overflow.
 */
#ifndef NOA_COMMON_PUSHJSON_H
#define NOA_COMMON_PUSHJSON_H

#include "common/err.h"
#include "common/push.h"

#include <stddef.h>

/*
 * Decodes `n` bytes of a JSON push body into `out`, which the call
 * initialises (finish an earlier request with noa_push_request_fini first).
 * Every string is copied (unescaped) into out->arena, so `body` may be
 * freed after the call. Returns 0, NOA_EINVAL (message as above) or
 * NOA_ENOMEM; on failure `out` is left empty.
 */
int noa_pushjson_decode(const void *body, size_t n, struct noa_push_request *out,
                        struct noa_error *err);

#endif
