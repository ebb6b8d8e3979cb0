// The blocked layout and the sweep (issue 6) against the row scan and FAISS, in one run:
//   near/*      1M × 16,384-bit random records + 100 planted neighbours (distance <= 12), one
//               query, exact mode, max_distance 16 (<= 0.1% hits)
//   top10/*     the same database, top-10 with no max_distance (the heap gives the bound)
//   crossover/* blocked sweep vs row cascade over a max_distance sweep
// Rates: records_per_s over the main thread's CPU time (Google Benchmark's default) and
// wall_records_per_s; words_per_record = focused words read per record (the kernel's counter).
// Buffers are huge-page backed and touched before timing. "warm" runs scan once before timing
// (the first words of all blocks, 8 MB, then sit in this machine's L3); "cold" runs flush the
// lines of the first 8 words of every block before each scan, so they come from DRAM.
// JITSON_BLOCKED_RECORDS overrides 1M. A summary with the ratios follows the table.
#include <benchmark/benchmark.h>

#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>

#include "jitson/engine.hpp"
#include "jitson/layout.hpp"
#include "support/bandwidth.hpp"
#include "support/bench_timing.hpp"

#ifdef JITSON_HAVE_FAISS
#include <faiss/IndexBinaryFlat.h>
#endif

namespace {

using namespace jitson;

constexpr uint32_t kBits = 16384, kBytes = kBits / 8;
constexpr uint32_t kPlanted = 100, kMaxFlips = 12, kNearDistance = 16;

struct Data {
  uint64_t n = 0;
  bench::AlignedBuffer rows, blocked, query;
  bench::AlignedBuffer blocked256;
  DatabaseView row_view, blocked_view, blocked256_view;  // B = 64 (the default) and B = 256
};

Data &data() {
  static Data d = [] {
    Data d;
    const char *env = std::getenv("JITSON_BLOCKED_RECORDS");
    d.n = env && *env ? std::strtoull(env, nullptr, 10) : 1000000;
    d.rows = bench::AlignedBuffer(d.n * kBytes);
    d.query = bench::AlignedBuffer(kBytes);
    std::mt19937_64 rng(20261129);
    for (uint64_t i = 0; i < d.n * kBytes; i += 8) {
      const uint64_t r = rng();
      std::memcpy(d.rows.data() + i, &r, 8);
    }
    for (uint32_t i = 0; i < kBytes; i += 8) {
      const uint64_t r = rng();
      std::memcpy(d.query.data() + i, &r, 8);
    }
    for (uint32_t p = 0; p < kPlanted; ++p) {
      uint8_t *rec = d.rows.data() + (rng() % d.n) * kBytes;
      std::memcpy(rec, d.query.data(), kBytes);
      for (uint64_t f = rng() % (kMaxFlips + 1); f > 0; --f) {
        const uint64_t bit = rng() % kBits;
        rec[bit / 8] ^= uint8_t(1u << (bit % 8));
      }
    }
    d.row_view = DatabaseView::rows(d.rows.data(), d.n, kBytes);
    d.blocked = bench::AlignedBuffer(blocked_payload_bytes(d.n, kBytes, kDefaultBlockRecords));
    to_blocked(d.row_view, kDefaultBlockRecords, d.blocked.data());
    d.blocked_view = DatabaseView::blocked(d.blocked.data(), d.n, kBytes, kDefaultBlockRecords);
    d.blocked256 = bench::AlignedBuffer(blocked_payload_bytes(d.n, kBytes, 256));
    to_blocked(d.row_view, 256, d.blocked256.data());
    d.blocked256_view = DatabaseView::blocked(d.blocked256.data(), d.n, kBytes, 256);
    return d;
  }();
  return d;
}

Engine &engine() {
  static Engine e(EngineOptions{1, 64u << 20, std::nullopt, true, ""});
  return e;
}

std::string config(uint32_t max_distance, uint32_t top_k, const char *layout,
                   const char *cascade = "exact") {
  return "{\"version\": 1, \"record_bits\": 16384, \"max_distance\": " +
         std::to_string(max_distance) + ", \"top_k\": " + std::to_string(top_k) +
         ", \"cascade\": {\"mode\": \"" + cascade + "\"}, \"layout\": \"" + layout + "\"}";
}

enum class Cache { as_left, warm, cold };

// Evicts the lines a near-duplicate sweep reads (words 0..7 of every block) from every cache.
void flush_first_words(const DatabaseView &db) {
  const uint64_t block_bytes = uint64_t(db.block_records) * db.record_bytes;
  const uint64_t blocks = (db.n_records + db.block_records - 1) / db.block_records;
  for (uint64_t b = 0; b < blocks; ++b) {
    const uint8_t *first = db.data + b * block_bytes;
    for (uint64_t off = 0; off < uint64_t(db.block_records) * 8 * 8; off += 64) {
      _mm_clflush(first + off);
    }
  }
  _mm_mfence();
}

// block_records 0 scans the row-major copy.
void run_scan(benchmark::State &state, const std::string &cfg, uint32_t block_records,
              Cache cache) {
  Data &d = data();
  auto kernel = engine().compile(cfg);
  const bool blocked = block_records != 0;
  const DatabaseView db = !blocked               ? d.row_view
                          : block_records == 256 ? d.blocked256_view
                                                 : d.blocked_view;
  ScanResult last;
  double wall = 0;
  if (cache == Cache::warm) last = kernel->scan(d.query.data(), db, 1);
  for (auto _ : state) {
    if (cache == Cache::cold) {
      state.PauseTiming();
      flush_first_words(db);
      state.ResumeTiming();
    }
    const auto t0 = std::chrono::steady_clock::now();
    last = kernel->scan(d.query.data(), db, 1);
    wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    benchmark::DoNotOptimize(last.hits.data());
  }
  const double records = double(d.n) * double(state.iterations());
  state.counters["records_per_s"] = benchmark::Counter(records, benchmark::Counter::kIsRate);
  state.counters["wall_records_per_s"] = records / wall;
  state.counters["words_per_record"] = double(last.stats.words_read) / double(d.n);
  state.counters["hits"] = double(last.hits.size());
  state.counters["stage0_rejected"] = double(last.stats.rejected_by_stage[0]);
  state.SetLabel(kernel->describe().substr(0, kernel->describe().find(" record_bits")) +
                 (blocked ? " sweep=" + std::string(to_string(kernel->sweep_backend())) : ""));
}

#ifdef JITSON_HAVE_FAISS
void run_faiss(benchmark::State &state) {
  Data &d = data();
  static std::unique_ptr<faiss::IndexBinaryFlat> index = [&] {
    auto idx = std::make_unique<faiss::IndexBinaryFlat>(int(kBits));
    idx->add(faiss::IndexBinary::idx_t(d.n), d.rows.data());
    return idx;
  }();
  std::vector<int32_t> distances(10);
  std::vector<faiss::IndexBinary::idx_t> labels(10);
  double wall = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    index->search(1, d.query.data(), 10, distances.data(), labels.data());
    wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const double records = double(d.n) * double(state.iterations());
  state.counters["records_per_s"] = benchmark::Counter(records, benchmark::Counter::kIsRate);
  state.counters["wall_records_per_s"] = records / wall;
  state.counters["words_per_record"] = kBits / 64;
}
#endif

const uint32_t kCrossover[] = {16, 24, 32, 40, 48, 64, 128, 512, 2048, 6000, 7600, 8192};

void register_all() {
  constexpr uint32_t kRow = 0, kB64 = kDefaultBlockRecords, kB256 = 256;
  auto add = [](const std::string &name, const std::string &cfg, uint32_t block_records, int iters,
                Cache cache = Cache::as_left) {
    benchmark::RegisterBenchmark(name.c_str(),
                                 [cfg, block_records, cache](benchmark::State &s) {
                                   run_scan(s, cfg, block_records, cache);
                                 })
        ->Iterations(iters)
        ->Unit(benchmark::kMillisecond);
  };
  add("near/blocked_sweep_warm", config(kNearDistance, 10, "blocked"), kB64, 20, Cache::warm);
  add("near/blocked_sweep_cold", config(kNearDistance, 10, "blocked"), kB64, 5, Cache::cold);
  add("near/blocked256_sweep_warm", config(kNearDistance, 10, "blocked"), kB256, 20, Cache::warm);
  add("near/blocked256_sweep_cold", config(kNearDistance, 10, "blocked"), kB256, 5, Cache::cold);
  add("near/row_full_scan_cascade_off", config(kNearDistance, 10, "row", "off"), kRow, 3);
  add("near/row_cascade_exact", config(kNearDistance, 10, "row"), kRow, 3);
#ifdef JITSON_HAVE_FAISS
  benchmark::RegisterBenchmark("near/faiss_IndexBinaryFlat_top10", run_faiss)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);
#endif
  add("top10/blocked_sweep", config(kBits, 10, "blocked"), kB64, 20, Cache::warm);
  add("top10/blocked256_sweep", config(kBits, 10, "blocked"), kB256, 20, Cache::warm);
  add("top10/row_cascade_exact", config(kBits, 10, "row"), kRow, 3);
  for (uint32_t d : kCrossover) {
    add("crossover/blocked_sweep/max_distance=" + std::to_string(d), config(d, 1000000, "blocked"),
        kB64, 3, Cache::warm);
    add("crossover/row_cascade/max_distance=" + std::to_string(d), config(d, 1000000, "row"), kRow,
        2);
  }
}

}  // namespace

