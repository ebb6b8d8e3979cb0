// The LLVM backend is a plugin loaded on first use: a process that never asks for LLVM never
// maps libLLVM (read from /proc/self/maps), and a missing plugin is a clear config error. Each
// check runs in a fresh process (death-test style "threadsafe" re-executes the binary), since a
// process loads the plugin at most once.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "jitson/engine.hpp"
#include "jitson/error.hpp"

namespace jitson {
namespace {

bool mapped(const std::string &library) {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);)
    if (line.find(library) != std::string::npos) return true;
  return false;
}

// Exits 0 when every expectation holds, else with the number of the first that failed.
[[noreturn]] void xbyak_and_runtime_never_map_llvm() {
  if (mapped("libLLVM")) std::exit(1);
  Engine engine;
  std::vector<uint8_t> q(2048, 0x5a), db(2048 * 100, 0x5a);
  for (const char *cfg : {R"({"version": 1, "record_bits": 16384, "max_distance": 10})",
                          R"({"version": 1, "record_bits": 16384, "backend": "runtime"})",
                          R"({"version": 1, "record_bits": 16384, "layout": "blocked"})"}) {
    auto k = engine.compile(cfg);
    (void)k->describe();
    if (k->has_row_kernel()) (void)k->scan(q.data(), DatabaseView::rows(db.data(), 100, 2048));
  }
  if (mapped("libLLVM") || mapped("libjitson_llvm")) std::exit(2);
  if (!backend_built(Backend::llvm)) std::exit(0);
  // The first LLVM config loads the plugin and LLVM with it.
  auto k = engine.compile(R"({"version": 1, "record_bits": 16384, "backend": "llvm"})");
  if (k->backend() != Backend::llvm) std::exit(3);
  if (k->scan(q.data(), DatabaseView::rows(db.data(), 100, 2048)).hits.size() != 10) std::exit(4);
  if (!mapped("libLLVM") || !mapped("libjitson_llvm")) std::exit(5);
  std::exit(0);
}

TEST(LazyLlvm, OnlyAProcessThatAsksForLlvmMapsIt) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(xbyak_and_runtime_never_map_llvm(), testing::ExitedWithCode(0), "");
}

#ifdef JITSON_HAVE_LLVM
[[noreturn]] void missing_plugin_is_a_config_error() {
  setenv("JITSON_LLVM_PLUGIN", "/nonexistent/libjitson_llvm.so", 1);
  Engine engine;
  try {
    engine.compile(R"({"version": 1, "record_bits": 64, "backend": "llvm"})");
  } catch (const ConfigError &e) {
    const std::string what = e.what();
    const bool clear = e.pointer() == "/backend" &&
                       what.find("the llvm backend is not installed") != std::string::npos &&
                       what.find("/nonexistent/libjitson_llvm.so") != std::string::npos;
    std::exit(clear ? 0 : 1);
  }
  std::exit(2);
}

TEST(LazyLlvm, AMissingPluginIsAConfigErrorNamingIt) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(missing_plugin_is_a_config_error(), testing::ExitedWithCode(0), "");
}
#endif

}  // namespace
}  // namespace jitson
