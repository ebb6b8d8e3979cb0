// jitson scan / convert with metric "tanimoto": every output format against the oracle, the
// popcount-ordered file giving the same answers while skipping records, --min-similarity taken
// exactly as written, and bad input refused with the flag and the rule.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "jitson/database.hpp"
#include "jitson/metric.hpp"
#include "support/oracle.hpp"
#include "support/run_program.hpp"

namespace jitson {
namespace {

namespace fs = std::filesystem;
using testing_support::ProgramResult;

const std::string kCli = JITSON_CLI_PATH;

ProgramResult jitson_cli(const std::vector<std::string> &args) {
  return testing_support::run_program(kCli, args, {"JITSON_TUNING=defaults"});
}

std::string describe(const ProgramResult &r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout:\n" + r.out + "\n--- stderr:\n" +
         r.err;
}

class CliTanimoto : public ::testing::Test {
 protected:
  static constexpr uint32_t kBits = 2048, kBytes = kBits / 8;
  static constexpr uint64_t kRecords = 6000, kQueries = 3;

  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("cli-tanimoto-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::mt19937_64 rng(42);
    db_.resize(kRecords * kBytes);
    for (size_t i = 0; i < db_.size(); i += 8) {  // about 3 % of bits set, as in chemistry
      uint64_t w = rng() & rng() & rng() & rng() & rng();
      std::memcpy(&db_[i], &w, 8);
    }
    for (int t = 0; t < 30; ++t) {  // exact duplicates: ties broken by index
      std::memcpy(&db_[(rng() % kRecords) * kBytes], &db_[(rng() % kRecords) * kBytes], kBytes);
    }
    queries_.assign(db_.begin() + 11 * kBytes, db_.begin() + (11 + kQueries) * kBytes);
    queries_[kBytes + 3] ^= 0x10;
    write(path("db.jfp"), db_, kRecords);
    write(path("q.jfp"), queries_, kQueries);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string &name) const { return (dir_ / name).string(); }

  static void write(const std::string &file, const std::vector<uint8_t> &records, uint64_t n) {
    FingerprintWriter w(file, kBits, n);
    w.write(records.data(), records.size());
    w.commit();
  }

  std::string config(const std::string &extra) const {
    const std::string file = path("t.json");
    std::ofstream(file) << R"({"version": 1, "record_bits": 2048, "metric": "tanimoto")" << extra
                        << "}";
    return file;
  }

  // CSV rows (query, rank, index, similarity, intersection, union) against the oracle.
  void expect_csv_matches(const std::string &csv, oracle::TanimotoThreshold t, uint32_t top_k) {
    std::istringstream in(csv);
    std::string line;
    std::getline(in, line);
    ASSERT_EQ(line, "query,rank,index,similarity,intersection,union");
    std::vector<std::vector<Hit>> want(kQueries);
    for (uint64_t q = 0; q < kQueries; ++q) {
      want[q] =
          oracle::tanimoto_scan(&queries_[q * kBytes], db_.data(), kRecords, kBytes, {}, t, top_k);
    }
    std::vector<size_t> seen(kQueries, 0);
    while (std::getline(in, line)) {
      uint64_t q = 0, rank = 0, index = 0;
      double similarity = 0;
      uint32_t c = 0, u = 0;
      ASSERT_EQ(std::sscanf(line.c_str(), "%lu,%lu,%lu,%lf,%u,%u", &q, &rank, &index, &similarity,
                            &c, &u),
                6)
          << line;
      ASSERT_LT(q, kQueries) << line;
      ASSERT_LT(seen[q], want[q].size()) << line;
      const Hit &h = want[q][seen[q]++];
      const TanimotoHit expected = tanimoto_of(h.distance, h.reserved);
      EXPECT_EQ(rank, seen[q]) << line;
      EXPECT_EQ(index, h.index) << line;
      EXPECT_EQ(c, expected.intersection) << line;
      EXPECT_EQ(u, expected.union_bits) << line;
      EXPECT_EQ(similarity, expected.similarity) << line;  // printed to read back exactly
    }
    for (uint64_t q = 0; q < kQueries; ++q) EXPECT_EQ(seen[q], want[q].size()) << "query " << q;
  }

