"""
Push round trip: what goes in through POST /loki/api/v1/push comes back
byte-exact through query_range, labels, label values and series.

Pushes the same awkward lines (unicode, empty, 256 B, 100 KiB, quotes,
backslashes, newlines, control characters, structured metadata, escaped
label values) in every wire format (JSON, JSON+gzip, JSON+deflate,
snappy protobuf, zstd protobuf), then checks both directions, limits,
start-inclusive/end-exclusive bounds, out-of-order acceptance, duplicate
handling and the metadata endpoints; again after a graceful restart; then,
on a second server with small chunk settings, after chunks were flushed,
after a graceful restart and after a SIGKILL.

Runs on the main thread; starts two noa-servers on free loopback ports.
"""

import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check, entry, Stream  # noqa: E402

MIN = 60 * H.NS


def special_lines(tag):
    rnd = random.Random(1234)
    big = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:-_=+/")
                  for _ in range(100 * 1024))
    return [
        "plain ascii line %s" % tag,
        "unicode %s: héllo wörld — 日本語 — emoji 🚀🔥 — ÅΩ — \u00a0nbsp" % tag,
        "",
        ("%s-0123456789abcdef" % tag + "0123456789abcdef" * 16)[:256],
        big[:-len(tag)] + tag,
        'quotes %s "double" \'single\' backslash \\ and a literal \\n and \\"' % tag,
        "embedded %s\nnewline\r\nand\ttab\n" % tag,
        '{"level":"info","msg":"json %s \\"quoted\\"","n":1}' % tag,
        "html %s <b>bold</b> & ampersand &amp; <script>" % tag,
        "control %s \x01\x02\x1b[31m\x7f chars" % tag,
        "trailing spaces %s   " % tag,
        "   leading spaces %s" % tag,
    ]


class Clock:
    """Hands out unique, increasing timestamps with odd nanosecond parts."""

    def __init__(self, start):
        self.t = start

    def next(self):
        self.t += 1_000_003
        return self.t


def build_dataset(clock, run):
    """{fmt: [Stream]} — two streams per format, one with awkward label
    values; metadata on some entries."""
    out = {}
    for fmt in H.PUSH_FORMATS:
        lines = special_lines("%s-%s" % (run, fmt))
        plain = Stream({"job": "rt", "fmt": fmt})
        for i, ln in enumerate(lines):
            meta = None
            if i in (1, 5):
                meta = {"trace_id": "tr-%s-%d" % (fmt, i), "user": 'ünï "q" \\ x'}
            plain.entries.append(entry(clock.next(), ln, meta))
        odd = Stream({"job": "rt", "fmt": fmt, "path": 'C:\\dir\\"quoted" ü',
                      "zz_extra": "a b=c,d{e}"})
        for i in range(3):
            odd.entries.append(entry(clock.next(), "odd-labels %s %s %d" % (run, fmt, i)))
        out[fmt] = [plain, odd]
    return out


def all_streams(model):
    return [s for streams in model["data"].values() for s in streams] + model["extra"]


def expected_series(model):
    seen = {}
    for s in all_streams(model):
        full = H.with_service_name(s.labels)
        seen[tuple(sorted(full.items()))] = full
    return seen


def push_dataset(srv, model):
    for fmt, streams in model["data"].items():
        r = H.push(srv, streams, fmt)
        check(r.status == 204, "push %s answered %d, want 204: %s", fmt, r.status, H.short(r.body))
        check(r.body == b"", "204 with a body: %r", r.body[:100])


def case_query_both_directions(srv, model):
    lo, hi = model["range"]
    streams = [s for s in all_streams(model) if s.labels.get("job") == "rt"]
    total = sum(len(s.entries) for s in streams)
    for direction in ("forward", "backward"):
        r = srv.get("/loki/api/v1/query_range", params={
            "query": '{job="rt"}', "start": str(lo), "end": str(hi), "limit": "1000", "direction": direction})
        check(r.status == 200, "query_range %s: %d %s", direction, r.status, H.short(r.body))
        check(r.headers.get("content-type", "").startswith("application/json"),
              "query_range Content-Type %r", r.headers.get("content-type"))
        j = r.json()
        check(j["status"] == "success" and j["data"]["resultType"] == "streams", "bad result shape: %s", H.short(r.body))
        H.check_stream_order(j, direction)
        got = H.result_entries(j)
        check(len(got) == total, "%s: got %d entries, pushed %d", direction, len(got), total)
        H.check_entries(streams, got, "query_range %s" % direction)
    # the same through small pages (exercises paging with many page edges)
    got = H.fetch_all(srv, '{job="rt"}', lo, hi, page=7)
    H.check_entries(streams, got, "paged fetch")


