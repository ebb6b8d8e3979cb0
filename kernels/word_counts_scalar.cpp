// Scalar twins of the word-count kernels (the Tanimoto word-count bound, jitson/popcount.hpp).
#include "kernels/kernels_internal.hpp"
#include "kernels/word_counts_inline.hpp"

namespace jitson::impl {

void word_popcounts_scalar(const uint8_t *records, size_t stride, size_t count, size_t n,
                           uint8_t *out) {
  word_counts::popcounts(records, stride, count, n, out);
}

size_t select_word_overlap_scalar(const uint8_t *query_counts, const uint8_t *counts,
                                  size_t n_words, size_t count, uint32_t need, uint32_t *selected) {
  return word_counts::select_at_least(count, need, selected, [&](size_t i) {
    return word_counts::overlap_from(query_counts, counts + i * n_words, 0, n_words);
  });
}

}  // namespace jitson::impl
