// AVX-512 BF16 kernels (SEMANTICS.md §2.4, §2.5), F/BW/VL/VPOPCNTDQ instructions only.
// Distance: the per-field popcount decomposition of bf16_scalar.cpp with vpopcntq (u64 lanes).
// Awareness: 32 dimensions per zmm of 16-bit lanes; field popcounts by nibble lookup (vpshufb),
// so BITALG is not needed.
#include <immintrin.h>

#include "kernels/avx512_util.hpp"
#include "kernels/bf16_fields.hpp"
#include "kernels/kernels_internal.hpp"

namespace jitson::impl {
namespace {

inline __mmask32 first_lanes(size_t n) {
  return __mmask32((uint64_t{1} << n) - 1);
}  // n ≤ 32

// Loads the first n ≤ 32 BF16 values at p, zero elsewhere; masked-out lanes are not accessed.
inline __m512i load_dims(const uint16_t *p, size_t n) {
  return _mm512_maskz_loadu_epi16(first_lanes(n), p);
}

// popcount of each 16-bit lane, for lanes whose value is < 256.
inline __m512i popcount_low_byte(__m512i v) {
  const __m512i lookup = _mm512_set4_epi32(0x04030302, 0x03020201, 0x03020201, 0x02010100);
  const __m512i low_nibbles = _mm512_set1_epi16(0x0F);
  const __m512i lo = _mm512_and_si512(v, low_nibbles);
  const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low_nibbles);
  // The high byte of each lane is 0, and lookup[0] = 0, so the sum stays in the low byte.
  return _mm512_add_epi16(_mm512_shuffle_epi8(lookup, lo), _mm512_shuffle_epi8(lookup, hi));
}

}  // namespace

uint64_t bf16_distance_avx512(const uint16_t *a, const uint16_t *b, size_t n_dims, BF16Weights w) {
  const __m512i sign_bits = _mm512_set1_epi16(short(kBf16SignBits));
  const __m512i exponent_bits = _mm512_set1_epi16(short(kBf16ExponentBits));
  const __m512i mantissa_bits = _mm512_set1_epi16(short(kBf16MantissaBits));
  __m512i signs = _mm512_setzero_si512(), exps = signs, mants = signs;
  auto step = [&](__m512i x) {
    signs = _mm512_add_epi64(signs, _mm512_popcnt_epi64(_mm512_and_si512(x, sign_bits)));
    exps = _mm512_add_epi64(exps, _mm512_popcnt_epi64(_mm512_and_si512(x, exponent_bits)));
    mants = _mm512_add_epi64(mants, _mm512_popcnt_epi64(_mm512_and_si512(x, mantissa_bits)));
  };
  size_t d = 0;
  for (; d + 32 <= n_dims; d += 32) {
    step(_mm512_xor_si512(_mm512_loadu_si512(a + d), _mm512_loadu_si512(b + d)));  // unaligned
  }
  if (d < n_dims)
    step(_mm512_xor_si512(load_dims(a + d, n_dims - d), load_dims(b + d, n_dims - d)));
  return uint64_t(avx512::reduce_add_u64(signs)) * w.sign +
         uint64_t(avx512::reduce_add_u64(exps)) * w.exponent +
         uint64_t(avx512::reduce_add_u64(mants)) * w.mantissa;
}

void bf16_awareness_avx512(const uint16_t *const *vectors, size_t n_vectors, size_t n_dims,
                           AwarenessThresholds t, uint8_t *states, uint8_t *consensus,
                           uint8_t *exp_spread, uint8_t *mantissa_noise) {
  if (n_vectors != 2 && n_vectors != 3) {
    // Outside the contract; the scalar twin asserts and stays memory-safe.
    bf16_awareness_scalar(vectors, n_vectors, n_dims, t, states, consensus, exp_spread,
                          mantissa_noise);
    return;
  }
  const __m512i per_agreement = _mm512_set1_epi16(n_vectors == 2 ? 255 : 85);
  const __m512i sign_consensus = _mm512_set1_epi16(t.sign_consensus);
  const __m512i exp_spread_limit = _mm512_set1_epi16(t.exp_spread);
  const __m512i mantissa_noise_limit = _mm512_set1_epi16(t.mantissa_noise);
  const __m512i full_consensus = _mm512_set1_epi16(255);
  const __m512i zero = _mm512_setzero_si512();
  const __m512i exponent_field = _mm512_set1_epi16(0xFF);
  const __m512i mantissa_field = _mm512_set1_epi16(kBf16MantissaBits);

  for (size_t d = 0; d < n_dims; d += 32) {
    const size_t lanes = n_dims - d < 32 ? n_dims - d : 32;
    const __mmask32 valid = first_lanes(lanes);
    __m512i v[3];
    for (size_t k = 0; k < n_vectors; ++k) v[k] = load_dims(vectors[k] + d, lanes);

    __m512i agreements = zero, max_exp = zero;
    __mmask32 noise = 0;
    for (size_t i = 0; i < n_vectors; ++i) {
      for (size_t j = i + 1; j < n_vectors; ++j) {
        const __m512i x = _mm512_xor_si512(v[i], v[j]);
        // 1 where the signs agree: NOT x, shifted down from bit 15.
        agreements = _mm512_add_epi16(
            agreements, _mm512_srli_epi16(_mm512_ternarylogic_epi32(x, x, x, 0x01), 15));
        const __m512i e =
            popcount_low_byte(_mm512_and_si512(_mm512_srli_epi16(x, 7), exponent_field));
        max_exp = _mm512_max_epu16(max_exp, e);
        const __m512i m = popcount_low_byte(_mm512_and_si512(x, mantissa_field));
        noise |= _mm512_cmpgt_epu16_mask(m, mantissa_noise_limit);
      }
    }
    const __m512i c = _mm512_mullo_epi16(agreements, per_agreement);
    const __mmask32 tensioned = _mm512_cmplt_epu16_mask(c, sign_consensus);
    const __mmask32 uncertain =
        __mmask32(~tensioned) & _mm512_cmpgt_epu16_mask(max_exp, exp_spread_limit);
    const __mmask32 noisy = __mmask32(~tensioned) & __mmask32(~uncertain) & noise &
                            _mm512_cmpeq_epu16_mask(max_exp, zero) &
                            _mm512_cmpeq_epu16_mask(c, full_consensus);
    __m512i s =
        _mm512_mask_mov_epi16(zero, tensioned, _mm512_set1_epi16(uint8_t(Awareness::tensioned)));
    s = _mm512_mask_mov_epi16(s, uncertain, _mm512_set1_epi16(uint8_t(Awareness::uncertain)));
    s = _mm512_mask_mov_epi16(s, noisy, _mm512_set1_epi16(uint8_t(Awareness::noise)));

    // vpmovwb with a lane mask: writes exactly `lanes` bytes.
    _mm512_mask_cvtepi16_storeu_epi8(states + d, valid, s);
    if (consensus) _mm512_mask_cvtepi16_storeu_epi8(consensus + d, valid, c);
    if (exp_spread) _mm512_mask_cvtepi16_storeu_epi8(exp_spread + d, valid, max_exp);
    if (mantissa_noise) {
      _mm512_mask_cvtepi16_storeu_epi8(mantissa_noise + d, valid,
                                       _mm512_maskz_mov_epi16(noise, _mm512_set1_epi16(1)));
    }
  }
}

}  // namespace jitson::impl
