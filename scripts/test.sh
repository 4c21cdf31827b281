#!/usr/bin/env bash
# Installs what is missing, then builds and runs the whole test suite three
# times: a normal (RelWithDebInfo, GCC) build, an ASan+UBSan build (clang,
# which also enforces the thread-safety annotations) and a TSan build (GCC).
# Any test failure or sanitizer report fails the run.
#   scripts/test.sh            all three builds
#   scripts/test.sh normal     one of: normal, asan, tsan (several allowed)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install-deps.sh"

builds=("$@")
if ((${#builds[@]} == 0)); then builds=(normal asan tsan); fi
jobs="$(nproc)"

# Sanitizer reports are fatal and go to stderr; ctest shows them on failure.
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/tsan.supp"

run_build() {
  local name="$1" sanitize="$2" cxx="$3"
  local dir="$root/build-$name"
  echo "=== $name build ($dir, $cxx) ==="
  local start=$SECONDS
  local fuzz=OFF
  if [[ "$cxx" == clang++ ]]; then fuzz=ON; fi
  CXX="$cxx" cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DENGRAM_BUILD_TESTS=ON -DENGRAM_COMPONENTS="runtime;actors;bus;journal;image;replication" -DENGRAM_SANITIZE="$sanitize" -DENGRAM_BUILD_FUZZERS="$fuzz" \
    > /dev/null
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest --output-on-failure -j"$jobs")
  if [[ "$fuzz" == ON ]]; then
    # A bounded libFuzzer run of the segment reader, from a seed corpus of
    # real segments (a clean journal, a batch, a torn tail).
    local corpus="$dir/fuzz-corpus"
    rm -rf "$corpus" && mkdir -p "$corpus"
    "$dir/tests/fuzz/journal_fuzz_seeds" "$corpus"
    "$dir/tests/fuzz/journal_segment_fuzzer" -max_total_time="${ENGRAM_FUZZ_SECONDS:-60}" \
      -print_final_stats=1 "$corpus"
    # The replication message parser, from the same records: a segment's
    # bytes after its header are records back to back (with padding).
    local rcorpus="$dir/fuzz-corpus-replicated"
    rm -rf "$rcorpus" && mkdir -p "$rcorpus"
    for f in "$corpus"/*; do tail -c +65 "$f" | head -c 4096 > "$rcorpus/$(basename "$f")"; done
    "$dir/tests/fuzz/replicated_message_fuzzer" -max_total_time="${ENGRAM_FUZZ_SECONDS:-30}" \
      -print_final_stats=1 "$rcorpus"
  fi
  echo "=== $name build passed in $((SECONDS - start)) s ==="
}

for b in "${builds[@]}"; do
  case "$b" in
    normal) run_build normal "" g++ ;;
    asan) run_build asan "address;undefined" clang++ ;;
    tsan) run_build tsan "thread" g++ ;;
    *) echo "test.sh: unknown build '$b' (expected normal, asan or tsan)" >&2; exit 2 ;;
  esac
done
echo "test.sh: all builds passed: ${builds[*]}"
