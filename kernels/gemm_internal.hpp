// Internal contract between the GEMM driver (runtime/gemm.cpp) and the per-ISA GEMM kernels
// (kernels/gemm_*.cpp). Goto/BLIS structure: the driver splits C over threads, loops over
// k blocks (kc), row blocks/chunks of A and column blocks (nc) of B (see run_block_range for the
// two loop orders), and asks a kernel to pack A into mr-row panels and B into nr-column panels,
// then to run its macro-kernel (the loops around the register-blocked micro-kernel) over one
// block of C.
//
// Packed layouts (p = k index inside the block, r/c = row/column inside the panel):
//  - f32 panels (and bf16 converted to f32):  A panel [p][r] (mr values per p), B panel [p][c].
//  - k-grouped panels (g = 2 for bf16 pairs, 4 for u8/i8 quads): A panel [p/g][r][p%g],
//    B panel [p/g][c][p%g].
//  - AMX panels: see amx_util.hpp.
// Rows of A past mc, columns of B past nc and k positions past kc (up to the k alignment) are
// zero in the packed panels; the macro-kernel writes only the mc x nc block of C.
//
// This header is included by files compiled with different ISA flags, so every function defined
// here lives in an unnamed namespace: each file gets its own copy, compiled for its own ISA, and
// the linker can never swap an AVX-512 copy into a scalar file.
#pragma once

#include <cstddef>
#include <cstdint>
#if defined(__AVX2__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace jitson::gemm_detail {

// Packs rows [0, mc) x k [0, kc) of a matrix whose element (i, p) is src[i * rs + p * cs].
template <class T, class P>
using PackAFn = void (*)(const T *src, ptrdiff_t rs, ptrdiff_t cs, int mc, int kc, P *dst);
// Packs k [0, kc) x columns [0, nc) of a matrix whose element (p, j) is src[p * rs + j * cs].
template <class T, class P>
using PackBFn = void (*)(const T *src, ptrdiff_t rs, ptrdiff_t cs, int kc, int nc, P *dst);

// An f32-output blocked kernel: T is the source element type (float or uint16_t bf16), P the
// packed element type. macro computes C[mc x nc] (row-major, ldc) from packed panels of a block
// of kc: C = fma(alpha, acc, beta * C), with beta == 0 meaning "C is not read" (fma with +0).
template <class T, class P>
struct BlockedKernel {
  const char *name;
  int mr, nr;
  int k_align;  // the packed k extent is kc rounded up to a multiple of this
  // Block sizes: kc a multiple of k_align, mc of mr, nc of nr. mc == 0 marks a row-outer
  // macro-kernel (the A panel in L1, B panels streaming from L2): the driver then packs A once
  // per k block for all of a thread's rows (up to 8 MiB) and loops over nc blocks inside.
  // nc == 0 lets the driver size the packed B block (kc x nc) to half of this CPU's L2.
  int kc, mc, nc;
  PackAFn<T, P> pack_a;
  PackBFn<T, P> pack_b;
  void (*macro)(int mc, int nc, int kc, const P *packed_a, const P *packed_b, float *c,
                ptrdiff_t ldc, float alpha, float beta);
  bool needs_amx;  // the driver must have obtained the process's AMX permission first
};

using F32Kernel = BlockedKernel<float, float>;
using Bf16Kernel = BlockedKernel<uint16_t, uint16_t>;
using Bf16AsF32Kernel = BlockedKernel<uint16_t, float>;

// How the u8 x i8 macro-kernel writes its exact i32 sums.
struct I8Output {
  enum Kind { store_i32, dequant_tensor, dequant_channel } kind;
  int32_t *c_i32;  // store_i32
  float *c_f32;    // dequant_*
  ptrdiff_t ldc;
  const int32_t *col_sums;  // sum_p B[p, j] for the block's columns (dequant_*)
  int32_t zero_point;       // dequant_tensor
  float scale;              // dequant_tensor: scale_a * scale_b
  const float *a_scales;    // dequant_channel, the block's rows
  const int32_t *a_zero_points;
  const float *b_scales;  // dequant_channel, the block's columns
};

