// f32 -> bf16 with vcvtne2ps2bf16, compiled with the avx512bf16 flag set: runtime/bf16_convert.cpp
// calls it only when the CPU reports AVX512-BF16.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "runtime/bf16_convert_avx512.hpp"

namespace jitson::bf16_detail {

void f32_to_bf16_avx512(const float *in, uint16_t *out, size_t n);  // the avx512 tier's version

namespace {

// Lanes whose f32 is subnormal (exponent 0, mantissa not 0): vcvtneps2bf16 reads them as zero.
inline __mmask16 subnormal_lanes(__m512i bits) {
  const __mmask16 has_exponent = _mm512_test_epi32_mask(bits, _mm512_set1_epi32(0x7F800000));
  const __mmask16 has_mantissa = _mm512_test_epi32_mask(bits, _mm512_set1_epi32(0x007FFFFF));
  return __mmask16(~has_exponent & has_mantissa);
}

}  // namespace

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

}  // namespace jitson::bf16_detail
