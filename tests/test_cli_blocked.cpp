// `jitson convert --to blocked` and back: byte-identical round trips, scans of blocked files
// equal to scans of row files, and the option errors. Runs the built command (JITSON_CLI_PATH)
// through tests/support/run_program.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "jitson/database.hpp"
#include "support/run_program.hpp"

namespace {

namespace fs = std::filesystem;
using jitson::testing_support::ProgramResult;
using jitson::testing_support::run_program;
const std::string kCli = JITSON_CLI_PATH;

std::vector<uint8_t> read_bytes(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

class CliBlocked : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "jitson_cli_blocked_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string &name) const { return dir_ + "/" + name; }
  ProgramResult run(const std::vector<std::string> &args) { return run_program(kCli, args); }
  std::string dir_;
};

TEST_F(CliBlocked, RoundTripIsByteIdentical) {
  for (const char *bits : {"64", "2048"}) {
    for (const char *count : {"1", "100", "129"}) {
      for (const char *block : {"8", "64", "256"}) {
        const std::string ctx = std::string(bits) + " bits, " + count + " records, B " + block;
        ProgramResult r = run({"gen", "--bits", bits, "--count", count, "--out", path("a.jfp")});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        r = run(
            {"convert", path("a.jfp"), path("b.jfp"), "--to", "blocked", "--block-records", block});
        ASSERT_EQ(r.exit_code, 0) << ctx << r.err;
        jitson::FingerprintFile f = jitson::FingerprintFile::open(path("b.jfp"));
        EXPECT_EQ(f.header().layout, jitson::Layout::blocked) << ctx;
        EXPECT_EQ(f.header().block_records, uint32_t(std::stoul(block))) << ctx;
        EXPECT_EQ(f.view().n_records, std::stoull(count)) << ctx;
        r = run({"convert", path("b.jfp"), path("c.jfp"), "--to", "jfp"});
        ASSERT_EQ(r.exit_code, 0) << ctx << r.err;
        EXPECT_EQ(read_bytes(path("a.jfp")), read_bytes(path("c.jfp"))) << ctx;
        // Blocked → raw equals row → raw.
        ASSERT_EQ(run({"convert", path("b.jfp"), path("b.raw")}).exit_code, 0) << ctx;
        ASSERT_EQ(run({"convert", path("a.jfp"), path("a.raw")}).exit_code, 0) << ctx;
        EXPECT_EQ(read_bytes(path("a.raw")), read_bytes(path("b.raw"))) << ctx;
        // The default block size is 64.
        ASSERT_EQ(run({"convert", path("a.jfp"), path("d.jfp"), "--to", "blocked"}).exit_code, 0);
        EXPECT_EQ(jitson::FingerprintFile::open(path("d.jfp")).header().block_records, 64u);
      }
    }
  }
}

TEST_F(CliBlocked, ScanOfBlockedFileEqualsRowScan) {
  ProgramResult r =
      run({"gen", "--bits", "2048", "--count", "3000", "--out", path("db.jfp"), "--queries", "3",
           "--queries-out", path("q.jfp"), "--plant", "4", "--flip-bits", "9"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(run({"convert", path("db.jfp"), path("dbb.jfp"), "--to", "blocked"}).exit_code, 0);
  std::ofstream(path("cfg.json")) << R"({"version": 1, "record_bits": 2048, "max_distance": 40,
                                        "top_k": 10})";
  ProgramResult row = run({"scan", "--config", path("cfg.json"), "--db", path("db.jfp"),
                           "--queries", path("q.jfp"), "--format", "csv"});
  ProgramResult blocked = run({"scan", "--config", path("cfg.json"), "--db", path("dbb.jfp"),
                               "--queries", path("q.jfp"), "--format", "csv"});
  ASSERT_EQ(row.exit_code, 0) << row.err;
  ASSERT_EQ(blocked.exit_code, 0) << blocked.err;
  EXPECT_EQ(row.out, blocked.out);
  EXPECT_GE(std::count(row.out.begin(), row.out.end(), '\n'), 12) << row.out;
}

TEST_F(CliBlocked, OptionErrors) {
  ASSERT_EQ(run({"gen", "--bits", "64", "--count", "10", "--out", path("a.jfp")}).exit_code, 0);
  ProgramResult r =
      run({"convert", path("a.jfp"), path("b.jfp"), "--to", "blocked", "--block-records", "48"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("power of two from 8 to 4096"), std::string::npos) << r.err;
  r = run({"convert", path("a.jfp"), path("b.jfp"), "--block-records", "64"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--to blocked"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(path("b.jfp")));
  // A headerless raw file cannot hold the blocked layout.
  r = run({"convert", path("a.jfp"), path("b.raw"), "--to", "blocked"});
  EXPECT_EQ(r.exit_code, 0) << r.err;  // --to blocked always writes a jfp file with a header
  EXPECT_EQ(jitson::FingerprintFile::open(path("b.raw")).header().layout, jitson::Layout::blocked);
}

}  // namespace
