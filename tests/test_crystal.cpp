// The SPO crystal (SEMANTICS.md §8): encode/recover identities on random data, distances and
// their tie rules, spatial awareness, and the best-k sweep against a brute-force reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <random>
#include <vector>

#include "jitson/crystal.hpp"
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

CrystalAxis random_axis(size_t n, std::mt19937_64 &rng) {
  std::vector<uint16_t> v(n);
  for (auto &x : v) x = uint16_t(rng());
  return CrystalAxis::from_bf16(v);
}

// A copy of `a` with about `flips` random bits flipped.
CrystalAxis near(const CrystalAxis &a, size_t flips, std::mt19937_64 &rng) {
  std::vector<uint16_t> v(a.dims().begin(), a.dims().end());
  for (size_t i = 0; i < flips && !v.empty(); ++i)
    v[rng() % v.size()] ^= uint16_t(1u << (rng() % 16));
  return CrystalAxis::from_bf16(v);
}

uint64_t ref_distance(const CrystalAxis &a, const CrystalAxis &b, BF16Weights w) {
  return oracle::bf16_distance(a.dims().data(), b.dims().data(), a.n_dims(), w);
}

TEST(CrystalAxis, FromF32TruncatesAndBytesAreLittleEndian) {
  const float values[] = {1.0f, -1.0f, 2.0f, std::bit_cast<float>(0x3F81FFFFu),
                          std::bit_cast<float>(0x7F800001u)};
  CrystalAxis a = CrystalAxis::from_f32(values);
  // 0x3F81FFFF truncates to 0x3F81 (rounding would give 0x3F82); the NaN whose payload sits in
  // the low bits truncates to +Inf: truncation by name.
  EXPECT_EQ(std::vector<uint16_t>(a.dims().begin(), a.dims().end()),
            (std::vector<uint16_t>{0x3F80, 0xBF80, 0x4000, 0x3F81, 0x7F80}));
  EXPECT_EQ(a.n_dims(), 5u);
  std::vector<uint8_t> bytes(a.bytes().begin(), a.bytes().end());
  EXPECT_EQ(bytes.size(), 10u);
  EXPECT_EQ(bytes[0], 0x80);
  EXPECT_EQ(bytes[1], 0x3F);
  EXPECT_EQ(CrystalAxis::from_bf16_bytes(bytes), a);
  const uint8_t odd[3] = {1, 2, 3};
  EXPECT_THROW(CrystalAxis::from_bf16_bytes(odd), Error);
  EXPECT_EQ(CrystalAxis::zero(3).dims().size(), 3u);
  EXPECT_EQ(CrystalAxis::zero(3).dims()[2], 0);
}

TEST(CrystalAxis, DistanceExamplesEveryIsa) {
  const uint16_t one[] = {0x3F80}, minus[] = {0xBF80}, two[] = {0x4000}, next[] = {0x3F81};
  for (Isa isa : runnable_isas()) {
    const KernelTable &kt = kernel_table(isa);
    CrystalAxis a = CrystalAxis::from_bf16(one);
    EXPECT_EQ(a.distance(CrystalAxis::from_bf16(minus), BF16Weights::defaults(), kt), 256u);
    EXPECT_EQ(a.distance(CrystalAxis::from_bf16(two), BF16Weights::defaults(), kt), 128u);
    EXPECT_EQ(a.distance(CrystalAxis::from_bf16(next), BF16Weights::defaults(), kt), 1u);
  }
  EXPECT_THROW(CrystalAxis::zero(2).distance(CrystalAxis::zero(3)), Error);
  EXPECT_THROW(CrystalAxis::zero(2).xor_bind(CrystalAxis::zero(3)), Error);
  EXPECT_EQ(CrystalAxis::from_bf16(one).structural_diff(CrystalAxis::from_bf16(minus)).sign_flips,
            1u);
}

