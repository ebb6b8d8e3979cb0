// The word-count kernels' portable loops and their compaction, shared by the scalar twin
// (baseline x86-64: popcount is a libgcc call), the avx2 file (built with -mpopcnt: one POPCNT per
// word) and the avx512 file. Unnamed namespace, as in avx512_util.hpp: each file keeps its own
// copy, compiled with its own flags.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace jitson::impl::word_counts {
namespace {

inline void popcounts(const uint8_t *records, size_t stride, size_t count, size_t n, uint8_t *out) {
  const size_t words = n / 8;
  for (size_t i = 0; i < count; ++i) {
    const uint8_t *record = records + i * stride;
    for (size_t w = 0; w < words; ++w) {
      uint64_t v;
      std::memcpy(&v, record + 8 * w, sizeof v);  // unaligned-safe; little-endian x86-64
      out[i * words + w] = uint8_t(std::popcount(v));
    }
  }
}

// Sum over words of min(query_counts[w], record[w]) from word `from` on.
inline uint32_t overlap_from(const uint8_t *query_counts, const uint8_t *record, size_t from,
                             size_t n_words) {
  uint32_t sum = 0;
  for (size_t w = from; w < n_words; ++w) sum += std::min(query_counts[w], record[w]);
  return sum;
}

// The records i < count whose overlap(i) reaches need, written to selected in ascending order;
// returns how many. Branch-free compaction: each i is stored at the next free slot, which
// advances only when the record is kept (the slot is <= i < count: the store stays inside
// selected[0, count)).
template <class Overlap>
inline size_t select_at_least(size_t count, uint32_t need, uint32_t *selected, Overlap overlap) {
  size_t n_selected = 0;
  for (size_t i = 0; i < count; ++i) {
    selected[n_selected] = uint32_t(i);
    n_selected += overlap(i) >= need;
  }
  return n_selected;
}

}  // namespace
}  // namespace jitson::impl::word_counts
