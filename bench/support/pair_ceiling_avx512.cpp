// AVX-512 pair ceiling (pair_ceiling.hpp).
#include <immintrin.h>

#include "kernels/avx512_util.hpp"
#include "support/pair_ceiling.hpp"

namespace jitson::bench {
namespace {

namespace avx512 = impl::avx512;

constexpr int kLines = 32;  // 2,048-byte records

// Four queries against four records; the loops are unrolled (the accumulators then live in
// registers, see kernels/hamming_tile_avx512.cpp).
uint64_t tile(const uint8_t *queries, const uint8_t *records) {
  __m512i acc[4][4];
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) acc[q][r] = _mm512_setzero_si512();
  }
  for (int l = 0; l < kLines; ++l) {
    __m512i rv[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) rv[r] = _mm512_loadu_si512(records + r * 64 * kLines + l * 64);
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {
      const __m512i qv = _mm512_loadu_si512(queries + q * 64 * kLines + l * 64);
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r) {
        acc[q][r] = _mm512_add_epi64(acc[q][r], _mm512_popcnt_epi64(_mm512_xor_si512(qv, rv[r])));
      }
    }
  }
  __m512i sum = _mm512_setzero_si512();
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) sum = _mm512_add_epi64(sum, acc[q][r]);
  }
  return avx512::reduce_add_u64(sum);
}

}  // namespace

double pair_ceiling_avx512(uint64_t pairs) {
  return time_tiles<4, 4>(tile, 64 * kLines, pairs);
}

}  // namespace jitson::bench
