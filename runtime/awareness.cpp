// BF16 awareness, structural diffs, their batch forms and the learning feedback
// (shared/spec/SEMANTICS.md §2.4, §2.5, §4.4). All per-dimension work runs in the KernelTable's
// bf16_awareness and bf16_distance kernels; this file only validates, counts and packs.
#include "jitson/awareness.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "jitson/error.hpp"

namespace jitson {
namespace {

// Weights that make bf16_distance count one field: Σ of the field's differing bits.
constexpr BF16Weights kCountSigns{1, 0, 0};
constexpr BF16Weights kCountMantissa{0, 0, 1};

[[noreturn]] void fail(const std::string &message) {
  throw Error(ErrorKind::invalid_argument, message);
}

// n_dims BF16 values at p: p itself when it is 2-byte aligned, else a copy in scratch. The
// kernels read through memcpy or unaligned SIMD loads, so an aligned uint16_t pointer into a
// byte buffer is only ever used to address memory, never dereferenced as a uint16_t object.
const uint16_t *bf16_at(const uint8_t *p, size_t n_dims, std::vector<uint16_t> &scratch) {
  if (reinterpret_cast<uintptr_t>(p) % alignof(uint16_t) == 0) {
    return reinterpret_cast<const uint16_t *>(p);  // aligned; see the comment above
  }
  scratch.resize(n_dims);
  if (n_dims) std::memcpy(scratch.data(), p, n_dims * sizeof(uint16_t));
  return scratch.data();
}

void require_even(size_t bytes, const char *what) {
  if (bytes % 2 != 0) {
    fail(std::string(what) + ": byte length " + std::to_string(bytes) +
         " is odd; a BF16 vector has 2 bytes per dimension");
  }
}

void require_same(size_t a, size_t b, const char *what, const char *unit) {
  if (a != b) {
    fail(std::string(what) + ": lengths differ (" + std::to_string(a) + " and " +
         std::to_string(b) + " " + unit + "); all vectors must have the same length");
  }
}

void require_vector_count(size_t n, const char *what, size_t lo, size_t hi) {
  if (n < lo || n > hi) {
    fail(std::string(what) + ": got " + std::to_string(n) + " vectors; " + std::to_string(lo) +
         " or " + std::to_string(hi) + " are required");
  }
}

float fraction(uint64_t count, size_t n_dims) {
  return n_dims == 0 ? 0.0f : float(count) / float(n_dims);
}

SuperpositionState decompose(const uint16_t *const *vectors, size_t n_vectors, size_t n_dims,
                             AwarenessThresholds t, const KernelTable &kt) {
  SuperpositionState s;
  s.n_dims = n_dims;
  s.sign_consensus.resize(n_dims);
  s.exp_spread.resize(n_dims);
  s.mantissa_noise.resize(n_dims);
  s.states.resize(n_dims);
  // Awareness is an enum over uint8_t, and unsigned char may write any object's bytes.
  kt.bf16_awareness(vectors, n_vectors, n_dims, t, reinterpret_cast<uint8_t *>(s.states.data()),
                    s.sign_consensus.data(), s.exp_spread.data(), s.mantissa_noise.data());
  uint64_t counts[4] = {};
  for (Awareness a : s.states) ++counts[uint8_t(a) & 3];
  s.crystallized_pct = fraction(counts[uint8_t(Awareness::crystallized)], n_dims);
  s.tensioned_pct = fraction(counts[uint8_t(Awareness::tensioned)], n_dims);
  s.uncertain_pct = fraction(counts[uint8_t(Awareness::uncertain)], n_dims);
  s.noise_pct = fraction(counts[uint8_t(Awareness::noise)], n_dims);
  s.packed_states = pack_awareness_states(s.states);
  return s;
}

// Reusable per-dimension buffers of the 2-vector awareness kernel.
struct PairScratch {
  std::vector<uint8_t> states, consensus, exp_spread;
  std::vector<uint16_t> query_copy, candidate_copy;

