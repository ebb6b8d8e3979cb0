#!/usr/bin/env bash
# The Python package as a user gets it: `pip wheel .` from the repository (scikit-build-core +
# nanobind from PyPI, tests/bench/examples/CLI off) into a scratch directory, that wheel
# installed into a FRESH venv (python -m venv) with the test dependencies from PyPI, then pytest
# on python/tests run from outside the source tree, so the installed package is imported, not
# python/jitson. Then `pip install --no-build-isolation -e .` (editable) into a venv of build
# tools: it must import jitson from the source tree and search. Any failure, including a pip that
# cannot install, fails the script (and the ctest test python_package); nothing is skipped for lack
# of a package except rdkit, which PyPI may not offer for every Python.
#   JITSON_PY_VENV=DIR        the venv, recreated on every run (default: build/python-venv); the
#                             editable install goes to DIR-editable, kept between runs
#   JITSON_PIP_BUILD_DIR=DIR  scikit-build-core's build tree, kept between runs so a second run
#                             recompiles only what changed (default: build/python-pip); the
#                             editable build uses it too
#   PYTHON=python3            the interpreter that creates the venvs
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

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

rm -rf "$venv"
"$python" -m venv "$venv" || die "'$python -m venv $venv' failed"
py="$venv/bin/python"

start=$SECONDS
"$py" -m pip wheel --quiet --no-deps -w "$work/wheels" "$root" -C build-dir="$build_dir" ||
  die "pip wheel $root failed (is PyPI reachable for scikit-build-core and nanobind?)"
wheel=("$work"/wheels/jitson-*.whl)
[[ -f "${wheel[0]}" ]] || die "pip wheel made no jitson wheel in $work/wheels"
"$py" -m pip install --quiet "${wheel[0]}" || die "pip install ${wheel[0]##*/} failed"
echo "test_python.sh: pip wheel . and its install took $((SECONDS - start)) s"

"$py" -m pip install --quiet pytest "numpy>=2" pyarrow faiss-cpu duckdb polars matplotlib ||
  die "pip install of the test dependencies failed"
"$py" -m pip install --quiet rdkit ||
  echo "test_python.sh: rdkit not installable; its examples and the RDKit tests of test_tanimoto.py are skipped"

# From a scratch directory: the installed jitson, never the source tree's python/jitson.
cd "$work"
"$py" -c "import jitson, sys; print('jitson', jitson.__version__, 'from', jitson.__file__)"
JITSON_EXPECT_INSTALLED=1 "$py" -m pytest -q -p no:cacheprovider --rootdir "$root/python/tests" \
  "$root/python/tests"

# Editable, the developer's way (`pip install --no-build-isolation -e .`): Python files from
# python/jitson in the source tree, the binaries (the module, libjitson) in site-packages. Into a
# venv of build tools (scikit-build-core, nanobind, numpy) kept between runs, in the wheel's build
# tree: on a fresh checkout (CI) it reuses the wheel's objects (~74 s instead of a ~5 min second
# compile); between developer runs the isolated wheel build's new nanobind path costs it a partial
# rebuild.
tools="$venv-editable"
if ! "$tools/bin/python" -c "import scikit_build_core, nanobind, numpy" 2>/dev/null; then
  rm -rf "$tools"
  "$python" -m venv "$tools" || die "'$python -m venv $tools' failed"
  "$tools/bin/python" -m pip install --quiet scikit-build-core nanobind numpy ||
    die "pip install scikit-build-core nanobind numpy into $tools failed"
fi
start=$SECONDS
"$tools/bin/python" -m pip install --quiet --no-build-isolation -e "$root" \
  -C build-dir="$build_dir" || die "pip install --no-build-isolation -e $root failed"
echo "test_python.sh: pip install -e . took $((SECONDS - start)) s"
JITSON_ROOT="$root" "$tools/bin/python" - <<'EOF' || die "the editable install does not work"
import os

import numpy as np

import jitson

src = os.path.join(os.environ["JITSON_ROOT"], "python", "jitson")
assert os.path.dirname(jitson.__file__) == src, f"editable jitson imported from {jitson.__file__}"
db = np.random.default_rng(5).integers(0, 256, (500, 64), dtype=np.uint8)
kernel = jitson.Engine().compile({"version": 1, "record_bits": 512, "top_k": 3})
D, I = kernel.search(db[[7, 9]], db)
assert I[:, 0].tolist() == [7, 9] and D[:, 0].tolist() == [0, 0], (D, I)
print("test_python.sh: editable jitson from", jitson.__file__, "searches")
EOF
