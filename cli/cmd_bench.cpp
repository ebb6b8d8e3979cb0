// jitson bench: the JIT kernel against the runtime backend (and FAISS IndexBinaryFlat when its
// peer library is installed) on the same data and queries, next to the read bandwidth measured in
// the same run.
#include <dlfcn.h>
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "common.hpp"
#include "jitson/cpu.hpp"
#include "jitson/engine.hpp"
#include "jitson/jitson.h"
#include "jitson/popcount.hpp"

#include "faiss_peer.hpp"

namespace jitson::cli {
namespace {

struct BenchOptions {
  std::string config, db, queries;
  std::optional<uint32_t> raw_bits;
  unsigned repeat = 5;
  unsigned threads = 0;
  bool no_faiss = false;
};

using Clock = std::chrono::steady_clock;

// FAISS, loaded by this command alone (cli/faiss_peer.hpp) from beside libjitson, in the build
// tree and in an installed prefix alike.
struct FaissPeer {
  decltype(&jitson_faiss_create) create;
  decltype(&jitson_faiss_search) search;
  decltype(&jitson_faiss_destroy) destroy;

  // nullptr with the reason in note when the peer cannot be loaded.
  static const FaissPeer *load(std::string &note) {
    static FaissPeer peer{};
    static std::string error = [] {
      // Beside libjitson, by absolute path: a sanitizer's dlopen interceptor would hide this
      // command's RUNPATH from a bare file name.
      std::string path = "libjitson_faiss_peer.so";
      Dl_info self{};
      // The address of a libjitson function locates the file libjitson was loaded from.
      if (dladdr(reinterpret_cast<const void *>(&jitson_version), &self) && self.dli_fname) {
        const std::string lib = self.dli_fname;
        if (const size_t slash = lib.rfind('/'); slash != std::string::npos)
          path = lib.substr(0, slash + 1) + path;
      }
      void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!handle) {
        const char *why = dlerror();
        return fmt::format("faiss: not available ({})", why ? why : "cannot load");
      }
      // POSIX guarantees that a dlsym result for a function converts to a function pointer.
      peer.create =
          reinterpret_cast<decltype(&jitson_faiss_create)>(dlsym(handle, "jitson_faiss_create"));
      peer.search =
          reinterpret_cast<decltype(&jitson_faiss_search)>(dlsym(handle, "jitson_faiss_search"));
      peer.destroy =
          reinterpret_cast<decltype(&jitson_faiss_destroy)>(dlsym(handle, "jitson_faiss_destroy"));
      return peer.create && peer.search && peer.destroy
                 ? std::string()
                 : std::string("faiss: libjitson_faiss_peer.so lacks its functions");
    }();
    note = error;
    return error.empty() ? &peer : nullptr;
  }
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// ---- read bandwidth: XOR-reduce every byte once, with the widest loads this CPU has ----

__attribute__((target("avx512f"))) uint64_t read_avx512(const uint8_t *p, size_t n) {
  __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
  size_t i = 0;
  // loadu: no alignment is assumed, so any slice of the mapping is fine.
  for (; i + 256 <= n; i += 256) {
    a = _mm512_xor_si512(a, _mm512_loadu_si512(p + i));
    b = _mm512_xor_si512(b, _mm512_loadu_si512(p + i + 64));
    c = _mm512_xor_si512(c, _mm512_loadu_si512(p + i + 128));
    d = _mm512_xor_si512(d, _mm512_loadu_si512(p + i + 192));
  }
  a = _mm512_xor_si512(_mm512_xor_si512(a, b), _mm512_xor_si512(c, d));
  uint64_t lanes[8];
  _mm512_storeu_si512(lanes, a);
  uint64_t sum = 0;
  for (uint64_t lane : lanes) sum ^= lane;
  for (; i < n; ++i) sum += p[i];
  return sum;
}

__attribute__((target("avx2"))) uint64_t read_avx2(const uint8_t *p, size_t n) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  size_t i = 0;
  // loadu: no alignment is assumed.
  for (; i + 128 <= n; i += 128) {
    a = _mm256_xor_si256(a, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + i)));
    b = _mm256_xor_si256(b, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + i + 32)));
    c = _mm256_xor_si256(c, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + i + 64)));
    d = _mm256_xor_si256(d, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + i + 96)));
  }
  a = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
  uint64_t sum = static_cast<uint64_t>(_mm256_extract_epi64(a, 0) ^ _mm256_extract_epi64(a, 1) ^
                                       _mm256_extract_epi64(a, 2) ^ _mm256_extract_epi64(a, 3));
  for (; i < n; ++i) sum += p[i];
  return sum;
}

