// Per-iteration timing and rate counters shared by the JIT benchmarks.
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "jitson/engine.hpp"
#include "support/bench_data.hpp"

namespace jitson::bench {

// Per-iteration samples → median / p90 counters of wall clock and of this thread's CPU time
// (which preemption on a busy machine does not inflate).
class Samples {
 public:
  enum class Unit { us, ms };
  explicit Samples(size_t reserve = 0);
  template <class F>
  void time(F &&f) {
    const double c0 = thread_cpu_ns();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const auto t1 = std::chrono::steady_clock::now();
    cpu_.push_back(thread_cpu_ns() - c0);
    wall_.push_back(double(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
  }
  // Counters <prefix>median_<unit>, <prefix>p90_<unit> and <prefix>median_cpu_<unit>.
  void report(benchmark::State &state, Unit unit, const std::string &prefix = "");

 private:
  std::vector<double> wall_, cpu_;
};

// Bytes per second over `records` SKU-16K records per iteration, records_per_s, and pairs_per_s
// when each record meets several queries.
void set_scan_rates(benchmark::State &state, uint64_t records, uint64_t pairs_per_record = 1);

// Kernel::scan of small_data().query over the whole database on one thread, with rates and the
// hits and best distance of the last scan as counters.
void time_database_scan(benchmark::State &state, const Kernel &kernel, const DramDatabase &db);

// One thread's read bandwidth over the database's own buffer, as manual iteration time: per
// iteration the faster of a plain and a prefetching read loop (ReadLoop), whose medians are
// also kept as counters plain_GBps and prefetching_GBps.
void time_read_bandwidth(benchmark::State &state, const DramDatabase &db);

// Console output as usual, plus every run's counters (and adjusted real and CPU time) kept by
// name for a summary; with --benchmark_repetitions, the medians.
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run> &runs) override;
  // The counter of the first benchmark whose name starts with prefix (0 if none ran).
  double get(const std::string &prefix, const std::string &counter) const;
  // A rate counter of a real-time benchmark rescaled to this thread's CPU time: what the rate
  // would be without other processes taking the core (memory stalls still count).
  double get_cpu_rate(const std::string &prefix, const std::string &counter) const;

 private:
  std::map<std::string, std::map<std::string, double>> values_;
};

}  // namespace jitson::bench
