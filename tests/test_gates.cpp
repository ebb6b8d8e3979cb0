// SliceGate, HDR score and SigmaGate: every table value and example of SEMANTICS.md §3.2–3.4.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "jitson/error.hpp"
#include "jitson/gates.hpp"

namespace jitson {
namespace {

void expect_gate(const SliceGate &g, uint32_t k0, uint32_t k1, uint32_t hot, uint32_t mid,
                 uint32_t cold, uint32_t anti, uint32_t bits) {
  EXPECT_EQ(g.k0_reject, k0);
  EXPECT_EQ(g.k1_reject, k1);
  EXPECT_EQ(g.k2_hot, hot);
  EXPECT_EQ(g.k2_mid, mid);
  EXPECT_EQ(g.k2_cold, cold);
  EXPECT_EQ(g.k2_anti, anti);
  EXPECT_EQ(g.total_bits, bits);
}

TEST(SliceGate, DefaultsTable) {
  expect_gate(SliceGate::defaults(16384), 48, 377, 1638, 4915, 8028, 14746, 16384);
  expect_gate(SliceGate::defaults(65536), 48, 377, 6553, 19660, 32112, 58983, 65536);
  EXPECT_EQ(SliceGate::defaults(16384), SliceGate::make(16384, 0.10, 0.30, 0.49, 0.90, 1.5));
}

TEST(SliceGate, LearningTable) {
  expect_gate(SliceGate::learning(16384), 29, 231, 819, 2457, 4915, 14746, 16384);
  EXPECT_EQ(SliceGate::learning(65536), SliceGate::make(65536, 0.05, 0.15, 0.30, 0.90, 1.5));
}

TEST(SliceGate, OtherSizesFollowTheFormula) {
  // Independent re-derivation of the double formulas in the seed's order of operations.
  for (uint32_t d : {64u, 1000u, 1001u, 8192u, 10000u, 12345u}) {
    const double D = d;
    SliceGate g = SliceGate::defaults(d);
    EXPECT_EQ(g.k0_reject, uint32_t(std::ceil(0.49 * D * (64.0 / D) * 1.5))) << d;
    EXPECT_EQ(g.k1_reject, uint32_t(std::ceil(0.49 * D * (512.0 / D) * 1.5))) << d;
    EXPECT_EQ(g.k2_hot, uint32_t(std::floor(0.10 * D))) << d;
    EXPECT_EQ(g.k2_mid, uint32_t(std::floor(0.30 * D))) << d;
    EXPECT_EQ(g.k2_cold, uint32_t(std::floor(0.49 * D))) << d;
    EXPECT_EQ(g.k2_anti, uint32_t(std::ceil(0.90 * D))) << d;
  }
  expect_gate(SliceGate::defaults(1000), 48, 377, 100, 300, 490, 900, 1000);
}

TEST(SliceGate, SaturatesAndRejects) {
  SliceGate g = SliceGate::make(65536, -0.5, 0.0, 0.49, 1e6, 1.5);
  EXPECT_EQ(g.k2_hot, 0u);
  EXPECT_EQ(g.k2_mid, 0u);
  EXPECT_EQ(g.k2_anti, UINT32_MAX);
  EXPECT_THROW(SliceGate::make(0, 0.1, 0.3, 0.49, 0.9, 1.5), Error);
  EXPECT_THROW(SliceGate::make(16384, std::nan(""), 0.3, 0.49, 0.9, 1.5), Error);
  EXPECT_THROW(SliceGate::make(16384, 0.1, 0.3, 0.49, 0.9, std::numeric_limits<double>::infinity()),
               Error);
}

TEST(Hdr, Examples16K) {
  const SliceGate g = SliceGate::defaults(16384);
  EXPECT_EQ(score_hdr(1000, g).total(), 6);
  EXPECT_EQ(score_hdr(3000, g).total(), 3);
  EXPECT_EQ(score_hdr(6000, g).total(), 1);
  EXPECT_EQ(score_hdr(8028, g).total(), 0);
  EXPECT_FALSE(score_hdr(8028, g).is_match());
  // Strict boundaries.
  EXPECT_EQ(score_hdr(0, g), (HdrScore{3, 2, 1}));
  EXPECT_EQ(score_hdr(1637, g), (HdrScore{3, 2, 1}));
  EXPECT_EQ(score_hdr(1638, g), (HdrScore{0, 2, 1}));
  EXPECT_EQ(score_hdr(4914, g), (HdrScore{0, 2, 1}));
  EXPECT_EQ(score_hdr(4915, g), (HdrScore{0, 0, 1}));
  EXPECT_EQ(score_hdr(8027, g), (HdrScore{0, 0, 1}));
  EXPECT_TRUE(score_hdr(8027, g).is_match());
  EXPECT_EQ(score_hdr(16384, g), (HdrScore{0, 0, 0}));
}

TEST(SigmaGate, Table) {
  SigmaGate g16 = SigmaGate::make(16384);
  EXPECT_EQ(g16.mu, 8192u);
  EXPECT_EQ(g16.sigma_unit, 64u);
  EXPECT_EQ(g16.discovery, 8000u);
  EXPECT_EQ(g16.strong, 8032u);
  EXPECT_EQ(g16.evidence, 8064u);
  EXPECT_EQ(g16.hint, 8096u);
  EXPECT_EQ(g16.total_bits, 16384u);
  SigmaGate g64 = SigmaGate::make(65536);
  EXPECT_EQ(g64.mu, 32768u);
  EXPECT_EQ(g64.sigma_unit, 128u);
  EXPECT_EQ(g64.discovery, 32384u);
  EXPECT_EQ(g64.strong, 32448u);
  EXPECT_EQ(g64.evidence, 32512u);
  EXPECT_EQ(g64.hint, 32576u);
  // A size whose sigma is not an integer: thresholds truncate z·sigma, not z·trunc(sigma).
  SigmaGate g = SigmaGate::make(1001);  // mu 500, sigma 15.8193
  EXPECT_EQ(g.mu, 500u);
  EXPECT_EQ(g.sigma_unit, 15u);
  EXPECT_EQ(g.discovery, 453u);
  EXPECT_EQ(g.strong, 461u);
  EXPECT_EQ(g.evidence, 469u);
  EXPECT_EQ(g.hint, 477u);
  // Saturation at 0.
  SigmaGate tiny = SigmaGate::make(4);  // mu 2, sigma 1
  EXPECT_EQ(tiny.discovery, 0u);
  EXPECT_EQ(tiny.hint, 1u);
}

TEST(SigmaGate, CustomIntegerMath) {
  SigmaGate g = SigmaGate::custom(100, 7);
  EXPECT_EQ(g.discovery, 79u);  // 100 - 21
  EXPECT_EQ(g.strong, 83u);     // 100 - 35/2 = 100 - 17
  EXPECT_EQ(g.evidence, 86u);   // 100 - 14
  EXPECT_EQ(g.hint, 90u);       // 100 - 21/2 = 100 - 10
  EXPECT_EQ(g.total_bits, 0u);
  SigmaGate s = SigmaGate::custom(10, 100);
  EXPECT_EQ(s.discovery, 0u);
  EXPECT_EQ(s.hint, 0u);
  // 3·s would wrap in 32 bits; it saturates instead.
  SigmaGate big = SigmaGate::custom(UINT32_MAX, UINT32_MAX);
  EXPECT_EQ(big.discovery, 0u);
  EXPECT_EQ(big.hint, 0u);
  SigmaGate big2 = SigmaGate::custom(UINT32_MAX, 2000000000u);
  EXPECT_EQ(big2.hint, UINT32_MAX - 3000000000u);
}

TEST(SigmaGate, Bf16Weighted) {
  // mu = trunc(n·195.5), sigma = trunc(sqrt(n·16897.75)).
  SigmaGate g = SigmaGate::bf16_weighted(1024);
  EXPECT_EQ(g.mu, 200192u);
  EXPECT_EQ(g.sigma_unit, 4159u);
  EXPECT_EQ(g.discovery, 187715u);
  EXPECT_EQ(g.strong, 189795u);
  EXPECT_EQ(g.evidence, 191874u);
  EXPECT_EQ(g.hint, 193954u);
  SigmaGate g4 = SigmaGate::bf16_weighted(4096);
  EXPECT_EQ(g4.mu, 800768u);
  EXPECT_EQ(g4.sigma_unit, 8319u);
  EXPECT_EQ(g4, SigmaGate::custom(800768, 8319));
}

TEST(SigmaScore, LevelsAndPValues) {
  const SigmaGate g = SigmaGate::make(16384);
  EXPECT_EQ(score_sigma(7999, g).level, SigmaLevel::discovery);
  EXPECT_EQ(score_sigma(8000, g).level, SigmaLevel::strong);
  EXPECT_EQ(score_sigma(8031, g).level, SigmaLevel::strong);
  EXPECT_EQ(score_sigma(8032, g).level, SigmaLevel::evidence);
  EXPECT_EQ(score_sigma(8063, g).level, SigmaLevel::evidence);
  EXPECT_EQ(score_sigma(8064, g).level, SigmaLevel::hint);
  EXPECT_EQ(score_sigma(8095, g).level, SigmaLevel::hint);
  EXPECT_EQ(score_sigma(8096, g).level, SigmaLevel::noise);
  EXPECT_EQ(score_sigma(16384, g).level, SigmaLevel::noise);

  struct Case {
    uint32_t d;
    float sigma, p;
  };
  for (Case c :
       {Case{0, 128.0f, 3e-7f}, Case{8192 - 320, 5.0f, 3e-7f}, Case{8192 - 256, 4.0f, 3e-5f},
        Case{8000, 3.0f, 0.0013f}, Case{8032, 2.5f, 0.0062f}, Case{8064, 2.0f, 0.023f},
        Case{8096, 1.5f, 0.067f}, Case{8128, 1.0f, 0.159f}, Case{8192, 0.0f, 0.5f},
        Case{8160, 0.5f, 0.5f}, Case{8256, -1.0f, 1.0f}}) {
    SigmaScore s = score_sigma(c.d, g);
    EXPECT_EQ(s.sigma, c.sigma) << c.d;
    EXPECT_EQ(s.p_value, c.p) << c.d;
  }
  // sigma is (float(mu) − float(d)) / float(sigma_unit).
  EXPECT_EQ(score_sigma(8001, g).sigma, (8192.0f - 8001.0f) / 64.0f);
  // No spread: sigma 0, p 0.5.
  SigmaScore flat = score_sigma(5, SigmaGate::custom(10, 0));
  EXPECT_EQ(flat.sigma, 0.0f);
  EXPECT_EQ(flat.p_value, 0.5f);
  EXPECT_EQ(flat.level, SigmaLevel::discovery);  // every threshold is mu = 10 and 5 < 10
}

TEST(SigmaScore, LevelOrder) {
  EXPECT_LT(SigmaLevel::noise, SigmaLevel::hint);
  EXPECT_LT(SigmaLevel::hint, SigmaLevel::evidence);
  EXPECT_LT(SigmaLevel::evidence, SigmaLevel::strong);
  EXPECT_LT(SigmaLevel::strong, SigmaLevel::discovery);
  EXPECT_STREQ(to_string(SigmaLevel::discovery), "discovery");
}

}  // namespace
}  // namespace jitson
