// The hybrid pipeline against a brute-force reference of SEMANTICS.md §4.3 (exact equality of the
// scored list and the statistics), Tier-0 survivor counts, config errors (one per rule), and
// resonance decomposition.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "jitson/error.hpp"
#include "jitson/hybrid.hpp"
#include "support/oracle.hpp"

namespace jitson {
namespace {

std::vector<Isa> runnable_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (isa_supported(isa)) out.push_back(isa);
  }
  return out;
}

std::shared_ptr<Engine> shared_engine() {
  static std::shared_ptr<Engine> engine = std::make_shared<Engine>();
  return engine;
}

// ---- Test data: a query and records at chosen Hamming distances ----

struct Data {
  uint32_t record_bytes;
  std::vector<uint8_t> query;
  std::vector<uint8_t> records;
  uint64_t n() const { return records.size() / record_bytes; }
  const uint8_t *record(uint64_t i) const { return records.data() + i * record_bytes; }
  DatabaseView view() const { return DatabaseView::rows(records.data(), n(), record_bytes); }
};

// The query's bytes with exactly `flips` distinct bits flipped.
std::vector<uint8_t> with_flips(const std::vector<uint8_t> &q, uint32_t flips,
                                std::mt19937_64 &rng) {
  std::vector<uint8_t> r = q;
  const size_t bits = q.size() * 8;
  std::vector<uint32_t> pos(bits);
  for (size_t i = 0; i < bits; ++i) pos[i] = uint32_t(i);
  for (uint32_t i = 0; i < flips; ++i) {
    std::swap(pos[i], pos[i + rng() % (bits - i)]);
    r[pos[i] / 8] ^= uint8_t(1u << (pos[i] % 8));
  }
  return r;
}

// Records: near copies at spread-out distances (some far past any threshold), random records,
// exact duplicates (ties in every score) and records exactly at `boundary`.
Data make_data(uint32_t record_bits, uint64_t n, uint32_t boundary, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Data d;
  d.record_bytes = record_bits / 8;
  d.query.resize(d.record_bytes);
  for (auto &b : d.query) b = uint8_t(rng());
  for (uint64_t i = 0; i < n; ++i) {
    std::vector<uint8_t> r;
    switch (i % 10) {
      case 0:
        r.resize(d.record_bytes);
        for (auto &b : r) b = uint8_t(rng());
        break;
      case 1:
        r = i >= 10 ? std::vector<uint8_t>(d.record(i - 3), d.record(i - 3) + d.record_bytes)
                    : d.query;
        break;
      case 2:
        r = with_flips(d.query, boundary + uint32_t(rng() % 3) - 1, rng);
        break;
      default:
        r = with_flips(d.query, uint32_t(rng() % (record_bits * 6 / 10)), rng);
        break;
    }
    d.records.insert(d.records.end(), r.begin(), r.end());
  }
  return d;
}

// ---- Brute-force reference of §4.2–4.3 ----

uint64_t ref_survivor_count(const Tier0Config &t, uint64_t n) {
  if (t.mode == Tier0Mode::top_k) return std::min(t.top_k, n);
  const float prod = float(n) * t.fraction;  // float32, as the rule says
  const float c = std::ceil(prod);
  uint64_t k = c > 0 ? uint64_t(c) : 0;
  k = std::max<uint64_t>(k, 1);
  return std::min(k, n);
}

struct Reference {
  std::vector<HybridScore> scores;
  HybridStats stats;
  std::vector<HybridScore> all_scores;  // before top_k
};

