// GEMM tests against naive triple-loop oracles (SEMANTICS.md §9): sgemm and the exact-rounding
// bf16 path bit for bit against the documented summation order (and within the classic error
// bound of the real product), the vdpbf16ps/AMX bf16 paths within their stated bound and
// exactly on small integers, u8 x i8 exactly. Every ISA this CPU supports is forced in turn.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "jitson/bf16.hpp"
#include "jitson/cpu.hpp"
#include "jitson/error.hpp"
#include "jitson/gemm.hpp"

namespace {

using jitson::Error;
using jitson::ErrorKind;
using jitson::GemmExtension;
using jitson::GemmOptions;
using jitson::GemmOrder;
using jitson::GemmTranspose;
using jitson::Isa;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kCSentinel = 12345.0f;  // in C's padding and guard zones: must survive
constexpr size_t kGuard = 64;           // elements before and after C

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512})
    if (jitson::isa_supported(isa)) out.push_back(isa);
  return out;
}

bool is_trans(GemmTranspose t) {
  return t != GemmTranspose::none;
}

const char *name(GemmTranspose t) {
  return t == GemmTranspose::none ? "N" : (t == GemmTranspose::transpose ? "T" : "C");
}

// A stored operand: lines x length with ld = length + pad; padding filled with `pad_value`.
template <class T>
struct Stored {
  std::vector<T> data;
  int64_t ld = 1;
  bool row_major = true;
  // Element (i, j) of the stored (untransposed) matrix.
  T at(int64_t i, int64_t j) const { return data[row_major ? i * ld + j : i + j * ld]; }
  T &at(int64_t i, int64_t j) { return data[row_major ? i * ld + j : i + j * ld]; }
};

// Fills a rows x cols matrix stored in `order` with ld = minimum + pad.
template <class T, class Gen>
Stored<T> make_stored(int64_t rows, int64_t cols, bool row_major, int64_t pad, T pad_value,
                      Gen gen) {
  Stored<T> s;
  s.row_major = row_major;
  const int64_t lines = row_major ? rows : cols, length = row_major ? cols : rows;
  s.ld = std::max<int64_t>(1, length) + pad;
  s.data.assign(static_cast<size_t>(std::max<int64_t>(1, lines) * s.ld), pad_value);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) s.at(i, j) = gen();
  return s;
}

// C with guard zones: data = [guard | matrix with padding | guard].
struct Output {
  std::vector<float> buffer;
  int64_t ld = 1;
  bool row_major = true;
  int64_t m = 0, n = 0;
  float *c() { return buffer.data() + kGuard; }
  float &at(int64_t i, int64_t j) { return c()[row_major ? i * ld + j : i + j * ld]; }
  float at(int64_t i, int64_t j) const {
    return buffer[kGuard + (row_major ? i * ld + j : i + j * ld)];
  }
  bool inside(size_t index) const {
    if (index < kGuard) return false;
    const int64_t e = static_cast<int64_t>(index - kGuard);
    const int64_t line = e / ld, pos = e % ld;
    return row_major ? (line < m && pos < n) : (line < n && pos < m);
  }
};

template <class Gen>
Output make_output(int64_t m, int64_t n, bool row_major, int64_t pad, Gen gen) {
  Output o;
  o.m = m;
  o.n = n;
  o.row_major = row_major;
  const int64_t lines = row_major ? m : n, length = row_major ? n : m;
  o.ld = std::max<int64_t>(1, length) + pad;
  o.buffer.assign(static_cast<size_t>(std::max<int64_t>(1, lines) * o.ld) + 2 * kGuard, kCSentinel);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) o.at(i, j) = gen();
  return o;
}

// op(X)(r, c).
template <class T>
T op(const Stored<T> &x, GemmTranspose t, int64_t r, int64_t c) {
  return is_trans(t) ? x.at(c, r) : x.at(r, c);
}

inline float widen(float x) {
  return x;
}
inline float widen(uint16_t x) {
  return jitson::bf16_to_f32(x);
}

// The documented summation order (gemm.hpp): sequential fma over p inside blocks of 256, then
// C = fma(alpha, acc, beta*C or +0) for the first block and fma(alpha, acc, C) after.
template <class T>
void oracle_exact(GemmTranspose ta, GemmTranspose tb, int64_t m, int64_t n, int64_t k, float alpha,
                  const Stored<T> &a, const Stored<T> &b, float beta, Output &c) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const float old = c.at(i, j);
      if (alpha == 0.0f || k == 0) {
        c.at(i, j) = beta == 0.0f ? 0.0f : (beta == 1.0f ? old : beta * old);
        continue;
      }
      float out = beta == 0.0f ? 0.0f : beta * old;
      for (int64_t k0 = 0; k0 < k; k0 += jitson::gemm_k_block) {
        float acc = 0.0f;
        for (int64_t p = k0; p < std::min(k, k0 + jitson::gemm_k_block); ++p)
          acc = std::fma(widen(op(a, ta, i, p)), widen(op(b, tb, p, j)), acc);
        out = std::fma(alpha, acc, out);
      }
      c.at(i, j) = out;
    }
}

// The real-number result in double (exact for these sizes up to double rounding) and the
// magnitude that scales the error bound.
template <class T>
void oracle_double(GemmTranspose ta, GemmTranspose tb, int64_t m, int64_t n, int64_t k, float alpha,
                   const Stored<T> &a, const Stored<T> &b, float beta, const Output &c,
                   std::vector<double> &value, std::vector<double> &magnitude) {
  value.assign(static_cast<size_t>(m * n), 0.0);
  magnitude.assign(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0, s_abs = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double prod = double(widen(op(a, ta, i, p))) * double(widen(op(b, tb, p, j)));
        s += prod;
        s_abs += std::fabs(prod);
      }
      const double old = beta == 0.0f ? 0.0 : double(c.at(i, j));
      value[i * n + j] = double(alpha) * s + double(beta) * old;
      magnitude[i * n + j] = std::fabs(double(alpha)) * s_abs + std::fabs(double(beta) * old);
    }
}

