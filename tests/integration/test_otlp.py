"""
OTLP log ingestion (POST /otlp/v1/logs) as Loki 3.x does it.

Real clients first: the OpenTelemetry JS SDK's two OTLP/HTTP log exporters
(tests/npm/otlp.js: exporter-logs-otlp-proto, and exporter-logs-otlp-http
with gzip) emit records that must come back through query_range with the
exact stream labels and structured metadata Loki produces (with
categorize-labels, and merged into the labels without it). Then bodies
built here: protobuf with every AnyValue kind (plain and gzip) and OTLP
JSON; malformed bodies (4xx with a google.rpc.Status message, nothing
stored, the server keeps serving); and the push limits (too old, line too
long) with Loki's partial acceptance.

Runs on the main thread; starts one noa-server on a free loopback port and
node twice. Needs tests/npm/node_modules (`make npm-deps`).
"""

import gzip
import json
import os
import secrets
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check  # noqa: E402

NPM_DIR = os.path.join(H.SRC, "tests", "npm")
PATH = "/otlp/v1/logs"
MAX_LINE = 2000
CATEGORIZE = {"X-Loki-Response-Encoding-Flags": "categorize-labels"}

# ---------------------------------------------------------------------------
# A small OTLP protobuf encoder (opentelemetry/proto logs v1)


# The PushRequest encoder's field helpers serve OTLP as well.
f_len = H.pb_bytes
f_varint = H.pb_uint


def f_fixed64(field, n):
    return H.pb_tag(field, 1) + struct.pack("<Q", n)


def f_fixed32(field, n):
    return H.pb_tag(field, 5) + struct.pack("<I", n)


def any_value(v):
    """Python value -> AnyValue bytes: str, bool, int, float, bytes, list, dict."""
    if isinstance(v, bool):
        return f_varint(2, int(v))
    if isinstance(v, str):
        return f_len(1, v)
    if isinstance(v, int):
        return f_varint(3, v)
    if isinstance(v, float):
        return f_fixed64(4, struct.unpack("<Q", struct.pack("<d", v))[0])
    if isinstance(v, bytes):
        return f_len(7, v)
    if isinstance(v, list):
        return f_len(5, b"".join(f_len(1, any_value(x)) for x in v))
    if isinstance(v, dict):
        return f_len(6, b"".join(f_len(1, key_value(k, x)) for k, x in v.items()))
    raise TypeError(type(v))


def key_value(k, v):
    return f_len(1, k) + f_len(2, any_value(v))


def log_record(rec):
    b = b""
    if rec.get("time"):
        b += f_fixed64(1, rec["time"])
    if rec.get("observed"):
        b += f_fixed64(11, rec["observed"])
    if rec.get("severity"):
        b += f_varint(2, rec["severity"])
    if rec.get("severity_text"):
        b += f_len(3, rec["severity_text"])
    if "body" in rec:
        b += f_len(5, any_value(rec["body"]))
    for k, v in rec.get("attrs", {}).items():
        b += f_len(6, key_value(k, v))
    if rec.get("flags"):
        b += f_fixed32(8, rec["flags"])
    if rec.get("trace_id"):
        b += f_len(9, bytes.fromhex(rec["trace_id"]))
    if rec.get("span_id"):
        b += f_len(10, bytes.fromhex(rec["span_id"]))
    return b


def export_request(resources):
    """[(resource_attrs, scope_name, scope_version, [records])] -> bytes."""
    out = b""
    for attrs, sname, sver, recs in resources:
        res = b"".join(f_len(1, key_value(k, v)) for k, v in attrs.items())
        scope = (f_len(1, sname) if sname else b"") + (f_len(2, sver) if sver else b"")
        sl = f_len(1, scope) + b"".join(f_len(2, log_record(r)) for r in recs)
        out += f_len(1, f_len(1, res) + f_len(2, sl))
    return out


