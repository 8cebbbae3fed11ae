"""
LogQL over the query API: /loki/api/v1/format_query answers Loki's
canonical text (and invalid-query errors as JSON); query_range runs log
queries with line-filter pipelines (|= != |~ !~ |> !>, or chains, ip())
over memory and flushed chunks, with every pipeline stage.

Runs on the main thread; starts noa-server on a free loopback port.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check, entry, Stream  # noqa: E402

LINES = [
    "GET /api/users 200 10.0.0.1",
    "GET /api/orders 500 error upstream 10.0.0.2",
    "POST /login 401 denied 192.168.1.7",
    "GET /healthz 200 10.0.0.1",
    "level=warn msg=\"slow request\" path=/api/orders",
]


def lines_of(srv, query, start, end):
    r = srv.get("/loki/api/v1/query_range", params={
        "query": query, "start": str(start), "end": str(end), "direction": "forward", "limit": "1000"})
    check(r.status == 200, "%s: status %d %s", query, r.status, H.short(r.body))
    # Entries of one pushed stream may come back in several result streams
    # (detected_level differs per line): order them by time again.
    got = [(int(v[0]), v[1]) for s in r.json()["data"]["result"] for v in s["values"]]
    return [line for _, line in sorted(got)]


FILTERS = [
    ('{app="web"} |= "GET"', [0, 1, 3]),
    ('{app="web"} != "GET"', [2, 4]),
    ('{app="web"} |= "GET" != "healthz"', [0, 1]),
    ('{app="web"} |~ "(500|401)"', [1, 2]),
    ('{app="web"} !~ "^GET"', [2, 4]),
    ('{app="web"} |= "login" or "healthz"', [2, 3]),
    ('{app="web"} |> "<_> /api/<_> <_>"', [0, 1]),
    ('{app="web"} !> "GET <_>"', [2, 4]),
    ('{app="web"} |= ip("10.0.0.0/24")', [0, 1, 3]),
    ('{app="web"} |~ "(?i)ERROR"', [1]),
]


JSONL = [
    '{"level":"info","status":200,"path":"/a","dur":"150ms"}',
    '{"level":"error","status":500,"path":"/b","dur":"2s"}',
    'level=warn status=404 path=/c',
]


def entries_of(srv, query, start, end, categorize=False):
    """[(ts, line, labels-or-categories)] ordered by time."""
    h = {"X-Loki-Response-Encoding-Flags": "categorize-labels"} if categorize else {}
    r = srv.get("/loki/api/v1/query_range", headers=h, params={
        "query": query, "start": str(start), "end": str(end), "direction": "forward", "limit": "1000"})
    check(r.status == 200, "%s: status %d %s", query, r.status, H.short(r.body))
    out = []
    for s in r.json()["data"]["result"]:
        for v in s["values"]:
            out.append((int(v[0]), v[1], v[2] if categorize else s["stream"], s["stream"]))
    return sorted(out)


def pipeline_cases(suite, srv, start, end):
    base = H.now_ns() - 90 * H.NS
    H.push_ok(srv, [Stream({"app": "api"}, [entry(base + i, ln) for i, ln in enumerate(JSONL)])])
    sel = '{app="api"}'

    with suite.case("json + numeric label filter"):
        got = entries_of(srv, sel + " | json | status >= 500", start, end)
        check([g[1] for g in got] == [JSONL[1]], "%r", got)
        lbl = got[0][2]
        check(lbl.get("path") == "/b" and lbl.get("status") == "500" and lbl.get("app") == "api",
              "labels %r", lbl)

    with suite.case("json + duration label filter"):
        got = entries_of(srv, sel + " | json | dur > 1s", start, end)
        check([g[1] for g in got] == [JSONL[1]], "%r", got)

    with suite.case("a json parse failure sets __error__ and can be filtered out"):
        got = entries_of(srv, sel + " | json", start, end)
        check(got[2][2].get("__error__") == "JSONParserErr", "%r", got[2][2])
        got = entries_of(srv, sel + ' | json | __error__=""', start, end)
        check([g[1] for g in got] == JSONL[:2], "%r", got)

    with suite.case("line_format rewrites the line from labels"):
        got = entries_of(srv, sel + ' | json | __error__="" | line_format "{{.path}} {{.status | ToUpper}}"',
                         start, end)
        check([g[1] for g in got] == ["/a 200", "/b 500"], "%r", got)

    with suite.case("logfmt + keep"):
        got = entries_of(srv, sel + " | logfmt | status=404 | keep path", start, end)
        check([(g[1], g[2]) for g in got] == [(JSONL[2], {"path": "/c"})], "%r", got)

    with suite.case("label_format renames, drop removes"):
        got = entries_of(srv, sel + ' | json | __error__="" | label_format p=path | drop status',
                         start, end)
        for g in got:
            check("p" in g[2] and "path" not in g[2] and "status" not in g[2], "%r", g[2])

    with suite.case("regexp and pattern extract named captures"):
        got = entries_of(srv, sel + ' | regexp `path=(?P<p>\\S+)` | p != ""', start, end)
        check([(g[1], g[2].get("p")) for g in got] == [(JSONL[2], "/c")], "%r", got)
        got = entries_of(srv, sel + ' | pattern "level=<lvl> status=<_> <_>" | lvl="warn"', start, end)
        check([g[1] for g in got] == [JSONL[2]], "%r", got)

    with suite.case("categorize-labels splits stream, structured metadata and parsed labels"):
        got = entries_of(srv, sel + " | json | status >= 500", start, end, categorize=True)
        check(len(got) == 1, "%r", got)
        _, _, cats, stream = got[0]
        check(stream == {"app": "api", "service_name": "api"}, "stream %r", stream)
        check(cats.get("structuredMetadata") == {"detected_level": "error"}, "%r", cats)
        check(cats.get("parsed", {}).get("status") == "500", "%r", cats)


def limit_cases(suite, srv, start, end):
    """Many entries per stream: the server trims each stream while reading and
    cuts the result early; the answer must still be the exact newest/oldest."""
    base = H.now_ns() - 100 * H.NS
    streams = []
    want = []
    for k in range(3):
        ents = [entry(base + i * 3 + k, "big %d-%05d%s" % (k, i, " hit" if i % 7 == 0 else ""))
                for i in range(4000)]
        streams.append(Stream({"app": "big", "part": str(k)}, ents))
        want += [(e[0], e[1]) for e in ents]
    H.push_ok(srv, streams, fmt="snappy")
    want.sort()
    for direction in ("forward", "backward"):
        for q, rows in (('{app="big"}', want), ('{app="big"} |= "hit"', [w for w in want if w[1].endswith("hit")])):
            with suite.case("limit 50 %s: %s" % (direction, q)):
                r = srv.get("/loki/api/v1/query_range", params={
                    "query": q, "start": str(start), "end": str(end), "direction": direction, "limit": "50"})
                check(r.status == 200, "status %d", r.status)
                got = sorted((int(v[0]), v[1]) for s in r.json()["data"]["result"] for v in s["values"])
                exp = rows[:50] if direction == "forward" else rows[-50:]
                check(got == exp, "got %r... expected %r...", got[:3], exp[:3])
    with suite.case("paging through every entry with limit 1000"):
        got = H.fetch_all(srv, '{app="big"}', start, end, page=1000)
        check(len(got) == len(want), "%d entries, expected %d", len(got), len(want))


def body(suite):
    tmp = H.make_tempdir("logql")
    data = os.path.join(tmp, "data")
    srv = H.Server("logql", H.make_config(data, H.free_port(), ingester=H.SMALL_CHUNKS), workdir=tmp)
    srv.start()
    base = H.now_ns() - 120 * H.NS
    start, end = base - H.NS, H.now_ns() + 60 * H.NS
    H.push_ok(srv, [Stream({"app": "web"}, [entry(base + i, ln) for i, ln in enumerate(LINES)])])

    with suite.case("format_query gives the canonical text"):
        r = srv.get("/loki/api/v1/format_query", params={"query": 'sum by(a)(rate({app="x"}|="b"[5m]))'})
        check(r.status == 200, "status %d", r.status)
        j = r.json()
        check(j["status"] == "success", "%r", j)
        check(j["data"] == 'sum by (a)(rate({app="x"} |= "b"[5m]))', "data %r", j["data"])

    with suite.case("format_query prettifies a long query (syntax.Prettify)"):
        q = ('sum by (namespace, cluster) (count_over_time({namespace="loki-prod", '
             'container="ingester"} |= "level=error" | logfmt [5m]))')
        r = srv.get("/loki/api/v1/format_query", params={"query": q})
        check(r.status == 200, "status %d", r.status)
        want = ('sum by (namespace, cluster)(\n'
                '  count_over_time({namespace="loki-prod", container="ingester"} '
                '|= "level=error" | logfmt[5m])\n'
                ')')
        check(r.json()["data"] == want, "data %r", r.json()["data"])

    with suite.case("format_query reports an invalid query as JSON"):
        r = srv.get("/loki/api/v1/format_query", params={"query": '{app='})
        check(r.status == 400, "status %d", r.status)
        j = r.json()
        check(j["status"] == "invalid-query", "%r", j)
        check(j["error"].startswith("parse error at line 1, col"), "%r", j["error"])

    for phase in ("in memory", "after flush"):
        if phase == "after flush":
            H.wait_for(lambda: H.files_under(os.path.join(data, "chunks")), 30, "chunk flushed")
        for q, want in FILTERS:
            with suite.case("%s: %s" % (phase, q)):
                got = lines_of(srv, q, start, end)
                check(got == [LINES[i] for i in want], "got %r", got)

    with suite.case("parse errors are 400 with Loki's prefix"):
        r = srv.get("/loki/api/v1/query_range", params={"query": '{app="web"} |= ', "start": str(start)})
        check(r.status == 400 and r.body.startswith(b"parse error at line 1"), "%d %r", r.status, r.body)

    pipeline_cases(suite, srv, start, end)
    limit_cases(suite, srv, start, end)

    with suite.case("index/stats counts streams, chunks, bytes and entries"):
        H.wait_for(lambda: H.files_under(os.path.join(data, "chunks")), 30, "chunks flushed")
        r = srv.get("/loki/api/v1/index/stats",
                    params={"query": '{app="big"} |= "x"', "start": str(start), "end": str(end)})
        check(r.status == 200, "status %d %s", r.status, H.short(r.body))
        j = r.json()
        check(sorted(j) == ["bytes", "chunks", "entries", "streams"], "%r", j)
        check(j["streams"] == 3 and j["entries"] == 12000 and j["bytes"] > 12000 * 10, "%r", j)

    with suite.case("a metric query over the same lines answers a matrix (values: test_metric.py)"):
        r = srv.get("/loki/api/v1/query_range",
                    params={"query": 'sum(count_over_time({app="web"}[10m]))', "start": str(start),
                            "end": str(end), "step": "60"})
        check(r.status == 200, "%d %r", r.status, H.short(r.body))
        data = r.json()["data"]
        check(data["resultType"] == "matrix" and len(data["result"]) == 1, "%r", H.short(r.body))
        check(max(float(v[1]) for v in data["result"][0]["values"]) == len(LINES), "%r",
              data["result"][0]["values"])
    srv.stop()


if __name__ == "__main__":
    H.main("logql", body)
