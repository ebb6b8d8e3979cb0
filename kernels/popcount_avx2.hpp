// Byte-wise popcount for AVX2 (Mula's nibble lookup with vpshufb). Include only from files
// compiled with AVX2 flags (*_avx2.cpp).
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace jitson::impl::avx2 {

// popcount of every byte of v (0..8 per byte).
inline __m256i popcount_bytes(__m256i v) {
  const __m256i lookup = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,  //
                                          0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
  const __m256i lo = _mm256_and_si256(v, low_nibbles);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low_nibbles);
  return _mm256_add_epi8(_mm256_shuffle_epi8(lookup, lo), _mm256_shuffle_epi8(lookup, hi));
}

// Sums the bytes of v into four u64 lanes.
inline __m256i sum_bytes(__m256i v) {
  return _mm256_sad_epu8(v, _mm256_setzero_si256());
}

inline uint64_t reduce_u64(__m256i v) {
  const __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  return uint64_t(_mm_cvtsi128_si64(s)) + uint64_t(_mm_extract_epi64(s, 1));
}

inline __m256i load(const void *p) {
  return _mm256_loadu_si256(static_cast<const __m256i *>(p));  // unaligned load
}

inline uint64_t load_u64(const uint8_t *p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);  // unaligned-safe
  return v;
}

}  // namespace jitson::impl::avx2
