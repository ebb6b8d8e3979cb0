// The SPO crystal (shared/spec/SEMANTICS.md §8): three BF16 axes X = S⊕P, Y = P⊕O, Z = S⊕O,
// their structured distances, per-axis awareness and a best-k sweep — on owning BF16 axes
// (CrystalAxis, SpatialCrystal3D) and on fingerprints (SpoFingerprint<N>, read in place).
//
// Note on the encoding: Z = X ⊕ Y always, so Z is redundant and carries no independent
// information; recovering S or O needs P, and P is recovered from X with S or from Y with O.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "jitson/awareness.hpp"
#include "jitson/bindspace.hpp"
#include "jitson/kernels.hpp"

namespace jitson {

static_assert(std::endian::native == std::endian::little,
              "BF16 byte views need a little-endian host");

// One BF16 axis: n_dims values, stored as uint16_t (byte view: little-endian, 2 bytes per dim).
class CrystalAxis {
 public:
  CrystalAxis() = default;
  static CrystalAxis from_bf16(std::span<const uint16_t> dims);
  // Even byte length (Error(invalid_argument) otherwise); any alignment.
  static CrystalAxis from_bf16_bytes(std::span<const uint8_t> bytes);
  // f32 → BF16 by truncation (the upper 16 bits of each value), as the seed's CrystalAxis does.
  static CrystalAxis from_f32(std::span<const float> values);
  static CrystalAxis zero(size_t n_dims);
  // A copy of the fingerprint's bytes as 4·N BF16 dims.
  template <size_t N>
  static CrystalAxis from_fingerprint(const Fingerprint<N> &f) {
    return from_bf16_bytes(f.as_bytes());
  }

  size_t n_dims() const { return dims_.size(); }
  std::span<const uint16_t> dims() const { return dims_; }
  std::span<const uint8_t> bytes() const;

  // BF16 structured distance (§2.4); Error(invalid_argument) if n_dims differ.
  uint64_t distance(const CrystalAxis &other, BF16Weights w = BF16Weights::defaults(),
                    const KernelTable &kt = kernels()) const;
  BF16StructuralDiff structural_diff(const CrystalAxis &other,
                                     const KernelTable &kt = kernels()) const;
  // Bytewise XOR (same n_dims required).
  CrystalAxis xor_bind(const CrystalAxis &other) const;

  bool operator==(const CrystalAxis &) const = default;

 private:
  explicit CrystalAxis(std::vector<uint16_t> dims) : dims_(std::move(dims)) {}
  std::vector<uint16_t> dims_;
};

enum class SpatialAxis : uint8_t { x = 0, y = 1, z = 2 };
const char *to_string(SpatialAxis axis);

struct SpatialDistances {
  uint64_t x = 0, y = 0, z = 0;
  uint64_t l1() const { return x + y + z; }
  uint64_t linf() const { return std::max(x, std::max(y, z)); }
  // X if x >= y and x >= z, else Y if y >= z, else Z (ties prefer X, then Y).
  SpatialAxis dominant_axis() const;
  // 1 − (max/total − 1/3)·1.5 in float32 (1 = balanced, 0 = one axis); 1 if total is 0.
  float balance() const;
  bool operator==(const SpatialDistances &) const = default;
};

struct SpatialCrystal3D {
  CrystalAxis x, y, z;

  static SpatialCrystal3D from_f32(std::span<const float> x, std::span<const float> y,
                                   std::span<const float> z);
  // X‖Y‖Z: a length that is a multiple of 6 (three equal axes of whole BF16 dims).
  static SpatialCrystal3D from_flat_bytes(std::span<const uint8_t> bytes);
  std::vector<uint8_t> to_flat_bytes() const;  // 3 · 2 · n_dims bytes
  size_t dims_per_axis() const { return x.n_dims(); }
  size_t total_bytes() const { return 2 * (x.n_dims() + y.n_dims() + z.n_dims()); }

  // X = S ⊕ P, Y = P ⊕ O, Z = S ⊕ O (equal n_dims required).
  static SpatialCrystal3D spo_encode(const CrystalAxis &subject, const CrystalAxis &predicate,
                                     const CrystalAxis &object);
  CrystalAxis recover_subject(const CrystalAxis &predicate) const { return x.xor_bind(predicate); }
  CrystalAxis recover_object(const CrystalAxis &predicate) const { return y.xor_bind(predicate); }
  CrystalAxis recover_predicate_from_subject(const CrystalAxis &subject) const {
    return x.xor_bind(subject);
  }
  CrystalAxis recover_predicate_from_object(const CrystalAxis &object) const {
    return y.xor_bind(object);
  }

  SpatialDistances axis_distances(const SpatialCrystal3D &other,
                                  BF16Weights w = BF16Weights::defaults(),
                                  const KernelTable &kt = kernels()) const;
  uint64_t distance_l1(const SpatialCrystal3D &other, BF16Weights w = BF16Weights::defaults(),
                       const KernelTable &kt = kernels()) const {
    return axis_distances(other, w, kt).l1();
  }
  uint64_t distance_linf(const SpatialCrystal3D &other, BF16Weights w = BF16Weights::defaults(),
                         const KernelTable &kt = kernels()) const {
    return axis_distances(other, w, kt).linf();
  }

