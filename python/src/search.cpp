// kernel.search / kernel.range_search and the Accumulator: one scan path for every database
// kind. Row-major and blocked views are scanned in chunks by Kernel::scan_batch (all threads,
// GIL released, Ctrl-C checked between chunks); popcount-ordered databases query by query through
// scan_popcount_ordered (queries spread over threads, original indices, the popcount bound);
// Arrow arrays with nulls or variable-width values and Arrow streams go through TopKAccumulator
// and jitson's Arrow reader.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <span>
#include <string>
#include <system_error>
#include <thread>

#include "common.hpp"
#include "jitson/arrow.hpp"
#include "jitson/config.hpp"
#include "jitson/cpu.hpp"
#include "jitson/error.hpp"
#include "jitson/metric.hpp"
#include "search.hpp"

namespace jitson::py {

namespace {

using HitLists = std::vector<std::vector<Hit>>;

// Hits and scan counters of every query.
struct Found {
  HitLists hits;
  std::vector<ScanStats> stats;
  explicit Found(uint64_t n_queries) : hits(n_queries), stats(n_queries) {}
};

constexpr int64_t kMaxTopK = 1000000;  // the config's top_k limit

// Feeds an Arrow stream with the GIL released, taking it back between batches to check for Ctrl-C
// (PyErr_CheckSignals runs the Python signal handlers, which need the GIL): a KeyboardInterrupt
// thrown there unwinds through feed_stream, which releases the batch and schema it holds, and
// gil_scoped_release takes the GIL again before nanobind raises it.
void feed_stream_interruptible(TopKAccumulator &acc, ArrowArrayStream &stream, const char *column,
                               const char *id_column) {
  try {
    nb::gil_scoped_release release;
    arrow::feed_stream(acc, stream, column, id_column, [] {
      nb::gil_scoped_acquire acquire;
      check_signals();
    });
  } catch (const Error &e) {
    // A Ctrl-C can also land in the producer's own Python code (a generator behind a pyarrow
    // RecordBatchReader runs on this thread while get_next waits): the producer then fails with
    // the KeyboardInterrupt as its error text, which is still the user's Ctrl-C.
    check_signals();
    if (std::strstr(e.what(), "stream get_next") && std::strstr(e.what(), "KeyboardInterrupt")) {
      PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
      throw nb::python_error();
    }
    throw;
  }
}

// The scan over a view in chunks of chunk_records(): per chunk one scan_batch with the GIL
// released, then a merge into the running top-k (chunk results are sorted by (distance,
// index) and every index of a later chunk is larger, so std::merge keeps ties ordered by id).
Found scan_view(const Kernel &kernel, const uint8_t *queries, uint64_t n_queries,
                const DatabaseView &view, unsigned threads) {
  Found found(n_queries);
  HitLists &best = found.hits;
  const uint64_t k = kernel.spec().top_k;
  const uint64_t chunk = chunk_records(view.record_bytes);
  std::vector<Hit> merged;
  for (uint64_t begin = 0; begin < view.n_records; begin += chunk) {
    const uint64_t n = std::min(chunk, view.n_records - begin);
    // Chunks start on multiples of 4096 records, so a blocked chunk starts on a block boundary
    // and its first byte is at begin * record_bytes in the payload as well.
    const uint8_t *data = view.data + begin * view.record_bytes;
    const DatabaseView part =
        view.layout == Layout::row_major
            ? DatabaseView::rows(data, n, view.record_bytes)
            : DatabaseView::blocked(data, n, view.record_bytes, view.block_records);
    std::vector<ScanResult> results;
    {
      nb::gil_scoped_release release;
      results = kernel.scan_batch(queries, n_queries, part, threads);
    }
    for (uint64_t q = 0; q < n_queries; ++q) {
      found.stats[q] += results[q].stats;
      std::vector<Hit> &hits = results[q].hits;
      if (begin == 0) {
        best[q] = std::move(hits);
        continue;
      }
      for (Hit &h : hits) h.index += begin;
      merged.clear();
      std::merge(best[q].begin(), best[q].end(), hits.begin(), hits.end(),
                 std::back_inserter(merged), [](const Hit &a, const Hit &b) {
                   return a.distance != b.distance ? a.distance < b.distance : a.index < b.index;
                 });
      if (merged.size() > k) merged.resize(k);
      best[q].swap(merged);
    }
    if (begin + n < view.n_records) check_signals();
  }
  return found;
}

// fn(i) for every i in [begin, end) on up to `workers` threads (the caller's among them); the
// first exception any call throws is rethrown once every thread has stopped.
template <typename Fn>
void parallel_for(uint64_t begin, uint64_t end, unsigned workers, Fn &&fn) {
  std::atomic<uint64_t> next{begin};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    for (uint64_t i = next.fetch_add(1); i < end; i = next.fetch_add(1)) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next.store(end);
      }
    }
  };
  std::vector<std::thread> pool;
  const uint64_t extra = std::min<uint64_t>(workers, end - begin) - 1;
  for (uint64_t t = 0; t < extra; ++t) {
    try {
      pool.emplace_back(work);
    } catch (const std::system_error &) {
      break;  // no more threads: the ones running (and this one) do the rest
    }
  }
  work();
  for (std::thread &t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

// A popcount-ordered database, query by query through scan_popcount_ordered (one thread per
// query, queries spread over `threads`): hits with original indices, ties broken by them, and
// stats.bound_skipped counting the records the popcount bound never read. Ctrl-C is checked
// between rounds of queries that read about chunk_records() records per thread at most.
Found scan_ordered(const std::shared_ptr<const Kernel> &kernel, const uint8_t *queries,
                   uint64_t n_queries, const PopcountOrder &order, unsigned threads) {
  Found found(n_queries);
  const uint32_t rb = kernel->spec().record_bytes();
  const uint64_t n = std::max<uint64_t>(order.records().n_records, 1);
  const auto workers = static_cast<unsigned>(std::clamp<uint64_t>(threads, 1, n_queries));
  const uint64_t round = std::max<uint64_t>(1, chunk_records(rb) / n) * workers;
  for (uint64_t begin = 0; begin < n_queries; begin += round) {
    const uint64_t end = std::min(n_queries, begin + round);
    {
      nb::gil_scoped_release release;
      parallel_for(begin, end, workers, [&](uint64_t q) {
        ScanResult r = scan_popcount_ordered(kernel, queries + q * rb, order);
        found.hits[q] = std::move(r.hits);
        found.stats[q] = r.stats;
      });
    }
    if (end < n_queries) check_signals();
  }
  return found;
}

struct Queries {
  RecordBuffer buffer;
  std::vector<uint8_t> copy;  // queries given as an Arrow array
  const uint8_t *data = nullptr;
  uint64_t n = 0;
};

Queries query_records(nb::handle object, uint32_t record_bytes) {
  Queries q;
  if (!PyObject_CheckBuffer(object.ptr()) && has_arrow_array(object)) {
    // Copied in row order (queries are few): binary_view values need not be one block.
    std::unique_ptr<ArrowImport> a = import_arrow_array(object);
    arrow::RowNames names;
    names.what = "queries";
    q.copy = arrow::copy_records(a->schema, a->array, record_bytes, names);
    q.data = q.copy.data();
    q.n = q.copy.size() / record_bytes;
  } else {
    q.buffer = record_buffer(object, record_bytes, "queries");
    q.data = q.buffer.data;
    q.n = q.buffer.n;
  }
  if (q.n == 0) value_error("queries: no query records");
  return q;
}

// Threads of a scan: the call's, else the engine's, else every core (what scan_batch does with 0;
// the popcount-ordered scan spreads queries over threads itself and needs the number).
unsigned resolved_threads(const PyKernel &pk, unsigned threads) {
  if (threads) return threads;
  const unsigned t = pk.engine->options().threads;
  return t ? t : hardware_threads();
}

// Hits of every query, whatever the database is. threads 0: the kernel's default;
// ordered_threads: the threads of a popcount-ordered scan (resolved_threads).
Found run(const std::shared_ptr<const Kernel> &kernel, const Queries &q, nb::handle database,
          unsigned threads, unsigned ordered_threads, const std::optional<std::string> &column_name,
          const std::optional<std::string> &id_column_name) {
  const char *column = column_name ? column_name->c_str() : nullptr;
  const char *id_column = id_column_name ? id_column_name->c_str() : nullptr;
  const uint32_t rb = kernel->spec().record_bytes();
  if (nb::isinstance<Database>(database)) {
    const Database &db = nb::cast<const Database &>(database);
    if (db.view.record_bytes != rb) {
      value_error("database: records are " + std::to_string(db.view.record_bytes * 8) +
                  " bits; the kernel's are " + std::to_string(rb * 8));
    }
    if (db.order) return scan_ordered(kernel, q.data, q.n, *db.order, ordered_threads);
    return scan_view(*kernel, q.data, q.n, db.view, threads);
  }
  if (PyObject_CheckBuffer(database.ptr())) {
    RecordBuffer r = record_buffer(database, rb, "database");
    return scan_view(*kernel, q.data, q.n, DatabaseView::rows(r.data, r.n, rb), threads);
  }
  TopKAccumulator acc(kernel, q.data, q.n);
  if (has_arrow_array(database)) {
    std::unique_ptr<ArrowImport> a = import_arrow_array(database);
    const char *format = a->array.release ? a->schema.format : "";
    if (std::strcmp(format, "+s") == 0) {
      // A record batch: its columns through the stream reader (struct offset and validity).
      std::unique_ptr<StreamImport> s = one_batch_stream(std::move(a));
      nb::gil_scoped_release release;
      arrow::feed_stream(acc, s->stream, column, id_column);
    } else {
      if (id_column) value_error("id_column applies to record batches and streams only");
      if (fixed_binary_width(format) == rb && a->array.null_count == 0 && !column) {
        // Dense fixed-size records: the multi-threaded chunked scan, in place.
        const DatabaseView v = arrow::records(a->schema, a->array, rb);
        return scan_view(*kernel, q.data, q.n, v, threads);
      }
      if (column) value_error("column applies to record batches and streams only");
      nb::gil_scoped_release release;
      arrow::feed(acc, a->schema, a->array);
    }
  } else if (has_arrow_stream(database)) {
    std::unique_ptr<StreamImport> s = import_arrow_stream(database);
    feed_stream_interruptible(acc, s->stream, column, id_column);
  } else {
    value_error(std::string("database: expected a jitson.Database, a uint8 numpy array (n, ") +
                std::to_string(rb) +
                "), a buffer, or an Arrow array/table/stream (__arrow_c_array__, "
                "__arrow_c_stream__), got " +
                nb::type_name(database.type()).c_str());
  }
  Found out(q.n);
  for (uint64_t i = 0; i < q.n; ++i) {
    out.hits[i] = acc.hits(i);
    out.stats[i] = acc.stats(i);
  }
  return out;
}

template <typename T>
nb::ndarray<nb::numpy, T> owned_array(std::vector<T> &&values,
                                      std::initializer_list<size_t> shape) {
  auto *heap = new std::vector<T>(std::move(values));
  nb::capsule owner(heap, [](void *p) noexcept { delete static_cast<std::vector<T> *>(p); });
  return nb::ndarray<nb::numpy, T>(heap->data(), shape, owner);
}

// The arrays a result is made of, by metric: Hamming (distances int32, ids int64); Tanimoto
// (similarities float64, ids int64) and with counts (intersections uint32, unions uint32) after
// them. Slots without a hit keep the padding: distance -1, similarity NaN, id -1, counts 0.
class HitColumns {
 public:
  HitColumns(Metric metric, bool counts, size_t n) : metric_(metric), counts_(counts) {
    ids_.assign(n, -1);
    if (metric_ == Metric::hamming) {
      distances_.assign(n, -1);
      return;
    }
    similarities_.assign(n, std::numeric_limits<double>::quiet_NaN());
    if (counts_) {
      intersections_.assign(n, 0);
      unions_.assign(n, 0);
    }
  }
  void set(size_t at, const Hit &h) {
    ids_[at] = static_cast<int64_t>(h.index);
    if (metric_ == Metric::hamming) {
      distances_[at] = static_cast<int32_t>(h.distance);
      return;
    }
    // The rank and the union give c and u exactly; the similarity is the double nearest c / u.
    const TanimotoHit t = tanimoto_of(h.distance, h.reserved);
    similarities_[at] = t.similarity;
    if (counts_) {
      intersections_[at] = t.intersection;
      unions_[at] = t.union_bits;
    }
  }
  // The arrays in their order, shaped `shape`, appended to `out`.
  void append_to(std::vector<nb::object> &out, std::initializer_list<size_t> shape) {
    if (metric_ == Metric::hamming) {
      out.push_back(nb::cast(owned_array(std::move(distances_), shape)));
    } else {
      out.push_back(nb::cast(owned_array(std::move(similarities_), shape)));
    }
    out.push_back(nb::cast(owned_array(std::move(ids_), shape)));
    if (metric_ == Metric::tanimoto && counts_) {
      out.push_back(nb::cast(owned_array(std::move(intersections_), shape)));
      out.push_back(nb::cast(owned_array(std::move(unions_), shape)));
    }
  }

 private:
  Metric metric_;
  bool counts_;
  std::vector<int32_t> distances_;
  std::vector<double> similarities_;
  std::vector<int64_t> ids_;
  std::vector<uint32_t> intersections_, unions_;
};

nb::tuple as_tuple(const std::vector<nb::object> &items) {
  nb::tuple t = nb::steal<nb::tuple>(PyTuple_New(static_cast<Py_ssize_t>(items.size())));
  for (size_t i = 0; i < items.size(); ++i) {
    PyTuple_SET_ITEM(t.ptr(), static_cast<Py_ssize_t>(i), items[i].inc_ref().ptr());
  }
  return t;
}

// counts=True is for Tanimoto kernels only: a Hamming hit carries no intersection or union.
void check_counts(const Kernel &kernel, bool counts) {
  if (counts && kernel.spec().metric != Metric::tanimoto) {
    value_error(
        "counts=True applies to metric \"tanimoto\" kernels (a Hamming hit has a distance, "
        "no intersection or union)");
  }
}

// search(stats=True)'s last item: per query, the records the kernel read and the records the
// popcount bound ruled out unread (records + bound_skipped is the database's size for a
// popcount-ordered database; bound_skipped is 0 for any other), and the records whose word
// counts the word-count bound read instead (jitson/popcount.hpp).
nb::dict stats_dict(const std::vector<ScanStats> &stats) {
  std::vector<uint64_t> records(stats.size()), skipped(stats.size()), counts(stats.size());
  for (size_t i = 0; i < stats.size(); ++i) {
    records[i] = stats[i].records;
    skipped[i] = stats[i].bound_skipped;
    counts[i] = stats[i].word_counts_read;
  }
  const size_t n = stats.size();
  nb::dict d;
  d["records"] = nb::cast(owned_array(std::move(records), {n}));
  d["bound_skipped"] = nb::cast(owned_array(std::move(skipped), {n}));
  d["word_counts_read"] = nb::cast(owned_array(std::move(counts), {n}));
  return d;
}

// The (n_queries, k) result arrays, padded; with a stats dict after them when stats is given.
nb::tuple padded(const HitLists &hits, uint64_t k, Metric metric, bool counts,
                 const std::vector<ScanStats> *stats = nullptr) {
  const size_t nq = hits.size();
  HitColumns columns(metric, counts, nq * k);
  for (size_t q = 0; q < nq; ++q) {
    for (size_t j = 0; j < hits[q].size() && j < k; ++j) columns.set(q * k + j, hits[q][j]);
  }
  std::vector<nb::object> out;
  columns.append_to(out, {nq, static_cast<size_t>(k)});
  if (stats) out.push_back(stats_dict(*stats));
  return as_tuple(out);
}

// RFC 8259's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool json_number(const std::string &s) {
  size_t i = 0;
  auto digits = [&] {
    const size_t from = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > from;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

// A min_similarity argument as the JSON number text the config parser reads exactly: an int, a
// decimal string, a decimal.Decimal as written, or a float (numpy's too) as its shortest
// round-trip decimal (repr: 0.7 is the decimal 0.7, i.e. exactly 7/10).
std::string similarity_literal(nb::handle value) {
  std::string text;
  if (PyBool_Check(value.ptr())) {
    throw nb::type_error("min_similarity must be a number in [0, 1], not a bool");
  } else if (nb::isinstance<nb::str>(value)) {
    text = nb::cast<std::string>(value);
  } else if (PyIndex_Check(value.ptr())) {
    nb::object index = nb::steal(PyNumber_Index(value.ptr()));
    if (!index.is_valid()) throw nb::python_error();
    text = nb::cast<std::string>(nb::str(index));
  } else if (PyObject_IsInstance(value.ptr(),
                                 nb::module_::import_("decimal").attr("Decimal").ptr()) == 1) {
    text = nb::cast<std::string>(nb::str(value));
  } else if (PyFloat_Check(value.ptr()) || PyObject_HasAttrString(value.ptr(), "__float__")) {
    const double d = PyFloat_AsDouble(value.ptr());
    if (d == -1.0 && PyErr_Occurred()) throw nb::python_error();
    if (!std::isfinite(d))
      value_error("min_similarity must be a number in [0, 1], got " +
                  nb::cast<std::string>(nb::repr(value)));
    text = nb::cast<std::string>(nb::repr(nb::steal(PyFloat_FromDouble(d))));
  } else {
    throw nb::type_error(("min_similarity must be a float, an int, a decimal string or a "
                          "decimal.Decimal, got " +
                          std::string(nb::type_name(value.type()).c_str()))
                             .c_str());
  }
  if (!json_number(text)) {
    value_error("min_similarity: '" + text + "' is not a decimal number (e.g. 0.7 or \"0.7\")");
  }
  return text;
}

unsigned thread_count(std::optional<int64_t> threads) {
  if (!threads) return 0;
  if (*threads < 1 || *threads > 4096) value_error("threads must be in [1, 4096] or None");
  return static_cast<unsigned>(*threads);
}

}  // namespace

std::shared_ptr<const Kernel> kernel_variant(const PyKernel &pk, uint32_t top_k,
                                             std::optional<uint32_t> max_distance) {
  const ScanSpec &s = pk.kernel->spec();
  if (s.top_k == top_k && (!max_distance || *max_distance == s.max_distance)) return pk.kernel;
  ScanSpec spec = s;
  spec.top_k = top_k;
  if (max_distance) spec.max_distance = *max_distance;
  nb::gil_scoped_release release;  // a cache miss generates code (LLVM: ~10 ms)
  return pk.engine->compile(spec);
}

std::shared_ptr<const Kernel> tanimoto_variant(const PyKernel &pk, uint32_t top_k,
                                               nb::handle min_similarity) {
  // The threshold goes through the config parser (the exact decimal and its rank limit, or a
  // ConfigError naming /min_similarity); the rest of the spec is the kernel's own.
  const std::string literal = similarity_literal(min_similarity);
  const ScanSpec threshold = parse_scan_config(
      "{\"version\": 1, \"record_bits\": 64, \"metric\": \"tanimoto\", \"min_similarity\": " +
      literal + "}");
  ScanSpec spec = pk.kernel->spec();
  spec.top_k = top_k;
  spec.max_distance = threshold.max_distance;
  spec.min_similarity = threshold.min_similarity;
  nb::gil_scoped_release release;
  return pk.engine->compile(spec);
}

nb::tuple kernel_search(const PyKernel &pk, nb::handle queries, nb::handle database,
                        std::optional<int64_t> k, std::optional<int64_t> threads,
                        const std::optional<std::string> &column_name,
                        const std::optional<std::string> &id_column_name, bool counts, bool stats) {
  if (k && (*k < 1 || *k > kMaxTopK)) {
    value_error("k must be in [1, 1000000] (the config's top_k range), got " + std::to_string(*k));
  }
  check_counts(*pk.kernel, counts);
  const uint32_t top_k = k ? static_cast<uint32_t>(*k) : pk.kernel->spec().top_k;
  const unsigned t = thread_count(threads);
  std::shared_ptr<const Kernel> kernel = kernel_variant(pk, top_k, std::nullopt);
  Queries q = query_records(queries, kernel->spec().record_bytes());
  Found found = run(kernel, q, database, t, resolved_threads(pk, t), column_name, id_column_name);
  return padded(found.hits, top_k, kernel->spec().metric, counts, stats ? &found.stats : nullptr);
}

nb::tuple kernel_range_search(const PyKernel &pk, nb::handle queries, nb::handle database,
                              std::optional<int64_t> max_distance, std::optional<int64_t> threads,
                              const std::optional<std::string> &column_name,
                              const std::optional<std::string> &id_column_name,
                              nb::handle min_similarity, bool counts, bool stats) {
  check_counts(*pk.kernel, counts);
  const ScanSpec &spec = pk.kernel->spec();
  const unsigned t = thread_count(threads);
  std::shared_ptr<const Kernel> kernel;
  if (spec.metric == Metric::tanimoto) {
    if (max_distance) {
      value_error(
          "max_distance applies to metric \"hamming\" kernels; a tanimoto kernel's "
          "range_search takes min_similarity");
    }
    if (min_similarity.is_none()) {
      if (spec.min_similarity.empty()) {
        value_error("range_search needs a bound: pass min_similarity or compile a config with one");
      }
      kernel = kernel_variant(pk, kMaxTopK, std::nullopt);
    } else {
      kernel = tanimoto_variant(pk, kMaxTopK, min_similarity);
    }
  } else {
    if (!min_similarity.is_none()) {
      value_error(
          "min_similarity applies to metric \"tanimoto\" kernels; a Hamming kernel's "
          "range_search takes max_distance");
    }
    if (max_distance && (*max_distance < 0 || *max_distance > UINT32_MAX)) {
      value_error("max_distance must be in [0, 2^32 - 1]");
    }
    std::optional<uint32_t> md;
    if (max_distance) md = static_cast<uint32_t>(*max_distance);
    if (!md && spec.max_distance >= spec.focus_bits()) {
      value_error("range_search needs a bound: pass max_distance or compile a config with one");
    }
    kernel = kernel_variant(pk, kMaxTopK, md);
  }
  Queries q = query_records(queries, kernel->spec().record_bytes());
  Found found = run(kernel, q, database, t, resolved_threads(pk, t), column_name, id_column_name);
  const HitLists &hits = found.hits;
  std::vector<int64_t> lims(hits.size() + 1, 0);
  for (size_t i = 0; i < hits.size(); ++i) lims[i + 1] = lims[i] + hits[i].size();
  const auto n = static_cast<size_t>(lims.back());
  HitColumns columns(kernel->spec().metric, counts, n);
  for (size_t i = 0; i < hits.size(); ++i) {
    for (size_t j = 0; j < hits[i].size(); ++j) columns.set(lims[i] + j, hits[i][j]);
  }
  const size_t nl = lims.size();
  std::vector<nb::object> out{nb::cast(owned_array(std::move(lims), {nl}))};
  columns.append_to(out, {n});
  if (stats) out.push_back(stats_dict(found.stats));
  return as_tuple(out);
}

int64_t time_scan_ns(const PyKernel &pk, nb::handle queries, nb::handle database, int64_t repeats) {
  // The C++ call alone (Kernel::scan_batch on a row-major view), for the Python-overhead figure.
  Queries q = query_records(queries, pk.kernel->spec().record_bytes());
  RecordBuffer r = record_buffer(database, pk.kernel->spec().record_bytes(), "database");
  const DatabaseView v = DatabaseView::rows(r.data, r.n, r.record_bytes);
  nb::gil_scoped_release release;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < repeats; ++i) {
    std::vector<ScanResult> res = pk.kernel->scan_batch(q.data, q.n, v, 0);
    if (res.size() != q.n) throw Error(ErrorKind::internal, "scan_batch result count");
  }
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count() /
         std::max<int64_t>(repeats, 1);
}

