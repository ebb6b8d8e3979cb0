"""kernel.search / range_search / Accumulator against a numpy brute force and faiss-cpu's
IndexBinaryFlat, on every backend and ISA this machine offers, random and tie-heavy data; files,
the blocked layout, Ctrl-C, the GIL and the error contract."""

from __future__ import annotations

import _thread
import threading
import time

import numpy as np
import pytest
from conftest import BACKEND_ISA, brute_force, brute_force_range, low_entropy_records, random_records

import jitson

DATA = {"random": random_records, "low_entropy": low_entropy_records}


@pytest.mark.parametrize("backend,isa", BACKEND_ISA)
@pytest.mark.parametrize("data", sorted(DATA))
def test_search_matches_brute_force(engine, backend, isa, data):
    db = DATA[data](3000, 256, seed=1)
    queries = np.concatenate([db[:3], DATA[data](4, 256, seed=2)])
    kernel = engine.compile(
        {"version": 1, "record_bits": 2048, "top_k": 25, "backend": backend, "isa": isa}
    )
    assert kernel.backend == backend, kernel.fallback_reason
    assert kernel.isa == isa
    D, I = kernel.search(queries, db)
    rD, rI = brute_force(queries, db, 25)
    assert D.dtype == np.int32 and I.dtype == np.int64 and D.shape == (7, 25)
    np.testing.assert_array_equal(D, rD)
    np.testing.assert_array_equal(I, rI)  # ties ordered by id
    # One thread, the blocked layout and k= give the same answer.
    np.testing.assert_array_equal(kernel.search(queries, db, threads=1)[1], rI)
    np.testing.assert_array_equal(kernel.search(queries, jitson.to_blocked(db))[1], rI)
    np.testing.assert_array_equal(kernel.search(queries, db, k=3)[1], rI[:, :3])


@pytest.mark.parametrize("data", sorted(DATA))
def test_faiss_index_binary_flat(engine, data):
    faiss = pytest.importorskip("faiss")
    db = DATA[data](5000, 128, seed=3)
    queries = np.concatenate([db[10:12], DATA[data](3, 128, seed=4)])
    index = faiss.IndexBinaryFlat(1024)
    index.add(db)
    fD, fI = index.search(queries, 20)
    D, I = engine.compile({"version": 1, "record_bits": 1024, "top_k": 20}).search(queries, db)
    np.testing.assert_array_equal(D, fD)  # identical distances
    # FAISS's heap may order equal distances by any id; jitson orders them by id.
    np.testing.assert_array_equal(I, brute_force(queries, db, 20)[1])
    for q in range(len(queries)):
        d = np.bitwise_count(queries[q] ^ db[fI[q]]).sum(axis=1)
        np.testing.assert_array_equal(d, fD[q])


def test_padding_when_fewer_hits(engine):
    db = random_records(5, 64)
    D, I = engine.compile({"version": 1, "record_bits": 512, "top_k": 8}).search(db[:2], db)
    assert (I[:, 5:] == -1).all() and (D[:, 5:] == -1).all()
    rD, rI = brute_force(db[:2], db, 8)
    np.testing.assert_array_equal(D, rD)
    np.testing.assert_array_equal(I, rI)
    # A bound leaves slots empty too.
    k = engine.compile({"version": 1, "record_bits": 512, "top_k": 4, "max_distance": 0})
    D, I = k.search(db[:1], db)
    assert D.tolist() == [[0, -1, -1, -1]] and I.tolist() == [[0, -1, -1, -1]]


@pytest.mark.parametrize("data", sorted(DATA))
def test_range_search(engine, data):
    db = DATA[data](2000, 64, seed=5)
    queries = db[:4]
    kernel = engine.compile({"version": 1, "record_bits": 512})
    md = 20 if data == "low_entropy" else 230
    lims, D, I = kernel.range_search(queries, db, md)
    rl, rD, rI = brute_force_range(queries, db, md)
    np.testing.assert_array_equal(lims, rl)
    np.testing.assert_array_equal(D, rD)
    np.testing.assert_array_equal(I, rI)
    with pytest.raises(ValueError, match="bound"):
        kernel.range_search(queries, db)
    bounded = engine.compile({"version": 1, "record_bits": 512, "max_distance": md})
    np.testing.assert_array_equal(bounded.range_search(queries, db)[2], rI)


def test_kernel_properties(engine):
    k = engine.compile('{"version": 1, "record_bits": 1024, "name": "x", "top_k": 3}')
    assert k.record_bits == 1024 and k.record_bytes == 128 and k.top_k == 3
    assert k.config["record_bits"] == 1024 and k.config["top_k"] == 3
    assert k.backend in jitson.cpu_info()["backends"] and k.isa in jitson.cpu_info()["isas"]
    assert "record_bits=1024" in k.describe()
    assert engine.cache_stats()["compiles"] >= 1


