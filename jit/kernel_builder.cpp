// Plan → Kernel with backend fallback and sweep set-up: see jit/kernel_builder.hpp.
#include "jit/kernel_builder.hpp"

#include <chrono>

#include <fmt/format.h>

#include "jit/observe.hpp"
#include "jitson/error.hpp"

namespace jitson {
namespace {

constexpr const char *kJitDisabled = "JIT disabled (engine option jit=false or JITSON_JIT=off)";

}  // namespace

KernelBuilder::KernelBuilder(bool jit_enabled, unsigned default_threads)
    : jit_enabled_(jit_enabled), default_threads_(default_threads) {}

KernelBuilder::~KernelBuilder() = default;

BackendSession &KernelBuilder::session(Backend backend) {
  Slot &slot = slots_[size_t(backend)];
  std::call_once(slot.once, [&] {
    try {
      const BackendInfo *info = find_backend(backend);
      if (!info) {
        throw Error(ErrorKind::unsupported, fmt::format("{} is not built in", to_string(backend)));
      }
      slot.session = info->open();
    } catch (const std::exception &e) {
      slot.error = e.what();
    }
  });
  if (!slot.session) throw Error(ErrorKind::unsupported, slot.error);
  return *slot.session;
}

std::shared_ptr<const Kernel> KernelBuilder::build(ScanPlan plan) {
  const auto t0 = std::chrono::steady_clock::now();
  const Backend wanted = plan.backend;
  Backend backend = wanted;
  std::string fallback;
  std::shared_ptr<CompiledCode> code;
  if (!jit_enabled_ && backend != Backend::runtime) {
    fallback = kJitDisabled;
    backend = Backend::runtime;
  }
  // A "blocked" kernel has no row code; its sweep is its only entry.
  if (plan.build_row && backend != Backend::runtime) {
    try {
      code = session(backend).compile_row(plan);
    } catch (const std::exception &e) {
      fallback = fmt::format("{} code generation failed: {}", to_string(backend), e.what());
      backend = Backend::runtime;
      code.reset();
    }
  }
  Sweep sweep;
  if (plan.build_sweep) {
    sweep = make_sweep(plan, jit_enabled_ ? wanted : Backend::runtime);
    if (!plan.build_row) {
      // The sweep is the kernel: its backend is the kernel's, its failure the kernel's fallback.
      backend = sweep.backend;
      if (!jit_enabled_ && wanted != Backend::runtime) {
        fallback = kJitDisabled;
      } else if (sweep.backend != wanted) {
        fallback = sweep.note;
      } else {
        fallback.clear();
      }
    }
  }
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  auto kernel = std::make_shared<Kernel>(
      std::move(plan), backend, std::move(code),
      std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed), fallback);
  if (sweep.defer) {
    kernel->defer_sweep(sweep.backend, std::move(sweep.generator));
  } else if (kernel->plan().build_sweep) {
    kernel->attach_sweep(sweep.backend, std::move(sweep.code), std::move(sweep.note),
                         std::move(sweep.generator));
  }
  if (kernel->code_) {
    // the row code came from `backend`, whose session is open
    kernel->gather_generator_ = session(backend).gather_generator();
  }
  kernel->default_threads_ = default_threads_;
  observe_compile(*kernel);
  return kernel;
}

KernelBuilder::Sweep KernelBuilder::make_sweep(const ScanPlan &plan, Backend wanted) {
  Sweep sweep;
  if (wanted == Backend::runtime) return sweep;
  try {
    BackendSession &s = session(wanted);
    sweep.generator = s.sweep_generator();
    sweep.backend = wanted;
    // Beside a row kernel a deferring backend generates the sweep at the first blocked scan.
    sweep.defer = s.defers_sweep() && plan.build_row;
    if (!sweep.defer) sweep.code = s.compile_sweep(plan);
  } catch (const std::exception &e) {
    sweep = Sweep{};
    sweep.note =
        fmt::format("{} sweep generation failed: {}; the runtime sweep scans blocked databases",
                    to_string(wanted), e.what());
  }
  return sweep;
}

}  // namespace jitson
