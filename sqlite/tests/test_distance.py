"""jitson_distance(a, b [, config]): values against numpy, SQL conventions, flags, caching."""
import sqlite3

import numpy as np
import pytest

from conftest import distances, focus_mask, rand_records


@pytest.mark.parametrize("nbytes", [1, 8, 13, 256, 2048, 8192])
def test_distance_matches_numpy(con, nbytes):
    recs = rand_records(40, nbytes, seed=nbytes)
    con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(i, r.tobytes()) for i, r in enumerate(recs)])
    q = recs[0]
    got = [d for (d,) in con.execute("SELECT jitson_distance(v, ?) FROM t ORDER BY id", (q.tobytes(),))]
    assert got == distances(recs, q).tolist()


def test_distance_with_focus_config(con):
    recs = rand_records(50, 2048, seed=3)
    q = rand_records(1, 2048, seed=4)[0]
    cfg = '{"focus": {"ranges": [[0, 1000], [5000, 5003]], "bits": [16383]}, "max_distance": 3}'
    mask = focus_mask(2048, [(0, 1000), (5000, 5003), (16383, 16384)])
    got = [con.execute("SELECT jitson_distance(?, ?, ?)", (r.tobytes(), q.tobytes(), cfg)).fetchone()[0]
           for r in recs]
    # max_distance bounds searches, not distances: every distance is reported
    assert got == distances(recs, q, mask).tolist()
    assert max(got) > 3


def test_distance_nulls_follow_sql(con):
    row = con.execute("SELECT jitson_distance(NULL, x'00'), jitson_distance(x'00', NULL), "
                      "jitson_distance(x'0f', x'ff', NULL), jitson_distance(x'', x'')").fetchone()
    assert row == (None, None, 4, 0)


@pytest.mark.parametrize("sql,message", [
    ("SELECT jitson_distance(x'00', x'0000')", "differ in length (1 and 2 bytes)"),
    ("SELECT jitson_distance('ab', x'0000')", "argument 1 is TEXT; fingerprints are BLOBs"),
    ("SELECT jitson_distance(x'00', 5)", "argument 2 is a number"),
    ("SELECT jitson_distance(zeroblob(8193), zeroblob(8193))", "exceed the widest record"),
    ("SELECT jitson_distance(x'00', x'00', '{\"focus\": {\"ranges\": [[0, 100]]}}')",
     "/focus/ranges/0: end 100 exceeds record_bits 64"),
    ("SELECT jitson_distance(x'00', x'00', '{\"max_distance\": -1}')", "/max_distance"),
    ("SELECT jitson_distance(x'00', x'00', '{\"top_k\": 1, \"bogus\": 1}')", "/bogus"),
    ("SELECT jitson_distance(x'00', x'00', '{\"record_bits\": 128}')",
     "/record_bits: 128 does not match"),
    ("SELECT jitson_distance(x'00', x'00', '{not json')", "jitson config"),
])
def test_distance_errors_are_clear(con, sql, message):
    with pytest.raises(sqlite3.OperationalError, match=".*") as e:
        con.execute(sql).fetchall()
    assert message in str(e.value)


def test_distance_flags(con):
    flags = {narg: f for name, _, _, _, narg, f in con.execute("PRAGMA function_list")
             if name == "jitson_distance"}
    assert set(flags) == {2, 3}
    for f in flags.values():
        assert f & 0x800, "SQLITE_DETERMINISTIC"
        assert f & 0x200000, "SQLITE_INNOCUOUS"
    # deterministic functions may appear in index expressions and generated columns
    con.execute("CREATE TABLE t(a BLOB, d INTEGER AS (jitson_distance(a, x'ff')))")
    con.execute("CREATE INDEX td ON t(jitson_distance(a, x'0f'))")
    con.execute("INSERT INTO t(a) VALUES (x'00'), (x'0f')")
    assert con.execute("SELECT d FROM t ORDER BY rowid").fetchall() == [(8,), (4,)]


def test_distance_with_varying_lengths_and_configs(con):
    """The cached kernel follows the blob length and the config from row to row."""
    con.execute("CREATE TABLE t(a BLOB, b BLOB, c TEXT)")
    rows = [(b"\x0f" * 8, b"\xff" * 8, None), (b"\x0f" * 16, b"\x00" * 16, None),
            (b"\x0f" * 8, b"\xff" * 8, '{"focus": {"ranges": [[0, 8]]}}'),
            (b"\x0f" * 16, b"\x00" * 16, '{"focus": {"ranges": [[0, 8]]}}')]
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    got = [d for (d,) in con.execute("SELECT jitson_distance(a, b, c) FROM t ORDER BY rowid")]
    assert got == [32, 64, 4, 4]
