// Quantisation helpers (SEMANTICS.md §9.3 and its JITSON RULES) and their use with the
// dequantising u8 x i8 GEMM.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "jitson/error.hpp"
#include "jitson/gemm.hpp"
#include "jitson/quant.hpp"

namespace {

using jitson::QuantParams;

TEST(QuantU8, RangeIncludesZeroSoPositiveDataIsNotAll255) {
  // The seed's defect: data in [100, 101] quantised to all 255.
  const std::vector<float> x = {100.0f, 100.5f, 101.0f};
  std::vector<uint8_t> q(3);
  const QuantParams p = jitson::quantize_u8(x, q);
  EXPECT_EQ(p.scale, 101.0f / 255.0f);
  EXPECT_EQ(p.zero_point, 0);
  // q = RNE(x / scale): 100 / (101/255) = 252.47..., 100.5 -> 253.7..., 101 -> 255.
  EXPECT_EQ(q, (std::vector<uint8_t>{252, 254, 255}));
}

TEST(QuantU8, ZeroPointFromTheRangeWithZero) {
  {
    const std::vector<float> x = {-1.0f, 0.0f, 3.0f};
    const QuantParams p = jitson::quant_params_u8(x);
    EXPECT_EQ(p.scale, 4.0f / 255.0f);
    EXPECT_EQ(p.zero_point, 64);  // RNE(1 / (4/255)) = RNE(63.75)
    std::vector<uint8_t> q(3);
    jitson::quantize_u8(x, p, q);
    EXPECT_EQ(q, (std::vector<uint8_t>{0, 64, 255}));
  }
  {
    // All negative: max' = 0, zero point at the top.
    const std::vector<float> x = {-5.0f, -1.0f};
    std::vector<uint8_t> q(2);
    const QuantParams p = jitson::quantize_u8(x, q);
    EXPECT_EQ(p.scale, 5.0f / 255.0f);
    EXPECT_EQ(p.zero_point, 255);
    EXPECT_EQ(q[0], 0);
    EXPECT_EQ(q[1], uint8_t(std::nearbyint(-1.0f / p.scale) + 255));
  }
}

// Data spanning more than FLT_MAX: (max - min) / 255 in f32 was +Inf, the codes all zero and
// their dequantisation NaN, and quantize_u8 refused the very parameters it had returned.
TEST(QuantU8, ScaleIsFiniteForDataSpanningMoreThanFltMax) {
  const std::vector<float> x = {-3e38f, 3e38f, 1.0f};
  std::vector<uint8_t> q(3);
  const QuantParams p = jitson::quantize_u8(x, q);
  ASSERT_TRUE(std::isfinite(p.scale)) << p.scale;
  EXPECT_EQ(p.scale, static_cast<float>((3e38 + 3e38) / 255.0));
  EXPECT_EQ(p.zero_point, 128);  // RNE(3e38 / scale) = RNE(127.5...)
  EXPECT_EQ(q, (std::vector<uint8_t>{0, 255, 128}));
  std::vector<float> back(3);
  jitson::dequantize_u8(q, p, back);
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_TRUE(std::isfinite(back[i])) << i;
    EXPECT_LE(std::fabs(double(back[i]) - double(x[i])), double(p.scale)) << i;
  }
  std::vector<uint8_t> again(3);
  EXPECT_NO_THROW(jitson::quantize_u8(x, p, again));  // its own parameters are valid input
  EXPECT_EQ(again, q);

  // The same row through the per-row form.
  float scale = 0;
  int32_t zero_point = -1;
  std::vector<uint8_t> row_q(3);
  jitson::quantize_u8_per_row(x.data(), 1, 3, 3, row_q.data(), 3, &scale, &zero_point);
  EXPECT_EQ(scale, p.scale);
  EXPECT_EQ(zero_point, p.zero_point);
  EXPECT_EQ(row_q, q);
}

TEST(QuantU8, EmptyAndConstantInputs) {
  EXPECT_EQ(jitson::quant_params_u8({}), (QuantParams{1.0f, 0}));
  const std::vector<float> zeros(5, 0.0f);
  EXPECT_EQ(jitson::quant_params_u8(zeros), (QuantParams{1.0f, 0}));
  // A positive constant: range [0, c], so c maps to 255 and 0 to 0.
  const std::vector<float> c(4, 2.0f);
  std::vector<uint8_t> q(4);
  const QuantParams p = jitson::quantize_u8(c, q);
  EXPECT_EQ(p.zero_point, 0);
  EXPECT_EQ(q, std::vector<uint8_t>(4, 255));
}

