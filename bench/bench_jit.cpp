// The Xbyak JIT: compile latency (config → callable kernel, cache miss and hit), and scan speed
// against the machine's read bandwidth and FAISS IndexBinaryFlat, all measured in one run.
//
//   compile/*   median µs per compile (counters median_us, median_cpu_us), distinct configs
//               except engine_hit; compile_xbyak alone, config text → callable, Engine::compile
//   l2/*        256 × 2,048-byte records (512 KiB, inside L2), the block function alone: full
//               focus vs focus on the first 1/8, with the planner's prefetch and with none
//   dram/*      1M × 2,048-byte records (JITSON_BENCH_RECORDS), Kernel::scan on one thread,
//               full focus, cascade off, top-10; read bandwidth and FAISS on the same data
//               (the bandwidth is the faster of a plain read loop and one that prefetches like
//               the kernel: both are printed)
//   cascade/*   exact cascade with a selective max_distance (planted neighbours, 0.05 % hits)
//               against cascade off on the same database
//   batch/*     100 queries × 65,536 records, top-10, Kernel::scan_batch on one thread, and
//               FAISS search with the same 100 queries (OpenMP limited to one thread); the
//               ceiling of this core (support/pair_ceiling.hpp: a hand-written register tile
//               over records in L1) against which the pairs/s target is read
// The summary at the end prints the ratios. Rates of real-time benchmarks are also given
// rescaled to CPU time, which matters when other processes share the cores.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "jit/backend.hpp"
#include "jit/code_arena.hpp"
#include "jit/xbyak_scan.hpp"
#include "jitson/config.hpp"
#include "jitson/cpu.hpp"
#include "jitson/engine.hpp"
#include "jitson/plan.hpp"
#include "jitson/scan.hpp"
#include "support/bandwidth.hpp"
#include "support/bench_data.hpp"
#include "support/bench_timing.hpp"
#include "support/pair_ceiling.hpp"

#ifdef JITSON_HAVE_FAISS
#include <faiss/IndexBinaryFlat.h>
#include <omp.h>
#endif

