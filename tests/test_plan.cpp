// ScanPlan (issue 3): word classes, cascade stages, statistical bounds, ISA/backend resolution,
// planner defaults and the JSON dump.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "jitson/config.hpp"
#include "jitson/cpu.hpp"
#include "jitson/error.hpp"
#include "jitson/plan.hpp"

namespace jitson {
namespace {

ScanSpec spec_with_mask(std::vector<uint64_t> mask, std::vector<uint32_t> stages = {1, 8},
                        CascadeMode mode = CascadeMode::exact) {
  ScanSpec s;
  s.record_bits = uint32_t(mask.size() * 64);
  s.max_distance = 100;
  s.focus = std::move(mask);
  s.cascade = mode;
  s.stage_words = std::move(stages);
  return s;
}

// A config with max_distance 100 unless members give their own.
ScanSpec parse(const std::string &members, uint32_t record_bits = 16384) {
  std::string text = R"({"version": 1, "record_bits": )" + std::to_string(record_bits);
  if (members.find("\"max_distance\"") == std::string::npos) text += R"(, "max_distance": 100)";
  return parse_scan_config(text + (members.empty() ? "" : ", " + members) + "}");
}

std::vector<uint32_t> stage_word_counts(const ScanPlan &p) {
  std::vector<uint32_t> out;
  for (const CascadeStage &s : p.cascade.stages) out.push_back(s.words);
  return out;
}

std::vector<uint32_t> stage_bounds(const ScanPlan &p) {
  std::vector<uint32_t> out;
  for (const CascadeStage &s : p.cascade.stages) out.push_back(s.statistical_bound);
  return out;
}

// Expects make_plan to throw ConfigError with this pointer and a rule containing fragment.
testing::AssertionResult plan_rejects(const ScanSpec &spec, const std::string &pointer,
                                      const std::string &fragment) {
  try {
    make_plan(spec);
  } catch (const ConfigError &e) {
    if (e.pointer() != pointer || e.rule().find(fragment) == std::string::npos) {
      return testing::AssertionFailure() << "got " << e.what();
    }
    return testing::AssertionSuccess();
  }
  return testing::AssertionFailure() << "accepted";
}

// ---------------------------------------------------------------- word classes

TEST(PlanWords, FullFocusHasOnlyFullWords) {
  ScanPlan p = make_plan(parse(""));
  EXPECT_EQ(p.record_bits, 16384u);
  EXPECT_EQ(p.record_bytes, 2048u);
  EXPECT_EQ(p.record_words, 256u);
  EXPECT_EQ(p.focus_bits, 16384u);
  EXPECT_EQ(p.full_words, 256u);
  EXPECT_EQ(p.partial_words, 0u);
  EXPECT_EQ(p.skipped_words, 0u);
}

TEST(PlanWords, CraftedMaskIsClassified) {
  const uint64_t all = ~uint64_t{0};
  ScanPlan p = make_plan(spec_with_mask({all, 0, 0x1, all, 0x8000000000000000u, 0, all, 0xF0F0}));
  EXPECT_EQ(p.full_words, 3u);
  EXPECT_EQ(p.partial_words, 3u);
  EXPECT_EQ(p.skipped_words, 2u);
  EXPECT_EQ(p.focus_bits, 3u * 64 + 1 + 1 + 8);
}

TEST(PlanWords, RangesAndBitsFromAConfigAreClassified) {
  // Words 0-1 full, word 2 partial (bits 128..159), word 3 skipped, word 4 partial (bit 300).
  ScanPlan p = make_plan(parse(R"("focus": {"ranges": [[0, 160]], "bits": [300]})", 320));
  EXPECT_EQ(p.full_words, 2u);
  EXPECT_EQ(p.partial_words, 2u);
  EXPECT_EQ(p.skipped_words, 1u);
  EXPECT_EQ(p.focus_bits, 161u);
}

// ---------------------------------------------------------------- stages

TEST(PlanStages, DefaultStagesOfAFullRecord) {
  ScanPlan p = make_plan(parse(""));
  EXPECT_EQ(p.mode, CascadeMode::exact);
  EXPECT_EQ(p.stages_string(), "1,8,256");
  EXPECT_EQ(stage_word_counts(p), (std::vector<uint32_t>{1, 7, 248}));
  EXPECT_EQ(stage_bounds(p), (std::vector<uint32_t>{UINT32_MAX, UINT32_MAX, UINT32_MAX}));
  // Full words form one run per stage.
  ASSERT_EQ(p.cascade.stages[2].segments.size(), 1u);
  EXPECT_EQ(p.cascade.stages[2].segments[0].first_word, 8u);
  EXPECT_EQ(p.cascade.stages[2].segments[0].n_words, 248u);
  EXPECT_TRUE(p.cascade.stages[2].segments[0].full);
  EXPECT_EQ(p.cascade.record_bytes, 2048u);
}

TEST(PlanStages, ModeOffIsOnePassOverEveryFocusedWord) {
  ScanSpec s = parse(R"("cascade": {"mode": "off"})");
  s.stage_words = {1, 8};  // ignored in mode off
  ScanPlan p = make_plan(s);
  EXPECT_EQ(p.mode, CascadeMode::off);
  EXPECT_EQ(p.stages_string(), "256");
  ASSERT_EQ(p.cascade.stages.size(), 1u);
  EXPECT_EQ(p.cascade.stages[0].statistical_bound, UINT32_MAX);
}

TEST(PlanStages, EmptyStageListIsOnePass) {
  EXPECT_EQ(make_plan(parse(R"("cascade": {"stages": []})")).stages_string(), "256");
}

TEST(PlanStages, StagesCountOnlyFocusedWords) {
  const uint64_t all = ~uint64_t{0};
  // Focused words: 1 (full), 3 (partial), 4 (full), 5 (full), 7 (partial).
  ScanPlan p = make_plan(spec_with_mask({0, all, 0, 0xFF, all, all, 0, 0x1}, {1, 3}));
  EXPECT_EQ(p.stages_string(), "1,3,5");
  ASSERT_EQ(p.cascade.stages.size(), 3u);
  const auto &s0 = p.cascade.stages[0].segments;
  ASSERT_EQ(s0.size(), 1u);
  EXPECT_EQ(s0[0].first_word, 1u);
  EXPECT_TRUE(s0[0].full);
  const auto &s1 = p.cascade.stages[1].segments;  // word 3 (partial), word 4 (full)
  ASSERT_EQ(s1.size(), 2u);
  EXPECT_EQ(s1[0].first_word, 3u);
  EXPECT_FALSE(s1[0].full);
  EXPECT_EQ(s1[0].mask, 0xFFu);
  EXPECT_EQ(s1[1].first_word, 4u);
  EXPECT_TRUE(s1[1].full);
  const auto &s2 = p.cascade.stages[2].segments;  // word 5 (full), word 7 (partial)
  ASSERT_EQ(s2.size(), 2u);
  EXPECT_EQ(s2[0].first_word, 5u);
  EXPECT_EQ(s2[1].first_word, 7u);
  EXPECT_EQ(s2[1].mask, 0x1u);
}

TEST(PlanStages, FocusThatEmptiesLaterStagesDropsThem) {
  // One focused word: stages [1, 8] would leave the K1 stage and the rest empty.
  ScanPlan one = make_plan(parse(R"("focus": {"bits": [5000]})"));
  EXPECT_EQ(one.stages_string(), "1");
  ASSERT_EQ(one.cascade.stages.size(), 1u);
  EXPECT_EQ(one.cascade.stages[0].segments[0].first_word, 5000u / 64);
  // Five focused words: K1 would end beyond them, so the K1 stage becomes the final stage.
  ScanPlan five = make_plan(parse(R"("focus": {"ranges": [[640, 960]]})"));
  EXPECT_EQ(five.stages_string(), "1,5");
}

TEST(PlanStages, StageEndsLargerThanTheFocusedWords) {
  ScanPlan p = make_plan(parse(R"("cascade": {"stages": [100, 200, 300, 1024]})"));
  EXPECT_EQ(p.stages_string(), "100,200,256");
  ScanPlan q =
      make_plan(parse(R"("focus": {"ranges": [[0, 9600]]}, "cascade": {"stages": [100, 200]})"));
  EXPECT_EQ(q.stages_string(), "100,150");
}

TEST(PlanStages, EquivalentStageListsGiveTheSamePlan) {
  const std::string focus = R"("focus": {"ranges": [[0, 320]]}, )";
  ScanPlan a = make_plan(parse(focus + R"("cascade": {"stages": [1, 8]})"));
  ScanPlan b = make_plan(parse(focus + R"("cascade": {"stages": [1, 5, 9, 100]})"));
  EXPECT_EQ(a.key, b.key);
  EXPECT_EQ(a.to_json(), b.to_json());
}

// Invariants over random masks and stage lists: every stage holds at least one focused word,
// the stages partition the focused words in record order, and bits add up to focus_bits.
TEST(PlanStages, RandomMasksPartitionTheFocusedWords) {
  std::mt19937_64 rng(77);
  for (int iter = 0; iter < 500; ++iter) {
    const size_t words = 1 + rng() % 40;
    std::vector<uint64_t> mask(words);
    for (auto &w : mask) {
      switch (rng() % 4) {
        case 0:
          w = 0;
          break;
        case 1:
          w = ~uint64_t{0};
          break;
        default:
          w = rng() & rng();
          break;
      }
    }
    if (std::all_of(mask.begin(), mask.end(), [](uint64_t w) { return w == 0; })) mask[0] = 1;
    std::vector<uint32_t> stages;
    uint32_t end = 0;
    for (int n = int(rng() % 5); n > 0; --n) stages.push_back(end += 1 + uint32_t(rng() % 10));
    const CascadeMode mode = CascadeMode(rng() % 3);
    ScanSpec s = spec_with_mask(mask, stages, mode);
    s.max_distance = uint32_t(rng() % (words * 64 + 1));
    ScanPlan p = make_plan(s);

    std::vector<uint32_t> focused_words;
    uint32_t bits = 0;
    for (uint32_t w = 0; w < words; ++w) {
      if (mask[w]) focused_words.push_back(w);
      bits += uint32_t(std::popcount(mask[w]));
    }
    std::vector<uint32_t> seen_words;
    uint32_t seen_bits = 0;
    for (const CascadeStage &stage : p.cascade.stages) {
      EXPECT_GE(stage.words, 1u);
      uint32_t in_stage = 0;
      for (const Segment &seg : stage.segments) {
        for (uint32_t k = 0; k < seg.n_words; ++k) {
          seen_words.push_back(seg.first_word + k);
          EXPECT_EQ(seg.full ? ~uint64_t{0} : seg.mask, mask[seg.first_word + k]);
        }
        EXPECT_TRUE(seg.full || seg.n_words == 1);
        in_stage += seg.n_words;
        seen_bits += seg.full ? 64 * seg.n_words : uint32_t(std::popcount(seg.mask));
      }
      EXPECT_EQ(in_stage, stage.words);
    }
    EXPECT_EQ(seen_words, focused_words);
    EXPECT_EQ(seen_bits, bits);
    EXPECT_EQ(p.focus_bits, bits);
    const size_t expected_stages =
        mode == CascadeMode::off ? 1 : s.canonical_stage_words().size() + 1;
    EXPECT_EQ(p.cascade.stages.size(), expected_stages);
    EXPECT_EQ(p.skipped_words + p.full_words + p.partial_words, words);
    // Statistical bounds never decrease (each stage sees at least as many bits as before); the
    // last stage has none.
    EXPECT_EQ(p.cascade.stages.back().statistical_bound, UINT32_MAX);
    for (size_t i = 1; i + 1 < p.cascade.stages.size(); ++i) {
      EXPECT_LE(p.cascade.stages[i - 1].statistical_bound, p.cascade.stages[i].statistical_bound);
    }
  }
}

// ---------------------------------------------------------------- statistical bounds

TEST(PlanBounds, SeedK0K1BoundsFor16K) {
  // SEMANTICS §3.2: cold 0.49, margin 1.5, T = k2_cold - 1 = 8027 → k0 48, k1 377.
  ScanPlan p = make_plan(
      parse(R"("max_distance": 8027, "cascade": {"mode": "statistical", "safety_margin": 1.5})"));
  EXPECT_EQ(stage_bounds(p), (std::vector<uint32_t>{48, 377, UINT32_MAX}));
}

TEST(PlanBounds, SeedK0BoundFor64K) {
  ScanPlan p = make_plan(
      parse(R"("max_distance": 32111, "cascade": {"mode": "statistical", "stages": [1]})", 65536));
  // ceil(32111 * 64/65536 * 1.5) = ceil(47.04)
  EXPECT_EQ(stage_bounds(p), (std::vector<uint32_t>{48, UINT32_MAX}));
}

TEST(PlanBounds, BoundsUseFocusedBitsNotRecordBits) {
  // Word 0: 24 focused bits, word 1: 64 → 88 focused bits. Stage 0 sees 24 of them.
  ScanSpec s = spec_with_mask({0xFFFFFF, ~uint64_t{0}}, {1}, CascadeMode::statistical);
  s.max_distance = 7;
  s.safety_margin = 1.5;
  // ceil(7 * 24/88 * 1.5) = ceil(2.86)
  EXPECT_EQ(stage_bounds(make_plan(s)), (std::vector<uint32_t>{3, UINT32_MAX}));
  s.max_distance = 80;
  s.safety_margin = 0.5;
  // ceil(80 * 24/88 * 0.5) = ceil(10.9)
  EXPECT_EQ(stage_bounds(make_plan(s)), (std::vector<uint32_t>{11, UINT32_MAX}));
}

TEST(PlanBounds, BoundsAccumulateOverStages) {
  // 4 full words, stages [1, 2, 3]: shares 1/4, 2/4, 3/4 of 256 bits; max 100, margin 1.1.
  ScanSpec s =
      spec_with_mask(std::vector<uint64_t>(4, ~uint64_t{0}), {1, 2, 3}, CascadeMode::statistical);
  s.safety_margin = 1.1;
  // ceil(27.5), ceil(55.0...), ceil(82.5)
  auto b = stage_bounds(make_plan(s));
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(b[0], 28u);
  EXPECT_TRUE(b[1] == 55u || b[1] == 56u);  // 100 * 0.5 * 1.1 is 55 up to rounding of 1.1
  EXPECT_EQ(b[2], 83u);
  EXPECT_EQ(b[3], UINT32_MAX);
}

TEST(PlanBounds, HugeBoundsAreClampedBelowTheSentinel) {
  ScanSpec s = parse(R"("max_distance": 4294967295, "cascade": {"mode": "statistical",
                         "safety_margin": 1000})");
  EXPECT_EQ(stage_bounds(make_plan(s)),
            (std::vector<uint32_t>{UINT32_MAX - 1, UINT32_MAX - 1, UINT32_MAX}));
}

TEST(PlanBounds, ExactModeHasNoStatisticalBounds) {
  ScanPlan p = make_plan(parse(R"("max_distance": 8027)"));
  EXPECT_EQ(stage_bounds(p), (std::vector<uint32_t>{UINT32_MAX, UINT32_MAX, UINT32_MAX}));
}

// ---------------------------------------------------------------- ISA and backend

TEST(PlanIsa, AutoResolvesToTheActiveIsa) {
  EXPECT_EQ(make_plan(parse("")).isa, active_isa());
}

TEST(PlanIsa, ExplicitIsaIsKeptOrRejected) {
  const std::pair<const char *, Isa> isas[] = {
      {"avx512", Isa::avx512}, {"avx2", Isa::avx2}, {"scalar", Isa::scalar}};
  for (auto [name, isa] : isas) {
    ScanSpec s = parse(std::string(R"("backend": "runtime", "isa": ")") + name + "\"");
    if (isa_supported(isa)) {
      EXPECT_EQ(make_plan(s).isa, isa) << name;
    } else {
      EXPECT_TRUE(plan_rejects(
          s, "/isa",
          std::string(name) + " requested but this CPU supports at most " + isa_name(best_isa())));
    }
  }
}

TEST(PlanBackend, AutoChoosesXbyakWhenBuiltAndTheRuntimeForScalar) {
  ScanPlan p = make_plan(parse(""));
#ifdef JITSON_HAVE_XBYAK
  EXPECT_EQ(p.backend, active_isa() == Isa::scalar ? Backend::runtime : Backend::xbyak);
#else
  EXPECT_EQ(p.backend, Backend::runtime);
#endif
  EXPECT_EQ(make_plan(parse(R"("isa": "scalar")")).backend, Backend::runtime);
}

TEST(PlanBackend, RuntimeIsAlwaysAvailable) {
  for (const char *isa : {"auto", "scalar"}) {
    EXPECT_EQ(
        make_plan(parse(std::string(R"("backend": "runtime", "isa": ")") + isa + "\"")).backend,
        Backend::runtime);
  }
}

TEST(PlanBackend, XbyakWithScalarIsRejected) {
#ifdef JITSON_HAVE_XBYAK
  EXPECT_TRUE(plan_rejects(parse(R"("backend": "xbyak", "isa": "scalar")"), "/isa",
                           "xbyak generates avx512 or avx2 code; use backend \"runtime\""));
  if (active_isa() != Isa::scalar) {
    EXPECT_EQ(make_plan(parse(R"("backend": "xbyak")")).backend, Backend::xbyak);
  }
#else
  EXPECT_TRUE(plan_rejects(parse(R"("backend": "xbyak")"), "/backend", "not built in"));
#endif
}

TEST(PlanBackend, LlvmIsRejectedUnlessBuiltIn) {
  ScanSpec s = parse(R"("backend": "llvm")");
#ifdef JITSON_HAVE_LLVM
  EXPECT_EQ(make_plan(s).backend, Backend::llvm);
#else
  EXPECT_TRUE(plan_rejects(s, "/backend",
                           "llvm backend is not built in (configure with -DJITSON_WITH_LLVM=ON)"));
#endif
}

TEST(PlanBackend, BackendNames) {
  EXPECT_STREQ(to_string(Backend::xbyak), "xbyak");
  EXPECT_STREQ(to_string(Backend::llvm), "llvm");
  EXPECT_STREQ(to_string(Backend::runtime), "runtime");
}

// ---------------------------------------------------------------- planner defaults

TEST(PlanDefaults, PrefetchDefaultFollowsTheProbeStages) {
  // Single-stage scans stream-prefetch every line they load about 1.5 KiB ahead, at least one
  // record: 2 KiB and 8 KiB records one record ahead, 8-byte records 192 capped at 64,
  // 512-byte records 3.
  EXPECT_EQ(make_plan(parse(R"("cascade": {"mode": "off"})")).prefetch_records, 1u);
  EXPECT_EQ(make_plan(parse(R"("cascade": {"mode": "off"})", 65536)).prefetch_records, 1u);
  EXPECT_EQ(make_plan(parse("", 64)).prefetch_records, 64u);  // one word: one stage
  EXPECT_EQ(make_plan(parse(R"("cascade": {"mode": "off"})", 4096)).prefetch_records, 3u);
  // Default K0/K1 probes read one line (words 0..7): 8 KiB / 64 B = 128, capped at 64.
  EXPECT_EQ(make_plan(parse("")).prefetch_records, 64u);
  EXPECT_EQ(make_plan(parse("", 65536)).prefetch_records, 64u);
  // Probes over words 0..127 read 16 lines: 8192 / 1024 = 8 records.
  EXPECT_EQ(
      make_plan(parse(R"("cascade": {"mode": "exact", "stages": [64, 128]})")).prefetch_records,
      8u);
  // Probes over all but the last of 256 words: 32 lines, 8192 / 2048 = 4 records.
  EXPECT_EQ(make_plan(parse(R"("cascade": {"mode": "exact", "stages": [255]})")).prefetch_records,
            4u);
  // A sparse focus of words 0, 8, 16, ... (one per line): the probe reads 15 of them, so 15
  // lines = 960 bytes: ceil(8192 / 960) = 9 records.
  std::string ranges;
  for (int line = 0; line < 32; line += 2) {
    ranges += (ranges.empty() ? "[" : ", [") + std::to_string(line * 512) + ", " +
              std::to_string(line * 512 + 8) + "]";
  }
  EXPECT_EQ(make_plan(parse(R"("focus": {"ranges": [)" + ranges +
                            R"(]}, "cascade": {"mode": "exact", "stages": [15]})"))
                .prefetch_records,
            9u);
}

TEST(PlanDefaults, ExplicitPrefetchIsKept) {
  EXPECT_EQ(make_plan(parse(R"("prefetch_records": 0)")).prefetch_records, 0u);
  EXPECT_EQ(make_plan(parse(R"("prefetch_records": 64)", 64)).prefetch_records, 64u);
}

TEST(PlanDefaults, BlockSizeKeepsABlockNear512KiB) {
  EXPECT_EQ(make_plan(parse("")).block_records, 256u);        // 2 KiB records
  EXPECT_EQ(make_plan(parse("", 65536)).block_records, 64u);  // 8 KiB records
  EXPECT_EQ(make_plan(parse("", 64)).block_records, 4096u);   // capped
  EXPECT_EQ(make_plan(parse("", 4160)).block_records, 512u);  // 520 B: 1008 rounded down
}

TEST(PlanDefaults, UnrollAndKey) {
  ScanSpec s = parse(R"("name": "k")");
  ScanPlan p = make_plan(s);
  EXPECT_EQ(p.unroll, 1u);
  EXPECT_EQ(p.key, s.key());
  EXPECT_EQ(p.spec.name, "k");
}

// ---------------------------------------------------------------- invalid C++ specs

TEST(PlanChecks, SpecsBuiltInCppAreChecked) {
  ScanSpec s = parse("");
  ScanSpec bad = s;
  bad.record_bits = 100;
  EXPECT_TRUE(plan_rejects(bad, "/record_bits", "multiples of 64"));
  bad = s;
  bad.focus.resize(3);
  EXPECT_TRUE(plan_rejects(bad, "/focus", "focus mask has 3 words"));
  bad = s;
  bad.focus.assign(256, 0);
  EXPECT_TRUE(plan_rejects(bad, "/focus", "empty selection"));
  bad = s;
  bad.top_k = 0;
  EXPECT_TRUE(plan_rejects(bad, "/top_k", "allowed 1..1000000"));
  bad = s;
  bad.stage_words = {8, 8};
  EXPECT_TRUE(plan_rejects(bad, "/cascade/stages/1", "must increase"));
  bad = s;
  bad.stage_words = {1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_TRUE(plan_rejects(bad, "/cascade/stages", "at most 7"));
  bad = s;
  bad.cascade = CascadeMode::statistical;
  bad.safety_margin = 0;
  EXPECT_TRUE(plan_rejects(bad, "/cascade/safety_margin", "> 0"));
  bad = s;
  bad.prefetch_records = 65;
  EXPECT_TRUE(plan_rejects(bad, "/prefetch_records", "allowed 0..64"));
}

// ---------------------------------------------------------------- JSON dump

TEST(PlanJson, ToJsonIsValidJsonWithTheStages) {
  ScanSpec s = parse(R"("name": "dump", "focus": {"ranges": [[0, 128]], "bits": [200]},
                        "cascade": {"mode": "statistical", "stages": [1]})");
  ScanPlan p = make_plan(s);
  const nlohmann::json j = nlohmann::json::parse(p.to_json());
  EXPECT_EQ(j["name"], "dump");
  EXPECT_EQ(j["record_bits"], 16384);
  EXPECT_EQ(j["focus_bits"], 129);
  EXPECT_EQ(j["words"]["full"], 2);
  EXPECT_EQ(j["words"]["partial"], 1);
  EXPECT_EQ(j["words"]["skipped"], 253);
  EXPECT_EQ(j["mode"], "statistical");
  EXPECT_EQ(j["isa"], isa_name(p.isa));
  EXPECT_EQ(j["backend"], to_string(p.backend));
  EXPECT_EQ(j["prefetch_records"], p.prefetch_records);
  EXPECT_EQ(j["block_records"], p.block_records);
  ASSERT_EQ(j["stages"].size(), 2u);
  EXPECT_EQ(j["stages"][0]["words"], 1);
  EXPECT_EQ(j["stages"][0]["statistical_bound"], p.cascade.stages[0].statistical_bound);
  EXPECT_TRUE(j["stages"][1]["statistical_bound"].is_null());
  EXPECT_EQ(j["stages"][1]["cumulative_words"], 3);
  const auto &segs = j["stages"][1]["segments"];
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0]["first_word"], 1);
  EXPECT_EQ(segs[0]["full"], true);
  EXPECT_EQ(segs[1]["first_word"], 3);
  EXPECT_EQ(segs[1]["full"], false);
  EXPECT_EQ(segs[1]["mask"], "0x0000000000000100");
  char key[19];
  std::snprintf(key, sizeof key, "0x%016llx", static_cast<unsigned long long>(p.key));
  EXPECT_EQ(j["key"], key);
}

TEST(PlanJson, StagesStringIsCumulative) {
  EXPECT_EQ(make_plan(parse(R"("cascade": {"stages": [2, 10, 50]})")).stages_string(),
            "2,10,50,256");
}

}  // namespace
}  // namespace jitson
