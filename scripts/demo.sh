#!/usr/bin/env bash
# The main job: install what is needed, build the jitson command, generate a fingerprint
# database with planted neighbours, scan it with the example configs (full focus, sparse
# focus, exact cascade), check the recall of the planted neighbours, and measure the JIT
# against the runtime fallback and FAISS in one run.
#   DEMO_RECORDS (default 200000) records of DEMO_BITS (16384) bits, DEMO_QUERIES (8) queries.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
records=${DEMO_RECORDS:-200000}
bits=${DEMO_BITS:-16384}
queries=${DEMO_QUERIES:-8}
build=${JITSON_BUILD_DIR:-build}
out=${DEMO_DIR:-$build/demo}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "bootstrap (Debian packages, only when missing)"
bash scripts/bootstrap.sh
step "build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target jitson_cli
jitson=$build/cli/jitson
mkdir -p "$out"

step "this machine"
run "$jitson" info

step "generate $records × $bits-bit records and $queries queries, 3 planted neighbours each"
run "$jitson" gen --bits "$bits" --count "$records" --out "$out/db.jfp" --seed 1 \
  --queries "$queries" --queries-out "$out/queries.jfp" --plant 3 --flip-bits $((bits / 64))

for name in full-focus sparse-focus exact-cascade; do
  cfg=configs/examples/$name.json
  step "config $name"
  cat "$cfg"
  run "$jitson" compile "$cfg"
  run "$jitson" scan --config "$cfg" --db "$out/db.jfp" --queries "$out/queries.jfp" \
    --truth "$out/queries.jfp.truth.json" --stats --top-k 5 | head -n 16
done

step "throughput: JIT vs runtime fallback vs FAISS IndexBinaryFlat, read bandwidth in the same run"
run "$jitson" bench --config configs/examples/full-focus.json --db "$out/db.jfp" \
  --queries "$out/queries.jfp" --repeat 5
run "$jitson" bench --config configs/examples/exact-cascade.json --db "$out/db.jfp" \
  --queries "$out/queries.jfp" --repeat 5 --no-faiss
