#!/usr/bin/env bash
# Installs the Debian packages noa builds, runs and tests with, when missing.
# Idempotent and quiet when everything is present; needs root (or sudo) to install.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libuv1-dev libzstd-dev liblz4-dev libsnappy-dev zlib1g-dev libpcre2-dev libjansson-dev
  libyaml-dev librocksdb-dev libcurl4-openssl-dev libxxhash-dev libcmocka-dev
  libsystemd-dev libssl-dev systemd-journal-remote openssl
  python3 python3-snappy python3-yaml zstd curl prometheus prometheus-alertmanager
  docker-compose nodejs npm
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    # nodejs/npm may come from outside Debian's packages; a working binary is enough.
    case "$p" in
      nodejs) command -v node >/dev/null 2>&1 && continue ;;
      npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