// u8 x i8 -> i32 kernel over the whole k (padded to k_align): no partial sum leaves the
// accumulators before the epilogue.
struct I8Kernel {
  const char *name;
  int mr, nr;
  int k_align;             // packed k extent: k rounded up to a multiple of this (4 or 64)
  int mc_bytes, nc_bytes;  // budgets: mc * kp <= mc_bytes, nc * kp <= nc_bytes
  // Packed extents use kp = round_up(k, k_align).
  void (*pack_a)(const uint8_t *src, ptrdiff_t lda, int mc, int k, uint8_t *dst);
  // Also writes col_sums[0, nc) = sum_p src[p, j].
  void (*pack_b)(const int8_t *src, ptrdiff_t ldb, int k, int nc, int8_t *dst, int32_t *col_sums);
  void (*macro)(int mc, int nc, int k, const uint8_t *packed_a, const int8_t *packed_b,
                const I8Output &out);
  bool needs_amx;
};

// The tables, one per ISA and instruction family (defined in kernels/gemm_*.cpp).
extern const F32Kernel f32_scalar, f32_avx2, f32_avx512;
extern const Bf16AsF32Kernel bf16_as_f32_scalar, bf16_as_f32_avx2, bf16_as_f32_avx512;
extern const Bf16Kernel bf16_dot_avx512, bf16_amx;
extern const I8Kernel i8_scalar, i8_vnni_avx512, i8_amx;

// The k block of the documented sgemm summation order (jitson::gemm_k_block).
inline constexpr int kF32KBlock = 512;

