"""
Live tail, GET /loki/api/v1/tail, against Loki 3.x's behaviour: the
websocket upgrade (malformed handshakes answered 400 as gorilla/websocket
does), parameter errors before the upgrade, the initial batch (the newest
`limit` entries since `start`, oldest first), live entries within a second
of their acknowledged push, filtering by selector and pipeline (|= and
| json | level="error"), a slow follower getting dropped_entries while the
server's memory stays bounded, pings, garbage frames closing only their
connection, max_concurrent_tail_requests, a metric query refused with
close code 1011, and SIGTERM closing tails cleanly.

The websocket client is written here with the standard library only
(RFC 6455 client framing: masked frames out, unmasked frames in). Runs on
the main thread; starts two noa-servers on free loopback ports.
"""

import base64
import hashlib
import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check, entry, Stream  # noqa: E402

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 1, 2, 8, 9, 10


class Closed(Exception):
    """The server closed the connection."""


class WS:
    """A minimal websocket client. connect() returns (status, headers, body)
    for a refused handshake, or None once upgraded."""

    def __init__(self, port, rcvbuf=None):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""
        self.close_code = None
        self.close_reason = None
        self.pings = 0

    def raw_handshake(self, path, headers):
        head = "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (path, self.port)
        for k, v in headers:
            head += "%s: %s\r\n" % (k, v)
        self.sock.sendall((head + "\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise Closed("EOF in response head")
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        body = b""
        if status != 101:
            n = int(hdrs.get("content-length", "0"))
            while len(self.buf) < n:
                d = self.sock.recv(65536)
                if not d:
                    break
                self.buf += d
            body, self.buf = self.buf[:n], self.buf[n:]
        return status, hdrs, body

    def connect(self, path, headers=()):
        key = base64.b64encode(os.urandom(16)).decode()
        hs = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
              ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")] + list(headers)
        status, hdrs, body = self.raw_handshake(path, hs)
        if status != 101:
            return status, hdrs, body
        want = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        check(hdrs.get("sec-websocket-accept") == want, "accept %r, want %r", hdrs.get("sec-websocket-accept"), want)
        return None

    def send_frame(self, opcode, payload=b"", fin=True, mask=True):
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        mbit = 0x80 if mask else 0
        if n < 126:
            hdr = struct.pack("!BB", b0, mbit | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", b0, mbit | 126, n)
        else:
            hdr = struct.pack("!BBQ", b0, mbit | 127, n)
        if mask:
            m = os.urandom(4)
            payload = bytes(b ^ m[i % 4] for i, b in enumerate(payload))
            hdr += m
        self.sock.sendall(hdr + payload)

    def _need(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("no frame in time")
            self.sock.settimeout(left)
            d = self.sock.recv(1 << 20)
            if not d:
                raise Closed("EOF")
            self.buf += d

    def recv_frame(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        self._need(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        check(not (b1 & 0x80), "server frame is masked")
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4, deadline)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10, deadline)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n, deadline)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        check(b0 & 0x80, "fragmented server frame")
        return b0 & 0x0F, payload

    def recv_msg(self, timeout=5.0):
        """The next text message as JSON (pings answered, counted); raises
        Closed on a close frame (code and reason kept)."""
        deadline = time.monotonic() + timeout
        while True:
            op, p = self.recv_frame(max(0.01, deadline - time.monotonic()))
            if op == OP_PING:
                self.pings += 1
                self.send_frame(OP_PONG, p)
                continue
            if op == OP_CLOSE:
                self.close_code = struct.unpack("!H", p[:2])[0] if len(p) >= 2 else 1005
                self.close_reason = p[2:].decode()
                raise Closed("close frame %s %r" % (self.close_code, self.close_reason))
            check(op == OP_TEXT, "opcode %d, want text", op)
            return json.loads(p)

    def entries_until(self, want, timeout=3.0):
        """Reads messages until `want` entries arrived; returns
        [(labels, ts, line)] and the dropped_entries seen."""
        got, dropped = [], []
        deadline = time.monotonic() + timeout
        while len(got) < want:
            m = self.recv_msg(max(0.01, deadline - time.monotonic()))
            check_message_shape(m)
            for s in m.get("streams", []):
                for ts, line in s["values"]:
                    got.append((s["stream"], int(ts), line))
            dropped += m.get("dropped_entries", [])
        return got, dropped

    def expect_close(self, timeout=5.0):
        """Waits for the server's close frame; returns (code, reason)."""
        try:
            while True:
                self.recv_msg(timeout)
        except Closed:
            pass
        return self.close_code, self.close_reason

    def wait_eof(self, timeout=5.0):
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
            return True
        except OSError:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def check_message_shape(m):
    check(set(m) <= {"streams", "dropped_entries"}, "message keys %s", sorted(m))
    for s in m.get("streams", []):
        check(set(s) == {"stream", "values"}, "stream keys %s", sorted(s))
        check(len(s["values"]) == 1, "Loki sends one entry per stream object, got %d", len(s["values"]))
        ts, line = s["values"][0]
        check(isinstance(ts, str) and ts.isdigit(), "timestamp %r is not a ns string", ts)
        check(isinstance(line, str), "line %r", line)
    for d in m.get("dropped_entries", []):
        check(set(d) == {"labels", "timestamp"}, "dropped entry keys %s", sorted(d))
        check(d["timestamp"].isdigit(), "dropped timestamp %r", d["timestamp"])


def allocated(srv):
    """noa's own count of allocated bytes (/metrics), which unlike RSS
    means the same under ASan."""
    m = H.parse_metrics(srv.get("/metrics").text)
    return H.metric_sum(m, "^noa_memory_allocated_bytes$")[0]


def tail_path(query, **params):
    import urllib.parse
    p = {"query": query}
    p.update({k: str(v) for k, v in params.items()})
    return "/loki/api/v1/tail?" + urllib.parse.urlencode(p)


def open_tail(port, query, rcvbuf=None, headers=(), **params):
    ws = WS(port, rcvbuf=rcvbuf)
    refused = ws.connect(tail_path(query, **params), headers)
    check(refused is None, "tail refused: %r", refused)
    return ws


def cases(suite):
    tmp = H.make_tempdir("tail")
    port = H.free_port()
    srv = H.Server("tail", H.make_config(os.path.join(tmp, "data"), port,
                                         limits={"max_concurrent_tail_requests": 4,
                                                 "ingestion_rate_mb": 1024, "ingestion_burst_size_mb": 1024,
                                                 "per_stream_rate_limit": "1GB",
                                                 "per_stream_rate_limit_burst": "1GB"}), workdir=tmp)
    srv.start()
    now = H.now_ns()

    with suite.case("malformed handshakes get gorilla's 400"):
        base = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")]
        bad = {
            "no version": base,
            "version 8": base + [("Sec-WebSocket-Version", "8")],
            "no upgrade": [x for x in base if x[0] != "Upgrade"] + [("Sec-WebSocket-Version", "13")],
            "no connection": [x for x in base if x[0] != "Connection"] + [("Sec-WebSocket-Version", "13")],
            "short key": [x for x in base if x[0] != "Sec-WebSocket-Key"] +
                         [("Sec-WebSocket-Key", "c2hvcnQ="), ("Sec-WebSocket-Version", "13")],
            "no key": [x for x in base if x[0] != "Sec-WebSocket-Key"] + [("Sec-WebSocket-Version", "13")],
        }
        for what, hs in bad.items():
            ws = WS(port)
            status, hdrs, body = ws.raw_handshake(tail_path('{job="x"}'), hs)
            ws.close()
            check(status == 400, "%s: status %d, want 400", what, status)
            check(body == b"Bad Request\n", "%s: body %r", what, body)
            check(hdrs.get("sec-websocket-version") == "13", "%s: Sec-Websocket-Version %r", what,
                  hdrs.get("sec-websocket-version"))
        check(srv.get("/ready").status == 200, "server unhealthy after bad handshakes")

    with suite.case("bad parameters are 400s before the upgrade"):
        for params, want in (
            ({"delay_for": "6"}, "delay_for can't be greater than 5"),
            ({"delay_for": "x"}, 'strconv.ParseUint: parsing "x": invalid syntax'),
            ({"limit": "0"}, None),
        ):
            ws = WS(port)
            r = ws.connect(tail_path('{job="x"}', **params))
            ws.close()
            check(r is not None and r[0] == 400, "%s: %r, want 400", params, r)
            if want:
                check(r[2].decode().strip() == want, "%s: body %r, want %r", params, r[2], want)
        ws = WS(port)
        r = ws.connect(tail_path('{job="x"'))
        ws.close()
        check(r is not None and r[0] == 400 and b"parse error" in r[2], "bad query: %r", r)

    with suite.case("initial batch: newest `limit` since start, oldest first"):
        old = Stream({"job": "hist"}, [entry(now - 2 * 3600 * H.NS, "too old")])
        s = Stream({"job": "hist", "pod": "a"}, [entry(now - (60 - i) * H.NS, "hist %d" % i) for i in range(10)])
        other = Stream({"job": "other"}, [entry(now - 30 * H.NS, "other")])
        H.push_ok(srv, [old, s, other])
        ws = open_tail(port, '{job="hist"}', limit=4)
        got, dropped = ws.entries_until(4)
        check([g[2] for g in got] == ["hist 6", "hist 7", "hist 8", "hist 9"], "got %s", [g[2] for g in got])
        # detected_level: Loki 3's structured metadata shows among the labels
        check(got[0][0] == {"job": "hist", "pod": "a", "service_name": "hist", "detected_level": "unknown"},
              "labels %s", got[0][0])
        check(got[0][1] == now - 54 * H.NS, "ts %d", got[0][1])
        check(not dropped, "dropped %s", dropped)
        ws.close()
        # default start is now - 1h: the 2h-old line is not sent, 11 others are
        ws = open_tail(port, '{job="hist"}')
        got, _ = ws.entries_until(10)
        check(len(got) == 10 and "too old" not in [g[2] for g in got], "got %s", [g[2] for g in got])
        try:
            extra = ws.recv_msg(0.5)
            check(False, "unexpected message %s", extra)
        except (socket.timeout, TimeoutError):
            pass
        ws.close()

    with suite.case("live entries arrive within a second of the push"):
        ws = open_tail(port, '{job="live"}')
        time.sleep(0.2)
        for k in range(3):
            t = H.now_ns()
            H.push_ok(srv, [Stream({"job": "live"}, [entry(t, "live %d a" % k), entry(t + 1, "live %d b" % k)])])
            acked = time.monotonic()
            got, _ = ws.entries_until(2, timeout=1.0)
            lat = time.monotonic() - acked
            check(lat < 1.0, "latency %.3fs", lat)
            check([g[2] for g in got] == ["live %d a" % k, "live %d b" % k], "got %s", got)
            check(got[0][1] == t and got[1][1] == t + 1, "timestamps %s", got)
        # another stream does not reach it
        H.push_ok(srv, [Stream({"job": "elsewhere"}, [entry(H.now_ns(), "nope")])])
        t = H.now_ns()
        H.push_ok(srv, [Stream({"job": "live"}, [entry(t, "after")])])
        got, _ = ws.entries_until(1, timeout=1.0)
        check(got[0][2] == "after", "got %s", got)
        ws.close()
        # delay_for holds entries until their time plus the delay has passed
        ws = open_tail(port, '{job="delayed"}', delay_for=1)
        time.sleep(0.2)
        H.push_ok(srv, [Stream({"job": "delayed"}, [entry(H.now_ns(), "late")])])
        acked = time.monotonic()
        got, _ = ws.entries_until(1, timeout=3.0)
        lat = time.monotonic() - acked
        check(got[0][2] == "late" and 0.8 <= lat < 1.6, "delay_for=1: %s after %.2fs", got, lat)
        ws.close()

    with suite.case("pipeline filters: |= and | json | level=\"error\""):
        a = open_tail(port, '{job="pipe"} |= "boom"')
        b = open_tail(port, '{job="pipe"} | json | level="error"')
        time.sleep(0.2)
        t = H.now_ns()
        lines = ['{"level":"info","msg":"ok"}', '{"level":"error","msg":"boom"}',
                 '{"level":"error","msg":"bad"}', 'plain boom']
        H.push_ok(srv, [Stream({"job": "pipe"}, [entry(t + i, ln) for i, ln in enumerate(lines)])])
        got, _ = a.entries_until(2, timeout=1.0)
        check([g[2] for g in got] == [lines[1], lines[3]], "|= got %s", got)
        got, _ = b.entries_until(2, timeout=1.0)
        check([g[2] for g in got] == [lines[1], lines[2]], "json got %s", got)
        check(got[0][0].get("level") == "error" and got[0][0].get("msg") == "boom", "parsed labels %s", got[0][0])
        a.close()
        b.close()

    with suite.case("legacy /api/prom/tail: its message format, and regexp"):
        import urllib.parse
        ws = WS(port)
        r = ws.connect("/api/prom/tail?" + urllib.parse.urlencode({"query": '{job="legacy"}', "regexp": "b$"}))
        check(r is None, "refused %r", r)
        time.sleep(0.2)
        t = 1700000000123456789 + (H.now_ns() // H.NS - 1700000000) * H.NS
        H.push_ok(srv, [Stream({"job": "legacy"}, [entry(t, "a"), entry(t + 1, "b")])])
        m = ws.recv_msg(1.0)
        check(set(m) == {"streams"}, "keys %s", sorted(m))
        check(len(m["streams"]) == 1, "streams %s", m)
        st = m["streams"][0]
        check(st["labels"] == '{detected_level="unknown", job="legacy", service_name="legacy"}', "labels %r", st["labels"])
        check(len(st["entries"]) == 1 and st["entries"][0]["line"] == "b", "entries %s", st["entries"])
        ts = st["entries"][0]["ts"]
        check(ts.endswith(".12345679Z") and "T" in ts, "ts %r, want RFC3339Nano of %d", ts, t + 1)
        ws.close()

    with suite.case("the server pings every second; a client close is clean"):
        ws = open_tail(port, '{job="ping"}')
        t0 = time.monotonic()
        while ws.pings < 2 and time.monotonic() - t0 < 4:
            try:
                ws.recv_msg(0.5)
            except (socket.timeout, TimeoutError):
                pass
        check(ws.pings >= 2, "%d pings in %.1fs", ws.pings, time.monotonic() - t0)
        ws.send_frame(OP_CLOSE, struct.pack("!H", 1000))
        code, _ = ws.expect_close()
        check(code == 1000, "close echo %s", code)
        check(ws.wait_eof(), "no EOF after the close handshake")
        ws.close()

    with suite.case("slow follower gets dropped_entries; memory stays bounded"):
        slow = open_tail(port, '{job="flood"}', rcvbuf=4096)
        fast = open_tail(port, '{job="flood"}')
        time.sleep(0.2)
        mem0 = allocated(srv)
        line = "x" * 1000
        n_push, per = 150, 200
        fast_got = 0
        for k in range(n_push):
            t = H.now_ns()
            H.push_ok(srv, [Stream({"job": "flood"}, [entry(t + i, "%d %d %s" % (k, i, line)) for i in range(per)])])
            # the fast follower keeps up
            try:
                while True:
                    m = fast.recv_msg(0.001)
                    fast_got += sum(len(s["values"]) for s in m.get("streams", []))
            except (socket.timeout, TimeoutError):
                pass
        mem1 = allocated(srv)
        total = n_push * per
        deadline = time.monotonic() + 10
        while fast_got < total and time.monotonic() < deadline:
            m = fast.recv_msg(5)
            check(not m.get("dropped_entries"), "the fast follower lost entries")
            fast_got += sum(len(s["values"]) for s in m.get("streams", []))
        check(fast_got == total, "fast follower got %d of %d", fast_got, total)
        grown_mib = (mem1 - mem0) / (1 << 20)
        # 30 MB were pushed: buffers and heads take about 34 MiB with the
        # slow follower's queue bounded (4 MiB), 61 MiB when it is not
        check(grown_mib < 48, "allocated memory grew %.0f MiB while a follower was stuck", grown_mib)
        print("     memory grew %.1f MiB" % grown_mib)
        # now the slow one reads: what it gets plus what was dropped is
        # everything, and dropped_entries says which
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        got_slow, dropped = 0, []
        H.push_ok(srv, [Stream({"job": "flood"}, [entry(H.now_ns(), "last")])])
        deadline = time.monotonic() + 15
        saw_last = False
        while not saw_last and time.monotonic() < deadline:
            m = slow.recv_msg(5)
            check_message_shape(m)
            for s in m.get("streams", []):
                got_slow += 1
                if s["values"][0][1] == "last":
                    saw_last = True
            dropped += m.get("dropped_entries", [])
        check(saw_last, "the slow follower never caught up")
        check(dropped, "no dropped_entries for a follower that did not read %d entries", total)
        check(got_slow < total + 1, "slow follower got everything (%d): nothing was bounded", got_slow)
        check(dropped[0]["labels"] == {"job": "flood", "service_name": "flood", "detected_level": "unknown"},
              "dropped labels %s", dropped[0])
        check(len(dropped) <= total, "dropped %d", len(dropped))
        print("     slow follower: %d received, %d dropped reported" % (got_slow, len(dropped)))
        slow.close()
        fast.close()
        check(srv.get("/ready").status == 200, "server unhealthy")

    with suite.case("garbage frames close that connection only"):
        keep = open_tail(port, '{job="garbage"}')
        for what, frame, want in (
            ("unmasked", lambda w: w.send_frame(OP_TEXT, b"hi", mask=False), 1002),
            ("reserved opcode", lambda w: w.send_frame(3, b"x"), 1002),
            ("oversized", lambda w: w.send_frame(OP_BINARY, b"y" * (1 << 17)), 1009),
            ("raw junk", lambda w: w.sock.sendall(b"\xff" * 64), 1002),
        ):
            ws = open_tail(port, '{job="garbage"}')
            frame(ws)
            code, _ = ws.expect_close()
            check(code == want, "%s: close code %s, want %d", what, code, want)
            check(ws.wait_eof(), "%s: connection not closed", what)
            ws.close()
        check(srv.get("/ready").status == 200, "server unhealthy after garbage")
        t = H.now_ns()
        H.push_ok(srv, [Stream({"job": "garbage"}, [entry(t, "still here")])])
        got, _ = keep.entries_until(1, timeout=1.0)
        check(got[0][2] == "still here", "got %s", got)
        keep.close()

    with suite.case("Loki's errors after the upgrade: close 1011"):
        ws = open_tail(port, 'count_over_time({job="x"}[1m])')
        code, reason = ws.expect_close()
        check(code == 1011 and reason == "only log selector is supported", "metric: %s %r", code, reason)
        ws.close()
        time.sleep(0.2)
        open_ = [open_tail(port, '{job="lim"}') for _ in range(4)]
        ws = open_tail(port, '{job="lim"}')
        code, reason = ws.expect_close()
        check(code == 1011 and reason ==
              "rpc error: code = Code(400) desc = max concurrent tail requests limit exceeded, count > limit (5 > 4)",
              "limit: %s %r", code, reason)
        ws.close()
        for w in open_:
            w.close()
        time.sleep(0.3)
        ws = open_tail(port, '{job="lim"}')  # slots free again
        try:
            m = ws.recv_msg(0.5)
            check(False, "unexpected %s", m)
        except (socket.timeout, TimeoutError):
            pass
        ws.close()

    with suite.case("SIGTERM closes tails cleanly"):
        time.sleep(0.5)  # the previous case's closes reach the server
        tails = [open_tail(port, '{job="bye"}') for _ in range(3)]
        time.sleep(0.2)
        t0 = time.monotonic()
        srv.stop(timeout=10)
        check(time.monotonic() - t0 < 5, "stop took %.1fs", time.monotonic() - t0)
        for w in tails:
            code, _ = w.expect_close(2)
            check(code == 1000, "close code %s %r", code, _)
            check(w.wait_eof(2), "no EOF")
            w.close()


def tenant_cases(suite):
    tmp = H.make_tempdir("tail-auth")
    port = H.free_port()
    srv = H.Server("tail-auth", H.make_config(os.path.join(tmp, "data"), port, auth=True), workdir=tmp)
    srv.start()

    with suite.case("tenants: 401 without org id, isolation, several tenants refused"):
        ws = WS(port)
        r = ws.connect(tail_path('{job="t"}'))
        ws.close()
        check(r is not None and r[0] == 401 and r[2].strip() == b"no org id", "no org id: %r", r)
        a = open_tail(port, '{job="t"}', headers=[("X-Scope-OrgID", "a")])
        time.sleep(0.2)
        t = H.now_ns()
        H.push_ok(srv, [Stream({"job": "t"}, [entry(t, "for b")])], tenant="b")
        H.push_ok(srv, [Stream({"job": "t"}, [entry(t + 1, "for a")])], tenant="a")
        got, _ = a.entries_until(1, timeout=1.0)
        check([g[2] for g in got] == ["for a"], "tenant a got %s", got)
        a.close()
        ws = open_tail(port, '{job="t"}', headers=[("X-Scope-OrgID", "a|b")])
        code, reason = ws.expect_close()
        check(code == 1011 and reason == "Tail not supported for multiple tenants", "a|b: %s %r", code, reason)
        ws.close()
    srv.stop()


def all_cases(suite):
    cases(suite)
    tenant_cases(suite)


if __name__ == "__main__":
    H.main("test_tail", all_cases)
