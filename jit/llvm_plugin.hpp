// The LLVM backend lives in its own shared object, libjitson_llvm.so, loaded with dlopen on the
// first config that asks for "backend": "llvm" (or the first disassembly), so a process that
// never asks for LLVM never maps libLLVM. This is the one entry point the plugin exports; no
// LLVM header appears here. In static builds the plugin's objects are linked into libjitson and
// the loader calls the entry point directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "jitson/plan.hpp"

namespace jitson {

class CompiledCode;
class LlvmJit;

// Bumped whenever this struct or a type it passes changes; the loader also requires the same
// jitson version, since C++ types cross the boundary (both sides come from one build).
inline constexpr uint32_t kLlvmPluginAbi = 1;

struct LlvmPluginApi {
  uint32_t abi;
  const char *jitson_version;
  const char *llvm_version;
  std::shared_ptr<LlvmJit> (*create_jit)();  // throws Error(unsupported)
  std::shared_ptr<CompiledCode> (*compile_row)(const ScanPlan &plan, LlvmJit &jit);
  std::shared_ptr<CompiledCode> (*compile_sweep)(const ScanPlan &plan, LlvmJit &jit);
  std::string (*disassemble)(const void *code, size_t bytes, const std::string &cpu_hint);
};

}  // namespace jitson

extern "C" const jitson::LlvmPluginApi *jitson_llvm_plugin_api();
