// f32 <-> bf16 conversions on AVX2 (include/jitson/bf16.hpp for the rules). A tail shorter than
// one vector goes through a small local buffer, so nothing outside [0, n) is touched.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace jitson::bf16_detail {
namespace {

// 8 lanes of round-to-nearest-even bf16 in the low 16 bits of each i32.
inline __m256i round_lanes(__m256i bits) {
  // Both sides are non-negative as i32, so the signed compare is the unsigned one.
  const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x7FFFFFFF)),
                                         _mm256_set1_epi32(0x7F800000));
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_srli_epi32(
      _mm256_add_epi32(_mm256_add_epi32(bits, _mm256_set1_epi32(0x7FFF)), lsb), 16);
  const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(0x0040));
  return _mm256_blendv_epi8(rounded, quiet, nan);
}

inline __m256i truncate_lanes(__m256i bits) {
  return _mm256_srli_epi32(bits, 16);
}

// Packs 16 lanes (each <= 0xFFFF, so the unsigned saturation never triggers) into 16 words in
// order; packus works per 128-bit half, the permute restores the order.
inline __m256i pack_words(__m256i lo, __m256i hi) {
  return _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
}

template <class Lanes>
inline void narrow(const float *in, uint16_t *out, size_t n, Lanes lanes) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i lo =
        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(in + i));  // unaligned load
    const __m256i hi =
        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(in + i + 8));  // unaligned load
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(out + i),               // unaligned store
                        pack_words(lanes(lo), lanes(hi)));
  }
  if (i < n) {
    float src[16] = {};
    uint16_t dst[16];
    std::memcpy(src, in + i, (n - i) * sizeof(float));
    const __m256i lo =
        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(src));  // unaligned load
    const __m256i hi =
        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(src + 8));  // unaligned load
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(dst),                // unaligned store
                        pack_words(lanes(lo), lanes(hi)));
    std::memcpy(out + i, dst, (n - i) * sizeof(uint16_t));
  }
}

}  // namespace

void f32_to_bf16_avx2(const float *in, uint16_t *out, size_t n) {
  narrow(in, out, n, round_lanes);
}

void f32_to_bf16_truncate_avx2(const float *in, uint16_t *out, size_t n) {
  narrow(in, out, n, truncate_lanes);
}

void bf16_to_f32_avx2(const uint16_t *in, float *out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i half =
        _mm_loadu_si128(reinterpret_cast<const __m128i *>(in + i));  // unaligned load
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(out + i),        // unaligned store
                        _mm256_slli_epi32(_mm256_cvtepu16_epi32(half), 16));
  }
  for (; i < n; ++i) {
    const uint32_t bits = uint32_t{in[i]} << 16;
    std::memcpy(out + i, &bits, sizeof bits);
  }
}

}  // namespace jitson::bf16_detail
