"""Tanimoto similarity in a real server (extension version 0.2): jitson_tanimoto,
jitson_jaccard_distance and <%>, jitson_topk_tanimoto and jitson_topk_tanimoto_agg against a
brute force (bit_count in SQL for the counts, exact fractions in Python for the order and the
thresholds) on random and tie-heavy data, thresholds, focus masks, the scan's forms (TOAST, in
place, SPI, ctid ids, bytea), snapshots, cancellation, bad input, pgvector's <%>, and
ALTER EXTENSION jitson UPDATE from 0.1."""
import json
import os
from fractions import Fraction

import numpy as np
import psycopg
import pytest

from conftest import check_cancellation
from test_jitson import bits_text

NBITS = 2048


def sparse_bits(rng, n, nbits, density):
    return (rng.random((n, nbits)) < density).astype(np.uint8)


def hex_of(row):
    return "\\x" + np.packbits(row).tobytes().hex()


def load(conn, name, vals, kind="bit", nbits=None, storage=None, nulls=()):
    """id bigint, v bit(nbits) or bytea, tag int: row i + 1 holds vals[i]; ids in nulls hold NULL."""
    nbits = nbits or vals.shape[1]
    coltype = f"bit({nbits})" if kind == "bit" else "bytea"
    conn.execute(f"DROP TABLE IF EXISTS {name} CASCADE")
    conn.execute(f"CREATE TABLE {name} (id bigint, v {coltype}, tag int)")
    if storage:
        conn.execute(f"ALTER TABLE {name} ALTER v SET STORAGE {storage}")
    with conn.cursor() as cur, cur.copy(f"COPY {name} (id, v, tag) FROM STDIN") as cp:
        for i, row in enumerate(vals):
            v = None if i + 1 in nulls else (bits_text(row) if kind == "bit" else hex_of(row))
            cp.write_row((i + 1, v, i % 5))
    conn.execute(f"ANALYZE {name}")


