"""jitson's Arrow C data interface against a real Arrow producer: pyarrow.

Arrays, slices, chunked arrays and record batch streams built with pyarrow are exported through
the C data interface (the PyCapsule protocol and _export_to_c) to libjitson, loaded with ctypes
from $JITSON_LIB; the hits must equal a numpy brute force ordered by (distance, row id), and the
records jitson scans must be the producer's own buffers (addresses compared).
"""

import ctypes
import os

import numpy as np
import pyarrow as pa
import pytest

# ---- The C ABI (jitson/arrow.h, jitson/jitson.h)


class ArrowSchema(ctypes.Structure):
    pass


ArrowSchema._fields_ = [
    ("format", ctypes.c_char_p),
    ("name", ctypes.c_char_p),
    ("metadata", ctypes.c_char_p),
    ("flags", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("children", ctypes.POINTER(ctypes.POINTER(ArrowSchema))),
    ("dictionary", ctypes.POINTER(ArrowSchema)),
    ("release", ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowSchema))),
    ("private_data", ctypes.c_void_p),
]


class ArrowArray(ctypes.Structure):
    pass


ArrowArray._fields_ = [
    ("length", ctypes.c_int64),
    ("null_count", ctypes.c_int64),
    ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(ArrowArray))),
    ("dictionary", ctypes.POINTER(ArrowArray)),
    ("release", ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowArray))),
    ("private_data", ctypes.c_void_p),
]


class ArrowArrayStream(ctypes.Structure):
    pass


ArrowArrayStream._fields_ = [
    ("get_schema", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ArrowArrayStream),
                                    ctypes.POINTER(ArrowSchema))),
    ("get_next", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ArrowArrayStream),
                                  ctypes.POINTER(ArrowArray))),
    ("get_last_error", ctypes.CFUNCTYPE(ctypes.c_char_p, ctypes.POINTER(ArrowArrayStream))),
    ("release", ctypes.CFUNCTYPE(None, ctypes.POINTER(ArrowArrayStream))),
    ("private_data", ctypes.c_void_p),
]


class Hit(ctypes.Structure):
    _fields_ = [("index", ctypes.c_uint64), ("distance", ctypes.c_uint32),
                ("reserved", ctypes.c_uint32)]


class Stats(ctypes.Structure):
    _fields_ = [("records", ctypes.c_uint64), ("evaluated_full", ctypes.c_uint64),
                ("hits", ctypes.c_uint64), ("rejected_by_stage", ctypes.c_uint64 * 8)]


def load_library():
    path = os.environ.get("JITSON_LIB")
    assert path, "JITSON_LIB must name the built libjitson.so (ctest sets it)"
    lib = ctypes.CDLL(path)
    vp, u64, i64, sz, cp = (ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int64, ctypes.c_size_t,
                            ctypes.c_char_p)
    sig = {
        "jitson_engine_create": (vp, [cp, cp, sz]),
        "jitson_engine_destroy": (None, [vp]),
        "jitson_compile": (vp, [vp, cp, sz, cp, sz]),
        "jitson_kernel_release": (None, [vp]),
        "jitson_topk_create": (vp, [vp, cp, u64, cp, sz]),
        "jitson_topk_create_arrow": (vp, [vp, vp, vp, cp, sz]),
        "jitson_topk_feed_arrow": (ctypes.c_int, [vp, vp, vp, vp, vp, u64, cp, sz]),
        "jitson_topk_feed_arrow_stream": (ctypes.c_int, [vp, vp, cp, cp, cp, sz]),
        "jitson_topk_result": (i64, [vp, u64, ctypes.POINTER(Hit), u64, ctypes.POINTER(Stats),
                                     cp, sz]),
        "jitson_topk_destroy": (None, [vp]),
        "jitson_arrow_records": (ctypes.c_int, [vp, vp, ctypes.c_uint32,
                                                ctypes.POINTER(ctypes.c_void_p),
                                                ctypes.POINTER(u64), cp, sz]),
    }
    for name, (res, args) in sig.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    return lib


