// The hybrid pipeline (shared/spec/SEMANTICS.md §4): an optional Tier-0 INT8 prefilter, the exact
// Hamming scan through the engine (JIT where available), and a BF16 tail on the best Hamming
// candidates with structured distance, structural diff and awareness.
//
// Records are BF16 embeddings (record_type "bf16"): the same bytes are read as a bit string for
// Tier-0 and the Hamming scan and as BF16 values for the tail. The BF16 tail is meaningless for
// records that are not BF16 vectors.
//
// Flow of run(query, db) (§4.3 with jitson's exact Hamming rule):
//  1. Tier-0 (if enabled): dot_i8(query, record) for every record; keep the survivor_count(N) best
//     by (dot descending, index ascending), in index order. Heuristic and lossy: a signed-byte dot
//     product is not a Hamming similarity, so Tier-0 can drop true matches (stats: pruned_count).
//  2. Hamming scan of the survivors: a hit is d <= max_distance (exact, no statistical K0/K1
//     unless cascade.mode "statistical" is asked for).
//  3. Hits sorted by (distance, index); the first max_bf16_candidates (all if 0) go on.
//  4. Each: BF16 structured distance (configured weights), diff counts, awareness fractions of
//     [query, candidate], energy, HDR (SliceGate of the profile), σ (SigmaGate of record_bits);
//     combined_score = hamming·hamming_weight + bf16·bf16_weight (double).
//  5. Sorted by (combined_score, index) ascending; the first top_k (all if 0) are returned.
//     (The seed's stable sort keeps Hamming order among equal combined scores; jitson's order is
//     total and does not depend on how the hits were produced.)
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "jitson/awareness.hpp"
#include "jitson/config.hpp"
#include "jitson/database.hpp"
#include "jitson/engine.hpp"
#include "jitson/gates.hpp"
#include "jitson/kernels.hpp"
#include "jitson/scan.hpp"

namespace jitson {

enum class Tier0Mode { top_k, fraction };

struct Tier0Config {
  bool enabled = false;
  Tier0Mode mode = Tier0Mode::fraction;
  uint64_t top_k = 0;      // mode top_k
  float fraction = 0.25f;  // mode fraction
  // top_k: min(k, n). fraction: ceil(n·f) computed in float32, then max(·, 1), then min(·, n)
  // (so 0 for n = 0); a NaN or negative product counts as 0, a huge one as n.
  uint64_t survivor_count(uint64_t n) const;
};

struct Tier0Stats {
  bool active = false;  // Tier-0 ran (false when disabled: then every field is 0)
  uint64_t input_count = 0;
  uint64_t survivor_count = 0;
  uint64_t pruned_count = 0;  // records Tier-0 dropped: candidates the Hamming scan never saw
  // Dot products of the survivors; INT64_MIN / INT64_MAX when every record survives (no dot
  // products are computed then), 0 / 0 when none survives.
  int64_t min_survivor_dot = 0;
  int64_t max_survivor_dot = 0;
};

// Profiles of §4.1. default: SliceGate::defaults, weights 256/16/1, hamming_weight 1.0,
// bf16_weight 0.01, max_bf16_candidates 100. learning: SliceGate::learning, weights 1024/64/0,
// 0.5, 0.02, 50.
enum class HybridProfile { standard, learning };

struct HybridConfig {
  std::string name;              // label only
  uint32_t record_bits = 16384;  // 16384 or 65536
  HybridProfile profile = HybridProfile::standard;
  SliceGate gate = SliceGate::defaults(16384);  // labels hits (HDR); never filters them
  uint32_t max_distance = 8027;  // a Hamming hit is d <= max_distance (<= record_bits)
  CascadeMode cascade = CascadeMode::exact;
  double safety_margin = 1.5;  // statistical cascade only
  std::vector<uint32_t> cascade_stages{1, 8};
  IsaChoice isa = IsaChoice::automatic;  // scan ISA, and the kernels of Tier-0 and the tail
  BackendChoice backend = BackendChoice::automatic;
  BF16Weights bf16_weights = BF16Weights::defaults();
  double hamming_weight = 1.0;         // finite, >= 0
  double bf16_weight = 0.01;           // finite, >= 0
  uint32_t max_bf16_candidates = 100;  // 0 = every Hamming hit; at most 1000000
  AwarenessThresholds awareness{};
  Tier0Config tier0{};
  uint32_t top_k = 0;  // results returned; 0 = all scored

