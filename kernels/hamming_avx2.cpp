// AVX2 Hamming family: Mula's vpshufb nibble popcount, byte counts summed with vpsadbw.
// Blocks of 4 × 32 bytes keep every byte counter ≤ 32 before one vpsadbw; the tail is scalar
// (POPCNT is part of the avx2 tier).
#include <immintrin.h>

#include "kernels/kernels_internal.hpp"
#include "kernels/popcount_avx2.hpp"

namespace jitson::impl {
namespace {

using avx2::load;
using avx2::load_u64;
using avx2::popcount_bytes;
using avx2::reduce_u64;
using avx2::sum_bytes;

// Σ popcount(combine(a, b)) where combine works on 32-byte vectors and on u64 words alike.
template <class Combine>
inline uint64_t popcount_combined(const uint8_t *a, const uint8_t *b, size_t n, Combine combine) {
  __m256i total = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    __m256i bytes = popcount_bytes(combine(load(a + i), load(b + i), i));
    bytes =
        _mm256_add_epi8(bytes, popcount_bytes(combine(load(a + i + 32), load(b + i + 32), i + 32)));
    bytes =
        _mm256_add_epi8(bytes, popcount_bytes(combine(load(a + i + 64), load(b + i + 64), i + 64)));
    bytes =
        _mm256_add_epi8(bytes, popcount_bytes(combine(load(a + i + 96), load(b + i + 96), i + 96)));
    total = _mm256_add_epi64(total, sum_bytes(bytes));
  }
  for (; i + 32 <= n; i += 32) {
    total =
        _mm256_add_epi64(total, sum_bytes(popcount_bytes(combine(load(a + i), load(b + i), i))));
  }
  return reduce_u64(total);
}

// Carry-save adder: (high, low) = bitwise a + b + c.
inline void carry_save_add(__m256i &high, __m256i &low, __m256i a, __m256i b, __m256i c) {
  const __m256i u = _mm256_xor_si256(a, b);
  high = _mm256_or_si256(_mm256_and_si256(a, b), _mm256_and_si256(u, c));
  low = _mm256_xor_si256(u, c);
}

inline __m256i popcount_u64(__m256i v) {
  return sum_bytes(popcount_bytes(v));
}

// Harley-Seal (Muła, Kurz, Lemire): 16 × 32 bytes per trip go through a tree of carry-save
// adders, so only one vector per trip needs the nibble-lookup popcount; the partial counters
// (ones, twos, fours, eights) are counted once at the end. 25% faster than the plain lookup in
// L2 here, which the avx2 tier needs to stay at the DRAM bandwidth.
inline uint64_t hamming_inline(const uint8_t *a, const uint8_t *b, size_t n) {
  auto x = [a, b](size_t at) { return _mm256_xor_si256(load(a + at), load(b + at)); };
  __m256i total = _mm256_setzero_si256(), ones = total, twos = total, fours = total, eights = total;
  __m256i twos_a, twos_b, fours_a, fours_b, eights_a, eights_b, sixteens;
  size_t i = 0;
  for (; i + 512 <= n; i += 512) {
    carry_save_add(twos_a, ones, ones, x(i), x(i + 32));
    carry_save_add(twos_b, ones, ones, x(i + 64), x(i + 96));
    carry_save_add(fours_a, twos, twos, twos_a, twos_b);
    carry_save_add(twos_a, ones, ones, x(i + 128), x(i + 160));
    carry_save_add(twos_b, ones, ones, x(i + 192), x(i + 224));
    carry_save_add(fours_b, twos, twos, twos_a, twos_b);
    carry_save_add(eights_a, fours, fours, fours_a, fours_b);
    carry_save_add(twos_a, ones, ones, x(i + 256), x(i + 288));
    carry_save_add(twos_b, ones, ones, x(i + 320), x(i + 352));
    carry_save_add(fours_a, twos, twos, twos_a, twos_b);
    carry_save_add(twos_a, ones, ones, x(i + 384), x(i + 416));
    carry_save_add(twos_b, ones, ones, x(i + 448), x(i + 480));
    carry_save_add(fours_b, twos, twos, twos_a, twos_b);
    carry_save_add(eights_b, fours, fours, fours_a, fours_b);
    carry_save_add(sixteens, eights, eights, eights_a, eights_b);
    total = _mm256_add_epi64(total, popcount_u64(sixteens));
  }
  total = _mm256_slli_epi64(total, 4);
  total = _mm256_add_epi64(total, _mm256_slli_epi64(popcount_u64(eights), 3));
  total = _mm256_add_epi64(total, _mm256_slli_epi64(popcount_u64(fours), 2));
  total = _mm256_add_epi64(total, _mm256_slli_epi64(popcount_u64(twos), 1));
  total = _mm256_add_epi64(total, popcount_u64(ones));
  for (; i + 32 <= n; i += 32) total = _mm256_add_epi64(total, popcount_u64(x(i)));
  uint64_t d = reduce_u64(total);
  for (; i + 8 <= n; i += 8) d += uint64_t(_mm_popcnt_u64(load_u64(a + i) ^ load_u64(b + i)));
  for (; i < n; ++i) d += uint64_t(_mm_popcnt_u32(unsigned(a[i] ^ b[i])));
  return d;
}

}  // namespace

