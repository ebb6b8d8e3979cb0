// LLVM state of the ORC backend, shared by jit/llvm_*.cpp only (they alone see LLVM's headers).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include "jit/llvm_jit.hpp"
#include "jitson/cpu.hpp"
#include "jitson/plan.hpp"
#include "jitson/scan.hpp"

namespace jitson {

// What code for one ISA is generated for: the LLVM CPU, its feature string ("+a,-b,..."), and
// the number of 64-bit words per vector chunk (1 = scalar code).
struct LlvmIsaTarget {
  std::string cpu;
  std::string features;
  unsigned vector_words = 1;
};

// Throws Error(unsupported) if this CPU cannot run code for `isa`.
LlvmIsaTarget llvm_isa_target(Isa isa);

// Registers LLVM's native target, assembly printer and disassembler, once per process (thread
// safe); false if LLVM has none for this machine.
bool initialise_llvm_native_target();

// Byte offsets in a record to prefetch for record i + prefetch_records in a multi-stage plan:
// the lines the probe stages (all but the last) read, in stage order, at most 8 (the Xbyak
// backend's policy). Shared by the Hamming and Tanimoto kernels (defined in jit/llvm_scan.cpp).
std::vector<uint32_t> llvm_probe_prefetch_offsets(const Cascade &cascade);

// The end of a row kernel's record loop, shared by the Hamming and Tanimoto emitters. At `next`:
// step the record pointer (record_slot) by record_bytes and the index (index_slot) by one, and
// branch back to `loop` while records remain before records_end, else to `exit`. At `exit`: add
// the per-call counters to counters[]. The records reaching stage s + 1 are those that passed
// stage s (passed_slots[s]; past the last stage, the hits in hits_slot), the others were rejected
// by it, and every record reaching a stage reads its words; pruned_slot (null for none) holds the
// statistical mode's prunes. Stores carry output_scope (alias.scope); leaves the builder at the
// end of `exit`, before its return.
struct RecordLoopEnd {
  llvm::BasicBlock *next, *loop, *exit;
  llvm::Value *record_slot, *index_slot, *records_end;
  llvm::Value *counters, *n_records, *hits_slot, *pruned_slot;
  const std::vector<llvm::Value *> &passed_slots;
  llvm::MDNode *output_scope;
};
void emit_record_loop_end(llvm::IRBuilder<> &b, const ScanPlan &plan, const RecordLoopEnd &end);

struct LlvmJitState {
  std::unique_ptr<llvm::orc::LLJIT> jit;
  // What each ISA's code is generated for (empty CPU: the machine cannot run that ISA).
  std::array<LlvmIsaTarget, 3> targets;
  std::atomic<uint64_t> next_serial{0};
  std::atomic<size_t> live_kernels{0};

  // Target machines are not thread-safe, and building one costs more than a small kernel's
  // code generation, so each compile borrows one from a per-ISA pool and returns it.
  std::mutex pool_mutex;
  std::array<std::vector<std::unique_ptr<llvm::TargetMachine>>, 3> machine_pool;

  // Throws Error(unsupported) if this machine cannot run code for `isa`.
  const LlvmIsaTarget &target(Isa isa) const;
  std::unique_ptr<llvm::TargetMachine> acquire_machine(Isa isa);
  void release_machine(Isa isa, std::unique_ptr<llvm::TargetMachine> machine);

  ~LlvmJitState();
};

// Returns the target machine to its pool on every path out of a compile.
class BorrowedMachine {
 public:
  BorrowedMachine(LlvmJitState &state, Isa isa)
      : state_(state), isa_(isa), machine_(state.acquire_machine(isa)) {}
  ~BorrowedMachine() { state_.release_machine(isa_, std::move(machine_)); }
  BorrowedMachine(const BorrowedMachine &) = delete;
  BorrowedMachine &operator=(const BorrowedMachine &) = delete;
  llvm::TargetMachine &operator*() const { return *machine_; }
  llvm::TargetMachine *operator->() const { return machine_.get(); }

 private:
  LlvmJitState &state_;
  Isa isa_;
  std::unique_ptr<llvm::TargetMachine> machine_;
};

// Builds one kernel (jit/llvm_scan.cpp): a fresh module named "<prefix>_<key>_<serial>" in its
// own context (compiles on different threads share no IR state), set up for a target machine
// of `isa` borrowed from the pool; `emit` writes the BlockFn-ABI function of that name into it.
// The module is verified, run through the backend's clean-up passes, compiled and linked into
// the JIT under its own resource tracker. Throws Error(internal) on any failure.
class CompiledCode;
std::shared_ptr<CompiledCode> build_llvm_kernel(
    LlvmJit &jit, Isa isa, uint64_t key, const char *prefix,
    const std::function<void(llvm::Module &module, const std::string &name)> &emit);

// Converts an llvm::Error into jitson::Error(kind internal) with `what` as context.
[[noreturn]] void throw_llvm_error(llvm::Error error, const std::string &what);

}  // namespace jitson
