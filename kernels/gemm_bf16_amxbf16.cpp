// bf16 GEMM on AMX tiles (kernels/amx_util.hpp for the tile layout): tdpbf16ps, 32 bf16 of k per
// chunk. Compiled with the amxbf16 flag set; runtime/gemm.cpp picks it only when the CPU has
// AMX-BF16 and the OS granted the tile data.
#include <immintrin.h>

#include "kernels/amx_util.hpp"
#include "kernels/gemm_internal.hpp"

namespace jitson::gemm_detail {
namespace {

using amx::kMr;
using amx::kNr;
using amx::memory_barrier;

// The 32 x 32 f32 sums are in memory (row stride 32); merge them into C.
inline void store_f32_block(const float *sums, float *c, ptrdiff_t ldc, float alpha, float beta,
                            int rows, int cols) {
  for (int r = 0; r < rows; ++r) {
    const __m512 acc[1][2] = {
        {_mm512_loadu_ps(sums + r * 32), _mm512_loadu_ps(sums + r * 32 + 16)}};
    store_tile_avx512<1, 2>(acc, c + r * ldc, ldc, alpha, beta, 1, cols);
  }
}

void pack_a_bf16(const uint16_t *src, ptrdiff_t rs, ptrdiff_t cs, int mc, int kc, uint16_t *dst) {
  pack_a_grouped<kMr, 32, 32>(src, rs, cs, mc, kc, dst);
}
void pack_b_bf16(const uint16_t *src, ptrdiff_t rs, ptrdiff_t cs, int kc, int nc, uint16_t *dst) {
  pack_b_grouped<kNr, 2, 32>(src, rs, cs, kc, nc, dst);
}

void macro_bf16(int mc, int nc, int kc, const uint16_t *pa, const uint16_t *pb, float *c,
                ptrdiff_t ldc, float alpha, float beta) {
  const int kp = round_up(kc, 32);
  alignas(64) float sums[32 * 32];
  _tile_loadconfig(&amx::full_tiles());
  memory_barrier();  // the packed panels are complete before the first tile load
  for (int j = 0; j < nc; j += kNr) {
    const int cols = nc - j < kNr ? nc - j : kNr;
    const uint16_t *b = pb + j * kp;
    for (int i = 0; i < mc; i += kMr) {
      const int rows = mc - i < kMr ? mc - i : kMr;
      const uint16_t *a = pa + i * kp;
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int p = 0; p < kp; p += 32) {
        // One k chunk of A is 32 rows x 32 bf16 (p * 32 elements in); of B, 16 pairs x 32
        // columns x 2 (also p * 32 elements in).
        _tile_loadd(4, a + p * 32, 64);
        _tile_loadd(5, a + p * 32 + 16 * 32, 64);
        _tile_loadd(6, b + p * 32, 128);
        _tile_loadd(7, b + p * 32 + 32, 128);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      memory_barrier();
      _tile_stored(0, sums, 128);
      _tile_stored(1, sums + 16, 128);
      _tile_stored(2, sums + 16 * 32, 128);
      _tile_stored(3, sums + 16 * 32 + 16, 128);
      memory_barrier();
      store_f32_block(sums, c + i * ldc + j, ldc, alpha, beta, rows, cols);
    }
  }
  _tile_release();
}

}  // namespace

const Bf16Kernel bf16_amx = {.name = "bf16 amx 32x32",
                             .mr = kMr,
                             .nr = kNr,
                             .k_align = 32,
                             .kc = 2048,
                             .mc = 128,
                             .nc = 4096,
                             .pack_a = pack_a_bf16,
                             .pack_b = pack_b_bf16,
                             .macro = macro_bf16,
                             .needs_amx = true};
}  // namespace jitson::gemm_detail
