"""
noa's own dashboard and alert rules against what noa really exports.

Checks config/grafana/noa-overview.json and config/prometheus/noa-alerts.yaml
(with its promtool unit tests, config/prometheus/noa-alerts.test.yaml):

- `promtool check rules` and `promtool test rules` pass;
- the dashboard is a Grafana 11 importable dashboard of the agreed shape:
  uid, schemaVersion 39, a Prometheus `datasource` variable and `job` /
  `instance` variables, the six rows, unique panel ids, every panel with the
  templated datasource, targets and a unit, rate() over $__rate_interval,
  histogram buckets only inside histogram_quantile;
- a real noa-server (ruler on, sending to an Alertmanager and a remote-write
  receiver that refuse connections) and a real noa-shipper tailing a temp file
  are driven until the lazily created series exist (pushes, a refused push,
  queries, rule evaluations); then every metric name the dashboard's targets
  and the rules' expressions use (PromQL parsed: strings, label matchers,
  grouping clauses, ranges, numbers, functions and keywords removed;
  _bucket/_sum/_count mapped to their histogram) must have samples on the
  /metrics of the component that exports it. A misspelt name is shown to
  fail the same check;
- the metrics added for them move when they should: the WAL fsync histogram
  counts pushes' syncs, the data-disk gauges agree with statvfs, noa_ready
  follows /ready on both binaries, the shipper's send queue fills while the
  server is down and drains when it is back, request durations carry Loki's
  ws label;
- when Prometheus is installed: it scrapes both, loads the rule file (every
  rule evaluates without error against the real series) and answers every
  dashboard query with the variables filled in.

Runs on the main thread; processes on free loopback ports, stopped at the
end (killed at exit on failure); temp dirs removed when every case passed.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse

import yaml  # python3-yaml (scripts/install-deps.sh)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import Stream, check, entry  # noqa: E402

DASHBOARD = os.path.join(H.SRC, "config", "grafana", "noa-overview.json")
RULES = os.path.join(H.SRC, "config", "prometheus", "noa-alerts.yaml")
RULE_TESTS = os.path.join(H.SRC, "config", "prometheus", "noa-alerts.test.yaml")
PROMTOOL = shutil.which("promtool")
PROM_BIN = shutil.which("prometheus")
DS_REF = {"type": "prometheus", "uid": "${datasource}"}
ROWS = ["Ingest", "Rejections", "WAL and flush", "Queries", "Shipper", "Resources"]

# ---------------------------------------------------------------------------
# PromQL metric-name extraction

FUNCTIONS = {
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
    "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
    "count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg",
    "delta", "deriv", "exp", "floor", "histogram_avg", "histogram_count", "histogram_fraction",
    "histogram_quantile", "histogram_stddev", "histogram_stdvar", "histogram_sum",
    "holt_winters", "double_exponential_smoothing", "hour", "idelta", "increase", "irate",
    "label_join", "label_replace", "last_over_time", "ln", "log10", "log2", "mad_over_time",
    "max_over_time", "min_over_time", "minute", "month", "pi", "predict_linear",
    "present_over_time", "quantile_over_time", "rad", "rate", "resets", "round", "scalar",
    "sgn", "sin", "sinh", "sort", "sort_by_label", "sort_by_label_desc", "sort_desc", "sqrt",
    "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time",
    "timestamp", "vector", "year",
}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "offset", "bool", "atan2", "inf", "nan", "start", "end"}
# Clauses whose parenthesised list holds label names, not series.
LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)", re.I)
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def _strip_strings(expr):
    out, i, n = [], 0, len(expr)
    while i < n:
        c = expr[i]
        if c in "\"'`":
            j = i + 1
            while j < n and expr[j] != c:
                j += 2 if expr[j] == "\\" and c != "`" else 1
            out.append(' "" ')
            i = j + 1
            continue
        if c == "#":  # a comment runs to the end of the line
            while i < n and expr[i] != "\n":
                i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def metric_names(expr):
    """The series names a PromQL expression reads (Grafana variables allowed)."""
    s = _strip_strings(expr)
    s = re.sub(r"\{[^{}]*\}", " ", s)        # label matchers (strings already gone)
    s = re.sub(r"\[[^\[\]]*\]", " ", s)      # ranges and subqueries, $__rate_interval included
    s = LABEL_LIST.sub(" ", s)               # by (...), on (...), group_left (...)
    s = re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", " ", s)  # other Grafana variables
    # Numbers, durations (offset 5m) and hex: a token starting with a digit.
    s = re.sub(r"(?<![A-Za-z0-9_:])(0x[0-9a-fA-F]+|[0-9][0-9A-Za-z_.]*([eE][+-]?[0-9]+)?)", " ", s)
    names = set()
    for m in IDENT.finditer(s):
        word = m.group(0)
        rest = s[m.end():].lstrip()
        low = word.lower()
        if low in KEYWORDS or low in AGGREGATIONS:
            continue
        if rest.startswith("(") or low in FUNCTIONS:
            continue
        names.add(word)
    return names


def parser_selftest():
    cases = [
        ('sum by (le, route) (rate(x_bucket{route!~"a|b(c)", job=~"$job"}[$__rate_interval]))'
         ' / on (job) group_left(instance) y offset 5m > 0.5 and z{a="sum(q) by (w)"}',
         {"x_bucket", "y", "z"}),
        ("histogram_quantile(0.99, sum without(pod) (rate(h_bucket[5m:1m]))) > 1e3", {"h_bucket"}),
        ("up{job=~\".*noa-server.*\"} == 0 or absent(up{job='x'})", {"up"}),
        ("predict_linear(free[6h], 24 * 3600) < 0 unless on() vector(1)", {"free"}),
        ("count_values(\"v\", build_info) - ignoring (a, b) other:recorded:rate5m", {"build_info",
                                                                                    "other:recorded:rate5m"}),
        ("sum(rate({__name__=\"hidden\"}[1m])) + 0x1F + Inf", set()),
    ]
    for expr, want in cases:
        got = metric_names(expr)
        check(got == want, "metric_names(%r) = %r, want %r", expr, got, want)


def family(name, histograms):
    """Maps a histogram's _bucket/_sum/_count series to its family."""
    for suf in ("_bucket", "_sum", "_count"):
        if name.endswith(suf) and name[: -len(suf)] in histograms:
            return name[: -len(suf)]
    return name