void print_summary(const bench::CollectingReporter &r) {
  auto rate = [&](const std::string &name) { return r.get(name, "wall_records_per_s") / 1e6; };
  auto words = [&](const std::string &name) { return r.get(name, "words_per_record"); };
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  const double warm = rate("near/blocked_sweep_warm"), cold = rate("near/blocked_sweep_cold");
  const double full = rate("near/row_full_scan_cascade_off"), cascade = rate("near/row_cascade");
  const double faiss = rate("near/faiss");
  std::printf(
      "\nSummary (wall-clock M records/s, one thread; words = focused words read per record)\n"
      "near duplicates, max_distance %u, top-10:\n"
      "  blocked sweep warm %.0f, cold (first words from DRAM) %.0f; target >= 500, moonshot "
      "1000; words %.2f\n"
      "  row full scan %.2f -> sweep warm / row = %.0f x, cold / row = %.0f x (target >= 25)\n"
      "  row exact cascade %.1f -> sweep warm / cascade = %.1f x\n"
      "  FAISS IndexBinaryFlat %.2f -> sweep warm / FAISS = %.0f x\n",
      kNearDistance, warm, cold, words("near/blocked_sweep_warm"), full, ratio(warm, full),
      ratio(cold, full), cascade, ratio(warm, cascade), faiss, ratio(warm, faiss));
  std::printf(
      "  blocks of 256 records (jitson convert --to blocked --block-records 256): warm %.0f, "
      "cold %.0f\n",
      rate("near/blocked256_sweep_warm"), rate("near/blocked256_sweep_cold"));
  std::printf(
      "top-10, no max_distance: blocked sweep %.1f (words %.1f; B = 256: %.1f), row cascade %.1f "
      "(words %.1f)\n",
      rate("top10/blocked_sweep/"), words("top10/blocked_sweep/"), rate("top10/blocked256_sweep"),
      rate("top10/row_cascade"), words("top10/row_cascade"));
  std::printf(
      "crossover (top_k 1,000,000; sweep warm): max_distance, sweep, row cascade, words, planner "
      "picks\n");
  for (uint32_t d : kCrossover) {
    const std::string md = "max_distance=" + std::to_string(d) + "/";
    const ScanPlan plan = make_plan(parse_scan_config(config(d, 1000000, "auto")));
    std::printf("  %5u %8.1f %8.1f %7.2f  %s\n", d, rate("crossover/blocked_sweep/" + md),
                rate("crossover/row_cascade/" + md), words("crossover/blocked_sweep/" + md),
                plan.prefer_sweep ? "blocked" : "row");
  }
}

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  data();  // generated and converted before any timing
  register_all();
  bench::CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  print_summary(reporter);
  benchmark::Shutdown();
  return 0;
}
