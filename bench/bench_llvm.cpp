// The LLVM ORC backend: compile latency (config text → callable kernel: the first compile of a
// process, a median over fresh processes, and of an engine, which build the LLJIT, and the steady
// state), and scan speed of LLVM kernels against Xbyak kernels of the same configs on the same
// data, in one run.
//
//   compile/*   median ms per compile (counters median_ms, median_cpu_ms)
//   l2/*        256 × 2,048-byte records (512 KiB, inside L2), the block function alone
//   dram/*      1M × 2,048-byte records (JITSON_BENCH_RECORDS), one thread, top-10
//   cascade/*   exact cascade with a selective max_distance (planted neighbours, ≤ 0.1 % hits)
// A summary with the LLVM / Xbyak ratios is printed at the end.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "jitson/cpu.hpp"
#include "jitson/engine.hpp"
#include "jitson/scan.hpp"
#include "support/bandwidth.hpp"
#include "support/bench_data.hpp"
#include "support/bench_timing.hpp"

namespace {

using jitson::Backend;
using namespace jitson::bench;
using Database = DramDatabase;

std::string config(const std::string &backend, const std::string &isa, const std::string &extra,
                   uint32_t max_distance, uint32_t top_k = kTopK) {
  return scan_config(backend, isa, extra, max_distance, top_k);
}

Database &database() {
  return planted_database("bench_llvm");
}

jitson::Engine &engine() {
  static jitson::Engine e(jitson::EngineOptions{1, size_t{256} << 20, std::nullopt, true, ""});
  return e;
}

bool require_backend(benchmark::State &state, const jitson::Kernel &kernel, Backend backend) {
  if (kernel.backend() == backend) return true;
  state.SkipWithError(
      ("wanted " + std::string(jitson::to_string(backend)) + ", got: " + kernel.describe())
          .c_str());
  return false;
}

// ----- compile latency ------------------------------------------------------------------------

// A fresh engine's first LLVM compile: builds the LLJIT, then compiles. The first iteration of
// the process also pays LLVM's one-time target initialisation; it is reported on its own.
void bm_first_compile(benchmark::State &state, std::string isa) {
  static bool first_in_process = true;
  Samples samples;
  uint32_t i = 0;
  for (auto _ : state) {
    const std::string text = config("llvm", isa, "", 1000 + i++);
    jitson::Engine fresh(jitson::EngineOptions{1, size_t{64} << 20, std::nullopt, true, ""});
    std::shared_ptr<const jitson::Kernel> kernel;
    if (first_in_process) {
      Samples first;
      first.time([&] { kernel = fresh.compile(text); });
      first.report(state, Samples::Unit::ms, "process_first_");
      first_in_process = false;
    } else {
      samples.time([&] { kernel = fresh.compile(text); });
    }
    if (!require_backend(state, *kernel, Backend::llvm)) return;
  }
  samples.report(state, Samples::Unit::ms);
}

// The first LLVM compile of a process happens once per process and depends on how much of
// libLLVM the page cache holds, so one sample is not a figure: kFirstCompileProcesses fresh
// processes (this program with --first-compile-only ISA) each time one, and the medians count.
constexpr int kFirstCompileProcesses = 5;
struct FirstCompile {
  double wall_ms = 0, cpu_ms = 0;
  int processes = 0;
};
FirstCompile g_first_compile;

int first_compile_only(const std::string &isa) {
  const std::clock_t c0 = std::clock();
  const auto t0 = std::chrono::steady_clock::now();
  jitson::Engine fresh(jitson::EngineOptions{1, size_t{64} << 20, std::nullopt, true, ""});
  const auto kernel = fresh.compile(config("llvm", isa, "", 1000));
  const double wall =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = 1e3 * double(std::clock() - c0) / CLOCKS_PER_SEC;
  if (kernel->backend() != Backend::llvm) return 1;
  std::printf("%.3f %.3f\n", wall, cpu);
  return 0;
}

FirstCompile measure_first_compile(const std::string &isa) {
  char self[4096];
  const ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);  // popen runs a shell
  if (len <= 0) return {};
  self[len] = 0;
  std::vector<double> wall, cpu;
  for (int i = 0; i < kFirstCompileProcesses; ++i) {
    // The isa comes from our own list ("avx512"/"avx2"); the path is quoted for the shell.
    char command[4200];
    std::snprintf(command, sizeof command, "'%s' --first-compile-only %s", self, isa.c_str());
    FILE *child = popen(command, "r");
    double w = 0, c = 0;
    const bool got = child && std::fscanf(child, "%lf %lf", &w, &c) == 2;
    if (child) pclose(child);
    if (got) wall.push_back(w), cpu.push_back(c);
  }
  FirstCompile f;
  f.processes = int(wall.size());
  if (wall.empty()) return f;
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  f.wall_ms = wall[wall.size() / 2];
  f.cpu_ms = cpu[cpu.size() / 2];
  return f;
}

