"""
The query API's multi-tenancy and limits, as Loki 3.x answers them.

Multi-tenant queries (`X-Scope-OrgID: a|b`, Loki's MultiTenantQuerier):
every tenant's data, log streams labelled `__tenant_id__`, `__tenant_id__`
matchers choosing tenants, label names gaining `__tenant_id__`, its values
listing the tenants, series labelled, index/stats summed; a tenant never
sees another's data; dskit's tenant rules on each part.

Limits (limits_config): max_query_length (query_range and the metadata
endpoints, each with Loki's message), max_entries_limit_per_query,
max_query_lookback (start moved up; a range wholly before it is empty for
query_range and refused for labels), query_timeout (504 with Loki's text),
step validation (zero/negative, more than 11,000 points).

Runs on the main thread; two noa-servers (auth on), one with a query
timeout so small every query times out.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import Stream, check, entry  # noqa: E402

QR = "/loki/api/v1/query_range"


def qr(srv, tenant, query, start, end, **extra):
    params = {"query": query, "start": str(start), "end": str(end), "direction": "forward", "limit": "50"}
    params.update({k: str(v) for k, v in extra.items()})
    headers = {"X-Scope-OrgID": tenant} if tenant is not None else {}
    return srv.get(QR, params=params, headers=headers)


def streams_of(r):
    check(r.status == 200, "status %d: %s", r.status, H.short(r.body))
    j = r.json()
    check(j["data"]["resultType"] == "streams", "resultType %r", j["data"]["resultType"])
    return [(s["stream"], [v[1] for v in s["values"]]) for s in j["data"]["result"]]


def lines_of(r):
    return sorted(line for _, vs in streams_of(r) for line in vs)


def meta(srv, tenant, path, params):
    r = srv.get(path, params=params, headers={"X-Scope-OrgID": tenant})
    check(r.status == 200, "%s status %d: %s", path, r.status, H.short(r.body))
    return r.json()


def tenant_cases(suite, srv, t0):
    start, end = t0 - 60 * H.NS, t0 + 60 * H.NS
    data = {
        "team-a": ["a1", "a2"],
        "team-b": ["b1"],
    }
    with suite.case("push to two tenants"):
        H.push_ok(srv, [Stream({"app": "pay", "zone": "eu"}, [entry(t0 + 1, "a1"), entry(t0 + 3, "a2")])],
                  tenant="team-a")
        H.push_ok(srv, [Stream({"app": "pay", "zone": "us"}, [entry(t0 + 2, "b1")])], tenant="team-b")

    with suite.case("one tenant sees only its own data, without __tenant_id__"):
        for t, want in data.items():
            got = streams_of(qr(srv, t, '{app="pay"}', start, end))
            check(sorted(l for _, ls in got for l in ls) == want, "%s got %r", t, got)
            for labels, _ in got:
                check("__tenant_id__" not in labels, "single-tenant stream has %r", labels)
        check(lines_of(qr(srv, "team-c", '{app="pay"}', start, end)) == [], "team-c sees data")
        # Loki's LabelResponse omits "data" when empty; series keep "data": [].
        r = srv.get("/loki/api/v1/labels", params={"start": start, "end": end}, headers={"X-Scope-OrgID": "team-c"})
        check(r.status == 200 and r.body == b'{"status":"success"}\n', "team-c labels %r", r.body)
        r = srv.get("/loki/api/v1/series", params={"match[]": '{app="pay"}', "start": start, "end": end},
                    headers={"X-Scope-OrgID": "team-c"})
        check(r.status == 200 and r.json() == {"status": "success", "data": []}, "team-c series %r", r.body)
        vals = H.get_json_list(srv, "/loki/api/v1/label/zone/values", {"start": start, "end": end}, tenant="team-a")
        check(vals == ["eu"], "team-a zone values %r", vals)

    with suite.case("a|b merges both tenants in time order, streams labelled __tenant_id__"):
        r = qr(srv, "team-b|team-a", '{app="pay"}', start, end)
        got = streams_of(r)
        by_tenant = {labels["__tenant_id__"]: ls for labels, ls in got}
        check(by_tenant == {"team-a": ["a1", "a2"], "team-b": ["b1"]}, "got %r", got)
        for labels, _ in got:
            check(labels.get("app") == "pay", "labels %r", labels)
        # forward order across tenants: a1 (t0+1), b1 (t0+2), a2 (t0+3); a limit cuts the merge
        got2 = streams_of(qr(srv, "team-a|team-b", '{app="pay"}', start, end, limit=2))
        check(sorted(l for _, ls in got2 for l in ls) == ["a1", "b1"], "limit 2 got %r", got2)
        got3 = streams_of(qr(srv, "team-a|team-b", '{app="pay"}', start, end, limit=2, direction="backward"))
        check(sorted(l for _, ls in got3 for l in ls) == ["a2", "b1"], "backward limit 2 got %r", got3)
        st = r.json()["data"]["stats"]
        check(st["ingester"]["totalReached"] == 2 and st["summary"]["totalEntriesReturned"] == 3, "stats %r", st["summary"])

    with suite.case("duplicates and order in the header do not matter"):
        check(lines_of(qr(srv, "team-a|team-b|team-a", '{app="pay"}', start, end)) == ["a1", "a2", "b1"], "dup")

    with suite.case("__tenant_id__ matchers choose the tenants"):
        check(lines_of(qr(srv, "team-a|team-b", '{app="pay", __tenant_id__="team-b"}', start, end)) == ["b1"], "eq")
        check(lines_of(qr(srv, "team-a|team-b", '{app="pay", __tenant_id__!="team-b"}', start, end)) == ["a1", "a2"],
              "neq")
        check(lines_of(qr(srv, "team-a|team-b", '{app="pay", __tenant_id__=~"team-(a|b)"}', start, end)) ==
              ["a1", "a2", "b1"], "re")
        check(lines_of(qr(srv, "team-a|team-b", '{app="pay", __tenant_id__="nobody"}', start, end)) == [], "none")
        r = qr(srv, "team-a|team-b", '{__tenant_id__="team-a"}', start, end)
        check(r.status == 400 and b"log selector is invalid after matcher update" in r.body, "%d %r", r.status, r.body)

    with suite.case("labels, label values, series and index/stats across tenants"):
        rng = {"start": start, "end": end}
        names = H.get_json_list(srv, "/loki/api/v1/labels", rng, tenant="team-a|team-b")
        check(names == ["__tenant_id__", "app", "service_name", "zone"], "names %r", names)
        vals = H.get_json_list(srv, "/loki/api/v1/label/zone/values", rng, tenant="team-a|team-b")
        check(vals == ["eu", "us"], "zone values %r", vals)
        tids = H.get_json_list(srv, "/loki/api/v1/label/__tenant_id__/values", rng, tenant="team-b|team-a")
        check(tids == ["team-a", "team-b"], "tenant values %r", tids)
        series = H.get_json_list(srv, "/loki/api/v1/series", dict(rng, **{"match[]": '{app="pay"}'}),
                                 tenant="team-a|team-b")
        got = sorted((s["__tenant_id__"], s["zone"]) for s in series)
        check(got == [("team-a", "eu"), ("team-b", "us")], "series %r", series)
        one = meta(srv, "team-a", "/loki/api/v1/index/stats", dict(rng, query='{app="pay"}'))
        both = meta(srv, "team-a|team-b", "/loki/api/v1/index/stats", dict(rng, query='{app="pay"}'))
        check(one["streams"] == 1 and one["entries"] == 2, "team-a stats %r", one)
        check(both["streams"] == 2 and both["entries"] == 3, "a|b stats %r", both)

    with suite.case("tenant header rules (dskit): 401 without, 400 on a bad part"):
        r = qr(srv, None, '{app="pay"}', start, end)
        check(r.status == 401, "no header: %d %r", r.status, r.body)
        r = qr(srv, "team-a|bad tenant", '{app="pay"}', start, end)
        check(r.status == 400 and r.text == "tenant ID 'bad tenant' contains unsupported character ' '",
              "%d %r", r.status, r.body)
        r = qr(srv, "team-a|" + "x" * 151, '{app="pay"}', start, end)
        check(r.status == 400 and r.text == "tenant ID is too long: max 150 characters", "%d %r", r.status, r.body)


def limit_cases(suite, srv):
    now = H.now_ns()
    H.push_ok(srv, [Stream({"app": "lim"}, [entry(now - 10 * H.NS, "recent")])], tenant="t")
    q = '{app="lim"}'

    with suite.case("max_query_length on query_range (Loki's frontend text)"):
        r = qr(srv, "t", q, now - 3 * 3600 * H.NS, now)
        check(r.status == 400 and r.text ==
              "the query time range exceeds the limit (query length: 3h0m0s, limit: 2h0m0s)", "%d %r", r.status, r.body)
        check(qr(srv, "t", q, now - 2 * 3600 * H.NS, now).status == 200, "2h refused")

    with suite.case("max_query_length on labels and series (Loki's querier text)"):
        r = srv.get("/loki/api/v1/labels", params={"start": now - 3 * 3600 * H.NS, "end": now},
                    headers={"X-Scope-OrgID": "t"})
        check(r.status == 400 and r.text ==
              "the query time range exceeds the limit (query length: 3h0m0s, limit: 2h)", "%d %r", r.status, r.body)
        r = srv.get("/loki/api/v1/series", params={"match[]": q, "start": now - 3 * 3600 * H.NS, "end": now},
                    headers={"X-Scope-OrgID": "t"})
        check(r.status == 400 and b"exceeds the limit" in r.body, "%d %r", r.status, r.body)

    with suite.case("max_entries_limit_per_query"):
        r = qr(srv, "t", q, now - 60 * H.NS, now, limit=51)
        check(r.status == 400 and r.text ==
              "max entries limit per query exceeded, limit > max_entries_limit_per_query (51 > 50)",
              "%d %r", r.status, r.body)
        check(qr(srv, "t", q, now - 60 * H.NS, now, limit=50).status == 200, "limit 50 refused")

    with suite.case("step: zero and too many points refused, default accepted"):
        r = qr(srv, "t", q, now - 60 * H.NS, now, step="0")
        check(r.status == 400 and r.text.startswith("zero or negative query resolution step"), "%d %r", r.status, r.body)
        r = qr(srv, "t", q, now - 3600 * H.NS, now, step="0.1")
        check(r.status == 400 and r.text.startswith("exceeded maximum resolution of 11,000 points"),
              "%d %r", r.status, r.body)
        check(qr(srv, "t", q, now - 3600 * H.NS, now, step="1").status == 200, "step 1 over 1h refused")


def lookback_cases(suite, srv):
    now = H.now_ns()
    H.push_ok(srv, [Stream({"app": "lim"}, [entry(now - 10 * H.NS, "recent")])], tenant="t")
    q = '{app="lim"}'
    with suite.case("max_query_lookback: start moved up, an older range is empty"):
        # lookback 90m: a 3h range is moved up to 90m before max_query_length
        # (2h) is checked, as Loki's frontend does
        got = lines_of(qr(srv, "t", q, now - 3 * 3600 * H.NS, now))
        check(got == ["recent"], "got %r", got)
        r = qr(srv, "t", q, now - 3 * 3600 * H.NS, now - 2 * 3600 * H.NS)
        check(streams_of(r) == [], "old range answered %r", r.body)
        r = srv.get("/loki/api/v1/labels", params={"start": now - 3 * 3600 * H.NS, "end": now - 2 * 3600 * H.NS},
                    headers={"X-Scope-OrgID": "t"})
        check(r.status == 400 and r.text ==
              "this data is no longer available, it is past now - max_query_lookback (1h30m)", "%d %r", r.status, r.body)


def timeout_cases(suite, srv):
    now = H.now_ns()
    H.push_ok(srv, [Stream({"app": "slow"}, [entry(now - H.NS, "x")])], tenant="t")
    with suite.case("query_timeout: 504 with Loki's text on every query endpoint"):
        want = ("request timed out, decrease the duration of the request or add more label matchers "
                "(prefer exact match over regex match) to reduce the amount of data processed")
        r = qr(srv, "t", '{app="slow"}', now - 60 * H.NS, now)
        check(r.status == 504 and r.text == want, "query_range %d %r", r.status, r.body)
        for path, params in (("/loki/api/v1/labels", {}), ("/loki/api/v1/series", {"match[]": '{app="slow"}'}),
                             ("/loki/api/v1/index/stats", {"query": '{app="slow"}'})):
            r = srv.get(path, params=params, headers={"X-Scope-OrgID": "t"})
            check(r.status == 504 and r.text == want, "%s %d %r", path, r.status, r.body)


def body(suite):
    tmp = H.make_tempdir("query_api")
    os.makedirs(os.path.join(tmp, "a"), exist_ok=True)
    os.makedirs(os.path.join(tmp, "b"), exist_ok=True)
    srv = H.Server("query_api", H.make_config(os.path.join(tmp, "data"), H.free_port(), auth=True, limits={
        "max_query_length": "2h", "max_entries_limit_per_query": 50}),
        workdir=os.path.join(tmp, "a"))
    with suite.case("start"):
        srv.start()
    t0 = H.now_ns() - 120 * H.NS
    tenant_cases(suite, srv, t0)
    limit_cases(suite, srv)
    srv.stop()

    os.makedirs(os.path.join(tmp, "c"), exist_ok=True)
    lb = H.Server("lookback", H.make_config(os.path.join(tmp, "data-c"), H.free_port(), auth=True, limits={
        "max_query_length": "2h", "max_query_lookback": "90m"}), workdir=os.path.join(tmp, "c"))
    with suite.case("start with max_query_lookback 90m"):
        lb.start()
    lookback_cases(suite, lb)
    lb.stop()

    slow = H.Server("timeout", H.make_config(os.path.join(tmp, "data-b"), H.free_port(), auth=True, limits={
        "query_timeout": "1ns"}), workdir=os.path.join(tmp, "b"))
    with suite.case("start with query_timeout 1ns"):
        slow.start()
    timeout_cases(suite, slow)
    slow.stop()


if __name__ == "__main__":
    H.main("query_api", body)
