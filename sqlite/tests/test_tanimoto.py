"""Tanimoto through SQLite: jitson_tanimoto / jitson_jaccard_distance, and jitson0 and jitson_topk
searches with a config of "metric": "tanimoto", against a brute force in integers (similarities
as exact fractions) and against ORDER BY jitson_tanimoto(...) DESC, rowid over a plain table."""
import sqlite3
from fractions import Fraction

import numpy as np
import pytest

from conftest import (as_reals, brute_tanimoto, focus_mask, open_db, rand_records, similarity,
                      tanimoto_counts)

TANIMOTO = '{"metric": "tanimoto"}'


def fill(con, name, recs, ids=None, opts=""):
    con.execute(f"CREATE VIRTUAL TABLE {name} USING jitson0(bits={recs.shape[1] * 8}{opts})")
    ids = list(range(1, len(recs) + 1)) if ids is None else ids
    con.execute("BEGIN")
    con.executemany(f"INSERT INTO {name}(rowid, fp) VALUES (?, ?)",
                    [(int(i), r.tobytes()) for i, r in zip(ids, recs)])
    con.execute("COMMIT")
    return ids


def plain(con, ids, recs, name="plain"):
    con.execute(f"CREATE TABLE {name}(id INTEGER PRIMARY KEY, v BLOB)")
    con.executemany(f"INSERT INTO {name} VALUES (?, ?)", [(int(i), r.tobytes()) for i, r in zip(ids, recs)])


def search(con, q, config=TANIMOTO, extra="", args=(), table="fps"):
    return con.execute(f"SELECT rowid, distance, similarity FROM {table} WHERE fp MATCH ? AND config = ? "
                       f"{extra}", (q.tobytes(), config) + tuple(args)).fetchall()


def by_order_by(con, q, k=None, config=None, where="", table="plain"):
    """The reference the brief names: ORDER BY jitson_tanimoto(...) DESC, rowid over a plain table."""
    fn = "jitson_tanimoto(v, ?1, ?2)" if config else "jitson_tanimoto(v, ?1)"
    sql = (f"SELECT id, 1.0 - s, s FROM (SELECT id, {fn} s FROM {table}) {where} "
           f"ORDER BY s DESC, id" + (" LIMIT ?3" if k else ""))
    args = (q.tobytes(), config) + ((k,) if k else ())
    if not config:
        sql = sql.replace("?3", "?2")
        args = (q.tobytes(),) + ((k,) if k else ())
    return con.execute(sql, args).fetchall()


def tie_heavy(n, nbytes, seed):
    """Records drawn from a dozen patterns (and some all-zero ones): most similarities are shared
    by many rows, so (similarity, rowid) order is what is tested."""
    rng = np.random.default_rng(seed)
    pool = rand_records(12, nbytes, seed=seed, density=0.04)
    pool[0] = 0
    recs = pool[rng.integers(0, 12, n)].copy()
    flip = rng.integers(0, n, n // 10)
    recs[flip, 0] ^= 1  # some rows one bit away from their pattern
    return recs


# ---- scalar functions ----

@pytest.mark.parametrize("nbytes", [1, 8, 13, 256, 2048, 8192])
def test_tanimoto_matches_fractions(con, nbytes):
    recs = rand_records(40, nbytes, seed=nbytes, density=0.04)
    recs[1] = 0  # an empty record against a non-empty query: T = 0
    q = recs[0]
    con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(i, r.tobytes()) for i, r in enumerate(recs)])
    got = con.execute("SELECT jitson_tanimoto(v, ?1), jitson_jaccard_distance(v, ?1) FROM t ORDER BY id",
                      (q.tobytes(),)).fetchall()
    c, u = tanimoto_counts(recs, q)
    want = [float(similarity(ci, ui)) for ci, ui in zip(c, u)]
    assert got == [(t, 1.0 - t) for t in want]
    assert got[0] == (1.0, 0.0) and (got[1] == (0.0, 1.0) or not q.any())


