// Quantisation helpers (include/jitson/quant.hpp, SEMANTICS.md §9.3 with the JITSON RULES).
#include "jitson/quant.hpp"

#include <cmath>
#include <cstdint>
#include <string>

#include "jitson/error.hpp"

namespace jitson {
namespace {

[[noreturn]] void fail(const std::string &message) {
  throw Error(ErrorKind::invalid_argument, message);
}

// Round to nearest, ties to even, without depending on the FPU rounding mode: trunc and the
// difference v - trunc(v) are exact.
float round_even(float v) {
  if (!(std::fabs(v) < 8388608.0f)) return v;  // |v| >= 2^23 is already an integer (or NaN)
  const float t = std::trunc(v);
  const float frac = std::fabs(v - t);
  if (frac > 0.5f || (frac == 0.5f && std::fmod(t, 2.0f) != 0.0f))
    return t + (v < 0 ? -1.0f : 1.0f);
  return t;
}

float clampf(float v, float lo, float hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

// A positive scale, or 1 for all-zero/empty data or an f32 underflow.
float usable(float scale) {
  return scale > 0.0f ? scale : 1.0f;
}

void check_finite(const char *fn, const float *x, size_t n, size_t offset = 0) {
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i]))
      fail(std::string(fn) + ": element " + std::to_string(offset + i) + " is " +
           (std::isnan(x[i]) ? "NaN" : "infinite") + "; quantisation needs finite values");
}

void check_sizes(const char *fn, size_t x, size_t q) {
  if (x != q)
    fail(std::string(fn) + ": input has " + std::to_string(x) + " elements but output has " +
         std::to_string(q) + "; the lengths must be equal");
}

void check_matrix(const char *fn, const void *x, int64_t rows, int64_t cols, int64_t ld,
                  const void *q, int64_t ldq, const void *scales) {
  if (rows < 0 || cols < 0)
    fail(std::string(fn) + ": rows = " + std::to_string(rows) + ", cols = " + std::to_string(cols) +
         "; both must be >= 0");
  const int64_t min_ld = cols > 1 ? cols : 1;
  if (ld < min_ld)
    fail(std::string(fn) + ": ld = " + std::to_string(ld) +
         " is less than max(1, cols) = " + std::to_string(min_ld));
  if (ldq < min_ld)
    fail(std::string(fn) + ": ldq = " + std::to_string(ldq) +
         " is less than max(1, cols) = " + std::to_string(min_ld));
  if (rows > 0 && cols > 0 && (x == nullptr || q == nullptr || scales == nullptr))
    fail(std::string(fn) + ": a pointer is null for a " + std::to_string(rows) + " x " +
         std::to_string(cols) + " matrix; x, q and scales must all be given");
}

QuantParams params_u8(const float *x, size_t n) {
  float lo = 0.0f, hi = 0.0f;  // the range always includes 0
  for (size_t i = 0; i < n; ++i) {
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  QuantParams p;
  // In double: data spanning more than FLT_MAX ({-3e38, 3e38}) would make hi - lo +Inf in f32;
  // the quotient is at most 2 * FLT_MAX / 255, which f32 holds.
  p.scale = usable(static_cast<float>((double(hi) - double(lo)) / 255.0));
  p.zero_point = static_cast<int32_t>(clampf(round_even(-lo / p.scale), 0.0f, 255.0f));
  return p;
}

uint8_t quantize_one_u8(float x, QuantParams p) {
  const float q = round_even(x / p.scale) + static_cast<float>(p.zero_point);
  return static_cast<uint8_t>(clampf(q, 0.0f, 255.0f));
}

float scale_i8(const float *x, size_t n, float levels) {
  float m = 0.0f;
  for (size_t i = 0; i < n; ++i) m = std::fabs(x[i]) > m ? std::fabs(x[i]) : m;
  return usable(m / levels);
}

int8_t quantize_one_i8(float x, float scale, float lo, float hi) {
  return static_cast<int8_t>(clampf(round_even(x / scale), lo, hi));
}

void check_params(const char *fn, QuantParams p) {
  if (!(p.scale > 0.0f) || !std::isfinite(p.scale))
    fail(std::string(fn) + ": scale must be positive and finite");
  if (p.zero_point < 0 || p.zero_point > 255)
    fail(std::string(fn) + ": zero_point = " + std::to_string(p.zero_point) +
         " is outside [0, 255]");
}

void check_scale(const char *fn, float scale) {
  if (!(scale > 0.0f) || !std::isfinite(scale))
    fail(std::string(fn) + ": scale must be positive and finite");
}

}  // namespace

QuantParams quant_params_u8(std::span<const float> x) {
  check_finite("quant_params_u8", x.data(), x.size());
  return params_u8(x.data(), x.size());
}

void quantize_u8(std::span<const float> x, QuantParams params, std::span<uint8_t> q) {
  check_sizes("quantize_u8", x.size(), q.size());
  check_params("quantize_u8", params);
  check_finite("quantize_u8", x.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) q[i] = quantize_one_u8(x[i], params);
}

QuantParams quantize_u8(std::span<const float> x, std::span<uint8_t> q) {
  check_sizes("quantize_u8", x.size(), q.size());
  const QuantParams p = quant_params_u8(x);
  for (size_t i = 0; i < x.size(); ++i) q[i] = quantize_one_u8(x[i], p);
  return p;
}

void dequantize_u8(std::span<const uint8_t> q, QuantParams params, std::span<float> x) {
  check_sizes("dequantize_u8", q.size(), x.size());
  for (size_t i = 0; i < q.size(); ++i)
    x[i] = static_cast<float>(int32_t{q[i]} - params.zero_point) * params.scale;
}