uint64_t read_sse2(const uint8_t *p, size_t n) {
  __m128i a = _mm_setzero_si128(), b = a, c = a, d = a;
  size_t i = 0;
  // loadu: no alignment is assumed.
  for (; i + 64 <= n; i += 64) {
    a = _mm_xor_si128(a, _mm_loadu_si128(reinterpret_cast<const __m128i *>(p + i)));
    b = _mm_xor_si128(b, _mm_loadu_si128(reinterpret_cast<const __m128i *>(p + i + 16)));
    c = _mm_xor_si128(c, _mm_loadu_si128(reinterpret_cast<const __m128i *>(p + i + 32)));
    d = _mm_xor_si128(d, _mm_loadu_si128(reinterpret_cast<const __m128i *>(p + i + 48)));
  }
  a = _mm_xor_si128(_mm_xor_si128(a, b), _mm_xor_si128(c, d));
  uint64_t sum =
      static_cast<uint64_t>(_mm_cvtsi128_si64(a) ^ _mm_cvtsi128_si64(_mm_srli_si128(a, 8)));
  for (; i < n; ++i) sum += p[i];
  return sum;
}

struct ReadLoop {
  uint64_t (*fn)(const uint8_t *, size_t);
  const char *name;
};

ReadLoop widest_read_loop() {
  if (isa_supported(Isa::avx512)) return {read_avx512, "avx512 loads"};
  const CpuFeatures &f = cpu_features();
  if (f.avx2 && f.os_saves_ymm) return {read_avx2, "avx2 loads"};
  return {read_sse2, "sse2 loads"};
}

std::atomic<uint64_t> g_sink{0};  // keeps the reads observable

// Seconds for `passes` reads of [data, data + bytes) split over `threads` threads.
double time_reads(const ReadLoop &loop, const uint8_t *data, size_t bytes, unsigned threads,
                  unsigned passes) {
  auto start = Clock::now();
  std::vector<std::thread> workers;
  size_t per_thread = (bytes / threads) & ~size_t{63};
  for (unsigned t = 0; t < threads; ++t) {
    size_t begin = t * per_thread;
    size_t end = t + 1 == threads ? bytes : begin + per_thread;
    workers.emplace_back([&loop, data, begin, end, passes] {
      uint64_t sum = 0;
      for (unsigned p = 0; p < passes; ++p) sum += loop.fn(data + begin, end - begin);
      g_sink.fetch_add(sum, std::memory_order_relaxed);
    });
  }
  for (auto &w : workers) w.join();
  return seconds_since(start);
}

// Median GB/s of `repeat` samples, each long enough (≥ 20 ms) to hide thread start-up.
double read_bandwidth(const ReadLoop &loop, const uint8_t *data, size_t bytes, unsigned threads,
                      unsigned repeat) {
  double once = time_reads(loop, data, bytes, threads, 1);  // also faults the pages in
  once = time_reads(loop, data, bytes, threads, 1);
  unsigned passes =
      static_cast<unsigned>(std::clamp(std::ceil(0.02 / std::max(once, 1e-9)), 1.0, 1e6));
  std::vector<double> rates;
  for (unsigned r = 0; r < repeat; ++r) {
    double t = time_reads(loop, data, bytes, threads, passes);
    rates.push_back(static_cast<double>(bytes) * passes / t / 1e9);
  }
  return median(rates);
}

