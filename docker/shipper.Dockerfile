# syntax=docker/dockerfile:1
# noa-shipper image (Promtail-compatible log shipper).
#
# Build from the repository root:  docker build -f docker/shipper.Dockerfile -t noa-shipper .
# Stage 1 compiles on Debian 12 with the -dev packages of
# scripts/install-deps.sh; stage 2 is debian slim with only the shared
# libraries the binary links (from `ldd` + `dpkg -S`; the packaging test
# checks the list still covers them), running as uid 10001 with its
# positions file on the /var/lib/noa volume. Reading the host's logs needs
# more than uid 10001 has: docker/compose.yaml runs it as uid 0 with every
# capability dropped but DAC_READ_SEARCH (read-only access). Lint
# checklist: docs/docker.md.

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
 && cmake --build /build -j"$(nproc)" --target noa-shipper \
 && strip /build/bin/noa-shipper

FROM debian:12.11-slim
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Runtime libraries (libuv, zstd, jansson, yaml, pcre2, curl, zlib, xxhash,
# snappy, systemd for the journal), curl for the HEALTHCHECK, CA
# certificates for https clients.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates curl \
      libc6 libcurl4 libssl3 libjansson4 libpcre2-8-0 libsnappy1v5 libsystemd0 \
      libuv1 libxxhash0 libyaml-0-2 libzstd1 liblz4-1 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 noa \
 && useradd --system --uid 10001 --gid noa --home-dir /var/lib/noa --no-create-home \
      --shell /usr/sbin/nologin noa \
 && install -d -o noa -g noa -m 0770 /var/lib/noa /var/lib/noa/shipper \
 && install -d -m 0755 /etc/noa
COPY --from=build /build/bin/noa-shipper /usr/bin/
COPY docker/noa-shipper.yaml /etc/noa/noa-shipper.yaml

# Group-writable data directory: compose's `user: "0:10001"` (root without
# capabilities, group noa) can write positions there too.
USER 10001:10001
WORKDIR /var/lib/noa
VOLUME ["/var/lib/noa"]
EXPOSE 9080
ENV NOA_SHIPPER_HTTP_PORT=9080
# SIGTERM: the shipper sends what it has read, saves its positions and exits.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${NOA_SHIPPER_HTTP_PORT}/ready" || exit 1
ENTRYPOINT ["/usr/bin/noa-shipper", "-config.file=/etc/noa/noa-shipper.yaml", "-config.expand-env=true"]
