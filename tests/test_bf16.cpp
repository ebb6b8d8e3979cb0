// f32 <-> bf16 conversions (SEMANTICS.md §9.2 and its JITSON RULE): the scalar forms against
// an independent bit-level oracle written from the spec, and every vectorised form (each ISA
// this CPU runs, with and without vcvtne2ps2bf16) against the scalar forms.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "jitson/bf16.hpp"
#include "jitson/cpu.hpp"
#include "jitson/error.hpp"

namespace {

using jitson::Isa;

float from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
uint32_t bits_of(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// The spec, verbatim: NaN -> (bits >> 16) | 0x0040; otherwise (bits + 0x7FFF + lsb) >> 16.
uint16_t oracle_round(uint32_t bits) {
  const bool nan = (bits & 0x7F800000u) == 0x7F800000u && (bits & 0x007FFFFFu) != 0;
  if (nan) return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  const uint64_t sum = uint64_t{bits} + 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(sum >> 16);
}

TEST(Bf16Convert, SpecExamples) {
  EXPECT_EQ(jitson::f32_to_bf16(from_bits(0x3F808000)), 0x3F80);  // tie, lsb 0: down
  EXPECT_EQ(jitson::f32_to_bf16(from_bits(0x3F818000)), 0x3F82);  // tie, lsb 1: up to even
  EXPECT_EQ(jitson::f32_to_bf16(from_bits(0x3F808001)), 0x3F81);  // above the tie: up
  EXPECT_EQ(jitson::f32_to_bf16(from_bits(0x3F807FFF)), 0x3F80);  // below the tie: down
}

TEST(Bf16Convert, NaNStaysNaNWithItsSignAndBecomesQuiet) {
  EXPECT_EQ(jitson::f32_to_bf16(from_bits(0x7F800001)), 0x7FC0);  // seed gave +Inf
  EXPECT_EQ(jitson::f32_to_bf16(from_bits(0xFF800001)), 0xFFC0);  // sign kept
  EXPECT_EQ(jitson::f32_to_bf16(from_bits(0x7FFFFFFF)), 0x7FFF);  // seed wrapped to -0
  EXPECT_EQ(jitson::f32_to_bf16(from_bits(0x7FC00000)), 0x7FC0);  // quiet stays quiet
  EXPECT_EQ(jitson::f32_to_bf16(from_bits(0x7FA00000)), 0x7FE0);  // signalling: quiet bit set
  EXPECT_EQ(jitson::f32_to_bf16(from_bits(0xFFFFFFFF)), 0xFFFF);
  // Truncation is truncation: low-payload NaNs become infinities by name.
  EXPECT_EQ(jitson::f32_to_bf16_truncate(from_bits(0x7F800001)), 0x7F80);
}

TEST(Bf16Convert, InfinityZeroSubnormalsAndOverflow) {
  EXPECT_EQ(jitson::f32_to_bf16(from_bits(0x7F800000)), 0x7F80);  // +Inf
  EXPECT_EQ(jitson::f32_to_bf16(from_bits(0xFF800000)), 0xFF80);  // -Inf
  EXPECT_EQ(jitson::f32_to_bf16(0.0f), 0x0000);
  EXPECT_EQ(jitson::f32_to_bf16(-0.0f), 0x8000);                  // -0 keeps its sign
  EXPECT_EQ(jitson::f32_to_bf16(from_bits(0x7F7FFFFF)), 0x7F80);  // max finite rounds to +Inf
  EXPECT_EQ(jitson::f32_to_bf16(from_bits(0xFF7FFFFF)), 0xFF80);  // and -max to -Inf
  EXPECT_EQ(jitson::f32_to_bf16(from_bits(0x7F7F7FFF)), 0x7F7F);  // just below the tie: finite
  EXPECT_EQ(jitson::f32_to_bf16(from_bits(0x007FFFFF)), 0x0080);  // subnormal rounds up to normal
  EXPECT_EQ(jitson::f32_to_bf16(from_bits(0x00018000)), 0x0002);  // subnormal tie, lsb 1: up
  EXPECT_EQ(jitson::f32_to_bf16(from_bits(0x00008000)), 0x0000);  // subnormal tie, lsb 0: down
  EXPECT_EQ(jitson::f32_to_bf16(from_bits(0x80400000)), 0x8040);  // negative subnormal exact
  EXPECT_EQ(jitson::f32_to_bf16_truncate(from_bits(0x3F81FFFF)), 0x3F81);
  EXPECT_EQ(jitson::bf16_to_f32(0x3F80), 1.0f);
  EXPECT_EQ(bits_of(jitson::bf16_to_f32(0x8000)), 0x80000000u);
}

// Every high half with a spread of low halves: ties, just-below/above ties, NaN payloads.
std::vector<float> interesting_inputs() {
  const uint32_t lows[] = {0x0000, 0x0001, 0x3FFF, 0x7FFF, 0x8000, 0x8001, 0xBFFF, 0xFFFF};
  std::vector<float> out;
  out.reserve(65536 * (std::size(lows) + 2));
  std::mt19937 rng(42);
  for (uint32_t hi = 0; hi < 65536; ++hi) {
    for (uint32_t lo : lows) out.push_back(from_bits(hi << 16 | lo));
    out.push_back(from_bits(hi << 16 | (rng() & 0xFFFF)));
    out.push_back(from_bits(hi << 16 | (rng() & 0xFFFF)));
  }
  return out;
}

TEST(Bf16Convert, ScalarMatchesTheBitLevelOracle) {
  for (float f : interesting_inputs()) {
    const uint32_t b = bits_of(f);
    ASSERT_EQ(jitson::f32_to_bf16(f), oracle_round(b)) << std::hex << b;
    ASSERT_EQ(jitson::f32_to_bf16_truncate(f), uint16_t(b >> 16)) << std::hex << b;
  }
}

TEST(Bf16Convert, NoNaNEverBecomesAnInfinityOrANumber) {
  for (float f : interesting_inputs()) {
    if (f == f) continue;
    const uint16_t h = jitson::f32_to_bf16(f);
    ASSERT_EQ(h & 0x7F80, 0x7F80);
    ASSERT_NE(h & 0x007F, 0) << std::hex << bits_of(f);
    ASSERT_EQ(h & 0x8000, (bits_of(f) >> 16) & 0x8000);
  }
}

TEST(Bf16Convert, EveryBf16RoundTripsThroughF32) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = jitson::bf16_to_f32(uint16_t(h));
    ASSERT_EQ(bits_of(f), h << 16);
    const bool nan = (h & 0x7F80) == 0x7F80 && (h & 0x7F) != 0;
    ASSERT_EQ(jitson::f32_to_bf16(f), nan ? uint16_t(h | 0x40) : uint16_t(h));
    ASSERT_EQ(jitson::f32_to_bf16_truncate(f), uint16_t(h));
  }
}

