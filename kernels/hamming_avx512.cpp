// AVX-512 Hamming family with VPOPCNTDQ (vpopcntq), using only F/BW/VL/VPOPCNTDQ instructions
// (the avx512 tier). Tails use byte-masked loads, which never touch the masked-out bytes.
#include <immintrin.h>

#include "kernels/avx512_util.hpp"
#include "kernels/kernels_internal.hpp"

namespace jitson::impl {
namespace {

inline __m512i load(const uint8_t *p) {
  return _mm512_loadu_si512(p);  // unaligned load
}

// Loads the first n < 64 bytes of p, zero elsewhere; masked-out bytes are not accessed.
inline __m512i load_tail(const uint8_t *p, size_t n) {
  return _mm512_maskz_loadu_epi8((uint64_t{1} << n) - 1, p);
}

inline __m512i popcount_add(__m512i acc, __m512i v) {
  return _mm512_add_epi64(acc, _mm512_popcnt_epi64(v));
}

// 8 × 64 bytes per trip into 4 accumulators: a rolled loop (PITFALLS.md: a fully unrolled 2 KB
// record was slower in L2) with independent vpopcntq chains. Each 64-byte step costs three
// vector uops (xor, popcount, add); on cores with two 512-bit ALU ports that, not the loads, is
// the bound in L1 and L2.
inline uint64_t hamming_inline(const uint8_t *a, const uint8_t *b, size_t n) {
  __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  size_t i = 0;
  for (; i + 512 <= n; i += 512) {
    acc0 = popcount_add(acc0, _mm512_xor_si512(load(a + i), load(b + i)));
    acc1 = popcount_add(acc1, _mm512_xor_si512(load(a + i + 64), load(b + i + 64)));
    acc2 = popcount_add(acc2, _mm512_xor_si512(load(a + i + 128), load(b + i + 128)));
    acc3 = popcount_add(acc3, _mm512_xor_si512(load(a + i + 192), load(b + i + 192)));
    acc0 = popcount_add(acc0, _mm512_xor_si512(load(a + i + 256), load(b + i + 256)));
    acc1 = popcount_add(acc1, _mm512_xor_si512(load(a + i + 320), load(b + i + 320)));
    acc2 = popcount_add(acc2, _mm512_xor_si512(load(a + i + 384), load(b + i + 384)));
    acc3 = popcount_add(acc3, _mm512_xor_si512(load(a + i + 448), load(b + i + 448)));
  }
  for (; i + 64 <= n; i += 64) {
    acc0 = popcount_add(acc0, _mm512_xor_si512(load(a + i), load(b + i)));
  }
  if (i < n) {
    acc1 = popcount_add(acc1, _mm512_xor_si512(load_tail(a + i, n - i), load_tail(b + i, n - i)));
  }
  const __m512i sum = _mm512_add_epi64(_mm512_add_epi64(acc0, acc1), _mm512_add_epi64(acc2, acc3));
  return avx512::reduce_add_u64(sum);
}

}  // namespace

uint64_t hamming_avx512(const uint8_t *a, const uint8_t *b, size_t n) {
  return hamming_inline(a, b, n);
}

uint64_t hamming_masked_avx512(const uint8_t *a, const uint8_t *b, const uint8_t *mask, size_t n) {
  __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0;
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    // vpternlog 0x28 = (a ^ b) & mask in one instruction.
    acc0 = popcount_add(acc0,
                        _mm512_ternarylogic_epi64(load(a + i), load(b + i), load(mask + i), 0x28));
    acc1 = popcount_add(acc1, _mm512_ternarylogic_epi64(load(a + i + 64), load(b + i + 64),
                                                        load(mask + i + 64), 0x28));
  }
  for (; i + 64 <= n; i += 64) {
    acc0 = popcount_add(acc0,
                        _mm512_ternarylogic_epi64(load(a + i), load(b + i), load(mask + i), 0x28));
  }
  if (i < n) {
    const size_t r = n - i;
    acc1 = popcount_add(acc1, _mm512_ternarylogic_epi64(load_tail(a + i, r), load_tail(b + i, r),
                                                        load_tail(mask + i, r), 0x28));
  }
  return uint64_t(avx512::reduce_add_u64(_mm512_add_epi64(acc0, acc1)));
}

EnergyConflict energy_conflict_avx512(const uint8_t *a, const uint8_t *b, size_t n) {
  __m512i conflict = _mm512_setzero_si512(), energy_a = conflict, energy_b = conflict,
          agreement = conflict;
  auto step = [&](__m512i x, __m512i y) {
    conflict = popcount_add(conflict, _mm512_xor_si512(x, y));
    energy_a = popcount_add(energy_a, x);
    energy_b = popcount_add(energy_b, y);
    agreement = popcount_add(agreement, _mm512_and_si512(x, y));
  };
  size_t i = 0;
  for (; i + 64 <= n; i += 64) step(load(a + i), load(b + i));
  if (i < n) step(load_tail(a + i, n - i), load_tail(b + i, n - i));
  return {uint32_t(avx512::reduce_add_u64(conflict)), uint32_t(avx512::reduce_add_u64(energy_a)),
          uint32_t(avx512::reduce_add_u64(energy_b)), uint32_t(avx512::reduce_add_u64(agreement))};
}

// Prefetching whole records ahead cost 10-15% in L2 and gained nothing from DRAM (the hardware
// prefetchers already reach the read bandwidth on contiguous records), so only the first line of
// the record two ahead is requested: it starts the next stream early when records are not
// contiguous (stride > n), at no measurable cost otherwise.
void hamming_many_avx512(const uint8_t *query, const uint8_t *records, size_t stride, size_t count,
                         size_t n, uint32_t *out) {
  constexpr size_t kAhead = 2;
  for (size_t i = 0; i < count; ++i) {
    if (i + kAhead < count) {
      // A hint that never faults; the address is a record start inside the caller's buffer.
      _mm_prefetch(reinterpret_cast<const char *>(records + (i + kAhead) * stride), _MM_HINT_T0);
    }
    out[i] = uint32_t(hamming_inline(query, records + i * stride, n));
  }
}

}  // namespace jitson::impl
