// The Xbyak backend's registration: one W^X code arena per process, shared by every engine's row
// kernels and sweeps (and kept alive by their code after the engines are gone).
#include <xbyak/xbyak.h>

#include <fmt/format.h>

#include "jit/backend.hpp"
#include "jit/code_arena.hpp"

namespace jitson {
namespace {

// Xbyak::VERSION is 0xABCD for A.BC(.D); read the constant rather than constructing a
// CodeGenerator, whose default constructor maps RWE memory.
std::string version() {
  unsigned v = Xbyak::VERSION;
  std::string s = fmt::format("{:x}.{:02x}", v >> 12, (v >> 4) & 0xff);
  if (v & 0xf) s += fmt::format(".{:x}", v & 0xf);
  return s;
}

// One arena for every engine of the process, created by the first Xbyak session: a new engine's
// first compile then neither maps a memfd twice nor faults in fresh pages (measured: 91 us for
// the first compile of a fresh engine with an arena of its own, against ~17 us for later ones).
// Sharing is safe: the arena is thread-safe, and kernels hold handles, so their code outlives
// any engine. A refused arena throws out of the initialiser, which the next session tries again.
CodeArena process_arena() {
  static const CodeArena arena;
  return arena;
}

class XbyakSession final : public BackendSession {
 public:
  std::shared_ptr<CompiledCode> compile_row(const ScanPlan &plan) override {
    return compile_xbyak(plan, arena_);
  }
  std::shared_ptr<CompiledCode> compile_sweep(const ScanPlan &plan) override {
    return compile_xbyak_sweep(plan, arena_);
  }
  SweepGenerator sweep_generator() override {
    return
        [arena = arena_](const ScanPlan &plan) mutable { return compile_xbyak_sweep(plan, arena); };
  }
  // Generating the sweep beside every row kernel would double the compile latency of every
  // config scanned row-major only.
  bool defers_sweep() const override { return true; }
  // Made at a kernel's first gather feed, for the same reason.
  GatherGenerator gather_generator() override {
    return [arena = arena_](const ScanPlan &plan) mutable {
      return compile_xbyak_gather(plan, arena);
    };
  }

 private:
  CodeArena arena_ = process_arena();  // throws Error(unsupported) when the OS refuses it
};

const BackendInfo kXbyak{
    Backend::xbyak,
    "xbyak",
    false,
    [] { return std::string(); },
    version,
    []() -> std::unique_ptr<BackendSession> { return std::make_unique<XbyakSession>(); },
    nullptr,
};

[[maybe_unused]] const bool kRegistered = register_backend(kXbyak);

}  // namespace
}  // namespace jitson
