"""
noa-logcli against a real noa-server: every command and output mode
compared with the text Loki's logcli prints for the same data (derived
from pkg/logcli/{output,query,labelquery,seriesquery,volume,
detected}: RFC3339 timestamps, common labels on stderr, label padding,
jsonl keys, metric JSON through json.MarshalIndent), paging through
--batch-sized requests over 2,500 lines with runs of equal timestamps in
both directions (every line exactly once, in order), the flags that shape
requests (org id, env address, retries, stats), and the errors: the
server's parse error with exit 1, a server that is down, unknown flags.

Runs on the main thread; starts one noa-server on a free loopback port
(auth on) and runs NOA_BIN/noa-logcli as a subprocess per case.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import Stream, TestFailure, check, entry  # noqa: E402

NS = H.NS
TENANT = "lc"
LOGCLI = os.path.join(H.BIN, "noa-logcli")
PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ")
N_PAGE = 2500
GROUP = 7  # entries sharing one timestamp in the paging data


def run(srv, *args, env=None, stdin=None, addr=True, tenant=TENANT, timeout=60):
    """Runs noa-logcli; returns (exit code, stdout, stderr lines without
    the Go log prefix)."""
    cmd = [LOGCLI]
    if addr:
        cmd += ["--addr", srv.url]
    if tenant:
        cmd += ["--org-id", tenant]
    cmd += list(args)
    e = {k: v for k, v in os.environ.items() if not k.startswith(("LOKI_", "NOA_ADDR"))}
    e["TZ"] = "UTC"
    e.update(env or {})
    p = subprocess.run(cmd, input=(stdin or "").encode(), capture_output=True, env=e,
                       timeout=timeout)
    err = p.stderr.decode("utf-8", "replace").splitlines()
    for line in err:
        if line.startswith("http"):
            raise TestFailure("URL logged without Go's log prefix: %r" % line)
    return p.returncode, p.stdout.decode("utf-8", "replace"), [PREFIX.sub("", x) for x in err]


def ok(srv, *args, **kw):
    rc, out, err = run(srv, *args, **kw)
    check(rc == 0, "logcli %s exited %d: %s", " ".join(args), rc, "\n".join(err)[-2000:])
    return out, err


def meta(err):
    """stderr without the request URLs."""
    return [x for x in err if not x.startswith("http://")]


def rfc3339(sec, off_h=0):
    t = time.gmtime(sec + off_h * 3600)
    s = time.strftime("%Y-%m-%dT%H:%M:%S", t)
    return s + ("Z" if off_h == 0 else "%+03d:00" % off_h)


class Data:
    def __init__(self):
        self.base = time.time_ns() // NS - 600  # seconds
        b = self.base * NS
        self.a = {"job": "app", "env": "prod", "level": "info"}
        self.b = {"job": "app", "env": "prod", "level": "error"}
        self.streams = [
            Stream(self.a, [entry(b + 1 * NS, "one "), entry(b + 3 * NS + 500, "three")]),
            Stream(self.b, [entry(b + 2 * NS, "two <&>")]),
        ]
        # Paging data: two streams, GROUP lines per timestamp, alternating.
        self.pbase = b + 100 * NS
        self.page = [Stream({"job": "page", "s": str(s)}, []) for s in (0, 1)]
        for i in range(N_PAGE):
            self.page[i % 2].entries.append(entry(self.page_ts(i), "page line %04d" % i))

    def page_ts(self, i):
        return self.pbase + (i // GROUP) * 1000

    def range_flags(self):
        return ["--from", rfc3339(self.base), "--to", rfc3339(self.base + 10)]


def output_cases(suite, srv, d):
    f = d.range_flags()
    t1, t2, t3 = (rfc3339(d.base + k) for k in (1, 2, 3))
    common = 'Common labels: {env="prod", job="app", service_name="app"}'
    with suite.case("query: default output, UTC"):
        out, err = ok(srv, "query", '{job="app"}', "-z", "UTC", *f)
        check(out == (
            '%s {detected_level="info", level="info"}   three\n'
            '%s {detected_level="error", level="error"} two <&>\n'
            '%s {detected_level="info", level="info"}   one\n') % (t3, t2, t1), "stdout %r", out)
        check(err[0].startswith(srv.url + "/loki/api/v1/query_range?direction=BACKWARD&end="),
              "first stderr line is the URL: %r", err)
        check("&limit=30&query=%7Bjob%3D%22app%22%7D&start=" in err[0], "URL %r", err[0])
        check(meta(err)[0] == common, "common labels %r", err)
    with suite.case("query: local timezone offsets"):
        out, _ = ok(srv, "query", '{job="app"}', "--limit", "1", "-q", *f, env={"TZ": "XYZ-3"})
        check(out == '%s {} three\n' % rfc3339(d.base + 3, 3), "stdout %r", out)
        out, _ = ok(srv, "query", '{job="app"}', "--limit", "1", "-q", "-z", "UTC", *f,
                    env={"TZ": "XYZ-3"})
        check(out == '%s {} three\n' % t3, "stdout %r", out)
    with suite.case("query: --forward, --no-labels, rfc3339nano"):
        out, err = ok(srv, "query", '{job="app"}', "-z", "UTC", "--forward", "--no-labels",
                      "--output-timestamp-format=rfc3339nano", "--quiet", *f)
        check(out == "%s one\n%s two <&>\n%s three\n" % (
            t1, t2, t3.replace("Z", ".0000005Z")), "stdout %r", out)
        check(err == [], "quiet stderr %r", err)
    with suite.case("query: raw"):
        out, _ = ok(srv, "query", '{job="app"}', "-o", "raw", "-q", *f)
        check(out == "three\ntwo <&>\none \n", "stdout %r", out)
    with suite.case("query: jsonl"):
        out, _ = ok(srv, "query", '{job="app"}', "--output=jsonl", "-z", "UTC", "-q", *f)
        want = [
            '{"labels":{"detected_level":"info","level":"info"},"line":"three",'
            '"timestamp":"%s"}' % t3.replace("Z", ".0000005Z"),
            '{"labels":{"detected_level":"error","level":"error"},'
            '"line":"two \\u003c\\u0026\\u003e","timestamp":"%s"}' % t2,
            '{"labels":{"detected_level":"info","level":"info"},"line":"one ",'
            '"timestamp":"%s"}' % t1,
        ]
        check(out == "\n".join(want) + "\n", "stdout %r", out)
        out, _ = ok(srv, "query", '{job="app"}', "-o", "jsonl", "-z", "UTC", "-q", "--no-labels",
                    "--limit", "1", *f)
        check(out == '{"line":"three","timestamp":"%s"}\n' % t3.replace("Z", ".0000005Z"),
              "stdout %r", out)
    with suite.case("query: label selection and padding"):
        # --limit 3: one request, so one batch's metadata on stderr.
        out, err = ok(srv, "query", '{job="app"}', "-z", "UTC", "--exclude-label", "detected_level",
                      "--labels-length", "20", "--limit", "3", *f)
        check(out == ('%s {level="info"}       three\n%s {level="error"}      two <&>\n'
                      '%s {level="info"}       one\n') % (t3, t2, t1), "stdout %r", out)
        check(meta(err) == [common, "Ignoring labels key: detected_level"], "stderr %r", err)
        out, err = ok(srv, "query", '{job="app"}', "-z", "UTC", "--include-label", "level",
                      "--include-label", "job", "--limit", "3", *f)
        check(out == ('%s {job="app", level="info"}  three\n%s {job="app", level="error"} two <&>\n'
                      '%s {job="app", level="info"}  one\n') % (t3, t2, t1), "stdout %r", out)
        check(meta(err) == ['Common labels: {env="prod", service_name="app"}',
                            "Print only labels key: level,job"], "stderr %r", err)
        out, _ = ok(srv, "query", '{job="app"}', "-z", "UTC", "--include-common-labels", "-q",
                    "--limit", "1", *f)
        check(out == '%s {detected_level="info", env="prod", job="app", level="info", '
              'service_name="app"} three\n' % t3, "stdout %r", out)
    with suite.case("query: metric range result"):
        out, err = ok(srv, "query", 'sum(count_over_time({job="app"}[1m]))', "--step", "5s",
                      "--from", rfc3339(d.base), "--to", rfc3339(d.base + 5))
        # Points at base (nothing in its window, so absent) and base+5.
        check(out == ('[\n  {\n    "metric": {},\n    "values": [\n      [\n        %d,\n'
                      '        "3"\n      ]\n    ]\n  }\n]') % (d.base + 5), "stdout %r", out)
        check("&step=5" in err[0], "step sent as seconds: %r", err[0])
    with suite.case("instant-query: vector"):
        out, err = ok(srv, "instant-query", 'sum by (level) (count_over_time({job="app"}[1h]))',
                      "--now", rfc3339(d.base + 5))
        check(out == ('[\n  {\n    "metric": {\n      "level": "error"\n    },\n    "value": [\n'
                      '      %d,\n      "1"\n    ]\n  },\n  {\n    "metric": {\n'
                      '      "level": "info"\n    },\n    "value": [\n      %d,\n      "2"\n'
                      '    ]\n  }\n]') % (d.base + 5, d.base + 5), "stdout %r", out)
        check(err[0] == srv.url + "/loki/api/v1/query?direction=BACKWARD&limit=30&query="
              "sum+by+%28level%29+%28count_over_time%28%7Bjob%3D%22app%22%7D%5B1h%5D%29%29"
              "&time=" + str((d.base + 5) * NS), "URL %r", err[0])


def metadata_cases(suite, srv, d):
    with suite.case("labels and label values"):
        out, err = ok(srv, "labels")
        check(out == "env\njob\nlevel\ns\nservice_name\n", "labels %r", out)
        check(re.match(r"^http://[^/]+/loki/api/v1/labels\?end=\d+&start=\d+$", err[0]), "%r", err)
        out, _ = ok(srv, "labels", "level", "-q")
        check(out == "error\ninfo\n", "values %r", out)
        out, _ = ok(srv, "labels", "job", "--since", "1s", "-q")
        check(out == "", "nothing in the last second: %r", out)
    with suite.case("series"):
        out, err = ok(srv, "series", '{job="app"}')
        check(out == '{env="prod", job="app", level="error", service_name="app"}\n'
              '{env="prod", job="app", level="info", service_name="app"}\n', "series %r", out)
        check("/loki/api/v1/series?end=" in err[0] and "&match=%7Bjob%3D%22app%22%7D&start=" in err[0],
              "sent as match: %r", err[0])
    with suite.case("series --analyze-labels"):
        out, _ = ok(srv, "series", '{job="app"}', "--analyze-labels", "-q")
        check(out == "Total Streams:  2\nUnique Labels:  4\n\n"
              "Label Name   Unique Values Found In Streams \n"
              "level        2             2                \n"
              "env          1             2                \n"
              "job          1             2                \n"
              "service_name 1             2                \n", "analyze %r", out)
    with suite.case("stats"):
        out, _ = ok(srv, "stats", '{job="app"}', "-q")
        m = re.match(r"^\{\n  bytes: (\d+(\.\d)?[kMG]?B)\n  chunks: (\d+)\n  streams: 2\n"
                     r"  entries: 3\n\}\n$", out)
        check(m, "stats %r", out)
        r = srv.get("/loki/api/v1/index/stats", params={"query": '{job="app"}'},
                    headers={"X-Scope-OrgID": TENANT})
        j = r.json()
        check(m.group(3) == str(j["chunks"]), "chunks %r vs %r", out, j)
    with suite.case("volume and volume_range"):
        out, err = ok(srv, "volume", '{job="app"}', "--since", "20m")
        j = json.loads(out)
        check(len(j) == 1 and j[0]["metric"] == {"job": "app"} and int(j[0]["value"][1]) > 0,
              "volume %r", out)
        check(out.startswith('[\n  {\n    "metric": {\n      "job": "app"\n    },\n    "value": [\n'),
              "layout %r", out)
        check("&limit=30&query=" in err[0], "limit sent: %r", err[0])
        out, err = ok(srv, "volume", '{job=~".+"}', "--since", "20m", "--targetLabels", "level",
                      "--aggregateByLabels")
        check("aggregateBy=labels" in err[0] and "targetLabels=level" in err[0], "%r", err[0])
        check(json.loads(out) == [{"metric": {"level": ""}, "value": json.loads(out)[0]["value"]}],
              "by label name %r", out)
        out, err = ok(srv, "volume_range", '{job="app"}', "--since", "20m", "--step", "10m")
        check("&step=600" in err[0], "step in seconds: %r", err[0])
        check(isinstance(json.loads(out), list) and json.loads(out), "volume_range %r", out)
    with suite.case("detected-fields"):
        out, err = ok(srv, "detected-fields", '{job="app"}')
        check(out == "label: detected_level\t\ttype: string\t\tcardinality: 2\n", "fields %r", out)
        check("&limit=100&line_limit=1000&query=" in err[0] and err[0].endswith("&step=10s"),
              "params %r", err[0])
        out, _ = ok(srv, "detected-fields", '{job="app"}', "detected_level", "-q")
        check(sorted(out.splitlines()) == ["error", "info"], "values %r", out)
    with suite.case("fmt"):
        out, _ = ok(srv, "fmt", stdin='{job="app"}|="x"   | logfmt')
        check(out == '{job="app"} |= "x" | logfmt\n', "fmt %r", out)
        # longer than 100 bytes: split as Loki's syntax.Prettify does
        out, _ = ok(srv, "fmt", stdin='{job="app", namespace="production", container="api-gateway"}'
                    '|= "error" != "timeout" | json | status >= 500 | line_format "{{.msg}}"')
        check(out == '{job="app", namespace="production", container="api-gateway"}\n'
              '  |= "error" != "timeout"\n'
              '  | json\n'
              '  | status>=500\n'
              '  | line_format "{{.msg}}"\n', "fmt long %r", out)
        rc, out, err = run(srv, "fmt", stdin="{job=")
        check(rc == 1 and out == "" and "failed to parse the query: parse error" in err[-1],
              "bad fmt %d %r", rc, err)


def paging_cases(suite, srv, d):
    f = ["--from", rfc3339(d.pbase // NS - 1), "--to", rfc3339(d.pbase // NS + 10)]

    def indices(out):
        got = []
        for line in out.splitlines():
            check(line.startswith("page line "), "line %r", line)
            got.append(int(line[10:]))
        return got

    for direction in ("backward", "forward"):
        with suite.case("paging --batch 100 --limit 0 %s: every line once, in order" % direction):
            extra = ["--forward"] if direction == "forward" else []
            out, err = ok(srv, "query", '{job="page"}', "--batch", "100", "--limit", "0",
                          "-o", "raw", *extra, *f)
            got = indices(out)
            check(len(got) == N_PAGE, "%d lines, want %d", len(got), N_PAGE)
            check(sorted(got) == list(range(N_PAGE)), "missing or repeated lines")
            ts = [d.page_ts(i) for i in got]
            want = sorted(ts, reverse=(direction == "backward"))
            check(ts == want, "out of order")
            urls = [x for x in err if x.startswith("http://")]
            check(len(urls) >= N_PAGE // 100, "%d requests", len(urls))
            check(all("&limit=100&" in u for u in urls), "batch size: %r", urls[:3])
            check("fetched" not in "".join(err), "no progress without a terminal")
    with suite.case("paging to a limit across batches"):
        out, _ = ok(srv, "query", '{job="page"}', "--batch", "100", "--limit", "250", "-o", "raw",
                    "-q", *f)
        got = indices(out)
        check(len(got) == 250 and len(set(got)) == 250, "%d lines", len(got))
        newest = N_PAGE - 250
        first_group = newest // GROUP * GROUP
        check(min(got) >= first_group and set(range(first_group + GROUP, N_PAGE)) <= set(got),
              "not the newest 250")
        out, _ = ok(srv, "query", '{job="page"}', "--batch", "100", "--limit", "250", "-o", "raw",
                    "-q", "--forward", *f)
        got = indices(out)
        check(len(got) == 250 and len(set(got)) == 250, "%d lines", len(got))
        check(max(got) < 250 + GROUP and set(range(0, 250 // GROUP * GROUP)) <= set(got),
              "not the oldest 250")
    with suite.case("paging: default limit 30 is one request"):
        out, err = ok(srv, "query", '{job="page"}', "-o", "raw", *f)
        check(len(out.splitlines()) == 30, "%d lines", len(out.splitlines()))
        check(len([x for x in err if x.startswith("http://")]) == 1, "requests %r", err)
    with suite.case("paging: a run of equal timestamps longer than the batch"):
        rc, out, err = run(srv, "query", '{job="page"}', "--batch", "5", "--limit", "0", "-o",
                           "raw", "-q", *f)
        check(rc == 1 and "Query failed: Invalid batch size 5" in err[-1], "%d %r", rc, err[-1:])


def run_pty(srv, which, *args):
    """Runs noa-logcli with stdout (which=1) or stderr (which=2) on a
    pseudo-terminal; returns (terminal bytes, other stream bytes)."""
    import pty
    master, slave = pty.openpty()
    cmd = [LOGCLI, "--addr", srv.url, "--org-id", TENANT] + list(args)
    e = dict(os.environ, TZ="UTC")
    e.pop("NO_COLOR", None)
    p = subprocess.Popen(cmd, stdout=slave if which == 1 else subprocess.PIPE,
                         stderr=slave if which == 2 else subprocess.PIPE, env=e)
    os.close(slave)
    tty = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        tty += chunk
    other = (p.stderr if which == 1 else p.stdout).read()
    p.wait(timeout=30)
    os.close(master)
    check(p.returncode == 0, "exit %d", p.returncode)
    return tty, other


def terminal_cases(suite, srv, d):
    f = d.range_flags()
    with suite.case("terminal: colours on stdout only when it is a terminal"):
        tty, _ = run_pty(srv, 1, "query", '{job="app"}', "-z", "UTC", "--limit", "1", "-q", *f)
        # One entry, one stream: every label is common, so "{}".
        want = ("\x1b[34m%s\x1b[0m \x1b[31m{}\x1b[0m three\r\n" % rfc3339(d.base + 3)).encode()
        check(tty == want, "tty %r", tty)
        _, out, _ = run(srv, "query", '{job="app"}', "-z", "UTC", "--limit", "1", "-q", *f)
        check("\x1b" not in out, "colours in a pipe: %r", out)
    with suite.case("terminal: progress on stderr only when it is a terminal"):
        pf = ["--from", rfc3339(d.pbase // NS - 1), "--to", rfc3339(d.pbase // NS + 10)]
        tty, out = run_pty(srv, 2, "query", '{job="page"}', "--batch", "500", "--limit", "1000",
                           "-o", "raw", *pf)
        check(len(out.splitlines()) == 1000, "%d lines on stdout", len(out.splitlines()))
        check(b"\rfetched 500 entries" in tty and b"\rfetched 1000 entries" in tty, "tty %r", tty[-300:])
        check(tty.endswith(b"\r\x1b[K"), "progress line cleared at the end: %r", tty[-40:])


def flag_cases(suite, srv, d):
    f = d.range_flags()
    with suite.case("tenants: --org-id and LOKI_ORG_ID"):
        out, _ = ok(srv, "query", '{job="app"}', "-q", "--org-id", "other", *f)
        check(out == "", "other tenant sees nothing: %r", out)
        out, _ = ok(srv, "query", '{job="app"}', "-q", "-o", "raw", *f, tenant=None,
                    env={"LOKI_ORG_ID": TENANT})
        check(out == "three\ntwo <&>\none \n", "env tenant %r", out)
    with suite.case("address from NOA_ADDR and LOKI_ADDR"):
        out, _ = ok(srv, "labels", "level", "-q", addr=False,
                    env={"LOKI_ADDR": "http://127.0.0.1:1", "NOA_ADDR": srv.url})
        check(out == "error\ninfo\n", "NOA_ADDR wins: %r", out)
        out, _ = ok(srv, "labels", "level", "-q", addr=False, env={"LOKI_ADDR": srv.url})
        check(out == "error\ninfo\n", "LOKI_ADDR: %r", out)
    with suite.case("--stats"):
        out, err = ok(srv, "query", '{job="app"}', "-q", "--stats", "-o", "raw", *f)
        check(out == "three\ntwo <&>\none \n", "stdout %r", out)
        keys = [x.split()[0] for x in err if x.strip()]
        check(keys[0] == "Ingester.TotalReached" and "Summary.TotalLinesProcessed" in keys,
              "stats keys %r", keys)
        line = [x for x in err if x.startswith("Summary.TotalLinesProcessed")][0]
        check(re.match(r"^Summary\.TotalLinesProcessed \t+ 3$", line), "tabwriter %r", line)
    with suite.case("--help for every command"):
        for cmd in ("", "query", "instant-query", "labels", "series", "stats", "volume",
                    "volume_range", "detected-fields", "fmt"):
            out, err = ok(srv, *([cmd] if cmd else []), "--help")
            check(out.startswith("usage: logcli %s" % (cmd + " " if cmd else "")), "%s: %r", cmd,
                  out[:80])


class Recorder:
    """A stand-in server that answers every GET with an empty label list
    and records the request line and headers logcli sent."""

    def __init__(self):
        import http.server
        rec = self
        self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                rec.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                body = b'{"status":"success","data":["x"]}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def header_cases(suite, srv, d):
    rec = Recorder()
    try:
        with suite.case("request headers: auth, tenant, tags, cache, extra headers"):
            out, _ = ok(srv, "labels", "-q", "--username", "u", "--password", "p:w", "--org-id",
                        "t9", "--query-tags", "source=cli", "--nocache", "--header", "X-A: 1",
                        "--header", "X-B: two", addr=False, tenant=None,
                        env={"LOKI_ADDR": rec.url})
            check(out == "x\n", "stdout %r", out)
            path, h = rec.requests[-1]
            check(path.startswith("/loki/api/v1/labels?end="), "path %r", path)
            check(h.get("authorization") == "Basic dTpwOnc=", "auth %r", h)
            check(h.get("x-scope-orgid") == "t9" and h.get("x-query-tags") == "source=cli", "%r", h)
            check(h.get("cache-control") == "no-cache" and h.get("x-a") == "1" and
                  h.get("x-b") == "two", "%r", h)
            check(h.get("user-agent", "").startswith("loki-logcli/"), "user agent %r", h)
        with suite.case("request headers: bearer token, file, custom auth header"):
            tok = os.path.join(H.make_tempdir("logcli-token"), "token")
            with open(tok, "w") as fh:
                fh.write("  s3cret\n")
            ok(srv, "labels", "-q", "--bearer-token-file", tok, addr=False, tenant=None,
               env={"NOA_ADDR": rec.url})
            check(rec.requests[-1][1].get("authorization") == "Bearer s3cret", "%r", rec.requests[-1])
            ok(srv, "labels", "-q", "--bearer-token", "abc", "--auth-header", "X-Auth", addr=False,
               tenant=None, env={"NOA_ADDR": rec.url})
            h = rec.requests[-1][1]
            check(h.get("x-auth") == "Bearer abc" and "authorization" not in h, "%r", h)
            rc, _, err = run(srv, "labels", "--username", "u", "--password", "p", "--bearer-token",
                             "t", addr=False, tenant=None, env={"NOA_ADDR": rec.url})
            check(rc == 1 and err[-1] == "at most one of HTTP basic auth (username/password), "
                  "bearer-token & bearer-token-file is allowed to be configured", "%r", err)
    finally:
        rec.close()


def error_cases(suite, srv, d):
    with suite.case("bad query: the server's parse error, exit 1"):
        rc, out, err = run(srv, "query", "foo")
        check(rc == 1 and out == "", "rc %d out %r", rc, out)
        check(meta(err) == [
            "Error response from server: parse error at line 1, col 1: syntax error: unexpected "
            "IDENTIFIER (<nil>) attempts remaining: 0",
            "Query failed: run out of attempts while querying the server"], "stderr %r", err)
    with suite.case("--retries repeats the request"):
        rc, out, err = run(srv, "instant-query", "foo", "--retries", "2", "-q")
        check(rc == 1, "rc %d", rc)
        check([x[-1] for x in err[:3]] == ["2", "1", "0"] and len(err) == 4, "stderr %r", err)
    with suite.case("missing tenant: the server's 401 text"):
        rc, out, err = run(srv, "labels", "-q", tenant=None)
        # The 401 body ends in a newline, which logcli prints as it is.
        check(rc == 1 and err[:2] == ["Error response from server: no org id",
                                      " (<nil>) attempts remaining: 0"], "%r", err)
        check(err[-1] == "Error doing request: run out of attempts while querying the server",
              "%r", err)
    with suite.case("server down: a clear error, exit 1"):
        port = H.free_port()
        rc, out, err = run(srv, "query", '{job="app"}', "--addr", "http://127.0.0.1:%d" % port,
                           addr=False)
        check(rc == 1 and out == "", "rc %d", rc)
        check(err[1].startswith('error sending request Get "http://127.0.0.1:%d/' % port),
              "stderr %r", err)
        check(err[-1] == "Query failed: run out of attempts while querying the server", "%r", err)
    with suite.case("command-line errors"):
        for args, msg in ((["query", "x", "--bogus"], "unknown long flag '--bogus'"),
                          (["query"], "required argument 'query' not provided"),
                          (["-o", "xml", "query", "x"],
                           "enum value must be one of default,raw,jsonl, got 'xml'"),
                          (["nope"], 'expected command but got "nope"')):
            rc, out, err = run(srv, *args)
            check(rc == 1 and err == ["logcli: error: %s, try --help" % msg], "%r: %d %r", args,
                  rc, err)
        rc, out, err = run(srv, "query", "x", "--from", "yesterday")
        check(rc == 1 and "Unable to parse time" in err[-1], "%r", err)


class Follower:
    """noa-logcli query --tail in the background; its stdout lines are
    collected with their arrival times by a reader thread."""

    def __init__(self, srv, *args):
        e = dict(os.environ, TZ="UTC")
        self.proc = subprocess.Popen(
            [LOGCLI, "--addr", srv.url, "--org-id", TENANT, "query", "--tail"] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, start_new_session=True)
        self.lines = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append((time.monotonic(), raw.decode("utf-8", "replace").rstrip("\n")))
                self.cond.notify_all()

    def wait_line(self, pred, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, line in self.lines:
                    if pred(line):
                        return t, line
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self.cond.wait(left)

    def stop(self):
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.thread.join(timeout=10)
        return err.decode("utf-8", "replace")


def tail_cases(suite, srv, d):
    with suite.case("query --tail: lines pushed after it started arrive within a second"):
        now = time.time_ns()
        H.push_ok(srv, [Stream({"job": "tail"}, [entry(now - 2 * NS, "before")])], tenant=TENANT)
        f = Follower(srv, '{job="tail"}', "-o", "raw", "--since", "1m")
        try:
            check(f.wait_line(lambda x: x == "before", 10), "history line not received")
            for k in range(3):
                t0 = time.monotonic()
                H.push_ok(srv, [Stream({"job": "tail"}, [entry(time.time_ns(), "live %d" % k)])],
                          tenant=TENANT)
                got = f.wait_line(lambda x, k=k: x == "live %d" % k, 5)
                check(got, "live line %d not received", k)
                check(got[0] - t0 < 1.0, "live line %d after %.2fs", k, got[0] - t0)
        finally:
            err = f.stop()
        check(err.splitlines() and "/loki/api/v1/tail?delay_for=0&limit=30&query=" in err.splitlines()[0]
              and err.splitlines()[0].split(" ", 2)[2].startswith("ws://"), "stderr %r", err)
    with suite.case("query --tail: default output as logcli's tail prints it"):
        f = Follower(srv, '{job="tail"}', "--since", "1m", "-q", "--exclude-label", "service_name")
        try:
            got = f.wait_line(lambda x: x.endswith(" live 2"), 10)
            check(got, "no history")
            check(re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \{detected_level="unknown", '
                           r'job="tail"\} live 2$', got[1]), "line %r", got[1])
        finally:
            f.stop()
    with suite.case("query --tail: a refused query fails clearly"):
        rc, out, err = run(srv, "query", "--tail", "foo", "-q")
        check(rc == 1 and err[-1].startswith("Tailing logs failed: websocket: bad handshake"),
              "%d %r", rc, err)


def body(suite):
    check(os.access(LOGCLI, os.X_OK), "noa-logcli not found at %s" % LOGCLI)
    tmp = H.make_tempdir("logcli")
    srv = H.Server("logcli", H.make_config(os.path.join(tmp, "data"), H.free_port(), auth=True),
                   workdir=tmp)
    srv.start()
    d = Data()
    H.push_ok(srv, d.streams, tenant=TENANT)
    H.push_ok(srv, d.page, tenant=TENANT)
    output_cases(suite, srv, d)
    metadata_cases(suite, srv, d)
    paging_cases(suite, srv, d)
    terminal_cases(suite, srv, d)
    flag_cases(suite, srv, d)
    header_cases(suite, srv, d)
    error_cases(suite, srv, d)
    tail_cases(suite, srv, d)
    srv.stop()


if __name__ == "__main__":
    H.main("logcli", body)