// Every element of C's buffer outside the m x n matrix still holds the sentinel.
void expect_untouched_outside(const Output &c) {
  for (size_t e = 0; e < c.buffer.size(); ++e)
    if (!c.inside(e)) {
      ASSERT_EQ(c.buffer[e], kCSentinel) << "write outside C at buffer index " << e;
    }
}

void expect_bitwise_equal(const Output &got, const Output &want, const std::string &what) {
  for (int64_t i = 0; i < got.m; ++i)
    for (int64_t j = 0; j < got.n; ++j) {
      const float g = got.at(i, j), w = want.at(i, j);
      uint32_t gb, wb;
      std::memcpy(&gb, &g, 4);
      std::memcpy(&wb, &w, 4);
      ASSERT_EQ(gb, wb) << what << " at (" << i << ", " << j << "): got " << g << ", want " << w;
    }
}

// |C - C_real| <= (k + 2) * 2^-24 * magnitude (plus a subnormal-sized slack).
void expect_within_bound(const Output &got, int64_t k, const std::vector<double> &value,
                         const std::vector<double> &magnitude, const std::string &what) {
  const double u = std::ldexp(1.0, -24);
  for (int64_t i = 0; i < got.m; ++i)
    for (int64_t j = 0; j < got.n; ++j) {
      const double err = std::fabs(double(got.at(i, j)) - value[i * got.n + j]);
      const double bound = double(k + 2) * u * 1.01 * magnitude[i * got.n + j] + 1e-37;
      ASSERT_LE(err, bound) << what << " at (" << i << ", " << j << ")";
    }
}

struct Shape {
  int64_t m, n, k;
};

std::string describe(const char *fn, GemmOrder order, GemmTranspose ta, GemmTranspose tb, Shape s,
                     float alpha, float beta, const std::string &extra) {
  return std::string(fn) + (order == GemmOrder::row_major ? " row" : " col") + " " + name(ta) +
         name(tb) + " " + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" +
         std::to_string(s.k) + " alpha=" + std::to_string(alpha) + " beta=" + std::to_string(beta) +
         " " + extra;
}

struct Case {
  GemmOrder order;
  GemmTranspose ta, tb;
  Shape shape;
  float alpha, beta;
  int64_t pad;  // extra leading-dimension length of every operand
  bool nan_c;   // fill C with NaN (meaningful with beta == 0)
};

// Runs sgemm (T = float) or gemm_bf16 (T = uint16_t) for one case with the given options and
// compares with the oracles: bitwise when `exact`, within the bound otherwise.
template <class T>
void run_case(const Case &cs, const GemmOptions &options, bool exact, uint32_t seed,
              bool small_integers = false) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> real(-1.0f, 1.0f);
  std::uniform_int_distribution<int> small(-8, 8);
  auto gen_value = [&]() -> T {
    const float x = small_integers ? float(small(rng)) : real(rng);
    if constexpr (std::is_same_v<T, float>)
      return x;
    else
      return jitson::f32_to_bf16(x);
  };
  const bool row = cs.order == GemmOrder::row_major;
  const auto [m, n, k] = cs.shape;
  const T pad_value = [] {
    if constexpr (std::is_same_v<T, float>)
      return kNaN;
    else
      return jitson::f32_to_bf16(kNaN);
  }();
  // Padding holds NaN: reading outside the matrices would show up in C.
  const Stored<T> a = make_stored<T>(is_trans(cs.ta) ? k : m, is_trans(cs.ta) ? m : k, row, cs.pad,
                                     pad_value, gen_value);
  const Stored<T> b = make_stored<T>(is_trans(cs.tb) ? n : k, is_trans(cs.tb) ? k : n, row, cs.pad,
                                     pad_value, gen_value);
  Output c = make_output(m, n, row, cs.pad, [&] {
    return cs.nan_c ? kNaN : (small_integers ? float(small(rng)) : real(rng));
  });
  Output want = c;
  oracle_exact(cs.ta, cs.tb, m, n, k, cs.alpha, a, b, cs.beta, want);
  std::vector<double> value, magnitude;
  oracle_double(cs.ta, cs.tb, m, n, k, cs.alpha, a, b, cs.beta, c, value, magnitude);
  const std::string what = describe(
      std::is_same_v<T, float> ? "sgemm" : "gemm_bf16", cs.order, cs.ta, cs.tb, cs.shape, cs.alpha,
      cs.beta,
      std::string("kernel=") +
          jitson::gemm_kernel_name(std::is_same_v<T, float> ? "sgemm" : "bf16", options) +
          " threads=" + std::to_string(options.threads) + " pad=" + std::to_string(cs.pad));
  if constexpr (std::is_same_v<T, float>)
    jitson::sgemm(cs.order, cs.ta, cs.tb, m, n, k, cs.alpha, a.data.data(), a.ld, b.data.data(),
                  b.ld, cs.beta, c.c(), c.ld, options);
  else
    jitson::gemm_bf16(cs.order, cs.ta, cs.tb, m, n, k, cs.alpha, a.data.data(), a.ld, b.data.data(),
                      b.ld, cs.beta, c.c(), c.ld, options);
  expect_untouched_outside(c);
  if (exact) {
    expect_bitwise_equal(c, want, what);
  }
  if (!(cs.nan_c && cs.beta != 0.0f)) expect_within_bound(c, k, value, magnitude, what);
}

const std::vector<Shape> &shapes() {
  static const std::vector<Shape> s = {
      {1, 1, 1},    {17, 31, 13}, {1, 40, 9},   {40, 1, 9},  {33, 45, 1},   {2, 3, 300},
      {300, 2, 5},  {3, 300, 4},  {15, 33, 17}, {14, 32, 8}, {29, 65, 257}, {6, 16, 16},
      {7, 17, 513}, {64, 64, 64}, {0, 5, 3},    {5, 0, 3},   {5, 3, 0}};
  return s;
}