LIB = load_library()

_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


class JitsonError(Exception):
    pass


class Call:
    """An error buffer and a checked call."""

    def __init__(self):
        self.err = ctypes.create_string_buffer(512)

    def message(self):
        return self.err.value.decode()

    def ok(self, rc):
        if rc is None or (isinstance(rc, int) and rc < 0):
            raise JitsonError(self.message())
        return rc


class Kernel:
    def __init__(self, record_bits, top_k=10, max_distance=None):
        self.bits, self.bytes, self.top_k, self.max_distance = (record_bits, record_bits // 8,
                                                                 top_k, max_distance)
        cfg = {"version": 1, "record_bits": record_bits, "top_k": top_k}
        if max_distance is not None:
            cfg["max_distance"] = max_distance
        text = str(cfg).replace("'", '"').encode()
        c = Call()
        self.engine = c.ok(LIB.jitson_engine_create(b'{"threads": 1}', c.err, 512))
        self.kernel = c.ok(LIB.jitson_compile(self.engine, text, len(text), c.err, 512))

    def close(self):
        LIB.jitson_kernel_release(self.kernel)
        LIB.jitson_engine_destroy(self.engine)


class TopK:
    def __init__(self, kernel, queries=None, arrow_queries=None):
        c = Call()
        self.kernel = kernel
        if arrow_queries is not None:
            schema, array = array_pointers(arrow_queries)
            self.ptr = c.ok(LIB.jitson_topk_create_arrow(kernel.kernel, schema, array, c.err, 512))
            self.n_queries = len(arrow_queries)
        else:
            q = np.ascontiguousarray(queries, dtype=np.uint8)
            self.ptr = c.ok(LIB.jitson_topk_create(kernel.kernel, q.tobytes(), q.shape[0], c.err,
                                                   512))
            self.n_queries = q.shape[0]

    def feed(self, values, ids=None, base_row=0):
        c = Call()
        schema, array = array_pointers(values)
        ids_schema, ids_array = array_pointers(ids) if ids is not None else (None, None)
        c.ok(LIB.jitson_topk_feed_arrow(self.ptr, schema, array, ids_schema, ids_array, base_row,
                                        c.err, 512))

    def feed_stream(self, stream_pointer, column=None, id_column=None):
        c = Call()
        col = column.encode() if column is not None else None
        idc = id_column.encode() if id_column is not None else None
        c.ok(LIB.jitson_topk_feed_arrow_stream(self.ptr, stream_pointer, col, idc, c.err, 512))

    def result(self, q=0):
        c = Call()
        out = (Hit * self.kernel.top_k)()
        stats = Stats()
        n = c.ok(LIB.jitson_topk_result(self.ptr, q, out, self.kernel.top_k, ctypes.byref(stats),
                                        c.err, 512))
        return [(out[i].index, out[i].distance) for i in range(n)], stats

    def close(self):
        LIB.jitson_topk_destroy(self.ptr)


# The capsules own the exported structs: they release them (if jitson has not) when collected.
_keep = []


def array_pointers(arr):
    schema_capsule, array_capsule = arr.__arrow_c_array__()
    _keep.append((schema_capsule, array_capsule))
    return (_get_pointer(schema_capsule, b"arrow_schema"),
            _get_pointer(array_capsule, b"arrow_array"))


def stream_pointer(reader):
    capsule = reader.__arrow_c_stream__()
    _keep.append(capsule)
    return _get_pointer(capsule, b"arrow_array_stream")


@pytest.fixture(autouse=True)
def release_capsules():
    yield
    _keep.clear()


# ---- Data and the numpy brute force


