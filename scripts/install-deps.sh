#!/usr/bin/env bash
# Installs what engram needs from Debian 12 packages, and only what is
# missing (idempotent). Run as root, or with sudo available.
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh --bench    also the benchmark peers
set -euo pipefail

packages=(build-essential cmake ninja-build clang libclang-rt-14-dev
          libabsl-dev libconcurrentqueue-dev libxxhash-dev catch2
          libcli11-dev nlohmann-json3-dev
          libbenchmark-dev libcaf-dev fuse3 libfuse3-dev pkg-config
          nats-server libnats-dev openssl)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: everything is installed"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
