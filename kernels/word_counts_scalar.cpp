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
  size_t n_selected = 0;
  for (size_t i = 0; i < count; ++i) {
    const uint32_t overlap =
        word_counts::overlap_from(query_counts, counts + i * n_words, 0, n_words);
    // Branch-free compaction: the slot is overwritten unless the record is kept
    // (n_selected <= i < count, so the store stays inside selected[0, count)).
    selected[n_selected] = uint32_t(i);
    n_selected += overlap >= need;
  }
  return n_selected;
}

}  // namespace jitson::impl
