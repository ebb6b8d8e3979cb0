#!/usr/bin/env bash
# The Python package as a user gets it: a FRESH venv (python -m venv), `pip install .` from the
# repository (scikit-build-core + nanobind from PyPI, tests/bench/examples/CLI off), the test
# dependencies from PyPI, then pytest on python/tests run from outside the source tree, so the
# installed package is imported, not python/jitson. Any failure, including a pip that cannot
# install, fails the script (and the ctest test python_package); nothing is skipped for lack of
# a package except rdkit, which PyPI may not offer for every Python.
#   JITSON_PY_VENV=DIR        the venv, recreated on every run (default: build/python-venv)
#   JITSON_PIP_BUILD_DIR=DIR  scikit-build-core's build tree, kept between runs so a second run
#                             recompiles only what changed (default: build/python-pip)
#   PYTHON=python3            the interpreter that creates the venv
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${JITSON_PY_VENV:-$root/build/python-venv}"
build_dir="${JITSON_PIP_BUILD_DIR:-$root/build/python-pip}"
python="${PYTHON:-python3}"
# The build uses at most 2 jobs unless the caller says otherwise: CI shares its cores.
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

die() {
  echo "test_python.sh: $*" >&2
  exit 1
}

rm -rf "$venv"
"$python" -m venv "$venv" || die "'$python -m venv $venv' failed"
py="$venv/bin/python"

start=$SECONDS
"$py" -m pip install --quiet "$root" -C build-dir="$build_dir" ||
  die "pip install $root failed (is PyPI reachable for scikit-build-core and nanobind?)"
echo "test_python.sh: pip install . took $((SECONDS - start)) s"

"$py" -m pip install --quiet pytest "numpy>=2" pyarrow faiss-cpu duckdb polars matplotlib ||
  die "pip install of the test dependencies failed"
"$py" -m pip install --quiet rdkit || echo "test_python.sh: rdkit not installable; its example is skipped"

# From a scratch directory: the installed jitson, never the source tree's python/jitson.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
"$py" -c "import jitson, sys; print('jitson', jitson.__version__, 'from', jitson.__file__)"
JITSON_EXPECT_INSTALLED=1 "$py" -m pytest -q -p no:cacheprovider --rootdir "$root/python/tests" \
  "$root/python/tests"
