"""jitson's native module; use the `jitson` package."""

import os
from typing import Any, Literal, overload

import numpy as np
from numpy.typing import NDArray

# Records: a C-contiguous uint8 array (n, record_bytes) or buffer of whole records, a Database,
# or an Arrow array / record batch / table / stream (PyCapsule protocol: pyarrow, Polars, DuckDB)
# of fixed_size_binary, binary, large_binary or binary_view values.
Records = Any
Queries = Any  # uint8 (n, record_bytes) array, a buffer of whole records, or an Arrow array

__version__: str

class ConfigError(ValueError):
    """A scan config broke a rule: str(e) is '<pointer>: <rule>'."""

    pointer: str
    """RFC 6901 JSON Pointer of the offending value, e.g. '/focus/ranges/2'."""
    rule: str
    """The rule that was broken."""


class Engine:
    """Compiles scan configs into kernels (cached, thread-safe)."""

    def __init__(self, threads: int | None = None, cache_bytes: int | None = None, isa: str | None = None, jit: bool = True) -> None:
        """
        Engine(threads=None, cache_bytes=None, isa=None, jit=True). threads: scan threads (None or 0: all cores); cache_bytes: kernel cache budget (default 64 MiB); isa: upper limit 'avx512'|'avx2'|'scalar'; jit=False runs every kernel on the precompiled runtime.
        """

    def compile(self, config: dict[str, Any] | str | bytes) -> Kernel:
        """
        compile(config) -> Kernel. config: a dict (serialised with json.dumps) or JSON text (configs/scan.schema.json). Raises ConfigError naming the JSON Pointer of a bad field.
        """

    def cache_stats(self) -> dict[str, int]:
        """
        Kernel cache counters: hits, misses, evictions, compiles, fallbacks, entries, bytes.
        """

    @property
    def threads(self) -> int:
        """Scan threads (0: all cores)."""

