// The scalar oracle: the definition of every result jitson returns, written for clarity, not
// speed. Every kernel, backend and ISA must equal it bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "jitson/kernels.hpp"
#include "jitson/scan.hpp"

namespace jitson::oracle {

// Bit i of a byte string: bit (i % 8) of byte i / 8 (SEMANTICS.md §1.2).
inline bool bit(const uint8_t *p, size_t i) {
  return (p[i / 8] >> (i % 8)) & 1;
}

uint64_t hamming(const uint8_t *a, const uint8_t *b, size_t n_bytes);
uint64_t hamming_masked(const uint8_t *a, const uint8_t *b, const uint8_t *mask, size_t n_bytes);
EnergyConflict energy_conflict(const uint8_t *a, const uint8_t *b, size_t n_bytes);
int64_t dot_i8(const uint8_t *a, const uint8_t *b, size_t n_bytes);
uint64_t bf16_distance(const uint16_t *a, const uint16_t *b, size_t n_dims, BF16Weights w);
// States (0..3) per dimension for 2 or 3 vectors, plus the per-dimension details.
void bf16_awareness(const uint16_t *const *vectors, size_t n_vectors, size_t n_dims,
                    AwarenessThresholds t, uint8_t *states, uint8_t *consensus, uint8_t *exp_spread,
                    uint8_t *mantissa_noise);

// The scan contract (SEMANTICS.md §5.3, §5.5): every record with masked distance <=
// max_distance, sorted by (distance, index), first top_k. mask: record_bytes/8 words or empty
// for all bits. Records are row-major.
std::vector<Hit> scan(const uint8_t *query, const uint8_t *records, uint64_t n_records,
                      size_t record_bytes, std::span<const uint64_t> mask, uint32_t max_distance,
                      uint32_t top_k);

// The same contract over records the caller identifies by ids[i] (sparse, unordered: the
// chunked accumulator's row ids) and filters with keep(i): every kept record within
// max_distance, sorted by (distance, ids[i]), first top_k; Hit::index is the id.
std::vector<Hit> scan_with_ids(const uint8_t *query, const uint8_t *records, uint64_t n_records,
                               size_t record_bytes, std::span<const uint64_t> mask,
                               uint32_t max_distance, uint32_t top_k, std::span<const uint64_t> ids,
                               const std::function<bool(uint64_t)> &keep);

// Tanimoto (docs/TANIMOTO.md), defined from the bits and exact rationals only, never from ranks:
// with c = |q ∧ r ∧ mask|, u = |(q ∨ r) ∧ mask| (T = c/u, 1 when u = 0), every record with
// T >= min_num/min_den, ordered by T descending (compared by cross-multiplication) then by id,
// first top_k. Hits are written as a Tanimoto kernel reports them: rank(c, u) and u.
struct TanimotoThreshold {
  unsigned __int128 numerator = 0, denominator = 1;  // 0/1: every record
};
std::vector<Hit> tanimoto_scan(const uint8_t *query, const uint8_t *records, uint64_t n_records,
                               size_t record_bytes, std::span<const uint64_t> mask,
                               TanimotoThreshold min_similarity, uint32_t top_k,
                               std::span<const uint64_t> ids = {},
                               const std::function<bool(uint64_t)> &keep = {});

}  // namespace jitson::oracle