const GemmOrder kOrders[] = {GemmOrder::row_major, GemmOrder::col_major};
const GemmTranspose kTrans[] = {GemmTranspose::none, GemmTranspose::transpose,
                                GemmTranspose::conj_transpose};
const std::pair<float, float> kAlphaBeta[] = {{1.0f, 0.0f},   {2.5f, -1.5f}, {1.0f, 1.0f},
                                              {-0.75f, 0.5f}, {0.0f, 2.0f},  {0.0f, 0.0f}};

// ---------------------------------------------------------------------------- sgemm

TEST(Sgemm, EveryShapeLayoutTransposeAndIsaMatchesTheOracleBitForBit) {
  uint32_t seed = 1;
  for (Isa isa : supported_isas()) {
    GemmOptions options;
    options.isa = isa;
    options.threads = 1;
    size_t rotation = 0;
    for (const Shape &s : shapes())
      for (GemmOrder order : kOrders)
        for (GemmTranspose ta : kTrans)
          for (GemmTranspose tb : kTrans) {
            const auto [alpha, beta] = kAlphaBeta[rotation++ % std::size(kAlphaBeta)];
            const Case cs{order, ta, tb, s, alpha, beta, int64_t(rotation % 3), beta == 0.0f};
            run_case<float>(cs, options, true, seed++);
            if (HasFatalFailure()) return;
          }
  }
}

TEST(Sgemm, AlphaBetaCasesOnEveryIsa) {
  uint32_t seed = 100;
  for (Isa isa : supported_isas())
    for (GemmOrder order : kOrders)
      for (const auto &[alpha, beta] : kAlphaBeta)
        for (bool nan_c : {false, true}) {
          if (nan_c && beta != 0.0f) continue;  // NaN in C propagates when beta != 0
          GemmOptions options;
          options.isa = isa;
          options.threads = 2;
          const Case cs{
              order, GemmTranspose::none, GemmTranspose::transpose, {37, 41, 29}, alpha, beta, 2,
              nan_c};
          run_case<float>(cs, options, true, seed++);
          if (HasFatalFailure()) return;
        }
}

TEST(Sgemm, BetaZeroOverwritesNaNAndInfinityInC) {
  const int64_t m = 5, n = 7, k = 3;
  std::vector<float> a(m * k, 1.0f), b(k * n, 2.0f);
  for (Isa isa : supported_isas()) {
    std::vector<float> c(m * n, kNaN);
    c[3] = std::numeric_limits<float>::infinity();
    GemmOptions options;
    options.isa = isa;
    jitson::sgemm(GemmOrder::row_major, GemmTranspose::none, GemmTranspose::none, m, n, k, 1.0f,
                  a.data(), k, b.data(), n, 0.0f, c.data(), n, options);
    for (float x : c) EXPECT_EQ(x, 6.0f);
    // alpha == 0 and beta == 0: zeros, NaN in A ignored (A is not read).
    std::vector<float> nan_a(m * k, kNaN);
    std::fill(c.begin(), c.end(), kNaN);
    jitson::sgemm(GemmOrder::row_major, GemmTranspose::none, GemmTranspose::none, m, n, k, 0.0f,
                  nan_a.data(), k, b.data(), n, 0.0f, c.data(), n, options);
    for (float x : c) EXPECT_EQ(x, 0.0f);
    // k == 0: beta step only.
    std::fill(c.begin(), c.end(), 3.0f);
    jitson::sgemm(GemmOrder::row_major, GemmTranspose::none, GemmTranspose::none, m, n, 0, 1.0f,
                  a.data(), 1, b.data(), n, 0.5f, c.data(), n, options);
    for (float x : c) EXPECT_EQ(x, 1.5f);
  }
}

TEST(Sgemm, LargeShapesAreIdenticalAcrossIsasAndThreadCounts) {
  for (const Shape s : {Shape{257, 129, 67}, Shape{100, 90, 700}}) {
    for (GemmOrder order : kOrders) {
      std::vector<Output> results;
      const Case cs{order, GemmTranspose::none, GemmTranspose::none, s, 1.5f, -0.5f, 1, false};
      for (Isa isa : supported_isas())
        for (unsigned threads : {1u, 2u, 3u, 7u}) {
          if (isa == Isa::scalar && threads > 2) continue;  // scalar is slow; 1 and 2 suffice
          GemmOptions options;
          options.isa = isa;
          options.threads = threads;
          run_case<float>(cs, options, true, 7);
          if (HasFatalFailure()) return;
        }
    }
  }
}

TEST(Sgemm, SmallIntegersAreExactOnEveryPath) {
  // Sums of products of integers in [-8, 8] stay far below 2^24: every order gives the exact
  // result, which the double oracle holds exactly.
  for (Isa isa : supported_isas()) {
    GemmOptions options;
    options.isa = isa;
    const Case cs{GemmOrder::row_major,
                  GemmTranspose::transpose,
                  GemmTranspose::none,
                  {45, 67, 301},
                  1.0f,
                  1.0f,
                  0,
                  false};
    run_case<float>(cs, options, true, 11, true);
  }
}

TEST(Sgemm, CblasIntegerCodesMatchTheEnums) {
  const int64_t m = 9, n = 11, k = 13;
  std::vector<float> a(m * k), b(k * n), c1(m * n, 1.0f), c2(m * n, 1.0f);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> d(-1, 1);
  for (float &x : a) x = d(rng);
  for (float &x : b) x = d(rng);
  jitson::sgemm(102, 112, 113, m, n, k, 0.5f, a.data(), k, b.data(), n, 2.0f, c1.data(), m);
  jitson::sgemm(GemmOrder::col_major, GemmTranspose::transpose, GemmTranspose::transpose, m, n, k,
                0.5f, a.data(), k, b.data(), n, 2.0f, c2.data(), m);
  EXPECT_EQ(c1, c2);
}

