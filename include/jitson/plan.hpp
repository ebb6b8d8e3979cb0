// ScanPlan: the machine-independent lowering of a ScanSpec that every backend generates from.
#pragma once

#include <cstdint>
#include <string>

#include "jitson/config.hpp"
#include "jitson/cpu.hpp"
#include "jitson/scan.hpp"

namespace jitson {

enum class Backend { xbyak, llvm, runtime };
const char *to_string(Backend);

struct ScanPlan {
  ScanSpec spec;
  uint32_t record_bits = 0, record_bytes = 0, record_words = 0;
  uint32_t focus_bits = 0;
  uint32_t skipped_words = 0, full_words = 0, partial_words = 0;
  CascadeMode mode = CascadeMode::exact;
  Cascade cascade;               // stages with segments and (statistical) bounds
  Isa isa = Isa::scalar;         // resolved: what the code is generated for
  Backend backend = Backend::xbyak;  // resolved preference (the engine may fall back)
  uint32_t prefetch_records = 0; // software prefetch distance in records (0 = none)
  uint32_t unroll = 1;           // records per loop trip in generated code
  uint32_t block_records = 0;    // records per kernel call
  uint64_t key = 0;

  std::string to_json() const;    // the plan as JSON (for dumps)
  std::string stages_string() const;  // "1,8,256": cumulative focused words per stage
};

// Lowers a spec. Resolves isa (auto → active_isa()) and backend (auto → xbyak when built, else
// runtime); throws ConfigError("/isa", ...) if the CPU lacks the requested ISA and
// ConfigError("/backend", ...) if the backend is not built in.
ScanPlan make_plan(const ScanSpec &spec);

}  // namespace jitson
