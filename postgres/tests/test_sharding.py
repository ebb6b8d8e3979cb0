"""Sharding over postgres_fdw: three more local clusters hold the partitions of a table; the
coordinator (the main cluster) runs jitson_topk_sharded, whose per-shard jitson_topk_agg is
pushed down to the shards (one row of k hits per shard crosses) and run at once (async foreign
scans). Results equal a single-server scan of the union, also after updates and deletes on a
shard; a shard that is down is an error unless partial results are asked for."""
import json
import re

import numpy as np
import psycopg
import pytest

from conftest import Cluster
from test_jitson import bits_text, brute, topk

NBITS = 1024
ROWS_PER_SHARD = 3000


@pytest.fixture(scope="module")
def shards(pg):
    clusters = [Cluster(f"shard{i}").init() for i in range(3)]
    try:
        for c in clusters:
            c.start()
        rng = np.random.default_rng(40)
        with pg.connect() as coord:
            coord.execute("CREATE EXTENSION IF NOT EXISTS postgres_fdw")
            coord.execute("DROP TABLE IF EXISTS fp_all, fp_sharded CASCADE")
            coord.execute(f"CREATE TABLE fp_all (id bigint, v bit({NBITS}), tag int)")
            coord.execute(f"CREATE TABLE fp_sharded (id bigint, v bit({NBITS}), tag int) PARTITION BY RANGE (id)")
            for i, c in enumerate(clusters):
                lo, hi = i * ROWS_PER_SHARD + 1, (i + 1) * ROWS_PER_SHARD + 1
                vals = rng.integers(0, 2, size=(ROWS_PER_SHARD, NBITS), dtype=np.uint8)
                vals[5] = vals[4]  # a tie inside a shard
                rows = [(lo + j, bits_text(vals[j]), j % 5) for j in range(ROWS_PER_SHARD)]
                with c.connect() as s:
                    s.execute("CREATE EXTENSION jitson")
                    s.execute(f"CREATE TABLE fp_part (id bigint, v bit({NBITS}), tag int)")
                    with s.cursor() as cur, cur.copy("COPY fp_part FROM STDIN") as cp:
                        for r in rows:
                            cp.write_row(r)
                with coord.cursor() as cur, cur.copy("COPY fp_all FROM STDIN") as cp:
                    for r in rows:
                        cp.write_row(r)
                coord.execute(f"DROP SERVER IF EXISTS s{i} CASCADE")
                coord.execute(f"CREATE SERVER s{i} FOREIGN DATA WRAPPER postgres_fdw OPTIONS "
                              f"(host 'localhost', port '{c.port}', dbname 'postgres', "
                              f"extensions 'jitson', async_capable 'true')")
                coord.execute(f"CREATE USER MAPPING FOR postgres SERVER s{i} OPTIONS (user 'postgres')")
                coord.execute(f"CREATE FOREIGN TABLE fp_s{i} PARTITION OF fp_sharded "
                              f"FOR VALUES FROM ({lo}) TO ({hi}) SERVER s{i} OPTIONS (table_name 'fp_part')")
        yield clusters
    finally:
        for c in clusters:
            c.stop()


def sharded(conn, cfg, q, allow_partial=False):
    return conn.execute("SELECT id, distance FROM jitson_topk_sharded(%s::jsonb, %s::varbit, 'fp_sharded', 'v', 'id', %s)",
                        (json.dumps(cfg), q, allow_partial)).fetchall()


def test_sharded_equals_single_server(conn, shards):
    rng = np.random.default_rng(41)
    for _ in range(4):
        q = bits_text(rng.integers(0, 2, size=NBITS, dtype=np.uint8))
        for cfg in ({"top_k": 10}, {"top_k": 50}, {"top_k": 100, "max_distance": 490}):
            want = topk(conn, cfg, q, "fp_all")
            assert sharded(conn, cfg, q) == want
            assert want == brute(conn, "fp_all", q, NBITS, cfg["top_k"], cfg.get("max_distance"))
    # ties across shards: the same value on two shards, ordered by id
    v = conn.execute("SELECT v::text FROM fp_all WHERE id = 10").fetchone()[0]
    conn.execute("UPDATE fp_sharded SET v = %s WHERE id = 7000", (v,))
    conn.execute("UPDATE fp_all SET v = %s WHERE id = 7000", (v,))
    got = sharded(conn, {"top_k": 3}, v)
    assert got[:2] == [(10, 0), (7000, 0)] and got == topk(conn, {"top_k": 3}, v, "fp_all")


