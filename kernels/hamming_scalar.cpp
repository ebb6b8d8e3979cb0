// Scalar twins of the Hamming family: baseline x86-64, no POPCNT assumed.
#include <bit>
#include <cstring>

#include "kernels/kernels_internal.hpp"

namespace jitson::impl {
namespace {

uint64_t load_u64(const uint8_t *p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);  // unaligned-safe; x86 is little-endian as §1.2 requires
  return v;
}

}  // namespace

uint64_t hamming_scalar(const uint8_t *a, const uint8_t *b, size_t n) {
  uint64_t d = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) d += uint64_t(std::popcount(load_u64(a + i) ^ load_u64(b + i)));
  for (; i < n; ++i) d += uint64_t(std::popcount(unsigned(a[i] ^ b[i])));
  return d;
}

uint64_t hamming_masked_scalar(const uint8_t *a, const uint8_t *b, const uint8_t *mask, size_t n) {
  uint64_t d = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    d += uint64_t(std::popcount((load_u64(a + i) ^ load_u64(b + i)) & load_u64(mask + i)));
  }
  for (; i < n; ++i) d += uint64_t(std::popcount(unsigned((a[i] ^ b[i]) & mask[i])));
  return d;
}

EnergyConflict energy_conflict_scalar(const uint8_t *a, const uint8_t *b, size_t n) {
  // u64 sums, truncated to the u32 fields at the end (the same value as u32 wrap-around).
  uint64_t conflict = 0, energy_a = 0, energy_b = 0, agreement = 0;
  auto add = [&](uint64_t x, uint64_t y) {
    conflict += uint64_t(std::popcount(x ^ y));
    energy_a += uint64_t(std::popcount(x));
    energy_b += uint64_t(std::popcount(y));
    agreement += uint64_t(std::popcount(x & y));
  };
  size_t i = 0;
  for (; i + 8 <= n; i += 8) add(load_u64(a + i), load_u64(b + i));
  for (; i < n; ++i) add(a[i], b[i]);
  return {uint32_t(conflict), uint32_t(energy_a), uint32_t(energy_b), uint32_t(agreement)};
}

void hamming_many_scalar(const uint8_t *query, const uint8_t *records, size_t stride, size_t count,
                         size_t n, uint32_t *out) {
  for (size_t i = 0; i < count; ++i)
    out[i] = uint32_t(hamming_scalar(query, records + i * stride, n));
}

}  // namespace jitson::impl
