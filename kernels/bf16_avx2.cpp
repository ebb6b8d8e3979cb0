// AVX2 BF16 kernels (SEMANTICS.md §2.4, §2.5); the decomposition is explained in bf16_scalar.cpp.
// Each field is counted with the nibble-lookup popcount and vpsadbw into u64 lanes, so nothing
// narrower than u64 ever holds a sum over dimensions.
#include <immintrin.h>

#include <cstring>

#include "kernels/bf16_fields.hpp"
#include "kernels/kernels_internal.hpp"
#include "kernels/popcount_avx2.hpp"

namespace jitson::impl {

uint64_t bf16_distance_avx2(const uint16_t *a, const uint16_t *b, size_t n_dims, BF16Weights w) {
  const __m256i sign_bits = _mm256_set1_epi16(short(kBf16SignBits));
  const __m256i exponent_bits = _mm256_set1_epi16(short(kBf16ExponentBits));
  const __m256i mantissa_bits = _mm256_set1_epi16(short(kBf16MantissaBits));
  __m256i signs = _mm256_setzero_si256(), exps = signs, mants = signs;
  size_t d = 0;
  for (; d + 16 <= n_dims; d += 16) {
    const __m256i x = _mm256_xor_si256(avx2::load(a + d), avx2::load(b + d));
    signs = _mm256_add_epi64(signs,
                             avx2::sum_bytes(avx2::popcount_bytes(_mm256_and_si256(x, sign_bits))));
    exps = _mm256_add_epi64(
        exps, avx2::sum_bytes(avx2::popcount_bytes(_mm256_and_si256(x, exponent_bits))));
    mants = _mm256_add_epi64(
        mants, avx2::sum_bytes(avx2::popcount_bytes(_mm256_and_si256(x, mantissa_bits))));
  }
  uint64_t s = avx2::reduce_u64(signs), e = avx2::reduce_u64(exps), m = avx2::reduce_u64(mants);
  for (; d < n_dims; ++d) {
    uint16_t va, vb;
    std::memcpy(&va, a + d, sizeof va);  // unaligned-safe element reads
    std::memcpy(&vb, b + d, sizeof vb);
    const unsigned x = unsigned(va ^ vb);
    s += uint64_t(_mm_popcnt_u32(x & kBf16SignBits));
    e += uint64_t(_mm_popcnt_u32(x & kBf16ExponentBits));
    m += uint64_t(_mm_popcnt_u32(x & kBf16MantissaBits));
  }
  return s * w.sign + e * w.exponent + m * w.mantissa;
}

// AVX2 has no per-lane 16-bit popcount or compare-into-mask, and awareness is not on a hot
// path, so the AVX2 tier shares the scalar implementation.
void bf16_awareness_avx2(const uint16_t *const *vectors, size_t n_vectors, size_t n_dims,
                         AwarenessThresholds t, uint8_t *states, uint8_t *consensus,
                         uint8_t *exp_spread, uint8_t *mantissa_noise) {
  bf16_awareness_scalar(vectors, n_vectors, n_dims, t, states, consensus, exp_spread,
                        mantissa_noise);
}

}  // namespace jitson::impl
