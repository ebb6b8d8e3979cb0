// The C API's database handles, batched scans and GEMM: each entry point against its C++
// counterpart (the same code path, so the same bits) and the oracle, and every documented error
// as a message, never a crash.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "jitson/bf16.hpp"
#include "jitson/database.hpp"
#include "jitson/engine.hpp"
#include "jitson/gemm.hpp"
#include "jitson/jitson.h"
#include "jitson/layout.hpp"
#include "support/oracle.hpp"

namespace {

namespace fs = std::filesystem;

constexpr uint32_t kBits = 512, kBytes = kBits / 8;
constexpr uint32_t kMaxDistance = 240, kTopK = 10;

const std::string kConfig = R"({"version": 1, "record_bits": 512, "max_distance": 240,
                                "top_k": 10})";

bool contains(const char *text, const std::string &part) {
  return std::string(text).find(part) != std::string::npos;
}

// Records around the query: random ones (distance ~256, some within 240) and near copies, with
// duplicates so that ties in distance are broken by record index.
std::vector<uint8_t> make_records(std::mt19937_64 &rng, const uint8_t *query, uint64_t n) {
  std::vector<uint8_t> r(n * kBytes);
  for (auto &b : r) b = uint8_t(rng());
  for (uint64_t i = 0; i < n; ++i) {
    uint8_t *rec = &r[i * kBytes];
    switch (rng() % 8) {
      case 0:  // a near copy of the query
        std::memcpy(rec, query, kBytes);
        for (int f = int(rng() % 40); f > 0; --f) rec[rng() % kBytes] ^= uint8_t(1u << (rng() % 8));
        break;
      case 1:  // a duplicate of an earlier record
        if (i > 0) std::memcpy(rec, &r[(rng() % i) * kBytes], kBytes);
        break;
      default:
        break;
    }
  }
  return r;
}

std::vector<jitson::Hit> to_hits(const jitson_hit *h, int64_t n) {
  std::vector<jitson::Hit> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(jitson::Hit{h[i].index, h[i].distance, 0});
  return out;
}

class CApiDb : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "jitson-capi-db-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    dir_ = pattern;
    engine_ = jitson_engine_create(nullptr, err_, sizeof err_);
    ASSERT_NE(engine_, nullptr) << err_;
    kernel_ = compile(kConfig);
    ASSERT_NE(kernel_, nullptr) << err_;
  }
  void TearDown() override {
    jitson_kernel_release(kernel_);
    jitson_engine_destroy(engine_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  jitson_kernel *compile(const std::string &text) {
    return jitson_compile(engine_, text.data(), text.size(), err_, sizeof err_);
  }
  std::string path(const std::string &name) const { return (dir_ / name).string(); }

  std::string write_rows(const std::string &name, const std::vector<uint8_t> &rows) const {
    const std::string p = path(name);
    jitson::FingerprintWriter w(p, kBits, rows.size() / kBytes);
    w.write(rows.data(), rows.size());
    w.commit();
    return p;
  }
  std::string write_blocked(const std::string &name, const std::vector<uint8_t> &rows,
                            uint32_t block_records) const {
    const std::string p = path(name);
    const uint64_t n = rows.size() / kBytes;
    jitson::BlockedDatabase blocked(jitson::DatabaseView::rows(rows.data(), n, kBytes),
                                    block_records);
    jitson::FingerprintWriter w(p, kBits, n, jitson::Layout::blocked, block_records);
    w.write(blocked.view().data, blocked.view().payload_bytes());
    w.commit();
    return p;
  }
  std::string write_raw(const std::string &name, const std::vector<uint8_t> &bytes) const {
    const std::string p = path(name);
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char *>(bytes.data()),  // char may alias any bytes
              static_cast<std::streamsize>(bytes.size()));
    EXPECT_TRUE(out.good());
    return p;
  }

  fs::path dir_;
  char err_[512] = "";
  jitson_engine *engine_ = nullptr;
  jitson_kernel *kernel_ = nullptr;
};

struct DbGuard {
  jitson_db *db;
  ~DbGuard() { jitson_db_close(db); }
};

struct TopKGuard {
  jitson_topk *t;
  ~TopKGuard() { jitson_topk_destroy(t); }
};

TEST_F(CApiDb, OpensRowBlockedAndRawFiles) {
  std::mt19937_64 rng(1);
  std::vector<uint8_t> query(kBytes, 0);
  const uint64_t n = 300;
  const auto rows = make_records(rng, query.data(), n);

  DbGuard row{jitson_db_open(write_rows("row.jfp", rows).c_str(), nullptr, err_, sizeof err_)};
  ASSERT_NE(row.db, nullptr) << err_;
  EXPECT_STREQ(err_, "");
  EXPECT_EQ(jitson_db_records(row.db), n);
  EXPECT_EQ(jitson_db_record_bits(row.db), kBits);
  EXPECT_EQ(jitson_db_layout(row.db), uint32_t(JITSON_LAYOUT_ROW));
  EXPECT_EQ(jitson_db_block_records(row.db), 0u);
  EXPECT_EQ(jitson_db_payload_bytes(row.db), n * kBytes);
  ASSERT_NE(jitson_db_data(row.db), nullptr);
  EXPECT_EQ(std::memcmp(jitson_db_data(row.db), rows.data(), rows.size()), 0);

  DbGuard blocked{jitson_db_open(write_blocked("blocked.jfp", rows, 64).c_str(),
                                 R"({"populate": true})", err_, sizeof err_)};
  ASSERT_NE(blocked.db, nullptr) << err_;
  EXPECT_EQ(jitson_db_records(blocked.db), n);
  EXPECT_EQ(jitson_db_record_bits(blocked.db), kBits);
  EXPECT_EQ(jitson_db_layout(blocked.db), uint32_t(JITSON_LAYOUT_BLOCKED));
  EXPECT_EQ(jitson_db_block_records(blocked.db), 64u);
  EXPECT_EQ(jitson_db_payload_bytes(blocked.db), 320u * kBytes);  // 5 blocks, the last padded
  std::vector<uint8_t> back(rows.size());
  jitson::to_rows(jitson::DatabaseView::blocked(jitson_db_data(blocked.db), n, kBytes, 64),
                  back.data());
  EXPECT_EQ(back, rows);

  DbGuard raw{jitson_db_open(write_raw("raw.bin", rows).c_str(),
                             R"({"raw_record_bits": 512, "populate": false})", err_, sizeof err_)};
  ASSERT_NE(raw.db, nullptr) << err_;
  EXPECT_EQ(jitson_db_records(raw.db), n);
  EXPECT_EQ(jitson_db_record_bits(raw.db), kBits);
  EXPECT_EQ(jitson_db_layout(raw.db), uint32_t(JITSON_LAYOUT_ROW));
  EXPECT_EQ(std::memcmp(jitson_db_data(raw.db), rows.data(), rows.size()), 0);
  // Raw records of another size: the same bytes, other records.
  DbGuard wide{
      jitson_db_open(path("raw.bin").c_str(), R"({"raw_record_bits": 1024})", err_, sizeof err_)};
  ASSERT_NE(wide.db, nullptr) << err_;
  EXPECT_EQ(jitson_db_records(wide.db), n / 2);

  // Empty options text and an empty file: no records, no data, no error.
  DbGuard empty{jitson_db_open(write_raw("empty.bin", {}).c_str(), R"( {"raw_record_bits": 64} )",
                               err_, sizeof err_)};
  ASSERT_NE(empty.db, nullptr) << err_;
  EXPECT_EQ(jitson_db_records(empty.db), 0u);
  EXPECT_EQ(jitson_db_data(empty.db), nullptr);
  EXPECT_EQ(jitson_db_payload_bytes(empty.db), 0u);
  DbGuard blank{jitson_db_open(path("row.jfp").c_str(), " ", err_, sizeof err_)};
  EXPECT_NE(blank.db, nullptr) << err_;
}