def test_tanimoto_empty_and_zero_blobs(con):
    row = con.execute("SELECT jitson_tanimoto(NULL, x'00'), jitson_tanimoto(x'00', NULL), "
                      "jitson_tanimoto(x'0f', x'ff', NULL), jitson_tanimoto(x'', x''), "
                      "jitson_jaccard_distance(x'', x''), jitson_tanimoto(zeroblob(2048), zeroblob(2048)), "
                      "jitson_jaccard_distance(zeroblob(13), zeroblob(13)), "
                      "jitson_tanimoto(zeroblob(8), x'0100000000000000'), "
                      "jitson_jaccard_distance(NULL, NULL)").fetchone()
    assert row == (None, None, 0.5, 1.0, 0.0, 1.0, 0.0, 0.0, None)
    assert [type(v) for v in row[2:8]] == [float] * 6


def test_tanimoto_with_focus_and_a_threshold(con):
    recs = rand_records(60, 2048, seed=3, density=0.04)
    q = rand_records(1, 2048, seed=4, density=0.04)[0]
    cfg = ('{"metric": "tanimoto", "focus": {"ranges": [[0, 1000], [5000, 5003]], "bits": [16383]}, '
           '"min_similarity": 0.9}')
    mask = focus_mask(2048, [(0, 1000), (5000, 5003), (16383, 16384)])
    c, u = tanimoto_counts(recs, q, mask)
    want = [float(similarity(ci, ui)) for ci, ui in zip(c, u)]
    # metric may be left out (it is added); min_similarity bounds searches, not similarities
    for config in (cfg, cfg.replace('"metric": "tanimoto", ', "")):
        got = [con.execute("SELECT jitson_tanimoto(?, ?, ?)", (r.tobytes(), q.tobytes(), config)).fetchone()[0]
               for r in recs]
        assert got == want
    assert max(want) < 0.9
    got = [con.execute("SELECT jitson_jaccard_distance(?, ?, ?)", (r.tobytes(), q.tobytes(), cfg)).fetchone()[0]
           for r in recs]
    assert got == [1.0 - t for t in want]


@pytest.mark.parametrize("sql,message", [
    ("SELECT jitson_tanimoto(x'00', x'0000')", "jitson_tanimoto: the fingerprints differ in length (1 and 2 bytes)"),
    ("SELECT jitson_jaccard_distance(x'00', x'0000')", "jitson_jaccard_distance: the fingerprints differ in length"),
    ("SELECT jitson_tanimoto('ab', x'0000')", "argument 1 is TEXT; fingerprints are BLOBs"),
    ("SELECT jitson_tanimoto(x'00', 5)", "argument 2 is a number"),
    ("SELECT jitson_tanimoto(zeroblob(8193), zeroblob(8193))", "exceed the widest record"),
    ("SELECT jitson_tanimoto(x'00', x'00', '{\"focus\": {\"ranges\": [[0, 100]]}}')",
     "/focus/ranges/0: end 100 exceeds record_bits 64"),
    ("SELECT jitson_tanimoto(x'00', x'00', '{\"min_similarity\": 1.5}')",
     "/min_similarity: value 1.5 is out of range"),
    ("SELECT jitson_tanimoto(x'00', x'00', '{\"min_similarity\": \"0.5\"}')", "/min_similarity"),
    ("SELECT jitson_tanimoto(x'00', x'00', '{\"max_distance\": 3}')",
     "/max_distance: applies only to metric \"hamming\""),
    ("SELECT jitson_tanimoto(x'00', x'00', '{\"cascade\": {\"mode\": \"statistical\"}}')", "/cascade/mode"),
    ("SELECT jitson_tanimoto(x'00', x'00', '{\"metric\": \"hamming\"}')", "the config's metric is \"hamming\""),
    ("SELECT jitson_jaccard_distance(x'00', x'00', '{\"metric\": \"jaccard\"}')", "/metric: unknown value"),
    ("SELECT jitson_tanimoto(x'00', x'00', '{\"record_bits\": 128}')", "/record_bits: 128 does not match"),
    ("SELECT jitson_tanimoto(x'00', x'00', '{not json')", "jitson config"),
    # and the other way round: Tanimoto options on Hamming
    ("SELECT jitson_distance(x'00', x'00', '{\"metric\": \"tanimoto\"}')",
     "jitson_distance: the config's metric is \"tanimoto\": jitson_tanimoto"),
    ("SELECT jitson_distance(x'00', x'00', '{\"min_similarity\": 0.5}')",
     "/min_similarity: applies only to metric \"tanimoto\""),
])
def test_tanimoto_errors_are_clear(con, sql, message):
    with pytest.raises(sqlite3.OperationalError) as e:
        con.execute(sql).fetchall()
    assert message in str(e.value)


