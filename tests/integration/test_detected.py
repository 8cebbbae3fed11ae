"""
Loki's detected endpoints: /loki/api/v1/detected_labels, /detected_fields
and /detected_field/<name>/values over JSON, logfmt and plain lines with
structured metadata in two tenants (each answer checked as exact JSON, and
one tenant never sees the other's labels, fields or values; `a|b` merges
them as Loki's multi-tenant querier does), from memory and again after the
chunks are flushed; Loki's errors (missing or bad
query, metric query, bad limits, no org id); /patterns answers 404 as a
Loki without pattern ingesters.

Runs on the main thread; starts noa-server on a free loopback port.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check, entry, Stream  # noqa: E402

T1, T2 = "team-a", "team-b"

API_LINES = [  # oldest first; {app="api", env="prod"}
    ('{"level":"info","status":200,"took":"15ms","user":{"id":7,"name":"ann"},"tags":["x"]}',
     {"trace_id": "t-1"}),
    ('{"level":"error","status":500,"took":"2s","user":{"id":8,"name":"bob"},"size":"10KB"}',
     {"trace_id": "t-2"}),
    ('{"level":"info","status":200,"took":"30ms","user":{"id":7,"name":"ann"},"ok":true}', None),
]
WEB_LINES = [  # {app="web", pod="web-1"}
    ('level=warn msg="slow request" path=/a latency=0.25 bytes=1024KB', None),
    ('level=info msg=done path=/b latency=0.5 bytes=512b', {"trace_id": "t-3"}),
    ("just a plain line without fields", None),
]
OTHER_LINES = [  # tenant T2, {app="api", env="dev"}
    ('{"level":"debug","secret_field":"only-in-b"}', None),
]


def push_all(srv, base):
    def ents(lines, off):
        return [entry(base + (off + i) * 1000, ln, meta) for i, (ln, meta) in enumerate(lines)]
    H.push_ok(srv, [Stream({"app": "api", "env": "prod"}, ents(API_LINES, 0)),
                    Stream({"app": "web", "pod": "web-1"}, ents(WEB_LINES, 10))], tenant=T1)
    H.push_ok(srv, [Stream({"app": "api", "env": "dev"}, ents(OTHER_LINES, 0))], tenant=T2)


def get(srv, path, tenant, **params):
    return srv.get(path, params=params, headers={"X-Scope-OrgID": tenant})


def get_json(srv, path, tenant, **params):
    r = get(srv, path, tenant, **params)
    check(r.status == 200, "%s %r: status %d %s", path, params, r.status, H.short(r.body))
    ct = r.headers.get("content-type", "")
    check(ct.startswith("application/json"), "content type %r", ct)
    return r.json()


def F(label, typ, card, parsers, path=None):
    f = {"label": label, "type": typ, "cardinality": card, "parsers": parsers}
    if path is not None:
        f["jsonPath"] = path
    return f


# The fields of {app="api"} in T1: JSON fields (with their paths),
# structured metadata (parsers null) and the detected_level noa adds at
# ingest as Loki 3.x does.
API_FIELDS = [
    F("detected_level", "string", 2, None),
    F("level", "string", 2, ["json"], ["level"]),
    F("ok", "boolean", 1, ["json"], ["ok"]),
    F("size", "bytes", 1, ["json"], ["size"]),
    F("status", "int", 2, ["json"], ["status"]),
    F("took", "duration", 3, ["json"], ["took"]),
    F("trace_id", "string", 2, None),
    F("user_id", "int", 2, ["json"], ["user", "id"]),
    F("user_name", "string", 2, ["json"], ["user", "name"]),
]

WEB_FIELDS = [
    F("bytes", "bytes", 2, ["logfmt"]),
    F("detected_level", "string", 3, None),
    F("latency", "float", 2, ["logfmt"]),
    F("level", "string", 2, ["logfmt"]),
    F("msg", "string", 2, ["logfmt"]),
    F("path", "string", 2, ["logfmt"]),
    F("trace_id", "string", 1, None),
]


def field_cases(suite, srv, start, end, phase):
    rng = {"start": str(start), "end": str(end)}

    with suite.case("%s: detected_fields of JSON lines with metadata" % phase):
        j = get_json(srv, "/loki/api/v1/detected_fields", T1, query='{app="api"}', **rng)
        check(j == {"fields": API_FIELDS, "limit": 1000}, "got %r", j)

    with suite.case("%s: detected_fields of logfmt and plain lines" % phase):
        j = get_json(srv, "/loki/api/v1/detected_fields", T1, query='{app="web"}', **rng)
        check(j == {"fields": WEB_FIELDS, "limit": 1000}, "got %r", j)

    with suite.case("%s: the query's pipeline selects the sample" % phase):
        j = get_json(srv, "/loki/api/v1/detected_fields", T1,
                     query='{app="api"} | json | status >= 500', **rng)
        want = [F("detected_level", "string", 1, None), F("level", "string", 1, ["json"], ["level"]),
                F("size", "bytes", 1, ["json"], ["size"]), F("status", "int", 1, ["json"], ["status"]),
                F("took", "duration", 1, ["json"], ["took"]), F("trace_id", "string", 1, None),
                F("user_id", "int", 1, ["json"], ["user", "id"]),
                F("user_name", "string", 1, ["json"], ["user", "name"])]
        check(j == {"fields": want, "limit": 1000}, "got %r", j)
        j = get_json(srv, "/loki/api/v1/detected_fields", T1, query='{app="web"} |= "slow"', **rng)
        names = [f["label"] for f in j["fields"]]
        check(names == ["bytes", "detected_level", "latency", "level", "msg", "path"], "%r", names)

    with suite.case("%s: line_limit and limit bound the sample and the answer" % phase):
        j = get_json(srv, "/loki/api/v1/detected_fields", T1, query='{app="api"}', line_limit="1", **rng)
        card = {f["label"]: f["cardinality"] for f in j["fields"]}
        check(card.get("took") == 1 and "size" not in card and card.get("ok") == 1, "%r", j)
        j = get_json(srv, "/loki/api/v1/detected_fields", T1, query='{app="api"}', limit="3", **rng)
        check(len(j["fields"]) == 3 and j["limit"] == 3, "%r", j)
        j = get_json(srv, "/loki/api/v1/detected_fields", T1, query='{app="api"}', field_limit="2", **rng)
        check(len(j["fields"]) == 2 and j["limit"] == 2, "%r", j)
        j = get_json(srv, "/loki/api/v1/detected_fields", T1, query='{app="none"}', **rng)
        check(j == {}, "empty answer %r", j)

    with suite.case("%s: detected_field values" % phase):
        j = get_json(srv, "/loki/api/v1/detected_field/level/values", T1, query='{app=~"api|web"}', **rng)
        check(j == {"limit": 1000, "values": ["error", "info", "warn"]}, "got %r", j)
        # Sizes come back as humanize prints them, ready to paste into a query.
        j = get_json(srv, "/loki/api/v1/detected_field/bytes/values", T1, query='{app="web"}', **rng)
        check(j == {"limit": 1000, "values": ["1.0MB", "512B"]}, "got %r", j)
        j = get_json(srv, "/loki/api/v1/detected_field/trace_id/values", T1, query='{app=~".+"}', **rng)
        check(j == {"limit": 1000, "values": ["t-1", "t-2", "t-3"]}, "got %r", j)
        j = get_json(srv, "/loki/api/v1/detected_field/nope/values", T1, query='{app="api"}', **rng)
        check(j == {}, "got %r", j)

    with suite.case("%s: one tenant never sees another's fields" % phase):
        j = get_json(srv, "/loki/api/v1/detected_fields", T2, query='{app="api"}', **rng)
        want = [F("detected_level", "string", 1, None), F("level", "string", 1, ["json"], ["level"]),
                F("secret_field", "string", 1, ["json"], ["secret_field"])]
        check(j == {"fields": want, "limit": 1000}, "got %r", j)
        j = get_json(srv, "/loki/api/v1/detected_field/level/values", T2, query='{app="api"}', **rng)
        check(j == {"limit": 1000, "values": ["debug"]}, "got %r", j)
        j = get_json(srv, "/loki/api/v1/detected_field/secret_field/values", T1, query='{app="api"}', **rng)
        check(j == {}, "T1 sees T2's values: %r", j)


def label_cases(suite, srv, start, end, phase):
    rng = {"start": str(start), "end": str(end)}

    with suite.case("%s: detected_labels of a tenant" % phase):
        j = get_json(srv, "/loki/api/v1/detected_labels", T1, **rng)
        want = {"detectedLabels": [{"label": "app", "cardinality": 2},
                                   {"label": "env", "cardinality": 1},
                                   {"label": "pod", "cardinality": 1},
                                   {"label": "service_name", "cardinality": 2}]}
        check(j == want, "got %r", j)

    with suite.case("%s: detected_labels with a selector" % phase):
        j = get_json(srv, "/loki/api/v1/detected_labels", T1, query='{app="web"}', **rng)
        want = {"detectedLabels": [{"label": "app", "cardinality": 1},
                                   {"label": "pod", "cardinality": 1},
                                   {"label": "service_name", "cardinality": 1}]}
        check(j == want, "got %r", j)
        j = get_json(srv, "/loki/api/v1/detected_labels", T1, query='{app="none"}', **rng)
        check(j == {}, "got %r", j)

    with suite.case("%s: detected_labels of the other tenant" % phase):
        j = get_json(srv, "/loki/api/v1/detected_labels", T2, **rng)
        want = {"detectedLabels": [{"label": "app", "cardinality": 1},
                                   {"label": "env", "cardinality": 1},
                                   {"label": "service_name", "cardinality": 1}]}
        check(j == want, "got %r", j)


def multi_tenant_cases(suite, srv, start, end):
    rng = {"start": str(start), "end": str(end)}
    both = T1 + "|" + T2

    with suite.case("a|b: detected_labels unions the tenants' labels"):
        j = get_json(srv, "/loki/api/v1/detected_labels", both, **rng)
        want = {"detectedLabels": [{"label": "app", "cardinality": 2},
                                   {"label": "env", "cardinality": 2},
                                   {"label": "pod", "cardinality": 1},
                                   {"label": "service_name", "cardinality": 2}]}
        check(j == want, "got %r", j)

    with suite.case("a|b: detected_fields samples both tenants"):
        j = get_json(srv, "/loki/api/v1/detected_fields", both, query='{app="api"}', **rng)
        card = {f["label"]: f["cardinality"] for f in j["fields"]}
        check(card.get("secret_field") == 1 and card.get("level") == 3 and card.get("user_id") == 2
              and card.get("trace_id") == 2 and card.get("detected_level") == 3, "%r", j)
        j = get_json(srv, "/loki/api/v1/detected_field/level/values", both, query='{app="api"}', **rng)
        check(j == {"limit": 1000, "values": ["debug", "error", "info"]}, "got %r", j)

    with suite.case("a|b: __tenant_id__ picks the tenants"):
        j = get_json(srv, "/loki/api/v1/detected_fields", both,
                     query='{app="api", __tenant_id__="%s"}' % T2, **rng)
        names = [f["label"] for f in j["fields"]]
        check(names == ["detected_level", "level", "secret_field"], "%r", j)


def error_cases(suite, srv, start, end):
    rng = {"start": str(start), "end": str(end)}

    def err(path, tenant, status, prefix, **params):
        r = get(srv, path, tenant, **params)
        check(r.status == status, "%s %r: status %d %s", path, params, r.status, H.short(r.body))
        check(r.body.startswith(prefix.encode()), "%s %r: body %r", path, params, r.body)
        if status == 400:
            ct = r.headers.get("content-type", "")
            check(ct.startswith("text/plain"), "content type %r", ct)

    with suite.case("a missing query is Loki's parse error (no position: the lexer has none yet)"):
        err("/loki/api/v1/detected_fields", T1, 400, "parse error : syntax error: unexpected $end", **rng)
        err("/loki/api/v1/detected_field/level/values", T1, 400,
            "parse error : syntax error: unexpected $end", query="", **rng)

    with suite.case("bad LogQL is a 400 with its position"):
        err("/loki/api/v1/detected_fields", T1, 400, "parse error at line 1, col ",
            query='{app="api"} |= ', **rng)
        err("/loki/api/v1/detected_fields", T1, 400, "parse error at line 1, col ",
            query='{app=}', **rng)
        err("/loki/api/v1/detected_labels", T1, 400, "parse error at line 1, col ", query='{app=', **rng)
        err("/loki/api/v1/detected_labels", T1, 400, "parse error : queries require at least one",
            query='{app=""}', **rng)
        err("/loki/api/v1/detected_labels", T1, 400, "only label matchers are supported",
            query='{app="api"} | json', **rng)

    with suite.case("a metric query is refused"):
        err("/loki/api/v1/detected_fields", T1, 400, "only log selector is supported",
            query='count_over_time({app="api"}[1m])', **rng)

    with suite.case("bad limits, step and range are Loki's 400s"):
        err("/loki/api/v1/detected_fields", T1, 400, "limit must be a positive value",
            query='{app="api"}', limit="0", **rng)
        err("/loki/api/v1/detected_fields", T1, 400, "limit must be a positive value",
            query='{app="api"}', line_limit="-1", **rng)
        err("/loki/api/v1/detected_fields", T1, 400, 'strconv.Atoi: parsing "x"',
            query='{app="api"}', line_limit="x", **rng)
        err("/loki/api/v1/detected_fields", T1, 400, "exceeded maximum resolution of 11,000 points",
            query='{app="api"}', step="1ms", **rng)
        err("/loki/api/v1/detected_fields", T1, 400,
            "end timestamp must not be before or equal to start time",
            query='{app="api"}', start=str(end), end=str(start))
        err("/loki/api/v1/detected_labels", T1, 400,
            "end timestamp must not be before or equal to start time", start=str(end), end=str(start))
        err("/loki/api/v1/detected_fields", T1, 400,
            "max entries limit per query exceeded, limit > max_entries_limit_per_query (200000 > 100000)",
            query='{app="api"}', line_limit="200000", **rng)
        far = str(end - 800 * 3600 * H.NS)
        err("/loki/api/v1/detected_fields", T1, 400, "the query time range exceeds the limit (query length: ",
            query='{app="api"}', start=far, end=str(end), step="3600")
        err("/loki/api/v1/detected_labels", T1, 400, "the query time range exceeds the limit (query length: ",
            start=far, end=str(end))

    with suite.case("no org id is a 401"):
        for p in ("/loki/api/v1/detected_labels", "/loki/api/v1/detected_fields",
                  "/loki/api/v1/detected_field/level/values", "/loki/api/v1/patterns"):
            r = srv.get(p, params={"query": '{app="api"}'})
            check(r.status == 401 and r.body.startswith(b"no org id"), "%s: %d %r", p, r.status, r.body)

    with suite.case("patterns: 404 as a Loki without pattern ingesters"):
        r = get(srv, "/loki/api/v1/patterns", T1, query='{app="api"}', **rng)
        check(r.status == 404 and r.body == b"", "%d %r", r.status, r.body)

    with suite.case("POST form bodies work as GET"):
        body = "query=%7Bapp%3D%22web%22%7D&start=" + str(start) + "&end=" + str(end)
        r = srv.request("POST", "/loki/api/v1/detected_fields", body=body.encode(), headers={
            "X-Scope-OrgID": T1, "Content-Type": "application/x-www-form-urlencoded"})
        check(r.status == 200 and r.json() == {"fields": WEB_FIELDS, "limit": 1000},
              "%d %s", r.status, H.short(r.body))
        r = srv.request("POST", "/loki/api/v1/detected_labels", body=body.encode(), headers={
            "X-Scope-OrgID": T1, "Content-Type": "application/x-www-form-urlencoded"})
        check(r.status == 200 and len(r.json()["detectedLabels"]) == 3, "%d %s", r.status, H.short(r.body))


def body(suite):
    tmp = H.make_tempdir("detected")
    data = os.path.join(tmp, "data")
    srv = H.Server("detected", H.make_config(data, H.free_port(), auth=True, ingester=H.SMALL_CHUNKS),
                   workdir=tmp)
    srv.start()
    base = H.now_ns() - 120 * H.NS
    start, end = base - H.NS, H.now_ns() + 60 * H.NS
    push_all(srv, base)

    label_cases(suite, srv, start, end, "in memory")
    field_cases(suite, srv, start, end, "in memory")
    multi_tenant_cases(suite, srv, start, end)
    error_cases(suite, srv, start, end)
    H.wait_for(lambda: len(H.files_under(os.path.join(data, "chunks"))) >= 3, 30, "chunks flushed")
    label_cases(suite, srv, start, end, "after flush")
    field_cases(suite, srv, start, end, "after flush")
    srv.stop()


if __name__ == "__main__":
    H.main("detected", body)