// Expects Error(invalid_argument) whose message contains every fragment.
template <class F>
void expect_invalid(F f, std::initializer_list<const char *> fragments) {
  try {
    f();
    FAIL() << "no error thrown";
  } catch (const Error &e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument) << e.what();
    for (const char *frag : fragments)
      EXPECT_NE(std::string(e.what()).find(frag), std::string::npos)
          << "message \"" << e.what() << "\" lacks \"" << frag << "\"";
  }
}

TEST(SgemmValidation, EveryRuleHasItsError) {
  std::vector<float> a(100, 1.0f), b(100, 1.0f), c(100, 1.0f);
  const auto N = GemmTranspose::none, T = GemmTranspose::transpose;
  const auto R = GemmOrder::row_major, C = GemmOrder::col_major;
  // Negative sizes.
  expect_invalid(
      [&] { jitson::sgemm(R, N, N, -1, 2, 2, 1, a.data(), 2, b.data(), 2, 0, c.data(), 2); },
      {"m = -1", ">= 0"});
  expect_invalid(
      [&] { jitson::sgemm(R, N, N, 2, -3, 2, 1, a.data(), 2, b.data(), 2, 0, c.data(), 2); },
      {"n = -3"});
  expect_invalid(
      [&] { jitson::sgemm(R, N, N, 2, 2, -4, 1, a.data(), 2, b.data(), 2, 0, c.data(), 2); },
      {"k = -4"});
  // Leading dimensions, per layout and transpose: row-major A m x k needs lda >= k ...
  expect_invalid(
      [&] { jitson::sgemm(R, N, N, 3, 4, 5, 1, a.data(), 4, b.data(), 4, 0, c.data(), 4); },
      {"lda = 4", "max(1, 5)"});
  // ... transposed, A is stored k x m: lda >= m.
  expect_invalid(
      [&] { jitson::sgemm(R, T, N, 3, 4, 5, 1, a.data(), 2, b.data(), 4, 0, c.data(), 4); },
      {"lda = 2", "max(1, 3)", "transposed"});
  expect_invalid(
      [&] { jitson::sgemm(R, N, N, 3, 4, 5, 1, a.data(), 5, b.data(), 3, 0, c.data(), 4); },
      {"ldb = 3", "max(1, 4)"});
  expect_invalid(
      [&] { jitson::sgemm(R, N, T, 3, 4, 5, 1, a.data(), 5, b.data(), 4, 0, c.data(), 4); },
      {"ldb = 4", "max(1, 5)"});
  expect_invalid(
      [&] { jitson::sgemm(R, N, N, 3, 4, 5, 1, a.data(), 5, b.data(), 4, 0, c.data(), 3); },
      {"ldc = 3", "max(1, 4)"});
  // Column-major: A m x k needs lda >= m, C needs ldc >= m.
  expect_invalid(
      [&] { jitson::sgemm(C, N, N, 3, 4, 5, 1, a.data(), 2, b.data(), 5, 0, c.data(), 3); },
      {"lda = 2", "max(1, 3)", "column-major"});
  expect_invalid(
      [&] { jitson::sgemm(C, N, N, 3, 4, 5, 1, a.data(), 3, b.data(), 4, 0, c.data(), 3); },
      {"ldb = 4", "max(1, 5)"});
  expect_invalid(
      [&] { jitson::sgemm(C, N, N, 3, 4, 5, 1, a.data(), 3, b.data(), 5, 0, c.data(), 2); },
      {"ldc = 2", "max(1, 3)"});
  // ld >= 1 even for empty matrices.
  expect_invalid(
      [&] { jitson::sgemm(R, N, N, 0, 0, 0, 1, a.data(), 0, b.data(), 1, 0, c.data(), 1); },
      {"lda = 0", "max(1, 0) = 1"});
  // Null pointers with non-zero size.
  expect_invalid(
      [&] { jitson::sgemm(R, N, N, 2, 2, 2, 1, nullptr, 2, b.data(), 2, 0, c.data(), 2); },
      {"a is null", "2 x 2"});
  expect_invalid(
      [&] { jitson::sgemm(R, N, N, 2, 2, 2, 1, a.data(), 2, nullptr, 2, 0, c.data(), 2); },
      {"b is null"});
  expect_invalid(
      [&] { jitson::sgemm(R, N, N, 2, 2, 2, 1, a.data(), 2, b.data(), 2, 0, nullptr, 2); },
      {"c is null"});
  // Overlap of C with A or B when alpha != 0 and k > 0.
  expect_invalid(
      [&] { jitson::sgemm(R, N, N, 4, 4, 4, 1, a.data(), 4, b.data(), 4, 0, a.data() + 8, 4); },
      {"C overlaps A"});
  expect_invalid(
      [&] { jitson::sgemm(R, N, N, 4, 4, 4, 1, a.data(), 4, b.data(), 4, 0, b.data() + 15, 4); },
      {"C overlaps B"});
  // Bad CBLAS codes.
  expect_invalid(
      [&] { jitson::sgemm(100, 111, 111, 2, 2, 2, 1, a.data(), 2, b.data(), 2, 0, c.data(), 2); },
      {"order = 100", "101"});
  expect_invalid(
      [&] { jitson::sgemm(101, 114, 111, 2, 2, 2, 1, a.data(), 2, b.data(), 2, 0, c.data(), 2); },
      {"trans_a = 114"});
  expect_invalid(
      [&] { jitson::sgemm(101, 111, 0, 2, 2, 2, 1, a.data(), 2, b.data(), 2, 0, c.data(), 2); },
      {"trans_b = 0"});
  expect_invalid(
      [&] {
        jitson::sgemm(R, N, N, int64_t(1) << 40, int64_t(1) << 40, 1, 1, a.data(), 1, b.data(),
                      int64_t(1) << 40, 0, c.data(), int64_t(1) << 40);
      },
      {"address space"});
}

