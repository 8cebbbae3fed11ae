"""
The requests Grafana's Loki data source sends, replayed against noa-server,
each answer compared with a fixture in tests/integration/fixtures/grafana/.

Where the requests come from (Grafana's pkg/tsdb/loki and its frontend
language provider):
  * "Save & test": the backend health check runs the instant query
    `vector(1)+vector(1)` at time=4s (Unix) with direction=backward and
    expects one sample of value 2; older frontends asked for /labels over the
    last minutes.
  * the label browser: /labels, /label/<name>/values (with and without a
    `query` selector) and /series with match[], all with start/end in ns.
  * a log panel: query_range with query, direction, limit, start/end in ns,
    step as "<n>ms", the header X-Loki-Response-Encoding-Flags:
    categorize-labels, and Grafana's forwarded headers (X-Query-Tags,
    X-Grafana-Org-Id, X-Dashboard-Uid, X-Panel-Id, ...).
  * the log volume histogram: a metric query_range tagged
    X-Query-Tags: Source=logvolhist, `sum by (level, detected_level)
    (count_over_time(... | drop __error__ [<step>]))` at Grafana's step.
  * the query-size estimate: /index/stats with the query's selector.
  * a data source whose X-Scope-OrgID names two tenants (`grafana|other`):
    a log panel and the label browser over both.

A fixture holds the request (params may use $START, $END, $T+<seconds>)
and the expected status and JSON. Answers are normalised before comparing:
entry timestamps become "$T+<ns offset>", matrix sample timestamps near
$T (Unix seconds) "$T+<seconds offset>", and the `stats` object is checked
key by key (names, order, types) against Loki's zero-value golden
(fixtures/loki_stats_zero.json) and then replaced by "$STATS", since its
timings vary. NOA_REGEN_FIXTURES=1 rewrites the fixtures from the answers
(review the diff: a fixture is only as right as the reading behind it).

Runs on the main thread; one noa-server with auth on (tenant "grafana").
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import Stream, check, entry  # noqa: E402

FIXTURES = os.path.join(H.HERE, "fixtures", "grafana")
STATS_GOLDEN = os.path.join(H.HERE, "fixtures", "loki_stats_zero.json")
REGEN = os.environ.get("NOA_REGEN_FIXTURES") == "1"
TENANT = "grafana"

# Headers Grafana's backend forwards with data queries (values as Grafana 11
# sends them; noa must ignore them).
GRAFANA_HEADERS = {
    "X-Grafana-Org-Id": "1",
    "X-Dashboard-Uid": "noa-logs",
    "X-Panel-Id": "2",
    "X-Datasource-Uid": "P8E80F9AEF21F6940",
    "X-Query-Group-Id": "3b6a1c6e-7e0f-4a35-9c8e-2c2f5d3c6a10",
    "X-Grafana-From-Expr": "true",
    "User-Agent": "Grafana/11.3.0",
}


def corpus(t0):
    """What the panel looks at: a web shop's API and worker, and a database."""
    api = Stream({"app": "shop", "job": "shop/api", "env": "prod"}, [
        entry(t0 + 1 * H.NS, 'level=info method=GET path=/cart status=200 duration=12ms'),
        entry(t0 + 2 * H.NS, 'level=info method=GET path=/items status=200 duration=30ms',
              {"trace_id": "4bf92f3577b34da6"}),
        entry(t0 + 3 * H.NS, 'level=error method=POST path=/pay status=500 duration=1.2s'),
        entry(t0 + 4 * H.NS, 'level=warn method=GET path=/cart status=404 duration=3ms'),
    ])
    worker = Stream({"app": "shop", "job": "shop/worker", "env": "prod"}, [
        entry(t0 + 5 * H.NS, '{"level":"error","msg":"payment declined","order":{"id":7,"total":19.5}}'),
        entry(t0 + 6 * H.NS, '{"level":"info","msg":"mail sent","order":{"id":8}}'),
    ])
    db = Stream({"app": "db", "job": "db/pg", "env": "prod"}, [
        entry(t0 + 7 * H.NS, "LOG:  checkpoint complete: wrote 12 buffers"),
    ])
    return [api, worker, db]


def substitute(v, env):
    if isinstance(v, str):
        if v == "$START":
            return str(env["start"])
        if v == "$END":
            return str(env["end"])
        if v.startswith("$T+"):
            return str(env["t0"] + int(float(v[3:]) * H.NS))
        return v
    return v