Reference reference(const HybridConfig &c, const Data &d) {
  Reference ref;
  const uint64_t n = d.n();
  const uint32_t rb = d.record_bytes;
  std::vector<uint64_t> survivors(n);
  for (uint64_t i = 0; i < n; ++i) survivors[i] = i;
  if (c.tier0.enabled) {
    const uint64_t keep = ref_survivor_count(c.tier0, n);
    Tier0Stats &t = ref.stats.tier0;
    t.active = true;
    t.input_count = n;
    if (keep >= n) {
      t.survivor_count = n;
      t.min_survivor_dot = INT64_MIN;
      t.max_survivor_dot = INT64_MAX;
    } else {
      std::vector<std::pair<int64_t, uint64_t>> dots;
      for (uint64_t i = 0; i < n; ++i)
        dots.push_back({oracle::dot_i8(d.query.data(), d.record(i), rb), i});
      std::sort(dots.begin(), dots.end(), [](auto &a, auto &b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
      });
      dots.resize(keep);
      survivors.clear();
      for (auto &x : dots) survivors.push_back(x.second);
      std::sort(survivors.begin(), survivors.end());
      t.survivor_count = keep;
      t.pruned_count = n - keep;
      if (keep) {
        t.min_survivor_dot = dots.back().first;
        t.max_survivor_dot = dots.front().first;
      }
    }
  }
  // Hamming hits in survivor (= index) order, then a stable sort by distance.
  std::vector<std::pair<uint32_t, uint64_t>> hits;
  for (uint64_t i : survivors) {
    const auto dist = uint32_t(oracle::hamming(d.query.data(), d.record(i), rb));
    if (dist <= c.max_distance) hits.push_back({dist, i});
  }
  std::stable_sort(hits.begin(), hits.end(), [](auto &a, auto &b) { return a.first < b.first; });
  if (c.max_bf16_candidates && hits.size() > c.max_bf16_candidates) {
    hits.resize(c.max_bf16_candidates);
  }
  ref.stats.hamming_candidates = hits.size();
  const SigmaGate sigma = SigmaGate::make(c.record_bits);
  const size_t dims = rb / 2;
  for (auto [dist, i] : hits) {
    std::vector<uint16_t> q(dims), r(dims);
    std::memcpy(q.data(), d.query.data(), rb);
    std::memcpy(r.data(), d.record(i), rb);
    HybridScore s;
    s.index = i;
    s.hamming_distance = dist;
    s.energy = oracle::energy_conflict(d.query.data(), d.record(i), rb);
    s.hdr = score_hdr(dist, c.gate);
    s.sigma = score_sigma(dist, sigma);
    s.bf16_distance = oracle::bf16_distance(q.data(), r.data(), dims, c.bf16_weights);
    for (size_t k = 0; k < dims; ++k) {
      const unsigned x = unsigned(q[k] ^ r[k]);
      s.diff.sign_flips += x >> 15;
      const unsigned e = unsigned(std::popcount((x >> 7) & 0xFFu));
      s.diff.exponent_bits_changed += e;
      s.diff.major_magnitude_shifts += e >= 2;
      s.diff.mantissa_bits_changed += unsigned(std::popcount(x & 0x7Fu));
    }
    std::vector<uint8_t> states(dims);
    const uint16_t *pair[2] = {q.data(), r.data()};
    oracle::bf16_awareness(pair, 2, dims, c.awareness, states.data(), nullptr, nullptr, nullptr);
    uint64_t counts[4] = {};
    for (uint8_t st : states) ++counts[st];
    s.awareness = {float(counts[0]) / float(dims), float(counts[1]) / float(dims),
                   float(counts[2]) / float(dims), float(counts[3]) / float(dims)};
    s.combined_score = double(dist) * c.hamming_weight + double(s.bf16_distance) * c.bf16_weight;
    ref.stats.bf16_scored++;
    ref.stats.sign_flip_candidates += s.diff.sign_flips > 0;
    ref.stats.magnitude_shift_candidates += s.diff.major_magnitude_shifts > 0;
    ref.scores.push_back(s);
  }
  std::sort(ref.scores.begin(), ref.scores.end(), [](auto &a, auto &b) {
    return a.combined_score != b.combined_score ? a.combined_score < b.combined_score
                                                : a.index < b.index;
  });
  ref.all_scores = ref.scores;
  if (c.top_k && ref.scores.size() > c.top_k) ref.scores.resize(c.top_k);
  return ref;
}

void expect_same_scores(const std::vector<HybridScore> &got, const std::vector<HybridScore> &want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("score " + std::to_string(i));
    EXPECT_EQ(got[i].index, want[i].index);
    EXPECT_EQ(got[i].hamming_distance, want[i].hamming_distance);
    EXPECT_EQ(got[i].hdr, want[i].hdr);
    EXPECT_EQ(got[i].energy, want[i].energy);
    EXPECT_EQ(got[i].sigma, want[i].sigma);
    EXPECT_EQ(got[i].bf16_distance, want[i].bf16_distance);
    EXPECT_EQ(got[i].diff, want[i].diff);
    EXPECT_EQ(got[i].awareness, want[i].awareness);
    EXPECT_EQ(got[i].combined_score, want[i].combined_score);
  }
}

void expect_same_stats(const HybridStats &got, const HybridStats &want, uint64_t scanned) {
  EXPECT_EQ(got.tier0.active, want.tier0.active);
  EXPECT_EQ(got.tier0.input_count, want.tier0.input_count);
  EXPECT_EQ(got.tier0.survivor_count, want.tier0.survivor_count);
  EXPECT_EQ(got.tier0.pruned_count, want.tier0.pruned_count);
  EXPECT_EQ(got.tier0.min_survivor_dot, want.tier0.min_survivor_dot);
  EXPECT_EQ(got.tier0.max_survivor_dot, want.tier0.max_survivor_dot);
  EXPECT_EQ(got.binary.records, scanned);
  EXPECT_EQ(got.hamming_candidates, want.hamming_candidates);
  EXPECT_EQ(got.bf16_scored, want.bf16_scored);
  EXPECT_EQ(got.sign_flip_candidates, want.sign_flip_candidates);
  EXPECT_EQ(got.magnitude_shift_candidates, want.magnitude_shift_candidates);
}