TEST(SgemmValidation, NullAndOverlapAreFineWhereTheyCannotMatter) {
  std::vector<float> buf(64, 1.0f);
  const auto N = GemmTranspose::none;
  const auto R = GemmOrder::row_major;
  // Empty matrices may be null.
  jitson::sgemm(R, N, N, 0, 0, 0, 1, nullptr, 1, nullptr, 1, 0, nullptr, 1);
  jitson::sgemm(R, N, N, 3, 3, 0, 1, nullptr, 1, nullptr, 3, 2, buf.data(), 3);
  EXPECT_EQ(buf[0], 2.0f);
  // C may overlap A/B when alpha == 0 (A and B are not read).
  jitson::sgemm(R, N, N, 4, 4, 4, 0, buf.data(), 4, buf.data(), 4, 0.5f, buf.data(), 4);
  EXPECT_EQ(buf[0], 1.0f);   // 2 * 0.5
  EXPECT_EQ(buf[12], 0.5f);  // 1 * 0.5
}

TEST(SgemmOptions, ThreadSettingAndUnsupportedRequests) {
  const unsigned before = jitson::gemm_threads();
  jitson::set_gemm_threads(3);
  EXPECT_EQ(jitson::gemm_threads(), 3u);
  jitson::set_gemm_threads(0);
  EXPECT_GE(jitson::gemm_threads(), 1u);
  jitson::set_gemm_threads(before);
  GemmOptions options;
  options.isa = Isa::avx2;
  if (jitson::isa_supported(Isa::avx2)) {
    options.extension = GemmExtension::amx;
    EXPECT_THROW(jitson::gemm_kernel_name("bf16", options), Error);
    options.extension = GemmExtension::avx512_dot;
    EXPECT_THROW(jitson::gemm_kernel_name("u8i8", options), Error);
  }
  EXPECT_THROW(jitson::gemm_kernel_name("dgemm"), Error);
  EXPECT_FALSE(jitson::gemm_kernel_name("sgemm").empty());
}

TEST(SgemmOptions, DefaultKernelFollowsTheActiveIsa) {
  // active_isa() honours JITSON_ISA lowering; the default sgemm kernel is that ISA's.
  // (The AVX2 kernels also need FMA; without it the portable ones run.)
  auto expected = [](Isa isa) {
    return isa == Isa::avx2 && !jitson::cpu_features().fma ? "scalar" : jitson::isa_name(isa);
  };
  const std::string name = jitson::gemm_kernel_name("sgemm");
  EXPECT_NE(name.find(expected(jitson::active_isa())), std::string::npos) << name;
  for (Isa isa : supported_isas()) {
    GemmOptions options;
    options.isa = isa;
    EXPECT_NE(jitson::gemm_kernel_name("sgemm", options).find(expected(isa)), std::string::npos);
  }
}

TEST(Sgemm, ConcurrentCallersGetTheSameBits) {
  // Two callers at once: one gets the thread pool, the other runs alone; both must match the
  // oracle exactly (the result does not depend on how the work was split).
  const Case cs{GemmOrder::row_major,
                GemmTranspose::none,
                GemmTranspose::transpose,
                {190, 170, 600},
                1.0f,
                0.5f,
                1,
                false};
  std::vector<std::thread> callers;
  std::vector<std::string> failures(4);
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        std::mt19937 rng(uint32_t(40 + t));
        std::uniform_real_distribution<float> real(-1.0f, 1.0f);
        auto gen = [&] { return real(rng); };
        const Stored<float> a = make_stored<float>(190, 600, true, 1, kNaN, gen);
        const Stored<float> b = make_stored<float>(170, 600, true, 1, kNaN, gen);
        Output c = make_output(190, 170, true, 1, gen);
        Output want = c;
        oracle_exact(cs.ta, cs.tb, 190, 170, 600, cs.alpha, a, b, cs.beta, want);
        GemmOptions options;
        options.threads = 2;
        jitson::sgemm(cs.order, cs.ta, cs.tb, 190, 170, 600, cs.alpha, a.data.data(), a.ld,
                      b.data.data(), b.ld, cs.beta, c.c(), c.ld, options);
        for (int64_t i = 0; i < 190 && failures[t].empty(); ++i)
          for (int64_t j = 0; j < 170; ++j)
            if (std::memcmp(&c.at(i, j), &want.at(i, j), 4) != 0) {
              failures[t] = "caller " + std::to_string(t) + " differs at (" + std::to_string(i) +
                            ", " + std::to_string(j) + ")";
              break;
            }
      }
    });
  for (std::thread &th : callers) th.join();
  for (const std::string &f : failures) EXPECT_TRUE(f.empty()) << f;
}

// ---------------------------------------------------------------------------- bf16 GEMM

// The bf16 kernels this CPU can run, by extension, for isa avx512 (plus the exact path on every
// ISA).
std::vector<GemmOptions> bf16_paths() {
  std::vector<GemmOptions> out;
  for (Isa isa : supported_isas()) {
    GemmOptions o;
    o.isa = isa;
    o.extension = GemmExtension::none;
    out.push_back(o);
  }
  if (jitson::isa_supported(Isa::avx512))
    for (GemmExtension ext : {GemmExtension::avx512_dot, GemmExtension::amx}) {
      GemmOptions o;
      o.isa = Isa::avx512;
      o.extension = ext;
      try {
        (void)jitson::gemm_kernel_name("bf16", o);
        out.push_back(o);
      } catch (const Error &e) {
        EXPECT_EQ(e.kind(), ErrorKind::unsupported);  // this CPU lacks it: nothing to run
      }
    }
  return out;
}

