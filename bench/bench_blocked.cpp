// The blocked layout and the sweep (issue 6) against the row scan and FAISS, in one run:
//   near/*      1M × 16,384-bit random records + 100 planted neighbours (distance <= 12), one
//               query, exact mode, max_distance 16 (<= 0.1% hits)
//   top10/*     the same database, top-10 with no max_distance (the heap gives the bound)
//   crossover/* blocked sweep vs row cascade over a max_distance sweep
// Rates: records_per_s over the main thread's CPU time (Google Benchmark's default) and
// wall_records_per_s; words_per_record = focused words read per record (the kernel's counter).
// Buffers are huge-page backed and touched before timing. JITSON_BLOCKED_RECORDS overrides 1M.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>

#include "jitson/engine.hpp"
#include "jitson/layout.hpp"
#include "support/bandwidth.hpp"

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
  DatabaseView row_view, blocked_view;
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
    return d;
  }();
  return d;
}

Engine &engine() {
  static Engine e(EngineOptions{1, 64u << 20, std::nullopt, true});
  return e;
}

std::string config(uint32_t max_distance, uint32_t top_k, const char *layout,
                   const char *cascade = "exact") {
  return "{\"version\": 1, \"record_bits\": 16384, \"max_distance\": " +
         std::to_string(max_distance) + ", \"top_k\": " + std::to_string(top_k) +
         ", \"cascade\": {\"mode\": \"" + cascade + "\"}, \"layout\": \"" + layout + "\"}";
}

void run_scan(benchmark::State &state, const std::string &cfg, bool blocked) {
  Data &d = data();
  auto kernel = engine().compile(cfg);
  const DatabaseView db = blocked ? d.blocked_view : d.row_view;
  ScanResult last;
  double wall = 0;
  for (auto _ : state) {
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

void register_all() {
  auto add = [](const std::string &name, const std::string &cfg, bool blocked, int iters) {
    benchmark::RegisterBenchmark(name.c_str(),
                                 [cfg, blocked](benchmark::State &s) { run_scan(s, cfg, blocked); })
        ->Iterations(iters)
        ->Unit(benchmark::kMillisecond);
  };
  add("near/blocked_sweep", config(kNearDistance, 10, "blocked"), true, 20);
  add("near/row_full_scan_cascade_off", config(kNearDistance, 10, "row", "off"), false, 3);
  add("near/row_cascade_exact", config(kNearDistance, 10, "row"), false, 3);
#ifdef JITSON_HAVE_FAISS
  benchmark::RegisterBenchmark("near/faiss_IndexBinaryFlat_top10", run_faiss)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);
#endif
  add("top10/blocked_sweep", config(kBits, 10, "blocked"), true, 20);
  add("top10/row_cascade_exact", config(kBits, 10, "row"), false, 3);
  for (uint32_t d : {16u, 24u, 32u, 40u, 48u, 64u, 128u, 512u, 2048u, 6000u, 7600u, 8192u}) {
    add("crossover/blocked_sweep/max_distance=" + std::to_string(d), config(d, 1000000, "blocked"),
        true, 3);
    add("crossover/row_cascade/max_distance=" + std::to_string(d), config(d, 1000000, "row"), false,
        2);
  }
}

}  // namespace

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  data();  // generated and converted before any timing
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
