// `jitson tune`: measures every candidate of every tuning parameter (jitson/tuning.hpp) on this
// machine and picks the fastest, one parameter at a time, each on the workloads it shapes:
//   l2 full      16,384-bit records in L2, cascade off (the loop shape: query registers, rolls)
//   l2 small     1,024-bit records in L2, cascade off (the 8-record group loop)
//   dram full    16,384-bit records from DRAM, cascade off (the stream prefetch)
//   dram cascade 16,384-bit records from DRAM, exact cascade rejecting at the second stage (the
//                probe prefetch)
// Variants alternate round by round; each figure is a median.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "jitson/cpu.hpp"
#include "jitson/tuning.hpp"

namespace jitson {

struct TuneOptions {
  Isa isa = Isa::avx512;  // the kernels to tune (the wisdom file is for this ISA)
  // Fewer rounds and a smaller DRAM table: ~2-3 s instead of ~10 s on the Zen 4 VM.
  bool quick = false;
  std::function<void(const std::string &)> progress;  // one line per measured parameter
};

struct TuneFigure {
  std::string parameter, workload;
  uint32_t value = 0;
  double gbytes_per_s = 0;  // median
};

struct TuneResult {
  Tuning tuning;                    // the fastest candidates
  std::vector<TuneFigure> figures;  // every candidate on its workload
  // Per workload: the chosen tuning's speed / the fastest fixed variant measured on it.
  std::vector<std::pair<std::string, double>> chosen_vs_best;
  std::string summary;  // what the wisdom file records under "measured"
};

// Throws Error(unsupported) when isa is not supported here.
TuneResult tune(const TuneOptions &options);

}  // namespace jitson
