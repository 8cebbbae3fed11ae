"""
Durability under crashes: "acknowledged means queryable after a crash".

Several pusher threads push batches of uniquely numbered lines (snappy
protobuf, zstd protobuf and JSON; one or two streams per push; some entries
with structured metadata) and remember which pushes got a 2xx. The main
thread SIGKILLs the server at random moments (at least 20 times; every
eighth stop is a graceful SIGTERM instead, in addition), restarts it, waits
for /ready and, while no push is in flight, checks the whole store:

  * every acknowledged entry is present exactly once, with its timestamp
    and labels;
  * every unacknowledged push is entirely present or entirely absent, and
    stays that way across later restarts;
  * nothing else is there (no unknown or duplicated lines).

Small chunk settings make flushes happen during the run. NOA_SOAK=1 runs
200 kills instead of 25.

Threads: the main thread owns the server (start/kill/verify); pusher threads
only do HTTP and append to their own records under a lock.
"""

import collections
import http.client
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check, Stream  # noqa: E402

SOAK = os.environ.get("NOA_SOAK") == "1"
KILLS = 200 if SOAK else 25
GRACEFUL_EVERY = 8
TIME_BUDGET = 200  # seconds; past it (and past 20 kills) the run ends early, outside soak
PUSHERS = 4
SELECTOR = '{test="crash"}'
FORMATS = ("snappy", "snappy", "json", "zstd")


class Push:
    __slots__ = ("id", "streams", "fmt", "state", "decided", "status")

    def __init__(self, pid, streams, fmt):
        self.id = pid
        self.streams = streams
        self.fmt = fmt
        self.state = "inflight"   # acked | failed | rejected
        self.decided = None       # for failed pushes: present | absent, once seen
        self.status = None

    def entries(self):
        for s in self.streams:
            for e in s.entries:
                yield s.labels, e


class Gate:
    """Lets pushers in while the server is up; the main thread closes it
    and waits for in-flight pushes to finish before restarting."""

    def __init__(self):
        self.cond = threading.Condition()
        self.up = False
        self.stopping = False
        self.inflight = 0

    def enter(self):
        with self.cond:
            while not self.up and not self.stopping:
                self.cond.wait(0.5)
            if self.stopping:
                return False
            self.inflight += 1
            return True

    def leave(self):
        with self.cond:
            self.inflight -= 1
            self.cond.notify_all()

    def open(self):
        with self.cond:
            self.up = True
            self.cond.notify_all()

    def close(self, timeout=60.0):
        with self.cond:
            self.up = False
            deadline = time.monotonic() + timeout
            while self.inflight:
                left = deadline - time.monotonic()
                check(left > 0, "%d pushes still in flight %.0fs after the server stopped", self.inflight, timeout)
                self.cond.wait(left)

    def stop(self):
        with self.cond:
            self.stopping = True
            self.up = False
            self.cond.notify_all()