def make_records(rng, n, nbytes, queries):
    """Random records, near copies of the queries (a few bits flipped) and exact duplicates."""
    recs = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    for i in range(n):
        r = rng.random()
        if r < 0.15 and len(queries):
            recs[i] = queries[rng.integers(len(queries))]
            flips = rng.integers(0, nbytes * 8, size=rng.integers(0, 12))
            for b in flips:
                recs[i, b // 8] ^= np.uint8(1 << (b % 8))
        elif r < 0.25 and i > 0:
            recs[i] = recs[rng.integers(i)]  # ties: broken by row id
    return recs


def brute(queries, records, valid, ids, top_k, max_distance=None):
    """Per query: [(row id, distance)] of the valid rows, ordered by (distance, row id)."""
    out = []
    for q in queries:
        d = np.bitwise_count(np.bitwise_xor(records, q)).sum(axis=1, dtype=np.int64)
        keep = valid.copy()
        if max_distance is not None:
            keep &= d <= max_distance
        rows = np.nonzero(keep)[0]
        order = np.lexsort((ids[rows], d[rows]))[:top_k]
        out.append([(int(ids[rows[i]]), int(d[rows[i]])) for i in order])
    return out


# binary_view (Arrow >= 15, pyarrow >= 16): Polars' Binary.
KINDS = ["fixed", "binary", "large_binary"] + (["binary_view"] if hasattr(pa, "binary_view")
                                               else [])


def as_binary(records, valid, kind, null_value=b""):
    nbytes = records.shape[1]
    if kind == "fixed":
        typ = pa.binary(nbytes)
        null_value = None
    elif kind == "binary_view":
        typ = pa.binary_view()
    else:
        typ = pa.binary() if kind == "binary" else pa.large_binary()
    values = [records[i].tobytes() if valid[i] else None for i in range(len(records))]
    return pa.array(values, type=typ)


def check(topk, queries, records, valid, ids):
    k = topk.kernel
    want = brute(queries, records, valid, ids, k.top_k, k.max_distance)
    for q in range(len(queries)):
        got, _ = topk.result(q)
        assert got == want[q], f"query {q}"


def data_address(arr):
    """The address of row 0's value in the producer's data buffer."""
    bufs = arr.buffers()
    if pa.types.is_fixed_size_binary(arr.type):
        return bufs[1].address + arr.offset * arr.type.byte_width
    dtype = np.int32 if pa.types.is_binary(arr.type) else np.int64
    offsets = np.frombuffer(bufs[1], dtype=dtype)
    return bufs[2].address + int(offsets[arr.offset])


def records_address(arr, record_bytes):
    c = Call()
    schema, array = array_pointers(arr)
    ptr, n = ctypes.c_void_p(), ctypes.c_uint64()
    c.ok(LIB.jitson_arrow_records(schema, array, record_bytes, ctypes.byref(ptr), ctypes.byref(n),
                                  c.err, 512))
    return ptr.value, n.value


# ---- Tests


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bits,top_k,max_distance", [(128, 7, None), (512, 20, 240),
                                                     (16384, 5, None)])
def test_arrays_and_slices_with_nulls(rng, kind, bits, top_k, max_distance):
    nbytes = bits // 8
    n = 3000 if bits < 16384 else 400
    queries = rng.integers(0, 256, size=(3, nbytes), dtype=np.uint8)
    records = make_records(rng, n, nbytes, queries)
    valid = rng.random(n) > 0.2
    arr = as_binary(records, valid, kind)
    k = Kernel(bits, top_k, max_distance)
    topk = TopK(k, queries)
    # Slices of one array (offsets into the same buffers), fed out of order, row ids = positions.
    cuts = sorted(set([0, n] + list(rng.integers(0, n, size=5))))
    pieces = list(zip(cuts[:-1], cuts[1:]))
    rng.shuffle(pieces)
    for a, b in pieces:
        topk.feed(arr.slice(a, b - a), base_row=int(a))
    check(topk, queries, records, valid, np.arange(n, dtype=np.uint64))
    _, stats = topk.result(0)
    assert stats.records <= n
    topk.close()
    k.close()