TEST(GemmBf16, ExactPathMatchesTheOracleBitForBitAndDotPathsStayWithinTheBound) {
  uint32_t seed = 300;
  for (const GemmOptions &options : bf16_paths()) {
    const bool exact = options.extension == GemmExtension::none;
    size_t rotation = 0;
    for (const Shape &s : shapes())
      for (GemmOrder order : kOrders)
        for (GemmTranspose ta : kTrans)
          for (GemmTranspose tb : kTrans) {
            if ((rotation++ % 2) == 1) continue;  // half of the combinations per path
            const auto [alpha, beta] = kAlphaBeta[rotation % std::size(kAlphaBeta)];
            const Case cs{order, ta, tb, s, alpha, beta, int64_t(rotation % 2), beta == 0.0f};
            run_case<uint16_t>(cs, options, exact, seed++);
            if (HasFatalFailure()) return;
          }
  }
}

TEST(GemmBf16, SmallIntegersAreExactOnEveryPath) {
  for (const GemmOptions &base : bf16_paths())
    for (unsigned threads : {1u, 2u}) {
      GemmOptions options = base;
      options.threads = threads;
      for (const Shape s : {Shape{70, 50, 600}, Shape{33, 97, 31}}) {
        const Case cs{GemmOrder::row_major,
                      GemmTranspose::none,
                      GemmTranspose::none,
                      s,
                      1.0f,
                      1.0f,
                      3,
                      false};
        // Products of integers in [-8, 8] are exact; every partial sum is an integer below 2^24.
        run_case<uint16_t>(cs, options, true, 17, true);
        if (HasFatalFailure()) return;
      }
    }
}

TEST(GemmBf16, LargeRandomWithinBoundOnEveryPath) {
  for (const GemmOptions &base : bf16_paths()) {
    if (base.isa == Isa::scalar) continue;  // covered at smaller sizes above
    GemmOptions options = base;
    options.threads = 2;
    const Case cs{GemmOrder::row_major,
                  GemmTranspose::none,
                  GemmTranspose::none,
                  {257, 129, 1100},
                  0.5f,
                  0.25f,
                  0,
                  false};
    run_case<uint16_t>(cs, options, options.extension == GemmExtension::none, 23);
    if (HasFatalFailure()) return;
  }
}

// SEMANTICS.md §9.2: the dot-product instructions (vdpbf16ps, AMX tdpbf16ps) treat subnormal
// bf16 inputs and f32 results as zero; the exact path (extension none) keeps them. Which one the
// default runs is what gemm_kernel_name("bf16") names.
TEST(GemmBf16, SubnormalsAreKeptByTheExactPathAndFlushedByTheDotPaths) {
  const int64_t m = 16, n = 16, k = 64;
  // Case 1: subnormal inputs. Every A element is the smallest bf16 subnormal 2^-133, B is 1:
  // C = 64 * 2^-133 = 2^-127, itself subnormal in f32.
  const std::vector<uint16_t> a_sub(size_t(m * k), 0x0001), ones(size_t(k * n), 0x3F80);
  // Case 2: normal inputs whose products and sum are subnormal: 2^-70 * 2^-60 summed twice is
  // 2^-129. (Only the first two p of each row/column are non-zero.)
  std::vector<uint16_t> a_normal(size_t(m * k), 0), b_normal(size_t(k * n), 0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < 2; ++p) a_normal[size_t(i * k + p)] = jitson::f32_to_bf16(0x1p-70f);
  for (int64_t p = 0; p < 2; ++p)
    for (int64_t j = 0; j < n; ++j) b_normal[size_t(p * n + j)] = jitson::f32_to_bf16(0x1p-60f);

  auto run = [&](const std::vector<uint16_t> &a, const std::vector<uint16_t> &b,
                 const GemmOptions &options) {
    std::vector<float> c(size_t(m * n), -1.0f);
    jitson::gemm_bf16(GemmOrder::row_major, GemmTranspose::none, GemmTranspose::none, m, n, k, 1.0f,
                      a.data(), k, b.data(), n, 0.0f, c.data(), n, options);
    return c;
  };
  auto all_equal = [](const std::vector<float> &c, float want) {
    for (float v : c)
      if (std::memcmp(&v, &want, 4) != 0) return false;
    return true;
  };
  int flushing_paths = 0;
  for (const GemmOptions &options : bf16_paths()) {
    const bool exact = options.extension == GemmExtension::none;
    const std::string name = jitson::gemm_kernel_name("bf16", options);
    EXPECT_TRUE(all_equal(run(a_sub, ones, options), exact ? 0x1p-127f : 0.0f)) << name;
    EXPECT_TRUE(all_equal(run(a_normal, b_normal, options), exact ? 0x1p-129f : 0.0f)) << name;
    flushing_paths += exact ? 0 : 1;
  }
  // The default follows the kernel it names: on a CPU with AVX-512 BF16 or AMX that is a
  // flushing path; elsewhere the exact one.
  const std::string best = jitson::gemm_kernel_name("bf16", GemmOptions{});
  const bool default_flushes = jitson::active_isa() == Isa::avx512 && flushing_paths > 0;
  EXPECT_TRUE(all_equal(run(a_sub, ones, GemmOptions{}), default_flushes ? 0.0f : 0x1p-127f))
      << best;
  // A caller who needs subnormals asks for the exact path and gets them on every ISA.
  GemmOptions exact;
  exact.extension = GemmExtension::none;
  EXPECT_TRUE(all_equal(run(a_sub, ones, exact), 0x1p-127f));
}

TEST(GemmBf16, ValidationUsesTheSgemmRules) {
  std::vector<uint16_t> a(16), b(16);
  std::vector<float> c(16);
  const auto N = GemmTranspose::none;
  const auto R = GemmOrder::row_major;
  expect_invalid(
      [&] { jitson::gemm_bf16(R, N, N, 2, 2, 3, 1, a.data(), 2, b.data(), 2, 0, c.data(), 2); },
      {"gemm_bf16", "lda = 2"});
  expect_invalid(
      [&] { jitson::gemm_bf16(R, N, N, 2, 2, 2, 1, nullptr, 2, b.data(), 2, 0, c.data(), 2); },
      {"a is null"});
  expect_invalid(
      [&] {
        jitson::gemm_bf16(
            R, N, N, 2, 2, 2, 1, a.data(), 2, b.data(), 2, 0,
            reinterpret_cast<float *>(a.data()),  // overlapping on purpose: never written
            2);
      },
      {"C overlaps A"});
}