def focus_mask(nbits, ranges=(), bits=()):
    """The focus of a config as a bit string in PostgreSQL's order: jitson bit b is string
    position 8 * (b // 8) + 7 - b % 8."""
    m = ["0"] * nbits
    chosen = [b for lo, hi in ranges for b in range(lo, hi)] + list(bits)
    for b in chosen:
        m[8 * (b // 8) + 7 - b % 8] = "1"
    return "".join(m)


def similarity(c, u):
    return 1.0 if u == 0 else c / u  # the double nearest c / u, as the extension returns it


def brute(conn, table, q, nbits, k, min_similarity=None, where="true", mask=None, kind="bit"):
    """(id, similarity, intersection, union) of the best k rows: the counts from bit_count in
    SQL, the order (similarity descending, then id) and the threshold as exact fractions."""
    v = "v" if kind == "bit" else f"('x' || encode(v, 'hex'))::bit({nbits})"
    m = "" if mask is None else f" & B'{mask}'"
    rows = conn.execute(
        f"SELECT id, bit_count({v} & %(q)s::bit({nbits}){m})::int, "
        f"bit_count(({v} | %(q)s::bit({nbits})){m})::int FROM {table} "
        f"WHERE v IS NOT NULL AND ({where.replace('%', '%%')})", {"q": q}).fetchall()
    exact = [(i, Fraction(c, u) if u else Fraction(1), c, u) for i, c, u in rows]
    if min_similarity is not None:
        exact = [r for r in exact if r[1] >= Fraction(str(min_similarity))]
    exact.sort(key=lambda r: (-r[1], r[0]))
    return [(i, similarity(c, u), c, u) for i, _, c, u in exact[:k]]


def topk(conn, config, q, table, col="v", id_col="id", filter=None, kind="bit"):
    cast = "varbit" if kind == "bit" else "bytea"
    return conn.execute(
        f"SELECT id, similarity, intersection, union_bits FROM jitson_topk_tanimoto("
        f"%s::jsonb, %s::{cast}, %s::regclass, %s, %s, %s)",
        (json.dumps(config), q, table, col, id_col, filter)).fetchall()


def agg(conn, config, q, table, where="true"):
    return conn.execute(
        f"SELECT h.id, h.similarity, h.intersection, h.union_bits FROM unnest((SELECT "
        f"jitson_topk_tanimoto_agg(v, %s::varbit, %s::jsonb, id) FROM {table} WHERE {where})) h",
        (q, json.dumps(config))).fetchall()


def perturbed(rng, row, flips):
    """A query near a stored row: flips of its set bits off and as many clear bits on."""
    q = row.copy()
    ones, zeros = np.flatnonzero(q), np.flatnonzero(q == 0)
    q[rng.choice(ones, size=min(flips, len(ones)), replace=False)] = 0
    q[rng.choice(zeros, size=flips, replace=False)] = 1
    return q


@pytest.fixture(scope="module")
def tfp(pg):
    """3,000 fingerprints of 2,048 bits at ~4 % density; every 7th row repeats the one before
    (ties), rows 100 and 200 have no bit set (union 0 against an empty query), row 300 is NULL."""
    rng = np.random.default_rng(101)
    vals = sparse_bits(rng, 3000, NBITS, 0.04)
    for i in range(7, len(vals), 7):
        vals[i] = vals[i - 1]
    vals[99] = 0
    vals[199] = 0
    with pg.connect() as c:
        load(c, "tfp", vals, nulls=(300,))
    return vals


@pytest.fixture(scope="module")
def ties(pg):
    """Tie-heavy: 1,500 rows of 64 bits with 0 to 4 bits set from the first 12, so a handful of
    fractions (0, 1/7, 1/4, 1/3, 2/5, 1/2 = 2/4, ...) are shared by hundreds of rows."""
    rng = np.random.default_rng(102)
    vals = np.zeros((1500, 64), dtype=np.uint8)
    for row in vals:
        row[rng.choice(12, size=rng.integers(0, 5), replace=False)] = 1
    with pg.connect() as c:
        load(c, "tties", vals)
    return vals


# ---- jitson_tanimoto, jitson_jaccard_distance and <%> ----------------------------------------

def test_tanimoto_equals_bit_count(conn):
    rng = np.random.default_rng(1)
    for nbits in (1, 63, 64, 100, 1024, 2048, 65536):
        for density in (0.04, 0.5):
            a, b = (bits_text(r) for r in sparse_bits(rng, 2, nbits, density))
            c = sum(x == y == "1" for x, y in zip(a, b))
            u = sum(x == "1" or y == "1" for x, y in zip(a, b))
            t = similarity(c, u)
            got = conn.execute(
                "SELECT jitson_tanimoto(%(a)s::varbit, %(b)s::varbit), jitson_jaccard_distance(%(a)s::varbit, %(b)s::varbit), "
                "%(a)s::varbit <%%> %(b)s::varbit, %(a)s::bit(" + str(nbits) + ") <%%> %(b)s::bit(" + str(nbits) + "), "
                "jitson_tanimoto(%(a)s::varbit, %(b)s::varbit, '{}')",
                {"a": a, "b": b}).fetchone()
            assert got == (t, 1.0 - t, 1.0 - t, 1.0 - t, t), (nbits, density)
    # bytea, with and without a config
    a, b = sparse_bits(rng, 2, 1024, 0.1)
    c, u = int(np.sum(a & b)), int(np.sum(a | b))
    got = conn.execute("SELECT jitson_tanimoto(%(a)s::bytea, %(b)s::bytea), jitson_tanimoto(%(a)s::bytea, %(b)s::bytea, '{}'), "
                       "jitson_jaccard_distance(%(a)s::bytea, %(b)s::bytea), %(a)s::bytea <%%> %(b)s::bytea",
                       {"a": hex_of(a), "b": hex_of(b)}).fetchone()
    assert got == (c / u, c / u, 1 - c / u, 1 - c / u)


def test_tanimoto_of_empty_values_is_one(conn):
    """No bit set in either value (union 0): the same set, T = 1 and Jaccard distance 0, for
    zero-length values and all-zero ones, with and without a config."""
    got = conn.execute(
        "SELECT jitson_tanimoto(B'', B''), jitson_tanimoto(B'0000', B'0000'), B'000' <%> B'000', "
        "jitson_tanimoto(repeat('0', 128)::varbit, repeat('0', 128)::varbit, '{}'), "
        "jitson_tanimoto(''::bytea, ''::bytea), jitson_jaccard_distance('\\x0000'::bytea, '\\x0000'::bytea), "
        "jitson_tanimoto(B'0000', B'0100'), jitson_tanimoto(B'0110', B'0100')").fetchone()
    assert got == (1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.5)


def test_tanimoto_with_focus(conn):
    rng = np.random.default_rng(2)
    for ranges, bits in (([[3, 77], [512, 1000]], []), ([[0, 8]], [9, 100, 1023]), ([], [5])):
        focus = {}
        if ranges:
            focus["ranges"] = ranges
        if bits:
            focus["bits"] = bits
        mask = focus_mask(1024, ranges, bits)
        for _ in range(5):
            a, b = (bits_text(r) for r in sparse_bits(rng, 2, 1024, 0.3))
            c = sum(x == y == "1" and m == "1" for x, y, m in zip(a, b, mask))
            u = sum((x == "1" or y == "1") and m == "1" for x, y, m in zip(a, b, mask))
            cfg = json.dumps({"focus": focus, "min_similarity": 0.99})  # the bound is ignored
            got = conn.execute("SELECT jitson_tanimoto(%s::varbit, %s::varbit, %s::jsonb), "
                               "jitson_tanimoto(%s::bytea, %s::bytea, %s::jsonb)",
                               (a, b, cfg, hex_of(np.array([int(x) for x in a], dtype=np.uint8)),
                                hex_of(np.array([int(x) for x in b], dtype=np.uint8)), cfg)).fetchone()
            assert got == (similarity(c, u), similarity(c, u)), (focus, c, u)


def test_tanimoto_bad_input(conn):
    assert conn.execute("SELECT jitson_tanimoto(NULL::varbit, B'1'), jitson_tanimoto(B'1', B'1', NULL), "
                        "NULL::varbit <%> B'1', jitson_jaccard_distance(NULL::bytea, '\\x00')").fetchone() == (None,) * 4
    with pytest.raises(psycopg.errors.StringDataLengthMismatch, match="jitson_tanimoto: .*1024 and 512 bits"):
        conn.execute("SELECT jitson_tanimoto(repeat('1', 1024)::varbit, repeat('1', 512)::varbit)")
    with pytest.raises(psycopg.errors.StringDataLengthMismatch, match="8 and 7 bytes"):
        conn.execute("SELECT jitson_tanimoto('\\x0102030405060708'::bytea, '\\x01020304050607'::bytea, '{}')")
    with pytest.raises(psycopg.errors.StringDataLengthMismatch, match="jitson_jaccard_distance: .*3 and 4 bits"):
        conn.execute("SELECT B'101'::varbit <%> B'1010'::varbit")
    for cfg, frag in (({"min_similarity": 1.5}, "/min_similarity"), ({"min_similarity": "0.5"}, "/min_similarity"),
                      ({"focus": {"ranges": [[0, 2000]]}}, "/focus/ranges/0"), ({"focus": {"bits": []}}, "/focus"),
                      ({"metric": "cosine"}, "/metric"), ({"max_distance": 3}, "/max_distance")):
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=frag):
            conn.execute("SELECT jitson_tanimoto(repeat('1', 1024)::varbit, repeat('1', 1024)::varbit, %s::jsonb)",
                         (json.dumps(cfg),))
    # a Hamming config names the Hamming function, and the other way round
    with pytest.raises(psycopg.errors.InvalidParameterValue,
                       match=r'jitson_tanimoto: /metric: the config\'s metric is "hamming".*jitson_distance'):
        conn.execute("SELECT jitson_tanimoto(B'1010', B'1000', '{\"metric\": \"hamming\"}')")
    with pytest.raises(psycopg.errors.InvalidParameterValue,
                       match=r'jitson_distance: /metric: the config\'s metric is "tanimoto".*jitson_tanimoto'):
        conn.execute("SELECT jitson_distance(B'1010', B'1000', '{\"metric\": \"tanimoto\"}')")
    # the bound a distance function drops is checked first, for either metric
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="/max_distance"):
        conn.execute("SELECT jitson_distance(B'1010', B'1000', '{\"max_distance\": -1}')")
    assert conn.execute("SELECT jitson_distance(B'1010', B'1000', '{\"max_distance\": 0}'), "
                        "jitson_tanimoto(B'1010', B'1000', '{\"min_similarity\": 1}')").fetchone() == (1, 0.5)