  // The §4.1 defaults for a SKU (16384 or 65536 bits) and profile; max_distance = k2_cold − 1,
  // so the Hamming hits are exactly the seed's HDR matches (d < k2_cold).
  static HybridConfig defaults(uint32_t record_bits = 16384,
                               HybridProfile profile = HybridProfile::standard);
  static HybridConfig learning(uint32_t record_bits) {
    return defaults(record_bits, HybridProfile::learning);
  }
  uint32_t record_bytes() const { return record_bits / 8; }
};

// Parses a hybrid config (strict JSON, unknown fields rejected; every error a ConfigError
// "<json pointer>: <rule>"). Fields:
//   version (1, required), name, record_bits (16384 | 65536, required),
//   record_type ("bf16", required), profile ("default" | "learning"),
//   max_distance (0..record_bits; default gate k2_cold − 1),
//   cascade (the scan config's cascade object: mode, safety_margin, stages),
//   tier0 {enabled (required), mode ("top_k" | "fraction", default "fraction"), value (top_k:
//     an integer >= 1, required; fraction: a number in (0, 1], > 0 as a float32, default 0.25)},
//   bf16_weights ("default" | "jina" | "training" or {sign, exponent, mantissa}),
//   hamming_weight, bf16_weight (numbers >= 0), max_bf16_candidates (0..1000000),
//   awareness {sign_consensus, exp_spread, mantissa_noise} (0..255), top_k (1..1000000),
//   isa ("auto" | "avx512" | "avx2" | "scalar"), backend ("auto" | "xbyak" | "llvm" | "runtime").
HybridConfig parse_hybrid_config(std::string_view json_text);

struct HybridScore {
  uint64_t index = 0;  // in the caller's database (Tier-0 compaction undone)
  uint32_t hamming_distance = 0;
  HdrScore hdr;
  EnergyConflict energy;
  SigmaScore sigma;
  uint64_t bf16_distance = 0;
  BF16DiffCounts diff;
  AwarenessFractions awareness;  // of [query, candidate]
  double combined_score = 0;
};

struct HybridStats {
  Tier0Stats tier0;
  ScanStats binary;                 // the Hamming scan (summed over its parts)
  uint64_t hamming_candidates = 0;  // hits the scan returned to the BF16 tail
  uint64_t bf16_scored = 0;
  uint64_t sign_flip_candidates = 0;        // scored with diff.sign_flips > 0
  uint64_t magnitude_shift_candidates = 0;  // scored with diff.major_magnitude_shifts > 0
};

struct HybridResult {
  std::vector<HybridScore> scores;  // by (combined_score, index)
  HybridStats stats;
};

// One match of resonance_decompose, with its 2-vector awareness against the query.
struct ResonantMatch {
  uint64_t index = 0;
  double score = 0;  // combined_score
  uint32_t hamming_distance = 0;
  uint64_t bf16_distance = 0;
  SuperpositionState awareness;
  float crystallized_ratio = 0;
  float tension_ratio = 0;
  uint64_t sign_flips = 0;
};

struct ResonanceResult {
  std::vector<ResonantMatch> crystallized;  // crystallized_ratio > 0.5
  std::vector<ResonantMatch> tensioned;     // else tension_ratio > 0.3
  std::vector<ResonantMatch> uncertain;     // else (noise-dominant matches land here too)
  // 1.1 × the combined score of the last of the top matches if there are >= 3 of them, else
  // the largest double.
  double noise_floor = std::numeric_limits<double>::max();
  // From the query and the best 1–2 matches of the full score list; empty without matches.
  std::optional<LearningSignal> learning_signal;
  HybridStats stats;
};

class HybridPipeline {
 public:
  // Validates the config (Error(invalid_argument) for a rule it breaks, Error(unsupported) for
  // an ISA this CPU lacks) and compiles the Hamming stage with the engine (a private engine if
  // none is given).
  explicit HybridPipeline(HybridConfig config, std::shared_ptr<Engine> engine = nullptr);
  static HybridPipeline from_json(std::string_view json_text,
                                  std::shared_ptr<Engine> engine = nullptr);

  const HybridConfig &config() const { return config_; }
  const Kernel &hamming_kernel() const { return *kernel_; }
  const KernelTable &kernel_table() const { return *kernels_; }

  // query: record_bytes bytes; db: row-major records of record_bytes. Thread-safe.
  HybridResult run(std::span<const uint8_t> query, DatabaseView db) const;

  // §4.4: the first min(top_k, n) scores of the full list (config top_k not applied), each
  // decomposed against the query and bucketed, plus the learning signal.
  ResonanceResult resonance_decompose(std::span<const uint8_t> query, DatabaseView db,
                                      size_t top_k = 10) const;

 private:
  HybridResult run_all(std::span<const uint8_t> query, DatabaseView db) const;
  HybridConfig config_;
  std::shared_ptr<Engine> engine_;
  std::shared_ptr<const Kernel> kernel_;
  const KernelTable *kernels_ = nullptr;
  SigmaGate sigma_gate_;
  uint32_t scan_top_k_ = 0;
};

// Tier-0 alone (§4.2): the surviving indices in ascending order, and the stats.
std::vector<uint64_t> tier0_prefilter(std::span<const uint8_t> query, DatabaseView db,
                                      const Tier0Config &config, Tier0Stats &stats,
                                      const KernelTable &kt = kernels());

}  // namespace jitson
