"""Tanimoto kernels from Python: search / range_search / Accumulator / Arrow against an exact numpy
brute force (numpy.bitwise_count, fractions.Fraction) on every backend and ISA this machine offers,
random, clustered and tie-heavy data, thresholds none, 0, 0.7 and 1, focus masks; then against
RDKit itself: Morgan radius-2 2,048-bit fingerprints of the molecules RDKit ships, compared with
DataStructs.BulkTanimotoSimilarity exactly (same indices, same order, the same doubles)."""

from __future__ import annotations

import decimal
from fractions import Fraction

import numpy as np
import pytest
from conftest import BACKEND_ISA, low_entropy_records, random_records

import jitson


def clustered_records(n: int, record_bytes: int, seed: int = 0) -> np.ndarray:
    """Sparse fingerprints around 12 centres with per-record noise: similarities spread over
    [0, 1], so every threshold keeps some records and drops others."""
    rng = np.random.default_rng(seed)
    bits = record_bytes * 8
    centres = rng.random((12, bits)) < 0.06
    picks = centres[rng.integers(0, 12, n)]
    noise = rng.random(n)[:, None] * 0.5
    drop = rng.random((n, bits)) < noise
    add = rng.random((n, bits)) < noise * 0.06
    return jitson.pack_bits((picks & ~drop) | add)


def tie_heavy_records(n: int, record_bytes: int, seed: int = 0) -> np.ndarray:
    """Few distinct records (many equal similarities, so the id order decides) and empty ones
    (u = 0 against an empty query: similarity 1)."""
    db = low_entropy_records(n, record_bytes, seed)
    db[np.random.default_rng(seed + 1).random(n) < 0.05] = 0
    return db


DATA = {"random": random_records, "clustered": clustered_records, "ties": tie_heavy_records}
THRESHOLDS = [None, "0", "0.7", "1"]


def counts(queries: np.ndarray, db: np.ndarray, focus: np.ndarray | None = None):
    """(c, u) int64 of shape (n_queries, n_records) by numpy.bitwise_count."""
    if focus is not None:
        queries, db = queries & focus, db & focus
    c = np.bitwise_count(queries[:, None, :] & db[None, :, :]).sum(axis=2, dtype=np.int64)
    u = np.bitwise_count(queries[:, None, :] | db[None, :, :]).sum(axis=2, dtype=np.int64)
    return c, u


def exact(c: int, u: int) -> Fraction:
    return Fraction(1) if u == 0 else Fraction(int(c), int(u))


def ordered_hits(c_row, u_row, threshold: str | None):
    """Ids ordered by (similarity descending, id) with exact fractions, those >= threshold."""
    bound = None if threshold is None else Fraction(threshold)
    sims = [exact(c, u) for c, u in zip(c_row, u_row)]
    ids = [i for i in range(len(sims)) if bound is None or sims[i] >= bound]
    return sorted(ids, key=lambda i: (-sims[i], i))


def as_double(c: int, u: int) -> float:
    return 1.0 if u == 0 else int(c) / int(u)  # int / int rounds once: the double nearest c / u


def brute_force(queries, db, k, threshold=None, focus=None):
    """(similarities, ids, intersections, unions) as search(counts=True) returns them."""
    c, u = counts(queries, db, focus)
    nq = len(queries)
    S = np.full((nq, k), np.nan)
    I = np.full((nq, k), -1, np.int64)
    C = np.zeros((nq, k), np.uint32)
    U = np.zeros((nq, k), np.uint32)
    for q in range(nq):
        for j, i in enumerate(ordered_hits(c[q], u[q], threshold)[:k]):
            S[q, j], I[q, j], C[q, j], U[q, j] = as_double(c[q, i], u[q, i]), i, c[q, i], u[q, i]
    return S, I, C, U


def brute_force_range(queries, db, threshold, focus=None):
    c, u = counts(queries, db, focus)
    lims, S, I, C, U = [0], [], [], [], []
    for q in range(len(queries)):
        for i in ordered_hits(c[q], u[q], threshold):
            S.append(as_double(c[q, i], u[q, i]))
            I.append(i)
            C.append(c[q, i])
            U.append(u[q, i])
        lims.append(len(I))
    return (np.array(lims, np.int64), np.array(S, np.float64), np.array(I, np.int64),
            np.array(C, np.uint32), np.array(U, np.uint32))