TEST(SpoCrystal, EncodeRecoverIdentities) {
  std::mt19937_64 rng(1);
  for (size_t n : {size_t(0), size_t(1), size_t(7), size_t(1024), size_t(4096)}) {
    for (int round = 0; round < 4; ++round) {
      CrystalAxis s = random_axis(n, rng), p = random_axis(n, rng), o = random_axis(n, rng);
      SpatialCrystal3D c = SpatialCrystal3D::spo_encode(s, p, o);
      EXPECT_EQ(c.x, s.xor_bind(p));
      EXPECT_EQ(c.y, p.xor_bind(o));
      EXPECT_EQ(c.z, s.xor_bind(o));
      EXPECT_EQ(c.recover_subject(p), s);
      EXPECT_EQ(c.recover_object(p), o);
      EXPECT_EQ(c.recover_predicate_from_subject(s), p);
      EXPECT_EQ(c.recover_predicate_from_object(o), p);
      // Z is redundant: always X ⊕ Y.
      EXPECT_EQ(c.z, c.x.xor_bind(c.y));
      // XOR binding is self-inverse and the flat form round-trips.
      EXPECT_EQ(s.xor_bind(p).xor_bind(p), s);
      std::vector<uint8_t> flat = c.to_flat_bytes();
      EXPECT_EQ(flat.size(), 6 * n);
      EXPECT_EQ(c.total_bytes(), 6 * n);
      EXPECT_EQ(SpatialCrystal3D::from_flat_bytes(flat), c);
      if (n) {
        EXPECT_TRUE(std::equal(flat.begin(), flat.begin() + 2 * n, c.x.bytes().begin()));
        EXPECT_TRUE(std::equal(flat.begin() + 4 * n, flat.end(), c.z.bytes().begin()));
      }
    }
  }
  std::vector<uint8_t> bad(10);
  EXPECT_THROW(SpatialCrystal3D::from_flat_bytes(bad), Error);
  EXPECT_THROW(SpatialCrystal3D::spo_encode(CrystalAxis::zero(2), CrystalAxis::zero(3),
                                            CrystalAxis::zero(2)),
               Error);
}

TEST(SpatialDistances, AggregatesAndTieRules) {
  SpatialDistances d{3, 9, 5};
  EXPECT_EQ(d.l1(), 17u);
  EXPECT_EQ(d.linf(), 9u);
  // Ties prefer X, then Y.
  EXPECT_EQ((SpatialDistances{5, 5, 5}).dominant_axis(), SpatialAxis::x);
  EXPECT_EQ((SpatialDistances{5, 5, 3}).dominant_axis(), SpatialAxis::x);
  EXPECT_EQ((SpatialDistances{5, 3, 5}).dominant_axis(), SpatialAxis::x);
  EXPECT_EQ((SpatialDistances{3, 5, 5}).dominant_axis(), SpatialAxis::y);
  EXPECT_EQ((SpatialDistances{3, 5, 4}).dominant_axis(), SpatialAxis::y);
  EXPECT_EQ((SpatialDistances{3, 4, 5}).dominant_axis(), SpatialAxis::z);
  EXPECT_EQ((SpatialDistances{0, 0, 0}).dominant_axis(), SpatialAxis::x);
  // Balance: 1 when all equal or all zero, 0 when one axis carries everything.
  EXPECT_EQ((SpatialDistances{0, 0, 0}).balance(), 1.0f);
  EXPECT_EQ((SpatialDistances{100, 100, 100}).balance(), 1.0f);
  EXPECT_NEAR((SpatialDistances{300, 0, 0}).balance(), 0.0f, 1e-6f);
  for (SpatialDistances s :
       {SpatialDistances{1, 2, 3}, SpatialDistances{7, 0, 7}, SpatialDistances{1000, 1, 1}}) {
    const float total = float(s.l1()), max = float(s.linf());
    EXPECT_EQ(s.balance(), 1.0f - (max / total - 1.0f / 3.0f) * 1.5f);
  }
}

TEST(SpatialCrystal, DistancesAgainstOracleEveryIsa) {
  std::mt19937_64 rng(2);
  const size_t n = 1000;
  SpatialCrystal3D a{random_axis(n, rng), random_axis(n, rng), random_axis(n, rng)};
  SpatialCrystal3D b{near(a.x, 50, rng), near(a.y, 500, rng), random_axis(n, rng)};
  for (BF16Weights w : {BF16Weights::defaults(), BF16Weights::training()}) {
    const uint64_t dx = ref_distance(a.x, b.x, w), dy = ref_distance(a.y, b.y, w),
                   dz = ref_distance(a.z, b.z, w);
    for (Isa isa : runnable_isas()) {
      const KernelTable &kt = kernel_table(isa);
      EXPECT_EQ(a.axis_distances(b, w, kt), (SpatialDistances{dx, dy, dz}));
      EXPECT_EQ(a.distance_l1(b, w, kt), dx + dy + dz);
      EXPECT_EQ(a.distance_linf(b, w, kt), std::max({dx, dy, dz}));
    }
  }
  EXPECT_EQ(a.distance_l1(a), 0u);
}

