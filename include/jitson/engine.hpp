// The engine: compiles scan configs into kernels (cached, thread-safe) and scans with them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jitson/config.hpp"
#include "jitson/cpu.hpp"
#include "jitson/database.hpp"
#include "jitson/layout.hpp"
#include "jitson/plan.hpp"
#include "jitson/scan.hpp"

namespace jitson {

struct EngineOptions {
  unsigned threads = 0;            // scan threads; 0 = all cores
  size_t cache_bytes = 64u << 20;  // LRU capacity in bytes: code, plans and kept config texts
  std::optional<Isa> isa;          // upper limit on the ISA kernels may use
  bool jit = true;                 // false: every kernel uses the runtime backend
  // Wisdom file for this engine's tuning (jitson/tuning.hpp); "" = the process-wide default
  // ($JITSON_WISDOM, the cache directory, the built-in table).
  std::string wisdom;
  // Parses {"threads": N, "cache_bytes": N, "isa": "...", "jit": true|false, "wisdom": "path"};
  // throws ConfigError.
  static EngineOptions from_json(std::string_view json);
};

class CompiledCode;   // backend-owned machine code (jit/)
class KernelBuilder;  // jit/kernel_builder.hpp

class Kernel {
 public:
  Kernel(ScanPlan plan, Backend backend, std::shared_ptr<CompiledCode> code,
         std::chrono::nanoseconds compile_time, std::string fallback_reason);
  ~Kernel();

  const ScanSpec &spec() const { return plan_.spec; }
  const ScanPlan &plan() const { return plan_; }
  Backend backend() const { return backend_; }  // the backend that actually generated the code
  Isa isa() const { return plan_.isa; }
  size_t code_bytes() const;
  std::chrono::nanoseconds compile_time() const { return compile_time_; }
  // Why the kernel runs on the runtime backend although the config asked for another ("" if not).
  const std::string &fallback_reason() const { return fallback_reason_; }
  // e.g. "xbyak avx512 record_bits=16384 focus_words=256 stages=1,9,256 ..."
  // Built on first call (formatting it costs more than a cache hit).
  const std::string &describe() const;

  // Whole database, threads from the engine (or override with threads > 0). A row-major view
  // runs the row kernel, a blocked view the sweep kernel (docs/BLOCKED.md); a kernel whose
  // config "layout" excludes the view's layout throws Error(unsupported).
  ScanResult scan(const uint8_t *query, DatabaseView db, unsigned threads = 0) const;
  // Records [begin, end) on the calling thread only (for hosts that bring their own threads).
  ScanResult scan_range(const uint8_t *query, DatabaseView db, uint64_t begin, uint64_t end) const;
  // n_queries consecutive queries of record_bytes each.
  std::vector<ScanResult> scan_batch(const uint8_t *queries, uint64_t n_queries, DatabaseView db,
                                     unsigned threads = 0) const;

  // A database held in both layouts: "row" / "blocked" kernels take theirs, "auto" the one the
  // planner's crossover rule prefers (chosen_layout()).
  ScanResult scan(const uint8_t *query, const DualDatabase &db, unsigned threads = 0) const;
  ScanResult scan_range(const uint8_t *query, const DualDatabase &db, uint64_t begin,
                        uint64_t end) const;
  std::vector<ScanResult> scan_batch(const uint8_t *queries, uint64_t n_queries,
                                     const DualDatabase &db, unsigned threads = 0) const;
  Layout chosen_layout() const;  // for a DualDatabase

  bool has_row_kernel() const { return plan_.build_row; }
  bool has_sweep_kernel() const { return plan_.build_sweep; }
  // What generated the sweep. An xbyak sweep beside a row kernel is generated on the first
  // blocked scan (it would double the compile latency of every row-only user); asking this, like
  // sweep_function() and dump_asm(), generates it if it is still pending.
  Backend sweep_backend() const;
  // Why the sweep is not generated code ("" when it is, or when the plan asked for the runtime).
  const std::string &sweep_note() const;
  // The sweep entry for blocks of block_records records and its context: generated code for
  // the plan's B and, with an xbyak sweep, for any other power-of-two multiple of 64 (generated
  // on its first use); the runtime sweep otherwise. Throws Error(unsupported) without a sweep.
  BlockFn sweep_function(uint32_t block_records) const;
  const void *sweep_context(uint32_t block_records) const;

  // The block function and its context that scan db: the row kernel for a row-major view, the
  // sweep for a blocked one. Checks the record size and that the kernel has that layout (throws
  // like scan()). For drivers that call the kernel chunk by chunk (TopKAccumulator).
  std::pair<BlockFn, const void *> entry(const DatabaseView &db) const;

