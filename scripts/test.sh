#!/usr/bin/env bash
# Bootstrap, configure, build (Release with assertions), run every test with ctest. Then the
# extra stages (scripts/ci_extra.sh), each timed, its log kept in build/ci-logs/<stage>.log:
#   fuzz   every libFuzzer target for JITSON_FUZZ_SECONDS each (default 45; 0 skips)
#   asan   preset asan (AddressSanitizer + UBSan, UB halts): build, the whole test suite
#   tsan   preset tsan (ThreadSanitizer): build, the engine/cache/scan concurrency tests
#   nojit  preset nojit (-DJITSON_BUILD_JIT=OFF): build, its tests
# Developers may switch stages off: JITSON_CI_EXTRA=0 (all), JITSON_CI_SANITIZERS=0 (asan,
# tsan), JITSON_CI_FUZZ=0, JITSON_CI_ASAN=0, JITSON_CI_TSAN=0, JITSON_CI_NOJIT=0. With CI=true
# every stage runs whatever those say. Any failing stage fails the script, after all have run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

in_ci=0
[[ "${CI:-}" == true || "${CI:-}" == 1 ]] && in_ci=1
fuzz_seconds=${JITSON_FUZZ_SECONDS:-45}
enabled() {  # enabled STAGE_VAR [GROUP_VAR...]: on unless a developer switched it off
  [[ "$in_ci" == 1 ]] && return 0
  local v
  for v in JITSON_CI_EXTRA "$@"; do
    [[ "${!v:-1}" == 0 ]] && return 1
  done
  return 0
}
if [[ "$in_ci" == 1 && "$fuzz_seconds" == 0 ]]; then
  echo "test.sh: CI=true runs every stage; ignoring JITSON_FUZZ_SECONDS=0 (using 45)" >&2
  fuzz_seconds=45
fi
stages=()
if enabled JITSON_CI_FUZZ && [[ "$fuzz_seconds" != 0 ]]; then stages+=(fuzz); fi
if enabled JITSON_CI_ASAN JITSON_CI_SANITIZERS; then stages+=(asan); fi
if enabled JITSON_CI_TSAN JITSON_CI_SANITIZERS; then stages+=(tsan); fi
if enabled JITSON_CI_NOJIT; then stages+=(nojit); fi

if [[ " ${stages[*]} " == *" fuzz "* ]]; then
  bash scripts/bootstrap.sh --fuzz
else
  bash scripts/bootstrap.sh
fi
build=${JITSON_BUILD_DIR:-build}
jobs=${JITSON_JOBS:-$(nproc)}
start=$SECONDS
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DJITSON_ASSERTS=ON \
  -DCMAKE_INSTALL_PREFIX="$root/$build/install" >/dev/null
cmake --build "$build" --parallel "$jobs"
logs="$build/ci-logs"
mkdir -p "$logs"
main_rc=0
(cd "$build" && ctest --output-on-failure --parallel "$jobs" --timeout 1200) 2>&1 |
  tee "$logs/main.log" || main_rc=$?

duration() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
ctest_counts() {  # "N tests, M failed" from a ctest log
  sed -nE 's/^[0-9]+% tests passed, ([0-9]+) tests? failed out of ([0-9]+)$/\2 tests, \1 failed/p' "$1" | tail -1
}
names=(main)
results=("$([[ $main_rc == 0 ]] && echo ok || echo "FAILED (ctest exit $main_rc)")")
times=("$(duration $((SECONDS - start)))")
details=("Release build + ctest: $(ctest_counts "$logs/main.log")")

for stage in "${stages[@]}"; do
  log="$logs/$stage.log"
  echo "== stage $stage (log: $log)"
  t0=$SECONDS
  rc=0
  args=()
  [[ "$stage" == fuzz ]] && args=("$fuzz_seconds")
  # The stage's own ctest lines go to its log only: the main run above prints the one
  # "tests passed" line CI reads.
  bash scripts/ci_extra.sh "$stage" "${args[@]}" >"$log" 2>&1 || rc=$?
  case "$stage" in
    fuzz) detail=$(grep -E '^fuzz_[a-z_]+: ' "$log" | sed -E 's/^fuzz_([a-z_]+): ([A-Za-z]+)[^,]*, ([0-9?]+) runs.*/\1 \3/; s/^fuzz_([a-z_]+): FAILED.*/\1 FAILED/' | paste -sd, - | sed 's/,/, /g') ;;
    *) detail=$(ctest_counts "$log") ;;
  esac
  if [[ "$rc" == 0 ]]; then
    result=ok
  else
    result="FAILED (exit $rc)"
    echo "== stage $stage failed; the end of $log:"
    grep -E 'FAILED|Failed|\*\*\*|ERROR|runtime error|SUMMARY|FUZZ FAILURE|error:' "$log" | tail -30 || true
    tail -15 "$log"
  fi
  echo "== stage $stage: $result in $(duration $((SECONDS - t0)))${detail:+ ($detail)}"
  names+=("$stage")
  results+=("$result")
  times+=("$(duration $((SECONDS - t0)))")
  details+=("${detail:-}")
done

passed=0
failed=0
echo
echo "== CI summary (total $(duration $((SECONDS - start))))"
for i in "${!names[@]}"; do
  printf '  %-6s %-22s %8s  %s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}" "${details[$i]}"
  if [[ "${results[$i]}" == ok ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
skipped=$((4 - ${#stages[@]}))
echo "$passed passed, $failed failed$([[ $skipped -gt 0 ]] && echo ", $skipped stages switched off")"
[[ "$failed" == 0 ]]
