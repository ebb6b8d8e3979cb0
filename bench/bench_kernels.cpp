// Hamming kernel throughput per ISA, in L2 and from DRAM, against the machine's read bandwidth
// measured in the same run, and FAISS IndexBinaryFlat top-10 against jitson's runtime scan.
//
// Environment: JITSON_BENCH_RECORDS = records of 2,048 bytes in the DRAM database (default
// 1,048,576 = 2 GiB; the DRAM figures need a database far larger than the last-level cache).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "jitson/cpu.hpp"
#include "jitson/database.hpp"
#include "jitson/kernels.hpp"
#include "jitson/scan.hpp"
#include "support/bandwidth.hpp"
#include "support/bench_data.hpp"

#ifdef JITSON_HAVE_FAISS
#include <faiss/IndexBinaryFlat.h>
#endif

namespace {

using jitson::Isa;
using namespace jitson::bench;

// The DRAM database (built on first use only, so filtered runs stay small), no planted records.
struct Database : DramDatabase {
  std::vector<uint32_t> distances = std::vector<uint32_t>(n_records);
  Database() : DramDatabase(dram_records("bench_kernels"), 0) {}
};

Database &database() {
  static Database d;
  return d;
}

void bm_hamming_l2(benchmark::State &state, Isa isa) {
  const jitson::KernelTable &k = jitson::kernel_table(isa);
  SmallData &d = small_data();
  uint32_t out[kL2Records];
  for (auto _ : state) {
    k.hamming_many(d.query.data(), d.records.data(), kRecordBytes, kL2Records, kRecordBytes, out);
    benchmark::DoNotOptimize(out);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kL2Records * kRecordBytes));
}

