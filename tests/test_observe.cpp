// Kernel inspection: JITSON_VERBOSE, JITSON_DUMP_DIR and JITSON_PERF_MAP, which are read once per
// process, so this binary sets them in its own main() before jitson reads them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "jitson/engine.hpp"

namespace fs = std::filesystem;

namespace {

fs::path g_dump_dir;
fs::path g_stderr_file;

std::string read_file(const fs::path &p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string config(const char *backend, const char *isa) {
  return std::string(
             R"({"version": 1, "record_bits": 16384, "max_distance": 900, "name": "observed", "backend": ")") +
         backend + R"(", "isa": ")" + isa + R"("})";
}

struct Compiled {
  std::shared_ptr<const jitson::Kernel> kernel;
  std::string symbol;
};

Compiled compile_and_scan(jitson::Engine &engine, const char *backend, const char *isa) {
  auto k = engine.compile(config(backend, isa));
  std::vector<uint8_t> db(2048 * 64, 0x5a), q(2048, 0x5a);
  k->scan(q.data(), jitson::DatabaseView::rows(db.data(), 64, 2048));
  char key[17];
  std::snprintf(key, sizeof key, "%016llx", (unsigned long long)k->plan().key);
  return {k, std::string("jitson_") + backend + "_" + isa + "_" + key};
}

TEST(Observe, DumpDirHoldsPlanDisassemblyAndDescription) {
  jitson::Engine engine;
  std::vector<std::pair<const char *, const char *>> variants{{"xbyak", "avx512"},
                                                              {"xbyak", "avx2"}};
#ifdef JITSON_HAVE_LLVM
  variants.push_back({"llvm", "avx512"});
#endif
  for (auto [backend, isa] : variants) {
    Compiled c = compile_and_scan(engine, backend, isa);
    const fs::path base = g_dump_dir / c.symbol;
    auto plan = nlohmann::json::parse(read_file(base.string() + ".plan.json"));
    EXPECT_TRUE(plan.contains("stages") || plan.dump().find("stages") != std::string::npos);
    EXPECT_EQ(read_file(base.string() + ".txt"), c.kernel->describe() + "\n");
#ifdef JITSON_HAVE_LLVM
    const std::string asm_text = read_file(base.string() + ".s");
    if (std::string(isa) == "avx512") {
      EXPECT_NE(asm_text.find("vpopcntq"), std::string::npos) << backend << "\n" << asm_text;
      EXPECT_NE(asm_text.find("zmm"), std::string::npos);
    } else {
      // AVX2 has no vector popcount: the nibble lookup, and no EVEX registers.
      EXPECT_NE(asm_text.find("vpshufb"), std::string::npos) << backend << "\n" << asm_text;
      EXPECT_EQ(asm_text.find("zmm"), std::string::npos);
    }
    if (std::string(backend) == "llvm") {
      EXPECT_NE(read_file(base.string() + ".ll").find("define"), std::string::npos);
    }
#endif
  }
}

TEST(Observe, PerfMapNamesEveryGeneratedKernel) {
  jitson::Engine engine;
  Compiled c = compile_and_scan(engine, "xbyak", "avx512");
  const std::string map = read_file("/tmp/perf-" + std::to_string(::getpid()) + ".map");
  char line[256];
  std::snprintf(line, sizeof line, "%llx %zx %s",
                (unsigned long long)reinterpret_cast<uintptr_t>(c.kernel->code_address()),
                c.kernel->code_bytes(), c.symbol.c_str());
  EXPECT_NE(map.find(line), std::string::npos) << "perf map lacks: " << line << "\n" << map;
}

TEST(Observe, VerboseLogsOneLinePerCompileAndScan) {
  jitson::Engine engine;
  Compiled c = compile_and_scan(engine, "xbyak", "avx2");
  std::fflush(stderr);
  const std::string log = read_file(g_stderr_file);
  EXPECT_NE(log.find("jitson_verbose,compile,xbyak,avx2,key="), std::string::npos) << log;
  EXPECT_NE(log.find("jitson_verbose,scan,xbyak,avx2,key="), std::string::npos) << log;
  EXPECT_NE(log.find("records=64,queries=1"), std::string::npos) << log;
}

}  // namespace

int main(int argc, char **argv) {
  const fs::path dir = fs::temp_directory_path() / ("jitson-observe-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  g_dump_dir = dir / "dumps";
  g_stderr_file = dir / "stderr.txt";
  ::setenv("JITSON_VERBOSE", "1", 1);
  ::setenv("JITSON_PERF_MAP", "1", 1);
  ::setenv("JITSON_DUMP_DIR", g_dump_dir.c_str(), 1);
  // jitson's verbose lines go to stderr: send it to a file the tests read.
  if (!std::freopen(g_stderr_file.c_str(), "w", stderr)) return 2;
  ::testing::InitGoogleTest(&argc, argv);
  int rc = RUN_ALL_TESTS();
  fs::remove_all(dir);
  fs::remove("/tmp/perf-" + std::to_string(::getpid()) + ".map");
  return rc;
}