namespace {

constexpr int round_up(int x, int to) {
  return (x + to - 1) / to * to;
}

// Generic packers (auto-vectorised per file). Convert maps a source element to a packed one.
template <int MR, class T, class P, class Convert>
inline void pack_a_rows(const T *src, ptrdiff_t rs, ptrdiff_t cs, int mc, int kc, P *dst,
                        Convert convert) {
  for (int i0 = 0; i0 < mc; i0 += MR) {
    const int rows = mc - i0 < MR ? mc - i0 : MR;
    if (cs == 1) {
      // One cache line of every row per step: the rows' lines are fetched in parallel instead
      // of one row's stream after another.
      constexpr int kChunk = 64 / sizeof(T);
      for (int p0 = 0; p0 < kc; p0 += kChunk) {
        const int p1 = p0 + kChunk < kc ? p0 + kChunk : kc;
        for (int r = 0; r < rows; ++r) {
          const T *row = src + (i0 + r) * rs;
          for (int p = p0; p < p1; ++p) dst[p * MR + r] = convert(row[p]);
        }
      }
    } else {
      for (int p = 0; p < kc; ++p) {
        const T *col = src + i0 * rs + p * cs;
        for (int r = 0; r < rows; ++r) dst[p * MR + r] = convert(col[r * rs]);
      }
    }
    for (int r = rows; r < MR; ++r)
      for (int p = 0; p < kc; ++p) dst[p * MR + r] = P{};
    dst += MR * kc;
  }
}

template <int NR, class T, class P, class Convert>
inline void pack_b_cols(const T *src, ptrdiff_t rs, ptrdiff_t cs, int kc, int nc, P *dst,
                        Convert convert) {
  int j0 = 0;
  if (cs == 1) {
    // Rows outer: each row of the block is read once, contiguously, and scattered over the
    // panels. Panels outer read NR values per row at the row stride, a DRAM miss each time for
    // a large B: packing took 3.5% of an n = 4096 sgemm.
    const int full = nc / NR * NR;
    for (int p = 0; p < kc; ++p) {
      const T *row = src + p * rs;
      for (int j = 0; j < full; j += NR) {
        P *out = dst + size_t(j) * size_t(kc) + size_t(p) * NR;
        for (int c = 0; c < NR; ++c) out[c] = convert(row[j + c]);
      }
    }
    j0 = full;
    dst += size_t(full) * size_t(kc);
  }
  for (; j0 < nc; j0 += NR) {
    const int cols = nc - j0 < NR ? nc - j0 : NR;
    if (cs == 1) {
      for (int p = 0; p < kc; ++p) {
        const T *row = src + p * rs + j0;
        for (int c = 0; c < cols; ++c) dst[p * NR + c] = convert(row[c]);
        for (int c = cols; c < NR; ++c) dst[p * NR + c] = P{};
      }
    } else {
      for (int c = 0; c < cols; ++c) {
        const T *col = src + (j0 + c) * cs;
        for (int p = 0; p < kc; ++p) dst[p * NR + c] = convert(col[p * rs]);
      }
      for (int p = 0; p < kc; ++p)
        for (int c = cols; c < NR; ++c) dst[p * NR + c] = P{};
    }
    dst += NR * kc;
  }
}

// k-grouped packers: G consecutive k values of one row (A) or column (B) are adjacent.
// The packed k extent is kp = round_up(kc, KA) (KA a multiple of G); positions past kc are zero.
template <int MR, int G, int KA = G, class T, class P>
inline void pack_a_grouped(const T *src, ptrdiff_t rs, ptrdiff_t cs, int mc, int kc, P *dst) {
  static_assert(KA % G == 0);
  static_assert(sizeof(T) == sizeof(P));
  const int kp = round_up(kc, KA);
  const int groups = kp / G, full = kc / G;
  // Groups per step: one 64-byte line of each source row, so the rows stream in parallel.
  constexpr int kStep = G * int(sizeof(T)) >= 64 ? 1 : 64 / (G * int(sizeof(T)));
  for (int i0 = 0; i0 < mc; i0 += MR) {
    const int rows = mc - i0 < MR ? mc - i0 : MR;
    for (int g0 = 0; g0 < groups; g0 += kStep) {
      const int g1 = g0 + kStep < groups ? g0 + kStep : groups;
      for (int r = 0; r < MR; ++r) {
        const T *row = src + (i0 + r) * rs;
        for (int g = g0; g < g1; ++g) {
          P *out = dst + g * (MR * G) + r * G;
          if (r < rows && g < full && cs == 1) {
            // Same size, no conversion: one G-element copy per group.
            __builtin_memcpy(out, row + g * G, G * sizeof(T));
          } else {
            for (int e = 0; e < G; ++e) {
              const int p = g * G + e;
              out[e] = (r < rows && p < kc) ? P(row[p * cs]) : P{};
            }
          }
        }
      }
    }
    dst += MR * kp;
  }
}

#if defined(__SSE2__)
// G rows of B interleaved: out[c * G + e] = row_e[c] for 16 bytes of each row (8 columns of
// 16-bit values for G = 2, 16 columns of bytes for G = 4).
template <int G, class T>
inline void interleave_rows(const T *const (&rows)[G], int c, T *out) {
  static_assert(G * sizeof(T) == 4);
  if constexpr (G == 2) {
    // unaligned 16-byte loads and stores
    const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(rows[0] + c));
    const __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(rows[1] + c));
    __m128i *o = reinterpret_cast<__m128i *>(out + c * 2);  // unaligned stores below
    _mm_storeu_si128(o, _mm_unpacklo_epi16(r0, r1));
    _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(r0, r1));
  } else {
    // unaligned 16-byte loads and stores
    const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(rows[0] + c));
    const __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(rows[1] + c));
    const __m128i r2 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(rows[2] + c));
    const __m128i r3 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(rows[3] + c));
    const __m128i lo01 = _mm_unpacklo_epi8(r0, r1), hi01 = _mm_unpackhi_epi8(r0, r1);
    const __m128i lo23 = _mm_unpacklo_epi8(r2, r3), hi23 = _mm_unpackhi_epi8(r2, r3);
    __m128i *o = reinterpret_cast<__m128i *>(out + c * 4);  // unaligned stores below
    _mm_storeu_si128(o, _mm_unpacklo_epi16(lo01, lo23));
    _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(lo01, lo23));
    _mm_storeu_si128(o + 2, _mm_unpacklo_epi16(hi01, hi23));
    _mm_storeu_si128(o + 3, _mm_unpackhi_epi16(hi01, hi23));
  }
}
#endif