def assert_results(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype and g.shape == e.shape, (g.dtype, e.dtype, g.shape, e.shape)
        np.testing.assert_array_equal(g, e)  # exact; NaN padding equals NaN padding


def config(record_bits, threshold=None, **extra):
    c = {"version": 1, "record_bits": record_bits, "metric": "tanimoto", **extra}
    if threshold is not None:
        c["min_similarity"] = float(threshold)
    return c


def check_backend(kernel, backend, isa):
    # The JIT backends may not generate Tanimoto code (yet): then the runtime runs it, exactly.
    assert kernel.backend == backend or (kernel.backend == "runtime" and kernel.fallback_reason), (
        kernel.backend, kernel.fallback_reason)
    if kernel.backend == backend:
        assert kernel.isa == isa


@pytest.mark.parametrize("backend,isa", BACKEND_ISA)
@pytest.mark.parametrize("data", sorted(DATA))
@pytest.mark.parametrize("threshold", THRESHOLDS, ids=lambda t: f"min{t}")
def test_search_matches_brute_force(engine, backend, isa, data, threshold):
    db = DATA[data](3000, 128, seed=21)
    queries = np.concatenate([db[:3], DATA[data](3, 128, seed=22), np.zeros((1, 128), np.uint8)])
    kernel = engine.compile(config(1024, threshold, top_k=25, backend=backend, isa=isa))
    check_backend(kernel, backend, isa)
    assert kernel.metric == "tanimoto" and kernel.min_similarity == threshold
    expected = brute_force(queries, db, 25, threshold)
    S, I = kernel.search(queries, db)
    assert S.dtype == np.float64 and I.dtype == np.int64 and S.shape == (7, 25)
    assert_results((S, I), expected[:2])
    assert_results(kernel.search(queries, db, counts=True), expected)
    assert_results(kernel.search(queries, db, threads=1, counts=True), expected)
    assert_results(kernel.search(queries, db, k=3), tuple(e[:, :3] for e in expected[:2]))
    if threshold is not None:
        assert_results(kernel.range_search(queries, db, counts=True),
                       brute_force_range(queries, db, threshold))


@pytest.mark.parametrize("backend,isa", BACKEND_ISA)
def test_focus(engine, backend, isa):
    db = clustered_records(2000, 128, seed=23)
    queries = np.concatenate([db[5:8], clustered_records(2, 128, seed=24)])
    focus = {"ranges": [[0, 300], [512, 700]], "bits": [800, 801, 1000]}
    mask = np.zeros(1024, bool)
    mask[0:300] = mask[512:700] = True
    mask[[800, 801, 1000]] = True
    fmask = jitson.pack_bits(mask)
    for threshold in (None, "0.7"):
        kernel = engine.compile(config(1024, threshold, top_k=15, focus=focus, backend=backend, isa=isa))
        check_backend(kernel, backend, isa)
        assert_results(kernel.search(queries, db, counts=True),
                       brute_force(queries, db, 15, threshold, fmask))
    # Range search with a threshold given at the call, on a kernel without one.
    assert_results(kernel.range_search(queries, db, min_similarity=0.5, counts=True),
                   brute_force_range(queries, db, "0.5", fmask))
    # A focus the records do not touch: u = 0 everywhere, every similarity 1, ids in order.
    empty = db.copy()
    empty[:, :38] = 0  # bits 0..303 cleared; the focus below is [0, 300)
    k0 = engine.compile(config(1024, "1", top_k=4, focus={"ranges": [[0, 300]]}))
    S, I, C, U = k0.search(empty[:1], empty, counts=True)
    assert S.tolist() == [[1.0] * 4] and I.tolist() == [[0, 1, 2, 3]] and not C.any() and not U.any()


def test_threshold_is_the_exact_decimal(engine):
    """min_similarity is the decimal as written: T = 7/10 is kept by 0.7 (whose double is below
    7/10) and by "0.7" and Decimal("0.7"), dropped by a threshold one part in 10^17 above."""
    q = jitson.pack_bits(np.arange(64) < 7)[None]  # 7 bits
    rows = np.zeros((4, 64), bool)
    rows[0, :10] = True  # c = 7, u = 10: exactly 0.7
    rows[1, :9] = True  # 7/9
    rows[2, :6] = True  # 6/7
    rows[3, 3:13] = True  # c = 4, u = 13
    db = jitson.pack_bits(rows)
    k = engine.compile(config(64, top_k=10))
    for t in (0.7, "0.7", decimal.Decimal("0.7"), "7e-1", "0.70"):
        lims, S, I = k.range_search(q, db, min_similarity=t)
        assert I.tolist() == [2, 1, 0] and S.tolist() == [6 / 7, 7 / 9, 0.7], t
    for above in ("0.70000000000000001", decimal.Decimal("0.70000000000000001")):
        assert k.range_search(q, db, min_similarity=above)[2].tolist() == [2, 1]
    assert k.range_search(q, db, min_similarity=1)[2].tolist() == []
    assert k.range_search(q, db, min_similarity=0)[2].tolist() == [2, 1, 0, 3]
    assert k.range_search(q, db, min_similarity=np.float64(0.75))[2].tolist() == [2, 1]
    # The config form reads the same decimal, and the kernel says it back exactly.
    k7 = engine.compile('{"version": 1, "record_bits": 64, "metric": "tanimoto", "min_similarity": 0.70}')
    assert k7.min_similarity == "0.7" and k7.config["min_similarity"] == 0.7
    assert k7.range_search(q, db)[2].tolist() == [2, 1, 0]
    assert k7.search(q, db)[1].tolist() == [[2, 1, 0] + [-1] * 7]


def test_accumulator(engine):
    db = tie_heavy_records(5000, 64, seed=25)
    queries = np.concatenate([db[:3], np.zeros((1, 64), np.uint8)])
    kernel = engine.compile(config(512, "0.7", top_k=12))
    a, b = jitson.Accumulator(kernel, queries), jitson.Accumulator(kernel, queries)
    a.feed(db[3000:], base_row=3000)  # any order, any split
    b.feed(db[:1000])
    b.feed(db[1000:3000], row_ids=np.arange(1000, 3000, dtype=np.int64))
    a.merge(b)
    expected = brute_force(queries, db, 12, "0.7")
    assert_results(a.result(), expected[:2])
    assert_results(a.result(counts=True), expected)
    keep = np.arange(5000) % 3 != 0
    a.reset()
    a.feed(db, skip=~keep)
    S, I, C, U = a.result(counts=True)
    eS, eI, eC, eU = brute_force(queries, db[keep], 12, "0.7")
    ids = np.where(eI >= 0, np.arange(5000)[keep][np.maximum(eI, 0)], -1)
    assert_results((S, I, C, U), (eS, ids, eC, eU))


def test_chunked_scan_equals_one_scan(engine):
    db = tie_heavy_records(20000, 64, seed=26)
    kernel = engine.compile(config(512, top_k=40))
    expected = brute_force(db[:3], db, 40)
    try:
        jitson._jitson._set_chunk_records(4096)
        assert_results(kernel.search(db[:3], db, counts=True), expected)
    finally:
        jitson._jitson._set_chunk_records(0)


def test_arrow_inputs(engine):
    pa = pytest.importorskip("pyarrow")
    db = clustered_records(3000, 64, seed=27)
    queries = db[[4, 50, 2999]]
    kernel = engine.compile(config(512, "0.5", top_k=20))
    expected = brute_force(queries, db, 20, "0.5")
    fixed = pa.array([r.tobytes() for r in db], type=pa.binary(64))
    assert_results(kernel.search(queries, fixed, counts=True), expected)  # dense: in place
    assert_results(kernel.search(queries, pa.array([r.tobytes() for r in db]), counts=True), expected)
    # A table with ids, a record batch, a stream: through the Arrow reader; nulls are skipped.
    ids = np.arange(3000, dtype=np.int64) * 7
    values = [None if i % 10 == 0 else db[i].tobytes() for i in range(3000)]
    table = pa.table({"id": ids, "fp": pa.array(values, type=pa.binary(64))})
    keep = np.arange(3000) % 10 != 0
    eS, eI, eC, eU = brute_force(queries, db[keep], 20, "0.5")
    mapped = np.where(eI >= 0, ids[keep][np.maximum(eI, 0)], -1)
    batch = table.combine_chunks().to_batches()[0]
    stream = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=700))
    for source in (table, batch, stream):
        got = kernel.search(queries, source, column="fp", id_column="id", counts=True)
        assert_results(got, (eS, mapped, eC, eU))
    lims, S, I = kernel.range_search(queries, table, column="fp", id_column="id")
    r = brute_force_range(queries, db[keep], "0.5")
    np.testing.assert_array_equal(lims, r[0])
    np.testing.assert_array_equal(S, r[1])
    np.testing.assert_array_equal(I, ids[keep][r[2]])
    acc = jitson.Accumulator(kernel, queries)
    acc.feed(pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=500)),
             column="fp", id_column="id")
    assert_results(acc.result(counts=True), (eS, mapped, eC, eU))


