// The kernel tables, one per ISA, and the span wrappers over the active one.
#include <string>

#include "jitson/error.hpp"
#include "jitson/kernels.hpp"
#include "kernels/kernels_internal.hpp"

namespace jitson {
namespace {

const KernelTable kScalarTable = {
    Isa::scalar,
    impl::hamming_scalar,
    impl::hamming_masked_scalar,
    impl::energy_conflict_scalar,
    impl::dot_i8_scalar,
    impl::bf16_distance_scalar,
    impl::bf16_awareness_scalar,
    impl::hamming_many_scalar,
    impl::word_popcounts_scalar,
    impl::select_word_overlap_scalar,
    impl::hamming_tile_scalar,
};

const KernelTable kAvx2Table = {
    Isa::avx2,
    impl::hamming_avx2,
    impl::hamming_masked_avx2,
    impl::energy_conflict_avx2,
    impl::dot_i8_avx2,
    impl::bf16_distance_avx2,
    impl::bf16_awareness_avx2,
    impl::hamming_many_avx2,
    impl::word_popcounts_avx2,
    impl::select_word_overlap_avx2,
    impl::hamming_tile_avx2,
};

// The avx512 tier guarantees F/BW/VL/VPOPCNTDQ only; dot_i8 uses vpdpbusd when the CPU also has
// VNNI, decided once here.
KernelTable make_avx512_table() {
  return {
      Isa::avx512,
      impl::hamming_avx512,
      impl::hamming_masked_avx512,
      impl::energy_conflict_avx512,
      cpu_features().avx512vnni ? impl::dot_i8_avx512vnni : impl::dot_i8_avx512,
      impl::bf16_distance_avx512,
      impl::bf16_awareness_avx512,
      impl::hamming_many_avx512,
      impl::word_popcounts_avx512,
      impl::select_word_overlap_avx512,
      impl::hamming_tile_avx512,
  };
}

void require_same_length(size_t a, size_t b, const char *what) {
  if (a != b) {
    throw Error(ErrorKind::invalid_argument, std::string(what) + ": lengths differ (" +
                                                 std::to_string(a) + " and " + std::to_string(b) +
                                                 "); both operands must have the same length");
  }
}

}  // namespace

const KernelTable &kernel_table(Isa isa) {
  if (!isa_supported(isa)) {
    throw Error(ErrorKind::unsupported,
                std::string("ISA ") + isa_name(isa) +
                    " is not supported by this CPU (best available: " + isa_name(best_isa()) + ")");
  }
  switch (isa) {
    case Isa::scalar:
      return kScalarTable;
    case Isa::avx2:
      return kAvx2Table;
    case Isa::avx512: {
      static const KernelTable table = make_avx512_table();
      return table;
    }
  }
  throw Error(ErrorKind::invalid_argument,
              "unknown ISA value " + std::to_string(int(isa)) + " (allowed: scalar, avx2, avx512)");
}

const KernelTable &kernels() {
  static const KernelTable &table = kernel_table(active_isa());
  return table;
}

uint64_t hamming(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  require_same_length(a.size(), b.size(), "hamming");
  return kernels().hamming(a.data(), b.data(), a.size());
}

uint64_t hamming_masked(std::span<const uint8_t> a, std::span<const uint8_t> b,
                        std::span<const uint8_t> mask) {
  require_same_length(a.size(), b.size(), "hamming_masked");
  if (mask.size() != a.size()) {
    throw Error(ErrorKind::invalid_argument,
                "hamming_masked: mask length " + std::to_string(mask.size()) +
                    " differs from operand length " + std::to_string(a.size()) +
                    "; the mask must have the same length as the operands");
  }
  return kernels().hamming_masked(a.data(), b.data(), mask.data(), a.size());
}

EnergyConflict energy_conflict(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  require_same_length(a.size(), b.size(), "energy_conflict");
  return kernels().energy_conflict(a.data(), b.data(), a.size());
}

int64_t dot_i8(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  require_same_length(a.size(), b.size(), "dot_i8");
  return kernels().dot_i8(a.data(), b.data(), a.size());
}

uint64_t bf16_distance(std::span<const uint16_t> a, std::span<const uint16_t> b, BF16Weights w) {
  require_same_length(a.size(), b.size(), "bf16_distance");
  return kernels().bf16_distance(a.data(), b.data(), a.size(), w);
}

BF16Weights BF16Weights::make(uint16_t sign, uint16_t exponent, uint16_t mantissa) {
  const uint32_t per_element_max = uint32_t(sign) + 8u * exponent + 7u * mantissa;
  if (per_element_max > 65535) {
    throw Error(ErrorKind::invalid_argument,
                "BF16Weights: sign + 8*exponent + 7*mantissa = " + std::to_string(sign) + " + 8*" +
                    std::to_string(exponent) + " + 7*" + std::to_string(mantissa) + " = " +
                    std::to_string(per_element_max) +
                    " exceeds 65535 (the per-dimension cost must fit in 16 bits)");
  }
  return BF16Weights{sign, exponent, mantissa};
}

}  // namespace jitson
