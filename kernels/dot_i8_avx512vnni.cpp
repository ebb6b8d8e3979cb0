// AVX-512 dot_i8 with vpdpbusd (the avx512vnni flag set): dispatch (runtime/dispatch.cpp) uses it
// only when the CPU reports AVX512-VNNI. i32 lane sums stay below 2^31 by flushing them into i64
// lanes, so any length is exact (SEMANTICS.md §2.3).
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

// vpdpbusd adds 4 products of u8 (≤ 255) and i8 (≥ −128): magnitude ≤ 130560 per lane per
// step; 8192 steps stay below 2^31 (1.07e9).
constexpr size_t kVnniStepsPerFlush = 8192;

}  // namespace

// Bias trick: u = a XOR 0x80 = a + 128 as unsigned, so Σ a·b = Σ u·b − 128·Σ b.
// Σ (b + 128) comes from vpsadbw on b XOR 0x80 in u64 lanes; Σ b = that − 128·(bytes covered).
// Zero padding in the tail is harmless: a padded byte has u = 128, b = 0 (product 0) and adds
// 128 to Σ (b + 128), which the byte count includes.
int64_t dot_i8_avx512vnni(const uint8_t *a, const uint8_t *b, size_t n) {
  const __m512i bias = _mm512_set1_epi8(char(0x80));
  __m512i total = _mm512_setzero_si512();     // i64 lanes: Σ u·b, flushed
  __m512i b_biased = _mm512_setzero_si512();  // u64 lanes: Σ (b + 128)
  size_t i = 0;
  uint64_t covered = 0;
  while (i + 128 <= n) {
    __m512i lanes0 = _mm512_setzero_si512(), lanes1 = lanes0;
    const size_t steps = (n - i) / 128 < kVnniStepsPerFlush ? (n - i) / 128 : kVnniStepsPerFlush;
    for (size_t s = 0; s < steps; ++s, i += 128) {
      const __m512i b0 = load(b + i), b1 = load(b + i + 64);
      lanes0 = _mm512_dpbusd_epi32(lanes0, _mm512_xor_si512(load(a + i), bias), b0);
      lanes1 = _mm512_dpbusd_epi32(lanes1, _mm512_xor_si512(load(a + i + 64), bias), b1);
      b_biased = _mm512_add_epi64(
          b_biased, _mm512_sad_epu8(_mm512_xor_si512(b0, bias), _mm512_setzero_si512()));
      b_biased = _mm512_add_epi64(
          b_biased, _mm512_sad_epu8(_mm512_xor_si512(b1, bias), _mm512_setzero_si512()));
    }
    total = avx512::add_i32_lanes_to_i64(avx512::add_i32_lanes_to_i64(total, lanes0), lanes1);
    covered += steps * 128;
  }
  while (i < n) {
    const size_t r = n - i < 64 ? n - i : 64;
    const __mmask64 m = r == 64 ? ~__mmask64{0} : first_bytes(r);
    const __m512i bv = _mm512_maskz_loadu_epi8(m, b + i);
    const __m512i lanes = _mm512_dpbusd_epi32(
        _mm512_setzero_si512(), _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, a + i), bias), bv);
    total = avx512::add_i32_lanes_to_i64(total, lanes);
    b_biased = _mm512_add_epi64(
        b_biased, _mm512_sad_epu8(_mm512_xor_si512(bv, bias), _mm512_setzero_si512()));
    covered += 64;
    i += r;
  }
  const int64_t sum_b = int64_t(uint64_t(avx512::reduce_add_u64(b_biased)) - 128 * covered);
  return avx512::reduce_add_i64(total) - 128 * sum_b;
}

}  // namespace jitson::impl