def test_files(engine, tmp_path):
    db = clustered_records(2000, 128, seed=28)
    jitson.save(tmp_path / "db.jfp", db)
    kernel = engine.compile(config(1024, "0.7", top_k=10))
    assert_results(kernel.search(db[:3], jitson.open(tmp_path / "db.jfp"), counts=True),
                   brute_force(db[:3], db, 10, "0.7"))


def test_tanimoto_function():
    rng = np.random.default_rng(29)
    a, b = (jitson.pack_bits(rng.random((2, 1024)) < 0.1))
    c, u = counts(a[None], b[None])
    assert jitson.tanimoto(a, b) == as_double(c[0, 0], u[0, 0])
    assert jitson.tanimoto(a, b, counts=True) == (as_double(c[0, 0], u[0, 0]), c[0, 0], u[0, 0])
    assert jitson.tanimoto(bytes(a), bytes(a)) == 1.0
    assert jitson.tanimoto(np.zeros(8, np.uint8), np.zeros(8, np.uint8), counts=True) == (1.0, 0, 0)
    mask = np.zeros(1024, bool)
    mask[100:600] = True
    c, u = counts(a[None], b[None], jitson.pack_bits(mask))
    got = jitson.tanimoto(a, b, focus={"ranges": [[100, 600]]}, counts=True)
    assert got == (as_double(c[0, 0], u[0, 0]), c[0, 0], u[0, 0])
    with pytest.raises(ValueError, match="bits"):
        jitson.tanimoto(a, b[:64])
    with pytest.raises(ValueError, match="uint8"):
        jitson.tanimoto(a.view(np.int8), b)


