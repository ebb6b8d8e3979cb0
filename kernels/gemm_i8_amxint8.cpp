// u8 x i8 -> i32 GEMM on AMX tiles (kernels/amx_util.hpp for the tile layout): tdpbusd, 64 u8/i8
// of k per chunk. Compiled with the amxint8 flag set; runtime/gemm.cpp picks it only when the CPU
// has AMX-INT8 and the OS granted the tile data.
#include <immintrin.h>

#include "kernels/amx_util.hpp"
#include "kernels/gemm_internal.hpp"

namespace jitson::gemm_detail {
namespace {

using amx::kMr;
using amx::kNr;
using amx::memory_barrier;

void pack_a_i8(const uint8_t *src, ptrdiff_t lda, int mc, int k, uint8_t *dst) {
  pack_a_grouped<kMr, 64, 64>(src, lda, 1, mc, k, dst);
}
void pack_b_i8(const int8_t *src, ptrdiff_t ldb, int k, int nc, int8_t *dst, int32_t *col_sums) {
  pack_b_grouped<kNr, 4, 64>(src, ldb, 1, k, nc, dst);
  i8_column_sums(src, ldb, k, nc, kNr, col_sums);
}

void macro_i8(int mc, int nc, int k, const uint8_t *pa, const int8_t *pb, const I8Output &out) {
  const int kp = round_up(k, 64);
  alignas(64) int32_t sums[32 * 32];
  _tile_loadconfig(&amx::full_tiles());
  memory_barrier();  // the packed panels are complete before the first tile load
  for (int j = 0; j < nc; j += kNr) {
    const int cols = nc - j < kNr ? nc - j : kNr;
    const int8_t *b = pb + j * kp;
    for (int i = 0; i < mc; i += kMr) {
      const int rows = mc - i < kMr ? mc - i : kMr;
      const uint8_t *a = pa + i * kp;
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int p = 0; p < kp; p += 64) {
        // One k chunk of A is 32 rows x 64 bytes; of B, 16 quads x 32 columns x 4 bytes; both
        // start p * 32 bytes in.
        _tile_loadd(4, a + p * 32, 64);
        _tile_loadd(5, a + p * 32 + 16 * 64, 64);
        _tile_loadd(6, b + p * 32, 128);
        _tile_loadd(7, b + p * 32 + 64, 128);
        _tile_dpbusd(0, 4, 6);
        _tile_dpbusd(1, 4, 7);
        _tile_dpbusd(2, 5, 6);
        _tile_dpbusd(3, 5, 7);
      }
      memory_barrier();
      _tile_stored(0, sums, 128);
      _tile_stored(1, sums + 16, 128);
      _tile_stored(2, sums + 16 * 32, 128);
      _tile_stored(3, sums + 16 * 32 + 16, 128);
      memory_barrier();
      for (int r = 0; r < rows; ++r) {
        const __m512i acc[2] = {_mm512_loadu_si512(sums + r * 32),
                                _mm512_loadu_si512(sums + r * 32 + 16)};
        i8_store_row_avx512<2>(acc, i + r, j, cols, out);
      }
    }
  }
  _tile_release();
}

}  // namespace

const I8Kernel i8_amx = {.name = "u8i8 amx 32x32",
                         .mr = kMr,
                         .nr = kNr,
                         .k_align = 64,
                         .mc_bytes = 1 << 19,
                         .nc_bytes = 1 << 23,
                         .pack_a = pack_a_i8,
                         .pack_b = pack_b_i8,
                         .macro = macro_i8,
                         .needs_amx = true};

}  // namespace jitson::gemm_detail
