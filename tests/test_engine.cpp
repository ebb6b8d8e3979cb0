// Engine: cache (compile once, equal meaning → same kernel, LRU eviction by bytes), fallback to
// the runtime, W^X code memory, concurrency (also run under the tsan preset), guard pages.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "jitson/engine.hpp"
#include "jitson/error.hpp"
#include "jitson/limits.hpp"
#include "support/oracle.hpp"

namespace jitson {
namespace {

std::string config(uint32_t bits, uint32_t max_distance, const std::string &extra = "") {
  return "{\"version\": 1, \"record_bits\": " + std::to_string(bits) +
         ", \"max_distance\": " + std::to_string(max_distance) + extra + "}";
}

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto &b : v) b = uint8_t(rng());
  return v;
}

TEST(Engine, SameTextAndSameMeaningGiveTheSameKernel) {
  Engine engine;
  auto a = engine.compile(config(16384, 100));
  auto b = engine.compile(config(16384, 100));
  EXPECT_EQ(a.get(), b.get());
  // Overlapping ranges normalise to the same focus as the merged range: same meaning.
  auto c = engine.compile(config(512, 10, ", \"focus\": {\"ranges\": [[0, 100], [50, 200]]}"));
  auto d = engine.compile(config(512, 10, ", \"focus\": {\"ranges\": [[0, 200]]}"));
  EXPECT_EQ(c.get(), d.get());
  auto e = engine.compile(config(512, 11, ", \"focus\": {\"ranges\": [[0, 200]]}"));
  EXPECT_NE(d.get(), e.get());
  CacheStats s = engine.cache_stats();
  EXPECT_EQ(s.compiles, 3u);
  EXPECT_EQ(s.misses, 3u);
  EXPECT_EQ(s.hits, 2u);
}

TEST(Engine, EvictsByBytesButKeepsKernelsInUseAlive) {
  EngineOptions o;
  o.cache_bytes = 16 << 10;
  Engine engine(o);
  auto held = engine.compile(config(16384, 5));
  for (uint32_t t = 0; t < 200; ++t) engine.compile(config(16384, 1000 + t));
  CacheStats s = engine.cache_stats();
  EXPECT_GT(s.evictions, 0u);
  EXPECT_LE(s.bytes, o.cache_bytes + 8192);
  // The held kernel was evicted from the cache but still scans correctly.
  auto db = random_bytes(2048 * 100, 1);
  std::vector<uint8_t> q(db.begin() + 2048 * 42, db.begin() + 2048 * 43);
  q[7] ^= 0x3;
  auto r = held->scan(q.data(), DatabaseView::rows(db.data(), 100, 2048));
  ASSERT_EQ(r.hits.size(), 1u);
  EXPECT_EQ(r.hits[0].index, 42u);
  EXPECT_EQ(r.hits[0].distance, 2u);
}

// Resident set size in bytes, from /proc/self/statm.
size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * size_t(sysconf(_SC_PAGESIZE));
}

// Configs that differ only in "name" are one kernel; each text used to be kept forever as a
// fast-path alias, outside the byte budget (228 MB after 1M names under the default cache).
TEST(Engine, DistinctNamesKeepTheCacheBounded) {
  EngineOptions o;
  o.cache_bytes = 1 << 20;
  Engine engine(o);
  auto first = engine.compile(config(128, 3, ", \"name\": \"warm-up\""));
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  const size_t rss_before = resident_bytes();
#endif
  const int names = 1000000;
  for (int i = 0; i < names; ++i) {
    auto k = engine.compile(config(128, 3, ", \"name\": \"n" + std::to_string(i) + "\""));
    ASSERT_EQ(k.get(), first.get());
  }
  CacheStats s = engine.cache_stats();
  EXPECT_EQ(s.compiles, 1u);
  EXPECT_LE(s.texts, 4u);
  EXPECT_LE(s.bytes, o.cache_bytes);
  // The texts kept are the latest ones: the fast path still serves a repeated text.
  const uint64_t hits_before = s.hits;
  engine.compile(config(128, 3, ", \"name\": \"n" + std::to_string(names - 1) + "\""));
  EXPECT_EQ(engine.cache_stats().hits, hits_before + 1);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  // (A sanitizer's allocator keeps freed memory in quarantine: RSS says nothing there.)
  const size_t grown = resident_bytes() - std::min(rss_before, resident_bytes());
  EXPECT_LT(grown, size_t(16) << 20)
      << "RSS grew by " << grown << " bytes over " << names << " names";
#endif
}