def test_hamming_unchanged(engine):
    db = random_records(200, 64, seed=30)
    k = engine.compile({"version": 1, "record_bits": 512, "top_k": 5})
    assert k.metric == "hamming" and k.min_similarity is None
    D, I = k.search(db[:2], db)
    assert D.dtype == np.int32 and I.dtype == np.int64 and D[:, 0].tolist() == [0, 0]
    acc = jitson.Accumulator(k, db[:2])
    acc.feed(db)
    assert acc.result()[0].dtype == np.int32
    with pytest.raises(ValueError, match="counts=True applies to metric \"tanimoto\""):
        k.search(db[:2], db, counts=True)
    with pytest.raises(ValueError, match="counts=True"):
        acc.result(counts=True)
    with pytest.raises(ValueError, match="min_similarity applies to metric \"tanimoto\""):
        k.range_search(db[:2], db, 10, min_similarity=0.5)


def test_errors(engine):
    db = clustered_records(100, 64, seed=31)
    k = engine.compile(config(512, top_k=5))
    with pytest.raises(ValueError, match="needs a bound: pass min_similarity"):
        k.range_search(db[:1], db)
    with pytest.raises(ValueError, match="max_distance applies to metric \"hamming\""):
        k.range_search(db[:1], db, 10)
    with pytest.raises(jitson.ConfigError) as e:
        k.range_search(db[:1], db, min_similarity=1.5)
    assert e.value.pointer == "/min_similarity"
    with pytest.raises(jitson.ConfigError, match="min_similarity"):
        k.range_search(db[:1], db, min_similarity=-0.1)
    with pytest.raises(ValueError, match="not a decimal number"):
        k.range_search(db[:1], db, min_similarity="0.7, \"top_k\": 3")
    with pytest.raises(ValueError, match="not a decimal number"):
        k.range_search(db[:1], db, min_similarity=decimal.Decimal("NaN"))
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        k.range_search(db[:1], db, min_similarity=float("nan"))
    with pytest.raises(TypeError):
        k.range_search(db[:1], db, min_similarity=True)
    with pytest.raises(TypeError):
        k.range_search(db[:1], db, min_similarity=[0.5])
    with pytest.raises(jitson.ConfigError) as e:
        engine.compile({"version": 1, "record_bits": 512, "metric": "tanimoto", "max_distance": 3})
    assert e.value.pointer == "/max_distance"
    # The blocked layout is a Hamming sweep: a Tanimoto kernel refuses it with a ValueError.
    with pytest.raises(ValueError, match="blocked"):
        k.search(db[:1], jitson.to_blocked(db))


