"""The examples in examples/python run and check their own answers (each asserts its result)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples" / "python"


@pytest.mark.parametrize(
    "name,module",
    [
        ("duckdb_topk.py", "duckdb"),
        ("polars_search.py", "polars"),
        ("rdkit_fingerprints.py", "rdkit"),
        ("rdkit_tanimoto.py", "rdkit"),
    ],
)
def test_example(name, module, tmp_path):
    pytest.importorskip(module)
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip()