# ---- jitson_topk_tanimoto ------------------------------------------------------------------

def test_topk_random_against_brute_force(conn, tfp):
    rng = np.random.default_rng(3)
    queries = [bits_text(sparse_bits(rng, 1, NBITS, 0.04)[0])]
    queries += [bits_text(perturbed(rng, tfp[i], 8)) for i in (10, 500, 2222)]
    queries.append(bits_text(tfp[41]))  # equal to rows 42 and 43 (a duplicate pair)
    for q in queries:
        for k in (1, 10, 100):
            assert topk(conn, {"top_k": k}, q, "tfp") == brute(conn, "tfp", q, NBITS, k), k
    got = topk(conn, {"top_k": 3}, bits_text(tfp[41]), "tfp")
    assert [r[:2] for r in got[:2]] == [(42, 1.0), (43, 1.0)]


@pytest.mark.parametrize("threshold", [0.7, 0, 1, None])
def test_topk_thresholds(conn, tfp, ties, threshold):
    rng = np.random.default_rng(4)
    cases = [("tfp", NBITS, bits_text(perturbed(rng, tfp[i], 4))) for i in (5, 1500)]
    cases.append(("tfp", NBITS, bits_text(tfp[20])))
    cases.append(("tfp", NBITS, "0" * NBITS))  # T = 1 only for the empty rows 100 and 200
    cases += [("tties", 64, bits_text(ties[i])) for i in (3, 17, 400)]
    cases.append(("tties", 64, "0" * 64))
    for table, nbits, q in cases:
        cfg = {"top_k": 5000}
        if threshold is not None:
            cfg["min_similarity"] = threshold
        want = brute(conn, table, q, nbits, 5000, min_similarity=threshold)
        assert topk(conn, cfg, q, table) == want, (table, threshold)
        if threshold is None or threshold == 0:
            assert len(want) == conn.execute(f"SELECT count(v) FROM {table}").fetchone()[0]
        if threshold == 1:
            assert all(s == 1.0 for _, s, _, _ in want)


def test_topk_tie_heavy_orders_by_id(conn, ties):
    for i in (0, 3, 17, 400, 999):
        q = bits_text(ties[i])
        for k in (1, 7, 50, 400):
            got = topk(conn, {"top_k": k}, q, "tties")
            assert got == brute(conn, "tties", q, 64, k), (i, k)
    # equal fractions are one similarity: 1/2 and 2/4 tie, and the lower id comes first
    q = "1100" + "0" * 60
    conn.execute("DROP TABLE IF EXISTS thalf")
    conn.execute("CREATE TABLE thalf (id bigint, v bit(64))")
    conn.execute("INSERT INTO thalf VALUES (5, %s), (3, %s), (4, %s), (9, %s)",
                 ("1110" + "0" * 60, "1000" + "0" * 60, "1111" + "0" * 60, "0000" + "0" * 60))
    got = topk(conn, {"top_k": 10}, q, "thalf")
    assert got == [(5, 2 / 3, 2, 3), (3, 0.5, 1, 2), (4, 0.5, 2, 4), (9, 0.0, 0, 2)]


