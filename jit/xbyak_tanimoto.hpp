// The Xbyak backend's Tanimoto row kernels (jit/xbyak_tanimoto.cpp): compile_xbyak hands plans
// with cascade.metric == Metric::tanimoto to this generator.
#pragma once

#include <memory>

#include "jit/backend.hpp"
#include "jit/code_arena.hpp"
#include "jit/xbyak_scan.hpp"

namespace jitson {

// A block function equal, hit for hit and counter for counter, to scan_block_runtime on a
// Tanimoto cascade (runtime/scan.cpp). Throws Error(unsupported) for an ISA other than avx512 or
// avx2 or one this CPU lacks, Error(internal) for a malformed plan.
std::shared_ptr<CompiledCode> compile_xbyak_tanimoto(const ScanPlan &plan, CodeArena &arena,
                                                     const XbyakTuning &tuning);

}  // namespace jitson
