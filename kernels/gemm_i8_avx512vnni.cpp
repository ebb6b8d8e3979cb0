// u8 x i8 -> i32 GEMM on AVX-512 VNNI: a 14 x 32 micro-kernel, vpdpbusd adding four u8 x i8
// products per i32 lane (28 zmm accumulators over the whole k, so no partial sum leaves the
// registers), B packed in groups of four k rows. Compiled with the avx512vnni flag set: the whole
// file, packers included, runs only after runtime/gemm.cpp has seen AVX512-VNNI.
#include <immintrin.h>

#include "kernels/gemm_internal.hpp"

namespace jitson::gemm_detail {
namespace {

constexpr int kMr = 14;
constexpr int kNv = 2;
constexpr int kNr = 16 * kNv;

void pack_a(const uint8_t *src, ptrdiff_t lda, int mc, int k, uint8_t *dst) {
  pack_a_grouped<kMr, 4>(src, lda, 1, mc, k, dst);
}

void pack_b(const int8_t *src, ptrdiff_t ldb, int k, int nc, int8_t *dst, int32_t *col_sums) {
  pack_b_grouped<kNr, 4>(src, ldb, 1, k, nc, dst);
  i8_column_sums(src, ldb, k, nc, kNr, col_sums);
}

template <int MR, int NV>
inline void micro(int k4, const uint8_t *pa, const int8_t *pb, int row0, int col0, int rows,
                  int cols, const I8Output &out) {
  __m512i acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_si512();
  for (int q = 0; q < k4; q += 4) {
    __m512i b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_si512(pb + 64 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      int32_t quad;
      __builtin_memcpy(&quad, pa + 4 * r, 4);
      const __m512i a = _mm512_set1_epi32(quad);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], a, b[v]);
    }
    pa += 4 * MR;
    pb += 64 * NV;
  }
  // A constant trip count keeps acc in registers (a runtime bound would index it in memory).
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
    if (r < rows) i8_store_row_avx512<NV>(acc[r], row0 + r, col0, cols, out);
}

void macro(int mc, int nc, int k, const uint8_t *pa, const int8_t *pb, const I8Output &out) {
  const int k4 = round_up(k, 4);
  for (int j = 0; j < nc; j += kNr) {
    const int cols = nc - j < kNr ? nc - j : kNr;
    for (int i = 0; i < mc; i += kMr) {
      const int rows = mc - i < kMr ? mc - i : kMr;
      micro<kMr, kNv>(k4, pa + i * k4, pb + j * k4, i, j, rows, cols, out);
    }
  }
}

}  // namespace

const I8Kernel i8_vnni_avx512 = {.name = "u8i8 avx512 vnni 14x32",
                                 .mr = kMr,
                                 .nr = kNr,
                                 .k_align = 4,
                                 .mc_bytes = 1 << 19,
                                 .nc_bytes = 1 << 23,
                                 .pack_a = pack_a,
                                 .pack_b = pack_b,
                                 .macro = macro,
                                 .needs_amx = false};

}  // namespace jitson::gemm_detail