void check_pipeline(const HybridConfig &c, const Data &d) {
  HybridPipeline p(c, shared_engine());
  HybridResult got = p.run(d.query, d.view());
  Reference want = reference(c, d);
  expect_same_scores(got.scores, want.scores);
  const uint64_t scanned = c.tier0.enabled ? want.stats.tier0.survivor_count : d.n();
  expect_same_stats(got.stats, want.stats, scanned);
}

// ---- The pipeline against the reference ----

TEST(HybridPipeline, Defaults16K) {
  HybridConfig c = HybridConfig::defaults(16384);
  EXPECT_EQ(c.max_distance, 8027u);  // k2_cold − 1: hits are the seed's HDR matches
  EXPECT_EQ(c.max_bf16_candidates, 100u);
  Data d = make_data(16384, 400, c.max_distance, 1);
  check_pipeline(c, d);
  HybridResult r = HybridPipeline(c, shared_engine()).run(d.query, d.view());
  ASSERT_FALSE(r.scores.empty());
  EXPECT_EQ(r.scores.size(), 100u);  // more than 100 hits: the candidate limit applies
  EXPECT_EQ(r.scores[0].hamming_distance, 0u);
  EXPECT_EQ(r.scores[0].combined_score, 0.0);
  EXPECT_EQ(r.scores[0].index, 1u);  // record 1 is the query's copy
}

TEST(HybridPipeline, VariantsAgainstReference) {
  Data d16 = make_data(16384, 300, 3000, 2);
  struct Variant {
    const char *name;
    void (*edit)(HybridConfig &);
  };
  const Variant variants[] = {
      {"all candidates", [](HybridConfig &c) { c.max_bf16_candidates = 0; }},
      {"one candidate", [](HybridConfig &c) { c.max_bf16_candidates = 1; }},
      {"top_k", [](HybridConfig &c) { c.top_k = 7; }},
      {"threshold 3000", [](HybridConfig &c) { c.max_distance = 3000; }},
      {"threshold 0", [](HybridConfig &c) { c.max_distance = 0; }},
      {"threshold max",
       [](HybridConfig &c) {
         c.max_distance = 16384;
         c.max_bf16_candidates = 0;
       }},
      {"hamming only (ties on combined go by index)",
       [](HybridConfig &c) {
         c.bf16_weight = 0;
         c.max_bf16_candidates = 0;
       }},
      {"bf16 only", [](HybridConfig &c) { c.hamming_weight = 0; }},
      {"jina weights", [](HybridConfig &c) { c.bf16_weights = BF16Weights::jina(); }},
      {"awareness thresholds",
       [](HybridConfig &c) {
         c.awareness = AwarenessThresholds{100, 0, 3};
       }},
      {"tier0 top_k",
       [](HybridConfig &c) {
         c.tier0.enabled = true;
         c.tier0.mode = Tier0Mode::top_k;
         c.tier0.top_k = 120;
       }},
      {"tier0 fraction",
       [](HybridConfig &c) {
         c.tier0.enabled = true;
         c.tier0.fraction = 0.1f;
         c.max_bf16_candidates = 0;
       }},
      {"tier0 keeps all",
       [](HybridConfig &c) {
         c.tier0.enabled = true;
         c.tier0.mode = Tier0Mode::top_k;
         c.tier0.top_k = 100000;
       }},
      {"tier0 keeps none",
       [](HybridConfig &c) {
         c.tier0.enabled = true;
         c.tier0.mode = Tier0Mode::top_k;
         c.tier0.top_k = 0;
       }},
      {"cascade off", [](HybridConfig &c) { c.cascade = CascadeMode::off; }},
      {"cascade stages",
       [](HybridConfig &c) {
         c.max_distance = 2000;
         c.cascade_stages = {2, 16, 64};
       }},
      {"runtime backend", [](HybridConfig &c) { c.backend = BackendChoice::runtime; }},
  };
  for (const Variant &v : variants) {
    SCOPED_TRACE(v.name);
    HybridConfig c = HybridConfig::defaults(16384);
    v.edit(c);
    check_pipeline(c, d16);
  }
}

