// The engine: config text → cached Kernel. Compiles each meaning once, even under concurrent
// requests; evicts least-recently-used kernels by bytes; falls back to the runtime backend
// when code generation is impossible, and says so.
#include "jitson/engine.hpp"

#include <algorithm>
#include <cstdlib>
#include <future>
#include <list>
#include <mutex>
#include <tuple>
#include <unordered_map>

#include <fmt/format.h>

#include "jit/backend.hpp"
#include "jit/observe.hpp"
#include "jitson/error.hpp"
#include "jitson/kernels.hpp"

#ifdef JITSON_HAVE_XBYAK
#include "jit/code_arena.hpp"
#endif
#ifdef JITSON_HAVE_LLVM
#include "jit/llvm_jit.hpp"
#endif

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
  if (!p.spec.name.empty()) d += " name=" + p.spec.name;
  if (!fallback.empty()) d += " fallback=\"" + fallback + "\"";
  return d;
}

bool env_jit_off() {
  const char *v = std::getenv("JITSON_JIT");
  return v && (std::string_view(v) == "off" || std::string_view(v) == "0");
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
  return (code_ ? code_->code_bytes() : 0) + sweep_code_bytes_.load(std::memory_order_relaxed);
}

std::pair<BlockFn, const void *> Kernel::sweep_entry(uint32_t block_records) const {
  if (!plan_.build_sweep) {
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
  const auto [fn, context] = entry_for(db);
  auto t0 = std::chrono::steady_clock::now();
  auto r = scan_batch_with(fn, context, queries, n_queries, db, request(threads));
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

// ---------------------------------------------------------------------------------------------
// Engine

namespace {

struct Entry {
  // The compiling caller's spec until the kernel is ready, then the kernel's own: no copy (a
  // 65,536-bit focus is 8 KiB). Read and changed under the engine mutex only.
  const ScanSpec *spec = nullptr;
  uint64_t key = 0;  // spec.key(), kept: hashing a 65,536-bit focus is not free
  std::shared_future<std::shared_ptr<const Kernel>> kernel;
  size_t bytes = 0;  // set when compiled
  bool ready = false;
  // Config texts that map here (text cache aliases), oldest first: the keys of by_text, which
  // node-based maps never move, so the text is stored once.
  std::vector<const std::string *> texts;
  std::list<Entry *>::iterator lru;
};

struct TextHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// A kernel keeps at most this many config texts for the no-parse fast path: texts that differ
// only in "name" or white space are all the same kernel, and keeping each of them would let a
// stream of distinct names grow the cache without bound while its kernel stays hot. The oldest
// text gives way; a text that lost its place is parsed again (a key hit: no code generation).
constexpr size_t kMaxTextsPerEntry = 4;

// Bytes an alias costs: the text, its hash node and bucket, its place in the entry's list.
size_t alias_bytes(std::string_view text) {
  return text.size() + 96;
}

size_t plan_bytes(const ScanPlan &p) {
  // (Runtime-sweep cascades for other block sizes are created on demand and not counted.)
  size_t b = sizeof(Kernel) + p.spec.focus.size() * 8;
  for (auto &s : p.cascade.stages) b += sizeof(s) + s.segments.size() * sizeof(Segment);
  return b;
}

}  // namespace

struct Engine::Impl {
  EngineOptions options;
  bool jit_enabled = true;
  mutable std::mutex mutex;
  // Entries live in the nodes (stable addresses): a lookup or an eviction touches the bucket and
  // the node, not a vector and a separate allocation too. Cold memory dominates a miss in a
  // full cache (~0.5-1 us per random access on this VM), so every indirection counts.
  std::unordered_multimap<uint64_t, Entry> by_key;
  // exact config text → entry; transparent hashing lets a hit look up a string_view without
  // copying the text
  std::unordered_map<std::string, Entry *, TextHash, std::equal_to<>> by_text;
  std::list<Entry *> lru;  // front = most recent
  CacheStats stats;
  std::once_flag arena_once, llvm_once;
#ifdef JITSON_HAVE_XBYAK
  std::unique_ptr<CodeArena> arena;
  std::string arena_error;
#endif
#ifdef JITSON_HAVE_LLVM
  std::unique_ptr<LlvmJit> llvm;
  std::string llvm_error;
#endif

  std::shared_ptr<const Kernel> build(ScanPlan plan);
#ifdef JITSON_HAVE_XBYAK
  CodeArena &code_arena();  // created on first use; throws Error(unsupported) if refused
#endif
#ifdef JITSON_HAVE_LLVM
  LlvmJit &llvm_jit();  // created on first LLVM compile, so others never pay for it
#endif
  std::shared_ptr<const Kernel> get(const ScanSpec &spec, std::optional<std::string_view> text);
  void alias_locked(Entry *e, std::string_view text);
  void drop_oldest_alias_locked(Entry *e);
  void evict_locked(const Entry *keep);
  void remove_locked(Entry *e);
};

#ifdef JITSON_HAVE_XBYAK
CodeArena &Engine::Impl::code_arena() {
  std::call_once(arena_once, [&] {
    try {
      arena = std::make_unique<CodeArena>();
    } catch (const std::exception &e) {
      arena_error = e.what();
    }
  });
  if (!arena) throw Error(ErrorKind::unsupported, arena_error);
  return *arena;
}
#endif

#ifdef JITSON_HAVE_LLVM
LlvmJit &Engine::Impl::llvm_jit() {
  std::call_once(llvm_once, [&] {
    try {
      llvm = LlvmJit::create();
    } catch (const std::exception &e) {
      llvm_error = e.what();
    }
  });
  if (!llvm) throw Error(ErrorKind::unsupported, llvm_error);
  return *llvm;
}
#endif

std::shared_ptr<const Kernel> Engine::Impl::build(ScanPlan plan) {
  auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<CompiledCode> code;
  Backend backend = plan.backend;
  std::string fallback;
  const Backend wanted = backend;
  if (!jit_enabled && backend != Backend::runtime) {
    fallback = "JIT disabled (engine option jit=false or JITSON_JIT=off)";
    backend = Backend::runtime;
  }
  try {
    if (!plan.build_row) {
      // A "blocked" kernel has no row code; the sweep below is its only entry.
    } else if (backend == Backend::xbyak) {
#ifdef JITSON_HAVE_XBYAK
      code = compile_xbyak(plan, code_arena());
#else
      throw Error(ErrorKind::unsupported, "xbyak backend is not built in");
#endif
    } else if (backend == Backend::llvm) {
#ifdef JITSON_HAVE_LLVM
      code = compile_llvm(plan, llvm_jit());
#else
      throw Error(ErrorKind::unsupported, "llvm backend is not built in");
#endif
    }
  } catch (const std::exception &e) {
    fallback = fmt::format("{} code generation failed: {}", to_string(backend), e.what());
    backend = Backend::runtime;
    code.reset();
  }

  // The sweep kernel for the blocked layout, from the same plan and the same backend choice.
  Backend sweep_backend = Backend::runtime;
  std::shared_ptr<CompiledCode> sweep_code;
  std::string sweep_note;
  Kernel::SweepGenerator sweep_generator;
  bool defer = false;
  if (plan.build_sweep) {
    const Backend sweep_wanted = jit_enabled ? wanted : Backend::runtime;
    // A scalar plan has no generated sweep (xbyak emits avx512 / avx2 only).
    try {
      if (sweep_wanted == Backend::xbyak) {
#ifdef JITSON_HAVE_XBYAK
        // Also makes sweeps for databases blocked with another B, on first use. The arena
        // handle keeps the code memory alive after this engine is gone.
        sweep_generator = [arena = code_arena()](const ScanPlan &p) mutable {
          return compile_xbyak_sweep(p, arena);
        };
        sweep_backend = Backend::xbyak;
        // Beside a row kernel the sweep waits for its first blocked scan: generating it here
        // would double the compile latency of every config scanned row-major only.
        defer = plan.build_row;
        if (!defer) sweep_code = sweep_generator(plan);
#else
        throw Error(ErrorKind::unsupported, "xbyak backend is not built in");
#endif
      } else if (sweep_wanted == Backend::llvm) {
#if defined(JITSON_HAVE_LLVM) && defined(JITSON_HAVE_LLVM_SWEEP)
        sweep_code = compile_llvm_sweep(plan, llvm_jit());
        sweep_backend = Backend::llvm;
#else
        sweep_note = "llvm sweep not built; the runtime sweep scans blocked databases";
#endif
      }
    } catch (const std::exception &e) {
      sweep_note = fmt::format(
          "{} sweep generation failed: {}; the runtime sweep scans blocked "
          "databases",
          to_string(sweep_wanted), e.what());
      sweep_code.reset();
      sweep_backend = Backend::runtime;
    }
    if (!plan.build_row) {
      backend = sweep_backend;
      if (!jit_enabled && wanted != Backend::runtime) {
        fallback = "JIT disabled (engine option jit=false or JITSON_JIT=off)";
      } else if (sweep_backend != wanted) {
        fallback = sweep_note;
      } else {
        fallback.clear();
      }
    }
  }
  auto elapsed = std::chrono::steady_clock::now() - t0;
  auto kernel = std::make_shared<Kernel>(
      std::move(plan), backend, std::move(code),
      std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed), fallback);
  if (defer) {
    kernel->defer_sweep(sweep_backend, std::move(sweep_generator));
  } else if (kernel->plan().build_sweep) {
    kernel->attach_sweep(sweep_backend, std::move(sweep_code), std::move(sweep_note),
                         std::move(sweep_generator));
  }
  kernel->default_threads_ = options.threads ? options.threads : hardware_threads();
  {
    std::lock_guard lock(mutex);
    ++stats.compiles;
    if (!fallback.empty()) ++stats.fallbacks;
  }
  observe_compile(*kernel);
  return kernel;
}

void Engine::Impl::remove_locked(Entry *e) {
  while (!e->texts.empty()) drop_oldest_alias_locked(e);
  lru.erase(e->lru);
  stats.bytes -= e->bytes;
  auto [it, end] = by_key.equal_range(e->key);
  while (it != end && &it->second != e) ++it;
  if (it != end) by_key.erase(it);  // destroys *e
}

void Engine::Impl::evict_locked(const Entry *keep) {
  // Kernels in use stay alive through their shared_ptr; the cache only lets go of them.
  while (stats.bytes > options.cache_bytes && lru.size() > 1) {
    auto it = std::prev(lru.end());
    while (it != lru.begin() && ((*it) == keep || !(*it)->ready)) --it;
    if ((*it) == keep || !(*it)->ready) break;
    remove_locked(*it);
    ++stats.evictions;
  }
}

// Texts count in the cache's bytes from the moment they are kept, so the budget bounds them
// together with the code they point to.
void Engine::Impl::alias_locked(Entry *e, std::string_view text) {
  const size_t cost = alias_bytes(text);
  // A text this large against the budget would crowd out kernels; it is parsed on every compile.
  if (cost > options.cache_bytes / 8) return;
  auto [it, inserted] = by_text.emplace(std::string(text), e);
  if (!inserted) return;
  if (e->texts.size() == kMaxTextsPerEntry) drop_oldest_alias_locked(e);
  e->texts.push_back(&it->first);
  e->bytes += cost;
  stats.bytes += cost;
  stats.texts = by_text.size();
}

void Engine::Impl::drop_oldest_alias_locked(Entry *e) {
  const std::string *oldest = e->texts.front();
  const size_t cost = alias_bytes(*oldest);
  e->texts.erase(e->texts.begin());
  e->bytes -= cost;
  stats.bytes -= cost;
  auto it = by_text.find(std::string_view(*oldest));
  if (it != by_text.end()) by_text.erase(it);  // frees *oldest: not read after this
  stats.texts = by_text.size();
}

std::shared_ptr<const Kernel> Engine::Impl::get(const ScanSpec &spec,
                                                std::optional<std::string_view> text) {
  const uint64_t key = spec.key();
  std::promise<std::shared_ptr<const Kernel>> promise;
  Entry *mine = nullptr;
  std::shared_future<std::shared_ptr<const Kernel>> future;
  {
    std::lock_guard lock(mutex);
    for (auto [it, end] = by_key.equal_range(key); it != end; ++it) {
      Entry *e = &it->second;
      if (e->spec->same_meaning(spec)) {
        ++stats.hits;
        lru.splice(lru.begin(), lru, e->lru);
        if (text && by_text.find(*text) == by_text.end()) {
          alias_locked(e, *text);
          evict_locked(e);
          stats.entries = lru.size();
        }
        future = e->kernel;
        break;
      }
    }
    if (!future.valid()) {
      ++stats.misses;
      Entry *e = &by_key
                      .emplace(std::piecewise_construct, std::forward_as_tuple(key),
                               std::forward_as_tuple())
                      ->second;
      e->spec = &spec;  // valid until this call returns; replaced below before that
      e->key = key;
      e->kernel = promise.get_future().share();
      lru.push_front(e);
      e->lru = lru.begin();
      if (text) alias_locked(e, *text);
      mine = e;
      future = e->kernel;
      stats.entries = lru.size();
    }
  }
  if (!mine) return future.get();

  // This thread compiles; concurrent requests for the same meaning wait on the future.
  std::shared_ptr<const Kernel> kernel;
  try {
    ScanPlan plan = make_plan(spec, key);
    if (options.isa && plan.isa > *options.isa) {
      if (spec.isa != IsaChoice::automatic) {
        throw ConfigError("/isa", fmt::format("{} exceeds the engine's isa limit {}",
                                              isa_name(plan.isa), isa_name(*options.isa)));
      }
      plan.isa = *options.isa;
    }
    // Code generators emit SIMD code; a scalar plan that did not name a backend is the
    // runtime's to run, which is not a fallback.
    if (plan.isa == Isa::scalar && spec.backend == BackendChoice::automatic) {
      plan.backend = Backend::runtime;
    }
    kernel = build(std::move(plan));
  } catch (...) {
    promise.set_exception(std::current_exception());
    std::lock_guard lock(mutex);
    remove_locked(mine);
    stats.entries = lru.size();
    throw;
  }
  promise.set_value(kernel);
  std::lock_guard lock(mutex);
  mine->spec = &kernel->spec();
  const size_t kernel_bytes = kernel->code_bytes() + plan_bytes(kernel->plan());
  mine->bytes += kernel_bytes;  // its texts are counted already
  mine->ready = true;
  stats.bytes += kernel_bytes;
  evict_locked(mine);
  stats.entries = lru.size();
  return kernel;
}

Engine::Engine(EngineOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.isa && !isa_supported(*options.isa)) {
    throw ConfigError("/isa", fmt::format("{} is not supported by this CPU (best: {})",
                                          isa_name(*options.isa), isa_name(best_isa())));
  }
  impl_->options = options;
  impl_->jit_enabled = options.jit && !env_jit_off();
  impl_->stats.capacity_bytes = options.cache_bytes;
}

Engine::~Engine() = default;

std::shared_ptr<const Kernel> Engine::compile(std::string_view config_json) {
  {
    // Fast path: the exact text was seen before; no parsing.
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->by_text.find(config_json);
    if (it != impl_->by_text.end() && it->second->ready) {
      ++impl_->stats.hits;
      impl_->lru.splice(impl_->lru.begin(), impl_->lru, it->second->lru);
      return it->second->kernel.get();
    }
  }
  ScanSpec spec = parse_scan_config(config_json);
  return impl_->get(spec, config_json);
}

std::shared_ptr<const Kernel> Engine::compile(const ScanSpec &spec) {
  return impl_->get(spec, std::nullopt);
}

CacheStats Engine::cache_stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}

const EngineOptions &Engine::options() const {
  return impl_->options;
}

}  // namespace jitson
