"""jitson_topk(config, query, 'table', 'column' [, 'id_column']) over ordinary tables."""
import sqlite3

import pytest

from conftest import brute_topk, focus_mask, rand_records


@pytest.fixture
def plain(con):
    recs = rand_records(2500, 256, seed=3)
    con.execute('CREATE TABLE "my fps"(id INTEGER PRIMARY KEY, "the fp" BLOB, ext INTEGER)')
    con.executemany('INSERT INTO "my fps" VALUES (?, ?, ?)',
                    [(i + 1, r.tobytes(), 1000 - i) for i, r in enumerate(recs)])
    return con, recs


def test_topk_matches_brute_force(plain):
    con, recs = plain
    ids = list(range(1, len(recs) + 1))
    q = recs[17]
    got = con.execute("SELECT id, distance FROM jitson_topk('{\"top_k\": 12}', ?, 'my fps', 'the fp')",
                      (q.tobytes(),)).fetchall()
    assert got == brute_topk(ids, recs, q, 12)
    # default top_k 10, a focus mask, a radius; a join-friendly id column
    cfg = '{"focus": {"ranges": [[0, 512]]}, "max_distance": 240, "top_k": 1000}'
    got = con.execute("SELECT id, distance FROM jitson_topk(?, ?, 'my fps', 'the fp', 'ext')",
                      (cfg, q.tobytes())).fetchall()
    assert got == brute_topk([1000 - i for i in range(len(recs))], recs, q, 1000,
                             mask=focus_mask(256, [(0, 512)]), max_distance=240)
    assert len(con.execute("SELECT * FROM jitson_topk(NULL, ?, 'my fps', 'the fp')",
                           (q.tobytes(),)).fetchall()) == 10
    joined = con.execute("SELECT f.ext, t.distance FROM jitson_topk('{}', ?, 'my fps', 'the fp') t "
                         "JOIN \"my fps\" f ON f.id = t.id ORDER BY t.distance, t.id",
                         (q.tobytes(),)).fetchall()
    assert joined[0] == (1000 - 17, 0)


def test_topk_over_a_jitson0_table_and_nulls(con):
    con.execute("CREATE TABLE t(v BLOB)")
    con.executemany("INSERT INTO t VALUES (?)", [(None,), (bytes([1]) + bytes(7),), (None,), (bytes(8),)])
    assert con.execute("SELECT id, distance FROM jitson_topk('{}', zeroblob(8), 't', 'v')").fetchall() == \
        [(4, 0), (2, 1)]
    # odd lengths are zero-padded to 64 bits
    con.execute("CREATE TABLE u(v BLOB)")
    con.executemany("INSERT INTO u VALUES (?)", [(b"\x0f\x00\x01",), (b"\x00\x00\x00",)])
    assert con.execute("SELECT id, distance FROM jitson_topk('{}', x'000000', 'u', 'v')").fetchall() == \
        [(2, 0), (1, 5)]


@pytest.mark.parametrize("args,message", [
    ("'{}', x'00', 'nope', 'v'", "cannot read column 'v' of table 'nope'"),
    ("'{}', x'0000000000000000', 't', 'v'", "table 't' column 'v' row 2: value is a BLOB of 3 bytes; the query is 8 bytes"),
    ("'{\"focus\": {\"bits\": [64]}}', x'0000000000000000', 't', 'v'", "/focus/bits/0"),
    ("'{}', 'text', 't', 'v'", "the query must be a BLOB"),
    ("'{}', x'0000000000000000', 't', 'v', 'name'", "id column 'name' holds abc, not an integer"),
    ("'{}', x'0000000000000000'", "the query, table and column are required"),
])
def test_topk_errors(con, args, message):
    con.execute("CREATE TABLE t(v BLOB, name TEXT)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(bytes(8), "abc"), (b"abc", "d")])
    with pytest.raises(sqlite3.OperationalError) as e:
        con.execute(f"SELECT * FROM jitson_topk({args})").fetchall()
    assert message in str(e.value)
