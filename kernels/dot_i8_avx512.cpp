// AVX-512 dot_i8 for the avx512 tier: sign-extend to i16, vpmaddwd (the VNNI version is
// dot_i8_avx512vnni.cpp). i32 lane sums stay below 2^31 by flushing them into i64 lanes, so any
// length is exact (SEMANTICS.md §2.3).
#include <immintrin.h>

#include "kernels/avx512_util.hpp"
#include "kernels/kernels_internal.hpp"

namespace jitson::impl {
namespace {

inline __m512i load(const uint8_t *p) {
  return _mm512_loadu_si512(p);  // unaligned load
}

inline __mmask64 first_bytes(size_t n) {
  return (uint64_t{1} << n) - 1;
}  // n < 64

// Σ int8(x)·int8(y) over 64 bytes as 16 exact i32 lane sums, each of magnitude ≤ 4·128².
inline __m512i madd_i8(__m512i x, __m512i y) {
  const __m512i lo = _mm512_madd_epi16(_mm512_cvtepi8_epi16(avx512::lower_half(x)),
                                       _mm512_cvtepi8_epi16(avx512::lower_half(y)));
  const __m512i hi = _mm512_madd_epi16(_mm512_cvtepi8_epi16(avx512::upper_half(x)),
                                       _mm512_cvtepi8_epi16(avx512::upper_half(y)));
  return _mm512_add_epi32(lo, hi);
}

// madd_i8 adds at most 4·128² = 65536 per lane; 16384 steps stay below 2^31.
constexpr size_t kMaddStepsPerFlush = 16384;

}  // namespace

int64_t dot_i8_avx512(const uint8_t *a, const uint8_t *b, size_t n) {
  __m512i total = _mm512_setzero_si512();
  size_t i = 0;
  while (i + 64 <= n) {
    __m512i lanes = _mm512_setzero_si512();
    const size_t steps = (n - i) / 64 < kMaddStepsPerFlush ? (n - i) / 64 : kMaddStepsPerFlush;
    for (size_t s = 0; s < steps; ++s, i += 64) {
      lanes = _mm512_add_epi32(lanes, madd_i8(load(a + i), load(b + i)));
    }
    total = avx512::add_i32_lanes_to_i64(total, lanes);
  }
  if (i < n) {
    const __mmask64 m = first_bytes(n - i);
    total = avx512::add_i32_lanes_to_i64(
        total, madd_i8(_mm512_maskz_loadu_epi8(m, a + i), _mm512_maskz_loadu_epi8(m, b + i)));
  }
  return avx512::reduce_add_i64(total);
}

}  // namespace jitson::impl
