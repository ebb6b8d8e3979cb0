"""Arrow data through the PyCapsule protocol: pyarrow arrays (offsets, nulls, binary), chunked
arrays, tables, record batch streams, DuckDB and Polars results; zero-copy shown by addresses;
released capsules refused."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import brute_force, low_entropy_records, random_records

import jitson

pa = pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def kernel():
    return jitson.Engine().compile({"version": 1, "record_bits": 512, "top_k": 10})


@pytest.fixture(scope="module")
def db():
    return low_entropy_records(3000, 64, seed=21)


def fixed(db):
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(64), len(db), [None, pa.py_buffer(db)])


def test_fixed_size_binary_zero_copy(kernel, db):
    arr = fixed(db)
    assert jitson.Database(arr).address == arr.buffers()[1].address == db.ctypes.data
    D, I = kernel.search(db[:3], arr)
    rD, rI = brute_force(db[:3], db, 10)
    np.testing.assert_array_equal(D, rD)
    np.testing.assert_array_equal(I, rI)


def test_offsets(kernel, db):
    arr = fixed(db).slice(1000, 1500)
    view = jitson.Database(arr)
    assert view.address == db.ctypes.data + 1000 * 64 and len(view) == 1500
    np.testing.assert_array_equal(kernel.search(db[:3], arr)[1], brute_force(db[:3], db[1000:2500], 10)[1])


def test_nulls_are_skipped(kernel, db):
    values = [None if i % 3 == 0 else bytes(r) for i, r in enumerate(db)]
    keep = np.array([v is not None for v in values])
    rD, rI = brute_force(db[:4], db[keep], 10)
    ids = np.nonzero(keep)[0]
    for arr in (pa.array(values, pa.binary(64)), pa.array(values, pa.binary()), pa.array(values, pa.large_binary())):
        D, I = kernel.search(db[:4], arr)
        np.testing.assert_array_equal(D, rD)
        np.testing.assert_array_equal(I, ids[rI])
    with pytest.raises(ValueError, match="null"):
        jitson.Database(pa.array(values, pa.binary(64)))


def test_chunked_array_table_and_stream(kernel, db):
    chunks = [fixed(db[:1000]), fixed(db[1000:1700]), fixed(db[1700:])]
    rD, rI = brute_force(db[:3], db, 10)
    chunked = pa.chunked_array(chunks)
    D, I = kernel.search(db[:3], chunked)
    np.testing.assert_array_equal(D, rD)
    np.testing.assert_array_equal(I, rI)
    ids = np.arange(len(db), dtype=np.int64) * 7 + 5
    table = pa.table({"id": ids, "fp": chunked})
    D, I = kernel.search(db[:3], table, column="fp", id_column="id")
    np.testing.assert_array_equal(I, ids[rI])
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
    np.testing.assert_array_equal(kernel.search(db[:3], reader, column="fp")[1], rI)
    batch = table.to_batches()[1]  # a record batch: __arrow_c_array__ of a struct
    np.testing.assert_array_equal(
        kernel.search(db[:3], batch, column="fp", id_column="id")[1],
        ids[1000:1700][brute_force(db[:3], db[1000:1700], 10)[1]],
    )
    with pytest.raises(ValueError, match="name the column"):
        kernel.search(db[:3], table)


def test_accumulator_feeds_arrow(kernel, db):
    acc = jitson.Accumulator(kernel, db[:2])
    table = pa.table({"fp": fixed(db[:2000])})
    acc.feed(table, column="fp")
    acc.feed(fixed(db[2000:]), base_row=2000)
    np.testing.assert_array_equal(acc.result()[1], brute_force(db[:2], db, 10)[1])


def test_released_and_wrong_arrow(kernel, db):
    arr = fixed(db)
    schema_capsule, array_capsule = arr.__arrow_c_array__()

    class Exported:
        def __arrow_c_array__(self, requested_schema=None):
            return schema_capsule, array_capsule

    kernel.search(db[:1], Exported())  # moves the array out of the capsules
    with pytest.raises(ValueError, match="already released"):
        kernel.search(db[:1], Exported())
    with pytest.raises(ValueError, match="int32"):
        kernel.search(db[:1], pa.array([1, 2, 3], pa.int32()))
    with pytest.raises(ValueError, match="row 1"):
        kernel.search(db[:1], pa.array([bytes(64), bytes(7)], pa.binary()))
    with pytest.raises(ValueError):
        kernel.search(db[:1], fixed(random_records(10, 32)))


def test_duckdb(kernel, db):
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    con.execute("CREATE TABLE fps (id BIGINT, fp BLOB)")
    con.executemany("INSERT INTO fps VALUES (?, ?)", [(i * 2, bytes(r)) for i, r in enumerate(db[:500])])
    rel = con.sql("SELECT id, fp FROM fps ORDER BY id")
    D, I = kernel.search(db[:2], rel, column="fp", id_column="id")
    np.testing.assert_array_equal(I, brute_force(db[:2], db[:500], 10)[1] * 2)


def test_polars(kernel, db):
    """Polars exports Binary as Arrow binary_view: the DataFrame, a Series and the column as an
    Arrow array go to jitson as they are, read in place, equal to the brute force."""
    pl = pytest.importorskip("polars")
    df = pl.DataFrame({"id": np.arange(len(db)) * 3, "fp": [bytes(r) for r in db]})
    rD, rI = brute_force(db[:2], db, 10)
    D, I = kernel.search(db[:2], df, column="fp", id_column="id")
    np.testing.assert_array_equal(D, rD)
    np.testing.assert_array_equal(I, rI * 3)
    view = df["fp"].to_arrow(compat_level=pl.CompatLevel.newest())
    assert view.type == pa.binary_view()
    np.testing.assert_array_equal(kernel.search(db[:2], view)[1], rI)
    np.testing.assert_array_equal(kernel.search(view.slice(0, 2), db)[1], rI)  # queries too
    np.testing.assert_array_equal(kernel.search(db[:2], df["fp"])[1], rI)  # a Series' stream
    acc = jitson.Accumulator(kernel, db[:2])
    acc.feed(df.slice(0, 1000), column="fp", id_column="id")
    acc.feed(df.slice(1000), column="fp", id_column="id")
    np.testing.assert_array_equal(acc.result()[1], rI * 3)
    # Classic Arrow (compat_level oldest: large_binary) works as before.
    table = df.to_arrow(compat_level=pl.CompatLevel.oldest())
    np.testing.assert_array_equal(kernel.search(db[:2], table, column="fp")[1], rI)


def test_polars_nulls_and_many_buffers(engine):
    """A larger Polars column spreads its values over data buffers of growing size; nulls skip."""
    pl = pytest.importorskip("polars")
    db = low_entropy_records(30000, 256, seed=23)  # 2,048-bit records: 7.5 MiB of values
    kernel = engine.compile({"version": 1, "record_bits": 2048, "top_k": 15})
    keep = np.arange(len(db)) % 7 != 3
    s = pl.Series("fp", [bytes(r) if k else None for r, k in zip(db, keep)], dtype=pl.Binary)
    arr = s.to_arrow(compat_level=pl.CompatLevel.newest())
    assert arr.type == pa.binary_view() and len(arr.buffers()) > 4  # several data buffers
    ids = np.nonzero(keep)[0]
    rD, rI = brute_force(db[:3], db[keep], 15)
    for target in (arr, s, arr.slice(0)):
        D, I = kernel.search(db[:3], target)
        np.testing.assert_array_equal(D, rD)
        np.testing.assert_array_equal(I, ids[rI])


def test_pyarrow_binary_view(kernel, db):
    if not hasattr(pa, "binary_view"):
        pytest.skip("this pyarrow has no binary_view")
    values = [None if i % 5 == 0 else bytes(r) for i, r in enumerate(db)]
    arr = pa.array(values, pa.binary_view())
    keep = np.array([v is not None for v in values])
    rD, rI = brute_force(db[:3], db[keep], 10)
    D, I = kernel.search(db[:3], arr)
    np.testing.assert_array_equal(D, rD)
    np.testing.assert_array_equal(I, np.nonzero(keep)[0][rI])
    part = keep[700:1900]  # a slice: ids are positions in it
    np.testing.assert_array_equal(
        kernel.search(db[:3], arr.slice(700, 1200))[1],
        np.nonzero(part)[0][brute_force(db[:3], db[700:1900][part], 10)[1]],
    )
    with pytest.raises(ValueError, match=r"row 1: value is 7 bytes; records are 64 bytes"):
        kernel.search(db[:1], pa.array([bytes(64), bytes(7)], pa.binary_view()))
    with pytest.raises(ValueError, match=r"row 0 is null"):
        kernel.search(pa.array([None, bytes(64)], pa.binary_view()), db)


def slow_stream(db, batches):
    """A generator-backed RecordBatchReader: the same 20,000-record batch, `batches` times."""
    batch = pa.record_batch([fixed(db)], names=["fp"])

    def gen():
        for _ in range(batches):
            yield batch

    return pa.RecordBatchReader.from_batches(batch.schema, gen())


@pytest.mark.parametrize("how", ["interrupt_main", "pthread_kill"])
def test_ctrl_c_between_stream_batches(engine, how):
    """Ctrl-C during one long stream call: KeyboardInterrupt between batches, quickly; the
    accumulator keeps what it had before the call; the next calls work."""
    import _thread
    import signal
    import threading
    import time

    db = random_records(20000, 64, seed=31)
    queries = random_records(500, 64, seed=32)
    kernel = engine.compile({"version": 1, "record_bits": 512, "top_k": 10})
    main = threading.main_thread().ident

    def interrupt():
        if how == "interrupt_main":
            _thread.interrupt_main()
        else:
            signal.pthread_kill(main, signal.SIGINT)

    for call in ("search", "feed"):
        acc = jitson.Accumulator(kernel, queries)
        acc.feed(db[:100])
        before = acc.result(), acc.stats(0)
        timer = threading.Timer(0.3, interrupt)
        start = time.perf_counter()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            if call == "search":
                kernel.search(queries, slow_stream(db, 100000), column="fp")  # minutes if not
            else:
                acc.feed(slow_stream(db, 100000), column="fp")
        elapsed = time.perf_counter() - start
        timer.join()
        assert 0.25 < elapsed < 5, elapsed
        after = acc.result(), acc.stats(0)
        np.testing.assert_array_equal(after[0][0], before[0][0])  # all or nothing
        np.testing.assert_array_equal(after[0][1], before[0][1])
        assert after[1] == before[1]
    rD, rI = brute_force(queries[:2], db, 10)
    D, I = kernel.search(queries[:2], slow_stream(db, 1), column="fp")
    np.testing.assert_array_equal(D, rD)
    np.testing.assert_array_equal(I, rI)
    acc.feed(db[100:], base_row=100)
    np.testing.assert_array_equal(acc.result()[1][:2], rI)
    acc2 = jitson.Accumulator(kernel, queries[:2])
    acc2.feed(slow_stream(db, 1), column="fp")
    np.testing.assert_array_equal(acc2.result()[1], rI)


def test_ctrl_c_in_the_producer(engine):
    """Ctrl-C that lands in the producer's own Python code (a generator that computes its
    batches) fails the producer's get_next; jitson still raises KeyboardInterrupt for it."""
    import _thread
    import threading
    import time

    db = random_records(2000, 64, seed=33)
    kernel = engine.compile({"version": 1, "record_bits": 512, "top_k": 3})
    batch = pa.record_batch([fixed(db)], names=["fp"])

    def busy():
        for _ in range(100000):
            t = time.perf_counter()
            while time.perf_counter() - t < 0.05:  # Python code: the signal is handled here
                pass
            yield batch

    reader = pa.RecordBatchReader.from_batches(batch.schema, busy())
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    # Mostly raised in the generator ("stream get_next ... KeyboardInterrupt"), sometimes by the
    # check between batches: the signal's timing decides, the user sees a KeyboardInterrupt.
    with pytest.raises(KeyboardInterrupt):
        kernel.search(db[:2], reader, column="fp")
    timer.join()
    np.testing.assert_array_equal(kernel.search(db[:2], db)[1], brute_force(db[:2], db, 3)[1])
