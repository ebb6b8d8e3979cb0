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
    pl = pytest.importorskip("polars")
    df = pl.DataFrame({"id": np.arange(len(db)), "fp": [bytes(r) for r in db]})
    # Polars exports Binary as binary_view, which jitson's Arrow reader does not read: the
    # documented route is Arrow's classic large_binary (compat_level oldest).
    table = df.to_arrow(compat_level=pl.CompatLevel.oldest())
    D, I = kernel.search(db[:2], table, column="fp", id_column="id")
    np.testing.assert_array_equal(I, brute_force(db[:2], db, 10)[1])
    with pytest.raises(ValueError, match="binary_view"):
        kernel.search(db[:2], df, column="fp")