TEST_F(CApiDb, OpenErrorsAreMessages) {
  const std::string missing = path("missing.jfp");
  EXPECT_EQ(jitson_db_open(missing.c_str(), nullptr, err_, sizeof err_), nullptr);
  EXPECT_TRUE(contains(err_, "cannot open") && contains(err_, missing)) << err_;
  EXPECT_EQ(jitson_db_open(nullptr, nullptr, err_, sizeof err_), nullptr);
  EXPECT_STREQ(err_, "path is NULL");
  EXPECT_EQ(jitson_db_open(missing.c_str(), nullptr, nullptr, 0), nullptr);  // no buffer: fine

  std::vector<uint8_t> bytes(72, 0x5A);
  const std::string raw = write_raw("raw.bin", bytes);
  // A headerless file read as .jfp: bad magic, with the option that would read it.
  EXPECT_EQ(jitson_db_open(raw.c_str(), nullptr, err_, sizeof err_), nullptr);
  EXPECT_TRUE(contains(err_, "bad magic") && contains(err_, "raw_record_bits")) << err_;
  // 72 bytes are not whole 64-byte records.
  EXPECT_EQ(jitson_db_open(raw.c_str(), R"({"raw_record_bits": 512})", err_, sizeof err_), nullptr);
  EXPECT_TRUE(contains(err_, "not a multiple of the raw record size 64 bytes")) << err_;

  // Options: strict JSON, errors name the JSON Pointer.
  struct Case {
    const char *options, *message_start;
  };
  for (const Case &c : {
           Case{R"({"raw_record_bits": "512"})", "/raw_record_bits: "},
           Case{R"({"raw_record_bits": 512.0})", "/raw_record_bits: "},
           Case{R"({"raw_record_bits": 100})", "/raw_record_bits: 100 is not a multiple of 64"},
           Case{R"({"raw_record_bits": 0})", "/raw_record_bits: "},
           Case{R"({"raw_record_bits": 65600})", "/raw_record_bits: "},
           Case{R"({"populate": 1})", "/populate: "},
           Case{R"({"populat": true})", "/populat: unknown field"},
           Case{R"({"populate": true, "populate": false})", "/populate: duplicate key"},
           Case{R"([512])", "/: "},
           Case{"{\"populate\": true,}", "/: "},
           Case{"not json", "/: "},
       }) {
    EXPECT_EQ(jitson_db_open(raw.c_str(), c.options, err_, sizeof err_), nullptr) << c.options;
    EXPECT_EQ(std::string(err_).rfind(c.message_start, 0), 0u) << c.options << " -> " << err_;
  }

  // A NULL handle: accessors give 0, close is a no-op, scans and feeds are errors.
  EXPECT_EQ(jitson_db_records(nullptr), 0u);
  EXPECT_EQ(jitson_db_record_bits(nullptr), 0u);
  EXPECT_EQ(jitson_db_layout(nullptr), 0u);
  EXPECT_EQ(jitson_db_block_records(nullptr), 0u);
  EXPECT_EQ(jitson_db_data(nullptr), nullptr);
  EXPECT_EQ(jitson_db_payload_bytes(nullptr), 0u);
  jitson_db_close(nullptr);
  uint8_t q[kBytes] = {0};
  jitson_hit out[4];
  EXPECT_EQ(jitson_scan_db(kernel_, q, nullptr, out, 4, nullptr, err_, sizeof err_), -1);
  EXPECT_STREQ(err_, "db is NULL");
  TopKGuard t{jitson_topk_create(kernel_, q, 1, err_, sizeof err_)};
  ASSERT_NE(t.t, nullptr) << err_;
  EXPECT_EQ(jitson_topk_feed_db(t.t, nullptr, 0, 0, nullptr, err_, sizeof err_), -1);
  EXPECT_STREQ(err_, "db is NULL");
  uint64_t counts[1];
  EXPECT_EQ(
      jitson_scan_batch_db(kernel_, q, 1, nullptr, out, 4, counts, nullptr, err_, sizeof err_), -1);
  EXPECT_STREQ(err_, "db is NULL");
}

