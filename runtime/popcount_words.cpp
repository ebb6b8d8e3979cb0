// popcount_words: planning code counts focus bits several times per compile. Built for the
// baseline ISA, std::popcount is a libgcc call per word; a POPCNT build runs wherever the CPU
// has the instruction. Chosen once from cpuid (cpu_features), not with
// target_clones: an ifunc resolver runs before the sanitizers' runtimes start and crashes
// ThreadSanitizer builds.
#include <bit>

#include "jitson/cpu.hpp"
#include "jitson/kernels.hpp"

namespace jitson {

namespace {

inline uint64_t count_bits(const uint64_t *w, size_t n) {
  uint64_t bits = 0;
  for (size_t i = 0; i < n; ++i) bits += uint64_t(std::popcount(w[i]));
  return bits;
}

uint64_t count_bits_baseline(const uint64_t *w, size_t n) {
  return count_bits(w, n);
}

__attribute__((target("popcnt"))) uint64_t count_bits_popcnt(const uint64_t *w, size_t n) {
  return count_bits(w, n);  // inlined here, so built with POPCNT
}

}  // namespace

uint64_t popcount_words(std::span<const uint64_t> words) {
  static const auto count = cpu_features().popcnt ? count_bits_popcnt : count_bits_baseline;
  return count(words.data(), words.size());
}

}  // namespace jitson
