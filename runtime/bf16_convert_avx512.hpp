// The AVX-512 helpers of the f32 <-> bf16 conversions, shared by bf16_convert_avx512.cpp and
// bf16_convert_avx512bf16.cpp. An unnamed namespace: the two files have different flag sets and
// must not share an out-of-line copy.
#pragma once

#include <immintrin.h>

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

}  // namespace
}  // namespace jitson::bf16_detail