// Median seconds per call of `run`, each sample long enough (≥ 10 ms) to be timed reliably.
template <typename Run>
double time_median(Run &&run, unsigned repeat) {
  auto start = Clock::now();
  run();  // warm-up: faults pages in, fills caches
  double once = seconds_since(start);
  unsigned calls =
      static_cast<unsigned>(std::clamp(std::ceil(0.01 / std::max(once, 1e-9)), 1.0, 1e6));
  std::vector<double> samples;
  for (unsigned r = 0; r < repeat; ++r) {
    start = Clock::now();
    for (unsigned c = 0; c < calls; ++c) run();
    samples.push_back(seconds_since(start) / calls);
  }
  return median(samples);
}

std::vector<ScanResult> scan_queries(const Kernel &k, const uint8_t *queries, uint64_t n,
                                     DatabaseView db) {
  if (n == 1) return {k.scan(queries, db)};
  return k.scan_batch(queries, n, db);
}

struct Row {
  std::string name;
  double seconds;
  std::string detail;
};

int run_bench(const BenchOptions &o) {
  if (o.repeat == 0) throw InputError("--repeat 0: at least 1 repetition is needed");
  if (o.raw_bits) check_record_bits_option("--raw-bits", *o.raw_bits);
  // One reading of the file for both kernels: read twice, a file changed in between would make
  // them disagree and look like a bug in the comparison.
  ConfigSource source{o.config, {}, read_config_file(o.config)};
  ScanSpec spec = source.load();
  ConfigSource runtime_source{
      o.config, {{"the runtime comparison", "backend", "runtime"}}, source.text};
  ScanSpec runtime_spec = runtime_source.load();

  RecordInputs inputs =
      load_record_inputs(spec, o.config, o.db, o.queries, o.raw_bits, /*populate=*/true);
  RecordSet &db = inputs.db;
  if (db.view.layout != Layout::row_major)
    throw InputError(fmt::format("{}: bench needs a row-major database", o.db));
  if (db.view.n_records == 0) throw InputError(fmt::format("{}: the database is empty", o.db));

  const uint8_t *queries = db.view.data;  // default: record 0 of the database as the one query
  uint64_t n_queries = 1;
  if (!o.queries.empty()) {
    if (inputs.queries.view.n_records == 0)
      throw InputError(fmt::format("{}: no queries in the file", o.queries));
    queries = inputs.queries.view.data;
    n_queries = inputs.queries.view.n_records;
  }

  const unsigned threads =
      o.threads ? o.threads : std::max(1u, std::thread::hardware_concurrency());
  EngineOptions engine_options;
  engine_options.threads = threads;
  Engine engine(engine_options);
  std::shared_ptr<const Kernel> jit = source.compile(engine, spec);
  std::shared_ptr<const Kernel> runtime = runtime_source.compile(engine, runtime_spec);
  const DatabaseView view = db.view;
  const double payload = static_cast<double>(view.n_records) * view.record_bytes;

  fmt::print(
      "bench: {}: {} records of {} bits ({}), {} quer{}, top_k {}, max_distance {}, "
      "{} thread{}, median of {}\n",
      o.db, view.n_records, db.record_bits, human_bytes(payload), n_queries,
      n_queries == 1 ? "y" : "ies", spec.top_k,
      spec.metric == Metric::tanimoto
          ? "none (tanimoto, min_similarity " +
                (spec.min_similarity.empty() ? std::string("none") : spec.min_similarity) + ")"
          : std::to_string(spec.max_distance),
      threads, threads == 1 ? "" : "s", o.repeat);
  std::fflush(stdout);

  ReadLoop loop = widest_read_loop();
  double bandwidth =
      read_bandwidth(loop, view.data, view.n_records * view.record_bytes, threads, o.repeat);
  fmt::print("read bandwidth over the mapped database: {:.1f} GB/s ({} threads, {})\n", bandwidth,
             threads, loop.name);

  std::vector<Row> rows;
  std::vector<ScanResult> jit_results, runtime_results;
  rows.push_back(
      {"jit",
       time_median([&] { jit_results = scan_queries(*jit, queries, n_queries, view); }, o.repeat),
       jit->describe()});
  rows.push_back(
      {"runtime",
       time_median([&] { runtime_results = scan_queries(*runtime, queries, n_queries, view); },
                   o.repeat),
       runtime->describe()});
  for (uint64_t q = 0; q < n_queries; ++q)
    if (jit_results[q].hits != runtime_results[q].hits)
      throw Failure(
          fmt::format("query {}: the jit and runtime kernels returned different hits; "
                      "this is a bug, please report it with the config and database",
                      q));
  uint64_t total_hits = 0;
  for (const ScanResult &r : jit_results) total_hits += r.hits.size();

  const bool tanimoto = spec.metric == Metric::tanimoto;
  std::string bound_note;
  if (tanimoto) {
    // The popcount bound (jitson/popcount.hpp): the file's own order, or a sorted copy made
    // before timing. Its hits carry original indices: compared with the plain scan of an
    // unordered file, or with the runtime kernel's bounded scan of an ordered one.
    const bool ordered_file = db.file && db.file->popcount_section();
    std::optional<PopcountOrder> order;
    try {
      order.emplace(ordered_file ? PopcountOrder::of_file(*db.file) : PopcountOrder::build(view));
    } catch (const Error &e) {
      throw InputError(e.what());
    }
    std::vector<ScanResult> bound_results(n_queries);
    auto bounded = [&](const std::shared_ptr<const Kernel> &k, std::vector<ScanResult> &out) {
      for (uint64_t q = 0; q < n_queries; ++q)
        out[q] = scan_popcount_ordered(k, queries + q * view.record_bytes, *order);
    };
    rows.push_back({"bound", time_median([&] { bounded(jit, bound_results); }, o.repeat),
                    "the jit kernel over popcount buckets, 1 thread per query"});
    std::vector<ScanResult> reference = jit_results;
    if (ordered_file) {
      reference.assign(n_queries, {});
      bounded(runtime, reference);
    }
    uint64_t read = 0, skipped = 0, counts_read = 0;
    for (uint64_t q = 0; q < n_queries; ++q) {
      if (bound_results[q].hits != reference[q].hits)
        throw Failure(
            fmt::format("query {}: the popcount-bounded scan returned different hits; "
                        "this is a bug, please report it with the config and database",
                        q));
      read += bound_results[q].stats.records;
      skipped += bound_results[q].stats.bound_skipped;
      counts_read += bound_results[q].stats.word_counts_read;
    }
    bound_note = fmt::format(
        "bound: {} ({}); records read {:.3f} % of {}, word counts read {:.1f} % (an eighth of a "
        "record each; the plain scan reads every record)",
        popcount_bound_unavailable(*jit).empty() ? "popcount bound on"
                                                 : popcount_bound_unavailable(*jit),
        ordered_file ? "the file's popcount order" : "a sorted copy made before timing",
        100.0 * double(read) / double(std::max<uint64_t>(1, read + skipped)), read + skipped,
        100.0 * double(counts_read) / double(std::max<uint64_t>(1, read + skipped)));
  }

  std::string faiss_note;
  if (o.no_faiss) {
    faiss_note = "faiss: skipped (--no-faiss)";
  } else if (tanimoto) {
    faiss_note = "faiss: skipped (IndexBinaryFlat computes Hamming distances, not Tanimoto)";
  } else if (const FaissPeer *faiss = FaissPeer::load(faiss_note)) {
    char err[512];
    const uint32_t k = static_cast<uint32_t>(std::min<uint64_t>(spec.top_k, view.n_records));
    std::unique_ptr<void, void (*)(void *)> index(
        faiss->create(db.record_bits, view.data, view.n_records, err, sizeof err), faiss->destroy);
    if (!index) throw Failure(err);
    std::vector<int32_t> distances(n_queries * k);
    std::vector<int64_t> labels(n_queries * k);
    int status = 0;
    rows.push_back({"faiss",
                    time_median(
                        [&] {
                          status |= faiss->search(index.get(), queries, n_queries, k, threads,
                                                  distances.data(), labels.data(), err, sizeof err);
                        },
                        o.repeat),
                    "IndexBinaryFlat: full distances, no focus mask, no max_distance"});
    if (status != 0) throw Failure(err);
    if (spec.focus_is_all()) {
      // Both lists are sorted by distance; ours is a prefix cut at max_distance.
      bool agree = true;
      for (uint64_t q = 0; q < n_queries; ++q)
        for (size_t i = 0; i < jit_results[q].hits.size(); ++i)
          agree = agree &&
                  jit_results[q].hits[i].distance == static_cast<uint32_t>(distances[q * k + i]);
      if (!agree)
        throw Failure("faiss and jitson disagree on the distances of the nearest records");
      faiss_note = "faiss: the distances of jitson's hits agree";
    } else {
      faiss_note = "faiss: scans all bits (the config has a focus mask), results not compared";
    }
  }

  const double jit_seconds = rows[0].seconds;
  fmt::print("\n{:<8} {:>10} {:>14} {:>9} {:>12} {:>14}\n", "", "ms", "M records/s", "GB/s",
             "jit speed-up", "of bandwidth");
  for (const Row &row : rows) {
    double pairs = static_cast<double>(n_queries) * view.n_records;
    double gbs = payload * n_queries / row.seconds / 1e9;
    fmt::print("{:<8} {:>10.3f} {:>14.1f} {:>9.2f} {:>11.2f}x {:>13.0f}%\n", row.name,
               row.seconds * 1e3, pairs / row.seconds / 1e6, gbs, row.seconds / jit_seconds,
               100.0 * gbs / bandwidth);
  }
  fmt::print("\n");
  for (const Row &row : rows) fmt::print("{:<8} {}\n", row.name, row.detail);
  fmt::print("results: jit and runtime identical ({} hits)\n{}\n", total_hits, faiss_note);
  if (!bound_note.empty()) fmt::print("{}\n", bound_note);
  if (n_queries > 1)
    fmt::print(
        "note: GB/s counts record bytes compared per second (queries × database), so a "
        "batch can exceed the read bandwidth\n");
  return kExitOk;
}

}  // namespace

