// f32 <-> bf16 conversions on AVX-512 integer instructions, the avx512 tier
// (include/jitson/bf16.hpp for the rules). Tails use masked loads and stores, so nothing outside
// [0, n) is touched.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "runtime/bf16_convert_avx512.hpp"

namespace jitson::bf16_detail {

void f32_to_bf16_avx512(const float *in, uint16_t *out, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i bits = _mm512_loadu_si512(in + i);
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(out + i),  // unaligned store intrinsic
                        round_lanes(bits));
  }
  if (i < n) {
    const __mmask16 mask = __mmask16((1u << (n - i)) - 1);
    const __m512i bits = _mm512_maskz_loadu_epi32(mask, in + i);
    _mm256_mask_storeu_epi16(out + i, mask, round_lanes(bits));
  }
}

void f32_to_bf16_truncate_avx512(const float *in, uint16_t *out, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i bits = _mm512_loadu_si512(in + i);
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(out + i),  // unaligned store intrinsic
                        narrow_words(shift_right16(bits)));
  }
  if (i < n) {
    const __mmask16 mask = __mmask16((1u << (n - i)) - 1);
    const __m512i bits = _mm512_maskz_loadu_epi32(mask, in + i);
    _mm256_mask_storeu_epi16(out + i, mask, narrow_words(shift_right16(bits)));
  }
}

void bf16_to_f32_avx512(const uint16_t *in, float *out, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i half =
        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(in + i));  // unaligned load
    _mm512_storeu_si512(out + i, widen_words(half));
  }
  if (i < n) {
    const __mmask16 mask = __mmask16((1u << (n - i)) - 1);
    const __m256i half = _mm256_maskz_loadu_epi16(mask, in + i);
    _mm512_mask_storeu_epi32(out + i, mask, widen_words(half));
  }
}

}  // namespace jitson::bf16_detail
