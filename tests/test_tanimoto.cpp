// Tanimoto similarity (docs/TANIMOTO.md): the rank arithmetic, the exact decimal threshold, the
// config rules, and a differential suite of random configs × data (chemical densities, tie-heavy
// pools, empty queries and records, records equal to the query) over every backend, ISA and
// entry point (scan, scan_range, scan_batch, the chunked accumulator, gathered records) against
// the bit-by-bit oracle. JITSON_TANIMOTO_CASES=N sets the number of random cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "jitson/config.hpp"
#include "jitson/engine.hpp"
#include "jitson/error.hpp"
#include "jitson/metric.hpp"
#include "jitson/topk.hpp"
#include "support/oracle.hpp"

namespace jitson {
namespace {

using u128 = unsigned __int128;

// Backends that generate Tanimoto code themselves; the rest fall back to the runtime backend
// (the kernel says so in describe()).
constexpr bool kXbyakGeneratesTanimoto = true;
constexpr bool kLlvmGeneratesTanimoto = true;

// ---- The rank: strictly decreasing in T, equal exactly for equal T, decodable.

TEST(TanimotoRank, OrdersEveryPairOfFractionsExactly) {
  std::mt19937_64 rng(7);
  auto random_fraction = [&](uint32_t max_u) {
    const uint32_t u = uint32_t(rng() % (max_u + 1));
    return std::pair<uint32_t, uint32_t>{u ? uint32_t(rng() % (u + 1)) : 0, u};
  };
  for (int i = 0; i < 2'000'000; ++i) {
    // Half the pairs near the largest denominators, where the rank's resolution is tightest.
    const uint32_t max_u = i % 2 ? kMaxRecordBits : 64;
    auto [c1, u1] = random_fraction(max_u);
    auto [c2, u2] = random_fraction(max_u);
    if (i % 4 == 0 && u1 > 1) u2 = u1 - 1, c2 = std::min(c1, u2);  // neighbouring denominators
    const u128 t1n = u1 ? c1 : 1, t1d = u1 ? u1 : 1, t2n = u2 ? c2 : 1, t2d = u2 ? u2 : 1;
    const u128 lhs = t1n * t2d, rhs = t2n * t1d;
    const uint32_t r1 = tanimoto_rank(c1, u1), r2 = tanimoto_rank(c2, u2);
    if (lhs > rhs) {
      ASSERT_LT(r1, r2) << c1 << "/" << u1 << " vs " << c2 << "/" << u2;
    } else if (lhs < rhs) {
      ASSERT_GT(r1, r2) << c1 << "/" << u1 << " vs " << c2 << "/" << u2;
    } else {
      ASSERT_EQ(r1, r2) << c1 << "/" << u1 << " vs " << c2 << "/" << u2;
    }
    const TanimotoHit back = tanimoto_of(r1, u1);
    ASSERT_EQ(back.intersection, u1 ? c1 : 0);
    ASSERT_EQ(back.union_bits, u1);
    ASSERT_EQ(back.similarity, u1 ? double(c1) / double(u1) : 1.0);
  }
  EXPECT_EQ(tanimoto_rank(0, 0), 0u);  // an empty union is T = 1
  EXPECT_EQ(tanimoto_rank(5, 5), 0u);
  EXPECT_EQ(tanimoto_rank(0, 7), kTanimotoMaxRank);
  // The closest pair of distinct similarities with denominators <= 65536 still differ in rank.
  EXPECT_LT(tanimoto_rank(65535, 65536), tanimoto_rank(65534, 65535));
}

TEST(TanimotoRank, KeepRuleIsRankBelowLimit) {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 1'000'000; ++i) {
    const uint32_t u = uint32_t(rng() % (kMaxRecordBits + 1));
    const uint32_t c = u ? uint32_t(rng() % (u + 1)) : 0;
    const uint32_t rank = tanimoto_rank(c, u);
    uint32_t limit = uint32_t(rng() % (uint64_t(kTanimotoMaxRank) + 2));
    if (i % 3 == 0) limit = rank + uint32_t(rng() % 3) - std::min<uint32_t>(rank, 1);
    ASSERT_EQ(tanimoto_keeps(c, u, limit), rank < limit) << c << "/" << u << " limit " << limit;
  }
}

// The stage bound never rejects a record the full evaluation would keep.
TEST(TanimotoRank, StageBoundIsAnUpperBound) {
  std::mt19937_64 rng(13);
  for (int i = 0; i < 200'000; ++i) {
    const int words = 1 + int(rng() % 6), seen = int(rng() % (words + 1));
    const uint64_t density = rng() % 4;
    uint32_t a = 0, a_seen = 0, c = 0, c_seen = 0, b = 0, b_seen = 0;
    for (int w = 0; w < words; ++w) {
      uint64_t q = rng(), r = rng();
      for (uint64_t d = 0; d < density; ++d) q &= rng(), r &= rng();
      const auto pc = [](uint64_t x) { return uint32_t(std::popcount(x)); };
      a += pc(q), c += pc(q & r), b += pc(r);
      if (w < seen) a_seen += pc(q), c_seen += pc(q & r), b_seen += pc(r);
    }
    const uint32_t u = a + b - c, limit = tanimoto_rank(c, u) + 1;
    ASSERT_FALSE(tanimoto_stage_rejects(c_seen, b_seen, a, a - a_seen, limit));
  }
}

// ---- min_similarity: the decimal as written, compared exactly.

uint32_t max_rank_of(const std::string &literal) {
  return parse_scan_config(R"({"version": 1, "record_bits": 2048, "metric": "tanimoto",
                               "min_similarity": )" +
                           literal + "}")
      .max_distance;
}

