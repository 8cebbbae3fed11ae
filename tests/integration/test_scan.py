"""
How queries scan stored lines, checked from outside:

- Block skipping: every sealed block (in memory and in flushed chunks)
  carries a summary of its text, and a query skips blocks whose summary
  proves a required literal absent. Skipping must never change an answer:
  the same queries are answered with skipping on, with it off
  (NOA_LOGSEL_NO_SKIP=2, every line through the pipeline), and on again
  after a restart (blocks rebuilt from the WAL), and every answer must
  equal what the pushed lines say; with skipping on, a rare-token query
  must also decompress far less.
- Regex limits: a pathological pattern answers (no stall), counts its
  abandoned matches on /metrics, and Perl-only syntax is refused as Go
  refuses it.

Runs on the main thread; starts noa-server on a free loopback port.
"""

import os
import random
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check, entry, Stream  # noqa: E402

SCAN_CHUNKS = {
    "chunk_idle_period": "1h",
    "max_chunk_age": "2h",
    "chunk_target_size": 65536,
    "chunk_block_size": 8192,
    "flush_check_period": "200ms",
}

# Rare tokens and where they go (line index within a stream's lines).
TOKENS = {
    100: "needle-alpha",
    2900: "needle-alpha",
    5100: "needle-alpha",
    700: "Needle-Beta",
    4400: "Needle-Beta",
    3500: "multi\nline needle-gamma",
    1500: "\u00fcn\u00efcode-t\u00f6k",
    4800: "q#",
}
N_LINES = 6000
STREAMS = 3


def make_lines(k):
    rnd = random.Random(1000 + k)
    out = []
    for i in range(N_LINES):
        method = rnd.choice(["GET", "GET", "GET", "POST", "PUT"])
        status = rnd.choice([200, 200, 200, 201, 404, 500])
        line = "%s /api/item/%d %d %dms user=u%d trace=%016x" % (
            method, rnd.randrange(100000), status, rnd.randrange(900), rnd.randrange(50),
            rnd.getrandbits(64))
        if k == 1 and i in TOKENS:
            line += " " + TOKENS[i]
        out.append(line)
    return out


# (query, predicate on the line) over {app="scan"}.
QUERIES = [
    ('|= "needle-alpha"', lambda ln: "needle-alpha" in ln),
    ('|= "NEEDLE-ALPHA"', lambda ln: "NEEDLE-ALPHA" in ln),
    ('|~ "(?i)needle-alpha"', lambda ln: "needle-alpha" in ln.lower()),
    ('|= "needle-alpha" or "Needle-Beta"', lambda ln: "needle-alpha" in ln or "Needle-Beta" in ln),
    ('|= "Needle" |= "Beta"', lambda ln: "Needle" in ln and "Beta" in ln),
    ('|~ "needle-(alpha|gamma)"', lambda ln: re.search("needle-(alpha|gamma)", ln) is not None),
    ('|= "\u00fcn\u00efcode-t\u00f6k"', lambda ln: "\u00fcn\u00efcode-t\u00f6k" in ln),
    ('|= "q#"', lambda ln: "q#" in ln),
    ('|= "needle-alpha" | json', lambda ln: "needle-alpha" in ln),
    ('|= "POST" |= "500" != "u1"', lambda ln: "POST" in ln and "500" in ln and "u1" not in ln),
    ('|~ "(?i)zzz-absent"', lambda ln: False),
]


def query(srv, q, start, end):
    r = srv.get("/loki/api/v1/query_range", params={
        "query": '{app="scan"} ' + q, "start": str(start), "end": str(end),
        "direction": "forward", "limit": "5000"})
    check(r.status == 200, "%s: status %d %s", q, r.status, H.short(r.body))
    j = r.json()
    got = sorted((int(v[0]), v[1]) for s in j["data"]["result"] for v in s["values"])
    return got, j["data"]["stats"]


def decompressed(stats):
    return stats["querier"]["store"]["chunk"]["decompressedBytes"]


def check_all(suite, srv, phase, want, start, end):
    sizes = {}
    for q, _ in QUERIES:
        with suite.case("%s: %s" % (phase, q)):
            got, stats = query(srv, q, start, end)
            check(got == want[q], "%d lines, want %d; first diff %r", len(got), len(want[q]),
                  next((g for g in got if g not in want[q]), None))
            sizes[q] = decompressed(stats)
    return sizes


