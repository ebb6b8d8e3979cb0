// bf16 GEMM on AVX-512 BF16: a 14 x 32 micro-kernel, vdpbf16ps adding two bf16 products per f32
// lane (pairs of k packed together), 28 zmm accumulators. vdpbf16ps treats subnormal inputs as
// zero, flushes subnormal results and rounds after each of the two products (see gemm.hpp for
// the error bound). Compiled with the avx512bf16 flag set: the whole file, packers included, runs
// only after runtime/gemm.cpp has seen AVX512-BF16.
#include <immintrin.h>

#include "kernels/gemm_internal.hpp"

namespace jitson::gemm_detail {
namespace {

constexpr int kMr = 14;
constexpr int kNv = 2;
constexpr int kNr = 16 * kNv;

void pack_a(const uint16_t *src, ptrdiff_t rs, ptrdiff_t cs, int mc, int kc, uint16_t *dst) {
  pack_a_grouped<kMr, 2>(src, rs, cs, mc, kc, dst);
}
void pack_b(const uint16_t *src, ptrdiff_t rs, ptrdiff_t cs, int kc, int nc, uint16_t *dst) {
  pack_b_grouped<kNr, 2>(src, rs, cs, kc, nc, dst);
}

template <int MR, int NV>
inline void micro(int kp, const uint16_t *pa, const uint16_t *pb, float *c, ptrdiff_t ldc,
                  float alpha, float beta, int rows, int cols) {
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  prefetch_tile<MR, NV, _MM_HINT_T1>(c, ldc, rows, cols);
  for (int p = 0; p < kp; p += 2) {
    __m512bh b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = (__m512bh)_mm512_loadu_si512(pb + 32 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      int32_t pair;
      __builtin_memcpy(&pair, pa + 2 * r, 4);
      const __m512bh a = (__m512bh)_mm512_set1_epi32(pair);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], a, b[v]);
    }
    pa += 2 * MR;
    pb += 32 * NV;
  }
  store_tile_avx512<MR, NV>(acc, c, ldc, alpha, beta, rows, cols);
}

void macro(int mc, int nc, int kc, const uint16_t *pa, const uint16_t *pb, float *c, ptrdiff_t ldc,
           float alpha, float beta) {
  const int kp = round_up(kc, 2);
  // Rows outer: the A panel stays in L1 while the B panels stream from L2, and C is walked
  // along its rows (few pages, prefetch-friendly).
  for (int i = 0; i < mc; i += kMr) {
    const int rows = mc - i < kMr ? mc - i : kMr;
    for (int j = 0; j < nc; j += kNr) {
      const int cols = nc - j < kNr ? nc - j : kNr;
      micro<kMr, kNv>(kp, pa + i * kp, pb + j * kp, c + i * ldc + j, ldc, alpha, beta, rows, cols);
    }
  }
}

}  // namespace

const Bf16Kernel bf16_dot_avx512 = {.name = "bf16 avx512 vdpbf16ps 14x32",
                                    .mr = kMr,
                                    .nr = kNr,
                                    .k_align = 2,
                                    .kc = 512,
                                    .mc = 0,
                                    .nc = 0,
                                    .pack_a = pack_a,
                                    .pack_b = pack_b,
                                    .macro = macro,
                                    .needs_amx = false};

}  // namespace jitson::gemm_detail
