// Internal interface between the engine and the code generators. Xbyak and LLVM headers never
// appear here: each backend hides them in its own .cpp files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "jitson/plan.hpp"
#include "jitson/scan.hpp"

namespace jitson {

// Machine code owned by a kernel. Freed (returned to its arena or JIT) on destruction, which
// happens only when no Kernel refers to it any more.
class CompiledCode {
 public:
  virtual ~CompiledCode() = default;
  virtual BlockFn entry() const = 0;
  virtual const void *code_address() const = 0;  // first byte of the entry function
  virtual size_t code_bytes() const = 0;
  virtual std::string ir() const { return {}; }  // LLVM IR text, "" for other backends
};

class CodeArena;  // jit/code_arena.hpp: W^X code memory (dual-mapped memfd)
class LlvmJit;    // jit/llvm_jit.hpp: one ORC LLJIT per engine, created lazily

// ---- The backend registry. Each code generator registers itself from its own translation unit
// (jit/xbyak_backend.cpp, jit/llvm_backend.cpp), so a build without it simply has no entry; the
// engine, the planner and `jitson info` ask the registry instead of testing build macros.

// Generates sweeps after the kernel is built (first blocked scan, other block sizes). Holds
// what it needs (code memory, a JIT) by value, so it outlives the engine that made it.
using SweepGenerator = std::function<std::shared_ptr<CompiledCode>(const ScanPlan &)>;
// Generates a row kernel's gather entry (jitson/scan.hpp, BlockFn) at its first use
// (Kernel::gather_function), so that no other user pays for it at compile time.
using GatherGenerator = SweepGenerator;  // the same signature: code made from the plan

// One engine's use of one backend, opened on the engine's first compile with it.
class BackendSession {
 public:
  virtual ~BackendSession() = default;
  // Each throws Error (kind unsupported or internal) when it cannot generate code for the plan;
  // the engine then falls back to the runtime backend.
  virtual std::shared_ptr<CompiledCode> compile_row(const ScanPlan &plan) = 0;
  virtual std::shared_ptr<CompiledCode> compile_sweep(const ScanPlan &plan) = 0;
  // Makes sweeps later; empty when this backend generates them only at compile time.
  virtual SweepGenerator sweep_generator() { return {}; }
  // Beside a row kernel, generate the sweep at the kernel's first blocked scan rather than at
  // compile time (worth it when generating doubles the compile latency of row-only users).
  virtual bool defers_sweep() const { return false; }
  // Makes gather entries for this backend's row kernels; empty when it makes none.
  virtual GatherGenerator gather_generator() { return {}; }
};

struct BackendInfo {
  Backend id;
  const char *name;
  bool generates_scalar;  // false: avx512 / avx2 code only
  // "" when the backend can run in this process, else why not (plugin not installed, ...). May
  // load what the backend needs (once); the planner calls it for configs that name the backend.
  std::string (*unavailable)();
  // The library version, known without loading anything ("" if unknown).
  std::string (*version)();
  // Throws Error(unsupported) with the reason when the backend cannot start here.
  std::unique_ptr<BackendSession> (*open)();
  // Disassembles machine code of any backend (LLVM's MC disassembler); nullptr if it cannot.
  std::string (*disassemble)(const void *code, size_t bytes, const std::string &cpu_hint);
};

// Called by a backend's translation unit during static initialisation.
bool register_backend(const BackendInfo &info);
// nullptr when the backend is not built in (Backend::runtime is never registered: it is the
// precompiled interpreter every kernel falls back to).
const BackendInfo *find_backend(Backend id);

// Each throws Error (kind unsupported or internal) when it cannot generate code for the plan;
// the engine then falls back to the runtime backend.
std::shared_ptr<CompiledCode> compile_xbyak(const ScanPlan &plan, CodeArena &arena);
std::shared_ptr<CompiledCode> compile_llvm(const ScanPlan &plan, LlvmJit &jit);
// The gather entry of the plan's Xbyak row kernel (Hamming only; throws Error(unsupported) for
// Tanimoto plans).
std::shared_ptr<CompiledCode> compile_xbyak_gather(const ScanPlan &plan, CodeArena &arena);

// Sweep kernels for the blocked layout (the SWEEP ABI above sweep_block_runtime in
// jitson/scan.hpp), specialised for B = plan.cascade.block_records. Same error contract.
std::shared_ptr<CompiledCode> compile_xbyak_sweep(const ScanPlan &plan, CodeArena &arena);
// The LLVM ones are defined in the LLVM plugin (jit/llvm_plugin.hpp): the engine reaches them
// through the registry, tests and benchmarks that link the plugin call them directly.
std::shared_ptr<CompiledCode> compile_llvm_sweep(const ScanPlan &plan, LlvmJit &jit);

// Disassembly of machine code at `code` by the first registered backend that disassembles (LLVM's
// MC disassembler, from the LLVM plugin, loaded on first use); "" when none can.
std::string disassemble(const void *code, size_t bytes, const std::string &cpu_features_hint);
// The same, inside the LLVM plugin (jit/llvm_disasm.cpp).
std::string disassemble_llvm(const void *code, size_t bytes, const std::string &cpu_features_hint);

}  // namespace jitson
