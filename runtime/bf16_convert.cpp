// f32 <-> bf16 span conversions: argument checks and the per-ISA choice (made once per call from
// a table, never per element). The kernels are in bf16_convert_avx512.cpp / _avx2.cpp.
#include <cstddef>
#include <cstdint>
#include <string>

#include "jitson/bf16.hpp"
#include "jitson/error.hpp"

namespace jitson {
namespace bf16_detail {

void f32_to_bf16_avx512(const float *in, uint16_t *out, size_t n);
void f32_to_bf16_avx512bf16(const float *in, uint16_t *out, size_t n);
void f32_to_bf16_truncate_avx512(const float *in, uint16_t *out, size_t n);
void bf16_to_f32_avx512(const uint16_t *in, float *out, size_t n);
void f32_to_bf16_avx2(const float *in, uint16_t *out, size_t n);
void f32_to_bf16_truncate_avx2(const float *in, uint16_t *out, size_t n);
void bf16_to_f32_avx2(const uint16_t *in, float *out, size_t n);

namespace {

void f32_to_bf16_scalar(const float *in, uint16_t *out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = f32_to_bf16(in[i]);
}
void f32_to_bf16_truncate_scalar(const float *in, uint16_t *out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = f32_to_bf16_truncate(in[i]);
}
void bf16_to_f32_scalar(const uint16_t *in, float *out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = bf16_to_f32(in[i]);
}

void check(const char *fn, size_t in_size, size_t out_size, const void *in, size_t in_bytes,
           const void *out, size_t out_bytes) {
  if (in_size != out_size)
    throw Error(ErrorKind::invalid_argument,
                std::string(fn) + ": input has " + std::to_string(in_size) +
                    " elements but output has " + std::to_string(out_size) +
                    "; the lengths must be equal");
  const auto a = reinterpret_cast<uintptr_t>(in);  // addresses compared only
  const auto b = reinterpret_cast<uintptr_t>(out);
  if (in_size != 0 && a < b + out_bytes && b < a + in_bytes)
    throw Error(ErrorKind::invalid_argument,
                std::string(fn) + ": input and output overlap; they must be separate buffers");
}

Isa checked(Isa isa) {
  if (!isa_supported(isa))
    throw Error(ErrorKind::unsupported, std::string("bf16 conversion: isa ") + isa_name(isa) +
                                            " is not supported by this CPU");
  return isa;
}

}  // namespace
}  // namespace bf16_detail

using namespace bf16_detail;

void f32_to_bf16(std::span<const float> in, std::span<uint16_t> out, Isa isa,
                 bool use_bf16_instructions) {
  check("f32_to_bf16", in.size(), out.size(), in.data(), in.size_bytes(), out.data(),
        out.size_bytes());
  switch (checked(isa)) {
    case Isa::avx512:
      if (use_bf16_instructions && cpu_features().avx512bf16)
        f32_to_bf16_avx512bf16(in.data(), out.data(), in.size());
      else
        f32_to_bf16_avx512(in.data(), out.data(), in.size());
      return;
    case Isa::avx2:
      f32_to_bf16_avx2(in.data(), out.data(), in.size());
      return;
    case Isa::scalar:
      break;
  }
  f32_to_bf16_scalar(in.data(), out.data(), in.size());
}

void f32_to_bf16_truncate(std::span<const float> in, std::span<uint16_t> out, Isa isa) {
  check("f32_to_bf16_truncate", in.size(), out.size(), in.data(), in.size_bytes(), out.data(),
        out.size_bytes());
  switch (checked(isa)) {
    case Isa::avx512:
      f32_to_bf16_truncate_avx512(in.data(), out.data(), in.size());
      return;
    case Isa::avx2:
      f32_to_bf16_truncate_avx2(in.data(), out.data(), in.size());
      return;
    case Isa::scalar:
      break;
  }
  f32_to_bf16_truncate_scalar(in.data(), out.data(), in.size());
}

void bf16_to_f32(std::span<const uint16_t> in, std::span<float> out, Isa isa) {
  check("bf16_to_f32", in.size(), out.size(), in.data(), in.size_bytes(), out.data(),
        out.size_bytes());
  switch (checked(isa)) {
    case Isa::avx512:
      bf16_to_f32_avx512(in.data(), out.data(), in.size());
      return;
    case Isa::avx2:
      bf16_to_f32_avx2(in.data(), out.data(), in.size());
      return;
    case Isa::scalar:
      break;
  }
  bf16_to_f32_scalar(in.data(), out.data(), in.size());
}

void f32_to_bf16(std::span<const float> in, std::span<uint16_t> out) {
  f32_to_bf16(in, out, active_isa(), true);
}
void f32_to_bf16_truncate(std::span<const float> in, std::span<uint16_t> out) {
  f32_to_bf16_truncate(in, out, active_isa());
}
void bf16_to_f32(std::span<const uint16_t> in, std::span<float> out) {
  bf16_to_f32(in, out, active_isa());
}

}  // namespace jitson
