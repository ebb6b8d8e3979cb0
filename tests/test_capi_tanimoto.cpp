// The C API with metric "tanimoto": scans, chunked accumulators and popcount-ordered files,
// decoded with jitson_tanimoto_of, against the oracle.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "jitson/database.hpp"
#include "jitson/jitson.h"
#include "jitson/popcount.hpp"
#include "support/oracle.hpp"

namespace {

constexpr uint32_t kBytes = 128;  // 1024-bit records
constexpr uint64_t kRecords = 3000;

struct Fixture : ::testing::Test {
  void SetUp() override {
    std::mt19937_64 rng(77);
    db.resize(kRecords * kBytes);
    for (size_t i = 0; i < db.size(); i += 8) {
      const uint64_t w = rng() & rng() & rng() & rng();
      std::memcpy(&db[i], &w, 8);
    }
    for (int t = 0; t < 20; ++t)
      std::memcpy(&db[(rng() % kRecords) * kBytes], &db[t * kBytes], kBytes);
    engine = jitson_engine_create(nullptr, err, sizeof err);
    ASSERT_NE(engine, nullptr) << err;
  }
  void TearDown() override {
    if (kernel) jitson_kernel_release(kernel);
    jitson_engine_destroy(engine);
  }
  void compile(const std::string &config) {
    kernel = jitson_compile(engine, config.data(), config.size(), err, sizeof err);
    ASSERT_NE(kernel, nullptr) << err;
  }
  // The oracle's hits as the C API returns them, checked field by field and decoded.
  void expect_hits(const std::vector<jitson::Hit> &want, const jitson_hit *got, int64_t n) {
    ASSERT_EQ(n, int64_t(want.size())) << err;
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_EQ(got[i].index, want[size_t(i)].index) << i;
      EXPECT_EQ(got[i].distance, want[size_t(i)].distance) << i;
      EXPECT_EQ(got[i].reserved, want[size_t(i)].reserved) << i;
      uint32_t c = 0, u = 0;
      double t = 0;
      jitson_tanimoto_of(&got[i], &c, &u, &t);
      EXPECT_EQ(u, got[i].reserved);
      EXPECT_EQ(t, u ? double(c) / double(u) : 1.0);
      EXPECT_EQ(jitson::tanimoto_rank(c, u), got[i].distance);
    }
  }
  std::vector<uint8_t> db;
  jitson_engine *engine = nullptr;
  jitson_kernel *kernel = nullptr;
  char err[512] = {};
};

TEST_F(Fixture, ScanAndAccumulatorEqualTheOracle) {
  compile(R"({"version": 1, "record_bits": 1024, "metric": "tanimoto", "min_similarity": 0.25,
              "top_k": 40})");
  EXPECT_EQ(jitson_kernel_metric(kernel), JITSON_METRIC_TANIMOTO);
  const uint8_t *query = &db[3 * kBytes];
  const auto want =
      jitson::oracle::tanimoto_scan(query, db.data(), kRecords, kBytes, {}, {1, 4}, 40);
  std::vector<jitson_hit> out(64);
  expect_hits(want, out.data(),
              jitson_scan(kernel, query, db.data(), kRecords, out.data(), out.size(), nullptr, err,
                          sizeof err));
  jitson_topk *acc = jitson_topk_create(kernel, query, 1, err, sizeof err);
  ASSERT_NE(acc, nullptr) << err;
  for (uint64_t at = kRecords; at > 0;) {  // back to front, in chunks of 700
    const uint64_t n = std::min<uint64_t>(700, at);
    at -= n;
    ASSERT_EQ(jitson_topk_feed(acc, &db[at * kBytes], n, nullptr, at, nullptr, err, sizeof err), 0)
        << err;
  }
  expect_hits(want, out.data(),
              jitson_topk_result(acc, 0, out.data(), out.size(), nullptr, err, sizeof err));
  jitson_topk_destroy(acc);
  jitson_hit none{};
  uint32_t c = 7, u = 7;
  double t = 0;
  jitson_tanimoto_of(nullptr, &c, &u, &t);
  EXPECT_EQ(c, 0u);
  jitson_tanimoto_of(&none, nullptr, nullptr, nullptr);  // NULL outputs are allowed
  EXPECT_EQ(jitson_kernel_metric(nullptr), -1);
}

TEST_F(Fixture, PopcountOrderedFilesReportOriginalIndices) {
  const std::string path =
      ::testing::TempDir() + "/capi-popcount." + std::to_string(::getpid()) + ".jfp";
  jitson::PopcountOrder::write_file(path, jitson::DatabaseView::rows(db.data(), kRecords, kBytes));
  jitson_db *file = jitson_db_open(path.c_str(), nullptr, err, sizeof err);
  ASSERT_NE(file, nullptr) << err;
  compile(R"({"version": 1, "record_bits": 1024, "metric": "tanimoto", "min_similarity": 0.7,
              "top_k": 3000})");
  std::vector<jitson_hit> out(kRecords);
  jitson_stats stats{};
  for (uint64_t q : {0u, 5u, 2999u}) {
    const uint8_t *query = &db[q * kBytes];
    const auto want =
        jitson::oracle::tanimoto_scan(query, db.data(), kRecords, kBytes, {}, {7, 10}, 3000);
    expect_hits(
        want, out.data(),
        jitson_scan_db(kernel, query, file, out.data(), out.size(), &stats, err, sizeof err));
    EXPECT_LT(stats.records, kRecords);  // the bound skipped buckets
    jitson_topk *acc = jitson_topk_create(kernel, query, 1, err, sizeof err);
    ASSERT_EQ(jitson_topk_feed_db(acc, file, 1000, kRecords, nullptr, err, sizeof err), 0) << err;
    ASSERT_EQ(jitson_topk_feed_db(acc, file, 0, 1000, nullptr, err, sizeof err), 0) << err;
    expect_hits(want, out.data(),
                jitson_topk_result(acc, 0, out.data(), out.size(), nullptr, err, sizeof err));
    jitson_topk_destroy(acc);
  }
  uint64_t counts[2] = {};
  ASSERT_EQ(jitson_scan_batch_db(kernel, db.data(), 2, file, out.data(), kRecords / 2, counts,
                                 nullptr, err, sizeof err),
            0)
      << err;
  for (uint64_t q = 0; q < 2; ++q) {
    auto want = jitson::oracle::tanimoto_scan(&db[q * kBytes], db.data(), kRecords, kBytes, {},
                                              {7, 10}, 3000);
    want.resize(std::min<size_t>(want.size(), kRecords / 2));
    expect_hits(want, out.data() + q * (kRecords / 2), int64_t(counts[q]));
  }
  jitson_db_close(file);

  // A damaged section is refused at open, naming the file and what is wrong.
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(64 + kRecords * kBytes + 8 * 5);
  const char junk[8] = {1, 0, 0, 0, 0, 0, 0, 0};
  f.write(junk, 8);
  f.close();
  EXPECT_EQ(jitson_db_open(path.c_str(), nullptr, err, sizeof err), nullptr);
  EXPECT_NE(std::string(err).find("popcount section"), std::string::npos) << err;
  std::remove(path.c_str());
}

}  // namespace