TEST_F(CApiDb, ScanDbEqualsKernelScanAndOracle) {
  std::mt19937_64 rng(2);
  jitson::Engine engine;
  auto kernel = engine.compile(kConfig);
  for (uint64_t n : {0ull, 1ull, 63ull, 64ull, 1000ull}) {
    std::vector<uint8_t> query(kBytes);
    for (auto &b : query) b = uint8_t(rng());
    const auto rows = make_records(rng, query.data(), n);
    const auto expected =
        jitson::oracle::scan(query.data(), rows.data(), n, kBytes, {}, kMaxDistance, kTopK);
    if (n == 1000) {
      ASSERT_EQ(expected.size(), kTopK) << "the data must fill the top-k";
    }
    const std::string tag = std::to_string(n);
    struct File {
      std::string path;
      const char *options;
    };
    for (const File &f :
         {File{write_rows("r" + tag + ".jfp", rows), nullptr},
          File{write_blocked("b64_" + tag + ".jfp", rows, 64), nullptr},
          File{write_blocked("b16_" + tag + ".jfp", rows, 16), nullptr},
          File{write_raw("raw" + tag + ".bin", rows), R"({"raw_record_bits": 512})"}}) {
      SCOPED_TRACE(f.path);
      DbGuard db{jitson_db_open(f.path.c_str(), f.options, err_, sizeof err_)};
      ASSERT_NE(db.db, nullptr) << err_;
      jitson_hit hits[kTopK];
      jitson_stats stats;
      const int64_t got =
          jitson_scan_db(kernel_, query.data(), db.db, hits, kTopK, &stats, err_, sizeof err_);
      ASSERT_GE(got, 0) << err_;
      EXPECT_EQ(to_hits(hits, got), expected);
      EXPECT_EQ(stats.records, n);
      // The C++ kernel on the same mapped view (the file's layout picks the row kernel or the
      // sweep), and the oracle: the same hits.
      auto file = f.options ? jitson::FingerprintFile::open(f.path, uint32_t(kBits))
                            : jitson::FingerprintFile::open(f.path);
      EXPECT_EQ(kernel->scan(query.data(), file.view()).hits, expected);
      // out_cap below the hits: the best ones.
      if (got >= 2) {
        jitson_hit two[2];
        ASSERT_EQ(jitson_scan_db(kernel_, query.data(), db.db, two, 2, nullptr, err_, sizeof err_),
                  2);
        EXPECT_EQ(to_hits(two, 2),
                  std::vector<jitson::Hit>(expected.begin(), expected.begin() + 2));
      }
    }
  }
}

TEST_F(CApiDb, ScanDbErrors) {
  std::mt19937_64 rng(3);
  std::vector<uint8_t> query(kBytes, 0);
  const auto rows = make_records(rng, query.data(), 100);
  DbGuard db{jitson_db_open(write_rows("row.jfp", rows).c_str(), nullptr, err_, sizeof err_)};
  ASSERT_NE(db.db, nullptr) << err_;
  jitson_hit out[4];
  EXPECT_EQ(jitson_scan_db(nullptr, query.data(), db.db, out, 4, nullptr, err_, sizeof err_), -1);
  EXPECT_STREQ(err_, "kernel is NULL");
  EXPECT_EQ(jitson_scan_db(kernel_, nullptr, db.db, out, 4, nullptr, err_, sizeof err_), -1);
  EXPECT_STREQ(err_, "query is NULL");
  EXPECT_EQ(jitson_scan_db(kernel_, query.data(), db.db, nullptr, 4, nullptr, err_, sizeof err_),
            -1);
  EXPECT_STREQ(err_, "out is NULL but out_cap > 0");
  EXPECT_EQ(jitson_scan_db(kernel_, query.data(), db.db, nullptr, 0, nullptr, err_, sizeof err_), 0)
      << err_;
  // A kernel of another record size.
  jitson_kernel *other = compile(R"({"version": 1, "record_bits": 1024, "max_distance": 3})");
  ASSERT_NE(other, nullptr) << err_;
  EXPECT_EQ(jitson_scan_db(other, query.data(), db.db, out, 4, nullptr, err_, sizeof err_), -1);
  EXPECT_TRUE(contains(err_, "record_bits=1024")) << err_;
  jitson_kernel_release(other);
  // A blocked-only kernel on a row-major file.
  jitson_kernel *sweep_only =
      compile(R"({"version": 1, "record_bits": 512, "max_distance": 3, "layout": "blocked"})");
  ASSERT_NE(sweep_only, nullptr) << err_;
  EXPECT_EQ(jitson_scan_db(sweep_only, query.data(), db.db, out, 4, nullptr, err_, sizeof err_),
            -1);
  EXPECT_TRUE(contains(err_, "blocked databases only")) << err_;
  jitson_kernel_release(sweep_only);
}