TEST(SpatialCrystal, Awareness) {
  std::mt19937_64 rng(3);
  const size_t n = 300;
  SpatialCrystal3D a{random_axis(n, rng), random_axis(n, rng), random_axis(n, rng)};
  SpatialAwareness same = spatial_awareness_decompose(a, a);
  EXPECT_EQ(same.crystallized, (std::array<float, 3>{1, 1, 1}));
  EXPECT_EQ(same.tensioned, (std::array<float, 3>{0, 0, 0}));
  EXPECT_EQ(same.spatial_coherence, 1.0f);

  // X fully sign-flipped: X is tensioned everywhere, coherence 0.
  std::vector<uint16_t> flipped(a.x.dims().begin(), a.x.dims().end());
  for (auto &v : flipped) v ^= 0x8000;
  SpatialCrystal3D b{CrystalAxis::from_bf16(flipped), near(a.y, 40, rng), near(a.z, 200, rng)};
  for (Isa isa : runnable_isas()) {
    SpatialAwareness s = spatial_awareness_decompose(a, b, {}, kernel_table(isa));
    EXPECT_EQ(s.crystallized[0], 0.0f);
    EXPECT_EQ(s.tensioned[0], 1.0f);
    EXPECT_EQ(s.spatial_coherence, 0.0f);
    const std::span<const uint16_t> pair_y[] = {a.y.dims(), b.y.dims()};
    SuperpositionState y = superposition_decompose(pair_y, {}, kernel_table(isa));
    EXPECT_EQ(s.y.states, y.states);
    EXPECT_EQ(s.crystallized[1], y.crystallized_pct);
  }
  SpatialCrystal3D c{near(a.x, 30, rng), near(a.y, 60, rng), near(a.z, 90, rng)};
  SpatialAwareness s = spatial_awareness_decompose(a, c);
  EXPECT_GT(s.spatial_coherence, 0.0f);
  EXPECT_EQ(s.spatial_coherence,
            std::cbrt(s.crystallized[0] * s.crystallized[1] * s.crystallized[2]));
}

std::vector<SpatialMatch> brute_sweep(const SpatialCrystal3D &q,
                                      const std::vector<SpatialCrystal3D> &db, uint64_t t,
                                      BF16Weights w, size_t limit) {
  std::vector<SpatialMatch> all;
  for (size_t i = 0; i < db.size(); ++i) {
    SpatialDistances d{ref_distance(q.x, db[i].x, w), ref_distance(q.y, db[i].y, w),
                       ref_distance(q.z, db[i].z, w)};
    if (d.x + d.y + d.z > t) continue;
    all.push_back({i, d, d.x + d.y + d.z, d.dominant_axis()});
  }
  std::stable_sort(all.begin(), all.end(), [](const SpatialMatch &a, const SpatialMatch &b) {
    return a.total_distance < b.total_distance;
  });
  if (limit && all.size() > limit) all.resize(limit);
  return all;
}

TEST(SpatialSweep, ReturnsTheBestNotTheFirstFound) {
  // Totals fall with the index: the first `limit` hits found are the worst ones.
  const size_t n = 64;
  const uint16_t one[1] = {0x3F80};
  std::vector<uint16_t> base(n, one[0]);
  SpatialCrystal3D q{CrystalAxis::from_bf16(base), CrystalAxis::from_bf16(base),
                     CrystalAxis::from_bf16(base)};
  std::vector<SpatialCrystal3D> db;
  for (size_t i = 0; i < 6; ++i) {
    std::vector<uint16_t> v = base;
    for (size_t d = 0; d < 6 - i; ++d) v[d] ^= 0x0001;  // 6, 5, ..., 1 mantissa bits
    db.push_back(
        {CrystalAxis::from_bf16(v), CrystalAxis::from_bf16(base), CrystalAxis::from_bf16(base)});
  }
  auto got = spatial_sweep(q, db, 100, BF16Weights::defaults(), 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].index, 5u);
  EXPECT_EQ(got[0].total_distance, 1u);
  EXPECT_EQ(got[1].index, 4u);
  EXPECT_EQ(got[1].total_distance, 2u);
  EXPECT_EQ(got[0].dominant_axis, SpatialAxis::x);
  // What the seed would return (first 2 found, sorted) differs: indices 1 and 0.
  auto all = spatial_sweep(q, db, 100, BF16Weights::defaults(), 0);
  ASSERT_EQ(all.size(), 6u);
  EXPECT_EQ(all.back().index, 0u);
  EXPECT_NE(got[0].index, 1u);
}

