// AVX-512 word-count kernels: vpopcntq + vpmovqb for the counts; vpminub + vpsadbw for the
// overlap, with byte-masked loads that never touch the bytes past a record's counts.
#include <immintrin.h>

#include "kernels/avx512_util.hpp"
#include "kernels/kernels_internal.hpp"
#include "kernels/word_counts_inline.hpp"

namespace jitson::impl {
namespace {

inline __mmask64 first_bytes(size_t n) {
  return n >= 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1;
}

// The overlap of one record of up to 32 counts, query counts already loaded (masked to n_words).
inline uint32_t overlap_short(__m256i query, const uint8_t *record, __mmask32 words) {
  const __m256i r = _mm256_maskz_loadu_epi8(words, record);
  const __m256i sums = _mm256_sad_epu8(_mm256_min_epu8(query, r), _mm256_setzero_si256());
  __m128i half = _mm_add_epi64(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
  half = _mm_add_epi64(half, _mm_unpackhi_epi64(half, half));
  return uint32_t(_mm_cvtsi128_si32(half));  // at most 32 * 64
}

inline uint32_t overlap_long(const uint8_t *query_counts, const uint8_t *record, size_t n_words) {
  __m512i acc = _mm512_setzero_si512();
  for (size_t w = 0; w < n_words; w += 64) {
    const __mmask64 m = first_bytes(n_words - w);
    const __m512i q = _mm512_maskz_loadu_epi8(m, query_counts + w);
    const __m512i r = _mm512_maskz_loadu_epi8(m, record + w);
    acc = _mm512_add_epi64(acc, _mm512_sad_epu8(_mm512_min_epu8(q, r), _mm512_setzero_si512()));
  }
  return uint32_t(avx512::reduce_add_u64(acc));  // at most 64 * n_words < 2^32
}

}  // namespace

void word_popcounts_avx512(const uint8_t *records, size_t stride, size_t count, size_t n,
                           uint8_t *out) {
  const size_t words = n / 8;
  for (size_t i = 0; i < count; ++i) {
    const uint8_t *record = records + i * stride;
    uint8_t *counts = out + i * words;
    for (size_t w = 0; w < words; w += 8) {
      const size_t left = words - w;
      const auto m = __mmask8(left >= 8 ? 0xFF : (1u << left) - 1);
      const __m512i v = _mm512_popcnt_epi64(_mm512_maskz_loadu_epi64(m, record + 8 * w));
      _mm512_mask_cvtepi64_storeu_epi8(counts + w, m, v);  // one byte per word, masked store
    }
  }
}

size_t select_word_overlap_avx512(const uint8_t *query_counts, const uint8_t *counts,
                                  size_t n_words, size_t count, uint32_t need, uint32_t *selected) {
  if (n_words <= 32) {  // chemical fingerprints: 1,024 and 2,048 bits
    const auto words = __mmask32(n_words == 32 ? ~0u : (1u << n_words) - 1);
    const __m256i query = _mm256_maskz_loadu_epi8(words, query_counts);
    return word_counts::select_at_least(count, need, selected, [&](size_t i) {
      return overlap_short(query, counts + i * n_words, words);
    });
  }
  return word_counts::select_at_least(count, need, selected, [&](size_t i) {
    return overlap_long(query_counts, counts + i * n_words, n_words);
  });
}

}  // namespace jitson::impl