def test_tanimoto_flags_and_caching(con):
    for name in ("jitson_tanimoto", "jitson_jaccard_distance"):
        flags = {narg: f for n, _, _, _, narg, f in con.execute("PRAGMA function_list") if n == name}
        assert set(flags) == {2, 3}, name
        for f in flags.values():
            assert f & 0x800, "SQLITE_DETERMINISTIC"
            assert f & 0x200000, "SQLITE_INNOCUOUS"
    con.execute("CREATE TABLE t(a BLOB, s REAL AS (jitson_tanimoto(a, x'ff')))")
    con.execute("CREATE INDEX ts ON t(jitson_jaccard_distance(a, x'0f'))")
    con.execute("INSERT INTO t(a) VALUES (x'00'), (x'0f'), (x'03')")
    assert con.execute("SELECT s FROM t ORDER BY rowid").fetchall() == [(0.0,), (0.5,), (0.25,)]
    # the kernel cached on a config argument follows the blob length and the config row by row
    con.execute("CREATE TABLE u(a BLOB, b BLOB, c TEXT)")
    rows = [(b"\x0f" * 8, b"\xff" * 8, None), (b"\x0f" * 16, b"\x01" * 16, None),
            (b"\x0f" * 8, b"\xff" * 8, '{"focus": {"ranges": [[0, 8]]}}'),
            (b"\x0f" * 16, b"\x01" * 16, '{"focus": {"ranges": [[0, 8]]}}')]
    con.executemany("INSERT INTO u VALUES (?, ?, ?)", rows)
    got = [s for (s,) in con.execute("SELECT jitson_tanimoto(a, b, c) FROM u ORDER BY rowid")]
    assert got == [0.5, 0.25, 0.5, 0.25]


# ---- jitson0 searches ----

@pytest.mark.parametrize("bits,chunk,data", [(2048, 64, "random"), (2048, 1024, "ties"),
                                             (16384, 64, "random"), (16384, 128, "ties")])
