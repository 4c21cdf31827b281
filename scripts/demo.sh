#!/usr/bin/env bash
# Installs what is missing, builds engram in Release and runs the demo.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DENGRAM_BUILD_TESTS=OFF > /dev/null
cmake --build "$root/build" -j"$(nproc)" --target actor_demo
"$root/build/examples/actor_demo"
