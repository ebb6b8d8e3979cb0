// Small AVX-512 helpers (F/BW only). Include only from files compiled with AVX-512 flags.
// They live in an unnamed namespace: files of different flag sets (avx512, avx512vnni...) include
// this header, and a shared out-of-line copy could be the one compiled with the extra features.
//
// GCC 12 reports -Wuninitialized inside _mm512_castsi512_si256, _mm512_extracti64x4_epi64,
// _mm512_cvtepi32_epi64 and _mm512_reduce_add_epi64 (their _mm*_undefined_* operand); the
// zero-masked forms below are the same operations without that operand.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace jitson::impl::avx512 {
namespace {

inline __m256i lower_half(__m512i v) {
  return _mm512_maskz_extracti64x4_epi64(0xFF, v, 0);
}
inline __m256i upper_half(__m512i v) {
  return _mm512_maskz_extracti64x4_epi64(0xFF, v, 1);
}

// Sign-extends 8 i32 to 8 i64.
inline __m512i widen_i32(__m256i v) {
  return _mm512_maskz_cvtepi32_epi64(0xFF, v);
}

// Adds the 16 i32 lanes of lanes32 into the 8 i64 lanes of acc64 (sign-extended, pairwise).
inline __m512i add_i32_lanes_to_i64(__m512i acc64, __m512i lanes32) {
  acc64 = _mm512_add_epi64(acc64, widen_i32(lower_half(lanes32)));
  return _mm512_add_epi64(acc64, widen_i32(upper_half(lanes32)));
}

inline uint64_t reduce_add_u64(__m512i v) {
  const __m256i quarter = _mm256_add_epi64(lower_half(v), upper_half(v));
  const __m128i half =
      _mm_add_epi64(_mm256_castsi256_si128(quarter), _mm256_extracti128_si256(quarter, 1));
  return uint64_t(_mm_cvtsi128_si64(half)) + uint64_t(_mm_extract_epi64(half, 1));
}

inline int64_t reduce_add_i64(__m512i v) {
  return int64_t(reduce_add_u64(v));
}

}  // namespace
}  // namespace jitson::impl::avx512
