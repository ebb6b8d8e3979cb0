// AVX2 dot_i8. vpmaddubsw would saturate its i16 pair sums, so bytes are sign-extended to i16
// and multiplied with vpmaddwd: every i32 lane gets exact pair sums of magnitude ≤ 2·128² per
// instruction.
#include <immintrin.h>

#include "kernels/kernels_internal.hpp"

namespace jitson::impl {
namespace {

// One 32-byte step adds at most 2 · 32768 to a lane; 16384 steps stay below 2^31.
constexpr size_t kStepsPerFlush = 16384;

inline __m256i widen(const uint8_t *p) {
  // Unaligned 16-byte load, sign-extended to 16 i16.
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
}

inline __m256i add_i32_lanes_to_i64(__m256i acc64, __m256i lanes32) {
  acc64 = _mm256_add_epi64(acc64, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(lanes32)));
  return _mm256_add_epi64(acc64, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(lanes32, 1)));
}

}  // namespace

int64_t dot_i8_avx2(const uint8_t *a, const uint8_t *b, size_t n) {
  __m256i total = _mm256_setzero_si256();
  size_t i = 0;
  while (i + 32 <= n) {
    __m256i lanes = _mm256_setzero_si256();
    const size_t steps = (n - i) / 32 < kStepsPerFlush ? (n - i) / 32 : kStepsPerFlush;
    for (size_t s = 0; s < steps; ++s, i += 32) {
      lanes = _mm256_add_epi32(lanes, _mm256_madd_epi16(widen(a + i), widen(b + i)));
      lanes = _mm256_add_epi32(lanes, _mm256_madd_epi16(widen(a + i + 16), widen(b + i + 16)));
    }
    total = add_i32_lanes_to_i64(total, lanes);
  }
  const __m128i half =
      _mm_add_epi64(_mm256_castsi256_si128(total), _mm256_extracti128_si256(total, 1));
  int64_t sum = _mm_cvtsi128_si64(half) + _mm_extract_epi64(half, 1);
  for (; i < n; ++i) sum += int64_t(int8_t(a[i])) * int64_t(int8_t(b[i]));
  return sum;
}

}  // namespace jitson::impl
