// The LLVM ORC backend's JIT: one LLJIT per engine, created lazily by the engine on its first
// LLVM compile. No LLVM header appears here (the engine includes this file); the LLVM state
// lives in jit/llvm_internal.hpp, seen only by jit/llvm_*.cpp.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "jitson/cpu.hpp"

namespace jitson {

struct LlvmJitState;  // jit/llvm_internal.hpp

// Each kernel compiled by compile_llvm() (jit/backend.hpp) lives in its own resource tracker of
// this JIT and is removed from it when its CompiledCode is destroyed. Kernels keep the JIT's
// state alive, so a kernel may outlive the LlvmJit (and the engine) that compiled it.
// Thread-safe: any number of threads may compile through one LlvmJit at once.
class LlvmJit {
 public:
  // Initialises LLVM's native target (once per process) and builds the LLJIT. Throws
  // Error(unsupported) if LLVM cannot target this machine.
  static std::unique_ptr<LlvmJit> create();
  ~LlvmJit();
  LlvmJit(const LlvmJit &) = delete;
  LlvmJit &operator=(const LlvmJit &) = delete;

  // Kernels whose code is currently linked into the JIT.
  size_t live_kernels() const;
  // Whether the JIT's dylib still defines `symbol` (e.g. a removed kernel's entry: false).
  bool defines(const std::string &symbol) const;

  LlvmJitState &state() const { return *state_; }
  const std::shared_ptr<LlvmJitState> &shared_state() const { return state_; }

 private:
  explicit LlvmJit(std::shared_ptr<LlvmJitState> state);
  std::shared_ptr<LlvmJitState> state_;
};

// Name of the entry symbol of an LLVM kernel's code, or "" if `code` is not LLVM code.
class CompiledCode;
std::string llvm_symbol_name(const CompiledCode &code);

}  // namespace jitson