// ---------------------------------------------------------------------------- u8 x i8

std::vector<GemmOptions> i8_paths() {
  std::vector<GemmOptions> out;
  for (Isa isa : supported_isas()) {
    GemmOptions o;
    o.isa = isa;
    o.extension = GemmExtension::none;
    out.push_back(o);
  }
  if (jitson::isa_supported(Isa::avx512))
    for (GemmExtension ext : {GemmExtension::avx512_dot, GemmExtension::amx}) {
      GemmOptions o;
      o.isa = Isa::avx512;
      o.extension = ext;
      try {
        (void)jitson::gemm_kernel_name("u8i8", o);
        out.push_back(o);
      } catch (const Error &e) {
        EXPECT_EQ(e.kind(), ErrorKind::unsupported);
      }
    }
  return out;
}

struct I8Data {
  int64_t m, n, k, lda, ldb;
  std::vector<uint8_t> a;
  std::vector<int8_t> b;
};

I8Data make_i8(int64_t m, int64_t n, int64_t k, int64_t pad, uint32_t seed, bool extreme = false) {
  I8Data d{m, n, k, std::max<int64_t>(1, k) + pad, std::max<int64_t>(1, n) + pad, {}, {}};
  std::mt19937 rng(seed);
  d.a.assign(static_cast<size_t>(std::max<int64_t>(1, m) * d.lda), 0xEE);
  d.b.assign(static_cast<size_t>(std::max<int64_t>(1, k) * d.ldb), int8_t(0x77));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p) d.a[i * d.lda + p] = extreme ? 255 : uint8_t(rng());
  for (int64_t p = 0; p < k; ++p)
    for (int64_t j = 0; j < n; ++j) d.b[p * d.ldb + j] = extreme ? int8_t(-128) : int8_t(rng());
  return d;
}

int64_t dot(const I8Data &d, int64_t i, int64_t j) {
  int64_t s = 0;
  for (int64_t p = 0; p < d.k; ++p) s += int64_t{d.a[i * d.lda + p]} * int64_t{d.b[p * d.ldb + j]};
  return s;
}

int64_t col_sum(const I8Data &d, int64_t j) {
  int64_t s = 0;
  for (int64_t p = 0; p < d.k; ++p) s += d.b[p * d.ldb + j];
  return s;
}

TEST(GemmU8I8, ExactOnEveryPathAndShape) {
  const std::vector<Shape> i8_shapes = {{1, 1, 1},      {17, 31, 13}, {33, 45, 1},  {1, 70, 130},
                                        {70, 1, 130},   {15, 33, 64}, {29, 65, 67}, {257, 129, 67},
                                        {40, 40, 1000}, {3, 5, 0},    {0, 4, 4}};
  uint32_t seed = 500;
  for (const GemmOptions &base : i8_paths())
    for (const Shape &s : i8_shapes)
      for (unsigned threads : {1u, 2u}) {
        GemmOptions options = base;
        options.threads = threads;
        const I8Data d = make_i8(s.m, s.n, s.k, int64_t(seed % 3), seed);
        ++seed;
        const int64_t ldc = std::max<int64_t>(1, s.n) + 2;
        std::vector<int32_t> c(static_cast<size_t>(std::max<int64_t>(1, s.m) * ldc), -7);
        jitson::gemm_u8i8_i32(s.m, s.n, s.k, d.a.data(), d.lda, d.b.data(), d.ldb, c.data(), ldc,
                              options);
        const std::string what = jitson::gemm_kernel_name("u8i8", options) + " " +
                                 std::to_string(s.m) + "x" + std::to_string(s.n) + "x" +
                                 std::to_string(s.k);
        for (int64_t i = 0; i < std::max<int64_t>(1, s.m); ++i)
          for (int64_t j = 0; j < ldc; ++j) {
            const int32_t got = c[i * ldc + j];
            if (i < s.m && j < s.n)
              ASSERT_EQ(got, dot(d, i, j)) << what << " at (" << i << ", " << j << ")";
            else
              ASSERT_EQ(got, -7) << what << ": write outside C at (" << i << ", " << j << ")";
          }
      }
}

TEST(GemmU8I8, ThreadedSplitsAreExact) {
  // Large enough for several threads (the work threshold is ~4 M multiply-adds).
  uint32_t seed = 700;
  for (const GemmOptions &base : i8_paths()) {
    if (base.isa == Isa::scalar || base.extension == GemmExtension::none) continue;  // slow
    for (unsigned threads : {2u, 3u}) {
      GemmOptions options = base;
      options.threads = threads;
      const I8Data d = make_i8(150, 200, 333, 1, seed++);
      std::vector<int32_t> c(150 * 200, -7);
      jitson::gemm_u8i8_i32(150, 200, 333, d.a.data(), d.lda, d.b.data(), d.ldb, c.data(), 200,
                            options);
      for (int64_t i = 0; i < 150; ++i)
        for (int64_t j = 0; j < 200; ++j)
          ASSERT_EQ(c[i * 200 + j], dot(d, i, j)) << jitson::gemm_kernel_name("u8i8", options);
    }
  }
  // The portable kernel once, on two threads.
  GemmOptions options;
  options.isa = Isa::scalar;
  options.threads = 2;
  const I8Data d = make_i8(64, 300, 250, 0, seed);
  std::vector<int32_t> c(64 * 300);
  jitson::gemm_u8i8_i32(64, 300, 250, d.a.data(), d.lda, d.b.data(), d.ldb, c.data(), 300, options);
  for (int64_t i = 0; i < 64; ++i)
    for (int64_t j = 0; j < 300; ++j) ASSERT_EQ(c[i * 300 + j], dot(d, i, j));
}