// ---- Accumulator

PyAccumulator::PyAccumulator(const PyKernel &pk, nb::handle queries) : kernel(pk.kernel) {
  Queries q = query_records(queries, pk.kernel->spec().record_bytes());
  acc = std::make_unique<TopKAccumulator>(pk.kernel, q.data, q.n);
  this->queries.assign(q.data, q.data + q.n * pk.kernel->spec().record_bytes());
}

template <typename Body>
void PyAccumulator::all_or_nothing(Body &&body) {
  // A copy holding the hits so far (so the top-k bound carries into the new records) takes the
  // feed and replaces the accumulator only when it completes: merging into an empty accumulator
  // of the same queries gives exactly the same hits and statistics.
  auto next = std::make_unique<TopKAccumulator>(kernel, queries.data(), acc->n_queries());
  next->merge(*acc);
  body(*next);
  acc = std::move(next);
}

namespace {

// Row ids: a 1-D int64/uint64 array of n, C-contiguous (read in place).
std::unique_ptr<Buffer> row_id_buffer(nb::handle ids, uint64_t n) {
  auto b = std::make_unique<Buffer>(ids, false, "row_ids");
  const char c = b->code();
  if (c != 'q' && c != 'Q' && c != 'l' && c != 'L') {
    value_error("row_ids: expected dtype int64 or uint64, got " + b->dtype_name());
  }
  b->require_c_contiguous();
  if (b->ndim() != 1 || static_cast<uint64_t>(b->shape(0)) != n) {
    value_error("row_ids: expected a 1-D array of " + std::to_string(n) + " ids (one per record)");
  }
  return b;
}

// Skip bits: bit-packed uint8 (bit i = byte i / 8, bit i % 8; 1 = skip), or a bool array of n.
std::vector<uint8_t> skip_bits(nb::handle skip, uint64_t n) {
  Buffer b(skip, false, "skip");
  b.require_c_contiguous();
  std::vector<uint8_t> bits((n + 7) / 8, 0);
  const auto *p = static_cast<const uint8_t *>(b.data());
  const uint64_t len = static_cast<uint64_t>(b.view().len);
  if (b.code() == '?') {
    if (len != n)
      value_error("skip: a bool array needs one value per record (" + std::to_string(n) + ")");
    for (uint64_t i = 0; i < n; ++i) bits[i / 8] |= static_cast<uint8_t>((p[i] ? 1 : 0) << (i % 8));
  } else if (b.code() == 'B') {
    if (len != bits.size()) {
      value_error("skip: bit-packed skip needs " + std::to_string(bits.size()) + " bytes for " +
                  std::to_string(n) + " records, got " + std::to_string(len));
    }
    std::memcpy(bits.data(), p, bits.size());
  } else {
    value_error("skip: expected dtype bool or bit-packed uint8, got " + b.dtype_name());
  }
  return bits;
}

}  // namespace

