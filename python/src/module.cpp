// jitson._jitson: the nanobind module behind the `jitson` package (python/jitson/__init__.py).
// Engine, Kernel, Database and Accumulator over the public C++ API; errors become Python
// exceptions (ConfigError with .pointer, ValueError, OSError), never a crash.
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>

#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "common.hpp"
#include "jitson/error.hpp"
#include "jitson/plan.hpp"
#include "search.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace jitson::py {
namespace {

PyObject *g_config_error = nullptr;  // jitson.ConfigError (a ValueError)

void set_config_error(const ConfigError &e) {
  // A ConfigError instance with .pointer and .rule, built with the C API: a translator must not
  // throw.
  PyObject *exc = PyObject_CallFunction(g_config_error, "s", e.what());
  if (!exc) return;  // the call's own error stays set
  PyObject *pointer = PyUnicode_DecodeUTF8(e.pointer().data(), e.pointer().size(), "replace");
  PyObject *rule = PyUnicode_DecodeUTF8(e.rule().data(), e.rule().size(), "replace");
  if (pointer && rule && PyObject_SetAttrString(exc, "pointer", pointer) == 0 &&
      PyObject_SetAttrString(exc, "rule", rule) == 0) {
    PyErr_SetObject(g_config_error, exc);
  }
  Py_XDECREF(pointer);
  Py_XDECREF(rule);
  Py_DECREF(exc);
}

void translate(const std::exception_ptr &p, void *) {
  try {
    std::rethrow_exception(p);
  } catch (const ConfigError &e) {
    set_config_error(e);
  } catch (const Error &e) {
    switch (e.kind()) {
      case ErrorKind::io:
        PyErr_SetString(PyExc_OSError, e.what());
        break;
      case ErrorKind::internal:
        PyErr_SetString(PyExc_RuntimeError, e.what());
        break;
      default:
        PyErr_SetString(PyExc_ValueError, e.what());
        break;  // arguments, data, unsupported
    }
  }
}

std::string config_text(nb::handle config) {
  if (nb::isinstance<nb::str>(config)) return nb::cast<std::string>(config);
  if (nb::isinstance<nb::bytes>(config)) {
    nb::bytes b = nb::borrow<nb::bytes>(config);
    return std::string(b.c_str(), b.size());
  }
  if (nb::isinstance<nb::dict>(config)) {
    return nb::cast<std::string>(nb::module_::import_("json").attr("dumps")(config));
  }
  throw nb::type_error("config must be a dict or a JSON str");
}

const char *layout_name(Layout l) {
  return l == Layout::row_major ? "row" : "blocked";
}

std::shared_ptr<Database> open_file(const std::filesystem::path &fs_path,
                                    std::optional<int64_t> raw_bits, bool populate) {
  const std::string path = fs_path.string();
  FileOpenOptions o;
  if (raw_bits) {
    if (*raw_bits <= 0 || *raw_bits > kMaxFileRecordBits) {
      throw nb::value_error("raw_record_bits must be a multiple of 64 from 64 to 65536");
    }
    o.raw_record_bits = static_cast<uint32_t>(*raw_bits);
  }
  o.populate = populate;
  auto db = std::make_shared<Database>();
  try {
    nb::gil_scoped_release release;  // MAP_POPULATE reads the whole file
    db->file = std::make_shared<FingerprintFile>(FingerprintFile::open(path, o));
    // A popcount-ordered file: its section verified against the records (one pass), so a damaged
    // one is refused here rather than giving wrong ids; scans report original indices.
    if (db->file->popcount_section()) db->order = PopcountOrder::of_file(*db->file);
  } catch (const Error &e) {
    // A malformed file is an OSError too (the brief: files raise OSError); a bad raw_record_bits
    // is the caller's argument.
    if (e.kind() == ErrorKind::invalid_argument) throw nb::value_error(e.what());
    PyErr_SetString(PyExc_OSError, e.what());
    throw nb::python_error();
  }
  db->view = db->file->view();
  db->path = path;
  db->source = "file";
  return db;
}

std::shared_ptr<Database> to_blocked_db(nb::handle records, int64_t block_records,
                                        std::optional<int64_t> record_bits) {
  if (block_records < 8 || block_records > 4096 || (block_records & (block_records - 1))) {
    throw nb::value_error("block_records must be a power of two from 8 to 4096");
  }
  std::shared_ptr<Database> src;
  if (nb::isinstance<Database>(records)) {
    src = nb::cast<std::shared_ptr<Database>>(records);
  } else {
    src = database_from_object(records, record_bits ? static_cast<uint32_t>(*record_bits) : 0);
  }
  if (src->view.layout != Layout::row_major) throw nb::value_error("records are already blocked");
  if (src->order) {
    throw nb::value_error(
        "to_blocked: a popcount-ordered database's positions are not its "
        "records' indices; block the original records instead");
  }
  auto db = std::make_shared<Database>();
  {
    nb::gil_scoped_release release;
    db->blocked =
        std::make_shared<BlockedDatabase>(src->view, static_cast<uint32_t>(block_records));
  }
  db->view = db->blocked->view();
  db->source = "blocked copy";
  return db;
}

void save_file(const std::filesystem::path &fs_path, nb::handle records,
               std::optional<int64_t> block_records, bool header,
               std::optional<int64_t> record_bits) {
  const std::string path = fs_path.string();
  std::shared_ptr<Database> src;
  if (nb::isinstance<Database>(records)) {
    src = nb::cast<std::shared_ptr<Database>>(records);
  } else {
    src = database_from_object(records, record_bits ? static_cast<uint32_t>(*record_bits) : 0);
  }
  if (src->view.layout != Layout::row_major) {
    throw nb::value_error("save: records must be row-major (the file's layout is block_records)");
  }
  if (src->order) {
    throw nb::value_error(
        "save: a popcount-ordered database's records are in popcount order; "
        "write it with jitson.write_popcount_ordered (keeps the original "
        "indices)");
  }
  const DatabaseView v = src->view;
  try {
    nb::gil_scoped_release release;
    if (block_records) {
      BlockedDatabase b(v, static_cast<uint32_t>(*block_records));
      FingerprintWriter w(path, v.record_bytes * 8, v.n_records, Layout::blocked,
                          static_cast<uint32_t>(*block_records), true);
      w.write(b.view().data, b.view().payload_bytes());
      w.commit();
    } else {
      FingerprintWriter w(path, v.record_bytes * 8, v.n_records, Layout::row_major, 0, header);
      w.write(v.data, v.payload_bytes());
      w.commit();
    }
  } catch (const Error &e) {
    if (e.kind() == ErrorKind::invalid_argument) throw nb::value_error(e.what());
    PyErr_SetString(PyExc_OSError, e.what());
    throw nb::python_error();
  }
}

// The records a popcount order is built from or written of: a Database or an object
// database_from_object takes (record_bits for a 1-D buffer).
std::shared_ptr<Database> source_database(nb::handle records, std::optional<int64_t> record_bits,
                                          const char *what) {
  if (record_bits && (*record_bits <= 0 || *record_bits % 64 != 0 || *record_bits > 65536)) {
    throw nb::value_error("record_bits must be a multiple of 64 from 64 to 65536");
  }
  std::shared_ptr<Database> src =
      nb::isinstance<Database>(records)
          ? nb::cast<std::shared_ptr<Database>>(records)
          : database_from_object(records, record_bits ? static_cast<uint32_t>(*record_bits) : 0);
  if (src->view.layout != Layout::row_major) {
    value_error(std::string(what) +
                ": records must be row-major (a blocked copy cannot be ordered)");
  }
  return src;
}

nb::object order_by_popcount(nb::handle records, std::optional<int64_t> record_bits) {
  std::shared_ptr<Database> src = source_database(records, record_bits, "order_by_popcount");
  if (src->order) return nb::borrow(records);  // already ordered: its ids are the original ones
  auto db = std::make_shared<Database>();
  {
    nb::gil_scoped_release release;
    db->order = PopcountOrder::build(src->view);
  }
  db->view = db->order->records();
  db->source = "popcount-ordered copy";
  return nb::cast(db);
}

void write_popcount_ordered(const std::filesystem::path &fs_path, nb::handle records,
                            std::optional<int64_t> record_bits) {
  const std::string path = fs_path.string();
  std::shared_ptr<Database> src = source_database(records, record_bits, "write_popcount_ordered");
  try {
    nb::gil_scoped_release release;
    if (!src->order) {
      PopcountOrder::write_file(path, src->view);
    } else {
      // Already ordered: back to the original order first (write_file sorts by popcount, ties by
      // index, which gives these positions again with the original indices as ids).
      const DatabaseView v = src->view;
      const std::span<const uint64_t> original = src->order->original_index();
      std::vector<uint8_t> rows(v.n_records * v.record_bytes);
      for (uint64_t i = 0; i < v.n_records; ++i) {
        std::memcpy(rows.data() + original[i] * v.record_bytes, v.record(i), v.record_bytes);
      }
      PopcountOrder::write_file(path, DatabaseView::rows(rows.empty() ? nullptr : rows.data(),
                                                         v.n_records, v.record_bytes));
    }
  } catch (const Error &e) {
    if (e.kind() == ErrorKind::invalid_argument) throw nb::value_error(e.what());
    PyErr_SetString(PyExc_OSError, e.what());
    throw nb::python_error();
  }
}

}  // namespace
}  // namespace jitson::py