namespace {

using jitson::Isa;
using namespace jitson::bench;
using Database = DramDatabase;

constexpr uint64_t kBatchQueries = 100;
constexpr uint64_t kBatchRecords = 65536;

std::string config(const std::string &isa, const std::string &extra, uint32_t max_distance) {
  return scan_config("xbyak", isa, extra, max_distance, kTopK);
}

Database &database() {
  return planted_database("bench_jit");
}

jitson::Engine &engine() {
  static jitson::Engine e(jitson::EngineOptions{1, size_t{256} << 20, std::nullopt, true, ""});
  return e;
}

jitson::CodeArena &arena() {
  static jitson::CodeArena a;
  return a;
}

// ----- compile latency ------------------------------------------------------------------------

// compile_xbyak alone (emit + arena install) for a prebuilt plan; the code is freed each time.
void bm_compile_emit(benchmark::State &state, std::string text) {
  const jitson::ScanPlan plan = jitson::make_plan(jitson::parse_scan_config(text));
  Samples samples(1 << 16);
  size_t bytes = 0;
  for (auto _ : state) {
    samples.time([&] {
      auto code = jitson::compile_xbyak(plan, arena());
      bytes = code->code_bytes();
      benchmark::DoNotOptimize(code->entry());
    });
  }
  samples.report(state, Samples::Unit::us);
  state.counters["code_bytes"] = double(bytes);
}

// Config text → parse → plan → emit → callable, every text distinct.
void bm_compile_config(benchmark::State &state, std::string isa) {
  Samples samples(1 << 16);
  uint32_t i = 0;
  std::vector<std::shared_ptr<jitson::CompiledCode>> keep;
  for (auto _ : state) {
    const std::string text = config(isa, "", 100 + (i++ % 16000));
    samples.time([&] {
      auto code =
          jitson::compile_xbyak(jitson::make_plan(jitson::parse_scan_config(text)), arena());
      benchmark::DoNotOptimize(code->entry());
      keep.push_back(std::move(code));
    });
    if (keep.size() >= 256) keep.clear();
  }
  samples.report(state, Samples::Unit::us);
}

std::string distinct_config(uint32_t i, const std::string &isa) {
  return "{\"version\": 1, \"record_bits\": 16384, \"max_distance\": " +
         std::to_string(100 + i % 16000) + ", \"top_k\": " + std::to_string(11 + i / 16000) +
         ", \"isa\": \"" + isa + "\"}";
}

// Engine::compile with a config text it has not seen (a cache miss each time), into a cache
// that keeps every kernel: each compile's memory is fresh, so first-touch page faults count.
void bm_engine_miss(benchmark::State &state, std::string isa) {
  Samples samples(1 << 16);
  static uint32_t serial = 0;  // distinct meanings across repetitions too
  for (auto _ : state) {
    const std::string text = distinct_config(serial++, isa);
    samples.time([&] { benchmark::DoNotOptimize(engine().compile(text)); });
  }
  samples.report(state, Samples::Unit::us);
}

// The same in a long-running process: an engine with the default cache, filled until it evicts
// before timing starts, so each miss reuses the memory of the kernel it evicts.
void bm_engine_miss_steady(benchmark::State &state, std::string isa) {
  static jitson::Engine steady(
      jitson::EngineOptions{1, jitson::EngineOptions{}.cache_bytes, std::nullopt, true, ""});
  static uint32_t serial = 0;
  while (steady.cache_stats().evictions == 0) steady.compile(distinct_config(serial++, isa));
  Samples samples(1 << 16);
  for (auto _ : state) {
    const std::string text = distinct_config(serial++, isa);
    samples.time([&] { benchmark::DoNotOptimize(steady.compile(text)); });
  }
  samples.report(state, Samples::Unit::us);
  state.counters["cached_kernels"] = double(steady.cache_stats().entries);
}

// Engine::compile miss in a fresh engine: each iteration builds a new engine (not timed) and
// times its first compile, as a process that makes an engine per job, request or connection does.
void bm_engine_miss_fresh(benchmark::State &state, std::string isa) {
  Samples samples(1 << 14);
  static uint32_t serial = 0;
  for (auto _ : state) {
    jitson::Engine fresh;
    const std::string text = distinct_config(serial++, isa);
    samples.time([&] { benchmark::DoNotOptimize(fresh.compile(text)); });
  }
  samples.report(state, Samples::Unit::us);
}

// The first Engine::compile of the process (CPU detection already done), in microseconds: the
// one-time costs (code arena, first touch of the generator's code and data) show here.
double g_process_first_compile_us = 0;

double time_process_first_compile() {
  jitson::Engine e;
  const auto t0 = std::chrono::steady_clock::now();
  benchmark::DoNotOptimize(e.compile(config("avx2", "", 999)));
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
}

// Engine::compile of a config text already in the cache.
void bm_engine_hit(benchmark::State &state) {
  const std::string text = config("avx512", "", 777);
  engine().compile(text);
  Samples samples(1 << 20);
  for (auto _ : state) {
    samples.time([&] { benchmark::DoNotOptimize(engine().compile(text)); });
  }
  samples.report(state, Samples::Unit::us);
}

// ----- scans ----------------------------------------------------------------------------------

// Kernel::scan over the DRAM database on one thread.
void bm_dram_scan(benchmark::State &state, std::string text) {
  auto kernel = engine().compile(text);
  if (kernel->backend() != jitson::Backend::xbyak) {
    state.SkipWithError(("not an xbyak kernel: " + kernel->describe()).c_str());
    return;
  }
  time_database_scan(state, *kernel, database());
  state.SetLabel(kernel->describe());
}

// The block function alone over 256 L2-resident records (no hits: limit 1).
void bm_l2_block(benchmark::State &state, std::string text, jitson::XbyakTuning tuning) {
  const jitson::ScanPlan plan = jitson::make_plan(jitson::parse_scan_config(text));
  auto code = jitson::compile_xbyak(plan, arena(), tuning);
  SmallData &d = small_data();
  std::vector<jitson::Hit> out(kL2Records);
  uint64_t counters[jitson::kNumCounters] = {};
  const jitson::BlockFn fn = code->entry();
  for (auto _ : state) {
    jitson::BlockArgs a{d.query.data(), d.records.data(), kL2Records, 0, 1, 0,
                        out.data(),     counters,         nullptr};
    benchmark::DoNotOptimize(fn(&a));
  }
  set_scan_rates(state, kL2Records);
  state.counters["code_bytes"] = double(code->code_bytes());
}

void bm_read_bandwidth(benchmark::State &state) {
  time_read_bandwidth(state, database());
}

std::vector<uint8_t> &batch_queries() {
  static std::vector<uint8_t> q = [] {
    std::vector<uint8_t> v(kBatchQueries * kRecordBytes);
    fill_random(v.data(), v.size(), 17);
    return v;
  }();
  return q;
}

void bm_batch(benchmark::State &state, std::string text) {
  auto kernel = engine().compile(text);
  Database &db = database();
  const uint64_t n = std::min(kBatchRecords, db.n_records);
  for (auto _ : state) {
    auto r = kernel->scan_batch(batch_queries().data(), kBatchQueries, db.view(n), 1);
    benchmark::DoNotOptimize(r.data());
  }
  set_scan_rates(state, n, kBatchQueries);
  state.SetBytesProcessed(0);
  state.SetLabel(kernel->describe());
}

// Median pairs/s of the hand-written tile, one measurement (about 0.3 s) per iteration.
void bm_pair_ceiling(benchmark::State &state, std::string isa) {
  std::vector<double> rates;
  for (auto _ : state) {
    rates.push_back(isa == "avx512" ? pair_ceiling_avx512(20'000'000)
                                    : pair_ceiling_avx2(8'000'000));
  }
  std::sort(rates.begin(), rates.end());
  state.counters["pairs_per_s"] = rates[rates.size() / 2];
}

#ifdef JITSON_HAVE_FAISS
faiss::IndexBinaryFlat &faiss_index(uint64_t n) {
  static std::map<uint64_t, std::unique_ptr<faiss::IndexBinaryFlat>> indexes;
  auto &idx = indexes[n];
  if (!idx) {
    idx = std::make_unique<faiss::IndexBinaryFlat>(int(kRecordBytes * 8));
    idx->add(faiss::IndexBinary::idx_t(n), database().bytes.data());
  }
  return *idx;
}

void bm_faiss(benchmark::State &state, uint64_t n_queries) {
  omp_set_num_threads(1);  // per-core comparison
  Database &db = database();
  const uint64_t n = n_queries == 1 ? db.n_records : std::min(kBatchRecords, db.n_records);
  faiss::IndexBinaryFlat &index = faiss_index(n);
  const uint8_t *queries = n_queries == 1 ? small_data().query.data() : batch_queries().data();
  std::vector<int32_t> distances(n_queries * kTopK);
  std::vector<faiss::IndexBinary::idx_t> labels(n_queries * kTopK);
  for (auto _ : state) {
    index.search(faiss::IndexBinary::idx_t(n_queries), queries, kTopK, distances.data(),
                 labels.data());
    benchmark::DoNotOptimize(distances.data());
  }
  set_scan_rates(state, n, n_queries);
  if (n_queries > 1) state.SetBytesProcessed(0);
  // The same answer as jitson, or the comparison means nothing.
  auto kernel = engine().compile(config("auto", kCascadeOff, 16384));
  for (uint64_t q = 0; q < n_queries; q += 37) {
    auto ours = kernel->scan(queries + q * kRecordBytes, db.view(n), 1);
    if (!same_top_distances(distances.data() + q * kTopK, kTopK, ours.hits)) {
      state.SkipWithError("FAISS and jitson top-10 distances differ");
      return;
    }
  }
}
#endif

// ----- summary --------------------------------------------------------------------------------

void print_summary(const CollectingReporter &r) {
  const double bw = r.get("read_bandwidth", "bytes_per_second") / 1e9;
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  std::printf(
      "\nSummary. GB/s = 1e9 B/s. \"wall\" rates are elapsed time; \"cpu\" rates rescale "
      "them to this thread's CPU time (differs when other processes share the core).\n");
  std::printf(
      "single-core read bandwidth (wall): %.1f GB/s (medians: plain read loop %.1f, "
      "prefetching read loop %.1f)\n",
      bw, r.get("read_bandwidth", "plain_GBps"), r.get("read_bandwidth", "prefetching_GBps"));
  for (const char *isa : {"avx512", "avx2"}) {
    auto both = [&](const std::string &name) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "%.1f us wall / %.1f us cpu", r.get(name, "median_us"),
                    r.get(name, "median_cpu_us"));
      return std::string(buf);
    };
    std::printf(
        "compile %s, 16,384-bit default config (medians; target <= 20 us):\n"
        "  compile_xbyak (emit + install) %s\n  config text -> callable %s\n"
        "  Engine::compile miss, steady state (default cache full, evicting) %s\n"
        "  Engine::compile miss, growing cache (every kernel kept: first-touch page faults) %s\n",
        isa, both(std::string("compile/emit_16384/") + isa).c_str(),
        both(std::string("compile/config_to_callable/") + isa).c_str(),
        both(std::string("compile/engine_miss_steady/") + isa).c_str(),
        both(std::string("compile/engine_miss/") + isa).c_str());
  }
  for (const char *isa : {"avx512", "avx2"}) {
    const std::string name = std::string("compile/engine_miss_fresh/") + isa;
    const double us = r.get(name, "median_us");
    if (us == 0) continue;
    std::printf(
        "%s Engine::compile miss in a fresh engine (its first compile), %s: %.1f us wall / "
        "%.1f us cpu (median; target <= 20)\n",
        us <= 20 ? "  ok  " : "**FAIL**", isa, us, r.get(name, "median_cpu_us"));
  }
  std::printf("first Engine::compile of the process (after CPU detection): %.1f us wall\n",
              g_process_first_compile_us);
  std::printf("Engine::compile hit: %.3f us wall (median; target <= 0.5)\n",
              r.get("compile/engine_hit", "median_us"));
  std::printf(
      "65,536-bit record, every third word partial: compile_xbyak %.1f us, %.0f code bytes\n",
      r.get("compile/emit_65536_scattered/avx512", "median_us"),
      r.get("compile/emit_65536_scattered/avx512", "code_bytes"));

  for (const char *isa : {"avx512", "avx2"}) {
    for (const char *variant : {"", "_pf0"}) {
      const std::string name = std::string("dram/full_off_top10") + variant + "/" + isa;
      const double gbs = r.get(name, "bytes_per_second") / 1e9;
      if (gbs == 0) continue;
      std::printf(
          "DRAM full focus, cascade off, top-10, %s%s: %.1f GB/s wall = %.2f x bandwidth "
          "(target >= 0.95); %.1f GB/s cpu\n",
          isa, *variant ? " (prefetch_records 0)" : " (planner prefetch)", gbs, ratio(gbs, bw),
          r.get_cpu_rate(name, "bytes_per_second") / 1e9);
    }
  }
  const double faiss = r.get("dram/faiss_top10", "bytes_per_second") / 1e9;
  const double ours = r.get("dram/full_off_top10/avx512", "bytes_per_second") / 1e9;
  if (faiss > 0) {
    std::printf(
        "FAISS IndexBinaryFlat top-10 (1 thread): %.2f GB/s; jitson avx512 / FAISS = "
        "%.1f x (target >= 10)\n",
        faiss, ratio(ours, faiss));
  }
  for (const char *isa : {"avx512", "avx2"}) {
    for (const char *variant : {"_pf0", ""}) {
      auto rate = [&](const char *what) {
        return r.get(std::string("l2/") + what + variant + "/" + isa, "records_per_s");
      };
      const double full = rate("full_off"), eighth = rate("focus_first_eighth_off");
      if (full == 0) continue;
      std::printf(
          "L2 %s%s: full focus %.1f M rec/s (%.0f GB/s); focus on the first 1/8 %.1f M "
          "rec/s = %.2f x full (target >= 6)\n",
          isa, *variant ? ", prefetch_records 0" : ", planner prefetch", full / 1e6,
          full * kRecordBytes / 1e9, eighth / 1e6, ratio(eighth, full));
    }
    const double scattered =
        r.get(std::string("l2/focus_every_eighth_word_off/") + isa, "records_per_s");
    std::printf("L2 %s: focus on every 8th word (one word per line) %.1f M rec/s\n", isa,
                scattered / 1e6);
  }
  const double in_memory = r.get("l2/full_off_rolled_query_in_memory/avx512", "records_per_s");
  if (in_memory > 0) {
    std::printf(
        "L2 avx512 full focus, rolled 8 x 64 B loop with the query from memory: %.1f M "
        "rec/s (default, query in 24 zmm: %.1f)\n",
        in_memory / 1e6, r.get("l2/full_off_pf0/avx512", "records_per_s") / 1e6);
  }
  for (const char *isa : {"avx512", "avx2"}) {
    const std::string off_name = std::string("cascade/off_selective/") + isa;
    const double off = r.get(off_name, "records_per_s");
    for (const char *variant : {"", "_pf64"}) {
      const std::string name = std::string("cascade/exact_selective") + variant + "/" + isa;
      const double exact = r.get(name, "records_per_s");
      if (exact == 0) continue;
      std::printf(
          "DRAM, max_distance %u (%.3f %% hits), %s: exact cascade%s %.1f M rec/s vs "
          "cascade off %.1f M rec/s = %.1f x (wall; cpu: %.1f vs %.1f)\n",
          kSelectiveMaxDistance, 100.0 / double(kPlantEvery), isa,
          *variant ? " (prefetch_records 64)" : " (planner prefetch)", exact / 1e6, off / 1e6,
          ratio(exact, off), r.get_cpu_rate(name, "records_per_s") / 1e6,
          r.get_cpu_rate(off_name, "records_per_s") / 1e6);
    }
  }
  const double fbatch = r.get("batch/faiss_100q_top10", "pairs_per_s");
  for (const char *isa : {"avx512", "avx2"}) {
    const std::string name = std::string("batch/100q_top10/") + isa;
    const double batch = r.get(name, "pairs_per_s");
    if (batch == 0) continue;
    const double target = std::string(isa) == "avx512" ? 80e6 : 40e6;  // issue 17, per core
    const double ceiling = r.get(std::string("batch/ceiling/") + isa, "pairs_per_s");
    std::printf(
        "batch of 100 queries, top-10, %s: %.1f M pairs/s wall, %.1f M pairs/s cpu "
        "(target >= %.0f: %s); FAISS %.2f M pairs/s; jitson / FAISS = %.0f x\n",
        isa, batch / 1e6, r.get_cpu_rate(name, "pairs_per_s") / 1e6, target / 1e6,
        batch >= target ? "met" : "NOT MET", fbatch / 1e6, ratio(batch, fbatch));
    if (ceiling > 0) {
      std::printf(
          "  ceiling of this core (hand-written register tile, records in L1): %.1f M pairs/s; "
          "jitson reaches %.2f x of it, the target asks %.2f x of it\n",
          ceiling / 1e6, ratio(batch, ceiling), ratio(target, ceiling));
    }
  }
}

}  // namespace

