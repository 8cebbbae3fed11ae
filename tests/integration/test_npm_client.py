"""
A real Loki push client from npm talks to noa-server: winston with the
winston-loki transport (tests/npm/push.js), once sending snappy-compressed
protobuf (what Promtail sends) and once JSON. The lines must come back
through query_range exactly once, byte-exact, with the client's labels.

Needs tests/npm/node_modules (`make npm-deps` runs `npm ci` there).
Runs on the main thread; starts one noa-server on a free loopback port and
node once per mode.
"""

import os
import secrets
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check  # noqa: E402

NPM_DIR = os.path.join(H.SRC, "tests", "npm")
COUNT = 50


def expected_line(marker, i):
    return '%s line %d ünïcödé "quoted" \\ back\tslash' % (marker, i)


def run_client(srv, mode, marker):
    node = shutil.which("node") or shutil.which("nodejs")
    check(node, "node is not installed")
    cmd = [node, os.path.join(NPM_DIR, "push.js"), "--url", srv.url, "--marker", marker,
           "--count", str(COUNT), "--mode", mode]
    p = subprocess.run(cmd, cwd=NPM_DIR, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=90)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    print("     node exit %d: %s %s" % (p.returncode, out.strip(), H.short(err.strip(), 600)))
    check(p.returncode != 3, "snappy binding did not load: winston-loki would fall back to JSON")
    check(p.returncode == 0, "push.js (%s) exited %d:\n%s%s", mode, p.returncode, out, err)


def check_back(srv, marker, t0, t1):
    got = H.fetch_all(srv, '{app="noa-npm-test", marker="%s"}' % marker, t0 - 60 * H.NS, t1 + 60 * H.NS)
    lines = sorted(g.line for g in got)
    want = sorted(expected_line(marker, i) for i in range(COUNT))
    check(len(got) == COUNT, "got %d lines back, pushed %d", len(got), COUNT)
    check(lines == want, "lines differ, e.g. got %r want %r",
          next((a for a, b in zip(lines, want) if a != b), None), next((b for a, b in zip(lines, want) if a != b), None))
    for g in got:
        labels = dict(g.labels)
        for k, v in (("app", "noa-npm-test"), ("marker", marker), ("level", "info"), ("service_name", "noa-npm-test")):
            check(labels.get(k) == v, "label %s=%r, want %r (labels %s)", k, labels.get(k), v, labels)
        # winston-loki stamps Date.now() in ms
        check(t0 - 2 * H.NS <= g.ts <= t1 + 2 * H.NS, "timestamp %d outside the client's run [%d, %d]", g.ts, t0, t1)
        check(g.ts % 1_000_000 == 0, "timestamp %d is not whole milliseconds as the client sent it", g.ts)


def body(suite):
    with suite.case("npm client installed (make npm-deps)"):
        for mod in ("winston", "winston-loki", "snappy"):
            check(os.path.isdir(os.path.join(NPM_DIR, "node_modules", mod)),
                  "%s/node_modules/%s missing: run `make npm-deps` (npm ci in tests/npm)", NPM_DIR, mod)
    if suite.failed:
        return
    tmp = H.make_tempdir("npm")
    port = H.free_port()
    srv = H.Server("npm", H.make_config(os.path.join(tmp, "data"), port), workdir=tmp)
    with suite.case("start"):
        srv.start()
    for mode in ("protobuf", "json"):
        with suite.case("winston-loki %s push comes back through query_range" % mode):
            marker = "npm-%s-%s" % (mode, secrets.token_hex(4))
            t0 = H.now_ns()
            run_client(srv, mode, marker)
            t1 = H.now_ns()
            check_back(srv, marker, t0, t1)
    with suite.case("lines survive a graceful restart"):
        srv.stop()
        srv.start()
        r = H.get_json_list(srv, "/loki/api/v1/label/marker/values",
                            {"start": str(H.now_ns() - 600 * H.NS), "end": str(H.now_ns() + 60 * H.NS)})
        check(len(r) == 2 and all(m.startswith("npm-") for m in r), "marker values after restart: %s", r)
        srv.stop()


if __name__ == "__main__":
    H.main("npm_client", body)