class Kernel:
    """
    A compiled scan kernel: search a database with it. Made by Engine.compile; thread-safe.
    """

    def describe(self) -> str:
        """One line: backend, ISA, record bits, focus, stages, ..."""

    @property
    def config(self) -> dict[str, Any]:
        """
        The canonical config as a dict (every field explicit, focus as sorted ranges).
        """

    @property
    def backend(self) -> str:
        """The backend that generated the code: 'xbyak', 'llvm' or 'runtime'."""

    @property
    def isa(self) -> str:
        """The ISA the code runs on: 'avx512', 'avx2' or 'scalar'."""

    @property
    def fallback_reason(self) -> str:
        """
        Why the kernel runs on the runtime although the config asked for another backend ('' if not).
        """

    @property
    def record_bits(self) -> int:
        """Bits per record."""

    @property
    def record_bytes(self) -> int:
        """Bytes per record (record_bits / 8)."""

    @property
    def top_k(self) -> int:
        """The config's top_k: search's default k."""

    @property
    def metric(self) -> str:
        """
        The config's metric: 'hamming' (search gives distances) or 'tanimoto' (similarities).
        """

    @property
    def min_similarity(self) -> str | None:
        """
        A tanimoto kernel's threshold as its canonical decimal text ('0.7'; exact, unlike the float in .config), or None (no threshold, or a Hamming kernel).
        """

    @property
    def code_bytes(self) -> int:
        """Bytes of generated machine code."""

    @property
    def compile_seconds(self) -> float:
        """Time the code generation took."""

    def dump_asm(self) -> str:
        """Disassembly of the generated code ('' for the runtime backend)."""

    @overload
    def search(self, queries: Queries, database: Records, k: int | None = None, *, threads: int | None = None, column: str | None = None, id_column: str | None = None, counts: Literal[False] = False, stats: Literal[False] = False) -> tuple[NDArray[Any], NDArray[np.int64]]:
        """
        search(queries, database, k=None, *, threads=None, column=None, id_column=None, counts=False, stats=False). Hamming kernel -> (distances, ids): the k nearest records of every query by (distance, id), int32 distances and int64 ids of shape (n_queries, k), padded with -1 in both where fewer than k records qualify. Tanimoto kernel -> (similarities, ids): the k most similar records by (similarity descending, id), float64 similarities c / u (c = |q & r & focus|, u = |(q | r) & focus|; 1.0 when u = 0), the double nearest the exact fraction, as RDKit computes it; padded with NaN and id -1. counts=True (tanimoto only) -> (similarities, ids, intersections, unions), the exact c and u as uint32, padded with 0. k=None uses the config's top_k. Arrow values: fixed_size_binary, binary, large_binary or binary_view (Polars), read in place; a stream checks for Ctrl-C between batches. A popcount-ordered Database (jitson.open of a popcount-ordered file, jitson.order_by_popcount) gives original indices; a Tanimoto kernel whose focus is every bit reads only the popcounts its bound admits (one thread per query, queries spread over threads). stats=True adds a last item, a dict of uint64 arrays of n_queries: 'records' (records the kernel read), 'bound_skipped' (records the popcount and word-count bounds ruled out unread; 0 for a database that is not popcount-ordered) and 'word_counts_read' (records whose word popcounts the word-count bound read instead of the record).
        """

    @overload
    def search(self, queries: Queries, database: Records, k: int | None = None, *, threads: int | None = None, column: str | None = None, id_column: str | None = None, counts: Literal[True], stats: Literal[False] = False) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.uint32], NDArray[np.uint32]]: ...

    @overload
    def search(self, queries: Queries, database: Records, k: int | None = None, *, threads: int | None = None, column: str | None = None, id_column: str | None = None, counts: Literal[False] = False, stats: Literal[True]) -> tuple[NDArray[Any], NDArray[np.int64], dict[str, NDArray[np.uint64]]]: ...

    @overload
    def search(self, queries: Queries, database: Records, k: int | None = None, *, threads: int | None = None, column: str | None = None, id_column: str | None = None, counts: Literal[True], stats: Literal[True]) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.uint32], NDArray[np.uint32], dict[str, NDArray[np.uint64]]]: ...

    @overload
    def range_search(self, queries: Queries, database: Records, max_distance: int | None = None, *, threads: int | None = None, column: str | None = None, id_column: str | None = None, min_similarity: float | str | Any | None = None, counts: Literal[False] = False, stats: Literal[False] = False) -> tuple[NDArray[np.int64], NDArray[Any], NDArray[np.int64]]:
        """
        range_search(queries, database, max_distance=None, *, ..., min_similarity=None, counts=False, stats=False) -> (lims, distances, ids). Every record within distance <= max_distance (inclusive; FAISS uses < radius), as FAISS's range_search: query i's hits are distances[lims[i]:lims[i+1]], ordered by (distance, id), at most 1,000,000 per query. Tanimoto kernel -> (lims, similarities, ids) (with counts=True also intersections, unions): every record with similarity >= min_similarity (inclusive, the exact decimal: a float is read as its repr, 0.7 is 7/10; a str or decimal.Decimal as written), ordered by (similarity descending, id); min_similarity=None uses the config's. Popcount-ordered databases and stats=True as in search.
        """

    @overload
    def range_search(self, queries: Queries, database: Records, max_distance: int | None = None, *, threads: int | None = None, column: str | None = None, id_column: str | None = None, min_similarity: float | str | Any | None = None, counts: Literal[True], stats: Literal[False] = False) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64], NDArray[np.uint32], NDArray[np.uint32]]: ...

    @overload
    def range_search(self, queries: Queries, database: Records, max_distance: int | None = None, *, threads: int | None = None, column: str | None = None, id_column: str | None = None, min_similarity: float | str | Any | None = None, counts: Literal[False] = False, stats: Literal[True]) -> tuple[NDArray[np.int64], NDArray[Any], NDArray[np.int64], dict[str, NDArray[np.uint64]]]: ...

    @overload
    def range_search(self, queries: Queries, database: Records, max_distance: int | None = None, *, threads: int | None = None, column: str | None = None, id_column: str | None = None, min_similarity: float | str | Any | None = None, counts: Literal[True], stats: Literal[True]) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64], NDArray[np.uint32], NDArray[np.uint32], dict[str, NDArray[np.uint64]]]: ...

    def __repr__(self) -> str: ...