TEST(SpatialSweep, AgainstBruteForceWithTiesEveryIsa) {
  std::mt19937_64 rng(9);
  const size_t n = 128;
  SpatialCrystal3D q{random_axis(n, rng), random_axis(n, rng), random_axis(n, rng)};
  std::vector<SpatialCrystal3D> db;
  for (size_t i = 0; i < 120; ++i) {
    if (i % 7 == 3) {
      db.push_back(db[i - 2]);  // exact duplicates: equal totals, order by index
    } else if (i % 5 == 0) {
      db.push_back({random_axis(n, rng), random_axis(n, rng), random_axis(n, rng)});
    } else {
      db.push_back(
          {near(q.x, rng() % 60, rng), near(q.y, rng() % 60, rng), near(q.z, rng() % 60, rng)});
    }
  }
  for (BF16Weights w : {BF16Weights::defaults(), BF16Weights::jina()}) {
    for (uint64_t t :
         {uint64_t(0), uint64_t(500), uint64_t(3000), uint64_t(20000), UINT64_MAX / 4}) {
      for (size_t limit : {size_t(0), size_t(1), size_t(3), size_t(10), size_t(500)}) {
        auto ref = brute_sweep(q, db, t, w, limit);
        for (Isa isa : runnable_isas()) {
          EXPECT_EQ(spatial_sweep(q, db, t, w, limit, kernel_table(isa)), ref)
              << isa_name(isa) << " t=" << t << " limit=" << limit;
        }
      }
    }
  }
  // The query itself is in the database: distance 0 stops nothing that matters.
  db.insert(db.begin() + 10, q);
  db.insert(db.begin() + 20, q);
  auto two = spatial_sweep(q, db, 0, BF16Weights::defaults(), 1);
  ASSERT_EQ(two.size(), 1u);
  EXPECT_EQ(two[0].index, 10u);
  EXPECT_EQ(spatial_sweep(q, db, 0, BF16Weights::defaults(), 0).size(), 2u);
  // Mismatched dims are an error, wherever they are.
  db.push_back({CrystalAxis::zero(n), CrystalAxis::zero(n + 1), CrystalAxis::zero(n)});
  EXPECT_THROW(spatial_sweep(q, db, 0, BF16Weights::defaults(), 1), Error);
}

TEST(SpoFingerprint, EncodeRecoverAndDistancesInPlace) {
  std::mt19937_64 rng(12);
  auto random_fp = [&] {
    Fingerprint2K f;
    for (auto &w : f.words) w = rng();
    return f;
  };
  for (int round = 0; round < 5; ++round) {
    Fingerprint2K s = random_fp(), p = random_fp(), o = random_fp();
    auto c = SpoFingerprint<256>::encode(s, p, o);
    EXPECT_EQ(c.x, s ^ p);
    EXPECT_EQ(c.y, p ^ o);
    EXPECT_EQ(c.z, s ^ o);
    EXPECT_EQ(c.z, c.x ^ c.y);
    EXPECT_EQ(c.recover_subject(p), s);
    EXPECT_EQ(c.recover_object(p), o);
    EXPECT_EQ(c.recover_predicate_from_subject(s), p);
    EXPECT_EQ(c.recover_predicate_from_object(o), p);

    // The fingerprint crystal is the BF16 crystal of the same bytes.
    SpatialCrystal3D crystal = c.to_crystal();
    EXPECT_EQ(crystal.dims_per_axis(), 1024u);
    EXPECT_EQ(crystal, SpatialCrystal3D::spo_encode(CrystalAxis::from_fingerprint(s),
                                                    CrystalAxis::from_fingerprint(p),
                                                    CrystalAxis::from_fingerprint(o)));
    EXPECT_EQ(SpoFingerprint<256>::from_crystal(crystal), c);

    Fingerprint2K s2 = s;
    for (int k = 0; k < 40; ++k) s2.words[rng() % 256] ^= uint64_t{1} << (rng() % 64);
    auto c2 = SpoFingerprint<256>::encode(s2, p, o);
    for (Isa isa : runnable_isas()) {
      const KernelTable &kt = kernel_table(isa);
      SpatialDistances d = c.axis_distances(c2, BF16Weights::defaults(), kt);
      EXPECT_EQ(d, crystal.axis_distances(c2.to_crystal(), BF16Weights::defaults(), kt));
      EXPECT_EQ(d.y, 0u);   // Y = P ⊕ O does not involve the subject
      EXPECT_EQ(d.x, d.z);  // the subject's change shows equally on X and Z
      SpatialAwareness a = c.awareness(c2, {}, kt);
      SpatialAwareness b = spatial_awareness_decompose(crystal, c2.to_crystal(), {}, kt);
      EXPECT_EQ(a.x.states, b.x.states);
      EXPECT_EQ(a.z.states, b.z.states);
      EXPECT_EQ(a.spatial_coherence, b.spatial_coherence);
      EXPECT_EQ(a.crystallized[1], 1.0f);
    }
  }
  SpatialCrystal3D wrong{CrystalAxis::zero(10), CrystalAxis::zero(1024), CrystalAxis::zero(1024)};
  EXPECT_THROW(SpoFingerprint<256>::from_crystal(wrong), Error);
}

}  // namespace
}  // namespace jitson