TEST(GemmU8I8, ExtremeValuesAtTheLargestKAreExact) {
  const int64_t k = jitson::gemm_u8i8_max_k;
  const I8Data d = make_i8(2, 3, k, 0, 1, true);
  for (const GemmOptions &options : i8_paths()) {
    std::vector<int32_t> c(6);
    jitson::gemm_u8i8_i32(2, 3, k, d.a.data(), d.lda, d.b.data(), d.ldb, c.data(), 3, options);
    for (int32_t x : c) EXPECT_EQ(int64_t{x}, -255LL * 128 * k);  // = -2147483520
    // The dequantising form with zero point 255: sum (255 - 255) * b = 0 exactly.
    std::vector<float> cf(6, kNaN);
    jitson::gemm_u8i8_f32(2, 3, k, d.a.data(), d.lda, d.b.data(), d.ldb, cf.data(), 3, 0.5f, 255,
                          2.0f, options);
    for (float x : cf) EXPECT_EQ(x, 0.0f);
  }
}

TEST(GemmU8I8, DequantisingVariantsFollowTheFormulaBitForBit) {
  const std::vector<Shape> i8_shapes = {{1, 1, 1}, {17, 31, 13}, {29, 65, 67}, {64, 40, 300}};
  uint32_t seed = 900;
  for (const GemmOptions &options : i8_paths())
    for (const Shape &s : i8_shapes) {
      const I8Data d = make_i8(s.m, s.n, s.k, 1, seed++);
      std::mt19937 rng(seed);
      std::uniform_real_distribution<float> scale(0.001f, 0.1f);
      const float scale_a = scale(rng), scale_b = scale(rng);
      const int32_t zp = int32_t(rng() % 256);
      std::vector<float> c(static_cast<size_t>(s.m * s.n), kNaN);
      jitson::gemm_u8i8_f32(s.m, s.n, s.k, d.a.data(), d.lda, d.b.data(), d.ldb, c.data(), s.n,
                            scale_a, zp, scale_b, options);
      const float scale_ab = scale_a * scale_b;
      for (int64_t i = 0; i < s.m; ++i)
        for (int64_t j = 0; j < s.n; ++j) {
          const int64_t v = dot(d, i, j) - int64_t{zp} * col_sum(d, j);
          ASSERT_EQ(c[i * s.n + j], static_cast<float>(v) * scale_ab) << i << "," << j;
        }
      std::vector<float> a_scales(s.m), b_scales(s.n);
      std::vector<int32_t> a_zps(s.m);
      for (auto &x : a_scales) x = scale(rng);
      for (auto &x : b_scales) x = scale(rng);
      for (auto &x : a_zps) x = int32_t(rng() % 256);
      jitson::gemm_u8i8_f32_per_channel(s.m, s.n, s.k, d.a.data(), d.lda, d.b.data(), d.ldb,
                                        c.data(), s.n, a_scales.data(), a_zps.data(),
                                        b_scales.data(), options);
      for (int64_t i = 0; i < s.m; ++i)
        for (int64_t j = 0; j < s.n; ++j) {
          const int64_t v = dot(d, i, j) - int64_t{a_zps[i]} * col_sum(d, j);
          const float want = static_cast<float>(v) * a_scales[i] * b_scales[j];
          ASSERT_EQ(c[i * s.n + j], want) << i << "," << j;
        }
    }
}

TEST(GemmU8I8, ValidationErrors) {
  std::vector<uint8_t> a(64, 1);
  std::vector<int8_t> b(64, 1);
  std::vector<int32_t> c(64);
  std::vector<float> cf(64);
  expect_invalid(
      [&] {
        jitson::gemm_u8i8_i32(2, 2, jitson::gemm_u8i8_max_k + 1, a.data(), 1 << 20, b.data(), 2,
                              c.data(), 2);
      },
      {"k = 65794", "exact in i32"});
  expect_invalid([&] { jitson::gemm_u8i8_i32(2, 3, 4, a.data(), 3, b.data(), 3, c.data(), 3); },
                 {"lda = 3", "max(1, 4)"});
  expect_invalid([&] { jitson::gemm_u8i8_i32(2, 3, 4, a.data(), 4, b.data(), 2, c.data(), 3); },
                 {"ldb = 2"});
  expect_invalid([&] { jitson::gemm_u8i8_i32(2, 3, 4, a.data(), 4, b.data(), 3, c.data(), 1); },
                 {"ldc = 1"});
  expect_invalid([&] { jitson::gemm_u8i8_i32(2, 3, 4, nullptr, 4, b.data(), 3, c.data(), 3); },
                 {"a is null"});
  expect_invalid([&] { jitson::gemm_u8i8_i32(-2, 3, 4, a.data(), 4, b.data(), 3, c.data(), 3); },
                 {"m = -2"});
  expect_invalid(
      [&] {
        jitson::gemm_u8i8_i32(
            2, 2, 2, a.data(), 2, b.data(), 2,
            reinterpret_cast<int32_t *>(a.data()),  // overlapping on purpose: never written
            2);
      },
      {"C overlaps A"});
  expect_invalid(
      [&] { jitson::gemm_u8i8_f32(2, 3, 4, a.data(), 4, b.data(), 3, cf.data(), 3, 1, 256, 1); },
      {"zero_point_a = 256", "[0, 255]"});
  std::vector<float> sa(2, 1.0f), sb(3, 1.0f);
  std::vector<int32_t> zp = {0, -1};
  expect_invalid(
      [&] {
        jitson::gemm_u8i8_f32_per_channel(2, 3, 4, a.data(), 4, b.data(), 3, cf.data(), 3,
                                          sa.data(), zp.data(), sb.data());
      },
      {"a_zero_points[1] = -1"});
  expect_invalid(
      [&] {
        jitson::gemm_u8i8_f32_per_channel(2, 3, 4, a.data(), 4, b.data(), 3, cf.data(), 3,
                                          sa.data(), zp.data(), nullptr);
      },
      {"b_scales is null"});
}

}  // namespace
