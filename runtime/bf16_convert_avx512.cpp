// f32 <-> bf16 conversions on AVX-512 (include/jitson/bf16.hpp for the rules). Tails use masked
// loads and stores, so nothing outside [0, n) is touched.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace jitson::bf16_detail {
namespace {

// Zero-masked forms of _mm512_srli/slli_epi32 and _mm512_cvtepi32_epi16/cvtepu16_epi32 with every
// lane enabled: the same operations without the _mm*_undefined_* operand on which GCC 12 reports
// a false maybe-uninitialized warning (GCC bug 105593).
inline __m512i shift_right16(__m512i v) {
  return _mm512_maskz_srli_epi32(__mmask16(0xFFFF), v, 16);
}
inline __m512i shift_left16(__m512i v) {
  return _mm512_maskz_slli_epi32(__mmask16(0xFFFF), v, 16);
}
inline __m512i widen_words(__m256i v) {
  return shift_left16(_mm512_maskz_cvtepu16_epi32(__mmask16(0xFFFF), v));
}
inline __m256i narrow_words(__m512i v) {
  return _mm512_maskz_cvtepi32_epi16(__mmask16(0xFFFF), v);
}

// Round to nearest even on the bit pattern, NaN -> quiet NaN with sign and upper payload kept.
inline __m256i round_lanes(__m512i bits) {
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(
      _mm512_and_si512(bits, _mm512_set1_epi32(0x7FFFFFFF)), _mm512_set1_epi32(0x7F800000));
  const __m512i lsb = _mm512_and_si512(shift_right16(bits), _mm512_set1_epi32(1));
  const __m512i rounded =
      shift_right16(_mm512_add_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(0x7FFF)), lsb));
  const __m512i quiet = _mm512_or_si512(shift_right16(bits), _mm512_set1_epi32(0x0040));
  return narrow_words(_mm512_mask_blend_epi32(nan, rounded, quiet));
}

// Lanes whose f32 is subnormal (exponent 0, mantissa not 0): vcvtneps2bf16 reads them as zero.
inline __mmask16 subnormal_lanes(__m512i bits) {
  const __mmask16 has_exponent = _mm512_test_epi32_mask(bits, _mm512_set1_epi32(0x7F800000));
  const __mmask16 has_mantissa = _mm512_test_epi32_mask(bits, _mm512_set1_epi32(0x007FFFFF));
  return __mmask16(~has_exponent & has_mantissa);
}

}  // namespace

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

// The same with vcvtne2ps2bf16 (two zmm of f32 -> one zmm of bf16). Its NaN rule is ours (quiet
// bit forced, sign and upper payload kept) and it rounds to nearest even, but it treats subnormal
// inputs as zero: any block holding one is redone with the integer form.
void f32_to_bf16_avx512bf16(const float *in, uint16_t *out, size_t n) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512i lo = _mm512_loadu_si512(in + i);
    const __m512i hi = _mm512_loadu_si512(in + i + 16);
    if ((subnormal_lanes(lo) | subnormal_lanes(hi)) != 0) {
      _mm256_storeu_si256(reinterpret_cast<__m256i *>(out + i),  // unaligned store intrinsic
                          round_lanes(lo));
      _mm256_storeu_si256(reinterpret_cast<__m256i *>(out + i + 16),  // unaligned store intrinsic
                          round_lanes(hi));
      continue;
    }
    // The first operand fills the upper 16 words, the second the lower 16.
    const __m512bh packed = _mm512_cvtne2ps_pbh(_mm512_castsi512_ps(hi), _mm512_castsi512_ps(lo));
    _mm512_storeu_si512(out + i, (__m512i)packed);
  }
  f32_to_bf16_avx512(in + i, out + i, n - i);
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
