"""
The ruler against the real thing: noa-server evaluates rule files from
ruler.storage.local.directory, sends alerts to a real Prometheus
Alertmanager (Debian's prometheus-alertmanager, API v2) and remote-writes
recording rules to a real Prometheus (--web.enable-remote-write-receiver).

Cases: error lines pushed to noa make an alert fire in Alertmanager
(checked through its API, with labels, external labels and annotations) and resolve there
once the lines age out of the rule's window; a recording rule's series
appears in Prometheus (checked through its query API); noa's
/prometheus/api/v1/rules and /alerts show the states; /loki/api/v1/rules
creates, lists and deletes a group, and a bad group is refused with its
position and the LogQL error.

Runs on the main thread; every process on free loopback ports, killed at
exit. Skips (exit 0, saying so) when alertmanager or prometheus is not
installed.
"""

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import Stream, check, entry  # noqa: E402

NS = H.NS
AM_BIN = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
PROM_BIN = shutil.which("prometheus")
_procs = []


def _kill_all():
    for p in _procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()


atexit.register(_kill_all)


def spawn(name, cmd, workdir):
    """Starts a helper process in its own group, dying with us."""
    if shutil.which("setpriv"):
        cmd = ["setpriv", "--pdeathsig", "KILL", "--"] + cmd
    log = open(os.path.join(workdir, name + ".log"), "wb")
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True, cwd=workdir)
    _procs.append(p)
    return p


def get_json(port, path, params=None):
    if params:
        path += "?" + urllib.parse.urlencode(params)
    r = H.http_request("127.0.0.1", port, "GET", path, timeout=10)
    check(r.status == 200, "GET %s: %d %s", path, r.status, H.short(r.body))
    return json.loads(r.body)


def wait_http(port, path, what, timeout=60):
    H.wait_for(lambda: H.http_request("127.0.0.1", port, "GET", path, timeout=5).status == 200,
               timeout, what, interval=0.2)


RULES = """groups:
  - name: web
    interval: 1s
    rules:
      - alert: WebErrors
        expr: sum by (app) (count_over_time({app="web"} |= "error" [8s])) > 2
        for: 2s
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.app }} logged {{ $value }} errors"
      - record: app:lines:count1m
        expr: sum by (app) (count_over_time({app="web"}[1m]))
        labels:
          source: noa
"""


def am_alerts(am_port):
    return [a for a in get_json(am_port, "/api/v2/alerts")
            if a["labels"].get("alertname") == "WebErrors"]