# ---------------------------------------------------------------------------
# /metrics parsing

class Exposition:
    def __init__(self, text):
        self.types = {}
        self.samples = {}   # series name -> list of (labels text, value)
        for ln in text.splitlines():
            if ln.startswith("# TYPE "):
                _, _, name, typ = ln.split(None, 3)
                self.types[name] = typ
            elif ln and not ln.startswith("#"):
                m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(\{.*\})?\s+(\S+)", ln)
                if m:
                    self.samples.setdefault(m.group(1), []).append((m.group(2) or "",
                                                                   float(m.group(3))))
        self.histograms = {n for n, t in self.types.items() if t == "histogram"}

    def has(self, name):
        """The series name (or a histogram's _bucket/_sum/_count) has samples."""
        return bool(self.samples.get(name))

    def value(self, name, labels=""):
        for lt, v in self.samples.get(name, []):
            if lt == labels:
                return v
        return None


def scrape(proc):
    r = proc.get("/metrics")
    check(r.status == 200, "GET /metrics on %s: %d", proc.name, r.status)
    return Exposition(r.text)


def owner(name):
    """Which component exports a metric: server, shipper or both."""
    if name.startswith("noa_shipper_") or name.startswith("promtail_"):
        return {"shipper"}
    if name.startswith("process_") or name in ("noa_ready", "noa_memory_allocated_bytes"):
        return {"server", "shipper"}
    return {"server"}


# Series Prometheus makes itself, not read from /metrics.
SYNTHETIC = {"up"}