def status_message(body):
    """The message of a protobuf google.rpc.Status (field 2)."""
    i = 0
    msg = None
    while i < len(body):
        key = body[i]
        i += 1
        check(key in (0x08, 0x12), "unexpected Status field tag 0x%02x in %r", key, H.short(body))
        n, shift = 0, 0
        while True:
            c = body[i]
            i += 1
            n |= (c & 0x7F) << shift
            shift += 7
            if c < 0x80:
                break
        if key == 0x12:
            msg = body[i:i + n].decode("utf-8", "replace")
            i += n
    check(msg is not None, "no message in Status body %r", H.short(body))
    return msg


def post(srv, body, ctype="application/x-protobuf", enc=None):
    h = {"Content-Type": ctype}
    if enc:
        h["Content-Encoding"] = enc
    return srv.request("POST", PATH, body=body, headers=h)


def post_ok(srv, body, **kw):
    r = post(srv, body, **kw)
    check(r.status == 204, "OTLP push answered %d, want 204: %s", r.status, H.short(r.body))
    return r


def post_fail(srv, body, status, needle, **kw):
    r = post(srv, body, **kw)
    check(r.status == status, "answered %d, want %d: %s", r.status, status, H.short(r.body))
    check(r.headers.get("content-type") == "application/octet-stream",
          "error Content-Type %r", r.headers.get("content-type"))
    msg = status_message(r.body)
    check(needle in msg, "error message %r lacks %r", msg, needle)
    return msg


# ---------------------------------------------------------------------------
# Reading back


def entries(srv, query, t0, t1, categorize):
    """[(stream labels, ts, line, structured metadata or None)]."""
    j = H.query_range(srv, query, t0, t1, limit=1000, headers=CATEGORIZE if categorize else None)
    out = []
    for st in j["data"]["result"]:
        for v in st["values"]:
            meta = None
            if categorize:
                check(len(v) == 3 and isinstance(v[2], dict), "value %r lacks its metadata object", v)
                meta = v[2].get("structuredMetadata", {})
            out.append((st["stream"], int(v[0]), v[1], meta))
    return sorted(out, key=lambda e: e[1])


def check_entry(got, labels, ts, line, meta, what):
    g_labels, g_ts, g_line, g_meta = got
    check(g_labels == labels, "%s: labels %s, want %s", what, g_labels, labels)
    check(g_ts == ts, "%s: ts %d, want %d", what, g_ts, ts)
    check(g_line == line, "%s: line %r, want %r", what, g_line, line)
    check(list(g_meta.items()) == list(meta.items()),
          "%s: metadata\n  got  %s\n  want %s", what, g_meta, meta)


SDK_META = [("telemetry_sdk_language", "nodejs"), ("telemetry_sdk_name", "opentelemetry"),
            ("telemetry_sdk_version", "1.30.1")]


def expected_npm(mode, marker, base):
    """What Loki stores for otlp.js's three records, oldest first."""
    labels = {"k8s_namespace_name": "ns-" + marker, "service_name": "noa-otlp-" + mode}
    res = SDK_META + [("custom_marker", marker), ("custom_count", "3"),
                      ("scope_name", "noa.otlp.test"), ("scope_version", "1.2.3")]
    first = [("http_method", "GET"), ("http_status_code", "200"), ("ratio", "0.5"), ("ok", "true"),
             ("ids", "[1,2,3]"), ("user_id", "u1"), ("user_tier_level", "2"),
             ("observed_timestamp", str(base + 1001)), ("severity_number", "9"),
             ("severity_text", "INFO"), ("flags", "1"),
             ("trace_id", "5b8efff798038103d269b633813fc60c"), ("span_id", "eee19b7ec3c1b174")]
    second = [("error_type", "Timeout"), ("observed_timestamp", str(base + 1002)),
              ("severity_number", "17"), ("severity_text", "ERROR")]
    third = [("observed_timestamp", str(base + 1003)), ("severity_number", "13")]
    return labels, [
        (base + 1, marker + ' first ünïcödé "quoted"', dict(first + res + [("detected_level", "info")])),
        (base + 2, marker + " second", dict(second + res + [("detected_level", "error")])),
        (base + 3, '{"html":"\\u003cb\\u003e\\u0026","msg":"%s third","n":7}' % marker,
         dict(third + res + [("detected_level", "warn")])),
    ]