@pytest.mark.parametrize("kind", ["fixed", "binary", "large_binary"])
def test_records_are_the_producers_buffers(rng, kind):
    nbytes = 32
    records = make_records(rng, 500, nbytes, [])
    arr = as_binary(records, np.ones(500, dtype=bool), kind)
    for a, b in [(0, 500), (17, 300), (499, 500)]:
        s = arr.slice(a, b - a)
        ptr, n = records_address(s, nbytes)
        assert n == b - a
        assert ptr == data_address(s)  # no copy: jitson scans pyarrow's memory
        assert ctypes.string_at(ptr, n * nbytes) == records[a:b].tobytes()
    # And the feed reads that memory: rewrite a record in pyarrow's buffer, feed again.
    k = Kernel(nbytes * 8, 1)
    queries = rng.integers(0, 256, size=(1, nbytes), dtype=np.uint8)
    ptr, _ = records_address(arr, nbytes)
    ctypes.memmove(ptr + 123 * nbytes, queries[0].tobytes(), nbytes)
    topk = TopK(k, queries)
    topk.feed(arr)
    assert topk.result(0)[0] == [(123, 0)]
    topk.close()
    k.close()


def test_ids_arrays(rng):
    nbytes = 64
    n = 2000
    queries = rng.integers(0, 256, size=(2, nbytes), dtype=np.uint8)
    records = make_records(rng, n, nbytes, queries)
    valid = rng.random(n) > 0.1
    arr = as_binary(records, valid, "fixed")
    k = Kernel(nbytes * 8, 30, 230)
    for id_type in [pa.int64(), pa.uint64()]:
        ids = rng.permutation(10 * n)[:n].astype(np.uint64)  # sparse, unordered
        id_arr = pa.array(ids, type=id_type)
        topk = TopK(k, queries)
        for a in range(0, n, 700):
            topk.feed(arr.slice(a, 700), ids=id_arr.slice(a, 700))
        check(topk, queries, records, valid, ids)
        topk.close()
    k.close()


def test_chunked_array(rng):
    nbytes = 16
    queries = rng.integers(0, 256, size=(4, nbytes), dtype=np.uint8)
    records = make_records(rng, 5000, nbytes, queries)
    valid = rng.random(5000) > 0.3
    chunked = pa.chunked_array(
        [as_binary(records[a:a + 900], valid[a:a + 900], "large_binary") for a in range(0, 5000,
                                                                                         900)])
    k = Kernel(128, 12)
    topk = TopK(k, queries)
    base = 0
    for chunk in chunked.chunks:
        topk.feed(chunk, base_row=base)
        base += len(chunk)
    check(topk, queries, records, valid, np.arange(5000, dtype=np.uint64))
    topk.close()
    k.close()


def table_of(records, valid, kind, ids=None):
    cols = {"label": pa.array(np.arange(len(records), dtype=np.int32)),
            "fp": as_binary(records, valid, kind)}
    if ids is not None:
        cols["id"] = pa.array(ids, type=pa.int64())
    return pa.table(cols)


@pytest.mark.parametrize("kind", KINDS)
def test_record_batch_stream(rng, kind):
    nbytes = 128
    n = 4000
    queries = rng.integers(0, 256, size=(2, nbytes), dtype=np.uint8)
    records = make_records(rng, n, nbytes, queries)
    valid = rng.random(n) > 0.15
    k = Kernel(nbytes * 8, 25, 470)
    # Row ids = positions in the stream; a sliced table gives batches with offsets.
    table = table_of(records, valid, kind)
    sliced = table.slice(333, 3000)
    reader = pa.RecordBatchReader.from_batches(sliced.schema, sliced.to_batches(max_chunksize=450))
    topk = TopK(k, queries)
    topk.feed_stream(stream_pointer(reader), "fp")
    check(topk, queries, records[333:3333], valid[333:3333], np.arange(3000, dtype=np.uint64))
    topk.close()
    # An id column.
    ids = (rng.permutation(n) * 3 + 11).astype(np.int64)
    table = table_of(records, valid, kind, ids)
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=777))
    topk = TopK(k, queries)
    topk.feed_stream(stream_pointer(reader), "fp", "id")
    check(topk, queries, records, valid, ids.astype(np.uint64))
    topk.close()
    k.close()