// Large texts count in the budget: 100 KB texts (white space makes each distinct) of distinct
// meanings under a 4 MiB cache keep the cache within it.
TEST(Engine, LargeConfigTextsCountInTheCacheBudget) {
  EngineOptions o;
  o.cache_bytes = 4 << 20;
  Engine engine(o);
  for (uint32_t i = 0; i < 400; ++i) {
    std::string text = config(1024, i);
    text.insert(1, 100000, ' ');
    engine.compile(text);
    ASSERT_LE(engine.cache_stats().bytes, o.cache_bytes + 120000) << i;
  }
  CacheStats s = engine.cache_stats();
  EXPECT_GT(s.evictions, 300u);
  EXPECT_LE(s.texts, s.entries * 4);
  // A text larger than an eighth of the budget is compiled but not kept as an alias.
  std::string huge = config(128, 1);
  huge.insert(1, 600000, ' ');
  auto k = engine.compile(huge);
  EXPECT_EQ(k->spec().max_distance, 1u);
  EXPECT_LE(engine.cache_stats().bytes, o.cache_bytes + 120000);
}

TEST(Engine, ConfigTextLongerThanTheLimitIsAnError) {
  Engine engine;
  std::string text = config(128, 3);
  text.insert(1, kMaxConfigBytes, ' ');
  try {
    engine.compile(text);
    FAIL() << "accepted a text over the limit";
  } catch (const ConfigError &e) {
    EXPECT_NE(std::string(e.what()).find("the limit is 1048576"), std::string::npos) << e.what();
  }
  EXPECT_EQ(engine.cache_stats().texts, 0u);
}

TEST(Engine, JitDisabledFallsBackToRuntimeAndSaysSo) {
  EngineOptions o;
  o.jit = false;
  Engine engine(o);
  auto k = engine.compile(config(16384, 100));
  EXPECT_EQ(k->backend(), Backend::runtime);
  EXPECT_NE(k->describe().find("fallback="), std::string::npos) << k->describe();
  EXPECT_EQ(engine.cache_stats().fallbacks, 1u);
}

TEST(Engine, JitOffEnvironmentVariable) {
  ::setenv("JITSON_JIT", "off", 1);
  Engine engine;
  ::unsetenv("JITSON_JIT");
  auto k = engine.compile(config(2048, 10, ", \"backend\": \"xbyak\""));
  EXPECT_EQ(k->backend(), Backend::runtime);
  EXPECT_NE(k->describe().find("JITSON_JIT=off"), std::string::npos) << k->describe();
}

TEST(Engine, DescribeNamesBackendIsaAndShape) {
  Engine engine;
  auto k = engine.compile(config(16384, 100));
  const std::string d = k->describe();
#ifdef JITSON_HAVE_XBYAK
  EXPECT_EQ(d.rfind(std::string("xbyak ") + isa_name(active_isa()), 0), 0u) << d;
#endif
  EXPECT_NE(d.find("record_bits=16384 focus_words=256 stages=1,8,256"), std::string::npos) << d;
}

TEST(Engine, RejectsDatabaseOfTheWrongRecordSize) {
  Engine engine;
  auto k = engine.compile(config(16384, 100));
  std::vector<uint8_t> db(1024 * 4), q(1024);
  try {
    k->scan(q.data(), DatabaseView::rows(db.data(), 4, 1024));
    FAIL() << "expected an error";
  } catch (const Error &e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("record_bits=16384"), std::string::npos) << e.what();
  }
}

TEST(Engine, OptionsFromJson) {
  EngineOptions o =
      EngineOptions::from_json(R"({"threads": 2, "cache_bytes": 65536, "jit": false})");
  EXPECT_EQ(o.threads, 2u);
  EXPECT_EQ(o.cache_bytes, 65536u);
  EXPECT_FALSE(o.jit);
  EXPECT_THROW(EngineOptions::from_json(R"({"threads": 2, "bogus": 1})"), ConfigError);
  EXPECT_THROW(EngineOptions::from_json(R"({"threads": -1})"), ConfigError);
}

