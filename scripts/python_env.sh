#!/usr/bin/env bash
# A Python virtual environment with pyarrow, numpy (>= 2) and pytest for tests/python/: created
# once with `python3 -m venv` and pip from PyPI, reused afterwards (no pip call when the packages
# are already there, so a repeated run takes well under 2 s). Prints the venv's python on stdout.
#   JITSON_VENV=DIR   where the venv lives (default: build/venv in the source tree)
#   PYTHON=python3    the interpreter that creates it
# Exits non-zero with a one-line reason when the venv cannot be made (no python3-venv, no
# network): tests that need it must fail then, not skip.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${JITSON_VENV:-$root/build/venv}"
python="${PYTHON:-python3}"
py="$venv/bin/python"

die() {
  echo "python_env.sh: $*" >&2
  exit 1
}

# What the tests need; numpy 2 for numpy.bitwise_count.
satisfied() {
  [[ -x "$py" ]] || return 1
  "$py" - <<'EOF' 2>/dev/null
import importlib.metadata as m
for name in ("pyarrow", "pytest"):
    m.version(name)
assert int(m.version("numpy").split(".")[0]) >= 2
EOF
}

mkdir -p "$(dirname "$venv")"
# Two builds (or two ctest runs) may ask at once: one creates, the other waits and reuses.
exec 9>"$venv.lock"
flock 9

if ! satisfied; then
  if [[ ! -x "$py" ]]; then
    command -v "$python" >/dev/null || die "$python not found; install python3 and python3-venv"
    "$python" -m venv "$venv" >&2 ||
      die "'$python -m venv $venv' failed; on Debian: apt-get install python3-venv"
  fi
  "$py" -m pip install --quiet --disable-pip-version-check "numpy>=2" pyarrow pytest >&2 ||
    die "pip install numpy>=2 pyarrow pytest into $venv failed (is PyPI reachable?)"
  satisfied || die "$venv lacks pyarrow, pytest or numpy >= 2 after pip install"
fi
echo "$py"
