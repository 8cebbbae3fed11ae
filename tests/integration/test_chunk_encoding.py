"""
ingester.chunk_encoding end to end: a server configured with lz4 writes
lz4 chunks (codec byte 7 in every chunk file), answers a log query and an
`|= "error"` metric query the same after its chunks are flushed, after a
SIGKILL (WAL replay re-seals the unflushed entries) and after a graceful
restart; restarted with chunk_encoding: zstd over the same data it still
reads the lz4 chunks and writes new chunks as zstd (codec byte 9), and
every answer covers old and new entries.

Runs on the main thread; starts one noa-server on a free loopback port.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noa_harness as H  # noqa: E402
from noa_harness import check, entry, Stream  # noqa: E402

MAGIC = b"\x01\x2e\xe5\x6a"
LZ4, ZSTD = 7, 9


def make_streams(t0, tag, n):
    out = []
    for s in range(3):
        labels = {"job": "enc", "app": "app%d" % s}
        ents = []
        for i in range(n):
            lvl = "error" if i % 7 == 0 else "info"
            ents.append(entry(t0 + (s * n + i) * 1_000_003,
                              "level=%s tag=%s stream=%d i=%d msg=\"request handled in %dms\" pad=%s"
                              % (lvl, tag, s, i, i % 97, "x" * (i % 50))))
        out.append(Stream(labels, ents))
    return out


def chunk_codecs(data_dir):
    """{path: codec byte} of every chunk file under <data>/chunks."""
    out = {}
    for p in H.files_under(os.path.join(data_dir, "chunks")):
        with open(p, "rb") as f:
            head = f.read(6)
        if len(head) == 6 and head[:4] == MAGIC:
            out[p] = head[5]
    return out


def wait_settled(data_dir):
    chunk_dir = os.path.join(data_dir, "chunks")
    state = {"files": None, "since": None}

    def settled():
        f = sorted(H.files_under(chunk_dir))
        if f != state["files"]:
            state["files"], state["since"] = f, time.monotonic()
            return False
        return bool(f) and time.monotonic() - state["since"] >= 4.0
    H.wait_for(settled, 90, "chunk files to stop changing", interval=0.25)


def answers(srv, start, end):
    """(sorted log entries, error count) for the whole range."""
    got = H.fetch_all(srv, '{job="enc"}', start, end)
    entries = sorted((g.ts, g.line) for g in got)
    r = srv.get("/loki/api/v1/query", params={
        "query": 'sum(count_over_time({job="enc"} |= "level=error" [2h]))', "time": str(end)})
    check(r.status == 200, "metric query answered %d: %s", r.status, H.short(r.body))
    res = r.json()["data"]["result"]
    count = int(float(res[0]["value"][1])) if res else 0
    return entries, count


def expected(streams_list):
    ents = sorted((e.ts, e.line) for streams in streams_list for st in streams for e in st.entries)
    errors = sum(1 for _, line in ents if line.startswith("level=error"))
    return ents, errors


def body(suite):
    tmp = H.make_tempdir("chunk-encoding")
    port = H.free_port()
    data = os.path.join(tmp, "data")
    ing = dict(H.SMALL_CHUNKS, chunk_encoding="lz4")
    srv = H.Server("chunk-encoding", H.make_config(data, port, ingester=ing), workdir=tmp)
    t0 = (H.now_ns() - 30 * 60 * H.NS) // H.NS * H.NS
    start, end = t0 - H.NS, H.now_ns() + 60 * H.NS
    a = make_streams(t0, "a", 400)
    b = make_streams(t0 + 5 * 60 * H.NS, "b", 300)
    c = make_streams(t0 + 10 * 60 * H.NS, "c", 300)
    state = {}

    with suite.case("lz4: push, chunks flushed as lz4"):
        srv.start()
        H.push_ok(srv, a)
        wait_settled(data)
        codecs = chunk_codecs(data)
        check(codecs, "no chunk files")
        check(set(codecs.values()) == {LZ4}, "chunk codecs %s, want all %d", set(codecs.values()), LZ4)
        state["lz4_files"] = set(codecs)
        print("     %d lz4 chunk files" % len(codecs))
    with suite.case("lz4: answers match what was pushed"):
        got = answers(srv, start, end)
        want = expected([a])
        check(got[0] == want[0], "entries differ: %d got, %d want", len(got[0]), len(want[0]))
        check(got[1] == want[1], "error count %d, want %d", got[1], want[1])
        state["a"] = got
    with suite.case("lz4: unflushed entries survive SIGKILL (WAL replay re-seals)"):
        H.push_ok(srv, b)
        srv.kill()
        srv.start()
        got = answers(srv, start, end)
        want = expected([a, b])
        check(got[0] == want[0], "entries differ: %d got, %d want", len(got[0]), len(want[0]))
        check(got[1] == want[1], "error count %d, want %d", got[1], want[1])
        state["ab"] = got
    with suite.case("lz4: graceful restart answers identically"):
        srv.stop()
        srv.start()
        check(answers(srv, start, end) == state["ab"], "answers changed across restart")
        wait_settled(data)
        codecs = chunk_codecs(data)
        check(set(codecs.values()) == {LZ4}, "chunk codecs %s, want all %d", set(codecs.values()), LZ4)
        state["lz4_files"] = set(codecs)
    with suite.case("zstd: restart reads the lz4 chunks"):
        srv.stop()
        ing2 = dict(H.SMALL_CHUNKS, chunk_encoding="zstd")
        srv2 = H.Server("chunk-encoding-zstd", H.make_config(data, port, ingester=ing2), workdir=tmp)
        srv2.start()
        state["srv2"] = srv2
        check(answers(srv2, start, end) == state["ab"], "answers changed after switching to zstd")
    with suite.case("zstd: new chunks are zstd, old lz4 ones stay and read"):
        srv2 = state["srv2"]
        H.push_ok(srv2, c)
        wait_settled(data)
        codecs = chunk_codecs(data)
        new = {p: v for p, v in codecs.items() if p not in state["lz4_files"]}
        check(new, "no new chunk files after the zstd push")
        check(set(new.values()) == {ZSTD}, "new chunk codecs %s, want %d", set(new.values()), ZSTD)
        check(all(codecs.get(p) == LZ4 for p in state["lz4_files"]), "lz4 chunk files changed")
        got = answers(srv2, start, end)
        want = expected([a, b, c])
        check(got[0] == want[0], "entries differ: %d got, %d want", len(got[0]), len(want[0]))
        check(got[1] == want[1], "error count %d, want %d", got[1], want[1])
        srv2.stop()


if __name__ == "__main__":
    H.main("chunk_encoding", body)
