#include "support/bench_timing.hpp"

#include <algorithm>

#include "support/bandwidth.hpp"

namespace jitson::bench {

Samples::Samples(size_t reserve) {
  wall_.reserve(reserve);
  cpu_.reserve(reserve);
}

void Samples::report(benchmark::State &state, Unit unit, const std::string &prefix) {
  if (wall_.empty()) return;
  std::sort(wall_.begin(), wall_.end());
  std::sort(cpu_.begin(), cpu_.end());
  const std::string suffix = unit == Unit::us ? "us" : "ms";
  const double ns_per_unit = unit == Unit::us ? 1e3 : 1e6;
  state.counters[prefix + "median_" + suffix] = wall_[wall_.size() / 2] / ns_per_unit;
  state.counters[prefix + "p90_" + suffix] = wall_[wall_.size() * 9 / 10] / ns_per_unit;
  state.counters[prefix + "median_cpu_" + suffix] = cpu_[cpu_.size() / 2] / ns_per_unit;
}

void set_scan_rates(benchmark::State &state, uint64_t records, uint64_t pairs_per_record) {
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(records * kRecordBytes));
  state.counters["records_per_s"] =
      benchmark::Counter(double(records), benchmark::Counter::kIsIterationInvariantRate);
  if (pairs_per_record > 1) {
    state.counters["pairs_per_s"] = benchmark::Counter(
        double(records * pairs_per_record), benchmark::Counter::kIsIterationInvariantRate);
  }
}

void time_database_scan(benchmark::State &state, const Kernel &kernel, const DramDatabase &db) {
  const uint8_t *query = small_data().query.data();
  ScanResult r;
  for (auto _ : state) {
    r = kernel.scan(query, db.view(), 1);
    benchmark::DoNotOptimize(r.hits.data());
  }
  set_scan_rates(state, db.n_records);
  state.counters["hits"] = double(r.stats.hits);
  if (!r.hits.empty()) state.counters["best_distance"] = r.hits.front().distance;
}

void time_read_bandwidth(benchmark::State &state, const DramDatabase &db) {
  std::vector<double> plain, prefetching;
  for (auto _ : state) {
    plain.push_back(measure_read_bandwidth_gbs(db.bytes.data(), db.bytes.size(), 1, 1));
    prefetching.push_back(
        measure_read_bandwidth_gbs(db.bytes.data(), db.bytes.size(), 1, 1, ReadLoop::prefetching));
    state.SetIterationTime(double(db.bytes.size()) /
                           (std::max(plain.back(), prefetching.back()) * 1e9));
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
  };
  state.counters["plain_GBps"] = median(plain);
  state.counters["prefetching_GBps"] = median(prefetching);
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(db.bytes.size()));
}

void CollectingReporter::ReportRuns(const std::vector<Run> &runs) {
  for (const Run &run : runs) {
    if (run.error_occurred) continue;
    std::string name = run.benchmark_name();
    if (run.run_type == Run::RT_Aggregate) {
      if (run.aggregate_name != "median") continue;
      name = name.substr(0, name.size() - std::string("_median").size());
    } else if (name.find("/repeats:") != std::string::npos) {
      continue;  // one repetition of several: the median stands for them
    }
    auto &m = values_[name];
    for (const auto &[counter_name, counter] : run.counters) m[counter_name] = counter.value;
    m["real_time"] = run.GetAdjustedRealTime();
    m["cpu_time"] = run.GetAdjustedCPUTime();
  }
  ConsoleReporter::ReportRuns(runs);
}

double CollectingReporter::get(const std::string &prefix, const std::string &counter) const {
  for (const auto &[name, m] : values_) {
    if (name.rfind(prefix, 0) == 0) {
      auto it = m.find(counter);
      if (it != m.end()) return it->second;
    }
  }
  return 0;
}

double CollectingReporter::get_cpu_rate(const std::string &prefix,
                                        const std::string &counter) const {
  const double cpu = get(prefix, "cpu_time");
  return cpu > 0 ? get(prefix, counter) * get(prefix, "real_time") / cpu : 0;
}

}  // namespace jitson::bench