def test_topk_threshold_is_the_exact_decimal(conn):
    """min_similarity is the decimal as written: 0.7 keeps 7/10 exactly, and 0.70, 7e-1 and
    0.7000...0 mean the same threshold; 0.6666666666666667 is above 2/3 and 0.6666666666666666
    below it, although 2/3's float8 prints as the latter."""
    conn.execute("DROP TABLE IF EXISTS tdec")
    conn.execute("CREATE TABLE tdec (id bigint, v bit(128))")
    q = "1" * 10 + "0" * 118
    rows = {1: "1" * 7 + "0" * 121,                 # 7/10
            2: "1" * 10 + "0" * 118,                # 1
            3: "1" * 16 + "0" * 112,                # 10/16
            4: "1" * 7 + "0" * 3 + "0" * 118,       # 7/10 again
            5: "1" * 10 + "1" * 13 + "0" * 105,     # 10/23 = 0.43
            6: "1" * 10 + "1" * 5 + "0" * 113}      # 10/15 = 0.667
    for i, v in rows.items():
        conn.execute("INSERT INTO tdec VALUES (%s, %s)", (i, v))
    for literal in ("0.7", "0.70", "7e-1", "0.700000000000000000000000000000000"):
        got = conn.execute("SELECT id, similarity FROM jitson_topk_tanimoto("
                           f"'{{\"top_k\": 100, \"min_similarity\": {literal}}}', %s::varbit, 'tdec', 'v', 'id')",
                           (q,)).fetchall()
        assert got == [(2, 1.0), (1, 0.7), (4, 0.7)], literal
    got = conn.execute("SELECT id FROM jitson_topk_tanimoto('{\"top_k\": 100, \"min_similarity\": 0.6666666666666667}', "
                       "%s::varbit, 'tdec', 'v', 'id')", (q,)).fetchall()
    assert got == [(2,), (1,), (4,)]  # 2/3 is below the decimal 0.6666666666666667
    got = conn.execute("SELECT id FROM jitson_topk_tanimoto('{\"top_k\": 100, \"min_similarity\": 0.6666666666666666}', "
                       "%s::varbit, 'tdec', 'v', 'id')", (q,)).fetchall()
    assert got == [(2,), (1,), (4,), (6,)]


def test_topk_with_focus(conn, tfp):
    rng = np.random.default_rng(5)
    for focus_ranges, focus_bits in (([[3, 700]], []), ([[1024, 2048]], [0, 1, 2, 999]), ([[64, 128]], [])):
        focus = {"ranges": focus_ranges}
        if focus_bits:
            focus["bits"] = focus_bits
        mask = focus_mask(NBITS, focus_ranges, focus_bits)
        q = bits_text(perturbed(rng, tfp[int(rng.integers(0, 3000))], 6))
        for extra in ({}, {"min_similarity": 0.25}, {"cascade": {"mode": "off"}}, {"cascade": {"mode": "exact", "stages": [1, 3]}}):
            cfg = {"top_k": 40, "focus": focus, **extra}
            want = brute(conn, "tfp", q, NBITS, 40, min_similarity=extra.get("min_similarity"), mask=mask)
            assert topk(conn, cfg, q, "tfp") == want, cfg


def test_topk_forms_filter_ctid_bytea_spi(conn, tfp):
    rng = np.random.default_rng(6)
    q = bits_text(perturbed(rng, tfp[77], 5))
    for where in ("tag = 3", "id % 3 = 0 AND id > 100", "false"):
        assert topk(conn, {"top_k": 20}, q, "tfp", filter=where) == brute(conn, "tfp", q, NBITS, 20, where=where)
    # ctid ids
    res = topk(conn, {"top_k": 5}, q, "tfp", id_col=None)
    ids = [conn.execute("SELECT id FROM tfp WHERE ctid = format('(%%s,%%s)', %s::bigint >> 16, %s::bigint & 65535)::tid",
                        (r[0], r[0])).fetchone()[0] for r in res]
    assert [(i,) + r[1:] for i, r in zip(ids, res)] == brute(conn, "tfp", q, NBITS, 5)
    # bytea, and a view (through SPI)
    load(conn, "tfpb", tfp, kind="bytea")
    qb = hex_of(np.array([int(x) for x in q], dtype=np.uint8))
    want = brute(conn, "tfp", q, NBITS, 15)
    assert topk(conn, {"top_k": 15}, qb, "tfpb", kind="bytea") == want
    assert brute(conn, "tfpb", q, NBITS, 15, kind="bytea") == want
    conn.execute("CREATE OR REPLACE VIEW tfp_view AS SELECT id AS vid, v AS vv FROM tfp WHERE tag <> 2")
    assert topk(conn, {"top_k": 15}, q, "tfp_view", col="vv", id_col="vid") == \
        brute(conn, "tfp", q, NBITS, 15, where="tag <> 2")


def test_topk_toast_and_in_place_pages(conn):
    """16,384-bit values stored out of line (EXTERNAL: in TOAST, assembled by the bulk pass),
    compressed in line (the default storage: sparse fingerprints compress) and PLAIN (read in
    place in the pinned pages); the same hits as brute force."""
    rng = np.random.default_rng(7)
    vals = sparse_bits(rng, 500, 16384, 0.04)
    vals[11] = vals[10]
    load(conn, "tbig", vals, storage="EXTERNAL")
    assert conn.execute("SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE relname = 'tbig'").fetchone()[0] > 0
    load(conn, "tbigc", vals)
    assert conn.execute("SELECT max(pg_column_size(v)) FROM tbigc").fetchone()[0] < 2048
    load(conn, "tbigp", vals, storage="PLAIN")
    for q in (bits_text(perturbed(rng, vals[10], 30)), bits_text(sparse_bits(rng, 1, 16384, 0.04)[0])):
        want = brute(conn, "tbig", q, 16384, 12)
        for table in ("tbig", "tbigc", "tbigp"):
            assert topk(conn, {"top_k": 12}, q, table) == want, table
        assert topk(conn, {"top_k": 500, "min_similarity": 0.3}, q, "tbig") == \
            brute(conn, "tbig", q, 16384, 500, min_similarity=0.3)


