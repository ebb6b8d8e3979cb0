#!/usr/bin/env bash
# Whole-process benchmark of the `jitson` command (issue 17): each target printed as a ratio
# (measured / target, met when <= 1) with its verdict, and the CPU it ran on.
#
#   scripts/bench_cli.sh BUILD_DIR
#
#   blocked near-duplicate query: max_distance 16, one query, over N x 16,384-bit records in the
#     blocked layout (B = 64): time <= 15 ms and peak RSS <= 64 MB
#   row exact-cascade query (configs/examples/exact-cascade.json) over the same records in rows:
#     time <= 1.5 x the page-mapping floor, bench_pagefloor timed as a whole process over the same
#     file (map it, read one 64-byte line per record)
#   `jitson info`: time <= 10 ms
#   the blocked near-duplicate query is also reported against its own page-mapping floor: the same
#     file mapped, one line touched per block (bench_pagefloor --stride, the block's bytes), no
#     target: the faults that map the pages a sweep reads, and their unmapping at exit
#   full-focus row scan (configs/examples/full-focus.json): reported, no target
#
# Times are medians of 5 whole-process runs on a warm page cache (hyperfine when installed,
# after 2 warm-up runs; otherwise a timing loop); peak RSS is the median of 5 runs' ru_maxrss.
# Builds nothing: BUILD_DIR must hold cli/jitson and bench/bench_pagefloor. The files are
# generated into a temporary directory, removed on exit.
#   JITSON_BENCH_CLI_RECORDS  records (default 400000: 819 MB per file, two files)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "bench_cli.sh: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || die "usage: scripts/bench_cli.sh BUILD_DIR"
build=$(cd "$1" 2>/dev/null && pwd) || die "$1: no such build directory"
jitson=$build/cli/jitson
floor=$build/bench/bench_pagefloor
[[ -x "$jitson" ]] || die "$jitson is missing: build the jitson_cli target first"
[[ -x "$floor" ]] || die "$floor is missing: build the bench_pagefloor target first"
command -v python3 >/dev/null || die "python3 is needed to take medians and peak RSS"
records=${JITSON_BENCH_CLI_RECORDS:-400000}
runs=5