template <int NR, int G, int KA = G, class T, class P>
inline void pack_b_grouped(const T *src, ptrdiff_t rs, ptrdiff_t cs, int kc, int nc, P *dst) {
  static_assert(KA % G == 0);
  static_assert(sizeof(T) == sizeof(P));
  const int kp = round_up(kc, KA);
  for (int j0 = 0; j0 < nc; j0 += NR) {
    const int cols = nc - j0 < NR ? nc - j0 : NR;
    if (cs == 1) {
      for (int p0 = 0; p0 < kc; p0 += G) {
        P *out = dst + (p0 / G) * (NR * G);
        int c = 0;
#if defined(__SSE2__)
        if constexpr (G * sizeof(T) == 4) {
          constexpr int kChunk = 16 / int(sizeof(T));
          if (p0 + G <= kc) {
            const T *rows[G];
            for (int e = 0; e < G; ++e) rows[e] = src + (p0 + e) * rs + j0;
            for (; c + kChunk <= cols; c += kChunk)
              interleave_rows<G>(rows, c, reinterpret_cast<T *>(out));  // P and T: same size
          }
        }
#endif
        for (; c < NR; ++c)
          for (int e = 0; e < G; ++e)
            out[c * G + e] = (c < cols && p0 + e < kc) ? P(src[(p0 + e) * rs + j0 + c]) : P{};
      }
    } else {
      for (int c = 0; c < NR; ++c) {
        if (c < cols) {
          const T *col = src + (j0 + c) * cs;
          for (int p = 0; p < kc; ++p) dst[(p / G) * (NR * G) + c * G + p % G] = P(col[p * rs]);
          for (int p = kc; p < round_up(kc, G); ++p) dst[(p / G) * (NR * G) + c * G + p % G] = P{};
        } else {
          for (int p = 0; p < round_up(kc, G); ++p) dst[(p / G) * (NR * G) + c * G + p % G] = P{};
        }
      }
    }
    for (int p = round_up(kc, G); p < kp; ++p)
      for (int c = 0; c < NR; ++c) dst[(p / G) * (NR * G) + c * G + p % G] = P{};
    dst += NR * kp;
  }
}

// sum_p src[p, j] for j < nc (zero for the padding columns up to round_up(nc, nr)).
inline void i8_column_sums(const int8_t *src, ptrdiff_t ldb, int k, int nc, int nr, int32_t *sums) {
  const int padded = round_up(nc, nr);
  for (int j = 0; j < padded; ++j) sums[j] = 0;
  for (int p = 0; p < k; ++p) {
    const int8_t *row = src + p * ldb;
    for (int j = 0; j < nc; ++j) sums[j] += row[j];
  }
}

// The i32 epilogue of the u8 x i8 kernels for one rows x cols tile of sums (row stride ld);
// row0/col0 locate the tile inside the macro block for the per-row/per-column arrays.
inline void i8_write_tile(const int32_t *sums, int ld, int rows, int cols, int row0, int col0,
                          const I8Output &out) {
  switch (out.kind) {
    case I8Output::store_i32:
      for (int r = 0; r < rows; ++r) {
        int32_t *c = out.c_i32 + (row0 + r) * out.ldc + col0;
        for (int j = 0; j < cols; ++j) c[j] = sums[r * ld + j];
      }
      break;
    case I8Output::dequant_tensor:
      for (int r = 0; r < rows; ++r) {
        float *c = out.c_f32 + (row0 + r) * out.ldc + col0;
        for (int j = 0; j < cols; ++j) {
          // Exact: |sum - zp * colsum| <= 255 * 128 * k < 2^31 (k <= gemm_u8i8_max_k); the
          // intermediate is formed in i64 so no partial term can wrap.
          const int64_t v =
              int64_t{sums[r * ld + j]} - int64_t{out.zero_point} * int64_t{out.col_sums[col0 + j]};
          c[j] = static_cast<float>(static_cast<int32_t>(v)) * out.scale;
        }
      }
      break;
    case I8Output::dequant_channel:
      for (int r = 0; r < rows; ++r) {
        float *c = out.c_f32 + (row0 + r) * out.ldc + col0;
        const int64_t zp = out.a_zero_points[row0 + r];
        const float sa = out.a_scales[row0 + r];
        for (int j = 0; j < cols; ++j) {
          const int64_t v = int64_t{sums[r * ld + j]} - zp * int64_t{out.col_sums[col0 + j]};
          c[j] = static_cast<float>(static_cast<int32_t>(v)) * sa * out.b_scales[col0 + j];
        }
      }
      break;
  }
}

