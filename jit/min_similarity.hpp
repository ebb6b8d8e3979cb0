// "min_similarity" of a Tanimoto config: the JSON number as the exact rational it denotes, and the
// largest rank (jitson/metric.hpp) a kept record may have. Internal to jit/.
#pragma once

#include <cstdint>
#include <string>

#include "jit/strict_json.hpp"

namespace jitson {

struct MinSimilarity {
  // numerator / denominator in lowest decimal terms (denominator a power of ten <= 10^33).
  unsigned __int128 numerator = 0, denominator = 1;
  std::string text;  // canonical decimal: "0", "1" or "0.d...d" without trailing zeros
};

// Decimal places a min_similarity may have once its exponent is applied: enough for any
// threshold a person writes, and small enough that every product below fits 128 bits.
inline constexpr int kMaxSimilarityDecimals = 33;

// value: the parsed JSON number; literal: its text as written (for a number with a fraction or an
// exponent; nullptr for an integer literal). Throws ConfigError(pointer, ...) unless it is a
// number in [0, 1] with at most kMaxSimilarityDecimals decimal places.
MinSimilarity parse_min_similarity(const strict_json::Json &value, const std::string *literal,
                                   const std::string &pointer);

// The largest rank r such that every similarity c/u (u <= kMaxRecordBits) with rank(c, u) <= r
// is >= the threshold, and no smaller similarity has such a rank: T >= threshold ⇔
// rank(T) <= tanimoto_max_rank(threshold). Found as the smallest fraction with denominator
// <= kMaxRecordBits not below the threshold (a Stern–Brocot descent, O(log) steps).
uint32_t tanimoto_max_rank(const MinSimilarity &threshold);

}  // namespace jitson