work=$(mktemp -d "${TMPDIR:-/tmp}/jitson-bench-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

echo "generating $records records of 16384 bits in $work ..." >&2
"$jitson" gen --bits 16384 --count "$records" --out row.jfp --seed 17 --queries 1 \
  --queries-out q.jfp --plant 2 --flip-bits 8 >/dev/null
"$jitson" convert row.jfp blocked.jfp --to blocked --block-records 64 >/dev/null
cat >neardup.json <<'EOF'
{"version": 1, "name": "near-duplicate", "record_bits": 16384, "max_distance": 16, "top_k": 10}
EOF
cp "$root/configs/examples/exact-cascade.json" cascade.json
cp "$root/configs/examples/full-focus.json" full.json
cat row.jfp blocked.jfp >/dev/null  # warm the page cache

neardup=("$jitson" scan --config neardup.json --db blocked.jfp --queries q.jfp)
cascade=("$jitson" scan --config cascade.json --db row.jfp --queries q.jfp)
full=("$jitson" scan --config full.json --db row.jfp --queries q.jfp)
pagefloor=("$floor" row.jfp)
blockfloor=("$floor" blocked.jfp --stride $((64 * 2048)))
info=("$jitson" info)

# Every command must succeed and find the planted neighbours before it is timed.
finds_planted() {
  local out
  out=$("$@") || die "$* failed"
  [[ $(grep -c ' 8$' <<<"$out") == 2 ]] || die "$*: the 2 planted neighbours not found"
}
finds_planted "${neardup[@]}"
finds_planted "${cascade[@]}"
"${full[@]}" >/dev/null && "${pagefloor[@]}" >/dev/null && "${info[@]}" >/dev/null
"${blockfloor[@]}" >/dev/null

# Median wall time of a command in milliseconds.
median_ms() {
  if command -v hyperfine >/dev/null; then
    hyperfine -N -w 2 -r "$runs" --export-json times.json "$(printf '%q ' "$@")" >/dev/null 2>&1 ||
      die "hyperfine failed on: $*"
    python3 -c 'import json,statistics,sys; print("%.2f" % (1e3*statistics.median(json.load(open(sys.argv[1]))["results"][0]["times"])))' times.json
  else
    python3 - "$runs" "$@" <<'EOF'
import statistics, subprocess, sys, time
runs, cmd = int(sys.argv[1]), sys.argv[2:]
for _ in range(2): subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
times = []
for _ in range(runs):
    t0 = time.perf_counter(); subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    times.append(time.perf_counter() - t0)
print("%.2f" % (1e3 * statistics.median(times)))
EOF
  fi
}

# Median peak resident set (ru_maxrss of the child) in MB.
median_rss_mb() {
  python3 - "$runs" "$@" <<'EOF'
import os, statistics, subprocess, sys
runs, cmd = int(sys.argv[1]), sys.argv[2:]
peaks = []
for _ in range(runs):
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0: sys.exit("failed: " + " ".join(cmd))
    peaks.append(usage.ru_maxrss / 1024)  # KiB -> MiB
print("%.1f" % statistics.median(peaks))
EOF
}

# verdict NAME MEASURED TARGET UNIT: one line with the ratio measured / target.
not_met=0
verdict() {
  local line
  line=$(python3 -c 'import sys; m, t = float(sys.argv[1]), float(sys.argv[2]); r = m / t
print("%.2f %s" % (r, "met" if r <= 1 else "NOT met"))' "$2" "$3")
  [[ $line == *"NOT met"* ]] && not_met=$((not_met + 1))
  printf '%-52s %9s %-2s / target %8s %-2s = %s\n' "$1" "$2" "$4" "$3" "$4" "$line"
}

neardup_ms=$(median_ms "${neardup[@]}")
neardup_mb=$(median_rss_mb "${neardup[@]}")
cascade_ms=$(median_ms "${cascade[@]}")
floor_ms=$(median_ms "${pagefloor[@]}")
blockfloor_ms=$(median_ms "${blockfloor[@]}")
full_ms=$(median_ms "${full[@]}")
info_ms=$(median_ms "${info[@]}")
cascade_target=$(python3 -c 'import sys; print("%.2f" % (1.5 * float(sys.argv[1])))' "$floor_ms")

echo "jitson scan/info, whole process, median of $runs, warm page cache"
echo "cpu: $("$jitson" info | sed -n 's/^cpu: //p'), $(nproc) cores; $records records x 16384 bits ($(du -m row.jfp | cut -f1) MB per file)"
verdict "blocked near-duplicate (max_distance 16) time" "$neardup_ms" 15 ms
verdict "blocked near-duplicate peak RSS" "$neardup_mb" 64 MB
python3 -c 'import sys; ms, floor = float(sys.argv[1]), float(sys.argv[2])
print("%-52s %9.2f ms  (the near-duplicate query at %.2f x it; report only)" % ("blocked page floor (a line per block)", floor, ms / floor))' "$neardup_ms" "$blockfloor_ms"
verdict "row exact cascade vs 1.5 x page floor ($floor_ms ms)" "$cascade_ms" "$cascade_target" ms
verdict "jitson info time" "$info_ms" 10 ms
python3 -c 'import sys; ms, n = float(sys.argv[1]), int(sys.argv[2])
print("%-52s %9.2f ms  (%.1f M records/s over the whole process; report only)" % ("row full-focus scan", ms, n / ms / 1e3))' "$full_ms" "$records"
if [[ $not_met == 0 ]]; then echo "all targets met"; else echo "$not_met target(s) NOT met"; fi