# ---- RDKit: real molecules, compared with RDKit's own Tanimoto

QUERIES = [0, 17, 123, 999, 2500, 4321, 7777, 12000]


def rdkit_order(sims: np.ndarray, ids: np.ndarray) -> np.ndarray:
    return ids[np.lexsort((ids, -sims[ids]))]


def test_rdkit_threshold(engine, morgan):
    from rdkit import DataStructs

    fps, records = morgan
    assert len(fps) >= 4000, f"only {len(fps)} molecules"
    queries = [q for q in QUERIES if q < len(fps)]
    kernel = engine.compile(config(2048, top_k=10))
    for threshold in (0.7, 0.5):
        lims, S, I, C, U = kernel.range_search(records[queries], records, min_similarity=threshold, counts=True)
        for j, q in enumerate(queries):
            sims = np.array(DataStructs.BulkTanimotoSimilarity(fps[q], fps))
            expected = rdkit_order(sims, np.nonzero(sims >= threshold)[0])
            got = slice(lims[j], lims[j + 1])
            np.testing.assert_array_equal(I[got], expected)  # the same molecules, the same order
            np.testing.assert_array_equal(S[got], sims[expected])  # the same doubles, bit for bit
            # The counts are RDKit's: c = |a & b|, u = |a| + |b| - c.
            for i, c, u in zip(I[got][:50], C[got][:50], U[got][:50]):
                common = len(set(fps[q].GetOnBits()) & set(fps[i].GetOnBits()))
                assert (c, u) == (common, fps[q].GetNumOnBits() + fps[i].GetNumOnBits() - common)
        # The config's own threshold gives the same hits.
        bound = engine.compile(config(2048, str(threshold), top_k=10))
        assert bound.range_search(records[queries], records)[2].tolist() == I.tolist()


@pytest.mark.parametrize("backend,isa", BACKEND_ISA)
def test_rdkit_top_k(engine, morgan, backend, isa):
    from rdkit import DataStructs

    fps, records = morgan
    queries = [q for q in QUERIES if q < len(fps)]
    kernel = engine.compile(config(2048, top_k=10, backend=backend, isa=isa))
    check_backend(kernel, backend, isa)
    S, I = kernel.search(records[queries], records)
    bounded = engine.compile(config(2048, "0.5", top_k=10, backend=backend, isa=isa))
    bS, bI = bounded.search(records[queries], records)
    for j, q in enumerate(queries):
        sims = np.array(DataStructs.BulkTanimotoSimilarity(fps[q], fps))
        expected = rdkit_order(sims, np.arange(len(fps)))[:10]
        assert I[j].tolist() == expected.tolist()
        np.testing.assert_array_equal(S[j], sims[expected])
        kept = expected[sims[expected] >= 0.5]
        assert bI[j].tolist() == kept.tolist() + [-1] * (10 - len(kept))
        np.testing.assert_array_equal(bS[j, : len(kept)], sims[kept])
        assert np.isnan(bS[j, len(kept):]).all()