class Database:
    """
    Records to scan: a memory-mapped .jfp/raw file (jitson.open), a blocked copy (jitson.to_blocked), or a zero-copy view of a numpy array, buffer or Arrow fixed_size_binary array (jitson.Database(obj)).
    """

    def __init__(self, records: Any, record_bits: int | None = None) -> None:
        """
        Database(records, record_bits=None): a zero-copy view of a 2-D uint8 array (n, record_bytes), a 1-D buffer of whole records (record_bits needed), or an Arrow fixed_size_binary array without nulls. Refuses non-C-contiguous arrays.
        """

    @property
    def n_records(self) -> int:
        """Records."""

    def __len__(self) -> int: ...

    @property
    def record_bits(self) -> int:
        """Bits per record."""

    @property
    def record_bytes(self) -> int:
        """Bytes per record."""

    @property
    def layout(self) -> str:
        """'row' or 'blocked'."""

    @property
    def block_records(self) -> int:
        """Records per block (blocked layout), else 0."""

    @property
    def address(self) -> int:
        """Address of the first record (for zero-copy checks)."""

    @property
    def nbytes(self) -> int:
        """Bytes the records occupy."""

    @property
    def path(self) -> str | None:
        """The file's path, or None."""

    @property
    def source(self) -> str:
        """'file', 'buffer', 'arrow', 'blocked copy' or 'popcount-ordered copy'."""

    @property
    def popcount_ordered(self) -> bool:
        """
        Whether the records are in ascending popcount with their original indices (a popcount-ordered file, or jitson.order_by_popcount): searches report original indices and Tanimoto searches skip the popcounts their bound rules out.
        """

    @property
    def original_index(self) -> NDArray[np.uint64] | None:
        """
        A popcount-ordered database's original index of the record at each position (a read-only uint64 array), or None.
        """

    def __repr__(self) -> str: ...

def open(path: str | os.PathLike, raw_record_bits: int | None = None, *, populate: bool = False) -> Database:
    """
    open(path, raw_record_bits=None, *, populate=False) -> Database. Memory-maps a .jfp file (row-major or blocked, docs/FORMAT.md) read-only, or a headerless file of raw records when raw_record_bits is given. Raises OSError for a missing, unreadable or malformed file. A popcount-ordered file (jitson convert --order popcount, jitson.write_popcount_ordered) is verified at open (one pass over it; a damaged popcount section is an OSError naming what is wrong) and is popcount_ordered: searches and accumulator feeds report its records' original indices.
    """

def order_by_popcount(database: Records, *, record_bits: int | None = None) -> Database:
    """
    order_by_popcount(database, *, record_bits=None) -> Database: a popcount-ordered COPY of row-major records (a 2-D uint8 array, a buffer of whole records with record_bits, an Arrow fixed_size_binary array or a Database), sorted by popcount (ties by index) into memory of its own, with a bucket index and the original indices: built once (about one pass plus a sort), then searched with the popcount bound by every Tanimoto kernel and reported with original indices. A database that is already popcount-ordered is returned as is.
    """

def write_popcount_ordered(path: str | os.PathLike, database: Records, *, record_bits: int | None = None) -> None:
    """
    write_popcount_ordered(path, database, *, record_bits=None): writes the records as a popcount-ordered .jfp file (order = popcount and the popcount section, docs/FORMAT.md; what jitson convert --order popcount writes), atomically; jitson.open reads it back popcount_ordered with the original indices.
    """

def to_blocked(records: Records, block_records: int = 64, *, record_bits: int | None = None) -> Database:
    """
    to_blocked(records, block_records=64) -> Database: a blocked copy (word-major blocks, docs/BLOCKED.md) of row-major records, scanned by the kernel's sweep (near-duplicate search).
    """

def save(path: str | os.PathLike, records: Records, *, block_records: int | None = None, header: bool = True, record_bits: int | None = None) -> None:
    """
    save(path, records, *, block_records=None, header=True): writes a .jfp file atomically (blocked when block_records is given; header=False: raw records).
    """

