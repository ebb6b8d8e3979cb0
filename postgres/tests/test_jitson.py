"""The jitson extension in a real server: exactness against brute-force SQL, sizes, the
aggregate (parallel workers, GROUP BY), snapshots, cancellation, bad input, privileges, memory
across 10,000 queries, LLVM loaded only when asked for."""
import json

import numpy as np
import psycopg
import pytest

from conftest import check_cancellation, wait_for


def bits_text(row):
    return "".join("1" if b else "0" for b in row)


def random_bits(rng, n, nbits):
    return rng.integers(0, 2, size=(n, nbits), dtype=np.uint8)


def make_table(conn, name, nbits, n, seed, dup_every=7, kind="bit"):
    """id bigint, v bit(nbits) (or bytea): random rows, every dup_every-th row a copy of the
    previous one so distances tie and the order by id is tested."""
    rng = np.random.default_rng(seed)
    vals = random_bits(rng, n, nbits)
    for i in range(dup_every, n, dup_every):
        vals[i] = vals[i - 1]
    coltype = f"bit({nbits})" if kind == "bit" else "bytea"
    conn.execute(f"DROP TABLE IF EXISTS {name}")
    conn.execute(f"CREATE TABLE {name} (id bigint, v {coltype}, tag int)")
    with conn.cursor() as cur:
        with cur.copy(f"COPY {name} (id, v, tag) FROM STDIN") as cp:
            for i in range(n):
                if kind == "bit":
                    v = bits_text(vals[i])
                else:
                    v = "\\x" + np.packbits(vals[i]).tobytes().hex()
                cp.write_row((i + 1, v, i % 5))
    conn.execute(f"ANALYZE {name}")
    return vals


def query_text(rng, nbits):
    return bits_text(rng.integers(0, 2, size=nbits, dtype=np.uint8))


def brute(conn, table, q, nbits, k, max_distance=None, where="true"):
    bound = "" if max_distance is None else f"AND bit_count(v # %(q)s::bit({nbits})) <= {max_distance}"
    return conn.execute(
        f"SELECT id, bit_count(v # %(q)s::bit({nbits}))::int FROM {table} "
        f"WHERE v IS NOT NULL AND ({where.replace('%', '%%')}) {bound} ORDER BY 2, 1 LIMIT {k}",
        {"q": q}).fetchall()


def topk(conn, config, q, table, col="v", id_col="id", filter=None):
    return conn.execute(
        "SELECT id, distance FROM jitson_topk(%s::jsonb, %s::varbit, %s::regclass, %s, %s, %s)",
        (json.dumps(config), q, table, col, id_col, filter)).fetchall()


@pytest.fixture(scope="module")
def fp(pg):
    with pg.connect() as c:
        make_table(c, "fp", 1024, 5000, seed=1)
    return "fp"


# ---- distances and the operator ------------------------------------------------------------

def test_distance_equals_bit_count(conn):
    rng = np.random.default_rng(2)
    for nbits in (1, 63, 64, 100, 1024, 16384, 65536):
        a, b = query_text(rng, nbits), query_text(rng, nbits)
        want = sum(x != y for x, y in zip(a, b))
        got = conn.execute("SELECT jitson_distance(%s::varbit, %s::varbit), "
                           "%s::varbit <~> %s::varbit, bit_count(%s::varbit # %s::varbit)",
                           (a, b, a, b, a, b)).fetchone()
        assert got == (want, float(want), want), nbits


def test_distance_bytea_and_config_focus(conn):
    rng = np.random.default_rng(3)
    a, b = query_text(rng, 1024), query_text(rng, 1024)
    ab = "\\x" + np.packbits([int(c) for c in a]).tobytes().hex()
    bb = "\\x" + np.packbits([int(c) for c in b]).tobytes().hex()
    full = sum(x != y for x, y in zip(a, b))
    # focus ranges on byte boundaries mean the same bits in jitson and PostgreSQL numbering
    masked = sum(x != y for x, y in zip(a[64:192], b[64:192]))
    cfg = json.dumps({"focus": {"ranges": [[64, 192]]}, "max_distance": 0})
    got = conn.execute("SELECT jitson_distance(%s::bytea, %s::bytea), jitson_distance(%s::varbit, "
                       "%s::varbit, %s::jsonb), jitson_distance(%s::bytea, %s::bytea, %s::jsonb), "
                       "%s::bytea <~> %s::bytea",
                       (ab, bb, a, b, cfg, ab, bb, cfg, ab, bb)).fetchone()
    assert got == (full, masked, masked, float(full))


def test_distance_length_mismatch_names_both(conn):
    with pytest.raises(psycopg.errors.StringDataLengthMismatch, match="1024 and 512 bits"):
        conn.execute("SELECT jitson_distance(repeat('1', 1024)::varbit, repeat('1', 512)::varbit)")
    with pytest.raises(psycopg.errors.StringDataLengthMismatch, match="8 and 7 bytes"):
        conn.execute("SELECT jitson_distance('\\x0102030405060708'::bytea, '\\x01020304050607'::bytea)")
    with pytest.raises(psycopg.errors.StringDataLengthMismatch, match="1024 and 512 bits"):
        conn.execute("SELECT repeat('1', 1024)::varbit <~> repeat('1', 512)::varbit")


def test_distance_strict_nulls(conn):
    assert conn.execute("SELECT jitson_distance(NULL::varbit, B'1'), NULL::varbit <~> B'1'").fetchone() == (None, None)


def test_pgvector_style_order_by(conn, fp):
    rng = np.random.default_rng(4)
    q = query_text(rng, 1024)
    got = conn.execute("SELECT id, (v <~> %s::varbit)::int FROM fp ORDER BY v <~> %s::varbit, id LIMIT 10",
                       (q, q)).fetchall()
    assert got == brute(conn, "fp", q, 1024, 10)


