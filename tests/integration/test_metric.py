"""
LogQL metric queries over Loki's HTTP API: query_range (matrix) and query
(vector) answered by the metric engine over flushed chunks and the
ingester's memory at once, with exact values computed here from the pushed
entries: count_over_time, rate, bytes_over_time, sum by, Grafana's log
volume query, topk, unwrap, a binary operator, instant queries, the series
limit (max_query_series) and tenant isolation (and `a|b` with
__tenant_id__).

The data is laid out so the stream reader's merge is exercised: part of
each stream is flushed (POST /flush), more is pushed afterwards into
memory in two interleaved requests (overlapping sealed blocks: the block
size is 512 bytes), some flushed entries are pushed again (the same entry
in a chunk and in memory) and one request is pushed twice. Every entry
must be counted exactly once.

Runs on the main thread; starts noa-server on free loopback ports.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import Stream, check, entry  # noqa: E402

NS = H.NS
INGESTER = {
    "chunk_idle_period": "1h",   # nothing is flushed but by POST /flush
    "max_chunk_age": "2h",
    "chunk_target_size": 1048576,
    "chunk_block_size": 512,     # several sealed blocks per stream
    "flush_check_period": "200ms",
}
T1 = "t1"
T2 = "t2"


class Model:
    """The distinct entries of each stream, as the server must see them."""

    def __init__(self):
        self.streams = {}  # frozenset(labels) -> {(ts, line)}

    def add(self, labels, entries):
        s = self.streams.setdefault(frozenset(labels.items()), set())
        for ts, line in entries:
            s.add((ts, line))

    def select(self, **match):
        return [(dict(k), v) for k, v in self.streams.items()
                if all(dict(k).get(n) == val for n, val in match.items())]


def grid(start, end, step):
    t, out = start, []
    while t <= end:
        out.append(t)
        t += step
    return out


def window(entries, t, rng):
    """Loki's window (t - range, t]."""
    return [e for e in entries if t - rng < e[0] <= t]


def expect_matrix(times, fn):
    """{t: value} for the steps where fn gives a value (None: no point)."""
    out = {}
    for t in times:
        v = fn(t)
        if v is not None:
            out[t] = v
    return out


def query_range(srv, q, start, end, step, tenant=T1, status=200):
    r = srv.get("/loki/api/v1/query_range", headers={"X-Scope-OrgID": tenant}, params={
        "query": q, "start": str(start), "end": str(end), "step": "%gs" % (step / NS)})
    check(r.status == status, "%s: status %d %s", q, r.status, H.short(r.body))
    return r


def instant(srv, q, t, tenant=T1):
    r = srv.get("/loki/api/v1/query", headers={"X-Scope-OrgID": tenant},
                params={"query": q, "time": str(t)})
    check(r.status == 200, "%s: status %d %s", q, r.status, H.short(r.body))
    d = r.json()["data"]
    check(d["resultType"] == "vector", "%s: result type %r", q, d["resultType"])
    return d["result"]


def matrix(r):
    d = r.json()["data"]
    check(d["resultType"] == "matrix", "result type %r", d["resultType"])
    return d["result"]


def points(series):
    """{t_ns: float} of one matrix series."""
    return {int(round(float(t) * 1000)) * 1_000_000: float(v) for t, v in series["values"]}


def close(a, b):
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def check_points(what, got, want):
    check(sorted(got) == sorted(want), "%s: steps %s, want %s", what,
          [(t - BASE[0]) / NS for t in sorted(got)], [(t - BASE[0]) / NS for t in sorted(want)])
    for t in want:
        check(close(got[t], want[t]), "%s at %+gs: %r, want %r", what, (t - BASE[0]) / NS, got[t], want[t])


def find(result, **labels):
    hits = [s for s in result if all(s["metric"].get(k) == v for k, v in labels.items())]
    check(len(hits) == 1, "%d series with %r in %r", len(hits), labels, [s["metric"] for s in result])
    return hits[0]