struct Variant {
  Isa isa;
  bool bf16_instructions;
  std::string name() const {
    return std::string(jitson::isa_name(isa)) + (bf16_instructions ? "+bf16" : "");
  }
};

std::vector<Variant> variants() {
  std::vector<Variant> out;
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (!jitson::isa_supported(isa)) continue;
    out.push_back({isa, false});
    if (isa == Isa::avx512 && jitson::cpu_features().avx512bf16) out.push_back({isa, true});
  }
  return out;
}

TEST(Bf16Convert, EveryIsaMatchesTheScalarFormsAtEveryLengthAndOffset) {
  const std::vector<float> in = interesting_inputs();
  std::vector<uint16_t> want(in.size()), want_trunc(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    want[i] = jitson::f32_to_bf16(in[i]);
    want_trunc[i] = jitson::f32_to_bf16_truncate(in[i]);
  }
  for (const Variant &v : variants()) {
    // The whole set at once.
    std::vector<uint16_t> out(in.size());
    jitson::f32_to_bf16(in, out, v.isa, v.bf16_instructions);
    for (size_t i = 0; i < in.size(); ++i)
      ASSERT_EQ(out[i], want[i]) << v.name() << " index " << i << std::hex << " in "
                                 << bits_of(in[i]);
    jitson::f32_to_bf16_truncate(in, out, v.isa);
    ASSERT_EQ(out, want_trunc) << v.name();
    // Every length 0..70 at odd offsets, with guards around the output.
    for (size_t n = 0; n <= 70; ++n) {
      const size_t offset = 3 * n + 1;
      std::vector<uint16_t> guarded(n + 2, 0xABCD);
      std::span<uint16_t> dst(guarded.data() + 1, n);
      jitson::f32_to_bf16(std::span<const float>(in.data() + offset, n), dst, v.isa,
                          v.bf16_instructions);
      ASSERT_EQ(guarded.front(), 0xABCD);
      ASSERT_EQ(guarded.back(), 0xABCD) << v.name() << " n " << n;
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(dst[i], want[offset + i]) << v.name();
      jitson::f32_to_bf16_truncate(std::span<const float>(in.data() + offset, n), dst, v.isa);
      ASSERT_EQ(guarded.back(), 0xABCD);
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(dst[i], want_trunc[offset + i]) << v.name();
    }
  }
}