def test_aggregate_serial_parallel_group_by(conn, tfp):
    rng = np.random.default_rng(8)
    q = bits_text(perturbed(rng, tfp[1234], 6))
    want = brute(conn, "tfp", q, NBITS, 10)
    conn.execute("SET max_parallel_workers_per_gather = 0")
    assert agg(conn, {"top_k": 10}, q, "tfp") == want
    for s in ("max_parallel_workers_per_gather = 2", "parallel_setup_cost = 0", "parallel_tuple_cost = 0",
              "min_parallel_table_scan_size = 0", "parallel_leader_participation = off"):
        conn.execute(f"SET {s}")
    sql = "SELECT jitson_topk_tanimoto_agg(v, %s::varbit, '{\"top_k\": 10}', id) FROM tfp"
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (ANALYZE, VERBOSE) " + sql, (q,)))
    assert "Partial Aggregate" in plan and "Workers Launched: 2" in plan, plan
    got = conn.execute(f"SELECT h.id, h.similarity, h.intersection, h.union_bits FROM unnest(({sql})) h", (q,)).fetchall()
    assert got == want
    assert agg(conn, {"top_k": 50, "min_similarity": 0.1}, q, "tfp") == \
        brute(conn, "tfp", q, NBITS, 50, min_similarity=0.1)
    rows = conn.execute("SELECT tag, jitson_topk_tanimoto_agg(v, %s::varbit, '{\"top_k\": 3}', id)::text FROM tfp "
                        "WHERE id > 50 GROUP BY tag ORDER BY tag", (q,)).fetchall()
    assert len(rows) == 5
    for tag, hits in rows:
        got = conn.execute("SELECT h.id, h.similarity, h.intersection, h.union_bits "
                           "FROM unnest(%s::jitson_tanimoto_hit[]) h", (hits,)).fetchall()
        assert got == brute(conn, "tfp", q, NBITS, 3, where=f"id > 50 AND tag = {tag}")
    # no rows: an empty array
    assert conn.execute("SELECT cardinality(jitson_topk_tanimoto_agg(v, %s::varbit, '{}', id)) FROM tfp WHERE false",
                        (q,)).fetchone()[0] == 0


# ---- the metric decides the function -------------------------------------------------------

METRIC_ERRORS = [
    # (SQL, message fragment): a config of the other metric names the function that takes it
    ("SELECT * FROM jitson_topk('{\"metric\": \"tanimoto\"}', %(q)s::varbit, 'tfp', 'v', 'id')",
     r'jitson_topk: /metric: the config\'s metric is "tanimoto" but jitson_topk computes Hamming distance; '
     r'give a Tanimoto config to jitson_topk_tanimoto'),
    ("SELECT * FROM jitson_topk('{\"metric\": \"tanimoto\", \"min_similarity\": 0.5}', %(q)s::varbit, 'tfp', 'v')",
     "jitson_topk_tanimoto"),
    ("SELECT * FROM jitson_topk_tanimoto('{\"metric\": \"hamming\"}', %(q)s::varbit, 'tfp', 'v', 'id')",
     r'jitson_topk_tanimoto: /metric: the config\'s metric is "hamming" but jitson_topk_tanimoto computes '
     r'Tanimoto similarity; give a Hamming config to jitson_topk'),
    ("SELECT * FROM jitson_topk_tanimoto('{\"max_distance\": 5}', %(q)s::varbit, 'tfp', 'v', 'id')",
     "/max_distance: applies only to metric \"hamming\""),
    ("SELECT * FROM jitson_topk('{\"min_similarity\": 0.5}', %(q)s::varbit, 'tfp', 'v', 'id')",
     "/min_similarity: applies only to metric \"tanimoto\""),
    ("SELECT jitson_topk_agg(v, %(q)s::varbit, '{\"metric\": \"tanimoto\"}', id) FROM tfp",
     "jitson_topk_agg: /metric: .*give a Tanimoto config to jitson_topk_tanimoto_agg"),
    ("SELECT jitson_topk_pairs(v, %(q)s::varbit, '{\"metric\": \"tanimoto\"}', id) FROM tfp",
     "give a Tanimoto config to jitson_topk_tanimoto_agg"),
    ("SELECT jitson_topk_tanimoto_agg(v, %(q)s::varbit, '{\"metric\": \"hamming\", \"top_k\": 3}', id) FROM tfp",
     "jitson_topk_tanimoto_agg: /metric: .*give a Hamming config to jitson_topk_agg"),
]


@pytest.mark.parametrize("case", METRIC_ERRORS, ids=[str(i) for i in range(len(METRIC_ERRORS))])
def test_config_of_the_other_metric(conn, tfp, case):
    sql, frag = case
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=frag):
        conn.execute(sql, {"q": "0" * NBITS})


def test_bound_hints(conn, tfp):
    with pytest.raises(psycopg.errors.InvalidParameterValue) as e:
        topk(conn, {"max_distance": 5}, "0" * NBITS, "tfp")
    assert "goes to jitson_topk." in (e.value.diag.message_hint or ""), e.value.diag.message_hint
    with pytest.raises(psycopg.errors.InvalidParameterValue) as e:
        conn.execute("SELECT * FROM jitson_topk('{\"min_similarity\": 0.5}', %s::varbit, 'tfp', 'v')", ("0" * NBITS,))
    assert "give the config to jitson_topk_tanimoto" in (e.value.diag.message_hint or "")


