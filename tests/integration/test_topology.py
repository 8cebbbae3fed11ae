"""
The compose topology (docker/compose.yaml) without containers: the same
programs, started with the same flags (read from the Dockerfiles'
ENTRYPOINT) and the same config files (docker/noa-server.yaml,
docker/noa-shipper.yaml, docker/alertmanager.yml, and a copy of
docker/prometheus.yml whose "<service>:<port>" targets become
127.0.0.1:<free port>), on loopback. The environment variables of the two
noa configs point them at free ports and temp directories, as compose's
`environment:` points them at the service names.

noa-server's rule directory holds the shipped config/rules/*.yaml (as the
compose file mounts them, under tenant "fake") plus one small rule file of
this test (1s interval, for: 0s); Prometheus's rule files are the repo files
the compose file mounts.

Cases: everything starts and is ready; the shipped rules load next to the
test's; a line written to a tailed host log file reaches a Grafana-style
query (query_range with the parameters and headers Grafana's Loki data
source sends: direction=backward, limit, start/end in ns, step) with the
labels of docker/noa-shipper.yaml, and a Docker json-file line arrives with
its container_id and stream labels; Prometheus scrapes all four jobs (`up`
is 1) and sees noa_distributor_lines_received_total grow; the test's
recording rule reaches Prometheus through remote write; the test's alert
from noa's ruler is active in Alertmanager's v2 API; everything stops
cleanly on SIGTERM (noa-server and noa-shipper exit 0).

Runs on the main thread; every process in its own process group with a
parent-death signal, killed at exit; temp dirs removed when all passed.
Skips (exit 0, saying so) when prometheus or prometheus-alertmanager is not
installed.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check  # noqa: E402

try:
    import yaml  # python3-yaml (scripts/install-deps.sh)
except ImportError:  # pragma: no cover
    yaml = None

NS = H.NS
SRC = H.SRC
DOCKER = os.path.join(SRC, "docker")
AM_BIN = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
PROM_BIN = shutil.which("prometheus")

CONTAINER_ID = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899"

# The test's own rules, next to the shipped ones: fast, and about the lines
# this test writes.
TEST_RULES = """groups:
  - name: topology
    interval: 1s
    rules:
      - alert: TopologyErrorLogged
        expr: sum by (job) (count_over_time({job="varlogs"} |= "topology-error" [5m])) > 0
        for: 0s
        labels:
          severity: warning
        annotations:
          summary: "{{ $labels.job }} logged {{ $value }} topology errors"
      - record: topology:varlogs_lines:count5m
        expr: sum by (job) (count_over_time({job="varlogs"}[5m]))
