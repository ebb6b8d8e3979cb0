// BF16 awareness, packing, structural diffs, batch forms and learning feedback against
// straightforward scalar re-implementations, on every ISA this machine runs, plus every worked
// example of SEMANTICS.md §2.4 and §2.5.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <random>
#include <vector>

#include "jitson/awareness.hpp"
#include "jitson/error.hpp"
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

// ---- Scalar re-implementation of §2.4 / §2.5, written from the text ----

struct RefDim {
  uint8_t consensus, exp_spread, noise;
  Awareness state;
};

RefDim ref_dim(const std::vector<const uint16_t *> &v, size_t d, AwarenessThresholds t) {
  unsigned agreements = 0, max_exp = 0, pairs = 0;
  bool noise = false;
  for (size_t i = 0; i < v.size(); ++i) {
    for (size_t j = i + 1; j < v.size(); ++j) {
      ++pairs;
      const unsigned x = unsigned(v[i][d] ^ v[j][d]);
      agreements += ((x >> 15) & 1) == 0;
      max_exp = std::max(max_exp, unsigned(std::popcount((x >> 7) & 0xFFu)));
      noise = noise || unsigned(std::popcount(x & 0x7Fu)) > t.mantissa_noise;
    }
  }
  uint8_t consensus;
  if (v.size() == 2) {
    consensus = agreements == 1 ? 255 : 0;
  } else {
    static const uint8_t table[4] = {0, 85, 170, 255};
    consensus = table[agreements];
  }
  Awareness s = Awareness::crystallized;
  if (consensus < t.sign_consensus) {
    s = Awareness::tensioned;
  } else if (max_exp > t.exp_spread) {
    s = Awareness::uncertain;
  } else if (noise && max_exp == 0 && consensus == 255) {
    s = Awareness::noise;
  }
  return {consensus, uint8_t(max_exp), uint8_t(noise), s};
}

BF16StructuralDiff ref_diff(const uint16_t *a, const uint16_t *b, size_t n) {
  BF16StructuralDiff d;
  for (size_t i = 0; i < n; ++i) {
    const unsigned x = unsigned(a[i] ^ b[i]);
    if (x & 0x8000u) {
      ++d.sign_flips;
      d.sign_flip_dims.push_back(i);
    }
    const unsigned e = unsigned(std::popcount((x >> 7) & 0xFFu));
    d.exponent_bits_changed += e;
    if (e >= 2) d.major_magnitude_shifts.push_back(i);
    d.mantissa_bits_changed += unsigned(std::popcount(x & 0x7Fu));
  }
  return d;
}

std::vector<uint8_t> ref_pack(const std::vector<Awareness> &s) {
  std::vector<uint8_t> out((s.size() + 3) / 4, 0);
  for (size_t k = 0; k < s.size(); ++k) {
    out[k / 4] = uint8_t(out[k / 4] | (uint8_t(s[k]) << (6 - 2 * (k % 4))));
  }
  return out;
}

// A random BF16 vector and near copies: each dim of a copy changes nothing, a few mantissa bits,
// some exponent bits or the sign, so every awareness state occurs.
std::vector<uint16_t> random_bf16(size_t n, std::mt19937_64 &rng) {
  std::vector<uint16_t> v(n);
  for (auto &x : v) x = uint16_t(rng());
  return v;
}

std::vector<uint16_t> perturb(const std::vector<uint16_t> &base, std::mt19937_64 &rng) {
  std::vector<uint16_t> v = base;
  for (auto &x : v) {
    switch (rng() % 6) {
      case 0:
      case 1:
        break;
      case 2:
        x ^= uint16_t(1u << (rng() % 7));
        break;
      case 3:
        x ^= uint16_t(rng() & 0x7F);
        break;
      case 4:
        x ^= uint16_t((rng() & 0xFF) << 7);
        break;
      default:
        x ^= uint16_t(0x8000u | (rng() & 0x7FFF));
        break;
    }
  }
  return v;
}

std::span<const uint8_t> bytes_of(const std::vector<uint16_t> &v) {
  return {reinterpret_cast<const uint8_t *>(v.data()), v.size() * 2};  // bytes of u16 objects
}

// ---- §2.4 worked examples ----

