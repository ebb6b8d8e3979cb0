// The LLVM backend's registration inside libjitson: loads the plugin (jit/llvm_plugin.hpp) on
// first use, so libLLVM is mapped only by processes that ask for it. No LLVM header here.
#include <dlfcn.h>

#include <cstdlib>
#include <string>

#include "jit/backend.hpp"
#include "jit/llvm_plugin.hpp"
#include "jitson/engine.hpp"
#include "jitson/error.hpp"

namespace jitson {
namespace {

struct Plugin {
  const LlvmPluginApi *api = nullptr;
  std::string error;  // why api is null
};

#ifdef JITSON_LLVM_PLUGIN
// Beside libjitson (build tree and installed prefix alike), unless JITSON_LLVM_PLUGIN names it.
std::string plugin_path() {
  if (const char *path = std::getenv("JITSON_LLVM_PLUGIN"); path && *path) return path;
  Dl_info self{};
  // The address of a function of this library locates the file it was loaded from.
  if (dladdr(reinterpret_cast<const void *>(&find_backend), &self) && self.dli_fname) {
    const std::string file = self.dli_fname;
    const size_t slash = file.rfind('/');
    if (slash != std::string::npos) return file.substr(0, slash + 1) + "libjitson_llvm.so";
  }
  return "libjitson_llvm.so";
}
#endif

Plugin load() {
  Plugin p;
#ifdef JITSON_LLVM_PLUGIN
  const std::string path = plugin_path();
  // Never unloaded (RTLD_NODELETE): kernels' code and their JIT live in the plugin's LLVM.
  void *handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!handle) {
    const char *why = dlerror();
    p.error = "the llvm backend is not installed: cannot load " + path + " (" +
              (why ? why : "unknown error") +
              "); install jitson's LLVM backend beside libjitson or use backend \"xbyak\"";
    return p;
  }
  // POSIX guarantees that a dlsym result for a function converts to a function pointer.
  auto entry =
      reinterpret_cast<const LlvmPluginApi *(*)()>(dlsym(handle, "jitson_llvm_plugin_api"));
  if (!entry) {
    p.error = path + " is not jitson's LLVM backend (no jitson_llvm_plugin_api)";
    return p;
  }
  const LlvmPluginApi *api = entry();
#else
  const LlvmPluginApi *api = jitson_llvm_plugin_api();
#endif
  if (api->abi != kLlvmPluginAbi || std::string(api->jitson_version) != JITSON_VERSION) {
    p.error = "the llvm backend plugin is from another jitson build (version " +
              std::string(api->jitson_version) + ", plugin ABI " + std::to_string(api->abi) +
              "; this is " JITSON_VERSION ")";
    return p;
  }
  p.api = api;
  return p;
}

const Plugin &plugin() {
  static const Plugin loaded = load();
  return loaded;
}

class LlvmSession final : public BackendSession {
 public:
  explicit LlvmSession(const LlvmPluginApi &api) : api_(api), jit_(api.create_jit()) {}
  std::shared_ptr<CompiledCode> compile_row(const ScanPlan &plan) override {
    return api_.compile_row(plan, *jit_);
  }
  std::shared_ptr<CompiledCode> compile_sweep(const ScanPlan &plan) override {
    return api_.compile_sweep(plan, *jit_);
  }
  SweepGenerator sweep_generator() override {
    // The kernel keeps the JIT alive through the generator, as through its code.
    return
        [api = &api_, jit = jit_](const ScanPlan &plan) { return api->compile_sweep(plan, *jit); };
  }
  // An LLVM sweep costs as much to generate as the row kernel (~10 ms): generated beside every
  // "auto" row kernel it doubled the compile latency of configs that never scan a blocked
  // database (the regression of issue 17), so it waits for the kernel's first blocked scan.
  bool defers_sweep() const override { return true; }

 private:
  const LlvmPluginApi &api_;
  std::shared_ptr<LlvmJit> jit_;  // kernels keep its state alive past the session
};

const BackendInfo kLlvm{
    Backend::llvm,
    "llvm",
    true,
    [] { return plugin().error; },
    [] { return std::string(JITSON_LLVM_VERSION); },
    []() -> std::unique_ptr<BackendSession> {
      const Plugin &p = plugin();
      if (!p.api) throw Error(ErrorKind::unsupported, p.error);
      return std::make_unique<LlvmSession>(*p.api);
    },
    [](const void *code, size_t bytes, const std::string &cpu_hint) {
      const Plugin &p = plugin();
      return p.api ? p.api->disassemble(code, bytes, cpu_hint) : std::string();
    },
};

[[maybe_unused]] const bool kRegistered = register_backend(kLlvm);

}  // namespace
}  // namespace jitson
