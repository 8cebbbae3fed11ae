"""
Loki's volume endpoints, /loki/api/v1/index/volume and /index/volume_range
(what Grafana's Logs Drilldown calls on every view): exact JSON for streams
of known sizes in memory and again after POST /flush, with each option
(grouping by the query's matchers, `{}`, targetLabels, aggregateBy=labels,
limit, step buckets with a stream prorated across two of them, GET and
POST); two tenants isolated and `a|b` summed by name; Loki's errors; 404
when limits_config.volume_enabled is false.

Sizes: noa counts a stream's uncompressed entry bytes as its chunks store
them (ingester/chunk.h: ts varint, line length varint, line, metadata
count), the figure index/stats reports too; flushed chunks are counted in
whole KB as Loki's TSDB index keeps them (round(bytes / 1024) * 1024,
prorated by time and truncated), memory in exact bytes.

Runs on the main thread; starts noa-server on a free loopback port.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import Stream, check, entry  # noqa: E402

NS = H.NS
T1, T2 = "vol-a", "vol-b"
INGESTER = {"chunk_idle_period": "1h", "max_chunk_age": "2h",  # flushed only by POST /flush
            "flush_check_period": "200ms"}


def uvarint_len(n):
    k = 1
    while n >= 0x80:
        n >>= 7
        k += 1
    return k


# The distributor's discover_log_levels adds this structured metadata to
# lines that name no level (noa as Loki 3.x).
META = (("detected_level", "unknown"),)


def raw_size(ts, line):
    """Bytes of one entry in a raw block (ingester/chunk.h)."""
    meta = sum(uvarint_len(len(k)) + len(k) + uvarint_len(len(v)) + len(v) for k, v in META)
    return uvarint_len(ts * 2) + uvarint_len(len(line)) + len(line) + uvarint_len(len(META)) + meta


def line(tag, n):
    return (tag + " ") + ("x" * (n - len(tag) - 1))


def ts_json(sec, frac=""):
    """A sample timestamp as Loki prints it (seconds, then .mmm)."""
    return float("%d%s" % (sec, frac)) if frac else sec


def get(srv, path, tenant, **params):
    headers = {"X-Scope-OrgID": tenant} if tenant else {}
    return srv.get(path, params=params, headers=headers)


def volume(srv, path, tenant, **params):
    r = get(srv, path, tenant, **params)
    check(r.status == 200, "%s %r: status %d %s", path, params, r.status, H.short(r.body))
    j = r.json()
    check(j.get("status") == "success" and "stats" in j["data"] and
          "summary" in j["data"]["stats"], "envelope: %s", H.short(r.body))
    return j["data"]["resultType"], j["data"]["result"]


def vec(ts, *series):
    return [{"metric": m, "value": [ts, str(v)]} for m, v in series]


def mat(*series):
    return [{"metric": m, "values": [[t, str(v)] for t, v in samples]} for m, samples in series]


def expect(suite, name, srv, path, tenant, want_type, want, **params):
    with suite.case(name):
        typ, res = volume(srv, path, tenant, **params)
        check(typ == want_type and res == want, "%s %r\n got %s %s\nwant %s %s", path, params,
              typ, res, want_type, want)


class Data:
    """Four streams of tenant T1 and one of T2 at whole seconds after a
    minute boundary `base` (so volume_range buckets are predictable)."""

    def __init__(self):
        now = H.now_ns() // NS
        self.base = (now - 600) // 60 * 60
        b = self.base * NS
        big = line("big", 500)     # 535 bytes an entry
        small = line("small", 200)  # 235 bytes an entry
        self.streams = {
            "A": ({"job": "a", "pod": "1"}, [(b + s * NS, big) for s in (10, 20, 30)]),
            "B": ({"job": "b", "pod": "1"}, [(b + 70 * NS, big)]),
            "C": ({"job": "c"}, [(b + s * NS, big) for s in (130, 170)]),
            "D": ({"job": "a", "pod": "2"}, [(b + s * NS, small) for s in (50, 70)]),
        }
        self.other = ({"job": "a", "pod": "9"}, [(b + 10 * NS, big)])
        self.size = {k: sum(raw_size(t, ln) for t, ln in es) for k, (_, es) in self.streams.items()}

    def push(self, srv):
        H.push_ok(srv, [Stream(lb, [entry(t, ln) for t, ln in es])
                        for lb, es in self.streams.values()], tenant=T1)
        lb, es = self.other
        H.push_ok(srv, [Stream(lb, [entry(t, ln) for t, ln in es])], tenant=T2)


def sizes_cases(suite, srv, d):
    with suite.case("entry sizes agree with index/stats"):
        check(d.size == {"A": 1605, "B": 535, "C": 1070, "D": 470}, "%r", d.size)
        r = get(srv, "/loki/api/v1/index/stats", T1, query='{job=~".+"}',
                start=str((d.base - 60) * NS), end=str((d.base + 240) * NS))
        check(r.status == 200 and r.json()["bytes"] == sum(d.size.values()), "%s", H.short(r.body))


def memory_cases(suite, srv, d):
    V, VR = "/loki/api/v1/index/volume", "/loki/api/v1/index/volume_range"
    start, end = str((d.base - 60) * NS), str((d.base + 240) * NS)
    te = ts_json(d.base + 240)
    sel = '{job=~".+"}'
    expect(suite, "memory: grouped by the matchers' labels", srv, V, T1, "vector",
           vec(te, ({"job": "a"}, 2075), ({"job": "c"}, 1070), ({"job": "b"}, 535)),
           query=sel, start=start, end=end)
    expect(suite, "memory: {} keeps every label", srv, V, T1, "vector",
           vec(te, ({"job": "a", "pod": "1", "service_name": "a"}, 1605),
               ({"job": "c", "service_name": "c"}, 1070),
               ({"job": "b", "pod": "1", "service_name": "b"}, 535),
               ({"job": "a", "pod": "2", "service_name": "a"}, 470)),
           query="{}", start=start, end=end)
    expect(suite, "memory: targetLabels (streams without it left out)", srv, V, T1, "vector",
           vec(te, ({"pod": "1"}, 2140), ({"pod": "2"}, 470)),
           query=sel, start=start, end=end, targetLabels="pod")
    expect(suite, "memory: equality matcher and targetLabels", srv, V, T1, "vector",
           vec(te, ({"pod": "1"}, 1605), ({"pod": "2"}, 470)),
           query='{job="a"}', start=start, end=end, targetLabels="pod")
    expect(suite, "memory: targetLabels job,pod", srv, V, T1, "vector",
           vec(te, ({"job": "a", "pod": "1"}, 1605), ({"job": "b", "pod": "1"}, 535),
               ({"job": "a", "pod": "2"}, 470)),
           query=sel, start=start, end=end, targetLabels="job,pod")
    expect(suite, "memory: aggregateBy=labels", srv, V, T1, "vector",
           vec(te, ({"job": ""}, 3680), ({"service_name": ""}, 3680), ({"pod": ""}, 2610)),
           query=sel, start=start, end=end, aggregateBy="labels")
    expect(suite, "memory: aggregateBy=labels with targetLabels", srv, V, T1, "vector",
           vec(te, ({"pod": ""}, 2610)),
           query=sel, start=start, end=end, aggregateBy="labels", targetLabels="pod")
    expect(suite, "memory: limit=1 keeps the largest", srv, V, T1, "vector",
           vec(te, ({"job": "a"}, 2075)), query=sel, start=start, end=end, limit="1")
    expect(suite, "memory: limit=0 is the default", srv, V, T1, "vector",
           vec(te, ({"job": "a"}, 2075), ({"job": "c"}, 1070), ({"job": "b"}, 535)),
           query=sel, start=start, end=end, limit="0")
    expect(suite, "memory: a range holding nothing", srv, V, T1, "vector", [],
           query=sel, start=str((d.base - 600) * NS), end=str((d.base - 300) * NS))
    # Buckets of 60 s from base: queried over [base, base+59], [base+60,
    # base+119], [base+120, base+180], stamped base+59.999, +119.999, +180.
    # D's head [50 s, 70 s] splits 9/20 and 10/20 of 470 bytes: 211 and 235.
    b = d.base
    t0, t1, t2 = ts_json(b + 59, ".999"), ts_json(b + 119, ".999"), ts_json(b + 180)
    expect(suite, "memory: volume_range buckets and prorating", srv, VR, T1, "matrix",
           mat(({"job": "a"}, [(t0, 1605 + 211), (t1, 235)]),
               ({"job": "c"}, [(t2, 1070)]),
               ({"job": "b"}, [(t1, 535)])),
           query=sel, start=str(b * NS), end=str((b + 180) * NS), step="60")
    expect(suite, "memory: volume_range step 1m, aggregateBy=labels", srv, VR, T1, "matrix",
           mat(({"job": ""}, [(t0, 1816), (t1, 770), (t2, 1070)]),
               ({"pod": ""}, [(t0, 1816), (t1, 770)]),
               ({"service_name": ""}, [(t0, 1816), (t1, 770), (t2, 1070)])),
           query=sel, start=str(b * NS), end=str((b + 180) * NS), step="1m",
           aggregateBy="labels")
    expect(suite, "memory: volume_range with one bucket answers a vector", srv, VR, T1,
           "vector", vec(ts_json(b + 60), ({"job": "a"}, 1605 + 235)),
           query='{job="a"}', start=str(b * NS), end=str((b + 60) * NS), step="3600")
    with suite.case("memory: POST form"):
        body = ("query=%7Bjob%3D~%22.%2B%22%7D&start=" + start + "&end=" + end +
                "&targetLabels=pod").encode()
        r = srv.request("POST", V, body=body, headers={
            "X-Scope-OrgID": T1, "Content-Type": "application/x-www-form-urlencoded"})
        check(r.status == 200 and r.json()["data"]["result"] ==
              vec(te, ({"pod": "1"}, 2140), ({"pod": "2"}, 470)), "%d %s", r.status,
              H.short(r.body))


def tenant_cases(suite, srv, d, phase, other):
    V = "/loki/api/v1/index/volume"
    start, end = str((d.base - 60) * NS), str((d.base + 240) * NS)
    te = ts_json(d.base + 240)
    expect(suite, "%s: the other tenant sees only its own" % phase, srv, V, T2, "vector",
           vec(te, ({"job": "a"}, other)), query='{job=~".+"}', start=start, end=end)
    expect(suite, "%s: unknown tenant sees nothing" % phase, srv, V, "nobody", "vector", [],
           query='{job=~".+"}', start=start, end=end)


def flushed_cases(suite, srv, d):
    V, VR = "/loki/api/v1/index/volume", "/loki/api/v1/index/volume_range"
    start, end = str((d.base - 60) * NS), str((d.base + 240) * NS)
    te = ts_json(d.base + 240)
    sel = '{job=~".+"}'
    # KB per chunk: A 1605 -> 2, B 535 -> 1, C 1070 -> 1, D 470 -> 0
    # (still reported: it has entries).
    expect(suite, "flushed: sizes in whole KB", srv, V, T1, "vector",
           vec(te, ({"job": "a", "pod": "1", "service_name": "a"}, 2048),
               ({"job": "b", "pod": "1", "service_name": "b"}, 1024),
               ({"job": "c", "service_name": "c"}, 1024),
               ({"job": "a", "pod": "2", "service_name": "a"}, 0)),
           query="{}", start=start, end=end)
    expect(suite, "flushed: grouped, ties by name", srv, V, T1, "vector",
           vec(te, ({"job": "a"}, 2048), ({"job": "b"}, 1024), ({"job": "c"}, 1024)),
           query=sel, start=start, end=end)
    b = d.base
    t0, t1, t2 = ts_json(b + 59, ".999"), ts_json(b + 119, ".999"), ts_json(b + 180)
    # D's chunk [50 s, 70 s]: 9/20 of its 2 entries truncates to 0 in the
    # first bucket (not reported), 10/20 gives 1 in the second (0 KB).
    expect(suite, "flushed: volume_range", srv, VR, T1, "matrix",
           mat(({"job": "a"}, [(t0, 2048), (t1, 0)]),
               ({"job": "b"}, [(t1, 1024)]),
               ({"job": "c"}, [(t2, 1024)])),
           query=sel, start=str(b * NS), end=str((b + 180) * NS), step="60")


def multi_tenant_cases(suite, srv, d, a_total, other):
    V = "/loki/api/v1/index/volume"
    start, end = str((d.base - 60) * NS), str((d.base + 240) * NS)
    te = ts_json(d.base + 240)
    expect(suite, "a|b sums the tenants by name, no __tenant_id__", srv, V, T1 + "|" + T2,
           "vector", vec(te, ({"job": "a"}, a_total + other)),
           query='{job="a", pod=~"1|9"}', start=start, end=end, targetLabels="job")
    expect(suite, "a|b by series: the same series of two tenants is one", srv, V,
           T2 + "|" + T1, "vector", vec(te, ({"job": "a"}, a_total + other)),
           query='{job="a", pod=~"1|9"}', start=start, end=end, targetLabels="job")


def error_cases(suite, srv, d):
    V, VR = "/loki/api/v1/index/volume", "/loki/api/v1/index/volume_range"
    start, end = str((d.base - 60) * NS), str((d.base + 240) * NS)

    def err(name, path, tenant, status, text, **params):
        with suite.case("error: " + name):
            r = get(srv, path, tenant, **params)
            body = r.text
            check(r.status == status and (body == text if not text.endswith("*")
                                          else body.startswith(text[:-1])),
                  "%s %r: %d %r", path, params, r.status, body)

    q = '{job=~".+"}'
    err("bad aggregateBy", V, T1, 400, "invalid aggregation option", query=q, aggregateBy="x")
    err("bad aggregateBy (range)", VR, T1, 400, "invalid aggregation option", query=q,
        aggregateBy="streams")
    err("missing query", V, T1, 400, "parse error*", start=start, end=end)
    err("pipeline", V, T1, 400, "only label matchers are supported",
        query='{job="a"} |= "x"', start=start, end=end)
    err("metric query", V, T1, 400, "only label matchers are supported",
        query='count_over_time({job="a"}[1m])', start=start, end=end)
    err("empty-compatible selector", V, T1, 400, "parse error*", query='{job=~".*"}')
    err("negative limit", V, T1, 400, "limit must be a positive value", query=q, limit="-1")
    err("bad limit", V, T1, 400, 'strconv.Atoi: parsing "ten": invalid syntax', query=q,
        limit="ten")
    err("end before start", V, T1, 400, "end timestamp must not be before or equal to start time",
        query=q, start=end, end=start)
    err("zero step", VR, T1, 400, "zero or negative query resolution step widths are not "
        "accepted. Try a positive integer", query=q, start=start, end=end, step="0")
    err("too many points", VR, T1, 400, "exceeded maximum resolution of 11,000 points*",
        query=q, start=str((d.base - 86400) * NS), end=end, step="1")
    err("no org id", V, None, 401, "no org id\n", query=q)


def disabled_case(suite, d):
    with suite.case("volume_enabled: false answers 404"):
        tmp = H.make_tempdir("volume-off")
        srv = H.Server("volume-off", H.make_config(os.path.join(tmp, "data"), H.free_port(),
                                                   auth=True,
                                                   limits={"volume_enabled": False}),
                       workdir=tmp)
        srv.start()
        try:
            for path in ("/loki/api/v1/index/volume", "/loki/api/v1/index/volume_range"):
                r = get(srv, path, T1, query='{job=~".+"}')
                check(r.status == 404 and r.text == "not found", "%s: %d %r", path, r.status,
                      r.text)
            r = get(srv, "/loki/api/v1/index/volume", T1, query='{job=~".+"}', aggregateBy="x")
            check(r.status == 400, "parameters are checked first: %d", r.status)
        finally:
            srv.stop()


def body(suite):
    tmp = H.make_tempdir("volume")
    data = os.path.join(tmp, "data")
    srv = H.Server("volume", H.make_config(data, H.free_port(), auth=True, ingester=INGESTER),
                   workdir=tmp)
    srv.start()
    d = Data()
    d.push(srv)
    sizes_cases(suite, srv, d)
    memory_cases(suite, srv, d)
    tenant_cases(suite, srv, d, "memory", 535)
    multi_tenant_cases(suite, srv, d, 1605, 535)
    error_cases(suite, srv, d)
    srv.request("POST", "/flush")
    H.wait_for(lambda: len(H.files_under(os.path.join(data, "chunks"))) >= 5, 30,
               "5 chunks flushed")
    flushed_cases(suite, srv, d)
    tenant_cases(suite, srv, d, "flushed", 1024)  # 535 bytes -> 1 KB
    multi_tenant_cases(suite, srv, d, 2048, 1024)
    # More of B in memory, next to its flushed chunk: both count.
    lb, es = d.streams["B"]
    ts = d.base * NS + 80 * NS
    H.push_ok(srv, [Stream(lb, [entry(ts, es[0][1])])], tenant=T1)
    expect(suite, "flushed and memory add up", srv, "/loki/api/v1/index/volume", T1, "vector",
           vec(ts_json(d.base + 240), ({"job": "b"}, 1024 + raw_size(ts, es[0][1]))),
           query='{job="b"}', start=str((d.base - 60) * NS), end=str((d.base + 240) * NS))
    srv.stop()
    disabled_case(suite, d)


if __name__ == "__main__":
    H.main("volume", body)