// No mapping of this process is writable and executable at once.
void expect_no_wx_mapping() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int checked = 0;
  while (std::getline(maps, line)) {
    std::string perms = line.substr(line.find(' ') + 1, 4);
    EXPECT_FALSE(perms[1] == 'w' && perms[2] == 'x') << line;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(Engine, CodeMemoryIsNeverWritableAndExecutable) {
  Engine engine;
  std::vector<std::shared_ptr<const Kernel>> kernels;
  for (uint32_t t = 0; t < 50; ++t) kernels.push_back(engine.compile(config(16384, t)));
  expect_no_wx_mapping();
}

// Query and database end exactly at a PROT_NONE page: a kernel that over-reads faults.
TEST(Engine, GuardPagesNoReadPastBuffers) {
  const size_t page = size_t(::sysconf(_SC_PAGESIZE));
  Engine engine;
  for (uint32_t bits : {64u, 576u, 2048u, 16384u}) {
    for (const char *backend : {"runtime", "xbyak", "llvm"}) {
#ifndef JITSON_HAVE_XBYAK
      if (std::string(backend) == "xbyak") continue;
#endif
#ifndef JITSON_HAVE_LLVM
      if (std::string(backend) == "llvm") continue;
#endif
      const size_t bytes = bits / 8, n = 37;
      const size_t data_bytes = n * bytes + bytes;  // database then query
      const size_t span = (data_bytes + page - 1) / page * page;
      auto *base = static_cast<uint8_t *>(
          ::mmap(nullptr, span + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
      ASSERT_NE(base, MAP_FAILED);
      ASSERT_EQ(::mprotect(base + span, page, PROT_NONE), 0);
      // The query's last byte and, separately, the database's last byte touch the guard page.
      uint8_t *query = base + span - bytes;
      uint8_t *db = query - n * bytes;
      std::mt19937_64 rng(bits);
      for (uint8_t *p = db; p < base + span; ++p) *p = uint8_t(rng());
      auto k = engine.compile(
          config(bits, bits, ", \"top_k\": 5, \"backend\": \"" + std::string(backend) + "\""));
      auto r = k->scan(query, DatabaseView::rows(db, n, bytes));
      auto expected = oracle::scan(query, db, n, bytes, {}, bits, 5);
      EXPECT_EQ(r.hits, expected) << backend << " " << bits;
      // Database last: move the records to the end of the mapping, query before them.
      uint8_t *db2 = base + span - n * bytes;
      uint8_t *q2 = db2 - bytes;
      auto r2 = k->scan(q2, DatabaseView::rows(db2, n, bytes));
      EXPECT_EQ(r2.hits, oracle::scan(q2, db2, n, bytes, {}, bits, 5)) << backend << " " << bits;
      ::munmap(base, span + page);
    }
  }
}

// 8 threads compile and scan overlapping config sets: each meaning compiles once, results are
// exact. Run this under the tsan preset too (CMakePresets.json).
TEST(Concurrency, EightThreadsCompileAndScanOverlappingConfigs) {
  Engine engine;
  const size_t bytes = 256, n = 500;
  auto db = random_bytes(bytes * n, 3);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng{uint64_t(t)};
      for (int i = 0; i < 60; ++i) {
        uint32_t md = uint32_t(rng() % 20) * 40;  // 20 distinct meanings shared by all threads
        auto k = engine.compile(config(2048, md, ", \"top_k\": 7"));
        const uint8_t *q = &db[(rng() % n) * bytes];
        auto r = k->scan(q, DatabaseView::rows(db.data(), n, bytes), 1 + unsigned(rng() % 2));
        if (r.hits != oracle::scan(q, db.data(), n, bytes, {}, md, 7)) ++failures;
      }
    });
  }
  for (auto &t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  CacheStats s = engine.cache_stats();
  EXPECT_EQ(s.compiles, 20u);
  EXPECT_EQ(s.misses, 20u);
  EXPECT_EQ(s.hits + s.misses, 8u * 60u);
}

}  // namespace
}  // namespace jitson
