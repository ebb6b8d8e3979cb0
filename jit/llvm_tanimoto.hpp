// The LLVM backend's Tanimoto row kernels (jit/llvm_tanimoto.cpp), reached from compile_llvm.
#pragma once

#include <memory>

namespace jitson {

class CompiledCode;
class LlvmJit;
struct ScanPlan;

// The BlockFn of a Tanimoto plan (plan.cascade.metric == Metric::tanimoto): the results and
// counters of the runtime's Tanimoto cascade, for avx512 or avx2. Throws Error(unsupported) for
// other ISAs (the engine then falls back to the runtime backend), Error(internal) on a bad plan.
std::shared_ptr<CompiledCode> compile_llvm_tanimoto(const ScanPlan &plan, LlvmJit &jit);

}  // namespace jitson