class Accumulator:
    """
    Chunked top-k for data larger than memory: feed record batches in any order and split, merge accumulators of parallel workers; the result equals one search over everything fed. One thread at a time.
    """

    def __init__(self, kernel: Kernel, queries: Queries) -> None:
        """Accumulator(kernel, queries): queries are copied."""

    def feed(self, records: Records, row_ids: Any | None = None, base_row: int = 0, skip: NDArray[Any] | None = None, *, column: str | None = None, id_column: str | None = None) -> None:
        """
        feed(records, row_ids=None, base_row=0, skip=None, *, column=None, id_column=None). records: uint8 (n, record_bytes) array or buffer, Database, Arrow array, record batch or stream. Ids are row_ids[i] (int64/uint64) or base_row + i; skip: bool per record or bit-packed uint8 (1 = skip). Arrow nulls are skipped. A popcount-ordered Database brings its own ids: base_row + each record's original index (row_ids refused), and skip is by original index. All or nothing: a feed that fails or is interrupted (Ctrl-C between chunks or stream batches) changes nothing.
        """

    def merge(self, other: Accumulator) -> None:
        """Adds another accumulator's hits (same queries, same kernel meaning)."""

    @overload
    def result(self, *, counts: Literal[False] = False) -> tuple[NDArray[Any], NDArray[np.int64]]:
        """
        result(*, counts=False). Hamming kernel: (distances int32, ids int64) of shape (n_queries, top_k), padded with -1. Tanimoto kernel: (similarities float64, ids int64), padded with NaN and -1, and with counts=True also (intersections, unions) uint32, padded with 0; as Kernel.search.
        """

    @overload
    def result(self, *, counts: Literal[True]) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.uint32], NDArray[np.uint32]]: ...

    def reset(self) -> None:
        """Forgets every hit."""

    def stats(self, query: int = 0) -> dict[str, int]:
        """
        Scan counters of one query: records, evaluated_full, hits, skipped, ...
        """

    @property
    def n_queries(self) -> int:
        """Number of queries."""

def cpu_info() -> dict[str, Any]:
    """
    CPU and build facts: vendor, brand, features, best_isa, active_isa, isas (runnable), backends (built), threads, version, xbyak_version, llvm_version.
    """

def sgemm(a: NDArray[np.float32], b: NDArray[np.float32], c: NDArray[np.float32] | None = None, *, alpha: float = 1.0, beta: float = 0.0, trans_a: bool = False, trans_b: bool = False, threads: int | None = None) -> NDArray[np.float32]:
    """
    sgemm(a, b, c=None, *, alpha=1, beta=0, trans_a=False, trans_b=False, threads=None) -> c. C = alpha * op(a) @ op(b) + beta * C on float32 2-D arrays read in place (rows contiguous, any row stride); c is written in place or allocated (beta must be 0 then). GIL released.
    """

def gemm_bf16(a: NDArray[np.uint16], b: NDArray[np.uint16], c: NDArray[np.float32] | None = None, *, alpha: float = 1.0, beta: float = 0.0, trans_a: bool = False, trans_b: bool = False, threads: int | None = None) -> NDArray[np.float32]:
    """
    gemm_bf16(a, b, c=None, ...) -> c: sgemm with a and b as bf16 bit patterns (uint16 arrays, f32_to_bf16), float32 C. Subnormals flush on CPUs with AVX-512 BF16 or AMX.
    """

def gemm_u8i8(a: NDArray[np.uint8], b: NDArray[np.int8], c: NDArray[Any] | None = None, *, scale_a: float | None = None, zero_point_a: int = 0, scale_b: float | None = None, threads: int | None = None) -> NDArray[Any]:
    """
    gemm_u8i8(a, b, c=None, *, scale_a=None, zero_point_a=0, scale_b=None, threads=None): uint8 a (m, k) x int8 b (k, n) -> exact int32 C; with scale_a and scale_b the dequantised float32 C = (a - zero_point_a) @ b * scale_a * scale_b.
    """

def f32_to_bf16(x: NDArray[np.float32], out: NDArray[np.uint16] | None = None, *, truncate: bool = False) -> NDArray[np.uint16]:
    """
    f32_to_bf16(x, out=None, *, truncate=False) -> uint16 array: bf16 bit patterns, rounded to nearest even (NaN kept quiet) or truncated.
    """

def bf16_to_f32(x: NDArray[np.uint16], out: NDArray[np.float32] | None = None) -> NDArray[np.float32]:
    """
    bf16_to_f32(x, out=None) -> float32 array from bf16 bit patterns (uint16), exact.
    """

def gemm_kernel_name(kind: str) -> str:
    """
    The kernel a GEMM of kind 'sgemm', 'bf16' or 'u8i8' runs, e.g. 'f32 avx512 14x32'.
    """

def set_gemm_threads(threads: int) -> None:
    """Default thread count of every GEMM (0: all cores)."""
