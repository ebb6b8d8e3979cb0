// The engine: config text → cached Kernel. Compiles each meaning once, even under concurrent
// requests, and evicts least-recently-used kernels by bytes (code, plans and config texts). The
// kernels themselves come from the KernelBuilder (jit/kernel_builder.hpp).
#include "jitson/engine.hpp"

#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <list>
#include <mutex>
#include <tuple>
#include <unordered_map>

#include <fmt/format.h>

#include "jit/kernel_builder.hpp"
#include "jit/observe.hpp"
#include "jitson/error.hpp"

namespace jitson {

namespace {

bool env_jit_off() {
  const char *v = std::getenv("JITSON_JIT");
  return v && (std::string_view(v) == "off" || std::string_view(v) == "0");
}

}  // namespace

namespace {

// One compile, in flight or done. The caller that compiles fills it under the engine mutex;
// callers that want the same kernel meanwhile wait on the engine's condition variable, which is
// notified only when somebody waits: a std::promise would make a futex call on every miss.
struct Slot {
  std::shared_ptr<const Kernel> kernel;
  std::exception_ptr error;
  bool done = false;
  uint32_t waiters = 0;
};

struct Entry {
  // The compiling caller's spec until the kernel is ready, then the kernel's own: no copy (a
  // 65,536-bit focus is 8 KiB). Read and changed under the engine mutex only.
  const ScanSpec *spec = nullptr;
  uint64_t key = 0;  // spec.key(), kept: hashing a 65,536-bit focus is not free
  std::shared_ptr<Slot> slot;
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
  mutable std::mutex mutex;
  std::condition_variable compiled;  // a Slot became done while some caller waited for it
  // Entries live in the nodes (stable addresses): a lookup or an eviction touches the bucket and
  // the node, not a vector and a separate allocation too. Cold memory dominates a miss in a
  // full cache (~0.5-1 us per random access on this VM), so every indirection counts.
  std::unordered_multimap<uint64_t, Entry> by_key;
  // exact config text → entry; transparent hashing lets a hit look up a string_view without
  // copying the text
  std::unordered_map<std::string, Entry *, TextHash, std::equal_to<>> by_text;
  std::list<Entry *> lru;  // front = most recent
  CacheStats stats;
  std::unique_ptr<KernelBuilder> builder;
  // With options.wisdom set: this engine's tuning per ISA, resolved at first use; else every
  // engine shares machine_tuning().
  std::once_flag tuning_once[3];
  ResolvedTuning tuning[3];
  static const ResolvedTuning *tuning_for(Isa isa, const void *self);
  std::shared_ptr<const Kernel> get(const ScanSpec &spec, std::optional<std::string_view> text);
  void alias_locked(Entry *e, std::string_view text);
  void drop_oldest_alias_locked(Entry *e);
  void evict_locked(const Entry *keep);
  void remove_locked(Entry *e);
};

const ResolvedTuning *Engine::Impl::tuning_for(Isa isa, const void *self) {
  // self is this engine's Impl, passed as the plan limits' context (PlanLimits holds it as a
  // const void *); its tuning slots are written once, under their once_flag.
  auto *impl = const_cast<Impl *>(static_cast<const Impl *>(self));
  const size_t i = size_t(isa);
  std::call_once(impl->tuning_once[i], [&] {
    impl->tuning[i] = resolve_tuning(isa, impl->options.wisdom);
    observe_tuning(isa, impl->tuning[i]);
  });
  return &impl->tuning[i];
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
  Entry *mine = nullptr;
  std::shared_ptr<Slot> slot;
  {
    std::unique_lock lock(mutex);
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
        slot = e->slot;
        break;
      }
    }
    if (!slot) {
      ++stats.misses;
      Entry *e = &by_key
                      .emplace(std::piecewise_construct, std::forward_as_tuple(key),
                               std::forward_as_tuple())
                      ->second;
      e->spec = &spec;  // valid until this call returns; replaced below before that
      e->key = key;
      e->slot = slot = std::make_shared<Slot>();
      lru.push_front(e);
      e->lru = lru.begin();
      if (text) alias_locked(e, *text);
      mine = e;
      stats.entries = lru.size();
    } else {
      // Another caller compiles this meaning (or has): wait for it, then share its result.
      if (!slot->done) {
        ++slot->waiters;
        compiled.wait(lock, [&] { return slot->done; });
        --slot->waiters;
      }
      if (slot->error) std::rethrow_exception(slot->error);
      return slot->kernel;
    }
  }

  // This thread compiles; concurrent requests for the same meaning wait on its slot.
  const auto finish = [&](std::shared_ptr<const Kernel> kernel, std::exception_ptr error) {
    slot->kernel = std::move(kernel);
    slot->error = std::move(error);
    slot->done = true;
    if (slot->waiters) compiled.notify_all();
  };
  std::shared_ptr<const Kernel> kernel;
  try {
    PlanLimits limits{options.isa};
    if (!options.wisdom.empty()) {
      limits.tuning = &Impl::tuning_for;
      limits.tuning_context = this;
    }
    kernel = builder->build(make_plan(spec, key, limits));
  } catch (...) {
    std::lock_guard lock(mutex);
    finish(nullptr, std::current_exception());
    remove_locked(mine);
    stats.entries = lru.size();
    throw;
  }
  std::lock_guard lock(mutex);
  finish(kernel, nullptr);
  ++stats.compiles;
  if (!kernel->fallback_reason().empty()) ++stats.fallbacks;
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
  impl_->builder = std::make_unique<KernelBuilder>(
      options.jit && !env_jit_off(), options.threads ? options.threads : hardware_threads());
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
      return it->second->slot->kernel;
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
