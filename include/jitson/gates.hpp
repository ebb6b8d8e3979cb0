// The seed's integer gates over a Hamming distance (shared/spec/SEMANTICS.md §3.2–3.4): the
// SliceGate thresholds and HDR score, and the σ-significance gate. They label a distance; they
// never decide what a scan returns (jitson's scans use the exact rule d <= max_distance).
#pragma once

#include <cstdint>

namespace jitson {

// Integer thresholds computed once from fractions of D (SEMANTICS.md §3.2):
//   k0_reject = ceil(cold·D·(64/D)·margin), k1_reject = ceil(cold·D·(512/D)·margin),
//   k2_hot = floor(hot·D), k2_mid = floor(mid·D), k2_cold = floor(cold·D), k2_anti = ceil(anti·D),
// all in double, evaluated in that order, converted to u32 with saturation (negative → 0,
// too large → UINT32_MAX), as the seed's `as u32` does.
struct SliceGate {
  uint32_t k0_reject = 0;
  uint32_t k1_reject = 0;
  uint32_t k2_hot = 0;
  uint32_t k2_mid = 0;
  uint32_t k2_cold = 0;
  uint32_t k2_anti = 0;
  uint32_t total_bits = 0;

  // Error(invalid_argument) if total_bits is 0 or a fraction / margin is not finite.
  static SliceGate make(uint32_t total_bits, double hot, double mid, double cold, double anti,
                        double margin);
  // The SKU default: hot 0.10, mid 0.30, cold 0.49, anti 0.90, margin 1.5.
  // 16K: k0 48, k1 377, hot 1638, mid 4915, cold 8028, anti 14746.
  static SliceGate defaults(uint32_t total_bits);
  // The hybrid "learning" profile (§4.1): 0.05, 0.15, 0.30, 0.90, margin 1.5.
  // 16K: k0 29, k1 231, hot 819, mid 2457, cold 4915, anti 14746.
  static SliceGate learning(uint32_t total_bits);

  bool operator==(const SliceGate &) const = default;
};

// HDR score (§3.4): hot = 3 if d < k2_hot, mid = 2 if d < k2_mid, cold = 1 if d < k2_cold.
struct HdrScore {
  uint8_t hot = 0, mid = 0, cold = 0;
  uint8_t total() const { return uint8_t(hot + mid + cold); }  // 0, 1, 3 or 6
  bool is_match() const { return total() > 0; }                // ⇔ d < k2_cold
  bool operator==(const HdrScore &) const = default;
};

HdrScore score_hdr(uint32_t distance, const SliceGate &gate);

// Ordered: a higher level is more significant.
enum class SigmaLevel : uint8_t { noise = 0, hint = 1, evidence = 2, strong = 3, discovery = 4 };
const char *to_string(SigmaLevel level);

// σ-significance thresholds (§3.3): a distance below `discovery` is Discovery, and so on.
struct SigmaGate {
  uint32_t discovery = 0;
  uint32_t strong = 0;
  uint32_t evidence = 0;
  uint32_t hint = 0;
  uint32_t mu = 0;
  uint32_t sigma_unit = 0;
  uint32_t total_bits = 0;  // 0 for custom gates

  // Hamming over D random bits: mu = trunc(D/2), sigma = sqrt(D/4) (double),
  // sigma_unit = trunc(sigma), threshold_z = mu − trunc(z·sigma) saturating at 0 for
  // z = 3, 2.5, 2, 1.5. 16K: 8000/8032/8064/8096; 64K: 32384/32448/32512/32576.
  static SigmaGate make(uint32_t total_bits);
  // Integer math: mu − 3s, mu − (5s)/2, mu − 2s, mu − (3s)/2, each saturating at 0 (computed in
  // 64 bits, so a large s saturates instead of wrapping).
  static SigmaGate custom(uint32_t mu, uint32_t sigma_unit);
  // BF16 structured distance with default weights over n_dims random dims (§2.4):
  // custom(trunc(n·195.5), trunc(sqrt(n·16897.75))), saturating at UINT32_MAX.
  static SigmaGate bf16_weighted(uint64_t n_dims);

  bool operator==(const SigmaGate &) const = default;
};

struct SigmaScore {
  float sigma = 0;  // (mu − d) / sigma_unit in float32; 0 when sigma_unit is 0
  SigmaLevel level = SigmaLevel::noise;
  float p_value = 1;  // one-tailed approximation by the first matching sigma >= 5,4,3,2.5,2,1.5,1,0
  bool operator==(const SigmaScore &) const = default;
};

SigmaScore score_sigma(uint32_t distance, const SigmaGate &gate);

}  // namespace jitson
