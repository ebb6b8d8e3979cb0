"""Benchmark driver for scripts/bench_pg.sh: jitson vs pgvector vs plain SQL on the same table.

Loads N random bit(B) rows twice (default storage: values in TOAST; STORAGE PLAIN: in the
heap), then times the same queries: jitson_topk (top-10 and a range query), jitson_topk_agg
(parallel workers), pgvector's exact `ORDER BY v <~> q LIMIT 10`, and `ORDER BY bit_count(v # q)`,
on one core (max_parallel_workers_per_gather = 0) and with 2 workers. Checks that every method
returns the same hits. Optionally the sharded query over postgres_fdw against one server.

Then Tanimoto: --tanimoto-rows (default --rows) fingerprints of bit(2048) at ~4 % bit density
(in the heap: 256-byte values stay in line), queries that are stored rows with a few bits moved
(so a threshold finds near neighbours): jitson_topk_tanimoto top-10 against pgvector's exact
`ORDER BY v <%> q, id LIMIT 10` and plain SQL bit_count, a threshold query (min_similarity 0.7
against `WHERE v <%> q <= 1 - 0.7`), and jitson_topk_tanimoto_agg with 2 workers; hits compared,
ratios printed. --only hamming / tanimoto runs one part.
"""
import argparse
import json
import re
import statistics
import struct
import sys
import time

import numpy as np
import psycopg


def load(conn, table, rows, bits, storage, seed, id_offset=0):
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(f"CREATE TABLE {table} (id bigint, v bit({bits}))")
    if storage:
        conn.execute(f"ALTER TABLE {table} ALTER v SET STORAGE {storage}")
    rng = np.random.default_rng(seed)
    nbytes = bits // 8
    batch = 10000
    with conn.cursor() as cur, cur.copy(f"COPY {table} (id, v) FROM STDIN (FORMAT binary)") as cp:
        cp.write(b"PGCOPY\n\xff\r\n\0" + struct.pack("!ii", 0, 0))
        rowhead = struct.pack("!h", 2)
        for start in range(0, rows, batch):
            n = min(batch, rows - start)
            data = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
            out = bytearray()
            for i in range(n):
                out += rowhead + struct.pack("!iqii", 8, id_offset + start + i + 1, 4 + nbytes, bits)
                out += data[i].tobytes()
            cp.write(bytes(out))
        cp.write(struct.pack("!h", -1))
    conn.execute(f"VACUUM ANALYZE {table}")
    # A second VACUUM marks the pages all-visible (the first right after the load does not
    # always), as autovacuum leaves a table that is read more than written.
    conn.execute(f"VACUUM {table}")


def timed(conn, sql, params, repeat=1):
    t = time.perf_counter()
    for _ in range(repeat):
        rows = conn.execute(sql, params).fetchall()
    return (time.perf_counter() - t) / repeat * 1000.0, rows


def median_ms(conn, sql, queries, extra=None):
    times, results = [], []
    conn.execute(sql, queries[0] if extra is None else extra(queries[0])).fetchall()  # warm-up
    if sql.startswith("EXPLAIN"):
        return None
    for q in queries:
        ms, rows = timed(conn, sql, q if extra is None else extra(q))
        if len(rows) == 1 and isinstance(rows[0][0], list):
            rows = [tuple(p) for p in rows[0][0]]
        times.append(ms)
        results.append(rows)
    return statistics.median(times), min(times), max(times), results


def load_sparse(conn, table, rows, bits, density, seed):
    """rows random bit(bits) values, each bit set with probability density, by binary COPY."""
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(f"CREATE TABLE {table} (id bigint, v bit({bits}))")
    rng = np.random.default_rng(seed)
    nbytes = bits // 8
    batch = 2000
    with conn.cursor() as cur, cur.copy(f"COPY {table} (id, v) FROM STDIN (FORMAT binary)") as cp:
        cp.write(b"PGCOPY\n\xff\r\n\0" + struct.pack("!ii", 0, 0))
        rowhead = struct.pack("!h", 2)
        for start in range(0, rows, batch):
            n = min(batch, rows - start)
            data = np.packbits(rng.random((n, bits), dtype=np.float32) < density, axis=1)
            out = bytearray()
            for i in range(n):
                out += rowhead + struct.pack("!iqii", 8, start + i + 1, 4 + nbytes, bits)
                out += data[i].tobytes()
            cp.write(bytes(out))
        cp.write(struct.pack("!h", -1))
    conn.execute(f"VACUUM ANALYZE {table}")
    conn.execute(f"VACUUM {table}")