  fs::path dir_;
  std::vector<uint8_t> db_, queries_;
};

TEST_F(CliTanimoto, CsvTableAndJsonEqualTheOracle) {
  const std::string cfg = config(R"(, "top_k": 12)");
  const ProgramResult csv = jitson_cli({"scan", "--config", cfg, "--db", path("db.jfp"),
                                        "--queries", path("q.jfp"), "--format", "csv"});
  ASSERT_EQ(csv.exit_code, 0) << describe(csv);
  expect_csv_matches(csv.out, {0, 1}, 12);

  const ProgramResult js = jitson_cli({"scan", "--config", cfg, "--db", path("db.jfp"), "--queries",
                                       path("q.jfp"), "--format", "json"});
  ASSERT_EQ(js.exit_code, 0) << describe(js);
  const nlohmann::json j = nlohmann::json::parse(js.out);
  EXPECT_EQ(j["config"]["metric"], "tanimoto");
  const auto &hits = j["results"][0]["hits"];
  ASSERT_EQ(hits.size(), 12u);
  EXPECT_EQ(hits[0]["index"], 11);  // the query itself
  EXPECT_EQ(hits[0]["similarity"], 1.0);
  EXPECT_EQ(hits[0]["intersection"], hits[0]["union"]);
  EXPECT_TRUE(j["stats"].contains("bound_skipped"));
  EXPECT_TRUE(j["stats"].contains("word_counts_read"));

  const ProgramResult table =
      jitson_cli({"scan", "--config", cfg, "--db", path("db.jfp"), "--queries", path("q.jfp")});
  ASSERT_EQ(table.exit_code, 0) << describe(table);
  EXPECT_NE(table.out.find("similarity  intersection         union"), std::string::npos)
      << table.out;
}

TEST_F(CliTanimoto, PopcountOrderedFileGivesTheSameHitsAndSkipsRecords) {
  const ProgramResult conv =
      jitson_cli({"convert", path("db.jfp"), path("dbp.jfp"), "--order", "popcount"});
  ASSERT_EQ(conv.exit_code, 0) << describe(conv);
  for (const char *threshold : {"", R"(, "min_similarity": 0.7)", R"(, "min_similarity": 0.3)"}) {
    const std::string cfg = config(std::string(R"(, "top_k": 25)") + threshold);
    const auto scan = [&](const std::string &db) {
      return jitson_cli({"scan", "--config", cfg, "--db", db, "--queries", path("q.jfp"),
                         "--format", "csv", "--stats"});
    };
    const ProgramResult plain = scan(path("db.jfp")), ordered = scan(path("dbp.jfp"));
    ASSERT_EQ(plain.exit_code, 0) << describe(plain);
    ASSERT_EQ(ordered.exit_code, 0) << describe(ordered);
    EXPECT_EQ(ordered.out, plain.out) << threshold;
    EXPECT_NE(ordered.err.find("popcount_bound=on"), std::string::npos) << ordered.err;
    // Popcounts here lie within about 30 % of the query's: only 0.7 rules whole buckets out.
    if (std::string(threshold).find("0.7") != std::string::npos) {
      EXPECT_NE(ordered.err.find("bound_skipped "), std::string::npos) << ordered.err;
      EXPECT_EQ(ordered.err.find("bound_skipped 0,"), std::string::npos) << ordered.err;
    }
  }
  // Converting it back gives the original file, byte for byte.
  const ProgramResult back = jitson_cli({"convert", path("dbp.jfp"), path("back.jfp")});
  ASSERT_EQ(back.exit_code, 0) << describe(back);
  std::ifstream a(path("db.jfp"), std::ios::binary), b(path("back.jfp"), std::ios::binary);
  EXPECT_TRUE(std::equal(std::istreambuf_iterator<char>(a), {}, std::istreambuf_iterator<char>(b)));
  // A Hamming scan of the ordered file reports original indices too.
  const std::string hamming = path("h.json");
  std::ofstream(hamming) << R"({"version": 1, "record_bits": 2048, "top_k": 5})";
  const auto scan = [&](const std::string &db) {
    return jitson_cli(
        {"scan", "--config", hamming, "--db", db, "--queries", path("q.jfp"), "--format", "csv"});
  };
  EXPECT_EQ(scan(path("dbp.jfp")).out, scan(path("db.jfp")).out);
}

TEST_F(CliTanimoto, MinSimilarityIsTakenAsWritten) {
  const std::string cfg = config(R"(, "top_k": 1000)");
  // 0.5 + 10^-20: a hit at exactly 1/2 must be dropped, which a double (0.5) would keep.
  for (auto [text, p, q] : {std::tuple{"0.3", 3.0, 10.0}, {"0.5", 1.0, 2.0}, {"0.25", 1.0, 4.0}}) {
    const ProgramResult r =
        jitson_cli({"scan", "--config", cfg, "--db", path("db.jfp"), "--queries", path("q.jfp"),
                    "--format", "csv", "--min-similarity", text});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    expect_csv_matches(r.out, {unsigned(p), unsigned(q)}, 1000);
  }
  const ProgramResult above_half =
      jitson_cli({"scan", "--config", cfg, "--db", path("db.jfp"), "--queries", path("q.jfp"),
                  "--format", "csv", "--min-similarity", "0.50000000000000000001"});
  ASSERT_EQ(above_half.exit_code, 0) << describe(above_half);
  unsigned __int128 p = 1, q = 1;
  for (int i = 0; i < 20; ++i) p *= 10, q *= 10;
  p = p / 2 + 1;
  expect_csv_matches(above_half.out, {p, q}, 1000);
}

TEST_F(CliTanimoto, BadInputNamesTheFlagAndTheRule) {
  const std::string cfg = config("");
  const auto expect_error = [&](const std::vector<std::string> &args, const std::string &part) {
    const ProgramResult r = jitson_cli(args);
    EXPECT_EQ(r.exit_code, 2) << describe(r);
    EXPECT_EQ(r.out, "") << describe(r);
    EXPECT_NE(r.err.find(part), std::string::npos) << describe(r);
  };
  const std::vector<std::string> scan = {"scan",         "--config",  cfg,          "--db",
                                         path("db.jfp"), "--queries", path("q.jfp")};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = scan;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  expect_error(with({"--min-similarity", "abc"}), "--min-similarity abc: expected a number");
  expect_error(with({"--min-similarity", "1.5"}), "[0, 1]");
  expect_error(with({"--min-similarity", "0.5", "--max-distance", "3"}), "/max_distance");
  const std::string hamming = path("h.json");
  std::ofstream(hamming) << R"({"version": 1, "record_bits": 2048})";
  expect_error({"scan", "--config", hamming, "--db", path("db.jfp"), "--queries", path("q.jfp"),
                "--min-similarity", "0.5"},
               "applies only to metric \"tanimoto\"");
  expect_error({"convert", path("db.jfp"), path("out.hex"), "--order", "popcount"},
               "--order popcount applies only to --to jfp");
  expect_error({"convert", path("db.jfp"), path("out.jfp"), "--order", "size"}, "--order");
  EXPECT_FALSE(fs::exists(path("out.hex")));
  EXPECT_FALSE(fs::exists(path("out.jfp")));
}

}  // namespace
}  // namespace jitson