def test_pushdown_async_and_k_rows_per_shard(conn, shards):
    sql = conn.execute("SELECT jitson_topk_sharded_sql('{\"top_k\": 10}', 'fp_sharded', 'v', 'id')").fetchone()[0]
    conn.execute("DEALLOCATE ALL")
    conn.execute(f"PREPARE shq(bit varying, jsonb) AS {sql}")
    q = "1" * NBITS
    plan = "\n".join(r[0] for r in psycopg.ClientCursor(conn).execute(
        "EXPLAIN (ANALYZE, VERBOSE, COSTS OFF) EXECUTE shq(%s::varbit, '{\"top_k\": 10}')", (q,)))
    assert plan.count("Async Foreign Scan") == 3, plan
    assert plan.count("Remote SQL: SELECT public.jitson_topk_pairs(") == 3, plan
    # each shard sends one row: the aggregate of its k best hits
    assert len(re.findall(r"Async Foreign Scan \(actual time=[0-9.]+ rows=1 loops=1\)", plan)) == 3, plan


def test_updates_and_deletes_on_a_shard(pg, conn, shards):
    rng = np.random.default_rng(42)
    q = bits_text(rng.integers(0, 2, size=NBITS, dtype=np.uint8))
    best = topk(conn, {"top_k": 5}, q, "fp_all")
    # delete the best row on its shard directly, update another to match the query exactly
    victim = best[0][0]
    shard = shards[(victim - 1) // ROWS_PER_SHARD]
    with shard.connect() as s:
        s.execute("DELETE FROM fp_part WHERE id = %s", (victim,))
        s.execute("UPDATE fp_part SET v = %s WHERE id = %s", (q, (victim - 1) // ROWS_PER_SHARD * ROWS_PER_SHARD + 17))
    conn.execute("DELETE FROM fp_all WHERE id = %s", (victim,))
    conn.execute("UPDATE fp_all SET v = %s WHERE id = %s", (q, (victim - 1) // ROWS_PER_SHARD * ROWS_PER_SHARD + 17))
    # and through the coordinator (routed to the foreign partition)
    conn.execute("DELETE FROM fp_sharded WHERE id = %s", (best[1][0],))
    conn.execute("DELETE FROM fp_all WHERE id = %s", (best[1][0],))
    got = sharded(conn, {"top_k": 10}, q)
    assert got == topk(conn, {"top_k": 10}, q, "fp_all")
    assert got[0][1] == 0 and victim not in [g[0] for g in got] and best[1][0] not in [g[0] for g in got]


def test_a_shard_down_is_an_error_unless_partial(pg, conn, shards):
    rng = np.random.default_rng(43)
    q = bits_text(rng.integers(0, 2, size=NBITS, dtype=np.uint8))
    down = shards[1]
    down.stop()
    try:
        with pytest.raises(psycopg.errors.SqlclientUnableToEstablishSqlconnection, match='server "s1"'):
            sharded(conn, {"top_k": 10}, q)
        conn.execute("SET client_min_messages = warning")
        notices = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        got = sharded(conn, {"top_k": 10}, q, allow_partial=True)
        want = brute(conn, "fp_all", q, NBITS, 10,
                     where=f"id NOT BETWEEN {ROWS_PER_SHARD + 1} AND {2 * ROWS_PER_SHARD}")
        assert got == want
        assert any("fp_s1 failed and is left out" in n for n in notices), notices
    finally:
        down.start()
    assert sharded(conn, {"top_k": 10}, q) == topk(conn, {"top_k": 10}, q, "fp_all")