def run_node(srv, mode, marker, base, gz):
    node = shutil.which("node") or shutil.which("nodejs")
    check(node, "node is not installed")
    cmd = [node, os.path.join(NPM_DIR, "otlp.js"), "--url", srv.url, "--mode", mode,
           "--marker", marker, "--base-ns", str(base)] + (["--gzip"] if gz else [])
    p = subprocess.run(cmd, cwd=NPM_DIR, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=90)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    print("     node exit %d: %s %s" % (p.returncode, out.strip(), H.short(err.strip(), 600)))
    check(p.returncode == 0, "otlp.js (%s) exited %d:\n%s%s", mode, p.returncode, out, err)


def check_npm(srv, mode, marker, base):
    labels, want = expected_npm(mode, marker, base)
    q = '{k8s_namespace_name="ns-%s"}' % marker
    got = entries(srv, q, base - H.NS, base + H.NS, True)
    check(len(got) == 3, "%s: %d entries back, want 3: %s", mode, len(got), got)
    for g, (ts, line, meta) in zip(got, want):
        check_entry(g, labels, ts, line, meta, mode)
    # Without categorize-labels Loki merges the metadata into the labels.
    plain = entries(srv, q, base - H.NS, base + H.NS, False)
    for g, (ts, line, meta) in zip(plain, want):
        merged = dict(labels)
        merged.update(meta)
        check(g[0] == merged, "%s plain: labels %s, want %s", mode, g[0], merged)
        check(g[2] == line, "%s plain: line %r", mode, g[2])


# ---------------------------------------------------------------------------


def raw_request(marker, base):
    return export_request([
        ({"service.name": "raw-" + marker, "cloud.region": "eu-west-1", "deployment.environment.name": "prod",
          "host.name": "node-1", "process.pid": 4242},
         "raw.scope", "0.1", [
             {"time": base + 1, "observed": base + 9, "severity": 5, "severity_text": "DEBUG",
              "body": "raw %s line" % marker,
              "attrs": {"s": "x", "b": False, "i": -7, "d": 1e21, "small": 1e-7, "by": b"\x00\xff",
                        "arr": ["a", 1, True, 2.5],
                        "kv": {"a": {"b": "deep"}, "n": 1}},
              "flags": 1, "trace_id": "00000000000000000000000000000001",
              "span_id": "0000000000000002"},
             {"observed": base + 2, "body": {"z": 1, "a": [True, "<x>"]}},
             {"time": base + 3, "body": 3.25},
         ]),
    ])


def check_raw(srv, marker, base):
    labels = {"cloud_region": "eu-west-1", "deployment_environment_name": "prod",
              "service_name": "raw-" + marker}
    got = entries(srv, '{service_name="raw-%s"}' % marker, base - H.NS, base + H.NS, True)
    check(len(got) == 3, "%d entries, want 3: %s", len(got), got)
    tail = [("host_name", "node-1"), ("process_pid", "4242"), ("scope_name", "raw.scope"),
            ("scope_version", "0.1")]
    check_entry(got[0], labels, base + 1, "raw %s line" % marker, dict(
        [("s", "x"), ("b", "false"), ("i", "-7"), ("d", "1e+21"), ("small", "1e-7"), ("by", "AP8="),
         ("arr", '["a",1,true,2.5]'), ("kv_a_b", "deep"), ("kv_n", "1"),
         ("observed_timestamp", str(base + 9)), ("severity_number", "5"), ("severity_text", "DEBUG"),
         ("flags", "1"), ("trace_id", "00000000000000000000000000000001"),
         ("span_id", "0000000000000002")] + tail + [("detected_level", "debug")]), "raw record 1")
    # no time_unix_nano: the observed time is the timestamp, and not repeated as metadata
    check_entry(got[1], labels, base + 2, '{"a":[true,"\\u003cx\\u003e"],"z":1}',
                dict(tail + [("detected_level", "unknown")]), "raw record 2")
    check_entry(got[2], labels, base + 3, "3.25", dict(tail + [("detected_level", "unknown")]),
                "raw record 3")