# ---- jitson_topk ---------------------------------------------------------------------------

def test_topk_exact_against_brute_force(conn, fp):
    rng = np.random.default_rng(5)
    for _ in range(5):
        q = query_text(rng, 1024)
        for k in (1, 10, 100):
            assert topk(conn, {"top_k": k}, q, "fp") == brute(conn, "fp", q, 1024, k)
    # a query equal to stored rows (ties at distance 0 between duplicates, ordered by id)
    q = conn.execute("SELECT v::text FROM fp WHERE id = 7").fetchone()[0]
    res = topk(conn, {"top_k": 3}, q, "fp")
    assert res[:2] == [(7, 0), (8, 0)] and res == brute(conn, "fp", q, 1024, 3)


def test_topk_range_query(conn, fp):
    rng = np.random.default_rng(6)
    q = query_text(rng, 1024)
    d10 = brute(conn, "fp", q, 1024, 10)[-1][1]
    for md in (d10 - 5, d10, d10 + 3):
        cfg = {"top_k": 1000, "max_distance": md}
        assert topk(conn, cfg, q, "fp") == brute(conn, "fp", q, 1024, 1000, max_distance=md)
    assert topk(conn, {"max_distance": 0, "top_k": 5}, q, "fp") == []


def test_topk_config_with_record_bits_and_cascade(conn, fp):
    rng = np.random.default_rng(7)
    q = query_text(rng, 1024)
    cfg = {"version": 1, "record_bits": 1024, "top_k": 10, "cascade": {"mode": "exact", "stages": [1, 4]}}
    assert topk(conn, cfg, q, "fp") == brute(conn, "fp", q, 1024, 10)


def test_topk_ctid_ids(conn, fp):
    rng = np.random.default_rng(8)
    q = query_text(rng, 1024)
    res = topk(conn, {"top_k": 5}, q, "fp", id_col=None)
    ids = [conn.execute("SELECT id FROM fp WHERE ctid = format('(%%s,%%s)', %s::bigint >> 16, %s::bigint & 65535)::tid",
                        (r[0], r[0])).fetchone()[0] for r in res]
    assert list(zip(ids, [r[1] for r in res])) == brute(conn, "fp", q, 1024, 5)


def test_topk_filter(conn, fp):
    rng = np.random.default_rng(9)
    q = query_text(rng, 1024)
    for where in ("tag = 3", "id % 3 = 0 AND id > 100", "false"):
        assert topk(conn, {"top_k": 20}, q, "fp", filter=where) == brute(conn, "fp", q, 1024, 20, where=where)
    with pytest.raises(psycopg.errors.UndefinedColumn):
        topk(conn, {"top_k": 20}, q, "fp", filter="nosuchcolumn = 1")
    with pytest.raises(psycopg.Error):
        topk(conn, {"top_k": 20}, q, "fp", filter="true); DROP TABLE fp; SELECT (1")
    assert conn.execute("SELECT count(*) FROM fp").fetchone()[0] == 5000


def test_topk_odd_sizes_and_bytea(conn):
    rng = np.random.default_rng(10)
    for nbits in (1, 100, 16384, 65536):
        n = 300 if nbits < 65536 else 120
        make_table(conn, "odd", nbits, n, seed=nbits)
        q = query_text(rng, nbits)
        assert topk(conn, {"top_k": 10}, q, "odd") == brute(conn, "odd", q, nbits, 10), nbits
        agg = conn.execute("SELECT jitson_topk_agg(v, %s::varbit, '{\"top_k\": 10}', id) FROM odd", (q,)).fetchone()[0]
        assert agg is not None
    make_table(conn, "fpb", 1024, 500, seed=11, kind="bytea")
    make_table(conn, "fpbits", 1024, 500, seed=11)
    q = query_text(rng, 1024)
    qb = "\\x" + np.packbits([int(c) for c in q]).tobytes().hex()
    got = conn.execute("SELECT id, distance FROM jitson_topk('{\"top_k\": 10}', %s::bytea, 'fpb', 'v', 'id')",
                       (qb,)).fetchall()
    assert got == brute(conn, "fpbits", q, 1024, 10)


def test_topk_default_storage_toast_and_plain(conn):
    """16,384-bit values live in TOAST by default; PLAIN keeps them in the heap. Same answers."""
    vals = make_table(conn, "big16", 16384, 400, seed=12)
    rng = np.random.default_rng(13)
    q = query_text(rng, 16384)
    toasted = conn.execute("SELECT count(*) FROM big16 WHERE pg_column_size(v) < 2000").fetchone()[0]
    assert toasted == 0  # pg_column_size counts the detoasted size; check the toast table instead
    assert conn.execute("SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE relname = 'big16'").fetchone()[0] > 0
    want = brute(conn, "big16", q, 16384, 10)
    assert topk(conn, {"top_k": 10}, q, "big16") == want
    conn.execute("CREATE TABLE big16p (id bigint, v bit(16384), tag int)")
    conn.execute("ALTER TABLE big16p ALTER v SET STORAGE PLAIN")
    conn.execute("INSERT INTO big16p SELECT * FROM big16")
    assert topk(conn, {"top_k": 10}, q, "big16p") == want
    del vals



