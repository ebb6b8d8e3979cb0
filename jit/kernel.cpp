// Kernel: a compiled scan config. Owns its code (row kernel, sweeps made on first use), its
// plan and its description, and scans through the top-k driver (runtime/scan.cpp).
#include <algorithm>
#include <mutex>

#include <fmt/format.h>

#include "jit/backend.hpp"
#include "jit/observe.hpp"
#include "jitson/engine.hpp"
#include "jitson/error.hpp"
#include "jitson/kernels.hpp"

namespace jitson {

namespace {

std::string describe_kernel(const ScanPlan &p, Backend backend, size_t code_bytes,
                            std::chrono::nanoseconds compile_time, const std::string &fallback) {
  std::string bounds;
  for (size_t s = 0; s + 1 < p.cascade.stages.size(); ++s) {
    uint32_t b = p.cascade.stages[s].statistical_bound;
    if (s) bounds.push_back(',');
    bounds.append(b == UINT32_MAX ? std::string("exact") : std::to_string(b));
  }
  std::string d = fmt::format(
      "{} {} record_bits={} focus_words={} stages={} skipped={} full={} partial={} "
      "focus_bits={} mode={} max_distance={} top_k={} prefetch={} code_bytes={} "
      "compile_us={:.1f}",
      to_string(backend), isa_name(p.isa), p.record_bits, p.full_words + p.partial_words,
      p.stages_string(), p.skipped_words, p.full_words, p.partial_words, p.focus_bits,
      to_string(p.mode), p.spec.max_distance, p.spec.top_k, p.prefetch_records, code_bytes,
      double(compile_time.count()) / 1000.0);
  if (!bounds.empty()) d += " stage_bounds=" + bounds;
  if (p.spec.metric == Metric::tanimoto) {
    // max_distance above is the largest rank kept (jitson/metric.hpp).
    d += fmt::format(" metric=tanimoto min_similarity={} popcount_bound={}",
                     p.spec.min_similarity.empty() ? "none" : p.spec.min_similarity,
                     p.popcount_bound ? "on" : "off(focus)");
  }
  d += fmt::format(" {} tuning=\"{}\"", tuning_string(p.tuning), p.tuning_source);
  if (!p.spec.name.empty()) d += " name=" + p.spec.name;
  if (!fallback.empty()) d += " fallback=\"" + fallback + "\"";
  return d;
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// Kernel

Kernel::Kernel(ScanPlan plan, Backend backend, std::shared_ptr<CompiledCode> code,
               std::chrono::nanoseconds compile_time, std::string fallback_reason)
    : plan_(std::move(plan)),
      backend_(backend),
      code_(std::move(code)),
      compile_time_(compile_time),
      fallback_reason_(std::move(fallback_reason)) {
  if (code_) {
    fn_ = code_->entry();
    context_ = nullptr;
  } else {
    // The runtime backend interprets the plan with the precompiled kernels of the plan's ISA.
    plan_.cascade.kernels = &kernel_table(plan_.isa);
    fn_ = scan_block_runtime;
    context_ = &plan_.cascade;
  }
  if (plan_.build_sweep) {
    sweep_fn_ = sweep_block_runtime;
    sweep_context_ = &plan_.cascade;
  }
}

Kernel::~Kernel() = default;

void Kernel::attach_sweep(Backend backend, std::shared_ptr<CompiledCode> code, std::string note,
                          SweepGenerator generate) {
  install_sweep(backend, std::move(code), std::move(note));
  sweep_generator_ = std::move(generate);
  described_sweep_ = {backend, sweep_note_};
}

void Kernel::defer_sweep(Backend backend, SweepGenerator generate) {
  sweep_backend_ = backend;  // what describe() names; ensure_sweep() corrects it on failure
  sweep_generator_ = std::move(generate);
  sweep_deferred_ = true;
  described_sweep_ = {backend, {}};
}

void Kernel::install_sweep(Backend backend, std::shared_ptr<CompiledCode> code,
                           std::string note) const {
  sweep_backend_ = backend;
  sweep_note_ = std::move(note);
  sweep_code_ = std::move(code);
  if (sweep_code_) {
    sweep_fn_ = sweep_code_->entry();
    sweep_context_ = nullptr;
    sweep_code_bytes_.store(sweep_code_->code_bytes(), std::memory_order_relaxed);
  }
}

void Kernel::ensure_sweep() const {
  if (!sweep_deferred_) return;  // set before the kernel is shared, never changed after
  std::call_once(sweep_once_, [&] {
    try {
      install_sweep(sweep_backend_, sweep_generator_(plan_), {});
    } catch (const std::exception &e) {
      install_sweep(Backend::runtime, nullptr,
                    fmt::format("{} sweep generation failed: {}; the runtime sweep scans blocked "
                                "databases",
                                to_string(sweep_backend_), e.what()));
    }
  });
}

Backend Kernel::sweep_backend() const {
  ensure_sweep();
  return sweep_backend_;
}

const std::string &Kernel::sweep_note() const {
  ensure_sweep();
  return sweep_note_;
}

const std::string &Kernel::describe() const {
  std::call_once(description_once_, [&] { description_ = make_description(); });
  return description_;
}

std::string Kernel::make_description() const {
  // Only from what the engine fixed before sharing the kernel, so the text does not depend on
  // whether a deferred sweep has been generated yet.
  const size_t bytes = (code_ ? code_->code_bytes() : 0) +
                       (sweep_deferred_ ? 0 : sweep_code_bytes_.load(std::memory_order_relaxed));
  std::string d = describe_kernel(plan_, backend_, bytes, compile_time_, fallback_reason_);
  const char *kernels = plan_.build_row && plan_.build_sweep ? "row+sweep"
                        : plan_.build_row                    ? "row"
                                                             : "sweep";
  d += fmt::format(" layout={} kernels={}", to_string(plan_.layout), kernels);
  if (plan_.build_sweep) {
    d += fmt::format(" sweep={}(B={}) prefer={} stage0_survival={:.3g}",
                     to_string(described_sweep_.backend), plan_.cascade.block_records,
                     plan_.prefer_sweep ? "blocked" : "row", plan_.stage0_survival);
    if (!described_sweep_.note.empty()) d += " sweep_note=\"" + described_sweep_.note + "\"";
  }
  return d;
}

size_t Kernel::code_bytes() const {
  return (code_ ? code_->code_bytes() : 0) + sweep_code_bytes_.load(std::memory_order_relaxed) +
         gather_code_bytes_.load(std::memory_order_relaxed);
}

std::pair<BlockFn, const void *> Kernel::sweep_entry(uint32_t block_records) const {
  if (!plan_.build_sweep) {
    if (plan_.spec.metric == Metric::tanimoto) {
      throw Error(ErrorKind::unsupported,
                  "a tanimoto kernel scans row-major databases only (the blocked sweep is "
                  "Hamming's); convert the database back to rows (jitson convert --to jfp)");
    }
    throw Error(ErrorKind::unsupported,
                "this kernel was compiled with \"layout\": \"row\" and has no sweep for the "
                "blocked layout; compile with \"layout\": \"blocked\" or \"auto\"");
  }
  if (block_records == plan_.cascade.block_records) {
    ensure_sweep();
    return {sweep_fn_, sweep_context_};
  }
  std::lock_guard lock(other_blocks_mutex_);
  OtherBlockSweep &slot = other_blocks_[block_records];
  if (!slot.cascade) {
    slot.cascade = std::make_unique<Cascade>(plan_.cascade);
    slot.cascade->block_records = block_records;
    // The generator refuses block sizes it cannot sweep (Xbyak: below 64 or not a power of two).
    if (sweep_generator_) {
      try {
        ScanPlan plan = plan_;
        plan.cascade.block_records = block_records;
        slot.code = sweep_generator_(plan);
        sweep_code_bytes_.fetch_add(slot.code->code_bytes(), std::memory_order_relaxed);
      } catch (const std::exception &) {
        slot.code.reset();  // the runtime sweep gives the same results
      }
    }
  }
  if (slot.code) return {slot.code->entry(), nullptr};
  return {sweep_block_runtime, slot.cascade.get()};
}

BlockFn Kernel::sweep_function(uint32_t block_records) const {
  return sweep_entry(block_records).first;
}

const void *Kernel::sweep_context(uint32_t block_records) const {
  return sweep_entry(block_records).second;
}

std::pair<BlockFn, const void *> Kernel::entry_for(const DatabaseView &db) const {
  if (db.layout == Layout::blocked) {
    db.payload_bytes();  // validates block_records before it selects a context
    return sweep_entry(db.block_records);
  }
  if (!plan_.build_row) {
    throw Error(ErrorKind::unsupported,
                "this kernel was compiled with \"layout\": \"blocked\" and scans blocked "
                "databases only; convert the database (to_blocked, jitson convert --to blocked) "
                "or compile with \"layout\": \"row\" or \"auto\"");
  }
  return {fn_, context_};
}

Layout Kernel::chosen_layout() const {
  switch (plan_.layout) {
    case LayoutChoice::row:
      return Layout::row_major;
    case LayoutChoice::blocked:
      return Layout::blocked;
    case LayoutChoice::automatic:
      break;
  }
  return plan_.prefer_sweep ? Layout::blocked : Layout::row_major;
}

const DatabaseView &Kernel::pick(const DualDatabase &db) const {
  if (db.rows.layout != Layout::row_major || db.blocked.layout != Layout::blocked ||
      db.rows.n_records != db.blocked.n_records ||
      db.rows.record_bytes != db.blocked.record_bytes) {
    throw Error(ErrorKind::invalid_argument,
                "DualDatabase needs a row-major and a blocked view of the same records");
  }
  return chosen_layout() == Layout::blocked ? db.blocked : db.rows;
}

ScanResult Kernel::scan(const uint8_t *query, const DualDatabase &db, unsigned threads) const {
  return scan(query, pick(db), threads);
}

ScanResult Kernel::scan_range(const uint8_t *query, const DualDatabase &db, uint64_t begin,
                              uint64_t end) const {
  return scan_range(query, pick(db), begin, end);
}

std::vector<ScanResult> Kernel::scan_batch(const uint8_t *queries, uint64_t n_queries,
                                           const DualDatabase &db, unsigned threads) const {
  return scan_batch(queries, n_queries, pick(db), threads);
}

BlockFn Kernel::gather_function() const {
  if (!gather_generator_) return nullptr;  // set before the kernel is shared, never changed after
  std::call_once(gather_once_, [&] {
    try {
      gather_code_ = gather_generator_(plan_);
      gather_code_bytes_.store(gather_code_->code_bytes(), std::memory_order_relaxed);
    } catch (const std::exception &) {
      gather_code_.reset();  // callers scan one record per call through the row entry instead
    }
  });
  return gather_code_ ? gather_code_->entry() : nullptr;
}

const void *Kernel::code_address() const {
  return code_ ? code_->code_address() : nullptr;
}

ScanRequest Kernel::request(unsigned threads) const {
  ScanRequest r;
  r.max_distance = plan_.spec.max_distance;
  r.top_k = plan_.spec.top_k;
  r.threads = threads ? threads : default_threads_;
  r.block_records = plan_.block_records;
  r.n_stages = uint32_t(plan_.cascade.stages.size());
  return r;
}

static void check_db(const ScanPlan &plan, const DatabaseView &db) {
  if (db.record_bytes != plan.record_bytes) {
    throw Error(ErrorKind::invalid_argument,
                fmt::format("database records are {} bytes but the kernel was compiled for "
                            "record_bits={} ({} bytes)",
                            db.record_bytes, plan.record_bits, plan.record_bytes));
  }
}

std::pair<BlockFn, const void *> Kernel::entry(const DatabaseView &db) const {
  check_db(plan_, db);
  return entry_for(db);
}

ScanResult Kernel::scan(const uint8_t *query, DatabaseView db, unsigned threads) const {
  check_db(plan_, db);
  const auto [fn, context] = entry_for(db);
  auto t0 = std::chrono::steady_clock::now();
  ScanResult r = scan_with(fn, context, query, db, request(threads));
  log_scan(*this, db.n_records, 1, r.stats.hits, std::chrono::steady_clock::now() - t0);
  return r;
}

ScanResult Kernel::scan_range(const uint8_t *query, DatabaseView db, uint64_t begin,
                              uint64_t end) const {
  check_db(plan_, db);
  if (end > db.n_records || begin > end) {
    throw Error(ErrorKind::invalid_argument,
                fmt::format("record range [{}, {}) is outside the database of {} records", begin,
                            end, db.n_records));
  }
  const auto [fn, context] = entry_for(db);
  ScanRequest r = request(1);
  r.begin = begin;
  r.end = end;
  return scan_with(fn, context, query, db, r);
}

std::vector<ScanResult> Kernel::scan_batch(const uint8_t *queries, uint64_t n_queries,
                                           DatabaseView db, unsigned threads) const {
  check_db(plan_, db);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<ScanResult> r;
  const uint32_t tile = plan_.tuning.batch_query_tile;
  const auto [fn, context] = entry_for(db);
  if (tile > 1 && batch_tile_applies(plan_.cascade, db, n_queries)) {
    r = scan_batch_tiled(plan_.cascade, kernel_table(plan_.isa), tile, fn, context, queries,
                         n_queries, db, request(threads));
  } else {
    r = scan_batch_with(fn, context, queries, n_queries, db, request(threads));
  }
  uint64_t hits = 0;
  for (auto &x : r) hits += x.stats.hits;
  log_scan(*this, db.n_records, n_queries, hits, std::chrono::steady_clock::now() - t0);
  return r;
}

std::string Kernel::dump_asm() const {
  ensure_sweep();
  std::string out;
  if (code_) out = disassemble(code_->code_address(), code_->code_bytes(), isa_name(plan_.isa));
  if (sweep_code_) {
    // "" without a disassembler (no LLVM): then the dump stays empty, as callers expect.
    std::string sweep =
        disassemble(sweep_code_->code_address(), sweep_code_->code_bytes(), isa_name(plan_.isa));
    if (!sweep.empty()) out += "; sweep kernel (blocked layout)\n" + sweep;
  }
  return out;
}

std::string Kernel::dump_ir() const {
  return code_ ? code_->ir() : std::string();
}

}  // namespace jitson
