// SliceGate, HDR score and SigmaGate (shared/spec/SEMANTICS.md §3.2–3.4).
#include "jitson/gates.hpp"

#include <cmath>
#include <string>

#include "jitson/error.hpp"

namespace jitson {
namespace {

// The seed's `f64 as u32`: truncation toward zero, NaN and negatives to 0, large values to the
// maximum. Casting an out-of-range double in C++ would be undefined, hence the explicit clamps.
uint32_t saturating_u32(double v) {
  if (!(v > 0)) return 0;
  if (v >= 4294967295.0) return UINT32_MAX;
  return uint32_t(v);
}

uint32_t saturating_sub(uint64_t a, uint64_t b) {
  return a > b ? uint32_t(a - b) : 0;
}

void require_finite(double v, const char *name) {
  if (!std::isfinite(v)) {
    throw Error(ErrorKind::invalid_argument, std::string("SliceGate::make: ") + name +
                                                 " is not a finite number; fractions and the "
                                                 "margin must be finite");
  }
}

}  // namespace

SliceGate SliceGate::make(uint32_t total_bits, double hot, double mid, double cold, double anti,
                          double margin) {
  if (total_bits == 0) {
    throw Error(ErrorKind::invalid_argument,
                "SliceGate::make: total_bits is 0; a gate needs at least one bit");
  }
  require_finite(hot, "hot");
  require_finite(mid, "mid");
  require_finite(cold, "cold");
  require_finite(anti, "anti");
  require_finite(margin, "margin");
  const double d = double(total_bits);
  // The seed's order of operations (cold·D·(64/D)·margin), so non-power-of-two D rounds alike.
  const double k0_fraction = 64.0 / d;
  const double k1_fraction = 512.0 / d;
  SliceGate g;
  g.k0_reject = saturating_u32(std::ceil(cold * d * k0_fraction * margin));
  g.k1_reject = saturating_u32(std::ceil(cold * d * k1_fraction * margin));
  g.k2_hot = saturating_u32(std::floor(hot * d));
  g.k2_mid = saturating_u32(std::floor(mid * d));
  g.k2_cold = saturating_u32(std::floor(cold * d));
  g.k2_anti = saturating_u32(std::ceil(anti * d));
  g.total_bits = total_bits;
  return g;
}

SliceGate SliceGate::defaults(uint32_t total_bits) {
  return make(total_bits, 0.10, 0.30, 0.49, 0.90, 1.5);
}

SliceGate SliceGate::learning(uint32_t total_bits) {
  return make(total_bits, 0.05, 0.15, 0.30, 0.90, 1.5);
}

HdrScore score_hdr(uint32_t distance, const SliceGate &gate) {
  HdrScore s;
  s.hot = distance < gate.k2_hot ? 3 : 0;
  s.mid = distance < gate.k2_mid ? 2 : 0;
  s.cold = distance < gate.k2_cold ? 1 : 0;
  return s;
}

const char *to_string(SigmaLevel level) {
  switch (level) {
    case SigmaLevel::noise:
      return "noise";
    case SigmaLevel::hint:
      return "hint";
    case SigmaLevel::evidence:
      return "evidence";
    case SigmaLevel::strong:
      return "strong";
    case SigmaLevel::discovery:
      return "discovery";
  }
  return "unknown";
}

SigmaGate SigmaGate::make(uint32_t total_bits) {
  const double d = double(total_bits);
  const uint32_t mu = saturating_u32(d / 2.0);
  const double sigma = std::sqrt(d / 4.0);
  SigmaGate g;
  g.discovery = saturating_sub(mu, saturating_u32(3.0 * sigma));
  g.strong = saturating_sub(mu, saturating_u32(2.5 * sigma));
  g.evidence = saturating_sub(mu, saturating_u32(2.0 * sigma));
  g.hint = saturating_sub(mu, saturating_u32(1.5 * sigma));
  g.mu = mu;
  g.sigma_unit = saturating_u32(sigma);
  g.total_bits = total_bits;
  return g;
}

SigmaGate SigmaGate::custom(uint32_t mu, uint32_t sigma_unit) {
  const uint64_t s = sigma_unit;
  SigmaGate g;
  g.discovery = saturating_sub(mu, 3 * s);
  g.strong = saturating_sub(mu, 5 * s / 2);
  g.evidence = saturating_sub(mu, 2 * s);
  g.hint = saturating_sub(mu, 3 * s / 2);
  g.mu = mu;
  g.sigma_unit = sigma_unit;
  g.total_bits = 0;
  return g;
}

SigmaGate SigmaGate::bf16_weighted(uint64_t n_dims) {
  const double n = double(n_dims);
  return custom(saturating_u32(n * 195.5), saturating_u32(std::sqrt(n * 16897.75)));
}

SigmaScore score_sigma(uint32_t distance, const SigmaGate &gate) {
  SigmaScore s;
  if (distance < gate.discovery) {
    s.level = SigmaLevel::discovery;
  } else if (distance < gate.strong) {
    s.level = SigmaLevel::strong;
  } else if (distance < gate.evidence) {
    s.level = SigmaLevel::evidence;
  } else if (distance < gate.hint) {
    s.level = SigmaLevel::hint;
  } else {
    s.level = SigmaLevel::noise;
  }
  // float32 throughout, as the seed computes it (mu and d are converted before subtracting).
  s.sigma =
      gate.sigma_unit > 0 ? (float(gate.mu) - float(distance)) / float(gate.sigma_unit) : 0.0f;
  const float z = s.sigma;
  if (z >= 5.0f) {
    s.p_value = 3e-7f;
  } else if (z >= 4.0f) {
    s.p_value = 3e-5f;
  } else if (z >= 3.0f) {
    s.p_value = 0.0013f;
  } else if (z >= 2.5f) {
    s.p_value = 0.0062f;
  } else if (z >= 2.0f) {
    s.p_value = 0.023f;
  } else if (z >= 1.5f) {
    s.p_value = 0.067f;
  } else if (z >= 1.0f) {
    s.p_value = 0.159f;
  } else if (z >= 0.0f) {
    s.p_value = 0.5f;
  } else {
    s.p_value = 1.0f;
  }
  return s;
}

}  // namespace jitson
