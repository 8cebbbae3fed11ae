"""
Status and operational endpoints of noa-server, and how it starts:
/ready, /metrics (valid for `promtool check metrics`, ingest counters
present and counting), /loki/api/v1/status/buildinfo, /config, 404 and
405 answers, graceful SIGTERM; starting from the Loki-shaped example config
$NOA_SRC/config/loki-local.yaml with flags overriding the listen address and
port; and refusing a config with a misspelt key (non-zero exit, file:line:col
on stderr).

Runs on the main thread; starts noa-server three times on free loopback
ports.
"""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check, entry, Stream  # noqa: E402

PROMTOOL = "/usr/bin/promtool"


def main_server_cases(suite):
    tmp = H.make_tempdir("status")
    port = H.free_port()
    data = os.path.join(tmp, "data")
    srv = H.Server("status", H.make_config(data, port), workdir=tmp)
    pushed_lines = 0
    pushed_bytes = 0

    with suite.case("GET /ready is 200 'ready\\n'"):
        srv.start()
        r = srv.get("/ready")
        check(r.status == 200, "status %d", r.status)
        check(r.body == b"ready\n", "body %r", r.body)
        check(r.headers.get("content-type", "").startswith("text/plain"), "Content-Type %r", r.headers.get("content-type"))

    with suite.case("push and query, so counters move"):
        now = H.now_ns()
        for fmt in ("snappy", "json", "zstd"):
            s = Stream({"job": "status", "fmt": fmt}, [entry(now - 60 * H.NS + i, "status line %s %d" % (fmt, i)) for i in range(10)])
            H.push_ok(srv, [s], fmt)
            pushed_lines += len(s.entries)
            pushed_bytes += sum(len(e.line.encode()) for e in s.entries)
        got = H.fetch_all(srv, '{job="status"}', now - 120 * H.NS, now + 60 * H.NS)
        check(len(got) == pushed_lines, "query returned %d of %d lines", len(got), pushed_lines)
        wal = os.path.join(data, "wal")
        check(os.path.isdir(wal) and H.files_under(wal), "nothing under %s after acknowledged pushes", wal)
        H.get_json_list(srv, "/loki/api/v1/labels", {})

    with suite.case("GET /metrics passes promtool check metrics"):
        r = srv.get("/metrics")
        check(r.status == 200, "status %d", r.status)
        ct = r.headers.get("content-type", "")
        check(ct.startswith("text/plain"), "Content-Type %r, want text/plain; version=0.0.4", ct)
        check(r.body.endswith(b"\n"), "exposition does not end with a newline")
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=r.body, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        check(p.returncode == 0, "promtool check metrics exit %d:\n%s", p.returncode,
              H.short(p.stdout, 3000))

    with suite.case("GET /metrics has ingest counters that count"):
        m = H.parse_metrics(srv.get("/metrics").text)
        n, names = H.metric_sum(m, r"_(lines|entries)_received_total$")
        check(names, "no *_lines_received_total / *_entries_received_total family in /metrics (Loki: "
                     "loki_distributor_lines_received_total); families: %s", sorted(m)[:60])
        check(n >= pushed_lines, "%s = %g, pushed %d lines", names, n, pushed_lines)
        b, bnames = H.metric_sum(m, r"_bytes_received_total$")
        check(bnames, "no *_bytes_received_total family in /metrics (Loki: loki_distributor_bytes_received_total)")
        check(b >= pushed_bytes, "%s = %g, pushed %d bytes", bnames, b, pushed_bytes)
        print("     %s = %g, %s = %g" % (names, n, bnames, b))

    with suite.case("GET /loki/api/v1/status/buildinfo"):
        r = srv.get("/loki/api/v1/status/buildinfo")
        check(r.status == 200, "status %d", r.status)
        check(r.headers.get("content-type", "").startswith("application/json"), "Content-Type %r",
              r.headers.get("content-type"))
        j = r.json()
        for k in ("version", "revision", "branch", "buildUser", "buildDate", "goVersion"):
            check(k in j, "buildinfo lacks %r: %s", k, j)
            check(isinstance(j[k], str), "buildinfo %s is %r, want a string", k, j[k])
        check(j["version"], "empty version")

    with suite.case("GET /config returns the YAML config"):
        r = srv.get("/config")
        check(r.status == 200, "status %d", r.status)
        text = r.text
        check(re.search(r"(?m)^server:\s*$", text), "no top-level 'server:' mapping in /config:\n%s", H.short(text, 800))
        check(re.search(r"(?m)^\s+http_listen_port:\s*%d\s*$" % port, text),
              "http_listen_port %d not in /config", port)
        check(re.search(r"(?m)^(common|ingester|limits_config):\s*$", text), "no common/ingester/limits_config section")
        check("\t" not in text, "tab characters in YAML")

    with suite.case("unknown path is 404 '404 page not found\\n'"):
        for path in ("/nope", "/loki/api/v1/nope", "/loki/api/v2/push"):
            r = srv.get(path)
            check(r.status == 404, "%s answered %d", path, r.status)
            check(r.body == b"404 page not found\n", "%s body %r", path, r.body)

    with suite.case("known path, wrong method is 405"):
        r = srv.get("/loki/api/v1/push")
        check(r.status == 405, "GET /loki/api/v1/push answered %d", r.status)
        r = srv.request("DELETE", "/loki/api/v1/query_range")
        check(r.status == 405, "DELETE /loki/api/v1/query_range answered %d", r.status)
        r = srv.request("PUT", "/loki/api/v1/labels")
        check(r.status == 405, "PUT /loki/api/v1/labels answered %d", r.status)

    with suite.case("SIGTERM: graceful exit 0, data kept"):
        srv.stop(expect_code=0)
        srv.start()
        now = H.now_ns()
        got = H.fetch_all(srv, '{job="status"}', now - 600 * H.NS, now + 60 * H.NS)
        check(len(got) == pushed_lines, "after restart %d of %d lines", len(got), pushed_lines)
        srv.stop(expect_code=0)