def body(suite):
    if not AM_BIN or not PROM_BIN:
        print("SKIP: prometheus-alertmanager or prometheus not installed (scripts/install-deps.sh)")
        return
    tmp = H.make_tempdir("ruler")
    am_port, prom_port, noa_port = H.free_port(), H.free_port(), H.free_port()
    with open(os.path.join(tmp, "am.yml"), "w") as f:
        f.write('route:\n  receiver: "null"\n  group_wait: 1s\nreceivers:\n  - name: "null"\n')
    with open(os.path.join(tmp, "prom.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1m\n")
    rules_dir = os.path.join(tmp, "rules")
    os.makedirs(os.path.join(rules_dir, "fake"))
    with open(os.path.join(rules_dir, "fake", "web.yaml"), "w") as f:
        f.write(RULES)
    # A bad file in another namespace must not stop the good one.
    with open(os.path.join(rules_dir, "fake", "broken.yaml"), "w") as f:
        f.write("groups:\n- name: b\n  rules:\n  - alert: B\n    expr: rate(\n")

    with suite.case("start Alertmanager, Prometheus and noa"):
        spawn("alertmanager", [AM_BIN, "--config.file=" + os.path.join(tmp, "am.yml"),
                               "--storage.path=" + os.path.join(tmp, "am-data"),
                               "--web.listen-address=127.0.0.1:%d" % am_port,
                               "--cluster.listen-address="], tmp)
        spawn("prometheus", [PROM_BIN, "--config.file=" + os.path.join(tmp, "prom.yml"),
                             "--storage.tsdb.path=" + os.path.join(tmp, "prom-data"),
                             "--web.listen-address=127.0.0.1:%d" % prom_port,
                             "--web.enable-remote-write-receiver"], tmp)
        wait_http(am_port, "/-/ready", "alertmanager ready")
        wait_http(prom_port, "/-/ready", "prometheus ready")
        cfg = H.make_config(os.path.join(tmp, "data"), noa_port, extra={"ruler": {
            "alertmanager_url": "http://127.0.0.1:%d" % am_port,
            "evaluation_interval": "1s",
            "poll_interval": "1s",
            "resend_delay": "1s",
            "external_labels": {"cluster": "it"},
            "storage": {"type": "local", "local": {"directory": rules_dir}},
            "remote_write": {"enabled": True,
                             "client": {"url": "http://127.0.0.1:%d/api/v1/write" % prom_port}},
        }})
        srv = H.Server("ruler", cfg, workdir=tmp)
        srv.start()

    with suite.case("rules API lists the good group; the bad file is skipped"):
        r = srv.get("/loki/api/v1/rules")
        check(r.status == 200, "%d %s", r.status, H.short(r.body))
        check(b'"web.yaml"' in r.body and b"WebErrors" in r.body and b"broken" not in r.body,
              "%s", H.short(r.body, 2000))
        j = srv.get("/prometheus/api/v1/rules").json()
        names = [g["name"] for g in j["data"]["groups"]]
        check(names == ["web"], "%r", names)
        j = srv.get("/prometheus/api/v1/rules", params={"rule_name[]": ["nope", "app:lines:count1m"]}).json()
        rules = j["data"]["groups"][0]["rules"]
        check([x["name"] for x in rules] == ["app:lines:count1m"] and rules[0]["type"] == "recording",
              "%r", rules)
        r = srv.get("/prometheus/api/v1/rules", params={"type": "x"})
        check(r.status == 400 and r.json() == {"status": "error", "data": None, "errorType": "bad_data",
                                               "error": 'not supported value "x"'}, "%d %s", r.status, r.body)

    with suite.case("error lines make the alert fire in Alertmanager"):
        now = H.now_ns()
        H.push_ok(srv, [Stream({"app": "web"}, [entry(now - i * NS // 10, "request error %d" % i)
                                                for i in range(5)])])
        alerts = H.wait_for(lambda: am_alerts(am_port), 30, "WebErrors in Alertmanager", interval=0.3)
        a = alerts[0]
        check(a["labels"] == {"alertname": "WebErrors", "app": "web", "severity": "page", "cluster": "it"},
              "%r", a["labels"])
        check(a["annotations"].get("summary") == "web logged 5 errors", "%r", a["annotations"])
        check(a["status"]["state"] == "active", "%r", a["status"])
        check(a.get("generatorURL", "").find("/graph?g0.expr=") >= 0, "%r", a.get("generatorURL"))
        j = srv.get("/prometheus/api/v1/alerts").json()
        check([x["state"] for x in j["data"]["alerts"]] == ["firing"], "%r", j)
        j = srv.get("/prometheus/api/v1/rules", params={"type": "alert"}).json()
        rule = j["data"]["groups"][0]["rules"][0]
        check(rule["state"] == "firing" and rule["health"] == "ok", "%r", rule)

    with suite.case("the recording rule's series reaches Prometheus"):
        def recorded():
            d = get_json(prom_port, "/api/v1/query", {"query": "app:lines:count1m"})
            return d["data"]["result"]
        res = H.wait_for(recorded, 30, "app:lines:count1m in Prometheus", interval=0.5)
        m = res[0]["metric"]
        check(m == {"__name__": "app:lines:count1m", "app": "web", "source": "noa"}, "%r", m)
        check(float(res[0]["value"][1]) == 5, "%r", res)

    with suite.case("the alert resolves in Alertmanager once the errors age out"):
        H.wait_for(lambda: not am_alerts(am_port), 40, "WebErrors resolved in Alertmanager", interval=0.5)
        j = srv.get("/prometheus/api/v1/alerts").json()
        check(j["data"]["alerts"] == [], "%r", j)

    with suite.case("rules API: create, get, delete a group; bad group refused"):
        g = "name: extra\nrules:\n- record: x:y\n  expr: vector(1)\n"
        r = srv.request("POST", "/loki/api/v1/rules/ns2", body=g.encode(),
                        headers={"Content-Type": "application/yaml"})
        check(r.status == 202, "%d %s", r.status, H.short(r.body))
        check(json.loads(r.body) == {"status": "success", "data": None, "errorType": "", "error": ""},
              "%s", r.body)
        r = srv.get("/loki/api/v1/rules/ns2/extra")
        check(r.status == 200 and b"x:y" in r.body, "%d %s", r.status, H.short(r.body))
        H.wait_for(lambda: "extra" in [x["name"] for x in
                                       srv.get("/prometheus/api/v1/rules").json()["data"]["groups"]],
                   10, "group extra evaluated")
        bad = "name: bad\nrules:\n- alert: A\n  expr: sum(rate({a=\"b\"}[1m])\n"
        r = srv.request("POST", "/loki/api/v1/rules/ns2", body=bad.encode())
        check(r.status == 400 and b"ns2:4:9:" in r.body and b"parse error" in r.body, "%d %s",
              r.status, H.short(r.body))
        r = srv.request("DELETE", "/loki/api/v1/rules/ns2/extra")
        check(r.status == 202, "%d %s", r.status, H.short(r.body))
        r = srv.get("/loki/api/v1/rules/ns2/extra")
        check(r.status == 404 and r.body == b"group does not exist\n", "%d %s", r.status, r.body)
        r = srv.request("DELETE", "/loki/api/v1/rules/ns2")
        check(r.status == 404 and b"group namespace does not exist" in r.body, "%d %s", r.status, r.body)

    with suite.case("a 100-rule group evaluates well inside its 1s interval"):
        rules = "".join('- alert: Many%d\n  expr: sum by (app) (count_over_time({app="web"} |= "error %d" [5m])) > 1000\n'
                        % (i, i) for i in range(100))
        r = srv.request("POST", "/loki/api/v1/rules/big", body=("name: big\ninterval: 1s\nrules:\n" + rules).encode())
        check(r.status == 202, "%d %s", r.status, H.short(r.body))

        def evaluated():
            for g in srv.get("/prometheus/api/v1/rules").json()["data"]["groups"]:
                if g["name"] == "big" and g["lastEvaluation"] != "0001-01-01T00:00:00Z":
                    return g
            return None
        g = H.wait_for(evaluated, 20, "group big evaluated", interval=0.2)
        check(len(g["rules"]) == 100 and all(x["health"] == "ok" for x in g["rules"]), "%r", g["rules"][:2])
        print("     100-rule group: evaluationTime %.4fs (interval 1s)" % g["evaluationTime"])
        check(g["evaluationTime"] < 0.5, "evaluationTime %r", g["evaluationTime"])

    with suite.case("noa stops cleanly with the ruler running"):
        srv.stop()


if __name__ == "__main__":
    H.main("ruler", body)