class Pusher(threading.Thread):
    def __init__(self, idx, srv, gate, seed):
        super().__init__(name="pusher-%d" % idx, daemon=True)
        self.idx = idx
        self.srv = srv
        self.gate = gate
        self.rnd = random.Random(seed)
        self.lock = threading.Lock()
        self.pushes = []
        self.last_ts = {}
        self.seq = 0
        self.error = None

    def make_push(self):
        self.seq += 1
        kinds = self.rnd.choice((["a"], ["b"], ["a", "b"]))
        streams = []
        n_total = 0
        for kind in kinds:
            labels = {"test": "crash", "pusher": str(self.idx), "kind": kind}
            s = Stream(labels)
            n = self.rnd.randint(1, 12)
            for j in range(n):
                key = kind
                ts = max(self.last_ts.get(key, 0) + 1, H.now_ns())
                self.last_ts[key] = ts
                line = "p%d-%06d-%s-%02d %s" % (self.idx, self.seq, kind, j, "x" * self.rnd.randint(0, 160))
                meta = {"push": "%d-%d" % (self.idx, self.seq)} if self.rnd.random() < 0.2 else None
                s.entries.append(H.entry(ts, line, meta))
            n_total += n
            streams.append(s)
        return Push((self.idx, self.seq), streams, self.rnd.choice(FORMATS))

    def run(self):
        try:
            while self.gate.enter():
                try:
                    p = self.make_push()
                    with self.lock:
                        self.pushes.append(p)
                    try:
                        r = H.push(self.srv, p.streams, p.fmt, timeout=15.0)
                        p.status = r.status
                        if 200 <= r.status < 300:
                            p.state = "acked"
                        elif r.status == 429 or r.status >= 500:
                            p.state = "failed"
                        else:
                            p.state = "rejected"
                            p.status = "%d %s" % (r.status, H.short(r.body, 200))
                    except (OSError, http.client.HTTPException) as e:
                        p.state = "failed"
                        p.status = type(e).__name__
                finally:
                    self.gate.leave()
                time.sleep(self.rnd.uniform(0.005, 0.04))
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            self.error = e

    def snapshot(self):
        with self.lock:
            return list(self.pushes)


class Checker:
    def __init__(self, srv, pushers, lo):
        self.srv = srv
        self.pushers = pushers
        self.lo = lo
        self.checked_entries = 0

    def verify(self, when):
        t0 = time.monotonic()
        pushes = [p for pu in self.pushers for p in pu.snapshot()]
        hi = H.now_ns() + 600 * H.NS
        got = H.fetch_all(self.srv, SELECTOR, self.lo, hi)
        by_line = collections.defaultdict(list)
        for g in got:
            by_line[g.line].append(g)
        problems = []
        known = set()
        for p in pushes:
            check(p.state != "inflight", "test bug: push %s in flight during verify", p.id)
            present = []
            for labels, e in p.entries():
                known.add(e.line)
                gs = by_line.get(e.line, [])
                if len(gs) > 1:
                    problems.append("line %r stored %d times" % (e.line[:40], len(gs)))
                if gs:
                    g = gs[0]
                    if g.ts != e.ts:
                        problems.append("line %r came back with ts %d, pushed %d" % (e.line[:40], g.ts, e.ts))
                    if not H.labels_subset(labels, g.labels) or not H.labels_subset(dict(e.meta), g.labels):
                        problems.append("line %r came back with labels %s, pushed %s %s" % (
                            e.line[:40], dict(g.labels), labels, dict(e.meta)))
                present.append(bool(gs))
            n_present = sum(present)
            if p.state == "acked":
                if n_present != len(present):
                    problems.append("acknowledged push %s (%s) lost %d of %d entries" % (
                        p.id, p.fmt, len(present) - n_present, len(present)))
            elif p.state == "failed":
                if 0 < n_present < len(present):
                    problems.append("unacknowledged push %s (%s, %s) is half there: %d of %d entries" % (
                        p.id, p.fmt, p.status, n_present, len(present)))
                else:
                    now = "present" if n_present else "absent"
                    if p.decided is None:
                        p.decided = now
                    elif p.decided != now:
                        problems.append("unacknowledged push %s was %s, now %s" % (p.id, p.decided, now))
            elif p.state == "rejected":
                problems.append("valid push %s rejected: %s" % (p.id, p.status))
        for line in by_line:
            if line not in known:
                problems.append("unexpected line %r" % line[:60])
        self.checked_entries += len(got)
        acked = sum(1 for p in pushes if p.state == "acked")
        print("     verify %-28s %6d entries, %5d pushes (%d acked) in %.2fs" % (
            when, len(got), len(pushes), acked, time.monotonic() - t0), flush=True)
        if problems:
            raise H.TestFailure("%s: %d problem(s):\n  %s" % (when, len(problems), "\n  ".join(problems[:40])))
        return len(got)