  bool operator==(const SpatialCrystal3D &) const = default;
};

// Per-axis 2-vector decomposition (§2.5) of two crystals.
struct SpatialAwareness {
  SuperpositionState x, y, z;
  std::array<float, 3> crystallized{};  // per-axis crystallized_pct
  std::array<float, 3> tensioned{};     // per-axis tensioned_pct
  // cbrt(c_x · c_y · c_z) in float32: the geometric mean of the crystallized fractions.
  float spatial_coherence = 0;
};

SpatialAwareness spatial_awareness_decompose(const SpatialCrystal3D &a, const SpatialCrystal3D &b,
                                             AwarenessThresholds thresholds = {},
                                             const KernelTable &kt = kernels());
// The same over axes given as byte strings (X, Y, Z of a and of b; even, equal lengths per axis).
SpatialAwareness spatial_awareness_decompose_bytes(const std::array<std::span<const uint8_t>, 3> &a,
                                                   const std::array<std::span<const uint8_t>, 3> &b,
                                                   AwarenessThresholds thresholds = {},
                                                   const KernelTable &kt = kernels());

struct SpatialMatch {
  uint64_t index = 0;
  SpatialDistances distances;
  uint64_t total_distance = 0;  // distances.l1()
  SpatialAxis dominant_axis = SpatialAxis::x;
  bool operator==(const SpatialMatch &) const = default;
};

// Every crystal of db with L1 distance <= threshold, best first by (total, index), at most
// `limit` of them (0 = all). Unlike the seed, which stops at the first `limit` hits found, this
// returns the best `limit`. Axes are evaluated X, Y, Z and a crystal is skipped as soon as the
// partial sum cannot qualify (distances are non-negative, so skipping never loses a hit).
std::vector<SpatialMatch> spatial_sweep(const SpatialCrystal3D &query,
                                        std::span<const SpatialCrystal3D> db, uint64_t threshold,
                                        BF16Weights w = BF16Weights::defaults(), size_t limit = 0,
                                        const KernelTable &kt = kernels());

// The axis's bytes if it has exactly n_dims dims; Error(invalid_argument) otherwise.
std::span<const uint8_t> checked_axis_bytes(const CrystalAxis &axis, size_t n_dims);

// ---- The same crystal on fingerprints: each axis a Fingerprint<N> read as 4·N BF16 dims ----

// BF16 structured distance of two fingerprints, read in place (no copy).
template <size_t N>
uint64_t bf16_distance(const Fingerprint<N> &a, const Fingerprint<N> &b,
                       BF16Weights w = BF16Weights::defaults(), const KernelTable &kt = kernels()) {
  // The words are 64-byte aligned and the kernels read BF16 values through memcpy or unaligned
  // SIMD loads, so these pointers only address the words' bytes (little-endian host).
  return kt.bf16_distance(reinterpret_cast<const uint16_t *>(a.words.data()),
                          reinterpret_cast<const uint16_t *>(b.words.data()), 4 * N, w);
}

template <size_t N>
struct SpoFingerprint {
  Fingerprint<N> x, y, z;

  static SpoFingerprint encode(const Fingerprint<N> &subject, const Fingerprint<N> &predicate,
                               const Fingerprint<N> &object) {
    return {subject ^ predicate, predicate ^ object, subject ^ object};
  }
  Fingerprint<N> recover_subject(const Fingerprint<N> &predicate) const { return x ^ predicate; }
  Fingerprint<N> recover_object(const Fingerprint<N> &predicate) const { return y ^ predicate; }
  Fingerprint<N> recover_predicate_from_subject(const Fingerprint<N> &subject) const {
    return x ^ subject;
  }
  Fingerprint<N> recover_predicate_from_object(const Fingerprint<N> &object) const {
    return y ^ object;
  }

  SpatialDistances axis_distances(const SpoFingerprint &o, BF16Weights w = BF16Weights::defaults(),
                                  const KernelTable &kt = kernels()) const {
    return {bf16_distance(x, o.x, w, kt), bf16_distance(y, o.y, w, kt),
            bf16_distance(z, o.z, w, kt)};
  }
  // Reads the words in place.
  SpatialAwareness awareness(const SpoFingerprint &o, AwarenessThresholds t = {},
                             const KernelTable &kt = kernels()) const {
    return spatial_awareness_decompose_bytes({x.as_bytes(), y.as_bytes(), z.as_bytes()},
                                             {o.x.as_bytes(), o.y.as_bytes(), o.z.as_bytes()}, t,
                                             kt);
  }
  SpatialCrystal3D to_crystal() const {
    return {CrystalAxis::from_fingerprint(x), CrystalAxis::from_fingerprint(y),
            CrystalAxis::from_fingerprint(z)};
  }
  // The crystal's axes must have exactly 4·N dims (Error(invalid_argument) otherwise).
  static SpoFingerprint from_crystal(const SpatialCrystal3D &c) {
    return {Fingerprint<N>::from_bytes(checked_axis_bytes(c.x, 4 * N)),
            Fingerprint<N>::from_bytes(checked_axis_bytes(c.y, 4 * N)),
            Fingerprint<N>::from_bytes(checked_axis_bytes(c.z, 4 * N))};
  }

  bool operator==(const SpoFingerprint &) const = default;
};

}  // namespace jitson
