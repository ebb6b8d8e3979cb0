#!/usr/bin/env bash
# Builds the libFuzzer targets (preset `fuzz`: clang-19, ASan + UBSan) and runs each for
# SECONDS (default 60), then prints one summary line per target. Exits non-zero if any target
# finds a crash, a leak, a sanitizer report, an oracle mismatch or a timeout; the input that
# did it is saved under build-fuzz/crashes/ and its path printed.
#
#   scripts/fuzz.sh [SECONDS]
#   JITSON_FUZZ_TARGETS="config hex"  only these targets (default: all of fuzz/fuzz_*.cpp)
#   JITSON_FUZZ_JOBS=2                targets run at once (default 1; each is single-threaded)
#   JITSON_JOBS=2                     build parallelism (default 2)
#
# Each target's corpus grows in build-fuzz/corpus/<target> (kept between runs, so local runs
# build on each other); the committed seeds in fuzz/corpus/<target> are read, never written.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

seconds=${1:-60}
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -gt 0 ]] || {
  echo "usage: scripts/fuzz.sh [SECONDS > 0]" >&2
  exit 2
}
jobs=${JITSON_FUZZ_JOBS:-1}
build=build-fuzz

bash scripts/bootstrap.sh --fuzz
cmake --preset fuzz >/dev/null
cmake --build "$build" --parallel "${JITSON_JOBS:-2}"

if [[ -n "${JITSON_FUZZ_TARGETS:-}" ]]; then
  read -r -a targets <<<"$JITSON_FUZZ_TARGETS"
else
  targets=()
  for src in fuzz/fuzz_*.cpp; do
    name=$(basename "$src" .cpp)
    targets+=("${name#fuzz_}")
  done
fi

mkdir -p "$build/crashes" "$build/logs"
# UBSan must stop at the first report (the library is also built with -fno-sanitize-recover);
# ASan checks for leaks after every input libFuzzer runs.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}
export ASAN_OPTIONS=detect_leaks=1:${ASAN_OPTIONS:-}

run_target() {
  local t=$1
  local corpus="$build/corpus/$t" log="$build/logs/$t.log"
  local args=(-max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1
              -artifact_prefix="$root/$build/crashes/$t-")
  [[ -f "fuzz/$t.dict" ]] && args+=(-dict="fuzz/$t.dict")
  # Hex lines may hold 16,384 digits; inputs must be able to reach (and pass) that limit.
  [[ "$t" == hex ]] && args+=(-max_len=40000)
  mkdir -p "$corpus"
  local rc=0
  "$build/fuzz/fuzz_$t" "${args[@]}" "$corpus" "fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  echo "$rc" >"$build/logs/$t.rc"
}

# Up to $jobs targets at once; wait -n reaps whichever finishes first.
running=0
for t in "${targets[@]}"; do
  [[ -x "$build/fuzz/fuzz_$t" ]] || {
    echo "fuzz: no target fuzz_$t" >&2
    exit 2
  }
  rm -f "$build/logs/$t.rc"
  run_target "$t" &
  running=$((running + 1))
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

failed=0
for t in "${targets[@]}"; do
  log="$build/logs/$t.log"
  rc=$(cat "$build/logs/$t.rc" 2>/dev/null || echo 99)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1 || true)
  if [[ "$rc" == 0 ]]; then
    echo "fuzz_$t: ok, ${runs:-?} runs in ${seconds} s (${rate:-?}/s), ${cov:-no coverage line}, peak rss ${rss:-?} MB"
  else
    failed=$((failed + 1))
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    echo "fuzz_$t: FAILED (exit $rc) after ${runs:-?} runs; input: ${crash:-none saved}; log: $log"
    grep -E 'FUZZ FAILURE|ERROR: |SUMMARY: |runtime error|^    #[0-9]' "$log" | head -25 | sed 's/^/    /'
  fi
done
echo "fuzz: $((${#targets[@]} - failed)) passed, $failed failed (${seconds} s per target)"
[[ "$failed" == 0 ]]