BAD_CALLS = [
    ({"top_k": 5, "min_similarity": 1.01}, "v", "id", psycopg.errors.InvalidParameterValue, "/min_similarity"),
    ({"top_k": 5, "min_similarity": -0.1}, "v", "id", psycopg.errors.InvalidParameterValue, "/min_similarity"),
    ({"top_k": 5, "min_similarity": "high"}, "v", "id", psycopg.errors.InvalidParameterValue, "/min_similarity"),
    ({"top_k": 5, "min_similarity": None}, "v", "id", psycopg.errors.InvalidParameterValue, "/min_similarity"),
    ({"cascade": {"mode": "statistical"}}, "v", "id", psycopg.errors.InvalidParameterValue, "/cascade/mode"),
    ({"layout": "blocked"}, "v", "id", psycopg.errors.InvalidParameterValue, "/layout"),
    ({"focus": {"ranges": [[0, 10], [5, 99999]]}}, "v", "id", psycopg.errors.InvalidParameterValue, "/focus/ranges/1"),
    ({"top_k": 0}, "v", "id", psycopg.errors.InvalidParameterValue, "/top_k"),
    ({"bogus": 1}, "v", "id", psycopg.errors.InvalidParameterValue, "/bogus"),
    ({"record_bits": 1024}, "v", "id", psycopg.errors.InvalidParameterValue, "/record_bits: 1024 does not match"),
    ([1], "v", "id", psycopg.errors.InvalidParameterValue, "must be a JSON object"),
    ({"top_k": 5}, "nosuch", "id", psycopg.errors.UndefinedColumn, 'jitson_topk_tanimoto: column "nosuch" of public.tfp does not exist'),
    ({"top_k": 5}, "tag", "id", psycopg.errors.DatatypeMismatch, 'jitson_topk_tanimoto: column "tag" of public.tfp has type integer'),
    ({"top_k": 5}, "v", "v", psycopg.errors.DatatypeMismatch, "ids must be smallint, integer or bigint"),
    ({"top_k": 5}, "ctid", "id", psycopg.errors.InvalidParameterValue, "system column"),
]


@pytest.mark.parametrize("case", BAD_CALLS, ids=[c[4][:30] for c in BAD_CALLS])
def test_bad_input_is_an_sql_error(conn, tfp, case):
    cfg, col, id_col, err, frag = case
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with pytest.raises(err) as e:
        topk(conn, cfg, "0" * NBITS, "tfp", col, id_col)
    assert frag in str(e.value), str(e.value)
    assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] == pid


def test_null_arguments_wrong_lengths_and_null_ids(conn, tfp):
    for args in ("NULL, B'1', 'tfp', 'v'", "'{}', NULL::varbit, 'tfp', 'v'", "'{}', B'1', NULL, 'v'",
                 "'{}', B'1', 'tfp', NULL"):
        with pytest.raises(psycopg.errors.NullValueNotAllowed, match="jitson_topk_tanimoto: argument .* is NULL"):
            conn.execute(f"SELECT * FROM jitson_topk_tanimoto({args})")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="the query has 0 bits"):
        conn.execute("SELECT * FROM jitson_topk_tanimoto('{}', B'', 'tfp', 'v')")
    with pytest.raises(psycopg.errors.StringDataLengthMismatch,
                       # every row is too long; the scan reads a page's tuples in memory order
                       match=r"jitson_topk_tanimoto: row \d+ of public.tfp: column \"v\" holds 2048 bits but the query has 2047"):
        conn.execute("SELECT * FROM jitson_topk_tanimoto('{}', %s::varbit, 'tfp', 'v', 'id')", ("0" * 2047,))
    with pytest.raises(psycopg.errors.StringDataLengthMismatch, match="jitson_topk_tanimoto_agg: the value of id 1 has 2048 bits"):
        conn.execute("SELECT jitson_topk_tanimoto_agg(v, %s::varbit, '{}', id) FROM tfp", ("0" * 2047,))
    with pytest.raises(psycopg.errors.NullValueNotAllowed, match="jitson_topk_tanimoto_agg: a row has a NULL id"):
        conn.execute("SELECT jitson_topk_tanimoto_agg(v, %s::varbit, '{}', NULL::bigint) FROM tfp", ("0" * NBITS,))
    conn.execute("CREATE TEMP TABLE tnullid AS SELECT NULL::bigint AS id, v FROM tfp LIMIT 3")
    with pytest.raises(psycopg.errors.NullValueNotAllowed, match='jitson_topk_tanimoto: a row of .* has a NULL id in column "id"'):
        topk(conn, {}, "0" * NBITS, "tnullid")


# ---- snapshots and cancellation ------------------------------------------------------------

def test_snapshot_isolation(pg, conn):
    rng = np.random.default_rng(9)
    vals = sparse_bits(rng, 2000, 256, 0.1)
    load(conn, "tsnap", vals)
    q = bits_text(vals[1233])  # row 1234
    with pg.connect(autocommit=False) as writer:
        # uncommitted insert of an exact match and uncommitted delete of the current best row
        writer.execute("INSERT INTO tsnap VALUES (900001, %s::bit(256), 0)", (q,))
        writer.execute("DELETE FROM tsnap WHERE id = 1234")
        res = topk(conn, {"top_k": 3}, q, "tsnap")
        assert res[0][:2] == (1234, 1.0) and 900001 not in [r[0] for r in res]
        assert res == brute(conn, "tsnap", q, 256, 3)
        assert agg(conn, {"top_k": 3}, q, "tsnap") == res
        assert topk(conn, {"top_k": 3}, q, "tsnap", filter="true") == res
        with pg.connect(autocommit=False) as rr:
            rr.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            assert topk(rr, {"top_k": 3}, q, "tsnap") == res
            writer.commit()
            assert topk(rr, {"top_k": 3}, q, "tsnap") == res
            assert topk(rr, {"top_k": 3, "min_similarity": 1}, q, "tsnap") == [res[0]]
            rr.commit()
            after = topk(rr, {"top_k": 3}, q, "tsnap")
            rr.commit()
    assert after[0][:2] == (900001, 1.0) and 1234 not in [r[0] for r in after]
    assert after == brute(conn, "tsnap", q, 256, 3)
    with pg.connect(autocommit=False) as w:
        w.execute("DELETE FROM tsnap")
        w.execute("INSERT INTO tsnap VALUES (900002, %s::bit(256), 0)", (q,))
        w.rollback()
    assert topk(conn, {"top_k": 3}, q, "tsnap") == after
    with pg.connect(autocommit=False) as me:
        me.execute("DELETE FROM tsnap WHERE id = 900001")
        assert 900001 not in [r[0] for r in topk(me, {"top_k": 3}, q, "tsnap")]
        me.rollback()