  void run(const uint16_t *a, const uint16_t *b, size_t n_dims, AwarenessThresholds t,
           const KernelTable &kt) {
    states.resize(n_dims);
    consensus.resize(n_dims);
    exp_spread.resize(n_dims);
    const uint16_t *pair[2] = {a, b};
    kt.bf16_awareness(pair, 2, n_dims, t, states.data(), consensus.data(), exp_spread.data(),
                      nullptr);
  }
};

// With 2 vectors the consensus is 0 exactly when the signs differ, and the exponent spread is
// the number of differing exponent bits (§2.5), so the awareness kernel yields the diff's
// per-dimension facts; the mantissa total comes from the distance kernel.
BF16StructuralDiff diff_of(const uint16_t *a, const uint16_t *b, size_t n_dims,
                           const KernelTable &kt, PairScratch &scratch) {
  scratch.run(a, b, n_dims, AwarenessThresholds{}, kt);
  BF16StructuralDiff d;
  for (size_t i = 0; i < n_dims; ++i) {
    if (scratch.consensus[i] == 0) d.sign_flip_dims.push_back(i);
    d.exponent_bits_changed += scratch.exp_spread[i];
    if (scratch.exp_spread[i] >= 2) d.major_magnitude_shifts.push_back(i);
  }
  d.sign_flips = d.sign_flip_dims.size();
  d.mantissa_bits_changed = kt.bf16_distance(a, b, n_dims, kCountMantissa);
  return d;
}

BF16TailScore tail_of(const uint16_t *a, const uint16_t *b, size_t n_dims, BF16Weights w,
                      AwarenessThresholds t, const KernelTable &kt, PairScratch &scratch) {
  scratch.run(a, b, n_dims, t, kt);
  BF16TailScore r;
  uint64_t counts[4] = {};
  for (size_t i = 0; i < n_dims; ++i) {
    r.diff.sign_flips += scratch.consensus[i] == 0;
    r.diff.exponent_bits_changed += scratch.exp_spread[i];
    r.diff.major_magnitude_shifts += scratch.exp_spread[i] >= 2;
    ++counts[scratch.states[i] & 3];
  }
  r.diff.mantissa_bits_changed = kt.bf16_distance(a, b, n_dims, kCountMantissa);
  r.distance = kt.bf16_distance(a, b, n_dims, w);
  r.awareness.crystallized = fraction(counts[uint8_t(Awareness::crystallized)], n_dims);
  r.awareness.tensioned = fraction(counts[uint8_t(Awareness::tensioned)], n_dims);
  r.awareness.uncertain = fraction(counts[uint8_t(Awareness::uncertain)], n_dims);
  r.awareness.noise = fraction(counts[uint8_t(Awareness::noise)], n_dims);
  return r;
}

// Checks a batch request and returns the number of BF16 dims per record.
size_t check_batch(std::span<const uint8_t> query, const DatabaseView &db,
                   std::span<const uint64_t> indices, const char *what) {
  if (db.layout != Layout::row_major) {
    throw Error(ErrorKind::unsupported,
                std::string(what) + ": only row-major databases can be read as BF16 records");
  }
  if (db.record_bytes == 0 || db.record_bytes % 2 != 0) {
    fail(std::string(what) + ": record size " + std::to_string(db.record_bytes) +
         " bytes is not a positive even number; a BF16 record has 2 bytes per dimension");
  }
  if (db.data == nullptr && db.n_records > 0) {
    fail(std::string(what) + ": database pointer is null but n_records > 0");
  }
  if (query.size() != db.record_bytes) {
    fail(std::string(what) + ": query has " + std::to_string(query.size()) +
         " bytes but records have " + std::to_string(db.record_bytes) +
         "; they must be the same size");
  }
  for (size_t i = 0; i < indices.size(); ++i) {
    if (indices[i] >= db.n_records) {
      fail(std::string(what) + ": indices[" + std::to_string(i) +
           "] = " + std::to_string(indices[i]) + " is out of range; the database has " +
           std::to_string(db.n_records) + " records");
    }
  }
  return db.record_bytes / 2;
}

}  // namespace

SuperpositionState superposition_decompose(std::span<const std::span<const uint16_t>> vectors,
                                           AwarenessThresholds thresholds, const KernelTable &kt) {
  require_vector_count(vectors.size(), "superposition_decompose", 2, 3);
  const uint16_t *ptrs[3] = {};
  for (size_t i = 0; i < vectors.size(); ++i) {
    require_same(vectors[i].size(), vectors[0].size(), "superposition_decompose", "dims");
    ptrs[i] = vectors[i].data();
  }
  return decompose(ptrs, vectors.size(), vectors[0].size(), thresholds, kt);
}

SuperpositionState superposition_decompose_bytes(std::span<const std::span<const uint8_t>> vectors,
                                                 AwarenessThresholds thresholds,
                                                 const KernelTable &kt) {
  require_vector_count(vectors.size(), "superposition_decompose", 2, 3);
  std::vector<uint16_t> copies[3];
  const uint16_t *ptrs[3] = {};
  for (size_t i = 0; i < vectors.size(); ++i) {
    require_same(vectors[i].size(), vectors[0].size(), "superposition_decompose", "bytes");
    require_even(vectors[i].size(), "superposition_decompose");
    ptrs[i] = bf16_at(vectors[i].data(), vectors[i].size() / 2, copies[i]);
  }
  return decompose(ptrs, vectors.size(), vectors[0].size() / 2, thresholds, kt);
}

std::vector<uint8_t> pack_awareness_states(std::span<const Awareness> states) {
  std::vector<uint8_t> packed((states.size() + 3) / 4, 0);
  for (size_t k = 0; k < states.size(); ++k) {
    packed[k / 4] |= uint8_t((uint8_t(states[k]) & 3) << (6 - 2 * (k % 4)));
  }
  return packed;
}

std::vector<Awareness> unpack_awareness_states(std::span<const uint8_t> packed, size_t n_dims) {
  const size_t need = n_dims / 4 + (n_dims % 4 != 0);
  if (packed.size() != need) {
    fail("unpack_awareness_states: " + std::to_string(packed.size()) + " bytes given for " +
         std::to_string(n_dims) + " dims; exactly ceil(n_dims/4) = " + std::to_string(need) +
         " are required");
  }
  std::vector<Awareness> states(n_dims);
  for (size_t k = 0; k < n_dims; ++k) {
    states[k] = Awareness((packed[k / 4] >> (6 - 2 * (k % 4))) & 3);
  }
  return states;
}

BF16StructuralDiff structural_diff(std::span<const uint16_t> a, std::span<const uint16_t> b,
                                   const KernelTable &kt) {
  require_same(a.size(), b.size(), "structural_diff", "dims");
  PairScratch scratch;
  return diff_of(a.data(), b.data(), a.size(), kt, scratch);
}

BF16StructuralDiff structural_diff_bytes(std::span<const uint8_t> a, std::span<const uint8_t> b,
                                         const KernelTable &kt) {
  require_same(a.size(), b.size(), "structural_diff", "bytes");
  require_even(a.size(), "structural_diff");
  PairScratch scratch;
  const size_t n = a.size() / 2;
  const uint16_t *pa = bf16_at(a.data(), n, scratch.query_copy);
  const uint16_t *pb = bf16_at(b.data(), n, scratch.candidate_copy);
  return diff_of(pa, pb, n, kt, scratch);
}

uint64_t bf16_distance_bytes(std::span<const uint8_t> a, std::span<const uint8_t> b, BF16Weights w,
                             const KernelTable &kt) {
  require_same(a.size(), b.size(), "bf16_distance", "bytes");
  require_even(a.size(), "bf16_distance");
  std::vector<uint16_t> ca, cb;
  const size_t n = a.size() / 2;
  return kt.bf16_distance(bf16_at(a.data(), n, ca), bf16_at(b.data(), n, cb), n, w);
}

std::vector<uint64_t> bf16_distance_batch(std::span<const uint8_t> query, const DatabaseView &db,
                                          std::span<const uint64_t> indices, BF16Weights w,
                                          const KernelTable &kt) {
  const size_t n = check_batch(query, db, indices, "bf16_distance_batch");
  std::vector<uint16_t> query_copy, candidate_copy;
  const uint16_t *q = bf16_at(query.data(), n, query_copy);
  std::vector<uint64_t> out(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    out[i] = kt.bf16_distance(q, bf16_at(db.record(indices[i]), n, candidate_copy), n, w);
  }
  return out;
}

std::vector<BF16StructuralDiff> structural_diff_batch(std::span<const uint8_t> query,
                                                      const DatabaseView &db,
                                                      std::span<const uint64_t> indices,
                                                      const KernelTable &kt) {
  const size_t n = check_batch(query, db, indices, "structural_diff_batch");
  PairScratch scratch;
  const uint16_t *q = bf16_at(query.data(), n, scratch.query_copy);
  std::vector<BF16StructuralDiff> out;
  out.reserve(indices.size());
  for (uint64_t index : indices) {
    out.push_back(diff_of(q, bf16_at(db.record(index), n, scratch.candidate_copy), n, kt, scratch));
  }
  return out;
}

std::vector<BF16TailScore> bf16_tail_batch(std::span<const uint8_t> query, const DatabaseView &db,
                                           std::span<const uint64_t> indices, BF16Weights w,
                                           AwarenessThresholds thresholds, const KernelTable &kt) {
  const size_t n = check_batch(query, db, indices, "bf16_tail_batch");
  PairScratch scratch;
  const uint16_t *q = bf16_at(query.data(), n, scratch.query_copy);
  std::vector<BF16TailScore> out;
  out.reserve(indices.size());
  for (uint64_t index : indices) {
    const uint16_t *c = bf16_at(db.record(index), n, scratch.candidate_copy);
    out.push_back(tail_of(q, c, n, w, thresholds, kt, scratch));
  }
  return out;
}

LearningSignal extract_learning_signal(std::span<const uint8_t> query,
                                       std::span<const std::span<const uint8_t>> matches,
                                       AwarenessThresholds thresholds, const KernelTable &kt) {
  if (matches.empty() || matches.size() > 2) {
    fail("extract_learning_signal: got " + std::to_string(matches.size()) +
         " matches; 1 or 2 are required (with the query, 2 or 3 vectors)");
  }
  std::span<const uint8_t> vectors[3] = {query};
  for (size_t i = 0; i < matches.size(); ++i) vectors[i + 1] = matches[i];
  LearningSignal s;
  s.awareness =
      superposition_decompose_bytes(std::span(vectors, matches.size() + 1), thresholds, kt);
  s.crystallized_ratio = s.awareness.crystallized_pct;
  s.tension_ratio = s.awareness.tensioned_pct;
  for (std::span<const uint8_t> m : matches) {
    s.total_sign_flips += bf16_distance_bytes(query, m, kCountSigns, kt);
  }
  s.attention_weights.reserve(s.awareness.n_dims);
  for (Awareness a : s.awareness.states) {
    switch (a) {
      case Awareness::crystallized:
        s.attention_weights.push_back(1.0f);
        break;
      case Awareness::tensioned:
        s.attention_weights.push_back(0.5f);
        break;
      case Awareness::uncertain:
        s.attention_weights.push_back(0.25f);
        break;
      case Awareness::noise:
        s.attention_weights.push_back(0.0f);
        break;
    }
  }
  s.packed_states = s.awareness.packed_states;
  return s;
}

void update_hybrid_weights(std::array<float, 32> &weights, const LearningSignal &signal,
                           float learning_rate) {
  const size_t n = signal.awareness.n_dims;
  if (n == 0) return;
  if (signal.awareness.states.size() != n) {
    fail("update_hybrid_weights: the signal has " + std::to_string(signal.awareness.states.size()) +
         " states for n_dims = " + std::to_string(n) + "; they must match");
  }
  const size_t group = n / 32 + (n % 32 != 0);
  for (size_t g = 0; g < weights.size(); ++g) {
    const size_t start = g * group;
    if (start >= n) break;
    const size_t end = std::min(start + group, n);
    uint32_t crystallized = 0, tensioned = 0, noise = 0;
    for (size_t d = start; d < end; ++d) {
      switch (signal.awareness.states[d]) {
        case Awareness::crystallized:
          ++crystallized;
          break;
        case Awareness::tensioned:
          ++tensioned;
          break;
        case Awareness::noise:
          ++noise;
          break;
        case Awareness::uncertain:
          break;
      }
    }
    const float count = float(end - start);
    const float c = float(crystallized) / count;
    const float t = float(tensioned) / count;
    const float z = float(noise) / count;
    float &w = weights[g];
    float target;
    if (c > 0.5f) {
      target = 0.8f + 0.2f * c;
    } else if (t > 0.3f) {
      target = 0.5f;
    } else if (z > 0.5f) {
      target = 0.1f * (1.0f - z);
    } else {
      target = w;
    }
    w = w * (1.0f - learning_rate) + target * learning_rate;
  }
}

}  // namespace jitson
