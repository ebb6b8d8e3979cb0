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

namespace jitson {
namespace {

uint64_t env_u64(const char *name, uint64_t fallback) {
  const char *v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

const char *isa_field(Isa isa) {
  return isa == Isa::avx512 ? "avx512" : "avx2";
}

std::vector<Isa> isas_to_test() {
  // Both ISAs are forced through the config; a CPU without one of them fails loudly.
  return {Isa::avx512, Isa::avx2};
}

uint32_t pick_record_bits(std::mt19937_64 &rng) {
  static const uint32_t common[] = {64, 128, 512, 576, 640, 2048, 16384, 65536};
  switch (rng() % 4) {
    case 0:
      return uint32_t(64 * (2 * (rng() % 40) + 1));  // odd multiples of 64 up to 5,056
    case 1:
      return uint32_t(64 * (1 + rng() % 24));
    default:
      return common[rng() % std::size(common)];
  }
}

std::string range_json(uint32_t a, uint32_t b) {
  return "[" + std::to_string(a) + ", " + std::to_string(b) + "]";
}

// A random focus as config JSON ("" = all bits), always selecting at least one bit.
std::string random_focus(std::mt19937_64 &rng, uint32_t bits) {
  const uint32_t words = bits / 64;
  std::vector<std::string> ranges, single;
  switch (rng() % 8) {
    case 0:
      return "";
    case 1: {  // a few ranges
      int n = 1 + int(rng() % 5);
      for (int i = 0; i < n; ++i) {
        uint32_t a = uint32_t(rng() % bits);
        uint32_t len = rng() % 3 == 0 ? 1 + uint32_t(rng() % bits) : 1 + uint32_t(rng() % 300);
        ranges.push_back(range_json(a, std::min(bits, a + len)));
      }
      break;
    }
    case 2: {  // single bits
      int n = 1 + int(rng() % 12);
      for (int i = 0; i < n; ++i) single.push_back(std::to_string(rng() % bits));
      break;
    }
    case 3: {  // every word partial
      for (uint32_t w = 0; w < words; ++w) {
        if (words > 64 && rng() % 4 == 0) continue;
        uint32_t a = 1 + uint32_t(rng() % 62);
        uint32_t b = a + 1 + uint32_t(rng() % (63 - a));
        ranges.push_back(range_json(64 * w + a, 64 * w + b));
      }
      break;
    }
    case 4: {  // scattered whole words
      uint32_t step = 1 + uint32_t(rng() % 9);
      for (uint32_t w = uint32_t(rng() % step); w < words; w += step) {
        ranges.push_back(range_json(64 * w, 64 * w + 64));
      }
      break;
    }
    case 5: {  // the last word(s), at the end of the record
      uint32_t n = 1 + uint32_t(rng() % std::min<uint32_t>(words, 3));
      uint32_t from = bits - 64 * n + (rng() % 2 ? uint32_t(rng() % 64) : 0);
      ranges.push_back(range_json(from, bits));
      break;
    }
    case 6: {  // one long run plus partial edges and stray bits
      uint32_t a = uint32_t(rng() % bits);
      uint32_t b = a + uint32_t(rng() % (bits - a)) + 1;
      ranges.push_back(range_json(a, b));
      for (int i = int(rng() % 4); i > 0; --i) single.push_back(std::to_string(rng() % bits));
      break;
    }
    default: {  // mostly full with holes
      uint32_t at = 0;
      while (at < bits) {
        uint32_t len = 1 + uint32_t(rng() % 900);
        uint32_t gap = uint32_t(rng() % 200);
        ranges.push_back(range_json(at, std::min(bits, at + len)));
        at += len + gap;
      }
      break;
    }
  }
  if (ranges.empty() && single.empty()) single.push_back(std::to_string(rng() % bits));
  std::string json = "{";
  if (!ranges.empty()) {
    json += "\"ranges\": [";
    for (size_t i = 0; i < ranges.size(); ++i) json += (i ? ", " : "") + ranges[i];
    json += "]";
  }
  if (!single.empty()) {
    json += std::string(ranges.empty() ? "" : ", ") + "\"bits\": [";
    for (size_t i = 0; i < single.size(); ++i) json += (i ? ", " : "") + single[i];
    json += "]";
  }
  return json + "}";
}

std::string random_config(std::mt19937_64 &rng, Isa isa) {
  const uint32_t bits = pick_record_bits(rng);
  std::string c = "{\"version\": 1, \"record_bits\": " + std::to_string(bits) +
                  ", \"max_distance\": " + std::to_string(rng() % (bits + 1)) + ", \"isa\": \"" +
                  isa_field(isa) + "\", \"backend\": \"xbyak\"";
  std::string focus = random_focus(rng, bits);
  if (!focus.empty()) c += ", \"focus\": " + focus;
  const int mode = int(rng() % 3);
  if (mode == 0) {
    c += ", \"cascade\": {\"mode\": \"off\"}";
  } else {
    c += std::string(", \"cascade\": {\"mode\": \"") + (mode == 1 ? "exact" : "statistical") + "\"";
    if (mode == 2 && rng() % 2)
      c += ", \"safety_margin\": " + std::to_string(0.2 + double(rng() % 20) / 10);
    if (rng() % 3) {
      int n = int(rng() % 8);  // 0..7 probe stages
      std::vector<uint32_t> ends;
      uint32_t at = 0;
      for (int i = 0; i < n; ++i) {
        at += 1 + uint32_t(rng() % (rng() % 2 ? 4 : 64));
        if (at > 1024) break;
        ends.push_back(at);
      }
      c += ", \"stages\": [";
      for (size_t i = 0; i < ends.size(); ++i) c += (i ? ", " : "") + std::to_string(ends[i]);
      c += "]";
    }
    c += "}";
  }
  switch (rng() % 3) {
    case 0:
      c += ", \"prefetch_records\": 0";
      break;
    case 1:
      c += ", \"prefetch_records\": " + std::to_string(1 + rng() % 64);
      break;
    default:
      break;
  }
  return c + "}";
}

// Shapes the plan further than configs can: random statistical bounds, empty stages.
void mutate_plan(std::mt19937_64 &rng, ScanPlan &plan) {
  auto &stages = plan.cascade.stages;
  if (rng() % 4 == 0) {
    for (size_t s = 0; s + 1 < stages.size(); ++s) {
      if (rng() % 2) stages[s].statistical_bound = uint32_t(rng() % (plan.focus_bits + 2));
    }
  }
  if (rng() % 5 == 0) {  // segment order within a stage does not matter
    for (auto &stage : stages) std::shuffle(stage.segments.begin(), stage.segments.end(), rng);
  }
  if (rng() % 6 == 0 && stages.size() < size_t(kMaxStages)) {
    size_t at = size_t(rng() % (stages.size() + 1));
    CascadeStage empty;
    if (rng() % 2) empty.statistical_bound = uint32_t(rng() % 8);
    stages.insert(stages.begin() + ptrdiff_t(at), empty);
    if (at == stages.size() - 1) stages.back().statistical_bound = UINT32_MAX;
  }
}

std::vector<uint64_t> plan_mask(const ScanPlan &plan) {
  std::vector<uint64_t> mask = plan.spec.focus;
  if (mask.empty()) mask.assign(plan.record_words, ~uint64_t{0});
  return mask;
}

uint64_t masked_distance(const uint8_t *q, const uint8_t *r, const std::vector<uint64_t> &mask) {
  uint64_t d = 0;
  for (size_t w = 0; w < mask.size(); ++w) {
    uint64_t a, b;
    std::memcpy(&a, q + 8 * w, 8);
    std::memcpy(&b, r + 8 * w, 8);
    d += uint64_t(std::popcount((a ^ b) & mask[w]));
  }
  return d;
}

// Records: random, near copies of the query (few flips), exact copies and complements.
void fill_records(std::mt19937_64 &rng, const uint8_t *query, uint8_t *records, uint64_t n,
                  uint32_t bytes) {
  for (uint64_t i = 0; i < n; ++i) {
    uint8_t *r = records + i * bytes;
    switch (rng() % 5) {
      case 0:
        for (uint32_t b = 0; b < bytes; ++b) r[b] = uint8_t(rng());
        break;
      case 1:
        std::memcpy(r, query, bytes);
        break;
      case 2:
        for (uint32_t b = 0; b < bytes; ++b) r[b] = uint8_t(~query[b]);
        break;
      default: {
        std::memcpy(r, query, bytes);
        int flips = int(rng() % (rng() % 2 ? 8 : 200));
        for (int f = 0; f < flips; ++f) {
          uint32_t bit = uint32_t(rng() % (bytes * 8));
          r[bit / 8] ^= uint8_t(1u << (bit % 8));
        }
      }
    }
  }
}

struct BlockOutcome {
  uint64_t count = 0;
  std::vector<Hit> hits;
  uint64_t counters[kNumCounters] = {};
};

BlockOutcome run_block(BlockFn fn, const void *context, const uint8_t *query,
                       const uint8_t *records, uint64_t n, uint64_t base, uint32_t limit,
                       const uint64_t (&initial)[kNumCounters]) {
  BlockOutcome o;
  std::vector<Hit> out(n + 4, Hit{0xABABABABABABABABull, 0xABABABABu, 0xABABABABu});
  std::memcpy(o.counters, initial, sizeof(initial));
  BlockArgs args{query, records, n, base, limit, 0, out.data(), o.counters, context};
  o.count = fn(&args);
  EXPECT_LE(o.count, n);
  for (uint64_t i = o.count; i < out.size(); ++i) {
    EXPECT_EQ(out[i].index, 0xABABABABABABABABull) << "write past the hits at " << i;
  }
  o.hits.assign(out.begin(), out.begin() + ptrdiff_t(std::min<uint64_t>(o.count, n)));
  return o;
}

// Compares the xbyak block function with the runtime interpreter and the oracle on one block.
// Returns false (after reporting) on the first mismatch.
bool check_block(const ScanPlan &plan, BlockFn fn, const uint8_t *query, const uint8_t *records,
                 uint64_t n, uint64_t base, uint32_t limit, const std::string &what) {
  const uint64_t initial[kNumCounters] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 35};
  BlockOutcome x = run_block(fn, nullptr, query, records, n, base, limit, initial);
  BlockOutcome r =
      run_block(scan_block_runtime, &plan.cascade, query, records, n, base, limit, initial);
  bool ok = true;
  auto fail = [&](const std::string &msg) {
    ADD_FAILURE() << msg << "\n  case: " << what << "\n  n=" << n << " limit=" << limit
                  << " base=" << base << "\n  plan: " << plan.to_json();
    ok = false;
  };
  if (x.count != r.count) {
    fail("hit count xbyak " + std::to_string(x.count) + " != runtime " + std::to_string(r.count));
    return false;
  }
  for (size_t i = 0; i < x.hits.size(); ++i) {
    if (x.hits[i].index != r.hits[i].index || x.hits[i].distance != r.hits[i].distance ||
        x.hits[i].reserved != 0) {
      fail("hit " + std::to_string(i) + ": xbyak {" + std::to_string(x.hits[i].index) + ", " +
           std::to_string(x.hits[i].distance) + ", " + std::to_string(x.hits[i].reserved) +
           "} runtime {" + std::to_string(r.hits[i].index) + ", " +
           std::to_string(r.hits[i].distance) + "}");
      return false;
    }
  }
  for (int c = 0; c < kNumCounters; ++c) {
    if (x.counters[c] != r.counters[c]) {
      fail("counter " + std::to_string(c) + ": xbyak " + std::to_string(x.counters[c]) +
           " runtime " + std::to_string(r.counters[c]));
      return false;
    }
  }
  // The oracle: every record with masked distance < limit, in index order; in statistical
  // mode a subset, the missing ones counted as statistically pruned.
  const std::vector<uint64_t> mask = plan_mask(plan);
  std::vector<Hit> expected;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t d = masked_distance(query, records + i * plan.record_bytes, mask);
    if (d < limit) expected.push_back(Hit{base + i, uint32_t(d), 0});
  }
  bool statistical = false;
  for (auto &s : plan.cascade.stages) statistical |= s.statistical_bound != UINT32_MAX;
  uint64_t rejected = 0;
  for (size_t s = 0; s < plan.cascade.stages.size(); ++s) rejected += x.counters[s] - initial[s];
  if (rejected + x.count != n) fail("rejects + hits != records");
  if (!statistical) {
    if (x.hits != expected) fail("hits differ from the oracle");
    if (x.counters[kCounterStatPruned] != initial[kCounterStatPruned]) fail("stat pruned != 0");
  } else {
    size_t j = 0;
    for (const Hit &h : x.hits) {
      while (j < expected.size() && expected[j].index < h.index) ++j;
      if (j == expected.size() || !(expected[j] == h)) {
        fail("statistical hit not in the oracle's set");
        break;
      }
    }
    uint64_t lost = expected.size() - x.hits.size();
    if (lost > x.counters[kCounterStatPruned] - initial[kCounterStatPruned]) {
      fail("lost hits exceed the statistically pruned count");
    }
  }
  return ok;
}

uint32_t pick_limit(std::mt19937_64 &rng, const ScanPlan &plan) {
  const uint32_t f = plan.focus_bits;
  switch (rng() % 6) {
    case 0:
      return 0;
    case 1:
      return f + 1;
    case 2:
      return plan.record_bits + 1;
    case 3:
      return uint32_t(rng() % 12);
    default:
      return uint32_t(rng() % (f + 2));
  }
}

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
    const std::string config = random_config(rng, isa);
    ScanPlan plan = make_plan(parse_scan_config(config));
    ASSERT_EQ(plan.isa, isa);
    mutate_plan(rng, plan);
    std::shared_ptr<CompiledCode> code =
        rng() % 4 ? compile_xbyak(plan, arena) : compile_xbyak(plan, arena, random_tuning(rng));
    const uint32_t bytes = plan.record_bytes;
    std::vector<uint8_t> query(bytes);
    for (auto &b : query) b = uint8_t(rng());
    for (int block = 0; block < 3; ++block) {
      uint64_t max_n = bytes >= 8192 ? 12 : bytes >= 2048 ? 24 : 48;
      uint64_t n = block == 0 && rng() % 8 == 0 ? 0 : 1 + rng() % max_n;
      std::vector<uint8_t> records(std::max<uint64_t>(1, n * bytes));
      fill_records(rng, query.data(), records.data(), n, bytes);
      const uint64_t base = rng() % 2 ? rng() : rng() % 1000;
      const uint32_t limit = pick_limit(rng, plan);
      const std::string what = "seed " + std::to_string(seed0 + p) + " config " + config;
      if (!check_block(plan, code->entry(), query.data(), records.data(), n, base, limit, what)) {
        ++failures;
        break;
      }
    }
  }
  EXPECT_EQ(failures, 0u);
}

