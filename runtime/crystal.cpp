// The SPO crystal (shared/spec/SEMANTICS.md §8).
#include "jitson/crystal.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "jitson/bf16.hpp"
#include "jitson/error.hpp"

namespace jitson {
namespace {

[[noreturn]] void fail(const std::string &message) {
  throw Error(ErrorKind::invalid_argument, message);
}

void require_same_dims(size_t a, size_t b, const char *what) {
  if (a != b) {
    fail(std::string(what) + ": axes have " + std::to_string(a) + " and " + std::to_string(b) +
         " dims; both must have the same number");
  }
}

// Orders matches by (total, index): the heap's front is the worst kept match.
bool match_less(const SpatialMatch &a, const SpatialMatch &b) {
  return a.total_distance != b.total_distance ? a.total_distance < b.total_distance
                                              : a.index < b.index;
}

}  // namespace

CrystalAxis CrystalAxis::from_bf16(std::span<const uint16_t> dims) {
  return CrystalAxis(std::vector<uint16_t>(dims.begin(), dims.end()));
}

CrystalAxis CrystalAxis::from_bf16_bytes(std::span<const uint8_t> bytes) {
  if (bytes.size() % 2 != 0) {
    fail("CrystalAxis::from_bf16_bytes: byte length " + std::to_string(bytes.size()) +
         " is odd; a BF16 axis has 2 bytes per dimension");
  }
  std::vector<uint16_t> dims(bytes.size() / 2);
  if (!dims.empty()) std::memcpy(dims.data(), bytes.data(), bytes.size());  // little-endian host
  return CrystalAxis(std::move(dims));
}

CrystalAxis CrystalAxis::from_f32(std::span<const float> values) {
  std::vector<uint16_t> dims(values.size());
  f32_to_bf16_truncate(values, dims);
  return CrystalAxis(std::move(dims));
}

CrystalAxis CrystalAxis::zero(size_t n_dims) {
  return CrystalAxis(std::vector<uint16_t>(n_dims));
}

std::span<const uint8_t> CrystalAxis::bytes() const {
  // unsigned char may examine any object's bytes; the host is little-endian (asserted in the
  // header), so these are the BF16 values' little-endian bytes.
  return {reinterpret_cast<const uint8_t *>(dims_.data()), dims_.size() * 2};
}

uint64_t CrystalAxis::distance(const CrystalAxis &other, BF16Weights w,
                               const KernelTable &kt) const {
  require_same_dims(n_dims(), other.n_dims(), "CrystalAxis::distance");
  return kt.bf16_distance(dims_.data(), other.dims_.data(), dims_.size(), w);
}

BF16StructuralDiff CrystalAxis::structural_diff(const CrystalAxis &other,
                                                const KernelTable &kt) const {
  require_same_dims(n_dims(), other.n_dims(), "CrystalAxis::structural_diff");
  return jitson::structural_diff(dims_, other.dims_, kt);
}

CrystalAxis CrystalAxis::xor_bind(const CrystalAxis &other) const {
  require_same_dims(n_dims(), other.n_dims(), "CrystalAxis::xor_bind");
  std::vector<uint16_t> out(dims_.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = uint16_t(dims_[i] ^ other.dims_[i]);
  return CrystalAxis(std::move(out));
}

std::span<const uint8_t> checked_axis_bytes(const CrystalAxis &axis, size_t n_dims) {
  if (axis.n_dims() != n_dims) {
    fail("SpoFingerprint::from_crystal: an axis has " + std::to_string(axis.n_dims()) +
         " dims; the fingerprint holds exactly " + std::to_string(n_dims));
  }
  return axis.bytes();
}

const char *to_string(SpatialAxis axis) {
  switch (axis) {
    case SpatialAxis::x:
      return "x";
    case SpatialAxis::y:
      return "y";
    case SpatialAxis::z:
      return "z";
  }
  return "unknown";
}

SpatialAxis SpatialDistances::dominant_axis() const {
  if (x >= y && x >= z) return SpatialAxis::x;
  if (y >= z) return SpatialAxis::y;
  return SpatialAxis::z;
}

float SpatialDistances::balance() const {
  const float total = float(l1());
  if (total == 0.0f) return 1.0f;
  const float max = float(linf());
  return 1.0f - (max / total - 1.0f / 3.0f) * 1.5f;
}

SpatialCrystal3D SpatialCrystal3D::from_f32(std::span<const float> x, std::span<const float> y,
                                            std::span<const float> z) {
  return {CrystalAxis::from_f32(x), CrystalAxis::from_f32(y), CrystalAxis::from_f32(z)};
}

SpatialCrystal3D SpatialCrystal3D::from_flat_bytes(std::span<const uint8_t> bytes) {
  if (bytes.size() % 6 != 0) {
    fail("SpatialCrystal3D::from_flat_bytes: " + std::to_string(bytes.size()) +
         " bytes is not a multiple of 6; X‖Y‖Z needs three equal axes of 2-byte dims");
  }
  const size_t axis = bytes.size() / 3;
  return {CrystalAxis::from_bf16_bytes(bytes.subspan(0, axis)),
          CrystalAxis::from_bf16_bytes(bytes.subspan(axis, axis)),
          CrystalAxis::from_bf16_bytes(bytes.subspan(2 * axis, axis))};
}

std::vector<uint8_t> SpatialCrystal3D::to_flat_bytes() const {
  std::vector<uint8_t> out;
  out.reserve(total_bytes());
  for (const CrystalAxis *a : {&x, &y, &z}) {
    std::span<const uint8_t> b = a->bytes();
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

SpatialCrystal3D SpatialCrystal3D::spo_encode(const CrystalAxis &subject,
                                              const CrystalAxis &predicate,
                                              const CrystalAxis &object) {
  return {subject.xor_bind(predicate), predicate.xor_bind(object), subject.xor_bind(object)};
}

SpatialDistances SpatialCrystal3D::axis_distances(const SpatialCrystal3D &other, BF16Weights w,
                                                  const KernelTable &kt) const {
  return {x.distance(other.x, w, kt), y.distance(other.y, w, kt), z.distance(other.z, w, kt)};
}

SpatialAwareness spatial_awareness_decompose_bytes(const std::array<std::span<const uint8_t>, 3> &a,
                                                   const std::array<std::span<const uint8_t>, 3> &b,
                                                   AwarenessThresholds thresholds,
                                                   const KernelTable &kt) {
  SpatialAwareness r;
  SuperpositionState *axes[3] = {&r.x, &r.y, &r.z};
  for (size_t i = 0; i < 3; ++i) {
    const std::span<const uint8_t> pair[2] = {a[i], b[i]};
    *axes[i] = superposition_decompose_bytes(pair, thresholds, kt);
    r.crystallized[i] = axes[i]->crystallized_pct;
    r.tensioned[i] = axes[i]->tensioned_pct;
  }
  r.spatial_coherence = std::cbrt(r.crystallized[0] * r.crystallized[1] * r.crystallized[2]);
  return r;
}

SpatialAwareness spatial_awareness_decompose(const SpatialCrystal3D &a, const SpatialCrystal3D &b,
                                             AwarenessThresholds thresholds,
                                             const KernelTable &kt) {
  return spatial_awareness_decompose_bytes({a.x.bytes(), a.y.bytes(), a.z.bytes()},
                                           {b.x.bytes(), b.y.bytes(), b.z.bytes()}, thresholds, kt);
}

std::vector<SpatialMatch> spatial_sweep(const SpatialCrystal3D &query,
                                        std::span<const SpatialCrystal3D> db, uint64_t threshold,
                                        BF16Weights w, size_t limit, const KernelTable &kt) {
  for (size_t i = 0; i < db.size(); ++i) {
    const SpatialCrystal3D &c = db[i];
    if (c.x.n_dims() != query.x.n_dims() || c.y.n_dims() != query.y.n_dims() ||
        c.z.n_dims() != query.z.n_dims()) {
      fail("spatial_sweep: crystal " + std::to_string(i) + " has axes of " +
           std::to_string(c.x.n_dims()) + "/" + std::to_string(c.y.n_dims()) + "/" +
           std::to_string(c.z.n_dims()) + " dims but the query has " +
           std::to_string(query.x.n_dims()) + "/" + std::to_string(query.y.n_dims()) + "/" +
           std::to_string(query.z.n_dims()) + "; every axis must match the query's");
    }
  }
  std::vector<SpatialMatch> kept;  // a max-heap by (total, index) once `limit` are kept
  const bool bounded = limit > 0;
  for (size_t i = 0; i < db.size(); ++i) {
    // With `limit` matches kept, a later (larger-index) crystal must be strictly closer than the
    // worst of them; partial sums only grow, so each check below is exact.
    uint64_t bound = threshold;
    if (bounded && kept.size() == limit) {
      const uint64_t worst = kept.front().total_distance;
      if (worst == 0) break;  // nothing later can beat a full heap of distance-0 matches
      bound = std::min(bound, worst - 1);
    }
    const SpatialCrystal3D &c = db[i];
    const uint64_t dx = query.x.distance(c.x, w, kt);
    if (dx > bound) continue;
    const uint64_t dy = query.y.distance(c.y, w, kt);
    if (dx + dy > bound) continue;
    const uint64_t dz = query.z.distance(c.z, w, kt);
    SpatialMatch m;
    m.index = i;
    m.distances = {dx, dy, dz};
    m.total_distance = dx + dy + dz;
    if (m.total_distance > bound) continue;
    m.dominant_axis = m.distances.dominant_axis();
    if (!bounded) {
      kept.push_back(m);
    } else if (kept.size() < limit) {
      kept.push_back(m);
      std::push_heap(kept.begin(), kept.end(), match_less);
    } else {
      std::pop_heap(kept.begin(), kept.end(), match_less);
      kept.back() = m;
      std::push_heap(kept.begin(), kept.end(), match_less);
    }
  }
  std::sort(kept.begin(), kept.end(), match_less);
  return kept;
}

}  // namespace jitson