TEST(QuantRounding, TiesGoToEvenEverywhere) {
  // scale 1, zero point 0: x / scale is the tie itself.
  const std::vector<float> x = {0.5f, 1.5f, 2.5f, 3.5f, 254.5f, 2.4999998f, 2.5000002f};
  std::vector<uint8_t> q(x.size());
  jitson::quantize_u8(x, QuantParams{1.0f, 0}, q);
  EXPECT_EQ(q, (std::vector<uint8_t>{0, 2, 2, 4, 254, 2, 3}));
  const std::vector<float> s = {-0.5f, -1.5f, -2.5f, -3.5f, 126.5f, -127.5f, -128.5f, 300.0f};
  std::vector<int8_t> qi(s.size());
  jitson::quantize_i8(s, 1.0f, qi);
  EXPECT_EQ(qi, (std::vector<int8_t>{0, -2, -2, -4, 126, -128, -128, 127}));
  // Same rule at every position (the seed rounded its tail differently from its SIMD body).
  std::vector<float> many(37, 2.5f);
  std::vector<int8_t> qm(37);
  jitson::quantize_i8(many, 1.0f, qm);
  for (int8_t v : qm) EXPECT_EQ(v, 2);
}

TEST(QuantRounding, TrueDivisionNotMultiplicationByTheReciprocal) {
  // The rule is RNE of the f32 quotient x / scale (not x times a rounded reciprocal), the same
  // for every element.
  const float scale = 0.1f;
  std::vector<float> x;
  for (int i = -1270; i <= 1270; ++i) x.push_back(float(i) * 0.01f);
  std::vector<int8_t> q(x.size());
  jitson::quantize_i8(x, scale, q);
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(q[i], int8_t(std::nearbyint(x[i] / scale))) << x[i];
}

TEST(QuantI8, SymmetricPerTensor) {
  const std::vector<float> x = {-1.0f, 0.5f, 1.0f, 0.25f};
  std::vector<int8_t> q(4);
  const float scale = jitson::quantize_i8(x, q);
  EXPECT_EQ(scale, 1.0f / 127.0f);
  EXPECT_EQ(q, (std::vector<int8_t>{-127, 64, 127, 32}));  // 63.5 -> 64 (even), 31.75 -> 32
  EXPECT_EQ(jitson::quant_scale_i8(std::vector<float>(3, 0.0f)), 1.0f);
  std::vector<float> back(4);
  jitson::dequantize_i8(q, scale, back);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(back[i], x[i], scale / 2);
}

TEST(QuantI8, PerColumnIsPerRowOfTheTranspose) {
  const int64_t rows = 7, cols = 5, ld = 6;
  std::vector<float> x(rows * ld, std::numeric_limits<float>::quiet_NaN()), xt(cols * rows);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> d(-3, 3);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) xt[c * rows + r] = x[r * ld + c] = d(rng) * float(c + 1);
  std::vector<int8_t> q(rows * cols), qt(cols * rows);
  std::vector<float> scales(cols), scales_t(cols);
  jitson::quantize_i8_per_column(x.data(), rows, cols, ld, q.data(), cols, scales.data());
  jitson::quantize_i8_per_row(xt.data(), cols, rows, rows, qt.data(), rows, scales_t.data());
  EXPECT_EQ(scales, scales_t);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) EXPECT_EQ(q[r * cols + c], qt[c * rows + r]);
  // Each column's scale is its own max|x| / 127.
  for (int64_t c = 0; c < cols; ++c) {
    float m = 0;
    for (int64_t r = 0; r < rows; ++r) m = std::max(m, std::fabs(x[r * ld + c]));
    EXPECT_EQ(scales[c], m / 127.0f);
  }
}

TEST(QuantI4, PackingOrderAndRange) {
  const std::vector<float> x = {7.0f, -7.0f, 3.5f, 1.0f, -2.5f};  // scale 1
  std::vector<uint8_t> packed(3);
  EXPECT_EQ(jitson::quantize_i4(x, packed), 1.0f);
  // Even index in the high nibble, odd in the low; 3.5 -> 4, -2.5 -> -2; odd count: low 0.
  EXPECT_EQ(packed, (std::vector<uint8_t>{0x79, 0x41, 0xE0}));
  std::vector<int8_t> back(5);
  jitson::unpack_i4(packed, back);
  EXPECT_EQ(back, (std::vector<int8_t>{7, -7, 4, 1, -2}));
  std::vector<uint8_t> wrong(2);
  EXPECT_THROW(jitson::quantize_i4(x, wrong), jitson::Error);
}