def test_listing_prefetch_settings_answer_alike(conn):
    """jitson.listing_prefetch forces either shape of the page walk on any CPU: on (the values'
    lines prefetched while a page is listed, the heap read in two pipelined batches of 3 pages,
    the TOAST pass in batches of 7) or off (first lines only, batches of 32 pages); auto is the
    library's per-CPU answer. Each answers as the brute force does over in-line PLAIN values and
    TOAST values, with runs of pages emptied by deletes and pages left with some rows, for the
    top-k and a range query."""
    make_table(conn, "lpf", 16384, 700, seed=31)  # default storage: values in TOAST
    conn.execute("DROP TABLE IF EXISTS lpfp")
    conn.execute("CREATE TABLE lpfp (LIKE lpf)")
    conn.execute("ALTER TABLE lpfp ALTER v SET STORAGE PLAIN")
    conn.execute("INSERT INTO lpfp SELECT * FROM lpf")
    conn.execute("DELETE FROM lpfp WHERE id BETWEEN 100 AND 250 OR id % 5 = 0")
    conn.execute("DELETE FROM lpf WHERE id BETWEEN 300 AND 420 OR id % 7 = 3")
    q = query_text(np.random.default_rng(32), 16384)
    for table in ("lpf", "lpfp"):
        want = brute(conn, table, q, 16384, 10)
        md = brute(conn, table, q, 16384, 60)[-1][1]
        want_range = brute(conn, table, q, 16384, 1000, max_distance=md)
        for mode in ("on", "off", "auto"):
            conn.execute(f"SET jitson.listing_prefetch = {mode}")
            assert topk(conn, {"top_k": 10}, q, table) == want, (table, mode)
            assert topk(conn, {"top_k": 1000, "max_distance": md}, q, table) == want_range, (table, mode)
            assert topk(conn, {"top_k": 10}, q, table, id_col=None) == [
                (r[0], r[1]) for r in conn.execute(
                    f"SELECT ((ctid::text::point)[0]::bigint << 16) | (ctid::text::point)[1]::bigint, "
                    f"bit_count(v # %s::bit(16384))::int FROM {table} ORDER BY 2, 1 LIMIT 10", (q,))], (table, mode)
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="jitson.listing_prefetch"):
        conn.execute("SET jitson.listing_prefetch = sometimes")
    conn.execute("RESET jitson.listing_prefetch")


# ---- the aggregate -------------------------------------------------------------------------

def agg_hits(conn, sql, params):
    return conn.execute(f"SELECT h.id, h.distance FROM unnest(({sql})) h", params).fetchall()


def assert_parallel_agg(conn, sql, params, want):
    """The aggregate in 2 workers (the leader only combines) gives want."""
    for s in ("max_parallel_workers_per_gather = 2", "parallel_setup_cost = 0", "parallel_tuple_cost = 0",
              "min_parallel_table_scan_size = 0", "parallel_leader_participation = off"):
        conn.execute(f"SET {s}")
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (ANALYZE, VERBOSE) " + sql, params))
    assert "Partial Aggregate" in plan and "Workers Launched: 2" in plan, plan
    assert agg_hits(conn, sql, params) == want


def assert_agg_groups(conn, table, q, nbits, k, where="true"):
    """Per tag group (5 of them), the aggregate gives the exact top-k of that group."""
    rows = conn.execute(f"SELECT tag, jitson_topk_agg(v, %(q)s::varbit, %(c)s::jsonb, id)::text FROM {table} "
                        f"WHERE {where} GROUP BY tag ORDER BY tag", {"q": q, "c": json.dumps({"top_k": k})}).fetchall()
    assert len(rows) == 5
    for tag, hits in rows:
        got = conn.execute("SELECT h.id, h.distance FROM unnest(%s::jitson_hit[]) h", (hits,)).fetchall()
        assert got == brute(conn, table, q, nbits, k, where=f"({where}) AND tag = {tag}")


def test_agg_serial_parallel_group_by(conn, fp):
    rng = np.random.default_rng(14)
    q = query_text(rng, 1024)
    cfg = '{"top_k": 10}'
    want = brute(conn, "fp", q, 1024, 10)
    sql = "SELECT jitson_topk_agg(v, %(q)s::varbit, %(c)s::jsonb, id) FROM fp"
    conn.execute("SET max_parallel_workers_per_gather = 0")
    assert agg_hits(conn, sql, {"q": q, "c": cfg}) == want
    assert_parallel_agg(conn, sql, {"q": q, "c": cfg}, want)
    # WHERE restrictions and GROUP BY compose: per tag group, the exact top-k of that group
    assert_agg_groups(conn, "fp", q, 1024, 3, where="id > 50")
    # a join: the query comes from another table
    conn.execute("CREATE TEMP TABLE qs AS SELECT 1 AS qid, %s::varbit AS q", (q,))
    got = conn.execute("SELECT h.id, h.distance FROM (SELECT jitson_topk_agg(fp.v, qs.q, '{\"top_k\": 10}', fp.id) a "
                       "FROM fp CROSS JOIN qs GROUP BY qs.qid) s, unnest(s.a) h").fetchall()
    assert got == want
    conn.execute("RESET ALL")


def test_agg_empty_and_nulls(conn, fp):
    q = "1" * 1024
    assert conn.execute("SELECT jitson_topk_agg(v, %s::varbit, '{}', id) FROM fp WHERE false", (q,)).fetchone()[0] in ([], '{}')
    with pytest.raises(psycopg.errors.NullValueNotAllowed, match="query"):
        conn.execute("SELECT jitson_topk_agg(v, NULL::varbit, '{}', id) FROM fp")
    with pytest.raises(psycopg.errors.NullValueNotAllowed, match="NULL id"):
        conn.execute("SELECT jitson_topk_agg(v, %s::varbit, '{}', NULL) FROM fp", (q,))
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="query changed"):
        conn.execute("SELECT jitson_topk_agg(v, v, '{}', id) FROM fp")


# ---- bad input: SQL errors, never a crash --------------------------------------------------

@pytest.fixture(scope="module")
def bad(pg):
    with pg.connect() as c:
        c.execute("CREATE TABLE bad (id bigint, v bit varying, t text, b bytea, n numeric)")
        c.execute("INSERT INTO bad SELECT g, repeat('10', 256)::varbit, 'x', '\\x00', 1 FROM generate_series(1, 3000) g")
        c.execute("INSERT INTO bad VALUES (3001, NULL, 'null value', NULL, 1)")
    return "bad"


