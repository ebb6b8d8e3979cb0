// Scalar twin of hamming_tile: the reference the SIMD tiles are tested against.
#include <bit>
#include <cstring>

#include "kernels/kernels_internal.hpp"

namespace jitson::impl {

void hamming_tile_scalar(const uint8_t *const *queries, size_t n_queries, const uint8_t *records,
                         size_t stride, size_t count, const TileLine *lines, size_t n_lines,
                         uint32_t *out) {
  for (size_t q = 0; q < n_queries; ++q) {
    for (size_t i = 0; i < count; ++i) {
      const uint8_t *record = records + i * stride;
      uint64_t distance = 0;
      for (size_t l = 0; l < n_lines; ++l) {
        const TileLine &line = lines[l];
        for (unsigned w = 0; w < 8; ++w) {
          if (!(line.words >> w & 1)) continue;
          const size_t at = size_t(line.offset) + 8 * w;
          uint64_t a, b;
          std::memcpy(&a, queries[q] + at, 8);  // unaligned-safe
          std::memcpy(&b, record + at, 8);
          const uint64_t x = a ^ b;
          distance += uint64_t(std::popcount(line.masked ? x & line.mask[w] : x));
        }
      }
      out[q * count + i] = uint32_t(distance);
    }
  }
}

}  // namespace jitson::impl
