// Dense matrix multiply in three precisions (shared/spec/SEMANTICS.md §9): f32 (CBLAS sgemm
// contract), bf16 inputs with f32 accumulation, u8 x i8 -> i32 with dequantising f32 variants.
//
// Every entry point validates its arguments before touching memory and throws
// jitson::Error(ErrorKind::invalid_argument) naming the argument and the rule it broke.
//
// Summation order (what makes results reproducible):
//  - sgemm and the exact-rounding bf16 path accumulate each C element in f32 sequentially over
//    p inside k blocks of gemm_k_block (p = 0..511, 512..1023, ...) starting from 0, then merge
//    each block with one fused multiply-add: the first block gives C = fma(alpha, acc, beta*C)
//    (or fma(alpha, acc, +0) when beta == 0, C not read), later blocks C = fma(alpha, acc, C).
//    This order does not depend on the ISA, the micro-kernel, the layout or the thread count, so
//    those results are bit-identical across all of them.
//  - the AVX-512 BF16 (vdpbf16ps) and AMX (tdpbf16ps) bf16 paths add products in pairs and flush
//    subnormal inputs/outputs to zero; their error bound is stated at gemm_bf16 below.
//  - the u8 x i8 paths are exact integer sums.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "jitson/cpu.hpp"

namespace jitson {

// CBLAS codes (CblasRowMajor = 101 ...), so a CBLAS caller can cast its enums.
enum class GemmOrder : int { row_major = 101, col_major = 102 };
enum class GemmTranspose : int { none = 111, transpose = 112, conj_transpose = 113 };

// Optional instruction families beyond the base ISA, used by gemm_bf16 and the u8 x i8 GEMMs.
enum class GemmExtension {
  best,        // the fastest this CPU offers for the chosen ISA (AMX > AVX-512 dot > none);
               // the default, so on a CPU with AVX-512 BF16 or AMX gemm_bf16 flushes
               // subnormals (see gemm_bf16) unless the caller asks for none
  none,        // no dot-product instructions: bf16 converted to f32 (the exact-rounding path on
               // the ISA's f32 kernel); u8 x i8 on the portable integer kernel
  avx512_dot,  // AVX-512 BF16 vdpbf16ps / AVX-512 VNNI vpdpbusd (Error(unsupported) if absent)
  amx,         // AMX tiles tdpbf16ps / tdpbusd (Error(unsupported) if absent or not granted)
};

struct GemmOptions {
  unsigned threads = 0;    // 0: gemm_threads(); otherwise the most threads to use
  std::optional<Isa> isa;  // empty: active_isa(); otherwise must be isa_supported()
  GemmExtension extension = GemmExtension::best;
};

// Threads: a persistent pool of std::threads splits C into row (and, for thin problems, column)
// ranges; problems under ~4 M multiply-adds run on the calling thread. Each thread keeps its
// packing buffers between calls (up to ~8 MiB of packed A plus two packed B blocks). Concurrent
// callers are safe: while one call uses the pool, another runs on its own thread alone.
// AMX: the first call that may use AMX asks Linux for the tile-data permission (arch_prctl
// ARCH_REQ_XCOMP_PERM), which is process-wide.
//
// Default thread count of every GEMM; 0 restores "all cores" (std::thread::hardware_concurrency).
void set_gemm_threads(unsigned threads);
unsigned gemm_threads();

// k block of the documented summation order above.
inline constexpr int64_t gemm_k_block = 512;

// Largest k for which every u8 x i8 sum (and its zero-point correction) is exact in i32:
// |sum_p (a_p - zp) * b_p| <= 255 * 128 * k <= 2^31 - 1.
inline constexpr int64_t gemm_u8i8_max_k = 65793;

// C <- alpha * op(A) * op(B) + beta * C with the CBLAS argument list and meaning. op(A) is m x k,
// op(B) is k x n, C is m x n; ld* >= max(1, length of a stored row (row-major) or column
// (column-major)). beta == 0 overwrites C without reading it (NaN in C is ignored); alpha == 0 or
// k == 0 leaves only the beta step. C must not overlap A or B when alpha != 0 and k > 0.
void sgemm(GemmOrder order, GemmTranspose trans_a, GemmTranspose trans_b, int64_t m, int64_t n,
           int64_t k, float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
           float beta, float *c, int64_t ldc, const GemmOptions &options = {});
// The same with CBLAS integer codes (101/102, 111/112/113); other codes throw.
void sgemm(int order, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
           int64_t ldc, const GemmOptions &options = {});

// sgemm with A and B in bf16 (upper halves of f32 bit patterns, stored as uint16_t), f32 C;
// same arguments, validation and alpha/beta rules as sgemm. Each product of two bf16 values is
// exact in f32, so the exact-rounding path (extension none) is the sgemm summation order above
// and bit-identical on every ISA. The vdpbf16ps / AMX paths sum in another order (pairs of
// products, their own k blocks), treat subnormal bf16 inputs as zero and flush subnormal results:
// when no input, product or partial sum is subnormal, the result satisfies
//   |C - C_exact| <= (k + 2) * 2^-24 * (|alpha| * sum_p |a_ip * b_pj| + |beta * C_ij|)
// where C_exact is the real-number result (the tests check this bound; with small integers, where
// every sum is exact, all paths give the exact result).
// Subnormals (SEMANTICS.md §9.2): the default options choose vdpbf16ps or AMX where the CPU has
// them, so by default a subnormal bf16 input counts as zero and a subnormal result becomes zero.
// GemmExtension::none keeps both, on every ISA (tests: GemmBf16.Subnormals...).
void gemm_bf16(GemmOrder order, GemmTranspose trans_a, GemmTranspose trans_b, int64_t m, int64_t n,
               int64_t k, float alpha, const uint16_t *a, int64_t lda, const uint16_t *b,
               int64_t ldb, float beta, float *c, int64_t ldc, const GemmOptions &options = {});

// Row-major, no transposes: C[i,j] = sum_p u8(A[i,p]) * i8(B[p,j]) for A m x k (lda >= k),
// B k x n (ldb >= n), C m x n (ldc >= n). C is overwritten. k <= gemm_u8i8_max_k.
void gemm_u8i8_i32(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *b,
                   int64_t ldb, int32_t *c, int64_t ldc, const GemmOptions &options = {});

// Dequantising, per tensor (SEMANTICS.md §9.3), A asymmetric u8 (scale_a, zero_point_a in
// [0, 255]), B symmetric i8 (scale_b):
//   C[i,j] = f32(sum_p A[i,p]*B[p,j] - zero_point_a * sum_p B[p,j]) * (scale_a * scale_b)
// with the integer part exact and the product scale_a * scale_b rounded once to f32.
void gemm_u8i8_f32(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *b,
                   int64_t ldb, float *c, int64_t ldc, float scale_a, int32_t zero_point_a,
                   float scale_b, const GemmOptions &options = {});

// Dequantising, per channel: A quantised per row i (a_scales[m], a_zero_points[m] in [0, 255]),
// B per output column j (b_scales[n]):
//   C[i,j] = f32(sum_p A[i,p]*B[p,j] - a_zero_points[i] * sum_p B[p,j]) * a_scales[i] * b_scales[j]
// evaluated left to right in f32.
void gemm_u8i8_f32_per_channel(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda,
                               const int8_t *b, int64_t ldb, float *c, int64_t ldc,
                               const float *a_scales, const int32_t *a_zero_points,
                               const float *b_scales, const GemmOptions &options = {});

// Which kernel a call with these options would run, e.g. "f32 avx512 14x32" or
// "bf16 amx 32x32" ("sgemm", "bf16" or "u8i8" for kind). Throws like the GEMMs for bad options.
std::string gemm_kernel_name(const std::string &kind, const GemmOptions &options = {});

}  // namespace jitson
