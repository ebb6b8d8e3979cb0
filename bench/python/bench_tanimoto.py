"""jitson Tanimoto search against FPSim2, RDKit's BulkTanimotoSimilarity and chemfp: 1,000,000
RDKit Morgan fingerprints (radius 2, 2,048 bits), one core, threshold 0.7 and top-10.

jitson runs twice: the plain scan of the unordered records ("jitson", every record read), and
with the popcount bound ("jitson+bound"): the records ordered by popcount once before timing
(jitson.order_by_popcount, a sorted copy, as FPSim2's database is sorted by popcount before its
searches), each search reading only the popcount buckets the bound T <= min(a, b) / max(a, b)
admits, and inside them only the records whose word popcounts (one byte per 64-bit word, kept
beside the sorted records) admit the intersection the threshold or the k-th hit needs
(docs/TANIMOTO.md, "Word-count bound"). The fraction of records each reads, and of word counts
read, is printed (Kernel.search(stats=True)), and the
bounded search's speed against FPSim2 and RDKit is checked against the targets: at threshold 0.7
at least 3x FPSim2 and 20x RDKit, at top-10 at least 2x FPSim2 (PASS/MISS lines).

The records are the Morgan fingerprints of the ~15,000 molecules RDKit ships as SMILES
(RDConfig.RDDataDir: NCI/first_5K.smi and Pains/test_data/wehi_mols.csv), tiled to the record
count: the first copy is the real fingerprints, every later copy moves two set bits of each
fingerprint to random positions (and once more where a copy still repeats a record), so no two
records are duplicates (checked by a 64-bit hash) and every record keeps the bit density of a real
molecule. Queries are real molecules of the set.

Every system answers the same queries, one query per call, on one core (the process is pinned to
one CPU; jitson threads=1, FPSim2 n_workers=1; RDKit and chemfp are single-threaded): all of the
queries once per system per round, the systems' order rotated every round (alternated runs), and
the median over rounds of the time per query is printed with the ratios of jitson's speed to the
others'. The answers are compared first: the hit sets of the threshold search and the top-10
similarities must agree (FPSim2 scores in float32; RDKit's doubles must equal jitson's exactly).

    python bench/python/bench_tanimoto.py [--records N] [--queries Q] [--rounds R]

Needs, in a venv of its own (pip from PyPI): jitson (pip install .), numpy>=2, rdkit, FPSim2
(brings PyTables), and optionally chemfp==1.6.1; a system that is not installed or does not
import is skipped with the reason printed (chemfp 1.6.1 builds on Python 3 but its extension does
not load: it is Python 2 code). For example:

    python3 -m venv /tmp/bench-venv
    /tmp/bench-venv/bin/pip install . "numpy>=2" rdkit FPSim2 chemfp==1.6.1
    /tmp/bench-venv/bin/python bench/python/bench_tanimoto.py
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time

import numpy as np

import jitson

BITS = 2048
THRESHOLD = 0.7
K = 10


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def real_fingerprints() -> tuple[np.ndarray, int, int]:
    """The distinct Morgan radius-2 2,048-bit fingerprints of RDKit's shipped SMILES as jitson
    records (in first-seen order), the SMILES count and the molecule count."""
    from rdkit import Chem, RDConfig, RDLogger
    from rdkit.Chem import rdFingerprintGenerator

    RDLogger.DisableLog("rdApp.*")
    smiles = []
    for path, sep in ((os.path.join(RDConfig.RDDataDir, "NCI", "first_5K.smi"), "\t"),
                      (os.path.join(RDConfig.RDDataDir, "Pains", "test_data", "wehi_mols.csv"), ",")):
        with open(path) as f:
            smiles += [line.split(sep)[0].strip().strip('"') for line in f if line.strip()]
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=BITS)
    mols = [m for m in map(Chem.MolFromSmiles, smiles) if m is not None]
    bits = np.array([gen.GetFingerprintAsNumPy(m) for m in mols], dtype=np.uint8)
    records = np.packbits(bits, axis=1, bitorder="little")
    # Different molecules can share a fingerprint (stereoisomers, salts, repeats): keep one.
    _, first = np.unique(records, axis=0, return_index=True)
    return np.ascontiguousarray(records[np.sort(first)]), len(smiles), len(mols)


def row_hashes(db: np.ndarray) -> np.ndarray:
    """A 64-bit hash of every record (multiply-add over its words)."""
    words = db.view(np.uint64)
    mult = np.random.default_rng(7).integers(1, 2**63, words.shape[1], dtype=np.uint64) | np.uint64(1)
    h = np.zeros(len(db), np.uint64)
    for j in range(words.shape[1]):
        h = h * np.uint64(0x9E3779B97F4A7C15) + words[:, j] * mult[j]
    return h


def tile(base: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    """n records: base (distinct fingerprints), then copies of base with two set bits of each record
    moved to random positions; a copy that still equals an earlier record gets one more move."""
    rng = np.random.default_rng(seed)
    nb = len(base)
    db = np.tile(base, (-(-n // nb), 1))[:n].copy()
    on = [np.flatnonzero(b) for b in np.unpackbits(base, axis=1, bitorder="little")]
    counts = np.array([len(o) for o in on])
    on_padded = np.zeros((nb, max(counts.max(), 1)), np.int64)
    for i, o in enumerate(on):
        on_padded[i, : len(o)] = o

    def move(rows):
        src = rows % nb
        pick = on_padded[src, (rng.random(len(rows)) * counts[src]).astype(np.int64)]
        db[rows, pick // 8] &= (~(1 << (pick % 8))).astype(np.uint8)
        new = rng.integers(0, BITS, len(rows))
        db[rows, new // 8] |= (1 << (new % 8)).astype(np.uint8)

    copies = np.arange(nb, n)
    move(copies)
    move(copies)
    for _ in range(20):
        _, first = np.unique(row_hashes(db), return_index=True)
        again = np.setdiff1d(copies, first)  # later occurrences of a record seen before
        if len(again) == 0:
            break
        move(again)
    return db


def distinct_rows(db: np.ndarray) -> int:
    return len(np.unique(row_hashes(db)))


def ordered(ids: np.ndarray, sims: np.ndarray) -> np.ndarray:
    return ids[np.lexsort((ids, -sims[ids]))]


# ---- the systems: setup(db) -> (threshold(q_index) -> ids, top_k(q_index) -> (ids, sims))

BACKEND = "auto"  # --backend: the code generator of jitson's kernels


def jitson_kernels():
    engine = jitson.Engine(threads=1)
    thr = engine.compile({"version": 1, "record_bits": BITS, "metric": "tanimoto",
                          "min_similarity": THRESHOLD, "top_k": 10, "backend": BACKEND})
    top = engine.compile({"version": 1, "record_bits": BITS, "metric": "tanimoto", "top_k": K,
                          "backend": BACKEND})
    return thr, top


def setup_jitson_bound(db, queries):
    thr, top = jitson_kernels()
    t0 = time.perf_counter()
    by_popcount = jitson.order_by_popcount(db)  # once, before timing (FPSim2 sorts its file too)
    print(f"  jitson+bound: records ordered by popcount (jitson.order_by_popcount, a sorted copy) "
          f"in {time.perf_counter() - t0:.2f} s")

    def threshold(i):
        _, s, ids = thr.range_search(queries[i : i + 1], by_popcount, threads=1)
        return ids, s

    def top_k(i):
        s, ids = top.search(queries[i : i + 1], by_popcount, threads=1)
        return ids[0], s[0]

    def fraction_read(database):
        """(records read, records whose word counts were read) / records over every query, for
        (threshold, top-k)."""
        *_, st = thr.range_search(queries, database, threads=1, stats=True)
        *_, sk = top.search(queries, database, threads=1, stats=True)
        total = len(queries) * len(db)
        return tuple((s["records"].sum() / total, s["word_counts_read"].sum() / total) for s in (st, sk))

    return threshold, top_k, lambda: (fraction_read(db), fraction_read(by_popcount))


def setup_jitson(db, queries):
    thr, top = jitson_kernels()
    print(f"  jitson {jitson.__version__}: {top.describe()}")

    def threshold(i):
        _, s, ids = thr.range_search(queries[i : i + 1], db, threads=1)
        return ids, s

    def top_k(i):
        s, ids = top.search(queries[i : i + 1], db, threads=1)
        return ids[0], s[0]

    return threshold, top_k


def setup_fpsim2(db, queries, workdir):
    import tables as tb
    from FPSim2 import FPSim2Engine
    from FPSim2.io.backends.pytables import __version__ as fpsim2_version, create_schema, sort_db_file
    from rdkit import DataStructs, __version__ as rdkit_version

    # FPSim2's own file, written as its create_db_file writes one (fp_id, the fingerprint as 32
    # uint64 words with bit 64w + j at 63 - j, the popcount), then sorted by popcount by FPSim2.
    path = os.path.join(workdir, "fpsim2.h5")
    t0 = time.perf_counter()
    reverse = np.array([int(f"{b:08b}"[::-1], 2) for b in range(256)], np.uint8)  # bit j -> 7 - j
    words = reverse[db].view(">u8").astype(np.uint64)
    table_class = create_schema(BITS)
    with tb.open_file(path, mode="w") as f:
        fps = f.create_table(f.root, "fps", table_class, "Table storing fps",
                             filters=tb.Filters(complib="blosc2", complevel=9, fletcher32=False))
        config = f.create_vlarray(f.root, "config", atom=tb.ObjectAtom())
        params = {"radius": 2, "fpSize": BITS}
        for item in ("Morgan", params, rdkit_version, fpsim2_version):
            config.append(item)
        rows = np.empty(len(db), dtype=fps.dtype)
        rows["fp_id"] = np.arange(len(db))
        for w in range(words.shape[1]):
            rows[f"f{w + 1}"] = words[:, w]
        rows["popcnt"] = np.bitwise_count(db).sum(axis=1)
        fps.append(rows)
        fps.cols.popcnt.create_index(kind="full")
    del rows, words
    sort_db_file(path)
    engine = FPSim2Engine(path)  # in memory
    print(f"  FPSim2 {fpsim2_version}: database written, sorted and loaded in {time.perf_counter() - t0:.0f} s")

    qfps = []
    for q in queries:
        v = DataStructs.ExplicitBitVect(BITS)
        v.SetBitsFromList(np.flatnonzero(np.unpackbits(q, bitorder="little")).tolist())
        qfps.append(v)

    def threshold(i):
        r = engine.similarity(qfps[i], THRESHOLD, n_workers=1)
        return r["mol_id"].astype(np.int64), r["coeff"]

    def top_k(i):
        r = engine.top_k(qfps[i], K, 0.0, n_workers=1)
        return r["mol_id"].astype(np.int64), r["coeff"]

    return threshold, top_k


def setup_rdkit(db, queries):
    from rdkit import DataStructs, __version__ as rdkit_version

    t0 = time.perf_counter()
    fps = []
    for start in range(0, len(db), 65536):
        bits = np.unpackbits(db[start : start + 65536], axis=1, bitorder="little")
        for b in bits:
            v = DataStructs.ExplicitBitVect(BITS)
            v.SetBitsFromList(np.flatnonzero(b).tolist())
            fps.append(v)
    qfps = [DataStructs.ExplicitBitVect(BITS) for _ in queries]
    for v, q in zip(qfps, queries):
        v.SetBitsFromList(np.flatnonzero(np.unpackbits(q, bitorder="little")).tolist())
    print(f"  RDKit {rdkit_version}: {len(fps):,} ExplicitBitVects built in {time.perf_counter() - t0:.0f} s")

    def threshold(i):
        sims = np.array(DataStructs.BulkTanimotoSimilarity(qfps[i], fps))
        return ordered(np.flatnonzero(sims >= THRESHOLD), sims), sims

    def top_k(i):
        sims = np.array(DataStructs.BulkTanimotoSimilarity(qfps[i], fps))
        kth = np.partition(sims, -K)[-K]
        ids = ordered(np.flatnonzero(sims >= kth), sims)[:K]
        return ids, sims[ids]

    return threshold, top_k


def setup_chemfp(db, queries):
    import chemfp

    try:
        import chemfp.search
    except ImportError as e:
        raise ImportError(f"chemfp {chemfp.__version__} installs from PyPI, but its C extension does not load on "
                          f"Python {platform.python_version()} (chemfp 1.x is Python 2 code): {e}") from e

    arena = chemfp.load_fingerprints(((str(i), r.tobytes()) for i, r in enumerate(db)),
                                     metadata=chemfp.Metadata(num_bits=BITS), reorder=True)
    qbytes = [q.tobytes() for q in queries]
    print(f"  chemfp {chemfp.__version__}: arena of {len(arena):,} fingerprints")

    def as_arrays(result):
        pairs = result.get_ids_and_scores()
        return np.array([int(i) for i, _ in pairs], np.int64), np.array([s for _, s in pairs])

    def threshold(i):
        return as_arrays(chemfp.search.threshold_tanimoto_search_fp(qbytes[i], arena, THRESHOLD))

    def top_k(i):
        return as_arrays(chemfp.search.knearest_tanimoto_search_fp(qbytes[i], arena, k=K, threshold=0.0))

    return threshold, top_k


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--backend", default="auto", choices=["auto", "xbyak", "llvm", "runtime"],
                    help="code generator of jitson's kernels (default: auto, i.e. xbyak)")
    args = ap.parse_args()
    global BACKEND
    BACKEND = args.backend
    n = args.records

    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    print(f"CPU: {cpu_model()} ({jitson.cpu_info()['best_isa']}); pinned to CPU {cpu}: one core. "
          f"Python {platform.python_version()}, numpy {np.__version__}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    t0 = time.perf_counter()
    base, n_smiles, n_mols = real_fingerprints()
    db = tile(base, n)
    distinct = distinct_rows(db)
    popcounts = np.bitwise_count(db).sum(axis=1)
    print(f"records: {n:,} x {BITS} bits ({db.nbytes / 2**20:.0f} MiB): the {len(base):,} distinct RDKit Morgan "
          f"radius-2 fingerprints of {n_mols:,} real molecules ({n_smiles:,} SMILES in RDKit's Data directory), tiled "
          f"{n / len(base):.1f}x with bit-level perturbation (each copy after the first moves two set bits "
          f"of every fingerprint to random positions, and again where a copy repeats a record), so they are "
          f"not duplicates: {distinct:,} distinct "
          f"records by a 64-bit hash; set bits per record: median {int(np.median(popcounts))}, "
          f"max {popcounts.max()} (built in {time.perf_counter() - t0:.0f} s)")
    pick = np.linspace(0, len(base) - 1, args.queries).astype(np.int64)
    queries = np.ascontiguousarray(base[pick])
    print(f"queries: {len(queries)} real molecules of the set (rows {pick.tolist()}), one per call")

    workdir = tempfile.mkdtemp(prefix="bench_tanimoto_")
    systems, skipped = {}, {}
    try:
        print("setup:")
        systems["jitson"] = setup_jitson(db, queries)
        bound_threshold, bound_top_k, fractions = setup_jitson_bound(db, queries)
        systems["jitson+bound"] = (bound_threshold, bound_top_k)
        for name, setup in (("FPSim2", lambda: setup_fpsim2(db, queries, workdir)),
                            ("RDKit", lambda: setup_rdkit(db, queries)),
                            ("chemfp", lambda: setup_chemfp(db, queries))):
            try:
                systems[name] = setup()
            except Exception as e:  # not installed, or (chemfp 1.6.1) Python 2 code
                skipped[name] = f"{type(e).__name__}: {e}"
                print(f"  {name}: skipped ({skipped[name]})")

        # The same answers first.
        hits = []
        for i in range(len(queries)):
            ids, sims = systems["jitson"][0](i)
            tids, tsims = systems["jitson"][1](i)
            hits.append(len(ids))
            for name, (threshold, top_k) in systems.items():
                if name == "jitson":
                    continue
                if name == "jitson+bound":  # exact: the same ids, order and doubles
                    bids, bsims = threshold(i)
                    kids, ksims = top_k(i)
                    assert np.array_equal(bids, ids) and np.array_equal(bsims, sims), f"bound: query {i}"
                    assert np.array_equal(kids, tids) and np.array_equal(ksims, tsims), f"bound: query {i}"
                    continue
                oids, osims = threshold(i)
                assert sorted(oids.tolist()) == sorted(ids.tolist()), f"{name}: threshold hits differ, query {i}"
                kids, ksims = top_k(i)
                # FPSim2 scores in float32; ties at the k-th place may pick other ids.
                assert np.allclose(np.sort(np.asarray(ksims, np.float64))[::-1], tsims, rtol=1e-6, atol=0), \
                    f"{name}: top-{K} similarities differ, query {i}"
                if name == "RDKit":  # exact: the same ids in the same order, the same doubles
                    assert np.array_equal(oids, ids) and np.array_equal(osims[ids], sims)
                    assert np.array_equal(kids, tids) and np.array_equal(ksims, tsims)
        print(f"answers agree ({', '.join(systems)}); hits >= {THRESHOLD} per query: "
              f"median {int(np.median(hits))}, min {min(hits)}, max {max(hits)}")

        # Alternated runs: every round runs each system once over every query, in a rotated order.
        names = list(systems)
        times = {(case, name): [] for case in ("threshold", "top_k") for name in names}
        for r in range(args.rounds):
            order = names[r % len(names):] + names[: r % len(names)]
            for case, slot in (("threshold", 0), ("top_k", 1)):
                for name in order:
                    fn = systems[name][slot]
                    t = time.perf_counter()
                    for i in range(len(queries)):
                        fn(i)
                    times[(case, name)].append((time.perf_counter() - t) / len(queries))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    (plain_thr, plain_top), (bound_thr, bound_top) = fractions()
    print(f"\nrecords read (all queries): threshold {THRESHOLD}: jitson {plain_thr[0]:.1%}, "
          f"jitson+bound {bound_thr[0]:.3%} (word counts of {bound_thr[1]:.1%}, an eighth of a record "
          f"each); top-{K}: jitson {plain_top[0]:.1%}, jitson+bound {bound_top[0]:.3%} (word counts "
          f"of {bound_top[1]:.1%})")

    print(f"\nmedian of {args.rounds} alternated rounds, time per query ({n:,} records, one core):")
    medians = {}
    for case, label in (("threshold", f"threshold {THRESHOLD}"), ("top_k", f"top-{K}")):
        med = {name: statistics.median(times[(case, name)]) for name in names}
        medians[case] = med
        for name in names:
            print(f"  {label:14s} {name:12s} {med[name] * 1e3:9.2f} ms  {n / med[name] / 1e6:8.1f} M records/s")
        for base in ("jitson", "jitson+bound"):
            ratios = [f"{base}/{name} {med[name] / med[base]:.1f}x" for name in names
                      if not name.startswith("jitson")]
            print(f"  {label:14s} speed ratios (other's time / {base}'s): " + ", ".join(ratios))
        print(f"  {label:14s} jitson+bound/jitson {med['jitson'] / med['jitson+bound']:.1f}x")

    # The targets for the bounded search: (case, other system, at least this many times faster).
    print()
    for case, label, other, target in (("threshold", f"threshold {THRESHOLD}", "FPSim2", 3.0),
                                       ("threshold", f"threshold {THRESHOLD}", "RDKit", 20.0),
                                       ("top_k", f"top-{K}", "FPSim2", 2.0)):
        med = medians[case]
        if other not in med:
            print(f"SKIP {label}: jitson+bound/{other} >= {target:.0f}x: {other} not measured")
            continue
        ratio = med[other] / med["jitson+bound"]
        print(f"{'PASS' if ratio >= target else 'MISS'} {label}: jitson+bound/{other} {ratio:.2f}x "
              f"(target >= {target:.0f}x)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, reason in skipped.items():
        print(f"{name} not measured: {reason}")
    print("RDKit's time includes turning BulkTanimotoSimilarity's list into numpy and selecting the "
          "hits; FPSim2 prunes by popcount bins, jitson by its exact bound cascade, jitson+bound by "
          "popcount buckets too, then by word counts, then the cascade.")


if __name__ == "__main__":
    main()