def test_stream_exported_with_export_to_c(rng):
    nbytes = 16
    queries = rng.integers(0, 256, size=(1, nbytes), dtype=np.uint8)
    records = make_records(rng, 1000, nbytes, queries)
    valid = np.ones(1000, dtype=bool)
    arr = as_binary(records, valid, "fixed")
    batches = [pa.record_batch([arr.slice(a, 250)], names=["fp"]) for a in range(0, 1000, 250)]
    reader = pa.RecordBatchReader.from_batches(batches[0].schema, batches)
    stream = ArrowArrayStream()
    reader._export_to_c(ctypes.addressof(stream))
    k = Kernel(128, 9)
    topk = TopK(k, queries)
    topk.feed_stream(ctypes.addressof(stream), "fp")
    assert stream.release  # the stream stays the caller's
    stream.release(ctypes.byref(stream))
    check(topk, queries, records, valid, np.arange(1000, dtype=np.uint64))
    # A stream of bare arrays (not record batches): column None.
    c_schema, c_array = ArrowSchema(), ArrowArray()
    arr.slice(10, 20)._export_to_c(ctypes.addressof(c_array), ctypes.addressof(c_schema))
    topk2 = TopK(k, queries)
    c = Call()
    c.ok(LIB.jitson_topk_feed_arrow(topk2.ptr, ctypes.addressof(c_schema),
                                    ctypes.addressof(c_array), None, None, 10, c.err, 512))
    assert c_array.release and c_schema.release  # arrays stay the caller's too
    c_array.release(ctypes.byref(c_array))
    c_schema.release(ctypes.byref(c_schema))
    v = np.zeros(1000, dtype=bool)
    v[10:30] = True
    check(topk2, queries, records, v, np.arange(1000, dtype=np.uint64))
    topk.close()
    topk2.close()
    k.close()


def test_queries_from_arrow(rng):
    nbytes = 64
    queries = rng.integers(0, 256, size=(5, nbytes), dtype=np.uint8)
    records = make_records(rng, 1500, nbytes, queries)
    k = Kernel(512, 8)
    for kind in KINDS:
        q_arr = as_binary(queries, np.ones(5, dtype=bool), kind).slice(1, 4)
        topk = TopK(k, arrow_queries=q_arr)
        topk.feed(as_binary(records, np.ones(1500, dtype=bool), "fixed"))
        check(topk, queries[1:], records, np.ones(1500, dtype=bool),
              np.arange(1500, dtype=np.uint64))
        topk.close()
    with pytest.raises(JitsonError, match=r"^queries row 1 is null; every row needs a value"):
        TopK(k, arrow_queries=pa.array([b"x" * 64, None], type=pa.binary(64)))
    k.close()