TEST(HybridPipeline, LearningProfileAnd64K) {
  HybridConfig learn = HybridConfig::learning(16384);
  EXPECT_EQ(learn.gate, SliceGate::learning(16384));
  EXPECT_EQ(learn.bf16_weights, BF16Weights::training());
  EXPECT_EQ(learn.hamming_weight, 0.5);
  EXPECT_EQ(learn.bf16_weight, 0.02);
  EXPECT_EQ(learn.max_bf16_candidates, 50u);
  EXPECT_EQ(learn.max_distance, 4914u);
  check_pipeline(learn, make_data(16384, 200, 4914, 3));

  HybridConfig c64 = HybridConfig::defaults(65536);
  EXPECT_EQ(c64.max_distance, 32111u);
  c64.max_bf16_candidates = 20;
  Data d64 = make_data(65536, 60, 32111, 4);
  check_pipeline(c64, d64);
  c64.tier0.enabled = true;
  check_pipeline(c64, d64);
}

TEST(HybridPipeline, EveryForcedIsaGivesTheSameList) {
  Data d = make_data(16384, 200, 8027, 5);
  HybridConfig c = HybridConfig::defaults(16384);
  c.max_bf16_candidates = 0;
  c.tier0.enabled = true;
  c.tier0.fraction = 0.5f;
  const Reference want = reference(c, d);
  for (Isa isa : runnable_isas()) {
    SCOPED_TRACE(isa_name(isa));
    HybridConfig ci = c;
    ci.isa = isa == Isa::scalar ? IsaChoice::scalar
             : isa == Isa::avx2 ? IsaChoice::avx2
                                : IsaChoice::avx512;
    HybridPipeline p(ci, shared_engine());
    EXPECT_EQ(p.kernel_table().isa, isa);
    EXPECT_EQ(p.hamming_kernel().isa(), isa);
    HybridResult r = p.run(d.query, d.view());
    expect_same_scores(r.scores, want.scores);
  }
}

TEST(HybridPipeline, EmptyDatabaseAndBadInputs) {
  HybridConfig c = HybridConfig::defaults(16384);
  HybridPipeline p(c, shared_engine());
  std::vector<uint8_t> q(2048, 0);
  HybridResult r = p.run(q, DatabaseView::rows(nullptr, 0, 2048));
  EXPECT_TRUE(r.scores.empty());
  EXPECT_EQ(r.stats.binary.records, 0u);
  c.tier0.enabled = true;
  HybridResult r2 = HybridPipeline(c, shared_engine()).run(q, DatabaseView::rows(nullptr, 0, 2048));
  EXPECT_TRUE(r2.scores.empty());
  EXPECT_TRUE(r2.stats.tier0.active);
  EXPECT_EQ(r2.stats.tier0.input_count, 0u);

  std::vector<uint8_t> db(4096);
  std::vector<uint8_t> short_query(2047);
  EXPECT_THROW(p.run(short_query, DatabaseView::rows(db.data(), 2, 2048)), Error);
  EXPECT_THROW(p.run(std::vector<uint8_t>(1024), DatabaseView::rows(db.data(), 4, 1024)), Error);

  auto rejects = [](void (*edit)(HybridConfig &)) {
    HybridConfig bad = HybridConfig::defaults(16384);
    edit(bad);
    try {
      HybridPipeline(bad, shared_engine());
    } catch (const Error &e) {
      EXPECT_EQ(e.kind(), ErrorKind::invalid_argument) << e.what();
      return true;
    }
    return false;
  };
  EXPECT_TRUE(rejects([](HybridConfig &c) { c.record_bits = 8192; }));
  EXPECT_TRUE(rejects([](HybridConfig &c) { c.max_distance = 16385; }));
  EXPECT_TRUE(rejects([](HybridConfig &c) { c.hamming_weight = -1; }));
  EXPECT_TRUE(rejects([](HybridConfig &c) { c.bf16_weight = std::nan(""); }));
  EXPECT_TRUE(rejects([](HybridConfig &c) { c.bf16_weights = {65535, 1, 0}; }));
  EXPECT_TRUE(rejects([](HybridConfig &c) { c.max_bf16_candidates = 1000001; }));
  EXPECT_TRUE(rejects([](HybridConfig &c) {
    c.tier0.enabled = true;
    c.tier0.fraction = 0;
  }));
}

// ---- Tier-0 ----

