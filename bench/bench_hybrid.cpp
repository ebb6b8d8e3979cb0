// Hybrid pipeline throughput (records per second) with and without the Tier-0 prefilter, and the
// cost of its parts: Tier-0 alone and the BF16 tail of 100 candidates per ISA.
//
// Data: SKU-16K records (2,048 bytes), mostly random (rarely a Hamming hit, like a real database)
// with 1% near copies of the query so the BF16 tail has work.
// Environment: JITSON_BENCH_HYBRID_RECORDS = records in the database (default 32,768 = 64 MiB).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "jitson/awareness.hpp"
#include "jitson/cpu.hpp"
#include "jitson/hybrid.hpp"
#include "support/bandwidth.hpp"

namespace {

using jitson::bench::AlignedBuffer;

constexpr size_t kRecordBytes = 2048;

uint64_t n_records() {
  if (const char *s = std::getenv("JITSON_BENCH_HYBRID_RECORDS")) {
    const unsigned long long n = std::strtoull(s, nullptr, 10);
    if (n > 0) return n;
    std::fprintf(stderr, "bench_hybrid: ignoring JITSON_BENCH_HYBRID_RECORDS=%s\n", s);
  }
  return 32768;
}

uint64_t splitmix(uint64_t &state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct Data {
  uint64_t n = n_records();
  AlignedBuffer query{kRecordBytes};
  AlignedBuffer records{n * kRecordBytes};
  Data() {
    uint64_t state = 42;
    for (size_t i = 0; i < kRecordBytes; i += 8) {
      const uint64_t z = splitmix(state);
      std::memcpy(query.data() + i, &z, 8);
    }
    for (uint64_t r = 0; r < n; ++r) {
      uint8_t *rec = records.data() + r * kRecordBytes;
      if (r % 100 == 7) {  // a near copy: a few hundred bits flipped
        std::memcpy(rec, query.data(), kRecordBytes);
        const int flips = int(splitmix(state) % 2000);
        for (int f = 0; f < flips; ++f) {
          const uint64_t bit = splitmix(state) % (kRecordBytes * 8);
          rec[bit / 8] ^= uint8_t(1u << (bit % 8));
        }
      } else {
        for (size_t i = 0; i < kRecordBytes; i += 8) {
          const uint64_t z = splitmix(state);
          std::memcpy(rec + i, &z, 8);
        }
      }
    }
  }
  jitson::DatabaseView view() const {
    return jitson::DatabaseView::rows(records.data(), n, kRecordBytes);
  }
  std::span<const uint8_t> q() const { return {query.data(), kRecordBytes}; }
};

const Data &data() {
  static const Data d;
  return d;
}

// args: tier0 (0 off, else the survivor fraction in percent), scan threads.
void BM_HybridPipeline(benchmark::State &state) {
  const Data &d = data();
  jitson::EngineOptions options;
  options.threads = unsigned(state.range(1));
  auto engine = std::make_shared<jitson::Engine>(options);
  jitson::HybridConfig c = jitson::HybridConfig::defaults(16384);
  if (state.range(0) > 0) {
    c.tier0.enabled = true;
    c.tier0.fraction = float(state.range(0)) / 100.0f;
  }
  jitson::HybridPipeline pipeline(c, engine);
  uint64_t scored = 0, pruned = 0;
  for (auto _ : state) {
    jitson::HybridResult r = pipeline.run(d.q(), d.view());
    benchmark::DoNotOptimize(r.scores.data());
    scored = r.stats.bf16_scored;
    pruned = r.stats.tier0.pruned_count;
  }
  state.SetItemsProcessed(int64_t(state.iterations() * d.n));
  state.SetBytesProcessed(int64_t(state.iterations() * d.n * kRecordBytes));
  state.counters["bf16_scored"] = double(scored);
  state.counters["tier0_pruned"] = double(pruned);
  state.SetLabel(pipeline.hamming_kernel().describe());
}
BENCHMARK(BM_HybridPipeline)
    ->ArgNames({"tier0_pct", "threads"})
    ->Args({0, 1})
    ->Args({25, 1})
    ->Args({5, 1})
    ->Args({0, 2})
    ->Args({25, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_Tier0(benchmark::State &state) {
  const Data &d = data();
  const auto isa = jitson::Isa(state.range(0));
  if (!jitson::isa_supported(isa)) {
    state.SkipWithError("ISA not supported on this CPU");
    return;
  }
  jitson::Tier0Config t;
  t.enabled = true;
  for (auto _ : state) {
    jitson::Tier0Stats stats;
    auto survivors = jitson::tier0_prefilter(d.q(), d.view(), t, stats, jitson::kernel_table(isa));
    benchmark::DoNotOptimize(survivors.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations() * d.n));
  state.SetBytesProcessed(int64_t(state.iterations() * d.n * kRecordBytes));
  state.SetLabel(jitson::isa_name(isa));
}
BENCHMARK(BM_Tier0)->ArgName("isa")->DenseRange(0, 2)->Unit(benchmark::kMillisecond);

void BM_Bf16Tail100(benchmark::State &state) {
  const Data &d = data();
  const auto isa = jitson::Isa(state.range(0));
  if (!jitson::isa_supported(isa)) {
    state.SkipWithError("ISA not supported on this CPU");
    return;
  }
  std::vector<uint64_t> indices;
  for (uint64_t i = 0; i < 100; ++i) indices.push_back((i * 7919) % d.n);
  for (auto _ : state) {
    auto tails = jitson::bf16_tail_batch(d.q(), d.view(), indices, jitson::BF16Weights::defaults(),
                                         {}, jitson::kernel_table(isa));
    benchmark::DoNotOptimize(tails.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations() * indices.size()));
  state.SetLabel(jitson::isa_name(isa));
}
BENCHMARK(BM_Bf16Tail100)->ArgName("isa")->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
