#include "support/random_plans.hpp"

#include "support/guard_pages.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>

namespace jitson::testsupport {

uint64_t env_u64(const char *name, uint64_t fallback) {
  const char *v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
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
  std::string json = "[";
  json += std::to_string(a);
  json += ", ";
  json += std::to_string(b);
  json += "]";
  return json;
}

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
    case 3: {  // every word partial (a sample of them in big records)
      for (uint32_t w = 0; w < words; ++w) {
        if (words > 64 && rng() % 8 != 0) continue;
        uint32_t a = 1 + uint32_t(rng() % 62);
        uint32_t b = a + 1 + uint32_t(rng() % (63 - a));
        ranges.push_back(range_json(64 * w + a, 64 * w + b));
      }
      if (ranges.empty()) ranges.push_back(range_json(bits - 7, bits - 2));
      break;
    }
    case 4: {  // scattered whole words
      uint32_t step = 1 + uint32_t(rng() % 9);
      for (uint32_t w = uint32_t(rng() % step); w < words; w += step) {
        ranges.push_back(range_json(64 * w, 64 * w + 64));
      }
      if (ranges.empty()) ranges.push_back(range_json(0, 64));
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

std::string random_config(std::mt19937_64 &rng, Isa isa, const char *backend) {
  const uint32_t bits = pick_record_bits(rng);
  std::string c = "{\"version\": 1, \"record_bits\": " + std::to_string(bits) +
                  ", \"max_distance\": " + std::to_string(rng() % (bits + 1)) + ", \"isa\": \"" +
                  isa_name(isa) + "\", \"backend\": \"" + backend + "\"";
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

void mutate_plan(std::mt19937_64 &rng, ScanPlan &plan, bool shuffle_segments) {
  auto &stages = plan.cascade.stages;
  if (rng() % 4 == 0) {
    for (size_t s = 0; s + 1 < stages.size(); ++s) {
      if (rng() % 2) stages[s].statistical_bound = uint32_t(rng() % (plan.focus_bits + 2));
    }
  }
  if (shuffle_segments && rng() % 5 == 0) {  // segment order within a stage does not matter
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

namespace {

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

}  // namespace

bool check_block(const ScanPlan &plan, BlockFn fn, const char *backend, const uint8_t *query,
                 const uint8_t *records, uint64_t n, uint64_t base, uint32_t limit,
                 const std::string &what) {
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
  const std::string name = backend;
  if (x.count != r.count) {
    fail("hit count " + name + " " + std::to_string(x.count) + " != runtime " +
         std::to_string(r.count));
    return false;
  }
  for (size_t i = 0; i < x.hits.size(); ++i) {
    if (x.hits[i].index != r.hits[i].index || x.hits[i].distance != r.hits[i].distance ||
        x.hits[i].reserved != 0) {
      fail("hit " + std::to_string(i) + ": " + name + " {" + std::to_string(x.hits[i].index) +
           ", " + std::to_string(x.hits[i].distance) + ", " + std::to_string(x.hits[i].reserved) +
           "} runtime {" + std::to_string(r.hits[i].index) + ", " +
           std::to_string(r.hits[i].distance) + "}");
      return false;
    }
  }
  for (int c = 0; c < kNumCounters; ++c) {
    if (x.counters[c] != r.counters[c]) {
      fail("counter " + std::to_string(c) + ": " + name + " " + std::to_string(x.counters[c]) +
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

DatabaseView ScanInputs::view() const {
  return DatabaseView::rows(records.data(), n_records, query.size());
}

ScanInputs random_scan_inputs(std::mt19937_64 &rng, const ScanPlan &plan, uint64_t n,
                              uint32_t block_records) {
  ScanInputs in;
  const uint32_t bytes = plan.record_bytes;
  in.query.resize(bytes);
  in.records.resize(n * bytes);
  in.n_records = n;
  for (auto &b : in.query) b = uint8_t(rng());
  fill_records(rng, in.query.data(), in.records.data(), n, bytes);
  in.request.max_distance = plan.spec.max_distance;
  in.request.top_k = plan.spec.top_k;
  in.request.n_stages = uint32_t(plan.cascade.stages.size());
  in.request.block_records = block_records;
  return in;
}

bool check_random_blocks(std::mt19937_64 &rng, const ScanPlan &plan, BlockFn fn,
                         const char *backend, const std::string &what) {
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
    if (!check_block(plan, fn, backend, query.data(), records.data(), n, base, limit, what)) {
      return false;
    }
  }
  return true;
}

int check_block_at_guard_pages(std::mt19937_64 &rng, const ScanPlan &plan, BlockFn fn,
                               const char *backend, uint64_t n, const std::string &what) {
  const uint32_t bits = plan.record_bits, bytes = plan.record_bytes;
  int checked = 0;
  GuardedRegion qregion(bytes), rregion(n * bytes);
  std::vector<uint8_t> query(bytes), records(n * bytes);
  for (auto &b : query) b = uint8_t(rng());
  fill_records(rng, query.data(), records.data(), n, bytes);
  // Query and records flush against the following page, then the preceding one; the record
  // count ends exactly at the boundary.
  for (int side = 0; side < 2; ++side) {
    uint8_t *q = side ? qregion.front() : qregion.back(bytes);
    uint8_t *r = side ? rregion.front() : rregion.back(n * bytes);
    std::memcpy(q, query.data(), bytes);
    std::memcpy(r, records.data(), n * bytes);
    for (uint32_t limit : {0u, bits / 2, bits + 1}) {
      EXPECT_TRUE(check_block(plan, fn, backend, q, r, n, 0, limit, what));
      ++checked;
    }
    // The last record alone, ending at the guard.
    EXPECT_TRUE(check_block(plan, fn, backend, q, r + (n - 1) * bytes, 1, 9, bits + 1, what));
  }
  return checked;
}

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
    case 5:  // first, last and second-to-last words
      return ", \"focus\": {\"bits\": [0, " + std::to_string(bits - 1) + ", " +
             std::to_string(bits >= 128 ? bits - 65 : 0) + "]}";
    default: {  // every third word partial, up to the last: big records walk piece tables
      std::string ranges;
      for (uint32_t w = 0; w < bits / 64; w += 3) {
        ranges += (w ? ", " : "") + range_json(64 * w + 1, 64 * w + 60);
      }
      return ", \"focus\": {\"ranges\": [" + ranges + ", " + range_json(bits - 62, bits) + "]}";
    }
  }
}

std::string BackendUnderTest::random_config(std::mt19937_64 &rng, Isa isa) const {
  return testsupport::random_config(rng, isa, name);
}

void BackendUnderTest::mutate_plan(std::mt19937_64 &rng, ScanPlan &plan) const {
  testsupport::mutate_plan(rng, plan, shuffle_segments);
}

bool BackendUnderTest::check_block(const ScanPlan &plan, BlockFn fn, const uint8_t *query,
                                   const uint8_t *records, uint64_t n, uint64_t base,
                                   uint32_t limit, const std::string &what) const {
  return testsupport::check_block(plan, fn, name, query, records, n, base, limit, what);
}

bool BackendUnderTest::check_random_blocks(std::mt19937_64 &rng, const ScanPlan &plan, BlockFn fn,
                                           const std::string &what) const {
  return testsupport::check_random_blocks(rng, plan, fn, name, what);
}

int BackendUnderTest::check_block_at_guard_pages(std::mt19937_64 &rng, const ScanPlan &plan,
                                                 BlockFn fn, uint64_t n,
                                                 const std::string &what) const {
  return testsupport::check_block_at_guard_pages(rng, plan, fn, name, n, what);
}

}  // namespace jitson::testsupport