// Any split of a file into record ranges, fed in any order to one or several merged
// accumulators, gives the hits of one scan; skip bitmaps are per range.
TEST_F(CApiDb, TopKFeedDbRangesEqualOneScan) {
  std::mt19937_64 rng(4);
  const uint64_t n = 1000;
  const uint64_t n_queries = 3;
  std::vector<uint8_t> queries(n_queries * kBytes);
  for (auto &b : queries) b = uint8_t(rng());
  auto rows = make_records(rng, queries.data(), n);
  // Near copies of the other queries too.
  for (uint64_t i = 0; i < n; i += 7) {
    std::memcpy(&rows[i * kBytes], &queries[(1 + i % 2) * kBytes], kBytes);
    rows[i * kBytes + i % kBytes] ^= 0x11;
  }
  struct File {
    std::string path;
    uint32_t block_records;  // 0: row-major
  };
  const std::vector<File> files = {{write_rows("row.jfp", rows), 0},
                                   {write_blocked("b64.jfp", rows, 64), 64},
                                   {write_blocked("b8.jfp", rows, 8), 8}};
  for (const File &f : files) {
    SCOPED_TRACE(f.path);
    DbGuard db{jitson_db_open(f.path.c_str(), nullptr, err_, sizeof err_)};
    ASSERT_NE(db.db, nullptr) << err_;
    std::vector<std::vector<jitson::Hit>> whole(n_queries);
    for (uint64_t q = 0; q < n_queries; ++q) {
      jitson_hit hits[kTopK];
      const int64_t got = jitson_scan_db(kernel_, &queries[q * kBytes], db.db, hits, kTopK, nullptr,
                                         err_, sizeof err_);
      ASSERT_GE(got, 0) << err_;
      whole[q] = to_hits(hits, got);
      ASSERT_EQ(whole[q].size(), kTopK) << "the data must fill every query's top-k";
    }
    const uint64_t unit = f.block_records ? f.block_records : 1;
    for (int round = 0; round < 20; ++round) {
      // Random cut points on block boundaries (any record for a row-major file).
      std::vector<uint64_t> cuts = {0, n};
      for (int c = int(rng() % 6); c > 0; --c) cuts.push_back(rng() % (n / unit + 1) * unit);
      std::sort(cuts.begin(), cuts.end());
      std::vector<std::pair<uint64_t, uint64_t>> ranges;
      for (size_t i = 0; i + 1 < cuts.size(); ++i) ranges.push_back({cuts[i], cuts[i + 1]});
      std::shuffle(ranges.begin(), ranges.end(), rng);
      const bool with_skip = round % 2 == 1;
      std::vector<uint8_t> skip((n + 7) / 8, 0);
      if (with_skip)
        for (uint64_t i = 0; i < n; ++i)
          if (rng() % 3 == 0) skip[i / 8] |= uint8_t(1u << (i % 8));

      const size_t n_acc = 1 + rng() % 3;
      std::vector<std::unique_ptr<jitson_topk, void (*)(jitson_topk *)>> accs;
      for (size_t a = 0; a < n_acc; ++a) {
        accs.emplace_back(jitson_topk_create(kernel_, queries.data(), n_queries, err_, sizeof err_),
                          jitson_topk_destroy);
        ASSERT_NE(accs.back(), nullptr) << err_;
      }
      for (size_t i = 0; i < ranges.size(); ++i) {
        const auto [b, e] = ranges[i];
        std::vector<uint8_t> range_skip((e - b + 7) / 8, 0);
        for (uint64_t r = b; r < e; ++r)
          if ((skip[r / 8] >> (r % 8)) & 1) range_skip[(r - b) / 8] |= uint8_t(1u << ((r - b) % 8));
        ASSERT_EQ(jitson_topk_feed_db(accs[i % n_acc].get(), db.db, b, e,
                                      with_skip ? range_skip.data() : nullptr, err_, sizeof err_),
                  0)
            << err_ << " [" << b << ", " << e << ")";
      }
      for (size_t a = 1; a < n_acc; ++a)
        ASSERT_EQ(jitson_topk_merge(accs[0].get(), accs[a].get(), err_, sizeof err_), 0) << err_;
      for (uint64_t q = 0; q < n_queries; ++q) {
        std::vector<jitson::Hit> expected = whole[q];
        if (with_skip) {
          // The oracle over the unskipped records.
          auto all = jitson::oracle::scan(&queries[q * kBytes], rows.data(), n, kBytes, {},
                                          kMaxDistance, uint32_t(n));
          expected.clear();
          for (const jitson::Hit &h : all)
            if (!((skip[h.index / 8] >> (h.index % 8)) & 1) && expected.size() < kTopK)
              expected.push_back(h);
        }
        jitson_hit hits[kTopK];
        const int64_t got =
            jitson_topk_result(accs[0].get(), q, hits, kTopK, nullptr, err_, sizeof err_);
        ASSERT_GE(got, 0) << err_;
        EXPECT_EQ(to_hits(hits, got), expected) << "round " << round << " query " << q;
      }
    }
  }
}

TEST_F(CApiDb, TopKFeedDbRangeErrors) {
  std::mt19937_64 rng(5);
  std::vector<uint8_t> query(kBytes, 0);
  const auto rows = make_records(rng, query.data(), 150);
  DbGuard row{jitson_db_open(write_rows("row.jfp", rows).c_str(), nullptr, err_, sizeof err_)};
  DbGuard blocked{
      jitson_db_open(write_blocked("b.jfp", rows, 64).c_str(), nullptr, err_, sizeof err_)};
  ASSERT_TRUE(row.db && blocked.db) << err_;
  TopKGuard t{jitson_topk_create(kernel_, query.data(), 1, err_, sizeof err_)};
  ASSERT_NE(t.t, nullptr) << err_;
  EXPECT_EQ(jitson_topk_feed_db(nullptr, row.db, 0, 1, nullptr, err_, sizeof err_), -1);
  EXPECT_STREQ(err_, "accumulator is NULL");
  EXPECT_EQ(jitson_topk_feed_db(t.t, row.db, 10, 151, nullptr, err_, sizeof err_), -1);
  EXPECT_STREQ(err_, "record range [10, 151) is outside the file of 150 records");
  EXPECT_EQ(jitson_topk_feed_db(t.t, row.db, 11, 10, nullptr, err_, sizeof err_), -1);
  EXPECT_TRUE(contains(err_, "outside the file")) << err_;
  EXPECT_EQ(jitson_topk_feed_db(t.t, blocked.db, 10, 64, nullptr, err_, sizeof err_), -1);
  EXPECT_TRUE(contains(err_, "begin 10 is not a multiple of the file's block_records 64")) << err_;
  EXPECT_EQ(jitson_topk_feed_db(t.t, blocked.db, 64, 100, nullptr, err_, sizeof err_), -1);
  EXPECT_TRUE(contains(err_,
                       "end 100 is neither a multiple of the file's block_records 64 nor "
                       "its record count 150"))
      << err_;
  // The accumulator is unchanged by the refused chunks; empty ranges and the file's end are fine.
  EXPECT_EQ(jitson_topk_feed_db(t.t, blocked.db, 64, 64, nullptr, err_, sizeof err_), 0) << err_;
  EXPECT_EQ(jitson_topk_feed_db(t.t, blocked.db, 128, 150, nullptr, err_, sizeof err_), 0) << err_;
  EXPECT_EQ(jitson_topk_feed_db(t.t, row.db, 150, 150, nullptr, err_, sizeof err_), 0) << err_;
  jitson_stats stats;
  jitson_hit hits[kTopK];
  ASSERT_GE(jitson_topk_result(t.t, 0, hits, kTopK, &stats, err_, sizeof err_), 0) << err_;
  EXPECT_EQ(stats.records, 22u);
  // A kernel of another record size is refused by the accumulator.
  jitson_kernel *other = compile(R"({"version": 1, "record_bits": 1024, "max_distance": 3})");
  ASSERT_NE(other, nullptr) << err_;
  std::vector<uint8_t> q2(128, 0);
  TopKGuard t2{jitson_topk_create(other, q2.data(), 1, err_, sizeof err_)};
  jitson_kernel_release(other);
  ASSERT_NE(t2.t, nullptr) << err_;
  EXPECT_EQ(jitson_topk_feed_db(t2.t, row.db, 0, 150, nullptr, err_, sizeof err_), -1);
  EXPECT_TRUE(contains(err_, "record_bits=1024")) << err_;
}