def test_errors_name_the_problem_and_the_row(rng):
    k = Kernel(128, 3)
    topk = TopK(k, rng.integers(0, 256, size=(1, 16), dtype=np.uint8))
    with pytest.raises(JitsonError, match=r"^values format 'i' \(int32\): expected "
                                          r"fixed_size_binary w:16, binary, large_binary or "
                                          r"binary_view$"):
        topk.feed(pa.array([1, 2, 3], type=pa.int32()))
    with pytest.raises(JitsonError, match=r"format 'w:8' \(fixed_size_binary of 8 bytes\): "
                                          r"records are 16 bytes"):
        topk.feed(pa.array([b"x" * 8], type=pa.binary(8)))
    values = [b"y" * 16] * 10
    values[3] = b"short!!"
    with pytest.raises(JitsonError, match=r"^values row 3: value is 7 bytes; records are 16 "
                                          r"bytes$"):
        topk.feed(pa.array(values, type=pa.binary()))
    with pytest.raises(JitsonError, match=r"ids row 1 is null"):
        topk.feed(pa.array([b"y" * 16] * 2, type=pa.binary(16)),
                  ids=pa.array([1, None], type=pa.int64()))
    with pytest.raises(JitsonError, match=r"ids row 0 is -4; row ids must be >= 0"):
        topk.feed(pa.array([b"y" * 16] * 2, type=pa.binary(16)),
                  ids=pa.array([-4, 1], type=pa.int64()))
    # A stream: a value of another length in batch 2 names the stream row and the batch.
    values = [b"z" * 16] * 30
    values[23] = b"z" * 17
    arr = pa.array(values, type=pa.large_binary())
    batches = [pa.record_batch([arr.slice(a, 10)], names=["fp"]) for a in range(0, 30, 10)]
    reader = pa.RecordBatchReader.from_batches(batches[0].schema, batches)
    with pytest.raises(JitsonError, match=r"^column 'fp' row 23 \(batch 2\): value is 17 bytes; "
                                          r"records are 16 bytes$"):
        topk.feed_stream(stream_pointer(reader), "fp")
    reader = pa.RecordBatchReader.from_batches(batches[0].schema, batches)
    with pytest.raises(JitsonError, match=r"^the stream has no column 'fingerprint'; its columns: "
                                          r"'fp'$"):
        topk.feed_stream(stream_pointer(reader), "fingerprint")

    # The producer fails in the middle: its error text comes through get_last_error.
    def failing():
        yield batches[0]
        raise ValueError("the source went away")

    reader = pa.RecordBatchReader.from_batches(batches[0].schema, failing())
    with pytest.raises(JitsonError, match=r"stream get_next \(batch 1\) failed .*the source went "
                                          r"away"):
        topk.feed_stream(stream_pointer(reader), "fp")
    topk.close()
    k.close()


@pytest.mark.skipif("binary_view" not in KINDS, reason="this pyarrow has no binary_view")
def test_binary_view_is_read_in_place(rng):
    """pyarrow's binary_view values (>12 bytes) live in its data buffers: jitson reads them there
    (an array of values back to back is one block at pyarrow's address), 8-byte records inline in
    the views; values of another length, inline or not, are errors naming the row."""
    nbytes = 32
    records = make_records(rng, 600, nbytes, [])
    arr = pa.array([r.tobytes() for r in records], type=pa.binary_view())
    for a, b in [(0, 600), (17, 300)]:
        s = arr.slice(a, b - a)
        views = np.frombuffer(s.buffers()[1], dtype=np.int32).reshape(-1, 4)[s.offset:]
        assert (views[:, 0] == nbytes).all()
        data = s.buffers()[2 + int(views[0, 2])]
        ptr, n = records_address(s, nbytes)
        assert (ptr, n) == (data.address + int(views[0, 3]), b - a)  # pyarrow's memory
        assert ctypes.string_at(ptr, n * nbytes) == records[a:b].tobytes()
    k = Kernel(nbytes * 8, 1)
    queries = rng.integers(0, 256, size=(1, nbytes), dtype=np.uint8)
    ptr, _ = records_address(arr, nbytes)
    ctypes.memmove(ptr + 123 * nbytes, queries[0].tobytes(), nbytes)
    topk = TopK(k, queries)
    topk.feed(arr)
    assert topk.result(0)[0] == [(123, 0)]
    topk.close()
    k.close()
    # 8-byte records: inline in the 16-byte views.
    small = rng.integers(0, 256, size=(300, 8), dtype=np.uint8)
    valid = rng.random(300) > 0.2
    k = Kernel(64, 10)
    topk = TopK(k, small[:2])
    topk.feed(as_binary(small, valid, "binary_view").slice(5, 290), base_row=5)
    v = valid.copy()
    v[:5] = v[295:] = False
    check(topk, small[:2], small, v, np.arange(300, dtype=np.uint64))
    topk.close()
    k.close()
    k = Kernel(128, 3)
    topk = TopK(k, rng.integers(0, 256, size=(1, 16), dtype=np.uint8))
    for bad, length in [(b"short!!", 7), (b"y" * 17, 17)]:
        values = [b"y" * 16] * 10
        values[3] = bad
        with pytest.raises(JitsonError, match=rf"^values row 3: value is {length} bytes; records "
                                              r"are 16 bytes$"):
            topk.feed(pa.array(values, type=pa.binary_view()))
    topk.close()
    k.close()