uint64_t hamming_avx2(const uint8_t *a, const uint8_t *b, size_t n) {
  return hamming_inline(a, b, n);
}

uint64_t hamming_masked_avx2(const uint8_t *a, const uint8_t *b, const uint8_t *mask, size_t n) {
  uint64_t d = popcount_combined(a, b, n, [mask](__m256i x, __m256i y, size_t at) {
    return _mm256_and_si256(_mm256_xor_si256(x, y), load(mask + at));
  });
  size_t i = n & ~size_t{31};
  for (; i + 8 <= n; i += 8) {
    d += uint64_t(_mm_popcnt_u64((load_u64(a + i) ^ load_u64(b + i)) & load_u64(mask + i)));
  }
  for (; i < n; ++i) d += uint64_t(_mm_popcnt_u32(unsigned((a[i] ^ b[i]) & mask[i])));
  return d;
}

EnergyConflict energy_conflict_avx2(const uint8_t *a, const uint8_t *b, size_t n) {
  __m256i conflict = _mm256_setzero_si256(), energy_a = conflict, energy_b = conflict,
          agreement = conflict;
  size_t i = 0;
  // Two 32-byte steps per block: byte counters stay ≤ 16.
  for (; i + 64 <= n; i += 64) {
    const __m256i x0 = load(a + i), y0 = load(b + i), x1 = load(a + i + 32), y1 = load(b + i + 32);
    auto add_pair = [](__m256i acc, __m256i p, __m256i q) {
      return _mm256_add_epi64(acc,
                              sum_bytes(_mm256_add_epi8(popcount_bytes(p), popcount_bytes(q))));
    };
    conflict = add_pair(conflict, _mm256_xor_si256(x0, y0), _mm256_xor_si256(x1, y1));
    energy_a = add_pair(energy_a, x0, x1);
    energy_b = add_pair(energy_b, y0, y1);
    agreement = add_pair(agreement, _mm256_and_si256(x0, y0), _mm256_and_si256(x1, y1));
  }
  uint64_t c = reduce_u64(conflict), ea = reduce_u64(energy_a), eb = reduce_u64(energy_b),
           ag = reduce_u64(agreement);
  for (; i + 8 <= n; i += 8) {
    const uint64_t x = load_u64(a + i), y = load_u64(b + i);
    c += uint64_t(_mm_popcnt_u64(x ^ y));
    ea += uint64_t(_mm_popcnt_u64(x));
    eb += uint64_t(_mm_popcnt_u64(y));
    ag += uint64_t(_mm_popcnt_u64(x & y));
  }
  for (; i < n; ++i) {
    c += uint64_t(_mm_popcnt_u32(unsigned(a[i] ^ b[i])));
    ea += uint64_t(_mm_popcnt_u32(a[i]));
    eb += uint64_t(_mm_popcnt_u32(b[i]));
    ag += uint64_t(_mm_popcnt_u32(unsigned(a[i] & b[i])));
  }
  return {uint32_t(c), uint32_t(ea), uint32_t(eb), uint32_t(ag)};
}

// No software prefetch: on the development machine (a shared VM) prefetching the next records
// (T0/T1/T2/NTA, 1-8 records ahead, in a burst or spread over the loop) measured from 0.4x to
// 1.25x of the plain loop depending only on code placement, and never reliably better; the
// plain loop stays at ~0.77 of the read bandwidth there.
void hamming_many_avx2(const uint8_t *query, const uint8_t *records, size_t stride, size_t count,
                       size_t n, uint32_t *out) {
  for (size_t i = 0; i < count; ++i)
    out[i] = uint32_t(hamming_inline(query, records + i * stride, n));
}

}  // namespace jitson::impl
