"""The jitson0 virtual table: KNN, range and filtered search against a brute force (numpy and
ORDER BY jitson_distance over a plain table), writes, and its declaration."""
import sqlite3

import numpy as np
import pytest

from conftest import brute_topk, focus_mask, open_db, rand_records


def fill(con, name, recs, ids=None, opts="", bits=None):
    bits = bits or recs.shape[1] * 8
    con.execute(f"CREATE VIRTUAL TABLE {name} USING jitson0(bits={bits}{opts})")
    ids = list(range(1, len(recs) + 1)) if ids is None else ids
    con.execute("BEGIN")
    con.executemany(f"INSERT INTO {name}(rowid, fp) VALUES (?, ?)",
                    [(int(i), r.tobytes()) for i, r in zip(ids, recs)])
    con.execute("COMMIT")
    return ids


def knn(con, name, q, k, extra="", args=()):
    return con.execute(f"SELECT rowid, distance FROM {name} WHERE fp MATCH ? AND k = ? {extra}",
                       (q.tobytes(), k) + tuple(args)).fetchall()


@pytest.mark.parametrize("bits,chunk", [(1024, 64), (16384, 1024), (16384, 64)])
def test_knn_matches_brute_force(con, bits, chunk):
    n = 700
    recs = rand_records(n, bits // 8, seed=bits + chunk)
    ids = fill(con, "fps", recs, opts=f", chunk_records={chunk}")
    con.execute("CREATE TABLE plain(id INTEGER PRIMARY KEY, v BLOB)")
    con.executemany("INSERT INTO plain VALUES (?, ?)", [(i, r.tobytes()) for i, r in zip(ids, recs)])
    for qi in (0, 5, 699):
        q = recs[qi] ^ (rand_records(1, bits // 8, seed=qi, density=0.02)[0])
        for k in (1, 10, 50):
            want = brute_topk(ids, recs, q, k)
            assert knn(con, "fps", q, k) == want
            sql = ("SELECT id, jitson_distance(v, ?1) d FROM plain ORDER BY d, id LIMIT ?2")
            assert con.execute(sql, (q.tobytes(), k)).fetchall() == want


def test_ties_break_by_rowid_including_negative_ids(con):
    base = np.zeros(16, dtype=np.uint8)
    recs = np.stack([base] * 6)
    recs[3, 0] = 1
    ids = [5, -7, 3, 9, -1, 0]
    fill(con, "fps", recs, ids=ids)
    assert knn(con, "fps", base, 6) == [(-7, 0), (-1, 0), (0, 0), (3, 0), (5, 0), (9, 1)]
    assert knn(con, "fps", base, 2) == [(-7, 0), (-1, 0)]


def test_range_search(con):
    recs = rand_records(500, 128, seed=1)
    ids = fill(con, "fps", recs, opts=", chunk_records=64")
    q = recs[7]
    d_all = brute_topk(ids, recs, q, 10**6)
    r = d_all[40][1]
    want = [p for p in d_all if p[1] <= r]
    got = con.execute("SELECT rowid, distance FROM fps WHERE fp MATCH ? AND distance <= ?",
                      (q.tobytes(), r)).fetchall()
    assert got == want
    got = con.execute("SELECT rowid, distance FROM fps WHERE fp MATCH ? AND distance < ?",
                      (q.tobytes(), r)).fetchall()
    assert got == [p for p in d_all if p[1] < r]
    # k caps a range search at the first k by (distance, rowid)
    assert knn(con, "fps", q, 5, "AND distance <= ?", (r,)) == want[:5]
    # and the config's max_distance with a looser SQL bound: the tighter one wins
    got = con.execute("SELECT rowid, distance FROM fps WHERE fp MATCH ? AND distance <= 100000 "
                      "AND config = ?", (q.tobytes(), f'{{"max_distance": {r}}}')).fetchall()
    assert got == want
    assert con.execute("SELECT count(*) FROM fps WHERE fp MATCH ? AND distance < 0",
                       (q.tobytes(),)).fetchone() == (0,)


def test_config_focus_mask_and_cascade(con):
    recs = rand_records(600, 2048, seed=2)
    ids = fill(con, "fps", recs, opts=", chunk_records=128")
    q = recs[11] ^ rand_records(1, 2048, seed=9, density=0.05)[0]
    for cfg, ranges in [('{"focus": {"ranges": [[0, 4096]]}}', [(0, 4096)]),
                        ('{"focus": {"ranges": [[100, 300], [9000, 16384]]}, '
                         '"cascade": {"mode": "exact", "stages": [2, 16]}}', [(100, 300), (9000, 16384)]),
                        ('{"cascade": {"mode": "off"}, "top_k": 3}', None)]:
        want = brute_topk(ids, recs, q, 20, mask=focus_mask(2048, ranges))
        assert knn(con, "fps", q, 20, "AND config = ?", (cfg,)) == want
        sql = "SELECT rowid, jitson_distance(fp, ?1, ?2) d FROM fps ORDER BY d, rowid LIMIT 20"
        assert con.execute(sql, (q.tobytes(), cfg)).fetchall() == want
    # top_k from the config when the query has no k
    got = con.execute("SELECT rowid, distance FROM fps WHERE fp MATCH ? AND config = ?",
                      (q.tobytes(), '{"top_k": 4}')).fetchall()
    assert got == brute_topk(ids, recs, q, 4)


def test_order_by_and_columns(con):
    recs = rand_records(100, 64, seed=4)
    fill(con, "fps", recs)
    q = recs[3]
    rows = con.execute("SELECT rowid, distance, fp FROM fps WHERE fp MATCH ? AND k = 5 "
                       "ORDER BY distance, rowid", (q.tobytes(),)).fetchall()
    assert rows[0] == (4, 0, q.tobytes())
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)
    desc = con.execute("SELECT rowid FROM fps WHERE fp MATCH ? AND k = 5 ORDER BY distance DESC",
                       (q.tobytes(),)).fetchall()
    assert [r[0] for r in desc] == [r[0] for r in rows][::-1] or desc[-1] == (4,)
    plan = " ".join(r[-1] for r in con.execute(
        "EXPLAIN QUERY PLAN SELECT rowid FROM fps WHERE fp MATCH ? AND k = 5 ORDER BY distance",
        (q.tobytes(),)))
    assert "ORDER BY" not in plan  # consumed: no sorter
    # a plain scan and point lookups see the same rows
    assert con.execute("SELECT count(*) FROM fps").fetchone() == (100,)
    assert con.execute("SELECT fp FROM fps WHERE rowid = 4").fetchone() == (q.tobytes(),)
    assert con.execute("SELECT rowid FROM fps WHERE rowid IN (3, 4, 1000) ORDER BY 1").fetchall() == [(3,), (4,)]


def test_filtered_search_is_exact(con):
    recs = rand_records(900, 256, seed=5)
    ids = fill(con, "fps", recs, opts=", chunk_records=64")
    con.execute("CREATE TABLE meta(id INTEGER PRIMARY KEY, tenant INTEGER)")
    con.executemany("INSERT INTO meta VALUES (?, ?)", [(i, i % 7) for i in ids])
    q = recs[0]
    for tenant in (0, 3):
        allowed = [i for i in ids if i % 7 == tenant]
        sub = recs[[i - 1 for i in allowed]]
        want = brute_topk(allowed, sub, q, 10)
        got = knn(con, "fps", q, 10, "AND rowid IN (SELECT id FROM meta WHERE tenant = ?)", (tenant,))
        assert got == want
    # a few ids (gathered records) and dense ids (whole chunks with a skip bitmap)
    for chosen in ([5, 900, 17], list(range(1, 900, 2)), [42]):
        sub = recs[[i - 1 for i in chosen]]
        want = brute_topk(chosen, sub, q, 10)
        got = knn(con, "fps", q, 10, f"AND rowid IN ({','.join(map(str, chosen))})")
        assert got == want
    assert knn(con, "fps", q, 10, "AND rowid IN (SELECT id FROM meta WHERE 0)") == []
    # the join form: the vtab gets the whole IN list at once, so k is over the filtered rows
    got = con.execute(
        "SELECT f.rowid, f.distance FROM fps f WHERE f.fp MATCH ? AND f.k = 3 AND f.rowid IN "
        "(SELECT id FROM meta WHERE tenant = 2) ORDER BY f.distance", (q.tobytes(),)).fetchall()
    allowed = [i for i in ids if i % 7 == 2]
    assert got == brute_topk(allowed, recs[[i - 1 for i in allowed]], q, 3)


def test_primary_key_column(con):
    con.execute("CREATE VIRTUAL TABLE fps USING jitson0(bits=64, primary_key=id)")
    con.execute("INSERT INTO fps(id, fp) VALUES (10, x'0100000000000000')")
    con.execute("INSERT INTO fps(fp) VALUES (x'0300000000000000')")
    assert con.execute("SELECT id, rowid FROM fps ORDER BY id").fetchall() == [(10, 10), (11, 11)]
    assert con.execute("SELECT id, distance FROM fps WHERE fp MATCH x'0000000000000000' AND k = 5"
                       ).fetchall() == [(10, 1), (11, 2)]
    con.execute("UPDATE fps SET id = 20 WHERE id = 10")
    assert con.execute("SELECT id FROM fps WHERE id = 20").fetchall() == [(20,)]
    assert con.execute("SELECT id FROM fps WHERE fp MATCH x'00000000000000ff' AND k = 1 AND id IN (11)"
                       ).fetchall() == [(11,)]
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed"):
        con.execute("INSERT INTO fps(id, fp) VALUES (11, x'0000000000000000')")


def test_insert_update_delete_replace(con):
    con.execute("CREATE VIRTUAL TABLE fps USING jitson0(bits=64, chunk_records=8)")
    z = bytes(8)
    con.executemany("INSERT INTO fps(rowid, fp) VALUES (?, ?)", [(i, bytes([i]) + bytes(7)) for i in range(1, 30)])
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed: fps.rowid"):
        con.execute("INSERT INTO fps(rowid, fp) VALUES (3, ?)", (z,))
    # a taken id in the chunk still being filled (the rowids table's key refuses it) leaves no
    # trace: the next insert takes the free slot
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE constraint failed: fps.rowid"):
        con.execute("INSERT INTO fps(rowid, fp) VALUES (29, ?)", (z,))
    con.execute("INSERT INTO fps(rowid, fp) VALUES (30, ?)", (bytes([30]) + bytes(7),))
    assert con.execute("SELECT count(*), sum(rowid) FROM fps").fetchone() == (30, 465)
    assert con.execute("SELECT rowid FROM fps WHERE fp MATCH ? AND k = 1", (bytes([30]) + bytes(7),)
                       ).fetchall() == [(30,)]
    con.execute("DELETE FROM fps WHERE rowid = 30")
    con.execute("INSERT OR REPLACE INTO fps(rowid, fp) VALUES (3, ?)", (b"\xff" * 8,))
    con.execute("INSERT OR IGNORE INTO fps(rowid, fp) VALUES (4, ?)", (b"\xff" * 8,))
    assert con.execute("SELECT fp FROM fps WHERE rowid IN (3, 4) ORDER BY rowid").fetchall() == [
        (b"\xff" * 8,), (bytes([4]) + bytes(7),)]
    con.execute("DELETE FROM fps WHERE rowid BETWEEN 1 AND 16")  # empties two whole chunks
    assert con.execute("SELECT count(*) FROM fps").fetchone() == (13,)
    assert con.execute("SELECT count(*) FROM fps_chunks").fetchone()[0] <= 3
    con.execute("UPDATE fps SET fp = ? WHERE rowid = 20", (z,))
    con.execute("UPDATE fps SET rowid = rowid + 100 WHERE rowid = 21")
    got = con.execute("SELECT rowid, distance FROM fps WHERE fp MATCH ? AND k = 3", (z,)).fetchall()
    assert got == [(20, 0), (17, 2), (18, 2)]  # 17 = 0b10001, 18 = 0b10010
    assert con.execute("SELECT rowid FROM fps WHERE rowid > 100").fetchall() == [(121,)]


def test_65536_bit_records(con):
    recs = rand_records(150, 8192, seed=6)
    ids = fill(con, "big", recs, opts=", chunk_records=64")
    q = recs[100] ^ rand_records(1, 8192, seed=1, density=0.01)[0]
    assert knn(con, "big", q, 7) == brute_topk(ids, recs, q, 7)
    mask = focus_mask(8192, [(60000, 65536)])
    assert knn(con, "big", q, 7, "AND config = ?", ('{"focus": {"ranges": [[60000, 65536]]}}',)) == \
        brute_topk(ids, recs, q, 7, mask=mask)


@pytest.mark.parametrize("block", [64, 256])
def test_blocked_chunks_and_the_sweep(con, block):
    rng = np.random.default_rng(block)
    recs = rand_records(1500, 2048, seed=block)
    near = rand_records(1, 2048, seed=99, density=0.002)[0]
    recs[777] = recs[10] ^ near  # a near duplicate of record 11
    ids = fill(con, "fps", recs, opts=f", block_records={block}, chunk_records=512")
    # the planner prefers the sweep for a near-duplicate radius, the row kernel for plain top-k
    assert "prefer=blocked" in con.execute(
        "SELECT jitson_explain('{\"version\": 1, \"record_bits\": 16384, \"max_distance\": 64}')").fetchone()[0]
    assert "prefer=row" in con.execute(
        "SELECT jitson_explain('{\"version\": 1, \"record_bits\": 16384}')").fetchone()[0]
    q = recs[10]
    d = brute_topk(ids, recs, q, 10**6)
    assert con.execute("SELECT rowid, distance FROM fps WHERE fp MATCH ? AND distance <= 64",
                       (q.tobytes(),)).fetchall() == [p for p in d if p[1] <= 64]
    assert knn(con, "fps", q, 10) == d[:10]
    # writes keep the blocked copy in step: update, delete, insert into a half-full chunk
    con.execute("UPDATE fps SET fp = ? WHERE rowid = 5", ((recs[10] ^ near).tobytes(),))
    con.execute("DELETE FROM fps WHERE rowid = 778")
    con.execute("INSERT INTO fps(rowid, fp) VALUES (5000, ?)", (recs[10].tobytes(),))
    recs2 = recs.copy()
    recs2[4] = recs[10] ^ near
    ids2 = [i for i in ids if i != 778] + [5000]
    recs2 = np.concatenate([recs2[[i - 1 for i in ids if i != 778]], recs[10:11]])
    d2 = brute_topk(ids2, recs2, q, 10**6)
    assert con.execute("SELECT rowid, distance FROM fps WHERE fp MATCH ? AND distance <= 64",
                       (q.tobytes(),)).fetchall() == [p for p in d2 if p[1] <= 64]
    assert knn(con, "fps", q, 10) == d2[:10]
    # the blocked blob holds exactly the records of the row blob, in the blocked layout
    rows = np.frombuffer(con.execute("SELECT data FROM fps_vectors WHERE chunk_id = 1").fetchone()[0], np.uint8)
    blocked = np.frombuffer(con.execute("SELECT data FROM fps_blocked WHERE chunk_id = 1").fetchone()[0], np.uint8)
    words = rows.view(np.uint64).reshape(512 // block, block, 256)
    assert np.array_equal(blocked.view(np.uint64).reshape(512 // block, 256, block),
                          words.transpose(0, 2, 1))
    del rng


def test_limit_form(con):
    recs = rand_records(200, 64, seed=7)
    ids = fill(con, "fps", recs)
    q = recs[0]
    sql = "SELECT rowid, distance FROM fps WHERE fp MATCH ? ORDER BY distance LIMIT 5"
    if sqlite3.sqlite_version_info >= (3, 41, 0):
        assert con.execute(sql, (q.tobytes(),)).fetchall() == brute_topk(ids, recs, q, 5)
    else:
        # SQLite 3.40 hands a virtual table no LIMIT next to a MATCH: a clear error, never a
        # silently partial answer
        with pytest.raises(sqlite3.OperationalError, match="fp MATCH needs k = N, a LIMIT"):
            con.execute(sql, (q.tobytes(),)).fetchall()
    # with k the LIMIT and OFFSET apply on top
    got = con.execute("SELECT rowid, distance FROM fps WHERE fp MATCH ? AND k = 10 LIMIT 3 OFFSET 2",
                      (q.tobytes(),)).fetchall()
    assert got == brute_topk(ids, recs, q, 10)[2:5]


def test_persistence_across_reopen(ext, tmp_path):
    path = str(tmp_path / "fp.db")
    recs = rand_records(300, 2048, seed=8)
    con = open_db(ext, path)
    ids = fill(con, "fps", recs, opts=", chunk_records=128, block_records=64")
    con.execute("DELETE FROM fps WHERE rowid = 2")
    con.close()
    con = open_db(ext, path)
    ids.remove(2)
    sub = recs[[i - 1 for i in ids]]
    q = recs[1]
    assert knn(con, "fps", q, 10) == brute_topk(ids, sub, q, 10)
    assert con.execute("SELECT count(*) FROM fps").fetchone() == (299,)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()


def test_rename_and_drop(con):
    con.execute("CREATE VIRTUAL TABLE fps USING jitson0(bits=64)")
    con.execute("INSERT INTO fps(fp) VALUES (x'0100000000000000')")
    con.execute("ALTER TABLE fps RENAME TO fps2")
    assert con.execute("SELECT rowid, distance FROM fps2 WHERE fp MATCH x'0000000000000000' AND k = 1"
                       ).fetchall() == [(1, 1)]
    con.execute("INSERT INTO fps2(fp) VALUES (x'0000000000000000')")
    con.execute("DROP TABLE fps2")
    assert con.execute("SELECT name FROM sqlite_master").fetchall() == []


@pytest.mark.parametrize("args,message", [
    ("", "bits=N is required"),
    ("bits=100", "multiple of 64"),
    ("bits=131072", "multiple of 64"),
    ("bits=64, block_records=48", "power of two"),
    ("bits=64, chunk_records=100, block_records=64", "multiple of 8"),
    ("bits=64, chunk_records=96, block_records=64", "not a multiple of block_records"),
    ("bits=64, colour=red", "unknown argument"),
    ("bits=64, primary_key=fp", "a plain column name"),
    ("bits", "not key=value"),
])
def test_bad_declarations(con, args, message):
    with pytest.raises(sqlite3.OperationalError) as e:
        con.execute(f"CREATE VIRTUAL TABLE fps USING jitson0({args})")
    assert message in str(e.value)
    assert con.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
