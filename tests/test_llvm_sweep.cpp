// The LLVM sweep (jit/llvm_sweep.cpp) against the runtime sweep (hits, count and every counter)
// and the oracle (exact plans): random plans on blocked databases of B = 64 with ranges that
// start mid-block (reserved > 0), start at later blocks and end inside a block, the payload
// ending against a guard page; avx512 and avx2 (no EVEX, no zmm or mask registers in avx2 code).
//   JITSON_LLVM_SWEEP_PLANS=N   random plans per ISA (default 400)
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "jit/backend.hpp"
#include "jit/llvm_jit.hpp"
#include "jitson/config.hpp"
#include "jitson/engine.hpp"
#include "jitson/error.hpp"
#include "jitson/layout.hpp"
#include "jitson/plan.hpp"
#include "support/guard_pages.hpp"
#include "support/oracle.hpp"
#include "support/random_plans.hpp"

namespace jitson {
namespace {

constexpr uint32_t kB = 64;
const Isa kIsas[] = {Isa::avx512, Isa::avx2};

LlvmJit &shared_jit() {
  static std::unique_ptr<LlvmJit> jit = LlvmJit::create();
  return *jit;
}

ScanPlan plan_of(const std::string &config) {
  try {
    return make_plan(parse_scan_config(config));
  } catch (const Error &e) {
    throw Error(e.kind(), std::string(e.what()) + " in config " + config);
  }
}

bool has_statistical_bound(const ScanPlan &plan) {
  return std::any_of(plan.cascade.stages.begin(), plan.cascade.stages.end(),
                     [](const CascadeStage &s) { return s.statistical_bound != UINT32_MAX; });
}

// One call of the LLVM sweep and of the runtime sweep on the same arguments; false (after
// reporting) on the first difference.
bool check_call(const ScanPlan &plan, BlockFn fn, const uint8_t *query, const uint8_t *rows,
                const uint8_t *payload, uint64_t first_block, uint64_t reserved, uint64_t end,
                uint64_t base, uint32_t limit, const std::string &what) {
  const uint32_t bytes = plan.record_bytes;
  const uint64_t first_record = first_block * kB;
  const uint64_t n_arg = end - first_record;
  const uint8_t *records = payload + first_block * kB * bytes;
  const std::string ctx = what + " first_block " + std::to_string(first_block) + " reserved " +
                          std::to_string(reserved) + " end " + std::to_string(end) + " limit " +
                          std::to_string(limit);

  std::vector<Hit> got(n_arg + 1), expected(n_arg + 1);
  uint64_t got_counters[kNumCounters] = {}, expected_counters[kNumCounters] = {};
  BlockArgs args{query,      records,      n_arg,  base + first_record, limit, uint32_t(reserved),
                 got.data(), got_counters, nullptr};
  const uint64_t n_got = fn(&args);
  args.out = expected.data();
  args.counters = expected_counters;
  args.context = &plan.cascade;
  const uint64_t n_expected = sweep_block_runtime(&args);
  got.resize(n_got);
  expected.resize(n_expected);
  EXPECT_EQ(got, expected) << ctx;
  for (int i = 0; i < kNumCounters; ++i)
    EXPECT_EQ(got_counters[i], expected_counters[i]) << ctx << " counter " << i;
  uint64_t visited = n_got;
  for (int s = 0; s < kMaxStages; ++s) visited += got_counters[s];
  EXPECT_EQ(visited, end - first_record - reserved) << ctx;

  if (!has_statistical_bound(plan)) {
    std::vector<Hit> all;
    if (limit > 0) {
      const uint64_t from = first_record + reserved;
      all = oracle::scan(query, rows + from * bytes, end - from, bytes,
                         testsupport::plan_mask(plan), limit - 1, uint32_t(end - from));
      std::sort(all.begin(), all.end(),
                [](const Hit &x, const Hit &y) { return x.index < y.index; });
      for (Hit &h : all) h.index += base + from;
    }
    EXPECT_EQ(got, all) << ctx << " (oracle)";
  }
  return !::testing::Test::HasFailure();
}

class LlvmSweep : public ::testing::TestWithParam<Isa> {};

TEST_P(LlvmSweep, RandomPlansMatchRuntimeSweepAndOracle) {
  const Isa isa = GetParam();
  const uint64_t plans = testsupport::env_u64("JITSON_LLVM_SWEEP_PLANS", 400);
  LlvmJit &jit = shared_jit();
  double slowest_ms = 0, total_ms = 0;
  for (uint64_t p = 0; p < plans; ++p) {
    const uint64_t seed = 7700 + p * 3 + uint64_t(isa);
    std::mt19937_64 rng(seed);
    const std::string config = testsupport::random_config(rng, isa, "llvm");
    ScanPlan plan = plan_of(config);
    ASSERT_EQ(plan.isa, isa);
    ASSERT_EQ(plan.cascade.block_records, kB);
    testsupport::mutate_plan(rng, plan, /*shuffle_segments=*/rng() % 2 == 0);
    // CPU time (the machine is shared): reported, never asserted.
    const std::clock_t t0 = std::clock();
    std::shared_ptr<CompiledCode> code = compile_llvm_sweep(plan, jit);
    const double ms = 1000.0 * double(std::clock() - t0) / CLOCKS_PER_SEC;
    slowest_ms = std::max(slowest_ms, ms);
    total_ms += ms;

    const uint32_t bytes = plan.record_bytes;
    std::vector<uint8_t> query(bytes);
    for (auto &b : query) b = uint8_t(rng());
    // Whole databases of a few blocks; the record count is never a multiple of B.
    const uint64_t max_n = bytes >= 2048 ? 3 * kB : 5 * kB;
    uint64_t n = 1 + rng() % max_n;
    if (n % kB == 0) n += 1 + rng() % (kB - 1);
    std::vector<uint8_t> rows(n * bytes);
    testsupport::fill_records(rng, query.data(), rows.data(), n, bytes);
    const DatabaseView row_view = DatabaseView::rows(rows.data(), n, bytes);
    const uint64_t n_blocks = (n + kB - 1) / kB;
    const size_t payload_bytes = size_t(n_blocks) * kB * bytes;
    testsupport::GuardedRegion region(payload_bytes);
    uint8_t *payload = region.back(payload_bytes);  // the last block ends at a guard page
    to_blocked(row_view, kB, payload);

    const std::string what =
        "seed " + std::to_string(seed) + " n " + std::to_string(n) + " config " + config;
    for (int call = 0; call < 4; ++call) {
      const uint64_t first_block = call == 0 ? 0 : rng() % n_blocks;
      const uint64_t in_first = std::min<uint64_t>(kB, n - first_block * kB);
      const uint64_t reserved = call == 0 ? 0 : rng() % in_first;
      const uint64_t from = first_block * kB + reserved;
      const uint64_t end = call < 2 ? n : from + 1 + rng() % (n - from);
      const uint64_t base = rng() % 2 ? rng() % (uint64_t{1} << 40) : rng() % 1000;
      const uint32_t limit = testsupport::pick_limit(rng, plan);
      if (!check_call(plan, code->entry(), query.data(), rows.data(), payload, first_block,
                      reserved, end, base, limit, what))
        return;
    }
  }
  std::printf("llvm sweep %s: %llu plans, compile CPU %.2f ms mean, %.2f ms slowest\n",
              isa_name(isa), (unsigned long long)plans, total_ms / double(plans), slowest_ms);
}

INSTANTIATE_TEST_SUITE_P(Isas, LlvmSweep, ::testing::ValuesIn(kIsas),
                         [](const auto &info) { return std::string(isa_name(info.param)); });

// Counts names of AVX-512 registers (zmm*, k1..k7) in disassembly text.
size_t avx512_register_names(const std::string &text) {
  size_t found = 0;
  for (size_t at = text.find("zmm"); at != std::string::npos; at = text.find("zmm", at + 1))
    ++found;
  for (size_t at = 0; at + 1 < text.size(); ++at) {
    if (text[at] != 'k' || text[at + 1] < '1' || text[at + 1] > '7') continue;
    const bool starts = at == 0 || !std::isalnum(static_cast<unsigned char>(text[at - 1]));
    const bool ends =
        at + 2 >= text.size() || !std::isalnum(static_cast<unsigned char>(text[at + 2]));
    if (starts && ends) ++found;
  }
  return found;
}

// AVX2 sweeps carry no AVX-512 register; the same check finds them in AVX-512 sweeps.
TEST(LlvmSweepCode, Avx2HasNoAvx512Registers) {
  LlvmJit &jit = shared_jit();
  for (const char *extra :
       {"", ", \"cascade\": {\"mode\": \"off\"}",
        ", \"cascade\": {\"mode\": \"statistical\", \"safety_margin\": 1.0}",
        ", \"focus\": {\"ranges\": [[3, 60], [128, 1000]], \"bits\": [1500]}"}) {
    for (Isa isa : kIsas) {
      const std::string config = std::string("{\"version\": 1, \"record_bits\": 2048, ") +
                                 "\"max_distance\": 100, \"backend\": \"llvm\", \"isa\": \"" +
                                 isa_name(isa) + "\"" + extra + "}";
      ScanPlan plan = plan_of(config);
      auto code = compile_llvm_sweep(plan, jit);
      const std::string text = disassemble(code->code_address(), code->code_bytes(),
                                           isa == Isa::avx2 ? "avx2" : "avx512");
      ASSERT_NE(text.find("ret"), std::string::npos) << config << "\n" << text;
      if (isa == Isa::avx2) {
        EXPECT_EQ(avx512_register_names(text), 0u) << config << "\n" << text;
        EXPECT_NE(text.find("vpshufb"), std::string::npos) << config;
      } else {
        EXPECT_GT(avx512_register_names(text), 0u) << config;
        EXPECT_NE(text.find("vpopcntq"), std::string::npos) << config;
      }
    }
  }
}

// The engine builds its llvm sweeps with this generator, and its scans equal the oracle.
TEST(LlvmSweepEngine, EngineUsesTheLlvmSweep) {
  const uint32_t bits = 1024, bytes = bits / 8;
  const uint64_t n = 1000;
  std::mt19937_64 rng(5);
  std::vector<uint8_t> query(bytes), rows(n * bytes);
  for (auto &b : query) b = uint8_t(rng());
  testsupport::fill_records(rng, query.data(), rows.data(), n, bytes);
  BlockedDatabase blocked(DatabaseView::rows(rows.data(), n, bytes), kB);
  Engine engine;
  for (Isa isa : kIsas) {
    auto k = engine.compile(std::string("{\"version\": 1, \"record_bits\": 1024, ") +
                            "\"max_distance\": 200, \"top_k\": 1000, \"backend\": \"llvm\", " +
                            "\"layout\": \"blocked\", \"isa\": \"" + isa_name(isa) + "\"}");
    ASSERT_EQ(k->sweep_backend(), Backend::llvm) << k->describe();
    const auto expected = oracle::scan(query.data(), rows.data(), n, bytes, {}, 200, 1000);
    ASSERT_FALSE(expected.empty());
    EXPECT_EQ(k->scan(query.data(), blocked.view()).hits, expected) << k->describe();
  }
}

}  // namespace
}  // namespace jitson
