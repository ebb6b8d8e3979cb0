// Chunked top-k (TopKAccumulator and the C API's jitson_topk_*): any split of a table into
// chunks, fed in any order to one accumulator or to several merged ones, with sequential, sparse
// or shuffled row ids and skip bitmaps, gives exactly the oracle's result over the whole table,
// for every backend and ISA, row-major and blocked chunks. Seeded:
//   JITSON_TOPK_CASES=N  random cases per backend and ISA (default 150)
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "jitson/cpu.hpp"
#include "jitson/engine.hpp"
#include "jitson/error.hpp"
#include "jitson/jitson.h"
#include "jitson/layout.hpp"
#include "jitson/topk.hpp"
#include "jitson/tuning.hpp"
#include "support/oracle.hpp"
#include "support/random_plans.hpp"

namespace jitson {
namespace {

using testsupport::env_u64;

struct Table {
  uint32_t bytes = 0;
  uint64_t n = 0;
  std::vector<uint8_t> records;
  std::vector<uint64_t> ids;   // the caller's row id of record i
  std::vector<uint8_t> skip;   // one bit per record, LSB first
  bool sequential_ids = true;  // ids[i] == base + i
  uint64_t base = 0;
};

bool skipped(const Table &t, uint64_t i) {
  return !t.skip.empty() && ((t.skip[i / 8] >> (i % 8)) & 1);
}

// The oracle over the whole table: every unskipped record within max_distance, ordered by
// (distance, row id), first top_k.
std::vector<Hit> expected(const Table &t, const ScanSpec &spec, const uint8_t *query) {
  return oracle::scan_with_ids(query, t.records.data(), t.n, t.bytes, spec.focus, spec.max_distance,
                               spec.top_k, t.ids, [&](uint64_t i) { return !skipped(t, i); });
}

Table random_table(std::mt19937_64 &rng, uint32_t bytes, uint64_t n, const uint8_t *query) {
  Table t;
  t.bytes = bytes;
  t.n = n;
  t.records.resize(n * bytes);
  testsupport::fill_records(rng, query, t.records.data(), n, bytes);
  // Low-entropy rows make ties: duplicates of earlier records.
  for (uint64_t i = 1; i < n; ++i)
    if (rng() % 6 == 0) {
      const uint64_t from = rng() % i;
      std::memcpy(&t.records[i * bytes], &t.records[from * bytes], bytes);
    }
  t.ids.resize(n);
  switch (rng() % 3) {
    case 0:  // sequential from a base
      t.base = rng() % 1000;
      std::iota(t.ids.begin(), t.ids.end(), t.base);
      break;
    case 1: {  // shuffled: ties must be ordered by id, not by position
      std::iota(t.ids.begin(), t.ids.end(), uint64_t{0});
      std::shuffle(t.ids.begin(), t.ids.end(), rng);
      t.sequential_ids = false;
      break;
    }
    default:  // sparse, unordered, full 64-bit range
      for (auto &id : t.ids) id = rng();
      t.sequential_ids = false;
      break;
  }
  if (rng() % 2) {
    t.skip.assign((n + 7) / 8, 0);
    const unsigned density = unsigned(rng() % 4);  // none, some, most, nearly all
    for (uint64_t i = 0; i < n; ++i)
      if (rng() % 8 < density * 2 + (density == 3 ? 1 : 0)) t.skip[i / 8] |= uint8_t(1u << (i % 8));
  }
  return t;
}

// Chunk [a, b) of the table: its own skip bitmap (bit 0 = record a) and its id pointer.
struct ChunkData {
  std::vector<uint8_t> skip;
  std::vector<uint8_t> blocked;  // the chunk's records in the blocked layout, when asked
};

ChunkData chunk_bits(const Table &t, uint64_t a, uint64_t b) {
  ChunkData c;
  if (!t.skip.empty()) {
    c.skip.assign((b - a + 7) / 8, 0);
    for (uint64_t i = a; i < b; ++i)
      if (skipped(t, i)) c.skip[(i - a) / 8] |= uint8_t(1u << ((i - a) % 8));
  }
  return c;
}

// Says who records a.. are (explicit ids, or a base when they are sequential and not asked to be
// explicit) and which to skip, then feeds the chunk.
template <class ChunkType>
void feed_with_ids(TopKAccumulator &acc, ChunkType &chunk, const Table &t, uint64_t a,
                   const ChunkData &c, bool explicit_ids) {
  if (explicit_ids || !t.sequential_ids) {
    chunk.row_ids = t.ids.data() + a;
  } else {
    chunk.base_row = t.ids[a];
  }
  chunk.skip = c.skip.empty() ? nullptr : c.skip.data();
  acc.feed(chunk);
}

// Records a..b copied one by one to scattered, misaligned places (their own allocations, at an
// odd offset), as values lie in a database's pages, and fed in place.
void feed_gathered(TopKAccumulator &acc, const Table &t, uint64_t a, uint64_t b, bool explicit_ids,
                   std::mt19937_64 &rng) {
  ChunkData c = chunk_bits(t, a, b);
  std::vector<std::unique_ptr<uint8_t[]>> places;
  std::vector<const uint8_t *> records;
  for (uint64_t i = a; i < b; ++i) {
    const size_t offset = 1 + rng() % 63;
    places.push_back(std::make_unique<uint8_t[]>(offset + t.bytes));
    std::memcpy(places.back().get() + offset, &t.records[i * t.bytes], t.bytes);
    records.push_back(places.back().get() + offset);
  }
  GatherChunk chunk{records.data(), b - a};
  feed_with_ids(acc, chunk, t, a, c, explicit_ids);
}

void feed_range(TopKAccumulator &acc, const Table &t, uint64_t a, uint64_t b, bool blocked,
                uint32_t block_records, bool explicit_ids) {
  ChunkData c = chunk_bits(t, a, b);
  Chunk chunk;
  DatabaseView rows = DatabaseView::rows(t.records.data() + a * t.bytes, b - a, t.bytes);
  if (blocked) {
    c.blocked.resize(blocked_payload_bytes(b - a, t.bytes, block_records));
    to_blocked(rows, block_records, c.blocked.data());
    chunk.records = DatabaseView::blocked(c.blocked.data(), b - a, t.bytes, block_records);
  } else {
    chunk.records = rows;
  }
  feed_with_ids(acc, chunk, t, a, c, explicit_ids);
}

struct Variant {
  const char *backend;
  Isa isa;
};

std::vector<Variant> variants() {
  std::vector<Variant> out;
  for (Isa isa : {Isa::avx512, Isa::avx2, Isa::scalar}) {
    if (!isa_supported(isa)) continue;
    out.push_back({"runtime", isa});
    if (isa == Isa::scalar) continue;
#ifdef JITSON_HAVE_XBYAK
    out.push_back({"xbyak", isa});
#endif
#ifdef JITSON_HAVE_LLVM
    out.push_back({"llvm", isa});
#endif
  }
  return out;
}

std::string random_topk_config(std::mt19937_64 &rng, uint32_t bits, const Variant &v,
                               const std::string &layout) {
  std::string c = R"({"version": 1, "record_bits": )" + std::to_string(bits);
  if (rng() % 3 != 0) c += R"(, "max_distance": )" + std::to_string(rng() % (bits / 2 + 2));
  c += R"(, "top_k": )" + std::to_string(1 + rng() % (rng() % 4 == 0 ? 200 : 12));
  const std::string focus = testsupport::random_focus(rng, bits);
  if (!focus.empty()) c += R"(, "focus": )" + focus;
  if (rng() % 4 == 0) c += R"(, "cascade": {"mode": "off"})";
  c += R"(, "backend": ")" + std::string(v.backend) + R"(", "isa": ")" + isa_name(v.isa) + "\"";
  c += R"(, "layout": ")" + layout + "\"}";
  return c;
}

