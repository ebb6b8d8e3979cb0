// `jitson scan` keeps its resident set proportional to what it reads, not to the file (issue 17):
// a near-duplicate sweep over a blocked file reads 1/256 of it, and a row cascade reads every
// page but only needs the window it is scanning. Each scan's peak RSS (ru_maxrss from wait4)
// over a 128 MiB file, minus that of the same scan over a 1 MiB file (the process's own
// footprint), must stay below a quarter of the file. Generous bounds, no timing.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/run_program.hpp"

namespace {

namespace fs = std::filesystem;
using jitson::testing_support::ProgramResult;
using jitson::testing_support::run_program;
const std::string kCli = JITSON_CLI_PATH;

ProgramResult run_cli(const std::vector<std::string> &args) {
  return run_program(kCli, args);
}

constexpr uint64_t kBigRecords = 65536;  // × 2 KiB = 128 MiB
constexpr uint64_t kSmallRecords = 512;  // 1 MiB

class CliResidency : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string pattern = (fs::temp_directory_path() / "jitson_cli_residency_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    for (auto [name, count] : {std::pair{"big", kBigRecords}, std::pair{"small", kSmallRecords}}) {
      const std::string rows = path(std::string(name) + ".jfp");
      ASSERT_EQ(run_cli({"gen", "--bits", "16384", "--count", std::to_string(count), "--out", rows,
                         "--seed", "3", "--queries", "1", "--queries-out",
                         path(std::string(name) + "-q.jfp"), "--plant", "2", "--flip-bits", "8"})
                    .exit_code,
                0);
      ASSERT_EQ(run_cli({"convert", rows, path(std::string(name) + "-blocked.jfp"), "--to",
                         "blocked", "--block-records", "64"})
                    .exit_code,
                0);
    }
    std::ofstream(path("neardup.json"))
        << R"({"version": 1, "record_bits": 16384, "max_distance": 16, "top_k": 10})";
    std::ofstream(path("cascade.json"))
        << R"({"version": 1, "record_bits": 16384, "max_distance": 1638, "top_k": 10,)"
        << R"( "cascade": {"mode": "exact", "stages": [64, 128]}})";
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static std::string path(const std::string &name) { return dir_ + "/" + name; }

  // Peak RSS of a scan of the big file above that of the same scan of the small one, in kB;
  // both must find their two planted neighbours (distance 8).
  static uint64_t growth_kb(const std::string &config, const std::string &db_suffix) {
    uint64_t peak[2] = {};
    for (int big = 0; big < 2; ++big) {
      const std::string name = big ? "big" : "small";
      ProgramResult r = run_cli({"scan", "--config", path(config), "--db", path(name + db_suffix),
                                 "--queries", path(name + "-q.jfp"), "--format", "csv"});
      EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
      size_t planted = 0;
      for (size_t at = r.out.find(",8\n"); at != std::string::npos; at = r.out.find(",8\n", at + 1))
        ++planted;
      EXPECT_EQ(planted, 2u) << r.out;
      peak[big] = r.peak_rss_kb;
    }
    return peak[1] > peak[0] ? peak[1] - peak[0] : 0;
  }
  static inline std::string dir_;
};

constexpr uint64_t kBoundKb = kBigRecords * 2048 / 4 / 1024;

TEST_F(CliResidency, NearDuplicateSweepKeepsLittleOfTheFileResident) {
  EXPECT_LT(growth_kb("neardup.json", "-blocked.jfp"), kBoundKb);
}

TEST_F(CliResidency, RowCascadeKeepsOnlyItsWindowsResident) {
  EXPECT_LT(growth_kb("cascade.json", ".jfp"), kBoundKb);
}

}  // namespace
