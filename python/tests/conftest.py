"""Shared fixtures: an engine, random and tie-heavy fingerprints, the numpy brute force every
result is checked against, the backend x ISA matrix this machine offers, and the Morgan
fingerprints of RDKit's own molecules."""

from __future__ import annotations

import os

import numpy as np
import pytest

import jitson

INFO = jitson.cpu_info()
# Every (backend, isa) pair this build and CPU can run; the runtime backend is ISA-dispatched
# precompiled code, the JIT backends generate for the ISA named (xbyak emits AVX2/AVX-512 only:
# a scalar xbyak config is a ConfigError by design).
BACKEND_ISA = [
    (b, i) for b in INFO["backends"] for i in INFO["isas"] if (b, i) != ("xbyak", "scalar")
]


@pytest.fixture(scope="session")
def engine() -> jitson.Engine:
    return jitson.Engine()


def random_records(n: int, record_bytes: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, record_bytes), dtype=np.uint8)


def low_entropy_records(n: int, record_bytes: int, seed: int = 0) -> np.ndarray:
    """Few distinct records, mostly zero bits: most distances tie, so the id order matters."""
    rng = np.random.default_rng(seed)
    base = (rng.random((8, record_bytes * 8)) < 0.02).astype(bool)
    picks = base[rng.integers(0, 8, n)]
    flips = rng.random(picks.shape) < 0.001
    return jitson.pack_bits(picks ^ flips)


def brute_force(queries: np.ndarray, db: np.ndarray, k: int, max_distance: int | None = None):
    """(distances, ids) by numpy.bitwise_count, ordered by (distance, id), padded with -1."""
    d = np.bitwise_count(queries[:, None, :] ^ db[None, :, :]).sum(axis=2, dtype=np.int64)
    nq = len(queries)
    D = np.full((nq, k), -1, np.int32)
    I = np.full((nq, k), -1, np.int64)
    for q in range(nq):
        order = np.argsort(d[q], kind="stable")  # stable: ties keep id order
        if max_distance is not None:
            order = order[d[q][order] <= max_distance]
        order = order[:k]
        D[q, : len(order)] = d[q][order]
        I[q, : len(order)] = order
    return D, I


def brute_force_range(queries: np.ndarray, db: np.ndarray, max_distance: int):
    d = np.bitwise_count(queries[:, None, :] ^ db[None, :, :]).sum(axis=2, dtype=np.int64)
    lims, D, I = [0], [], []
    for q in range(len(queries)):
        ids = np.nonzero(d[q] <= max_distance)[0]
        order = ids[np.lexsort((ids, d[q][ids]))]
        D.extend(d[q][order])
        I.extend(order)
        lims.append(len(I))
    return np.array(lims), np.array(D, np.int32), np.array(I, np.int64)


def pytest_sessionstart(session):
    """Under scripts/test_python.sh the package must come from the venv, not the source tree."""
    if os.environ.get("JITSON_EXPECT_INSTALLED") == "1":
        assert "site-packages" in jitson.__file__, f"jitson imported from {jitson.__file__}"


# ---- RDKit: real molecules

def rdkit_molecules():
    """SMILES shipped in RDKit's wheel: Data/NCI/first_5K.smi and the PAINS test set."""
    rdkit = pytest.importorskip("rdkit", reason="rdkit is not installed (PyPI has no wheel for this Python?)")
    del rdkit
    from rdkit import Chem, RDConfig, RDLogger

    RDLogger.DisableLog("rdApp.*")
    files = [
        (os.path.join(RDConfig.RDDataDir, "NCI", "first_5K.smi"), "\t", False),
        (os.path.join(RDConfig.RDDataDir, "Pains", "test_data", "wehi_mols.csv"), ",", True),
    ]
    smiles = []
    for path, sep, quoted in files:
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                s = line.split(sep)[0].strip()
                smiles.append(s.strip('"') if quoted else s)
    if not smiles:
        pytest.skip(f"none of RDKit's SMILES files is in this rdkit install ({RDConfig.RDDataDir})")
    mols = [m for m in (Chem.MolFromSmiles(s) for s in smiles) if m is not None]
    return mols


@pytest.fixture(scope="session")
def morgan():
    """(RDKit ExplicitBitVects, jitson records) for every molecule RDKit ships as SMILES: Morgan
    radius 2, 2,048 bits (the Tanimoto and popcount-order suites compare with RDKit on these)."""
    mols = rdkit_molecules()
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fps = [gen.GetFingerprint(m) for m in mols]
    bits = np.array([gen.GetFingerprintAsNumPy(m) for m in mols], dtype=np.uint8)
    records = np.packbits(bits, axis=1, bitorder="little")  # bit i = byte i / 8, bit i % 8
    assert records.shape == (len(mols), 256)
    assert [records[7].tobytes()] == [jitson.pack_bits(bits[7].astype(bool)).tobytes()]
    return fps, records