INSTANTIATE_TEST_SUITE_P(Isas, XbyakDifferential, ::testing::ValuesIn(isas_to_test()),
                         [](const auto &info) { return std::string(isa_field(info.param)); });

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
                                 isa_field(isa) + "\"" + extra + "}";
      ScanPlan plan = make_plan(parse_scan_config(config));
      auto code = compile_xbyak(plan, arena);
      const uint64_t n = 3000;
      std::vector<uint8_t> query(2048), db(n * 2048);
      for (auto &b : query) b = uint8_t(rng());
      fill_records(rng, query.data(), db.data(), n, 2048);
      ScanRequest req;
      req.max_distance = plan.spec.max_distance;
      req.top_k = plan.spec.top_k;
      req.n_stages = uint32_t(plan.cascade.stages.size());
      req.block_records = 100;
      ScanResult got = scan_with(code->entry(), nullptr, query.data(),
                                 DatabaseView::rows(db.data(), n, 2048), req);
      std::vector<uint64_t> mask = plan_mask(plan);
      auto want = oracle::scan(query.data(), db.data(), n, 2048, mask, req.max_distance, req.top_k);
      EXPECT_EQ(got.hits, want) << config;
      ScanResult rt = scan_with(scan_block_runtime, &plan.cascade, query.data(),
                                DatabaseView::rows(db.data(), n, 2048), req);
      EXPECT_EQ(got.stats.rejected_by_stage, rt.stats.rejected_by_stage) << config;
      EXPECT_EQ(got.stats.words_read, rt.stats.words_read) << config;
      EXPECT_EQ(got.stats.hits, rt.stats.hits) << config;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Guard pages: nothing outside query[0, record_bytes) and the block's records is read.

