// The gather entry of Xbyak row kernels (Kernel::gather_function): one call over records
// scattered in memory must return exactly what the row entry returns for the same records laid
// out contiguously (hits, their order and every counter), and read nothing but the records and
// the n_records pointers to them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "jitson/cpu.hpp"
#include "jitson/engine.hpp"
#include "support/guard_pages.hpp"
#include "support/random_plans.hpp"

namespace jitson {
namespace {

using testsupport::GuardedRegion;

struct Call {
  uint64_t got = 0;
  std::vector<Hit> hits;
  std::vector<uint64_t> counters;
};

Call call(BlockFn fn, const void *context, const uint8_t *query, const uint8_t *records, uint64_t n,
          uint64_t base_index, uint32_t limit) {
  Call c;
  c.hits.assign(n, Hit{});
  c.counters.assign(kNumCounters, 0);
  BlockArgs args{query,         records,           n,      base_index, limit, 0,
                 c.hits.data(), c.counters.data(), context};
  c.got = fn(&args);
  c.hits.resize(c.got);
  return c;
}

std::string config(std::mt19937_64 &rng, uint32_t bits, Isa isa) {
  std::string c = R"({"version": 1, "record_bits": )" + std::to_string(bits);
  const std::string focus = testsupport::random_focus(rng, bits);
  if (!focus.empty()) c += R"(, "focus": )" + focus;
  if (rng() % 4 == 0) c += R"(, "cascade": {"mode": "off"})";
  return c + R"(, "top_k": 10, "backend": "xbyak", "isa": ")" + isa_name(isa) + "\"}";
}

TEST(GatherEntry, ScatteredRecordsEqualTheRowEntryOnEveryIsa) {
  Engine engine;
  int checked = 0;
  for (Isa isa : {Isa::avx512, Isa::avx2}) {
    if (!isa_supported(isa)) continue;
    for (uint64_t seed = 0; seed < 120; ++seed) {
      std::mt19937_64 rng(seed * 31 + uint64_t(isa));
      static const uint32_t sizes[] = {64, 128, 576, 1024, 2048, 16384};
      const uint32_t bits = sizes[rng() % std::size(sizes)];
      const uint32_t bytes = bits / 8;
      const std::string cfg = config(rng, bits, isa);
      auto kernel = engine.compile(cfg);
      ASSERT_EQ(kernel->backend(), Backend::xbyak) << cfg;
      const BlockFn gather = kernel->gather_function();
      ASSERT_NE(gather, nullptr) << cfg;
      const uint64_t n = rng() % (bits >= 16384 ? 40 : 300);
      std::vector<uint8_t> query(bytes), rows(n * bytes);
      for (auto &b : query) b = uint8_t(rng());
      for (auto &b : rows) b = uint8_t(rng());
      // Some records close to the query, so that every stage keeps some and rejects some.
      for (uint64_t i = 0; i < n; ++i) {
        if (rng() % 3) continue;
        for (uint32_t j = 0; j < bytes; ++j) {
          if (rng() % 8) rows[i * bytes + j] = query[j];
        }
      }
      // The records in one guarded region, each at its own misaligned place, placed last first
      // so that memory order is not index order; the last placed ends flush with the guard.
      const uint32_t gap = 1 + uint32_t(rng() % 63);
      GuardedRegion records_region(n * (bytes + 64) + 64);
      std::vector<const uint8_t *> places(n);
      uint8_t *at = records_region.back(0);
      for (uint64_t i = 0; i < n; ++i) {
        at -= bytes;
        std::memcpy(at, &rows[i * bytes], bytes);
        places[i] = at;
        at -= gap;
      }
      // The pointers flush with a guard page too: the entry reads exactly n of them.
      GuardedRegion pointer_region(n * sizeof(const uint8_t *) + 8);
      auto *pointers =
          reinterpret_cast<const uint8_t **>(pointer_region.back(n * sizeof(const uint8_t *)));
      std::copy(places.begin(), places.end(), pointers);
      const uint64_t base_index = rng() % 1000;
      const uint32_t limit = uint32_t(rng() % (bits + 2));
      const Call want = call(kernel->block_function(), kernel->block_context(), query.data(),
                             rows.data(), n, base_index, limit);
      // reinterpret_cast: the gather entry reads BlockArgs.records as the record pointers.
      const Call got = call(gather, nullptr, query.data(),
                            reinterpret_cast<const uint8_t *>(pointers), n, base_index, limit);
      ASSERT_EQ(got.got, want.got) << cfg << " n " << n << " limit " << limit;
      for (uint64_t h = 0; h < want.got; ++h) {
        ASSERT_EQ(got.hits[h].index, want.hits[h].index) << cfg << " hit " << h;
        ASSERT_EQ(got.hits[h].distance, want.hits[h].distance) << cfg << " hit " << h;
      }
      EXPECT_EQ(got.counters, want.counters) << cfg << " n " << n << " limit " << limit;
      ++checked;
    }
  }
  if (checked == 0) GTEST_SKIP() << "this CPU runs neither AVX-512 nor AVX2 code";
}

TEST(GatherEntry, NoRecordsReadsNothing) {
  Engine engine;
  for (Isa isa : {Isa::avx512, Isa::avx2}) {
    if (!isa_supported(isa)) continue;
    auto kernel =
        engine.compile(std::string(R"({"version": 1, "record_bits": 2048, "top_k": 3, )") +
                       R"("backend": "xbyak", "isa": ")" + isa_name(isa) + "\"}");
    std::vector<uint8_t> query(256, 0xA5);
    GuardedRegion nothing(64);
    // records points at the guard page: an entry that read a pointer would fault.
    const Call c =
        call(kernel->gather_function(), nullptr, query.data(), nothing.back(0), 0, 0, 2049);
    EXPECT_EQ(c.got, 0u);
    EXPECT_EQ(c.counters, std::vector<uint64_t>(kNumCounters, 0));
  }
}

TEST(GatherEntry, OnlyXbyakHammingKernelsHaveOne) {
  Engine engine;
  auto runtime = engine.compile(R"({"version": 1, "record_bits": 2048, "backend": "runtime"})");
  EXPECT_EQ(runtime->gather_function(), nullptr);
  if (!isa_supported(Isa::avx2)) GTEST_SKIP() << "this CPU runs no Xbyak code";
  // Tanimoto kernels have none: the generator refuses, and the feed calls the row entry.
  auto tanimoto = engine.compile(
      R"({"version": 1, "record_bits": 2048, "metric": "tanimoto", "backend": "xbyak"})");
  ASSERT_EQ(tanimoto->backend(), Backend::xbyak);
  EXPECT_EQ(tanimoto->gather_function(), nullptr);
  // Made at the first call, then the same entry, and counted in the kernel's code bytes.
  auto hamming = engine.compile(R"({"version": 1, "record_bits": 2048, "backend": "xbyak"})");
  ASSERT_EQ(hamming->backend(), Backend::xbyak);
  const size_t before = hamming->code_bytes();
  const BlockFn first = hamming->gather_function();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(hamming->gather_function(), first);
  EXPECT_GT(hamming->code_bytes(), before);
}

}  // namespace
}  // namespace jitson
