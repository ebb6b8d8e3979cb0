// f32 <-> bf16 conversions (shared/spec/SEMANTICS.md §9.2). bf16 is the upper 16 bits of an f32
// bit pattern, stored as uint16_t.
//  - bf16 -> f32: shift left by 16 (exact).
//  - f32 -> bf16, rounded: round to nearest, ties to even, on the bit pattern; a NaN becomes a
//    quiet NaN with its sign and its upper payload bits kept (bits >> 16 | 0x0040), so no NaN turns
//    into an infinity or a zero. Subnormals round like any other value (no flush to zero);
//    the largest finite values round up to infinity.
//  - f32 -> bf16, truncated: drop the low 16 bits (NaNs whose payload sits only in the low bits
//    become infinities: that is what truncation means; use the rounded form to keep NaNs).
// The span forms run vectorised (AVX-512 BF16 vcvtne2ps2bf16 with a subnormal fix-up, AVX-512,
// AVX2 or scalar, chosen once from active_isa()) and give the same bits as the scalar forms.
#pragma once

#include <bit>
#include <cstdint>
#include <span>

#include "jitson/cpu.hpp"

namespace jitson {

constexpr float bf16_to_f32(uint16_t x) {
  return std::bit_cast<float>(uint32_t{x} << 16);
}

constexpr uint16_t f32_to_bf16(float x) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  // No wraparound: the largest non-NaN pattern 0xFF800000 plus 0x8000 stays below 2^32.
  return static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

constexpr uint16_t f32_to_bf16_truncate(float x) {
  return static_cast<uint16_t>(std::bit_cast<uint32_t>(x) >> 16);
}

// Element-wise over spans of equal length (Error(invalid_argument) otherwise). Input and output
// must not overlap.
void f32_to_bf16(std::span<const float> in, std::span<uint16_t> out);
void f32_to_bf16_truncate(std::span<const float> in, std::span<uint16_t> out);
void bf16_to_f32(std::span<const uint16_t> in, std::span<float> out);

// The same on a given ISA (Error(unsupported) if this CPU cannot run it); for tests and
// benchmarks. use_bf16_instructions picks vcvtne2ps2bf16 on AVX-512 when the CPU has it.
void f32_to_bf16(std::span<const float> in, std::span<uint16_t> out, Isa isa,
                 bool use_bf16_instructions = true);
void f32_to_bf16_truncate(std::span<const float> in, std::span<uint16_t> out, Isa isa);
void bf16_to_f32(std::span<const uint16_t> in, std::span<float> out, Isa isa);

}  // namespace jitson
