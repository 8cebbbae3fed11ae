#!/usr/bin/env bash
# Runs the benchmarks and prints their figures. Not part of `make test`:
# figures depend on the machine and are read, not asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/bin
server=$bin/noa-server
echo "== ingest: 1,000 streams, Loki's snappy protobuf"
$bin/bench_ingest --server $server --streams 1000 --connections 4 --mb 512
echo "== ingest: 1,000 streams, noa's zstd protobuf"
$bin/bench_ingest --server $server --streams 1000 --connections 4 --mb 512 --zstd
echo "== ingest: 10,000 streams, snappy protobuf"
$bin/bench_ingest --server $server --streams 10000 --connections 4 --mb 512
echo "== ingest: 100 streams (multi-block chunks: the on-disk ratio of long-lived streams)"
$bin/bench_ingest --server $server --streams 100 --connections 4 --mb 512
echo "== query: 2 GiB over 300 streams: rare token (block skipping), common token, json;"
echo "   zstd -dc | grep -F yardstick; then the same with skipping off"
$bin/bench_query --server $server --mb 2048 --streams 300
echo "== pipeline: json / logfmt parsers and label filters in memory, one core (CPU time)"
$bin/bench_pipeline --mb 256 --check
echo "== shipper: 1 GiB of CRI lines in 100 files tailed into a running noa-server, then 1,000 files"
$bin/bench_shipper --server $server --shipper $bin/noa-shipper --mb 1024 --files 100
$bin/bench_shipper --server $server --shipper $bin/noa-shipper --mb 256 --files 1000
echo "== ruler: a group of 100 rules over 200 MB of recent lines in memory"
$bin/bench_ruler --server $server --rules 100 --mb 200
echo "== metric queries: 2 GiB over two hours (logfmt and access lines), then JSON lines"
$bin/bench_metric --server $server --mb 2048
$bin/bench_metric --server $server --mb 2048 --json
echo "== live tail: 200 idle followers plus one following every line"
NOA_BIN=$bin /usr/bin/python3 bench/tail_followers.py --lines 200000 --followers 200
