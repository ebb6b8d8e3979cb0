// Scan config version 1 (configs/scan.schema.json) parsed into a typed, canonical ScanSpec.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jitson/cpu.hpp"
#include "jitson/metric.hpp"
#include "jitson/tuning.hpp"

namespace jitson {

enum class CascadeMode { exact, statistical, off };
enum class IsaChoice { automatic, avx512, avx2, scalar };
enum class BackendChoice { automatic, xbyak, llvm, runtime };
// Database layouts a kernel scans (docs/BLOCKED.md): "row" builds the row kernel only, "blocked"
// the sweep kernel only, "auto" both, choosing by the planner's crossover rule when a database
// is held in both layouts.
enum class LayoutChoice { automatic, row, blocked };

const char *to_string(CascadeMode);
const char *to_string(IsaChoice);
const char *to_string(BackendChoice);
const char *to_string(LayoutChoice);

struct ScanSpec {
  std::string name;  // label only: not part of the key or of equality
  uint32_t record_bits = 0;
  Metric metric = Metric::hamming;
  // Hamming: the largest distance kept. Tanimoto: the largest RANK kept (jitson/metric.hpp),
  // derived from min_similarity (kTanimotoMaxRank when absent: every record qualifies).
  uint32_t max_distance = 0;
  // Tanimoto only: the threshold as its canonical decimal ("0.7"), "" when absent.
  std::string min_similarity;
  uint32_t top_k = 10;
  // Canonical focus: record_bits/64 words, bit i of the record set iff it counts.
  std::vector<uint64_t> focus;
  CascadeMode cascade = CascadeMode::exact;
  double safety_margin = 1.5;  // statistical mode only
  // Probe stages as cumulative focused-word counts, strictly increasing (K0 = 1, K1 = 8).
  std::vector<uint32_t> stage_words{1, 8};
  std::optional<uint32_t> prefetch_records;  // nullopt = planner chooses
  // Tuning parameters this config pins (jitson/tuning.hpp); the rest come from the machine.
  TuningPins tuning;
  IsaChoice isa = IsaChoice::automatic;
  BackendChoice backend = BackendChoice::automatic;
  LayoutChoice layout = LayoutChoice::automatic;

  uint32_t record_bytes() const { return record_bits / 8; }
  uint32_t record_words() const { return record_bits / 64; }
  bool focus_is_all() const;
  uint64_t focus_bits() const;
  // The probe stages that change the plan: empty for mode off, else stage_words without the
  // entries that reach or pass the last focused word (that stage is the final one anyway).
  std::vector<uint32_t> canonical_stage_words() const;

  // 64-bit key over the canonical meaning (name excluded). Equal meaning gives an equal key.
  uint64_t key() const;
  // Full comparison of meaning (what a cache hit must also check).
  bool same_meaning(const ScanSpec &o) const;
  // Canonical JSON: every field explicit, focus as sorted disjoint ranges.
  std::string canonical_json() const;
};

// Parses strict JSON (RFC 8259, no duplicate keys, no unknown fields) and validates every rule.
// Throws ConfigError naming the JSON Pointer of the offending value and the rule.
ScanSpec parse_scan_config(std::string_view json_text);

// Applies overrides (a JSON object with the same fields, e.g. from the command line) to a
// config text and parses the result with the same rules.
ScanSpec parse_scan_config(std::string_view json_text, std::string_view overrides_json);

}  // namespace jitson