  BlockFn block_function() const { return fn_; }
  // The row kernel over scattered records, one call for many (jitson/scan.hpp, BlockFn), with
  // no context: generated at the first call (Xbyak Hamming kernels); nullptr when the backend
  // makes none (LLVM, runtime, Tanimoto), and then one calls the row entry per record.
  BlockFn gather_function() const;
  const void *code_address() const;  // first byte of generated code; nullptr for runtime
  const void *block_context() const { return context_; }
  std::string dump_asm() const;  // disassembly ("" when the backend has no machine code)
  std::string dump_ir() const;   // LLVM IR ("" for other backends)

 private:
  friend class KernelBuilder;  // jit/kernel_builder.hpp: sets up the sweep and the threads
  ScanRequest request(unsigned threads) const;
  using SweepGenerator = std::function<std::shared_ptr<CompiledCode>(const ScanPlan &)>;
  using GatherGenerator = SweepGenerator;  // code made from the plan, like a sweep
  // `generate` (may be empty) makes sweeps for the database block sizes other than the plan's.
  void attach_sweep(Backend backend, std::shared_ptr<CompiledCode> code, std::string note,
                    SweepGenerator generate = {});
  // Records the sweep's backend now and generates its code on first use (ensure_sweep()).
  void defer_sweep(Backend backend, SweepGenerator generate);
  std::pair<BlockFn, const void *> sweep_entry(uint32_t block_records) const;
  void ensure_sweep() const;
  void install_sweep(Backend backend, std::shared_ptr<CompiledCode> code, std::string note) const;
  std::string make_description() const;
  // The entry and context that scan db (row or sweep), after checking the kernel has it.
  std::pair<BlockFn, const void *> entry_for(const DatabaseView &db) const;
  const DatabaseView &pick(const DualDatabase &db) const;
  ScanPlan plan_;
  Backend backend_;
  std::shared_ptr<CompiledCode> code_;
  BlockFn fn_ = nullptr;
  const void *context_ = nullptr;
  std::chrono::nanoseconds compile_time_{};
  mutable std::once_flag description_once_;
  mutable std::string description_;
  std::string fallback_reason_;
  unsigned default_threads_ = 1;
  // The sweep: set at construction, or once by ensure_sweep() when deferred; every reader
  // calls ensure_sweep() first, whose call_once orders the writes before the reads.
  SweepGenerator sweep_generator_;
  bool sweep_deferred_ = false;  // the plan's sweep waits for ensure_sweep()
  mutable std::once_flag sweep_once_;
  mutable Backend sweep_backend_ = Backend::runtime;
  mutable std::shared_ptr<CompiledCode> sweep_code_;
  mutable BlockFn sweep_fn_ = nullptr;
  mutable const void *sweep_context_ = nullptr;
  mutable std::string sweep_note_;
  mutable std::atomic<size_t> sweep_code_bytes_{0};  // read by code_bytes() without ensure
  struct {
    Backend backend = Backend::runtime;
    std::string note;
  } described_sweep_;  // the sweep as the engine set it up, for describe()
  // Sweeps for block sizes other than the plan's, made on first use: generated code where
  // sweep_generator_ can make it, else the runtime sweep over its own cascade.
  struct OtherBlockSweep {
    std::unique_ptr<Cascade> cascade;
    std::shared_ptr<CompiledCode> code;
  };
  mutable std::mutex other_blocks_mutex_;
  mutable std::map<uint32_t, OtherBlockSweep> other_blocks_;
  // The gather entry: the generator is set by the builder before the kernel is shared; the
  // code is made once, by the first gather_function().
  GatherGenerator gather_generator_;
  mutable std::once_flag gather_once_;
  mutable std::shared_ptr<CompiledCode> gather_code_;
  mutable std::atomic<size_t> gather_code_bytes_{0};
};

// bytes counts the kernels' code and plans and the config texts kept for the no-parse fast path
// (at most 4 per kernel, each at most kMaxConfigBytes): everything the cache holds is within
// capacity_bytes, give or take the one entry being added.
struct CacheStats {
  uint64_t hits = 0, misses = 0, evictions = 0, compiles = 0, fallbacks = 0;
  size_t entries = 0, bytes = 0, capacity_bytes = 0;
  size_t texts = 0;  // config texts kept
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {});
  ~Engine();
  Engine(const Engine &) = delete;
  Engine &operator=(const Engine &) = delete;

  // Config text → kernel. Throws ConfigError for a bad config; never throws for a code
  // generation failure (falls back to the runtime backend and says so in describe()).
  std::shared_ptr<const Kernel> compile(std::string_view config_json);
  std::shared_ptr<const Kernel> compile(const ScanSpec &spec);

  CacheStats cache_stats() const;
  const EngineOptions &options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Which backends this build has, and library versions, for `jitson info`.
bool backend_built(Backend b);
std::string version_string();  // jitson version
std::string xbyak_version();   // "" if not built
std::string llvm_version();    // "" if not built

}  // namespace jitson
