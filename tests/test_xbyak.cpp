// The Xbyak backend against the runtime interpreter (scan_block_runtime) and the scalar oracle:
// hits, every counter, for thousands of random plans built through parse_scan_config +
// make_plan, on both ISAs; guard pages on every side of the query and the records; W^X.
//   JITSON_XBYAK_PLANS=N   random plans per ISA (default 2500)
//   JITSON_XBYAK_SEED=S    base seed (default 7)
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "jit/backend.hpp"
#include "jit/code_arena.hpp"
#include "jit/xbyak_scan.hpp"
#include "jitson/config.hpp"
#include "jitson/error.hpp"
#include "jitson/plan.hpp"
#include "support/oracle.hpp"
#include "support/random_plans.hpp"

namespace jitson {
namespace {

using namespace testsupport;

std::vector<Isa> isas_to_test() {
  // Both ISAs are forced through the config; a CPU without one of them fails loudly.
  return {Isa::avx512, Isa::avx2};
}

constexpr BackendUnderTest kBackend{"xbyak", /*shuffle_segments=*/true};

XbyakTuning random_tuning(std::mt19937_64 &rng);

class XbyakDifferential : public ::testing::TestWithParam<Isa> {};

TEST_P(XbyakDifferential, RandomPlansMatchRuntimeAndOracle) {
  const Isa isa = GetParam();
  const uint64_t plans = env_u64("JITSON_XBYAK_PLANS", 2500);
  const uint64_t seed0 = env_u64("JITSON_XBYAK_SEED", 7) * 1000003 + uint64_t(isa);
  CodeArena arena;
  uint64_t failures = 0;
  for (uint64_t p = 0; p < plans && failures < 5; ++p) {
    std::mt19937_64 rng(seed0 + p);
    const std::string config = kBackend.random_config(rng, isa);
    ScanPlan plan = make_plan(parse_scan_config(config));
    ASSERT_EQ(plan.isa, isa);
    kBackend.mutate_plan(rng, plan);
    std::shared_ptr<CompiledCode> code =
        rng() % 4 ? compile_xbyak(plan, arena) : compile_xbyak(plan, arena, random_tuning(rng));
    const std::string what = "seed " + std::to_string(seed0 + p) + " config " + config;
    if (!kBackend.check_random_blocks(rng, plan, code->entry(), what)) ++failures;
  }
  EXPECT_EQ(failures, 0u);
}

INSTANTIATE_TEST_SUITE_P(Isas, XbyakDifferential, ::testing::ValuesIn(isas_to_test()),
                         [](const auto &info) { return std::string(isa_name(info.param)); });

// Every example config, through the whole top-k driver, against the oracle.
TEST(Xbyak, ScanWithMatchesOracleOnExampleShapes) {
  CodeArena arena;
  std::mt19937_64 rng(99);
  for (Isa isa : isas_to_test()) {
    for (const char *extra :
         {"", ", \"cascade\": {\"mode\": \"off\"}", ", \"focus\": {\"ranges\": [[0, 2048]]}",
          ", \"cascade\": {\"mode\": \"exact\", \"stages\": [64, 128]}",
          ", \"focus\": {\"ranges\": [[0, 512], [4096, 5120], [8192, 8448]], \"bits\": [12288, "
          "12352, 12416, 12480]}"}) {
      const std::string config = std::string(
                                     "{\"version\": 1, \"record_bits\": 16384, "
                                     "\"max_distance\": 7000, \"top_k\": 7, \"isa\": \"") +
                                 isa_name(isa) + "\"" + extra + "}";
      ScanPlan plan = make_plan(parse_scan_config(config));
      auto code = compile_xbyak(plan, arena);
      const ScanInputs in = random_scan_inputs(rng, plan, 3000, 100);
      const ScanRequest &req = in.request;
      const uint8_t *query = in.query.data();
      ScanResult got = scan_with(code->entry(), nullptr, query, in.view(), req);
      std::vector<uint64_t> mask = plan_mask(plan);
      auto want = oracle::scan(query, in.records.data(), in.n_records, 2048, mask, req.max_distance,
                               req.top_k);
      EXPECT_EQ(got.hits, want) << config;
      ScanResult rt = scan_with(scan_block_runtime, &plan.cascade, query, in.view(), req);
      EXPECT_EQ(got.stats.rejected_by_stage, rt.stats.rejected_by_stage) << config;
      EXPECT_EQ(got.stats.words_read, rt.stats.words_read) << config;
      EXPECT_EQ(got.stats.hits, rt.stats.hits) << config;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Guard pages: nothing outside query[0, record_bytes) and the block's records is read.

TEST(Xbyak, GuardPagesAroundQueryAndRecords) {
  CodeArena arena;
  std::mt19937_64 rng(5);
  const uint32_t sizes[] = {64, 128, 192, 448, 512, 576, 640, 704, 1088, 2048, 16384, 65536};
  int checked = 0;
  for (Isa isa : isas_to_test()) {
    for (uint32_t bits : sizes) {
      const uint32_t bytes = bits / 8;
      for (int v = 0; v < 6; ++v) {
        for (const char *cascade : {"{\"mode\": \"off\"}", "{\"mode\": \"exact\"}",
                                    "{\"mode\": \"exact\", \"stages\": [1, 2, 3]}"}) {
          const std::string config =
              "{\"version\": 1, \"record_bits\": " + std::to_string(bits) +
              ", \"max_distance\": " + std::to_string(bits) + ", \"isa\": \"" + isa_name(isa) +
              "\", \"prefetch_records\": 3, \"cascade\": " + cascade + focus_variant(v, bits) + "}";
          ScanPlan plan = make_plan(parse_scan_config(config));
          auto code = compile_xbyak(plan, arena);
          // 7: the per-record loop only; 16: two groups of 8 (single-stage AVX-512 plans).
          for (uint64_t n :
               {uint64_t{bytes >= 8192 ? 3u : 7u}, uint64_t{bytes >= 8192 ? 1u : 16u}}) {
            checked += kBackend.check_block_at_guard_pages(rng, plan, code->entry(), n, config);
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 0);
}

// ---------------------------------------------------------------------------------------------

bool any_writable_and_executable_mapping(std::string &offender) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms;
    in >> range >> perms;
    if (perms.size() >= 3 && perms[1] == 'w' && perms[2] == 'x') {
      offender = line;
      return true;
    }
  }
  return false;
}

std::string mapping_of(const void *p) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto addr = reinterpret_cast<uintptr_t>(p);  // address comparison only
  while (std::getline(maps, line)) {
    uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) == 2 && addr >= lo && addr < hi) {
      return line;
    }
  }
  return "";
}

TEST(Xbyak, CodeIsNeverWritableAndExecutable) {
  for (bool dual : {true, false}) {
    CodeArena::Options options;
    options.allow_dual_mapping = dual;
    CodeArena arena(options);
    std::vector<std::shared_ptr<CompiledCode>> kept;
    for (Isa isa : isas_to_test()) {
      for (const char *bits : {"64", "576", "16384", "65536"}) {
        const std::string config = std::string("{\"version\": 1, \"record_bits\": ") + bits +
                                   ", \"max_distance\": 10, \"isa\": \"" + isa_name(isa) + "\"}";
        kept.push_back(compile_xbyak(make_plan(parse_scan_config(config)), arena));
      }
    }
    std::string offender;
    EXPECT_FALSE(any_writable_and_executable_mapping(offender)) << offender;
    for (auto &code : kept) {
      std::string m = mapping_of(code->code_address());
      ASSERT_FALSE(m.empty());
      std::istringstream in(m);
      std::string range, perms;
      in >> range >> perms;
      EXPECT_EQ(perms.substr(0, 3), "r-x") << m;
    }
  }
}

TEST(Xbyak, CodeIsPositionIndependent) {
  CodeArena arena;
  std::mt19937_64 rng(11);
  for (Isa isa : isas_to_test()) {
    const std::string config =
        std::string("{\"version\": 1, \"record_bits\": 2112, \"max_distance\": 900, \"isa\": \"") +
        isa_name(isa) +
        "\", \"focus\": {\"ranges\": [[3, 700], [1000, 1900]], \"bits\": [2111]}, "
        "\"cascade\": {\"mode\": \"statistical\", \"stages\": [2, 5]}}";
    ScanPlan plan = make_plan(parse_scan_config(config));
    auto code = compile_xbyak(plan, arena);
    // A byte copy at another address (and in another arena) must behave the same.
    CodeArena other;
    std::vector<uint8_t> padding(4096, 0xCC);
    const uint8_t *pad = other.install(padding.data(), 64 * 7);
    const uint8_t *copy = other.install(code->code_address(), code->code_bytes());
    ASSERT_NE(copy, code->code_address());
    // reinterpret_cast: copy holds the same position-independent BlockFn bytes.
    BlockFn moved = reinterpret_cast<BlockFn>(const_cast<uint8_t *>(copy));
    std::vector<uint8_t> query(264), records(264 * 40);
    for (auto &b : query) b = uint8_t(rng());
    fill_records(rng, query.data(), records.data(), 40, 264);
    for (uint32_t limit : {0u, 300u, 1500u}) {
      EXPECT_TRUE(
          kBackend.check_block(plan, moved, query.data(), records.data(), 40, 17, limit, config));
    }
    other.free(copy);
    other.free(pad);
  }
}

TEST(Xbyak, ScalarPlansAreRejected) {
  ScanPlan plan = make_plan(parse_scan_config(
      "{\"version\": 1, \"record_bits\": 512, \"max_distance\": 10, \"isa\": \"scalar\", "
      "\"backend\": \"runtime\"}"));
  CodeArena arena;
  try {
    compile_xbyak(plan, arena);
    FAIL() << "scalar plan compiled";
  } catch (const Error &e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported);
    EXPECT_NE(std::string(e.what()).find("avx512 or avx2"), std::string::npos) << e.what();
  }
}

TEST(Xbyak, CodeOutlivesItsArenaHandle) {
  std::shared_ptr<CompiledCode> code;
  ScanPlan plan = make_plan(parse_scan_config(
      "{\"version\": 1, \"record_bits\": 1024, \"max_distance\": 1024, \"cascade\": {\"mode\": "
      "\"off\"}}"));
  {
    CodeArena arena;
    code = compile_xbyak(plan, arena);
  }
  std::vector<uint8_t> query(128, 0x0F), records(128 * 3, 0xF0);
  EXPECT_TRUE(kBackend.check_block(plan, code->entry(), query.data(), records.data(), 3, 0, 1025,
                                   "outlive"));
}

// Tuning knobs change the code shape, never the result.
XbyakTuning random_tuning(std::mt19937_64 &rng) {
  XbyakTuning t;
  t.query_registers = uint32_t(rng() % 26);
  t.loop_min_chunks = rng() % 3 ? uint32_t(rng() % 40) : 1000000;
  t.max_prefetch_lines = uint32_t(rng() % 12);
  t.group_max_chunks = rng() % 3 ? uint32_t(rng() % 20) : uint32_t(rng() % 200);
  return t;
}

TEST(Xbyak, TuningVariantsAgree) {
  CodeArena arena;
  std::mt19937_64 rng(23);
  const XbyakTuning fixed[] = {
      {0, 8, 0, 0}, {24, 1000000, 64, 16}, {4, 16, 2, 1}, {1, 9, 1, 128}, {0, 8, 8, 1000}};
  for (Isa isa : isas_to_test()) {
    for (int p = 0; p < 200; ++p) {
      const std::string config = kBackend.random_config(rng, isa);
      ScanPlan plan = make_plan(parse_scan_config(config));
      kBackend.mutate_plan(rng, plan);
      const uint32_t bytes = plan.record_bytes;
      std::vector<uint8_t> query(bytes);
      for (auto &b : query) b = uint8_t(rng());
      const uint64_t n = bytes >= 8192 ? 9 : 21;
      std::vector<uint8_t> records(n * bytes);
      fill_records(rng, query.data(), records.data(), n, bytes);
      std::vector<XbyakTuning> variants(std::begin(fixed), std::end(fixed));
      for (int i = 0; i < 4; ++i) variants.push_back(random_tuning(rng));
      for (const XbyakTuning &t : variants) {
        auto code = compile_xbyak(plan, arena, t);
        for (uint32_t limit : {0u, pick_limit(rng, plan), plan.focus_bits + 1}) {
          ASSERT_TRUE(kBackend.check_block(
              plan, code->entry(), query.data(), records.data(), n, 5, limit,
              config + " tuning " + std::to_string(t.query_registers) + "," +
                  std::to_string(t.loop_min_chunks) + "," + std::to_string(t.max_prefetch_lines) +
                  "," + std::to_string(t.group_max_chunks)));
        }
      }
    }
  }
}

// Single-stage kernels prefetch each line they load, once per record (a stream prefetch);
// multi-stage kernels only the lines of their probe stages; prefetch_records 0 means none.
TEST(Xbyak, PrefetchesFollowThePlan) {
  CodeArena arena;
  auto prefetches = [&](Isa isa, const std::string &members) {
    const std::string config = std::string("{\"version\": 1, \"record_bits\": 16384, ") +
                               "\"max_distance\": 10, \"isa\": \"" + isa_name(isa) + "\"" +
                               members + "}";
    auto code = compile_xbyak(make_plan(parse_scan_config(config)), arena);
    const std::string text = disassemble(code->code_address(), code->code_bytes(), isa_name(isa));
    size_t count = 0;
    for (size_t at = text.find("prefetcht0"); at != std::string::npos;
         at = text.find("prefetcht0", at + 1)) {
      ++count;
    }
    return std::make_pair(count, text.empty());
  };
  for (Isa isa : isas_to_test()) {
    if (prefetches(isa, "").second) GTEST_SKIP() << "this build has no disassembler";
    const bool z = isa == Isa::avx512;
    // Full focus, one stage: 32 lines per record, each prefetched once: 32 prefetches in
    // straight-line AVX-512 code; AVX2 runs the record as a rolled loop of 256 bytes (4 lines)
    // per trip.
    EXPECT_EQ(prefetches(isa, R"(, "cascade": {"mode": "off"})").first, z ? 32u : 4u)
        << isa_name(isa);
    EXPECT_EQ(prefetches(isa, R"(, "cascade": {"mode": "off"}, "prefetch_records": 0)").first, 0u)
        << isa_name(isa);
    // The first 1/8 of the words: 4 lines per record; AVX-512 also runs them in its 8-record
    // group loop (8 x 4 prefetches) before the per-record loop.
    EXPECT_EQ(
        prefetches(isa, R"(, "cascade": {"mode": "off"}, "focus": {"ranges": [[0, 2048]]})").first,
        z ? 36u : 4u)
        << isa_name(isa);
    // Default cascade: the K0 and K1 probes read words 0..7, one line.
    EXPECT_EQ(prefetches(isa, "").first, 1u) << isa_name(isa);
  }
}

}  // namespace
}  // namespace jitson