def json_body(marker, base):
    return json.dumps({"resourceLogs": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "json-" + marker}},
            {"key": "k8s.pod.name", "value": {"stringValue": "pod-1"}}]},
        "scopeLogs": [{"scope": {"name": "js"}, "logRecords": [{
            "timeUnixNano": str(base + 5), "observedTimeUnixNano": str(base + 6),
            "severityNumber": 21, "severityText": "FATAL",
            "body": {"stringValue": "json %s line" % marker},
            "attributes": [{"key": "count", "value": {"intValue": "12"}},
                           {"key": "blob", "value": {"bytesValue": "AQI="}}],
            "traceId": "0102030405060708090a0b0c0d0e0f10", "spanId": "1112131415161718"}]}]}]})


def check_json(srv, marker, base):
    got = entries(srv, '{service_name="json-%s"}' % marker, base - H.NS, base + H.NS, True)
    check(len(got) == 1, "%d entries, want 1", len(got))
    check_entry(got[0], {"k8s_pod_name": "pod-1", "service_name": "json-" + marker}, base + 5,
                "json %s line" % marker, dict([
                    ("count", "12"), ("blob", "AQI="), ("observed_timestamp", str(base + 6)),
                    ("severity_number", "21"), ("severity_text", "FATAL"),
                    ("trace_id", "0102030405060708090a0b0c0d0e0f10"), ("span_id", "1112131415161718"),
                    ("scope_name", "js"), ("detected_level", "fatal")]), "json record")


def count(srv, query, t0, t1):
    return len(entries(srv, query, t0, t1, False))