// Config text → callable through Engine::compile, every text distinct (a cache miss each time).
void bm_config_to_callable(benchmark::State &state, std::string backend, std::string isa,
                           std::string extra) {
  Samples samples;
  static uint32_t serial = 0;  // distinct meanings across benchmarks and repetitions
  size_t code_bytes = 0;
  for (auto _ : state) {
    // Distinct meanings: max_distance below every focus's bit count (larger values all mean
    // "every record", which the canonical spec merges), and top_k when those run out.
    const uint32_t i = serial++;
    const std::string text = config(backend, isa, extra, 100 + i % 1000, kTopK + i / 1000);
    std::shared_ptr<const jitson::Kernel> kernel;
    samples.time([&] { kernel = engine().compile(text); });
    if (!require_backend(state, *kernel, backend == "llvm" ? Backend::llvm : Backend::xbyak))
      return;
    code_bytes = kernel->code_bytes();
  }
  samples.report(state, Samples::Unit::ms);
  state.counters["code_bytes"] = double(code_bytes);
}

// ----- scans ----------------------------------------------------------------------------------

Backend backend_of(const std::string &name) {
  return name == "llvm" ? Backend::llvm : Backend::xbyak;
}

// The block function alone over 256 L2-resident records (no hits: limit 1).
void bm_l2_block(benchmark::State &state, std::string backend, std::string text) {
  auto kernel = engine().compile(text);
  if (!require_backend(state, *kernel, backend_of(backend))) return;
  SmallData &d = small_data();
  std::vector<jitson::Hit> out(kL2Records);
  uint64_t counters[jitson::kNumCounters] = {};
  const jitson::BlockFn fn = kernel->block_function();
  for (auto _ : state) {
    jitson::BlockArgs a{d.query.data(), d.records.data(),       kL2Records, 0, 1, 0, out.data(),
                        counters,       kernel->block_context()};
    benchmark::DoNotOptimize(fn(&a));
  }
  set_scan_rates(state, kL2Records);
  state.counters["code_bytes"] = double(kernel->code_bytes());
}

// Kernel::scan over the DRAM database on one thread.
void bm_dram_scan(benchmark::State &state, std::string backend, std::string text) {
  auto kernel = engine().compile(text);
  if (!require_backend(state, *kernel, backend_of(backend))) return;
  time_database_scan(state, *kernel, database());
}

void bm_read_bandwidth(benchmark::State &state) {
  time_read_bandwidth(state, database());
}

// ----- summary --------------------------------------------------------------------------------

// Compile-time targets of the LLVM backend (issue 17): a regression (the sweep generated beside
// every row kernel once doubled them) must show in the summary, not only in a table.
constexpr double kSteadyCompileTargetMs = 10, kFirstCompileTargetMs = 30;

// Prints one verdict line per target, "FAIL" in capitals when over; returns whether all are met.
// Judged on the wall-clock median, what a caller waits for; the CPU median is printed beside it
// because on a shared machine preemption inflates the wall time only.
bool check_compile_targets(const CollectingReporter &r, const std::vector<std::string> &isas) {
  bool ok = true;
  auto verdict = [&](const std::string &what, double wall, double cpu, double target) {
    const bool met = wall > 0 && wall <= target;
    ok = ok && met;
    std::printf("%s %-58s %7.2f ms wall / %7.2f ms cpu (target <= %.0f ms)%s\n",
                met ? "  ok  " : "**FAIL**", what.c_str(), wall, cpu, target,
                !met && cpu > 0 && cpu <= target ? " [cpu within: a busy machine?]" : "");
  };
  std::printf("\nLLVM compile-time targets:\n");
  verdict("first compile in a process (plugin, LLVM, LLJIT, kernel; median of " +
              std::to_string(g_first_compile.processes) + " processes)",
          g_first_compile.wall_ms, g_first_compile.cpu_ms, kFirstCompileTargetMs);
  for (const auto &isa : isas) {
    for (const char *shape : {"default", "off", "scattered"}) {
      const std::string name = "compile/llvm_config_to_callable/" + std::string(shape) + "/" + isa;
      verdict("steady config -> callable, " + std::string(shape) + ", " + isa,
              r.get(name, "median_ms"), r.get(name, "median_cpu_ms"), kSteadyCompileTargetMs);
    }
  }
  std::printf(ok ? "LLVM compile-time targets: all met\n"
                 : "**FAIL** LLVM compile-time targets: NOT MET (see the lines above)\n");
  return ok;
}