void quantize_u8_per_row(const float *x, int64_t rows, int64_t cols, int64_t ld, uint8_t *q,
                         int64_t ldq, float *scales, int32_t *zero_points) {
  const char *fn = "quantize_u8_per_row";
  check_matrix(fn, x, rows, cols, ld, q, ldq, scales);
  if (rows > 0 && cols > 0 && zero_points == nullptr)
    fail(std::string(fn) + ": zero_points is null; it must hold one value per row");
  for (int64_t r = 0; r < rows; ++r)
    check_finite(fn, x + r * ld, static_cast<size_t>(cols), static_cast<size_t>(r * cols));
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = x + r * ld;
    const QuantParams p = params_u8(row, static_cast<size_t>(cols));
    scales[r] = p.scale;
    zero_points[r] = p.zero_point;
    for (int64_t j = 0; j < cols; ++j) q[r * ldq + j] = quantize_one_u8(row[j], p);
  }
}

float quant_scale_i8(std::span<const float> x) {
  check_finite("quant_scale_i8", x.data(), x.size());
  return scale_i8(x.data(), x.size(), 127.0f);
}

void quantize_i8(std::span<const float> x, float scale, std::span<int8_t> q) {
  check_sizes("quantize_i8", x.size(), q.size());
  check_scale("quantize_i8", scale);
  check_finite("quantize_i8", x.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) q[i] = quantize_one_i8(x[i], scale, -128.0f, 127.0f);
}

float quantize_i8(std::span<const float> x, std::span<int8_t> q) {
  check_sizes("quantize_i8", x.size(), q.size());
  const float scale = quant_scale_i8(x);
  for (size_t i = 0; i < x.size(); ++i) q[i] = quantize_one_i8(x[i], scale, -128.0f, 127.0f);
  return scale;
}

void dequantize_i8(std::span<const int8_t> q, float scale, std::span<float> x) {
  check_sizes("dequantize_i8", q.size(), x.size());
  for (size_t i = 0; i < q.size(); ++i) x[i] = static_cast<float>(q[i]) * scale;
}

void quantize_i8_per_row(const float *x, int64_t rows, int64_t cols, int64_t ld, int8_t *q,
                         int64_t ldq, float *scales) {
  const char *fn = "quantize_i8_per_row";
  check_matrix(fn, x, rows, cols, ld, q, ldq, scales);
  for (int64_t r = 0; r < rows; ++r)
    check_finite(fn, x + r * ld, static_cast<size_t>(cols), static_cast<size_t>(r * cols));
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = x + r * ld;
    const float s = scale_i8(row, static_cast<size_t>(cols), 127.0f);
    scales[r] = s;
    for (int64_t j = 0; j < cols; ++j) q[r * ldq + j] = quantize_one_i8(row[j], s, -128.0f, 127.0f);
  }
}

void quantize_i8_per_column(const float *x, int64_t rows, int64_t cols, int64_t ld, int8_t *q,
                            int64_t ldq, float *scales) {
  const char *fn = "quantize_i8_per_column";
  check_matrix(fn, x, rows, cols, ld, q, ldq, scales);
  if (rows == 0 || cols == 0) {
    if (cols > 0 && scales == nullptr)
      fail(std::string(fn) + ": scales is null; it must hold one value per column");
    for (int64_t j = 0; j < cols; ++j) scales[j] = 1.0f;
    return;
  }
  for (int64_t r = 0; r < rows; ++r)
    check_finite(fn, x + r * ld, static_cast<size_t>(cols), static_cast<size_t>(r * cols));
  for (int64_t j = 0; j < cols; ++j) scales[j] = 0.0f;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) {
      const float a = std::fabs(x[r * ld + j]);
      scales[j] = a > scales[j] ? a : scales[j];
    }
  for (int64_t j = 0; j < cols; ++j) scales[j] = usable(scales[j] / 127.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j)
      q[r * ldq + j] = quantize_one_i8(x[r * ld + j], scales[j], -128.0f, 127.0f);
}

float quantize_i4(std::span<const float> x, std::span<uint8_t> packed) {
  const char *fn = "quantize_i4";
  if (packed.size() != (x.size() + 1) / 2)
    fail(std::string(fn) + ": packed has " + std::to_string(packed.size()) + " bytes but " +
         std::to_string(x.size()) + " values need " + std::to_string((x.size() + 1) / 2));
  check_finite(fn, x.data(), x.size());
  const float scale = scale_i8(x.data(), x.size(), 7.0f);
  for (size_t b = 0; b < packed.size(); ++b) {
    const int hi = quantize_one_i8(x[2 * b], scale, -8.0f, 7.0f);
    const int lo = 2 * b + 1 < x.size() ? quantize_one_i8(x[2 * b + 1], scale, -8.0f, 7.0f) : 0;
    packed[b] = static_cast<uint8_t>(((hi & 0xF) << 4) | (lo & 0xF));
  }
  return scale;
}

void unpack_i4(std::span<const uint8_t> packed, std::span<int8_t> out) {
  if (packed.size() != (out.size() + 1) / 2)
    fail("unpack_i4: packed has " + std::to_string(packed.size()) + " bytes but " +
         std::to_string(out.size()) + " values need " + std::to_string((out.size() + 1) / 2));
  for (size_t i = 0; i < out.size(); ++i) {
    const int nibble = i % 2 == 0 ? packed[i / 2] >> 4 : packed[i / 2] & 0xF;
    out[i] = static_cast<int8_t>(nibble >= 8 ? nibble - 16 : nibble);
  }
}

}  // namespace jitson
