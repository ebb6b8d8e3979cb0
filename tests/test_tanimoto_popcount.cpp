// The popcount bound (jitson/popcount.hpp): popcount-ordered databases in memory and in files,
// exact against the oracle for thresholds and top-k, with records skipped; damaged sections
// refused with what is wrong.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "jitson/engine.hpp"
#include "jitson/error.hpp"
#include "jitson/popcount.hpp"
#include "support/oracle.hpp"

namespace jitson {
namespace {

// Chemistry-like records: 2-6 % of bits set, popcounts spread over a range.
std::vector<uint8_t> sparse_records(std::mt19937_64 &rng, uint64_t n, uint32_t bytes) {
  std::vector<uint8_t> out(n * bytes);
  for (uint64_t r = 0; r < n; ++r) {
    const int density = 3 + int(rng() % 3);
    for (uint32_t i = 0; i < bytes; i += 8) {
      uint64_t w = rng();
      for (int d = 0; d < density; ++d) w &= rng();
      std::memcpy(&out[r * bytes + i], &w, 8);
    }
  }
  return out;
}

struct Threshold {
  const char *text;
  oracle::TanimotoThreshold value;
};

void expect_hits(const std::vector<Hit> &want, const std::vector<Hit> &got,
                 const std::string &ctx) {
  ASSERT_EQ(got.size(), want.size()) << ctx;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].index, want[i].index) << ctx << " hit " << i;
    ASSERT_EQ(got[i].distance, want[i].distance) << ctx << " hit " << i;
    ASSERT_EQ(got[i].reserved, want[i].reserved) << ctx << " hit " << i;
  }
}

TEST(PopcountOrder, BoundedScansEqualTheOracleAndSkipRecords) {
  std::mt19937_64 rng(2026);
  Engine engine;
  const Threshold thresholds[] = {
      {nullptr, {0, 1}}, {"0.7", {7, 10}}, {"0.4", {2, 5}}, {"0", {0, 1}}, {"1", {1, 1}}};
  uint64_t skipped_total = 0;
  for (uint32_t bits : {256u, 1024u, 2048u}) {
    const uint32_t bytes = bits / 8;
    const uint64_t n = 3000;
    std::vector<uint8_t> db = sparse_records(rng, n, bytes);
    // Ties: exact copies, and the empty record.
    for (int t = 0; t < 40; ++t)
      std::memcpy(&db[(rng() % n) * bytes], &db[(rng() % n) * bytes], bytes);
    std::memset(&db[(rng() % n) * bytes], 0, bytes);
    const DatabaseView rows = DatabaseView::rows(db.data(), n, bytes);
    const PopcountOrder ordered = PopcountOrder::build(rows);
    for (int q = 0; q < 6; ++q) {
      std::vector<uint8_t> query;
      query.assign(db.begin() + (q * 97 % n) * bytes, db.begin() + (q * 97 % n) * bytes + bytes);
      if (q == 5) std::fill(query.begin(), query.end(), 0);  // a = 0
      for (int bit = 0; bit < 8 && q % 2; ++bit) {
        const uint64_t b = rng() % bits;
        query[b / 8] ^= uint8_t(1u << (b % 8));
      }
      for (const Threshold &t : thresholds) {
        for (uint32_t top_k : {1u, 10u, 5000u}) {
          for (bool narrow_focus : {false, true}) {
            std::string config = R"({"version": 1, "metric": "tanimoto", "record_bits": )" +
                                 std::to_string(bits) + R"(, "top_k": )" + std::to_string(top_k);
            if (t.text) config += R"(, "min_similarity": )" + std::string(t.text);
            std::vector<uint64_t> mask;
            if (narrow_focus) {
              config += R"(, "focus": {"ranges": [[0, )" + std::to_string(bits / 2) + "]]}";
              mask.assign(bits / 64, 0);
              for (uint32_t w = 0; w < bits / 128; ++w) mask[w] = ~uint64_t{0};
            }
            const auto kernel = engine.compile(config + "}");
            const std::string ctx = config + " query " + std::to_string(q);
            ASSERT_EQ(popcount_bound_unavailable(*kernel).empty(), !narrow_focus) << ctx;
            const ScanResult r = scan_popcount_ordered(kernel, query.data(), ordered);
            expect_hits(
                oracle::tanimoto_scan(query.data(), db.data(), n, bytes, mask, t.value, top_k),
                r.hits, ctx);
            EXPECT_EQ(r.stats.records + r.stats.bound_skipped, n) << ctx;
            if (narrow_focus) {
              EXPECT_EQ(r.stats.bound_skipped, 0u) << ctx;
            }
            skipped_total += r.stats.bound_skipped;
          }
        }
      }
    }
  }
  EXPECT_GT(skipped_total, 0u);  // the bound does skip records
}

