"""
The WAL's life cycle on disk: segments whose every entry reached a flushed
chunk are deleted without waiting for a checkpoint; a checkpoint replaces
the segments it covers; and what both leave behind replays to the same
store after a SIGKILL.

Runs on the main thread; starts noa-server on a free loopback port.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check, entry, Stream  # noqa: E402


def segments(wal):
    return sorted(f for f in os.listdir(wal) if f.isdigit())


def checkpoints(wal):
    return sorted(f for f in os.listdir(wal) if f.startswith("checkpoint.") and not f.endswith(".tmp"))


def push_lines(srv, job, base, n):
    streams = [Stream({"job": job}, [entry(base + i, "%s line %d" % (job, i)) for i in range(n)])]
    H.push_ok(srv, streams, fmt="snappy")


def count(srv, job, start, end):
    return len(H.fetch_all(srv, '{job="%s"}' % job, start, end))


def body(suite):
    tmp = H.make_tempdir("wal")
    port = H.free_port()
    data = os.path.join(tmp, "data")
    wal = os.path.join(data, "wal")
    base = H.now_ns() - 60 * H.NS
    start, end = base - H.NS, H.now_ns() + 60 * H.NS

    # Flushed data: idle streams are cut after 1s; checkpoints are rare.
    flushing = dict(H.SMALL_CHUNKS, chunk_idle_period="1s", wal={"checkpoint_duration": "1h"})
    srv = H.Server("wal", H.make_config(data, port, ingester=flushing), workdir=tmp)

    with suite.case("segments of flushed data are deleted"):
        srv.start()
        push_lines(srv, "flushed", base, 200)
        srv.stop()
        srv.start()  # appends now go to a new segment; the first holds all of "flushed"
        first = segments(wal)[0]
        H.wait_for(lambda: first not in segments(wal), 30,
                   "segment %s deleted once its entries are in chunks" % first)
        check(count(srv, "flushed", start, end) == 200, "flushed entries lost")
        check(not checkpoints(wal), "a checkpoint was written: %r", checkpoints(wal))
        srv.stop()

    # Unflushed data: streams never go idle, so only a checkpoint frees segments.
    holding = dict(H.SMALL_CHUNKS, chunk_idle_period="1h", max_chunk_age="2h",
                   chunk_target_size=1 << 20, wal={"checkpoint_duration": "1s"})
    srv2 = H.Server("wal2", H.make_config(os.path.join(tmp, "data2"), H.free_port(), ingester=holding),
                    workdir=tmp)
    wal2 = os.path.join(tmp, "data2", "wal")
    with suite.case("a checkpoint replaces the segments it covers"):
        srv2.start()
        push_lines(srv2, "held", base, 300)
        srv2.stop()
        srv2.start()
        first = segments(wal2)[0]
        H.wait_for(lambda: checkpoints(wal2) and first not in segments(wal2), 30,
                   "checkpoint written and segment %s deleted" % first)
        push_lines(srv2, "held", base + 1000, 50)

    with suite.case("checkpoint + later segments replay after SIGKILL"):
        srv2.kill()
        srv2.start()
        check(count(srv2, "held", start, end) == 350, "entries after checkpoint replay: %d",
              count(srv2, "held", start, end))
        srv2.stop()


def disk_full_cases(suite):
    tmp = H.make_tempdir("walfull")
    data = os.path.join(tmp, "data")
    # Any filesystem in use is "full" at this threshold.
    ingester = {"flush_check_period": "200ms", "wal": {"disk_full_threshold": 0.000001}}
    srv = H.Server("walfull", H.make_config(data, H.free_port(), ingester=ingester), workdir=tmp)
    with suite.case("pushes are refused with a retryable 503 while the WAL disk is full"):
        srv.start()
        streams = [Stream({"job": "full"}, [entry(H.now_ns(), "not stored")])]
        r = H.push(srv, streams, fmt="json")
        check(r.status == 503, "status %d: %s", r.status, H.short(r.body))
        check(b"disk is full" in r.body, "body %r", r.body)
        m = H.parse_metrics(srv.get("/metrics").text)
        full, _ = H.metric_sum(m, "^noa_ingester_wal_disk_full$")
        check(full == 1, "disk-full gauge is %r", full)
        srv.stop()
        now = H.now_ns()
        srv2 = H.Server("walfull2", H.make_config(data, H.free_port()), workdir=tmp)
        srv2.start()
        check(count(srv2, "full", now - 600 * H.NS, now + 600 * H.NS) == 0, "refused push stored")
        srv2.stop()


def all_cases(suite):
    body(suite)
    disk_full_cases(suite)


if __name__ == "__main__":
    H.main("wal_lifecycle", all_cases)