def missing_metrics(used, expos):
    """used: {name: where}. Returns the list of 'name (where) missing on X'."""
    hist = expos["server"].histograms | expos["shipper"].histograms
    problems = []
    for name in sorted(used):
        if name in SYNTHETIC:
            continue
        for comp in sorted(owner(family(name, hist))):
            if not expos[comp].has(name):
                problems.append("%s (used in %s) has no samples on noa-%s" % (name, used[name], comp))
    return problems


# ---------------------------------------------------------------------------
# dashboard and rules

def load_dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def dashboard_exprs(d):
    out = []
    for p in d["panels"]:
        for t in p.get("targets", []):
            out.append((p["title"], t["expr"]))
    return out


def rule_exprs():
    with open(RULES) as f:
        doc = yaml.safe_load(f)
    out = []
    for g in doc["groups"]:
        for r in g["rules"]:
            out.append((r.get("alert") or r.get("record"), r["expr"], r))
    return out


def used_names(d):
    used = {}
    for title, expr in dashboard_exprs(d):
        for n in metric_names(expr):
            used.setdefault(n, "panel %r" % title)
    for name, expr, _ in rule_exprs():
        for n in metric_names(expr):
            used.setdefault(n, "alert %s" % name)
    return used


def check_dashboard_shape(d):
    check(d.get("uid") == "noa-overview" and d.get("title") == "noa overview", "uid/title %r %r",
          d.get("uid"), d.get("title"))
    check(d.get("schemaVersion") == 39, "schemaVersion %r", d.get("schemaVersion"))
    check(d.get("id") is None, "a dashboard to import carries no id: %r", d.get("id"))
    vars_ = {v["name"]: v for v in d["templating"]["list"]}
    ds = vars_.get("datasource")
    check(ds and ds["type"] == "datasource" and ds["query"] == "prometheus", "datasource var %r", ds)
    for name in ("job", "instance"):
        v = vars_.get(name)
        check(v and v["type"] == "query" and v["datasource"] == DS_REF, "%s var %r", name, v)
    ids = [p["id"] for p in d["panels"]]
    check(len(ids) == len(set(ids)), "duplicate panel ids: %r",
          sorted(i for i in ids if ids.count(i) > 1))
    rows = [p["title"] for p in d["panels"] if p["type"] == "row"]
    check(rows == ROWS, "rows %r, want %r", rows, ROWS)
    cells = set()
    for p in d["panels"]:
        g = p["gridPos"]
        check(g["x"] + g["w"] <= 24, "panel %r wider than the grid", p["title"])
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                check((x, y) not in cells, "panel %r overlaps another at %d,%d", p["title"], x, y)
                cells.add((x, y))
        if p["type"] == "row":
            continue
        check(p.get("datasource") == DS_REF, "panel %r datasource %r", p["title"], p.get("datasource"))
        check(p.get("targets"), "panel %r has no targets", p["title"])
        check(p["fieldConfig"]["defaults"].get("unit"), "panel %r has no unit", p["title"])
        refs = [t["refId"] for t in p["targets"]]
        check(len(refs) == len(set(refs)), "panel %r repeats a refId", p["title"])
        for t in p["targets"]:
            check(t.get("datasource") == DS_REF, "panel %r target datasource %r", p["title"],
                  t.get("datasource"))
            e = t.get("expr", "")
            check(e.strip(), "panel %r has an empty target", p["title"])
            for m in re.finditer(r"\b(rate|increase|irate)\(", e):
                rng = re.search(r"\[([^\]]*)\]", e[m.end():])
                check(rng and rng.group(1) == "$__rate_interval", "panel %r: %s() not over "
                      "$__rate_interval: %s", p["title"], m.group(1), e)
            if "_bucket" in e:
                check("histogram_quantile(" in e, "panel %r reads buckets without "
                      "histogram_quantile: %s", p["title"], e)
            check('job=~"$job"' in e and 'instance=~"$instance"' in e,
                  "panel %r ignores the job/instance variables: %s", p["title"], e)