def bench_tanimoto(conn, args):
    """Tanimoto top-10 and a threshold query: jitson against pgvector's <%> and plain SQL."""
    B, rows = args.tanimoto_bits, args.tanimoto_rows or args.rows
    table, t = "bench_tanimoto", args.tanimoto_threshold
    if not args.skip_load:
        start = time.time()
        load_sparse(conn, table, rows, B, args.tanimoto_density, seed=2)
        print(f"loaded {table}: {rows} rows x {B} bits at {args.tanimoto_density:.0%} density in "
              f"{time.time() - start:.1f} s "
              f"({conn.execute('SELECT pg_size_pretty(pg_total_relation_size(%s::regclass))', (table,)).fetchone()[0]}; "
              f"{conn.execute(f'SELECT avg(bit_count(v))::numeric(8,1) FROM {table}').fetchone()[0]} bits set on average)",
              flush=True)
    rng = np.random.default_rng(98)
    queries = []
    for rid in rng.integers(1, rows + 1, size=args.queries):
        row = np.array([c == "1" for c in conn.execute(f"SELECT v::text FROM {table} WHERE id = %s",
                                                       (int(rid),)).fetchone()[0]], dtype=np.uint8)
        ones, zeros = np.flatnonzero(row), np.flatnonzero(row == 0)
        moved = max(1, len(ones) // 20)  # 5 % of the bits moved: T = 0.9 with the source row
        row[rng.choice(ones, size=moved, replace=False)] = 0
        row[rng.choice(zeros, size=moved, replace=False)] = 1
        queries.append("".join(map(str, row)))
    cfg10 = json.dumps({"top_k": 10})
    cfg_t = json.dumps({"top_k": 1000000, "min_similarity": t})
    jt = f"SELECT id, similarity FROM jitson_topk_tanimoto(%s::jsonb, %s::varbit, '{table}', 'v', 'id')"
    # (id, Jaccard distance) from every method: 1 - T is pgvector's float8 exactly (postgres/jitson--0.1--0.2.sql)
    methods = {
        "jitson_topk_tanimoto top-10": (jt, lambda q: (cfg10, q), True),
        "jitson_topk_tanimoto_agg top-10": (
            f"SELECT jitson_topk_tanimoto_agg(v, %s::varbit, %s::jsonb, id)::text FROM {table}", lambda q: (q, cfg10), False),
        "bit_count(v & q) / bit_count(v | q)": (
            f"SELECT id, bit_count(v & %s::bit({B}))::float8 / bit_count(v | %s::bit({B})) FROM {table} ORDER BY 2 DESC, 1 LIMIT 10",
            lambda q: (q, q), True),
        f"jitson_topk_tanimoto T >= {t}": (jt, lambda q: (cfg_t, q), True),
    }
    if args.pgvector:
        # <%> evaluated once per row (twice where the select list and ORDER BY each name it with
        # their own parameter; see the Hamming methods): the sort key is the output column, and
        # the threshold query evaluates the select list only for the rows its WHERE keeps.
        methods["pgvector v <%> q top-10"] = (
            f"SELECT id, v <%%> %s::bit({B}) AS d FROM {table} ORDER BY d, id LIMIT 10",
            lambda q: (q,), True)
        methods[f"pgvector v <%> q <= 1 - {t}"] = (
            f"SELECT id, v <%%> %s::bit({B}) AS d FROM {table} WHERE v <%%> %s::bit({B}) <= 1 - {t}::float8 "
            f"ORDER BY d, id", lambda q: (q, q), True)

    def hits(name, rows_):
        """(id, Jaccard distance) pairs: 1 - T of a similarity is pgvector's float8 exactly."""
        if name.startswith("jitson_topk_tanimoto_agg"):
            # jitson_tanimoto_hit[] as text: {"(id,similarity,intersection,union_bits)",...}
            return [(int(i), 1.0 - float(s)) for i, s in re.findall(r"\((-?\d+),([^,]+),", rows_[0][0])]
        if name.startswith("pgvector"):
            return list(rows_)
        return [(i, 1.0 - s) for i, s in rows_]

    print(f"tanimoto kernel: {conn.execute('SELECT jitson_compile(%s::jsonb)', (json.dumps({'record_bits': B, 'metric': 'tanimoto', 'top_k': 10}),)).fetchone()[0]}")
    conn.execute("SET max_parallel_workers_per_gather = 0")
    floor = median_ms(conn, f"SELECT count(*) FROM {table}", [()] * len(queries))[0]
    print(f"tanimoto workers=0 {'page walk (count(*))':38} median {floor:9.1f} ms  (the floor: no value read)", flush=True)
    results, truth = {}, {}
    for workers in (0, 2):
        conn.execute(f"SET max_parallel_workers_per_gather = {workers}")
        for k, v in (("parallel_setup_cost", 0 if workers else 1000), ("parallel_tuple_cost", 0 if workers else 0.1)):
            conn.execute(f"SET {k} = {v}")
        for name, (sql, mk, serial) in methods.items():
            if workers == 2 and name.startswith("jitson_topk_tanimoto ") or workers == 0 and not serial:
                continue  # one backend scans in jitson_topk_tanimoto; the parallel form is the aggregate
            med, lo, hi, res = median_ms(conn, sql, queries, mk)
            results[(workers, name)] = (med, lo, hi)
            kind = "range" if "<=" in name or ">=" in name else "top"
            for qi, r in enumerate(res):
                got = hits(name, r)
                truth.setdefault((kind, qi), got)
                assert got == truth[(kind, qi)], f"{name} ({workers} workers) disagrees on query {qi}: {got[:5]}"
            print(f"tanimoto workers={workers} {name:38} median {med:9.1f} ms  (min {lo:.1f}, max {hi:.1f})", flush=True)
    found = [len(truth[("range", qi)]) for qi in range(len(queries))]
    tenth = [1.0 - truth[("top", qi)][-1][1] for qi in range(len(queries))]
    print(f"tanimoto: T >= {t} finds {min(found)} to {max(found)} rows per query; "
          f"the 10th best T is {min(tenth):.3f} to {max(tenth):.3f}")
    print("tanimoto ratios (median time of the peer / median time of jitson; > 1 means jitson is faster)")
    pairs = [(0, "jitson_topk_tanimoto top-10", "pgvector v <%> q top-10"),
             (0, "jitson_topk_tanimoto top-10", "bit_count(v & q) / bit_count(v | q)"),
             (0, f"jitson_topk_tanimoto T >= {t}", f"pgvector v <%> q <= 1 - {t}"),
             (2, "jitson_topk_tanimoto_agg top-10", "pgvector v <%> q top-10"),
             (2, "jitson_topk_tanimoto_agg top-10", "bit_count(v & q) / bit_count(v | q)")]
    for workers, mine, peer in pairs:
        if (workers, mine) in results and (workers, peer) in results:
            print(f"  workers={workers}: {peer:38} / {mine:32} = {results[(workers, peer)][0] / results[(workers, mine)][0]:6.1f} x")
    for name in ("jitson_topk_tanimoto top-10", "pgvector v <%> q top-10"):
        if (0, name) in results:
            print(f"  workers=0: {name:38} / page walk floor{'':17} = {results[(0, name)][0] / floor:6.2f} x")
    print(flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--bits", type=int, default=16384)
    ap.add_argument("--queries", type=int, default=10)
    ap.add_argument("--pgvector", action="store_true", help="CREATE EXTENSION vector and time it")
    ap.add_argument("--shard-dsn", action="append", default=[], help="a shard's libpq DSN (3 for the sharded test)")
    ap.add_argument("--shard-fdw", action="append", default=[], help="host:port of each shard, as the coordinator reaches it")
    ap.add_argument("--skip-load", action="store_true")
    ap.add_argument("--only", choices=("all", "hamming", "tanimoto"), default="all")
    ap.add_argument("--tanimoto-rows", type=int, default=None, help="default: --rows")
    ap.add_argument("--tanimoto-bits", type=int, default=2048)
    ap.add_argument("--tanimoto-density", type=float, default=0.04)
    ap.add_argument("--tanimoto-threshold", type=float, default=0.7)
    args = ap.parse_args()

    conn = psycopg.connect(args.dsn, autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS jitson")
    if args.pgvector:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    if args.only != "hamming":
        bench_tanimoto(conn, args)
    if args.only == "tanimoto":
        return 0
    B = args.bits
    tables = {"default": "bench_default", "plain": "bench_plain"}
    if not args.skip_load:
        for storage, table in tables.items():
            t = time.time()
            load(conn, table, args.rows, B, "PLAIN" if storage == "plain" else None, seed=1)
            print(f"loaded {table}: {args.rows} rows x {B} bits in {time.time() - t:.1f} s "
                  f"({conn.execute('SELECT pg_size_pretty(pg_total_relation_size(%s::regclass))', (table,)).fetchone()[0]})",
                  flush=True)
    # Steady state, as for a table read more than written: every page of the tables and their
    # TOAST tables all-visible. A VACUUM right after a load can leave pages unmarked while an
    # autovacuum ANALYZE of another table holds back the oldest xmin, and the per-tuple
    # visibility checks then double every scan's page walk; vacuum until none is left.
    for table in tables.values():
        for attempt in range(10):
            conn.execute(f"VACUUM {table}")
            pages, visible = conn.execute(
                "SELECT sum(relpages), sum(relallvisible) FROM pg_class WHERE oid = %s::regclass "
                "OR oid = (SELECT reltoastrelid FROM pg_class WHERE oid = %s::regclass)", (table, table)).fetchone()
            if visible >= pages:
                break
            time.sleep(1)
        print(f"{table}: {visible} of {pages} pages all-visible (table and TOAST)", flush=True)
    rng = np.random.default_rng(99)
    queries = ["".join(map(str, rng.integers(0, 2, size=B))) for _ in range(args.queries)]
    cfg10 = json.dumps({"top_k": 10})

    methods = {
        "jitson_topk top-10": ("SELECT id, distance FROM jitson_topk(%s::jsonb, %s::varbit, %s::regclass, 'v', 'id')",
                               lambda t: (lambda q: (cfg10, q, t))),
        "jitson_topk range": ("SELECT id, distance FROM jitson_topk(%s::jsonb, %s::varbit, %s::regclass, 'v', 'id')",
                              None),  # filled below: max_distance = 10th distance of each query
        # the aggregate at the top level (an InitPlan would keep it out of parallel plans);
        # jitson_topk_pairs is jitson_topk_agg with a bigint[][] result, which psycopg reads
        "jitson_topk_agg top-10": ("SELECT jitson_topk_pairs(v, %s::varbit, %s::jsonb, id) FROM {t}",
                                   lambda t: (lambda q: (q, cfg10))),
        "bit_count(v # q)": ("SELECT id, bit_count(v # %s::bit(" + str(B) + "))::int FROM {t} ORDER BY 2, 1 LIMIT 10",
                             lambda t: (lambda q: (q,))),
    }
    if args.pgvector:
        # One evaluation of <~> per row: the distance is the sort key's output column. Written
        # as SELECT (v <~> q)::int ... ORDER BY v <~> q the two expressions differ (the cast),
        # PostgreSQL evaluates both, and each detoasts the value: default storage on Zen 5
        # 652 ms against 396 ms, which flattered jitson's ratio by 1.65 x until 2026-12-06.
        methods["pgvector v <~> q"] = ("SELECT id, v <~> %s::bit(" + str(B) + ") AS d FROM {t} ORDER BY d, id LIMIT 10",
                                       lambda t: (lambda q: (q,)))

    # The floor under any scan here: PostgreSQL's own page walk (buffer lookups, pins,
    # visibility) over the heap and, for default storage, its TOAST table, reading no value.
    floors = {}
    for storage, table in tables.items():
        conn.execute("SET max_parallel_workers_per_gather = 0")
        toast = conn.execute("SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = %s::regclass",
                             (table,)).fetchone()[0]
        walk = f"SELECT (SELECT count(*) FROM {table})"
        if storage == "default":
            walk += f" + (SELECT count(*) FROM {toast})"
        med = median_ms(conn, walk, [()] * len(queries))[0]
        floors[storage] = med
        print(f"{storage:8} workers=0 {'page walk (count(*))':24} median {med:9.1f} ms  (the floor: no value read)",
              flush=True)

    # jitson's own walk: the same jitson_topk with a one-word focus reads 64 bytes of each
    # value, so its time is the page walk (and, with default storage, gathering the TOAST
    # chunks) with next to no kernel: what no kernel, however fast, can take away.
    walk_cfg = json.dumps({"top_k": 10, "focus": {"ranges": [[0, 64]]}})
    walks = {}
    for storage, table in tables.items():
        med = median_ms(conn, methods["jitson_topk top-10"][0], queries, lambda q: (walk_cfg, q, table))[0]
        walks[storage] = med
        print(f"{storage:8} workers=0 {'jitson_topk 1-word focus':24} median {med:9.1f} ms  (jitson's walk: 64 bytes of each value)",
              flush=True)

    results = {}
    truth = {}
    for storage, table in tables.items():
        for workers in (0, 2):
            conn.execute(f"SET max_parallel_workers_per_gather = {workers}")
            # with workers: make the planner use them for every method alike
            for k, v in (("parallel_setup_cost", 0 if workers else 1000), ("parallel_tuple_cost", 0 if workers else 0.1)):
                conn.execute(f"SET {k} = {v}")
            for name, (sql, mk) in methods.items():
                if name == "jitson_topk range":
                    continue
                if workers == 2 and name == "jitson_topk top-10":
                    continue  # one backend scans: the parallel form is the aggregate
                med, lo, hi, res = median_ms(conn, sql.replace("{t}", table), queries, mk(table))
                results[(storage, workers, name)] = (med, lo, hi)
                for qi, r in enumerate(res):
                    truth.setdefault((storage, qi), r)
                    assert [tuple(x) for x in r] == [tuple(x) for x in truth[(storage, qi)]], \
                        f"{name} ({storage}, {workers} workers) disagrees on query {qi}: {r} vs {truth[(storage, qi)]}"
                print(f"{storage:8} workers={workers} {name:24} median {med:9.1f} ms  (min {lo:.1f}, max {hi:.1f})",
                      flush=True)
            if workers == 0:
                # range: max_distance = the 10th best distance of the query, top_k 1000
                sql = methods["jitson_topk range"][0]
                times = []
                for qi, q in enumerate(queries):
                    md = truth[(storage, qi)][-1][1]
                    conn.execute(sql, (json.dumps({"top_k": 1000, "max_distance": md}), q, table)).fetchall()
                    ms, rows = timed(conn, sql, (json.dumps({"top_k": 1000, "max_distance": md}), q, table))
                    assert [tuple(x) for x in rows][:10] == [tuple(x) for x in truth[(storage, qi)]]
                    times.append(ms)
                results[(storage, 0, "jitson_topk range")] = (statistics.median(times), min(times), max(times))
                print(f"{storage:8} workers=0 {'jitson_topk range':24} median {statistics.median(times):9.1f} ms",
                      flush=True)

    print("\nratios (median time of the peer / median time of jitson; > 1 means jitson is faster)")
    for storage in tables:
        for workers in (0, 2):
            j = results[(storage, 0, "jitson_topk top-10")][0] if workers == 0 else results[(storage, 2, "jitson_topk_agg top-10")][0]
            jname = "jitson_topk" if workers == 0 else "jitson_topk_agg"
            for peer in ("pgvector v <~> q", "bit_count(v # q)"):
                if (storage, workers, peer) in results:
                    print(f"  {storage:8} workers={workers}: {peer:18} / {jname:16} = {results[(storage, workers, peer)][0] / j:7.1f} x")
            if workers == 0:
                f = floors[storage]
                print(f"  {storage:8} workers=0: jitson_topk / page walk floor = {j / f:5.2f} x; "
                      f"pgvector / floor = {results.get((storage, 0, 'pgvector v <~> q'), (float('nan'),))[0] / f:5.1f} x")
                pg = results.get((storage, 0, "pgvector v <~> q"))
                if pg:
                    target = 20 if storage == "default" else 5
                    print(f"  {storage:8} workers=0: the {target} x target needs {pg[0] / target:.1f} ms; "
                          f"jitson's walk alone (1-word focus) takes {walks[storage]:.1f} ms, "
                          f"PostgreSQL's count(*) {f:.1f} ms")

    if len(args.shard_dsn) == 3:
        print("\nsharded: 3 local clusters over postgres_fdw vs one server (default storage)")
        per = args.rows // 3
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgres_fdw")
        conn.execute("DROP TABLE IF EXISTS bench_sharded CASCADE")
        conn.execute(f"CREATE TABLE bench_sharded (id bigint, v bit({B})) PARTITION BY RANGE (id)")
        for i, (dsn, hp) in enumerate(zip(args.shard_dsn, args.shard_fdw)):
            host, port = hp.rsplit(":", 1)
            with psycopg.connect(dsn, autocommit=True) as s:
                s.execute("CREATE EXTENSION IF NOT EXISTS jitson")
                # the shard's slice of the same rows: copy from the coordinator through COPY
                s.execute(f"DROP TABLE IF EXISTS bench_part")
                s.execute(f"CREATE TABLE bench_part (id bigint, v bit({B}))")
                lo, hi = i * per + 1, (i + 1) * per if i < 2 else args.rows
                with conn.cursor() as src, s.cursor() as dst:
                    with src.copy(f"COPY (SELECT id, v FROM bench_default WHERE id BETWEEN {lo} AND {hi}) TO STDOUT (FORMAT binary)") as cin, \
                            dst.copy("COPY bench_part FROM STDIN (FORMAT binary)") as cout:
                        for chunk in cin:
                            cout.write(chunk)
                s.execute("VACUUM ANALYZE bench_part")
            conn.execute(f"DROP SERVER IF EXISTS bench_s{i} CASCADE")
            conn.execute(f"CREATE SERVER bench_s{i} FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '{host}', port '{port}', "
                         f"dbname 'postgres', extensions 'jitson', async_capable 'true')")
            conn.execute(f"CREATE USER MAPPING FOR CURRENT_USER SERVER bench_s{i} OPTIONS (user 'postgres')")
            conn.execute(f"CREATE FOREIGN TABLE bench_s{i} PARTITION OF bench_sharded FOR VALUES FROM ({lo}) TO ({hi + 1}) "
                         f"SERVER bench_s{i} OPTIONS (table_name 'bench_part')")
        conn.execute("SET max_parallel_workers_per_gather = 0")
        sql = "SELECT id, distance FROM jitson_topk_sharded(%s::jsonb, %s::varbit, 'bench_sharded', 'v', 'id')"
        med, lo_, hi_, res = median_ms(conn, sql, queries, lambda q: (cfg10, q))
        for qi, r in enumerate(res):
            assert [tuple(x) for x in r] == [tuple(x) for x in truth[("default", qi)]], f"sharded disagrees on query {qi}"
        single = results[("default", 0, "jitson_topk_agg top-10")][0]
        print(f"  sharded jitson_topk_pairs over 3 shards: median {med:.1f} ms (min {lo_:.1f}, max {hi_:.1f}); "
              f"one server, jitson_topk_agg, 1 core: {single:.1f} ms; ratio {single / med:.2f} x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
