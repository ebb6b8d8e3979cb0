// ScanPlan: the machine-independent lowering of a ScanSpec that every backend generates from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "jitson/config.hpp"
#include "jitson/cpu.hpp"
#include "jitson/scan.hpp"
#include "jitson/tuning.hpp"

namespace jitson {

enum class Backend { xbyak, llvm, runtime };
const char *to_string(Backend);

struct ScanPlan {
  ScanSpec spec;
  uint32_t record_bits = 0, record_bytes = 0, record_words = 0;
  uint32_t focus_bits = 0;
  uint32_t skipped_words = 0, full_words = 0, partial_words = 0;
  CascadeMode mode = CascadeMode::exact;
  Cascade cascade;                   // stages with segments and (statistical) bounds
  Isa isa = Isa::scalar;             // resolved: what the code is generated for
  Backend backend = Backend::xbyak;  // resolved preference (the engine may fall back)
  uint32_t prefetch_records = 0;     // software prefetch distance in records (0 = none)
  Tuning tuning;                     // the machine's, with the config's pins applied
  std::string tuning_source;         // "wisdom PATH", "built-in: ...", "defaults" (+ "+ pins")
  uint32_t unroll = 1;               // records per loop trip in generated code
  uint32_t block_records = 0;        // records per kernel call
  uint64_t key = 0;

  // Layouts (docs/BLOCKED.md). build_row / build_sweep: which kernels the engine builds, from
  // spec.layout. cascade.block_records is the B the generated sweep is specialised for
  // (kDefaultBlockRecords); other B run on the runtime sweep.
  LayoutChoice layout = LayoutChoice::automatic;
  bool build_row = true, build_sweep = true;
  // The crossover rule, for "auto" on a database held in both layouts: expected bytes per
  // record of each kernel under random data (each stage reached with probability
  // P[Binomial(focused bits before it, 1/2) < limit], limit = max_distance + 1; the sweep loads
  // a stage's words for a group of 8 records if any of them is active, the row scan streams the
  // focused cache lines), and prefer the sweep iff kSweepByteCost × sweep < row.
  double stage0_survival = 1;  // P[a random record survives the first stage]
  // Tanimoto: whether a popcount-ordered database may skip records by the popcount bound
  // (jitson/popcount.hpp): only when the focus is every bit, as stored popcounts count them all.
  bool popcount_bound = false;
  double sweep_words_per_record = 0;
  double sweep_bytes_per_record = 0, row_bytes_per_record = 0;
  bool prefer_sweep = false;

  std::string to_json() const;        // the plan as JSON (for dumps)
  std::string stages_string() const;  // "1,8,256": cumulative focused words per stage
};

// What a caller allows beyond the spec: the engine's upper limit on the ISA.
struct PlanLimits {
  std::optional<Isa> max_isa;  // "auto" resolves to at most this; a named ISA above it is an error
  // The engine's tuning resolver (its wisdom file); null: machine_tuning().
  const ResolvedTuning *(*tuning)(Isa isa, const void *context) = nullptr;
  const void *tuning_context = nullptr;
};

// The process-wide tuning for kernels of isa, resolved once per ISA (resolve_tuning with the
// default wisdom path; JITSON_TUNING=defaults skips the wisdom file and the built-in table);
// printed once under JITSON_VERBOSE, with the reason a wisdom file was ignored.
const ResolvedTuning &machine_tuning(Isa isa);

// Lowers a spec. Resolves isa (auto → active_isa(), capped by limits.max_isa) and backend (auto
// → xbyak when built, runtime for scalar code); throws ConfigError("/isa", ...) if the CPU or the
// limit excludes the requested ISA and ConfigError("/backend", ...) if the backend is not built
// in or cannot be loaded (the LLVM plugin).
ScanPlan make_plan(const ScanSpec &spec);
// The same, for a caller that already holds spec.key() (hashing a large focus is not free).
ScanPlan make_plan(const ScanSpec &spec, uint64_t key, const PlanLimits &limits = {});

// Bytes the sweep may cost per byte the row scan streams and still be preferred (measured by
// bench/bench_blocked.cpp's crossover sweep; docs/BLOCKED.md).
inline constexpr double kSweepByteCost = 4.0;

}  // namespace jitson