TEST(Tier0, SurvivorCounts) {
  Tier0Config t;
  t.mode = Tier0Mode::top_k;
  t.top_k = 50;
  EXPECT_EQ(t.survivor_count(100), 50u);
  EXPECT_EQ(t.survivor_count(30), 30u);
  EXPECT_EQ(t.survivor_count(0), 0u);
  t.top_k = 0;
  EXPECT_EQ(t.survivor_count(10), 0u);

  Tier0Config f;  // fraction 0.25 by default
  EXPECT_EQ(f.survivor_count(100), 25u);
  EXPECT_EQ(f.survivor_count(4), 1u);
  EXPECT_EQ(f.survivor_count(5), 2u);  // ceil(1.25)
  EXPECT_EQ(f.survivor_count(1), 1u);  // at least 1
  EXPECT_EQ(f.survivor_count(0), 0u);  // ... but never more than n
  // ceil in float32: 10 · 0.1f rounds to exactly 1.0f (in double it is 1.0000000149 → 2).
  f.fraction = 0.1f;
  EXPECT_EQ(f.survivor_count(10), 1u);
  EXPECT_EQ(uint64_t(std::ceil(10.0 * double(0.1f))), 2u);
  // Clamps: tiny, negative or NaN fractions keep 1; more than 1 keeps n.
  f.fraction = 1e-30f;
  EXPECT_EQ(f.survivor_count(1000), 1u);
  f.fraction = -0.5f;
  EXPECT_EQ(f.survivor_count(1000), 1u);
  f.fraction = std::nanf("");
  EXPECT_EQ(f.survivor_count(1000), 1u);
  f.fraction = 2.0f;
  EXPECT_EQ(f.survivor_count(1000), 1000u);
  // n is converted to float32 first: 2^24 + 1 becomes 2^24, 2^24 + 3 becomes 2^24 + 4 (clamped).
  f.fraction = 1.0f;
  EXPECT_EQ(f.survivor_count(16777217), 16777216u);
  EXPECT_EQ(f.survivor_count(16777219), 16777219u);
  for (uint64_t n = 0; n < 300; ++n) {
    for (float fr : {0.01f, 0.1f, 0.25f, 0.3f, 0.333f, 0.5f, 0.7f, 0.99f, 1.0f}) {
      f.fraction = fr;
      EXPECT_EQ(f.survivor_count(n), ref_survivor_count(f, n)) << n << " " << fr;
    }
  }
}

TEST(Tier0, PrefilterAgainstReferenceWithTies) {
  Data d = make_data(16384, 150, 100, 6);  // duplicates give equal dot products
  for (Isa isa : runnable_isas()) {
    for (uint64_t k : {uint64_t(0), uint64_t(1), uint64_t(7), uint64_t(40), uint64_t(149),
                       uint64_t(150), uint64_t(1000)}) {
      Tier0Config t;
      t.enabled = true;
      t.mode = Tier0Mode::top_k;
      t.top_k = k;
      Tier0Stats stats;
      std::vector<uint64_t> got = tier0_prefilter(d.query, d.view(), t, stats, kernel_table(isa));
      HybridConfig c = HybridConfig::defaults(16384);
      c.tier0 = t;
      Reference ref = reference(c, d);
      EXPECT_EQ(stats.survivor_count, got.size());
      EXPECT_EQ(stats.survivor_count, ref.stats.tier0.survivor_count) << k;
      EXPECT_EQ(stats.pruned_count, ref.stats.tier0.pruned_count) << k;
      EXPECT_EQ(stats.min_survivor_dot, ref.stats.tier0.min_survivor_dot) << k;
      EXPECT_EQ(stats.max_survivor_dot, ref.stats.tier0.max_survivor_dot) << k;
      EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
      // The survivors are exactly the best k by (dot desc, index asc).
      std::vector<std::pair<int64_t, uint64_t>> all;
      for (uint64_t i = 0; i < d.n(); ++i) {
        all.push_back({-oracle::dot_i8(d.query.data(), d.record(i), d.record_bytes), i});
      }
      std::sort(all.begin(), all.end());
      std::vector<uint64_t> want;
      for (uint64_t i = 0; i < std::min<uint64_t>(k, d.n()); ++i) want.push_back(all[i].second);
      std::sort(want.begin(), want.end());
      EXPECT_EQ(got, want) << k;
    }
  }
}