// Random split points of [0, n): sometimes one chunk, sometimes many tiny ones.
std::vector<uint64_t> random_cuts(std::mt19937_64 &rng, uint64_t n, uint64_t align) {
  std::vector<uint64_t> cuts{0, n};
  const int pieces = int(rng() % 9);
  for (int i = 0; i < pieces; ++i) cuts.push_back((rng() % (n + 1)) / align * align);
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  return cuts;
}

TEST(TopK, AnySplitOrderIdsSkipsAndMergesEqualTheOracle) {
  const uint64_t cases = env_u64("JITSON_TOPK_CASES", 150);
  Engine engine;
  uint64_t seed = 7000;
  int checked = 0;
  for (const Variant &v : variants()) {
    for (uint64_t c = 0; c < cases; ++c, ++seed) {
      std::mt19937_64 rng(seed);
      static const uint32_t sizes[] = {64, 128, 512, 576, 2048, 16384};
      const uint32_t bits = sizes[rng() % std::size(sizes)];
      const bool blocked = rng() % 3 == 0;
      const uint32_t B = blocked ? (rng() % 2 ? 64u : 8u << (rng() % 4)) : 0;
      const std::string cfg = random_topk_config(rng, bits, v, blocked ? "blocked" : "row");
      auto kernel = engine.compile(cfg);
      const uint32_t bytes = bits / 8;
      const uint64_t n = rng() % (bits >= 16384 ? 300 : 2000);
      const uint64_t n_queries = 1 + rng() % 3;
      std::vector<uint8_t> queries(n_queries * bytes);
      for (auto &b : queries) b = uint8_t(rng());
      Table t = random_table(rng, bytes, n, queries.data());
      // Several accumulators (workers or shards), chunks fed in a random order, then merged.
      const std::vector<uint64_t> cuts = random_cuts(rng, n, blocked ? B : 1);
      std::vector<std::pair<uint64_t, uint64_t>> chunks;
      for (size_t i = 0; i + 1 < cuts.size(); ++i) chunks.emplace_back(cuts[i], cuts[i + 1]);
      std::shuffle(chunks.begin(), chunks.end(), rng);
      const size_t n_acc = 1 + rng() % 3;
      std::vector<TopKAccumulator> accs;
      for (size_t a = 0; a < n_acc; ++a) accs.emplace_back(kernel, queries.data(), n_queries);
      for (const auto &[a, b] : chunks) {
        TopKAccumulator &acc = accs[rng() % n_acc];
        const bool explicit_ids = rng() % 2 == 0;
        if (!blocked && rng() % 3 == 0) {
          feed_gathered(acc, t, a, b, explicit_ids, rng);
        } else {
          feed_range(acc, t, a, b, blocked, B, explicit_ids);
        }
      }
      for (size_t a = 1; a < n_acc; ++a) accs[0].merge(accs[a]);
      for (uint64_t q = 0; q < n_queries; ++q) {
        const std::vector<Hit> want = expected(t, kernel->spec(), queries.data() + q * bytes);
        const std::vector<Hit> got = accs[0].hits(q);
        ASSERT_EQ(got, want) << "seed " << seed << " query " << q << " config " << cfg << " n " << n
                             << " chunks " << chunks.size() << " accumulators " << n_acc;
        // Statistics add up over the chunks: every record was scanned once.
        const ScanStats &s = accs[0].stats(q);
        EXPECT_EQ(s.records, n) << "seed " << seed;
        uint64_t rejected = 0;
        const size_t stages = kernel->plan().cascade.stages.size();
        for (size_t st = 0; st + 1 < stages; ++st) rejected += s.rejected_by_stage[st];
        EXPECT_EQ(s.records, rejected + s.evaluated_full) << "seed " << seed;
      }
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

// One accumulator fed the whole table in order gives the same hits as Kernel::scan.
TEST(TopK, OneChunkInOrderEqualsTheScan) {
  Engine engine;
  std::mt19937_64 rng(11);
  const uint32_t bytes = 2048;
  std::vector<uint8_t> q(bytes);
  for (auto &b : q) b = uint8_t(rng());
  std::vector<uint8_t> db(5000 * bytes);
  testsupport::fill_records(rng, q.data(), db.data(), 5000, bytes);
  for (const char *cfg : {R"({"version": 1, "record_bits": 16384, "top_k": 25})",
                          R"({"version": 1, "record_bits": 16384, "max_distance": 7000})"}) {
    auto k = engine.compile(cfg);
    TopKAccumulator acc(k, q.data(), 1);
    acc.feed(Chunk{DatabaseView::rows(db.data(), 5000, bytes)});
    EXPECT_EQ(acc.hits(0), k->scan(q.data(), DatabaseView::rows(db.data(), 5000, bytes)).hits)
        << cfg;
  }
}

// The bound carries across chunks: once the heap is full, later chunks are pruned by the
// cascade as in one scan (the planted neighbours come first, so nearly every later record dies
// at the first stage).
TEST(TopK, TheHeapBoundPrunesLaterChunks) {
  Engine engine;
  auto k = engine.compile(R"({"version": 1, "record_bits": 16384, "top_k": 4})");
  std::mt19937_64 rng(5);
  const uint32_t bytes = 2048;
  const uint64_t n = 4096;
  std::vector<uint8_t> q(bytes), db(n * bytes);
  for (auto &b : q) b = uint8_t(rng());
  for (auto &b : db) b = uint8_t(rng());
  for (int i = 0; i < 4; ++i) std::memcpy(&db[size_t(i) * bytes], q.data(), bytes);
  TopKAccumulator acc(k, q.data(), 1);
  for (uint64_t a = 0; a < n; a += 64)
    acc.feed(Chunk{DatabaseView::rows(&db[a * bytes], 64, bytes), nullptr, a});
  const ScanStats &s = acc.stats(0);
  EXPECT_EQ(acc.hits(0).size(), 4u);
  EXPECT_EQ(acc.hits(0)[3].distance, 0u);
  // With the bound at 0 every later record is rejected after the first stage.
  EXPECT_GE(s.rejected_by_stage[0], n - 64);
}

// A caller listing records for the gather feed prefetches the focus's extent on a CPU whose
// entry says so, and nothing more once most records are rejected early; elsewhere, nothing.
TEST(TopK, ListingPrefetchFollowsTheFocusTheCpuAndTheRecordsReadWhole) {
  Engine engine;
  const bool gains = prefetch_while_listing(cpu_features());
  const uint32_t bytes = 2048;
  std::vector<uint8_t> q(bytes, 0x5a);
  const auto listing = [&](const std::string &focus) {
    auto k = engine.compile(R"({"version": 1, "record_bits": 16384, "top_k": 4)" + focus + "}");
    return TopKAccumulator(k, q.data(), 1).listing_prefetch_bytes();
  };
  EXPECT_EQ(listing(""), gains ? 2048u : 0u);
  EXPECT_EQ(listing(R"(, "focus": {"ranges": [[0, 64]]})"), gains ? 64u : 0u);
  // bit 4,096 is byte 512, its line ends at 576; bits 16,000..16,063 lie in the last line
  EXPECT_EQ(listing(R"(, "focus": {"ranges": [[4096, 4160]]})"), gains ? 576u : 0u);
  EXPECT_EQ(listing(R"(, "focus": {"ranges": [[64, 128], [16000, 16064]]})"), gains ? 2048u : 0u);

  // Four copies of the query first: the bound drops to 0 and the rest leave after one stage.
  auto k = engine.compile(R"({"version": 1, "record_bits": 16384, "top_k": 4})");
  std::mt19937_64 rng(6);
  const uint64_t n = 1024;
  std::vector<uint8_t> db(n * bytes);
  for (auto &b : db) b = uint8_t(rng());
  for (int i = 0; i < 4; ++i) std::memcpy(&db[size_t(i) * bytes], q.data(), bytes);
  TopKAccumulator acc(k, q.data(), 1);
  EXPECT_EQ(acc.listing_prefetch_bytes(), gains ? bytes : 0u);
  acc.feed(Chunk{DatabaseView::rows(db.data(), n, bytes), nullptr, 0});
  ASSERT_LT(acc.stats(0).evaluated_full * 2, acc.stats(0).records);
  EXPECT_EQ(acc.listing_prefetch_bytes(), 0u);
}

TEST(TopK, MisuseIsAnErrorNotACrash) {
  Engine engine;
  auto k = engine.compile(R"({"version": 1, "record_bits": 128, "max_distance": 3})");
  auto other = engine.compile(R"({"version": 1, "record_bits": 128, "max_distance": 4})");
  uint8_t q[16] = {}, db[64] = {};
  EXPECT_THROW(TopKAccumulator(nullptr, q, 1), Error);
  EXPECT_THROW(TopKAccumulator(k, nullptr, 1), Error);
  EXPECT_THROW(TopKAccumulator(k, q, 0), Error);
  TopKAccumulator acc(k, q, 1);
  EXPECT_THROW(acc.feed(Chunk{DatabaseView::rows(db, 2, 32)}), Error);  // wrong record size
  TopKAccumulator foreign(other, q, 1);
  EXPECT_THROW(acc.merge(foreign), Error);
  uint8_t q2[16] = {1};
  TopKAccumulator other_query(k, q2, 1);
  EXPECT_THROW(acc.merge(other_query), Error);
  EXPECT_THROW(acc.merge(acc), Error);
  EXPECT_THROW(acc.hits(1), Error);
  auto row_only = engine.compile(R"({"version": 1, "record_bits": 128, "layout": "row"})");
  TopKAccumulator row_acc(row_only, q, 1);
  std::vector<uint8_t> blocks(64 * 16);
  try {
    row_acc.feed(Chunk{DatabaseView::blocked(blocks.data(), 10, 16, 64)});
    FAIL();
  } catch (const Error &e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported);
  }
  // In-place records: a null pointer is refused before any is read; a blocked-only kernel has no
  // row entry to read them with.
  const uint8_t *places[2] = {db, nullptr};
  EXPECT_THROW(acc.feed(GatherChunk{places, 2}), Error);
  EXPECT_THROW(acc.feed(GatherChunk{nullptr, 2}), Error);
  auto blocked_only = engine.compile(R"({"version": 1, "record_bits": 128, "layout": "blocked"})");
  TopKAccumulator blocked_acc(blocked_only, q, 1);
  try {
    blocked_acc.feed(GatherChunk{places, 1});
    FAIL();
  } catch (const Error &e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported);
  }
}

// ---- C API

TEST(TopKCApi, FeedMergeResultAndErrors) {
  char err[256];
  jitson_engine *e = jitson_engine_create(R"({"threads": 1})", err, sizeof err);
  ASSERT_NE(e, nullptr) << err;
  const std::string cfg = R"({"version": 1, "record_bits": 128, "top_k": 3})";
  jitson_kernel *k = jitson_compile(e, cfg.data(), cfg.size(), err, sizeof err);
  ASSERT_NE(k, nullptr) << err;
  const uint32_t bytes = 16;
  std::mt19937_64 rng(3);
  std::vector<uint8_t> q(bytes), db(100 * bytes);
  for (auto &b : q) b = uint8_t(rng());
  testsupport::fill_records(rng, q.data(), db.data(), 100, bytes);
  std::vector<uint64_t> ids(100);
  for (uint64_t i = 0; i < 100; ++i) ids[i] = 1000 - i * 7;  // descending, sparse
  std::vector<uint8_t> skip(13, 0);
  skip[0] = 0x05;  // skip records 0 and 2

  jitson_topk *a = jitson_topk_create(k, q.data(), 1, err, sizeof err);
  jitson_topk *b = jitson_topk_create(k, q.data(), 1, err, sizeof err);
  jitson_topk *g = jitson_topk_create(k, q.data(), 1, err, sizeof err);
  ASSERT_TRUE(a && b && g) << err;
  jitson_kernel_release(k);  // the accumulators keep the kernel alive
  // 16-byte records: the focus's one line is cut to the record
  EXPECT_EQ(jitson_topk_listing_prefetch_bytes(g),
            prefetch_while_listing(cpu_features()) ? bytes : 0u);
  EXPECT_EQ(jitson_topk_listing_prefetch_bytes(nullptr), 0u);
  ASSERT_EQ(jitson_topk_feed(a, db.data(), 60, ids.data(), 0, skip.data(), err, sizeof err), 0)
      << err;
  std::vector<uint8_t> skip2(6, 0);
  ASSERT_EQ(jitson_topk_feed(b, db.data() + 60 * bytes, 40, ids.data() + 60, 0, skip2.data(), err,
                             sizeof err),
            0)
      << err;
  ASSERT_EQ(jitson_topk_merge(a, b, err, sizeof err), 0) << err;
  jitson_hit hits[5];
  jitson_stats stats;
  const int64_t got = jitson_topk_result(a, 0, hits, 5, &stats, err, sizeof err);
  ASSERT_EQ(got, 3) << err;
  EXPECT_EQ(stats.records, 100u);

  Table t;
  t.bytes = bytes;
  t.n = 100;
  t.records = db;
  t.ids = ids;
  t.skip = skip;
  t.skip.resize(13, 0);
  ScanSpec spec = parse_scan_config(cfg);
  const std::vector<Hit> want = expected(t, spec, q.data());
  ASSERT_EQ(want.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(hits[i].index, want[size_t(i)].index);
    EXPECT_EQ(hits[i].distance, want[size_t(i)].distance);
  }

  // The same records read in place, pointers in reverse order with their ids and skip bits.
  std::vector<const uint8_t *> places(100);
  std::vector<uint64_t> reversed_ids(100);
  std::vector<uint8_t> reversed_skip(13, 0);
  for (uint64_t i = 0; i < 100; ++i) {
    places[99 - i] = db.data() + i * bytes;
    reversed_ids[99 - i] = ids[i];
    if (i < 60 && ((skip[i / 8] >> (i % 8)) & 1))
      reversed_skip[(99 - i) / 8] |= 1u << ((99 - i) % 8);
  }
  ASSERT_EQ(jitson_topk_feed_gather(g, places.data(), 100, reversed_ids.data(), 0,
                                    reversed_skip.data(), err, sizeof err),
            0)
      << err;
  jitson_hit gathered[5];
  ASSERT_EQ(jitson_topk_result(g, 0, gathered, 5, nullptr, err, sizeof err), 3) << err;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(gathered[i].index, hits[i].index);
    EXPECT_EQ(gathered[i].distance, hits[i].distance);
  }
  places[50] = nullptr;
  EXPECT_EQ(jitson_topk_feed_gather(g, places.data(), 100, nullptr, 0, nullptr, err, sizeof err),
            -1);
  EXPECT_NE(std::string(err).find("records[50] is null"), std::string::npos) << err;
  jitson_topk_destroy(g);

  // Errors are messages, never crashes.
  EXPECT_EQ(jitson_topk_feed(nullptr, db.data(), 1, nullptr, 0, nullptr, err, sizeof err), -1);
  EXPECT_NE(std::string(err).find("accumulator is NULL"), std::string::npos) << err;
  EXPECT_EQ(jitson_topk_feed(a, nullptr, 5, nullptr, 0, nullptr, err, sizeof err), -1);
  EXPECT_NE(std::string(err).find("null"), std::string::npos) << err;
  EXPECT_EQ(jitson_topk_result(a, 1, hits, 5, nullptr, err, sizeof err), -1);
  EXPECT_NE(std::string(err).find("query 1 is out of range"), std::string::npos) << err;
  EXPECT_EQ(jitson_topk_result(a, 0, nullptr, 5, nullptr, err, sizeof err), -1);
  EXPECT_EQ(jitson_topk_feed_blocked(a, db.data(), 10, 3, nullptr, 0, nullptr, err, sizeof err),
            -1);
  EXPECT_NE(std::string(err).find("block"), std::string::npos) << err;
  EXPECT_EQ(jitson_topk_create(nullptr, q.data(), 1, err, sizeof err), nullptr);
  EXPECT_EQ(jitson_topk_merge(a, a, err, sizeof err), -1);

  jitson_topk_reset(a);
  EXPECT_EQ(jitson_topk_result(a, 0, hits, 5, &stats, err, sizeof err), 0);
  EXPECT_EQ(stats.records, 0u);
  jitson_topk_destroy(a);
  jitson_topk_destroy(b);
  jitson_topk_destroy(nullptr);
  jitson_engine_destroy(e);
}

}  // namespace
}  // namespace jitson
