"""
Bad input on POST /loki/api/v1/push: every malformed or over-limit body
gets its 4xx, the server keeps serving, and the store is unchanged
(compared through a full query, series and labels before and after).
Requests that mix valid and invalid entries are partially accepted: the
response is 400 and exactly the valid entries are stored. Also: auth
(401 "no org id", tenant isolation, multiple org IDs) and, with auth off,
everything lands in tenant "fake".

Runs on the main thread; starts two noa-servers on free loopback ports.
"""

import collections
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check, entry, Stream  # noqa: E402

MiB = 1 << 20
MAX_RECV = 4 * MiB
MAX_DECOMP = 8 * MiB
CATCH_ALL = '{service_name=~".+"}'  # Loki 3.x gives every stream a service_name

JSON = {"Content-Type": "application/json"}
PROTO = {"Content-Type": "application/x-protobuf"}
PROTO_ZSTD = {"Content-Type": "application/x-protobuf", "Content-Encoding": "zstd"}
JSON_GZIP = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
JSON_DEFLATE = {"Content-Type": "application/json", "Content-Encoding": "deflate"}


class State:
    def __init__(self, srv):
        self.srv = srv
        now = H.now_ns()
        self.lo = now - 9 * 86400 * H.NS   # wide enough to see wrongly stored too-old entries
        self.hi = now + 2 * 3600 * H.NS    # and too-new ones
        self.snap = None

    def snapshot(self):
        srv = self.srv
        got = H.fetch_all(srv, CATCH_ALL, self.lo, self.hi)
        params = {"start": str(self.lo), "end": str(self.hi)}
        series = H.get_json_list(srv, "/loki/api/v1/series", dict(params, **{"match[]": CATCH_ALL}))
        labels = H.get_json_list(srv, "/loki/api/v1/labels", params)
        return {"entries": collections.Counter(got),
                "series": frozenset(tuple(sorted(s.items())) for s in series),
                "labels": tuple(labels)}

    def check_alive(self):
        check(self.srv.alive(), "server died\n%s" % self.srv.tail())
        r = self.srv.get("/ready")
        check(r.status == 200 and r.body == b"ready\n", "GET /ready after bad input: %d %r", r.status, r.body[:100])

    def check_unchanged(self):
        self.check_alive()
        now = self.snapshot()
        if now != self.snap:
            added = now["entries"] - self.snap["entries"]
            removed = self.snap["entries"] - now["entries"]
            raise H.TestFailure("store changed: +%d entries %s, -%d entries, series +%s -%s, labels %s -> %s" % (
                sum(added.values()), [H.short(repr(g), 150) for g in list(added)[:5]], sum(removed.values()),
                sorted(now["series"] - self.snap["series"])[:5], sorted(self.snap["series"] - now["series"])[:5],
                self.snap["labels"], now["labels"]))

    def check_added(self, streams, what):
        """The store gained exactly the entries of `streams`."""
        self.check_alive()
        now = self.snapshot()
        added = now["entries"] - self.snap["entries"]
        removed = self.snap["entries"] - now["entries"]
        # later cases compare against what is stored now, even if this
        # check fails, so one failure is reported once
        self.snap = now
        check(not removed, "%s: entries disappeared: %s", what, list(removed)[:5])
        H.check_entries(streams, list(added.elements()), what)


def reject(state, body, headers, statuses, keyword=None, tenant=None, unchanged=True):
    r = H.push_raw(state.srv, body, headers, tenant=tenant)
    check(r.status in statuses, "answered %d, want %s: %s", r.status, "/".join(map(str, statuses)), H.short(r.body))
    if keyword:
        check(keyword.lower() in r.text.lower(), "error body %r lacks %r", H.short(r.body), keyword)
    print("     %d %s" % (r.status, H.short(r.text.strip(), 160)))
    if unchanged:
        state.check_unchanged()
    return r


def must_fail(fn, data, what):
    """Precondition: our own decoder rejects the bytes we call corrupt."""
    try:
        fn(data)
    except Exception:  # noqa: BLE001 - any decoder error is what we want
        return
    raise H.TestFailure("test bug: %s decodes cleanly" % what)