int main(int argc, char **argv) {
  const std::vector<std::string> isas = [] {
    std::vector<std::string> v;
    if (jitson::isa_supported(Isa::avx512)) v.push_back("avx512");
    if (jitson::isa_supported(Isa::avx2)) v.push_back("avx2");
    return v;
  }();
  // Before anything else compiles: the process's first compile (avx2 runs on every x86 this
  // benchmark supports).
  if (!isas.empty()) g_process_first_compile_us = time_process_first_compile();
  std::string scattered =
      "{\"version\": 1, \"record_bits\": 65536, \"max_distance\": 100, "
      "\"isa\": \"avx512\", \"focus\": {\"ranges\": [";
  for (int w = 0; w < 1024; w += 3) {
    scattered +=
        (w ? ", [" : "[") + std::to_string(64 * w + 5) + ", " + std::to_string(64 * w + 50) + "]";
  }
  scattered += "]}}";

  for (const auto &isa : isas) {
    benchmark::RegisterBenchmark(("compile/emit_16384/" + isa).c_str(), bm_compile_emit,
                                 config(isa, "", 1000))
        ->Iterations(20000);
    benchmark::RegisterBenchmark(("compile/config_to_callable/" + isa).c_str(), bm_compile_config,
                                 isa)
        ->Iterations(20000);
    benchmark::RegisterBenchmark(("compile/engine_miss/" + isa).c_str(), bm_engine_miss, isa)
        ->Iterations(20000);
    benchmark::RegisterBenchmark(("compile/engine_miss_steady/" + isa).c_str(),
                                 bm_engine_miss_steady, isa)
        ->Iterations(20000);
    benchmark::RegisterBenchmark(("compile/engine_miss_fresh/" + isa).c_str(), bm_engine_miss_fresh,
                                 isa)
        ->Iterations(5000);
  }
  benchmark::RegisterBenchmark("compile/emit_65536_scattered/avx512", bm_compile_emit, scattered)
      ->Iterations(2000);
  benchmark::RegisterBenchmark("compile/engine_hit", bm_engine_hit)->Iterations(200000);

  const std::string pf0 = ", \"prefetch_records\": 0";
  for (const auto &isa : isas) {
    for (const std::string variant : {"", "_pf0"}) {
      const std::string pf = variant.empty() ? "" : pf0;
      benchmark::RegisterBenchmark(("l2/full_off" + variant + "/" + isa).c_str(), bm_l2_block,
                                   config(isa, kCascadeOff + pf, 16384), jitson::XbyakTuning{});
      benchmark::RegisterBenchmark(
          ("l2/focus_first_eighth_off" + variant + "/" + isa).c_str(), bm_l2_block,
          config(isa, kCascadeOff + kFocusFirstEighth + pf, 16384), jitson::XbyakTuning{});
    }
    benchmark::RegisterBenchmark(("l2/focus_every_eighth_word_off/" + isa).c_str(), bm_l2_block,
                                 config(isa, kCascadeOff + every_eighth_word_focus() + pf0, 16384),
                                 jitson::XbyakTuning{});
  }
  if (jitson::isa_supported(Isa::avx512)) {
    jitson::XbyakTuning rolled;
    rolled.query_registers = 0;
    benchmark::RegisterBenchmark("l2/full_off_rolled_query_in_memory/avx512", bm_l2_block,
                                 config("avx512", kCascadeOff + pf0, 16384), rolled);
  }

  benchmark::RegisterBenchmark("read_bandwidth", bm_read_bandwidth)
      ->UseManualTime()
      ->Iterations(5)
      ->Unit(benchmark::kMillisecond);
  for (const auto &isa : isas) {
    for (const std::string variant : {"", "_pf0"}) {
      benchmark::RegisterBenchmark(("dram/full_off_top10" + variant + "/" + isa).c_str(),
                                   bm_dram_scan,
                                   config(isa, kCascadeOff + (variant.empty() ? "" : pf0), 16384))
          ->Iterations(6)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
#ifdef JITSON_HAVE_FAISS
  benchmark::RegisterBenchmark("dram/faiss_top10", bm_faiss, uint64_t{1})
      ->Iterations(2)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
#endif
  for (const auto &isa : isas) {
    benchmark::RegisterBenchmark(("cascade/exact_selective/" + isa).c_str(), bm_dram_scan,
                                 config(isa, "", kSelectiveMaxDistance))
        ->Iterations(6)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("cascade/exact_selective_pf64/" + isa).c_str(), bm_dram_scan,
                                 config(isa, ", \"prefetch_records\": 64", kSelectiveMaxDistance))
        ->Iterations(6)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("cascade/off_selective/" + isa).c_str(), bm_dram_scan,
                                 config(isa, kCascadeOff, kSelectiveMaxDistance))
        ->Iterations(6)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  for (const auto &isa : isas) {
    benchmark::RegisterBenchmark(("batch/ceiling/" + isa).c_str(), bm_pair_ceiling, isa)
        ->Iterations(5);
    benchmark::RegisterBenchmark(("batch/100q_top10/" + isa).c_str(), bm_batch,
                                 config(isa, kCascadeOff, 16384))
        ->Iterations(3)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
#ifdef JITSON_HAVE_FAISS
  benchmark::RegisterBenchmark("batch/faiss_100q_top10", bm_faiss, kBatchQueries)
      ->Iterations(1)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
#endif

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::printf("CPU: %s; DRAM database %llu records x %zu B = %.2f GB; arena mode %s\n",
              jitson::cpu_features().brand.c_str(),
              static_cast<unsigned long long>(dram_records("bench_jit")), kRecordBytes,
              double(dram_records("bench_jit") * kRecordBytes) / 1e9,
              jitson::to_string(arena().mode()));
  CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  print_summary(reporter);
  benchmark::Shutdown();
  return 0;
}
