"""Fixtures for the SQLite extension tests: the built libjitson_sqlite.so (JITSON_SQLITE_EXT),
the sqlite3 shell (JITSON_SQLITE3, default sqlite3 on PATH), connections with it loaded, and a
numpy brute force that defines the expected answers (Tanimoto: in integers, similarities as exact
fractions)."""
import os
import shutil
import sqlite3
from fractions import Fraction

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


def tanimoto_counts(records, query, mask=None):
    """The intersections c = |q & r & mask| and unions u = |(q | r) & mask|, as integers."""
    both = np.bitwise_and(records, query[None, :])
    either = np.bitwise_or(records, query[None, :])
    if mask is not None:
        both = np.bitwise_and(both, mask[None, :])
        either = np.bitwise_and(either, mask[None, :])
    return (np.bitwise_count(both).sum(axis=1, dtype=np.int64),
            np.bitwise_count(either).sum(axis=1, dtype=np.int64))


def similarity(c, u):
    """T = c / u exactly; 1 for an empty union."""
    return Fraction(1) if u == 0 else Fraction(int(c), int(u))


def brute_tanimoto(ids, records, query, k=None, mask=None, min_similarity=None):
    """(rowid, T as a Fraction) best first by (T descending, rowid); min_similarity (a decimal
    string or a Fraction) keeps T >= it, compared exactly."""
    c, u = tanimoto_counts(records, query, mask)
    rows = sorted(((similarity(ci, ui), int(i)) for ci, ui, i in zip(c.tolist(), u.tolist(), ids)),
                  key=lambda p: (-p[0], p[1]))
    if min_similarity is not None:
        rows = [p for p in rows if p[0] >= Fraction(min_similarity)]
    return [(i, t) for t, i in rows[:k]]


def as_reals(rows):
    """(rowid, distance, similarity) as SQL gives them: T and 1 - T as doubles (float(Fraction)
    rounds to nearest, as the C division of the two integers does)."""
    return [(i, 1.0 - float(t), float(t)) for i, t in rows]