TEST(Bf16Convert, SubnormalInputsInsideVectorBlocksAreNotFlushed) {
  // vcvtne2ps2bf16 reads subnormals as zero; the AVX-512 BF16 path must still round them.
  std::vector<float> in(96, 1.5f);
  in[5] = from_bits(0x007FFFFF);
  in[40] = from_bits(0x80018000);
  in[77] = from_bits(0x00000001);
  for (const Variant &v : variants()) {
    std::vector<uint16_t> out(in.size());
    jitson::f32_to_bf16(in, out, v.isa, v.bf16_instructions);
    EXPECT_EQ(out[5], 0x0080) << v.name();
    EXPECT_EQ(out[40], 0x8002) << v.name();
    EXPECT_EQ(out[77], 0x0000) << v.name();
    EXPECT_EQ(out[0], jitson::f32_to_bf16(1.5f)) << v.name();
  }
}

TEST(Bf16Convert, WideningMatchesOnEveryIsa) {
  std::vector<uint16_t> in(65536 + 37);
  for (size_t i = 0; i < in.size(); ++i) in[i] = uint16_t(i * 40503u);
  for (const Variant &v : variants()) {
    for (size_t n :
         {size_t(0), size_t(1), size_t(7), size_t(8), size_t(15), size_t(17), in.size()}) {
      std::vector<float> guarded(n + 2, 7.0f);
      std::span<float> dst(guarded.data() + 1, n);
      jitson::bf16_to_f32(std::span<const uint16_t>(in.data(), n), dst, v.isa);
      ASSERT_EQ(guarded.front(), 7.0f);
      ASSERT_EQ(guarded.back(), 7.0f);
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(bits_of(dst[i]), uint32_t{in[i]} << 16);
    }
  }
}

TEST(Bf16Convert, SpanFormsCheckTheirArguments) {
  std::vector<float> f(8);
  std::vector<uint16_t> h(7);
  EXPECT_THROW(jitson::f32_to_bf16(f, h), jitson::Error);
  EXPECT_THROW(jitson::f32_to_bf16_truncate(f, h), jitson::Error);
  EXPECT_THROW(jitson::bf16_to_f32(h, f), jitson::Error);
  // Overlapping input and output.
  std::vector<float> buf(16);
  std::span<uint16_t> alias(reinterpret_cast<uint16_t *>(buf.data()),  // overlap on purpose
                            8);
  try {
    jitson::f32_to_bf16(std::span<const float>(buf.data(), 8), alias);
    FAIL() << "overlap accepted";
  } catch (const jitson::Error &e) {
    EXPECT_EQ(e.kind(), jitson::ErrorKind::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("overlap"), std::string::npos);
  }
  // The default forms use active_isa() and agree with the scalar ones.
  std::vector<float> in = {1.0f, from_bits(0x3F818000), from_bits(0x7F800001), -0.0f};
  std::vector<uint16_t> out(4);
  jitson::f32_to_bf16(in, out);
  EXPECT_EQ(out, (std::vector<uint16_t>{0x3F80, 0x3F82, 0x7FC0, 0x8000}));
}

}  // namespace
