// The C API's GEMM and bf16 conversions: the C++ entry points of gemm.hpp and bf16.hpp with
// default options, their exceptions turned into -1 and a message, so C and Fortran callers need
// no C++ shim.
#include <span>
#include <string>

#include "jit/capi_internal.hpp"
#include "jitson/bf16.hpp"
#include "jitson/error.hpp"
#include "jitson/gemm.hpp"

namespace {

// Wraps a GEMM call: 0 on success, -1 and the C++ message (which names the argument) otherwise.
template <class Body>
int status_of(char *err, size_t err_len, Body body) {
  return guarded<int>(err, err_len, -1, [&] {
    body();
    return 0;
  });
}

// Spans over C arrays: a NULL pointer is allowed only for n == 0, which std::span needs anyway.
template <class T>
std::span<T> array(const char *fn, const char *name, T *p, size_t n) {
  if (!p && n > 0) {
    throw jitson::Error(jitson::ErrorKind::invalid_argument,
                        std::string(fn) + ": " + name + " is NULL but n is " + std::to_string(n));
  }
  return p ? std::span<T>(p, n) : std::span<T>();
}

}  // namespace

extern "C" {

int jitson_sgemm(int order, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc, char *err, size_t err_len) {
  return status_of(err, err_len, [&] {
    jitson::sgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  });
}

namespace {
int gemm_bf16_with(jitson::GemmExtension extension, int order, int trans_a, int trans_b, int64_t m,
                   int64_t n, int64_t k, float alpha, const uint16_t *a, int64_t lda,
                   const uint16_t *b, int64_t ldb, float beta, float *c, int64_t ldc, char *err,
                   size_t err_len) {
  return status_of(err, err_len, [&] {
    jitson::GemmOptions options;
    options.extension = extension;
    // Any int is a value of these enums (fixed underlying type); gemm_bf16 rejects codes other
    // than the CBLAS ones with a message naming the argument.
    jitson::gemm_bf16(jitson::GemmOrder(order), jitson::GemmTranspose(trans_a),
                      jitson::GemmTranspose(trans_b), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                      options);
  });
}
}  // namespace

int jitson_gemm_bf16(int order, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                     float alpha, const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb,
                     float beta, float *c, int64_t ldc, char *err, size_t err_len) {
  return gemm_bf16_with(jitson::GemmExtension::best, order, trans_a, trans_b, m, n, k, alpha, a,
                        lda, b, ldb, beta, c, ldc, err, err_len);
}

int jitson_gemm_bf16_exact(int order, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                           float alpha, const uint16_t *a, int64_t lda, const uint16_t *b,
                           int64_t ldb, float beta, float *c, int64_t ldc, char *err,
                           size_t err_len) {
  return gemm_bf16_with(jitson::GemmExtension::none, order, trans_a, trans_b, m, n, k, alpha, a,
                        lda, b, ldb, beta, c, ldc, err, err_len);
}

int jitson_gemm_u8i8_i32(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda,
                         const int8_t *b, int64_t ldb, int32_t *c, int64_t ldc, char *err,
                         size_t err_len) {
  return status_of(err, err_len, [&] { jitson::gemm_u8i8_i32(m, n, k, a, lda, b, ldb, c, ldc); });
}

int jitson_gemm_u8i8_f32(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda,
                         const int8_t *b, int64_t ldb, float *c, int64_t ldc, float scale_a,
                         int32_t zero_point_a, float scale_b, char *err, size_t err_len) {
  return status_of(err, err_len, [&] {
    jitson::gemm_u8i8_f32(m, n, k, a, lda, b, ldb, c, ldc, scale_a, zero_point_a, scale_b);
  });
}

int jitson_gemm_u8i8_f32_per_channel(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda,
                                     const int8_t *b, int64_t ldb, float *c, int64_t ldc,
                                     const float *a_scales, const int32_t *a_zero_points,
                                     const float *b_scales, char *err, size_t err_len) {
  return status_of(err, err_len, [&] {
    jitson::gemm_u8i8_f32_per_channel(m, n, k, a, lda, b, ldb, c, ldc, a_scales, a_zero_points,
                                      b_scales);
  });
}

void jitson_gemm_set_threads(unsigned threads) {
  jitson::set_gemm_threads(threads);
}

int jitson_f32_to_bf16(const float *in, uint16_t *out, size_t n, char *err, size_t err_len) {
  return status_of(err, err_len, [&] {
    const char *fn = "f32_to_bf16";
    jitson::f32_to_bf16(array(fn, "in", in, n), array(fn, "out", out, n));
  });
}

int jitson_f32_to_bf16_truncate(const float *in, uint16_t *out, size_t n, char *err,
                                size_t err_len) {
  return status_of(err, err_len, [&] {
    const char *fn = "f32_to_bf16_truncate";
    jitson::f32_to_bf16_truncate(array(fn, "in", in, n), array(fn, "out", out, n));
  });
}

int jitson_bf16_to_f32(const uint16_t *in, float *out, size_t n, char *err, size_t err_len) {
  return status_of(err, err_len, [&] {
    const char *fn = "bf16_to_f32";
    jitson::bf16_to_f32(array(fn, "in", in, n), array(fn, "out", out, n));
  });
}

}  // extern "C"