TEST(Tier0, IsLossyAndSaysSo) {
  // A record that is a close Hamming hit but has the lowest dot product: Tier-0 prunes it.
  Data d;
  d.record_bytes = 2048;
  d.query.assign(2048, 0x01);
  std::vector<uint8_t> near = d.query;  // distance 8 from the query, dot 2040
  for (int i = 0; i < 8; ++i) near[i] = 0x00;
  std::vector<uint8_t> far(2048, 0x7F);  // far in Hamming, large dot product
  for (int i = 0; i < 10; ++i) d.records.insert(d.records.end(), far.begin(), far.end());
  d.records.insert(d.records.end(), near.begin(), near.end());
  HybridConfig c = HybridConfig::defaults(16384);
  c.max_distance = 100;
  HybridResult without = HybridPipeline(c, shared_engine()).run(d.query, d.view());
  ASSERT_EQ(without.scores.size(), 1u);
  EXPECT_EQ(without.scores[0].index, 10u);
  c.tier0.enabled = true;
  c.tier0.mode = Tier0Mode::top_k;
  c.tier0.top_k = 5;
  HybridResult with = HybridPipeline(c, shared_engine()).run(d.query, d.view());
  EXPECT_TRUE(with.scores.empty());  // the true match was pruned
  EXPECT_EQ(with.stats.tier0.pruned_count, 6u);
  check_pipeline(c, d);
}

// ---- Resonance decomposition ----

TEST(Resonance, DecomposeAgainstReference) {
  Data d = make_data(16384, 200, 2000, 9);
  HybridConfig c = HybridConfig::defaults(16384);
  c.max_distance = 6000;
  c.top_k = 2;  // resonance uses the full list, not the truncated one
  HybridPipeline p(c, shared_engine());
  const Reference ref = reference(c, d);
  for (size_t top_k : {size_t(0), size_t(2), size_t(3), size_t(10), size_t(1000)}) {
    SCOPED_TRACE(top_k);
    ResonanceResult r = p.resonance_decompose(d.query, d.view(), top_k);
    const size_t n_top = std::min(top_k, ref.all_scores.size());
    if (n_top >= 3) {
      EXPECT_EQ(r.noise_floor, ref.all_scores[n_top - 1].combined_score * 1.1);
    } else {
      EXPECT_EQ(r.noise_floor, std::numeric_limits<double>::max());
    }
    std::vector<uint64_t> cr, te, un;
    const size_t dims = 1024;
    for (size_t i = 0; i < n_top; ++i) {
      const HybridScore &s = ref.all_scores[i];
      const uint16_t *pair[2] = {reinterpret_cast<const uint16_t *>(d.query.data()),
                                 reinterpret_cast<const uint16_t *>(d.record(s.index))};
      std::vector<uint8_t> st(dims);
      oracle::bf16_awareness(pair, 2, dims, c.awareness, st.data(), nullptr, nullptr, nullptr);
      const float crys = float(std::count(st.begin(), st.end(), 0)) / float(dims);
      const float tens = float(std::count(st.begin(), st.end(), 1)) / float(dims);
      (crys > 0.5f ? cr : tens > 0.3f ? te : un).push_back(s.index);
    }
    auto indices = [](const std::vector<ResonantMatch> &m) {
      std::vector<uint64_t> out;
      for (auto &x : m) out.push_back(x.index);
      return out;
    };
    EXPECT_EQ(indices(r.crystallized), cr);
    EXPECT_EQ(indices(r.tensioned), te);
    EXPECT_EQ(indices(r.uncertain), un);
    for (auto *bucket : {&r.crystallized, &r.tensioned, &r.uncertain}) {
      for (const ResonantMatch &m : *bucket) {
        EXPECT_EQ(m.awareness.n_dims, dims);
        EXPECT_EQ(m.crystallized_ratio, m.awareness.crystallized_pct);
      }
    }
    ASSERT_TRUE(r.learning_signal.has_value());
    // From the query and the best two of the full list: a 3-vector decomposition.
    const uint16_t *three[3] = {
        reinterpret_cast<const uint16_t *>(d.query.data()),
        reinterpret_cast<const uint16_t *>(d.record(ref.all_scores[0].index)),
        reinterpret_cast<const uint16_t *>(d.record(ref.all_scores[1].index))};
    std::vector<uint8_t> st(dims);
    oracle::bf16_awareness(three, 3, dims, c.awareness, st.data(), nullptr, nullptr, nullptr);
    for (size_t k = 0; k < dims; ++k) {
      ASSERT_EQ(uint8_t(r.learning_signal->awareness.states[k]), st[k]) << k;
    }
    EXPECT_EQ(r.learning_signal->total_sign_flips,
              ref.all_scores[0].diff.sign_flips + ref.all_scores[1].diff.sign_flips);
  }
  // No match: no learning signal.
  HybridConfig none = c;
  none.max_distance = 0;
  Data far = make_data(16384, 10, 5000, 10);
  far.records.erase(far.records.begin() + 2048, far.records.begin() + 2 * 2048);  // drop the copy
  ResonanceResult empty =
      HybridPipeline(none, shared_engine()).resonance_decompose(far.query, far.view());
  EXPECT_FALSE(empty.learning_signal.has_value());
  EXPECT_TRUE(empty.crystallized.empty());
}

// ---- The JSON config ----

