#!/usr/bin/env bash
# Installs what is missing, builds engram in Release and runs the demo: the
# bank example as a memory image. `bank run` performs random transfers
# between accounts (persistent actors) and is killed with SIGKILL mid-run;
# `bank check` then recovers the journal, finishes or compensates every
# transfer the crash interrupted, and checks that no money was created or
# lost and no acknowledged transfer was lost. Then a hot standby takes over
# from a killed `bank run`, and the actor runtime demo.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"
build="$root/build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DENGRAM_BUILD_TESTS=OFF -DENGRAM_COMPONENTS="runtime;actors;bus;journal;image;replication" > /dev/null
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
echo "== hot standby: bank standby follows a bank run, which is killed; the standby takes over =="
sdir="$(mktemp -d)/journal"
sout="$(mktemp)"
"$bank" run --journal "$sdir" --accounts 200 --transfers 5000000 --durability process \
  > /dev/null 2>&1 &
leader=$!
sleep 0.5
"$bank" standby --journal "$sdir" --accounts 200 --transfers 1000 > "$sout" 2> /dev/null &
standby=$!
sleep 1.5
kill -9 "$leader"
wait "$leader" 2> /dev/null || true
wait "$standby"
grep -m1 '^promoted' "$sout" || { echo "the standby did not take over"; exit 1; }
echo "then the new leader acked $(grep -o '^acked [0-9]*' "$sout" | tail -1 | cut -d' ' -f2) transfers"
"$bank" check --journal "$sdir"
rm -rf "$(dirname "$sdir")" "$sout"
echo
echo "== actor runtime demo =="
"$build/examples/actor_demo"
rm -rf "$(dirname "$dir")" "$out"