def scan_cases(suite, srv, start, end):
    base = H.now_ns() - 600 * H.NS
    lines = [make_lines(k) for k in range(STREAMS)]
    pushed = []  # (ts, line) of every entry
    half = N_LINES // 2

    def push_range(lo, hi):
        streams = []
        for k in range(STREAMS):
            ents = [entry(base + i * 1000 + k, lines[k][i]) for i in range(lo, hi)]
            streams.append(Stream({"app": "scan", "part": str(k)}, ents))
            pushed.extend((e[0], e[1]) for e in ents)
        for i in range(0, len(streams[0].entries), 1000):
            H.push_ok(srv, [Stream(s.labels, s.entries[i:i + 1000]) for s in streams], fmt="snappy")

    data = srv.data_dir
    with suite.case("first half flushed to chunks, second half in memory"):
        push_range(0, half)
        r = srv.request("POST", "/flush")
        check(r.status in (200, 204), "flush: %d", r.status)
        H.wait_for(lambda: len(H.files_under(os.path.join(data, "chunks"))) >= STREAMS, 30,
                   "chunks flushed")
        push_range(half, N_LINES)

    want = {q: sorted(p for p in pushed if pred(p[1])) for q, pred in QUERIES}
    with suite.case("the test's own expectations are not empty where they should not be"):
        check(len(want['|= "needle-alpha"']) == 3 and len(want['|= "Needle" |= "Beta"']) == 2,
              "%r", {q: len(v) for q, v in want.items()})

    on = check_all(suite, srv, "skipping on", want, start, end)

    os.environ["NOA_LOGSEL_NO_SKIP"] = "2"
    try:
        srv.restart()
        off = check_all(suite, srv, "skipping off, after restart", want, start, end)
    finally:
        del os.environ["NOA_LOGSEL_NO_SKIP"]
    srv.restart()
    again = check_all(suite, srv, "skipping on, after restart", want, start, end)

    with suite.case("a rare token decompresses far less with skipping"):
        q = '|= "needle-alpha"'
        for name, sizes in (("before restart", on), ("after restart", again)):
            check(sizes.get(q) is not None and off.get(q), "missing figures %r %r", sizes, off)
            check(sizes[q] * 4 < off[q], "%s: %d bytes decompressed, %d without skipping",
                  name, sizes[q], off[q])


def regex_cases(suite, srv, start, end):
    base = H.now_ns() - 300 * H.NS
    n = 40
    line = "a" * 3000 + "!x"
    H.push_ok(srv, [Stream({"app": "patho"}, [entry(base + i, line) for i in range(n)])])

    def metric_hits():
        r = srv.get("/metrics")
        m = re.search(rb"^noa_regex_match_limit_hits_total (\S+)$", r.body, re.M)
        check(m is not None, "no noa_regex_match_limit_hits_total on /metrics")
        return float(m.group(1))

    with suite.case("a pathological regex answers, and its abandoned matches are counted"):
        before = metric_hits()
        r = srv.get("/loki/api/v1/query_range", params={
            "query": '{app="patho"} |~ "(a+)+$"', "start": str(start), "end": str(end)}, timeout=60)
        check(r.status == 200, "status %d %s", r.status, H.short(r.body))
        check(r.json()["data"]["result"] == [], "%s", H.short(r.body))
        check(metric_hits() >= before + n, "limit hits %r -> %r", before, metric_hits())

    with suite.case("a regex that matches early still matches on the same lines"):
        r = srv.get("/loki/api/v1/query_range", params={
            "query": '{app="patho"} |~ "a+!x$"', "start": str(start), "end": str(end)})
        check(r.status == 200, "status %d", r.status)
        got = [v for s in r.json()["data"]["result"] for v in s["values"]]
        check(len(got) == n, "%d lines", len(got))

    for pattern, why in (("(?=a)", "invalid or unsupported Perl syntax"),
                         ("(a)\\\\1", "invalid escape sequence"),
                         ("a++", "invalid nested repetition operator")):
        with suite.case("Perl-only regex syntax is refused as Go refuses it: %s" % pattern):
            r = srv.get("/loki/api/v1/query_range", params={
                "query": '{app="patho"} |~ "%s"' % pattern, "start": str(start), "end": str(end)})
            check(r.status == 400 and why.encode() in r.body, "%d %r", r.status, r.body)


def body(suite):
    tmp = H.make_tempdir("scan")
    data = os.path.join(tmp, "data")
    srv = H.Server("scan", H.make_config(data, H.free_port(), ingester=SCAN_CHUNKS), workdir=tmp)
    srv.start()
    start, end = H.now_ns() - 3600 * H.NS, H.now_ns() + 60 * H.NS
    scan_cases(suite, srv, start, end)
    regex_cases(suite, srv, start, end)
    srv.stop()


if __name__ == "__main__":
    H.main("scan", body)
