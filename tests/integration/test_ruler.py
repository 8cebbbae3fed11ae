"""
The ruler against the real thing: noa-server evaluates rule files from
ruler.storage.local.directory, sends alerts to a real Prometheus
Alertmanager (Debian's prometheus-alertmanager, API v2) and remote-writes
recording rules to a real Prometheus (--web.enable-remote-write-receiver)
through two remote-write clients (ruler.remote_write.clients), one with
write_relabel_configs.

Cases: error lines pushed to noa make an alert fire in Alertmanager
(checked through its API, with labels, external labels, a label added by
ruler.alert_relabel_configs, and annotations) and resolve there once the
lines age out of the rule's window; an alert the relabel configs drop
fires in noa but never reaches Alertmanager; a recording rule's series
appears in Prometheus (checked through its query API); noa's
/prometheus/api/v1/rules and /alerts show the states; /loki/api/v1/rules
creates, lists and deletes a group, and a bad group is refused with its
position and the LogQL error. noa restarted while an alert fires (its
`for` shorter than the default for_grace_period): the alert keeps its
activeAt and stays active in Alertmanager with the same startsAt (restored
from the ruler's state file, not resolved and fired anew). A second noa
whose Alertmanager and remote-write receiver never answer keeps evaluating
on schedule while its bounded notification queue drops alerts and its
recording results queue up (counted on /metrics).

Runs on the main thread; every process on free loopback ports, killed at
exit. Skips (exit 0, saying so) when alertmanager or prometheus is not
installed.
"""

import json
import os
import shutil
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import Stream, check, entry  # noqa: E402

NS = H.NS
AM_BIN = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
PROM_BIN = shutil.which("prometheus")


spawn = H.spawn


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
      - alert: DroppedByRelabel
        expr: sum by (app) (count_over_time({app="web"} |= "error" [8s])) > 2
  - name: sticky
    interval: 1s
    rules:
      - alert: StickyErrors
        expr: sum by (app) (count_over_time({app="sticky"} |= "error" [30m])) > 2
        for: 2s