TEST_F(CApiDb, ScanBatchEqualsPerQueryScans) {
  std::mt19937_64 rng(6);
  const uint64_t n = 700, n_queries = 5;
  std::vector<uint8_t> queries(n_queries * kBytes);
  for (auto &b : queries) b = uint8_t(rng());
  auto rows = make_records(rng, queries.data(), n);
  for (uint64_t i = 3; i < n; i += 11) {
    std::memcpy(&rows[i * kBytes], &queries[(i % n_queries) * kBytes], kBytes);
    rows[i * kBytes + 5] ^= uint8_t(i);
  }
  DbGuard row{jitson_db_open(write_rows("row.jfp", rows).c_str(), nullptr, err_, sizeof err_)};
  DbGuard blocked{
      jitson_db_open(write_blocked("b.jfp", rows, 64).c_str(), nullptr, err_, sizeof err_)};
  ASSERT_TRUE(row.db && blocked.db) << err_;

  for (uint64_t cap : {uint64_t{kTopK}, uint64_t{3}, uint64_t{kTopK + 5}}) {
    SCOPED_TRACE(cap);
    // Per-query scans, the reference.
    std::vector<std::vector<jitson::Hit>> single(n_queries);
    for (uint64_t q = 0; q < n_queries; ++q) {
      std::vector<jitson_hit> hits(cap);
      const int64_t got = jitson_scan(kernel_, &queries[q * kBytes], rows.data(), n, hits.data(),
                                      cap, nullptr, err_, sizeof err_);
      ASSERT_GE(got, 0) << err_;
      single[q] = to_hits(hits.data(), got);
      EXPECT_EQ(single[q],
                jitson::oracle::scan(&queries[q * kBytes], rows.data(), n, kBytes, {}, kMaxDistance,
                                     uint32_t(std::min<uint64_t>(cap, kTopK))));
    }
    auto check = [&](const std::vector<jitson_hit> &out, const std::vector<uint64_t> &counts,
                     const std::vector<jitson_stats> &stats, const char *what) {
      for (uint64_t q = 0; q < n_queries; ++q) {
        ASSERT_LE(counts[q], cap) << what;
        EXPECT_EQ(to_hits(&out[q * cap], int64_t(counts[q])), single[q]) << what << " query " << q;
        EXPECT_EQ(stats[q].records, n) << what;
      }
    };
    std::vector<jitson_hit> out(n_queries * cap);
    std::vector<uint64_t> counts(n_queries, 99);
    std::vector<jitson_stats> stats(n_queries);
    ASSERT_EQ(jitson_scan_batch(kernel_, queries.data(), n_queries, rows.data(), n, out.data(), cap,
                                counts.data(), stats.data(), err_, sizeof err_),
              0)
        << err_;
    check(out, counts, stats, "scan_batch");
    for (jitson_db *db : {row.db, blocked.db}) {
      std::fill(counts.begin(), counts.end(), 99);
      ASSERT_EQ(jitson_scan_batch_db(kernel_, queries.data(), n_queries, db, out.data(), cap,
                                     counts.data(), stats.data(), err_, sizeof err_),
                0)
          << err_;
      check(out, counts, stats, db == row.db ? "scan_batch_db row" : "scan_batch_db blocked");
    }
    // stats may be NULL.
    ASSERT_EQ(jitson_scan_batch_db(kernel_, queries.data(), n_queries, blocked.db, out.data(), cap,
                                   counts.data(), nullptr, err_, sizeof err_),
              0)
        << err_;
  }
}

TEST_F(CApiDb, ScanBatchErrors) {
  std::vector<uint8_t> q(2 * kBytes, 0), rows(4 * kBytes, 1);
  jitson_hit out[8];
  uint64_t counts[2];
  auto batch = [&](const jitson_kernel *k, const uint8_t *queries, uint64_t nq,
                   const uint8_t *records, uint64_t nr, jitson_hit *o, uint64_t cap, uint64_t *c) {
    return jitson_scan_batch(k, queries, nq, records, nr, o, cap, c, nullptr, err_, sizeof err_);
  };
  EXPECT_EQ(batch(nullptr, q.data(), 2, rows.data(), 4, out, 4, counts), -1);
  EXPECT_STREQ(err_, "kernel is NULL");
  EXPECT_EQ(batch(kernel_, nullptr, 2, rows.data(), 4, out, 4, counts), -1);
  EXPECT_STREQ(err_, "queries is NULL but n_queries > 0");
  EXPECT_EQ(batch(kernel_, q.data(), 2, nullptr, 4, out, 4, counts), -1);
  EXPECT_STREQ(err_, "records is NULL but n_records > 0");
  EXPECT_EQ(batch(kernel_, q.data(), 2, rows.data(), 4, nullptr, 4, counts), -1);
  EXPECT_STREQ(err_, "out is NULL but out_cap_per_query > 0");
  EXPECT_EQ(batch(kernel_, q.data(), 2, rows.data(), 4, out, 4, nullptr), -1);
  EXPECT_STREQ(err_, "counts is NULL but n_queries > 0");
  EXPECT_EQ(batch(kernel_, q.data(), 2, rows.data(), 4, out, UINT64_MAX / 8, counts), -1);
  EXPECT_TRUE(contains(err_, "overflows")) << err_;
  // No queries, no records, no room: nothing to do, not an error.
  EXPECT_EQ(batch(kernel_, nullptr, 0, rows.data(), 4, nullptr, 0, nullptr), 0) << err_;
  EXPECT_EQ(batch(kernel_, q.data(), 2, nullptr, 0, out, 4, counts), 0) << err_;
  EXPECT_EQ(counts[0], 0u);
  EXPECT_EQ(batch(kernel_, q.data(), 2, rows.data(), 4, nullptr, 0, counts), 0) << err_;
  EXPECT_EQ(counts[1], 0u);
  // A kernel of another record size, even with no queries.
  jitson_kernel *other = compile(R"({"version": 1, "record_bits": 128, "max_distance": 3})");
  ASSERT_NE(other, nullptr) << err_;
  std::vector<uint8_t> raw(10 * kBytes, 0);
  DbGuard db{jitson_db_open(write_raw("raw.bin", raw).c_str(), R"({"raw_record_bits": 512})", err_,
                            sizeof err_)};
  ASSERT_NE(db.db, nullptr) << err_;
  EXPECT_EQ(
      jitson_scan_batch_db(other, q.data(), 0, db.db, out, 4, counts, nullptr, err_, sizeof err_),
      -1);
  EXPECT_TRUE(contains(err_, "record_bits=128")) << err_;
  EXPECT_EQ(jitson_scan_batch_db(nullptr, q.data(), 1, nullptr, out, 4, counts, nullptr, err_,
                                 sizeof err_),
            -1);
  EXPECT_STREQ(err_, "kernel is NULL");
  jitson_kernel_release(other);
}