def loki_local_case(suite):
    with suite.case("starts from config/loki-local.yaml with -server.http-listen-* flags"):
        # NOA_LOKI_LOCAL_CONFIG: another file to try (for checking this test itself)
        src = os.environ.get("NOA_LOKI_LOCAL_CONFIG") or os.path.join(H.SRC, "config", "loki-local.yaml")
        check(os.path.isfile(src), "%s does not exist", src)
        tmp = H.make_tempdir("loki-local")
        with open(src) as f:
            text = f.read()
        m = re.search(r"(?m)^\s+path_prefix:\s*['\"]?([^'\"\s#]+)", text)
        check(m, "no path_prefix in %s", src)
        old = m.group(1)
        data = os.path.join(tmp, "data")
        # every path under the example's prefix (chunks_directory, rules_directory, ...) moves too
        text = text.replace(old, data)
        cfg = os.path.join(tmp, "loki-local.yaml")
        with open(cfg, "w") as f:
            f.write(text)
        port = H.free_port()
        srv = H.Server("loki-local", config_path=cfg, workdir=tmp, port=port,
                       args=["-server.http-listen-port=%d" % port, "-server.http-listen-address=127.0.0.1"])
        srv.start()
        now = H.now_ns()
        s = Stream({"job": "loki-local"}, [entry(now - 10 * H.NS, "from the example config")])
        H.push_ok(srv, [s], "snappy")
        H.check_entries([s], H.fetch_all(srv, '{job="loki-local"}', now - 60 * H.NS, now + 60 * H.NS), "loki-local")
        check(os.path.isdir(data), "nothing written under the rewritten path_prefix %s", data)
        srv.stop()


def bad_config_case(suite):
    with suite.case("misspelt key in ingester: exits non-zero with file:line:col"):
        tmp = H.make_tempdir("badcfg")
        port = H.free_port()
        cfg = H.make_config(os.path.join(tmp, "data"), port, ingester={"chunk_idle_period": "2s"})
        text = H.to_yaml(cfg) + "\n"
        text = text.replace("chunk_idle_period:", "chunk_idle_perod:")
        lines = text.split("\n")
        lineno = next(i for i, ln in enumerate(lines, 1) if "chunk_idle_perod" in ln)
        col = lines[lineno - 1].index("chunk_idle_perod") + 1
        path = os.path.join(tmp, "bad.yaml")
        with open(path, "w") as f:
            f.write(text)
        srv = H.Server("badcfg", config_path=path, workdir=tmp, port=port)
        rc, out, err = H.run_expect_exit(srv.command(), timeout=30)
        print("     exit %d, stderr: %s" % (rc, H.short(err.strip(), 400)))
        check(rc != 0, "server exited 0 with a misspelt key")
        want = "%s:%d:%d" % (path, lineno, col)
        check(want in err, "stderr lacks %r:\n%s", want, H.short(err, 2000))
        check("chunk_idle_perod" in err, "stderr does not name the key")
        r = None
        try:
            r = H.http_request("127.0.0.1", port, "GET", "/ready", timeout=1)
        except OSError:
            pass
        check(r is None, "something still answers on port %d", port)


def target_case(suite):
    tmp = H.make_tempdir("target")
    port = H.free_port()
    with suite.case("-target other than all is refused with a clear message"):
        srv = H.Server("target", H.make_config(os.path.join(tmp, "data"), port), workdir=tmp,
                       args=["-target=querier"])
        rc, out, err = H.run_expect_exit(srv.command(), timeout=30)
        check(rc != 0, "server exited 0 with -target=querier")
        check("-target=querier is not supported" in err, "stderr: %s", H.short(err, 500))


def body(suite):
    check(os.access(PROMTOOL, os.X_OK) or shutil.which("promtool"), "promtool not installed")
    main_server_cases(suite)
    loki_local_case(suite)
    bad_config_case(suite)
    target_case(suite)


if __name__ == "__main__":
    H.main("status", body)
