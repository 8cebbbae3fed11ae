"""
The live tail with a real websocket client from npm: `ws` (the client most
Node.js tools use) follows noa-server's /loki/api/v1/tail as Grafana and
logcli do. tests/npm/tail.js connects, pushes lines over HTTP and prints
what came back; every matching line must arrive once, in push order,
within a second of its push, the pipeline's line filter must hold back the
others, a ping is answered with a pong, and a client close is echoed with
1000. Needs tests/npm/node_modules (`make npm-deps` runs `npm ci`).

Runs on the main thread; starts noa-server on a free loopback port.
"""

import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check  # noqa: E402

NPM_DIR = os.path.join(H.SRC, "tests", "npm")


def body(suite):
    with suite.case("npm websocket client installed (make npm-deps)"):
        check(os.path.isdir(os.path.join(NPM_DIR, "node_modules", "ws")),
              "%s/node_modules/ws missing: run `make npm-deps`", NPM_DIR)
    tmp = H.make_tempdir("npm_tail")
    srv = H.Server("npm_tail", H.make_config(os.path.join(tmp, "data"), H.free_port()), workdir=tmp)
    srv.start()
    with suite.case("ws follows the tail: every line once, in order, within a second"):
        node = shutil.which("node") or shutil.which("nodejs")
        check(node, "node is not installed")
        n = 30
        p = subprocess.run([node, os.path.join(NPM_DIR, "tail.js"), "--url", srv.url,
                            "--marker", "m1", "--n", str(n)], capture_output=True, timeout=60)
        check(p.returncode == 0, "tail.js exited %d: %s", p.returncode, p.stderr.decode(errors="replace"))
        out = json.loads(p.stdout)
        want = ["tail line %d level=error" % i for i in range(n)]
        check(out["lines"] == want, "lines received %r, want %r", out["lines"][:5], want[:5])
        check(out["maxLatencyMs"] < 1000, "a line took %d ms to arrive", out["maxLatencyMs"])
        check(out["pong"] is True, "no pong for the client's ping")
        check(out["closeCode"] == 1000, "close code %r, want 1000", out["closeCode"])
        labels = [json.loads(x) for x in out["labels"]]
        check(all(lb.get("app") == "noa-npm-tail" and lb.get("marker") == "m1" for lb in labels),
              "stream labels %r", labels)
    srv.stop()


if __name__ == "__main__":
    H.main("npm_tail", body)
