// Internal interface between the engine and the code generators. Xbyak and LLVM headers never
// appear here: each backend hides them in its own .cpp files.
#pragma once

#include <cstddef>
#include <cstdint>
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

// Each throws Error (kind unsupported or internal) when it cannot generate code for the plan;
// the engine then falls back to the runtime backend.
std::shared_ptr<CompiledCode> compile_xbyak(const ScanPlan &plan, CodeArena &arena);
std::shared_ptr<CompiledCode> compile_llvm(const ScanPlan &plan, LlvmJit &jit);

// Sweep kernels for the blocked layout (the SWEEP ABI above sweep_block_runtime in
// jitson/scan.hpp), specialised for B = plan.cascade.block_records. Same error contract.
std::shared_ptr<CompiledCode> compile_xbyak_sweep(const ScanPlan &plan, CodeArena &arena);
// Defined by jit/llvm_sweep.cpp; the engine calls it only when JITSON_HAVE_LLVM_SWEEP is defined.
std::shared_ptr<CompiledCode> compile_llvm_sweep(const ScanPlan &plan, LlvmJit &jit);

// Disassembly of machine code at `code` (LLVM MC); "" when LLVM is not built in.
std::string disassemble(const void *code, size_t bytes, const std::string &cpu_features_hint);

}  // namespace jitson
