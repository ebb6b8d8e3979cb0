// f32 GEMM, portable twin of the SIMD kernels: the same packing, the same per-element
// summation order (a fused multiply-add per k step, sequential in p), so its results are
// bit-identical to the AVX2 and AVX-512 kernels. Also the bf16 -> f32 converting packers.
#include <cstring>

#include "kernels/gemm_internal.hpp"

namespace jitson::gemm_detail {
namespace {

constexpr int kMr = 4;
constexpr int kNr = 4;

// __builtin_fmaf rounds once, like vfmadd; without -mfma it calls the C library's fmaf.
inline float fused(float a, float b, float c) {
  return __builtin_fmaf(a, b, c);
}

void micro_f32(int kc, const float *pa, const float *pb, float *c, ptrdiff_t ldc, float alpha,
               float beta, int rows, int cols) {
  float acc[kMr][kNr] = {};
  for (int p = 0; p < kc; ++p) {
    for (int r = 0; r < kMr; ++r)
      for (int j = 0; j < kNr; ++j) acc[r][j] = fused(pa[r], pb[j], acc[r][j]);
    pa += kMr;
    pb += kNr;
  }
  for (int r = 0; r < rows; ++r) {
    float *row = c + r * ldc;
    for (int j = 0; j < cols; ++j)
      row[j] = fused(alpha, acc[r][j], beta != 0.0f ? beta * row[j] : 0.0f);
  }
}

void macro_f32(int mc, int nc, int kc, const float *pa, const float *pb, float *c, ptrdiff_t ldc,
               float alpha, float beta) {
  // Rows outer: the A panel stays in L1 while the B panels stream from L2, and C is walked
  // along its rows (few pages, prefetch-friendly).
  for (int i = 0; i < mc; i += kMr) {
    const int rows = mc - i < kMr ? mc - i : kMr;
    for (int j = 0; j < nc; j += kNr) {
      const int cols = nc - j < kNr ? nc - j : kNr;
      micro_f32(kc, pa + i * kc, pb + j * kc, c + i * ldc + j, ldc, alpha, beta, rows, cols);
    }
  }
}

inline float identity(float x) {
  return x;
}
inline float widen_bf16(uint16_t x) {
  const uint32_t bits = uint32_t{x} << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

void pack_a_f32(const float *src, ptrdiff_t rs, ptrdiff_t cs, int mc, int kc, float *dst) {
  pack_a_rows<kMr>(src, rs, cs, mc, kc, dst, identity);
}
void pack_b_f32(const float *src, ptrdiff_t rs, ptrdiff_t cs, int kc, int nc, float *dst) {
  pack_b_cols<kNr>(src, rs, cs, kc, nc, dst, identity);
}
void pack_a_bf16(const uint16_t *src, ptrdiff_t rs, ptrdiff_t cs, int mc, int kc, float *dst) {
  pack_a_rows<kMr>(src, rs, cs, mc, kc, dst, widen_bf16);
}
void pack_b_bf16(const uint16_t *src, ptrdiff_t rs, ptrdiff_t cs, int kc, int nc, float *dst) {
  pack_b_cols<kNr>(src, rs, cs, kc, nc, dst, widen_bf16);
}

}  // namespace

const F32Kernel f32_scalar = {.name = "f32 scalar 4x4",
                              .mr = kMr,
                              .nr = kNr,
                              .k_align = 1,
                              .kc = kF32KBlock,
                              .mc = 64,
                              .nc = 512,
                              .pack_a = pack_a_f32,
                              .pack_b = pack_b_f32,
                              .macro = macro_f32,
                              .needs_amx = false};
const Bf16AsF32Kernel bf16_as_f32_scalar = {.name = "bf16 as f32 scalar 4x4",
                                            .mr = kMr,
                                            .nr = kNr,
                                            .k_align = 1,
                                            .kc = kF32KBlock,
                                            .mc = 64,
                                            .nc = 512,
                                            .pack_a = pack_a_bf16,
                                            .pack_b = pack_b_bf16,
                                            .macro = macro_f32,
                                            .needs_amx = false};

}  // namespace jitson::gemm_detail
