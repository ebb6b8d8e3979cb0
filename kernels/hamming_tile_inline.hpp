// What the hamming_tile ISA files share: the walk over the records, R at a time and then one at
// a time, and over the queries, Q at a time and then the rest. Each file defines Tile<Q, R>::run
// with its instructions (in this header's unnamed namespace, so each file's is its own).
// Include only from kernels/hamming_tile_*.cpp.
#pragma once

#include <cstddef>
#include <cstdint>

#include "jitson/kernels.hpp"

namespace jitson::impl::tile {
namespace {

// Distances of Q queries to R consecutive records: out[q * out_stride + r].
// next: the R records of the following tile, to prefetch (null when there is none).
template <int Q, int R>
struct Tile {
  static void run(const uint8_t *const *queries, const uint8_t *records, const uint8_t *next,
                  size_t stride, const TileLine *lines, size_t n_lines, uint32_t *out,
                  size_t out_stride);
};

template <int Q, int R>
void records_in_tiles(const uint8_t *const *queries, const uint8_t *records, size_t stride,
                      size_t count, const TileLine *lines, size_t n_lines, uint32_t *out) {
  size_t i = 0;
  for (; i + R <= count; i += R) {
    const uint8_t *next = i + 2 * R <= count ? records + (i + R) * stride : nullptr;
    Tile<Q, R>::run(queries, records + i * stride, next, stride, lines, n_lines, out + i, count);
  }
  for (; i < count; ++i) {
    Tile<Q, 1>::run(queries, records + i * stride, nullptr, stride, lines, n_lines, out + i, count);
  }
}

// hamming_tile's contract (jitson/kernels.hpp) with tiles of at most Q queries × R records.
template <int Q, int R>
void hamming_tile(const uint8_t *const *queries, size_t n_queries, const uint8_t *records,
                  size_t stride, size_t count, const TileLine *lines, size_t n_lines,
                  uint32_t *out) {
  static_assert(Q >= 1 && Q <= 4);
  size_t q = 0;
  for (; q + Q <= n_queries; q += Q) {
    records_in_tiles<Q, R>(queries + q, records, stride, count, lines, n_lines, out + q * count);
  }
  const size_t rest = n_queries - q;
  uint32_t *rest_out = out + q * count;
  if constexpr (Q > 1) {
    if (rest == 1)
      records_in_tiles<1, R>(queries + q, records, stride, count, lines, n_lines, rest_out);
  }
  if constexpr (Q > 2) {
    if (rest == 2)
      records_in_tiles<2, R>(queries + q, records, stride, count, lines, n_lines, rest_out);
  }
  if constexpr (Q > 3) {
    if (rest == 3)
      records_in_tiles<3, R>(queries + q, records, stride, count, lines, n_lines, rest_out);
  }
}

}  // namespace
}  // namespace jitson::impl::tile