TEST(HybridConfigJson, FullConfigParses) {
  HybridConfig c = parse_hybrid_config(R"({
    "version": 1, "name": "demo", "record_bits": 65536, "record_type": "bf16",
    "profile": "learning", "max_distance": 20000,
    "cascade": {"mode": "exact", "stages": [2, 16]},
    "tier0": {"enabled": true, "mode": "top_k", "value": 500},
    "bf16_weights": {"sign": 512, "exponent": 8, "mantissa": 2},
    "hamming_weight": 0.75, "bf16_weight": 0, "max_bf16_candidates": 0,
    "awareness": {"sign_consensus": 100, "exp_spread": 3, "mantissa_noise": 2},
    "top_k": 12, "isa": "scalar", "backend": "runtime"})");
  EXPECT_EQ(c.name, "demo");
  EXPECT_EQ(c.record_bits, 65536u);
  EXPECT_EQ(c.profile, HybridProfile::learning);
  EXPECT_EQ(c.gate, SliceGate::learning(65536));
  EXPECT_EQ(c.max_distance, 20000u);
  EXPECT_EQ(c.cascade, CascadeMode::exact);
  EXPECT_EQ(c.cascade_stages, (std::vector<uint32_t>{2, 16}));
  EXPECT_TRUE(c.tier0.enabled);
  EXPECT_EQ(c.tier0.mode, Tier0Mode::top_k);
  EXPECT_EQ(c.tier0.top_k, 500u);
  EXPECT_EQ(c.bf16_weights, (BF16Weights{512, 8, 2}));
  EXPECT_EQ(c.hamming_weight, 0.75);
  EXPECT_EQ(c.bf16_weight, 0.0);
  EXPECT_EQ(c.max_bf16_candidates, 0u);
  EXPECT_EQ(c.awareness.sign_consensus, 100);
  EXPECT_EQ(c.awareness.exp_spread, 3);
  EXPECT_EQ(c.awareness.mantissa_noise, 2);
  EXPECT_EQ(c.top_k, 12u);
  EXPECT_EQ(c.isa, IsaChoice::scalar);
  EXPECT_EQ(c.backend, BackendChoice::runtime);

  // Minimal config: the §4.1 defaults.
  HybridConfig m =
      parse_hybrid_config(R"({"version": 1, "record_bits": 16384, "record_type": "bf16"})");
  HybridConfig def = HybridConfig::defaults(16384);
  EXPECT_EQ(m.max_distance, def.max_distance);
  EXPECT_EQ(m.bf16_weights, def.bf16_weights);
  EXPECT_EQ(m.max_bf16_candidates, 100u);
  EXPECT_FALSE(m.tier0.enabled);
  EXPECT_EQ(m.tier0.fraction, 0.25f);
  EXPECT_EQ(m.top_k, 0u);

  HybridConfig w = parse_hybrid_config(
      R"({"version": 1, "record_bits": 16384, "record_type": "bf16", "bf16_weights": "jina",
          "tier0": {"enabled": true, "value": 0.1}, "cascade": {"mode": "statistical",
          "safety_margin": 2}})");
  EXPECT_EQ(w.bf16_weights, BF16Weights::jina());
  EXPECT_EQ(w.tier0.mode, Tier0Mode::fraction);
  EXPECT_EQ(w.tier0.fraction, 0.1f);
  EXPECT_EQ(w.cascade, CascadeMode::statistical);
  EXPECT_EQ(w.safety_margin, 2.0);

  // A pipeline straight from JSON runs like the equivalent struct.
  Data d = make_data(16384, 80, 3000, 11);
  HybridPipeline p = HybridPipeline::from_json(
      R"({"version": 1, "record_bits": 16384, "record_type": "bf16", "max_distance": 5000,
          "max_bf16_candidates": 0, "bf16_weights": "training"})",
      shared_engine());
  HybridConfig same = HybridConfig::defaults(16384);
  same.max_distance = 5000;
  same.max_bf16_candidates = 0;
  same.bf16_weights = BF16Weights::training();
  expect_same_scores(p.run(d.query, d.view()).scores, reference(same, d).scores);
}