// The classic threshold case: a chemistry-like 0.7 scan reads only part of the database.
TEST(PopcountOrder, ThresholdReadsOnlyTheWindow) {
  std::mt19937_64 rng(5);
  const uint32_t bytes = 256;
  const uint64_t n = 20000;
  const std::vector<uint8_t> db = sparse_records(rng, n, bytes);
  const PopcountOrder ordered = PopcountOrder::build(DatabaseView::rows(db.data(), n, bytes));
  Engine engine;
  const auto kernel = engine.compile(
      R"({"version": 1, "metric": "tanimoto", "record_bits": 2048, "min_similarity": 0.7,
          "top_k": 100000})");
  const ScanResult r = scan_popcount_ordered(kernel, db.data(), ordered);
  EXPECT_GT(r.stats.bound_skipped, n / 4) << "records read " << r.stats.records;
  ASSERT_FALSE(r.hits.empty());
  EXPECT_EQ(r.hits[0].index, 0u);  // the query itself, T = 1
  EXPECT_EQ(r.hits[0].distance, 0u);
}

// The word-count bound inside buckets larger than a block (4,096 records): every record has the
// same popcount, and near copies of the query (bits moved, popcount kept) sit among them, so the
// heap's limit tightens between blocks and both the gathered and the streamed paths run.
TEST(PopcountOrder, WordCountBoundAcrossBlocksEqualsTheOracle) {
  std::mt19937_64 rng(77);
  const uint32_t bits = 1024, bytes = bits / 8, set_bits = 48;
  const uint64_t n = 12000;
  std::vector<uint8_t> db(n * bytes, 0);
  std::vector<uint32_t> positions(bits);
  for (uint64_t r = 0; r < n; ++r) {
    std::iota(positions.begin(), positions.end(), 0u);
    std::shuffle(positions.begin(), positions.end(), rng);
    for (uint32_t i = 0; i < set_bits; ++i)
      db[r * bytes + positions[i] / 8] |= uint8_t(1u << (positions[i] % 8));
  }
  const std::vector<uint8_t> query(db.begin(), db.begin() + bytes);
  auto bit = [&](uint64_t r, uint32_t b) { return (db[r * bytes + b / 8] >> (b % 8)) & 1; };
  for (int copy = 0; copy < 400; ++copy) {  // near copies: move 0-6 bits, popcount unchanged
    const uint64_t r = 1 + rng() % (n - 1);
    std::memcpy(&db[r * bytes], query.data(), bytes);
    for (uint64_t moves = rng() % 7; moves > 0; --moves) {
      uint32_t on, off;
      do on = uint32_t(rng() % bits);
      while (!bit(r, on));
      do off = uint32_t(rng() % bits);
      while (bit(r, off));
      db[r * bytes + on / 8] ^= uint8_t(1u << (on % 8));
      db[r * bytes + off / 8] ^= uint8_t(1u << (off % 8));
    }
  }
  const PopcountOrder ordered = PopcountOrder::build(DatabaseView::rows(db.data(), n, bytes));
  Engine engine;
  const Threshold thresholds[] = {
      {nullptr, {0, 1}}, {"0.5", {1, 2}}, {"0.7", {7, 10}}, {"0.9", {9, 10}}};
  for (const Threshold &t : thresholds) {
    for (uint32_t top_k : {1u, 10u, 300u, 20000u}) {
      std::string config =
          R"({"version": 1, "metric": "tanimoto", "record_bits": 1024, "top_k": )" +
          std::to_string(top_k);
      if (t.text) config += R"(, "min_similarity": )" + std::string(t.text);
      const auto kernel = engine.compile(config + "}");
      const ScanResult r = scan_popcount_ordered(kernel, query.data(), ordered);
      expect_hits(oracle::tanimoto_scan(query.data(), db.data(), n, bytes, {}, t.value, top_k),
                  r.hits, config);
      EXPECT_EQ(r.stats.records + r.stats.bound_skipped, n) << config;
      if (t.text && std::string(t.text) == "0.7" && top_k == 20000) {
        // Unrelated records overlap the query in a few bits: their word counts rule them out.
        EXPECT_GT(r.stats.word_counts_read, n / 2) << config;
        EXPECT_LT(r.stats.records, n / 10) << config;
      }
    }
  }
}