TEST(QuantValidation, NonFiniteAndSizeErrors) {
  const std::vector<float> x = {1.0f, std::numeric_limits<float>::quiet_NaN(), 2.0f};
  std::vector<uint8_t> q(3);
  try {
    jitson::quantize_u8(x, q);
    FAIL() << "NaN accepted";
  } catch (const jitson::Error &e) {
    EXPECT_EQ(e.kind(), jitson::ErrorKind::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("element 1 is NaN"), std::string::npos) << e.what();
  }
  const std::vector<float> inf = {std::numeric_limits<float>::infinity()};
  std::vector<int8_t> qi(1);
  EXPECT_THROW(jitson::quantize_i8(inf, qi), jitson::Error);
  std::vector<uint8_t> short_q(2);
  EXPECT_THROW(jitson::quantize_u8(x, short_q), jitson::Error);
  std::vector<uint8_t> one(1);
  EXPECT_THROW(jitson::quantize_u8(std::vector<float>{1.0f}, QuantParams{0.0f, 0}, one),
               jitson::Error);
  EXPECT_THROW(jitson::quantize_u8(std::vector<float>{1.0f}, QuantParams{1.0f, 256}, one),
               jitson::Error);
  std::vector<float> m(4, 1.0f);
  std::vector<int8_t> mq(4);
  std::vector<float> sc(2);
  EXPECT_THROW(jitson::quantize_i8_per_row(m.data(), 2, 2, 1, mq.data(), 2, sc.data()),
               jitson::Error);  // ld < cols
  EXPECT_THROW(jitson::quantize_i8_per_column(m.data(), 2, 2, 2, mq.data(), 2, nullptr),
               jitson::Error);
}

// End to end: quantise activations per row (u8) and weights per output column (i8), multiply
// with the dequantising GEMM, and land within the quantisation error of the f32 product.
TEST(QuantGemm, PerChannelPipelineApproximatesTheF32Product) {
  const int64_t m = 9, n = 13, k = 50;
  std::mt19937 rng(8);
  std::uniform_real_distribution<float> d(-2, 3);
  std::vector<float> a(m * k), b(k * n);
  for (float &x : a) x = d(rng);
  for (float &x : b) x = d(rng) * 0.5f;
  std::vector<uint8_t> qa(m * k);
  std::vector<int8_t> qb(k * n);
  std::vector<float> a_scales(m), b_scales(n);
  std::vector<int32_t> a_zps(m);
  jitson::quantize_u8_per_row(a.data(), m, k, k, qa.data(), k, a_scales.data(), a_zps.data());
  jitson::quantize_i8_per_column(b.data(), k, n, n, qb.data(), n, b_scales.data());
  std::vector<float> c(m * n);
  jitson::gemm_u8i8_f32_per_channel(m, n, k, qa.data(), k, qb.data(), n, c.data(), n,
                                    a_scales.data(), a_zps.data(), b_scales.data());
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double exact = 0, bound = 0;
      for (int64_t p = 0; p < k; ++p) {
        exact += double(a[i * k + p]) * double(b[p * n + j]);
        // |a - a~| <= sa/2, |b - b~| <= sb/2.
        const double ea = a_scales[i] / 2.0, eb = b_scales[j] / 2.0;
        bound += std::fabs(a[i * k + p]) * eb + std::fabs(b[p * n + j]) * ea + ea * eb;
      }
      EXPECT_NEAR(c[i * n + j], exact, bound * 1.001 + 1e-4) << i << "," << j;
    }
  // Per tensor: the same with one scale and zero point each.
  std::vector<uint8_t> qa1(m * k);
  std::vector<int8_t> qb1(k * n);
  const QuantParams pa = jitson::quantize_u8(a, qa1);
  const float sb = jitson::quantize_i8(b, qb1);
  jitson::gemm_u8i8_f32(m, n, k, qa1.data(), k, qb1.data(), n, c.data(), n, pa.scale, pa.zero_point,
                        sb);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double exact = 0, bound = 0;
      for (int64_t p = 0; p < k; ++p) {
        exact += double(a[i * k + p]) * double(b[p * n + j]);
        bound += std::fabs(a[i * k + p]) * sb / 2 + std::fabs(b[p * n + j]) * pa.scale / 2 +
                 pa.scale * sb / 4;
      }
      EXPECT_NEAR(c[i * n + j], exact, bound * 1.001 + 1e-4);
    }
}

}  // namespace