def test_focus(engine):
    db = random_records(500, 64, seed=6)
    cfg = {"version": 1, "record_bits": 512, "top_k": 5, "focus": {"ranges": [[0, 100]]}}
    D, I = engine.compile(cfg).search(db[:2], db)
    mask = np.zeros(512, bool)
    mask[:100] = True
    masked = db & jitson.pack_bits(mask)
    rD, rI = brute_force(masked[:2], masked, 5)
    np.testing.assert_array_equal(D, rD)
    np.testing.assert_array_equal(I, rI)


def test_files(engine, tmp_path):
    db = random_records(3000, 128, seed=7)
    kernel = engine.compile({"version": 1, "record_bits": 1024, "top_k": 10})
    expected = brute_force(db[:3], db, 10)
    jitson.save(tmp_path / "row.jfp", db)
    jitson.save(str(tmp_path / "blocked.jfp"), db, block_records=64)
    jitson.save(str(tmp_path / "raw.bin"), db, header=False)
    row = jitson.open(str(tmp_path / "row.jfp"))
    blocked = jitson.open(str(tmp_path / "blocked.jfp"))
    raw = jitson.open(str(tmp_path / "raw.bin"), raw_record_bits=1024)
    assert (row.layout, blocked.layout, raw.layout) == ("row", "blocked", "row")
    assert blocked.block_records == 64 and len(row) == 3000 and row.record_bits == 1024
    for db_file in (row, blocked, raw):
        np.testing.assert_array_equal(kernel.search(db[:3], db_file)[1], expected[1])
    with pytest.raises(OSError, match="not a jitson fingerprint file"):
        jitson.open(str(tmp_path / "raw.bin"))
    with pytest.raises(OSError):
        jitson.open(str(tmp_path / "missing.jfp"))
    with pytest.raises(ValueError, match="records are 1024 bits"):
        engine.compile({"version": 1, "record_bits": 512}).search(db[:1, :64], row)


def test_accumulator_chunks_merge_skip(engine):
    db = low_entropy_records(5000, 64, seed=8)
    queries = db[:3]
    kernel = engine.compile({"version": 1, "record_bits": 512, "top_k": 12})
    a, b = jitson.Accumulator(kernel, queries), jitson.Accumulator(kernel, queries)
    a.feed(db[3000:], base_row=3000)  # any order, any split
    b.feed(db[:1000])
    b.feed(db[1000:3000], row_ids=np.arange(1000, 3000, dtype=np.int64))
    a.merge(b)
    rD, rI = brute_force(queries, db, 12)
    D, I = a.result()
    np.testing.assert_array_equal(D, rD)
    np.testing.assert_array_equal(I, rI)
    assert a.stats(0)["records"] == 5000 and a.n_queries == 3
    # Skipping every even record, as a bool mask and as packed bits.
    keep = np.arange(5000) % 2 == 1
    rD, rI = brute_force(queries, db[keep], 12)
    for skip in (~keep, np.packbits(~keep, bitorder="little")):
        a.reset()
        a.feed(db, skip=skip)
        D, I = a.result()
        np.testing.assert_array_equal(D, rD)
        np.testing.assert_array_equal(I, np.arange(5000)[keep][rI])
    with pytest.raises(ValueError, match="row_ids"):
        a.feed(db[:10], row_ids=np.arange(9))
    with pytest.raises(ValueError, match="skip"):
        a.feed(db[:10], skip=np.zeros(1, np.uint16))


def test_chunked_scan_equals_one_scan(engine):
    """Searches run in chunks between Ctrl-C checks; chunk edges must not change a result."""
    db = low_entropy_records(20000, 64, seed=9)
    kernel = engine.compile({"version": 1, "record_bits": 512, "top_k": 30})
    expected = brute_force(db[:4], db, 30)
    try:
        jitson._jitson._set_chunk_records(4096)
        for target in (db, jitson.to_blocked(db, 8)):
            D, I = kernel.search(db[:4], target)
            np.testing.assert_array_equal(D, expected[0])
            np.testing.assert_array_equal(I, expected[1])
    finally:
        jitson._jitson._set_chunk_records(0)


def test_ctrl_c_interrupts_and_engine_survives(engine):
    db = random_records(1 << 20, 64, seed=10)  # 64 MiB
    queries = random_records(3000, 64, seed=11)
    kernel = engine.compile({"version": 1, "record_bits": 512, "top_k": 10})
    jitson._jitson._set_chunk_records(16384)
    try:
        timer = threading.Timer(0.2, _thread.interrupt_main)
        start = time.perf_counter()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            kernel.search(queries, db)  # tens of seconds if not interrupted
        assert time.perf_counter() - start < 5
        timer.join()
    finally:
        jitson._jitson._set_chunk_records(0)
    D, I = kernel.search(db[:2], db[:5000])
    np.testing.assert_array_equal(I, brute_force(db[:2], db[:5000], 10)[1])


