// What the AMX GEMM kernels (gemm_bf16_amxbf16.cpp, gemm_i8_amxint8.cpp) share: the tile
// configuration and the memory barrier around tile loads and stores. Include only from files
// compiled with an AMX flag set. An unnamed namespace, like gemm_internal.hpp: the two files have
// different flag sets and must not share an out-of-line copy.
//
// Both kernels hold a 32 x 32 block of C in four accumulator tiles (tmm0..3), two 16-row tiles of
// A (tmm4, tmm5) and two 16-column tiles of B (tmm6, tmm7) per k chunk. Tile rows are 64 bytes;
// A panels hold, per k chunk, 32 rows of 64 bytes (stride 64); B panels hold k pairs/quads of 32
// columns (128 bytes per pair/quad row), so a B tile is 16 such rows read with stride 128, the
// second tile starting 64 bytes in. The caller (runtime/gemm.cpp) has obtained the AMX tile-data
// permission from the OS.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace jitson::gemm_detail::amx {
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
inline const TileConfig &full_tiles() {
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

}  // namespace
}  // namespace jitson::gemm_detail::amx
