// Quantisation helpers for the u8 x i8 GEMMs (shared/spec/SEMANTICS.md §9.3 with its JITSON
// RULES). Real value convention: x ~ scale * (q - zero_point).
//  - every rounding is q = RNE(x / scale): true f32 division, then round to nearest, ties to even
//    (the same for every element, whatever its position);
//  - asymmetric u8: the range always includes 0 (min' = min(min, 0), max' = max(max, 0)),
//    scale = (max' - min') / 255, zero_point = RNE(-min' / scale) (in [0, 255] by construction),
//    q = clamp(RNE(x / scale) + zero_point, 0, 255);
//  - symmetric i8: scale = max|x| / 127, q = clamp(RNE(x / scale), -128, 127), zero point 0;
//  - symmetric i4: scale = max|x| / 7, q in [-8, 7], two per byte: even index in the high nibble,
//    odd index in the low nibble, an odd count leaves the last low nibble 0;
//  - a scale that is not positive (all-zero or empty data, or an f32 underflow) becomes 1.
// Inputs must be finite: a NaN or an infinity throws Error(invalid_argument) naming its index.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace jitson {

struct QuantParams {
  float scale = 1.0f;
  int32_t zero_point = 0;
  bool operator==(const QuantParams &) const = default;
};

// Asymmetric u8, per tensor.
QuantParams quant_params_u8(std::span<const float> x);
void quantize_u8(std::span<const float> x, QuantParams params, std::span<uint8_t> q);
QuantParams quantize_u8(std::span<const float> x, std::span<uint8_t> q);  // params, then q
void dequantize_u8(std::span<const uint8_t> q, QuantParams params, std::span<float> x);

// Asymmetric u8 per row of a rows x cols row-major matrix (ld >= cols): one (scale, zero point)
// per row, as gemm_u8i8_f32_per_channel takes them for its activations.
void quantize_u8_per_row(const float *x, int64_t rows, int64_t cols, int64_t ld, uint8_t *q,
                         int64_t ldq, float *scales, int32_t *zero_points);

// Symmetric i8, per tensor.
float quant_scale_i8(std::span<const float> x);
void quantize_i8(std::span<const float> x, float scale, std::span<int8_t> q);
float quantize_i8(std::span<const float> x, std::span<int8_t> q);  // scale, then q
void dequantize_i8(std::span<const int8_t> q, float scale, std::span<float> x);

// Symmetric i8 per channel of a rows x cols row-major matrix (ld >= cols, ldq >= cols):
// per row (scales[rows]) or per column (scales[cols]). For a k x n weight matrix B used in GEMM
// the channel is the output column: quantize_i8_per_column.
void quantize_i8_per_row(const float *x, int64_t rows, int64_t cols, int64_t ld, int8_t *q,
                         int64_t ldq, float *scales);
void quantize_i8_per_column(const float *x, int64_t rows, int64_t cols, int64_t ld, int8_t *q,
                            int64_t ldq, float *scales);

// Symmetric i4, per tensor: packed.size() must be (x.size() + 1) / 2.
float quantize_i4(std::span<const float> x, std::span<uint8_t> packed);
// Unpacks out.size() values (packed.size() must be (out.size() + 1) / 2).
void unpack_i4(std::span<const uint8_t> packed, std::span<int8_t> out);

}  // namespace jitson
