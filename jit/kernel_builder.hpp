// Plan → Kernel: runs the plan's backend through the registry (jit/backend.hpp), falls back to
// the runtime backend when code generation fails (saying why in describe()), and sets up the
// sweep of the blocked layout (now, or at the first blocked scan). One per engine; internal.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <string>

#include "jit/backend.hpp"
#include "jitson/engine.hpp"

namespace jitson {

class KernelBuilder {
 public:
  // jit_enabled false: every kernel runs on the runtime backend (engine option jit=false).
  KernelBuilder(bool jit_enabled, unsigned default_threads);
  ~KernelBuilder();

  // Never throws for a code generation failure; throws what the plan's checks throw.
  std::shared_ptr<const Kernel> build(ScanPlan plan);

 private:
  // The engine's session with a backend, opened on its first use (thread-safe); throws
  // Error(unsupported) with the reason it cannot be opened.
  BackendSession &session(Backend backend);
  // The sweep of the blocked layout: generated now, deferred to the first blocked scan, or the
  // runtime sweep (with the reason in note when `wanted` could not make it).
  struct Sweep {
    Backend backend = Backend::runtime;
    std::shared_ptr<CompiledCode> code;
    SweepGenerator generator;
    std::string note;
    bool defer = false;
  };
  Sweep make_sweep(const ScanPlan &plan, Backend wanted);

  bool jit_enabled_;
  unsigned default_threads_;
  struct Slot {
    std::once_flag once;
    std::unique_ptr<BackendSession> session;
    std::string error;
  };
  std::array<Slot, 3> slots_;  // by Backend
};

}  // namespace jitson
