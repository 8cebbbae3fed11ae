# syntax=docker/dockerfile:1
# noa-server image (Loki-compatible log server; noa-logcli comes along for
# `docker compose exec noa-server noa-logcli ...`).
#
# Build from the repository root:  docker build -f docker/server.Dockerfile -t noa-server .
# Stage 1 compiles on Debian 12 with the -dev packages of
# scripts/install-deps.sh; stage 2 is debian slim with only the shared
# libraries the binaries link (from `ldd` + `dpkg -S`; the packaging test
# checks the list still covers them), running as uid 10001 over the
# /var/lib/noa volume. Lint checklist: docs/docker.md.

FROM debian:12.11 AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Versions are pinned by the Debian point release of the base image, not per
# package (hadolint DL3008, see docs/docker.md).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libuv1-dev libzstd-dev liblz4-dev libsnappy-dev zlib1g-dev libpcre2-dev libjansson-dev \
      libyaml-dev librocksdb-dev libcurl4-openssl-dev libxxhash-dev libsystemd-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the build reads (.dockerignore keeps the context to these too).
COPY CMakeLists.txt ./
COPY common/ common/
COPY ingester/ ingester/
COPY querier/ querier/
COPY shipper/ shipper/
COPY logcli/ logcli/
# NOA_WERROR=OFF: a warning from a newer compiler must not break an image
# build; `make test` keeps warnings as errors.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DNOA_BENCH=OFF -DNOA_WERROR=OFF \
 && cmake --build /build -j"$(nproc)" --target noa-server noa-logcli \
 && strip /build/bin/noa-server /build/bin/noa-logcli

FROM debian:12.11-slim
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Runtime libraries (noa-server: rocksdb, libuv, zstd, jansson, yaml, pcre2,
# curl, zlib, xxhash, snappy, openssl), curl for the HEALTHCHECK, CA certificates for
# https Alertmanager / remote-write URLs.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates curl \
      libc6 libcurl4 libssl3 libjansson4 libpcre2-8-0 librocksdb7.8 libsnappy1v5 \
      libuv1 libxxhash0 libyaml-0-2 libzstd1 liblz4-1 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 noa \
 && useradd --system --uid 10001 --gid noa --home-dir /var/lib/noa --no-create-home \
      --shell /usr/sbin/nologin noa \
 && install -d -o noa -g noa -m 0750 /var/lib/noa \
 && install -d -m 0755 /etc/noa /etc/noa/rules /etc/noa/rules/fake
COPY --from=build /build/bin/noa-server /build/bin/noa-logcli /usr/bin/
COPY docker/noa-server.yaml /etc/noa/noa-server.yaml

USER 10001:10001
WORKDIR /var/lib/noa
VOLUME ["/var/lib/noa"]
EXPOSE 3100
ENV NOA_HTTP_PORT=3100
# SIGTERM makes noa-server stop taking pushes, finish requests and
# checkpoint the WAL (server.graceful_shutdown_timeout, 30s): give the
# container more than that before SIGKILL (compose: stop_grace_period: 90s;
# docker stop -t 90).
STOPSIGNAL SIGTERM
# /ready answers 503 during the WAL replay and 200 once pushes and queries
# are served; a long replay is covered by the start period.
HEALTHCHECK --interval=10s --timeout=5s --start-period=2m --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${NOA_HTTP_PORT}/ready" || exit 1
ENTRYPOINT ["/usr/bin/noa-server", "-config.file=/etc/noa/noa-server.yaml", "-config.expand-env=true"]
