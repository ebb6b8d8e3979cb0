#!/usr/bin/env bash
# Installs jitson into a staging prefix, then builds and runs the examples against that copy
# twice: through the CMake package (find_package(jitson)) and through pkg-config (jitson.pc).
set -euo pipefail
build=$1; src=$2
prefix="$build/examples-prefix"
rm -rf "$prefix" "$build/examples-cmake" "$build/examples-pc"
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib*/ | head -1)

cmake -S "$src/examples/standalone" -B "$build/examples-cmake" -G Ninja \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build/examples-cmake" >/dev/null
LD_LIBRARY_PATH="$libdir" "$build/examples-cmake/example_cpp"
LD_LIBRARY_PATH="$libdir" "$build/examples-cmake/example_c"

mkdir -p "$build/examples-pc"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -std=c99 -Wall -Werror "$src/examples/c_api.c" $(pkg-config --cflags --libs jitson) -o "$build/examples-pc/example_c"
c++ -std=c++20 -Wall -Werror "$src/examples/cpp_api.cpp" $(pkg-config --cflags --libs jitson) -o "$build/examples-pc/example_cpp"
LD_LIBRARY_PATH="$libdir" "$build/examples-pc/example_c"
LD_LIBRARY_PATH="$libdir" "$build/examples-pc/example_cpp"
echo "examples: cmake package and pkg-config builds both passed"