TEST(Bf16Distance, WorkedExamplesEveryIsa) {
  for (Isa isa : runnable_isas()) {
    const KernelTable &kt = kernel_table(isa);
    const uint16_t one = 0x3F80, minus_one = 0xBF80, two = 0x4000, next = 0x3F81;
    const BF16Weights w = BF16Weights::defaults();
    EXPECT_EQ(kt.bf16_distance(&one, &minus_one, 1, w), 256u) << isa_name(isa);
    EXPECT_EQ(kt.bf16_distance(&one, &two, 1, w), 128u) << isa_name(isa);
    EXPECT_EQ(kt.bf16_distance(&one, &next, 1, w), 1u) << isa_name(isa);
    // The same through the byte and batch forms, in a 64-dim record (SIMD body + lanes).
    std::vector<uint16_t> q(64, one), rec(3 * 64, one);
    rec[0 * 64 + 17] = minus_one;
    rec[1 * 64 + 40] = two;
    rec[2 * 64 + 63] = next;
    DatabaseView db = DatabaseView::rows(rec.data(), 3, 128);
    const uint64_t idx[] = {0, 1, 2};
    EXPECT_EQ(bf16_distance_batch(bytes_of(q), db, idx, w, kt),
              (std::vector<uint64_t>{256, 128, 1}));
  }
}

// ---- §2.5 worked examples ----

TEST(Awareness, WorkedExamplesEveryIsa) {
  const uint16_t others[] = {0x3F80, 0x3F81, 0x3F83, 0xBF80, 0x4780, 0x3F03};
  const Awareness expected[] = {Awareness::crystallized, Awareness::crystallized,
                                Awareness::noise,        Awareness::tensioned,
                                Awareness::uncertain,    Awareness::crystallized};
  for (Isa isa : runnable_isas()) {
    // 6 examples repeated to 97 dims so that SIMD bodies and tails both see them.
    const size_t n = 97;
    std::vector<uint16_t> a(n, 0x3F80), b(n);
    for (size_t d = 0; d < n; ++d) b[d] = others[d % 6];
    const std::span<const uint16_t> vs[] = {a, b};
    SuperpositionState s = superposition_decompose(vs, {}, kernel_table(isa));
    ASSERT_EQ(s.n_dims, n);
    for (size_t d = 0; d < n; ++d) {
      EXPECT_EQ(s.states[d], expected[d % 6]) << isa_name(isa) << " dim " << d;
    }
    EXPECT_EQ(s.sign_consensus[3], 0);
    EXPECT_EQ(s.sign_consensus[0], 255);
    EXPECT_EQ(s.exp_spread[4], 4);  // 0x3F80 ^ 0x4780 = 0x7800: 4 exponent bits
    EXPECT_EQ(s.exp_spread[5], 1);  // 0x3F80 ^ 0x3F03 = 0x0083: 1 exponent bit + 2 mantissa
    EXPECT_EQ(s.mantissa_noise[5], 1);
    EXPECT_EQ(s.mantissa_noise[1], 0);
    EXPECT_EQ(s.mantissa_noise[2], 1);
  }
}

TEST(Awareness, ThreeVectorConsensus) {
  // All signs equal → 255; a 2–1 split → 1 agreeing pair of 3 → 85 (< 192: Tensioned).
  std::vector<uint16_t> a = {0x3F80, 0x3F80}, b = {0x3F80, 0x3F80}, c = {0x3F80, 0xBF80};
  const std::span<const uint16_t> vs[] = {a, b, c};
  for (Isa isa : runnable_isas()) {
    SuperpositionState s = superposition_decompose(vs, {}, kernel_table(isa));
    EXPECT_EQ(s.sign_consensus, (std::vector<uint8_t>{255, 85}));
    EXPECT_EQ(s.states, (std::vector<Awareness>{Awareness::crystallized, Awareness::tensioned}));
    EXPECT_EQ(s.crystallized_pct, 0.5f);
    EXPECT_EQ(s.tensioned_pct, 0.5f);
  }
  // A custom threshold below 85 lets the split through to the exponent/mantissa rules.
  AwarenessThresholds t;
  t.sign_consensus = 80;
  SuperpositionState s = superposition_decompose(vs, t);
  EXPECT_EQ(s.states[1], Awareness::crystallized);
}

