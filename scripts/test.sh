#!/usr/bin/env bash
# Bootstrap, configure, build (Release with assertions), run every test with ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/bootstrap.sh
build=${JITSON_BUILD_DIR:-build}
jobs=${JITSON_JOBS:-$(nproc)}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DJITSON_ASSERTS=ON \
  -DCMAKE_INSTALL_PREFIX="$root/$build/install" >/dev/null
cmake --build "$build" --parallel "$jobs"
cd "$build"
ctest --output-on-failure --parallel "$jobs" --timeout 1200
