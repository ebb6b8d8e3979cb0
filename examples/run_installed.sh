#!/usr/bin/env bash
# Installs jitson into a staging prefix, then builds and runs the examples against that copy
# twice: through the CMake package (find_package(jitson)) and through pkg-config (jitson.pc).
set -euo pipefail
build=$1; src=$2
prefix="$build/examples-prefix"
rm -rf "$prefix" "$build/examples-cmake" "$build/examples-pc"
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib*/ | head -1)

# The installed command runs from its prefix alone: no LD_LIBRARY_PATH, and it must load the
# installed libjitson, not the build tree's.
if [ -x "$prefix/bin/jitson" ]; then
  env -u LD_LIBRARY_PATH "$prefix/bin/jitson" info >/dev/null
  env -u LD_LIBRARY_PATH "$prefix/bin/jitson" validate "$prefix/share/jitson/configs/examples/full-focus.json"
  loaded=$(env -u LD_LIBRARY_PATH LD_TRACE_LOADED_OBJECTS=1 "$prefix/bin/jitson" |
    sed -n 's/^[[:space:]]*libjitson[^ ]* => \([^ ]*\) .*/\1/p')
  if [ "$(realpath -e "$loaded" 2>/dev/null)" != "$(realpath -e "$libdir"/libjitson.so.0)" ]; then
    echo "installed jitson loads the wrong libjitson: '$loaded'" >&2
    exit 1
  fi
  # The LLVM backend is a plugin beside libjitson, loaded only when a config asks for it.
  config="$prefix/share/jitson/configs/examples/full-focus.json"
  if [ -f "$libdir/libjitson_llvm.so" ]; then
    env -u LD_LIBRARY_PATH "$prefix/bin/jitson" compile "$config" --backend llvm | grep -q '^llvm '
  fi
  # A copy of the prefix elsewhere runs too: the paths are relative to the binary.
  moved="$build/examples-prefix-moved"
  rm -rf "$moved"; cp -a "$prefix" "$moved"
  env -u LD_LIBRARY_PATH "$moved/bin/jitson" info >/dev/null
  # Without the plugin, an llvm config is a clear error (exit 2), everything else still works.
  rm -f "$moved"/lib*/libjitson_llvm.so
  status=0
  message=$(env -u LD_LIBRARY_PATH "$moved/bin/jitson" compile "$config" --backend llvm 2>&1) || status=$?
  if [ "$status" -ne 2 ] || ! grep -q 'llvm backend is not installed' <<<"$message"; then
    echo "an llvm config without the plugin: exit $status, '$message'" >&2
    exit 1
  fi
  env -u LD_LIBRARY_PATH "$moved/bin/jitson" compile "$config" >/dev/null
  rm -rf "$moved"
fi

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