TEST(Awareness, RandomAgainstScalarReferenceEveryIsa) {
  std::mt19937_64 rng(7);
  for (size_t n : {size_t(0), size_t(1), size_t(3), size_t(31), size_t(32), size_t(33), size_t(64),
                   size_t(1024), size_t(4101)}) {
    for (size_t n_vectors : {size_t(2), size_t(3)}) {
      std::vector<std::vector<uint16_t>> data;
      data.push_back(random_bf16(n, rng));
      for (size_t i = 1; i < n_vectors; ++i) data.push_back(perturb(data[0], rng));
      AwarenessThresholds t;
      if (rng() % 2) {
        t.sign_consensus = uint8_t(rng() % 256);
        t.exp_spread = uint8_t(rng() % 9);
        t.mantissa_noise = uint8_t(rng() % 8);
      }
      std::vector<const uint16_t *> ptrs;
      std::vector<std::span<const uint16_t>> spans;
      for (auto &v : data) {
        ptrs.push_back(v.data());
        spans.emplace_back(v);
      }
      std::vector<Awareness> ref_states(n);
      std::vector<uint8_t> ref_cons(n), ref_exp(n), ref_noise(n);
      uint64_t counts[4] = {};
      for (size_t d = 0; d < n; ++d) {
        RefDim r = ref_dim(ptrs, d, t);
        ref_states[d] = r.state;
        ref_cons[d] = r.consensus;
        ref_exp[d] = r.exp_spread;
        ref_noise[d] = r.noise;
        ++counts[uint8_t(r.state)];
      }
      for (Isa isa : runnable_isas()) {
        SCOPED_TRACE(std::string(isa_name(isa)) + " n=" + std::to_string(n) +
                     " vectors=" + std::to_string(n_vectors));
        SuperpositionState s = superposition_decompose(spans, t, kernel_table(isa));
        EXPECT_EQ(s.n_dims, n);
        EXPECT_EQ(s.states, ref_states);
        EXPECT_EQ(s.sign_consensus, ref_cons);
        EXPECT_EQ(s.exp_spread, ref_exp);
        EXPECT_EQ(s.mantissa_noise, ref_noise);
        EXPECT_EQ(s.packed_states, ref_pack(ref_states));
        const float nd = float(n);
        EXPECT_EQ(s.crystallized_pct, n ? float(counts[0]) / nd : 0.0f);
        EXPECT_EQ(s.tensioned_pct, n ? float(counts[1]) / nd : 0.0f);
        EXPECT_EQ(s.uncertain_pct, n ? float(counts[2]) / nd : 0.0f);
        EXPECT_EQ(s.noise_pct, n ? float(counts[3]) / nd : 0.0f);
        // The byte form, from a misaligned copy, agrees.
        std::vector<std::vector<uint8_t>> raw;
        std::vector<std::span<const uint8_t>> byte_spans;
        for (auto &v : data) {
          raw.emplace_back(v.size() * 2 + 1);
          if (!v.empty()) std::memcpy(raw.back().data() + 1, v.data(), v.size() * 2);
        }
        for (auto &r : raw) byte_spans.emplace_back(r.data() + 1, r.size() - 1);
        SuperpositionState sb = superposition_decompose_bytes(byte_spans, t, kernel_table(isa));
        EXPECT_EQ(sb.states, ref_states);
        EXPECT_EQ(sb.packed_states, s.packed_states);
      }
    }
  }
}

TEST(Awareness, RejectsBadInput) {
  std::vector<uint16_t> a(4), b(4), c(5);
  const std::span<const uint16_t> one[] = {a};
  const std::span<const uint16_t> four[] = {a, b, a, b};
  const std::span<const uint16_t> uneven[] = {a, c};
  EXPECT_THROW(superposition_decompose(one), Error);
  EXPECT_THROW(superposition_decompose(four), Error);
  EXPECT_THROW(superposition_decompose(uneven), Error);
  std::vector<uint8_t> odd(7), odd2(7);
  const std::span<const uint8_t> odds[] = {odd, odd2};
  EXPECT_THROW(superposition_decompose_bytes(odds), Error);
  try {
    superposition_decompose(one);
    FAIL();
  } catch (const Error &e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("2 or 3"), std::string::npos) << e.what();
  }
}

// ---- Packing ----