// T >= p/q for T = c/u, decided with integers.
bool at_least(uint32_t c, uint32_t u, u128 p, u128 q) {
  return u128(u ? c : 1) * q >= p * u128(u ? u : 1);
}

TEST(TanimotoThreshold, DecimalIsComparedAsTheRationalItDenotes) {
  struct Literal {
    std::string text;
    u128 p, q;
  };
  auto pow10 = [](int n) {
    u128 v = 1;
    while (n--) v *= 10;
    return v;
  };
  std::vector<Literal> literals = {
      {"0.7", 7, 10},
      {"7e-1", 7, 10},
      {"0.70", 7, 10},
      {"70E-2", 7, 10},
      {"0.5", 1, 2},
      {"0.333333333333333333333333333333333", pow10(33) / 3, pow10(33)},
      {"0.70000000000000000001", u128(7) * pow10(19) + 1, pow10(20)},
      {"0.69999999999999999999", u128(7) * pow10(19) - 1, pow10(20)},
      {"0.0000152587890625", 1, 65536},       // exactly 1/65536
      {"0.99998474121093750", 65535, 65536},  // exactly 65535/65536
      {"0.999984741210937500001", u128(99998474121093750) * 10000 + 1, pow10(21)},
      {"1.0", 1, 1},
      {"1", 1, 1},
      {"0", 0, 1},
      {"0.0", 0, 1},
      {"-0.0", 0, 1},
      {"0e5", 0, 1},
  };
  std::mt19937_64 rng(17);
  for (int i = 0; i < 40; ++i) {  // random decimals of 1..12 places
    const int places = 1 + int(rng() % 12);
    const u128 q = pow10(places), p = u128(rng()) % (q + 1);
    std::string digits;
    for (u128 x = p; x; x /= 10) digits.insert(digits.begin(), char('0' + int(x % 10)));
    if (p == q) {
      literals.push_back({"1", 1, 1});
      continue;
    }
    digits.insert(0, size_t(places) - digits.size(), '0');
    literals.push_back({"0." + digits, p, q});
  }
  for (const Literal &l : literals) {
    const uint32_t max_rank = max_rank_of(l.text);
    // Every similarity near the threshold (and a sample of all), both sides of it.
    for (int i = 0; i < 200'000; ++i) {
      const uint32_t u = uint32_t(1 + rng() % kMaxRecordBits);
      uint32_t c;
      if (i % 2) {
        c = uint32_t(std::min<u128>(u, (l.p * u + l.q - 1) / l.q));  // ceil(u·x): the first in
        c = uint32_t(std::max<int64_t>(0, int64_t(c) - int64_t(rng() % 2)));
      } else {
        c = uint32_t(rng() % (u + 1));
      }
      ASSERT_EQ(tanimoto_rank(c, u) <= max_rank, at_least(c, u, l.p, l.q))
          << l.text << ": " << c << "/" << u;
    }
    ASSERT_EQ(tanimoto_rank(0, 0) <= max_rank, true) << l.text;  // T = 1 passes every threshold
  }
}