def test_nulls_are_no_candidates(conn, bad):
    res = topk(conn, {"top_k": 5000}, "10" * 256, "bad")
    assert len(res) == 3000 and all(d == 0 for _, d in res) and 3001 not in [r[0] for r in res]


def test_wrong_length_value(conn, bad):
    conn.execute("INSERT INTO bad VALUES (2500000, B'101', 'short', NULL, 1)")
    try:
        with pytest.raises(psycopg.errors.StringDataLengthMismatch,
                           match=r"row 2500000 of public.bad: column \"v\" holds 3 bits but the query has 512"):
            topk(conn, {"top_k": 5}, "10" * 256, "bad")
        with pytest.raises(psycopg.errors.StringDataLengthMismatch, match="id 2500000 has 3 bits"):
            conn.execute("SELECT jitson_topk_agg(v, %s::varbit, '{}', id) FROM bad", ("10" * 256,))
    finally:
        conn.execute("DELETE FROM bad WHERE id = 2500000")


BAD_CALLS = [
    # (config, query, table, column, id column, error class, message fragment)
    ({"top_k": 5}, "10" * 256, "bad", "nosuch", "id", psycopg.errors.UndefinedColumn, 'column "nosuch" of public.bad does not exist'),
    ({"top_k": 5}, "10" * 256, "bad", "t", "id", psycopg.errors.DatatypeMismatch, 'column "t" of public.bad has type text'),
    ({"top_k": 5}, "10" * 256, "bad", "b", "id", psycopg.errors.DatatypeMismatch, "with a bit query it must be"),
    ({"top_k": 5}, "10" * 256, "bad", "v", "t", psycopg.errors.DatatypeMismatch, "ids must be smallint, integer or bigint"),
    ({"top_k": 5}, "10" * 256, "bad", "v", "nosuch", psycopg.errors.UndefinedColumn, 'column "nosuch"'),
    ({"top_k": 5}, "10" * 256, "bad", "ctid", "id", psycopg.errors.InvalidParameterValue, "system column"),
    ({"top_k": "x"}, "10" * 256, "bad", "v", "id", psycopg.errors.InvalidParameterValue, "/top_k"),
    ({"top_k": 0}, "10" * 256, "bad", "v", "id", psycopg.errors.InvalidParameterValue, "/top_k"),
    ({"top_k": 2.5}, "10" * 256, "bad", "v", "id", psycopg.errors.InvalidParameterValue, "/top_k"),
    ({"bogus": 1}, "10" * 256, "bad", "v", "id", psycopg.errors.InvalidParameterValue, "/bogus"),
    ({"version": 2}, "10" * 256, "bad", "v", "id", psycopg.errors.InvalidParameterValue, "/version"),
    ({"record_bits": 1024}, "10" * 256, "bad", "v", "id", psycopg.errors.InvalidParameterValue, "/record_bits: 1024 does not match"),
    ({"focus": {"ranges": [[0, 10], [0, 99999]]}}, "10" * 256, "bad", "v", "id", psycopg.errors.InvalidParameterValue, "/focus/ranges/1"),
    ({"cascade": {"mode": "fast"}}, "10" * 256, "bad", "v", "id", psycopg.errors.InvalidParameterValue, "/cascade/mode"),
    ([1, 2], "10" * 256, "bad", "v", "id", psycopg.errors.InvalidParameterValue, "must be a JSON object"),
    ({"top_k": 5}, "", "bad", "v", "id", psycopg.errors.InvalidParameterValue, "the query has 0 bits"),
    ({"top_k": 5}, "1" * 65537, "bad", "v", "id", psycopg.errors.InvalidParameterValue, "the query has 65537 bits"),
    ({"top_k": 5}, "10" * 256, "nosuchtable", "v", "id", psycopg.errors.UndefinedTable, "nosuchtable"),
]


@pytest.mark.parametrize("case", BAD_CALLS, ids=[c[6][:30] for c in BAD_CALLS])
def test_bad_input_is_an_sql_error(conn, bad, case):
    cfg, q, table, col, id_col, err, frag = case
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    with pytest.raises(err) as e:
        topk(conn, cfg, q, table, col, id_col)
    assert frag in str(e.value), str(e.value)
    # the same backend answers afterwards: no crash, no restart
    assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] == pid


def test_null_arguments(conn, bad):
    for args in ("NULL, B'1', 'bad', 'v'", "'{}', NULL::varbit, 'bad', 'v'", "'{}', B'1', NULL, 'v'",
                 "'{}', B'1', 'bad', NULL"):
        with pytest.raises(psycopg.errors.NullValueNotAllowed, match="is NULL"):
            conn.execute(f"SELECT * FROM jitson_topk({args})")
    conn.execute("INSERT INTO bad VALUES (NULL, repeat('10', 256)::varbit, 'null id', NULL, 1)")
    try:
        with pytest.raises(psycopg.errors.NullValueNotAllowed, match='NULL id in column "id"'):
            topk(conn, {"top_k": 5}, "10" * 256, "bad")
    finally:
        conn.execute("DELETE FROM bad WHERE id IS NULL")


def test_compile_and_explain(conn):
    d = conn.execute("SELECT jitson_compile('{\"record_bits\": 16384, \"max_distance\": 300}')").fetchone()[0]
    assert "record_bits=16384" in d
    e = conn.execute("SELECT jitson_explain('{\"record_bits\": 1024, \"top_k\": 3}')").fetchone()[0]
    assert '"top_k": 3' in e and "kernel:" in e and "threads: 1" in e
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="/record_bits"):
        conn.execute("SELECT jitson_compile('{\"record_bits\": 100}')")
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="/record_bits"):
        conn.execute("SELECT jitson_compile('{}')")