// One config per rule: the error names the pointer and says what is allowed.
TEST(HybridConfigJson, ErrorsNameThePointer) {
  const std::string base = R"("version": 1, "record_bits": 16384, "record_type": "bf16")";
  struct Case {
    std::string json, pointer, words;
  };
  const Case cases[] = {
      {"{" + base + ",}", "/", "parse error"},
      {"[1]", "/", "object"},
      {"{" + base + R"(, "top_k": 1, "top_k": 2})", "/top_k", "duplicate"},
      {"{" + base + R"(, "colour": 1})", "/colour", "unknown field"},
      {R"({"record_bits": 16384, "record_type": "bf16"})", "/version", "required"},
      {R"({"version": 2, "record_bits": 16384, "record_type": "bf16"})", "/version", "version 1"},
      {R"({"version": 1, "record_type": "bf16"})", "/record_bits", "required"},
      {R"({"version": 1, "record_bits": 8192, "record_type": "bf16"})", "/record_bits",
       "16384, 65536"},
      {R"({"version": 1, "record_bits": 16384})", "/record_type", "required"},
      {R"({"version": 1, "record_bits": 16384, "record_type": "binary"})", "/record_type", "bf16"},
      {"{" + base + R"(, "profile": "fast"})", "/profile", "learning"},
      {"{" + base + R"(, "name": 3})", "/name", "string"},
      {"{" + base + R"(, "max_distance": 16385})", "/max_distance", "0..16384"},
      {"{" + base + R"(, "max_distance": 1.5})", "/max_distance", "fraction or an exponent"},
      {"{" + base + R"(, "cascade": {"mode": "fast"}})", "/cascade/mode", "exact"},
      {"{" + base + R"(, "cascade": {"depth": 1}})", "/cascade/depth", "unknown field"},
      {"{" + base + R"(, "cascade": {"mode": "off", "stages": [1]}})", "/cascade/stages", "stages"},
      {"{" + base + R"(, "tier0": true})", "/tier0", "object"},
      {"{" + base + R"(, "tier0": {"mode": "top_k", "value": 3}})", "/tier0/enabled", "required"},
      {"{" + base + R"(, "tier0": {"enabled": "yes"}})", "/tier0/enabled", "true or false"},
      {"{" + base + R"(, "tier0": {"enabled": true, "mode": "best"}})", "/tier0/mode", "top_k"},
      {"{" + base + R"(, "tier0": {"enabled": true, "mode": "top_k"}})", "/tier0/value",
       "required"},
      {"{" + base + R"(, "tier0": {"enabled": true, "mode": "top_k", "value": 0}})", "/tier0/value",
       "out of range"},
      {"{" + base + R"(, "tier0": {"enabled": true, "value": 1.5}})", "/tier0/value", "(0, 1]"},
      {"{" + base + R"(, "tier0": {"enabled": true, "value": 0}})", "/tier0/value", "> 0"},
      {"{" + base + R"(, "tier0": {"enabled": true, "value": 1e-50}})", "/tier0/value", "float32"},
      {"{" + base + R"(, "tier0": {"enabled": true, "every": 2}})", "/tier0/every",
       "unknown field"},
      {"{" + base + R"(, "bf16_weights": "fancy"})", "/bf16_weights", "jina"},
      {"{" + base + R"(, "bf16_weights": 5})", "/bf16_weights", "preset name"},
      {"{" + base + R"(, "bf16_weights": {"sign": 1, "mantissa": 1}})", "/bf16_weights/exponent",
       "required"},
      {"{" + base + R"(, "bf16_weights": {"sign": 70000, "exponent": 1, "mantissa": 1}})",
       "/bf16_weights/sign", "0..65535"},
      {"{" + base + R"(, "bf16_weights": {"sign": 60000, "exponent": 1000, "mantissa": 1}})",
       "/bf16_weights", "65535"},
      {"{" + base + R"(, "bf16_weights": {"sign": 1, "exponent": 1, "mantissa": 1, "x": 1}})",
       "/bf16_weights/x", "unknown field"},
      {"{" + base + R"(, "hamming_weight": -1})", "/hamming_weight", ">= 0"},
      {"{" + base + R"(, "bf16_weight": "0.01"})", "/bf16_weight", "number"},
      {"{" + base + R"(, "max_bf16_candidates": 1000001})", "/max_bf16_candidates", "0..1000000"},
      {"{" + base + R"(, "awareness": {"exp_spread": 256}})", "/awareness/exp_spread", "0..255"},
      {"{" + base + R"(, "awareness": {"sign": 1}})", "/awareness/sign", "unknown field"},
      {"{" + base + R"(, "top_k": 0})", "/top_k", "1..1000000"},
      {"{" + base + R"(, "isa": "sse"})", "/isa", "avx512"},
      {"{" + base + R"(, "backend": "gpu"})", "/backend", "xbyak"},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.json);
    try {
      parse_hybrid_config(c.json);
      ADD_FAILURE() << "accepted";
    } catch (const ConfigError &e) {
      EXPECT_EQ(e.pointer(), c.pointer) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.words), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).rfind(c.pointer + ": ", 0), 0u) << e.what();
    }
  }
}

}  // namespace
}  // namespace jitson