TEST(TanimotoConfig, CanonicalTextKeepsTheDecimal) {
  const ScanSpec s = parse_scan_config(
      R"({"version": 1, "record_bits": 1024, "metric": "tanimoto", "min_similarity": 0.70,
          "top_k": 5})");
  EXPECT_EQ(s.metric, Metric::tanimoto);
  EXPECT_EQ(s.min_similarity, "0.7");
  const std::string canonical = s.canonical_json();
  EXPECT_NE(canonical.find("\"metric\":\"tanimoto\""), std::string::npos) << canonical;
  EXPECT_NE(canonical.find("\"min_similarity\":0.7,"), std::string::npos) << canonical;
  EXPECT_EQ(canonical.find("max_distance"), std::string::npos) << canonical;
  const ScanSpec again = parse_scan_config(canonical);
  EXPECT_TRUE(again.same_meaning(s));
  EXPECT_EQ(again.key(), s.key());
  EXPECT_EQ(again.canonical_json(), canonical);
  // Hamming configs keep their key: the metric's default is not written into it differently.
  const ScanSpec h = parse_scan_config(R"({"version": 1, "record_bits": 1024})");
  const ScanSpec h2 =
      parse_scan_config(R"({"version": 1, "record_bits": 1024, "metric": "hamming"})");
  EXPECT_EQ(h.key(), h2.key());
  EXPECT_FALSE(h.same_meaning(s));
  // Without a threshold every record qualifies.
  const ScanSpec all =
      parse_scan_config(R"({"version": 1, "record_bits": 1024, "metric": "tanimoto"})");
  EXPECT_EQ(all.max_distance, kTanimotoMaxRank);
  EXPECT_EQ(all.min_similarity, "");
  // An override can set the threshold, written as a decimal there too.
  const ScanSpec o = parse_scan_config(R"({"version": 1, "record_bits": 1024, "metric":
                                           "tanimoto", "min_similarity": 0.2})",
                                       R"({"min_similarity": 0.30000000000000000001})");
  EXPECT_EQ(o.min_similarity, "0.30000000000000000001");
}

void expect_config_error(const std::string &text, const std::string &pointer,
                         const std::string &rule_part) {
  try {
    parse_scan_config(text);
    ADD_FAILURE() << "accepted: " << text;
  } catch (const ConfigError &e) {
    EXPECT_EQ(e.pointer(), pointer) << text << "\n" << e.what();
    EXPECT_NE(std::string(e.what()).find(rule_part), std::string::npos) << e.what();
  }
}

TEST(TanimotoConfig, BadFieldsAreNamedWithTheirRule) {
  const std::string head = R"({"version": 1, "record_bits": 2048, )";
  expect_config_error(head + R"("metric": "jaccard"})", "/metric", "tanimoto");
  expect_config_error(head + R"("metric": "tanimoto", "max_distance": 3})", "/max_distance",
                      "min_similarity");
  expect_config_error(head + R"("min_similarity": 0.5})", "/min_similarity",
                      "applies only to metric \"tanimoto\"");
  const std::string tanimoto = head + R"("metric": "tanimoto", )";
  expect_config_error(tanimoto + R"("min_similarity": 1.5})", "/min_similarity", "[0, 1]");
  expect_config_error(tanimoto + R"("min_similarity": 2})", "/min_similarity", "[0, 1]");
  expect_config_error(tanimoto + R"("min_similarity": -0.1})", "/min_similarity", "[0, 1]");
  expect_config_error(tanimoto + R"("min_similarity": -1})", "/min_similarity", "[0, 1]");
  expect_config_error(tanimoto + R"("min_similarity": 1.00000000000000000001})", "/min_similarity",
                      "[0, 1]");
  expect_config_error(tanimoto + R"("min_similarity": "0.7"})", "/min_similarity",
                      "expected a number");
  expect_config_error(tanimoto + R"("min_similarity": null})", "/min_similarity",
                      "expected a number");
  expect_config_error(tanimoto + R"("min_similarity": 1e-34})", "/min_similarity", "at most 33");
  expect_config_error(tanimoto + R"("min_similarity": 0.5, "cascade": {"mode": "statistical"}})",
                      "/cascade/mode", "tanimoto");
  expect_config_error(tanimoto + R"("layout": "blocked"})", "/layout", "row");
}

TEST(TanimotoConfig, TenToTheMinusOneIsOne) {
  // 10e-1 is 1: in range, T = 1 only.
  EXPECT_EQ(max_rank_of("10e-1"), 0u);
  EXPECT_EQ(max_rank_of("0.1e1"), 0u);
}

