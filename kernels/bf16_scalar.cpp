// Scalar twins of the BF16 kernels (SEMANTICS.md §2.4, §2.5).
//
// Distance: the weights are the same for every dimension, so
//   Σ_d (s_d·W_sign + e_d·W_exp + m_d·W_man) = W_sign·Σ s_d + W_exp·Σ e_d + W_man·Σ m_d,
// and each Σ is the popcount of the XOR restricted to that field in every 16-bit lane. This is
// the same exact integer (all sums are u64), computed on whole words.
#include <bit>
#include <cassert>
#include <cstring>

#include "kernels/bf16_fields.hpp"
#include "kernels/kernels_internal.hpp"

namespace jitson::impl {
namespace {

uint64_t load_u64(const uint16_t *p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);  // unaligned-safe; 4 little-endian BF16 values
  return v;
}

uint16_t load_u16(const uint16_t *p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);  // the table promises any alignment, even for u16 arrays
  return v;
}

}  // namespace

uint64_t bf16_distance_scalar(const uint16_t *a, const uint16_t *b, size_t n_dims, BF16Weights w) {
  uint64_t signs = 0, exps = 0, mants = 0;
  size_t d = 0;
  for (; d + 4 <= n_dims; d += 4) {
    const uint64_t x = load_u64(a + d) ^ load_u64(b + d);
    signs += uint64_t(std::popcount(x & kBf16SignBits64));
    exps += uint64_t(std::popcount(x & kBf16ExponentBits64));
    mants += uint64_t(std::popcount(x & kBf16MantissaBits64));
  }
  for (; d < n_dims; ++d) {
    const unsigned x = unsigned(load_u16(a + d) ^ load_u16(b + d));
    signs += uint64_t(std::popcount(x & kBf16SignBits));
    exps += uint64_t(std::popcount(x & kBf16ExponentBits));
    mants += uint64_t(std::popcount(x & kBf16MantissaBits));
  }
  return signs * w.sign + exps * w.exponent + mants * w.mantissa;
}

// Also the AVX2 awareness kernel (see bf16_avx2.cpp).
void bf16_awareness_scalar(const uint16_t *const *vectors, size_t n_vectors, size_t n_dims,
                           AwarenessThresholds t, uint8_t *states, uint8_t *consensus,
                           uint8_t *exp_spread, uint8_t *mantissa_noise) {
  assert(n_vectors == 2 || n_vectors == 3);
  const size_t pairs = n_vectors * (n_vectors - 1) / 2;
  for (size_t d = 0; d < n_dims; ++d) {
    unsigned agreements = 0, max_exp = 0;
    bool noise = false;
    for (size_t i = 0; i < n_vectors; ++i) {
      for (size_t j = i + 1; j < n_vectors; ++j) {
        const unsigned x = unsigned(load_u16(vectors[i] + d) ^ load_u16(vectors[j] + d));
        agreements += (x & kBf16SignBits) == 0;
        const unsigned e = unsigned(std::popcount(x & kBf16ExponentBits));
        max_exp = e > max_exp ? e : max_exp;
        noise = noise || unsigned(std::popcount(x & kBf16MantissaBits)) > t.mantissa_noise;
      }
    }
    // 2 vectors: {0, 255}; 3 vectors: {0, 85, 170, 255}; i.e. 255 · agreements / pairs.
    const unsigned c = pairs == 0 ? 255 : 255 * agreements / unsigned(pairs);
    Awareness s = Awareness::crystallized;
    if (c < t.sign_consensus) {
      s = Awareness::tensioned;
    } else if (max_exp > t.exp_spread) {
      s = Awareness::uncertain;
    } else if (noise && max_exp == 0 && c == 255) {
      s = Awareness::noise;
    }
    states[d] = uint8_t(s);
    if (consensus) consensus[d] = uint8_t(c);
    if (exp_spread) exp_spread[d] = uint8_t(max_exp);
    if (mantissa_noise) mantissa_noise[d] = noise;
  }
}

}  // namespace jitson::impl