"""

# Grafana's Loki data source sends these with a log panel's query_range
# (see tests/integration/fixtures/grafana/).
GRAFANA_HEADERS = {
    "X-Loki-Response-Encoding-Flags": "categorize-labels",
    "X-Query-Tags": "Source=grafana",
    "X-Grafana-Org-Id": "1",
    "X-Datasource-Uid": "noa",
    "User-Agent": "Grafana/11.4.0",
}


spawn = H.spawn


def stop(p, timeout=30):
    """SIGTERM to the group; returns the exit code."""
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        raise H.TestFailure("%s did not stop within %ds of SIGTERM" % (p.name, timeout))


def tail(workdir, name, n=30):
    try:
        with open(os.path.join(workdir, name + ".log"), "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join("     %s| %s" % (name, x) for x in lines[-n:])
    except OSError:
        return ""


def get(port, path, params=None, headers=None, timeout=10):
    if params:
        path += "?" + urllib.parse.urlencode(params, doseq=True)
    return H.http_request("127.0.0.1", port, "GET", path, headers=headers, timeout=timeout)


def get_json(port, path, params=None, headers=None):
    r = get(port, path, params, headers)
    check(r.status == 200, "GET %s: %d %s", path, r.status, H.short(r.body))
    return json.loads(r.body)


def wait_http(port, path, what, proc, workdir, timeout=60):
    def ok():
        if proc.poll() is not None:
            raise H.TestFailure("%s exited with %s\n%s" % (proc.name, proc.returncode,
                                                           tail(workdir, proc.name)))
        return get(port, path, timeout=3).status == 200
    H.wait_for(ok, timeout, what, interval=0.2)


def entrypoint(dockerfile, binary, config):
    """The image's ENTRYPOINT, with the binary from NOA_BIN and the config
    file from docker/ in place of their paths inside the image."""
    with open(os.path.join(DOCKER, dockerfile)) as f:
        m = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", f.read(), re.M)
    check(m, "%s: no exec-form ENTRYPOINT", dockerfile)
    argv = json.loads(m.group(1))
    check(os.path.basename(argv[0]) == binary, "%s runs %s, not %s", dockerfile, argv[0], binary)
    out = [os.path.join(H.BIN, binary)]
    for a in argv[1:]:
        if a.startswith("-config.file="):
            check(os.path.basename(a.split("=", 1)[1]) == os.path.basename(config),
                  "%s: %s is not %s", dockerfile, a, config)
            a = "-config.file=" + config
        out.append(a)
    check("-config.expand-env=true" in out, "%r", out)
    return out


def prometheus_copy(tmp, ports):
    """docker/prometheus.yml with every "<service>:<port>" target on
    loopback, the rule files the compose file mounts read from the repo, and
    1s intervals (the test cannot wait 15s per scrape)."""
    compose = H_load(os.path.join(DOCKER, "compose.yaml"))
    mounts = {}
    for v in compose["services"]["prometheus"].get("volumes", []):
        src, dst = v.split(":")[:2]
        if src.startswith("."):
            mounts[dst] = os.path.normpath(os.path.join(DOCKER, src))
    d = H_load(os.path.join(DOCKER, "prometheus.yml"))
    d["global"]["scrape_interval"] = "1s"
    d["global"]["evaluation_interval"] = "1s"
    d["global"]["scrape_timeout"] = "1s"
    rules = []
    for rf in d.get("rule_files") or []:
        check(rf in mounts, "rule file %s not mounted into prometheus by compose.yaml", rf)
        rules.append(mounts[rf])
    d["rule_files"] = rules

    def rewrite(target):
        host = target.split(":")[0]
        host = {"localhost": "prometheus"}.get(host, host)
        check(host in ports, "target %s names no service of the topology", target)
        return "127.0.0.1:%d" % ports[host]
    jobs = set()
    for sc in d["scrape_configs"]:
        jobs.add(sc["job_name"])
        for st in sc["static_configs"]:
            st["targets"] = [rewrite(t) for t in st["targets"]]
    for am in d["alerting"]["alertmanagers"]:
        for st in am["static_configs"]:
            st["targets"] = [rewrite(t) for t in st["targets"]]
    out = os.path.join(tmp, "prometheus.yml")
    with open(out, "w") as f:
        yaml.safe_dump(d, f)
    return out, jobs


def H_load(path):
    with open(path) as f:
        return yaml.safe_load(f)


def am_alerts(am_port, name):
    return [a for a in get_json(am_port, "/api/v2/alerts") if a["labels"].get("alertname") == name]


def prom_query(prom_port, q):
    d = get_json(prom_port, "/api/v1/query", {"query": q})
    check(d["status"] == "success", "%r", d)
    return d["data"]["result"]


def body(suite):
    if not AM_BIN or not PROM_BIN:
        print("SKIP: prometheus-alertmanager or prometheus not installed (scripts/install-deps.sh)")
        return
    check(yaml is not None, "python3-yaml missing (scripts/install-deps.sh installs it)")
    tmp = H.make_tempdir("topology")
    ports = {name: H.free_port() for name in ("noa-server", "noa-shipper", "prometheus", "alertmanager")}
    varlog = os.path.join(tmp, "varlog")
    containers = os.path.join(tmp, "containers")
    rules = os.path.join(tmp, "rules")
    for d in (varlog, os.path.join(containers, CONTAINER_ID), os.path.join(rules, "fake"),
              os.path.join(tmp, "shipper")):
        os.makedirs(d)
    # The shipped rules, where compose.yaml mounts them (<rules dir>/fake).
    shipped = sorted(f for f in os.listdir(os.path.join(SRC, "config", "rules")) if f.endswith(".yaml"))
    for f in shipped:
        shutil.copy(os.path.join(SRC, "config", "rules", f), os.path.join(rules, "fake", f))
    with open(os.path.join(rules, "fake", "topology.yaml"), "w") as f:
        f.write(TEST_RULES)
    app_log = os.path.join(varlog, "app.log")
    docker_log = os.path.join(containers, CONTAINER_ID, CONTAINER_ID + "-json.log")
    # Files exist before the shipper starts (it reads them from the start).
    with open(app_log, "w") as f:
        f.write("topology boot line\n")
    with open(docker_log, "w") as f:
        pass

    env = dict(os.environ)
    env.update({
        # docker/noa-server.yaml
        "NOA_LISTEN_ADDRESS": "127.0.0.1",
        "NOA_HTTP_PORT": str(ports["noa-server"]),
        "NOA_DATA_DIR": os.path.join(tmp, "data"),
        "NOA_RULES_DIR": rules,
        "NOA_ALERTMANAGER_URL": "http://127.0.0.1:%d" % ports["alertmanager"],
        "NOA_REMOTE_WRITE_URL": "http://127.0.0.1:%d/api/v1/write" % ports["prometheus"],
        "NOA_RULER_EVALUATION_INTERVAL": "1s",
        "NOA_RULER_POLL_INTERVAL": "1s",
        # docker/noa-shipper.yaml
        "NOA_SHIPPER_LISTEN_ADDRESS": "127.0.0.1",
        "NOA_SHIPPER_HTTP_PORT": str(ports["noa-shipper"]),
        "NOA_PUSH_URL": "http://127.0.0.1:%d/loki/api/v1/push" % ports["noa-server"],
        "NOA_POSITIONS_FILE": os.path.join(tmp, "shipper", "positions.yaml"),
        "NOA_VARLOG_DIR": varlog,
        "NOA_DOCKER_CONTAINERS_DIR": containers,
        "NOA_HOST": "topology-host",
    })
    procs = {}
    noa = ports["noa-server"]

    with suite.case("start Alertmanager, Prometheus, noa-server and noa-shipper as compose does"):
        procs["alertmanager"] = spawn("alertmanager", [
            AM_BIN, "--config.file=" + os.path.join(DOCKER, "alertmanager.yml"),
            "--storage.path=" + os.path.join(tmp, "am-data"),
            "--web.listen-address=127.0.0.1:%d" % ports["alertmanager"],
            "--cluster.listen-address="], tmp)
        prom_cfg, jobs = prometheus_copy(tmp, ports)
        check(jobs == {"noa-server", "noa-shipper", "prometheus", "alertmanager"}, "jobs %r", jobs)
        procs["prometheus"] = spawn("prometheus", [
            PROM_BIN, "--config.file=" + prom_cfg,
            "--storage.tsdb.path=" + os.path.join(tmp, "prom-data"),
            "--web.listen-address=127.0.0.1:%d" % ports["prometheus"],
            # as in compose.yaml: the ruler remote-writes here
            "--web.enable-remote-write-receiver"], tmp)
        procs["noa-server"] = spawn("noa-server", entrypoint(
            "server.Dockerfile", "noa-server", os.path.join(DOCKER, "noa-server.yaml")), tmp, env)
        wait_http(ports["alertmanager"], "/-/ready", "alertmanager ready", procs["alertmanager"], tmp)
        wait_http(ports["prometheus"], "/-/ready", "prometheus ready", procs["prometheus"], tmp)
        wait_http(noa, "/ready", "noa-server ready", procs["noa-server"], tmp)
        # compose: noa-shipper depends_on noa-server (service_healthy)
        procs["noa-shipper"] = spawn("noa-shipper", entrypoint(
            "shipper.Dockerfile", "noa-shipper", os.path.join(DOCKER, "noa-shipper.yaml")), tmp, env)
        wait_http(ports["noa-shipper"], "/ready", "noa-shipper ready", procs["noa-shipper"], tmp)

    with suite.case("the shipped rules load next to the test's"):
        def groups():
            j = get_json(noa, "/prometheus/api/v1/rules")
            g = {x["name"]: x for x in j["data"]["groups"]}
            return g if "topology" in g else None
        g = H.wait_for(groups, 20, "rule groups loaded", interval=0.2)
        want = set()
        for f in shipped:
            for grp in H_load(os.path.join(SRC, "config", "rules", f))["groups"]:
                want.add(grp["name"])
        check(want and want <= set(g), "shipped groups %r, loaded %r", sorted(want), sorted(g))
        for name in want | {"topology"}:
            for r in g[name]["rules"]:
                check(r.get("health") != "err", "%s/%s: %r", name, r["name"], r)
        print("     groups: %s" % ", ".join(sorted(g)))

    with suite.case("Grafana's data source health check (Save & test) passes"):
        # What Grafana's Loki data source sends for "Save & test".
        j = get_json(noa, "/loki/api/v1/query", [("direction", "backward"),
                                                 ("query", "vector(1)+vector(1)"),
                                                 ("time", "4000000000")], GRAFANA_HEADERS)
        res = j["data"]["result"]
        check(j["data"]["resultType"] == "vector" and len(res) == 1 and res[0]["value"][1] == "2",
              "%r", j)

    token = "tok%d" % (time.time_ns() % 10**9)
    t_write = H.now_ns()
    with suite.case("a line written to a tailed file reaches a Grafana-style query"):
        with open(app_log, "a") as f:
            f.write("level=error msg=\"topology-error %s\" component=checkout\n" % token)
            f.write("level=info msg=\"fine %s\"\n" % token)
        with open(docker_log, "a") as f:
            f.write(json.dumps({"log": "container says %s\n" % token, "stream": "stderr",
                                "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".5Z"}) + "\n")

        def query(q):
            end = H.now_ns() + NS
            start = end - 3600 * NS
            j = get_json(noa, "/loki/api/v1/query_range", [
                ("direction", "backward"), ("limit", "1000"), ("query", q),
                ("start", str(start)), ("end", str(end)), ("step", "2000ms")], GRAFANA_HEADERS)
            out = []
            for s in j["data"]["result"]:
                for v in s["values"]:
                    out.append((s["stream"], int(v[0]), v[1]))
            return out if out else None
        got = H.wait_for(lambda: query('{job="varlogs"} |= "%s"' % token) or None, 30,
                         "the lines in a query_range", interval=0.3)
        got = H.wait_for(lambda: (lambda r: r if r and len(r) == 2 else None)(
            query('{job="varlogs"} |= "%s"' % token)), 10, "both lines", interval=0.3)
        lines = [x[2] for x in got]
        check(lines == ["level=info msg=\"fine %s\"" % token,
                        "level=error msg=\"topology-error %s\" component=checkout" % token],
              "backward order: %r", lines)
        labels = got[0][0]
        check(labels.get("job") == "varlogs" and labels.get("filename") == app_log and
              labels.get("host") == "topology-host", "labels %r", labels)
        check(all(x[1] >= t_write - 5 * NS for x in got), "timestamps %r", [x[1] for x in got])
        got = H.wait_for(lambda: query('{job="docker"} |= "%s"' % token), 30,
                         "the container line", interval=0.3)
        check(len(got) == 1 and got[0][2] == "container says %s" % token, "%r", got)
        labels = got[0][0]
        check(labels.get("container_id") == CONTAINER_ID and labels.get("stream") == "stderr",
              "labels %r", labels)
        # The docker stage keeps the time Docker wrote (.5 s), not the read time.
        check(got[0][1] % NS == NS // 2, "container line at %d, not Docker's time", got[0][1])

    with suite.case("Prometheus scrapes every job; noa's received-lines counter grew"):
        def ups():
            r = prom_query(ports["prometheus"], "up")
            got = {x["metric"]["job"]: x["value"][1] for x in r}
            return got if len(got) == 4 and all(v == "1" for v in got.values()) else None
        got = H.wait_for(ups, 30, "up == 1 for the four jobs", interval=0.5)
        check(set(got) == {"noa-server", "noa-shipper", "prometheus", "alertmanager"}, "%r", got)
        q = 'sum(noa_distributor_lines_received_total{job="noa-server"})'
        first = prom_query(ports["prometheus"], q)
        check(first, "no noa_distributor_lines_received_total in Prometheus")
        v0 = float(first[0]["value"][1])
        with open(app_log, "a") as f:
            for i in range(5):
                f.write("more %s %d\n" % (token, i))
        H.wait_for(lambda: (lambda r: r and float(r[0]["value"][1]) >= v0 + 5)(
            prom_query(ports["prometheus"], q)), 30, "the counter to grow by 5", interval=0.5)
        print("     noa_distributor_lines_received_total: %s -> %s" % (
            v0, prom_query(ports["prometheus"], q)[0]["value"][1]))

    with suite.case("Prometheus evaluates noa's own alert rules without errors"):
        def rule_groups():
            d = get_json(ports["prometheus"], "/api/v1/rules")["data"]["groups"]
            evaluated = [g for g in d if g.get("lastEvaluation", "").startswith("0001") is False]
            return d if d and len(evaluated) == len(d) else None
        d = H.wait_for(rule_groups, 30, "Prometheus rule groups evaluated", interval=0.5)
        n = 0
        for g in d:
            for r in g["rules"]:
                n += 1
                check(r.get("health") != "err", "%s/%s: %s", g["name"], r["name"], r.get("lastError"))
        print("     %d groups, %d rules from %s" % (len(d), n, ", ".join(sorted({g["file"] for g in d}))))

    with suite.case("noa's recording rule arrives in Prometheus through remote write"):
        def recorded():
            r = prom_query(ports["prometheus"], "topology:varlogs_lines:count5m")
            return r if r and float(r[0]["value"][1]) >= 3 else None
        r = H.wait_for(recorded, 30, "topology:varlogs_lines:count5m in Prometheus", interval=0.5)
        check(r[0]["metric"].get("job") == "varlogs", "%r", r)

    with suite.case("noa's alert is active in Alertmanager"):
        a = H.wait_for(lambda: am_alerts(ports["alertmanager"], "TopologyErrorLogged"), 30,
                       "TopologyErrorLogged in Alertmanager", interval=0.3)[0]
        check(a["labels"].get("job") == "varlogs" and a["labels"].get("severity") == "warning",
              "%r", a["labels"])
        check(a["status"]["state"] == "active", "%r", a["status"])
        check(a["annotations"].get("summary", "").startswith("varlogs logged "), "%r", a["annotations"])

    with suite.case("SIGTERM stops every service; noa-shipper and noa-server exit 0"):
        # compose stops dependents first: the shipper, then the server.
        rc = stop(procs["noa-shipper"])
        check(rc == 0, "noa-shipper exit %s\n%s", rc, tail(tmp, "noa-shipper"))
        check(os.path.exists(env["NOA_POSITIONS_FILE"]), "no positions file after the stop")
        rc = stop(procs["noa-server"], timeout=60)
        check(rc == 0, "noa-server exit %s\n%s", rc, tail(tmp, "noa-server"))
        for name in ("prometheus", "alertmanager"):
            stop(procs[name])

    if suite.failed:
        for name in ("noa-server", "noa-shipper", "prometheus", "alertmanager"):
            print(tail(tmp, name))


if __name__ == "__main__":
    H.main("topology", body)