def test_gil_released_during_scan(engine):
    """A Python thread keeps running while a scan runs in another thread."""
    db = random_records(1 << 19, 256, seed=12)
    queries = random_records(64, 256, seed=13)
    kernel = engine.compile({"version": 1, "record_bits": 2048, "top_k": 10})
    ticks = 0
    done = threading.Event()

    def scan():
        kernel.search(queries, db, threads=1)
        done.set()

    t = threading.Thread(target=scan)
    t.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    t.join()
    assert ticks > 10


def test_errors(engine):
    kernel = engine.compile({"version": 1, "record_bits": 512})
    db = random_records(100, 64)
    with pytest.raises(jitson.ConfigError) as e:
        engine.compile({"version": 1, "record_bits": 512, "focus": {"ranges": [[0, 600]]}})
    assert e.value.pointer == "/focus/ranges/0" and isinstance(e.value, ValueError)
    with pytest.raises(jitson.ConfigError, match="version"):
        engine.compile("{}")
    with pytest.raises(TypeError):
        engine.compile(42)
    with pytest.raises(ValueError, match="uint8"):
        kernel.search(db[:1], db.view(np.int8))
    with pytest.raises(ValueError, match="pack_bits"):
        kernel.search(db[:1], np.zeros((10, 512), bool))
    with pytest.raises(ValueError, match="rows are 32 bytes"):
        kernel.search(db[:1], db[:, :32].copy())
    with pytest.raises(ValueError, match="queries: rows are 63 bytes"):
        kernel.search(db[:1, :63].copy(), db)
    with pytest.raises(ValueError, match="C-contiguous"):
        kernel.search(db[:1], db[::2])
    with pytest.raises(ValueError, match="C-contiguous"):
        kernel.search(db[:1], np.asfortranarray(db))
    with pytest.raises(ValueError, match="3 dimensions"):
        kernel.search(db[:1], db.reshape(10, 10, 64))
    with pytest.raises(ValueError, match="whole number"):
        kernel.search(db[:1], bytes(100))
    with pytest.raises(ValueError, match="k must be"):
        kernel.search(db[:1], db, k=0)
    with pytest.raises(ValueError, match="database"):
        kernel.search(db[:1], [1, 2, 3])
    with pytest.raises(ValueError, match="no query"):
        kernel.search(db[:0], db)
    with pytest.raises(ValueError, match="layout"):
        blocked_only = engine.compile({"version": 1, "record_bits": 512, "layout": "blocked"})
        blocked_only.search(db[:1], db)
    # Read-only buffers are fine for databases and queries.
    ro = db.copy()
    ro.flags.writeable = False
    np.testing.assert_array_equal(kernel.search(ro[:2], ro)[1], brute_force(db[:2], db, 10)[1])
    np.testing.assert_array_equal(kernel.search(bytes(db[0]), bytes(db))[1][0], brute_force(db[:1], db, 10)[1][0])
    # An empty database gives only padding.
    D, I = kernel.search(db[:1], db[:0])
    assert (I == -1).all()


def test_database_zero_copy():
    db = random_records(100, 64)
    view = jitson.Database(db)
    assert view.address == db.ctypes.data and view.source == "buffer" and view.nbytes == db.nbytes
    raw = jitson.Database(bytearray(db.tobytes()), record_bits=512)
    assert len(raw) == 100
    with pytest.raises(ValueError, match="record_bits"):
        jitson.Database(db, record_bits=100)


def test_pack_bits_matches_numpy():
    bits = np.random.default_rng(14).random((5, 1000)) < 0.5
    packed = jitson.pack_bits(bits)
    assert packed.shape == (5, 128) and packed.flags.c_contiguous
    np.testing.assert_array_equal(packed[:, :125], np.packbits(bits, axis=-1, bitorder="little"))
    assert not packed[:, 125:].any()
    np.testing.assert_array_equal(jitson.unpack_bits(packed, count=1000), bits)
    # Bit i is bit i % 8 of byte i // 8 (docs/FORMAT.md): bits 0 and 63 -> 01 .. 80.
    one = np.zeros(64, bool)
    one[[0, 63]] = True
    assert jitson.pack_bits(one).tobytes() == bytes([1, 0, 0, 0, 0, 0, 0, 0x80])
    with pytest.raises(ValueError):
        jitson.pack_bits(np.zeros(10, np.float32))
    with pytest.raises(ValueError):
        jitson.pack_bits(np.zeros(100, bool), record_bits=64)
