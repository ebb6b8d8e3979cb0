"""Shared fixtures: an engine, random and tie-heavy fingerprints, the numpy brute force every
result is checked against, and the backend x ISA matrix this machine offers."""

from __future__ import annotations

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
    import os

    if os.environ.get("JITSON_EXPECT_INSTALLED") == "1":
        assert "site-packages" in jitson.__file__, f"jitson imported from {jitson.__file__}"
