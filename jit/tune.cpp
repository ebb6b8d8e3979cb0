// jitson tune: see jitson/tune.hpp.
#include "jitson/tune.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <map>
#include <random>

#include <fmt/format.h>

#include "jitson/engine.hpp"
#include "jitson/error.hpp"

namespace jitson {

namespace {

using Clock = std::chrono::steady_clock;

struct Workload {
  const char *name;
  uint32_t bits;
  bool dram;
  const char *members;   // config members beyond the record size, backend and isa
  uint32_t queries = 1;  // > 1: scan_batch of this many queries
};

// L2 tables are 192 KiB (well inside any L2 of 1 MiB or more), read again and again; DRAM tables
// are far beyond any L3.
const Workload kWorkloads[] = {
    {"l2 full", 16384, false, R"("cascade": {"mode": "off"})"},
    {"l2 small", 1024, false, R"("cascade": {"mode": "off"})"},
    {"dram full", 16384, true, R"("cascade": {"mode": "off"})"},
    {"dram cascade", 16384, true, R"("max_distance": 200)"},
    {"l2 batch", 16384, false, R"("cascade": {"mode": "off"})", 16},
};

// The workload a parameter shapes.
const char *workload_of(const std::string &parameter) {
  if (parameter == "group_max_chunks") return "l2 small";
  if (parameter == "stream_prefetch_bytes") return "dram full";
  if (parameter == "probe_prefetch_bytes") return "dram cascade";
  if (parameter == "batch_query_tile") return "l2 batch";
  return "l2 full";  // query_registers, loop_min_chunks
}

struct Table {
  uint32_t bytes = 0;
  uint64_t n = 0;
  std::vector<uint8_t> records, query;  // query: the workload's queries, one after another
};

Table make_table(const Workload &w, bool quick, std::mt19937_64 &rng) {
  Table t;
  t.bytes = w.bits / 8;
  const uint64_t table_bytes =
      w.dram ? (quick ? uint64_t(256) << 20 : uint64_t(1) << 30) : uint64_t(192) << 10;
  t.n = table_bytes / t.bytes;
  t.records.resize(t.n * t.bytes);
  for (size_t i = 0; i + 8 <= t.records.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(&t.records[i], &v, 8);
  }
  t.query.resize(size_t(t.bytes) * w.queries);
  for (auto &b : t.query) b = uint8_t(rng());
  return t;
}

std::string config_text(const Workload &w, Isa isa, const Tuning &tuning) {
  std::string pins;
  for (const TuningParameter &p : tuning_parameters()) {
    pins += fmt::format("{}\"{}\": {}", pins.empty() ? "" : ", ", p.name, tuning.*(p.field));
  }
  return fmt::format(
      R"({{"version": 1, "record_bits": {}, "top_k": 10, {}, "backend": "xbyak", "isa": "{}", )"
      R"("tuning": {{{}}}}})",
      w.bits, w.members, isa_name(isa), pins);
}

// GB/s of one measurement (record bytes compared, summed over the queries): a DRAM table once,
// an L2 table 1,024 times in all.
double measure(const Kernel &kernel, const Table &t, const Workload &w) {
  const DatabaseView view = DatabaseView::rows(t.records.data(), t.n, t.bytes);
  const uint64_t passes = w.dram ? 1 : 1024 / w.queries;  // ~200 MB from L2: milliseconds
  const auto t0 = Clock::now();
  for (uint64_t p = 0; p < passes; ++p) {
    if (w.queries > 1) {
      kernel.scan_batch(t.query.data(), w.queries, view, 1);
    } else {
      kernel.scan(t.query.data(), view, 1);
    }
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  return double(passes * w.queries) * double(t.records.size()) / s / 1e9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Medians of every variant, alternating round by round.
std::vector<double> race(Engine &engine, const Workload &w, const Table &t, Isa isa,
                         const std::vector<Tuning> &variants, int rounds) {
  std::vector<std::shared_ptr<const Kernel>> kernels;
  for (const Tuning &v : variants) kernels.push_back(engine.compile(config_text(w, isa, v)));
  for (const auto &k : kernels) measure(*k, t, w);  // warm-up: pages, caches, branch state
  std::vector<std::vector<double>> figures(variants.size());
  for (int r = 0; r < rounds; ++r) {
    for (size_t i = 0; i < variants.size(); ++i) figures[i].push_back(measure(*kernels[i], t, w));
  }
  std::vector<double> out;
  for (auto &f : figures) out.push_back(median(f));
  return out;
}

}  // namespace

TuneResult tune(const TuneOptions &options) {
  if (!isa_supported(options.isa) || options.isa == Isa::scalar) {
    throw Error(ErrorKind::unsupported,
                fmt::format("cannot tune {} kernels here: this CPU runs {} at best (tune avx512 "
                            "or avx2 kernels the CPU supports)",
                            isa_name(options.isa), isa_name(best_isa())));
  }
  const int rounds = options.quick ? 5 : 11;
  EngineOptions eo;
  eo.threads = 1;
  Engine engine(eo);
  std::mt19937_64 rng(20261205);
  std::map<std::string, Table> tables;
  const auto table_for = [&](const Workload &w) -> const Table & {
    // The two DRAM workloads share one table: it is the largest allocation here.
    const std::string key = fmt::format("{}/{}/{}", w.bits, w.dram, w.queries);
    auto it = tables.find(key);
    if (it == tables.end()) it = tables.emplace(key, make_table(w, options.quick, rng)).first;
    return it->second;
  };
  const auto workload = [](const std::string &name) -> const Workload & {
    for (const Workload &w : kWorkloads) {
      if (name == w.name) return w;
    }
    throw Error(ErrorKind::internal, "tune: no workload " + name);
  };

  TuneResult result;
  // One parameter at a time, the others at their best so far.
  const auto candidates_of = [&](const TuningParameter &p) {
    std::vector<Tuning> variants;
    for (uint32_t v : p.candidates) {
      Tuning t = result.tuning;
      t.*(p.field) = v;
      variants.push_back(t);
    }
    return variants;
  };
  for (const TuningParameter &p : tuning_parameters()) {
    const Workload &w = workload(workload_of(p.name));
    const std::vector<double> speed =
        race(engine, w, table_for(w), options.isa, candidates_of(p), rounds);
    const size_t best = size_t(std::max_element(speed.begin(), speed.end()) - speed.begin());
    result.tuning.*(p.field) = p.candidates[best];
    std::string line = fmt::format("{:<22} on {:<12}:", p.name, w.name);
    for (size_t i = 0; i < speed.size(); ++i) {
      result.figures.push_back({p.name, w.name, p.candidates[i], speed[i]});
      line += fmt::format(" {}={:.1f}", p.candidates[i], speed[i]);
    }
    line += fmt::format(" GB/s -> {}", p.candidates[best]);
    if (options.progress) options.progress(line);
  }

  // Check: on each workload, the chosen tuning against every fixed variant of its parameters
  // (the others at their chosen values), alternating.
  std::map<std::string, std::vector<Tuning>> per_workload;
  for (const TuningParameter &p : tuning_parameters()) {
    for (const Tuning &t : candidates_of(p)) {
      if (t != result.tuning) per_workload[workload_of(p.name)].push_back(t);
    }
  }
  std::string summary;
  for (auto &[name, variants] : per_workload) {
    const Workload &w = workload(name);
    variants.insert(variants.begin(), result.tuning);
    const std::vector<double> speed = race(engine, w, table_for(w), options.isa, variants, rounds);
    const double best = *std::max_element(speed.begin(), speed.end());
    result.chosen_vs_best.emplace_back(name, speed[0] / best);
    summary += fmt::format("{}{} {:.1f} GB/s ({:.3f} x the best fixed variant)",
                           summary.empty() ? "" : "; ", name, speed[0], speed[0] / best);
    if (options.progress) {
      options.progress(
          fmt::format("check {:<12}: chosen {:.1f} GB/s, best fixed variant {:.1f} "
                      "GB/s: {:.3f} x",
                      name, speed[0], best, speed[0] / best));
    }
  }
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
  result.summary = fmt::format("jitson tune{} on {} ({}): {}", options.quick ? " --quick" : "",
                               cpu_features().brand, date, summary);
  return result;
}

}  // namespace jitson
