// bf16 and u8 x i8 GEMM on AMX tiles: a 32 x 32 block of C held in four accumulator tiles
// (tmm0..3), two 16-row tiles of A (tmm4, tmm5) and two 16-column tiles of B (tmm6, tmm7) per k
// chunk; tdpbf16ps (32 bf16 of k per chunk) or tdpbusd (64 u8/i8 of k per chunk).
// Tile rows are 64 bytes; A panels hold, per k chunk, 32 rows of 64 bytes (stride 64); B panels
// hold k pairs/quads of 32 columns (128 bytes per pair/quad row), so a B tile is 16 such rows
// read with stride 128, the second tile starting 64 bytes in.
// The caller (runtime/gemm.cpp) has obtained the AMX tile-data permission from the OS.
#include <immintrin.h>

#include "kernels/gemm_internal.hpp"

namespace jitson::gemm_detail {
namespace {

constexpr int kMr = 32;
constexpr int kNr = 32;

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// GCC's tile load/store intrinsics are asm statements without a memory clobber: the compiler
// does not know that _tile_stored writes the sums buffer, so it could move the epilogue's loads
// of that buffer across the stores. This barrier orders them.
inline void memory_barrier() {
  __asm__ volatile("" ::: "memory");
}

// All eight tiles 16 rows x 64 bytes.
const TileConfig &full_tiles() {
  static const TileConfig config = [] {
    TileConfig c;
    for (int t = 0; t < 8; ++t) {
      c.colsb[t] = 64;
      c.rows[t] = 16;
    }
    return c;
  }();
  return config;
}

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

__attribute__((target("amx-tile,amx-bf16"))) void macro_bf16(int mc, int nc, int kc,
                                                             const uint16_t *pa, const uint16_t *pb,
                                                             float *c, ptrdiff_t ldc, float alpha,
                                                             float beta) {
  const int kp = round_up(kc, 32);
  alignas(64) float sums[32 * 32];
  _tile_loadconfig(&full_tiles());
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

void pack_a_i8(const uint8_t *src, ptrdiff_t lda, int mc, int k, uint8_t *dst) {
  pack_a_grouped<kMr, 64, 64>(src, lda, 1, mc, k, dst);
}
void pack_b_i8(const int8_t *src, ptrdiff_t ldb, int k, int nc, int8_t *dst, int32_t *col_sums) {
  pack_b_grouped<kNr, 4, 64>(src, ldb, 1, k, nc, dst);
  i8_column_sums(src, ldb, k, nc, kNr, col_sums);
}

__attribute__((target("amx-tile,amx-int8"))) void macro_i8(int mc, int nc, int k, const uint8_t *pa,
                                                           const int8_t *pb, const I8Output &out) {
  const int kp = round_up(k, 64);
  alignas(64) int32_t sums[32 * 32];
  _tile_loadconfig(&full_tiles());
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