void print_summary(const CollectingReporter &r, const std::vector<std::string> &isas) {
  std::printf("\nSummary (one run; GB/s = 1e9 B/s; single-core read bandwidth %.1f GB/s)\n",
              r.get("read_bandwidth", "bytes_per_second") / 1e9);
  std::printf(
      "LLVM first compile in a process (LLVM initialisation + LLJIT + compile): %.2f ms "
      "wall / %.2f ms cpu (median of %d processes; in this one: %.2f ms wall)\n",
      g_first_compile.wall_ms, g_first_compile.cpu_ms, g_first_compile.processes,
      r.get("compile/llvm_first_in_engine/", "process_first_median_ms"));
  for (const auto &isa : isas) {
    std::printf(
        "LLVM %-6s first compile of a new engine (LLJIT + compile): %.2f ms wall / %.2f "
        "ms cpu (median)\n",
        isa.c_str(), r.get("compile/llvm_first_in_engine/" + isa, "median_ms"),
        r.get("compile/llvm_first_in_engine/" + isa, "median_cpu_ms"));
    for (const char *shape : {"default", "off", "scattered"}) {
      const std::string suffix = std::string(shape) + "/" + isa;
      std::printf(
          "  %-9s config->callable: llvm %.2f ms wall / %.2f ms cpu (target <= 10), "
          "%.0f code bytes; xbyak %.3f ms\n",
          shape, r.get("compile/llvm_config_to_callable/" + suffix, "median_ms"),
          r.get("compile/llvm_config_to_callable/" + suffix, "median_cpu_ms"),
          r.get("compile/llvm_config_to_callable/" + suffix, "code_bytes"),
          r.get("compile/xbyak_config_to_callable/" + suffix, "median_ms"));
    }
  }
  auto ratio_line = [&](const std::string &what, const std::string &name, const char *counter,
                        double unit, const char *unit_name) {
    const double llvm = r.get(name + "/llvm", counter), xbyak = r.get(name + "/xbyak", counter);
    std::printf("%-44s llvm %8.1f %s  xbyak %8.1f %s  llvm/xbyak = %.3f\n", what.c_str(),
                llvm / unit, unit_name, xbyak / unit, unit_name, xbyak > 0 ? llvm / xbyak : 0.0);
  };
  for (const auto &isa : isas) {
    ratio_line("L2 full focus, cascade off (" + isa + ")", "l2/full_off/" + isa, "records_per_s",
               1e6, "M rec/s");
    ratio_line("L2 focus first 1/8, cascade off (" + isa + ")", "l2/focus_first_eighth_off/" + isa,
               "records_per_s", 1e6, "M rec/s");
    ratio_line("L2 focus every 8th word, cascade off (" + isa + ")",
               "l2/focus_every_eighth_word_off/" + isa, "records_per_s", 1e6, "M rec/s");
    ratio_line("L2 exact cascade 1,9,256 (" + isa + ")", "l2/exact_default/" + isa, "records_per_s",
               1e6, "M rec/s");
    ratio_line("DRAM full focus, cascade off, top-10 (" + isa + ")", "dram/full_off_top10/" + isa,
               "bytes_per_second", 1e9, "GB/s   ");
    ratio_line("DRAM exact cascade, selective (" + isa + ")", "cascade/exact_selective/" + isa,
               "records_per_s", 1e6, "M rec/s");
  }
}

}  // namespace