TEST(Packing, WorkedExample) {
  const Awareness s[] = {Awareness::tensioned, Awareness::uncertain, Awareness::noise,
                         Awareness::crystallized};
  EXPECT_EQ(pack_awareness_states(s), (std::vector<uint8_t>{0x6C}));
  EXPECT_EQ(unpack_awareness_states(std::vector<uint8_t>{0x6C}, 4),
            (std::vector<Awareness>(std::begin(s), std::end(s))));
  // A partial last byte: unused slots are 0 and unpack stops at n_dims.
  const Awareness five[] = {Awareness::noise, Awareness::noise, Awareness::noise, Awareness::noise,
                            Awareness::tensioned};
  EXPECT_EQ(pack_awareness_states(five), (std::vector<uint8_t>{0xFF, 0x40}));
  EXPECT_TRUE(pack_awareness_states({}).empty());
}

TEST(Packing, RoundTripAndLengthRule) {
  std::mt19937_64 rng(3);
  for (size_t n = 0; n < 70; ++n) {
    std::vector<Awareness> s(n);
    for (auto &x : s) x = Awareness(rng() % 4);
    std::vector<uint8_t> p = pack_awareness_states(s);
    EXPECT_EQ(p.size(), (n + 3) / 4);
    EXPECT_EQ(p, ref_pack(s));
    EXPECT_EQ(unpack_awareness_states(p, n), s);
    std::vector<uint8_t> longer = p;
    longer.push_back(0);
    EXPECT_THROW(unpack_awareness_states(longer, n), Error);
    if (!p.empty()) {
      EXPECT_THROW(unpack_awareness_states({p.data(), p.size() - 1}, n), Error);
    }
  }
}

// ---- Structural diff ----

TEST(StructuralDiff, ExamplesAndRandomEveryIsa) {
  std::vector<uint16_t> a = {0x3F80, 0x4000, 0x4040, 0x4080}, b = {0x3F80, 0xC000, 0x4040, 0xC080};
  BF16StructuralDiff d = structural_diff(a, b);
  EXPECT_EQ(d.sign_flips, 2u);
  EXPECT_EQ(d.sign_flip_dims, (std::vector<size_t>{1, 3}));
  EXPECT_EQ(d.exponent_bits_changed, 0u);
  EXPECT_EQ(d.mantissa_bits_changed, 0u);
  EXPECT_TRUE(d.major_magnitude_shifts.empty());
  EXPECT_EQ(structural_diff(a, a), BF16StructuralDiff{});
  // 1.0 vs 2.0: 8 exponent bits, a major shift; 1.0 vs 0x3F81: one mantissa bit.
  std::vector<uint16_t> c = {0x3F80, 0x3F80}, e = {0x4000, 0x3F81};
  BF16StructuralDiff d2 = structural_diff(c, e);
  EXPECT_EQ(d2.exponent_bits_changed, 8u);
  EXPECT_EQ(d2.mantissa_bits_changed, 1u);
  EXPECT_EQ(d2.major_magnitude_shifts, (std::vector<size_t>{0}));

  std::mt19937_64 rng(11);
  for (size_t n : {size_t(0), size_t(1), size_t(33), size_t(1024), size_t(4100)}) {
    auto x = random_bf16(n, rng), y = perturb(x, rng);
    const BF16StructuralDiff ref = ref_diff(x.data(), y.data(), n);
    for (Isa isa : runnable_isas()) {
      EXPECT_EQ(structural_diff(x, y, kernel_table(isa)), ref) << isa_name(isa) << " " << n;
      std::vector<uint8_t> mis(2 * n + 1);
      if (n) std::memcpy(mis.data() + 1, y.data(), 2 * n);
      EXPECT_EQ(structural_diff_bytes(bytes_of(x), {mis.data() + 1, 2 * n}, kernel_table(isa)),
                ref);
    }
  }
  std::vector<uint16_t> three(3);
  EXPECT_THROW(structural_diff(a, three), Error);
  std::vector<uint8_t> odd(3);
  EXPECT_THROW(structural_diff_bytes(odd, odd), Error);
}

// ---- Batch forms ----

