"""
Shared helpers for noa-server's integration tests (the write path, tested
against Loki 3.x's HTTP contract).

What it owns: the processes it starts (each noa-server runs in its own
process group, with SIGKILL as its parent-death signal, and is killed at exit
whatever happens), the temp directories it makes (removed when every case
passed, kept and named otherwise), and the wire encoders the tests push with:
a small protobuf encoder/decoder for Loki's PushRequest, snappy block format
(python3-snappy), zstd (the `zstd` CLI), JSON, gzip and raw deflate.

Threads: Server.start/stop/kill are called from the main thread (the
parent-death signal follows the thread that forked); the HTTP and encoding
helpers are safe from any thread.

Runs with Debian's /usr/bin/python3, standard library plus python3-snappy.
`python3 noa_harness.py` runs the encoders' self-test.

Environment: NOA_BIN (directory holding noa-server; default <repo>/build/bin),
NOA_SRC (repo root; default two levels up from here), NOA_KEEP_TMP=1 keeps
temp dirs.
"""

import atexit
import collections
import contextlib
import gzip
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import zlib

import snappy

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("NOA_SRC") or os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("NOA_BIN") or os.path.join(SRC, "build", "bin")
KEEP_TMP = os.environ.get("NOA_KEEP_TMP") == "1"

NS = 1_000_000_000


class TestFailure(AssertionError):
    """A behaviour the test expected did not happen."""


def check(cond, msg, *args):
    if not cond:
        raise TestFailure(msg % args if args else msg)


def now_ns():
    return time.time_ns()


def short(b, n=300):
    """A printable prefix of a body, for failure messages."""
    if isinstance(b, (bytes, bytearray)):
        b = bytes(b).decode("utf-8", "replace")
    s = str(b)
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


# ---------------------------------------------------------------------------
# Temp dirs and process bookkeeping

_tempdirs = []
_servers = set()        # started and not yet stopped/killed by the harness
_known_servers = []     # every Server ever made, for failure reports
_reported_dead = set()  # servers whose death was already reported
_servers_lock = threading.Lock()
_keep_tmp = [KEEP_TMP]


def make_tempdir(name):
    d = tempfile.mkdtemp(prefix="noa-it-%s-" % name)
    _tempdirs.append(d)
    return d


_helpers = []  # processes started by spawn()


def spawn(name, cmd, workdir, env=None):
    """Starts a helper program (Prometheus, Alertmanager, noa-shipper...)
    in its own process group, dying with the test (parent-death signal and
    killed at exit); output in <workdir>/<name>.log. p.name is the name."""
    if shutil.which("setpriv"):
        cmd = ["setpriv", "--pdeathsig", "KILL", "--"] + cmd
    with open(os.path.join(workdir, name + ".log"), "wb") as log:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True, cwd=workdir, env=env)
    p.name = name
    _helpers.append(p)
    return p


def _cleanup_at_exit():
    with _servers_lock:
        live = list(_servers)
    for s in live:
        s.kill(quiet=True)
    for p in _helpers:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()
    if _keep_tmp[0]:
        for d in _tempdirs:
            if os.path.exists(d):
                print("kept temp dir: %s" % d)
        return
    for d in _tempdirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup_at_exit)


def _on_term(signum, frame):
    # Turns SIGTERM/SIGINT (CTest timeout, ^C) into a normal exit so atexit
    # stops the servers.
    raise SystemExit(128 + signum)


if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)


def free_port():
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout, what, interval=0.05):
    """Polls cond() until it returns a truthy value; raises after timeout."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = cond()
            if v:
                return v
        except (OSError, http.client.HTTPException) as e:
            last_exc = e
        if time.monotonic() > deadline:
            raise TestFailure("timed out after %.1fs waiting for %s%s" % (
                timeout, what, " (last error: %r)" % last_exc if last_exc else ""))
        time.sleep(interval)


# ---------------------------------------------------------------------------
# YAML writer (configs are small nested dicts; no PyYAML dependency)

_PLAIN = re.compile(r"^[A-Za-z0-9_./:@+-]+$")


def _yaml_scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v)
    if _PLAIN.match(s) and s.lower() not in ("true", "false", "null", "yes", "no", "on", "off", "~"):
        return s
    return json.dumps(s)


def to_yaml(d, indent=0):
    """Block-style YAML for nested dicts/lists of scalars."""
    out = []
    pad = " " * indent
    for k, v in d.items():
        if isinstance(v, dict):
            if not v:
                out.append("%s%s: {}" % (pad, k))
                continue
            out.append("%s%s:" % (pad, k))
            out.append(to_yaml(v, indent + 2))
        elif isinstance(v, (list, tuple)):
            if not v:
                out.append("%s%s: []" % (pad, k))
                continue
            out.append("%s%s:" % (pad, k))
            for item in v:
                if isinstance(item, dict):
                    sub = to_yaml(item, indent + 4).split("\n")
                    sub[0] = pad + "  - " + sub[0].lstrip()
                    out.append("\n".join(sub))
                else:
                    out.append("%s  - %s" % (pad, _yaml_scalar(item)))
        else:
            out.append("%s%s: %s" % (pad, k, _yaml_scalar(v)))
    return "\n".join(out)


def deep_merge(base, over):
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


# Small chunk settings, so that chunks are cut and flushed within seconds.
SMALL_CHUNKS = {
    "chunk_idle_period": "2s",
    "max_chunk_age": "1m",
    "chunk_target_size": 4096,
    "chunk_block_size": 1024,
    "flush_check_period": "200ms",
}


def make_config(data_dir, port, auth=False, ingester=None, limits=None, extra=None):
    """A Loki-shaped config dict for a test server."""
    cfg = {
        "auth_enabled": bool(auth),
        "server": {"http_listen_address": "127.0.0.1", "http_listen_port": port},
        "common": {"path_prefix": data_dir},
        "limits_config": {"max_entries_limit_per_query": 100000},
    }
    if ingester:
        cfg["ingester"] = dict(ingester)
    if limits:
        cfg["limits_config"].update(limits)
    if extra:
        cfg = deep_merge(cfg, extra)
    return cfg


# ---------------------------------------------------------------------------
# HTTP

class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.header_list = headers  # [(name, value)] as received
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise TestFailure("response is not JSON (%s): %s" % (e, short(self.body)))

    def __repr__(self):
        return "<HTTP %d %s>" % (self.status, short(self.body, 200))


def http_request(host, port, method, path, body=None, headers=None, timeout=30.0):
    """One request on a fresh connection. Returns a Response for any status
    (4xx/5xx included); raises OSError/HTTPException when the connection
    fails. Adds no Content-Type of its own."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.reason, r.getheaders(), data)
    finally:
        conn.close()