def bad_streams(tag="bad"):
    return [Stream({"job": tag, "case": "x"}, [entry(H.now_ns() - 60 * H.NS, "must not be stored %s" % tag)])]


def wire_cases(suite, st):
    proto = H.encode_push_request(bad_streams())
    snap = H.snappy_block(proto)
    hdr_len = len(H.pb_varint(len(proto)))

    def case(name, body, headers, statuses=(400,), keyword=None, precondition=None):
        with suite.case(name):
            if precondition:
                precondition()
            reject(st, body, headers, statuses, keyword)

    # snappy
    trunc = snap[:-3]
    case("snappy truncated", trunc, PROTO, precondition=lambda: must_fail(H.snappy_unblock, trunc, "truncated snappy"))
    corrupt = snap[:hdr_len] + b"\xff" * 24
    case("snappy corrupt (copy past start)", corrupt, PROTO,
         precondition=lambda: must_fail(H.snappy_unblock, corrupt, "corrupt snappy"))
    liar = H.pb_varint(len(proto) + 100) + snap[hdr_len:]
    case("snappy length header larger than content", liar, PROTO,
         precondition=lambda: must_fail(H.snappy_unblock, liar, "lying snappy header"))
    case("protobuf without snappy under application/x-protobuf", b"\x0a\xff\xff\xff\xff\x0f", PROTO,
         precondition=lambda: must_fail(H.snappy_unblock, b"\x0a\xff\xff\xff\xff\x0f", "raw protobuf"))

    # zstd
    z = H.zstd_compress(proto)
    ztrunc = z[:len(z) // 2]
    case("zstd truncated", ztrunc, PROTO_ZSTD, precondition=lambda: must_fail(H.zstd_decompress, ztrunc, "truncated zstd"))
    zc = bytearray(z)
    for i in range(8, len(zc)):
        zc[i] ^= 0x5A
    zc = bytes(zc)
    case("zstd corrupt", zc, PROTO_ZSTD, precondition=lambda: must_fail(H.zstd_decompress, zc, "corrupt zstd"))
    case("zstd garbage", b"definitely not a zstd frame", PROTO_ZSTD,
         precondition=lambda: must_fail(H.zstd_decompress, b"definitely not a zstd frame", "garbage zstd"))

    # gzip / deflate (JSON)
    jb = H.json_push_body(bad_streams())
    g = H.gzip_compress(jb)
    gc = bytearray(g)
    for i in range(12, len(gc) - 8):
        gc[i] ^= 0xA5
    gc = bytes(gc)
    import gzip as _gzip
    case("gzip corrupt", gc, JSON_GZIP, precondition=lambda: must_fail(_gzip.decompress, gc, "corrupt gzip"))
    gt = g[:len(g) // 2]
    case("gzip truncated", gt, JSON_GZIP, precondition=lambda: must_fail(_gzip.decompress, gt, "truncated gzip"))
    case("gzip bad header", b"\x1f\x8bnot gzip really", JSON_GZIP,
         precondition=lambda: must_fail(_gzip.decompress, b"\x1f\x8bnot gzip really", "bad gzip header"))
    case("deflate corrupt", b"\xff\xff\xff\xff", JSON_DEFLATE,
         precondition=lambda: must_fail(H.inflate_raw, b"\xff\xff\xff\xff", "corrupt deflate"))

    # malformed protobuf (valid snappy around it)
    rnd = random.Random(7)
    for _ in range(1000):
        junk = bytes(rnd.randrange(256) for _ in range(200))
        try:
            H.decode_push_request(junk)
        except H.ProtoError:
            break
    case("protobuf: random bytes", H.snappy_block(junk), PROTO,
         precondition=lambda: must_fail(H.decode_push_request, junk, "random protobuf"))
    ptr = proto[:len(proto) // 2 + 1]
    case("protobuf: truncated message", H.snappy_block(ptr), PROTO,
         precondition=lambda: must_fail(H.decode_push_request, ptr, "truncated protobuf"))
    past = H.pb_tag(1, 2) + H.pb_varint(1000) + b"\x0a\x03abc"
    case("protobuf: length past end", H.snappy_block(past), PROTO,
         precondition=lambda: must_fail(H.decode_push_request, past, "length past end"))
    inner = H.pb_bytes(1, H.pb_tag(1, 2) + H.pb_varint(50) + b'{job="bad"}')
    case("protobuf: nested length past end", H.snappy_block(inner), PROTO,
         precondition=lambda: must_fail(H.decode_push_request, inner, "nested length past end"))
    ent = H.pb_bytes(1, H.pb_bytes(1, '{job="bad"}') + H.pb_tag(2, 2) + H.pb_varint(30) + H.pb_bytes(2, "x"))
    case("protobuf: entry length past end", H.snappy_block(ent), PROTO,
         precondition=lambda: must_fail(H.decode_push_request, ent, "entry length past end"))
    wt7 = b"\x0f\x00\x00"
    case("protobuf: invalid wire type", H.snappy_block(wt7), PROTO,
         precondition=lambda: must_fail(H.decode_push_request, wt7, "wire type 7"))
    wrong = H.pb_uint(1, 5)
    case("protobuf: streams field as varint", H.snappy_block(wrong), PROTO,
         precondition=lambda: must_fail(H.decode_push_request, wrong, "wrong wire type"))
    case("protobuf: truncated, zstd-wrapped", H.zstd_compress(ptr), PROTO_ZSTD)

    # malformed JSON
    ts = str(H.now_ns() - 60 * H.NS)
    # recent times in the wrong notation, so that only the notation is wrong
    secs = int(time.time()) - 60
    float_ts = ("%d.5" % secs).encode()
    rfc3339 = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(secs)).encode()
    for name, b in (
        ("JSON truncated", b'{"streams":[{"stream":{"job":"bad"},"values":[["' + ts.encode() + b'","a"]'),
        ("JSON not JSON", b"this is not json"),
        ("JSON streams not an array", b'{"streams":{"job":"bad"}}'),
        ("JSON numeric timestamp", b'{"streams":[{"stream":{"job":"bad"},"values":[[' + ts.encode() + b',"a"]]}]}'),
        ("JSON float-second timestamp", b'{"streams":[{"stream":{"job":"bad"},"values":[["' + float_ts + b'","a"]]}]}'),
        ("JSON RFC3339 timestamp", b'{"streams":[{"stream":{"job":"bad"},"values":[["' + rfc3339 + b'","a"]]}]}'),
        ("JSON line not a string", b'{"streams":[{"stream":{"job":"bad"},"values":[["' + ts.encode() + b'",42]]}]}'),
        ("JSON metadata value not a string",
         b'{"streams":[{"stream":{"job":"bad"},"values":[["' + ts.encode() + b'","a",{"k":1}]]}]}'),
        ("JSON value not an array", b'{"streams":[{"stream":{"job":"bad"},"values":["' + ts.encode() + b'"]}]}'),
    ):
        case(name, b, JSON)

    # labels
    for name, b in (
        ("JSON invalid label name (dash)", H.json_push_body([Stream({"foo-bar": "x"}, bad_streams()[0].entries)])),
        ("JSON invalid label name (digit first)", H.json_push_body([Stream({"1abc": "x"}, bad_streams()[0].entries)])),
        ("JSON invalid UTF-8 in label value",
         b'{"streams":[{"stream":{"job":"bad\xff\xfe"},"values":[["' + ts.encode() + b'","a"]]}]}'),
    ):
        case(name, b, JSON)
    for name, lt in (
        ("protobuf labels unterminated", b'{job="bad"'),
        ("protobuf labels without braces", b'job="bad"'),
        ("protobuf labels unquoted value", b"{job=bad}"),
        ("protobuf labels duplicate name", b'{job="bad", job="worse"}'),
        ("protobuf labels invalid UTF-8", b'{job="bad\xff\xfe"}'),
        ("protobuf labels invalid name", b'{foo-bar="x"}'),
    ):
        raw = H.encode_push_request([Stream(lt, bad_streams()[0].entries)])
        case(name, H.snappy_block(raw), PROTO)

    # content negotiation
    case("missing Content-Type", H.json_push_body(bad_streams()), {}, (400,))
    case("unsupported Content-Encoding br", H.json_push_body(bad_streams()),
         {"Content-Type": "application/json", "Content-Encoding": "br"}, (400,), keyword="not supported")
    case('empty request {"streams":[]}', b'{"streams":[]}', JSON, (422,), keyword="at least one valid stream")
    case("empty protobuf PushRequest", H.snappy_block(b""), PROTO, (422,), keyword="at least one valid stream")

    # limits on names and values
    case("label name too long (1100 bytes)",
         H.json_push_body([Stream({"job": "bad", "n" * 1100: "x"}, bad_streams()[0].entries)]), JSON)
    case("label value too long (2100 bytes)",
         H.json_push_body([Stream({"job": "bad", "v": "x" * 2100}, bad_streams()[0].entries)]), JSON)


def bomb_cases(suite, st):
    def case(name, make, headers):
        with suite.case(name):
            body = make()
            check(len(body) < MAX_RECV, "test bug: bomb body %d bytes is over the body limit", len(body))
            hwm0 = st.srv.proc_status("VmHWM")
            reject(st, body, headers, (400, 413))
            hwm1 = st.srv.proc_status("VmHWM")
            print("     body %d bytes; server peak RSS %d -> %d KiB" % (len(body), hwm0, hwm1))
            check(hwm1 - hwm0 < 64 * 1024, "server peak RSS grew by %d KiB on a %d-byte bomb (limit %d MiB)",
                  hwm1 - hwm0, len(body), MAX_DECOMP // MiB)

    case("bomb: snappy header claims 4 GiB", lambda: H.pb_varint(0xFFFFFFFF) + b"\x00\x01", PROTO)
    case("bomb: snappy expanding to 48 MiB", lambda: H.snappy_block(b"\0" * (48 * MiB)), PROTO)
    case("bomb: zstd to 256 MiB, content size in header",
         lambda: H.zstd_compress(b"\0" * (256 * MiB), level=3, content_size=True), PROTO_ZSTD)
    case("bomb: zstd to 256 MiB, no content size",
         lambda: H.zstd_compress(b"\0" * (256 * MiB), level=3, content_size=False), PROTO_ZSTD)
    case("bomb: gzip to 64 MiB", lambda: H.gzip_compress(b" " * (64 * MiB)), JSON_GZIP)
    case("bomb: deflate to 64 MiB", lambda: H.deflate_raw(b" " * (64 * MiB)), JSON_DEFLATE)

    with suite.case("body over max_recv_msg_size (413)"):
        rnd = random.Random(3)
        alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
        lines = []
        for i in range(21):
            lines.append(entry(H.now_ns() - 30 * H.NS + i, bytes(rnd.choice(alphabet) for _ in range(250_000)).decode()))
        body = H.snappy_block(H.encode_push_request([Stream({"job": "bad", "case": "big"}, lines)]))
        check(len(body) > MAX_RECV + 64 * 1024, "test bug: big body only %d bytes", len(body))
        head = ("POST /loki/api/v1/push HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/x-protobuf\r\n"
                "Content-Length: %d\r\nConnection: close\r\n\r\n" % (st.srv.port, len(body))).encode()
        r = H.raw_http_request(st.srv.host, st.srv.port, head, body)
        check(r is not None, "connection closed without any response to a %d-byte body", len(body))
        print("     %d %s" % (r.status, H.short(r.text.strip(), 160)))
        check(r.status == 413, "body of %d bytes over the %d limit answered %d, want 413", len(body), MAX_RECV, r.status)
        st.check_unchanged()


def partial_cases(suite, st):
    now = H.now_ns()
    with suite.case("too old and too new timestamps: 400, valid entries stored"):
        good = [entry(now - 60 * H.NS, "partial-ts valid 1"), entry(now - 59 * H.NS, "partial-ts valid 2")]
        old = entry(now - 8 * 86400 * H.NS, "partial-ts too old")
        new = entry(now + 3600 * H.NS, "partial-ts too new")
        # invalid entries placed where no other check (out-of-order window)
        # could reject them instead of the timestamp validation
        s1 = Stream({"job": "partial-ts"}, [old, good[0], good[1], new])
        s2 = Stream({"job": "partial-ts2"}, [entry(now - 58 * H.NS, "partial-ts other stream")])
        r = H.push(st.srv, [s1, s2], "json")
        print("     %d %s" % (r.status, H.short(r.text.strip(), 300)))
        check(r.status == 400, "answered %d, want 400", r.status)
        check("too old" in r.text and "too new" in r.text, "error body lacks 'too old'/'too new': %s", H.short(r.body))
        st.check_added([Stream(s1.labels, good), s2], "partial acceptance (timestamps)")

    with suite.case("line too long: 400, valid entries stored"):
        good = entry(now - 50 * H.NS, "partial-line valid")
        long_line = entry(now - 49 * H.NS, "L" * (300 * 1024))
        s1 = Stream({"job": "partial-line"}, [good, long_line])
        r = H.push(st.srv, [s1], "snappy")
        print("     %d %s" % (r.status, H.short(r.text.strip(), 300)))
        check(r.status == 400, "answered %d, want 400", r.status)
        st.check_added([Stream(s1.labels, [good])], "partial acceptance (line size)")

    with suite.case("too many labels: 400, other streams stored"):
        many = {"job": "partial-labels-many"}
        many.update({"l%02d" % i: "v" for i in range(20)})
        s_bad = Stream(many, [entry(now - 40 * H.NS, "partial-labels too many")])
        s_ok = Stream({"job": "partial-labels"}, [entry(now - 39 * H.NS, "partial-labels valid")])
        r = H.push(st.srv, [s_bad, s_ok], "snappy")
        print("     %d %s" % (r.status, H.short(r.text.strip(), 300)))
        check(r.status == 400, "answered %d, want 400", r.status)
        st.check_added([s_ok], "partial acceptance (label count)")


def auth_disabled_cases(suite, st):
    with suite.case("auth disabled: X-Scope-OrgID ignored, tenant is fake"):
        now = H.now_ns()
        s = Stream({"job": "tenant-fake"}, [entry(now - 30 * H.NS, "pushed with an org id while auth is off")])
        r = H.push(st.srv, [s], "json", tenant="someone")
        check(r.status == 204, "push answered %d: %s", r.status, H.short(r.body))
        for tenant in (None, "other"):
            got = H.fetch_all(st.srv, '{job="tenant-fake"}', st.lo, st.hi, tenant=tenant)
            H.check_entries([s], got, "query with X-Scope-OrgID=%s" % tenant)
        st.check_added([s], "tenant fake")
        # chunks of tenant "fake" appear once flushed (small chunk settings)
        chunk_dir = os.path.join(st.srv.data_dir, "chunks")
        H.wait_for(lambda: H.files_under(chunk_dir), 60, "chunk files under %s" % chunk_dir)
        rel = [os.path.relpath(p, chunk_dir) for p in H.files_under(chunk_dir)]
        check(any("fake" in p.split(os.sep)[0] or p.startswith("fake") for p in rel),
              "no chunk path starts with tenant 'fake': %s", rel[:10])


def auth_enabled_cases(suite):
    tmp = H.make_tempdir("bad-auth")
    port = H.free_port()
    srv = H.Server("bad-auth", H.make_config(os.path.join(tmp, "data"), port, auth=True), workdir=tmp)
    now = H.now_ns()
    lo, hi = now - 3600 * H.NS, now + 600 * H.NS
    with suite.case("auth enabled: start"):
        srv.start()
    with suite.case("auth enabled: push without X-Scope-OrgID is 401 'no org id'"):
        r = H.push(srv, bad_streams("noorg"), "json")
        check(r.status == 401, "answered %d, want 401", r.status)
        check(r.text.strip() == "no org id", "body %r, want 'no org id'", r.text)
        r = H.push(srv, bad_streams("noorg"), "snappy")
        check(r.status == 401, "snappy push answered %d, want 401", r.status)
    with suite.case("auth enabled: queries without X-Scope-OrgID are 401"):
        r = srv.get("/loki/api/v1/query_range", params={"query": '{job="x"}', "start": str(lo), "end": str(hi)})
        check(r.status == 401, "query_range answered %d", r.status)
        r = srv.get("/loki/api/v1/labels", params={"start": str(lo), "end": str(hi)})
        check(r.status == 401, "labels answered %d", r.status)
        r = srv.get("/loki/api/v1/series", params={"match[]": '{job="x"}', "start": str(lo), "end": str(hi)})
        check(r.status == 401, "series answered %d", r.status)
    with suite.case("auth enabled: status endpoints need no tenant"):
        for path in ("/ready", "/metrics", "/loki/api/v1/status/buildinfo"):
            r = srv.get(path)
            check(r.status == 200, "%s answered %d", path, r.status)
    streams = {}
    with suite.case("auth enabled: tenants are isolated"):
        for t in ("tenant-a", "tenant-b"):
            streams[t] = [Stream({"job": "iso", "who": t}, [entry(now - 100 * H.NS + i, "%s line %d" % (t, i)) for i in range(5)]),
                          Stream({"job": "iso-%s" % t}, [entry(now - 50 * H.NS, "%s private stream" % t)])]
            r = H.push(srv, streams[t], "snappy", tenant=t)
            check(r.status == 204, "push as %s answered %d: %s", t, r.status, H.short(r.body))
        for t in ("tenant-a", "tenant-b"):
            got = H.fetch_all(srv, '{job=~"iso.*"}', lo, hi, tenant=t)
            H.check_entries(streams[t], got, "%s sees only its own entries" % t)
            labels = H.get_json_list(srv, "/loki/api/v1/label/who/values", {"start": str(lo), "end": str(hi)}, tenant=t)
            check(labels == [t], "%s label values of 'who': %s", t, labels)
            jobs = H.get_json_list(srv, "/loki/api/v1/label/job/values", {"start": str(lo), "end": str(hi)}, tenant=t)
            check(jobs == sorted(["iso", "iso-%s" % t]), "%s job values: %s", t, jobs)
            series = H.get_json_list(srv, "/loki/api/v1/series",
                                     {"start": str(lo), "end": str(hi), "match[]": '{job=~"iso.*"}'}, tenant=t)
            want = sorted(tuple(sorted(H.with_service_name(s.labels).items())) for s in streams[t])
            check(sorted(tuple(sorted(s.items())) for s in series) == want, "%s series: %s", t, series)
        got = H.fetch_all(srv, '{job=~"iso.*"}', lo, hi, tenant="tenant-c")
        check(got == [], "tenant-c (never pushed) sees %d entries", len(got))
        labels = H.get_json_list(srv, "/loki/api/v1/labels", {"start": str(lo), "end": str(hi)}, tenant="tenant-c")
        check(labels == [], "tenant-c sees labels %s", labels)
    with suite.case("auth enabled: push with several org ids is 400"):
        r = H.push(srv, bad_streams("multi"), "json", tenant="tenant-a|tenant-b")
        check(r.status == 400, "answered %d, want 400: %s", r.status, H.short(r.body))
        for t in ("tenant-a", "tenant-b"):
            got = H.fetch_all(srv, '{job="multi"}', lo, hi, tenant=t)
            check(got == [], "push with 'a|b' stored %d entries for %s", len(got), t)
    with suite.case("auth enabled: isolation survives a restart"):
        srv.stop()
        srv.start()
        for t in ("tenant-a", "tenant-b"):
            got = H.fetch_all(srv, '{job=~"iso.*"}', lo, hi, tenant=t)
            H.check_entries(streams[t], got, "%s after restart" % t)
        srv.stop()


def discarded(srv, reason):
    """(lines, bytes) noa_discarded_* counts for tenant fake and this reason."""
    m = H.parse_metrics(srv.get("/metrics").text)
    def one(name):
        return sum(v for lb, v in m.get(name, []) if lb.get("reason") == reason and lb.get("tenant") == "fake")
    return one("noa_discarded_samples_total"), one("noa_discarded_bytes_total")


def limit_cases(suite):
    """A push refused by a limit (429) stores nothing and counts every line it
    carried as discarded with the limit's reason, as Loki's distributor does."""
    tmp = H.make_tempdir("bad-limits")
    port = H.free_port()
    cfg = H.make_config(os.path.join(tmp, "data"), port,
                        limits={"ingestion_rate_mb": 0.01, "ingestion_burst_size_mb": 0.01,
                                "max_global_streams_per_user": 2})
    srv = H.Server("bad-limits", cfg, workdir=tmp)
    now = H.now_ns()
    lo, hi = now - 3600 * H.NS, now + 600 * H.NS
    with suite.case("limits: start"):
        srv.start()
    with suite.case("limits: over the tenant rate is 429, every line discarded as rate_limited"):
        lines = [entry(now - 60 * H.NS + i, "R" * 1000) for i in range(20)]
        r = H.push(srv, [Stream({"job": "rate"}, lines)], "snappy")
        check(r.status == 429, "20 KB push over a 10 KB burst answered %d: %s", r.status, H.short(r.body))
        n, b = discarded(srv, "rate_limited")
        # bytes are the lines plus their structured metadata (detected_level added on push)
        check(n == 20 and 20 * 1000 <= b <= 20 * 1100, "rate_limited discards: %d lines, %d bytes; want 20, ~20000",
              n, b)
        check(H.fetch_all(srv, '{job="rate"}', lo, hi) == [], "a refused push stored entries")
    with suite.case("limits: a third stream over max_global_streams_per_user is 429 stream_limit"):
        for i in range(2):
            H.push_ok(srv, [Stream({"job": "sl", "n": str(i)}, [entry(now - 30 * H.NS, "ok %d" % i)])], "json")
        r = H.push(srv, [Stream({"job": "sl", "n": "2"}, [entry(now - 29 * H.NS, "third"),
                                                          entry(now - 28 * H.NS, "third again")])], "json")
        check(r.status == 429, "third stream answered %d: %s", r.status, H.short(r.body))
        n, b = discarded(srv, "stream_limit")
        want = len("third") + len("third again")
        check(n == 2 and want <= b <= want + 2 * 64, "stream_limit discards: %d lines, %d bytes", n, b)
    with suite.case("limits: stop"):
        srv.stop()


def body(suite):
    tmp = H.make_tempdir("bad")
    port = H.free_port()
    cfg = H.make_config(os.path.join(tmp, "data"), port, ingester=H.SMALL_CHUNKS,
                        extra={"distributor": {"max_recv_msg_size": MAX_RECV, "max_decompressed_size": MAX_DECOMP}})
    srv = H.Server("bad", cfg, workdir=tmp)
    st = State(srv)
    with suite.case("start and push a baseline"):
        srv.start()
        now = H.now_ns()
        base = [Stream({"job": "base", "n": str(i)}, [entry(now - 120 * H.NS + i * 1000 + k, "baseline %d/%d" % (i, k))
                                                      for k in range(20)]) for i in range(3)]
        H.push_ok(srv, base, "snappy")
        st.snap = st.snapshot()
        check(sum(st.snap["entries"].values()) == 60, "baseline: %d entries stored, want 60",
              sum(st.snap["entries"].values()))
        H.check_entries(base, list(st.snap["entries"].elements()), "baseline")
    if not srv.alive():
        return
    wire_cases(suite, st)
    bomb_cases(suite, st)
    partial_cases(suite, st)
    auth_disabled_cases(suite, st)
    with suite.case("graceful stop after bad input"):
        srv.stop()
    auth_enabled_cases(suite)
    limit_cases(suite)


if __name__ == "__main__":
    H.main("bad_input", body)
