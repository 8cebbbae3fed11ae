"""
Retention (compactor.retention_enabled with limits_config.retention_period):
lines pushed with timestamps days old (reject_old_samples off) and flushed
disappear from query_range, /series and the chunk directory after a sweep,
while recent lines stay; the state holds across a restart; the sweep is
counted on /metrics; with retention_enabled false (Loki's default) nothing
is deleted; a config with a negative delete delay is refused.

Runs on the main thread; starts noa-server on free loopback ports.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check, entry, Stream  # noqa: E402

DAY = 86400 * H.NS


def chunk_files(data):
    return [f for f in H.files_under(os.path.join(data, "chunks")) if ".noatmp" not in f]


def push_set(srv, now):
    """Old lines (3 and 2 days back) and recent ones, in two streams."""
    old = [entry(now - 3 * DAY + i * H.NS, "old line %d" % i) for i in range(50)]
    old += [entry(now - 2 * DAY + i * H.NS, "older day line %d" % i) for i in range(50)]
    recent = [entry(now - 60 * H.NS + i * 1000, "recent line %d" % i) for i in range(50)]
    H.push_ok(srv, [Stream({"job": "old"}, old), Stream({"job": "recent"}, recent)], fmt="snappy")
    H.push_ok(srv, [Stream({"job": "mixed"}, [entry(now - 3 * DAY, "mixed old")])], fmt="json")
    H.push_ok(srv, [Stream({"job": "mixed"}, [entry(now - 30 * H.NS, "mixed new")])], fmt="json")
    return old, recent


def flush_and_wait(srv, want):
    """POST /flush, then wait until `want` chunks were written in all."""
    r = srv.request("POST", "/flush")
    check(r.status == 204, "/flush answered %d", r.status)
    H.wait_for(lambda: (metric(metrics(srv), "noa_ingester_chunks_flushed_total") or 0) >= want, 30,
               "%d chunks flushed" % want)


def count(srv, job, start, end):
    return len(H.fetch_all(srv, '{job="%s"}' % job, start, end))


def series_jobs(srv, start, end):
    r = srv.get("/loki/api/v1/series", params={
        "match[]": '{job=~".+"}', "start": str(start), "end": str(end)})
    check(r.status == 200, "series answered %d: %s", r.status, H.short(r.body))
    return sorted(s.get("job") for s in r.json()["data"])


def metrics(srv):
    r = srv.get("/metrics")
    check(r.status == 200, "/metrics answered %d", r.status)
    return H.parse_metrics(r.text)


def metric(m, name, labels=None):
    for lb, v in m.get(name, []):
        if labels is None or all(lb.get(k) == x for k, x in labels.items()):
            return v
    return None


def body(suite):
    tmp = H.make_tempdir("retention")
    now = H.now_ns()
    start, end = now - 5 * DAY, now + 60 * H.NS
    # Idle streams are cut within a second, so /flush and idle flushing
    # write every chunk quickly; retention sweeps every second.
    ingester = dict(H.SMALL_CHUNKS, chunk_idle_period="1s")
    limits = {"reject_old_samples": False, "retention_period": "24h"}
    data = os.path.join(tmp, "data")
    srv = H.Server("retention", H.make_config(data, H.free_port(), ingester=ingester, limits=limits,
                                              extra={"compactor": {
                                                  "retention_enabled": True,
                                                  "compaction_interval": "1s",
                                                  "retention_delete_delay": "2s",
                                                  "retention_delete_worker_count": 10,
                                                  "delete_request_store": "filesystem"}}),
                   workdir=tmp)

    with suite.case("old chunks leave the index, then the disk; recent ones stay"):
        srv.start()
        push_set(srv, now)
        flush_and_wait(srv, 3)
        # the sweep takes the old chunks out of the index first...
        H.wait_for(lambda: count(srv, "old", start, end) == 0, 30, "old lines gone from query_range")
        check(count(srv, "recent", start, end) == 50, "recent lines lost")
        # the mixed stream's one chunk ends 30s ago: it straddles the cutoff
        # and is kept whole, its 3-day-old line included (Loki's rule)
        got = H.fetch_all(srv, '{job="mixed"}', start, end)
        check([g.line for g in got] == ["mixed old", "mixed new"], "mixed stream: %r",
              [g.line for g in got])

        # ...and the files after the delete delay
        def all_deleted():
            m = metrics(srv)
            return (metric(m, "noa_compactor_deleted_chunks_total") or 0) >= \
                (metric(m, "noa_compactor_marked_chunks_total") or 0) > 0
        H.wait_for(all_deleted, 30, "every marked chunk deleted")
        m = metrics(srv)
        marked = metric(m, "noa_compactor_marked_chunks_total")
        flushed = metric(m, "noa_ingester_chunks_flushed_total")
        check(marked >= 1, "marked %r chunks", marked)
        check(metric(m, "noa_compactor_deleted_chunks_total") == marked, "deleted != marked")
        check(metric(m, "noa_compactor_deleted_bytes_total") > 0, "no bytes counted")
        check(metric(m, "noa_compactor_apply_retention_operation_total", {"status": "success"}) >= 1,
              "no successful sweep counted")
        check(metric(m, "noa_compactor_apply_retention_operation_total", {"status": "failure"}) == 0,
              "a sweep failed")
        last = metric(m, "noa_compactor_apply_retention_last_successful_run_timestamp_seconds")
        check(last and abs(last - H.now_ns() / H.NS) < 60, "last successful sweep at %r", last)
        files = chunk_files(data)
        check(len(files) == flushed - marked, "chunk files left: %r (flushed %r, deleted %r)",
              files, flushed, marked)
        check(series_jobs(srv, now - 4 * DAY, now - DAY) == ["mixed"],
              "series of the deleted days: %r", series_jobs(srv, now - 4 * DAY, now - DAY))
        check(series_jobs(srv, now - 3600 * H.NS, end) == ["mixed", "recent"],
              "recent series: %r", series_jobs(srv, now - 3600 * H.NS, end))
        markers = os.listdir(os.path.join(data, "compactor", "retention"))
        check(not [x for x in markers if x.endswith(".mrk")], "markers left: %r", markers)
        log = open(srv.log_path).read()
        check('msg="retention sweep done"' in log and "marked_chunks=" in log,
              "no sweep line in the log")
        kept = len(files)

    with suite.case("the state persists across a restart"):
        srv.stop()
        srv.start()
        check(count(srv, "old", start, end) == 0, "old lines are back after a restart")
        check(count(srv, "recent", start, end) == 50, "recent lines lost after a restart")
        check(count(srv, "mixed", start, end) == 2, "mixed lines lost after a restart")
        check(len(chunk_files(data)) == kept, "chunk files after restart: %r", chunk_files(data))
        srv.stop()

    data2 = os.path.join(tmp, "data2")
    srv2 = H.Server("keep", H.make_config(data2, H.free_port(), ingester=ingester, limits=limits,
                                          extra={"compactor": {"compaction_interval": "1s"}}),
                    workdir=H.make_tempdir("retention-off"))
    with suite.case("retention_enabled defaults to false: nothing is deleted"):
        srv2.start()
        push_set(srv2, now)
        flush_and_wait(srv2, 3)
        n = len(chunk_files(data2))
        check(n == 3, "chunk files: %r", chunk_files(data2))
        H.wait_for(lambda: count(srv2, "recent", start, end) == 50, 10, "recent lines")
        # Waiting for nothing to happen needs some time: two sweep intervals.
        time.sleep(2)
        check(count(srv2, "old", start, end) == 100, "old lines deleted with retention off")
        check(len(chunk_files(data2)) == n, "chunk files deleted with retention off")
        check(metric(metrics(srv2), "noa_compactor_marked_chunks_total") is None,
              "retention metrics registered with retention off")
        srv2.stop()

    data4 = os.path.join(tmp, "data4")
    rules = [{"selector": '{job="short"}', "priority": 1, "period": "24h"},
             {"selector": '{job=~"short|other"}', "priority": 1, "period": "30d"}]
    srv4 = H.Server("streams", H.make_config(
        data4, H.free_port(), ingester=ingester,
        limits={"reject_old_samples": False, "retention_period": "0s", "retention_stream": rules},
        extra={"compactor": {"retention_enabled": True, "compaction_interval": "1s",
                             "retention_delete_delay": "0s"}}),
        workdir=H.make_tempdir("retention-streams"))
    with suite.case("retention_stream: the matching rule's period, others kept forever"):
        srv4.start()
        old = [entry(now - 3 * DAY + i * H.NS, "line %d" % i) for i in range(20)]
        H.push_ok(srv4, [Stream({"job": "short"}, old), Stream({"job": "other"}, old),
                         Stream({"job": "forever"}, old)], fmt="snappy")
        flush_and_wait(srv4, 3)
        # job=short: two rules of equal priority match, the shorter (24h) applies
        H.wait_for(lambda: count(srv4, "short", start, end) == 0, 30, "job=short deleted")
        H.wait_for(lambda: (metric(metrics(srv4), "noa_compactor_deleted_chunks_total") or 0) >= 1,
                   30, "job=short's chunk file deleted")
        check(count(srv4, "other", start, end) == 20, "job=other (30d rule) lost lines")
        check(count(srv4, "forever", start, end) == 20, "job=forever (no rule, period 0) lost lines")
        check(metric(metrics(srv4), "noa_compactor_marked_chunks_total") == 1, "marked != 1")
        check(len(chunk_files(data4)) == 2, "chunk files: %r", chunk_files(data4))
        srv4.stop()

    with suite.case("a bad compactor config is refused"):
        bad = H.make_config(os.path.join(tmp, "data3"), H.free_port(),
                            extra={"compactor": {"retention_delete_delay": "-1s"}})
        path = os.path.join(tmp, "bad.yaml")
        with open(path, "w") as f:
            f.write(H.to_yaml(bad) + "\n")
        code, out, err = H.run_expect_exit([os.path.join(H.BIN, "noa-server"),
                                            "-config.file=" + path, "-config.verify"])
        check(code != 0, "a negative delete delay was accepted: %s", out)
        check("compactor" in err, "error does not name the compactor: %s", err)
        bad = H.make_config(os.path.join(tmp, "data3"), H.free_port(), limits={
            "retention_stream": [{"selector": '{job="x"}', "priority": 1, "period": "5h"}]})
        with open(path, "w") as f:
            f.write(H.to_yaml(bad) + "\n")
        code, out, err = H.run_expect_exit([os.path.join(H.BIN, "noa-server"),
                                            "-config.file=" + path, "-config.verify"])
        check(code != 0, "a 5h stream retention was accepted: %s", out)
        check("retention period must be >= 24h was 5h" in err, "error: %s", err)


if __name__ == "__main__":
    H.main("retention", body)
