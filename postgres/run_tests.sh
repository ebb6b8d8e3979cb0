#!/usr/bin/env bash
# Builds the jitson PostgreSQL extension against a jitson build, installs it into Debian's
# PostgreSQL 15 (PGXS `make install`, as root), and runs postgres/tests (pytest + psycopg)
# against throwaway clusters that initdb/pg_ctl start as the unprivileged postgres user, on free
# ports, listening on localhost and a unix socket inside a temporary directory of the build
# folder. Every cluster is stopped on exit, whatever failed (trap).
#
#   postgres/run_tests.sh [--lib-dir DIR] [--include-dir DIR] [pytest arguments...]
#     --lib-dir DIR      the jitson build holding libjitson.so (default $JITSON_LIB_DIR or build)
#     --include-dir DIR  jitson's public headers (default include/ of this tree)
#   JITSON_PG_BIN      PostgreSQL binaries (default /usr/lib/postgresql/15/bin)
#   JITSON_PG_VENV     venv with psycopg, pytest and numpy (default DIR/pg-venv; made from PyPI
#                      when missing)
#   PGVECTOR_SRC       a pgvector source tree, built and installed here with PGXS, so that the
#                      Tanimoto tests compare jitson's <%> with pgvector's (and fail without it).
#                      Unset: the comparison runs if pgvector is installed already, else it is
#                      skipped. Nothing is downloaded.
#
# Missing PostgreSQL, server headers, the postgres user or the venv is a failure, never a skip.
# The installed extension is machine-wide state, so runs are serialised with a lock file.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
lib_dir=${JITSON_LIB_DIR:-$root/build}
include_dir=$root/include
while [[ $# -gt 0 ]]; do
  case "$1" in
    --lib-dir) lib_dir=$2; shift 2 ;;
    --include-dir) include_dir=$2; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
pg_bin=${JITSON_PG_BIN:-/usr/lib/postgresql/15/bin}
pg_user=postgres

die() {
  echo "run_tests.sh: $*" >&2
  exit 1
}

[[ -x "$pg_bin/initdb" && -x "$pg_bin/pg_ctl" && -x "$pg_bin/postgres" ]] ||
  die "PostgreSQL 15 is not installed ($pg_bin/initdb missing): install postgresql-15 (scripts/bootstrap.sh)"
[[ -x "$pg_bin/pg_config" ]] && pgxs=$("$pg_bin/pg_config" --pgxs) && [[ -f "$pgxs" ]] &&
  [[ -f "$("$pg_bin/pg_config" --includedir-server)/postgres.h" ]] ||
  die "PostgreSQL 15 server headers and PGXS are missing: install postgresql-server-dev-15 (scripts/bootstrap.sh)"
[[ -d "$lib_dir" ]] || die "no jitson build at $lib_dir (give --lib-dir)"
lib_dir=$(cd "$lib_dir" && pwd)
include_dir=$(cd "$include_dir" && pwd)
[[ -f "$lib_dir/libjitson.so" ]] || die "$lib_dir/libjitson.so is missing: build the jitson target first"
[[ -f "$include_dir/jitson/jitson.h" ]] || die "$include_dir/jitson/jitson.h is missing"
id "$pg_user" >/dev/null 2>&1 || die "there is no '$pg_user' user to run the servers (initdb refuses root)"
pkglibdir=$("$pg_bin/pg_config" --pkglibdir)
[[ $(id -u) == 0 || -w "$pkglibdir" ]] ||
  die "make install writes to $pkglibdir: run as root"
if [[ $(id -u) == 0 ]] && ! runuser -u "$pg_user" -- test -r "$lib_dir/libjitson.so"; then
  die "the $pg_user user cannot read $lib_dir/libjitson.so, which the server loads: make the path readable"
fi

exec 8>/tmp/jitson-pg-tests.lock
flock 8

# The venv: psycopg (binary wheels bring their own libpq), pytest, numpy.
venv=${JITSON_PG_VENV:-$lib_dir/pg-venv}
if ! "$venv/bin/python" -c 'import psycopg, pytest, numpy' 2>/dev/null; then
  python3 -m venv "$venv" >&2 || die "cannot create the venv $venv (python3-venv missing?)"
  "$venv/bin/pip" install -q 'psycopg[binary]>=3.1' 'pytest>=7' 'numpy>=1.24' >&2 ||
    die "pip could not install psycopg, pytest and numpy into $venv (no network?)"
fi

# Build out of the source tree (PGXS VPATH build), link against this build's libjitson with a
# RUNPATH to it, install into the server's directories.
obj=$lib_dir/pg-ext
mkdir -p "$obj"
make_args=(-C "$obj" -f "$here/Makefile" VPATH="$here" PG_CONFIG="$pg_bin/pg_config"
  JITSON_LIB_DIR="$lib_dir" JITSON_INCLUDE_DIR="$include_dir")
make -s "${make_args[@]}" >&2 || die "building the extension failed"
make -s "${make_args[@]}" install >&2 || die "make install failed"
if [[ -n "${PGVECTOR_SRC:-}" ]]; then
  [[ -f "$PGVECTOR_SRC/vector.control" ]] ||
    die "PGVECTOR_SRC=$PGVECTOR_SRC holds no pgvector source (vector.control)"
  make -s -C "$PGVECTOR_SRC" PG_CONFIG="$pg_bin/pg_config" with_llvm=no >&2 &&
    make -s -C "$PGVECTOR_SRC" PG_CONFIG="$pg_bin/pg_config" with_llvm=no install >&2 ||
    die "building or installing pgvector from $PGVECTOR_SRC failed"
  export JITSON_PG_REQUIRE_PGVECTOR=1
fi

tmp=$(mktemp -d "$lib_dir/pg-test.XXXXXX")
chmod 755 "$tmp"
chown "$pg_user" "$tmp"
cleanup() {
  local rc=$? pid d
  for pid in "$tmp"/*/postmaster.pid; do
    [[ -f "$pid" ]] || continue
    d=$(dirname "$pid")
    runuser -u "$pg_user" -- "$pg_bin/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true
  done
  if [[ $rc != 0 ]]; then
    mkdir -p "$lib_dir/pg-test-logs"
    for d in "$tmp"/*/log; do
      [[ -f "$d" ]] && cp "$d" "$lib_dir/pg-test-logs/$(basename "$(dirname "$d")").log"
    done
    echo "run_tests.sh: failed (exit $rc); server logs in $lib_dir/pg-test-logs" >&2
  fi
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT INT TERM

echo "run_tests.sh: extension from $lib_dir installed into $pkglibdir; clusters in $tmp" >&2
JITSON_PG_BIN=$pg_bin JITSON_PG_TMP=$tmp JITSON_PG_USER=$pg_user JITSON_LIB_DIR=$lib_dir \
  PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider \
  "$here/tests" "$@"
