// The C API: every entry point, every documented error, never a crash.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "jitson/jitson.h"
#include "support/oracle.hpp"

namespace {

struct EngineGuard {
  jitson_engine *e;
  ~EngineGuard() { jitson_engine_destroy(e); }
};

jitson_kernel *compile(jitson_engine *e, const std::string &text, char *err, size_t len) {
  return jitson_compile(e, text.data(), text.size(), err, len);
}

TEST(CApi, CompileScanDescribeRelease) {
  char err[256] = "x";
  EngineGuard g{jitson_engine_create(nullptr, err, sizeof err)};
  ASSERT_NE(g.e, nullptr) << err;
  EXPECT_STREQ(err, "");
  const std::string cfg = R"({"version": 1, "record_bits": 512, "max_distance": 250, "top_k": 4})";
  jitson_kernel *k = compile(g.e, cfg, err, sizeof err);
  ASSERT_NE(k, nullptr) << err;
  EXPECT_NE(std::string(jitson_kernel_describe(k)).find("record_bits=512"), std::string::npos);

  const size_t bytes = 64, n = 1000;
  std::mt19937_64 rng(5);
  std::vector<uint8_t> db(bytes * n);
  for (auto &b : db) b = uint8_t(rng());
  std::vector<uint8_t> q(db.begin() + 64 * 10, db.begin() + 64 * 11);
  q[3] ^= 1;
  jitson_hit hits[4];
  jitson_stats stats;
  int64_t got = jitson_scan(k, q.data(), db.data(), n, hits, 4, &stats, err, sizeof err);
  auto expected = jitson::oracle::scan(q.data(), db.data(), n, bytes, {}, 250, 4);
  ASSERT_EQ(got, int64_t(expected.size())) << err;
  ASSERT_EQ(got, 4) << "the data must give more than top_k hits for the out_cap check";
  for (int64_t i = 0; i < got; ++i) {
    EXPECT_EQ(hits[i].index, expected[size_t(i)].index);
    EXPECT_EQ(hits[i].distance, expected[size_t(i)].distance);
  }
  EXPECT_EQ(stats.records, n);
  EXPECT_EQ(hits[0].index, 10u);

  // out_cap smaller than top_k: only out_cap hits are written, the best ones.
  jitson_hit two[2];
  EXPECT_EQ(jitson_scan(k, q.data(), db.data(), n, two, 2, nullptr, err, sizeof err), 2);
  EXPECT_EQ(two[0].index, hits[0].index);
  EXPECT_EQ(two[1].index, hits[1].index);

  // The range API: indices stay database indices.
  jitson_hit r[4];
  int64_t in_range =
      jitson_scan_range(k, q.data(), db.data(), n, 5, 20, r, 4, nullptr, err, sizeof err);
  ASSERT_GE(in_range, 1) << err;
  EXPECT_EQ(r[0].index, 10u);
  jitson_kernel_release(k);
}

TEST(CApi, ErrorsAreMessagesNotCrashes) {
  char err[256];
  EngineGuard g{jitson_engine_create(nullptr, err, sizeof err)};
  ASSERT_NE(g.e, nullptr);

  EXPECT_EQ(jitson_compile(nullptr, "{}", 2, err, sizeof err), nullptr);
  EXPECT_NE(std::string(err).find("engine is NULL"), std::string::npos) << err;
  EXPECT_EQ(jitson_compile(g.e, nullptr, 0, err, sizeof err), nullptr);
  EXPECT_NE(std::string(err).find("NULL"), std::string::npos) << err;
  EXPECT_EQ(jitson_compile(g.e, "{}", 0, err, sizeof err), nullptr);
  EXPECT_NE(std::string(err).find("config_len is 0"), std::string::npos) << err;

  EXPECT_EQ(
      compile(g.e, R"({"version": 1, "record_bits": 100, "max_distance": 1})", err, sizeof err),
      nullptr);
  EXPECT_EQ(std::string(err).rfind("/record_bits: ", 0), 0u) << err;

  // The err buffer may be NULL or tiny: truncated, never overrun.
  EXPECT_EQ(compile(g.e, "{", nullptr, 0), nullptr);
  char tiny[8];
  std::memset(tiny, 'z', sizeof tiny);
  EXPECT_EQ(compile(g.e, "{", tiny, sizeof tiny), nullptr);
  EXPECT_EQ(std::strlen(tiny), sizeof tiny - 1);

  const std::string cfg = R"({"version": 1, "record_bits": 64, "max_distance": 64})";
  jitson_kernel *k = compile(g.e, cfg, err, sizeof err);
  ASSERT_NE(k, nullptr) << err;
  uint8_t q[8] = {0}, db[16] = {0};
  jitson_hit out[2];
  EXPECT_EQ(jitson_scan(nullptr, q, db, 2, out, 2, nullptr, err, sizeof err), -1);
  EXPECT_NE(std::string(err).find("kernel is NULL"), std::string::npos);
  EXPECT_EQ(jitson_scan(k, nullptr, db, 2, out, 2, nullptr, err, sizeof err), -1);
  EXPECT_NE(std::string(err).find("query is NULL"), std::string::npos);
  EXPECT_EQ(jitson_scan(k, q, nullptr, 2, out, 2, nullptr, err, sizeof err), -1);
  EXPECT_NE(std::string(err).find("records is NULL"), std::string::npos);
  EXPECT_EQ(jitson_scan(k, q, db, 2, nullptr, 2, nullptr, err, sizeof err), -1);
  EXPECT_NE(std::string(err).find("out is NULL"), std::string::npos);
  // An empty database is not an error; neither is a NULL one with zero records.
  EXPECT_EQ(jitson_scan(k, q, nullptr, 0, out, 2, nullptr, err, sizeof err), 0) << err;
  EXPECT_EQ(jitson_scan_range(k, q, db, 2, 1, 3, out, 2, nullptr, err, sizeof err), -1);
  EXPECT_NE(std::string(err).find("outside the database"), std::string::npos) << err;
  jitson_kernel_release(k);
  jitson_kernel_release(nullptr);
  jitson_engine_destroy(nullptr);
}

// config_len bytes are the document: a NUL inside them is an error with its offset, not the
// end of the text (the defect: a valid config followed by NUL and garbage was accepted).
TEST(CApi, NulInsideConfigLenIsAnError) {
  char err[256];
  EngineGuard g{jitson_engine_create(nullptr, err, sizeof err)};
  ASSERT_NE(g.e, nullptr) << err;
  const char text[] = "{\"version\":1,\"record_bits\":128,\"max_distance\":3}\0garbage";
  EXPECT_EQ(jitson_compile(g.e, text, sizeof text - 1, err, sizeof err), nullptr);
  EXPECT_EQ(std::string(err),
            "/: NUL byte at byte 48; the whole buffer is the document and must "
            "be UTF-8 text without NUL");
  jitson_kernel *k = jitson_compile(g.e, text, 48, err, sizeof err);  // the config alone
  ASSERT_NE(k, nullptr) << err;
  jitson_kernel_release(k);
}

// jitson.h promises one line: a key with a newline and an escape sequence is quoted escaped.
TEST(CApi, ErrorTextIsOneLineWithoutControlCharacters) {
  char err[512];
  EngineGuard g{jitson_engine_create(nullptr, err, sizeof err)};
  ASSERT_NE(g.e, nullptr) << err;
  EXPECT_EQ(
      compile(g.e, R"({"version": 1, "record_bits": 64, "max_distance": 1, "a\nb\u001b[31m": 0})",
              err, sizeof err),
      nullptr);
  const std::string message = err;
  EXPECT_TRUE(message.starts_with("/a\\nb\\u001b[31m: unknown field")) << message;
  for (char c : message) EXPECT_FALSE((unsigned char)c < 0x20 || c == 0x7f) << message;
  EXPECT_EQ(jitson_engine_create("{\"thr\teads\": 1}", err, sizeof err), nullptr);
  for (char c : std::string(err)) EXPECT_FALSE((unsigned char)c < 0x20) << err;
}

TEST(CApi, EngineOptions) {
  char err[256];
  jitson_engine *e = jitson_engine_create(
      R"({"threads": 1, "cache_bytes": 1048576, "isa": "scalar", "jit": true})", err, sizeof err);
  ASSERT_NE(e, nullptr) << err;
  jitson_kernel *k =
      compile(e, R"({"version": 1, "record_bits": 64, "max_distance": 3})", err, sizeof err);
  ASSERT_NE(k, nullptr) << err;
  EXPECT_NE(std::string(jitson_kernel_describe(k)).find("scalar"), std::string::npos)
      << jitson_kernel_describe(k);
  jitson_kernel_release(k);
  jitson_engine_destroy(e);
  EXPECT_EQ(jitson_engine_create(R"({"threads": "many"})", err, sizeof err), nullptr);
  EXPECT_EQ(std::string(err).rfind("/threads: ", 0), 0u) << err;
  EXPECT_EQ(jitson_engine_create("not json", err, sizeof err), nullptr);
  EXPECT_NE(std::string(jitson_version()), "");
}

}  // namespace