# ---- privileges and row level security -----------------------------------------------------

def test_privileges_and_rls(pg, conn, fp):
    conn.execute("DROP ROLE IF EXISTS jitson_reader")
    conn.execute("CREATE ROLE jitson_reader LOGIN")
    conn.execute("CREATE TABLE secret AS SELECT * FROM fp")
    q = "1" * 1024
    with psycopg.connect(pg.dsn(user="jitson_reader"), autocommit=True) as r:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            topk(r, {"top_k": 5}, q, "secret")
    conn.execute("GRANT SELECT ON secret TO jitson_reader")
    conn.execute("ALTER TABLE secret ENABLE ROW LEVEL SECURITY")
    conn.execute("CREATE POLICY only_tag1 ON secret TO jitson_reader USING (tag = 1)")
    with psycopg.connect(pg.dsn(user="jitson_reader"), autocommit=True) as r:
        got = topk(r, {"top_k": 10}, q, "secret")
    assert got == brute(conn, "secret", q, 1024, 10, where="tag = 1")
    conn.execute("DROP TABLE secret")
    conn.execute("DROP OWNED BY jitson_reader")
    conn.execute("DROP ROLE jitson_reader")


# ---- snapshots -----------------------------------------------------------------------------

def test_snapshot_isolation(pg, conn):
    make_table(conn, "snap", 256, 2000, seed=15)
    q = conn.execute("SELECT v::text FROM snap WHERE id = 1234").fetchone()[0]
    with pg.connect(autocommit=False) as writer:
        # uncommitted insert of an exact match and uncommitted delete of the current best row
        writer.execute("INSERT INTO snap VALUES (900001, %s::bit(256), 0)", (q,))
        writer.execute("DELETE FROM snap WHERE id = 1234")
        res = topk(conn, {"top_k": 3}, q, "snap")
        assert res[0] == (1234, 0) and 900001 not in [r[0] for r in res]
        agg = agg_hits(conn, "SELECT jitson_topk_agg(v, %(q)s::varbit, '{\"top_k\": 3}', id) FROM snap", {"q": q})
        assert agg == res
        # a REPEATABLE READ reader keeps its snapshot across the writer's commit
        with pg.connect(autocommit=False) as rr:
            rr.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            assert topk(rr, {"top_k": 3}, q, "snap") == res
            writer.commit()
            assert topk(rr, {"top_k": 3}, q, "snap") == res
            rr.commit()
            after = topk(rr, {"top_k": 3}, q, "snap")
            rr.commit()
    assert after[0] == (900001, 0) and 1234 not in [r[0] for r in after]
    assert topk(conn, {"top_k": 3}, q, "snap") == brute(conn, "snap", q, 256, 3)
    # rows deleted and inserted by an aborted transaction never show
    with pg.connect(autocommit=False) as w:
        w.execute("DELETE FROM snap")
        w.execute("INSERT INTO snap VALUES (900002, %s::bit(256), 0)", (q,))
        w.rollback()
    assert topk(conn, {"top_k": 3}, q, "snap") == after
    # the caller's own uncommitted changes are visible to itself, as in any query
    with pg.connect(autocommit=False) as me:
        me.execute("DELETE FROM snap WHERE id = 900001")
        assert 900001 not in [r[0] for r in topk(me, {"top_k": 3}, q, "snap")]
        me.rollback()


# ---- cancellation --------------------------------------------------------------------------

def test_statement_timeout_cancels_a_big_scan(pg, conn):
    q = "0" * 64
    check_cancellation(
        pg, conn, lambda filter: topk(conn, {"top_k": 10}, q, "huge", filter=filter),
        "SELECT jitson_topk_agg(v, %s::varbit, '{}', id) FROM huge, generate_series(1, 3)", (q,))


# ---- memory and LLVM -----------------------------------------------------------------------

def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def maps(pid):
    with open(f"/proc/{pid}/maps") as f:
        return f.read()