// ---- Differential suite.

struct Case {
  uint64_t seed = 0;
  uint32_t record_bits = 0;
  std::string config;  // without backend / isa, open at the end
  std::vector<uint64_t> mask;
  oracle::TanimotoThreshold threshold;
  uint32_t top_k = 10;
  uint64_t n_records = 0, n_queries = 1;
  std::vector<uint8_t> db, queries;
  unsigned threads = 1;
  int api = 0;  // 0 scan, 1 scan_range pieces, 2 scan_batch, 3 accumulator chunks, 4 gather
};

void fill_random(std::mt19937_64 &rng, uint8_t *p, size_t bytes, int density_shifts) {
  for (size_t i = 0; i < bytes; i += 8) {
    uint64_t w = rng();
    for (int d = 0; d < density_shifts; ++d) w &= rng();  // density 2^-(1+d)
    std::memcpy(p + i, &w, std::min<size_t>(8, bytes - i));
  }
}

Case make_case(uint64_t seed) {
  std::mt19937_64 rng(seed);
  Case c;
  c.seed = seed;
  static const uint32_t sizes[] = {64, 128, 512, 1024, 2048, 2048, 2048, 4096, 16384, 65536};
  c.record_bits = rng() % 4 == 0 ? uint32_t(64 * (1 + rng() % 40)) : sizes[rng() % 10];
  const uint32_t bits = c.record_bits, bytes = bits / 8, words = bits / 64;
  std::string focus_json;
  if (rng() % 3 == 0) {
    c.mask.assign(words, 0);
    std::string ranges;
    const int n = 1 + int(rng() % 4);
    for (int r = 0; r < n; ++r) {
      const uint32_t a = uint32_t(rng() % bits), len = 1 + uint32_t(rng() % (bits / 2 + 1));
      const uint32_t b = std::min(bits, a + len);
      ranges += (r ? ", [" : "[") + std::to_string(a) + ", " + std::to_string(b) + "]";
      for (uint32_t i = a; i < b; ++i) c.mask[i / 64] |= uint64_t{1} << (i % 64);
    }
    focus_json = R"(, "focus": {"ranges": [)" + ranges + "]}";
  }
  // Chemical fingerprints are sparse (2-6 % of bits set); also dense and tie-heavy data.
  const int density = int(rng() % 6);  // 0: 50 %, 4: ~3 %, 5: ~1.5 %
  const uint64_t max_records = std::max<uint64_t>(4, (96u << 10) / bytes);
  c.n_records = rng() % 10 == 0 ? rng() % 3 : 1 + rng() % max_records;
  c.db.resize(c.n_records * bytes);
  const bool pool = rng() % 4 == 0;  // records drawn from a few patterns: many exact ties
  std::vector<uint8_t> patterns(4 * bytes);
  fill_random(rng, patterns.data(), patterns.size(), density);
  for (uint64_t r = 0; r < c.n_records; ++r) {
    uint8_t *rec = &c.db[r * bytes];
    if (pool) {
      std::memcpy(rec, &patterns[(rng() % 4) * bytes], bytes);
    } else {
      fill_random(rng, rec, bytes, density);
    }
    if (rng() % 16 == 0) std::memset(rec, 0, bytes);  // b = 0
  }
  c.n_queries = rng() % 5 == 0 ? 1 + rng() % 4 : 1;
  c.queries.resize(c.n_queries * bytes);
  fill_random(rng, c.queries.data(), c.queries.size(), density);
  for (uint64_t q = 0; q < c.n_queries; ++q) {
    uint8_t *query = &c.queries[q * bytes];
    if (rng() % 8 == 0) std::memset(query, 0, bytes);          // a = 0
    for (uint64_t p = rng() % 5; p > 0 && c.n_records; --p) {  // near copies and equal records
      uint8_t *rec = &c.db[(rng() % c.n_records) * bytes];
      std::memcpy(rec, query, bytes);
      for (uint64_t f = rng() % 3 == 0 ? 0 : rng() % 40; f > 0; --f) {
        const uint64_t b = rng() % bits;
        rec[b / 8] ^= uint8_t(1u << (b % 8));
      }
    }
  }
  std::string threshold;
  switch (rng() % 6) {
    case 0:
      break;  // none: every record
    case 1:
      threshold = "0", c.threshold = {0, 1};
      break;
    case 2:
      threshold = "1", c.threshold = {1, 1};
      break;
    default: {
      static const char *const common[] = {"0.7", "0.5", "0.25", "0.8", "0.35", "0.125", "0.9"};
      static const unsigned p[] = {7, 1, 1, 4, 7, 1, 9}, q[] = {10, 2, 4, 5, 20, 8, 10};
      const size_t i = rng() % 7;
      threshold = common[i], c.threshold = {p[i], q[i]};
      if (density >= 3 && rng() % 2) threshold = "0.05", c.threshold = {1, 20};
    }
  }
  c.top_k = rng() % 4 == 0 ? uint32_t(c.n_records + 1 + rng() % 5) : uint32_t(1 + rng() % 12);
  std::string cascade;
  const int mode = int(rng() % 3);
  if (mode == 1) {
    cascade = R"(, "cascade": {"mode": "off"})";
  } else if (mode == 2) {
    std::string stages;
    uint32_t at = 0;
    for (int s = 0, n = 1 + int(rng() % 4); s < n; ++s) {
      at += 1 + uint32_t(rng() % (rng() % 2 ? 3 : words + 1));
      stages += (s ? ", " : "") + std::to_string(at);
    }
    cascade = R"(, "cascade": {"mode": "exact", "stages": [)" + stages + "]}";
  }
  c.config = R"({"version": 1, "record_bits": )" + std::to_string(bits) +
             R"(, "metric": "tanimoto", "top_k": )" + std::to_string(c.top_k) +
             (threshold.empty() ? "" : R"(, "min_similarity": )" + threshold) + focus_json +
             cascade;
  c.threads = rng() % 4 == 0 ? 2 : 1;
  c.api = int(rng() % 5);
  return c;
}

