#!/usr/bin/env python3
"""SQLite benchmark of issue 16: jitson0 KNN top-10 and range search against the same kernel over
an mmap'd .jfp file (libjitson's C API through ctypes, one thread), a plain ORDER BY
jitson_distance, and sqlite-vec's vec0 bit[N] KNN and scalar vec_distance_hamming (at 8,192 bits,
the widest vec0 takes). INSERT of all records into jitson0 is compared with `jitson gen` writing
the same bytes. One thread everywhere; medians over the queries; warm OS cache.

The Tanimoto suite (issue 18): top-10 and a min_similarity 0.7 range over --tanimoto-records
records of --tanimoto-bits bits at --density set bits (numpy, seeded; each query has planted
neighbours), through jitson0 with a "metric": "tanimoto" config, against jitson_topk over a
plain table, the brute force ORDER BY jitson_tanimoto(...) DESC, id over that table, and the same
kernel over the records in memory (the C API's jitson_scan). sqlite-vec is checked for a
Jaccard/Tanimoto function (0.1.9 has none: its bit vectors know only Hamming).

  bench/sqlite/run.sh [--records 200000 ...]   # makes the venv (numpy, sqlite-vec from PyPI)
  bench/sqlite/run.sh build --suite tanimoto   # 200,000 x 2,048 bits at 4 %
  python bench_sqlite.py --ext build/sqlite/libjitson_sqlite.so --libjitson build/libjitson.so \
      --jitson build/cli/jitson --records 200000 --bits 16384 8192 --dir /tmp/jsq-bench
"""
import argparse
import ctypes
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import time

import numpy as np


def now():
    return time.perf_counter()


class Jitson:
    """The C API over ctypes: the same kernel the extension runs, over an mmap'd .jfp file."""

    class Hit(ctypes.Structure):
        _fields_ = [("index", ctypes.c_uint64), ("distance", ctypes.c_uint32),
                    ("reserved", ctypes.c_uint32)]

    def __init__(self, path):
        L = self.L = ctypes.CDLL(path)
        vp, cp, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
        L.jitson_engine_create.restype = vp
        L.jitson_engine_create.argtypes = [cp, cp, sz]
        L.jitson_compile.restype = vp
        L.jitson_compile.argtypes = [vp, cp, sz, cp, sz]
        L.jitson_db_open.restype = vp
        L.jitson_db_open.argtypes = [cp, cp, cp, sz]
        L.jitson_scan_db.restype = ctypes.c_int64
        L.jitson_scan_db.argtypes = [vp, cp, vp, vp, ctypes.c_uint64, vp, cp, sz]
        L.jitson_kernel_describe.restype = cp
        L.jitson_kernel_describe.argtypes = [vp]
        L.jitson_scan.restype = ctypes.c_int64
        L.jitson_scan.argtypes = [vp, cp, vp, ctypes.c_uint64, vp, ctypes.c_uint64, vp, cp, sz]
        L.jitson_tanimoto_of.restype = None
        L.jitson_tanimoto_of.argtypes = [vp, vp, vp, ctypes.POINTER(ctypes.c_double)]
        self.err = ctypes.create_string_buffer(512)
        self.engine = L.jitson_engine_create(b'{"threads": 1}', self.err, 512)

    def compile(self, cfg):
        k = self.L.jitson_compile(self.engine, cfg.encode(), len(cfg), self.err, 512)
        if not k:
            raise RuntimeError(self.err.value.decode())
        return k

    def open(self, path):
        db = self.L.jitson_db_open(path.encode(), None, self.err, 512)
        if not db:
            raise RuntimeError(self.err.value.decode())
        return db

    def scan(self, kernel, query, db, cap):
        hits = (self.Hit * cap)()
        n = self.L.jitson_scan_db(kernel, query, db, hits, cap, None, self.err, 512)
        if n < 0:
            raise RuntimeError(self.err.value.decode())
        return [(int(hits[i].index) + 1, int(hits[i].distance)) for i in range(n)]

    def scan_tanimoto(self, kernel, query, records, cap):
        """The kernel over records in memory (row i is id i + 1): (id, similarity) best first."""
        hits = (self.Hit * cap)()
        n = self.L.jitson_scan(kernel, query, records.ctypes.data, records.shape[0], hits, cap, None,
                               self.err, 512)
        if n < 0:
            raise RuntimeError(self.err.value.decode())
        out, t = [], ctypes.c_double()
        for i in range(n):
            self.L.jitson_tanimoto_of(ctypes.byref(hits[i]), None, None, ctypes.byref(t))
            out.append((int(hits[i].index) + 1, t.value))
        return out