def test_no_leak_over_10000_queries_and_no_llvm(pg):
    with pg.connect() as c:
        make_table(c, "small", 2048, 300, seed=16)
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        q = "01" * 1024
        stmts = [
            ("SELECT count(*) FROM jitson_topk('{\"top_k\": 10}', %s::varbit, 'small', 'v', 'id')", (q,)),
            ("SELECT count(*) FROM jitson_topk('{\"top_k\": 5, \"max_distance\": 1100}', %s::varbit, 'small', 'v')", (q,)),
            ("SELECT count(*) FROM jitson_topk('{\"top_k\": 10}', %s::varbit, 'small', 'v', 'id', 'tag = 2')", (q,)),
            ("SELECT jitson_topk_agg(v, %s::varbit, '{\"top_k\": 10}', id) IS NOT NULL FROM small", (q,)),
            ("SELECT jitson_distance(v, %s::varbit, '{\"focus\": {\"ranges\": [[0, 512]]}}') FROM small LIMIT 3", (q,)),
        ]
        errors = [
            ("SELECT * FROM jitson_topk('{\"top_k\": \"x\"}', %s::varbit, 'small', 'v', 'id')", (q,)),
            ("SELECT * FROM jitson_topk('{\"top_k\": 10}', B'1', 'small', 'v', 'id')", None),
        ]
        before = None
        for i in range(10000):
            if i % 10 == 9:
                sql, p = errors[(i // 10) % len(errors)]
                with pytest.raises(psycopg.Error):
                    c.execute(sql, p)
            else:
                sql, p = stmts[i % len(stmts)]
                c.execute(sql, p).fetchall()
            if i == 999:
                before = rss_kb(pid)
        after = rss_kb(pid)
        assert after - before < 4096, f"backend RSS grew from {before} kB to {after} kB over 9,000 queries"
        m = maps(pid)
        assert "libjitson.so" in m
        assert "LLVM" not in m and "jitson_llvm" not in m, "LLVM was loaded without a config asking for it"


def test_llvm_loads_only_when_asked(pg):
    import os
    lib_dir = os.environ["JITSON_LIB_DIR"]
    with pg.connect() as c:
        pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        c.execute("SELECT jitson_compile('{\"record_bits\": 1024}')")
        assert "jitson_llvm" not in maps(pid)
        if not os.path.exists(os.path.join(lib_dir, "libjitson_llvm.so")):
            with pytest.raises(psycopg.errors.InvalidParameterValue, match="llvm"):
                c.execute("SELECT jitson_compile('{\"record_bits\": 1024, \"backend\": \"llvm\"}')")
            return
        d = c.execute("SELECT jitson_compile('{\"record_bits\": 1024, \"backend\": \"llvm\"}')").fetchone()[0]
        assert "llvm" in d
        assert "jitson_llvm" in maps(pid)


# ---- TOAST: values assembled from a sequential pass over the TOAST table ---------------------

def test_toast_bulk_path_mixed_storage_and_snapshots(pg, conn):
    """Out-of-line values (random bits), inline compressed ones (all zeros compress to a few
    bytes), NULLs, updates: the bulk TOAST pass answers what brute force answers, under the
    caller's snapshot."""
    make_table(conn, "tmix", 16384, 1500, seed=50)
    conn.execute("UPDATE tmix SET v = repeat('0', 16384)::bit(16384) WHERE id % 97 = 0")
    conn.execute("UPDATE tmix SET v = NULL WHERE id % 89 = 0")
    inline = conn.execute("SELECT count(*) FROM tmix WHERE pg_column_size(v) < 1000").fetchone()[0]
    assert inline > 5
    rng = np.random.default_rng(51)
    for q in (query_text(rng, 16384), "0" * 16384):
        assert topk(conn, {"top_k": 30}, q, "tmix") == brute(conn, "tmix", q, 16384, 30)
    q = conn.execute("SELECT v::text FROM tmix WHERE id = 500").fetchone()[0]
    before = topk(conn, {"top_k": 3}, q, "tmix")
    assert before[0] == (500, 0)
    with pg.connect(autocommit=False) as rr, pg.connect(autocommit=False) as w:
        rr.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        assert topk(rr, {"top_k": 3}, q, "tmix") == before
        # the writer replaces the TOASTed value (new TOAST chunks, old ones deleted)
        w.execute("UPDATE tmix SET v = %s::bit(16384) WHERE id = 501", (q,))
        w.execute("UPDATE tmix SET v = repeat('1', 16384)::bit(16384) WHERE id = 500")
        assert topk(conn, {"top_k": 3}, q, "tmix") == before
        w.commit()
        assert topk(rr, {"top_k": 3}, q, "tmix") == before
        rr.commit()
    after = topk(conn, {"top_k": 3}, q, "tmix")
    assert after[0] == (501, 0) and 500 not in [r[0] for r in after]
    assert after == brute(conn, "tmix", q, 16384, 3)


def test_toast_wrong_bit_length_same_bytes(conn):
    """16,383 and 16,384 bits take the same 2,048 bytes: the length word is checked too, by the
    direct scan, the filter path and the aggregate."""
    conn.execute("CREATE TABLE tvar (id bigint, v bit varying)")
    rng = np.random.default_rng(52)
    with conn.cursor() as cur, cur.copy("COPY tvar FROM STDIN") as cp:
        for i in range(50):
            cp.write_row((i, query_text(rng, 16384)))
        cp.write_row((77, query_text(rng, 16383)))
    assert conn.execute("SELECT pg_column_size(v) FROM tvar WHERE id = 77").fetchone()[0] > 2000
    with pytest.raises(psycopg.errors.StringDataLengthMismatch,
                       match=r"row 77 of public.tvar: column \"v\" holds 16383 bits but the query has 16384"):
        topk(conn, {"top_k": 5}, "1" * 16384, "tvar")
    # the filter path and the aggregate note the values too and check them as they read them
    with pytest.raises(psycopg.errors.StringDataLengthMismatch,
                       match=r"row 77 of public.tvar: column \"v\" holds 16383 bits"):
        topk(conn, {"top_k": 5}, "1" * 16384, "tvar", filter="true")
    with pytest.raises(psycopg.errors.StringDataLengthMismatch,
                       match="jitson_topk_agg: the value of id 77 has 16383 bits but the query has 16384"):
        conn.execute("SELECT jitson_topk_agg(v, %s::varbit, '{}', id) FROM tvar", ("1" * 16384,))


def test_in_place_pages_updates_deletes_and_snapshots(pg, conn):
    """PLAIN values are read inside the pinned pages, many pages per batch: HOT and moving
    updates, deletes, a 16,383-bit value among 16,384-bit ones, ctid ids, and a snapshot that
    must not see a later writer's changes."""
    make_table(conn, "tpl", 16384, 10, seed=60)  # creates the shape; refilled below
    conn.execute("TRUNCATE tpl")
    conn.execute("ALTER TABLE tpl ALTER v SET STORAGE PLAIN")
    rng = np.random.default_rng(61)
    with conn.cursor() as cur, cur.copy("COPY tpl (id, v, tag) FROM STDIN") as cp:
        for i in range(1, 2601):  # ~870 pages of three values: dozens of batches
            cp.write_row((i, query_text(rng, 16384), i % 5))
    conn.execute("DELETE FROM tpl WHERE id % 11 = 0")
    conn.execute("UPDATE tpl SET tag = tag + 1 WHERE id % 13 = 0")  # same values, new versions
    conn.execute("UPDATE tpl SET v = ~v WHERE id % 17 = 0")
    q = conn.execute("SELECT v::text FROM tpl WHERE id = 1300").fetchone()[0]
    for cfg in ({"top_k": 25}, {"top_k": 25, "max_distance": 8100}, {"top_k": 7, "cascade": {"mode": "off"}}):
        want = brute(conn, "tpl", q, 16384, cfg["top_k"], cfg.get("max_distance"))
        assert topk(conn, cfg, q, "tpl") == want, cfg
    with pg.connect(autocommit=False) as rr, pg.connect(autocommit=False) as w:
        rr.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        before = topk(rr, {"top_k": 5}, q, "tpl")
        w.execute("UPDATE tpl SET v = %s::bit(16384) WHERE id = 7", (q,))
        w.execute("DELETE FROM tpl WHERE id = 1300")
        w.commit()
        assert topk(rr, {"top_k": 5}, q, "tpl") == before
        rr.commit()
    after = topk(conn, {"top_k": 5}, q, "tpl")
    assert after[0] == (7, 0) and 1300 not in [r[0] for r in after]
    assert after == brute(conn, "tpl", q, 16384, 5)
    # in place, 16,383 bits take the 2,048 bytes 16,384 do: the length word is checked too
    conn.execute("CREATE TABLE tplv (id bigint, v bit varying)")
    conn.execute("ALTER TABLE tplv ALTER v SET STORAGE PLAIN")
    conn.execute("INSERT INTO tplv SELECT id, v FROM tpl WHERE id < 100")
    conn.execute("INSERT INTO tplv VALUES (9999, %s::varbit)", (query_text(rng, 16383),))
    with pytest.raises(psycopg.errors.StringDataLengthMismatch,
                       match=r"row 9999 of public.tplv: column \"v\" holds 16383 bits but the query has 16384"):
        topk(conn, {"top_k": 5}, q, "tplv")


def test_toast_pass_with_values_out_of_order(conn):
    """The TOAST pass finds values by their number; CLUSTER on a descending index puts the rows
    in the opposite order to their TOAST values, so the lookup cannot rely on the order."""
    make_table(conn, "tord", 16384, 1200, seed=70)
    conn.execute("CREATE INDEX tord_desc ON tord (id DESC)")
    conn.execute("CLUSTER tord USING tord_desc")
    first = conn.execute("SELECT id FROM tord LIMIT 1").fetchone()[0]
    assert first == 1200
    rng = np.random.default_rng(71)
    for q in (query_text(rng, 16384), conn.execute("SELECT v::text FROM tord WHERE id = 3").fetchone()[0]):
        assert topk(conn, {"top_k": 15}, q, "tord") == brute(conn, "tord", q, 16384, 15)


def test_page_hints_follow_truncation_growth_and_new_files(pg):
    """A backend remembers where a table's pages lay in shared buffers and pins them there on
    its next scan after checking the buffer's tag. Every way the pages can move under those
    hints must still give the exact answer, and each page must still count as a buffer hit."""
    with pg.connect(autocommit=False) as c:
        rng = np.random.default_rng(80)

        def fill(first, n):
            with c.cursor() as cur, cur.copy("COPY tph (id, v, tag) FROM STDIN") as cp:
                for i in range(first, first + n):
                    cp.write_row((i, query_text(rng, 16384), i % 5))

        def check(q):
            for cfg in ({"top_k": 12}, {"top_k": 12, "max_distance": 8150}):
                assert topk(c, cfg, q, "tph") == brute(c, "tph", q, 16384, cfg["top_k"],
                                                       cfg.get("max_distance")), cfg

        # created in this transaction, TRUNCATE keeps the file and drops its buffers: the
        # hints then name buffers that hold nothing of the table, or its new pages elsewhere
        c.execute("CREATE TABLE tph (id bigint, v bit(16384), tag int)")
        c.execute("ALTER TABLE tph ALTER v SET STORAGE PLAIN")
        fill(1, 600)
        q = query_text(rng, 16384)
        check(q)
        node = c.execute("SELECT pg_relation_filenode('tph')").fetchone()[0]
        c.execute("TRUNCATE tph")
        assert c.execute("SELECT pg_relation_filenode('tph')").fetchone()[0] == node
        fill(1001, 450)
        check(q)
        fill(2001, 400)  # more pages than the hints know
        check(q)
        c.commit()
    with pg.connect() as c:
        q = c.execute("SELECT v::text FROM tph WHERE id = 1100").fetchone()[0]
        assert topk(c, {"top_k": 12}, q, "tph") == brute(c, "tph", q, 16384, 12)
        c.execute("VACUUM FULL tph")  # a new file under the same table
        assert topk(c, {"top_k": 12}, q, "tph") == brute(c, "tph", q, 16384, 12)
        c.execute("UPDATE tph SET v = ~v WHERE id % 3 = 0")
        assert topk(c, {"top_k": 12}, q, "tph") == brute(c, "tph", q, 16384, 12)
        pages = c.execute("SELECT pg_relation_size('tph') / current_setting('block_size')::int").fetchone()[0]
        stats = ("SELECT pg_stat_get_xact_blocks_hit('tph'::regclass), "
                 "pg_stat_get_xact_blocks_fetched('tph'::regclass)")
        with c.transaction():
            before = c.execute(stats).fetchone()
            topk(c, {"top_k": 12}, q, "tph")  # every page hinted and resident: all hits
            after = c.execute(stats).fetchone()
        assert after[0] - before[0] == pages and after[1] - before[1] == pages
    with pg.connect() as c:
        c.execute("DROP TABLE tph")


def test_toast_entries_grow_past_the_estimate_and_are_reused(conn):
    """The TOAST pass sizes its array from the table's row estimate and keeps it between scans
    of a backend: a table never analyzed (no estimate) grows it, a smaller one reuses it."""
    rng = np.random.default_rng(90)
    for name, n in (("tgrow", 1500), ("tsmall", 40)):
        conn.execute(f"CREATE TABLE {name} (id bigint, v bit(16384))")  # default storage: TOAST
        with conn.cursor() as cur, cur.copy(f"COPY {name} (id, v) FROM STDIN") as cp:
            for i in range(1, n + 1):
                cp.write_row((i, query_text(rng, 16384)))
    assert conn.execute("SELECT reltuples FROM pg_class WHERE relname = 'tgrow'").fetchone()[0] < 0
    q = query_text(rng, 16384)
    for name in ("tgrow", "tsmall", "tgrow"):
        assert topk(conn, {"top_k": 9}, q, name) == brute(conn, name, q, 16384, 9), name
    conn.execute("DROP TABLE tgrow, tsmall")


# ---- the aggregate and the filter path read TOASTed values together too ----------------------

def toast_relations(conn, table):
    """(TOAST table oid, its index oid, its pages) of a table."""
    toast = conn.execute("SELECT reltoastrelid FROM pg_class WHERE oid = %s::regclass", (table,)).fetchone()[0]
    index = conn.execute("SELECT indexrelid FROM pg_index WHERE indrelid = %s", (toast,)).fetchone()[0]
    pages = conn.execute("SELECT pg_relation_size(%s) / current_setting('block_size')::int", (toast,)).fetchone()[0]
    return toast, index, pages


def blocks_fetched(conn, rel, run):
    """Blocks of rel the current transaction fetched while run() ran, and run()'s result."""
    with conn.transaction():
        before = conn.execute("SELECT pg_stat_get_xact_blocks_fetched(%s)", (rel,)).fetchone()[0]
        result = run()
        after = conn.execute("SELECT pg_stat_get_xact_blocks_fetched(%s)", (rel,)).fetchone()[0]
    return after - before, result


def test_agg_reads_toasted_values_in_one_pass(conn):
    """jitson_topk_agg notes TOASTed values and reads them together in one pass over the TOAST
    table (the TOAST index untouched), serially, with 2 workers (their noted values travel to the
    leader), per GROUP BY group, under a memory limit that reads them in several rounds, with
    compressed in-line values and NULLs among them; Tanimoto's aggregate too."""
    make_table(conn, "tagg", 16384, 3000, seed=150)
    conn.execute("UPDATE tagg SET v = repeat('0', 16384)::bit(16384) WHERE id % 97 = 0")
    conn.execute("UPDATE tagg SET v = NULL WHERE id % 89 = 0")
    conn.execute("VACUUM ANALYZE tagg")
    _, toast_index, _ = toast_relations(conn, "tagg")
    rng = np.random.default_rng(151)
    q = query_text(rng, 16384)
    cfg = {"q": q, "c": '{"top_k": 20}'}
    want = brute(conn, "tagg", q, 16384, 20)
    sql = "SELECT jitson_topk_agg(v, %(q)s::varbit, %(c)s::jsonb, id) FROM tagg"
    conn.execute("SET max_parallel_workers_per_gather = 0")
    fetched, got = blocks_fetched(conn, toast_index, lambda: agg_hits(conn, sql, cfg))
    assert got == want
    assert fetched == 0, "the aggregate detoasted values through the TOAST index"
    assert_parallel_agg(conn, sql, cfg, want)
    conn.execute("RESET ALL")
    assert_agg_groups(conn, "tagg", q, 16384, 4)
    # 64 kB of noted values (2,730): a pass when they fill it, the rest one by one
    conn.execute("SET work_mem = '64kB'")
    conn.execute("SET hash_mem_multiplier = 1")
    assert agg_hits(conn, sql, cfg) == want
    conn.execute("RESET ALL")
    tanimoto = conn.execute(
        "SELECT h.id, h.similarity FROM unnest((SELECT jitson_topk_tanimoto_agg(v, %s::varbit, "
        "'{\"top_k\": 15}', id) FROM tagg)) h", (q,)).fetchall()
    assert tanimoto == conn.execute(
        "SELECT id, similarity FROM jitson_topk_tanimoto('{\"top_k\": 15}', %s::varbit, 'tagg', 'v', 'id')",
        (q,)).fetchall()
    # the filter path (SPI) notes the table's TOASTed values as well
    fetched, got = blocks_fetched(conn, toast_index, lambda: topk(conn, {"top_k": 12}, q, "tagg", filter="id % 3 <> 0"))
    assert got == brute(conn, "tagg", q, 16384, 12, where="id % 3 <> 0")
    assert fetched == 0


def test_few_toasted_values_skip_the_pass(conn):
    """A TOAST table mostly of another column's values: the few TOASTed fingerprints are read
    through the TOAST index instead of a pass over all of it, with the same answer."""
    conn.execute("CREATE TABLE tfew (id bigint, v bit(16384), pad text)")
    conn.execute("ALTER TABLE tfew ALTER pad SET STORAGE EXTERNAL")
    rng = np.random.default_rng(153)
    with conn.cursor() as cur, cur.copy("COPY tfew FROM STDIN") as cp:
        for i in range(1, 301):
            v = query_text(rng, 16384) if i % 30 == 0 else "0" * 16384  # zeros compress in line
            cp.write_row((i, v, rng.bytes(8000).hex()))
    toast, _, pages = toast_relations(conn, "tfew")
    assert pages > 500
    q = query_text(rng, 16384)
    fetched, got = blocks_fetched(conn, toast, lambda: topk(conn, {"top_k": 15}, q, "tfew"))
    assert got == brute(conn, "tfew", q, 16384, 15)
    assert fetched < pages / 10, (fetched, pages)
    conn.execute("DROP TABLE tfew")
