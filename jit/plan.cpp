// ScanSpec → ScanPlan: word classes, cascade stages and bounds, and the resolved ISA, backend,
// prefetch distance and block size that every backend generates from.
#include "jitson/plan.hpp"

#include "jit/observe.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "jit/backend.hpp"
#include "jitson/error.hpp"
#include "jitson/kernels.hpp"
#include "jitson/limits.hpp"

namespace jitson {
namespace {

// Written in a fixed order that reads like the config.
using Json = nlohmann::ordered_json;

// A ScanSpec built in C++ skips the parser, so the plan re-checks what the parser guarantees
// (same pointers and rules), rather than generating code from an impossible spec.
void check_spec(const ScanSpec &s) {
  if (s.record_bits < kMinRecordBits || s.record_bits > kMaxRecordBits || s.record_bits % 64 != 0) {
    throw ConfigError("/record_bits", "value " + std::to_string(s.record_bits) +
                                          " is not allowed; allowed: multiples of 64 in " +
                                          std::to_string(kMinRecordBits) + ".." +
                                          std::to_string(kMaxRecordBits));
  }
  if (!s.focus.empty() && s.focus.size() != s.record_words()) {
    throw ConfigError("/focus", "focus mask has " + std::to_string(s.focus.size()) +
                                    " words; records of " + std::to_string(s.record_bits) +
                                    " bits have " + std::to_string(s.record_words()));
  }
  if (s.focus_bits() == 0) {
    throw ConfigError("/focus", "empty selection: the focus selects no bit");
  }
  if (s.top_k < 1 || s.top_k > kMaxTopK) {
    throw ConfigError("/top_k", "value " + std::to_string(s.top_k) +
                                    " is out of range; allowed 1.." + std::to_string(kMaxTopK));
  }
  if (s.cascade != CascadeMode::off) {
    if (s.stage_words.size() >= size_t(kMaxStages)) {
      throw ConfigError("/cascade/stages", std::to_string(s.stage_words.size()) +
                                               " probe stages given; at most " +
                                               std::to_string(kMaxStages - 1) + " are allowed");
    }
    uint32_t previous = 0;
    for (size_t i = 0; i < s.stage_words.size(); ++i) {
      if (s.stage_words[i] <= previous || s.stage_words[i] > kMaxRecordBits) {
        throw ConfigError("/cascade/stages/" + std::to_string(i),
                          "stage ends must increase strictly within 1.." +
                              std::to_string(kMaxRecordBits) + " (cumulative focused-word counts)");
      }
      previous = s.stage_words[i];
    }
  }
  if (s.cascade == CascadeMode::statistical &&
      !(std::isfinite(s.safety_margin) && s.safety_margin > 0)) {
    throw ConfigError("/cascade/safety_margin", "allowed: a finite number > 0");
  }
  if (s.prefetch_records && *s.prefetch_records > kMaxPrefetchRecords) {
    throw ConfigError("/prefetch_records", "value " + std::to_string(*s.prefetch_records) +
                                               " is out of range; allowed 0.." +
                                               std::to_string(kMaxPrefetchRecords));
  }
}

Isa resolve_isa(IsaChoice choice) {
  Isa wanted;
  switch (choice) {
    case IsaChoice::automatic:
      return active_isa();
    case IsaChoice::avx512:
      wanted = Isa::avx512;
      break;
    case IsaChoice::avx2:
      wanted = Isa::avx2;
      break;
    default:
      wanted = Isa::scalar;
      break;
  }
  if (!isa_supported(wanted)) {
    throw ConfigError("/isa", std::string(isa_name(wanted)) +
                                  " requested but this CPU supports at most " +
                                  isa_name(best_isa()) + "; use \"auto\" or an ISA up to " +
                                  isa_name(best_isa()));
  }
  return wanted;
}

// Automatic choice: xbyak when built, except for scalar code, which xbyak does not generate
// (the runtime's scalar kernels are the same code it would have to emit).
Backend resolve_backend(const ScanSpec &spec, Isa isa) {
  switch (spec.backend) {
    case BackendChoice::automatic: {
      const BackendInfo *xbyak = find_backend(Backend::xbyak);
      return xbyak && isa != Isa::scalar ? Backend::xbyak : Backend::runtime;
    }
    case BackendChoice::xbyak:
    case BackendChoice::llvm: {
      const Backend id = spec.backend == BackendChoice::xbyak ? Backend::xbyak : Backend::llvm;
      const BackendInfo *info = find_backend(id);
      if (!info) {
        throw ConfigError("/backend",
                          fmt::format("{} backend is not built in (configure with "
                                      "-DJITSON_WITH_{}=ON)",
                                      to_string(id), id == Backend::xbyak ? "XBYAK" : "LLVM"));
      }
      if (isa == Isa::scalar && !info->generates_scalar) {
        if (spec.isa == IsaChoice::scalar) {
          throw ConfigError("/isa",
                            fmt::format("scalar cannot be generated by backend \"{0}\": {0} "
                                        "generates avx512 or avx2 code; use backend "
                                        "\"runtime\" or \"auto\" for scalar",
                                        info->name));
        }
        throw ConfigError("/backend", fmt::format("{} generates avx512 or avx2 code but the ISA "
                                                  "resolved to scalar (CPU, JITSON_ISA or the "
                                                  "engine's isa limit); use backend \"runtime\" "
                                                  "or \"auto\"",
                                                  info->name));
      }
      if (const std::string why = info->unavailable(); !why.empty()) {
        throw ConfigError("/backend", why);
      }
      return id;
    }
    case BackendChoice::runtime:
      return Backend::runtime;
  }
  return Backend::runtime;
}

// Default software prefetch distance, in records (measured with bench/bench_jit).
// A single-stage scan loads every focused line of every record; the backends prefetch each
// line they load, in the record this many records ahead, next to the load (a stream prefetch).
// The hardware prefetchers alone held a 2 KiB-record DRAM scan at 13.5-14.0 GB/s; a stream
// prefetch 1,024, 1,536, 2,048 or 3,072 bytes ahead gave 15-17 GB/s (huge pages), costing about
// 5% in L2. So about 1.5 KiB ahead, at least one record. (An earlier policy prefetched the first
// lines of a record 32 records ahead, all at the record's top: that evicted its own lines from
// L1 and lost a third from DRAM with AVX2.) A cascade mostly reads the lines of its probe
// stages and jumps over the rest, which breaks the streams: prefetch those lines far enough
// ahead to keep ~8 KiB in flight (one core's bytes in flight over a DRAM latency, twice over),
// 2..64 records ahead (exact cascade in DRAM: 64 records ahead ran 1.5x faster than 4).
// Both distances are tuning parameters now (jitson/tuning.hpp), these figures their defaults.
uint32_t default_prefetch(const Cascade &cascade, const Tuning &tuning) {
  if (cascade.stages.size() <= 1) {
    if (tuning.stream_prefetch_bytes == 0) return 0;
    const uint32_t bytes = std::max<uint32_t>(cascade.record_bytes, 1);
    return std::clamp<uint32_t>((tuning.stream_prefetch_bytes + bytes - 1) / bytes, 1, 64);
  }
  if (tuning.probe_prefetch_bytes == 0) return 0;
  std::vector<bool> line_read((cascade.record_bytes + 63) / 64, false);
  for (size_t s = 0; s + 1 < cascade.stages.size(); ++s) {
    for (const Segment &seg : cascade.stages[s].segments) {
      for (uint32_t w = seg.first_word; w < seg.first_word + seg.n_words; ++w) {
        line_read[w / 8] = true;
      }
    }
  }
  const uint64_t probe_bytes = 64 * uint64_t(std::count(line_read.begin(), line_read.end(), true));
  const uint64_t ahead =
      (tuning.probe_prefetch_bytes + probe_bytes - 1) / std::max<uint64_t>(probe_bytes, 1);
  return uint32_t(std::clamp<uint64_t>(ahead, 2, 64));
}

// Records per kernel call: a power of two near 512 KiB of records, so a block stays in L2 while
// a batch of queries reuses it, within [16, 4096].
uint32_t default_block_records(uint32_t record_bytes) {
  uint64_t n = std::bit_floor(uint64_t(512 * 1024) / record_bytes);
  return uint32_t(std::clamp<uint64_t>(n, 16, 4096));
}

uint32_t stage_bits(const CascadeStage &stage) {
  uint32_t bits = 0;
  for (const Segment &seg : stage.segments) {
    bits += seg.full ? 64 * seg.n_words : uint32_t(std::popcount(seg.mask));
  }
  return bits;
}

// P[Binomial(n, 1/2) < limit]: exact for small n, normal approximation (with continuity
// correction) beyond, where its error is far below what the crossover rule can resolve.
double binomial_below(uint64_t n, uint64_t limit) {
  if (limit == 0) return 0;
  if (limit > n) return 1;
  if (n <= 128) {
    double p = 0, term = std::ldexp(1.0, -int(n));  // C(n, 0) / 2^n
    for (uint64_t k = 0; k < limit; ++k) {
      p += term;
      term = term * double(n - k) / double(k + 1);
    }
    return std::min(1.0, p);
  }
  const double mean = double(n) / 2, sd = std::sqrt(double(n)) / 2;
  return 0.5 * std::erfc(-((double(limit) - 0.5 - mean) / sd) / std::sqrt(2.0));
}

void plan_layouts(ScanPlan &plan, const std::vector<uint64_t> &mask) {
  plan.layout = plan.spec.layout;
  plan.build_row = plan.layout != LayoutChoice::blocked;
  // The sweep (and with it the crossover rule) is Hamming's: a Tanimoto kernel is a row kernel.
  plan.build_sweep = plan.layout != LayoutChoice::row && plan.spec.metric == Metric::hamming;
  plan.cascade.block_records = 64;  // kDefaultBlockRecords (jitson/layout.hpp)
  if (plan.spec.metric != Metric::hamming) return;

  const uint64_t limit = uint64_t(std::min<uint64_t>(plan.spec.max_distance, plan.focus_bits)) + 1;
  uint64_t bits_before = 0;
  double words = 0, sweep_bytes = 0;
  for (size_t s = 0; s < plan.cascade.stages.size(); ++s) {
    const CascadeStage &stage = plan.cascade.stages[s];
    const double reach = binomial_below(bits_before, limit);
    if (s == 1) plan.stage0_survival = reach;
    words += reach * stage.words;
    // A group of 8 records shares each word's cache line.
    sweep_bytes += 8.0 * stage.words * (1 - std::pow(1 - reach, 8));
    bits_before += stage_bits(stage);
  }
  if (plan.cascade.stages.size() == 1) plan.stage0_survival = binomial_below(bits_before, limit);
  uint32_t lines = 0;
  for (uint32_t line = 0; line * 8 < mask.size(); ++line) {
    bool any = false;
    for (uint32_t w = line * 8; w < std::min<size_t>(mask.size(), line * 8 + 8); ++w) {
      any = any || mask[w] != 0;
    }
    lines += any;
  }
  plan.sweep_words_per_record = words;
  plan.sweep_bytes_per_record = sweep_bytes;
  plan.row_bytes_per_record = 64.0 * lines;
  plan.prefer_sweep = kSweepByteCost * sweep_bytes < plan.row_bytes_per_record;
}

std::string hex64(uint64_t v) {
  char buf[19];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

const ResolvedTuning &machine_tuning(Isa isa) {
  static std::once_flag once[3];
  static ResolvedTuning resolved[3];
  std::call_once(once[size_t(isa)], [isa] {
    ResolvedTuning &r = resolved[size_t(isa)];
    const char *env = std::getenv("JITSON_TUNING");
    if (env && std::string_view(env) == "defaults") {
      r.source = "defaults (JITSON_TUNING=defaults)";
    } else {
      r = resolve_tuning(isa);
      if (env && *env)
        r.note += std::string(r.note.empty() ? "" : "; ") + "JITSON_TUNING=" + env +
                  " ignored: the only value is \"defaults\"";
    }
    observe_tuning(isa, r);
  });
  return resolved[size_t(isa)];
}

const char *to_string(Backend b) {
  switch (b) {
    case Backend::xbyak:
      return "xbyak";
    case Backend::llvm:
      return "llvm";
    case Backend::runtime:
      return "runtime";
  }
  return "?";
}

ScanPlan make_plan(const ScanSpec &spec) {
  return make_plan(spec, spec.key());
}

ScanPlan make_plan(const ScanSpec &spec, uint64_t key, const PlanLimits &limits) {
  check_spec(spec);
  ScanPlan plan;
  plan.spec = spec;
  plan.record_bits = spec.record_bits;
  plan.record_bytes = spec.record_bytes();
  plan.record_words = spec.record_words();

  std::vector<uint64_t> mask = spec.focus;
  if (mask.empty()) mask.assign(plan.record_words, ~uint64_t{0});
  plan.focus_bits = uint32_t(popcount_words(mask));
  for (uint64_t w : mask) {
    if (w == 0) {
      ++plan.skipped_words;
    } else if (w == ~uint64_t{0}) {
      ++plan.full_words;
    } else {
      ++plan.partial_words;
    }
  }

  plan.mode = spec.cascade;
  // Canonical stages never reach the last focused word, so every stage make_cascade builds
  // holds at least one word and the last one is "the rest".
  const std::vector<uint32_t> stages = spec.canonical_stage_words();
  plan.cascade = make_cascade(plan.record_bytes, mask, stages);
  plan.cascade.metric = spec.metric;
  plan.popcount_bound = spec.metric == Metric::tanimoto && plan.focus_bits == plan.record_bits;
  if (plan.mode == CascadeMode::statistical) {
    // SEMANTICS §3.2's proportional rule with focused bits in place of record bits: a stage
    // may reject when the partial exceeds max_distance scaled by the share of focused bits seen.
    uint64_t seen = 0;
    for (size_t s = 0; s + 1 < plan.cascade.stages.size(); ++s) {
      seen += stage_bits(plan.cascade.stages[s]);
      double bound = std::ceil(double(spec.max_distance) *
                               (double(seen) / double(plan.focus_bits)) * spec.safety_margin);
      plan.cascade.stages[s].statistical_bound =
          bound >= double(UINT32_MAX - 1) ? UINT32_MAX - 1 : uint32_t(bound);
    }
  }

  plan.isa = resolve_isa(spec.isa);
  if (limits.max_isa && plan.isa > *limits.max_isa) {
    if (spec.isa != IsaChoice::automatic) {
      throw ConfigError("/isa", std::string(isa_name(plan.isa)) +
                                    " exceeds the engine's isa limit " + isa_name(*limits.max_isa));
    }
    plan.isa = *limits.max_isa;
  }
  plan.backend = resolve_backend(spec, plan.isa);
  const ResolvedTuning &machine =
      limits.tuning ? *limits.tuning(plan.isa, limits.tuning_context) : machine_tuning(plan.isa);
  plan.tuning = apply_pins(machine.tuning, spec.tuning);
  plan.tuning_source = spec.tuning.empty() ? machine.source : machine.source + " + config pins";
  // Query chunks in registers pay off while they hold most of the query (24 of the 32 chunks of
  // a 16,384-bit record). Of the 128 chunks of a 65,536-bit record they hold a fifth, and the
  // kernel ran slower than with none (record-64k.json, 8 queries, Zen 4: 60.5 against 42.6 ms;
  // the runtime 51.4 ms). A config's pin still wins.
  uint64_t focused_words = 0;
  for (const CascadeStage &stage : plan.cascade.stages) focused_words += stage.words;
  const uint64_t chunks = (focused_words + 7) / 8;
  if (!spec.tuning.count("query_registers") &&
      chunks * 3 > uint64_t(plan.tuning.query_registers) * 4) {
    plan.tuning.query_registers = 0;
  }
  plan.prefetch_records =
      spec.prefetch_records.value_or(default_prefetch(plan.cascade, plan.tuning));
  plan.unroll = 1;
  plan.block_records = default_block_records(plan.record_bytes);
  plan.key = key;
  plan_layouts(plan, mask);
  return plan;
}

std::string ScanPlan::stages_string() const {
  std::string out;
  uint64_t cumulative = 0;
  for (const CascadeStage &stage : cascade.stages) {
    cumulative += stage.words;
    if (!out.empty()) out += ',';
    out += std::to_string(cumulative);
  }
  return out;
}

std::string ScanPlan::to_json() const {
  Json j = Json::object();
  j["key"] = hex64(key);
  if (!spec.name.empty()) j["name"] = spec.name;
  j["record_bits"] = record_bits;
  j["record_bytes"] = record_bytes;
  j["record_words"] = record_words;
  j["focus_bits"] = focus_bits;
  j["words"] = Json{{"skipped", skipped_words}, {"full", full_words}, {"partial", partial_words}};
  j["metric"] = to_string(spec.metric);
  j["max_distance"] = spec.max_distance;  // Tanimoto: the largest rank kept
  if (!spec.min_similarity.empty()) j["min_similarity"] = spec.min_similarity;
  if (spec.metric == Metric::tanimoto) j["popcount_bound"] = popcount_bound;
  j["top_k"] = spec.top_k;
  j["mode"] = to_string(mode);
  if (mode == CascadeMode::statistical) j["safety_margin"] = spec.safety_margin;
  Json stages = Json::array();
  uint64_t cumulative = 0;
  for (const CascadeStage &stage : cascade.stages) {
    cumulative += stage.words;
    Json s = Json::object();
    s["words"] = stage.words;
    s["cumulative_words"] = cumulative;
    s["bits"] = stage_bits(stage);
    if (stage.statistical_bound == UINT32_MAX) {
      s["statistical_bound"] = nullptr;
    } else {
      s["statistical_bound"] = stage.statistical_bound;
    }
    Json segments = Json::array();
    for (const Segment &seg : stage.segments) {
      Json g = Json::object();
      g["first_word"] = seg.first_word;
      g["n_words"] = seg.n_words;
      g["full"] = seg.full;
      if (!seg.full) g["mask"] = hex64(seg.mask);
      segments.push_back(std::move(g));
    }
    s["segments"] = std::move(segments);
    stages.push_back(std::move(s));
  }
  j["stages"] = std::move(stages);
  j["isa"] = isa_name(isa);
  j["backend"] = to_string(backend);
  j["prefetch_records"] = prefetch_records;
  Json t = Json::object();
  for (const TuningParameter &p : tuning_parameters()) t[p.name] = tuning.*(p.field);
  j["tuning"] = std::move(t);
  j["tuning_source"] = tuning_source;
  j["unroll"] = unroll;
  j["block_records"] = block_records;
  j["layout"] = Json{{"choice", to_string(layout)},
                     {"kernels", build_row && build_sweep ? "row+sweep"
                                 : build_row              ? "row"
                                                          : "sweep"},
                     {"sweep_block_records", cascade.block_records},
                     {"stage0_survival", stage0_survival},
                     {"sweep_words_per_record", sweep_words_per_record},
                     {"sweep_bytes_per_record", sweep_bytes_per_record},
                     {"row_bytes_per_record", row_bytes_per_record},
                     {"prefer", prefer_sweep ? "blocked" : "row"}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace jitson