def shape(v):
    """Key names, order and JSON types of a stats object."""
    if isinstance(v, dict):
        return [(k, shape(x)) for k, x in v.items()]
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return type(v).__name__


def check_stats(stats, n_returned):
    golden = json.load(open(STATS_GOLDEN))
    got, want = shape(stats), shape(golden)
    if got != want:
        gk = [k for k, _ in got]
        wk = [k for k, _ in want]
        check(False, "stats keys differ from Loki's: got %s want %s (full: %s)", gk, wk, json.dumps(stats)[:600])
    check(stats["summary"]["totalEntriesReturned"] == n_returned,
          "summary.totalEntriesReturned %r, %d values returned", stats["summary"]["totalEntriesReturned"], n_returned)
    for k in ("execTime", "queueTime"):
        check(0 <= stats["summary"][k] < 60, "summary.%s %r is not seconds", k, stats["summary"][k])


def normalise(doc, env):
    """Timestamps -> $T+offset, stats -> $STATS (after checking its shape)."""
    data = doc.get("data") if isinstance(doc, dict) else None
    if isinstance(data, dict):
        n = 0
        if data.get("resultType") == "streams":
            for st in data.get("result", []):
                for v in st.get("values", []):
                    v[0] = "$T+%d" % (int(v[0]) - env["t0"])
                    n += 1
        elif data.get("resultType") == "matrix":
            for st in data.get("result", []):
                for v in st.get("values", []):
                    if abs(v[0] - env["t0"] / H.NS) < 86400:  # not fixed times (vector(1))
                        v[0] = "$T+%g" % (v[0] - env["t0"] / H.NS)
        if "stats" in data:
            if data.get("resultType") == "streams":
                check_stats(data["stats"], n)
            else:
                check(shape(data["stats"]) == shape(json.load(open(STATS_GOLDEN))), "stats shape differs")
            data["stats"] = "$STATS"
    return doc


def replay(srv, fx, env):
    params = [(k, substitute(v, env)) for k, v in fx["params"]]
    headers = {"X-Scope-OrgID": TENANT}
    headers.update(fx.get("headers", {}))
    r = srv.request(fx.get("method", "GET"), fx["path"], params=params, headers=headers)
    return r


def body(suite):
    names = sorted(f for f in os.listdir(FIXTURES) if f.endswith(".json"))
    with suite.case("fixtures present"):
        check(len(names) >= 10, "only %d fixtures in %s", len(names), FIXTURES)
    tmp = H.make_tempdir("grafana")
    port = H.free_port()
    srv = H.Server("grafana", H.make_config(os.path.join(tmp, "data"), port, auth=True), workdir=tmp)
    with suite.case("start and push the corpus"):
        srv.start()
        t0 = (H.now_ns() // H.NS - 600) * H.NS
        H.push_ok(srv, corpus(t0), fmt="json", tenant=TENANT)
        # Another tenant's data must never show up in Grafana's answers.
        H.push_ok(srv, [Stream({"app": "shop", "job": "intruder"}, [entry(t0 + 2 * H.NS, "other tenant")])],
                  tenant="other")
    env = {"t0": t0, "start": t0 - 60 * H.NS, "end": t0 + 120 * H.NS}
    for name in names:
        path = os.path.join(FIXTURES, name)
        fx = json.load(open(path))
        with suite.case("%s: %s" % (name[:-5], fx["what"])):
            r = replay(srv, fx, env)
            if REGEN:
                fx["status"] = r.status
                fx["response"] = normalise(r.json(), env) if r.status == 200 else r.text
                with open(path, "w") as f:
                    json.dump(fx, f, indent=2, ensure_ascii=False)
                    f.write("\n")
            check(r.status == fx["status"], "status %d, want %d: %s", r.status, fx["status"], H.short(r.body))
            if r.status != 200:
                check(r.text == fx["response"], "body %r, want %r", r.text, fx["response"])
                continue
            check(r.headers.get("content-type", "").startswith("application/json"),
                  "content-type %r", r.headers.get("content-type"))
            got = normalise(r.json(), env)
            want = fx["response"]
            check(got == want, "answer differs:\n got  %s\n want %s",
                  json.dumps(got, ensure_ascii=False)[:1500], json.dumps(want, ensure_ascii=False)[:1500])
    srv.stop()


if __name__ == "__main__":
    H.main("grafana", body)
