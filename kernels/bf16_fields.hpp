// BF16 bit fields (SEMANTICS.md §1.4): bit 15 sign, bits 14..7 exponent, bits 6..0 mantissa.
#pragma once

#include <cstdint>

namespace jitson::impl {

inline constexpr uint16_t kBf16SignBits = 0x8000;
inline constexpr uint16_t kBf16ExponentBits = 0x7F80;
inline constexpr uint16_t kBf16MantissaBits = 0x007F;
// The same fields repeated in the four 16-bit lanes of a u64.
inline constexpr uint64_t kBf16SignBits64 = 0x8000800080008000ull;
inline constexpr uint64_t kBf16ExponentBits64 = 0x7F807F807F807F80ull;
inline constexpr uint64_t kBf16MantissaBits64 = 0x007F007F007F007Full;

}  // namespace jitson::impl