#if defined(__AVX512F__)
// In-register 16 x 16 transpose: afterwards r[j] holds what was column j. (Zero-masked forms
// with every lane enabled: the unmasked intrinsics trip GCC 12's false maybe-uninitialized
// warning on their _mm512_undefined_* operand, GCC bug 105593.)
inline void transpose16x16(__m512 (&r)[16]) {
  const __mmask16 all16 = 0xFFFF;
  const __mmask8 all8 = 0xFF;
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_maskz_unpacklo_ps(all16, r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_maskz_unpackhi_ps(all16, r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(all8, a, c));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(all8, a, c));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(all8, b, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(all8, b, d));
  }
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j) {
      t[8 * i + j] = _mm512_maskz_shuffle_f32x4(all16, r[8 * i + j], r[8 * i + 4 + j], 0x88);
      t[8 * i + 4 + j] = _mm512_maskz_shuffle_f32x4(all16, r[8 * i + j], r[8 * i + 4 + j], 0xDD);
    }
  for (int j = 0; j < 8; ++j) {
    r[j] = _mm512_maskz_shuffle_f32x4(all16, t[j], t[8 + j], 0x88);
    r[8 + j] = _mm512_maskz_shuffle_f32x4(all16, t[j], t[8 + j], 0xDD);
  }
}

// Packs `lines` source lines (line l starts at src + l * stride, its k values contiguous) into a
// panel dst[p * W + l] of width W (lines past `lines` are zero), 16 x 16 blocks at a time.
// LoadMasked(ptr, mask) returns up to 16 consecutive elements as f32 (masked-off lanes zero and
// never read).
template <int W, class T, class LoadMasked>
inline void pack_lines_avx512(const T *src, ptrdiff_t stride, int lines, int kc, float *dst,
                              LoadMasked load) {
  for (int g = 0; g < W; g += 16) {
    const int width = W - g < 16 ? W - g : 16;
    const __mmask16 store_mask = __mmask16((1u << width) - 1);
    for (int p0 = 0; p0 < kc; p0 += 16) {
      const int len = kc - p0 < 16 ? kc - p0 : 16;
      const __mmask16 load_mask = __mmask16((1u << len) - 1);
      __m512 v[16];
#pragma GCC unroll 16
      for (int r = 0; r < 16; ++r)
        v[r] = (r < width && g + r < lines) ? load(src + (g + r) * stride + p0, load_mask)
                                            : _mm512_setzero_ps();
      transpose16x16(v);
#pragma GCC unroll 16
      for (int j = 0; j < 16; ++j)
        if (j < len) _mm512_mask_storeu_ps(dst + (p0 + j) * W + g, store_mask, v[j]);
    }
  }
}

// Asks for the C tile ahead of the merge at the end of the k loop (C rows are ldc apart: one
// miss per row otherwise). The micro-kernels ask for L2 at the start of the loop and for L1 a
// few dozen k steps before its end, when the lines can no longer be evicted by the A and B
// panels streaming through L1.
template <int MR, int NV, int Hint>
inline void prefetch_tile(const float *c, ptrdiff_t ldc, int rows, int cols) {
  for (int r = 0; r < rows; ++r) {
    const char *row = reinterpret_cast<const char *>(c + r * ldc);  // prefetch never faults
    for (int v = 0; v < NV && 16 * v < cols; ++v)
      _mm_prefetch(row + 64 * v, static_cast<decltype(_MM_HINT_T0)>(Hint));
  }
}