class GuardedRegion {
 public:
  explicit GuardedRegion(size_t bytes) {
    page_ = size_t(sysconf(_SC_PAGESIZE));
    data_bytes_ = (bytes + page_ - 1) / page_ * page_;
    total_ = data_bytes_ + 2 * page_;
    void *p = mmap(nullptr, total_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap failed");
    base_ = static_cast<uint8_t *>(p);
    if (mprotect(base_ + page_, data_bytes_, PROT_READ | PROT_WRITE) != 0) {
      throw std::runtime_error("mprotect failed");
    }
  }
  ~GuardedRegion() { munmap(base_, total_); }
  GuardedRegion(const GuardedRegion &) = delete;
  GuardedRegion &operator=(const GuardedRegion &) = delete;
  uint8_t *front() { return base_ + page_; }                           // PROT_NONE right before
  uint8_t *back(size_t n) { return base_ + page_ + data_bytes_ - n; }  // PROT_NONE right after

 private:
  uint8_t *base_ = nullptr;
  size_t page_ = 0, data_bytes_ = 0, total_ = 0;
};

std::string focus_variant(int v, uint32_t bits) {
  const uint32_t last = bits - 64;
  switch (v) {
    case 0:
      return "";
    case 1:  // last word only
      return ", \"focus\": {\"ranges\": [[" + std::to_string(last) + ", " + std::to_string(bits) +
             "]]}";
    case 2:  // partial last word
      return ", \"focus\": {\"ranges\": [[" + std::to_string(last + 3) + ", " +
             std::to_string(bits - 5) + "]]}";
    case 3:  // first word partial, last bit
      return ", \"focus\": {\"ranges\": [[1, 40]], \"bits\": [" + std::to_string(bits - 1) + "]}";
    case 4:  // last two or three words, one partial
      return ", \"focus\": {\"ranges\": [[" + std::to_string(bits >= 192 ? bits - 190 : 1) + ", " +
             std::to_string(bits) + "]]}";
    default:  // every other word of the tail
      return ", \"focus\": {\"bits\": [0, " + std::to_string(bits - 1) + ", " +
             std::to_string(bits >= 128 ? bits - 65 : 0) + "]}";
  }
}

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
              ", \"max_distance\": " + std::to_string(bits) + ", \"isa\": \"" + isa_field(isa) +
              "\", \"prefetch_records\": 3, \"cascade\": " + cascade + focus_variant(v, bits) + "}";
          ScanPlan plan = make_plan(parse_scan_config(config));
          auto code = compile_xbyak(plan, arena);
          // 7: the per-record loop only; 16: two groups of 8 (single-stage AVX-512 plans).
          for (uint64_t n :
               {uint64_t{bytes >= 8192 ? 3u : 7u}, uint64_t{bytes >= 8192 ? 1u : 16u}}) {
            GuardedRegion qregion(bytes), rregion(n * bytes);
            std::vector<uint8_t> query(bytes), records(n * bytes);
            for (auto &b : query) b = uint8_t(rng());
            fill_records(rng, query.data(), records.data(), n, bytes);
            // Query and records flush against the following page, then the preceding one; the
            // record count ends exactly at the boundary.
            for (int side = 0; side < 2; ++side) {
              uint8_t *q = side ? qregion.front() : qregion.back(bytes);
              uint8_t *r = side ? rregion.front() : rregion.back(n * bytes);
              std::memcpy(q, query.data(), bytes);
              std::memcpy(r, records.data(), n * bytes);
              for (uint32_t limit : {0u, bits / 2, bits + 1}) {
                EXPECT_TRUE(check_block(plan, code->entry(), q, r, n, 0, limit, config));
                ++checked;
              }
              // The last record alone, ending at the guard.
              EXPECT_TRUE(
                  check_block(plan, code->entry(), q, r + (n - 1) * bytes, 1, 9, bits + 1, config));
            }
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
                                   ", \"max_distance\": 10, \"isa\": \"" + isa_field(isa) + "\"}";
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
        isa_field(isa) +
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
    BlockFn moved = reinterpret_cast<BlockFn>(copy);
    std::vector<uint8_t> query(264), records(264 * 40);
    for (auto &b : query) b = uint8_t(rng());
    fill_records(rng, query.data(), records.data(), 40, 264);
    for (uint32_t limit : {0u, 300u, 1500u}) {
      EXPECT_TRUE(check_block(plan, moved, query.data(), records.data(), 40, 17, limit, config));
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
  EXPECT_TRUE(
      check_block(plan, code->entry(), query.data(), records.data(), 3, 0, 1025, "outlive"));
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
      const std::string config = random_config(rng, isa);
      ScanPlan plan = make_plan(parse_scan_config(config));
      mutate_plan(rng, plan);
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
          ASSERT_TRUE(check_block(plan, code->entry(), query.data(), records.data(), n, 5, limit,
                                  config + " tuning " + std::to_string(t.query_registers) + "," +
                                      std::to_string(t.loop_min_chunks) + "," +
                                      std::to_string(t.max_prefetch_lines) + "," +
                                      std::to_string(t.group_max_chunks)));
        }
      }
    }
  }
}

}  // namespace
}  // namespace jitson
