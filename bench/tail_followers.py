"""
Live-tail benchmark: what followers cost the server. Starts noa-server,
pushes N lines with nobody tailing and measures the server's CPU time, then
opens F followers whose selectors match nothing that is pushed (other apps:
the common case of many dashboards open on other services) plus one that
matches everything, pushes the same lines again and measures again. Prints
CPU-seconds per 100k lines in both runs and the matching follower's worst
delay from push acknowledged to line received.

usage: python3 bench/tail_followers.py [--lines N] [--followers F]
Environment: NOA_BIN (directory with noa-server; default build/bin).
"""

import argparse
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import noa_harness as H  # noqa: E402
import test_tail as T  # noqa: E402


def server_cpu(srv):
    with open("/proc/%d/stat" % srv.proc.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick


def push_all(srv, app, n, batch=1000):
    """Pushes n lines of `app` in batches; returns the time each batch was
    acknowledged, by the first line of the batch."""
    acked = {}
    base = H.now_ns()
    for start in range(0, n, batch):
        lines = [H.entry(base + i, "%s line %d level=info msg=\"request served\"" % (app, i))
                 for i in range(start, min(n, start + batch))]
        H.push_ok(srv, [H.Stream({"job": "bench", "app": app}, lines)], fmt="snappy")
        acked[lines[0].line] = time.monotonic()
    return acked


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=200000)
    ap.add_argument("--followers", type=int, default=200)
    a = ap.parse_args()
    tmp = H.make_tempdir("bench-tail")
    port = H.free_port()
    cfg = H.make_config(os.path.join(tmp, "data"), port,
                        limits={"max_concurrent_tail_requests": a.followers + 10,
                                "ingestion_rate_mb": 1000, "ingestion_burst_size_mb": 1000})
    srv = H.Server("bench-tail", cfg, workdir=tmp)
    srv.start()
    try:
        c0 = server_cpu(srv)
        push_all(srv, "warmup", a.lines // 10)
        c1 = server_cpu(srv)
        push_all(srv, "alone", a.lines)
        alone = server_cpu(srv) - c1
        del c0

        idle = [T.open_tail(port, '{job="bench", app="other-%d"}' % i, limit=1) for i in range(a.followers)]
        match = T.open_tail(port, '{job="bench", app="followed"} |= "line"', limit=1)
        stop = threading.Event()

        def keep_idle_alive():
            # idle followers only get pings; answer them now and then
            while not stop.is_set():
                for ws in idle:
                    try:
                        ws.sock.setblocking(False)
                        ws.sock.recv(65536)
                    except (BlockingIOError, OSError):
                        pass
                    finally:
                        ws.sock.setblocking(True)
                time.sleep(0.5)

        t = threading.Thread(target=keep_idle_alive, daemon=True)
        t.start()
        received = {}

        def follow():
            got = 0
            while got < a.lines:
                try:
                    m = match.recv_msg(timeout=30)
                except Exception:  # noqa: BLE001 - the bench reports what arrived
                    return
                now = time.monotonic()
                for s in m.get("streams", []):
                    for _, line in s["values"]:
                        received[line] = now
                        got += 1

        f = threading.Thread(target=follow, daemon=True)
        f.start()
        time.sleep(0.5)
        c2 = server_cpu(srv)
        acked = push_all(srv, "followed", a.lines)
        f.join(60)
        followed = server_cpu(srv) - c2
        stop.set()
        delays = [received[k] - v for k, v in acked.items() if k in received]
        per = 100000.0 / a.lines
        print("  %d lines pushed with nobody tailing: %.2f CPU-s per 100k lines" % (a.lines, alone * per))
        print("  the same with %d idle followers (other selectors) + 1 following all: %.2f CPU-s per 100k lines"
              % (a.followers, followed * per))
        print("  the follower received %d of %d lines; worst delay from push acknowledged to line received: %.0f ms"
              % (len(received), a.lines, 1000 * max(delays) if delays else float("nan")))
    finally:
        srv.kill(quiet=True)


if __name__ == "__main__":
    main()
