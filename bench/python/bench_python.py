"""jitson from Python against faiss-cpu (IndexBinaryFlat), usearch exact search (b1x8 Hamming)
and a numpy brute force: 1M x 16,384-bit records (2 GiB, numpy-generated), 1 and 100 queries,
top-10, one thread and all threads; near-duplicate search on the blocked layout; the Python call
overhead for a 1,000-record database against the C++ call. One run, medians, ratios printed,
docs/img/throughput.png written (records/s per system and case, log scale).

    python bench/python/bench_python.py [--records N] [--repeats R] [--png PATH]

Needs: numpy>=2, faiss-cpu, usearch, matplotlib (pip). Without faiss/usearch those columns stay
empty. Time the scans, not page faults: every database is touched before timing.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import statistics
import time

import numpy as np

import jitson

RECORD_BYTES = 2048  # 16,384 bits
K = 10


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up: compiles, caches, page faults
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def numpy_search(queries, db, k, chunk=65536):
    """The numpy brute force: bitwise_count of XOR, chunked so temporaries stay small."""
    out = []
    for q in queries:
        d = np.empty(len(db), np.int64)
        for s in range(0, len(db), chunk):
            d[s : s + chunk] = np.bitwise_count(db[s : s + chunk] ^ q).sum(axis=1)
        out.append(np.argsort(d, kind="stable")[:k])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--png", default=str(pathlib.Path(__file__).resolve().parents[2] / "docs/img/throughput.png"))
    args = ap.parse_args()
    n = args.records
    threads_all = os.cpu_count() or 1
    info = jitson.cpu_info()
    print(f"CPU: {info['brand']} ({info['best_isa']}), {threads_all} threads; Python {platform.python_version()}")

    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    db = rng.integers(0, 256, (n, RECORD_BYTES), dtype=np.uint8)
    print(f"database: {n:,} x 16,384 bits = {db.nbytes / 2**30:.2f} GiB (generated in {time.perf_counter() - t0:.1f} s)")
    queries100 = rng.integers(0, 256, (100, RECORD_BYTES), dtype=np.uint8)
    queries100[:5] = db[[11, 2222, n // 2, n - 3, 7]]
    queries1 = queries100[:1]

    versions = {"jitson": jitson.__version__}
    engine = jitson.Engine()
    kernel = engine.compile({"version": 1, "record_bits": 16384, "top_k": K})
    print("kernel:", kernel.describe())

    systems: dict[str, dict] = {}
    try:
        import faiss

        versions["faiss-cpu"] = faiss.__version__
        index = faiss.IndexBinaryFlat(16384)
        index.add(db)
        systems["faiss-cpu"] = {
            "search": lambda q, t: (faiss.omp_set_num_threads(t), index.search(q, K)),
        }
    except ImportError:
        print("faiss-cpu not installed")
    try:
        import usearch
        from usearch.index import MetricKind, search as usearch_search

        versions["usearch"] = usearch.__version__
        systems["usearch exact"] = {
            "search": lambda q, t: usearch_search(db, q, K, MetricKind.Hamming, exact=True, threads=t),
        }
    except ImportError:
        print("usearch not installed")
    systems = {"jitson": {"search": lambda q, t: kernel.search(q, db, threads=t)}, **systems}
    systems["numpy"] = {"search": lambda q, t: numpy_search(q, db, K)}
    print("versions:", ", ".join(f"{k} {v}" for k, v in versions.items()))

    # Same answer first (distances; ties by id are jitson's order).
    D, I = kernel.search(queries100[:5], db)
    assert (D[:, 0] == 0).all()
    if "faiss-cpu" in systems:
        fD, _ = index.search(queries100[:5], K)
        assert (fD == D).all(), "faiss distances differ"

    rows = []  # (case, system, seconds, records/s)
    for nq, q in ((1, queries1), (100, queries100)):
        for t in (1, threads_all):
            case = f"{nq} {'query' if nq == 1 else 'queries'}, {t} thread{'s' if t > 1 else ''}"
            for name, s in systems.items():
                if name == "numpy" and (nq > 1 or t > 1):
                    continue  # one thread; 100 queries would take minutes
                reps = args.repeats if nq == 1 else max(1, args.repeats // 2)
                sec = median_time(lambda: s["search"](q, t), reps)
                rows.append((case, name, sec, n * nq / sec))
                print(f"  {case:24s} {name:14s} {sec * 1e3:10.1f} ms  {n * nq / sec / 1e6:10.1f} M records/s")

    # Near-duplicate search on the blocked layout: a bound of 1% of the bits, the sweep kernel.
    blocked = jitson.to_blocked(db, 64)
    nd = engine.compile({"version": 1, "record_bits": 16384, "top_k": K, "max_distance": 164})
    for t in (1, threads_all):
        case = f"near-dup, blocked, {t} thread{'s' if t > 1 else ''}"
        sec = median_time(lambda: nd.search(queries1, blocked, threads=t), args.repeats)
        rows.append((case, "jitson", sec, n / sec))
        print(f"  {case:24s} {'jitson':14s} {sec * 1e3:10.1f} ms  {n / sec / 1e6:10.1f} M records/s")
        if "faiss-cpu" in systems:
            sec_f = median_time(lambda: index.range_search(queries1, 165), args.repeats)
            rows.append((case, "faiss-cpu", sec_f, n / sec_f))
            print(f"  {case:24s} {'faiss range':14s} {sec_f * 1e3:10.1f} ms  {n / sec_f / 1e6:10.1f} M records/s")
    del blocked

    print("\nratios (jitson speed / other):")
    by_case: dict[str, dict[str, float]] = {}
    for case, name, sec, _ in rows:
        by_case.setdefault(case, {})[name] = sec
    for case, times in by_case.items():
        if "jitson" not in times:
            continue
        parts = [f"{name} {sec / times['jitson']:.1f}x" for name, sec in times.items() if name != "jitson"]
        print(f"  {case:28s} " + ", ".join(parts))

    # Python call overhead: 1,000 records, one query, one thread, against the C++ call itself.
    small = np.ascontiguousarray(db[:1000])
    k1 = engine.compile({"version": 1, "record_bits": 16384, "top_k": K})
    e1 = jitson.Engine(threads=1)
    k1 = e1.compile({"version": 1, "record_bits": 16384, "top_k": K})
    reps = 20000
    k1.search(queries1, small)
    t0 = time.perf_counter()
    for _ in range(reps):
        k1.search(queries1, small)
    py_ns = (time.perf_counter() - t0) / reps * 1e9
    cpp_ns = jitson._jitson._time_scan_ns(k1, queries1, small, reps)
    print(f"\ncall overhead, 1,000 records, 1 query: Python {py_ns / 1e3:.2f} us, C++ {cpp_ns / 1e3:.2f} us, "
          f"overhead {(py_ns - cpp_ns) / 1e3:.2f} us (target <= 10 us)")

    # The plot.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = list(by_case)
    names = ["jitson", "faiss-cpu", "usearch exact", "numpy"]
    fig, ax = plt.subplots(figsize=(10, 5))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        ys = [n * (1 if c.startswith(("1 ", "near")) else 100) / by_case[c][name] if name in by_case[c] else 0 for c in cases]
        xs = [j + (i - (len(names) - 1) / 2) * width for j in range(len(cases))]
        label = f"{name} {versions.get(name.split()[0], '')}".strip()
        ax.bar(xs, [y if y > 0 else np.nan for y in ys], width, label=label)
    ax.set_yscale("log")
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels(cases, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("records scanned per second (x queries)")
    ax.set_title(f"Hamming top-{K}, {n:,} x 16,384-bit records, {info['brand']}, {threads_all} threads")
    ax.legend(fontsize=8)
    fig.tight_layout()
    pathlib.Path(args.png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.png, dpi=110)
    print("wrote", args.png)


if __name__ == "__main__":
    main()
