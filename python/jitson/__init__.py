"""jitson: exact Hamming and Tanimoto search over binary fingerprints with JIT-compiled kernels.

Compile a scan config (a dict or JSON text, configs/scan.schema.json) once, then search numpy
arrays, memory-mapped .jfp files and Arrow data (pyarrow, Polars, DuckDB) in place::

    import numpy as np, jitson
    engine = jitson.Engine()
    kernel = engine.compile({"version": 1, "record_bits": 2048, "top_k": 10})
    db = np.random.default_rng(0).integers(0, 256, (100_000, 256), dtype=np.uint8)
    distances, ids = kernel.search(db[:3], db)      # (3, 10) int32 and int64

A config with ``"metric": "tanimoto"`` (and optionally ``"min_similarity": 0.7``) searches by
Tanimoto similarity instead: ``similarities, ids = kernel.search(...)`` gives float64
similarities, most similar first (ties by id), padded with NaN and id -1; ``counts=True`` adds
the exact intersections and unions. ``jitson.tanimoto(a, b)`` compares two fingerprints.

For repeated Tanimoto searches of one database, order it by popcount once: a record of popcount b
can reach at most min(a, b) / max(a, b) against a query of popcount a, so a search of a
popcount-ordered database reads only the records that bound admits (at 0.7, typically a small
fraction of them), and reports the same hits with the original indices::

    ordered = jitson.order_by_popcount(db)          # a sorted copy, built once
    lims, sims, ids = kernel.range_search(queries, ordered, min_similarity=0.7)
    jitson.write_popcount_ordered("db.jfp", db)     # or a file: jitson.open("db.jfp")

Records are bit-packed uint8 rows: bit i of a record is bit i % 8 (least significant first) of
byte i / 8, as numpy.packbits(bitorder="little") writes them (jitson.pack_bits). See the README's
"Python" section for Arrow, files, chunked search, GEMM and the error types.
"""

from __future__ import annotations

import numpy as _np

from ._jitson import (
    Accumulator,
    ConfigError,
    Database,
    Engine,
    Kernel,
    __version__,
    bf16_to_f32,
    cpu_info,
    f32_to_bf16,
    gemm_bf16,
    gemm_kernel_name,
    gemm_u8i8,
    open,
    order_by_popcount,
    save,
    set_gemm_threads,
    sgemm,
    to_blocked,
    write_popcount_ordered,
)

__all__ = [
    "Accumulator",
    "ConfigError",
    "Database",
    "Engine",
    "Kernel",
    "__version__",
    "bf16_to_f32",
    "cpu_info",
    "f32_to_bf16",
    "gemm_bf16",
    "gemm_kernel_name",
    "gemm_u8i8",
    "open",
    "order_by_popcount",
    "pack_bits",
    "save",
    "set_gemm_threads",
    "sgemm",
    "tanimoto",
    "to_blocked",
    "unpack_bits",
    "write_popcount_ordered",
]


def pack_bits(bits, record_bits: int | None = None) -> _np.ndarray:
    """Pack the last axis of a bool (or 0/1) array into jitson records.

    Bit i of a record is bit i % 8 (least significant first) of byte i // 8: exactly
    ``numpy.packbits(bits, axis=-1, bitorder="little")`` (docs/FORMAT.md), zero-padded to
    ``record_bits`` (default: the bit count rounded up to a multiple of 64, since records are
    whole 64-bit words). Returns a C-contiguous uint8 array of shape (..., record_bits // 8).
    """
    a = _np.asarray(bits)
    if a.ndim == 0:
        raise ValueError("pack_bits: expected an array of bits, got a scalar")
    if a.dtype != _np.bool_ and not _np.issubdtype(a.dtype, _np.integer):
        raise ValueError(f"pack_bits: expected a bool or integer 0/1 array, got {a.dtype}")
    n = a.shape[-1]
    if record_bits is None:
        record_bits = max(64, -(-n // 64) * 64)
    if record_bits <= 0 or record_bits % 64 != 0 or record_bits > 65536:
        raise ValueError("pack_bits: record_bits must be a multiple of 64 from 64 to 65536")
    if n > record_bits:
        raise ValueError(f"pack_bits: {n} bits do not fit in {record_bits}-bit records")
    packed = _np.packbits(a != 0, axis=-1, bitorder="little")
    pad = record_bits // 8 - packed.shape[-1]
    if pad:
        widths = [(0, 0)] * (packed.ndim - 1) + [(0, pad)]
        packed = _np.pad(packed, widths)
    return _np.ascontiguousarray(packed)


def unpack_bits(records, count: int | None = None) -> _np.ndarray:
    """Unpack uint8 records into a bool array of their bits (the inverse of pack_bits).

    ``numpy.unpackbits(records, axis=-1, count=count, bitorder="little")`` as bool: shape
    (..., count or record_bytes * 8).
    """
    r = _np.asarray(records)
    if r.dtype != _np.uint8:
        raise ValueError(f"unpack_bits: expected dtype uint8, got {r.dtype}")
    return _np.unpackbits(r, axis=-1, count=count, bitorder="little").astype(bool)


_tanimoto_engine: Engine | None = None


def _record(x, what: str) -> _np.ndarray:
    if isinstance(x, (bytes, bytearray, memoryview)):
        x = _np.frombuffer(x, dtype=_np.uint8)
    r = _np.asarray(x)
    if r.dtype != _np.uint8:
        raise ValueError(f"tanimoto: {what}: expected uint8 records (pack_bits), got {r.dtype}")
    if r.ndim != 1 or r.size == 0 or r.size % 8 != 0:
        raise ValueError(
            f"tanimoto: {what}: expected one record, a 1-D uint8 array of a multiple of 8 bytes, "
            f"got shape {r.shape}"
        )
    return _np.ascontiguousarray(r)


def tanimoto(a, b, focus=None, *, counts: bool = False):
    """Tanimoto similarity of two fingerprints, computed by a ``"metric": "tanimoto"`` kernel.

    ``a`` and ``b`` are records of the same size: 1-D uint8 arrays (or bytes) of a multiple of 8
    bytes, as ``pack_bits`` writes them. ``focus`` is None (every bit counts) or a config's focus
    object, e.g. ``{"ranges": [[0, 1024]], "bits": [2000]}``. With c = |a & b & focus| and
    u = |(a | b) & focus|, returns the similarity c / u as a float, the double nearest the exact
    fraction (1.0 when u = 0: two empty fingerprints are identical), which is what RDKit's
    ``DataStructs.TanimotoSimilarity`` computes; with ``counts=True``, ``(similarity, c, u)``.
    Kernels are compiled once per record size and focus (runtime backend, one thread).
    """
    global _tanimoto_engine
    qa, qb = _record(a, "a"), _record(b, "b")
    if qa.size != qb.size:
        raise ValueError(f"tanimoto: a has {qa.size * 8} bits, b has {qb.size * 8}")
    config = {"version": 1, "record_bits": qa.size * 8, "metric": "tanimoto", "top_k": 1, "backend": "runtime"}
    if focus is not None:
        config["focus"] = focus
    if _tanimoto_engine is None:
        _tanimoto_engine = Engine(threads=1)
    similarities, _, c, u = _tanimoto_engine.compile(config).search(qa[None], qb[None], counts=True)
    similarity = float(similarities[0, 0])
    return (similarity, int(c[0, 0]), int(u[0, 0])) if counts else similarity