def check_rule_shape():
    anchors = {"#ingestion-rejected", "#queries-slow", "#shipper-lagging", "#disk-full"}
    seen = set()
    for name, expr, r in rule_exprs():
        check(r.get("labels", {}).get("severity") in ("critical", "warning"), "%s severity", name)
        ann = r.get("annotations", {})
        check(ann.get("summary") and ann.get("description"), "%s lacks summary/description", name)
        url = ann.get("runbook_url", "")
        check(url.startswith("docs/"), "%s runbook_url %r", name, url)
        seen |= {a for a in anchors if url.endswith(a)}
    check(seen == anchors, "runbook anchors never used: %r", sorted(anchors - seen))
    want = {"NoaServerDown", "NoaShipperDown", "NoaNotReady", "NoaWALSyncSlow", "NoaFlushFailures",
            "NoaFlushBacklog", "NoaDiskFilling", "NoaIngestionRejected", "NoaShipperFallingBehind",
            "NoaShipperSendFailures", "NoaQueriesSlow"}
    have = {n for n, _, _ in rule_exprs()}
    check(want <= have, "alerts missing: %r", sorted(want - have))
    # Every alert has a firing case in the promtool tests.
    with open(RULE_TESTS) as f:
        tests = f.read()
    for n in have:
        check(re.search(r"alertname: %s\n\s+exp_alerts:\n\s+- exp_labels" % n, tests),
              "no firing test for %s in %s", n, RULE_TESTS)
        check(re.search(r"alertname: %s\n\s+exp_alerts: \[\]" % n, tests),
              "no quiet test for %s in %s", n, RULE_TESTS)


# ---------------------------------------------------------------------------
# processes

class Shipper(H.Server):
    """A noa-shipper over its own config (H.Server runs noa-server)."""

    def __init__(self, name, config, workdir):
        port = H.free_port()
        cfg = dict(config)
        cfg["server"] = {"http_listen_address": "127.0.0.1", "http_listen_port": port}
        super().__init__(name, config=None, workdir=workdir, port=port)
        self.config_path = os.path.join(workdir, name + ".yaml")
        self.log_path = os.path.join(workdir, name + ".log")
        with open(self.config_path, "w") as f:
            f.write(H.to_yaml(cfg) + "\n")

    @property
    def data_dir(self):
        return None

    def command(self):
        binary = os.path.join(H.BIN, "noa-shipper")
        if not os.access(binary, os.X_OK):
            raise H.TestFailure("noa-shipper not found at %s" % binary)
        return [binary, "-config.file=" + self.config_path]


def closed_port():
    """A loopback port nothing listens on (connections are refused)."""
    return H.free_port()


def gauge(proc, name, labels=""):
    return scrape(proc).value(name, labels)


def spawn(name, cmd, workdir, procs):
    p = H.spawn(name, cmd, workdir)
    procs.append(p)
    return p


def prom_get(port, path, params):
    r = H.http_request("127.0.0.1", port, "GET", path + "?" + urllib.parse.urlencode(params),
                       timeout=10)
    return r.status, json.loads(r.body) if r.body else None


