// Scalar twin of dot_i8: the exact sum in i64 (no i32 stage, so no flush is needed).
#include "kernels/kernels_internal.hpp"

namespace jitson::impl {

int64_t dot_i8_scalar(const uint8_t *a, const uint8_t *b, size_t n) {
  int64_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum += int64_t(int8_t(a[i])) * int64_t(int8_t(b[i]));
  return sum;
}

}  // namespace jitson::impl
