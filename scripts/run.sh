#!/usr/bin/env bash
# The embedded default (`make run`): noa-server on 127.0.0.1:3100 over ./data
# and noa-shipper tailing this host's logs (/var/log/*.log and the systemd
# journal) into it. Ctrl-C (or SIGTERM) stops both gracefully: the shipper
# first, so what it holds reaches the server, then the server.
set -euo pipefail
bin=${1:-build/bin}
mkdir -p data/shipper

"$bin/noa-server" -config.file=config/noa.yaml &
server=$!
shipper=""
stop() {
  trap - INT TERM
  [ -n "$shipper" ] && kill -TERM "$shipper" 2>/dev/null && wait "$shipper" || true
  kill -TERM "$server" 2>/dev/null && wait "$server" || true
  exit 0
}
trap stop INT TERM

# The shipper retries while the server replays its WAL, but starting it once
# the server is ready keeps the first minutes of logs quiet.
for _ in $(seq 1 600); do
  curl -fsS -o /dev/null http://127.0.0.1:3100/ready 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { wait "$server"; exit $?; }
  sleep 0.1
done

"$bin/noa-shipper" -config.file=config/shipper-local.yaml &
shipper=$!
echo "noa-server: http://127.0.0.1:3100  noa-shipper: http://127.0.0.1:9080/targets" >&2
# Either one exiting on its own stops the other.
wait -n "$server" "$shipper" || true
stop
