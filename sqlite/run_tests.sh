#!/usr/bin/env bash
# Runs sqlite/tests (pytest) against a built libjitson_sqlite.so, through Python's sqlite3 module
# and the sqlite3 shell.
#
#   sqlite/run_tests.sh --ext PATH [--venv DIR] [pytest arguments...]
#     --ext PATH   the built libjitson_sqlite.so
#     --venv DIR   a venv to reuse when its Python's sqlite3 module can load extensions (the
#                  python_env fixture's); otherwise $JITSON_SQLITE_VENV (default: test-venv beside
#                  the extension), made once from Debian's /usr/bin/python3 with numpy >= 2 and
#                  pytest from PyPI. Some Python builds (e.g. pyenv's default) leave out
#                  sqlite3.Connection.enable_load_extension.
#   JITSON_SQLITE_PYTHON  an interpreter to make that venv from (default /usr/bin/python3)
#   JITSON_SQLITE3        the sqlite3 shell (default: sqlite3 on PATH)
#
# A missing shell, extension or venv is a failure, never a skip.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ext=
venv=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ext) ext=$2; shift 2 ;;
    --venv) venv=$2; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
die() {
  echo "sqlite/run_tests.sh: $*" >&2
  exit 1
}
[[ -f "$ext" ]] || die "no extension at '$ext' (give --ext build/sqlite/libjitson_sqlite.so)"
command -v "${JITSON_SQLITE3:-sqlite3}" >/dev/null ||
  die "the sqlite3 shell is missing: apt-get install sqlite3 libsqlite3-dev (scripts/bootstrap.sh)"

can_load='import sqlite3, numpy, pytest; assert hasattr(sqlite3.Connection, "enable_load_extension"); assert int(numpy.__version__.split(".")[0]) >= 2'
py=
if [[ -n "$venv" && -x "$venv/bin/python" ]] && "$venv/bin/python" -c "$can_load" 2>/dev/null; then
  py=$venv/bin/python
else
  own=${JITSON_SQLITE_VENV:-$(dirname "$ext")/test-venv}
  exec 9>"$own.lock"
  flock 9
  if ! "$own/bin/python" -c "$can_load" 2>/dev/null; then
    base=${JITSON_SQLITE_PYTHON:-/usr/bin/python3}
    "$base" -c 'import sqlite3; assert hasattr(sqlite3.Connection, "enable_load_extension")' ||
      die "$base cannot load SQLite extensions (sqlite3.Connection.enable_load_extension is missing)"
    [[ -x "$own/bin/python" ]] || "$base" -m venv "$own" >&2 ||
      die "'$base -m venv $own' failed; on Debian: apt-get install python3-venv"
    "$own/bin/python" -m pip install --quiet --disable-pip-version-check "numpy>=2" pytest >&2 ||
      die "pip install numpy>=2 pytest into $own failed (is PyPI reachable?)"
  fi
  py=$own/bin/python
fi
ext=$(cd "$(dirname "$ext")" && pwd)/$(basename "$ext")
JITSON_SQLITE_EXT=$ext PYTHONDONTWRITEBYTECODE=1 exec "$py" -m pytest -q -p no:cacheprovider \
  "$here/tests" "$@"
