// f32 GEMM on AVX2 + FMA: a 6 x 16 micro-kernel (12 ymm accumulators, two ymm of B and one
// broadcast of A per k step), and the bf16 -> f32 converting packers.
#include <immintrin.h>

#include "kernels/gemm_internal.hpp"

namespace jitson::gemm_detail {
namespace {

constexpr int kMr = 6;
constexpr int kNv = 2;
constexpr int kNr = 8 * kNv;

// Lane mask for maskload/maskstore: lane l enabled when l < left.
inline __m256i lane_mask(int left) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(left), lanes);
}

void micro_f32(int kc, const float *pa, const float *pb, float *c, ptrdiff_t ldc, float alpha,
               float beta, int rows, int cols) {
  __m256 acc[kMr][kNv];
#pragma GCC unroll 8
  for (int r = 0; r < kMr; ++r)
#pragma GCC unroll 2
    for (int v = 0; v < kNv; ++v) acc[r][v] = _mm256_setzero_ps();
  for (int p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_loadu_ps(pb);
    const __m256 b1 = _mm256_loadu_ps(pb + 8);
#pragma GCC unroll 8
    for (int r = 0; r < kMr; ++r) {
      const __m256 a = _mm256_broadcast_ss(pa + r);
      acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
    }
    pa += kMr;
    pb += kNr;
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  const __m256 zero = _mm256_setzero_ps();
  const bool read_c = beta != 0.0f;
  // A constant trip count keeps acc in registers (a runtime bound would index it in memory).
#pragma GCC unroll 8
  for (int r = 0; r < kMr; ++r) {
    if (r >= rows) break;
    float *row = c + r * ldc;
    for (int v = 0; v < kNv; ++v) {
      const int left = cols - 8 * v;
      if (left <= 0) break;
      float *out = row + 8 * v;
      if (left >= 8) {
        const __m256 base = read_c ? _mm256_mul_ps(vb, _mm256_loadu_ps(out)) : zero;
        _mm256_storeu_ps(out, _mm256_fmadd_ps(va, acc[r][v], base));
      } else {
        // Masked-off lanes are neither read nor written, so nothing past C's row is touched.
        const __m256i mask = lane_mask(left);
        const __m256 base = read_c ? _mm256_mul_ps(vb, _mm256_maskload_ps(out, mask)) : zero;
        _mm256_maskstore_ps(out, mask, _mm256_fmadd_ps(va, acc[r][v], base));
      }
    }
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
  return __builtin_bit_cast(float, uint32_t{x} << 16);
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

const F32Kernel f32_avx2 = {.name = "f32 avx2 6x16",
                            .mr = kMr,
                            .nr = kNr,
                            .k_align = 1,
                            .kc = kF32KBlock,
                            .mc = 0,
                            .nc = 0,
                            .pack_a = pack_a_f32,
                            .pack_b = pack_b_f32,
                            .macro = macro_f32,
                            .needs_amx = false};
const Bf16AsF32Kernel bf16_as_f32_avx2 = {.name = "bf16 as f32 avx2 6x16",
                                          .mr = kMr,
                                          .nr = kNr,
                                          .k_align = 1,
                                          .kc = kF32KBlock,
                                          .mc = 0,
                                          .nc = 0,
                                          .pack_a = pack_a_bf16,
                                          .pack_b = pack_b_bf16,
                                          .macro = macro_f32,
                                          .needs_amx = false};

}  // namespace jitson::gemm_detail