def raw_http_request(host, port, head, body, timeout=30.0, send_chunk=65536):
    """Sends `head` (bytes, the request line and headers up to and including
    the blank line) and `body` while reading the response concurrently, so a
    server that answers early (413 before reading a large body) and closes is
    still heard. Returns a Response, or None when the connection was closed
    without any response."""
    s = socket.create_connection((host, port), timeout=timeout)
    send_err = []

    def sender():
        try:
            s.sendall(head)
            for i in range(0, len(body), send_chunk):
                s.sendall(body[i:i + send_chunk])
        except OSError as e:
            send_err.append(e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    buf = b""
    try:
        while True:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            buf += d
            resp = _parse_raw_response(buf)
            if resp is not None:
                break
    except socket.timeout:
        pass
    finally:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
        t.join(timeout)
    return _parse_raw_response(buf, final=True)


def _parse_raw_response(buf, final=False):
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = buf[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = []
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers.append((k.strip(), v.strip()))
    hd = {k.lower(): v for k, v in headers}
    body = buf[end + 4:]
    if "content-length" in hd:
        n = int(hd["content-length"])
        if len(body) < n and not final:
            return None
        body = body[:n]
    elif not final:
        return None
    return Response(status, reason, headers, body)


# ---------------------------------------------------------------------------
# Servers

class ServerDied(TestFailure):
    pass


class Server:
    """One noa-server over one data directory. The config is written once;
    restarts reuse it (and the port)."""

    def __init__(self, name, config=None, config_path=None, args=(), workdir=None, port=None):
        self.name = name
        self.workdir = workdir or make_tempdir(name)
        self.args = list(args)
        self.port = port
        if config is not None:
            self.port = config["server"]["http_listen_port"]
            self.config = config
            self.config_path = os.path.join(self.workdir, "config.yaml")
            with open(self.config_path, "w") as f:
                f.write(to_yaml(config) + "\n")
        else:
            self.config = None
            self.config_path = config_path
        self.host = "127.0.0.1"
        self.log_path = os.path.join(self.workdir, "server.log")
        self.proc = None
        self.starts = 0
        _known_servers.append(self)

    @property
    def data_dir(self):
        if self.config:
            return self.config["common"]["path_prefix"]
        return None

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def command(self):
        binary = os.path.join(BIN, "noa-server")
        if not os.access(binary, os.X_OK):
            raise TestFailure("noa-server not found at %s (set NOA_BIN to the build's bin/)" % binary)
        cmd = [binary]
        cmd.append("-config.file=" + self.config_path)
        return cmd + self.args

    def start(self, wait=True, timeout=60.0):
        check(self.proc is None or self.proc.poll() is not None, "%s already running" % self.name)
        cmd = self.command()
        if threading.current_thread() is threading.main_thread() and shutil.which("setpriv"):
            # If this test process dies without running atexit (SIGKILL from
            # a harness timeout), the kernel kills the server too.
            cmd = ["setpriv", "--pdeathsig", "KILL", "--"] + cmd
        self.starts += 1
        with open(self.log_path, "ab") as logf:
            logf.write(("=== start #%d: %s\n" % (self.starts, " ".join(cmd))).encode())
            logf.flush()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, cwd=self.workdir,
                                         start_new_session=True)
        with _servers_lock:
            _servers.add(self)
        if wait:
            return self.wait_ready(timeout)
        return 0.0

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=60.0):
        """Polls GET /ready until 200 "ready\\n". Returns seconds waited."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        last = None
        while True:
            if not self.alive():
                with _servers_lock:
                    _servers.discard(self)
                _reported_dead.add(self)
                raise ServerDied("%s exited with code %s before it was ready\n%s" % (
                    self.name, self.proc.returncode if self.proc else None, self.tail()))
            try:
                r = http_request(self.host, self.port, "GET", "/ready", timeout=2.0)
                last = r
                if r.status == 200:
                    check(r.body == b"ready\n", "GET /ready answered 200 with body %r, want 'ready\\n'", r.body)
                    return time.monotonic() - t0
                check(r.status == 503, "GET /ready answered %d (want 503 while starting, 200 when ready): %s",
                      r.status, short(r.body))
            except (OSError, http.client.HTTPException) as e:
                last = e
            if time.monotonic() > deadline:
                raise TestFailure("%s not ready after %.0fs (last: %r)\n%s" % (
                    self.name, timeout, last, self.tail()))
            time.sleep(0.05)

    def _signal(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout=30.0, expect_code=0):
        """Graceful stop (SIGTERM). Returns the exit code; fails if the
        server does not exit in time or exits with another code than
        expect_code (None: any)."""
        if not self.alive():
            rc = self.proc.returncode if self.proc else None
            raise ServerDied("%s was not running at stop (exit code %s)\n%s" % (self.name, rc, self.tail()))
        self._signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.proc.wait()
            raise TestFailure("%s did not exit within %.0fs of SIGTERM\n%s" % (self.name, timeout, self.tail()))
        finally:
            with _servers_lock:
                _servers.discard(self)
        if expect_code is not None:
            check(rc == expect_code, "%s exited with %s after SIGTERM, want %s\n%s",
                  self.name, rc, expect_code, self.tail())
        return rc

    def kill(self, quiet=False):
        """SIGKILL: a crash."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal(signal.SIGKILL)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            if not quiet:
                raise
        with _servers_lock:
            _servers.discard(self)

    def restart(self, graceful=True, timeout=60.0):
        if graceful:
            self.stop()
        else:
            self.kill()
        return self.start(timeout=timeout)

    def tail(self, n=60):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - 64 * 1024))
                lines = f.read().decode("utf-8", "replace").splitlines()[-n:]
        except OSError:
            return "(no log)"
        return "--- last %d lines of %s ---\n%s\n--- end ---" % (len(lines), self.log_path, "\n".join(lines))

    def proc_status(self, field):
        """A field of /proc/<pid>/status in KiB (VmRSS, VmHWM)."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for ln in f:
                if ln.startswith(field + ":"):
                    return int(ln.split()[1])
        return None

    # -- HTTP

    def request(self, method, path, body=None, headers=None, params=None, timeout=30.0):
        if params:
            path = path + ("&" if "?" in path else "?") + urllib.parse.urlencode(params, doseq=True)
        return http_request(self.host, self.port, method, path, body, headers, timeout)

    def get(self, path, params=None, headers=None, timeout=30.0):
        return self.request("GET", path, params=params, headers=headers, timeout=timeout)


def all_servers():
    with _servers_lock:
        return list(_servers)


def run_expect_exit(cmd, timeout=30.0):
    """Runs a command that must exit by itself (e.g. a server with a bad
    config). Returns (exit code, stdout, stderr); fails on timeout."""
    if threading.current_thread() is threading.main_thread() and shutil.which("setpriv"):
        cmd = ["setpriv", "--pdeathsig", "KILL", "--"] + list(cmd)
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        raise TestFailure("%s did not exit within %.0fs; stderr:\n%s" % (cmd, timeout, short(err, 2000)))
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


# ---------------------------------------------------------------------------
# Push model

Entry = collections.namedtuple("Entry", "ts line meta")  # meta: tuple of (name, value)


def entry(ts, line, meta=None):
    return Entry(int(ts), line, tuple(meta.items()) if isinstance(meta, dict) else tuple(meta or ()))


class Stream:
    def __init__(self, labels, entries=()):
        # a dict normally; raw label text (str/bytes) for malformed-label tests
        self.labels = labels if isinstance(labels, (str, bytes)) else dict(labels)
        self.entries = list(entries)

    def __repr__(self):
        return "Stream(%s, %d entries)" % (self.labels, len(self.entries))


def _escape_label_value(v):
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def label_string(labels):
    """Prometheus label text, in the given order: {a="1", b="2"}."""
    return "{" + ", ".join('%s="%s"' % (k, _escape_label_value(v)) for k, v in labels.items()) + "}"


# -- protobuf wire format (only what PushRequest needs)

def pb_varint(n):
    if n < 0:
        n += 1 << 64  # int64 negatives are 10-byte two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_tag(field, wire_type):
    return pb_varint(field << 3 | wire_type)


def pb_bytes(field, payload):
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return pb_tag(field, 2) + pb_varint(len(payload)) + payload


def pb_uint(field, n):
    return pb_tag(field, 0) + pb_varint(n)


def pb_timestamp(ts_ns):
    secs, nanos = divmod(ts_ns, NS)  # floor division keeps nanos in [0, 1e9)
    out = b""
    if secs:
        out += pb_uint(1, secs)
    if nanos:
        out += pb_uint(2, nanos)
    return out


def _as_bytes(s):
    return s if isinstance(s, (bytes, bytearray)) else s.encode("utf-8")


def pb_entry(e):
    # proto3 omits empty strings; the timestamp message is always present
    # (gogoproto non-nullable), as Promtail sends it.
    out = pb_bytes(1, pb_timestamp(e.ts))
    line = _as_bytes(e.line)
    if line:
        out += pb_bytes(2, line)
    for name, value in e.meta:
        pair = b""
        if name:
            pair += pb_bytes(1, _as_bytes(name))
        if value:
            pair += pb_bytes(2, _as_bytes(value))
        out += pb_bytes(3, pair)
    return out


def pb_stream(labels, entries):
    lbl = labels if isinstance(labels, (str, bytes)) else label_string(labels)
    out = pb_bytes(1, _as_bytes(lbl))
    for e in entries:
        out += pb_bytes(2, pb_entry(e))
    return out


def encode_push_request(streams):
    """PushRequest bytes for a list of Stream (labels may also be a raw
    label string, for malformed-label tests)."""
    return b"".join(pb_bytes(1, pb_stream(s.labels, s.entries)) for s in streams)


class ProtoError(ValueError):
    pass


def pb_fields(buf):
    """Strict wire-format walk: list of (field, wire_type, value). Rejects
    truncation, bad wire types, over-long varints and field number 0."""
    out = []
    i, n = 0, len(buf)

    def varint():
        nonlocal i
        shift = result = 0
        for _ in range(10):
            if i >= n:
                raise ProtoError("truncated varint")
            b = buf[i]
            i += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
        raise ProtoError("varint too long")

    while i < n:
        key = varint()
        field, wt = key >> 3, key & 7
        if field == 0:
            raise ProtoError("field number 0")
        if wt == 0:
            out.append((field, wt, varint()))
        elif wt == 1:
            if i + 8 > n:
                raise ProtoError("truncated fixed64")
            out.append((field, wt, bytes(buf[i:i + 8])))
            i += 8
        elif wt == 2:
            ln = varint()
            if ln > n - i:
                raise ProtoError("length %d past end" % ln)
            out.append((field, wt, bytes(buf[i:i + ln])))
            i += ln
        elif wt == 5:
            if i + 4 > n:
                raise ProtoError("truncated fixed32")
            out.append((field, wt, bytes(buf[i:i + 4])))
            i += 4
        else:
            raise ProtoError("wire type %d" % wt)
    return out


def _want(wt, want, what):
    if wt != want:
        raise ProtoError("%s: wire type %d, want %d" % (what, wt, want))


def decode_push_request(buf):
    """The inverse of encode_push_request: list of Stream with the label
    string (str) as labels and Entry(ts, line:str|bytes, meta). Strings
    that are not UTF-8 stay bytes."""
    def s(b):
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            return b

    streams = []
    for f, wt, v in pb_fields(buf):
        if f != 1:
            continue
        _want(wt, 2, "PushRequest.streams")
        labels, entries = "", []
        for f2, wt2, v2 in pb_fields(v):
            if f2 == 1:
                _want(wt2, 2, "StreamAdapter.labels")
                labels = s(v2)
            elif f2 == 2:
                _want(wt2, 2, "StreamAdapter.entries")
                ts, line, meta = 0, "", []
                for f3, wt3, v3 in pb_fields(v2):
                    if f3 == 1:
                        _want(wt3, 2, "EntryAdapter.timestamp")
                        secs = nanos = 0
                        for f4, wt4, v4 in pb_fields(v3):
                            if f4 == 1:
                                _want(wt4, 0, "Timestamp.seconds")
                                secs = v4 - (1 << 64) if v4 >= 1 << 63 else v4
                            elif f4 == 2:
                                _want(wt4, 0, "Timestamp.nanos")
                                nanos = v4
                        ts = secs * NS + nanos
                    elif f3 == 2:
                        _want(wt3, 2, "EntryAdapter.line")
                        line = s(v3)
                    elif f3 == 3:
                        _want(wt3, 2, "EntryAdapter.structuredMetadata")
                        name = value = ""
                        for f5, wt5, v5 in pb_fields(v3):
                            if f5 == 1:
                                _want(wt5, 2, "LabelPair.name")
                                name = s(v5)
                            elif f5 == 2:
                                _want(wt5, 2, "LabelPair.value")
                                value = s(v5)
                        meta.append((name, value))
                entries.append(Entry(ts, line, tuple(meta)))
        streams.append(Stream({}, entries))
        streams[-1].label_text = labels
    return streams


# -- compression

def snappy_block(data):
    """Snappy block format (what Loki's snappy.Decode expects)."""
    return snappy.compress(data)


def snappy_unblock(data):
    return snappy.uncompress(data)


def zstd_compress(data, level=3, content_size=True):
    """A zstd frame via the zstd CLI. content_size=False leaves the frame
    content size out of the header (what a streaming compressor writes)."""
    cmd = ["zstd", "-q", "-c", "-%d" % level]
    if content_size:
        cmd.append("--stream-size=%d" % len(data))
    else:
        cmd.append("--no-content-size")
    p = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if p.returncode != 0:
        raise RuntimeError("zstd failed: %s" % p.stderr.decode())
    return p.stdout


def zstd_decompress(data):
    p = subprocess.run(["zstd", "-q", "-d", "-c"], input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, check=False)
    if p.returncode != 0:
        raise ValueError("zstd -d failed: %s" % p.stderr.decode().strip())
    return p.stdout


def gzip_compress(data):
    return gzip.compress(data, compresslevel=6, mtime=0)


def deflate_raw(data, level=6):
    """Raw DEFLATE, no zlib header (Go's compress/flate, what Loki reads
    for Content-Encoding: deflate)."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def inflate_raw(data):
    return zlib.decompress(data, -15)


# -- JSON

def json_push_body(streams, ensure_ascii=False):
    doc = {"streams": []}
    for s in streams:
        values = []
        for e in s.entries:
            v = [str(e.ts), e.line]
            if e.meta:
                v.append(dict(e.meta))
            values.append(v)
        doc["streams"].append({"stream": s.labels, "values": values})
    return json.dumps(doc, ensure_ascii=ensure_ascii, separators=(",", ":")).encode("utf-8")


PUSH_FORMATS = ("json", "json-gzip", "json-deflate", "snappy", "zstd")


def encode_push(streams, fmt):
    """(body, headers) for one of PUSH_FORMATS.
    json: application/json; json-gzip / json-deflate: the same with
    Content-Encoding gzip / deflate (raw); snappy: application/x-protobuf,
    snappy block format, no Content-Encoding (Promtail); zstd:
    application/x-protobuf with Content-Encoding: zstd over the plain
    protobuf (noa's native form)."""
    if fmt == "json":
        return json_push_body(streams), {"Content-Type": "application/json"}
    if fmt == "json-ascii":
        return json_push_body(streams, ensure_ascii=True), {"Content-Type": "application/json"}
    if fmt == "json-gzip":
        return gzip_compress(json_push_body(streams, ensure_ascii=True)), {
            "Content-Type": "application/json", "Content-Encoding": "gzip"}
    if fmt == "json-deflate":
        return deflate_raw(json_push_body(streams)), {
            "Content-Type": "application/json", "Content-Encoding": "deflate"}
    if fmt == "snappy":
        return snappy_block(encode_push_request(streams)), {"Content-Type": "application/x-protobuf"}
    if fmt == "zstd":
        return zstd_compress(encode_push_request(streams)), {
            "Content-Type": "application/x-protobuf", "Content-Encoding": "zstd"}
    raise ValueError("unknown push format %r" % fmt)


def push(srv, streams, fmt="json", tenant=None, headers=None, timeout=30.0):
    body, hdrs = encode_push(streams, fmt)
    if tenant is not None:
        hdrs["X-Scope-OrgID"] = tenant
    if headers:
        hdrs.update(headers)
    return srv.request("POST", "/loki/api/v1/push", body=body, headers=hdrs, timeout=timeout)


def push_raw(srv, body, headers, tenant=None, timeout=30.0):
    hdrs = dict(headers)
    if tenant is not None:
        hdrs["X-Scope-OrgID"] = tenant
    return srv.request("POST", "/loki/api/v1/push", body=body, headers=hdrs, timeout=timeout)


def push_ok(srv, streams, fmt="json", tenant=None):
    r = push(srv, streams, fmt, tenant)
    check(r.status == 204, "push (%s) answered %d, want 204: %s", fmt, r.status, short(r.body))
    return r


# ---------------------------------------------------------------------------
# Queries

Got = collections.namedtuple("Got", "labels ts line")  # labels: tuple of sorted (k, v)


def _tenant_headers(tenant, headers=None):
    h = dict(headers or {})
    if tenant is not None:
        h["X-Scope-OrgID"] = tenant
    return h


def query_range(srv, query, start, end, limit=100, direction="forward", tenant=None, headers=None):
    """GET /loki/api/v1/query_range; returns the decoded JSON, failing on a
    non-200 or a body that is not a streams result."""
    r = srv.get("/loki/api/v1/query_range", params={
        "query": query, "start": str(start), "end": str(end),
        "limit": str(limit), "direction": direction}, headers=_tenant_headers(tenant, headers))
    check(r.status == 200, "query_range %s answered %d: %s", query, r.status, short(r.body))
    j = r.json()
    check(j.get("status") == "success", "query_range status %r", j.get("status"))
    data = j.get("data") or {}
    check(data.get("resultType") == "streams", "resultType %r, want streams", data.get("resultType"))
    check(isinstance(data.get("result"), list), "data.result is %r, want a list", type(data.get("result")))
    return j


def result_entries(j):
    """Flattens a streams result into [Got], in response order; checks the
    shape of every value."""
    out = []
    for st in j["data"]["result"]:
        labels = st.get("stream")
        check(isinstance(labels, dict), "stream labels %r not an object", labels)
        for k, v in labels.items():
            check(isinstance(v, str), "label %s value %r is not a string", k, v)
        key = tuple(sorted(labels.items()))
        vals = st.get("values")
        check(isinstance(vals, list), "values %r not a list", vals)
        for v in vals:
            check(isinstance(v, list) and len(v) == 2, "value %r is not a [ts, line] pair", short(repr(v)))
            check(isinstance(v[0], str) and v[0].isdigit(), "timestamp %r is not a decimal string", v[0])
            check(isinstance(v[1], str), "line %r is not a string", short(repr(v[1])))
            out.append(Got(key, int(v[0]), v[1]))
    return out


def check_stream_order(j, direction):
    """Within each returned stream, values are ordered by time (ascending
    forward, descending backward)."""
    for st in j["data"]["result"]:
        ts = [int(v[0]) for v in st["values"]]
        want = sorted(ts, reverse=(direction == "backward"))
        check(ts == want, "stream %s values not in %s order: %s", st["stream"], direction, ts[:20])


def fetch_all(srv, query, start, end, page=5000, tenant=None, headers=None):
    """Every entry of a selector in [start, end): pages forward, each page
    starting at the last timestamp of the previous one, and removes at that
    boundary the entries (counted as a multiset, so true duplicates still
    show) the previous page already returned."""
    out = []
    cur = start
    carry = collections.Counter()  # entries at timestamp `cur` already taken
    limit = page
    pages = 0
    while True:
        j = query_range(srv, query, cur, end, limit=limit, direction="forward", tenant=tenant, headers=headers)
        got = result_entries(j)
        pages += 1
        check(pages < 100000, "fetch_all: too many pages")
        got.sort(key=lambda g: g.ts)
        if got:
            check(got[0].ts >= cur, "query_range returned ts %d before start %d", got[0].ts, cur)
            check(got[-1].ts < end, "query_range returned ts %d at/after end %d (end is exclusive)", got[-1].ts, end)
        if len(got) >= limit and got[-1].ts == cur:
            # a full page of one timestamp: ask again with a larger page
            check(len(got) == limit, "query_range returned %d entries for limit %d", len(got), limit)
            limit *= 2
            continue
        check(len(got) <= limit, "query_range returned %d entries for limit %d", len(got), limit)
        skip = collections.Counter(carry)
        for g in got:
            k = (g.labels, g.ts, g.line)
            if g.ts == cur and skip[k] > 0:
                skip[k] -= 1
                continue
            out.append(g)
        if len(got) < limit:
            return out
        cur = got[-1].ts
        carry = collections.Counter((g.labels, g.ts, g.line) for g in got if g.ts == cur)
        limit = page


def labels_subset(pushed, got_labels):
    d = dict(got_labels)
    return all(d.get(k) == v for k, v in pushed.items())


SERVICE_NAME_SOURCES = ("service", "app", "application", "app_name", "name", "app_kubernetes_io_name",
                        "container", "container_name", "k8s_container_name", "component", "workload",
                        "job", "k8s_job_name")


def with_service_name(labels):
    """The label set Loki 3.x stores for pushed labels (service_name added
    from the first present source label, else unknown_service)."""
    out = {k: v for k, v in labels.items() if v != ""}
    if "service_name" not in out:
        for k in SERVICE_NAME_SOURCES:
            if out.get(k):
                out["service_name"] = out[k]
                break
        else:
            out["service_name"] = "unknown_service"
    return out


def compare_entries(streams, got, allow_missing=False):
    """Matches returned entries against pushed ones. An entry matches when
    ts and line are equal and the pushed stream labels and the entry's
    structured metadata are a subset of the returned stream labels.
    Returns a list of problems (missing, unexpected, duplicated entries)."""
    want = collections.defaultdict(list)  # (ts, line) -> [[labels, meta, count]]
    for s in streams:
        for e in s.entries:
            want[(e.ts, e.line)].append([s.labels, dict(e.meta), 0])
    problems = []
    for g in got:
        cands = want.get((g.ts, g.line))
        if not cands:
            problems.append("unexpected entry %s ts=%d line=%s" % (dict(g.labels), g.ts, short(repr(g.line), 120)))
            continue
        for c in cands:
            if c[2] == 0 and labels_subset(c[0], g.labels) and labels_subset(c[1], g.labels):
                c[2] = 1
                break
        else:
            if any(labels_subset(c[0], g.labels) and labels_subset(c[1], g.labels) for c in cands):
                problems.append("duplicate entry %s ts=%d line=%s" % (dict(g.labels), g.ts, short(repr(g.line), 120)))
            else:
                problems.append("entry ts=%d line=%s came back with labels %s, pushed with %s" % (
                    g.ts, short(repr(g.line), 120), dict(g.labels), [(c[0], c[1]) for c in cands]))
    if not allow_missing:
        for (ts, line), cands in want.items():
            for c in cands:
                if c[2] == 0:
                    problems.append("missing entry %s meta=%s ts=%d line=%s" % (c[0], c[1], ts, short(repr(line), 120)))
    return problems


def check_entries(streams, got, what):
    problems = compare_entries(streams, got)
    if problems:
        raise TestFailure("%s: %d problem(s):\n  %s" % (what, len(problems), "\n  ".join(problems[:30])))


def get_json_list(srv, path, params, tenant=None):
    """labels / label values / series: returns data as a list (a missing
    data key counts as empty, as Loki omits it when empty)."""
    r = srv.get(path, params=params, headers=_tenant_headers(tenant))
    check(r.status == 200, "GET %s answered %d: %s", path, r.status, short(r.body))
    j = r.json()
    check(j.get("status") == "success", "GET %s status %r", path, j.get("status"))
    data = j.get("data", [])
    if data is None:
        data = []
    check(isinstance(data, list), "GET %s data is %r, want a list", path, type(data))
    return data


# ---------------------------------------------------------------------------
# Metrics

_METRIC_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(\s+\S+)?$')
_LABEL_PAIR = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def parse_metrics(text):
    """Prometheus text exposition -> {name: [(labels dict, float)]}."""
    out = collections.defaultdict(list)
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        m = _METRIC_LINE.match(ln)
        if not m:
            continue
        labels = {}
        if m.group(2):
            for lm in _LABEL_PAIR.finditer(m.group(2)[1:-1]):
                labels[lm.group(1)] = lm.group(2)
        try:
            v = float(m.group(3))
        except ValueError:
            continue
        out[m.group(1)].append((labels, v))
    return out


def metric_sum(metrics, pattern):
    """Sum over every series of every family whose name matches pattern."""
    rx = re.compile(pattern)
    total, names = 0.0, []
    for name, series in metrics.items():
        if rx.search(name):
            names.append(name)
            total += sum(v for _, v in series)
    return total, names


def files_under(d):
    out = []
    for root, _, files in os.walk(d):
        for f in files:
            out.append(os.path.join(root, f))
    return out


# ---------------------------------------------------------------------------
# Test runner

class Suite:
    """Runs named cases, keeps going after a failure, prints one line per
    case and the servers' log tails on failure."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.failures = []

    @contextlib.contextmanager
    def case(self, name):
        t0 = time.monotonic()
        print("---- %s" % name, flush=True)
        try:
            yield
        except Exception as e:  # noqa: BLE001 - every failure is reported, the suite goes on
            self.failed += 1
            self.failures.append(name)
            print("FAIL %s (%.2fs): %s" % (name, time.monotonic() - t0, e), flush=True)
            dead = [x for x in _known_servers if x.proc is not None and x.proc.poll() is not None
                    and x not in _reported_dead]
            if isinstance(e, (OSError, http.client.HTTPException)):
                # connection-level failures: the server is usually gone
                for x in _known_servers:
                    if x.proc is not None and x.proc.poll() is not None:
                        print("     (server %s is not running: exit code %s)" % (x.name, x.proc.returncode))
            elif not isinstance(e, TestFailure):
                traceback.print_exc()
            if not isinstance(e, ServerDied):
                for x in all_servers() + dead:
                    print(x.tail(40))
            _reported_dead.update(dead)
            sys.stdout.flush()
        else:
            self.passed += 1
            print("ok   %s (%.2fs)" % (name, time.monotonic() - t0), flush=True)

    def finish(self):
        if self.failed:
            _keep_tmp[0] = True
            print("FAILED cases: %s" % ", ".join(self.failures))
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 1 if self.failed else 0


def main(name, body):
    """Entry point for a test script: body(suite) runs the cases."""
    suite = Suite(name)
    t0 = time.monotonic()
    rc = 1
    try:
        selftest(quick=True)
        body(suite)
        rc = suite.finish()
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001
        _keep_tmp[0] = True
        print("ABORTED %s: %s" % (name, e), flush=True)
        if not isinstance(e, TestFailure):
            traceback.print_exc()
        for s in all_servers():
            print(s.tail(60))
        suite.failed += 1
        suite.finish()
        rc = 1
    finally:
        for s in all_servers():
            s.kill(quiet=True)
        print("%s: %.1fs" % (name, time.monotonic() - t0), flush=True)
    sys.exit(rc)


# ---------------------------------------------------------------------------
# Self-test of the encoders

def selftest(quick=False):
    """Checks the encoders against independent decoders; raises on any
    mismatch. Cheap enough to run at the start of every test."""
    # varints
    for n in (0, 1, 127, 128, 300, 2**31, 2**63 - 1):
        f = pb_fields(pb_uint(5, n))
        assert f == [(5, 0, n)], (n, f)
    assert pb_varint(300) == b"\xac\x02"
    assert pb_varint(-1) == b"\xff" * 9 + b"\x01"
    # Timestamp: known bytes for 1.5s
    assert pb_timestamp(1_500_000_000) == b"\x08\x01\x10\x80\xca\xb5\xee\x01"
    # a PushRequest round trip, structured metadata and edge lines included
    streams = [
        Stream({"job": "a", "q": 'x"y\\z\nw'}, [
            entry(1_700_000_000_123_456_789, "hello"),
            entry(1_700_000_000_000_000_000, "", {"trace_id": "t1", "u": "ü"}),
            entry(5, "tiny ts"),
        ]),
        Stream({"job": "b"}, [entry(1_700_000_001_000_000_001, "日本語 🚀 " + "x" * 300)]),
    ]
    raw = encode_push_request(streams)
    dec = decode_push_request(raw)
    assert len(dec) == 2
    assert dec[0].label_text == '{job="a", q="x\\"y\\\\z\\nw"}', dec[0].label_text
    assert dec[0].entries == streams[0].entries, (dec[0].entries, streams[0].entries)
    assert dec[1].entries == streams[1].entries
    # truncations inside a length-delimited field must be detected
    for cut in (1, 3, len(raw) // 2, len(raw) - 1):
        try:
            decode_push_request(raw[:cut])
        except ProtoError:
            pass
        else:
            raise AssertionError("truncated protobuf at %d decoded" % cut)
    # snappy block format: starts with the uvarint of the decoded length
    sb = snappy_block(raw)
    assert snappy_unblock(sb) == raw
    assert sb[:len(pb_varint(len(raw)))] == pb_varint(len(raw))
    # JSON
    j = json.loads(json_push_body(streams))
    assert j["streams"][0]["stream"] == streams[0].labels
    assert j["streams"][0]["values"][1] == ["1700000000000000000", "", {"trace_id": "t1", "u": "ü"}]
    assert j["streams"][0]["values"][0] == ["1700000000123456789", "hello"]
    # gzip / deflate
    body = json_push_body(streams)
    assert gzip.decompress(gzip_compress(body)) == body
    assert inflate_raw(deflate_raw(body)) == body
    assert gzip_compress(body)[:2] == b"\x1f\x8b"
    # zstd frames (magic 28 b5 2f fd); with and without content size
    if not quick:
        for cs in (True, False):
            z = zstd_compress(raw, content_size=cs)
            assert z[:4] == b"\x28\xb5\x2f\xfd", z[:4]
            assert zstd_decompress(z) == raw
        # label text
        assert label_string({"a": "1", "b": 'q"'}) == '{a="1", b="q\\""}'
        assert with_service_name({"job": "api"}) == {"job": "api", "service_name": "api"}
        assert with_service_name({"foo": "x"})["service_name"] == "unknown_service"
        assert with_service_name({"app": "a", "job": "j"})["service_name"] == "a"
        # YAML writer
        y = to_yaml({"a": {"b": 1, "c": "2s", "d": True, "e": "x y"}, "f": ["p", "q"]})
        assert y == 'a:\n  b: 1\n  c: 2s\n  d: true\n  e: "x y"\nf:\n  - p\n  - q', y
        # raw_http_request's response parser
        r = _parse_raw_response(b"HTTP/1.1 413 Too Large\r\nContent-Length: 3\r\n\r\nabc", final=True)
        assert r.status == 413 and r.body == b"abc"
        m = parse_metrics('# HELP x_total h\n# TYPE x_total counter\nx_total{a="b",c="d\\"e"} 3\ny 1.5e3\n')
        assert m["x_total"] == [({"a": "b", "c": 'd\\"e'}, 3.0)] and m["y"] == [({}, 1500.0)], m
        # compare_entries: subset matching, duplicate and missing detection
        s = [Stream({"job": "a"}, [entry(1, "x", {"m": "1"}), entry(2, "y")])]
        g = [Got((("detected_level", "unknown"), ("job", "a"), ("m", "1"), ("service_name", "a")), 1, "x"),
             Got((("job", "a"), ("service_name", "a")), 2, "y")]
        assert compare_entries(s, g) == []
        assert len(compare_entries(s, g + [g[1]])) == 1
        assert len(compare_entries(s, g[:1])) == 1
        assert len(compare_entries(s, [Got((("job", "a"),), 1, "x"), g[1]])) == 2  # meta not folded
        _selftest_fetch_all()
    return True


def _selftest_fetch_all():
    """fetch_all against an in-memory query_range (forward, limit, end
    exclusive), with many entries sharing timestamps and one true
    duplicate, for every page size from 1 up."""
    rnd = random.Random(5)
    store = []
    for i in range(40):
        ts = 100 + i // 4  # groups of four share a timestamp
        store.append(((("job", "a" if i % 3 else "b"),), ts, "line %d" % i))
    store.append(store[7])  # a true duplicate must survive paging
    rnd.shuffle(store)

    class FakeSrv:
        def get(self, path, params=None, headers=None, timeout=30.0):
            start, end, limit = int(params["start"]), int(params["end"]), int(params["limit"])
            sel = sorted((e for e in store if start <= e[1] < end), key=lambda e: e[1])[:limit]
            streams = collections.defaultdict(list)
            for lab, ts, line in sel:
                streams[lab].append([str(ts), line])
            body = {"status": "success", "data": {"resultType": "streams", "result": [
                {"stream": dict(k), "values": v} for k, v in streams.items()]}}
            return Response(200, "OK", [], json.dumps(body).encode())

    want = collections.Counter(Got(*e) for e in store if e[1] < 109)
    for page in range(1, 12):
        got = collections.Counter(fetch_all(FakeSrv(), "{}", 0, 109, page=page))
        assert got == want, (page, got - want, want - got)


if __name__ == "__main__":
    selftest(quick=False)
    print("noa_harness self-test: ok")