TEST(Batch, AgainstScalarEveryIsa) {
  std::mt19937_64 rng(5);
  for (size_t dims : {size_t(4), size_t(1024), size_t(4096)}) {
    const size_t n_records = 40;
    auto query = random_bf16(dims, rng);
    std::vector<uint16_t> recs;
    for (size_t i = 0; i < n_records; ++i) {
      auto r = i % 5 == 0 ? random_bf16(dims, rng) : perturb(query, rng);
      recs.insert(recs.end(), r.begin(), r.end());
    }
    DatabaseView db = DatabaseView::rows(recs.data(), n_records, dims * 2);
    std::vector<uint64_t> idx = {39, 0, 7, 7, 12, 1, 25};
    AwarenessThresholds t;
    t.mantissa_noise = 2;
    for (BF16Weights w : {BF16Weights::defaults(), BF16Weights::jina(), BF16Weights::training(),
                          BF16Weights{3, 5, 7}}) {
      for (Isa isa : runnable_isas()) {
        const KernelTable &kt = kernel_table(isa);
        auto dist = bf16_distance_batch(bytes_of(query), db, idx, w, kt);
        auto diffs = structural_diff_batch(bytes_of(query), db, idx, kt);
        auto tails = bf16_tail_batch(bytes_of(query), db, idx, w, t, kt);
        ASSERT_EQ(dist.size(), idx.size());
        ASSERT_EQ(diffs.size(), idx.size());
        ASSERT_EQ(tails.size(), idx.size());
        for (size_t k = 0; k < idx.size(); ++k) {
          const uint16_t *rec = recs.data() + idx[k] * dims;
          const uint64_t ref_dist = oracle::bf16_distance(query.data(), rec, dims, w);
          const BF16StructuralDiff ref = ref_diff(query.data(), rec, dims);
          EXPECT_EQ(dist[k], ref_dist);
          EXPECT_EQ(diffs[k], ref);
          EXPECT_EQ(tails[k].distance, ref_dist);
          EXPECT_EQ(tails[k].diff.sign_flips, ref.sign_flips);
          EXPECT_EQ(tails[k].diff.exponent_bits_changed, ref.exponent_bits_changed);
          EXPECT_EQ(tails[k].diff.mantissa_bits_changed, ref.mantissa_bits_changed);
          EXPECT_EQ(tails[k].diff.major_magnitude_shifts, ref.major_magnitude_shifts.size());
          uint64_t counts[4] = {};
          for (size_t d = 0; d < dims; ++d) {
            ++counts[uint8_t(ref_dim({query.data(), rec}, d, t).state)];
          }
          EXPECT_EQ(tails[k].awareness.crystallized, float(counts[0]) / float(dims));
          EXPECT_EQ(tails[k].awareness.tensioned, float(counts[1]) / float(dims));
          EXPECT_EQ(tails[k].awareness.uncertain, float(counts[2]) / float(dims));
          EXPECT_EQ(tails[k].awareness.noise, float(counts[3]) / float(dims));
        }
      }
    }
    // Errors: index out of range, query size, empty index list is fine.
    const uint64_t bad[] = {n_records};
    EXPECT_THROW(bf16_distance_batch(bytes_of(query), db, bad), Error);
    EXPECT_THROW(structural_diff_batch(bytes_of(query), db, bad), Error);
    std::vector<uint16_t> short_query(dims - 1);
    EXPECT_THROW(bf16_distance_batch(bytes_of(short_query), db, idx), Error);
    EXPECT_TRUE(bf16_tail_batch(bytes_of(query), db, {}, BF16Weights::defaults(), {}).empty());
  }
}

// ---- Learning feedback ----

TEST(Learning, SignalAgainstScalar) {
  std::mt19937_64 rng(21);
  for (size_t n_matches : {size_t(1), size_t(2)}) {
    const size_t dims = 200;
    auto q = random_bf16(dims, rng);
    std::vector<std::vector<uint16_t>> m;
    for (size_t i = 0; i < n_matches; ++i) m.push_back(perturb(q, rng));
    std::vector<std::span<const uint8_t>> spans;
    for (auto &v : m) spans.push_back(bytes_of(v));
    for (Isa isa : runnable_isas()) {
      LearningSignal s = extract_learning_signal(bytes_of(q), spans, {}, kernel_table(isa));
      std::vector<const uint16_t *> ptrs = {q.data()};
      for (auto &v : m) ptrs.push_back(v.data());
      uint64_t flips = 0;
      for (auto &v : m) flips += ref_diff(q.data(), v.data(), dims).sign_flips;
      EXPECT_EQ(s.total_sign_flips, flips);
      ASSERT_EQ(s.attention_weights.size(), dims);
      for (size_t d = 0; d < dims; ++d) {
        const Awareness st = ref_dim(ptrs, d, {}).state;
        EXPECT_EQ(s.awareness.states[d], st);
        const float expect = st == Awareness::crystallized ? 1.0f
                             : st == Awareness::tensioned  ? 0.5f
                             : st == Awareness::uncertain  ? 0.25f
                                                           : 0.0f;
        EXPECT_EQ(s.attention_weights[d], expect);
      }
      EXPECT_EQ(s.crystallized_ratio, s.awareness.crystallized_pct);
      EXPECT_EQ(s.tension_ratio, s.awareness.tensioned_pct);
      EXPECT_EQ(s.packed_states, ref_pack(s.awareness.states));
    }
  }
  auto q = random_bf16(8, rng);
  EXPECT_THROW(extract_learning_signal(bytes_of(q), {}), Error);
  const std::span<const uint8_t> three[] = {bytes_of(q), bytes_of(q), bytes_of(q)};
  EXPECT_THROW(extract_learning_signal(bytes_of(q), three), Error);
}