def case_per_format_selector(srv, model):
    lo, hi = model["range"]
    for fmt, streams in model["data"].items():
        got = H.fetch_all(srv, '{job="rt", fmt="%s"}' % fmt, lo, hi)
        H.check_entries(streams, got, "selector fmt=%s" % fmt)
        # a regex matcher and a negative matcher select the same
        got2 = H.fetch_all(srv, '{fmt=~"%s", job!="nope"}' % fmt, lo, hi)
        H.check_entries(streams, got2, "regex selector fmt=~%s" % fmt)


def case_limit(srv, model):
    lo, hi = model["range"]
    streams = [s for s in all_streams(model) if s.labels.get("job") == "rt"]
    ts_all = sorted(e.ts for s in streams for e in s.entries)
    for direction, want in (("forward", ts_all[:5]), ("backward", ts_all[-5:])):
        j = H.query_range(srv, '{job="rt"}', lo, hi, limit=5, direction=direction)
        got = H.result_entries(j)
        check(len(got) == 5, "limit=5 %s returned %d entries", direction, len(got))
        check(sorted(g.ts for g in got) == sorted(want), "limit=5 %s returned %s, want %s",
              direction, sorted(g.ts for g in got), sorted(want))
        H.check_stream_order(j, direction)
    # limit=1
    j = H.query_range(srv, '{job="rt"}', lo, hi, limit=1, direction="backward")
    got = H.result_entries(j)
    check(len(got) == 1 and got[0].ts == ts_all[-1], "limit=1 backward returned %s", got)


def case_bounds(srv, model):
    lo, hi = model["range"]
    s = model["data"]["snappy"][0]
    e = s.entries[4]
    got = H.result_entries(H.query_range(srv, '{job="rt"}', e.ts, e.ts + 1, limit=100))
    check([(g.ts, g.line) for g in got] == [(e.ts, e.line)], "[ts, ts+1) returned %s", [(g.ts, H.short(g.line, 40)) for g in got])
    got = H.result_entries(H.query_range(srv, '{job="rt", fmt="snappy"}', lo, e.ts, limit=1000))
    check(e.ts not in [g.ts for g in got], "end is exclusive, but the entry at end came back")
    check(len(got) == len([x for st in model["data"]["snappy"] for x in st.entries if x.ts < e.ts]),
          "[lo, ts) returned %d entries", len(got))
    got = H.result_entries(H.query_range(srv, '{job="rt"}', e.ts + 1, e.ts + 2, limit=100))
    check(got == [], "[ts+1, ts+2) returned %s", got)


def case_ooo_and_dups(srv, model, clock):
    """Out-of-order within the window, identical duplicates, same-ts
    different lines. Adds what must be stored to model['extra']."""
    t = clock.next() + 60 * H.NS
    clock.t = t + 60 * H.NS
    ooo = Stream({"job": "rt-ooo"})
    for ts, fmt in ((t, "json"), (t - 5 * H.NS, "snappy"), (t - 1 * H.NS, "zstd"), (t - 3 * H.NS, "json-gzip")):
        e = entry(ts, "ooo at %d" % ts)
        H.push_ok(srv, [Stream(ooo.labels, [e])], fmt)
        ooo.entries.append(e)
    # inside one request too
    es = [entry(t - 4 * H.NS, "ooo in-request a"), entry(t - 2 * H.NS, "ooo in-request b"),
          entry(t - 4 * H.NS + 1, "ooo in-request c")]
    H.push_ok(srv, [Stream(ooo.labels, es)], "snappy")
    ooo.entries.extend(es)
    model["extra"].append(ooo)

    d = t + 7 * H.NS
    dup = Stream({"job": "rt-dup"})
    e1 = entry(d, "dup line", {"k": "v"})
    H.push_ok(srv, [Stream(dup.labels, [e1])], "json")
    H.push_ok(srv, [Stream(dup.labels, [e1])], "snappy")            # identical: stored once
    H.push_ok(srv, [Stream(dup.labels, [e1, e1])], "zstd")          # twice in one request: still once
    e2 = entry(d, "dup line but different", {"k": "v"})            # same ts, other line: kept
    H.push_ok(srv, [Stream(dup.labels, [e2])], "json")
    e3 = entry(d + 1, "plain dup")
    H.push_ok(srv, [Stream(dup.labels, [e3, e3])], "json")
    H.push_ok(srv, [Stream(dup.labels, [e3])], "json-deflate")
    dup.entries.extend([e1, e2, e3])
    model["extra"].append(dup)
    check_extra(srv, model)


