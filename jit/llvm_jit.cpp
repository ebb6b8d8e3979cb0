// The ORC LLJIT of the LLVM backend, its per-ISA target choice and target-machine pool.
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/Support/CodeGen.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/TargetParser/Triple.h>

#include "jit/llvm_internal.hpp"
#include "jit/llvm_jit.hpp"
#include "jitson/error.hpp"

namespace jitson {

bool initialise_llvm_native_target() {
  // One registration for the whole process: LLVM's target registry is not safe to fill from
  // two threads at once.
  static const bool ok = !llvm::InitializeNativeTarget() &&
                         !llvm::InitializeNativeTargetAsmPrinter() &&
                         !llvm::InitializeNativeTargetDisassembler();
  return ok;
}

namespace {

std::string host_feature_string() {
  std::string features;
  for (const auto &entry : llvm::sys::getHostCPUFeatures()) {
    if (!features.empty()) features += ',';
    features += entry.getValue() ? '+' : '-';
    features += entry.getKey().str();
  }
  return features;
}

std::vector<std::string> split_features(const std::string &features) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < features.size()) {
    size_t comma = features.find(',', start);
    if (comma == std::string::npos) comma = features.size();
    if (comma > start) out.push_back(features.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

llvm::orc::JITTargetMachineBuilder machine_builder(const LlvmIsaTarget &target) {
  llvm::orc::JITTargetMachineBuilder builder{llvm::Triple(llvm::sys::getProcessTriple())};
  builder.setCPU(target.cpu);
  builder.addFeatures(split_features(target.features));
  // O1 code generation: compiles take about a tenth less than at O2 (bench_llvm on Zen 4,
  // 2026-12-06: scattered avx512 8.9 against 10.1 ms, default avx512 6.8 against 7.8) and the
  // kernels run at the same speed in L2 and from DRAM. O0 would halve the compile time but its
  // fast register allocator spills the accumulators: kernels 25-40 % slower.
  builder.setCodeGenOptLevel(llvm::CodeGenOptLevel::Less);
  // PIC + small code model: JITLink may place code anywhere in the address space, and the
  // kernel's constants travel in the same allocation, so RIP-relative references always fit.
  builder.setRelocationModel(llvm::Reloc::PIC_);
  builder.setCodeModel(llvm::CodeModel::Small);
  return builder;
}

}  // namespace

[[noreturn]] void throw_llvm_error(llvm::Error error, const std::string &what) {
  throw Error(ErrorKind::internal,
              "LLVM backend: " + what + ": " + llvm::toString(std::move(error)));
}

LlvmIsaTarget llvm_isa_target(Isa isa) {
  if (!isa_supported(isa))
    throw Error(ErrorKind::unsupported,
                std::string("LLVM backend: this CPU cannot run ") + isa_name(isa) + " code");
  switch (isa) {
    case Isa::avx512:
      // The host's own CPU and features: LLVM then selects VPOPCNTQ for llvm.ctpop on
      // <8 x i64> and schedules for this micro-architecture.
      return {llvm::sys::getHostCPUName().str(), host_feature_string(), 8};
    case Isa::avx2:
      // Everything Haswell has, and explicitly no AVX-512 (disabling avx512f and evex512
      // disables every AVX-512 extension), so the code runs on AVX2-only CPUs: no EVEX.
      return {"haswell", "+avx2,+popcnt,+bmi2,+fma,-avx512f,-evex512", 4};
    case Isa::scalar:
      // Baseline x86-64 with 64-bit scalar words; POPCNT only if this CPU has it.
      return {"x86-64", cpu_features().popcnt ? "+popcnt" : "", 1};
  }
  throw Error(ErrorKind::internal, "LLVM backend: unknown ISA");
}

const LlvmIsaTarget &LlvmJitState::target(Isa isa) const {
  const LlvmIsaTarget &t = targets[static_cast<size_t>(isa)];
  if (t.cpu.empty()) {
    llvm_isa_target(isa);  // throws Error(unsupported) saying why
    throw Error(ErrorKind::internal, std::string("LLVM backend: no target for ") + isa_name(isa));
  }
  return t;
}

std::unique_ptr<llvm::TargetMachine> LlvmJitState::acquire_machine(Isa isa) {
  {
    std::lock_guard lock(pool_mutex);
    auto &pool = machine_pool[static_cast<size_t>(isa)];
    if (!pool.empty()) {
      auto machine = std::move(pool.back());
      pool.pop_back();
      return machine;
    }
  }
  auto machine = machine_builder(target(isa)).createTargetMachine();
  if (!machine) throw_llvm_error(machine.takeError(), "creating the target machine");
  return std::move(*machine);
}

void LlvmJitState::release_machine(Isa isa, std::unique_ptr<llvm::TargetMachine> machine) {
  std::lock_guard lock(pool_mutex);
  machine_pool[static_cast<size_t>(isa)].push_back(std::move(machine));
}

LlvmJitState::~LlvmJitState() = default;

LlvmJit::LlvmJit(std::shared_ptr<LlvmJitState> state) : state_(std::move(state)) {}
LlvmJit::~LlvmJit() = default;

std::unique_ptr<LlvmJit> LlvmJit::create() {
  if (!initialise_llvm_native_target())
    throw Error(ErrorKind::unsupported, "LLVM has no code generator for this machine");
  auto host = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!host) throw_llvm_error(host.takeError(), "detecting the host");
  host->setRelocationModel(llvm::Reloc::PIC_);
  host->setCodeModel(llvm::CodeModel::Small);
  // Kernels arrive as finished objects (compile_llvm optimises and generates code with a
  // pooled target machine), so the JIT only links, owns and removes them. No platform: the
  // objects have no initialisers. The concurrent compiler is set anyway so that any IR added
  // from several threads would be safe.
  auto jit = llvm::orc::LLJITBuilder()
                 .setJITTargetMachineBuilder(std::move(*host))
                 .setPlatformSetUp(llvm::orc::setUpInactivePlatform)
                 .setSupportConcurrentCompilation(true)
                 .create();
  if (!jit) {
    std::string message = llvm::toString(jit.takeError());
    throw Error(ErrorKind::unsupported, "LLVM backend: cannot create the ORC JIT: " + message);
  }
  auto state = std::make_shared<LlvmJitState>();
  state->jit = std::move(*jit);
  // Failures reach the caller as errors of addObjectFile/lookup; nothing is printed.
  state->jit->getExecutionSession().setErrorReporter(
      [](llvm::Error error) { llvm::consumeError(std::move(error)); });
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (isa_supported(isa)) state->targets[static_cast<size_t>(isa)] = llvm_isa_target(isa);
  }
  return std::unique_ptr<LlvmJit>(new LlvmJit(std::move(state)));
}

size_t LlvmJit::live_kernels() const {
  return state_->live_kernels.load();
}

bool LlvmJit::defines(const std::string &symbol) const {
  auto address = state_->jit->lookup(symbol);
  if (!address) {
    llvm::consumeError(address.takeError());
    return false;
  }
  return true;
}

}  // namespace jitson