def body(suite):
    with suite.case("npm OpenTelemetry exporters installed (make npm-deps)"):
        for mod in ("@opentelemetry/sdk-logs", "@opentelemetry/exporter-logs-otlp-proto",
                    "@opentelemetry/exporter-logs-otlp-http"):
            check(os.path.isdir(os.path.join(NPM_DIR, "node_modules", mod)),
                  "%s/node_modules/%s missing: run `make npm-deps`", NPM_DIR, mod)
    npm_ok = not suite.failed
    tmp = H.make_tempdir("otlp")
    port = H.free_port()
    srv = H.Server("otlp", H.make_config(os.path.join(tmp, "data"), port, limits={
        "max_line_size": MAX_LINE, "reject_old_samples": True,
        "reject_old_samples_max_age": "1h"}), workdir=tmp)
    with suite.case("start"):
        srv.start()
    if suite.failed and not npm_ok and not srv.alive():
        return
    run = secrets.token_hex(3)
    if npm_ok:
        for mode, gz in (("proto", False), ("json", True)):
            with suite.case("OpenTelemetry JS %s exporter%s: exact labels and metadata" %
                            (mode, " (gzip)" if gz else "")):
                marker = "%s-%s" % (mode, run)
                base = H.now_ns()
                run_node(srv, mode, marker, base, gz)
                check_npm(srv, mode, marker, base)

    with suite.case("raw protobuf: every AnyValue kind, timestamps, index labels"):
        base = H.now_ns()
        post_ok(srv, raw_request("p" + run, base))
        check_raw(srv, "p" + run, base)
    with suite.case("raw protobuf, gzip"):
        base = H.now_ns()
        post_ok(srv, gzip.compress(raw_request("g" + run, base)), enc="gzip")
        check_raw(srv, "g" + run, base)
    with suite.case("OTLP JSON"):
        base = H.now_ns()
        post_ok(srv, json_body("j" + run, base).encode(), ctype="application/json")
        check_json(srv, "j" + run, base)

    with suite.case("malformed bodies: 4xx with a Status message, nothing stored"):
        t0 = H.now_ns()
        good = raw_request("bad" + run, t0)
        post_fail(srv, good[:-3], 400, "proto:")
        post_fail(srv, b'{"resourceLogs":[', 400, "otlp json", ctype="application/json")
        post_fail(srv, b'{"resourceLogs":{}}', 400, "expected an array", ctype="application/json")
        post_fail(srv, good, 400, "content type: text/plain is not supported", ctype="text/plain")
        post_fail(srv, good, 400, "content type:  is not supported", ctype="")
        post_fail(srv, b"not gzip", 400, "gzip", enc="gzip")
        bad_trace = export_request([({"service.name": "bad" + run}, None, None,
                                     [{"time": t0, "body": "x"}])])
        post_fail(srv, bad_trace + f_len(1, f_len(2, f_len(2, f_len(9, b"\x01\x02")))), 400, "TraceID")
        post_fail(srv, b"", 422, "at least one valid stream")
        check(count(srv, '{service_name="raw-bad%s"}' % run, t0 - H.NS, t0 + H.NS) == 0,
              "a rejected body stored entries")
        check(count(srv, '{service_name="bad%s"}' % run, t0 - H.NS, t0 + H.NS) == 0,
              "a rejected body stored entries")
        r = srv.get("/ready")
        check(r.status == 200, "server not ready after bad bodies: %d", r.status)

    with suite.case("limits as for push: too old and too long rejected, the rest stored (400)"):
        base = H.now_ns()
        old = base - 2 * 3600 * H.NS
        req = export_request([({"service.name": "lim" + run}, None, None, [
            {"time": base, "body": "fine"},
            {"time": old, "body": "too old"},
            {"time": base + 1, "body": "x" * (MAX_LINE + 1)},
        ])])
        msg = post_fail(srv, req, 400, "has timestamp too old")
        check("Max entry size" in msg, "message %r does not name the long line", msg)
        got = entries(srv, '{service_name="lim%s"}' % run, old - H.NS, base + H.NS, False)
        check([g[2] for g in got] == ["fine"], "stored %s, want only the valid entry", got)

    srv.stop()
    port2 = H.free_port()
    tmp2 = H.make_tempdir("otlp-auth")
    auth = H.Server("otlp-auth", H.make_config(os.path.join(tmp2, "data"), port2, auth=True),
                    workdir=tmp2)
    with suite.case("auth_enabled: no X-Scope-OrgID is a 401 Status; tenants stay apart"):
        auth.start()
        base = H.now_ns()
        req = export_request([({"service.name": "t" + run}, None, None, [{"time": base, "body": "a"}])])
        r = auth.request("POST", PATH, body=req, headers={"Content-Type": "application/x-protobuf"})
        check(r.status == 401, "no tenant answered %d, want 401", r.status)
        check("no org id" in status_message(r.body), "401 message %r", status_message(r.body))
        r = auth.request("POST", PATH, body=req, headers={"Content-Type": "application/x-protobuf",
                                                           "X-Scope-OrgID": "team-a"})
        check(r.status == 204, "tenant push answered %d: %s", r.status, H.short(r.body))
        q = '{service_name="t%s"}' % run
        a = H.query_range(auth, q, base - H.NS, base + H.NS, tenant="team-a")
        b = H.query_range(auth, q, base - H.NS, base + H.NS, tenant="team-b")
        check(len(H.result_entries(a)) == 1 and not H.result_entries(b),
              "tenant isolation: team-a %s, team-b %s", a, b)
        auth.stop()


if __name__ == "__main__":
    H.main("otlp", body)