int main(int argc, char **argv) {
  if (!jitson::backend_built(Backend::llvm) || !jitson::backend_built(Backend::xbyak)) {
    std::printf("bench_llvm compares the llvm and xbyak backends; this build lacks one of them\n");
    return 0;
  }
  if (argc == 3 && std::strcmp(argv[1], "--first-compile-only") == 0) {
    return first_compile_only(argv[2]);
  }
  std::vector<std::string> isas;
  if (jitson::isa_supported(jitson::Isa::avx512)) isas.push_back("avx512");
  if (jitson::isa_supported(jitson::Isa::avx2)) isas.push_back("avx2");
  if (!isas.empty()) g_first_compile = measure_first_compile(isas.front());
  const std::vector<std::string> backends = {"xbyak", "llvm"};
  std::string scattered = ", \"focus\": {\"ranges\": [";
  for (int w = 0; w < 256; w += 3) {
    scattered +=
        (w ? ", [" : "[") + std::to_string(64 * w + 5) + ", " + std::to_string(64 * w + 50) + "]";
  }
  scattered += "]}";

  // First: nothing in the process has touched LLVM yet.
  for (const auto &isa : isas) {
    benchmark::RegisterBenchmark(("compile/llvm_first_in_engine/" + isa).c_str(), bm_first_compile,
                                 isa)
        ->Iterations(10)
        ->Unit(benchmark::kMillisecond);
  }
  for (const auto &isa : isas) {
    for (const auto &[shape, extra] : std::vector<std::pair<std::string, std::string>>{
             {"default", ""}, {"off", kCascadeOff}, {"scattered", scattered}}) {
      benchmark::RegisterBenchmark(("compile/llvm_config_to_callable/" + shape + "/" + isa).c_str(),
                                   bm_config_to_callable, std::string("llvm"), isa, extra)
          ->Iterations(200)
          ->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark(
          ("compile/xbyak_config_to_callable/" + shape + "/" + isa).c_str(), bm_config_to_callable,
          std::string("xbyak"), isa, extra)
          ->Iterations(2000)
          ->Unit(benchmark::kMicrosecond);
    }
  }

  // Scans: each pair of backends back to back, so both see the same machine state.
  for (const auto &isa : isas) {
    for (const auto &backend : backends) {
      benchmark::RegisterBenchmark(("l2/full_off/" + isa + "/" + backend).c_str(), bm_l2_block,
                                   backend, config(backend, isa, kCascadeOff, 16384));
    }
    for (const auto &backend : backends) {
      benchmark::RegisterBenchmark(("l2/focus_first_eighth_off/" + isa + "/" + backend).c_str(),
                                   bm_l2_block, backend,
                                   config(backend, isa, kCascadeOff + kFocusFirstEighth, 16384));
    }
    for (const auto &backend : backends) {
      benchmark::RegisterBenchmark(
          ("l2/focus_every_eighth_word_off/" + isa + "/" + backend).c_str(), bm_l2_block, backend,
          config(backend, isa, kCascadeOff + every_eighth_word_focus(), 16384));
    }
    for (const auto &backend : backends) {
      // Random records against a random query: almost all rejected after the 9-word probes.
      benchmark::RegisterBenchmark(("l2/exact_default/" + isa + "/" + backend).c_str(), bm_l2_block,
                                   backend, config(backend, isa, "", kSelectiveMaxDistance));
    }
  }
  benchmark::RegisterBenchmark("read_bandwidth", bm_read_bandwidth)
      ->UseManualTime()
      ->Iterations(5)
      ->Unit(benchmark::kMillisecond);
  for (const auto &isa : isas) {
    for (const auto &backend : backends) {
      benchmark::RegisterBenchmark(("dram/full_off_top10/" + isa + "/" + backend).c_str(),
                                   bm_dram_scan, backend, config(backend, isa, kCascadeOff, 16384))
          ->Iterations(8)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
    for (const auto &backend : backends) {
      benchmark::RegisterBenchmark(("cascade/exact_selective/" + isa + "/" + backend).c_str(),
                                   bm_dram_scan, backend,
                                   config(backend, isa, "", kSelectiveMaxDistance))
          ->Iterations(8)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::printf("CPU: %s; LLVM %s; DRAM database %llu records x %zu B = %.2f GB\n",
              jitson::cpu_features().brand.c_str(), jitson::llvm_version().c_str(),
              static_cast<unsigned long long>(dram_records("bench_llvm")), kRecordBytes,
              double(dram_records("bench_llvm") * kRecordBytes) / 1e9);
  CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  print_summary(reporter, isas);
  const bool compile_ok = check_compile_targets(reporter, isas);
  benchmark::Shutdown();
  // JITSON_BENCH_STRICT=1 turns a missed compile-time target into a failing exit status (CI).
  const char *strict = std::getenv("JITSON_BENCH_STRICT");
  return !compile_ok && strict && *strict && *strict != '0' ? 1 : 0;
}