// ---- GEMM ----

std::vector<float> random_floats(std::mt19937_64 &rng, size_t n) {
  std::uniform_real_distribution<float> d(-2.0f, 2.0f);
  std::vector<float> v(n);
  for (auto &x : v) x = d(rng);
  return v;
}

bool same_bits(const std::vector<float> &a, const std::vector<float> &b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(CApiGemm, SgemmAndBf16MatchTheCppEntryPointsBitwise) {
  std::mt19937_64 rng(7);
  char err[512] = "x";
  struct Shape {
    int64_t m, n, k;
  };
  for (const Shape s : {Shape{1, 1, 1}, Shape{7, 13, 5}, Shape{33, 70, 600}, Shape{64, 48, 1100}}) {
    for (int order : {JITSON_ROW_MAJOR, JITSON_COL_MAJOR}) {
      for (int ta : {JITSON_NO_TRANS, JITSON_TRANS}) {
        for (int tb : {JITSON_NO_TRANS, JITSON_CONJ_TRANS}) {
          SCOPED_TRACE(testing::Message() << s.m << "x" << s.n << "x" << s.k << " order " << order
                                          << " " << ta << " " << tb);
          const bool row = order == JITSON_ROW_MAJOR;
          const int64_t a_rows = ta != JITSON_NO_TRANS ? s.k : s.m;
          const int64_t a_cols = ta != JITSON_NO_TRANS ? s.m : s.k;
          const int64_t b_rows = tb != JITSON_NO_TRANS ? s.n : s.k;
          const int64_t b_cols = tb != JITSON_NO_TRANS ? s.k : s.n;
          const int64_t lda = (row ? a_cols : a_rows) + 3, ldb = (row ? b_cols : b_rows) + 1;
          const int64_t ldc = (row ? s.n : s.m) + 2;
          const auto a = random_floats(rng, size_t((row ? a_rows : a_cols) * lda));
          const auto b = random_floats(rng, size_t((row ? b_rows : b_cols) * ldb));
          const auto c0 = random_floats(rng, size_t((row ? s.m : s.n) * ldc));
          const float alpha = 1.25f, beta = -0.5f;

          auto c_c = c0, c_cpp = c0;
          ASSERT_EQ(jitson_sgemm(order, ta, tb, s.m, s.n, s.k, alpha, a.data(), lda, b.data(), ldb,
                                 beta, c_c.data(), ldc, err, sizeof err),
                    0)
              << err;
          EXPECT_STREQ(err, "");
          jitson::sgemm(order, ta, tb, s.m, s.n, s.k, alpha, a.data(), lda, b.data(), ldb, beta,
                        c_cpp.data(), ldc);
          EXPECT_TRUE(same_bits(c_c, c_cpp));

          std::vector<uint16_t> a16(a.size()), b16(b.size());
          ASSERT_EQ(jitson_f32_to_bf16(a.data(), a16.data(), a.size(), err, sizeof err), 0) << err;
          ASSERT_EQ(jitson_f32_to_bf16(b.data(), b16.data(), b.size(), err, sizeof err), 0) << err;
          c_c = c0;
          c_cpp = c0;
          ASSERT_EQ(jitson_gemm_bf16(order, ta, tb, s.m, s.n, s.k, alpha, a16.data(), lda,
                                     b16.data(), ldb, beta, c_c.data(), ldc, err, sizeof err),
                    0)
              << err;
          jitson::gemm_bf16(jitson::GemmOrder(order), jitson::GemmTranspose(ta),
                            jitson::GemmTranspose(tb), s.m, s.n, s.k, alpha, a16.data(), lda,
                            b16.data(), ldb, beta, c_cpp.data(), ldc);
          EXPECT_TRUE(same_bits(c_c, c_cpp));
        }
      }
    }
  }
}

TEST(CApiGemm, QuantisedMatchTheCppEntryPointsBitwise) {
  std::mt19937_64 rng(8);
  char err[512];
  struct Shape {
    int64_t m, n, k;
  };
  for (const Shape s : {Shape{1, 1, 1}, Shape{5, 17, 3}, Shape{40, 65, 300}, Shape{70, 33, 1030}}) {
    SCOPED_TRACE(testing::Message() << s.m << "x" << s.n << "x" << s.k);
    const int64_t lda = s.k + 4, ldb = s.n + 1, ldc = s.n + 3;
    std::vector<uint8_t> a(size_t(s.m * lda));
    std::vector<int8_t> b(size_t(s.k * ldb));
    for (auto &x : a) x = uint8_t(rng());
    for (auto &x : b) x = int8_t(rng());

    std::vector<int32_t> ci_c(size_t(s.m * ldc), 7), ci_cpp(ci_c);
    ASSERT_EQ(jitson_gemm_u8i8_i32(s.m, s.n, s.k, a.data(), lda, b.data(), ldb, ci_c.data(), ldc,
                                   err, sizeof err),
              0)
        << err;
    jitson::gemm_u8i8_i32(s.m, s.n, s.k, a.data(), lda, b.data(), ldb, ci_cpp.data(), ldc);
    EXPECT_EQ(ci_c, ci_cpp);

    std::vector<float> cf_c(size_t(s.m * ldc), 3.0f), cf_cpp(cf_c);
    ASSERT_EQ(jitson_gemm_u8i8_f32(s.m, s.n, s.k, a.data(), lda, b.data(), ldb, cf_c.data(), ldc,
                                   0.02f, 131, 0.003f, err, sizeof err),
              0)
        << err;
    jitson::gemm_u8i8_f32(s.m, s.n, s.k, a.data(), lda, b.data(), ldb, cf_cpp.data(), ldc, 0.02f,
                          131, 0.003f);
    EXPECT_TRUE(same_bits(cf_c, cf_cpp));

    std::vector<float> a_scales = random_floats(rng, size_t(s.m));
    std::vector<float> b_scales = random_floats(rng, size_t(s.n));
    std::vector<int32_t> zps(size_t(s.m));
    for (auto &z : zps) z = int32_t(rng() % 256);
    cf_c.assign(cf_c.size(), 3.0f);
    cf_cpp = cf_c;
    ASSERT_EQ(jitson_gemm_u8i8_f32_per_channel(s.m, s.n, s.k, a.data(), lda, b.data(), ldb,
                                               cf_c.data(), ldc, a_scales.data(), zps.data(),
                                               b_scales.data(), err, sizeof err),
              0)
        << err;
    jitson::gemm_u8i8_f32_per_channel(s.m, s.n, s.k, a.data(), lda, b.data(), ldb, cf_cpp.data(),
                                      ldc, a_scales.data(), zps.data(), b_scales.data());
    EXPECT_TRUE(same_bits(cf_c, cf_cpp));
  }
}

// The exact bf16 path keeps subnormals on every CPU; the default is the C++ default (which
// flushes them on CPUs with AVX-512 BF16 or AMX: GemmBf16.Subnormals... in test_gemm).
TEST(CApiGemm, Bf16ExactKeepsSubnormals) {
  const int64_t m = 4, n = 4, k = 64;
  const std::vector<uint16_t> a(size_t(m * k), 0x0001), b(size_t(k * n), 0x3F80);  // 2^-133, 1
  std::vector<float> c(size_t(m * n), -1.0f), want(size_t(m * n), -1.0f);
  char err[256];
  ASSERT_EQ(
      jitson_gemm_bf16_exact(JITSON_ROW_MAJOR, JITSON_NO_TRANS, JITSON_NO_TRANS, m, n, k, 1.0f,
                             a.data(), k, b.data(), n, 0.0f, c.data(), n, err, sizeof err),
      0)
      << err;
  for (float v : c) EXPECT_EQ(v, 0x1p-127f);  // 64 * 2^-133, subnormal in f32
  ASSERT_EQ(jitson_gemm_bf16(JITSON_ROW_MAJOR, JITSON_NO_TRANS, JITSON_NO_TRANS, m, n, k, 1.0f,
                             a.data(), k, b.data(), n, 0.0f, c.data(), n, err, sizeof err),
            0)
      << err;
  jitson::gemm_bf16(jitson::GemmOrder::row_major, jitson::GemmTranspose::none,
                    jitson::GemmTranspose::none, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f,
                    want.data(), n);
  EXPECT_EQ(std::memcmp(c.data(), want.data(), c.size() * sizeof(float)), 0);
  EXPECT_EQ(
      jitson_gemm_bf16_exact(JITSON_ROW_MAJOR, JITSON_NO_TRANS, JITSON_NO_TRANS, m, n, k, 1.0f,
                             a.data(), 3, b.data(), n, 0.0f, c.data(), n, err, sizeof err),
      -1);
  EXPECT_NE(std::string(err).find("lda"), std::string::npos) << err;
}

TEST(CApiGemm, ThreadsSettingKeepsResults) {
  std::mt19937_64 rng(9);
  char err[256];
  const int64_t m = 200, n = 160, k = 700;
  const auto a = random_floats(rng, size_t(m * k)), b = random_floats(rng, size_t(k * n));
  std::vector<float> c_all(size_t(m * n)), c_one(size_t(m * n));
  ASSERT_EQ(jitson_sgemm(JITSON_ROW_MAJOR, JITSON_NO_TRANS, JITSON_NO_TRANS, m, n, k, 1.0f,
                         a.data(), k, b.data(), n, 0.0f, c_all.data(), n, err, sizeof err),
            0)
      << err;
  jitson_gemm_set_threads(1);
  EXPECT_EQ(jitson::gemm_threads(), 1u);
  ASSERT_EQ(jitson_sgemm(JITSON_ROW_MAJOR, JITSON_NO_TRANS, JITSON_NO_TRANS, m, n, k, 1.0f,
                         a.data(), k, b.data(), n, 0.0f, c_one.data(), n, err, sizeof err),
            0)
      << err;
  jitson_gemm_set_threads(0);  // back to all cores
  EXPECT_GE(jitson::gemm_threads(), 1u);
  EXPECT_TRUE(same_bits(c_all, c_one));  // the summation order does not depend on threads
}

TEST(CApiGemm, ErrorsAreMessages) {
  char err[512];
  float a[16] = {0}, b[16] = {0}, c[16] = {0};
  const int R = JITSON_ROW_MAJOR, N = JITSON_NO_TRANS;
  auto sgemm = [&](int order, int ta, int64_t lda, const float *pa, float *pc) {
    return jitson_sgemm(order, ta, N, 4, 4, 4, 1.0f, pa, lda, b, 4, 0.0f, pc, 4, err, sizeof err);
  };
  EXPECT_EQ(sgemm(R, N, 3, a, c), -1);
  EXPECT_TRUE(contains(err, "lda = 3 is less than")) << err;
  EXPECT_EQ(sgemm(R, N, 4, nullptr, c), -1);
  EXPECT_TRUE(contains(err, "a is null")) << err;
  EXPECT_EQ(sgemm(R, N, 4, a, nullptr), -1);
  EXPECT_TRUE(contains(err, "c is null")) << err;
  EXPECT_EQ(sgemm(5, N, 4, a, c), -1);
  EXPECT_TRUE(contains(err, "order = 5")) << err;
  EXPECT_EQ(sgemm(R, 110, 4, a, c), -1);
  EXPECT_TRUE(contains(err, "trans_a = 110")) << err;
  EXPECT_EQ(jitson_sgemm(R, N, N, -1, 4, 4, 1.0f, a, 4, b, 4, 0.0f, c, 4, err, sizeof err), -1);
  EXPECT_TRUE(contains(err, "m = -1")) << err;
  // C overlapping A.
  EXPECT_EQ(sgemm(R, N, 4, a, a), -1);
  EXPECT_TRUE(contains(err, "overlaps")) << err;
  // Empty problems with NULL pointers are fine; a NULL or tiny err buffer is fine.
  EXPECT_EQ(jitson_sgemm(R, N, N, 0, 0, 0, 1.0f, nullptr, 1, nullptr, 1, 0.0f, nullptr, 1, err,
                         sizeof err),
            0)
      << err;
  EXPECT_EQ(jitson_sgemm(R, N, N, 4, 4, 4, 1.0f, a, 3, b, 4, 0.0f, c, 4, nullptr, 0), -1);
  char tiny[6];
  EXPECT_EQ(jitson_sgemm(R, N, N, 4, 4, 4, 1.0f, a, 3, b, 4, 0.0f, c, 4, tiny, sizeof tiny), -1);
  EXPECT_EQ(std::strlen(tiny), sizeof tiny - 1);

  uint16_t a16[16] = {0}, b16[16] = {0};
  EXPECT_EQ(jitson_gemm_bf16(R, N, N, 4, 4, 4, 1.0f, a16, 2, b16, 4, 0.0f, c, 4, err, sizeof err),
            -1);
  EXPECT_TRUE(contains(err, "gemm_bf16: lda = 2")) << err;
  EXPECT_EQ(
      jitson_gemm_bf16(R, N, N, 4, 4, 4, 1.0f, a16, 4, nullptr, 4, 0.0f, c, 4, err, sizeof err),
      -1);
  EXPECT_TRUE(contains(err, "b is null")) << err;
  EXPECT_EQ(jitson_gemm_bf16(R, N, 0, 4, 4, 4, 1.0f, a16, 4, b16, 4, 0.0f, c, 4, err, sizeof err),
            -1);
  EXPECT_TRUE(contains(err, "trans_b = 0")) << err;

  uint8_t a8[16] = {0};
  int8_t b8[16] = {0};
  int32_t c32[16] = {0};
  EXPECT_EQ(jitson_gemm_u8i8_i32(4, 4, 4, a8, 3, b8, 4, c32, 4, err, sizeof err), -1);
  EXPECT_TRUE(contains(err, "gemm_u8i8_i32: lda = 3")) << err;
  EXPECT_EQ(jitson_gemm_u8i8_i32(4, 4, 4, a8, 4, nullptr, 4, c32, 4, err, sizeof err), -1);
  EXPECT_TRUE(contains(err, "b is null")) << err;
  EXPECT_EQ(jitson_gemm_u8i8_f32(4, 4, 4, a8, 3, b8, 4, c, 4, 1.0f, 0, 1.0f, err, sizeof err), -1);
  EXPECT_TRUE(contains(err, "lda = 3")) << err;
  EXPECT_EQ(jitson_gemm_u8i8_f32(4, 4, 4, a8, 4, b8, 4, c, 4, 1.0f, 256, 1.0f, err, sizeof err),
            -1);
  EXPECT_TRUE(contains(err, "zero_point_a = 256")) << err;
  EXPECT_EQ(jitson_gemm_u8i8_f32(4, 4, 4, nullptr, 4, b8, 4, c, 4, 1.0f, 0, 1.0f, err, sizeof err),
            -1);
  EXPECT_TRUE(contains(err, "a is null")) << err;
  float scales[4] = {1, 1, 1, 1};
  int32_t zps[4] = {0, 0, 0, 0};
  EXPECT_EQ(jitson_gemm_u8i8_f32_per_channel(4, 4, 4, a8, 3, b8, 4, c, 4, scales, zps, scales, err,
                                             sizeof err),
            -1);
  EXPECT_TRUE(contains(err, "lda = 3")) << err;
  EXPECT_EQ(jitson_gemm_u8i8_f32_per_channel(4, 4, 4, a8, 4, b8, 4, c, 4, nullptr, zps, scales, err,
                                             sizeof err),
            -1);
  EXPECT_TRUE(contains(err, "a_scales is null")) << err;
  EXPECT_EQ(jitson_gemm_u8i8_f32_per_channel(4, 4, 4, a8, 4, b8, 4, c, 4, scales, nullptr, scales,
                                             err, sizeof err),
            -1);
  EXPECT_TRUE(contains(err, "a_zero_points is null")) << err;
  EXPECT_EQ(jitson_gemm_u8i8_f32_per_channel(4, 4, 4, a8, 4, b8, 4, c, 4, scales, zps, nullptr, err,
                                             sizeof err),
            -1);
  EXPECT_TRUE(contains(err, "b_scales is null")) << err;
}

TEST(CApiBf16, ConversionsMatchTheCppArrayForms) {
  std::mt19937_64 rng(10);
  char err[256] = "x";
  std::vector<float> in(1003);
  for (auto &x : in) {
    const uint32_t bits = uint32_t(rng());
    std::memcpy(&x, &bits, 4);  // every pattern: NaNs, subnormals, infinities
  }
  std::vector<uint16_t> c16(in.size()), cpp16(in.size());
  ASSERT_EQ(jitson_f32_to_bf16(in.data(), c16.data(), in.size(), err, sizeof err), 0) << err;
  EXPECT_STREQ(err, "");
  jitson::f32_to_bf16(in, cpp16);
  EXPECT_EQ(c16, cpp16);
  for (size_t i = 0; i < in.size(); ++i) ASSERT_EQ(c16[i], jitson::f32_to_bf16(in[i])) << i;
  ASSERT_EQ(jitson_f32_to_bf16_truncate(in.data(), c16.data(), in.size(), err, sizeof err), 0);
  jitson::f32_to_bf16_truncate(in, cpp16);
  EXPECT_EQ(c16, cpp16);
  std::vector<float> back(in.size());
  ASSERT_EQ(jitson_bf16_to_f32(c16.data(), back.data(), c16.size(), err, sizeof err), 0) << err;
  for (size_t i = 0; i < in.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &back[i], 4);
    ASSERT_EQ(bits, uint32_t(c16[i]) << 16) << i;
  }

  EXPECT_EQ(jitson_f32_to_bf16(nullptr, c16.data(), 4, err, sizeof err), -1);
  EXPECT_STREQ(err, "f32_to_bf16: in is NULL but n is 4");
  EXPECT_EQ(jitson_f32_to_bf16_truncate(in.data(), nullptr, 4, err, sizeof err), -1);
  EXPECT_STREQ(err, "f32_to_bf16_truncate: out is NULL but n is 4");
  EXPECT_EQ(jitson_bf16_to_f32(nullptr, nullptr, 0, err, sizeof err), 0) << err;
  // Overlapping arrays.
  std::vector<uint16_t> buf(64);
  EXPECT_EQ(
      jitson_bf16_to_f32(buf.data(), reinterpret_cast<float *>(buf.data() + 2), 8, err, sizeof err),
      -1);
  EXPECT_TRUE(contains(err, "overlap")) << err;
}

}  // namespace