void add_bench_command(CLI::App &app, Action &action) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App *sub = app.add_subcommand(
      "bench",
      "JIT kernel vs runtime backend vs FAISS IndexBinaryFlat on the same data, with the read "
      "bandwidth measured in the same run; medians and ratios");
  sub->add_option("--config", o->config, "Scan config file (JSON)")->required();
  sub->add_option("--db", o->db,
                  "Database (.jfp, .raw/.bin or .hex/.txt; any name with --raw-bits)")
      ->required();
  sub->add_option("--queries", o->queries,
                  "Query file; default: record 0 of the database as the one query");
  non_negative(sub->add_option(
      "--raw-bits", o->raw_bits,
      "Read --db (and a --queries file not named .jfp/.hex/.txt) as headerless raw records of "
      "this many bits, whatever the name; must equal the config's record_bits"));
  non_negative(sub->add_option("--repeat", o->repeat, "Timed repetitions (the median is printed)"))
      ->capture_default_str();
  sub->add_option("--threads", o->threads, "Threads for every contender (0 = all cores)")
      ->check(CLI::Range(0u, 4096u))
      ->capture_default_str();
  sub->add_flag("--no-faiss", o->no_faiss, "Skip FAISS (it copies the whole database)");
  sub->footer(
      "Example:\n"
      "  jitson bench --config configs/examples/full-focus.json --db db.jfp --queries q.jfp "
      "--repeat 5");
  sub->callback([o, &action] { action = [o] { return run_bench(*o); }; });
}

}  // namespace jitson::cli
