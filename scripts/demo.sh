#!/usr/bin/env bash
# Installs what is missing, builds engram in Release and runs the demo: the
# bank example as a memory image. `bank run` performs random transfers
# between accounts (persistent actors) and is killed with SIGKILL mid-run;
# `bank check` then recovers the journal, finishes or compensates every
# transfer the crash interrupted, and checks that no money was created or
# lost and no acknowledged transfer was lost. Then the actor runtime demo.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
build="$root/build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DENGRAM_BUILD_TESTS=OFF -DENGRAM_COMPONENTS="runtime;actors;bus;journal;image" > /dev/null
cmake --build "$build" -j"$(nproc)" --target bank actor_demo

bank="$build/examples/bank"
dir="$(mktemp -d)/journal"
out="$(mktemp)"
echo "== bank run: 200 accounts, random transfers, killed with SIGKILL after 2 s =="
start=$(date +%s.%N)
"$bank" run --journal "$dir" --accounts 200 --transfers 5000000 --durability process \
  > "$out" 2> /dev/null &
pid=$!
sleep 2
kill -9 "$pid"
wait "$pid" 2> /dev/null || true
end=$(date +%s.%N)
acked=$(grep -o '^acked [0-9]*' "$out" | tail -1 | cut -d' ' -f2)
acked=${acked:-0}
echo "acked $acked transfers before the kill ($(awk -v a="$acked" -v s="$start" -v e="$end" \
  'BEGIN { printf "%.0f transfers/s, including start-up", a / (e - s) }'))"
echo
echo "== bank check: recover, finish interrupted transfers, verify =="
check_start=$(date +%s.%N)
"$bank" check --journal "$dir"
check_end=$(date +%s.%N)
awk -v s="$check_start" -v e="$check_end" 'BEGIN { printf "recovery and check took %.3f s\n", e - s }'
echo
echo "== actor runtime demo =="
"$build/examples/actor_demo"
rm -rf "$(dirname "$dir")" "$out"
