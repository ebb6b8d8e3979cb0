// BF16 paths over records read as BF16 vectors (shared/spec/SEMANTICS.md §1.4, §2.4, §2.5, §4.4):
// awareness decomposition of 2 or 3 vectors, 2-bit state packing, structural diffs, the batch
// forms the hybrid pipeline uses, and the learning signal fed back into hybrid weights.
//
// Everything dispatches through a KernelTable: kernels() by default (the active ISA, which
// honours JITSON_ISA), or kernel_table(isa) to force one. Every ISA gives identical results.
// A BF16 dimension d of a byte string is the little-endian u16 at bytes [2d, 2d+2); byte inputs
// may have any alignment.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "jitson/database.hpp"
#include "jitson/kernels.hpp"

namespace jitson {

// Per-dimension decomposition of 2 or 3 vectors (§2.5).
struct SuperpositionState {
  size_t n_dims = 0;
  // 255 · (pairs whose signs agree) / pairs: {0, 255} for 2 vectors, {0, 85, 170, 255} for 3.
  std::vector<uint8_t> sign_consensus;
  // Max over pairs of the number of differing exponent bits (0..8).
  std::vector<uint8_t> exp_spread;
  // 1 if some pair differs in more than mantissa_noise mantissa bits, else 0.
  std::vector<uint8_t> mantissa_noise;
  std::vector<Awareness> states;
  std::vector<uint8_t> packed_states;  // pack_awareness_states(states)
  // count / n_dims in float32 (fractions in [0, 1], not percent); all 0 when n_dims is 0.
  float crystallized_pct = 0, tensioned_pct = 0, uncertain_pct = 0, noise_pct = 0;
};

// 2 or 3 vectors of equal length; Error(invalid_argument) otherwise.
SuperpositionState superposition_decompose(std::span<const std::span<const uint16_t>> vectors,
                                           AwarenessThresholds thresholds = {},
                                           const KernelTable &kt = kernels());
// The same over byte strings (records): each of even length, all of equal length.
SuperpositionState superposition_decompose_bytes(std::span<const std::span<const uint8_t>> vectors,
                                                 AwarenessThresholds thresholds = {},
                                                 const KernelTable &kt = kernels());

// 4 states per byte, MSB first: state k at bits 7−2(k%4)..6−2(k%4) of byte k/4, so
// [Tensioned, Uncertain, Noise, Crystallized] → 0x6C. Length ceil(n/4); unused slots are 0.
std::vector<uint8_t> pack_awareness_states(std::span<const Awareness> states);
// packed must be exactly ceil(n_dims/4) bytes (Error(invalid_argument) otherwise).
std::vector<Awareness> unpack_awareness_states(std::span<const uint8_t> packed, size_t n_dims);

// What changed between two BF16 vectors (§2.4).
struct BF16StructuralDiff {
  uint64_t sign_flips = 0;                     // dims whose sign bit differs
  uint64_t exponent_bits_changed = 0;          // Σ differing exponent bits
  uint64_t mantissa_bits_changed = 0;          // Σ differing mantissa bits
  std::vector<size_t> sign_flip_dims;          // ascending
  std::vector<size_t> major_magnitude_shifts;  // dims with >= 2 differing exponent bits, ascending
  bool operator==(const BF16StructuralDiff &) const = default;
};

BF16StructuralDiff structural_diff(std::span<const uint16_t> a, std::span<const uint16_t> b,
                                   const KernelTable &kt = kernels());
// Byte strings of equal, even length.
BF16StructuralDiff structural_diff_bytes(std::span<const uint8_t> a, std::span<const uint8_t> b,
                                         const KernelTable &kt = kernels());
// Byte form of bf16_distance (kernels.hpp) for records.
uint64_t bf16_distance_bytes(std::span<const uint8_t> a, std::span<const uint8_t> b,
                             BF16Weights w = BF16Weights::defaults(),
                             const KernelTable &kt = kernels());

// ---- Batch forms: one query against the records of a row-major database picked by index ----
// The query has db.record_bytes bytes (even); each index must be < db.n_records; results are in
// the order of indices. Error(invalid_argument) otherwise.

std::vector<uint64_t> bf16_distance_batch(std::span<const uint8_t> query, const DatabaseView &db,
                                          std::span<const uint64_t> indices,
                                          BF16Weights w = BF16Weights::defaults(),
                                          const KernelTable &kt = kernels());
std::vector<BF16StructuralDiff> structural_diff_batch(std::span<const uint8_t> query,
                                                      const DatabaseView &db,
                                                      std::span<const uint64_t> indices,
                                                      const KernelTable &kt = kernels());

// The counts of a structural diff, without the dimension lists.
struct BF16DiffCounts {
  uint64_t sign_flips = 0;
  uint64_t exponent_bits_changed = 0;
  uint64_t mantissa_bits_changed = 0;
  uint64_t major_magnitude_shifts = 0;  // number of dims with >= 2 differing exponent bits
  bool operator==(const BF16DiffCounts &) const = default;
};

// The four state fractions of a decomposition (count / n_dims, float32).
struct AwarenessFractions {
  float crystallized = 0, tensioned = 0, uncertain = 0, noise = 0;
  bool operator==(const AwarenessFractions &) const = default;
};

// The BF16 tail of the hybrid pipeline for one candidate: weighted distance, diff counts and
// the awareness fractions of [query, candidate].
struct BF16TailScore {
  uint64_t distance = 0;
  BF16DiffCounts diff;
  AwarenessFractions awareness;
  bool operator==(const BF16TailScore &) const = default;
};

std::vector<BF16TailScore> bf16_tail_batch(std::span<const uint8_t> query, const DatabaseView &db,
                                           std::span<const uint64_t> indices, BF16Weights w,
                                           AwarenessThresholds thresholds,
                                           const KernelTable &kt = kernels());

// ---- Learning feedback (§4.4, the rules of the seed's hybrid.rs) ----

struct LearningSignal {
  SuperpositionState awareness;   // of [query, match_1 (, match_2)]
  float crystallized_ratio = 0;   // awareness.crystallized_pct
  float tension_ratio = 0;        // awareness.tensioned_pct
  uint64_t total_sign_flips = 0;  // Σ over the matches of structural_diff(query, match).sign_flips
  // Per dim: Crystallized 1.0, Tensioned 0.5, Uncertain 0.25, Noise 0.0.
  std::vector<float> attention_weights;
  std::vector<uint8_t> packed_states;
};

// query plus 1 or 2 matches, all of equal even byte length (Error(invalid_argument) otherwise).
LearningSignal extract_learning_signal(std::span<const uint8_t> query,
                                       std::span<const std::span<const uint8_t>> matches,
                                       AwarenessThresholds thresholds = {},
                                       const KernelTable &kt = kernels());

// Exponential moving average of 32 group weights towards targets from the signal's states.
// Dims are split into 32 groups of g = ceil(n_dims/32) consecutive dims (groups starting at or
// past n_dims are left untouched). Per group, with c, t, z the crystallized, tensioned and noise
// fractions (float32): target = 0.8 + 0.2c if c > 0.5, else 0.5 if t > 0.3, else 0.1(1 − z) if
// z > 0.5, else the current weight; then w ← w(1 − lr) + target·lr. These are hybrid.rs's rules;
// the seed's 3-axis variant in spatial_resonance.rs differs (noise → 0.1, fallback 0.5, unused
// groups 0.5) and is not reproduced.
void update_hybrid_weights(std::array<float, 32> &weights, const LearningSignal &signal,
                           float learning_rate);

}  // namespace jitson
