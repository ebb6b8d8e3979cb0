// The metrics a scan config can name, and the integer arithmetic that lets Tanimoto similarity
// run through the same kernels, heaps, limits and merges as Hamming distance (docs/TANIMOTO.md).
//
// Every scan orders hits by an unsigned 32-bit "distance", smaller first. For Tanimoto that
// distance is the RANK of the similarity T = c / u (c = |q ∧ r ∧ focus|, u = |(q ∨ r) ∧ focus|,
// T = 1 when u = 0):
//
//     rank(c, u) = floor((u − c) · K / u),   K = kMaxRecordBits · (kMaxRecordBits − 1).
//
// Two fractions with denominators at most kMaxRecordBits differ by at least 1/K, so the rank is
// strictly decreasing in T and equal exactly when the similarities are equal: ordering by
// (rank, index) is ordering by (T descending, index), with no rounding anywhere. A hit of a
// Tanimoto scan carries the rank in Hit::distance and u in Hit::reserved; c and T follow exactly
// (tanimoto_of). A kernel keeps a record iff rank < limit, which in integers is
// c · K > (K − limit) · u.
#pragma once

#include <cstdint>

#include "jitson/limits.hpp"

namespace jitson {

enum class Metric { hamming, tanimoto };
const char *to_string(Metric);

inline constexpr uint64_t kTanimotoScale = uint64_t(kMaxRecordBits) * (kMaxRecordBits - 1);
// The largest rank (T = 0): every Tanimoto limit is at most kTanimotoMaxRank + 1 < 2^32.
inline constexpr uint32_t kTanimotoMaxRank = uint32_t(kTanimotoScale);
static_assert(kTanimotoScale < UINT32_MAX, "ranks and exclusive limits must fit in 32 bits");

// rank(c, u) for c <= u <= kMaxRecordBits; u = 0 is T = 1, rank 0. (u − c) · K < 2^17 · 2^32.
constexpr uint32_t tanimoto_rank(uint32_t c, uint32_t u) {
  return u == 0 ? 0 : uint32_t((uint64_t(u - c) * kTanimotoScale) / u);
}

// The keep rule of a kernel: rank(c, u) < limit, without a division (c, u <= 2^16 + 1 and
// limit <= K + 1, so both products stay below 2^49). limit > K keeps every record.
constexpr bool tanimoto_keeps(uint32_t c, uint32_t u, uint32_t limit) {
  if (limit > kTanimotoScale) return true;
  return u == 0 ? limit > 0 : uint64_t(c) * kTanimotoScale > (kTanimotoScale - limit) * u;
}

// The exact cascade's test after a stage: with c_seen and b_seen the intersection and record
// bits counted so far, a the query's focused bits and a_left those not yet seen, the final
// similarity is at most (c_seen + a_left) / (a + b_seen − c_seen): the intersection can grow by
// at most the query bits left, and each bit it grows by is also a record bit. True when that
// bound already fails the limit (the record cannot be kept).
constexpr bool tanimoto_stage_rejects(uint32_t c_seen, uint32_t b_seen, uint32_t a, uint32_t a_left,
                                      uint32_t limit) {
  if (limit > kTanimotoScale) return false;
  const uint64_t den = uint64_t(a) + b_seen - c_seen;  // >= 0: c_seen <= min(a, b_seen)
  if (den == 0) return false;                          // the record may still be empty: T = 1
  const uint64_t num = uint64_t(c_seen) + a_left;
  return num * kTanimotoScale <= (kTanimotoScale - limit) * den;
}

// What a Tanimoto hit says: the intersection c, the union u, and T = c / u (1 when u = 0).
struct TanimotoHit {
  uint32_t intersection = 0;
  uint32_t union_bits = 0;
  double similarity = 1;
};

// Recovers c from the rank and u: u − c is the one integer in [rank·u/K, (rank+1)·u/K), an
// interval shorter than 1 since u < K.
constexpr TanimotoHit tanimoto_of(uint32_t rank, uint32_t union_bits) {
  if (union_bits == 0) return {0, 0, 1.0};
  const uint64_t scaled = uint64_t(rank) * union_bits;
  const uint64_t difference = (scaled + kTanimotoScale - 1) / kTanimotoScale;  // ceil
  const auto c = difference > union_bits ? 0u : uint32_t(union_bits - difference);
  return {c, union_bits, double(c) / double(union_bits)};
}

}  // namespace jitson