void PyAccumulator::feed(nb::handle records, nb::handle row_ids, uint64_t base_row, nb::handle skip,
                         const std::optional<std::string> &column_name,
                         const std::optional<std::string> &id_column_name) {
  const char *column = column_name ? column_name->c_str() : nullptr;
  const char *id_column = id_column_name ? id_column_name->c_str() : nullptr;
  const uint32_t rb = kernel->spec().record_bytes();
  const bool is_db = nb::isinstance<Database>(records);
  if (is_db || PyObject_CheckBuffer(records.ptr())) {
    RecordBuffer r;
    DatabaseView view;
    const PopcountOrder *order = nullptr;
    if (is_db) {
      const Database &db = nb::cast<const Database &>(records);
      view = db.view;
      if (view.record_bytes != rb) {
        value_error("records: " + std::to_string(view.record_bytes * 8) +
                    "-bit records; the kernel's are " + std::to_string(rb * 8));
      }
      if (db.order) order = &*db.order;
    } else {
      r = record_buffer(records, rb, "records");
      view = DatabaseView::rows(r.data, r.n, rb);
    }
    // Record i's id: ids[i] (row_ids, or a popcount-ordered database's original indices, plus
    // base_row), or base_row + i.
    std::unique_ptr<Buffer> id_buffer;
    std::vector<uint64_t> id_copy;
    const uint64_t *ids = nullptr;
    std::vector<uint8_t> skips;
    if (order) {
      // Positions are not indices (jitson_topk_feed_db): the ids are the original indices, and
      // skip bits, given by original index, are moved to the positions.
      if (!row_ids.is_none()) {
        value_error(
            "row_ids: a popcount-ordered database brings its own ids (its records' "
            "original indices, plus base_row)");
      }
      const std::span<const uint64_t> original = order->original_index();
      ids = original.data();
      if (base_row != 0) {
        id_copy.resize(original.size());
        for (size_t i = 0; i < original.size(); ++i) id_copy[i] = original[i] + base_row;
        ids = id_copy.data();
      }
      if (!skip.is_none()) {
        const std::vector<uint8_t> by_index = skip_bits(skip, view.n_records);
        skips.assign(by_index.size(), 0);
        for (size_t i = 0; i < original.size(); ++i) {
          const uint64_t o = original[i];
          if ((by_index[o / 8] >> (o % 8)) & 1) skips[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
        }
      }
    } else {
      if (!row_ids.is_none()) {
        id_buffer = row_id_buffer(row_ids, view.n_records);
        ids = static_cast<const uint64_t *>(id_buffer->data());
      }
      if (!skip.is_none()) skips = skip_bits(skip, view.n_records);
    }
    // Sub-chunks so Ctrl-C is noticed; each starts on a multiple of 4096 records (a block
    // boundary and a whole byte of skip bits). More than one: all or nothing, so an interrupted
    // feed leaves the accumulator as it was.
    const uint64_t chunk = chunk_records(rb);
    auto feed_chunks = [&](TopKAccumulator &to) {
      for (uint64_t begin = 0; begin < view.n_records; begin += chunk) {
        const uint64_t n = std::min(chunk, view.n_records - begin);
        const uint8_t *data = view.data + begin * rb;
        Chunk c;
        c.records = view.layout == Layout::row_major
                        ? DatabaseView::rows(data, n, rb)
                        : DatabaseView::blocked(data, n, rb, view.block_records);
        c.row_ids = ids ? ids + begin : nullptr;
        c.base_row = base_row + begin;
        c.skip = skips.empty() ? nullptr : skips.data() + begin / 8;
        {
          nb::gil_scoped_release release;
          to.feed(c);
        }
        if (begin + n < view.n_records) check_signals();
      }
    };
    if (view.n_records > chunk) {
      all_or_nothing(feed_chunks);
    } else {
      feed_chunks(*acc);  // one chunk: a failing feed changes nothing
    }
    return;
  }
  if (!skip.is_none())
    value_error("skip applies to numpy/buffer records (Arrow nulls are skipped)");
  if (has_arrow_array(records)) {
    std::unique_ptr<ArrowImport> a = import_arrow_array(records);
    if (std::strcmp(a->schema.format, "+s") == 0) {
      if (!row_ids.is_none()) value_error("row_ids: a record batch takes id_column instead");
      // One batch, validated whole before it is fed: an error changes nothing.
      std::unique_ptr<StreamImport> s = one_batch_stream(std::move(a));
      nb::gil_scoped_release release;
      arrow::feed_stream(*acc, s->stream, column, id_column);
      return;
    }
    std::unique_ptr<ArrowImport> ids;
    if (!row_ids.is_none()) {
      if (!has_arrow_array(row_ids)) {
        value_error("row_ids: with Arrow records, pass an Arrow int64/uint64 array");
      }
      ids = import_arrow_array(row_ids);
    }
    nb::gil_scoped_release release;
    arrow::feed(*acc, a->schema, a->array, ids ? &ids->schema : nullptr,
                ids ? &ids->array : nullptr, base_row);
    return;
  }
  if (has_arrow_stream(records)) {
    if (!row_ids.is_none()) value_error("row_ids: a stream takes id_column instead");
    std::unique_ptr<StreamImport> s = import_arrow_stream(records);
    // Batch by batch: all or nothing, so an error or a Ctrl-C half-way through the stream leaves
    // the accumulator as it was.
    all_or_nothing(
        [&](TopKAccumulator &to) { feed_stream_interruptible(to, s->stream, column, id_column); });
    return;
  }
  value_error(std::string("records: expected a uint8 numpy array, a buffer, a jitson.Database or "
                          "an Arrow array/stream, got ") +
              nb::type_name(records.type()).c_str());
}

void PyAccumulator::merge(const PyAccumulator &other) {
  if (&other == this) value_error("an accumulator cannot merge itself");
  acc->merge(*other.acc);
}

nb::tuple PyAccumulator::result(bool counts) const {
  check_counts(*kernel, counts);
  HitLists hits(acc->n_queries());
  for (uint64_t q = 0; q < hits.size(); ++q) hits[q] = acc->hits(q);
  return padded(hits, kernel->spec().top_k, kernel->spec().metric, counts);
}

nb::dict PyAccumulator::stats(uint64_t query) const {
  if (query >= acc->n_queries()) value_error("query index out of range");
  const ScanStats &s = acc->stats(query);
  nb::dict d;
  d["records"] = s.records;
  d["evaluated_full"] = s.evaluated_full;
  d["hits"] = s.hits;
  d["skipped"] = acc->skipped(query);
  d["statistically_pruned"] = s.statistically_pruned;
  d["words_read"] = s.words_read;
  return d;
}

}  // namespace jitson::py
