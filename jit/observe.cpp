#include "jit/observe.hpp"

#include "jitson/tuning.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <vector>

#include <fmt/format.h>

#include "jit/backend.hpp"
#include "jitson/engine.hpp"

namespace jitson {

namespace {

struct Settings {
  bool verbose = false;
  bool perf_map = false;
  std::string dump_dir;
};

const Settings &settings() {
  static const Settings s = [] {
    Settings r;
    auto on = [](const char *v) { return v && *v && std::string_view(v) != "0"; };
    r.verbose = on(std::getenv("JITSON_VERBOSE"));
    r.perf_map = on(std::getenv("JITSON_PERF_MAP"));
    if (const char *d = std::getenv("JITSON_DUMP_DIR")) r.dump_dir = d;
    return r;
  }();
  return s;
}

std::mutex g_io_mutex;

void write_file(const std::filesystem::path &p, const std::string &text) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << text;
}

}  // namespace

std::string kernel_symbol(const Kernel &k) {
  return fmt::format("jitson_{}_{}_{:016x}", to_string(k.backend()), isa_name(k.isa()),
                     k.plan().key);
}

std::vector<std::string> dump_kernel(const Kernel &k, const std::string &dir) {
  std::filesystem::create_directories(dir);
  std::vector<std::string> files;
  const std::string base = (std::filesystem::path(dir) / kernel_symbol(k)).string();
  write_file(base + ".plan.json", k.plan().to_json());
  files.push_back(base + ".plan.json");
  write_file(base + ".txt", k.describe() + "\n");
  files.push_back(base + ".txt");
  if (std::string a = k.dump_asm(); !a.empty()) {
    write_file(base + ".s", a);
    files.push_back(base + ".s");
  }
  if (std::string ir = k.dump_ir(); !ir.empty()) {
    write_file(base + ".ll", ir);
    files.push_back(base + ".ll");
  }
  return files;
}

void observe_compile(const Kernel &k) {
  const Settings &s = settings();
  if (s.verbose) {
    std::lock_guard lock(g_io_mutex);
    std::fprintf(stderr,
                 "jitson_verbose,compile,%s,%s,key=%016llx,record_bits=%u,code_bytes=%zu,"
                 "compile_us=%.1f,tuning=%s%s%s\n",
                 to_string(k.backend()), isa_name(k.isa()), (unsigned long long)k.plan().key,
                 k.plan().record_bits, k.code_bytes(), double(k.compile_time().count()) / 1000.0,
                 k.plan().tuning_source.c_str(),
                 k.spec().name.empty() ? "" : ",name=", k.spec().name.c_str());
  }
  if (!s.dump_dir.empty()) {
    try {
      dump_kernel(k, s.dump_dir);
    } catch (const std::exception &e) {
      std::lock_guard lock(g_io_mutex);
      std::fprintf(stderr, "jitson: JITSON_DUMP_DIR=%s: %s\n", s.dump_dir.c_str(), e.what());
    }
  }
  if (s.perf_map && k.code_address() != nullptr && k.code_bytes() > 0) {
    std::lock_guard lock(g_io_mutex);
    std::string path = fmt::format("/tmp/perf-{}.map", ::getpid());
    if (FILE *f = std::fopen(path.c_str(), "a")) {
      // perf's map format: START SIZE symbolname, hex without 0x.
      std::fprintf(f, "%llx %zx %s\n",
                   (unsigned long long)reinterpret_cast<uintptr_t>(k.code_address()),
                   k.code_bytes(), kernel_symbol(k).c_str());
      std::fclose(f);
    }
  }
}

void observe_tuning(Isa isa, const ResolvedTuning &t) {
  if (!settings().verbose) return;
  std::lock_guard lock(g_io_mutex);
  std::fprintf(stderr, "jitson_verbose,tuning,%s,source=%s,%s%s%s\n", isa_name(isa),
               t.source.c_str(), tuning_string(t.tuning).c_str(),
               t.note.empty() ? "" : ",note=", t.note.c_str());
}

void log_scan(const Kernel &k, uint64_t records, uint64_t queries, uint64_t hits,
              std::chrono::steady_clock::duration elapsed) {
  if (!settings().verbose) return;
  double sec = std::chrono::duration<double>(elapsed).count();
  std::lock_guard lock(g_io_mutex);
  std::fprintf(stderr,
               "jitson_verbose,scan,%s,%s,key=%016llx,records=%llu,queries=%llu,"
               "hits=%llu,ms=%.3f,records_per_s=%.3g\n",
               to_string(k.backend()), isa_name(k.isa()), (unsigned long long)k.plan().key,
               (unsigned long long)records, (unsigned long long)queries, (unsigned long long)hits,
               sec * 1e3, sec > 0 ? double(records) * double(queries) / sec : 0.0);
}

}  // namespace jitson