def check_extra(srv, model):
    lo, hi = model["range"]
    for s in model["extra"]:
        sel = '{job="%s"}' % s.labels["job"]
        j = H.query_range(srv, sel, lo, hi, limit=1000, direction="forward")
        H.check_stream_order(j, "forward")
        got = H.result_entries(j)
        H.check_entries([s], got, sel)
        if s.labels["job"] == "rt-ooo":
            check([g.ts for g in sorted(got, key=lambda g: g.ts)] == sorted(e.ts for e in s.entries),
                  "out-of-order entries not returned in time order")


def case_too_far_behind(srv, model):
    """Loki rejects entries older than the stream's newest minus
    max_chunk_age/2 (1h with the default max_chunk_age of 2h)."""
    lo, hi = model["range"]
    ooo = [s for s in model["extra"] if s.labels["job"] == "rt-ooo"][0]
    newest = max(e.ts for e in ooo.entries)
    old = entry(newest - 2 * 3600 * H.NS, "too far behind")
    r = H.push(srv, [Stream(ooo.labels, [old])], "json")
    check(r.status == 400, "entry 2h behind the stream's newest answered %d, want 400: %s", r.status, H.short(r.body))
    got = H.result_entries(H.query_range(srv, '{job="rt-ooo"}', old.ts - H.NS, hi, limit=1000))
    check(all(g.line != "too far behind" for g in got), "rejected entry was stored")


def case_metadata_endpoints(srv, model):
    lo, hi = model["range"]
    params = {"start": str(lo), "end": str(hi)}
    series = expected_series(model)
    names = sorted({k for s in series.values() for k in s})
    got = H.get_json_list(srv, "/loki/api/v1/labels", params)
    check(got == names, "labels: got %s, want %s", got, names)
    for name in names:
        want = sorted({s[name] for s in series.values() if name in s})
        got = H.get_json_list(srv, "/loki/api/v1/label/%s/values" % name, params)
        check(got == want, "label %s values: got %s, want %s", name, got, want)
    got = H.get_json_list(srv, "/loki/api/v1/label/no_such_label/values", params)
    check(got == [], "values of an unknown label: %s", got)
    # series: one selector, then two selectors (union)
    got = H.get_json_list(srv, "/loki/api/v1/series", dict(params, **{"match[]": '{job="rt"}'}))
    want = sorted(([dict(k) for k, s in series.items() if s.get("job") == "rt"]), key=lambda d: sorted(d.items()))
    check(all(isinstance(x, dict) for x in got), "series data holds non-objects: %s", H.short(repr(got)))
    got_sorted = sorted(got, key=lambda d: sorted(d.items()))
    check(got_sorted == want, "series {job=\"rt\"}:\n got  %s\n want %s", got_sorted, want)
    got = H.get_json_list(srv, "/loki/api/v1/series",
                          dict(params, **{"match[]": ['{job="rt-ooo"}', '{job="rt-dup"}']}))
    want = sorted(([dict(k) for k, s in series.items() if s.get("job") in ("rt-ooo", "rt-dup")]),
                  key=lambda d: sorted(d.items()))
    check(sorted(got, key=lambda d: sorted(d.items())) == want, "series with two match[]: got %s want %s", got, want)