def body(suite):
    d = load_dashboard()

    with suite.case("promtool check rules / test rules"):
        if not PROMTOOL:
            print("     SKIP: promtool not installed")
        else:
            p = subprocess.run([PROMTOOL, "check", "rules", RULES], capture_output=True, timeout=60)
            check(p.returncode == 0, "promtool check rules: %s%s", p.stdout.decode(), p.stderr.decode())
            p = subprocess.run([PROMTOOL, "test", "rules", RULE_TESTS], capture_output=True,
                               timeout=120)
            check(p.returncode == 0, "promtool test rules: %s%s", p.stdout.decode(),
                  p.stderr.decode())

    with suite.case("rule file: severities, annotations, runbooks, a firing and a quiet test each"):
        check_rule_shape()

    with suite.case("dashboard: Grafana shape, unique ids, datasource, targets, units"):
        check_dashboard_shape(d)

    with suite.case("PromQL name extraction"):
        parser_selftest()
        used = used_names(d)
        # A sample of what must be found, so that a broken extractor cannot pass.
        for n in ("noa_ingester_wal_fsync_duration_seconds_bucket", "noa_discarded_samples_total",
                  "noa_shipper_file_lag_bytes", "noa_request_duration_seconds_bucket",
                  "noa_ingester_data_disk_free_bytes", "up", "process_resident_memory_bytes"):
            check(n in used, "%s not found in the dashboard or rules: %r", n, sorted(used))
        for bad in ("rate", "sum", "by", "job", "instance", "le", "route", "histogram_quantile",
                    "__rate_interval", "datasource", "m", "h"):
            check(bad not in used, "%r taken for a metric name", bad)

    tmp = H.make_tempdir("dashboards")
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    rules_dir = os.path.join(tmp, "rules")
    os.makedirs(os.path.join(rules_dir, "fake"))
    with open(os.path.join(rules_dir, "fake", "r.yaml"), "w") as f:
        f.write("groups:\n- name: g\n  interval: 1s\n  rules:\n"
                "  - alert: AnyLine\n    expr: sum(count_over_time({job=\"app\"}[1m])) > 0\n"
                "  - record: app:lines:1m\n    expr: sum(count_over_time({job=\"app\"}[1m]))\n")
    noa_port = H.free_port()
    cfg = H.make_config(os.path.join(tmp, "data"), noa_port, extra={"ruler": {
        "alertmanager_url": "http://127.0.0.1:%d" % closed_port(),
        "evaluation_interval": "1s", "poll_interval": "1s", "resend_delay": "1s",
        "storage": {"type": "local", "local": {"directory": rules_dir}},
        "remote_write": {"enabled": True, "clients": {
            "main": {"url": "http://127.0.0.1:%d/api/v1/write" % closed_port()}}},
    }})
    srv = H.Server("dash-server", cfg, workdir=tmp)
    ship_cfg = {
        "positions": {"filename": os.path.join(tmp, "positions.yaml"), "sync_period": "200ms"},
        "clients": [{"url": "http://127.0.0.1:%d/loki/api/v1/push" % noa_port, "batchwait": "100ms",
                     "backoff_config": {"min_period": "100ms", "max_period": "500ms",
                                        "max_retries": 1000}}],
        "scrape_configs": [{"job_name": "app", "static_configs": [{
            "targets": ["localhost"], "labels": {"job": "app", "__path__": logs + "/*.log"}}]}],
    }
    ship = Shipper("dash-shipper", ship_cfg, tmp)
    app_log = os.path.join(logs, "app.log")

    with suite.case("start noa-server; noa_ready 1, data-disk gauges agree with statvfs"):
        srv.start()
        e = scrape(srv)
        check(e.value("noa_ready") == 1, "noa_ready %r", e.value("noa_ready"))
        chunks = os.path.join(tmp, "data", "chunks")
        check(os.path.isdir(chunks), "no chunks dir %s", chunks)
        sv = os.statvfs(chunks)
        total = e.value("noa_ingester_data_disk_total_bytes")
        free = e.value("noa_ingester_data_disk_free_bytes")
        check(total == sv.f_blocks * sv.f_frsize, "total %r, statvfs %r", total,
              sv.f_blocks * sv.f_frsize)
        want_free = sv.f_bavail * sv.f_frsize
        check(free is not None and abs(free - want_free) <= max(64 << 20, want_free * 0.02),
              "free %r, statvfs %r", free, want_free)
        check(0 < free <= total, "free %r total %r", free, total)

    with suite.case("shipper: noa_ready follows /ready (0 without targets, 1 with)"):
        with open(app_log, "w") as f:
            f.write("".join("app line %d\n" % i for i in range(20)))
        ship.start()
        check(gauge(ship, "noa_ready") == 1, "noa_ready %r while /ready is 200",
              gauge(ship, "noa_ready"))
        # Nothing to tail: Promtail's health check keeps /ready at 503.
        idle = Shipper("dash-shipper-idle", dict(ship_cfg, scrape_configs=[],
                                                 positions={"filename": os.path.join(tmp, "p2.yaml")}),
                       tmp)
        idle.start(wait=False)
        H.wait_for(lambda: idle.alive() and idle.get("/metrics").status == 200, 15,
                   "idle shipper serving /metrics", interval=0.1)
        check(gauge(idle, "noa_ready") == 0, "idle noa_ready %r", gauge(idle, "noa_ready"))
        check(idle.get("/ready").status == 503, "idle /ready %d", idle.get("/ready").status)
        idle.stop()

    with suite.case("pushes move the WAL fsync histogram; refused lines counted by reason"):
        before = scrape(srv).value("noa_ingester_wal_fsync_duration_seconds_count")
        check(before is not None, "no fsync histogram before the first push")
        now = H.now_ns()
        for i in range(3):
            H.push_ok(srv, [Stream({"job": "direct"}, [entry(now + i, "direct %d" % i)])])
        e = scrape(srv)
        after = e.value("noa_ingester_wal_fsync_duration_seconds_count")
        check(after >= before + 3, "fsyncs %r -> %r after 3 acknowledged pushes", before, after)
        inf = e.value("noa_ingester_wal_fsync_duration_seconds_bucket", '{le="+Inf"}')
        check(inf == after, "+Inf bucket %r != count %r", inf, after)
        check(e.value("noa_ingester_wal_fsync_duration_seconds_sum") > 0, "fsync sum is 0")
        r = H.push(srv, [Stream({"job": "old"}, [entry(1, "too old")])])
        check(r.status == 400, "old entry: %d", r.status)
        e = scrape(srv)
        check(e.value("noa_discarded_samples_total",
                      '{reason="greater_than_max_sample_age",tenant="fake"}') == 1,
              "discards: %r", e.samples.get("noa_discarded_samples_total"))

    with suite.case("shipped lines arrive; queries recorded by route with Loki's labels"):
        def arrived():
            r = srv.get("/loki/api/v1/query_range", params={
                "query": '{job="app"}', "limit": "100", "start": str(H.now_ns() - 600 * H.NS),
                "end": str(H.now_ns() + H.NS)})
            res = r.json()["data"]["result"] if r.status == 200 else []
            return sum(len(s["values"]) for s in res) == 20
        H.wait_for(arrived, 20, "20 shipped lines queryable", interval=0.2)
        srv.get("/loki/api/v1/labels")
        srv.get("/loki/api/v1/query", params={"query": 'sum(count_over_time({job="app"}[5m]))'})
        e = scrape(srv)
        want = '{method="GET",route="loki_api_v1_query_range",status_code="200",ws="false"}'
        check((e.value("noa_request_duration_seconds_count", want) or 0) >= 1, "no %s in %r", want,
              [lt for lt, _ in e.samples.get("noa_request_duration_seconds_count", [])])
        H.wait_for(lambda: (scrape(srv).value("noa_ruler_notifications_errors_total") or 0) >= 1,
                   20, "ruler notification errors (Alertmanager refuses)", interval=0.2)
        H.wait_for(lambda: (scrape(srv).value("noa_ruler_remote_write_failed_requests_total",
                                              '{client="main"}') or 0) >= 1,
                   20, "remote-write failures (receiver refuses)", interval=0.2)

    with suite.case("every metric the dashboard and rules use is exported"):
        expos = {"server": scrape(srv), "shipper": scrape(ship)}
        used = used_names(d)
        problems = missing_metrics(used, expos)
        check(not problems, "%d missing:\n  %s", len(problems), "\n  ".join(problems))
        print("     %d metric names checked" % len(used))

    with suite.case("the check fails on a misspelt name"):
        bad = json.loads(json.dumps(d).replace("noa_ingester_flush_queue_length",
                                               "noa_ingester_flush_queue_lenght"))
        problems = missing_metrics(used_names(bad), expos)
        check(len(problems) == 1 and problems[0].startswith("noa_ingester_flush_queue_lenght "),
              "%r", problems)
        # A shipper metric looked for on the server (where it is not) fails too.
        check(missing_metrics({"noa_shipper_file_lag_bytes": "x"},
                              {"server": expos["shipper"], "shipper": expos["server"]}),
              "shipper metric found on the server")

    procs = []
    with suite.case("Prometheus scrapes both, evaluates the rules and answers every panel"):
        if not PROM_BIN:
            print("     SKIP: prometheus not installed")
        else:
            prom_port = H.free_port()
            prom_yml = os.path.join(tmp, "prometheus.yml")
            with open(prom_yml, "w") as f:
                f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                        "rule_files:\n  - %s\n"
                        "scrape_configs:\n"
                        "  - job_name: noa-server\n    static_configs:\n"
                        "      - targets: ['127.0.0.1:%d']\n"
                        "  - job_name: noa-shipper\n    static_configs:\n"
                        "      - targets: ['127.0.0.1:%d']\n" % (RULES, noa_port, ship.port))
            spawn("prometheus", [PROM_BIN, "--config.file=" + prom_yml,
                                 "--storage.tsdb.path=" + os.path.join(tmp, "prom-data"),
                                 "--web.listen-address=127.0.0.1:%d" % prom_port], tmp, procs)
            H.wait_for(lambda: H.http_request("127.0.0.1", prom_port, "GET", "/-/ready",
                                              timeout=5).status == 200,
                       60, "prometheus ready", interval=0.2)

            def evaluated():
                st, j = prom_get(prom_port, "/api/v1/rules", {})
                rules = [r for g in j["data"]["groups"] for r in g["rules"]]
                return rules if rules and all(r.get("lastEvaluation", "").startswith("20")
                                              and r["health"] != "unknown" for r in rules) else None
            rules = H.wait_for(evaluated, 30, "every rule evaluated", interval=0.3)
            bad = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
            check(not bad, "rules failing in Prometheus: %r", bad)
            firing = [a["labels"]["alertname"] for r in rules for a in r.get("alerts", [])
                      if a["state"] == "firing"]
            check("NoaServerDown" not in firing and "NoaShipperDown" not in firing,
                  "down alerts with both up: %r", firing)

            def scraped():
                st, j = prom_get(prom_port, "/api/v1/query",
                                 {"query": "count(rate(noa_ingester_lines_appended_total[5s]))"})
                return j["data"]["result"]
            H.wait_for(scraped, 30, "two scrapes of noa-server", interval=0.3)
            empty = []
            for title, expr in dashboard_exprs(d):
                q = (expr.replace("$__rate_interval", "10s").replace("$job", "noa-server|noa-shipper")
                     .replace("$instance", ".*"))
                st, j = prom_get(prom_port, "/api/v1/query", {"query": q})
                check(st == 200 and j["status"] == "success", "panel %r: %s -> %s", title, q, j)
                if not j["data"]["result"]:
                    empty.append(title)
            print("     %d panel queries answered (%d empty now: %s)"
                  % (len(dashboard_exprs(d)), len(empty), ", ".join(sorted(set(empty))) or "-"))
            for want in ("Lines received / s by tenant", "WAL fsync latency", "Lag per file",
                         "Memory", "Data disk free", "Rejected lines / s by reason"):
                check(want not in empty, "panel %r shows nothing", want)

    with suite.case("shipper send queue fills while the server is down, drains when it is back"):
        check(gauge(ship, "noa_shipper_send_queue_bytes") == 0, "queue not empty at rest")
        retries0 = gauge(ship, "promtail_batch_retries_total")
        srv.stop()
        with open(app_log, "a") as f:
            f.write("".join("late line %d\n" % i for i in range(10)))
        H.wait_for(lambda: (gauge(ship, "noa_shipper_send_queue_bytes") or 0) > 0 and
                   gauge(ship, "promtail_batch_retries_total") > retries0,
                   20, "queued bytes and retries while the server is down", interval=0.1)
        srv.start()
        H.wait_for(lambda: gauge(ship, "noa_shipper_send_queue_bytes") == 0, 30,
                   "queue drained", interval=0.1)
        check(gauge(ship, "promtail_sent_entries_total") >= 30, "sent %r",
              gauge(ship, "promtail_sent_entries_total"))

    with suite.case("stop everything"):
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, 9)
                    p.wait()
        ship.stop()
        srv.stop()


if __name__ == "__main__":
    H.main("dashboards", body)