std::string temp_path(const char *name) {
  return ::testing::TempDir() + "/" + name + "." + std::to_string(::getpid()) + ".jfp";
}

TEST(PopcountOrder, FileRoundTripAndDamageIsRefused) {
  std::mt19937_64 rng(9);
  const uint32_t bytes = 128;
  const uint64_t n = 777;  // records end mid-line: the section is padded to 64 bytes
  const std::vector<uint8_t> db = sparse_records(rng, n, bytes);
  const DatabaseView rows = DatabaseView::rows(db.data(), n, bytes);
  const std::string path = temp_path("popcount");
  PopcountOrder::write_file(path, rows);
  {
    const FingerprintFile file = FingerprintFile::open(path);
    EXPECT_EQ(file.header().order, FileHeader::kOrderPopcount);
    const PopcountOrder from_file = PopcountOrder::of_file(file);
    const PopcountOrder built = PopcountOrder::build(rows);
    ASSERT_EQ(from_file.records().n_records, n);
    EXPECT_EQ(std::memcmp(from_file.records().data, built.records().data, n * bytes), 0);
    EXPECT_TRUE(std::equal(from_file.original_index().begin(), from_file.original_index().end(),
                           built.original_index().begin()));
    EXPECT_TRUE(std::equal(from_file.bucket_starts().begin(), from_file.bucket_starts().end(),
                           built.bucket_starts().begin()));
    Engine engine;
    const auto kernel =
        engine.compile(R"({"version": 1, "metric": "tanimoto", "record_bits": 1024, "top_k": 7})");
    expect_hits(oracle::tanimoto_scan(&db[5 * bytes], db.data(), n, bytes, {}, {0, 1}, 7),
                scan_popcount_ordered(kernel, &db[5 * bytes], from_file).hits, "file");
  }
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> good((std::istreambuf_iterator<char>(in)), {});
  const size_t section = 64 + (n * bytes + 63) / 64 * 64;
  auto damaged = [&](size_t offset, uint8_t value, const std::string &expect) {
    std::vector<char> bytes_copy = good;
    bytes_copy[offset] = char(value);
    const std::string bad = temp_path("popcount-bad");
    std::ofstream(bad, std::ios::binary)
        .write(bytes_copy.data(), std::streamsize(bytes_copy.size()));
    try {
      const FingerprintFile file = FingerprintFile::open(bad);
      PopcountOrder::of_file(file);
      ADD_FAILURE() << "accepted a file damaged at byte " << offset;
    } catch (const Error &e) {
      EXPECT_EQ(e.kind(), ErrorKind::format) << e.what();
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
    }
    std::remove(bad.c_str());
  };
  damaged(section + 8 * 3, 0xff, "bucket");                           // a bucket start past n
  damaged(section + 8 * (1024 + 2) + 8 * 4, 0x7f, "original index");  // an index out of range
  damaged(64 + 10, uint8_t(good[64 + 10] ^ 0x01), "popcount");        // a record changed
  damaged(40, 2, "record order");                                     // an unknown order
  std::remove(path.c_str());
}

TEST(PopcountOrder, HammingScansEveryRecordWithOriginalIndicesAndOtherSizesAreRefused) {
  std::mt19937_64 rng(3);
  const uint64_t n = 500;
  std::vector<uint8_t> db = sparse_records(rng, n, 256);
  for (int t = 0; t < 50; ++t) std::memcpy(&db[(rng() % n) * 256], &db[(rng() % n) * 256], 256);
  const PopcountOrder ordered = PopcountOrder::build(DatabaseView::rows(db.data(), n, 256));
  Engine engine;
  const auto hamming = engine.compile(R"({"version": 1, "record_bits": 2048, "top_k": 20})");
  EXPECT_FALSE(popcount_bound_unavailable(*hamming).empty());
  const ScanResult r = scan_popcount_ordered(hamming, &db[7 * 256], ordered);
  EXPECT_EQ(r.hits, oracle::scan(&db[7 * 256], db.data(), n, 256, {}, UINT32_MAX, 20));
  EXPECT_EQ(r.stats.bound_skipped, 0u);
  const auto other = engine.compile(R"({"version": 1, "record_bits": 1024, "metric": "tanimoto"})");
  EXPECT_THROW(scan_popcount_ordered(other, db.data(), ordered), Error);
}

}  // namespace
}  // namespace jitson
