// AVX2 hamming_tile: 2 queries × 2 records per pass over the lines, nibble-lookup popcount into
// byte counters that are widened (vpsadbw) every 15 lines, before a byte can reach 256. The
// lookup, not the loads, bounds AVX2 (about 25 M pairs/s per core on Zen 4 for 2 KiB records,
// tiled or not, and the same with Harley-Seal carry-save adders): the tile saves loads only.
#include <immintrin.h>

#include "kernels/hamming_tile_inline.hpp"
#include "kernels/kernels_internal.hpp"
#include "kernels/popcount_avx2.hpp"

namespace jitson::impl {
namespace {

// Every loop over the tile's queries and records is unrolled before GCC's scalar replacement
// runs (`#pragma GCC unroll`): otherwise the accumulator arrays stay in memory and each line
// stores all of them to the stack, which cost a fifth of the speed.

// The selected words of the 64-byte line at p as two ymm halves; unselected words read as zero
// and are never accessed.
inline void load_line(uint8_t words, const uint8_t *p, __m256i &lo, __m256i &hi) {
  const __m256i lanes = _mm256_setr_epi64x(1, 2, 4, 8);
  const __m256i sel_lo =
      _mm256_cmpeq_epi64(_mm256_and_si256(_mm256_set1_epi64x(words), lanes), lanes);
  const __m256i sel_hi =
      _mm256_cmpeq_epi64(_mm256_and_si256(_mm256_set1_epi64x(words >> 4), lanes), lanes);
  // vpmaskmovq: masked-out words are not accessed (no fault past a buffer's end).
  lo = _mm256_maskload_epi64(reinterpret_cast<const long long *>(p), sel_lo);
  hi = _mm256_maskload_epi64(reinterpret_cast<const long long *>(p + 32), sel_hi);
}

constexpr size_t kLinesPerFlush = 15;  // 15 lines × 2 halves × 8 bits = 240 < 256 per byte

}  // namespace

namespace tile {
namespace {

template <int Q, int R>
void Tile<Q, R>::run(const uint8_t *const *queries, const uint8_t *records,
                     [[maybe_unused]] const uint8_t *next, size_t stride, const TileLine *lines,
                     size_t n_lines, uint32_t *out, size_t out_stride) {
  __m256i total[Q][R];
#pragma GCC unroll 4
  for (int q = 0; q < Q; ++q) {
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) total[q][r] = _mm256_setzero_si256();
  }
  for (size_t l0 = 0; l0 < n_lines; l0 += kLinesPerFlush) {
    const size_t l_end = l0 + kLinesPerFlush < n_lines ? l0 + kLinesPerFlush : n_lines;
    __m256i bytes[Q][R];
#pragma GCC unroll 4
    for (int q = 0; q < Q; ++q) {
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) bytes[q][r] = _mm256_setzero_si256();
    }
    for (size_t l = l0; l < l_end; ++l) {
      const TileLine &line = lines[l];
      __m256i q_lo[Q], q_hi[Q], r_lo[R], r_hi[R];
      if (line.words == 0xFF) {
#pragma GCC unroll 4
        for (int q = 0; q < Q; ++q) {
          q_lo[q] = avx2::load(queries[q] + line.offset);
          q_hi[q] = avx2::load(queries[q] + line.offset + 32);
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
          r_lo[r] = avx2::load(records + r * stride + line.offset);
          r_hi[r] = avx2::load(records + r * stride + line.offset + 32);
        }
      } else {
#pragma GCC unroll 4
        for (int q = 0; q < Q; ++q)
          load_line(line.words, queries[q] + line.offset, q_lo[q], q_hi[q]);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
          load_line(line.words, records + r * stride + line.offset, r_lo[r], r_hi[r]);
        }
      }
      if (line.masked) {
        const __m256i m_lo = avx2::load(line.mask), m_hi = avx2::load(line.mask + 4);
#pragma GCC unroll 4
        for (int q = 0; q < Q; ++q) {
          q_lo[q] = _mm256_and_si256(q_lo[q], m_lo);
          q_hi[q] = _mm256_and_si256(q_hi[q], m_hi);
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
          r_lo[r] = _mm256_and_si256(r_lo[r], m_lo);
          r_hi[r] = _mm256_and_si256(r_hi[r], m_hi);
        }
      }
#pragma GCC unroll 4
      for (int q = 0; q < Q; ++q) {
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
          const __m256i c =
              _mm256_add_epi8(avx2::popcount_bytes(_mm256_xor_si256(q_lo[q], r_lo[r])),
                              avx2::popcount_bytes(_mm256_xor_si256(q_hi[q], r_hi[r])));
          bytes[q][r] = _mm256_add_epi8(bytes[q][r], c);
        }
      }
    }
#pragma GCC unroll 4
    for (int q = 0; q < Q; ++q) {
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r)
        total[q][r] = _mm256_add_epi64(total[q][r], avx2::sum_bytes(bytes[q][r]));
    }
  }
#pragma GCC unroll 4
  for (int q = 0; q < Q; ++q) {
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) out[q * out_stride + r] = uint32_t(avx2::reduce_u64(total[q][r]));
  }
}

}  // namespace
}  // namespace tile

void hamming_tile_avx2(const uint8_t *const *queries, size_t n_queries, const uint8_t *records,
                       size_t stride, size_t count, const TileLine *lines, size_t n_lines,
                       uint32_t *out) {
  tile::hamming_tile<2, 2>(queries, n_queries, records, stride, count, lines, n_lines, out);
}

}  // namespace jitson::impl
