"""Transactions, savepoints and ROLLBACK, and a fuzz-style random sequence of writes checked
against a brute force over a plain table in the same database (so every ROLLBACK undoes both)."""
import random

import numpy as np
import pytest

from conftest import open_db


def state(con, table):
    col = "fp" if table == "fps" else "v"
    return sorted(con.execute(f"SELECT rowid, {col} FROM {table}").fetchall())


def test_rollback_and_savepoints(con):
    con.execute("CREATE VIRTUAL TABLE fps USING jitson0(bits=64, chunk_records=8)")
    con.execute("INSERT INTO fps(rowid, fp) VALUES (1, x'0100000000000000')")
    con.execute("BEGIN")
    for i in range(2, 30):
        con.execute("INSERT INTO fps(rowid, fp) VALUES (?, ?)", (i, bytes([i]) + bytes(7)))
    # a search inside the transaction sees the uncommitted rows
    assert con.execute("SELECT count(*) FROM fps WHERE fp MATCH ? AND k = 100", (bytes(8),)).fetchone() == (29,)
    con.execute("ROLLBACK")
    assert state(con, "fps") == [(1, b"\x01" + bytes(7))]
    assert con.execute("SELECT count(*) FROM fps_rowids").fetchone() == (1,)

    con.execute("BEGIN")
    con.execute("INSERT INTO fps(rowid, fp) VALUES (2, x'0200000000000000')")
    con.execute("SAVEPOINT a")
    con.execute("INSERT INTO fps(rowid, fp) VALUES (3, x'0300000000000000')")
    con.execute("DELETE FROM fps WHERE rowid = 1")
    con.execute("ROLLBACK TO a")
    con.execute("INSERT INTO fps(rowid, fp) VALUES (4, x'0400000000000000')")
    con.execute("RELEASE a")
    con.execute("COMMIT")
    assert [r for r, _ in state(con, "fps")] == [1, 2, 4]
    assert con.execute("SELECT rowid, distance FROM fps WHERE fp MATCH ? AND k = 5", (bytes(8),)).fetchall() == \
        [(1, 1), (2, 1), (4, 1)]


def test_failed_statement_rolls_back_alone(con):
    """A multi-row INSERT that fails on its third row leaves no row of it (statement journal)."""
    con.execute("CREATE VIRTUAL TABLE fps USING jitson0(bits=64, chunk_records=8)")
    con.execute("CREATE TABLE src(id INTEGER PRIMARY KEY, v BLOB)")
    con.executemany("INSERT INTO src VALUES (?, ?)", [(i, bytes([i]) * 8) for i in range(1, 20)])
    con.execute("UPDATE src SET v = x'00' WHERE id = 13")
    con.execute("BEGIN")
    con.execute("INSERT INTO fps(rowid, fp) VALUES (100, x'0000000000000000')")
    with pytest.raises(Exception, match="fp is a BLOB of 1 bytes"):
        con.execute("INSERT INTO fps(rowid, fp) SELECT id, v FROM src ORDER BY id")
    con.execute("COMMIT")
    assert [r for r, _ in state(con, "fps")] == [100]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_writes_against_brute_force(ext, tmp_path, seed):
    rng = random.Random(seed)
    nbytes = 32
    con = open_db(ext, str(tmp_path / "fuzz.db"))
    con.execute("PRAGMA synchronous = OFF")  # thousands of commits; durability is not tested here
    con.execute("CREATE VIRTUAL TABLE fps USING jitson0(bits=256, chunk_records=16, block_records=8)")
    con.execute("CREATE TABLE ref(id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
    npr = np.random.default_rng(seed)

    def rec():
        # few distinct bits: many ties, so the (distance, rowid) order is exercised
        return np.packbits(npr.random(nbytes * 8) < 0.03, bitorder="little").tobytes()

    def check():
        assert state(con, "fps") == state(con, "ref")
        q = rec()
        for k in (1, 7, 40):
            want = con.execute("SELECT id, jitson_distance(v, ?1) d FROM ref ORDER BY d, id LIMIT ?2",
                               (q, k)).fetchall()
            assert con.execute("SELECT rowid, distance FROM fps WHERE fp MATCH ? AND k = ?",
                               (q, k)).fetchall() == want
        r = rng.randrange(0, 12)
        want = con.execute("SELECT id, jitson_distance(v, ?1) d FROM ref WHERE d <= ?2 ORDER BY d, id",
                           (q, r)).fetchall()
        assert con.execute("SELECT rowid, distance FROM fps WHERE fp MATCH ? AND distance <= ?",
                           (q, r)).fetchall() == want
        ids = [i for (i,) in con.execute("SELECT id FROM ref")]
        sub = rng.sample(ids, min(len(ids), 5))
        want = con.execute(f"SELECT id, jitson_distance(v, ?1) d FROM ref WHERE id IN ({','.join(map(str, sub)) or 'NULL'}) "
                           "ORDER BY d, id LIMIT 3", (q,)).fetchall()
        assert con.execute(f"SELECT rowid, distance FROM fps WHERE fp MATCH ? AND k = 3 AND rowid IN "
                           f"({','.join(map(str, sub)) or 'NULL'})", (q,)).fetchall() == want

    in_tx = False
    for step in range(500):
        op = rng.random()
        ids = [i for (i,) in con.execute("SELECT id FROM ref")]
        if op < 0.08 and not in_tx:
            con.execute("BEGIN")
            in_tx = True
        elif op < 0.13 and in_tx:
            con.execute(rng.choice(["COMMIT", "ROLLBACK"]))
            in_tx = False
        elif op < 0.55 or not ids:
            n = rng.randrange(1, 40)
            rows = [(rng.randrange(-50, 400), rec()) for _ in range(n)]
            for rid, v in rows:
                for t, col in (("fps", "rowid, fp"), ("ref", "id, v")):
                    con.execute(f"INSERT OR REPLACE INTO {t}({col}) VALUES (?, ?)", (rid, v))
        elif op < 0.75:
            victims = rng.sample(ids, min(len(ids), rng.randrange(1, 30)))
            for v in victims:
                con.execute("DELETE FROM fps WHERE rowid = ?", (v,))
                con.execute("DELETE FROM ref WHERE id = ?", (v,))
        elif op < 0.9:
            v = rng.choice(ids)
            new = rec()
            con.execute("UPDATE fps SET fp = ? WHERE rowid = ?", (new, v))
            con.execute("UPDATE ref SET v = ? WHERE id = ?", (new, v))
        else:
            v = rng.choice(ids)
            to = rng.randrange(1000, 2000)
            if to not in ids:
                con.execute("UPDATE fps SET rowid = ? WHERE rowid = ?", (to, v))
                con.execute("UPDATE ref SET id = ? WHERE id = ?", (to, v))
        check()
    if in_tx:
        con.execute("COMMIT")
    con.close()
    con = open_db(ext, str(tmp_path / "fuzz.db"))
    check()
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