// Merges an MR x (16*NV) tile of f32 sums into C: C = fma(alpha, acc, beta * C), or
// fma(alpha, acc, +0) without reading C when beta == 0. Only rows x cols is touched: masked
// loads and stores never access the columns past cols.
template <int MR, int NV>
inline void store_tile_avx512(const __m512 (&acc)[MR][NV], float *c, ptrdiff_t ldc, float alpha,
                              float beta, int rows, int cols) {
  __mmask16 mask[NV];
  for (int v = 0; v < NV; ++v) {
    const int left = cols - 16 * v;
    mask[v] = left >= 16  ? __mmask16(0xFFFF)
              : left <= 0 ? __mmask16(0)
                          : __mmask16((1u << left) - 1);
  }
  const __m512 va = _mm512_set1_ps(alpha);
  const __m512 vb = _mm512_set1_ps(beta);
  const __m512 zero = _mm512_setzero_ps();
  const bool read_c = beta != 0.0f;
  for (int r = 0; r < MR; ++r) {
    if (r >= rows) break;
    float *row = c + r * ldc;
    for (int v = 0; v < NV; ++v) {
      if (mask[v] == 0) break;
      const __m512 base =
          read_c ? _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(mask[v], row + 16 * v)) : zero;
      _mm512_mask_storeu_ps(row + 16 * v, mask[v], _mm512_fmadd_ps(va, acc[r][v], base));
    }
  }
}

// Writes one row of u8 x i8 sums (16 * NV columns, cols of them valid) at block row r, block
// column col0, following out.kind; the arithmetic matches i8_write_tile exactly (the i32
// difference is exact, so wrapping i32 arithmetic gives the same value as the i64 form).
// _mm512_cvtepi32_ps with an explicit all-lanes mask: the unmasked form trips a false
// maybe-uninitialized warning in GCC 12 inside functions with a target attribute.
inline __m512 i32_to_f32(__m512i x) {
  return _mm512_maskz_cvtepi32_ps(__mmask16(0xFFFF), x);
}

template <int NV>
inline void i8_store_row_avx512(const __m512i (&acc)[NV], int r, int col0, int cols,
                                const I8Output &out) {
  for (int v = 0; v < NV; ++v) {
    const int left = cols - 16 * v;
    if (left <= 0) break;
    const __mmask16 mask = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
    const int j = col0 + 16 * v;
    if (out.kind == I8Output::store_i32) {
      _mm512_mask_storeu_epi32(out.c_i32 + r * out.ldc + j, mask, acc[v]);
      continue;
    }
    const __m512i sums = _mm512_maskz_loadu_epi32(mask, out.col_sums + j);
    float *dst = out.c_f32 + r * out.ldc + j;
    if (out.kind == I8Output::dequant_tensor) {
      const __m512i exact =
          _mm512_sub_epi32(acc[v], _mm512_mullo_epi32(_mm512_set1_epi32(out.zero_point), sums));
      const __m512 y = _mm512_mul_ps(i32_to_f32(exact), _mm512_set1_ps(out.scale));
      _mm512_mask_storeu_ps(dst, mask, y);
    } else {
      const __m512i exact = _mm512_sub_epi32(
          acc[v], _mm512_mullo_epi32(_mm512_set1_epi32(out.a_zero_points[r]), sums));
      const __m512 y =
          _mm512_mul_ps(_mm512_mul_ps(i32_to_f32(exact), _mm512_set1_ps(out.a_scales[r])),
                        _mm512_maskz_loadu_ps(mask, out.b_scales + j));
      _mm512_mask_storeu_ps(dst, mask, y);
    }
  }
}
#endif

}  // namespace
}  // namespace jitson::gemm_detail