struct Variant {
  const char *backend, *isa;
  bool generated;  // the backend must generate the code itself (no fallback to the runtime)
};

std::vector<Variant> variants() {
  std::vector<Variant> v;
  const Isa best = active_isa();
  for (const char *isa : {"avx512", "avx2", "scalar"}) {
    const bool runs = std::string(isa) == "scalar" ||
                      (std::string(isa) == "avx2" && best >= Isa::avx2) ||
                      (std::string(isa) == "avx512" && best >= Isa::avx512);
    if (!runs) continue;
    v.push_back({"runtime", isa, true});
    if (std::string(isa) == "scalar") continue;
#ifdef JITSON_HAVE_XBYAK
    v.push_back({"xbyak", isa, kXbyakGeneratesTanimoto});
#endif
#ifdef JITSON_HAVE_LLVM
    v.push_back({"llvm", isa, kLlvmGeneratesTanimoto});
#endif
  }
  return v;
}

void expect_same_hits(const std::vector<Hit> &expected, const std::vector<Hit> &got,
                      const std::string &ctx) {
  ASSERT_EQ(got.size(), expected.size()) << ctx;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].index, expected[i].index) << ctx << " hit " << i;
    ASSERT_EQ(got[i].distance, expected[i].distance) << ctx << " hit " << i;
    ASSERT_EQ(got[i].reserved, expected[i].reserved) << ctx << " hit " << i << " (union)";
  }
}

void check_stats(const ScanStats &s, uint64_t records, size_t n_stages, const std::string &ctx) {
  uint64_t probe_rejects = 0;
  for (size_t i = 0; i + 1 < n_stages; ++i) probe_rejects += s.rejected_by_stage[i];
  EXPECT_EQ(s.records, records) << ctx;
  EXPECT_EQ(probe_rejects + s.evaluated_full, s.records) << ctx;
  EXPECT_EQ(s.rejected_by_stage[n_stages - 1] + s.hits, s.evaluated_full) << ctx;
}

