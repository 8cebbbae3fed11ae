"""
A real Loki query client from npm against noa-server: @myunisoft/loki (a
Node.js Grafana/Loki API SDK) pushes six lines with its push() and reads
them back with queryRangeStream, queryRange (lines flattened newest first),
queryRangeStream with a client-side pattern, a limit, labels, labelValues
(with a selector) and series (its `match=` form, default time range). The
answers tests/npm/query.js prints must be exactly what was pushed.

The SDK sends no X-Scope-OrgID, so the server runs with auth off (tenant
"fake"). Needs tests/npm/node_modules (`make npm-deps` runs `npm ci`).
Runs on the main thread; one noa-server on a free loopback port.
"""

import json
import os
import secrets
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check  # noqa: E402

NPM_DIR = os.path.join(H.SRC, "tests", "npm")
CART = ["GET /cart 200", "GET /cart 304", "POST /cart 201"]
PAY = ["POST /pay 500", "POST /pay 200", "GET /pay 405"]


def run_client(srv, marker):
    node = shutil.which("node") or shutil.which("nodejs")
    check(node, "node is not installed")
    p = subprocess.run([node, os.path.join(NPM_DIR, "query.js"), "--url", srv.url, "--marker", marker],
                       cwd=NPM_DIR, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=90)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    check(p.returncode == 0, "query.js exited %d:\n%s%s", p.returncode, out, err)
    try:
        return json.loads(out)
    except ValueError as e:
        raise H.TestFailure("query.js printed no JSON (%s): %s" % (e, H.short(out, 800)))


def body(suite):
    with suite.case("npm query client installed (make npm-deps)"):
        check(os.path.isdir(os.path.join(NPM_DIR, "node_modules", "@myunisoft", "loki")),
              "%s/node_modules/@myunisoft/loki missing: run `npm ci` in tests/npm "
              "(make npm-deps installs only when node_modules is absent)", NPM_DIR)
    if suite.failed:
        return
    tmp = H.make_tempdir("npm_query")
    srv = H.Server("npm_query", H.make_config(os.path.join(tmp, "data"), H.free_port()), workdir=tmp)
    with suite.case("start"):
        srv.start()
    marker = "q-" + secrets.token_hex(4)
    got = {}
    with suite.case("push and query through @myunisoft/loki"):
        got.update(run_client(srv, marker))

    with suite.case("queryRangeStream: both streams, newest first, labels intact"):
        streams = got["streams"]["streams"]
        by_route = {s["labels"]["route"]: s for s in streams}
        check(sorted(by_route) == ["cart", "pay"], "routes %r", sorted(by_route))
        for route, lines in (("cart", CART), ("pay", PAY)):
            s = by_route[route]
            check([v[1] for v in s["values"]] == lines[::-1], "%s lines %r", route, s["values"])
            ts = [int(v[0]) for v in s["values"]]
            check(ts == sorted(ts, reverse=True), "%s not newest first: %r", route, ts)
            labels = s["labels"]
            for k, v in (("app", "noa-npm-query"), ("marker", marker), ("service_name", "noa-npm-query")):
                check(labels.get(k) == v, "label %s=%r in %r", k, labels.get(k), labels)
        tr = got["streams"]["timerange"]
        check(isinstance(tr, list) and tr[0] >= tr[1], "timerange %r", tr)

    with suite.case("queryRange: a line filter, lines flattened newest first"):
        check(got["inline"]["logs"] == ["POST /pay 200", "POST /pay 500", "POST /cart 201"], "%r", got["inline"])

    with suite.case("queryRangeStream with a pattern and a label filter"):
        ps = got["pattern"]["streams"]
        check(len(ps) == 1 and ps[0]["labels"]["route"] == "pay", "%r", ps)
        parsed = [v[1] for v in ps[0]["values"]]
        want = [dict(zip(("verb", "path", "status"), line.split())) for line in PAY[::-1]]
        check(parsed == want, "parsed %r want %r", parsed, want)

    with suite.case("limit 2 keeps the two newest lines"):
        lines = [v[1] for s in got["limited"]["streams"] for v in s["values"]]
        check(sorted(lines) == sorted(PAY[1:]), "limited %r", lines)

    with suite.case("labels, labelValues with a selector, series"):
        labels = got["labels"]
        for name in ("app", "marker", "route", "service_name"):
            check(name in labels, "label %s missing from %r", name, labels)
        check(labels == sorted(labels), "labels not sorted: %r", labels)
        check(got["routes"] == ["cart", "pay"], "routes %r", got["routes"])
        series = sorted(got["series"], key=lambda s: s["route"])
        check(series == [{"app": "noa-npm-query", "marker": marker, "route": r, "service_name": "noa-npm-query"}
                         for r in ("cart", "pay")], "series %r", series)
    srv.stop()


if __name__ == "__main__":
    H.main("npm_query", body)