"""

# Added to every alert, and one alert dropped, before sending.
RELABEL = [
    {"target_label": "team", "replacement": "ops"},
    {"source_labels": ["alertname"], "regex": "DroppedByRelabel", "action": "drop"},
]


class Blackhole:
    """A TCP port that accepts connections (the kernel's backlog) and never
    answers: a hung Alertmanager."""

    def __init__(self):
        import socket
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


def metric(srv, name):
    """A label-less sample of noa's /metrics, or None."""
    for ln in srv.get("/metrics").body.decode().splitlines():
        if ln.startswith(name + " "):
            return float(ln.split()[1])
    return None


def am_alerts(am_port, name="WebErrors"):
    return [a for a in get_json(am_port, "/api/v2/alerts")
            if a["labels"].get("alertname") == name]


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
            "alert_relabel_configs": RELABEL,
            "external_labels": {"cluster": "it"},
            "storage": {"type": "local", "local": {"directory": rules_dir}},
            # Two clients (Loki's clients map) into the same Prometheus, the
            # second relabelled so that its copy is a series of its own.
            "remote_write": {"enabled": True, "clients": {
                "main": {"url": "http://127.0.0.1:%d/api/v1/write" % prom_port},
                "replica": {"url": "http://127.0.0.1:%d/api/v1/write" % prom_port,
                            "remote_timeout": "5s",
                            "write_relabel_configs": [{"target_label": "replica",
                                                       "replacement": "b"}]},
            }},
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
        check(names == ["web", "sticky"], "%r", names)
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
        check(a["labels"] == {"alertname": "WebErrors", "app": "web", "severity": "page", "cluster": "it",
                              "team": "ops"}, "%r", a["labels"])
        check(a["annotations"].get("summary") == "web logged 5 errors", "%r", a["annotations"])
        check(a["status"]["state"] == "active", "%r", a["status"])
        check(a.get("generatorURL", "").find("/graph?g0.expr=") >= 0, "%r", a.get("generatorURL"))
        j = srv.get("/prometheus/api/v1/alerts").json()
        got = sorted((x["labels"]["alertname"], x["state"]) for x in j["data"]["alerts"])
        check(got == [("DroppedByRelabel", "firing"), ("WebErrors", "firing")], "%r", j)
        j = srv.get("/prometheus/api/v1/rules", params={"type": "alert"}).json()
        rule = j["data"]["groups"][0]["rules"][0]
        check(rule["state"] == "firing" and rule["health"] == "ok", "%r", rule)

    with suite.case("alert_relabel_configs: the dropped alert never reaches Alertmanager"):
        # It fires in noa (above) on every evaluation since; Alertmanager has
        # WebErrors, sent at the same evaluations, but not this one.
        check(am_alerts(am_port) != [], "WebErrors gone from Alertmanager")
        check(am_alerts(am_port, "DroppedByRelabel") == [], "%r", am_alerts(am_port, "DroppedByRelabel"))

    with suite.case("the recording rule's series reaches Prometheus through both clients"):
        def recorded():
            d = get_json(prom_port, "/api/v1/query", {"query": "app:lines:count1m"})
            r = d["data"]["result"]
            return r if len(r) == 2 else None
        res = H.wait_for(recorded, 30, "app:lines:count1m twice in Prometheus", interval=0.5)
        res.sort(key=lambda x: x["metric"].get("replica", ""))
        base = {"__name__": "app:lines:count1m", "app": "web", "source": "noa"}
        check(res[0]["metric"] == base, "%r", res[0]["metric"])
        check(res[1]["metric"] == dict(base, replica="b"), "%r", res[1]["metric"])
        check(all(float(x["value"][1]) == 5 for x in res), "%r", res)

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

    with suite.case("restart while firing: same activeAt, never resolved in Alertmanager"):
        now = H.now_ns()
        H.push_ok(srv, [Stream({"app": "sticky"}, [entry(now - i * NS // 10, "sticky error %d" % i)
                                                   for i in range(5)])])

        def sticky_noa():
            for x in srv.get("/prometheus/api/v1/alerts").json()["data"]["alerts"]:
                if x["labels"]["alertname"] == "StickyErrors" and x["state"] == "firing":
                    return x
            return None
        before = H.wait_for(sticky_noa, 30, "StickyErrors firing in noa", interval=0.2)
        am_before = H.wait_for(lambda: am_alerts(am_port, "StickyErrors"), 30,
                               "StickyErrors in Alertmanager", interval=0.2)[0]
        state_dir = os.path.join(tmp, "data", "ruler-wal", "alert-state")
        check(os.path.isdir(state_dir) and os.listdir(state_dir), "no state file in %s", state_dir)
        srv.stop()
        # While noa is down and as it comes back, Alertmanager keeps it active.
        check(am_alerts(am_port, "StickyErrors") != [], "resolved while noa was down")
        srv.start()
        after = H.wait_for(sticky_noa, 30, "StickyErrors firing after the restart", interval=0.1)
        check(after["activeAt"] == before["activeAt"], "activeAt %s -> %s", before["activeAt"],
              after["activeAt"])
        deadline = time.time() + 3
        while time.time() < deadline:  # a few resends after the restart
            am = am_alerts(am_port, "StickyErrors")
            check(len(am) == 1 and am[0]["status"]["state"] == "active", "%r", am)
            check(am[0]["startsAt"] == am_before["startsAt"], "startsAt %s -> %s",
                  am_before["startsAt"], am[0]["startsAt"])
            time.sleep(0.3)

    with suite.case("noa stops cleanly with the ruler running"):
        srv.stop()

    with suite.case("hung Alertmanager and receiver never delay evaluation; queues count"):
        hole = Blackhole()
        port2 = H.free_port()
        rules2 = os.path.join(tmp, "rules2")
        os.makedirs(os.path.join(rules2, "fake"))
        with open(os.path.join(rules2, "fake", "q.yaml"), "w") as f:
            f.write("groups:\n- name: q\n  interval: 1s\n  rules:\n"
                    "  - alert: QueueFiller\n"
                    "    expr: sum by (app) (count_over_time({app=~\"q.+\"}[30m])) > 0\n"
                    "  - record: q:lines\n"
                    "    expr: sum by (app) (count_over_time({app=~\"q.+\"}[30m]))\n")
        cfg2 = H.make_config(os.path.join(tmp, "data2"), port2, extra={"ruler": {
            "alertmanager_url": "http://127.0.0.1:%d" % hole.port,
            "evaluation_interval": "1s",
            "poll_interval": "1s",
            "resend_delay": "1s",
            "notification_queue_capacity": 2,
            "notification_timeout": "3s",
            # ... and a remote-write receiver that never answers either.
            "remote_write": {"enabled": True, "clients": {
                "hung": {"url": "http://127.0.0.1:%d/api/v1/write" % hole.port,
                         "remote_timeout": "2s"}}},
            "storage": {"type": "local", "local": {"directory": rules2}},
        }})
        srv2 = H.Server("ruler-hung-am", cfg2, workdir=tmp)
        srv2.start()
        now = H.now_ns()
        H.push_ok(srv2, [Stream({"app": "q%d" % i}, [entry(now, "x")]) for i in range(5)])

        def group_eval():
            g = srv2.get("/prometheus/api/v1/rules").json()["data"]["groups"][0]
            check(all(x["health"] != "err" for x in g["rules"]), "%r", g["rules"])
            return g["lastEvaluation"], len(g["rules"][0]["alerts"])
        H.wait_for(lambda: group_eval()[1] == 5, 20, "5 QueueFiller alerts", interval=0.2)
        evals0 = metric(srv2, "noa_ruler_evaluations_total")
        seen = set()
        t0 = time.time()
        while time.time() - t0 < 4.5:
            seen.add(group_eval()[0])
            time.sleep(0.1)
        evals1 = metric(srv2, "noa_ruler_evaluations_total")
        # One evaluation a second although every send hangs for 3 s.
        check(len(seen) >= 4, "only %d evaluations in 4.5 s: %r", len(seen), sorted(seen))
        check(evals1 - evals0 >= 4, "evaluations %r -> %r", evals0, evals1)
        dropped = metric(srv2, "noa_ruler_notifications_dropped_total")
        qlen = metric(srv2, "noa_ruler_notifications_queue_length")
        cap = metric(srv2, "noa_ruler_notifications_queue_capacity")
        print("     hung Alertmanager: %d evaluations in 4.5 s, dropped %s, queue %s/%s"
              % (len(seen), dropped, qlen, cap))
        check(cap == 2 and qlen is not None and qlen <= 2, "queue %r/%r", qlen, cap)
        check(dropped is not None and dropped >= 10, "dropped %r", dropped)
        rwq = metric(srv2, 'noa_ruler_remote_write_queue_length{client="hung"}')
        print("     hung remote-write receiver: %s requests queued" % rwq)
        check(rwq is not None and rwq >= 2, "remote-write queue %r", rwq)
        srv2.stop()
        hole.close()


if __name__ == "__main__":
    H.main("ruler", body)