def body(suite):
    t_start = time.monotonic()
    seed = int(os.environ.get("NOA_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    print("seed %d (NOA_SEED=%d reproduces the schedule), %d kills" % (seed, seed, KILLS))
    tmp = H.make_tempdir("crash")
    port = H.free_port()
    # Full chunks flush at once (small target size), idle ones stay in memory
    # across kills, and the WAL checkpoints every second: kills land before,
    # during and after flushes and checkpoints.
    ingester = dict(H.SMALL_CHUNKS, chunk_idle_period="20s", wal={"checkpoint_duration": "1s"})
    cfg = H.make_config(os.path.join(tmp, "data"), port, ingester=ingester,
                        limits={"ingestion_rate_mb": 64, "ingestion_burst_size_mb": 128})
    wal_dir = os.path.join(tmp, "data", "wal")
    checkpoints_seen = set()
    srv = H.Server("crash", cfg, workdir=tmp)
    gate = Gate()
    pushers = [Pusher(i, srv, gate, seed * 100 + i) for i in range(PUSHERS)]
    checker = Checker(srv, pushers, H.now_ns() - 600 * H.NS)
    kills = graceful = 0
    ready_times = []

    with suite.case("start"):
        srv.start()
    if not srv.alive():
        return
    for p in pushers:
        p.start()
    gate.open()
    try:
        with suite.case("%d SIGKILLs with restarts, store checked after each" % KILLS):
            cycle = 0
            while kills < KILLS:
                if not SOAK and kills >= 20 and time.monotonic() - t_start > TIME_BUDGET:
                    print("     stopping after %d kills: %.0fs time budget used" % (kills, TIME_BUDGET))
                    break
                cycle += 1
                time.sleep(rnd.uniform(0.3, 2.5))
                for p in pushers:
                    check(p.error is None, "pusher %d crashed: %r", p.idx, p.error)
                if cycle % GRACEFUL_EVERY == 0:
                    srv.stop(timeout=30)
                    graceful += 1
                    how = "graceful stop %d" % graceful
                else:
                    check(srv.alive(), "server died by itself\n%s", srv.tail())
                    srv.kill()
                    kills += 1
                    how = "kill %d/%d" % (kills, KILLS)
                gate.close()
                checkpoints_seen.update(f for f in os.listdir(wal_dir) if f.startswith("checkpoint."))
                ready_times.append(srv.start(timeout=120))
                checker.verify("after %s" % how)
                gate.open()
        with suite.case("final graceful restart and full check"):
            gate.stop()
            gate.close()
            for p in pushers:
                p.join(30)
                check(not p.is_alive(), "pusher %d did not stop", p.idx)
            srv.stop()
            srv.start()
            n = checker.verify("final")
            srv.stop()
            pushes = [x for p in pushers for x in p.snapshot()]
            acked = [x for x in pushes if x.state == "acked"]
            failed = [x for x in pushes if x.state == "failed"]
            print("     figures: %d kills, %d graceful stops, %d pushes: %d acked (%d entries), "
                  "%d unacknowledged (%d present, %d absent); %d entries in store; "
                  "%d entries checked over all verifications; ready after restart: max %.2fs, mean %.2fs; %.0fs total" % (
                      kills, graceful, len(pushes), len(acked), sum(len(list(x.entries())) for x in acked),
                      len(failed), sum(1 for x in failed if x.decided == "present"),
                      sum(1 for x in failed if x.decided == "absent"), n, checker.checked_entries,
                      max(ready_times or [0]), sum(ready_times) / max(1, len(ready_times)),
                      time.monotonic() - t_start))
            check(len(acked) > 10 * KILLS, "only %d pushes acknowledged over %d kills", len(acked), KILLS)
            check(kills >= 20, "only %d kills", kills)
            print("     %d distinct WAL checkpoints seen" % len(checkpoints_seen))
            check(len(checkpoints_seen) >= 3, "only %d WAL checkpoints were written", len(checkpoints_seen))
    finally:
        gate.stop()


if __name__ == "__main__":
    H.main("crash", body)
