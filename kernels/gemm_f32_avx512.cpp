// f32 GEMM on AVX-512: a 14 x 32 micro-kernel (28 zmm accumulators, two zmm of B and one
// broadcast of A per k step, two FMAs per cycle, B prefetched 16 steps ahead), and the bf16 -> f32
// converting packers that make the exact-rounding bf16 GEMM path.
#include <immintrin.h>

#include "kernels/gemm_internal.hpp"

namespace jitson::gemm_detail {
namespace {

constexpr int kMr = 14;
constexpr int kNv = 2;
constexpr int kNr = 16 * kNv;

// B is prefetched this many k steps ahead. The B panels stream from L2 (one is larger than L1)
// and the hardware prefetcher alone left the FMA units idle 5-9% of the time: with 16 steps
// (2 KiB) ahead sgemm ran 5-9% faster at n = 1024 and 4096, 1 and 2 threads, against 6, 8,
// 12, 24 and 32 steps and none, measured alternately in one process.
constexpr int kPrefetchSteps = 16;

// One k step: NV vectors of B, MR broadcasts of A, MR * NV FMAs.
template <int MR, int NV>
inline void step_f32(__m512 (&acc)[MR][NV], const float *pa, const float *pb) {
  // Integer arithmetic: past the last panel the address lies beyond the B buffer, which is
  // fine for a prefetch (it never faults) but not for a pointer.
  const uintptr_t ahead = reinterpret_cast<uintptr_t>(pb) + kPrefetchSteps * 64 * NV;
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v)
    _mm_prefetch(reinterpret_cast<const char *>(ahead + 64 * v), _MM_HINT_T0);
  __m512 b[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(pb + 16 * v);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    const __m512 a = _mm512_set1_ps(pa[r]);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(a, b[v], acc[r][v]);
  }
}

template <int MR, int NV>
inline void micro_f32(int kc, const float *pa, const float *pb, float *c, ptrdiff_t ldc,
                      float alpha, float beta, int rows, int cols) {
  __m512 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  prefetch_tile<MR, NV, _MM_HINT_T1>(c, ldc, rows, cols);
  constexpr int kTail = 48;
  int p = 0;
  for (; p < kc - kTail; ++p) {
    step_f32(acc, pa, pb);
    pa += MR;
    pb += 16 * NV;
  }
  prefetch_tile<MR, NV, _MM_HINT_T0>(c, ldc, rows, cols);
  for (; p < kc; ++p) {
    step_f32(acc, pa, pb);
    pa += MR;
    pb += 16 * NV;
  }
  store_tile_avx512<MR, NV>(acc, c, ldc, alpha, beta, rows, cols);
}

void macro_f32(int mc, int nc, int kc, const float *pa, const float *pb, float *c, ptrdiff_t ldc,
               float alpha, float beta) {
  // Rows outer: the A panel stays in L1 while the B panels stream from L2, and C is walked
  // along its rows (few pages, prefetch-friendly).
  for (int i = 0; i < mc; i += kMr) {
    const int rows = mc - i < kMr ? mc - i : kMr;
    for (int j = 0; j < nc; j += kNr) {
      const int cols = nc - j < kNr ? nc - j : kNr;
      micro_f32<kMr, kNv>(kc, pa + i * kc, pb + j * kc, c + i * ldc + j, ldc, alpha, beta, rows,
                          cols);
    }
  }
}

inline float identity(float x) {
  return x;
}
inline float widen_bf16(uint16_t x) {
  return __builtin_bit_cast(float, uint32_t{x} << 16);
}

inline __m512 load_f32(const float *p, __mmask16 mask) {
  return _mm512_maskz_loadu_ps(mask, p);
}
inline __m512 load_bf16(const uint16_t *p, __mmask16 mask) {
  // Zero-masked widening (the unmasked form trips GCC 12's false maybe-uninitialized warning).
  const __m512i words =
      _mm512_maskz_cvtepu16_epi32(__mmask16(0xFFFF), _mm256_maskz_loadu_epi16(mask, p));
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(__mmask16(0xFFFF), words, 16));
}

// A panels: rows of A contiguous in k (cs == 1) are transposed 16 x 16 in registers; other
// layouts already give kMr consecutive values per k and take the generic copy.
template <class T, class Load, class Convert>
inline void pack_a_any(const T *src, ptrdiff_t rs, ptrdiff_t cs, int mc, int kc, float *dst,
                       Load load, Convert convert) {
  if (cs != 1) {
    pack_a_rows<kMr>(src, rs, cs, mc, kc, dst, convert);
    return;
  }
  for (int i0 = 0; i0 < mc; i0 += kMr) {
    pack_lines_avx512<kMr>(src + i0 * rs, rs, mc - i0 < kMr ? mc - i0 : kMr, kc, dst, load);
    dst += kMr * kc;
  }
}

// B panels: rows of B contiguous in j (cs == 1) are copied; columns contiguous in k (rs == 1,
// a transposed B) are transposed in registers.
template <class T, class Load, class Convert>
inline void pack_b_any(const T *src, ptrdiff_t rs, ptrdiff_t cs, int kc, int nc, float *dst,
                       Load load, Convert convert) {
  if (rs != 1 || cs == 1) {
    pack_b_cols<kNr>(src, rs, cs, kc, nc, dst, convert);
    return;
  }
  for (int j0 = 0; j0 < nc; j0 += kNr) {
    pack_lines_avx512<kNr>(src + j0 * cs, cs, nc - j0 < kNr ? nc - j0 : kNr, kc, dst, load);
    dst += kNr * kc;
  }
}

void pack_a_f32(const float *src, ptrdiff_t rs, ptrdiff_t cs, int mc, int kc, float *dst) {
  pack_a_any(src, rs, cs, mc, kc, dst, load_f32, identity);
}
void pack_b_f32(const float *src, ptrdiff_t rs, ptrdiff_t cs, int kc, int nc, float *dst) {
  pack_b_any(src, rs, cs, kc, nc, dst, load_f32, identity);
}
void pack_a_bf16(const uint16_t *src, ptrdiff_t rs, ptrdiff_t cs, int mc, int kc, float *dst) {
  pack_a_any(src, rs, cs, mc, kc, dst, load_bf16, widen_bf16);
}
void pack_b_bf16(const uint16_t *src, ptrdiff_t rs, ptrdiff_t cs, int kc, int nc, float *dst) {
  pack_b_any(src, rs, cs, kc, nc, dst, load_bf16, widen_bf16);
}

}  // namespace

const F32Kernel f32_avx512 = {.name = "f32 avx512 14x32",
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
const Bf16AsF32Kernel bf16_as_f32_avx512 = {.name = "bf16 as f32 avx512 14x32",
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
