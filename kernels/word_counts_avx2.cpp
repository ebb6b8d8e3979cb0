// AVX2 word-count kernels: vpminub + vpsadbw sum the overlap 32 words per instruction pair.
#include <immintrin.h>

#include "kernels/kernels_internal.hpp"
#include "kernels/word_counts_inline.hpp"

namespace jitson::impl {
namespace {

inline uint32_t overlap(const uint8_t *query_counts, const uint8_t *record, size_t n_words) {
  const __m256i zero = _mm256_setzero_si256();
  __m256i acc = zero;
  size_t w = 0;
  for (; w + 32 <= n_words; w += 32) {
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(query_counts + w));
    const __m256i r = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(record + w));
    acc = _mm256_add_epi64(acc, _mm256_sad_epu8(_mm256_min_epu8(q, r), zero));
  }
  __m128i half = _mm_add_epi64(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  if (w + 16 <= n_words) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i *>(query_counts + w));
    const __m128i r = _mm_loadu_si128(reinterpret_cast<const __m128i *>(record + w));
    half = _mm_add_epi64(half, _mm_sad_epu8(_mm_min_epu8(q, r), _mm_setzero_si128()));
    w += 16;
  }
  half = _mm_add_epi64(half, _mm_unpackhi_epi64(half, half));
  // Each sad lane is at most 8 * 64, and the sum at most 64 * n_words: u32 is exact.
  return uint32_t(_mm_cvtsi128_si32(half)) +
         word_counts::overlap_from(query_counts, record, w, n_words);
}

}  // namespace

void word_popcounts_avx2(const uint8_t *records, size_t stride, size_t count, size_t n,
                         uint8_t *out) {
  word_counts::popcounts(records, stride, count, n, out);  // POPCNT per word (-mpopcnt)
}

size_t select_word_overlap_avx2(const uint8_t *query_counts, const uint8_t *counts, size_t n_words,
                                size_t count, uint32_t need, uint32_t *selected) {
  return word_counts::select_at_least(count, need, selected, [&](size_t i) {
    return overlap(query_counts, counts + i * n_words, n_words);
  });
}

}  // namespace jitson::impl
