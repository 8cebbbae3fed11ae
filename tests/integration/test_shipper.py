"""
noa-shipper end to end: real files, a real noa-shipper process and a real
noa-server on loopback. Every case writes a known set of lines, then reads
them back through the server's query API and checks that exactly that set
arrived: no line missing, none twice.

Cases: plain tailing with a last line that has no newline; rename rotation
under continuous writing (lines written to the old file after the rename
included); copytruncate; several rotations while the server is down (the
shipper is behind, then catches up); SIGKILL of the shipper at random
moments while writing (CRI lines: the server's dedup absorbs the resend);
SIGKILL of the server; a thousand files; CRI partial lines joined; a
multiline stack trace; the loki_push_api receiver; a systemd journal
(written with systemd-journal-remote); -dry-run; configuration errors with
file:line:col; /metrics (promtool) and /targets.

Runs on the main thread, plus one writer thread per case that writes
continuously; every process it starts is stopped at exit.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check  # noqa: E402

NS = H.NS
SEED = int(os.environ.get("NOA_SEED") or random.randrange(1 << 30))
rng = random.Random(SEED)


class Shipper(H.Server):
    """One noa-shipper over one config and positions file."""

    def __init__(self, name, config, extra_args=()):
        workdir = H.make_tempdir(name)
        cfg = dict(config)
        port = H.free_port()
        cfg["server"] = dict(cfg.get("server") or {}, http_listen_address="127.0.0.1",
                             http_listen_port=port)
        super().__init__(name, config=None, workdir=workdir, port=port, args=extra_args)
        self.config = cfg
        self.config_path = os.path.join(workdir, "shipper.yaml")
        with open(self.config_path, "w") as f:
            f.write(H.to_yaml(cfg) + "\n")
        self.log_path = os.path.join(workdir, "shipper.log")

    @property
    def data_dir(self):
        return None

    def command(self):
        binary = os.path.join(H.BIN, "noa-shipper")
        if not os.access(binary, os.X_OK):
            raise H.TestFailure("noa-shipper not found at %s" % binary)
        return [binary, "-config.file=" + self.config_path] + self.args


def shipper_config(server, workdir, scrape, client=None, positions_sync="200ms"):
    c = {"url": server.url + "/loki/api/v1/push", "batchwait": "100ms",
         "backoff_config": {"min_period": "100ms", "max_period": "1s"}}
    c.update(client or {})
    return {
        "server": {"graceful_shutdown_timeout": "5s"},
        "positions": {"filename": os.path.join(workdir, "positions.yaml"),
                      "sync_period": positions_sync},
        "clients": [c],
        "scrape_configs": scrape,
    }


def file_job(job, glob, stages=None, labels=None):
    lb = {"job": job, "__path__": glob}
    lb.update(labels or {})
    sc = {"job_name": job, "static_configs": [{"targets": ["localhost"], "labels": lb}]}
    if stages:
        sc["pipeline_stages"] = stages
    return sc


def lines_of(server, job, start_ns, end_ns=None):
    end_ns = end_ns or H.now_ns() + 600 * NS
    got = H.fetch_all(server, '{job="%s"}' % job, start_ns, end_ns)
    return got


def expect_exactly(server, job, want, start_ns, timeout=30.0, field=lambda g: g.line):
    """Waits until the server holds every wanted line of job, then checks
    nothing is missing, duplicated or unexpected."""
    want_sorted = sorted(want)

    def complete():
        got = lines_of(server, job, start_ns)
        return len(got) >= len(want)

    try:
        H.wait_for(complete, timeout, "%d lines of job %s" % (len(want), job), interval=0.3)
    except H.TestFailure:
        pass
    time.sleep(0.5)  # anything still in flight (a duplicate) lands now
    got = [field(g) for g in lines_of(server, job, start_ns)]
    if sorted(got) != want_sorted:
        gs, ws = {}, {}
        for x in got:
            gs[x] = gs.get(x, 0) + 1
        for x in want:
            ws[x] = ws.get(x, 0) + 1
        missing = [x for x in ws if gs.get(x, 0) < ws[x]]
        extra = [x for x in gs if gs[x] > ws.get(x, 0)]
        raise H.TestFailure("job %s: %d lines arrived, %d wanted; missing %d (e.g. %r), "
                            "duplicated or unexpected %d (e.g. %r)" % (
                                job, len(got), len(want), len(missing), sorted(missing)[:5],
                                len(extra), sorted(extra)[:5]))
    return got


class Writer(threading.Thread):
    """Appends numbered lines to one file, keeping its file object open as a
    logger does; rotate_* are called from the main thread between lines."""

    def __init__(self, path, prefix, fmt=None, rate=2000):
        super().__init__(daemon=True)
        self.path = path
        self.prefix = prefix
        self.fmt = fmt or (lambda i, p: "%s-%06d" % (p, i))
        self.rate = rate
        self.lock = threading.Lock()
        self.f = open(path, "a")
        self.n = 0
        self.lines = []
        self.stop_flag = False
        self.paused = threading.Event()
        self.paused.set()

    def write_one(self):
        line = self.fmt(self.n, self.prefix)
        with self.lock:
            self.f.write(line + "\n")
            self.f.flush()
        self.lines.append(line)
        self.n += 1

    def run(self):
        while not self.stop_flag:
            self.paused.wait()
            if self.stop_flag:
                break
            self.write_one()
            time.sleep(1.0 / self.rate)

    def finish(self):
        self.stop_flag = True
        self.paused.set()
        self.join()
        self.f.close()

    def rotate_rename(self, suffix, extra_old=3):
        """logrotate's create mode: rename, the app writes a few more lines
        to the old file, then reopens the path."""
        with self.lock:
            os.rename(self.path, self.path + suffix)
            for _ in range(extra_old):
                line = self.fmt(self.n, self.prefix)
                self.f.write(line + "\n")
                self.f.flush()
                self.lines.append(line)
                self.n += 1
            self.f.close()
            self.f = open(self.path, "a")

    def rotate_copytruncate(self, suffix):
        """logrotate's copytruncate, with the writer paused around it (the
        window between copy and truncate loses lines for any tailer that is
        not at the end of the file)."""
        self.paused.clear()
        time.sleep(0.3)
        with self.lock:
            shutil.copyfile(self.path, self.path + suffix)
            os.truncate(self.path, 0)
        self.paused.set()


def cri_line(i, prefix, base, stream="stdout", flag="F", text=None):
    """A CRI line stamped base + i microseconds."""
    ts = base + i * 1000
    secs, ns = divmod(ts, NS)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + ".%09dZ" % ns
    return "%s %s %s %s" % (stamp, stream, flag, text if text is not None else "%s-%06d" % (prefix, i))


# ---------------------------------------------------------------------------
# cases

def case_basic(suite, server):
    with suite.case("tail: lines and a last line without newline, filename label"):
        d = H.make_tempdir("basic")
        logs = os.path.join(d, "logs")
        os.makedirs(logs)
        t0 = H.now_ns() - NS
        path = os.path.join(logs, "app.log")
        with open(path, "w") as f:
            for i in range(500):
                f.write("before-start-%d\n" % i)
        sh = Shipper("shipper-basic", shipper_config(server, d, [file_job("basic", logs + "/*.log")]))
        sh.start()
        want = ["before-start-%d" % i for i in range(500)]
        with open(path, "a") as f:
            for i in range(500):
                f.write("after-start-%d\n" % i)
            f.write("no newline at the end")
        want += ["after-start-%d" % i for i in range(500)] + ["no newline at the end"]
        expect_exactly(server, "basic", want, t0)
        all_got = lines_of(server, "basic", t0)
        lb = dict(all_got[0].labels)
        check(lb.get("filename") == path, "filename label %r, want %r", lb.get("filename"), path)
        check(lb.get("job") == "basic", "job label %r", lb.get("job"))
        # /targets and /ready
        r = sh.get("/targets", params={"format": "json"})
        check(r.status == 200, "/targets answered %d", r.status)
        j = r.json()
        check(j["jobs"][0]["job"] == "basic", "targets: %r", j)
        check(any(p["key"] == path for p in j["positions"]), "positions in /targets: %r", j["positions"])
        sh.stop()
        # the positions file names the file at its end (the partial line included)
        with open(os.path.join(d, "positions.yaml")) as f:
            text = f.read()
        size = os.path.getsize(path)
        check('"%s": "%d"' % (path, size) in text, "positions file does not hold %s at %d:\n%s", path, size, text)


def case_rename_rotation(suite, server):
    with suite.case("rename rotation under continuous writing"):
        d = H.make_tempdir("rot")
        logs = os.path.join(d, "logs")
        os.makedirs(logs)
        t0 = H.now_ns() - NS
        sh = Shipper("shipper-rot", shipper_config(server, d, [file_job("rot", logs + "/*.log")]))
        sh.start()
        w = Writer(os.path.join(logs, "app.log"), "rot", rate=3000)
        w.start()
        for k in range(5):
            time.sleep(0.4 + rng.random() * 0.3)
            w.rotate_rename(".%d" % (k + 1))
        time.sleep(0.3)
        w.finish()
        expect_exactly(server, "rot", w.lines, t0)
        sh.stop()


def case_copytruncate(suite, server):
    with suite.case("copytruncate rotation"):
        d = H.make_tempdir("ct")
        logs = os.path.join(d, "logs")
        os.makedirs(logs)
        t0 = H.now_ns() - NS
        sh = Shipper("shipper-ct", shipper_config(server, d, [file_job("ct", logs + "/*.log")]))
        sh.start()
        w = Writer(os.path.join(logs, "app.log"), "ct", rate=2000)
        w.start()
        for k in range(4):
            time.sleep(0.5)
            w.rotate_copytruncate(".%d" % (k + 1))
        time.sleep(0.3)
        w.finish()
        expect_exactly(server, "ct", w.lines, t0)
        sh.stop()


def case_behind(suite, server_factory):
    with suite.case("server down: several rotations while behind, then catch up"):
        server = server_factory("behind")
        d = H.make_tempdir("behind")
        logs = os.path.join(d, "logs")
        os.makedirs(logs)
        t0 = H.now_ns() - NS
        sh = Shipper("shipper-behind", shipper_config(server, d, [file_job("behind", logs + "/*.log")]))
        sh.start()
        w = Writer(os.path.join(logs, "app.log"), "behind", rate=2000)
        w.start()
        time.sleep(0.5)
        server.stop()
        for k in range(3):
            time.sleep(0.5)
            w.rotate_rename(".%d" % (k + 1))
        time.sleep(0.5)
        w.finish()
        server.start()
        expect_exactly(server, "behind", w.lines, t0, timeout=60)
        r = sh.get("/metrics")
        check(r.status == 200, "/metrics answered %d", r.status)
        check("promtail_batch_retries_total" in r.text, "no retry counter on /metrics")
        sh.stop()
        server.stop()


def case_kill_shipper(suite, server):
    with suite.case("SIGKILL of the shipper at random moments while writing (CRI)"):
        d = H.make_tempdir("kill")
        logs = os.path.join(d, "logs")
        os.makedirs(logs)
        t0 = H.now_ns() - 10 * NS
        cfg = shipper_config(server, d, [file_job("kill", logs + "/*.log", stages=[{"cri": {}}])],
                             positions_sync="100ms")
        sh = Shipper("shipper-kill", cfg)
        sh.start()
        base = H.now_ns()
        writers = [Writer(os.path.join(logs, "c%d.log" % k), "kill%d" % k,
                          fmt=lambda i, p: cri_line(i, p, base), rate=1500) for k in range(3)]
        for w in writers:
            w.start()
        kills = int(os.environ.get("NOA_SHIPPER_KILLS") or 6)
        for _ in range(kills):
            time.sleep(0.3 + rng.random() * 0.7)
            sh.kill()
            time.sleep(rng.random() * 0.3)
            sh.start()
        time.sleep(0.3)
        for w in writers:
            w.finish()
        want = []
        for w in writers:
            want += [ln.split(" ", 3)[3] for ln in w.lines]
        expect_exactly(server, "kill", want, t0, timeout=60)
        sh.stop()


def case_kill_server(suite, server_factory):
    with suite.case("SIGKILL of the server while shipping"):
        server = server_factory("killsrv")
        d = H.make_tempdir("killsrv")
        logs = os.path.join(d, "logs")
        os.makedirs(logs)
        t0 = H.now_ns() - 10 * NS
        cfg = shipper_config(server, d, [file_job("killsrv", logs + "/*.log", stages=[{"cri": {}}])])
        sh = Shipper("shipper-killsrv", cfg)
        sh.start()
        base = H.now_ns()
        w = Writer(os.path.join(logs, "s.log"), "killsrv", fmt=lambda i, p: cri_line(i, p, base), rate=2000)
        w.start()
        for _ in range(3):
            time.sleep(0.5 + rng.random() * 0.5)
            server.kill()
            time.sleep(0.3)
            server.start()
        time.sleep(0.3)
        w.finish()
        want = [ln.split(" ", 3)[3] for ln in w.lines]
        expect_exactly(server, "killsrv", want, t0, timeout=60)
        sh.stop()
        server.stop()


def case_many_files(suite, server):
    with suite.case("a thousand files"):
        d = H.make_tempdir("many")
        logs = os.path.join(d, "logs")
        t0 = H.now_ns() - NS
        want = []
        for k in range(1000):
            sub = os.path.join(logs, "d%02d" % (k % 20))
            os.makedirs(sub, exist_ok=True)
            with open(os.path.join(sub, "f%04d.log" % k), "w") as f:
                for i in range(5):
                    ln = "many-%04d-%d" % (k, i)
                    f.write(ln + "\n")
                    want.append(ln)
        sh = Shipper("shipper-many", shipper_config(server, d, [file_job("many", logs + "/**/*.log")]))
        sh.start()
        # and more lines once they are all being tailed
        time.sleep(1.0)
        for k in range(0, 1000, 7):
            with open(os.path.join(logs, "d%02d" % (k % 20), "f%04d.log" % k), "a") as f:
                ln = "many-%04d-late" % k
                f.write(ln + "\n")
                want.append(ln)
        expect_exactly(server, "many", want, t0, timeout=60)
        rss = sh.proc_status("VmHWM")
        print("     shipper peak RSS with 1000 files: %d KiB" % rss)
        sh.stop()


def case_cri_partial(suite, server):
    with suite.case("CRI partial lines joined"):
        d = H.make_tempdir("cri")
        logs = os.path.join(d, "logs")
        os.makedirs(logs)
        t0 = H.now_ns() - 10 * NS
        sh = Shipper("shipper-cri", shipper_config(
            server, d, [file_job("cri", logs + "/*.log", stages=[{"cri": {}}])]))
        sh.start()
        want = []
        base = H.now_ns()
        with open(os.path.join(logs, "p.log"), "w") as f:
            n = 0
            for k in range(50):
                parts = ["part%d-%d " % (k, j) + "x" * rng.randrange(1, 50) for j in range(rng.randrange(1, 5))]
                for j, p in enumerate(parts):
                    flag = "F" if j == len(parts) - 1 else "P"
                    f.write(cri_line(n, "cri", base, flag=flag, text=p) + "\n")
                    n += 1
                want.append("".join(parts))
        expect_exactly(server, "cri", want, t0)
        sh.stop()


def case_multiline(suite, server):
    with suite.case("multiline stack traces"):
        d = H.make_tempdir("ml")
        logs = os.path.join(d, "logs")
        os.makedirs(logs)
        t0 = H.now_ns() - NS
        stages = [{"multiline": {"firstline": r"^\d{4}-\d{2}-\d{2} ", "max_wait_time": "500ms"}}]
        sh = Shipper("shipper-ml", shipper_config(server, d, [file_job("ml", logs + "/*.log", stages=stages)]))
        sh.start()
        want = []
        with open(os.path.join(logs, "java.log"), "w") as f:
            for k in range(30):
                head = "2026-11-27 10:00:%02d ERROR request %d failed" % (k % 60, k)
                body = ["java.lang.IllegalStateException: boom %d" % k] + \
                       ["    at com.example.Service.method%d(Service.java:%d)" % (j, j) for j in range(k % 4)]
                f.write(head + "\n" + "".join(b + "\n" for b in body))
                want.append("\n".join([head] + body))
                f.flush()
        expect_exactly(server, "ml", want, t0)
        sh.stop()


def case_push_api(suite, server):
    with suite.case("loki_push_api receiver forwards pushed lines"):
        d = H.make_tempdir("push")
        port = H.free_port()
        t0 = H.now_ns() - NS
        sc = {"job_name": "pushjob",
              "loki_push_api": {"server": {"http_listen_address": "127.0.0.1", "http_listen_port": port},
                                "labels": {"pushserver": "shipper"}, "use_incoming_timestamp": True}}
        sh = Shipper("shipper-push", shipper_config(server, d, [sc]))
        sh.start()
        base = H.now_ns()
        streams = [H.Stream({"job": "pushed", "app": "a"}, [H.entry(base + i, "pushed-%d" % i) for i in range(200)])]
        body, headers = H.encode_push(streams, "snappy")
        r = H.http_request("127.0.0.1", port, "POST", "/loki/api/v1/push", body, headers)
        check(r.status == 204, "push to the shipper answered %d: %s", r.status, H.short(r.body))
        expect_exactly(server, "pushed", ["pushed-%d" % i for i in range(200)], t0)
        lb = dict(lines_of(server, "pushed", t0)[0].labels)
        check(lb.get("pushserver") == "shipper" and lb.get("app") == "a", "labels %r", lb)
        check(sorted(g.ts for g in lines_of(server, "pushed", t0)) == [base + i for i in range(200)],
              "incoming timestamps not kept")
        r = H.http_request("127.0.0.1", port, "POST", "/loki/api/v1/push", b"garbage",
                           {"Content-Type": "application/json"})
        check(r.status == 400, "garbage push answered %d, want 400", r.status)
        sh.stop()


def make_journal(path, entries):
    """Writes a journal file from export-format entries with
    systemd-journal-remote (no journald needed)."""
    exe = "/lib/systemd/systemd-journal-remote"
    data = b""
    for e in entries:
        for k, v in e.items():
            data += ("%s=%s\n" % (k, v)).encode()
        data += b"\n"
    p = subprocess.run([exe, "-o", path, "-"], input=data, capture_output=True, timeout=30)
    check(p.returncode == 0, "systemd-journal-remote failed: %s", p.stderr.decode(errors="replace"))


def case_journal(suite, server):
    with suite.case("systemd journal with unit and priority labels"):
        if not os.access("/lib/systemd/systemd-journal-remote", os.X_OK):
            raise H.TestFailure("systemd-journal-remote is missing (scripts/install-deps.sh installs it)")
        d = H.make_tempdir("journal")
        jdir = os.path.join(d, "journal")
        os.makedirs(jdir)
        t0 = H.now_ns() - NS
        now_us = H.now_ns() // 1000
        entries = [{"__REALTIME_TIMESTAMP": now_us - 1000 + i, "__MONOTONIC_TIMESTAMP": 1000 + i,
                    "_BOOT_ID": "0123456789abcdef0123456789abcdef",
                    "MESSAGE": "journal-line-%d" % i, "PRIORITY": str(3 + i % 4),
                    "_SYSTEMD_UNIT": "app%d.service" % (i % 2), "_HOSTNAME": "node1",
                    "SYSLOG_IDENTIFIER": "app"} for i in range(100)]
        make_journal(os.path.join(jdir, "system.journal"), entries)
        sc = {"job_name": "journal",
              "journal": {"path": jdir, "max_age": "1h", "labels": {"job": "systemd-journal"}},
              "relabel_configs": [
                  {"source_labels": ["__journal__systemd_unit"], "target_label": "unit"},
                  {"source_labels": ["__journal_priority_keyword"], "target_label": "level"}]}
        sh = Shipper("shipper-journal", shipper_config(server, d, [sc]))
        sh.start()
        expect_exactly(server, "systemd-journal", ["journal-line-%d" % i for i in range(100)], t0)
        units = set(dict(g.labels).get("unit") for g in lines_of(server, "systemd-journal", t0))
        check(units == {"app0.service", "app1.service"}, "unit labels %r", units)
        sh.stop()
        with open(os.path.join(d, "positions.yaml")) as f:
            check("cursor-journal" in f.read(), "the journal cursor is not in the positions file")


def case_dry_run(suite):
    with suite.case("-dry-run prints entries and writes no positions"):
        d = H.make_tempdir("dry")
        logs = os.path.join(d, "logs")
        os.makedirs(logs)
        with open(os.path.join(logs, "x.log"), "w") as f:
            f.write("dry one\ndry two\n")
        nowhere = H.Server("nowhere", workdir=d, port=1)  # never started: nothing is sent
        cfg = shipper_config(nowhere, d, [file_job("dry", logs + "/*.log")])
        sh = Shipper("shipper-dry", cfg, extra_args=["-dry-run"])
        sh.start()
        H.wait_for(lambda: open(sh.log_path).read().count("dry t") >= 1, 10, "dry-run output")
        sh.stop()
        out = open(sh.log_path).read()
        check("\t{filename=\"%s\", job=\"dry\"}\tdry one\n" % os.path.join(logs, "x.log") in out,
              "dry-run output:\n%s", out)
        check(not os.path.exists(os.path.join(d, "positions.yaml")), "-dry-run wrote positions")


def case_config_errors(suite):
    with suite.case("configuration errors: file:line:col, non-zero exit"):
        d = H.make_tempdir("cfgerr")
        path = os.path.join(d, "bad.yaml")
        with open(path, "w") as f:
            f.write("server:\n  http_listen_port: 9080\nclients:\n  - url: http://127.0.0.1:1/loki/api/v1/push\n"
                    "    batchwiat: 1s\n")
        exe = os.path.join(H.BIN, "noa-shipper")
        p = subprocess.run([exe, "-config.file=" + path], capture_output=True, timeout=10)
        check(p.returncode != 0, "a misspelt key exited 0")
        err = p.stderr.decode()
        check("bad.yaml:5:" in err and "batchwiat" in err, "error does not name the key and its place: %s", err)
        with open(path, "w") as f:
            f.write("clients:\n  - url: http://127.0.0.1:1/loki/api/v1/push\nscrape_configs:\n"
                    "  - job_name: x\n    pipeline_stages:\n      - regex:\n          expression: '(?P<a'\n")
        p = subprocess.run([exe, "-config.file=" + path, "-check-syntax"], capture_output=True, timeout=10)
        check(p.returncode != 0, "a bad regex passed -check-syntax")
        check("bad.yaml:7:" in p.stderr.decode(), "regex error without position: %s", p.stderr.decode())
        p = subprocess.run([exe, "-help"], capture_output=True, timeout=10)
        check(p.returncode == 0 and b"-config.file" in p.stdout, "-help: %r", p.stdout[:200])


def case_metrics(suite, server):
    with suite.case("/metrics passes promtool and counts what was sent"):
        d = H.make_tempdir("metrics")
        logs = os.path.join(d, "logs")
        os.makedirs(logs)
        with open(os.path.join(logs, "m.log"), "w") as f:
            f.write("metric line\n" * 10)
        sh = Shipper("shipper-metrics", shipper_config(server, d, [file_job("metrics", logs + "/*.log")]))
        sh.start()

        def sent():
            r = sh.get("/metrics")
            for ln in r.text.splitlines():
                if ln.startswith("promtail_sent_entries_total "):
                    return float(ln.split()[1]) >= 10
            return False

        H.wait_for(sent, 15, "promtail_sent_entries_total >= 10")
        path = os.path.join(logs, "m.log")
        want_lag = 'noa_shipper_file_lag_bytes{path="%s"} 0' % path
        want_read = 'noa_shipper_file_read_bytes{path="%s"} %d' % (path, os.path.getsize(path))
        H.wait_for(lambda: want_lag in sh.get("/metrics").text and want_read in sh.get("/metrics").text,
                   10, "per-file read and lag gauges")
        text = sh.get("/metrics").body
        count = [ln for ln in text.decode().splitlines() if ln.startswith("promtail_request_duration_seconds_count ")]
        check(count and float(count[0].split()[1]) >= 1, "no request durations: %r", count)
        if shutil.which("promtool"):
            p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, timeout=30)
            check(p.returncode == 0, "promtool check metrics: %s %s", p.stdout.decode(), p.stderr.decode())
        sh.stop()


def body(suite):
    print("seed %d (NOA_SEED to replay)" % SEED)
    servers = []

    def server_factory(name):
        port = H.free_port()
        data = H.make_tempdir("data-" + name)
        s = H.Server("server-" + name, H.make_config(data, port))
        s.start()
        servers.append(s)
        return s

    server = server_factory("main")
    case_config_errors(suite)
    case_basic(suite, server)
    case_rename_rotation(suite, server)
    case_copytruncate(suite, server)
    case_cri_partial(suite, server)
    case_multiline(suite, server)
    case_push_api(suite, server)
    case_journal(suite, server)
    case_dry_run(suite)
    case_metrics(suite, server)
    case_many_files(suite, server)
    case_kill_shipper(suite, server)
    case_behind(suite, server_factory)
    case_kill_server(suite, server_factory)
    server.stop()


if __name__ == "__main__":
    H.main("test_shipper", body)
