#!/usr/bin/env bash
# Builds engram in Release with the benchmarks and prints every figure beside
# its peer measured in the same run. Extra arguments go to the Savina driver
# (e.g. --threads 2 --reps 3 --scale 0.1).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
build="$root/build-bench"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DENGRAM_BUILD_TESTS=OFF -DENGRAM_COMPONENTS="runtime;actors;bus;journal;image;replication" -DENGRAM_BUILD_BENCHMARKS=ON > /dev/null
cmake --build "$build" -j"$(nproc)"
threads="$(nproc)"

echo "== Savina: engram vs CAF 0.17.6, $threads worker threads =="
"$build/bench/savina/savina" --threads "$threads" "$@"
echo
echo "== idle runtime CPU =="
"$build/bench/runtime/idle_cpu" --threads "$threads" --seconds 3
echo
echo "== mailbox memory =="
"$build/bench/runtime/mailbox_memory"
echo
echo "== micro benchmarks (Google Benchmark) =="
"$build/bench/runtime/runtime_bench" --benchmark_min_time=0.5
echo
echo "== journal =="
"$build/bench/journal/journal_bench"
echo
echo "== memory image =="
"$build/bench/image/image_bench"
echo
echo "== event bus: engram vs CAF 0.17.6 groups vs a mutex-protected map =="
"$build/bench/bus/bus_bench"
echo
echo "== replication: kReplicated vs raw js_PublishAsync (nats-server 2.9.10 on loopback) =="
"$build/bench/replication/replication_bench"
