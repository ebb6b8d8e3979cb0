// popcount_words: planning code counts focus bits several times per compile. Built for the
// baseline ISA, std::popcount is a libgcc call per word; target_clones adds a POPCNT build that
// the loader picks once (ifunc) where the CPU has the instruction.
#include <bit>

#include "jitson/kernels.hpp"

namespace jitson {

namespace {

__attribute__((target_clones("popcnt", "default"))) uint64_t count_bits(const uint64_t *w,
                                                                        size_t n) {
  uint64_t bits = 0;
  for (size_t i = 0; i < n; ++i) bits += uint64_t(std::popcount(w[i]));
  return bits;
}

}  // namespace

uint64_t popcount_words(std::span<const uint64_t> words) {
  return count_bits(words.data(), words.size());
}

}  // namespace jitson