def test_statement_timeout_and_cancel(pg, conn):
    q = "01" * 32
    check_cancellation(
        pg, conn, lambda filter: topk(conn, {"top_k": 10}, q, "huge", filter=filter),
        "SELECT jitson_topk_tanimoto_agg(v, %s::varbit, '{}', id) FROM huge, generate_series(1, 3)",
        (q,))


# ---- pgvector ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def vecdb(pg):
    """A database holding pgvector and jitson side by side (pgvector's <%>(bit, bit) and ours on
    bit varying and bytea live in the same schema)."""
    with pg.connect() as c:
        available = c.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'").fetchone()[0]
        if not available:
            if os.environ.get("JITSON_PG_REQUIRE_PGVECTOR"):
                pytest.fail("PGVECTOR_SRC was given but pgvector is not installed")
            pytest.skip("pgvector is not installed (set PGVECTOR_SRC to a pgvector source tree)")
        c.execute("DROP DATABASE IF EXISTS vec")
        c.execute("CREATE DATABASE vec")
    with psycopg.connect(pg.dsn(dbname="vec"), autocommit=True) as v:
        v.execute("CREATE EXTENSION vector")
        v.execute("CREATE EXTENSION jitson")
    return pg.dsn(dbname="vec")


def test_jaccard_order_matches_pgvector(vecdb):
    rng = np.random.default_rng(10)
    with psycopg.connect(vecdb, autocommit=True) as v:
        assert v.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0] >= "0.7"
        vals = sparse_bits(rng, 4000, NBITS, 0.04)
        for i in range(5, 4000, 5):
            vals[i] = vals[i - 1]
        load(v, "vt", vals)
        ties = np.zeros((800, 64), dtype=np.uint8)
        for row in ties:
            row[rng.choice(10, size=rng.integers(1, 5), replace=False)] = 1
        load(v, "vties", ties)
        cases = [("vt", NBITS, bits_text(perturbed(rng, vals[i], 6))) for i in (3, 1000, 3999)]
        cases.append(("vt", NBITS, bits_text(sparse_bits(rng, 1, NBITS, 0.04)[0])))
        cases += [("vties", 64, bits_text(ties[i])) for i in (0, 9)]
        for table, nbits, q in cases:
            for k in (10, 100):
                pgv = v.execute(f"SELECT id, v <%%> %(q)s::bit({nbits}) FROM {table} "
                                f"ORDER BY v <%%> %(q)s::bit({nbits}), id LIMIT {k}", {"q": q}).fetchall()
                ours = v.execute(f"SELECT id, v::varbit <%%> %(q)s::varbit FROM {table} "
                                 f"ORDER BY v::varbit <%%> %(q)s::varbit, id LIMIT {k}", {"q": q}).fetchall()
                top = topk(v, {"top_k": k}, q, table)
                assert ours == pgv, (table, k)
                assert [(i, 1.0 - s) for i, s, _, _ in top] == pgv, (table, k)
                # without a tie-breaker pgvector's order among equal distances is its own: the
                # distances agree position by position
                loose = v.execute(f"SELECT v <%%> %(q)s::bit({nbits}) FROM {table} "
                                  f"ORDER BY v <%%> %(q)s::bit({nbits}) LIMIT {k}", {"q": q}).fetchall()
                assert [d for (d,) in loose] == [d for _, d in pgv]
            # threshold: T >= 0.5 is v <%> q <= 1 - 0.5 in float8 (exact for thresholds >= 0.5)
            pgv = v.execute(f"SELECT id FROM {table} WHERE v <%%> %(q)s::bit({nbits}) <= 1 - 0.5::float8 "
                            f"ORDER BY v <%%> %(q)s::bit({nbits}), id", {"q": q}).fetchall()
            assert [(i,) for i, *_ in topk(v, {"top_k": 100000, "min_similarity": 0.5}, q, table)] == pgv
        # every row: the same float8 as pgvector's jaccard_distance
        q = bits_text(perturbed(rng, vals[7], 3))
        diff = v.execute(f"SELECT count(*) FROM vt WHERE jaccard_distance(v, %(q)s::bit({NBITS})) "
                         f"IS DISTINCT FROM jitson_jaccard_distance(v, %(q)s::varbit)", {"q": q}).fetchone()[0]
        assert diff == 0
        # the documented difference: no bit set on either side is distance 1 in pgvector, 0 here
        assert v.execute("SELECT B'0000'::bit(4) <%> B'0000'::bit(4), B'0000'::varbit <%> B'0000'::varbit, "
                         "jaccard_distance(B'0100', B'0000'), jitson_jaccard_distance(B'0100', B'0000')").fetchone() == \
            (1.0, 0.0, 1.0, 1.0)


def test_operator_without_pgvector_takes_bit(conn, tfp):
    """Without pgvector, bit(n) operands coerce to our <%>(bit varying, bit varying)."""
    rng = np.random.default_rng(11)
    q = bits_text(perturbed(rng, tfp[900], 5))
    got = conn.execute(f"SELECT id, v <%%> %(q)s::bit({NBITS}) FROM tfp WHERE v IS NOT NULL "
                       f"ORDER BY v <%%> %(q)s::bit({NBITS}), id LIMIT 10", {"q": q}).fetchall()
    assert got == [(i, 1.0 - s) for i, s, _, _ in brute(conn, "tfp", q, NBITS, 10)]