def read_jfp(path):
    with open(path, "rb") as f:
        head = f.read(64)
    assert head[:8] == b"JITSONFP", path
    return int.from_bytes(head[32:40], "little")


def records_of(path, nbytes):
    header_bytes = read_jfp(path)
    mm = np.memmap(path, dtype=np.uint8, mode="r", offset=header_bytes)
    return mm.reshape(-1, nbytes)


def median_time(fn, queries, repeat=1):
    times, out = [], None
    fn(queries[0])  # warm: compile, page cache
    for q in queries:
        for _ in range(repeat):
            t = now()
            out = fn(q)
            times.append(now() - t)
    return statistics.median(times), out


def connect(path, ext, vec=None):
    con = sqlite3.connect(path, isolation_level=None)
    con.enable_load_extension(True)
    con.load_extension(ext)
    if vec:
        con.load_extension(vec)
    con.enable_load_extension(False)
    return con


def run(args, bits, n, report):
    nbytes = bits // 8
    d = os.path.join(args.dir, f"{bits}-{n}")
    os.makedirs(d, exist_ok=True)
    jfp, qfp = os.path.join(d, "db.jfp"), os.path.join(d, "q.jfp")
    # gen renames its output over any old file, whose pages the kernel frees inside the timing:
    # remove it first, and write back earlier runs' dirty pages so neither write pays for them.
    for old in (jfp, qfp):
        if os.path.exists(old):
            os.remove(old)
    os.sync()
    t = now()
    subprocess.run([args.jitson, "gen", "--bits", str(bits), "--count", str(n), "--out", jfp,
                    "--seed", "7", "--queries", str(args.queries), "--queries-out", qfp,
                    "--plant", "3", "--flip-bits", str(bits // 64)], check=True,
                   stdout=subprocess.DEVNULL)
    t_gen = now() - t
    recs, queries = records_of(jfp, nbytes), records_of(qfp, nbytes)
    qs = [q.tobytes() for q in queries]
    radius = bits // 16  # planted neighbours are bits/64 flips away; random pairs ~bits/2
    row = {"bits": bits, "records": n, "gen_s": t_gen}

    dbpath = os.path.join(d, "jitson0.db")
    for suffix in ("", "-journal", "-wal", "-shm"):
        if os.path.exists(dbpath + suffix):
            os.remove(dbpath + suffix)
    if args.helper:
        # INSERT the way an application loads records (C, one prepared statement, one
        # transaction): what jitson0 costs, without the Python driver's 1-2 us per row.
        for name, kind in (("insert_c_s", "jitson0"), ("insert_plain_c_s", "plain")):
            path = os.path.join(d, f"helper-{kind}.db")
            for suffix in ("", "-journal"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
            os.sync()
            out = subprocess.run([args.helper, "insert", args.ext, path, jfp] + (["plain"] if kind == "plain" else []),
                                 check=True, capture_output=True, text=True).stdout
            row[name] = json.loads(out)["insert_s"]
            os.remove(path)
        out = subprocess.run([args.helper, "ceiling", jfp, qfp, str(max(args.repeat, 3))],
                             check=True, capture_output=True, text=True).stdout
        c = json.loads(out)
        row["slices_in_place_s"], row["slices_copied_s"] = c["in_place_s"], c["copied_s"]
        row["slices_copy_only_s"] = c["copy_only_s"]
    con = connect(dbpath, args.ext)
    con.execute(f"PRAGMA page_size = {args.page_size}")  # before the first table: fewer, larger reads
    con.execute(f"CREATE VIRTUAL TABLE fps USING jitson0(bits={bits})")
    os.sync()
    t = now()
    con.execute("BEGIN")
    con.executemany("INSERT INTO fps(rowid, fp) VALUES (?, ?)", ((i + 1, recs[i]) for i in range(n)))
    con.execute("COMMIT")
    row["insert_s"] = now() - t
    con.execute("CREATE TABLE plain(id INTEGER PRIMARY KEY, v BLOB)")
    con.execute("BEGIN")
    con.executemany("INSERT INTO plain VALUES (?, ?)", ((i + 1, recs[i]) for i in range(n)))
    con.execute("COMMIT")
    con.close()
    con = connect(dbpath, args.ext)

    knn = lambda q: con.execute("SELECT rowid, distance FROM fps WHERE fp MATCH ? AND k = 10",
                                (q,)).fetchall()
    rng = lambda q: con.execute("SELECT rowid, distance FROM fps WHERE fp MATCH ? AND distance <= ?",
                                (q, radius)).fetchall()
    row["jitson0_knn_s"], got_knn = median_time(knn, qs, args.repeat)
    row["jitson0_range_s"], got_rng = median_time(rng, qs, args.repeat)
    con.execute("PRAGMA mmap_size = 17179869184")
    row["jitson0_knn_mmap_s"], _ = median_time(knn, qs, args.repeat)
    row["jitson0_range_mmap_s"], _ = median_time(rng, qs, args.repeat)
    con.execute("PRAGMA mmap_size = 0")

    j = Jitson(args.libjitson)
    db = j.open(jfp)
    k_knn = j.compile(f'{{"version": 1, "record_bits": {bits}, "top_k": 10}}')
    k_rng = j.compile(f'{{"version": 1, "record_bits": {bits}, "top_k": {n}, "max_distance": {radius}}}')
    row["jfp_knn_s"], want_knn = median_time(lambda q: j.scan(k_knn, q, db, 10), qs, args.repeat)
    row["jfp_range_s"], want_rng = median_time(lambda q: j.scan(k_rng, q, db, n), qs, args.repeat)
    assert got_knn == want_knn, (got_knn, want_knn)
    assert got_rng == want_rng
    row["kernel"] = j.L.jitson_kernel_describe(k_knn).decode()

    brute = lambda q: con.execute("SELECT id, jitson_distance(v, ?) d FROM plain ORDER BY d, id LIMIT 10",
                                  (q,)).fetchall()
    row["order_by_jitson_distance_s"], got = median_time(brute, qs[:3])
    assert got == brute(qs[2])
    con.close()

    if args.vec and bits <= 8192:
        vpath = os.path.join(d, "vec.db")
        for suffix in ("", "-journal"):
            if os.path.exists(vpath + suffix):
                os.remove(vpath + suffix)
        vc = connect(vpath, args.ext, args.vec)
        vc.execute(f"PRAGMA page_size = {args.page_size}")
        vc.execute(f"CREATE VIRTUAL TABLE vv USING vec0(embedding bit[{bits}])")
        t = now()
        vc.execute("BEGIN")
        vc.executemany("INSERT INTO vv(rowid, embedding) VALUES (?, vec_bit(?))",
                       ((i + 1, recs[i]) for i in range(n)))
        vc.execute("COMMIT")
        row["vec0_insert_s"] = now() - t
        vc.execute("CREATE TABLE plain(id INTEGER PRIMARY KEY, v BLOB)")
        vc.execute("BEGIN")
        vc.executemany("INSERT INTO plain VALUES (?, ?)", ((i + 1, recs[i]) for i in range(n)))
        vc.execute("COMMIT")
        vknn = lambda q: vc.execute("SELECT rowid, distance FROM vv WHERE embedding MATCH vec_bit(?) "
                                    "AND k = 10", (q,)).fetchall()
        row["vec0_knn_s"], vgot = median_time(vknn, qs, args.repeat)
        assert [r for r, _ in vgot][:1] == [r for r, _ in want_knn][:1]
        vc.execute("PRAGMA mmap_size = 17179869184")
        row["vec0_knn_mmap_s"], _ = median_time(vknn, qs, args.repeat)
        vc.execute("PRAGMA mmap_size = 0")
        vscalar = lambda q: vc.execute("SELECT id, vec_distance_hamming(vec_bit(v), vec_bit(?)) d "
                                       "FROM plain ORDER BY d LIMIT 10", (q,)).fetchall()
        row["vec_distance_hamming_s"], _ = median_time(vscalar, qs[:3])
        vc.close()
    if args.vec and bits > 8192:
        vc = connect(":memory:", args.ext, args.vec)
        try:
            vc.execute(f"CREATE VIRTUAL TABLE vv USING vec0(embedding bit[{bits}])")
            row["vec0_refuses"] = ""
        except sqlite3.Error as e:
            row["vec0_refuses"] = str(e)
        vc.close()
    report.append(row)
    print(json.dumps(row), flush=True)


def tanimoto_data(n, bits, density, n_queries, seed=7):
    """n records at density set bits, and queries each with 3 planted neighbours (the query with
    about a tenth of its bits moved, similarity ~0.8) among the records."""
    rng = np.random.default_rng(seed)
    nbytes = bits // 8
    recs = np.empty((n, nbytes), dtype=np.uint8)
    for at in range(0, n, 8192):
        m = min(8192, n - at)
        recs[at:at + m] = np.packbits(rng.random((m, bits)) < density, axis=1, bitorder="little")
    queries = np.packbits(rng.random((n_queries, bits)) < density, axis=1, bitorder="little")
    moved = max(1, int(bits * density / 10))
    for qi in range(n_queries):
        for j in range(3):
            near = np.unpackbits(queries[qi], bitorder="little").astype(bool)
            near[rng.choice(np.flatnonzero(near), moved, replace=False)] = False
            near[rng.choice(np.flatnonzero(~near), moved, replace=False)] = True
            recs[rng.integers(0, n)] = np.packbits(near, bitorder="little")
    return recs, queries


def run_tanimoto(args, report):
    n, bits = args.tanimoto_records, args.tanimoto_bits
    nbytes = bits // 8
    t = now()
    recs, queries = tanimoto_data(n, bits, args.density, args.queries)
    row = {"suite": "tanimoto", "bits": bits, "records": n, "density": args.density,
           "mean_bits_set": float(np.bitwise_count(recs).sum(axis=1).mean()), "data_s": now() - t}
    qs = [q.tobytes() for q in queries]
    d = os.path.join(args.dir, f"tanimoto-{bits}-{n}")
    os.makedirs(d, exist_ok=True)
    dbpath = os.path.join(d, "jitson0.db")
    for suffix in ("", "-journal", "-wal", "-shm"):
        if os.path.exists(dbpath + suffix):
            os.remove(dbpath + suffix)
    con = connect(dbpath, args.ext)
    con.execute(f"PRAGMA page_size = {args.page_size}")
    con.execute(f"CREATE VIRTUAL TABLE fps USING jitson0(bits={bits})")
    t = now()
    con.execute("BEGIN")
    con.executemany("INSERT INTO fps(rowid, fp) VALUES (?, ?)", ((i + 1, recs[i]) for i in range(n)))
    con.execute("COMMIT")
    row["insert_s"] = now() - t
    con.execute("CREATE TABLE plain(id INTEGER PRIMARY KEY, v BLOB)")
    con.execute("BEGIN")
    con.executemany("INSERT INTO plain VALUES (?, ?)", ((i + 1, recs[i]) for i in range(n)))
    con.execute("COMMIT")
    con.close()
    con = connect(dbpath, args.ext)

    top10 = '{"metric": "tanimoto"}'
    rng_cfg = '{"metric": "tanimoto", "min_similarity": 0.7}'
    knn = lambda q: con.execute("SELECT rowid, similarity FROM fps WHERE fp MATCH ? AND config = ? "
                                "AND k = 10", (q, top10)).fetchall()
    rng = lambda q: con.execute("SELECT rowid, similarity FROM fps WHERE fp MATCH ? AND config = ?",
                                (q, rng_cfg)).fetchall()
    row["jitson0_knn_s"], got_knn = median_time(knn, qs, args.repeat)
    row["jitson0_range_s"], got_rng = median_time(rng, qs, args.repeat)
    row["range_hits"] = len(got_rng)
    con.execute("PRAGMA mmap_size = 17179869184")
    row["jitson0_knn_mmap_s"], _ = median_time(knn, qs, args.repeat)
    con.execute("PRAGMA mmap_size = 0")
    tvf = lambda q: con.execute("SELECT id, similarity FROM jitson_topk(?, ?, 'plain', 'v')",
                                (top10, q)).fetchall()
    row["jitson_topk_s"], got_tvf = median_time(tvf, qs, args.repeat)
    brute = lambda q: con.execute("SELECT id, jitson_tanimoto(v, ?) s FROM plain ORDER BY s DESC, id LIMIT 10",
                                  (q,)).fetchall()
    row["order_by_jitson_tanimoto_s"], got_brute = median_time(brute, qs[-3:])
    assert got_brute == knn(qs[-1]) and got_tvf == knn(qs[-1]), (got_brute, got_tvf)
    assert all(s >= 0.7 for _, s in got_rng) and got_rng[:1] == knn(qs[-1])[:1]

    j = Jitson(args.libjitson)
    k_knn = j.compile(f'{{"version": 1, "record_bits": {bits}, "metric": "tanimoto", "top_k": 10}}')
    row["memory_knn_s"], want = median_time(lambda q: j.scan_tanimoto(k_knn, q, recs, 10), qs, args.repeat)
    assert want == got_knn, (want, got_knn)
    row["kernel"] = j.L.jitson_kernel_describe(k_knn).decode()
    con.close()

    if args.vec:
        vc = connect(":memory:", args.ext, args.vec)
        names = sorted(r[0] for r in vc.execute("SELECT name FROM pragma_function_list WHERE name LIKE 'vec%'"))
        version = vc.execute("SELECT vec_version()").fetchone()[0]
        vc.close()
        found = [f for f in names if "jaccard" in f or "tanimoto" in f]
        row["sqlite_vec"] = (f"sqlite-vec {version}: " + (", ".join(found) if found else
                             "no Jaccard/Tanimoto function (" + ", ".join(x for x in names if "distance" in x)
                             + "); not compared"))
    report.append(row)
    print(json.dumps(row), flush=True)


def print_tanimoto(report):
    print("\n| bits | records | density | jitson0 top-10 | (mmap_size) | jitson0 range >= 0.7 | "
          "jitson_topk (plain table) | ORDER BY jitson_tanimoto | kernel in memory | "
          "ORDER BY / jitson0 | jitson_topk / jitson0 | jitson0 / memory |")
    print("|" + "---|" * 12)
    ms = lambda s: f"{s * 1000:.1f} ms"
    for r in report:
        print(f"| {r['bits']} | {r['records']} | {r['density']:.0%} | {ms(r['jitson0_knn_s'])} | "
              f"{ms(r['jitson0_knn_mmap_s'])} | {ms(r['jitson0_range_s'])} | {ms(r['jitson_topk_s'])} | "
              f"{ms(r['order_by_jitson_tanimoto_s'])} | {ms(r['memory_knn_s'])} | "
              f"{r['order_by_jitson_tanimoto_s'] / r['jitson0_knn_s']:.1f} × | "
              f"{r['jitson_topk_s'] / r['jitson0_knn_s']:.2f} × | {r['jitson0_knn_s'] / r['memory_knn_s']:.2f} × |")
    for r in report:
        if r.get("sqlite_vec"):
            print(r["sqlite_vec"])
        print(f"kernel: {r['kernel']}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ext", required=True)
    ap.add_argument("--libjitson", required=True)
    ap.add_argument("--jitson", required=True, help="the jitson command (for gen)")
    ap.add_argument("--vec", help="sqlite-vec's vec0.so (default: from the sqlite_vec package)")
    ap.add_argument("--helper", help="sqlite_bench_helper (C INSERT and the copy ceiling); unset: left out")
    ap.add_argument("--records", type=int, nargs="+", default=[200_000])
    ap.add_argument("--bits", type=int, nargs="+", default=[16384, 8192])
    ap.add_argument("--queries", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--page-size", type=int, default=65536, help="PRAGMA page_size of the databases")
    ap.add_argument("--dir", default="/tmp/jitson-sqlite-bench")
    ap.add_argument("--suite", nargs="+", choices=["hamming", "tanimoto"], default=["hamming", "tanimoto"])
    ap.add_argument("--tanimoto-records", type=int, default=200_000)
    ap.add_argument("--tanimoto-bits", type=int, default=2048)
    ap.add_argument("--density", type=float, default=0.04, help="share of set bits (Tanimoto suite)")
    args = ap.parse_args()
    if not args.vec:
        try:
            import sqlite_vec
            args.vec = sqlite_vec.loadable_path()
        except ImportError:
            args.vec = None
    print(f"# {platform.machine()}, SQLite {sqlite3.sqlite_version}, page_size {args.page_size}, "
          f"sqlite-vec {'yes' if args.vec else 'no'}", flush=True)
    if "tanimoto" in args.suite:
        tanimoto = []
        run_tanimoto(args, tanimoto)
        print_tanimoto(tanimoto)
    if "hamming" not in args.suite:
        return
    report = []
    for n in args.records:
        for bits in args.bits:
            run(args, bits, n, report)
    print("\n| bits | records | jitson0 KNN | jitson0 range | (mmap_size) KNN / range | .jfp KNN / range | "
          "jitson0 / .jfp | ORDER BY jitson_distance | vec0 KNN | vec_distance_hamming | "
          "vec0 / jitson0 | INSERT | jitson gen | INSERT / gen |")
    print("|" + "---|" * 14)
    ms = lambda s: f"{s * 1000:.1f} ms" if s is not None else "-"
    for r in report:
        vec = r.get("vec0_knn_s")
        print(f"| {r['bits']} | {r['records']} | {ms(r['jitson0_knn_s'])} | {ms(r['jitson0_range_s'])} | "
              f"{ms(r['jitson0_knn_mmap_s'])} / {ms(r['jitson0_range_mmap_s'])} | "
              f"{ms(r['jfp_knn_s'])} / {ms(r['jfp_range_s'])} | "
              f"{r['jitson0_knn_s'] / r['jfp_knn_s']:.2f} × / {r['jitson0_range_s'] / r['jfp_range_s']:.2f} × | "
              f"{ms(r['order_by_jitson_distance_s'])} | {ms(vec)} | {ms(r.get('vec_distance_hamming_s'))} | "
              f"{(vec / r['jitson0_knn_s']) if vec else 0:.1f} × | {r['insert_s']:.2f} s | {r['gen_s']:.2f} s | "
              f"{r['insert_s'] / r['gen_s']:.2f} × |")
    # Every public way of reading a blob out of SQLite copies it (sqlite3_blob_read, and
    # sqlite3_column_blob, whose OP_Column copies blobs out of the page): the copy ceiling is the
    # same kernel fed slices of the mapped .jfp after a page-by-page copy into an L2 buffer.
    if any("slices_copied_s" in r for r in report):
        print("\n| bits | records | jitson0 (mmap_size) | .jfp slices in place | .jfp slices copied (ceiling) | "
              "copies alone | jitson0 / ceiling | ceiling / .jfp | copies / .jfp | jitson0 / .jfp | vec0 KNN (mmap_size) | "
              "vec0 / jitson0 (both mmap_size) | vec0 / ceiling / copies alone | INSERT from C | plain table from C | "
              "C INSERT / gen |")
        print("|" + "---|" * 16)
        for r in report:
            if "slices_copied_s" not in r:
                continue
            c, j = r["slices_copied_s"], r["jitson0_knn_mmap_s"]
            vm = r.get("vec0_knn_mmap_s")
            co = r["slices_copy_only_s"]
            print(f"| {r['bits']} | {r['records']} | {ms(j)} | {ms(r['slices_in_place_s'])} | {ms(c)} | {ms(co)} | "
                  f"{j / c:.2f} × | {c / r['jfp_knn_s']:.2f} × | {co / r['jfp_knn_s']:.2f} × | {j / r['jfp_knn_s']:.2f} × | "
                  f"{ms(r.get('vec0_knn_s'))} ({ms(vm)}) | {(vm / j) if vm else 0:.1f} × | "
                  f"{(r['vec0_knn_s'] / c) if vm else 0:.1f} × / {(r['vec0_knn_s'] / co) if vm else 0:.1f} × | {r['insert_c_s']:.2f} s | "
                  f"{r['insert_plain_c_s']:.2f} s | {r['insert_c_s'] / r['gen_s']:.2f} × |")
    for r in report:
        if r.get("vec0_refuses") is not None:
            print(f"vec0 bit[{r['bits']}]: {r['vec0_refuses'] or 'accepted'}")
    print(f"kernel: {report[0]['kernel']}" if report else "")


if __name__ == "__main__":
    main()
