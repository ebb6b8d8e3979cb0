"""Fixtures for the SQLite extension tests: the built libjitson_sqlite.so (JITSON_SQLITE_EXT),
the sqlite3 shell (JITSON_SQLITE3, default sqlite3 on PATH), connections with it loaded, and a
numpy brute force that defines the expected answers."""
import os
import shutil
import sqlite3

import numpy as np
import pytest

EXT = os.environ.get("JITSON_SQLITE_EXT", "")


@pytest.fixture(scope="session")
def ext():
    if not EXT or not os.path.exists(EXT):
        pytest.fail(f"JITSON_SQLITE_EXT={EXT!r} is not a built libjitson_sqlite.so")
    return EXT


@pytest.fixture(scope="session")
def sqlite3_cli():
    cli = os.environ.get("JITSON_SQLITE3") or shutil.which("sqlite3")
    if not cli:
        pytest.fail("the sqlite3 shell is missing: apt-get install sqlite3 (scripts/bootstrap.sh)")
    return cli


def open_db(ext, path=":memory:"):
    con = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT in the tests
    con.enable_load_extension(True)
    con.load_extension(ext)
    con.enable_load_extension(False)
    return con


@pytest.fixture
def con(ext):
    c = open_db(ext)
    yield c
    c.close()


def rand_records(n, nbytes, seed=0, density=0.5):
    rng = np.random.default_rng(seed)
    if density == 0.5:
        return rng.integers(0, 256, (n, nbytes), dtype=np.uint8)
    bits = rng.random((n, nbytes * 8)) < density
    return np.packbits(bits, axis=1, bitorder="little")


def focus_mask(nbytes, ranges=None):
    """jitson's bit b is bit b % 8 (least significant first) of byte b // 8."""
    bits = np.zeros(nbytes * 8, dtype=bool)
    if ranges is None:
        bits[:] = True
    else:
        for a, b in ranges:
            bits[a:b] = True
    return np.packbits(bits, bitorder="little")


def distances(records, query, mask=None):
    x = np.bitwise_xor(records, query[None, :])
    if mask is not None:
        x = np.bitwise_and(x, mask[None, :])
    return np.bitwise_count(x).sum(axis=1, dtype=np.int64)


def brute_topk(ids, records, query, k, mask=None, max_distance=None):
    """(rowid, distance) best first by (distance, rowid)."""
    d = distances(records, query, mask)
    pairs = sorted(zip(d.tolist(), [int(i) for i in ids]))
    if max_distance is not None:
        pairs = [p for p in pairs if p[0] <= max_distance]
    return [(i, dist) for dist, i in pairs[:k]]
