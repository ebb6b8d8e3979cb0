#!/usr/bin/env bash
# Runs bench/sqlite/bench_sqlite.py in its own venv (BUILD/bench-venv: Debian's python3, whose
# sqlite3 module loads extensions, with numpy and sqlite-vec 0.1.9 from PyPI; never the test venv).
#   bench/sqlite/run.sh [BUILD] [bench_sqlite.py arguments...]   (BUILD default: build)
# Needs the jitson command for `jitson gen`: BUILD/cli/jitson, or JITSON_CLI=path.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$root/build}
[[ $# -gt 0 ]] && shift
venv=$build/bench-venv
if ! "$venv/bin/python" -c 'import numpy, sqlite_vec' 2>/dev/null; then
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "numpy>=2" "sqlite-vec==0.1.9"
fi
helper=$build/bench/sqlite_bench_helper  # built with the benchmarks (JITSON_BUILD_BENCH)
[[ -x "$helper" ]] || helper=
exec "$venv/bin/python" "$root/bench/sqlite/bench_sqlite.py" --ext "$build/sqlite/libjitson_sqlite.so" \
  --libjitson "$build/libjitson.so" --jitson "${JITSON_CLI:-$build/cli/jitson}" \
  ${helper:+--helper "$helper"} "$@"
