#!/usr/bin/env bash
# Installs, with apt-get and only when missing, every Debian package jitson needs.
# Idempotent: prints nothing when everything is already present.
# `--fuzz` (or JITSON_BOOTSTRAP_FUZZ=1) also installs clang-19 and its compiler-rt, which the
# libFuzzer targets in fuzz/ need; the default list stays what a plain build needs.
set -euo pipefail

fuzz=${JITSON_BOOTSTRAP_FUZZ:-0}
for arg in "$@"; do
  case "$arg" in
    --fuzz) fuzz=1 ;;
    *) echo "bootstrap: unknown argument $arg (allowed: --fuzz)" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake ninja-build pkg-config git
  libxbyak-dev llvm-19-dev nlohmann-json3-dev libfmt-dev libcli11-dev
  googletest libgtest-dev libgmock-dev libbenchmark-dev hyperfine
  libfaiss-dev libopenblas-dev liblapack-dev
)
if [[ "$fuzz" == 1 ]]; then
  packages+=(clang-19 libclang-rt-19-dev)
fi
# ---- PostgreSQL extension (postgres/, tested by postgres/run_tests.sh): the server with its
# contrib modules (postgres_fdw) and the server headers + PGXS it is built against.
postgres_packages=(postgresql-15 postgresql-server-dev-15)
packages+=("${postgres_packages[@]}")

# ---- SQLite extension (sqlite/, tested by sqlite/run_tests.sh): Debian's SQLite headers
# (sqlite3ext.h) and the sqlite3 shell; python3-venv for the test venv when the default Python
# cannot load SQLite extensions.
sqlite_packages=(libsqlite3-dev sqlite3 python3-venv)
packages+=("${sqlite_packages[@]}")

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "bootstrap: missing packages (${missing[*]}) and not root; install them with apt-get" >&2
    exit 1
  fi
else
  SUDO=
fi

echo "bootstrap: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update -qq >/tmp/jitson-apt.log 2>&1; then
  echo "bootstrap: apt-get update failed; see /tmp/jitson-apt.log" >&2
  tail -5 /tmp/jitson-apt.log >&2
  exit 1
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/jitson-apt.log 2>&1; then
  echo "bootstrap: apt-get install failed for: ${missing[*]}; see /tmp/jitson-apt.log" >&2
  tail -10 /tmp/jitson-apt.log >&2
  exit 1
fi
echo "bootstrap: done" >&2