def test_knn_matches_brute_force(con, bits, chunk, data):
    n = 900 if bits == 2048 else 300
    recs = rand_records(n, bits // 8, seed=bits + chunk, density=0.04) if data == "random" \
        else tie_heavy(n, bits // 8, seed=bits + chunk)
    ids = fill(con, "fps", recs, opts=f", chunk_records={chunk}")
    plain(con, ids, recs)
    noise = rand_records(3, bits // 8, seed=5, density=0.01)
    for qi, q in enumerate((recs[0] ^ noise[0], recs[n // 2] | noise[1], recs[n - 1], np.zeros_like(recs[0]))):
        for k in (1, 10, 50):
            want = as_reals(brute_tanimoto(ids, recs, q, k))
            assert search(con, q, extra="AND k = ?", args=(k,)) == want, (qi, k)
            assert by_order_by(con, q, k) == want
        # jitson_topk over the plain table gives the same rows
        got = con.execute("SELECT id, distance, similarity FROM jitson_topk(?, ?, 'plain', 'v')",
                          ('{"metric": "tanimoto", "top_k": 25}', q.tobytes())).fetchall()
        assert got == as_reals(brute_tanimoto(ids, recs, q, 25))


@pytest.mark.parametrize("threshold", ["0.7", "0", "1", None])
@pytest.mark.parametrize("data", ["random", "ties"])
def test_min_similarity_range(con, threshold, data):
    n, nbytes = 1200, 256
    recs = rand_records(n, nbytes, seed=11, density=0.04) if data == "random" else tie_heavy(n, nbytes, 11)
    # a query of 100 bits and rows at known similarities to it: 1 (twice), 70/100 = 0.7 exactly,
    # 69/100, 71/100 and 70/101, just below 0.7
    q_bits = np.zeros(nbytes * 8, dtype=bool)
    q_bits[np.random.default_rng(1).choice(nbytes * 8, 100, replace=False)] = True
    on, off = np.flatnonzero(q_bits), np.flatnonzero(~q_bits)
    q = np.packbits(q_bits, bitorder="little")
    for row, (c, extra) in zip((3, 10, 11, 12, 13, 14), ((100, 0), (100, 0), (70, 0), (69, 0), (71, 0), (70, 1))):
        bits = np.zeros(nbytes * 8, dtype=bool)
        bits[on[:c]] = True
        bits[off[:extra]] = True
        recs[row] = np.packbits(bits, bitorder="little")
    ids = fill(con, "fps", recs, opts=", chunk_records=128")
    plain(con, ids, recs)
    if threshold is None:
        # no bound and no k: an error, never every row
        with pytest.raises(sqlite3.OperationalError, match="fp MATCH needs k = N"):
            search(con, q)
        want = as_reals(brute_tanimoto(ids, recs, q, 30))
        assert search(con, q, extra="AND k = 30") == want
        return
    cfg = f'{{"metric": "tanimoto", "min_similarity": {threshold}}}'
    want = as_reals(brute_tanimoto(ids, recs, q, None, min_similarity=threshold))
    assert search(con, q, cfg) == want
    assert search(con, q, cfg, "AND k = 5") == want[:5]
    assert by_order_by(con, q, where=f"WHERE s >= {threshold}") == want
    if threshold == "0":
        assert len(want) == n
    if threshold == "1":
        assert want and all(s == 1.0 for _, _, s in want)
    got = con.execute("SELECT id, distance, similarity FROM jitson_topk(?, ?, 'plain', 'v')",
                      (cfg[:-1] + ', "top_k": 1000000}', q.tobytes())).fetchall()
    assert got == want


def test_similarity_bounds_in_sql_compare_the_reals(con):
    """similarity >= :t and distance <= :r compare the REALs, as a WHERE over jitson_tanimoto does:
    T = 1/10 is a double just above 0.1, so similarity >= 0.1 keeps it where an exact comparison
    with the double's own decimal would not; the config's min_similarity compares exactly."""
    nbytes = 64
    q = np.zeros(nbytes, dtype=np.uint8)
    q[0] = 0xff  # 8 bits: rows below have c = 1, u = 10 (T = 1/10) or c = 1, u = 11
    rows = []
    for extra_bits in (2, 3, 2, 1):
        r = np.zeros(nbytes, dtype=np.uint8)
        r[0] = 1
        r[1] = (1 << extra_bits) - 1
        rows.append(r)
    recs = np.concatenate([np.stack(rows), rand_records(300, nbytes, seed=2, density=0.04)])
    ids = fill(con, "fps", recs)
    plain(con, ids, recs)
    assert float(Fraction(1, 10)) > Fraction(1, 10)
    for op, t in ((">=", 0.1), (">", 0.1), (">=", 0.09), (">=", 1 / 9), (">", 0.0), (">=", 1), (">", 1),
                  (">=", 2), (">=", -1)):
        want = by_order_by(con, q, where=f"WHERE s {op} {t!r}")
        assert search(con, q, extra=f"AND similarity {op} ?", args=(t,)) == want, (op, t)
        assert search(con, q, extra=f"AND similarity {op} ? AND k = 3", args=(t,)) == want[:3]
    assert {i for i, _, _ in by_order_by(con, q, where="WHERE s >= 0.1")} >= {1, 3}
    for op, r in (("<=", 0.9), ("<", 0.9), ("<=", 0.0), ("<", 1.0), ("<=", 1), ("<", 0), ("<=", 0.95)):
        want = by_order_by(con, q, where=f"WHERE 1.0 - s {op} {r!r}")
        assert search(con, q, extra=f"AND distance {op} ?", args=(r,)) == want, (op, r)
    # both SQL bounds and the config's: all hold
    cfg = '{"metric": "tanimoto", "min_similarity": 0.05}'
    want = by_order_by(con, q, where="WHERE s >= 0.05 AND s > 0.0909 AND 1.0 - s <= 0.95")
    assert search(con, q, cfg, "AND similarity > 0.0909 AND distance <= 0.95") == want
    # the config's threshold is the decimal as written: 0.1 keeps 1/10, 0.10000000000000000555 does not
    for threshold, keeps in (("0.1", True), ("0.10000000000000000555", False)):
        got = search(con, q, f'{{"metric": "tanimoto", "min_similarity": {threshold}}}')
        assert ((1, 0.9, 0.1) in got) is keeps
        assert got == as_reals(brute_tanimoto(ids, recs, q, None, min_similarity=threshold))


@pytest.mark.parametrize("bits", [2048, 16384])
def test_focus_configs(con, bits):
    nbytes = bits // 8
    recs = rand_records(500, nbytes, seed=bits, density=0.04)
    ids = fill(con, "fps", recs, opts=", chunk_records=128")
    plain(con, ids, recs)
    q = recs[11] ^ rand_records(1, nbytes, seed=9, density=0.02)[0]
    for focus, ranges in [('{"ranges": [[0, 1024]]}', [(0, 1024)]),
                          ('{"ranges": [[100, 300], [1500, 2048]], "bits": [7]}', [(100, 300), (1500, 2048), (7, 8)]),
                          ('{"ranges": [[64, 65]]}', [(64, 65)])]:
        mask = focus_mask(nbytes, ranges)
        for cascade in ("exact", "off"):
            cfg = f'{{"metric": "tanimoto", "focus": {focus}, "cascade": {{"mode": "{cascade}"}}}}'
            want = as_reals(brute_tanimoto(ids, recs, q, 20, mask=mask))
            assert search(con, q, cfg, "AND k = 20") == want
            assert by_order_by(con, q, 20, config=cfg) == want
            cfg_t = cfg[:-1] + ', "min_similarity": 0.3}'
            assert search(con, q, cfg_t) == \
                as_reals(brute_tanimoto(ids, recs, q, None, mask=mask, min_similarity="0.3"))


def test_ties_break_by_rowid_including_negative_ids(con):
    base = np.zeros(16, dtype=np.uint8)
    base[0] = 0b11
    recs = np.stack([base] * 6)
    recs[3, 0] = 0b1  # T = 1/2
    recs[4] = 0       # T = 0
    ids = [5, -7, 3, 9, -1, 0]
    fill(con, "fps", recs, ids=ids)
    got = search(con, base, extra="AND k = 6")
    assert got == [(-7, 0.0, 1.0), (0, 0.0, 1.0), (3, 0.0, 1.0), (5, 0.0, 1.0), (9, 0.5, 0.5), (-1, 1.0, 0.0)]
    assert search(con, base, extra="AND k = 2") == got[:2]
    # the all-zero query: T = 1 for the all-zero row (empty union), 0 for every other
    assert search(con, np.zeros(16, dtype=np.uint8), extra="AND k = 2") == [(-1, 0.0, 1.0), (-7, 1.0, 0.0)]


def test_order_by_columns_filters_and_layouts(con):
    recs = rand_records(700, 256, seed=4, density=0.04)
    ids = fill(con, "fps", recs, opts=", chunk_records=64, block_records=64")
    q = recs[3]
    want = as_reals(brute_tanimoto(ids, recs, q, 10))
    for order in ("", "ORDER BY similarity DESC", "ORDER BY similarity DESC, rowid", "ORDER BY distance",
                  "ORDER BY distance, rowid"):
        sql = f"SELECT rowid, distance, similarity FROM fps WHERE fp MATCH ? AND config = ? AND k = 10 {order}"
        assert con.execute(sql, (q.tobytes(), TANIMOTO)).fetchall() == want, order
        plan = " ".join(r[-1] for r in con.execute("EXPLAIN QUERY PLAN " + sql, (q.tobytes(), TANIMOTO)))
        assert "ORDER BY" not in plan, order  # consumed: no sorter
    # fp comes along; the blocked copy is never read by a Tanimoto (row) kernel, and is exact anyway
    assert con.execute("SELECT fp FROM fps WHERE fp MATCH ? AND config = ? AND k = 1",
                       (q.tobytes(), TANIMOTO)).fetchone() == (q.tobytes(),)
    # filtered: rowid IN (...) restricts the candidates exactly
    for chosen in ([5, 600, 17], list(range(1, 700, 3))):
        sub = recs[[i - 1 for i in chosen]]
        got = search(con, q, extra=f"AND k = 10 AND rowid IN ({','.join(map(str, chosen))})")
        assert got == as_reals(brute_tanimoto(chosen, sub, q, 10))
    # Hamming searches have no similarity: NULL, and ORDER BY similarity DESC, rowid is rowid order
    ham = con.execute("SELECT rowid, distance, similarity FROM fps WHERE fp MATCH ? AND k = 5 "
                      "ORDER BY similarity DESC, rowid", (q.tobytes(),)).fetchall()
    top = con.execute("SELECT rowid, distance FROM fps WHERE fp MATCH ? AND k = 5", (q.tobytes(),)).fetchall()
    assert ham == sorted((i, d, None) for i, d in top)
    # escaped spellings of the metric (and of its key) are the same metric, as for the strict parser
    for cfg in ('{"metric": "tanim\\u006fto"}', '{"m\\u0065tric": "tanimoto"}', '{"metric": "tanimoto\\/"}'):
        if cfg.endswith('\\/"}'):
            with pytest.raises(sqlite3.OperationalError, match="/metric: unknown value"):
                search(con, q, cfg, "AND k = 3")
            continue
        got = search(con, q, cfg, "AND distance <= 0.9")
        assert got == [r for r in as_reals(brute_tanimoto(ids, recs, q)) if r[1] <= 0.9]


def test_limit_form(con):
    recs = rand_records(300, 64, seed=7, density=0.04)
    ids = fill(con, "fps", recs)
    q = recs[0]
    want = as_reals(brute_tanimoto(ids, recs, q, 10))
    sql = ("SELECT rowid, distance, similarity FROM fps WHERE fp MATCH ? AND config = ? "
           "ORDER BY similarity DESC LIMIT 5")
    if sqlite3.sqlite_version_info >= (3, 41, 0):
        assert con.execute(sql, (q.tobytes(), TANIMOTO)).fetchall() == want[:5]
    else:
        with pytest.raises(sqlite3.OperationalError, match="fp MATCH needs k = N, a LIMIT"):
            con.execute(sql, (q.tobytes(), TANIMOTO)).fetchall()
    got = search(con, q, extra="AND k = 10 LIMIT 3 OFFSET 2")
    assert got == want[2:5]


def test_jitson_topk_function(con):
    recs = tie_heavy(2500, 256, seed=3)
    con.execute('CREATE TABLE "my fps"(id INTEGER PRIMARY KEY, "the fp" BLOB, ext INTEGER)')
    con.executemany('INSERT INTO "my fps" VALUES (?, ?, ?)',
                    [(i + 1, r.tobytes(), 1000 - i) for i, r in enumerate(recs)])
    ids = list(range(1, len(recs) + 1))
    q = recs[17]
    cfg = '{"metric": "tanimoto", "top_k": 12}'
    got = con.execute("SELECT id, distance, similarity FROM jitson_topk(?, ?, 'my fps', 'the fp')",
                      (cfg, q.tobytes())).fetchall()
    assert got == as_reals(brute_tanimoto(ids, recs, q, 12))
    # SELECT * is unchanged (similarity is hidden); ORDER BY similarity DESC, id is consumed
    star = con.execute("SELECT * FROM jitson_topk(?, ?, 'my fps', 'the fp')", (cfg, q.tobytes())).fetchall()
    assert star == [(i, d) for i, d, _ in got]
    sql = ("SELECT id, distance, similarity FROM jitson_topk(?, ?, 'my fps', 'the fp') "
           "ORDER BY similarity DESC, id")
    assert con.execute(sql, (cfg, q.tobytes())).fetchall() == got
    assert "ORDER BY" not in " ".join(r[-1] for r in con.execute("EXPLAIN QUERY PLAN " + sql, (cfg, q.tobytes())))
    # focus and min_similarity, an id column
    cfg = '{"metric": "tanimoto", "focus": {"ranges": [[0, 512]]}, "min_similarity": 0.5, "top_k": 1000}'
    got = con.execute("SELECT id, distance, similarity FROM jitson_topk(?, ?, 'my fps', 'the fp', 'ext')",
                      (cfg, q.tobytes())).fetchall()
    assert got == as_reals(brute_tanimoto([1000 - i for i in range(len(recs))], recs, q, 1000,
                                          mask=focus_mask(256, [(0, 512)]), min_similarity="0.5"))
    # a Hamming config: similarity NULL, and similarity DESC, id is id order
    ham = con.execute("SELECT id, distance, similarity FROM jitson_topk('{}', ?, 'my fps', 'the fp') "
                      "ORDER BY similarity DESC, id", (q.tobytes(),)).fetchall()
    assert [i for i, _, _ in ham] == sorted(i for i, _, _ in ham) and {s for _, _, s in ham} == {None}
    with pytest.raises(sqlite3.OperationalError, match="/max_distance: applies only to metric"):
        con.execute("SELECT * FROM jitson_topk('{\"metric\": \"tanimoto\", \"max_distance\": 3}', ?, "
                    "'my fps', 'the fp')", (q.tobytes(),)).fetchall()


# ---- bad input ----

@pytest.fixture
def fps(con):
    con.execute("CREATE VIRTUAL TABLE fps USING jitson0(bits=128, chunk_records=8)")
    recs = rand_records(20, 16, seed=1, density=0.1)
    con.executemany("INSERT INTO fps(rowid, fp) VALUES (?, ?)", [(i + 1, r.tobytes()) for i, r in enumerate(recs)])
    return con


@pytest.mark.parametrize("config,pointer", [
    ('{"metric": "tanimoto", "min_similarity": 1.5}', "/min_similarity: value 1.5 is out of range"),
    ('{"metric": "tanimoto", "min_similarity": -0.5}', "/min_similarity"),
    ('{"metric": "tanimoto", "min_similarity": 1e-40}', "/min_similarity: value 1e-40 has 40 decimal places"),
    ('{"metric": "tanimoto", "max_distance": 3}', "/max_distance: applies only to metric \"hamming\""),
    ('{"metric": "tanimoto", "cascade": {"mode": "statistical"}}', "/cascade/mode"),
    ('{"metric": "tanimoto", "focus": {"ranges": [[0, 999]]}}', "/focus/ranges/0: end 999 exceeds record_bits 128"),
    ('{"metric": "jaccard"}', "/metric: unknown value \"jaccard\""),
    ('{"metric": "tanimoto", "min_similarity": }', "jitson config"),
    ('{"min_similarity": 0.5}', "/min_similarity: applies only to metric \"tanimoto\""),
])
def test_malformed_tanimoto_config_names_the_pointer(fps, config, pointer):
    for extra in ("AND k = 3", "AND similarity >= 0.5"):
        with pytest.raises(sqlite3.OperationalError) as e:
            fps.execute(f"SELECT rowid FROM fps WHERE fp MATCH ? AND config = ? {extra}",
                        (bytes(16), config)).fetchall()
        assert pointer in str(e.value)


@pytest.mark.parametrize("sql,message", [
    ("SELECT rowid FROM fps WHERE fp MATCH ? AND k = 3 AND similarity >= 0.5",
     "similarity >= applies to metric \"tanimoto\""),
    ("SELECT rowid FROM fps WHERE fp MATCH ? AND config = '{\"metric\": \"tanimoto\"}' AND similarity > 'x'",
     "similarity > needs a number"),
    ("SELECT rowid FROM fps WHERE fp MATCH ? AND config = '{\"metric\": \"tanimoto\"}' AND distance <= 'x'",
     "distance <= needs a number"),
    ("SELECT rowid FROM fps WHERE fp MATCH ? AND config = '{\"metric\": \"tanimoto\"}'",
     "fp MATCH needs k = N, a LIMIT, distance <= r or similarity >= t"),
])
def test_bad_tanimoto_search_arguments(fps, sql, message):
    with pytest.raises(sqlite3.OperationalError) as e:
        fps.execute(sql, (bytes(16),)).fetchall()
    assert message in str(e.value)


def test_similarity_is_not_a_primary_key_name(con):
    with pytest.raises(sqlite3.OperationalError, match="a plain column name other than fp, distance, k, "
                       "config and similarity"):
        con.execute("CREATE VIRTUAL TABLE fps USING jitson0(bits=64, primary_key=similarity)")
    con.execute("CREATE VIRTUAL TABLE fps USING jitson0(bits=64, primary_key=id)")
    con.execute("INSERT INTO fps(id, fp) VALUES (10, x'0300000000000000'), (11, x'0100000000000000')")
    assert con.execute("SELECT * FROM fps ORDER BY id").fetchall() == [
        (b"\x03" + bytes(7), 10), (b"\x01" + bytes(7), 11)]
    assert con.execute("SELECT id, similarity FROM fps WHERE fp MATCH x'0300000000000000' AND config = ? "
                       "AND k = 5 ORDER BY similarity DESC, id", (TANIMOTO,)).fetchall() == [(10, 1.0), (11, 0.5)]


def test_tanimoto_query_of_the_wrong_length(fps):
    for query, message in ((bytes(15), "the query is a BLOB of 15 bytes"), ("text", "the query is not a BLOB")):
        with pytest.raises(sqlite3.OperationalError, match=message):
            fps.execute("SELECT rowid FROM fps WHERE fp MATCH ? AND config = ? AND k = 3",
                        (query, TANIMOTO)).fetchall()
    assert fps.execute("SELECT count(*) FROM fps WHERE fp MATCH NULL AND config = ? AND k = 3",
                       (TANIMOTO,)).fetchone() == (0,)
    # a SQL bound nothing can pass is no rows, as for distance < 0
    assert fps.execute("SELECT count(*) FROM fps WHERE fp MATCH ? AND config = ? AND similarity > 1",
                       (bytes(16), TANIMOTO)).fetchone() == (0,)
    assert fps.execute("SELECT count(*) FROM fps WHERE fp MATCH ? AND config = ? AND distance < 0",
                       (bytes(16), TANIMOTO)).fetchone() == (0,)


# ---- transactions ----

def test_transactions_and_rollback(ext, tmp_path):
    """Tanimoto searches see what Hamming ones see: uncommitted rows inside a transaction, the old
    rows after ROLLBACK and ROLLBACK TO, the committed ones after reopening."""
    path = str(tmp_path / "t.db")
    con = open_db(ext, path)
    con.execute("PRAGMA synchronous = OFF")
    con.execute("CREATE VIRTUAL TABLE fps USING jitson0(bits=512, chunk_records=16, block_records=8)")
    con.execute("CREATE TABLE ref(id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
    rng = np.random.default_rng(5)

    def rec():
        return np.packbits(rng.random(512) < 0.03, bitorder="little").tobytes()

    def check():
        q = rec()
        for k in (1, 7, 40):
            want = con.execute("SELECT id, 1.0 - s, s FROM (SELECT id, jitson_tanimoto(v, ?1) s FROM ref) "
                               "ORDER BY s DESC, id LIMIT ?2", (q, k)).fetchall()
            got = con.execute("SELECT rowid, distance, similarity FROM fps WHERE fp MATCH ? AND config = ? "
                              "AND k = ?", (q, TANIMOTO, k)).fetchall()
            assert got == want
        want = con.execute("SELECT id, 1.0 - s, s FROM (SELECT id, jitson_tanimoto(v, ?1) s FROM ref) "
                           "WHERE s >= 0.1 ORDER BY s DESC, id", (q,)).fetchall()
        got = con.execute("SELECT rowid, distance, similarity FROM fps WHERE fp MATCH ? AND config = ?",
                          (q, '{"metric": "tanimoto", "min_similarity": 0.1}')).fetchall()
        assert got == want

    def write(n):
        for _ in range(n):
            rid, v = int(rng.integers(-20, 200)), rec()
            con.execute("INSERT OR REPLACE INTO fps(rowid, fp) VALUES (?, ?)", (rid, v))
            con.execute("INSERT OR REPLACE INTO ref(id, v) VALUES (?, ?)", (rid, v))
        ids = [i for (i,) in con.execute("SELECT id FROM ref")]
        for victim in rng.choice(ids, size=min(5, len(ids)), replace=False).tolist():
            con.execute("DELETE FROM fps WHERE rowid = ?", (victim,))
            con.execute("DELETE FROM ref WHERE id = ?", (victim,))

    write(60)
    check()
    for outcome in ("COMMIT", "ROLLBACK", "COMMIT", "ROLLBACK"):
        con.execute("BEGIN")
        write(40)
        check()
        con.execute("SAVEPOINT a")
        write(20)
        check()
        con.execute("ROLLBACK TO a")
        check()
        con.execute("RELEASE a")
        con.execute(outcome)
        check()
    con.close()
    con = open_db(ext, path)
    check()
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()