NB_MODULE(_jitson, m) {
  using namespace jitson;
  using namespace jitson::py;
  m.doc() = "jitson's native module; use the `jitson` package.";

  g_config_error = PyErr_NewExceptionWithDoc(
      "jitson.ConfigError",
      "A scan config broke a rule. str(e) is '<pointer>: <rule>'; e.pointer is the RFC 6901 JSON "
      "Pointer of the offending value (e.g. '/focus/ranges/2'), e.rule the rule.",
      PyExc_ValueError, nullptr);
  m.attr("ConfigError") = nb::borrow(g_config_error);
  nb::register_exception_translator(translate);

  m.attr("__version__") = version_string();

  nb::class_<PyEngine>(m, "Engine", "Compiles scan configs into kernels (cached, thread-safe).")
      .def(
          "__init__",
          [](PyEngine *self, std::optional<int64_t> threads, std::optional<int64_t> cache_bytes,
             std::optional<std::string> isa, bool jit) {
            EngineOptions o;
            if (threads) {
              if (*threads < 0 || *threads > 4096)
                throw nb::value_error("threads must be in [0, 4096]");
              o.threads = static_cast<unsigned>(*threads);
            }
            if (cache_bytes) {
              if (*cache_bytes < 0) throw nb::value_error("cache_bytes must be >= 0");
              o.cache_bytes = static_cast<size_t>(*cache_bytes);
            }
            if (isa) {
              o.isa = parse_isa(*isa);
              if (!o.isa) throw nb::value_error("isa must be 'avx512', 'avx2' or 'scalar'");
            }
            o.jit = jit;
            new (self) PyEngine{std::make_shared<Engine>(o)};
          },
          "threads"_a = nb::none(), "cache_bytes"_a = nb::none(), "isa"_a = nb::none(),
          "jit"_a = true,
          "Engine(threads=None, cache_bytes=None, isa=None, jit=True). threads: scan threads "
          "(None or 0: all cores); cache_bytes: kernel cache budget (default 64 MiB); isa: upper "
          "limit 'avx512'|'avx2'|'scalar'; jit=False runs every kernel on the precompiled runtime.")
      .def(
          "compile",
          [](PyEngine &self, nb::handle config) {
            const std::string text = config_text(config);
            std::shared_ptr<const Kernel> k;
            {
              nb::gil_scoped_release release;
              k = self.engine->compile(text);
            }
            return PyKernel{self.engine, std::move(k)};
          },
          "config"_a,
          "compile(config) -> Kernel. config: a dict (serialised with json.dumps) or JSON text "
          "(configs/scan.schema.json). Raises ConfigError naming the JSON Pointer of a bad field.")
      .def(
          "cache_stats",
          [](const PyEngine &self) {
            const CacheStats s = self.engine->cache_stats();
            nb::dict d;
            d["hits"] = s.hits;
            d["misses"] = s.misses;
            d["evictions"] = s.evictions;
            d["compiles"] = s.compiles;
            d["fallbacks"] = s.fallbacks;
            d["entries"] = s.entries;
            d["bytes"] = s.bytes;
            d["capacity_bytes"] = s.capacity_bytes;
            return d;
          },
          "Kernel cache counters: hits, misses, evictions, compiles, fallbacks, entries, bytes.")
      .def_prop_ro(
          "threads", [](const PyEngine &self) { return self.engine->options().threads; },
          "Scan threads (0: all cores).");

  nb::class_<PyKernel>(m, "Kernel",
                       "A compiled scan kernel: search a database with it. Made by "
                       "Engine.compile; thread-safe.")
      .def(
          "describe", [](const PyKernel &k) { return k.kernel->describe(); },
          "One line: backend, ISA, record bits, focus, stages, ...")
      .def_prop_ro(
          "config",
          [](const PyKernel &k) {
            return nb::module_::import_("json").attr("loads")(k.kernel->spec().canonical_json());
          },
          "The canonical config as a dict (every field explicit, focus as sorted ranges).")
      .def_prop_ro(
          "backend", [](const PyKernel &k) { return to_string(k.kernel->backend()); },
          "The backend that generated the code: 'xbyak', 'llvm' or 'runtime'.")
      .def_prop_ro(
          "isa", [](const PyKernel &k) { return isa_name(k.kernel->isa()); },
          "The ISA the code runs on: 'avx512', 'avx2' or 'scalar'.")
      .def_prop_ro(
          "fallback_reason", [](const PyKernel &k) { return k.kernel->fallback_reason(); },
          "Why the kernel runs on the runtime although the config asked for another "
          "backend ('' if not).")
      .def_prop_ro(
          "record_bits", [](const PyKernel &k) { return k.kernel->spec().record_bits; },
          "Bits per record.")
      .def_prop_ro(
          "record_bytes", [](const PyKernel &k) { return k.kernel->spec().record_bytes(); },
          "Bytes per record (record_bits / 8).")
      .def_prop_ro(
          "top_k", [](const PyKernel &k) { return k.kernel->spec().top_k; },
          "The config's top_k: search's default k.")
      .def_prop_ro(
          "metric", [](const PyKernel &k) { return to_string(k.kernel->spec().metric); },
          "The config's metric: 'hamming' (search gives distances) or 'tanimoto' (similarities).")
      .def_prop_ro(
          "min_similarity",
          [](const PyKernel &k) -> std::optional<std::string> {
            const std::string &t = k.kernel->spec().min_similarity;
            if (t.empty()) return std::nullopt;
            return t;
          },
          "A tanimoto kernel's threshold as its canonical decimal text ('0.7'; exact, unlike the "
          "float in .config), or None (no threshold, or a Hamming kernel).")
      .def_prop_ro(
          "code_bytes", [](const PyKernel &k) { return k.kernel->code_bytes(); },
          "Bytes of generated machine code.")
      .def_prop_ro(
          "compile_seconds",
          [](const PyKernel &k) {
            return std::chrono::duration<double>(k.kernel->compile_time()).count();
          },
          "Time the code generation took.")
      .def(
          "dump_asm", [](const PyKernel &k) { return k.kernel->dump_asm(); },
          "Disassembly of the generated code ('' for the runtime backend).")
      .def("search", &kernel_search, "queries"_a, "database"_a, "k"_a = nb::none(), nb::kw_only(),
           "threads"_a = nb::none(), "column"_a = nb::none(), "id_column"_a = nb::none(),
           "counts"_a = false, "stats"_a = false,
           "search(queries, database, k=None, *, threads=None, column=None, id_column=None, "
           "counts=False, stats=False). Hamming kernel -> (distances, ids): the k nearest records "
           "of every query by (distance, id), int32 distances and int64 ids of shape (n_queries, "
           "k), padded with -1 in both where fewer than k records qualify. Tanimoto kernel -> "
           "(similarities, ids): the k most similar records by (similarity descending, id), "
           "float64 similarities c / u (c = |q & r & focus|, u = |(q | r) & focus|; 1.0 when u = "
           "0), the double nearest the exact fraction, as RDKit computes it; padded with NaN and "
           "id -1. counts=True (tanimoto only) -> (similarities, ids, intersections, unions), the "
           "exact c and u as uint32, padded with 0. k=None uses the config's top_k. Arrow "
           "values: fixed_size_binary, binary, large_binary or binary_view (Polars), read in "
           "place; a stream checks for Ctrl-C between batches. A popcount-ordered Database "
           "(jitson.open of a popcount-ordered file, jitson.order_by_popcount) gives original "
           "indices; a Tanimoto kernel whose focus is every bit reads only the popcounts its "
           "bound admits (one thread per query, queries spread over threads). stats=True adds a "
           "last item, a dict of uint64 arrays of n_queries: 'records' (records the kernel read), "
           "'bound_skipped' (records the popcount and word-count bounds ruled out unread; 0 for "
           "a database that is not popcount-ordered) and 'word_counts_read' (records whose word "
           "popcounts the word-count bound read instead of the record).")
      .def("range_search", &kernel_range_search, "queries"_a, "database"_a,
           "max_distance"_a = nb::none(), nb::kw_only(), "threads"_a = nb::none(),
           "column"_a = nb::none(), "id_column"_a = nb::none(), "min_similarity"_a = nb::none(),
           "counts"_a = false, "stats"_a = false,
           "range_search(queries, database, max_distance=None, *, ..., min_similarity=None, "
           "counts=False, stats=False) -> (lims, distances, ids). Every record within distance <= "
           "max_distance (inclusive; FAISS uses < radius), as FAISS's range_search: query i's "
           "hits are distances[lims[i]:lims[i+1]], ordered by (distance, id), at most 1,000,000 "
           "per query. Tanimoto kernel -> (lims, similarities, ids) (with counts=True also "
           "intersections, unions): every record with similarity >= min_similarity (inclusive, "
           "the exact decimal: a float is read as its repr, 0.7 is 7/10; a str or "
           "decimal.Decimal as written), ordered by (similarity descending, id); "
           "min_similarity=None uses the config's. Popcount-ordered databases and stats=True "
           "as in search.")
      .def("__repr__",
           [](const PyKernel &k) { return "<jitson.Kernel " + k.kernel->describe() + ">"; });

  nb::class_<Database>(m, "Database",
                       "Records to scan: a memory-mapped .jfp/raw file (jitson.open), a blocked "
                       "copy (jitson.to_blocked), or a zero-copy view of a numpy array, buffer "
                       "or Arrow fixed_size_binary array (jitson.Database(obj)).")
      .def(
          "__init__",
          [](Database *self, nb::handle records, std::optional<int64_t> record_bits) {
            if (record_bits &&
                (*record_bits <= 0 || *record_bits % 64 != 0 || *record_bits > 65536)) {
              throw nb::value_error("record_bits must be a multiple of 64 from 64 to 65536");
            }
            std::shared_ptr<Database> db = database_from_object(
                records, record_bits ? static_cast<uint32_t>(*record_bits) : 0);
            new (self) Database(std::move(*db));
          },
          "records"_a, "record_bits"_a = nb::none(),
          "Database(records, record_bits=None): a zero-copy view of a 2-D uint8 array "
          "(n, record_bytes), a 1-D buffer of whole records (record_bits needed), or an Arrow "
          "fixed_size_binary array without nulls. Refuses non-C-contiguous arrays.")
      .def_prop_ro(
          "n_records", [](const Database &d) { return d.view.n_records; }, "Records.")
      .def("__len__", [](const Database &d) { return d.view.n_records; })
      .def_prop_ro(
          "record_bits", [](const Database &d) { return d.view.record_bytes * 8; },
          "Bits per record.")
      .def_prop_ro(
          "record_bytes", [](const Database &d) { return d.view.record_bytes; },
          "Bytes per record.")
      .def_prop_ro(
          "layout", [](const Database &d) { return layout_name(d.view.layout); },
          "'row' or 'blocked'.")
      .def_prop_ro(
          "block_records", [](const Database &d) { return d.view.block_records; },
          "Records per block (blocked layout), else 0.")
      .def_prop_ro(
          "address", [](const Database &d) { return reinterpret_cast<uintptr_t>(d.view.data); },
          "Address of the first record (for zero-copy checks).")
      .def_prop_ro(
          "nbytes", [](const Database &d) { return d.view.payload_bytes(); },
          "Bytes the records occupy.")
      .def_prop_ro(
          "path",
          [](const Database &d) -> std::optional<std::string> {
            if (d.path.empty()) return std::nullopt;
            return d.path;
          },
          "The file's path, or None.")
      .def_prop_ro(
          "source", [](const Database &d) { return d.source; },
          "'file', 'buffer', 'arrow', 'blocked copy' or 'popcount-ordered copy'.")
      .def_prop_ro(
          "popcount_ordered", [](const Database &d) { return d.order.has_value(); },
          "Whether the records are in ascending popcount with their original indices (a "
          "popcount-ordered file, or jitson.order_by_popcount): searches report original indices "
          "and Tanimoto searches skip the popcounts their bound rules out.")
      .def_prop_ro(
          "original_index",
          [](const Database &d) -> nb::object {
            if (!d.order) return nb::none();
            const std::span<const uint64_t> ids = d.order->original_index();
            const size_t shape[1] = {ids.size()};
            // Read-only, in place (the file's section or the copy's), kept alive by the Database.
            return nb::cast(nb::ndarray<nb::numpy, const uint64_t, nb::ndim<1>>(
                ids.data(), 1, shape, nb::find(d)));
          },
          "A popcount-ordered database's original index of the record at each position (a "
          "read-only uint64 array), or None.")
      .def("__repr__", [](const Database &d) {
        return "<jitson.Database " + std::to_string(d.view.n_records) + " x " +
               std::to_string(d.view.record_bytes * 8) + " bits, " + layout_name(d.view.layout) +
               (d.order ? ", popcount-ordered" : "") + ", " + d.source +
               (d.path.empty() ? "" : " " + d.path) + ">";
      });

  m.def("open", &open_file, "path"_a, "raw_record_bits"_a = nb::none(), nb::kw_only(),
        "populate"_a = false,
        "open(path, raw_record_bits=None, *, populate=False) -> Database. Memory-maps a .jfp file "
        "(row-major or blocked, docs/FORMAT.md) read-only, or a headerless file of raw records "
        "when raw_record_bits is given. Raises OSError for a missing, unreadable or malformed "
        "file. A popcount-ordered file (jitson convert --order popcount, "
        "jitson.write_popcount_ordered) is verified at open (one pass over it; a damaged "
        "popcount section is an OSError naming what is wrong) and is popcount_ordered: searches "
        "and accumulator feeds report its records' original indices.");
  m.def("order_by_popcount", &order_by_popcount, "database"_a, nb::kw_only(),
        "record_bits"_a = nb::none(),
        "order_by_popcount(database, *, record_bits=None) -> Database: a popcount-ordered COPY of "
        "row-major records (a 2-D uint8 array, a buffer of whole records with record_bits, an "
        "Arrow fixed_size_binary array or a Database), sorted by popcount (ties by index) into "
        "memory of its own, with a bucket index and the original indices: built once (about "
        "one pass plus a sort), then searched with the popcount bound by every Tanimoto kernel "
        "and reported with original indices. A database that is already popcount-ordered is "
        "returned as is.");
  m.def("write_popcount_ordered", &write_popcount_ordered, "path"_a, "database"_a, nb::kw_only(),
        "record_bits"_a = nb::none(),
        "write_popcount_ordered(path, database, *, record_bits=None): writes the records as a "
        "popcount-ordered .jfp file (order = popcount and the popcount section, docs/FORMAT.md; "
        "what jitson convert --order popcount writes), atomically; jitson.open reads it back "
        "popcount_ordered with the original indices.");
  m.def("to_blocked", &to_blocked_db, "records"_a, "block_records"_a = 64, nb::kw_only(),
        "record_bits"_a = nb::none(),
        "to_blocked(records, block_records=64) -> Database: a blocked copy (word-major blocks, "
        "docs/BLOCKED.md) of row-major records, scanned by the kernel's sweep (near-duplicate "
        "search).");
  m.def("save", &save_file, "path"_a, "records"_a, nb::kw_only(), "block_records"_a = nb::none(),
        "header"_a = true, "record_bits"_a = nb::none(),
        "save(path, records, *, block_records=None, header=True): writes a .jfp file atomically "
        "(blocked when block_records is given; header=False: raw records).");

  nb::class_<PyAccumulator>(m, "Accumulator",
                            "Chunked top-k for data larger than memory: feed record batches in "
                            "any order and split, merge accumulators of parallel workers; the "
                            "result equals one search over everything fed. One thread at a time.")
      .def(nb::init<const PyKernel &, nb::handle>(), "kernel"_a, "queries"_a,
           "Accumulator(kernel, queries): queries are copied.")
      .def("feed", &PyAccumulator::feed, "records"_a, "row_ids"_a = nb::none(), "base_row"_a = 0,
           "skip"_a = nb::none(), nb::kw_only(), "column"_a = nb::none(),
           "id_column"_a = nb::none(),
           "feed(records, row_ids=None, base_row=0, skip=None, *, column=None, id_column=None). "
           "records: uint8 (n, record_bytes) array or buffer, Database, Arrow array, record batch "
           "or stream. Ids are row_ids[i] (int64/uint64) or base_row + i; skip: bool per record or "
           "bit-packed uint8 (1 = skip). Arrow nulls are skipped. A popcount-ordered Database "
           "brings its own ids: base_row + each record's original index (row_ids refused), and "
           "skip is by original index. All or nothing: a feed that fails or is interrupted "
           "(Ctrl-C between chunks or stream batches) changes nothing.")
      .def("merge", &PyAccumulator::merge, "other"_a,
           "Adds another accumulator's hits (same queries, same kernel meaning).")
      .def("result", &PyAccumulator::result, nb::kw_only(), "counts"_a = false,
           "result(*, counts=False). Hamming kernel: (distances int32, ids int64) of shape "
           "(n_queries, top_k), padded with -1. Tanimoto kernel: (similarities float64, ids "
           "int64), padded with NaN and -1, and with counts=True also (intersections, unions) "
           "uint32, padded with 0; as Kernel.search.")
      .def(
          "reset", [](PyAccumulator &a) { a.acc->reset(); }, "Forgets every hit.")
      .def("stats", &PyAccumulator::stats, "query"_a = 0,
           "Scan counters of one query: records, evaluated_full, hits, skipped, ...")
      .def_prop_ro(
          "n_queries", [](const PyAccumulator &a) { return a.acc->n_queries(); },
          "Number of queries.");

  m.def("_time_scan_ns", &time_scan_ns, "kernel"_a, "queries"_a, "database"_a, "repeats"_a,
        "Benchmark helper: ns per C++ Kernel::scan_batch call (no Python in the loop).");
  m.def("_set_chunk_records", &set_chunk_records, "records"_a,
        "Test helper: records per chunk between Ctrl-C checks (0: default).");
  m.def("_chunk_records", &chunk_records, "record_bytes"_a, "Records per chunk for this size.");
  bind_runtime(m);
}