def verify(srv, model, when, suite):
    with suite.case("%s: query_range both directions, byte-exact" % when):
        case_query_both_directions(srv, model)
    with suite.case("%s: per-format selectors" % when):
        case_per_format_selector(srv, model)
    with suite.case("%s: limit honoured" % when):
        case_limit(srv, model)
    with suite.case("%s: start inclusive, end exclusive" % when):
        case_bounds(srv, model)
    with suite.case("%s: out-of-order and duplicates as stored" % when):
        check_extra(srv, model)
    with suite.case("%s: labels, label values, series" % when):
        case_metadata_endpoints(srv, model)


def new_model(clock, run):
    start = clock.t
    data = build_dataset(clock, run)
    return {"data": data, "extra": [], "range": (start - 10 * MIN, H.now_ns() + 10 * MIN)}


def body(suite):
    # Phase 1: default chunk settings, everything in the head.
    tmp = H.make_tempdir("roundtrip")
    port = H.free_port()
    # max_chunk_age 2h (Loki's default) spelled out: the out-of-order
    # window (max_chunk_age/2 = 1h) is what case_too_far_behind relies on
    cfg = H.make_config(os.path.join(tmp, "data"), port, ingester={"max_chunk_age": "2h"})
    srv = H.Server("roundtrip", cfg, workdir=tmp)
    clock = Clock((H.now_ns() - 30 * MIN) // H.NS * H.NS)
    model = new_model(clock, "p1")

    with suite.case("start and ready"):
        srv.start()
    with suite.case("push every format (json, gzip, deflate, snappy, zstd)"):
        push_dataset(srv, model)
    with suite.case("out-of-order within the window, duplicates"):
        case_ooo_and_dups(srv, model, clock)
    with suite.case("entry too far behind is rejected"):
        case_too_far_behind(srv, model)
    verify(srv, model, "head", suite)

    with suite.case("graceful restart"):
        srv.stop()
        srv.start()
    verify(srv, model, "after graceful restart", suite)
    with suite.case("stop phase 1 server"):
        srv.stop()

    # Phase 2: small chunks, so entries go through flushed chunks.
    tmp2 = H.make_tempdir("roundtrip-flush")
    port2 = H.free_port()
    data2 = os.path.join(tmp2, "data")
    cfg2 = H.make_config(data2, port2, ingester=H.SMALL_CHUNKS)
    srv2 = H.Server("roundtrip-flush", cfg2, workdir=tmp2)
    clock2 = Clock((H.now_ns() - 20 * MIN) // H.NS * H.NS)
    model2 = new_model(clock2, "p2")
    with suite.case("small chunks: start, push every format"):
        srv2.start()
        push_dataset(srv2, model2)
        case_ooo_and_dups(srv2, model2, clock2)
    with suite.case("small chunks: chunks flushed to <path_prefix>/chunks"):
        chunk_dir = os.path.join(data2, "chunks")
        H.wait_for(lambda: H.files_under(chunk_dir), 60, "chunk files under %s" % chunk_dir)
        # idle period 2s + check period 200ms: wait until nothing new
        # appears for 4s, so every stream had its idle flush
        state = {"files": None, "since": None}

        def settled():
            import time
            f = sorted(H.files_under(chunk_dir))
            if f != state["files"]:
                state["files"], state["since"] = f, time.monotonic()
                return False
            return time.monotonic() - state["since"] >= 4.0
        H.wait_for(settled, 60, "chunk files to stop changing", interval=0.25)
        m = H.parse_metrics(srv2.get("/metrics").text)
        flushed, names = H.metric_sum(m, r"chunks?_flushed_total$")
        print("     %d chunk files; flush counters %s = %g" % (len(state["files"]), names, flushed))
    verify(srv2, model2, "after flush", suite)
    with suite.case("small chunks: graceful restart"):
        srv2.stop()
        srv2.start()
    verify(srv2, model2, "after flush + graceful restart", suite)
    with suite.case("small chunks: SIGKILL and restart"):
        srv2.kill()
        srv2.start()
    verify(srv2, model2, "after flush + SIGKILL", suite)
    with suite.case("stop phase 2 server"):
        srv2.stop()


if __name__ == "__main__":
    H.main("push_roundtrip", body)