TEST(TanimotoDifferential, EveryBackendIsaAndEntryEqualsTheOracle) {
  const char *env = std::getenv("JITSON_TANIMOTO_CASES");
  const uint64_t n_cases = env && *env ? std::strtoull(env, nullptr, 10) : 1500;
  const std::vector<Variant> vs = variants();
  std::vector<std::unique_ptr<Engine>> engines;
  for (size_t v = 0; v < vs.size(); ++v) engines.push_back(std::make_unique<Engine>());
  for (uint64_t i = 0; i < n_cases; ++i) {
    const Case c = make_case(uint64_t{20261206} * 1000003 + i);
    const size_t bytes = c.record_bits / 8;
    for (size_t v = 0; v < vs.size(); ++v) {
      const std::string text =
          c.config + R"(, "backend": ")" + vs[v].backend + R"(", "isa": ")" + vs[v].isa + "\"}";
      const std::string ctx = "case " + std::to_string(i) + " api " + std::to_string(c.api) +
                              " threads " + std::to_string(c.threads) + "\nconfig: " + text;
      std::shared_ptr<const Kernel> k;
      try {
        k = engines[v]->compile(text);
      } catch (const std::exception &e) {
        FAIL() << ctx << "\ncompile threw: " << e.what();
      }
      if (vs[v].generated) {
        ASSERT_STREQ(to_string(k->backend()), vs[v].backend) << ctx << "\n" << k->describe();
      }
      const size_t n_stages = k->plan().cascade.stages.size();
      const DatabaseView db = DatabaseView::rows(c.db.data(), c.n_records, bytes);
      std::vector<std::vector<Hit>> expected(c.n_queries);
      for (uint64_t q = 0; q < c.n_queries; ++q) {
        expected[q] = oracle::tanimoto_scan(&c.queries[q * bytes], c.db.data(), c.n_records, bytes,
                                            c.mask, c.threshold, c.top_k);
      }
      if (c.api == 2) {
        const auto results = k->scan_batch(c.queries.data(), c.n_queries, db, c.threads);
        for (uint64_t q = 0; q < c.n_queries; ++q) {
          expect_same_hits(expected[q], results[q].hits, ctx);
          check_stats(results[q].stats, c.n_records, n_stages, ctx);
        }
      } else if (c.api >= 3) {
        // Chunks of random sizes fed out of order with sparse ids, or the records gathered in
        // place; the accumulator's ids are 3·index + 1, and ties break on them.
        std::vector<uint64_t> ids(c.n_records);
        for (uint64_t r = 0; r < c.n_records; ++r) ids[r] = 3 * r + 1;
        TopKAccumulator acc(k, c.queries.data(), c.n_queries);
        std::mt19937_64 rng(c.seed);
        if (c.api == 3) {
          std::vector<std::pair<uint64_t, uint64_t>> pieces;
          for (uint64_t at = 0; at < c.n_records;) {
            const uint64_t n = std::min<uint64_t>(c.n_records - at, 1 + rng() % 200);
            pieces.emplace_back(at, n);
            at += n;
          }
          std::shuffle(pieces.begin(), pieces.end(), rng);
          for (auto [at, n] : pieces) {
            Chunk chunk;
            chunk.records = DatabaseView::rows(&c.db[at * bytes], n, bytes);
            chunk.row_ids = &ids[at];
            acc.feed(chunk);
          }
        } else {
          std::vector<const uint8_t *> where(c.n_records);
          for (uint64_t r = 0; r < c.n_records; ++r) where[r] = &c.db[r * bytes];
          GatherChunk g;
          g.records = where.data();
          g.n_records = c.n_records;
          g.row_ids = ids.data();
          acc.feed(g);
        }
        for (uint64_t q = 0; q < c.n_queries; ++q) {
          const auto want = oracle::tanimoto_scan(&c.queries[q * bytes], c.db.data(), c.n_records,
                                                  bytes, c.mask, c.threshold, c.top_k, ids);
          expect_same_hits(want, acc.hits(q), ctx);
          check_stats(acc.stats(q), c.n_records, n_stages, ctx);
        }
      } else {
        for (uint64_t q = 0; q < c.n_queries; ++q) {
          const uint8_t *query = &c.queries[q * bytes];
          ScanResult r;
          if (c.api == 1) {
            const uint64_t cut = c.n_records / 2;
            for (auto [b, e] : {std::pair{uint64_t{0}, cut}, {cut, c.n_records}}) {
              ScanResult part = k->scan_range(query, db, b, e);
              r.hits.insert(r.hits.end(), part.hits.begin(), part.hits.end());
              r.stats += part.stats;
            }
            std::sort(r.hits.begin(), r.hits.end(), [](const Hit &x, const Hit &y) {
              return x.distance != y.distance ? x.distance < y.distance : x.index < y.index;
            });
            if (r.hits.size() > c.top_k) r.hits.resize(c.top_k);
          } else {
            r = k->scan(query, db, c.threads);
          }
          expect_same_hits(expected[q], r.hits, ctx);
          check_stats(r.stats, c.n_records, n_stages, ctx);
        }
      }
      if (::testing::Test::HasFailure()) return;
    }
  }
}

}  // namespace
}  // namespace jitson
