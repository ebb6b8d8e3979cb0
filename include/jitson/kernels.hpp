// Precompiled runtime kernels, reached through a table of function pointers filled once.
// Pure compute on caller memory: no allocation, no I/O, any alignment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "jitson/cpu.hpp"

namespace jitson {

// One pass over two bit strings (shared/spec/SEMANTICS.md §2.2).
struct EnergyConflict {
  uint32_t conflict = 0;   // popcount(a ^ b)
  uint32_t energy_a = 0;   // popcount(a)
  uint32_t energy_b = 0;   // popcount(b)
  uint32_t agreement = 0;  // popcount(a & b)
  bool operator==(const EnergyConflict &) const = default;
};

// BF16 structured-distance weights (SEMANTICS.md §2.4).
struct BF16Weights {
  uint16_t sign = 256, exponent = 16, mantissa = 1;
  static constexpr BF16Weights defaults() { return {256, 16, 1}; }
  static constexpr BF16Weights jina() { return {256, 32, 1}; }
  static constexpr BF16Weights training() { return {1024, 64, 0}; }
  // Throws Error(invalid_argument) unless sign + 8*exponent + 7*mantissa <= 65535.
  static BF16Weights make(uint16_t sign, uint16_t exponent, uint16_t mantissa);
  bool operator==(const BF16Weights &) const = default;
};

// Awareness thresholds (SEMANTICS.md §2.5).
struct AwarenessThresholds {
  uint8_t sign_consensus = 192;
  uint8_t exp_spread = 2;
  uint8_t mantissa_noise = 1;
};

enum class Awareness : uint8_t { crystallized = 0, tensioned = 1, uncertain = 2, noise = 3 };

// One 64-byte line of a record as hamming_tile reads it: bit w of `words` selects word w of the
// line (the bytes [offset + 8w, offset + 8w + 8) of every record and query; unselected words are
// never touched), and when `masked` each selected word is AND-ed with mask[w] first.
struct TileLine {
  uint32_t offset = 0;
  uint8_t words = 0xFF;
  bool masked = false;
  uint64_t mask[8] = {};
};
// Queries one hamming_tile call compares at once: four queries against four records keep 16
// accumulators and 8 loaded lines in the 32 zmm registers.
inline constexpr size_t kMaxTileQueries = 4;

// The dispatch table. Byte lengths may be any value (tails handled); pointers may be unaligned.
struct KernelTable {
  Isa isa;
  // popcount(a ^ b) over n bytes.
  uint64_t (*hamming)(const uint8_t *a, const uint8_t *b, size_t n);
  // popcount((a ^ b) & mask) over n bytes.
  uint64_t (*hamming_masked)(const uint8_t *a, const uint8_t *b, const uint8_t *mask, size_t n);
  EnergyConflict (*energy_conflict)(const uint8_t *a, const uint8_t *b, size_t n);
  // Σ int8(a[i]) * int8(b[i]), exact for any n.
  int64_t (*dot_i8)(const uint8_t *a, const uint8_t *b, size_t n);
  // Σ_d cost_d over n_dims BF16 values (SEMANTICS.md §2.4).
  uint64_t (*bf16_distance)(const uint16_t *a, const uint16_t *b, size_t n_dims, BF16Weights w);
  // Per-dimension awareness of 2 or 3 vectors (SEMANTICS.md §2.5): writes n_dims states and,
  // when not null, sign consensus, exponent spread and mantissa-noise flags per dimension.
  void (*bf16_awareness)(const uint16_t *const *vectors, size_t n_vectors, size_t n_dims,
                         AwarenessThresholds t, uint8_t *states, uint8_t *consensus,
                         uint8_t *exp_spread, uint8_t *mantissa_noise);
  // out[i] = hamming(query, records + i*stride, n) for i < count: the scan's inner loop.
  void (*hamming_many)(const uint8_t *query, const uint8_t *records, size_t stride, size_t count,
                       size_t n, uint32_t *out);
  // Word popcounts of count records of n bytes (n a multiple of 8), stride bytes apart:
  // out[i * (n / 8) + w] = popcount of 64-bit word w of record i (0..64).
  void (*word_popcounts)(const uint8_t *records, size_t stride, size_t count, size_t n,
                         uint8_t *out);
  // The records whose word-count overlap with the query's reaches need: writes, in ascending
  // order, every i < count with sum over w < n_words of min(query_counts[w],
  // counts[i * n_words + w]) >= need to selected, and returns how many. The overlap bounds the
  // intersection popcount(q & r) from above (the Tanimoto word-count bound, jitson/popcount.hpp).
  size_t (*select_word_overlap)(const uint8_t *query_counts, const uint8_t *counts, size_t n_words,
                                size_t count, uint32_t need, uint32_t *selected);
  // Masked distances of n_queries (1..kMaxTileQueries) queries to count records, stride bytes
  // apart: out[q * count + i] = sum over the lines of popcount of the selected words of
  // (queries[q] ^ record i), each AND-ed with its mask when the line is masked. Each record's
  // lines are read once for all the queries (the batch scan's register tile).
  void (*hamming_tile)(const uint8_t *const *queries, size_t n_queries, const uint8_t *records,
                       size_t stride, size_t count, const TileLine *lines, size_t n_lines,
                       uint32_t *out);
};

// The table for one ISA; throws Error(unsupported) if this CPU cannot run it.
const KernelTable &kernel_table(Isa isa);
// The table for active_isa().
const KernelTable &kernels();

// Convenience wrappers over kernels(); lengths must match (Error(invalid_argument) otherwise).
uint64_t hamming(std::span<const uint8_t> a, std::span<const uint8_t> b);
uint64_t hamming_masked(std::span<const uint8_t> a, std::span<const uint8_t> b,
                        std::span<const uint8_t> mask);
EnergyConflict energy_conflict(std::span<const uint8_t> a, std::span<const uint8_t> b);
int64_t dot_i8(std::span<const uint8_t> a, std::span<const uint8_t> b);
uint64_t bf16_distance(std::span<const uint16_t> a, std::span<const uint16_t> b,
                       BF16Weights w = BF16Weights::defaults());

// Set bits in a word array, for planning (focus masks), not for scans.
uint64_t popcount_words(std::span<const uint64_t> words);

}  // namespace jitson