LearningSignal signal_with(const std::vector<Awareness> &states) {
  LearningSignal s;
  s.awareness.n_dims = states.size();
  s.awareness.states = states;
  return s;
}

void ref_update(std::array<float, 32> &w, const std::vector<Awareness> &states, float lr) {
  const size_t n = states.size();
  if (n == 0) return;
  const size_t g = (n + 31) / 32;
  for (size_t group = 0; group < 32 && group * g < n; ++group) {
    const size_t begin = group * g, end = std::min(n, begin + g);
    float c = 0, t = 0, z = 0;
    for (size_t d = begin; d < end; ++d) {
      c += states[d] == Awareness::crystallized;
      t += states[d] == Awareness::tensioned;
      z += states[d] == Awareness::noise;
    }
    const float count = float(end - begin);
    c /= count;
    t /= count;
    z /= count;
    const float target = c > 0.5f   ? 0.8f + 0.2f * c
                         : t > 0.3f ? 0.5f
                         : z > 0.5f ? 0.1f * (1.0f - z)
                                    : w[group];
    w[group] = w[group] * (1.0f - lr) + target * lr;
  }
}

TEST(Learning, UpdateHybridWeights) {
  // All crystallized, 128 dims (groups of 4): every weight moves 0.5 → 0.5·0.9 + 1.0·0.1.
  std::array<float, 32> w;
  w.fill(0.5f);
  update_hybrid_weights(w, signal_with(std::vector<Awareness>(128, Awareness::crystallized)), 0.1f);
  for (float x : w) EXPECT_EQ(x, 0.5f * 0.9f + 1.0f * 0.1f);
  // 40 dims → groups of 2: groups 20..31 start past the end and stay untouched.
  w.fill(0.25f);
  update_hybrid_weights(w, signal_with(std::vector<Awareness>(40, Awareness::noise)), 0.5f);
  for (size_t g = 0; g < 20; ++g) EXPECT_EQ(w[g], 0.25f * 0.5f + 0.0f * 0.5f);
  for (size_t g = 20; g < 32; ++g) EXPECT_EQ(w[g], 0.25f);
  // Mixed groups keep their weight (target = current).
  w.fill(0.7f);
  update_hybrid_weights(
      w, signal_with({Awareness::uncertain, Awareness::uncertain, Awareness::crystallized}), 0.3f);
  EXPECT_EQ(w[0], 0.7f * 0.7f + 0.7f * 0.3f);
  // Empty signal: nothing changes.
  std::array<float, 32> before = w;
  update_hybrid_weights(w, signal_with({}), 0.9f);
  EXPECT_EQ(w, before);
  // Random states against the reference rule.
  std::mt19937_64 rng(4);
  for (size_t n : {size_t(1), size_t(31), size_t(32), size_t(33), size_t(1000), size_t(1024)}) {
    std::vector<Awareness> states(n);
    for (auto &s : states) s = Awareness(rng() % 4 == 0 ? rng() % 4 : rng() % 2 * 3);
    std::array<float, 32> got, ref;
    for (size_t g = 0; g < 32; ++g) got[g] = ref[g] = float(rng() % 1000) / 1000.0f;
    update_hybrid_weights(got, signal_with(states), 0.2f);
    ref_update(ref, states, 0.2f);
    EXPECT_EQ(got, ref) << n;
  }
}

}  // namespace
}  // namespace jitson