void bm_hamming_dram(benchmark::State &state, Isa isa) {
  const jitson::KernelTable &k = jitson::kernel_table(isa);
  Database &db = database();
  const uint8_t *query = small_data().query.data();
  for (auto _ : state) {
    k.hamming_many(query, db.bytes.data(), kRecordBytes, db.n_records, kRecordBytes,
                   db.distances.data());
    benchmark::DoNotOptimize(db.distances.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(db.bytes.size()));
}

// The machine's read bandwidth over the same database buffer, timed by bandwidth.cpp itself in
// the reading threads' CPU time (the clock of the kernel benchmarks); wall-clock as a counter.
void bm_read_bandwidth(benchmark::State &state) {
  Database &db = database();
  const int threads = int(state.range(0));
  double wall_gbs = 0;
  for (auto _ : state) {
    const ReadBandwidth bw = measure_read_bandwidth(db.bytes.data(), db.bytes.size(), threads, 1);
    state.SetIterationTime(double(db.bytes.size()) / (bw.cpu_gbs * 1e9));
    wall_gbs += bw.wall_gbs;
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(db.bytes.size()));
  state.counters["wall_GBps"] = wall_gbs / double(state.iterations());
}

// jitson's runtime scan: exact top-10 over the whole database, one thread.
void bm_jitson_scan_top10(benchmark::State &state) {
  Database &db = database();
  const uint8_t *query = small_data().query.data();
  jitson::ScanResult result;
  for (auto _ : state) {
    result = jitson::scan_runtime(query, db.view(), {}, UINT32_MAX, kTopK, 1);
    benchmark::DoNotOptimize(result.hits.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(db.bytes.size()));
  if (!result.hits.empty()) state.counters["best_distance"] = result.hits.front().distance;
}

#ifdef JITSON_HAVE_FAISS
// FAISS keeps its own copy of the codes (IndexBinaryFlat::xb), built once.
faiss::IndexBinaryFlat &faiss_index() {
  static std::unique_ptr<faiss::IndexBinaryFlat> index = [] {
    Database &db = database();
    auto idx = std::make_unique<faiss::IndexBinaryFlat>(int(kRecordBytes * 8));
    idx->add(faiss::IndexBinary::idx_t(db.n_records), db.bytes.data());
    return idx;
  }();
  return *index;
}

void bm_faiss_top10(benchmark::State &state) {
  Database &db = database();
  const uint8_t *query = small_data().query.data();
  faiss::IndexBinaryFlat &index = faiss_index();
  int32_t distances[kTopK];
  faiss::IndexBinary::idx_t labels[kTopK];
  for (auto _ : state) {
    index.search(1, query, kTopK, distances, labels);
    benchmark::DoNotOptimize(distances);
    benchmark::DoNotOptimize(labels);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(db.bytes.size()));
  state.counters["best_distance"] = distances[0];
  // The same answer as jitson, or the comparison is meaningless.
  const jitson::ScanResult ours = jitson::scan_runtime(query, db.view(), {}, UINT32_MAX, kTopK, 1);
  if (!same_top_distances(distances, kTopK, ours.hits)) {
    state.SkipWithError("FAISS and jitson top-10 distances differ");
  }
}
#endif

// Console output as usual, plus the bytes/s of every run kept for the summary table.
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run> &runs) override {
    for (const Run &run : runs) {
      if (run.run_type != Run::RT_Iteration || run.error_occurred) continue;
      const auto it = run.counters.find("bytes_per_second");
      if (it != run.counters.end()) gbs[run.benchmark_name()] = it->second.value / 1e9;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  std::map<std::string, double> gbs;
};

void print_summary(const std::map<std::string, double> &gbs) {
  auto find = [&](const std::string &prefix) -> double {
    for (const auto &[name, value] : gbs) {
      if (name.rfind(prefix, 0) == 0) return value;
    }
    return 0;
  };
  const double bw1 = find("read_bandwidth/threads:1");
  std::printf("\nSummary (GB/s = 1e9 bytes per CPU second; single-core read bandwidth %.1f GB/s)\n",
              bw1);
  std::printf("%-28s %10s %14s %10s\n", "benchmark", "GB/s", "vs bandwidth", "target");
  for (Isa isa : {Isa::avx512, Isa::avx2, Isa::scalar}) {
    if (!jitson::isa_supported(isa)) continue;
    const std::string name = jitson::isa_name(isa);
    const double dram = find("hamming_dram/" + name);
    const double l2 = find("hamming_l2/" + name);
    const char *dram_target = isa == Isa::avx512 ? ">= 0.90" : isa == Isa::avx2 ? ">= 0.85" : "-";
    if (dram > 0 && bw1 > 0) {
      std::printf("%-28s %10.1f %14.2f %10s\n", ("hamming_dram/" + name).c_str(), dram, dram / bw1,
                  dram_target);
    }
    if (l2 > 0) {
      std::printf("%-28s %10.1f %14s %10s\n", ("hamming_l2/" + name).c_str(), l2, "(in L2)",
                  isa == Isa::avx512 ? ">= 150" : "-");
    }
  }
  const double ours = find("jitson_scan_top10");
  const double faiss = find("faiss_binary_flat_top10");
  if (ours > 0 && bw1 > 0) {
    std::printf("%-28s %10.1f %14.2f\n", "jitson_scan_top10", ours, ours / bw1);
  }
  if (faiss > 0 && bw1 > 0) {
    std::printf("%-28s %10.1f %14.2f\n", "faiss_binary_flat_top10", faiss, faiss / bw1);
  }
  if (ours > 0 && faiss > 0) std::printf("jitson scan / FAISS: %.2fx\n", ours / faiss);
}

}  // namespace

// Rates are per CPU second of the measuring thread (Google Benchmark's default for the kernels,
// thread CPU time in bandwidth.cpp), so that the ratios stay meaningful on a shared machine; on
// an idle one they equal wall-clock rates (the Time column, and read_bandwidth's wall_GBps).
int main(int argc, char **argv) {
  for (Isa isa : {Isa::avx512, Isa::avx2, Isa::scalar}) {
    if (!jitson::isa_supported(isa)) continue;
    const std::string name = jitson::isa_name(isa);
    benchmark::RegisterBenchmark(("hamming_l2/" + name).c_str(), bm_hamming_l2, isa);
  }
  benchmark::RegisterBenchmark("read_bandwidth", bm_read_bandwidth)
      ->ArgName("threads")
      ->Arg(1)
      ->Arg(2)
      ->UseManualTime()
      ->Iterations(7)
      ->Unit(benchmark::kMillisecond);
  for (Isa isa : {Isa::avx512, Isa::avx2, Isa::scalar}) {
    if (!jitson::isa_supported(isa)) continue;
    const std::string name = jitson::isa_name(isa);
    benchmark::RegisterBenchmark(("hamming_dram/" + name).c_str(), bm_hamming_dram, isa)
        ->Iterations(isa == Isa::scalar ? 2 : 10)
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RegisterBenchmark("jitson_scan_top10", bm_jitson_scan_top10)
      ->Iterations(10)
      ->Unit(benchmark::kMillisecond);
#ifdef JITSON_HAVE_FAISS
  benchmark::RegisterBenchmark("faiss_binary_flat_top10", bm_faiss_top10)
      ->Iterations(3)
      ->Unit(benchmark::kMillisecond);
#else
  std::printf("FAISS not found at configure time: faiss_binary_flat_top10 not built\n");
#endif

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::printf("CPU: %s; runtime ISA %s; database %llu records x %zu B = %.2f GB\n",
              jitson::cpu_features().brand.c_str(), jitson::isa_name(jitson::active_isa()),
              static_cast<unsigned long long>(dram_records("bench_kernels")), kRecordBytes,
              double(dram_records("bench_kernels") * kRecordBytes) / 1e9);
  CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  print_summary(reporter.gbs);
  benchmark::Shutdown();
  return 0;
}
