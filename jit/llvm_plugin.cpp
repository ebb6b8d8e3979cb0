// The LLVM plugin's entry point (jit/llvm_plugin.hpp).
#include "jit/llvm_plugin.hpp"

#include <llvm/Config/llvm-config.h>

#include "jit/backend.hpp"
#include "jit/llvm_jit.hpp"

extern "C" const jitson::LlvmPluginApi *jitson_llvm_plugin_api() {
  static const jitson::LlvmPluginApi api{
      jitson::kLlvmPluginAbi,
      JITSON_VERSION,
      LLVM_VERSION_STRING,
      []() -> std::shared_ptr<jitson::LlvmJit> { return jitson::LlvmJit::create(); },
      [](const jitson::ScanPlan &plan, jitson::LlvmJit &jit) {
        return jitson::compile_llvm(plan, jit);
      },
      [](const jitson::ScanPlan &plan, jitson::LlvmJit &jit) {
        return jitson::compile_llvm_sweep(plan, jit);
      },
      [](const void *code, size_t bytes, const std::string &hint) {
        return jitson::disassemble_llvm(code, bytes, hint);
      },
  };
  return &api;
}