BASE = [0]  # T0, for messages


def line(kind, i, pad=60):
    s = "%s request id=%d " % (kind, i)
    return s + "x" * (pad - len(s))


def load(srv, data):
    """Pushes the corpus (flushing the first part); returns the model and T0."""
    t0 = ((H.now_ns() // NS - 1800) // 60) * 60 * NS
    BASE[0] = t0
    m = Model()
    info = {"app": "x", "level": "info"}
    err = {"app": "x", "level": "error"}
    lat = {"app": "y"}
    ms = 1_000_000
    # Phase 1, flushed to chunks.
    a1 = [(t0 + i * 10 * NS + ms, line("info", i)) for i in range(18)]
    b1 = [(t0 + 5 * NS + i * 20 * NS, line("error", i, 40)) for i in range(9)]
    c1 = [(t0 + i * 15 * NS, "dur=%g path=/%s" % (i * 0.5, "ab"[i % 2])) for i in range(12)]
    # Many entries at one instant: 40 flushed, then those again and 30 more.
    same = {"app": "z"}
    z1 = [(t0 + 30 * NS, "same instant %d" % i) for i in range(40)]
    z2 = [(t0 + 30 * NS, "same instant %d" % i) for i in range(70)]
    H.push_ok(srv, [Stream(same, [entry(ts, ln) for ts, ln in z1])], tenant=T1)
    m.add(same, z2)
    for tenant in (T1, T2):
        H.push_ok(srv, [Stream(info, [entry(ts, ln) for ts, ln in a1]),
                        Stream(err, [entry(ts, ln) for ts, ln in b1]),
                        Stream(lat, [entry(ts, ln) for ts, ln in c1])], tenant=tenant)
    m.add(info, a1)
    m.add(err, b1)
    m.add(lat, c1)
    srv.request("POST", "/flush")
    chunks = os.path.join(data, "chunks")
    H.wait_for(lambda: len(H.files_under(chunks)) >= 7, 30, "7 chunks flushed")
    H.push_ok(srv, [Stream(same, [entry(ts, ln) for ts, ln in reversed(z2)])], tenant=T1)
    # Phase 2, in memory: two interleaved requests (overlapping blocks), the
    # first pushed twice, and flushed entries pushed again.
    a2 = [(t0 + 180 * NS + i * 10 * NS + ms, line("info", 100 + i)) for i in range(12)]
    odd = [e for k, e in enumerate(a2) if k % 2]
    even = [e for k, e in enumerate(a2) if not k % 2]
    b2 = [(t0 + 185 * NS + i * 20 * NS, line("error", 100 + i, 40)) for i in range(4)]
    for part in (odd, odd, even):
        H.push_ok(srv, [Stream(info, [entry(ts, ln) for ts, ln in part])], tenant=T1)
    H.push_ok(srv, [Stream(info, [entry(ts, ln) for ts, ln in a1[3:8]]),
                    Stream(err, [entry(ts, ln) for ts, ln in b2 + b1[:2]])], tenant=T1)
    m.add(info, a2)
    m.add(err, b2)
    return m, t0


def body(suite):
    tmp = H.make_tempdir("metric")
    data = os.path.join(tmp, "data")
    srv = H.Server("metric", H.make_config(data, H.free_port(), auth=True, ingester=INGESTER),
                   workdir=tmp)
    with suite.case("start and load (flushed + memory, overlaps, duplicates)"):
        srv.start()
        m, t0 = load(srv, data)
    start, end, step = t0 - 60 * NS, t0 + 6 * 60 * NS, 60 * NS
    times = grid(start, end, step)
    M = 60 * NS
    info = m.select(app="x", level="info")[0][1]
    err = m.select(app="x", level="error")[0][1]
    both = info | err

    with suite.case("count_over_time per stream, every entry once"):
        r = query_range(srv, 'count_over_time({app="x"}[1m])', start, end, step)
        res = matrix(r)
        check(len(res) == 2, "%d series", len(res))
        # Both sources were read and the repeated entries were seen (and dropped).
        st = r.json()["data"]["stats"]
        check(st["querier"]["store"]["totalChunksDownloaded"] >= 2, "chunks %r", st["querier"]["store"])
        check(st["querier"]["store"]["chunk"]["totalDuplicates"] >= 5 + 2 + 6, "dups %r", st["querier"]["store"])
        for lvl, ents in (("info", info), ("error", err)):
            s = find(res, level=lvl)
            check(s["metric"].get("app") == "x", "labels %r", s["metric"])
            check_points("count %s" % lvl, points(s),
                         expect_matrix(times, lambda t: len(window(ents, t, M)) or None))

    with suite.case("70 distinct entries at one instant, each once"):
        res = instant(srv, 'count_over_time({app="z"}[1m])', t0 + 60 * NS)
        check(len(res) == 1 and res[0]["value"][1] == "70", "%r", res)

    with suite.case("rate = count / range seconds"):
        res = matrix(query_range(srv, 'rate({app="x", level="info"}[2m])', start, end, step))
        check(len(res) == 1, "%d series", len(res))
        check_points("rate", points(res[0]),
                     expect_matrix(times, lambda t: (len(window(info, t, 2 * M)) / 120.0) or None))

    with suite.case("bytes_over_time sums line bytes"):
        res = matrix(query_range(srv, 'bytes_over_time({app="x", level="error"}[2m])', start, end, step))
        check_points("bytes", points(res[0]), expect_matrix(
            times, lambda t: sum(len(ln.encode()) for _, ln in window(err, t, 2 * M)) or None))

    with suite.case("sum by (level) (count_over_time(...))"):
        res = matrix(query_range(srv, 'sum by (level) (count_over_time({app="x"}[1m]))', start, end, step))
        check(sorted(s["metric"]["level"] for s in res) == ["error", "info"] and
              all(len(s["metric"]) == 1 for s in res), "%r", [s["metric"] for s in res])
        for lvl, ents in (("info", info), ("error", err)):
            check_points("sum %s" % lvl, points(find(res, level=lvl)),
                         expect_matrix(times, lambda t: len(window(ents, t, M)) or None))

    with suite.case("line filter inside the range aggregation"):
        res = matrix(query_range(srv, 'sum(count_over_time({app="x"} |= "id=10" [1m]))', start, end, step))
        hits = {e for e in both if "id=10" in e[1]}
        check_points("filtered", points(res[0]) if res else {},
                     expect_matrix(times, lambda t: len(window(hits, t, M)) or None))

    with suite.case("literal filters skip blocks and lines, never change the answer"):
        for q, keep in (('|= "id=104 "', lambda ln: "id=104 " in ln),
                        ('|~ "(?i)ID=10[56] "', lambda ln: "id=105 " in ln or "id=106 " in ln),
                        ('|= "info" |= "id=1"', lambda ln: "info" in ln and "id=1" in ln),
                        ('|= "error" or "id=3 "', lambda ln: "error" in ln or "id=3 " in ln),
                        ('!= "info"', lambda ln: "info" not in ln),
                        ('|= "no-such-token"', lambda ln: False)):
            res = matrix(query_range(srv, 'sum(count_over_time({app="x"} %s [1m]))' % q, start, end, step))
            hits = {e for e in both if keep(e[1])}
            check_points(q, points(res[0]) if res else {},
                         expect_matrix(times, lambda t: len(window(hits, t, M)) or None))

    with suite.case("Grafana's log volume query at Grafana's step"):
        q = 'sum by (level, detected_level) (count_over_time({app="x"} | drop __error__ [1m]))'
        r = srv.get("/loki/api/v1/query_range", headers={"X-Scope-OrgID": T1, "X-Query-Tags": "Source=logvolhist"},
                    params={"query": q, "start": str(start), "end": str(end), "step": "60000ms",
                            "direction": "backward"})
        check(r.status == 200, "status %d %s", r.status, H.short(r.body))
        res = matrix(r)
        check(sorted((s["metric"]["level"], s["metric"]["detected_level"]) for s in res) ==
              [("error", "error"), ("info", "info")], "%r", [s["metric"] for s in res])
        for lvl, ents in (("info", info), ("error", err)):
            check_points("volume %s" % lvl, points(find(res, level=lvl)),
                         expect_matrix(times, lambda t: len(window(ents, t, M)) or None))

    with suite.case("topk(1, ...) keeps the larger series per step"):
        res = matrix(query_range(srv, 'topk(1, sum by (level) (count_over_time({app="x"}[1m])))',
                                 start, end, step))
        for t in times:
            ci, ce = len(window(info, t, M)), len(window(err, t, M))
            pts = {lvl: points(find(res, level=lvl)).get(t) for lvl in ("info", "error")
                   if [s for s in res if s["metric"]["level"] == lvl]}
            present = {k: v for k, v in pts.items() if v is not None}
            if ci == 0 and ce == 0:
                check(not present, "at %+gs: %r", (t - t0) / NS, present)
                continue
            check(len(present) == 1 and list(present.values())[0] == max(ci, ce),
                  "at %+gs: %r (info %d, error %d)", (t - t0) / NS, present, ci, ce)

    with suite.case("unwrap: sum by (path) (sum_over_time(... | logfmt | unwrap dur))"):
        lat = m.select(app="y")[0][1]
        res = matrix(query_range(srv, 'sum by (path) (sum_over_time({app="y"} | logfmt | unwrap dur [1m]))',
                                 start, end, step))
        for p in ("/a", "/b"):
            ents = {e for e in lat if e[1].endswith("path=" + p)}
            check_points("unwrap %s" % p, points(find(res, path=p)), expect_matrix(
                times, lambda t: sum(float(ln.split()[0][4:]) for _, ln in window(ents, t, M))
                if window(ents, t, M) else None))

    with suite.case("binary op between two aggregations"):
        q = ('sum(count_over_time({app="x", level="info"}[1m])) - '
             'sum(count_over_time({app="x", level="error"}[1m]))')
        res = matrix(query_range(srv, q, start, end, step))

        def diff(t):
            a, b = window(info, t, M), window(err, t, M)
            return len(a) - len(b) if a and b else None
        check_points("a - b", points(res[0]) if res else {}, expect_matrix(times, diff))

    with suite.case("scalar arithmetic on a vector"):
        res = matrix(query_range(srv, 'count_over_time({app="x", level="error"}[1m]) * 2', start, end, step))
        check_points("x2", points(res[0]), expect_matrix(times, lambda t: 2 * len(window(err, t, M)) or None))

    with suite.case("instant queries"):
        t = t0 + 5 * M + 30 * NS
        res = instant(srv, 'count_over_time({app="x"}[10m])', t)
        got = {s["metric"]["level"]: float(s["value"][1]) for s in res}
        check(got == {"info": len(window(info, t, 10 * M)), "error": len(window(err, t, 10 * M))},
              "%r", got)
        check(all(float(s["value"][0]) == t / NS for s in res), "%r", res)
        res = instant(srv, 'sum(rate({app="x"}[5m]))', t)
        check(len(res) == 1 and close(float(res[0]["value"][1]), len(window(both, t, 5 * M)) / 300.0),
              "%r", res)
        res = instant(srv, 'count_over_time({app="nope"}[5m])', t)
        check(res == [], "%r", res)

    with suite.case("constant queries still answer (vector(1)+vector(1), 1+1)"):
        r = srv.get("/loki/api/v1/query", headers={"X-Scope-OrgID": T1},
                    params={"query": "vector(1)+vector(1)", "time": "4"})
        check(r.status == 200 and r.json()["data"]["result"][0]["value"] == [4, "2"], "%r", r.body[:300])
        r = srv.get("/loki/api/v1/query", headers={"X-Scope-OrgID": T1}, params={"query": "1+1", "time": "4"})
        check(r.status == 200 and r.json()["data"] ["result"] == [4, "2"], "%r", r.body[:300])

    with suite.case("parse and engine errors are 400s"):
        r = query_range(srv, 'sum_over_time({app="y"} | logfmt | unwrap path [1m])', start, end, step,
                        status=400)
        check(b"pipeline error: 'SampleExtractionErr'" in r.body, "%r", r.body)
        r = query_range(srv, 'count_over_time({app="x"}[1m]', start, end, step, status=400)
        check(b"parse error" in r.body, "%r", r.body)

    with suite.case("tenant isolation"):
        # t2 has only phase 1: no memory entries, no duplicates.
        info1 = {e for e in info if e[0] < t0 + 180 * NS}
        res = matrix(query_range(srv, 'count_over_time({app="x", level="info"}[1m])', start, end, step,
                                 tenant=T2))
        check_points("t2", points(res[0]), expect_matrix(times, lambda t: len(window(info1, t, M)) or None))
        res = matrix(query_range(srv, 'count_over_time({app="x"}[1m])', start, end, step, tenant="t3"))
        check(res == [], "%r", res)

    with suite.case("two tenants: one evaluation, __tenant_id__ on every stream"):
        info1 = {e for e in info if e[0] < t0 + 180 * NS}
        res = matrix(query_range(srv, 'sum by (__tenant_id__) (count_over_time({app="x", level="info"}[1m]))',
                                 start, end, step, tenant="t1|t2"))
        check(sorted(s["metric"].get("__tenant_id__") for s in res) == [T1, T2], "%r", [s["metric"] for s in res])
        check_points("t1", points(find(res, __tenant_id__=T1)),
                     expect_matrix(times, lambda t: len(window(info, t, M)) or None))
        check_points("t2", points(find(res, __tenant_id__=T2)),
                     expect_matrix(times, lambda t: len(window(info1, t, M)) or None))
        res = matrix(query_range(srv, 'sum(count_over_time({app="x", level="info", __tenant_id__="t2"}[1m]))',
                                 start, end, step, tenant="t1|t2"))
        check_points("t2 only", points(res[0]), expect_matrix(times, lambda t: len(window(info1, t, M)) or None))

    with suite.case("the same answers after a restart (WAL replay into memory)"):
        before = query_range(srv, 'sum by (level) (count_over_time({app="x"}[1m]))', start, end, step).json()
        srv.restart()
        after = query_range(srv, 'sum by (level) (count_over_time({app="x"}[1m]))', start, end, step).json()
        check(before["data"]["result"] == after["data"]["result"], "%r\n%r", before["data"]["result"],
              after["data"]["result"])
    srv.stop()

    lim = H.Server("metric-limit", H.make_config(os.path.join(tmp, "data-l"), H.free_port(), auth=True,
                                                 limits={"max_query_series": 1}),
                   workdir=os.path.join(tmp))
    with suite.case("max_query_series: Loki's 400"):
        lim.start()
        now = H.now_ns()
        H.push_ok(lim, [Stream({"app": "x", "n": str(i)}, [entry(now - 30 * NS, "l")]) for i in range(3)],
                  tenant=T1)
        r = query_range(lim, 'count_over_time({app="x"}[1m])', now - 120 * NS, now, 60 * NS, status=400)
        check(b"maximum number of series (1) reached for a single query" in r.body, "%r", r.body)
        r = query_range(lim, 'sum(count_over_time({app="x"}[1m]))', now - 120 * NS, now, 60 * NS)
        res = matrix(r)
        check(len(res) == 1 and float(res[0]["values"][-1][1]) == 3, "%r", res)
    lim.stop()


if __name__ == "__main__":
    H.main("metric", body)
