"""Popcount-ordered databases from Python: jitson.order_by_popcount (an in-memory sorted copy),
files written by jitson.write_popcount_ordered and by `jitson convert --order popcount`, opened
with jitson.open. Every search, range_search and accumulator feed over them must equal, array for
array, the plain search over the unordered records (ids are ORIGINAL indices, similarities,
intersections and unions), for thresholds none, 0, 0.5, 0.7 and 1 and top-k 1, 10 and all, on
sparse random data with exact duplicates and an all-zero record, on every backend and ISA; Hamming
kernels and narrower foci read every record, still with original ids; the popcount bound must
actually skip records (stats=True: bound_skipped > 0 at 0.7); damaged files are refused at open;
and on RDKit's Morgan fingerprints the bounded search equals BulkTanimotoSimilarity."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import BACKEND_ISA

import jitson

BITS = 1024
RB = BITS // 8
N = 6000


def sparse_records(n: int, bits: int = BITS, seed: int = 0) -> np.ndarray:
    """Random fingerprints of 3-5 % density, with exact duplicates (rows 10..19 repeat rows
    0..9, and a few scattered copies) and one all-zero record (row 5), so ties across popcount
    buckets and the u = 0 case (an empty query against it: similarity 1) are exercised."""
    rng = np.random.default_rng(seed)
    density = rng.uniform(0.03, 0.05, n)[:, None]
    db = jitson.pack_bits(rng.random((n, bits)) < density)
    db[5] = 0
    if n >= 20:
        db[10:20] = db[0:10]
        for i in rng.integers(20, n, 30):
            db[i] = db[rng.integers(0, n)]
    return np.ascontiguousarray(db)


def tanimoto_config(threshold=None, top_k=10, **extra):
    c = {"version": 1, "record_bits": BITS, "metric": "tanimoto", "top_k": top_k, **extra}
    if threshold is not None:
        c["min_similarity"] = float(threshold)
    return c


def assert_same(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype and g.shape == e.shape, (g.dtype, e.dtype, g.shape, e.shape)
        np.testing.assert_array_equal(g, e)  # exact; NaN padding equals NaN padding


@pytest.fixture(scope="module")
def data():
    db = sparse_records(N, seed=40)
    rng = np.random.default_rng(41)
    queries = np.concatenate([
        db[[0, 5, 10, 17, 1234, N - 1]],               # in the database: self, duplicates, empty
        sparse_records(6, seed=42),                      # new ones (row 5 of these is empty too)
        jitson.pack_bits(rng.random((2, BITS)) < 0.2),   # denser than any record
    ])
    return db, np.ascontiguousarray(queries)


@pytest.fixture(scope="module")
def ordered(data):
    return jitson.order_by_popcount(data[0])


def test_order_by_popcount_copy(data, ordered):
    db, _ = data
    assert isinstance(ordered, jitson.Database)
    assert ordered.popcount_ordered and ordered.source == "popcount-ordered copy"
    assert ordered.n_records == N and len(ordered) == N and ordered.record_bits == BITS
    assert "popcount-ordered" in repr(ordered)
    # A sorted copy: ascending popcount, ties in index order; original_index says who is where.
    popcounts = np.bitwise_count(db).sum(axis=1)
    ids = ordered.original_index
    assert ids.dtype == np.uint64 and not ids.flags.writeable
    np.testing.assert_array_equal(ids, np.argsort(popcounts, kind="stable"))
    copy = np.ctypeslib.as_array((ctypes.c_uint8 * (N * RB)).from_address(ordered.address))
    np.testing.assert_array_equal(copy.reshape(N, RB), db[ids.astype(np.int64)])
    assert ordered.address != db.ctypes.data  # its own memory, not a view of db
    # Plain databases are not ordered and have no original_index.
    plain = jitson.Database(db)
    assert not plain.popcount_ordered and plain.original_index is None
    # Already ordered: returned as is (its ids are the original ones).
    assert jitson.order_by_popcount(ordered) is ordered
    # From a Database view and from a 1-D buffer with record_bits: the same order.
    np.testing.assert_array_equal(jitson.order_by_popcount(plain).original_index, ids)
    flat = jitson.order_by_popcount(db.reshape(-1), record_bits=BITS)
    np.testing.assert_array_equal(flat.original_index, ids)


@pytest.mark.parametrize("backend,isa", BACKEND_ISA)
@pytest.mark.parametrize("threshold", [None, "0", "0.5", "0.7", "1"], ids=lambda t: f"min{t}")
def test_search_equals_plain(engine, data, ordered, backend, isa, threshold):
    db, queries = data
    kernel = engine.compile(tanimoto_config(threshold, top_k=10, backend=backend, isa=isa))
    for k in (1, 10, N):
        plain = kernel.search(queries, db, k=k, counts=True)
        assert_same(kernel.search(queries, ordered, k=k, counts=True), plain)
        assert_same(kernel.search(queries, ordered, k=k, threads=1, counts=True), plain)
    assert_same(kernel.search(queries, ordered), kernel.search(queries, db))
    if threshold is not None:
        plain = kernel.range_search(queries, db, counts=True)
        assert_same(kernel.range_search(queries, ordered, counts=True), plain)
        assert_same(kernel.range_search(queries, ordered), plain[:3])
    # A threshold given at the call, on this kernel.
    for t in ("0", "0.5", "0.7", "1"):
        assert_same(kernel.range_search(queries, ordered, min_similarity=t, counts=True),
                    kernel.range_search(queries, db, min_similarity=t, counts=True))


def test_brute_force_spot_check(engine, data, ordered):
    """The ordered search is also right on its own (not just equal to the plain scan): the empty
    query matches the empty record (u = 0, similarity 1) and every record is found by itself."""
    db, queries = data
    kernel = engine.compile(tanimoto_config("1", top_k=50))
    lims, S, I = kernel.range_search(db[[5, 0, 1234]], ordered)
    zero = np.flatnonzero(~db.any(axis=1))
    same0 = np.flatnonzero((db == db[0]).all(axis=1))
    same1234 = np.flatnonzero((db == db[1234]).all(axis=1))
    assert I[lims[0]:lims[1]].tolist() == zero.tolist() and (S[lims[0]:lims[1]] == 1).all()
    assert I[lims[1]:lims[2]].tolist() == same0.tolist() and 10 in same0.tolist()
    assert I[lims[2]:lims[3]].tolist() == same1234.tolist()


def test_stats(engine, data, ordered):
    db, queries = data
    kernel = engine.compile(tanimoto_config("0.7", top_k=10))
    lims, S, I, stats = kernel.range_search(queries, ordered, stats=True)
    assert sorted(stats) == ["bound_skipped", "records", "word_counts_read"]
    assert stats["records"].dtype == np.uint64 and stats["records"].shape == (len(queries),)
    np.testing.assert_array_equal(stats["records"] + stats["bound_skipped"], N)
    assert stats["bound_skipped"].sum() > 0  # the bound skips records at 0.7 on sparse data
    # The empty query reads only the bucket of empty records (row 5 and its copies); the dense
    # queries (popcount ~205 against records of at most ~60 bits) read nothing.
    assert stats["records"][1] == (~db.any(axis=1)).sum() >= 1
    assert (stats["records"][-2:] == 0).all()
    # The plain scan reads every record.
    *_, plain = kernel.range_search(queries, db, stats=True)
    np.testing.assert_array_equal(plain["records"], N)
    np.testing.assert_array_equal(plain["bound_skipped"], 0)
    np.testing.assert_array_equal(plain["word_counts_read"], 0)
    # search returns the stats after the counts.
    S, I, C, U, st = kernel.search(queries, ordered, counts=True, stats=True)
    assert_same((S, I, C, U), kernel.search(queries, db, counts=True))
    np.testing.assert_array_equal(st["records"] + st["bound_skipped"], N)


def test_focus_and_hamming_read_everything(engine, data, ordered):
    db, queries = data
    # A narrower focus: stored popcounts count bits outside it, so no bound, but original ids.
    focused = engine.compile(tanimoto_config("0.5", top_k=20, focus={"ranges": [[0, 700]]}))
    assert_same(focused.search(queries, ordered, counts=True), focused.search(queries, db, counts=True))
    *got, stats = focused.range_search(queries, ordered, counts=True, stats=True)
    assert_same(got, focused.range_search(queries, db, counts=True))
    np.testing.assert_array_equal(stats["bound_skipped"], 0)
    np.testing.assert_array_equal(stats["records"], N)
    # Hamming kernels: every record, with original ids, ties by them.
    hamming = engine.compile({"version": 1, "record_bits": BITS, "top_k": 25})
    for k in (1, 25, N):
        assert_same(hamming.search(queries, ordered, k=k), hamming.search(queries, db, k=k))
    assert_same(hamming.range_search(queries, ordered, 60), hamming.range_search(queries, db, 60))
    focused_h = engine.compile({"version": 1, "record_bits": BITS, "top_k": 7,
                                "focus": {"ranges": [[64, 512]]}})
    assert_same(focused_h.search(queries, ordered), focused_h.search(queries, db))


def test_many_queries_threads_and_rounds(engine, data, ordered):
    """Queries spread over threads, and rounds of queries with a Ctrl-C check between them."""
    db, _ = data
    queries = np.ascontiguousarray(db[::97])
    kernel = engine.compile(tanimoto_config("0.5", top_k=10))
    expected = kernel.search(queries, db, counts=True)
    for threads in (None, 1, 2, 3):
        assert_same(kernel.search(queries, ordered, threads=threads, counts=True), expected)
    try:
        jitson._jitson._set_chunk_records(4096)
        assert_same(kernel.search(queries, ordered, counts=True), expected)
        assert_same(kernel.range_search(queries, ordered), kernel.range_search(queries, db))
    finally:
        jitson._jitson._set_chunk_records(0)


def test_accumulator(engine, data, ordered):
    db, queries = data
    kernel = engine.compile(tanimoto_config("0.5", top_k=12))
    expected = kernel.search(queries, db, counts=True)
    acc = jitson.Accumulator(kernel, queries)
    acc.feed(ordered)
    assert_same(acc.result(counts=True), expected)
    # Shards, each ordered on its own, fed with base_row: one search over everything.
    half = N // 2
    acc.reset()
    acc.feed(jitson.order_by_popcount(db[half:]), base_row=half)
    acc.feed(jitson.order_by_popcount(db[:half]))
    assert_same(acc.result(counts=True), expected)
    # skip is by original index (the ids the caller knows), not by position.
    keep = np.arange(N) % 3 != 0
    acc.reset()
    acc.feed(ordered, skip=~keep)
    plain = jitson.Accumulator(kernel, queries)
    plain.feed(db, skip=~keep)
    assert_same(acc.result(counts=True), plain.result(counts=True))
    acc.reset()
    acc.feed(ordered, skip=np.packbits(~keep, bitorder="little"))
    assert_same(acc.result(counts=True), plain.result(counts=True))
    # A popcount-ordered database brings its own ids.
    with pytest.raises(ValueError, match="brings its own ids"):
        acc.feed(ordered, row_ids=np.arange(N, dtype=np.int64))
    # Chunked feeds (several chunks) as well.
    try:
        jitson._jitson._set_chunk_records(4096)
        acc.reset()
        acc.feed(ordered)
        assert_same(acc.result(counts=True), expected)
    finally:
        jitson._jitson._set_chunk_records(0)


def test_write_and_open(engine, data, ordered, tmp_path):
    db, queries = data
    path = tmp_path / "ordered.jfp"
    jitson.write_popcount_ordered(path, db)
    f = jitson.open(path)
    assert f.popcount_ordered and f.source == "file" and f.path == str(path)
    np.testing.assert_array_equal(f.original_index, ordered.original_index)
    # Writing an ordered database gives the same file (its original order is restored first).
    again = tmp_path / "again.jfp"
    jitson.write_popcount_ordered(again, ordered)
    assert again.read_bytes() == path.read_bytes()
    jitson.write_popcount_ordered(tmp_path / "from_file.jfp", f)
    assert (tmp_path / "from_file.jfp").read_bytes() == path.read_bytes()
    for threshold in (None, "0.7"):
        kernel = engine.compile(tanimoto_config(threshold, top_k=10))
        for k in (1, 10, N):
            assert_same(kernel.search(queries, f, k=k, counts=True),
                        kernel.search(queries, db, k=k, counts=True))
    kernel = engine.compile(tanimoto_config("0.7", top_k=10))
    assert_same(kernel.range_search(queries, f, counts=True),
                kernel.range_search(queries, db, counts=True))
    acc = jitson.Accumulator(kernel, queries)
    acc.feed(f)
    assert_same(acc.result(counts=True), kernel.search(queries, db, counts=True))
    hamming = engine.compile({"version": 1, "record_bits": BITS, "top_k": 10})
    assert_same(hamming.search(queries, f), hamming.search(queries, db))
    # A plain file of the same records is not ordered; order_by_popcount of it is.
    jitson.save(tmp_path / "plain.jfp", db)
    plain = jitson.open(tmp_path / "plain.jfp")
    assert not plain.popcount_ordered
    np.testing.assert_array_equal(jitson.order_by_popcount(plain).original_index,
                                  ordered.original_index)
    # populate=True opens it the same way.
    assert jitson.open(path, populate=True).popcount_ordered


def jitson_cli() -> str | None:
    """The CLI of a build tree (build/cli/jitson, or $JITSON_CLI), if it converts to popcount
    order; the installed package has no CLI."""
    candidates = [os.environ.get("JITSON_CLI"), shutil.which("jitson"),
                  str(Path(__file__).resolve().parents[2] / "build" / "cli" / "jitson")]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            try:
                out = subprocess.run([c, "convert", "--help"], capture_output=True, text=True, timeout=30)
            except (OSError, subprocess.SubprocessError):
                continue
            if "--order" in out.stdout:
                return c
    return None


def test_cli_convert(engine, data, tmp_path):
    cli = jitson_cli()
    if cli is None:
        pytest.skip("no jitson CLI with convert --order popcount (build/cli/jitson or $JITSON_CLI)")
    db, queries = data
    jitson.save(tmp_path / "plain.jfp", db)
    subprocess.run([cli, "convert", str(tmp_path / "plain.jfp"), str(tmp_path / "cli.jfp"),
                    "--order", "popcount"], check=True, capture_output=True)
    f = jitson.open(tmp_path / "cli.jfp")
    assert f.popcount_ordered
    jitson.write_popcount_ordered(tmp_path / "py.jfp", db)
    assert (tmp_path / "cli.jfp").read_bytes() == (tmp_path / "py.jfp").read_bytes()
    for threshold in (None, "0.7", "1"):
        kernel = engine.compile(tanimoto_config(threshold, top_k=10))
        assert_same(kernel.search(queries, f, counts=True), kernel.search(queries, db, counts=True))
        if threshold is not None:
            assert_same(kernel.range_search(queries, f, counts=True),
                        kernel.range_search(queries, db, counts=True))


def section_offset(n: int, record_bytes: int) -> int:
    """Byte offset of the popcount section in a file: the 64-byte header, the records, padding
    to a multiple of 64 (docs/FORMAT.md)."""
    return 64 + -(-n * record_bytes // 64) * 64


def test_damaged_files_refused(data, tmp_path):
    db, _ = data
    db = db[:1000]
    path = tmp_path / "ordered.jfp"
    jitson.write_popcount_ordered(path, db)
    good = path.read_bytes()
    assert len(good) == section_offset(1000, RB) + 8 * (BITS + 2 + 1000)
    assert jitson.open(path).popcount_ordered

    def damaged(name, change):
        b = bytearray(good)
        change(b)
        p = tmp_path / name
        p.write_bytes(bytes(b))
        return p

    ids_at = section_offset(1000, RB) + 8 * (BITS + 2)
    cases = {
        # An original index repeated (position 1 says the same record as position 0).
        "repeated": (lambda b: b.__setitem__(slice(ids_at + 8, ids_at + 16), b[ids_at:ids_at + 8]),
                     "repeated"),
        # An original index out of range.
        "range": (lambda b: b.__setitem__(slice(ids_at, ids_at + 8), (10**6).to_bytes(8, "little")),
                  "out of range"),
        # A record whose popcount is not its bucket's (one more bit set in the last record).
        "record": (lambda b: b.__setitem__(64 + 999 * RB, b[64 + 999 * RB] ^ 0x01), "popcount"),
        # Bucket starts that decrease.
        "buckets": (lambda b: b.__setitem__(slice(section_offset(1000, RB) + 8 * 40,
                                                  section_offset(1000, RB) + 8 * 41),
                                            (999).to_bytes(8, "little")), "bucket"),
    }
    for name, (change, message) in cases.items():
        with pytest.raises(OSError, match="popcount section") as e:
            jitson.open(damaged(name + ".jfp", change))
        assert message in str(e.value), (name, str(e.value))


def test_refusals(engine, data, ordered, tmp_path):
    db, queries = data
    with pytest.raises(ValueError, match="write_popcount_ordered"):
        jitson.save(tmp_path / "x.jfp", ordered)
    with pytest.raises(ValueError, match="popcount-ordered"):
        jitson.to_blocked(ordered)
    with pytest.raises(ValueError, match="row-major"):
        jitson.order_by_popcount(jitson.to_blocked(db))
    with pytest.raises(ValueError, match="row-major"):
        jitson.write_popcount_ordered(tmp_path / "x.jfp", jitson.to_blocked(db))
    with pytest.raises(ValueError):
        jitson.order_by_popcount(db.astype(np.int16))
    with pytest.raises(ValueError, match="record size"):
        jitson.order_by_popcount(db.reshape(-1))
    other = engine.compile({"version": 1, "record_bits": 512, "metric": "tanimoto", "top_k": 3})
    with pytest.raises(ValueError, match="bits"):
        other.search(np.ascontiguousarray(queries[:, :64]), ordered)
    with pytest.raises(OSError):
        jitson.write_popcount_ordered(tmp_path / "no" / "such" / "dir.jfp", db)


def test_empty_and_tiny(engine):
    kernel = engine.compile({"version": 1, "record_bits": 64, "metric": "tanimoto", "top_k": 3})
    empty = jitson.order_by_popcount(np.zeros((0, 8), np.uint8))
    assert empty.n_records == 0 and empty.original_index.shape == (0,)
    S, I = kernel.search(np.zeros((2, 8), np.uint8), empty)
    assert np.isnan(S).all() and (I == -1).all()
    one = np.array([[1, 0, 0, 0, 0, 0, 0, 0], [0] * 8, [3, 0, 0, 0, 0, 0, 0, 0]], np.uint8)
    o = jitson.order_by_popcount(one)
    assert o.original_index.tolist() == [1, 0, 2]
    S, I, C, U = kernel.search(one, o, counts=True)
    assert_same((S, I, C, U), kernel.search(one, one, counts=True))
    assert I.tolist() == [[0, 2, 1], [1, 0, 2], [2, 0, 1]]  # no threshold: T = 0 counts too


def test_arrow_source(engine, data):
    pa = pytest.importorskip("pyarrow")
    db, queries = data
    arr = pa.array([r.tobytes() for r in db[:2000]], type=pa.binary(RB))
    o = jitson.order_by_popcount(arr)
    kernel = engine.compile(tanimoto_config("0.5", top_k=10))
    assert_same(kernel.search(queries, o, counts=True), kernel.search(queries, db[:2000], counts=True))


# ---- RDKit: real molecules

def rdkit_order(sims: np.ndarray, ids: np.ndarray) -> np.ndarray:
    return ids[np.lexsort((ids, -sims[ids]))]


def test_rdkit(engine, morgan, tmp_path):
    from rdkit import DataStructs

    fps, records = morgan
    assert len(fps) >= 4000, f"only {len(fps)} molecules"
    queries = [q for q in (0, 17, 123, 999, 2500, 4321, 7777, 12000) if q < len(fps)]
    ordered = jitson.order_by_popcount(records)
    jitson.write_popcount_ordered(tmp_path / "morgan.jfp", records)
    on_disk = jitson.open(tmp_path / "morgan.jfp")
    kernel = engine.compile({"version": 1, "record_bits": 2048, "metric": "tanimoto", "top_k": 10})
    for database in (ordered, on_disk):
        lims, S, I, stats = kernel.range_search(records[queries], database, min_similarity=0.7, stats=True)
        np.testing.assert_array_equal(stats["records"] + stats["bound_skipped"], len(fps))
        assert (stats["bound_skipped"] > 0).all()  # every query leaves records unread
        tS, tI = kernel.search(records[queries], database)
        for j, q in enumerate(queries):
            sims = np.array(DataStructs.BulkTanimotoSimilarity(fps[q], fps))
            expected = rdkit_order(sims, np.nonzero(sims >= 0.7)[0])
            got = slice(lims[j], lims[j + 1])
            np.testing.assert_array_equal(I[got], expected)  # the same molecules, the same order
            np.testing.assert_array_equal(S[got], sims[expected])  # the same doubles
            top = rdkit_order(sims, np.arange(len(fps)))[:10]
            assert tI[j].tolist() == top.tolist()
            np.testing.assert_array_equal(tS[j], sims[top])
        assert_same(kernel.search(records[queries], database, counts=True),
                    kernel.search(records[queries], records, counts=True))