# ---- versions ------------------------------------------------------------------------------

def catalog(dsn):
    """What the extension owns, described so that two databases compare: every member object,
    and the full definitions of its functions, operators, aggregates and types."""
    with psycopg.connect(dsn, autocommit=True) as c:
        members = sorted(r[0] for r in c.execute(
            "SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend d JOIN pg_extension e "
            "ON d.refobjid = e.oid AND d.refclassid = 'pg_extension'::regclass WHERE e.extname = 'jitson' "
            "AND d.deptype = 'e'"))
        functions = sorted(r[0] for r in c.execute(
            "SELECT pg_get_functiondef(p.oid) || ' ' || p.proparallel::text || p.provolatile::text || p.prorows::text "
            "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' "
            "AND p.proname LIKE 'jitson%' AND p.prokind <> 'a'"))
        aggregates = sorted(tuple(map(str, r)) for r in c.execute(
            "SELECT a.aggfnoid::regprocedure, a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggserialfn, "
            "a.aggdeserialfn, a.aggfinalmodify, p.proparallel FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid "
            "WHERE p.proname LIKE 'jitson%'"))
        operators = sorted(tuple(map(str, r)) for r in c.execute(
            "SELECT oprname, oprleft::regtype, oprright::regtype, oprresult::regtype, oprcode, oprcom::regoperator "
            "FROM pg_operator WHERE oprcode::text LIKE 'jitson%'"))
        types = sorted(tuple(map(str, r)) for r in c.execute(
            "SELECT t.typname, a.attnum, a.attname, a.atttypid::regtype FROM pg_type t "
            "JOIN pg_attribute a ON a.attrelid = t.typrelid WHERE t.typname LIKE 'jitson%' AND a.attnum > 0"))
    return members, functions, aggregates, operators, types


def test_update_from_0_1(pg):
    with pg.connect() as c:
        versions = [r[0] for r in c.execute("SELECT version FROM pg_available_extension_versions "
                                            "WHERE name = 'jitson' ORDER BY version")]
        assert versions == ["0.1", "0.2"]
        assert c.execute("SELECT default_version FROM pg_available_extensions WHERE name = 'jitson'").fetchone()[0] == "0.2"
        assert c.execute("SELECT extversion FROM pg_extension WHERE extname = 'jitson'").fetchone()[0] == "0.2"
        for db in ("jitson_fresh", "jitson_upd"):
            c.execute(f"DROP DATABASE IF EXISTS {db}")
            c.execute(f"CREATE DATABASE {db}")
    with psycopg.connect(pg.dsn(dbname="jitson_fresh"), autocommit=True) as f:
        f.execute("CREATE EXTENSION jitson")
    with psycopg.connect(pg.dsn(dbname="jitson_upd"), autocommit=True) as u:
        u.execute("CREATE EXTENSION jitson VERSION '0.1'")
        assert u.execute("SELECT count(*) FROM pg_proc WHERE proname LIKE 'jitson%tanimoto%'").fetchone()[0] == 0
        # 0.1 objects in use keep working across the update: a table, a view on jitson_topk
        u.execute("CREATE TABLE t (id bigint, v bit(64))")
        u.execute("INSERT INTO t VALUES (1, B'1100' || repeat('0', 60)::bit(60)), (2, B'1000' || repeat('0', 60)::bit(60)), "
                  "(3, repeat('0', 64)::bit(64))")
        u.execute("CREATE VIEW best AS SELECT * FROM jitson_topk('{\"top_k\": 2}', (B'1100' || repeat('0', 60)::bit(60))::varbit, 't', 'v', 'id')")
        before = u.execute("SELECT * FROM best").fetchall()
        with pytest.raises(psycopg.errors.UndefinedFunction):
            u.execute("SELECT jitson_tanimoto(B'1', B'1')")
        u.execute("ALTER EXTENSION jitson UPDATE")
        assert u.execute("SELECT extversion FROM pg_extension WHERE extname = 'jitson'").fetchone()[0] == "0.2"
        assert u.execute("SELECT * FROM best").fetchall() == before == [(1, 0), (2, 1)]
        got = u.execute("SELECT id, similarity, intersection, union_bits FROM jitson_topk_tanimoto("
                        "'{\"top_k\": 5}', (B'1100' || repeat('0', 60)::bit(60))::varbit, 't', 'v', 'id')").fetchall()
        assert got == [(1, 1.0, 2, 2), (2, 0.5, 1, 2), (3, 0.0, 0, 2)]
        assert u.execute("SELECT jitson_tanimoto(B'1100', B'1000'), B'1100' <%> B'1000'").fetchone() == (0.5, 0.5)
        notices = []
        u.add_notice_handler(lambda d: notices.append(d.message_primary))
        u.execute("ALTER EXTENSION jitson UPDATE TO '0.2'")
        assert any("already" in n for n in notices), notices
    fresh = catalog(pg.dsn(dbname="jitson_fresh"))
    updated = catalog(pg.dsn(dbname="jitson_upd"))
    for name, a, b in zip(("members", "functions", "aggregates", "operators", "types"), fresh, updated):
        assert a == b, name
    assert any("jitson_topk_tanimoto_agg" in m for m in fresh[0]) and any("<%>" in m for m in fresh[0])
    with pg.connect() as c:
        for db in ("jitson_fresh", "jitson_upd"):
            c.execute(f"DROP DATABASE {db}")
