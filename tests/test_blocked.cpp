// The blocked layout (docs/BLOCKED.md): conversion round trips, the file format with blocked
// payloads, the SWEEP ABI's edge cases on every sweep (runtime and generated) against the
// oracle, the "layout" config field, and the engine's choice between layouts.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "jitson/config.hpp"
#include "jitson/engine.hpp"
#include "jitson/error.hpp"
#include "jitson/layout.hpp"
#include "support/oracle.hpp"

namespace jitson {
namespace {

std::vector<uint8_t> random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto &b : v) b = uint8_t(rng());
  return v;
}

uint64_t word_at(const uint8_t *p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

TEST(BlockedLayout, FormatExampleOffsets) {
  // docs/FORMAT.md: record_bits 128, B = 8, 10 records → 256 bytes; word 1 of record 9 at 200.
  const uint32_t bytes = 16, B = 8;
  std::vector<uint8_t> rows(10 * bytes);
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = uint8_t(i + 1);
  EXPECT_EQ(blocked_payload_bytes(10, bytes, B), 256u);
  std::vector<uint8_t> out(256, 0xAA);
  to_blocked(DatabaseView::rows(rows.data(), 10, bytes), B, out.data());
  EXPECT_EQ(word_at(&out[200]), word_at(&rows[9 * bytes + 8]));
  EXPECT_EQ(word_at(&out[0]), word_at(&rows[0]));
  EXPECT_EQ(word_at(&out[8]), word_at(&rows[bytes]));  // word 0 of record 1 follows word 0 of 0
  // Padding records 10..15 are zero in both words.
  for (uint32_t j = 2; j < 8; ++j) {
    EXPECT_EQ(word_at(&out[128 + j * 8]), 0u);
    EXPECT_EQ(word_at(&out[128 + 64 + j * 8]), 0u);
  }
}

TEST(BlockedLayout, RoundTripIsByteIdentical) {
  for (uint32_t bytes : {8u, 24u, 2048u}) {
    for (uint32_t B : {8u, 64u, 256u}) {
      for (uint64_t n : {0ull, 1ull, 7ull, 63ull, 64ull, 65ull, 300ull}) {
        auto rows = random_bytes(n * bytes, n * 31 + bytes + B);
        BlockedDatabase blocked(DatabaseView::rows(rows.data(), n, bytes), B);
        const DatabaseView v = blocked.view();
        ASSERT_EQ(v.layout, Layout::blocked);
        ASSERT_EQ(v.block_records, B);
        ASSERT_EQ(v.n_records, n);
        ASSERT_EQ(v.payload_bytes(), (n + B - 1) / B * B * bytes);
        std::vector<uint8_t> back(n * bytes, 0x55);
        to_rows(v, back.data());
        EXPECT_EQ(back, rows) << bytes << " " << B << " " << n;
        // Every word where the format says it is; padding zero.
        const uint64_t stored = (n + B - 1) / B * B;
        for (uint64_t i = 0; i < stored; ++i) {
          for (uint32_t w = 0; w < bytes / 8; ++w) {
            const uint64_t at = (i / B) * B * bytes + (uint64_t(w) * B + i % B) * 8;
            const uint64_t expect = i < n ? word_at(&rows[i * bytes + w * 8]) : 0;
            ASSERT_EQ(word_at(v.data + at), expect) << i << " " << w;
          }
        }
      }
    }
  }
}

TEST(BlockedLayout, RejectsBadGeometry) {
  std::vector<uint8_t> rows(64 * 8);
  auto view = DatabaseView::rows(rows.data(), 64, 8);
  std::vector<uint8_t> out(4096);
  EXPECT_THROW(to_blocked(view, 48, out.data()), Error);
  EXPECT_THROW(to_blocked(view, 4, out.data()), Error);
  EXPECT_THROW(to_rows(view, out.data()), Error);  // not blocked
  EXPECT_THROW(blocked_payload_bytes(1, 12, 64), Error);
}

TEST(BlockedLayout, FileWriterAndReader) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("jitson_blocked_" + std::to_string(getpid()) + ".jfp"))
                               .string();
  const uint32_t bits = 512, bytes = 64, B = 64;
  const uint64_t n = 150;
  auto rows = random_bytes(n * bytes, 7);
  BlockedDatabase blocked(DatabaseView::rows(rows.data(), n, bytes), B);
  {
    FingerprintWriter w(path, bits, n, Layout::blocked, B);
    const uint64_t payload = blocked.view().payload_bytes();
    // Streamed in two pieces, a block boundary apart.
    w.write(blocked.view().data, B * bytes);
    w.write(blocked.view().data + B * bytes, payload - B * bytes);
    w.commit();
  }
  FingerprintFile f = FingerprintFile::open(path);
  EXPECT_EQ(f.header().layout, Layout::blocked);
  EXPECT_EQ(f.header().block_records, B);
  const DatabaseView v = f.view();
  ASSERT_EQ(v.layout, Layout::blocked);
  ASSERT_EQ(v.n_records, n);
  ASSERT_EQ(std::memcmp(v.data, blocked.view().data, v.payload_bytes()), 0);
  std::vector<uint8_t> back(n * bytes);
  to_rows(v, back.data());
  EXPECT_EQ(back, rows);

  Engine engine;
  auto k = engine.compile(R"({"version": 1, "record_bits": 512, "max_distance": 240,
                              "top_k": 20})");
  const uint8_t *query = &rows[17 * bytes];
  auto expected = oracle::scan(query, rows.data(), n, bytes, {}, 240, 20);
  EXPECT_EQ(k->scan(query, v).hits, expected);
  std::remove(path.c_str());
}

// Memory whose last byte is followed by a PROT_NONE page.
class GuardedBuffer {
 public:
  explicit GuardedBuffer(size_t n) {
    const size_t page = size_t(sysconf(_SC_PAGESIZE));
    span_ = (n + page - 1) / page * page + page;
    base_ = static_cast<uint8_t *>(
        mmap(nullptr, span_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (base_ == MAP_FAILED) throw std::bad_alloc();
    mprotect(base_ + span_ - page, page, PROT_NONE);
    data_ = base_ + span_ - page - n;
  }
  ~GuardedBuffer() { munmap(base_, span_); }
  uint8_t *data() { return data_; }

 private:
  size_t span_;
  uint8_t *base_, *data_;
};

struct SweepEntry {
  std::string name;
  BlockFn fn;
  const void *context;
};

// Direct calls of every sweep: ranges starting mid-block (reserved > 0), ends that are not a
// multiple of B, the payload ending against a guard page; hits and counters against the oracle
// and against the runtime sweep.
TEST(BlockedSweep, AbiEdgeCases) {
  const char *isas[] = {"avx512", "avx2"};
  // The plan's B and two others: xbyak generates a sweep for each (sub-blocks of 64 records).
  for (uint32_t B : {kDefaultBlockRecords, 128u, 256u})
    for (uint32_t bits : {64u, 640u, 2048u}) {
      const uint32_t bytes = bits / 8;
      for (uint64_t n : {1ull, 63ull, 64ull, 65ull, 200ull, 300ull, 600ull}) {
        auto rows = random_bytes(n * bytes, bits + n);
        auto query = random_bytes(bytes, n);
        // Near neighbours around the block edges.
        for (uint64_t i : {uint64_t{0}, n / 2, n - 1}) {
          std::memcpy(&rows[i * bytes], query.data(), bytes);
          rows[i * bytes] ^= uint8_t(i);
        }
        BlockedDatabase blocked(DatabaseView::rows(rows.data(), n, bytes), B);
        const uint64_t payload = blocked.view().payload_bytes();
        GuardedBuffer guarded(payload);
        std::memcpy(guarded.data(), blocked.view().data, payload);

        for (const char *focus : {"", R"(, "focus": {"ranges": [[3, 60]], "bits": [63]})"}) {
          for (const char *cascade :
               {R"({"mode": "exact"})", R"({"mode": "exact", "stages": [2]})",
                R"({"mode": "statistical", "safety_margin": 1.0})", R"({"mode": "off"})"}) {
            const uint32_t max_distance = bits / 4;
            std::vector<SweepEntry> entries;
            std::vector<std::shared_ptr<const Kernel>> keep;
            Engine engine;
            const std::string base = "{\"version\": 1, \"record_bits\": " + std::to_string(bits) +
                                     ", \"max_distance\": " + std::to_string(max_distance) +
                                     std::string(focus) + ", \"cascade\": " + cascade +
                                     ", \"layout\": \"blocked\"";
            auto rt = engine.compile(base + ", \"backend\": \"runtime\"}");
            keep.push_back(rt);
            entries.push_back({"runtime", rt->sweep_function(B), rt->sweep_context(B)});
#ifdef JITSON_HAVE_XBYAK
            for (const char *isa : isas) {
              if (!isa_supported(*parse_isa(isa))) continue;
              auto k = engine.compile(base + ", \"backend\": \"xbyak\", \"isa\": \"" + isa + "\"}");
              ASSERT_EQ(k->sweep_backend(), Backend::xbyak) << k->describe();
              ASSERT_NE(k->sweep_function(B), &sweep_block_runtime) << "B " << B;
              keep.push_back(k);
              entries.push_back(
                  {std::string("xbyak-") + isa, k->sweep_function(B), k->sweep_context(B)});
            }
#else
            (void)isas;
#endif
            const bool statistical = std::string(cascade).find("statistical") != std::string::npos;
            const auto mask = rt->spec().focus;
            for (uint64_t reserved :
                 {uint64_t{0}, uint64_t{1}, uint64_t{37}, uint64_t{70}, uint64_t{130}}) {
              if (reserved >= B) continue;  // a call starts in its first block
              if (reserved >= n) continue;
              std::vector<Hit> reference;
              uint64_t reference_counters[kNumCounters] = {};
              for (const SweepEntry &e : entries) {
                std::vector<Hit> out(n);
                uint64_t counters[kNumCounters] = {};
                BlockArgs args{query.data(), guarded.data(),   n,
                               1000,         max_distance + 1, uint32_t(reserved),
                               out.data(),   counters,         e.context};
                const uint64_t got = e.fn(&args);
                out.resize(got);
                const std::string ctx = e.name + " B " + std::to_string(B) + " bits " +
                                        std::to_string(bits) + " n " + std::to_string(n) +
                                        " reserved " + std::to_string(reserved) + " " + cascade +
                                        focus;
                // In index order, every one at the right distance.
                auto all = oracle::scan(query.data(), &rows[reserved * bytes], n - reserved, bytes,
                                        mask, max_distance, uint32_t(n));
                std::sort(all.begin(), all.end(),
                          [](const Hit &x, const Hit &y) { return x.index < y.index; });
                for (Hit &h : all) h.index += 1000 + reserved;
                if (!statistical) {
                  EXPECT_EQ(out, all) << ctx;
                }
                uint64_t records = 0;
                for (int s = 0; s < kMaxStages; ++s) records += counters[s];
                EXPECT_EQ(records + got, n - reserved) << ctx;
                if (e.name == "runtime") {
                  reference = out;
                  std::memcpy(reference_counters, counters, sizeof counters);
                } else {
                  EXPECT_EQ(out, reference) << ctx;
                  for (int i = 0; i < kNumCounters; ++i) {
                    EXPECT_EQ(counters[i], reference_counters[i]) << ctx << " counter " << i;
                  }
                }
              }
            }
          }
        }
      }
    }
}

TEST(BlockedConfig, LayoutField) {
  const std::string base = R"({"version": 1, "record_bits": 128, "max_distance": 5)";
  EXPECT_EQ(parse_scan_config(base + "}").layout, LayoutChoice::automatic);
  EXPECT_EQ(parse_scan_config(base + R"(, "layout": "row"})").layout, LayoutChoice::row);
  EXPECT_EQ(parse_scan_config(base + R"(, "layout": "blocked"})").layout, LayoutChoice::blocked);
  EXPECT_EQ(parse_scan_config(base + R"(, "layout": "auto"})").key(),
            parse_scan_config(base + "}").key());
  EXPECT_NE(parse_scan_config(base + R"(, "layout": "row"})").key(),
            parse_scan_config(base + R"(, "layout": "blocked"})").key());
  try {
    parse_scan_config(base + R"(, "layout": "columns"})");
    FAIL() << "accepted an unknown layout";
  } catch (const ConfigError &e) {
    EXPECT_EQ(e.pointer(), "/layout");
    EXPECT_NE(std::string(e.what()).find("blocked"), std::string::npos) << e.what();
  }
  const ScanSpec blocked = parse_scan_config(base + R"(, "layout": "blocked"})");
  EXPECT_NE(blocked.canonical_json().find(R"("layout":"blocked")"), std::string::npos);
  EXPECT_TRUE(parse_scan_config(blocked.canonical_json()).same_meaning(blocked));
  EXPECT_FALSE(blocked.same_meaning(parse_scan_config(base + "}")));
}

TEST(BlockedPlan, CrossoverRule) {
  auto plan_of = [](uint32_t max_distance) {
    return make_plan(parse_scan_config(R"({"version": 1, "record_bits": 16384, "max_distance": )" +
                                       std::to_string(max_distance) + "}"));
  };
  const ScanPlan near = plan_of(16), wide = plan_of(8000);
  EXPECT_LT(near.stage0_survival, 1e-3);
  EXPECT_TRUE(near.prefer_sweep);
  EXPECT_GT(wide.stage0_survival, 0.99);
  EXPECT_FALSE(wide.prefer_sweep);
  EXPECT_TRUE(near.build_row && near.build_sweep);
  EXPECT_EQ(near.cascade.block_records, kDefaultBlockRecords);
  // The survival estimate is monotone in max_distance.
  double previous = 0;
  for (uint32_t d : {0u, 8u, 16u, 24u, 32u, 48u, 64u, 200u, 2000u}) {
    const double p = plan_of(d).stage0_survival;
    EXPECT_GE(p, previous) << d;
    previous = p;
  }
}

TEST(BlockedEngine, KernelsFollowTheLayoutField) {
  const uint32_t bytes = 256;
  const uint64_t n = 1000;
  auto rows = random_bytes(n * bytes, 3);
  auto query = random_bytes(bytes, 4);
  std::memcpy(&rows[500 * bytes], query.data(), bytes);
  BlockedDatabase blocked(DatabaseView::rows(rows.data(), n, bytes), 64);
  const DatabaseView row_view = DatabaseView::rows(rows.data(), n, bytes);
  const DualDatabase dual{row_view, blocked.view()};
  const auto expected = oracle::scan(query.data(), rows.data(), n, bytes, {}, 20, 10);

  Engine engine;
  const std::string base = R"({"version": 1, "record_bits": 2048, "max_distance": 20)";
  auto row = engine.compile(base + R"(, "layout": "row"})");
  auto sweep = engine.compile(base + R"(, "layout": "blocked"})");
  auto both = engine.compile(base + "}");
  EXPECT_TRUE(row->has_row_kernel());
  EXPECT_FALSE(row->has_sweep_kernel());
  EXPECT_FALSE(sweep->has_row_kernel());
  EXPECT_TRUE(both->has_row_kernel() && both->has_sweep_kernel());
  EXPECT_NE(both->describe().find("kernels=row+sweep"), std::string::npos) << both->describe();
  EXPECT_NE(sweep->describe().find("kernels=sweep"), std::string::npos) << sweep->describe();

  EXPECT_EQ(row->scan(query.data(), row_view).hits, expected);
  EXPECT_EQ(sweep->scan(query.data(), blocked.view()).hits, expected);
  EXPECT_EQ(both->scan(query.data(), row_view).hits, expected);
  EXPECT_EQ(both->scan(query.data(), blocked.view()).hits, expected);
  EXPECT_EQ(both->scan(query.data(), dual).hits, expected);
  EXPECT_EQ(row->scan(query.data(), dual).hits, expected);
  EXPECT_EQ(sweep->scan(query.data(), dual).hits, expected);
  EXPECT_EQ(row->chosen_layout(), Layout::row_major);
  EXPECT_EQ(sweep->chosen_layout(), Layout::blocked);
  // max_distance 20 of 2048 bits: almost no record survives its first word.
  EXPECT_EQ(both->chosen_layout(), Layout::blocked);
  EXPECT_EQ(engine.compile(R"({"version": 1, "record_bits": 2048, "max_distance": 1000})")
                ->chosen_layout(),
            Layout::row_major);

  try {
    row->scan(query.data(), blocked.view());
    FAIL() << "a row kernel scanned a blocked database";
  } catch (const Error &e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported);
    EXPECT_NE(std::string(e.what()).find("layout"), std::string::npos) << e.what();
  }
  EXPECT_THROW(sweep->scan(query.data(), row_view), Error);

  // Batches, ranges and threads on the blocked view; another block size (the runtime sweep).
  auto batch = both->scan_batch(query.data(), 1, blocked.view(), 2);
  EXPECT_EQ(batch[0].hits, expected);
  EXPECT_EQ(both->scan_range(query.data(), blocked.view(), 450, 600).hits.size(), 1u);
  BlockedDatabase small_blocks(row_view, 16);
  EXPECT_EQ(both->scan(query.data(), small_blocks.view(), 2).hits, expected);
  EXPECT_EQ(scan_runtime(query.data(), small_blocks.view(), {}, 20, 10).hits, expected);
}

#ifdef JITSON_HAVE_XBYAK
// An "auto" xbyak kernel generates its sweep on the first blocked scan, once, even when many
// threads start blocked scans together, and a kernel that outlives its engine still can.
TEST(BlockedEngine, DeferredSweepIsGeneratedOnceOnFirstBlockedScan) {
  if (!isa_supported(Isa::avx2)) GTEST_SKIP() << "xbyak needs avx2";
  const uint32_t bytes = 256;
  const uint64_t n = 700;
  auto rows = random_bytes(n * bytes, 11);
  auto query = random_bytes(bytes, 12);
  std::memcpy(&rows[321 * bytes], query.data(), bytes);
  rows[321 * bytes + 7] ^= 0x11;
  BlockedDatabase blocked(DatabaseView::rows(rows.data(), n, bytes), 64);
  const auto expected = oracle::scan(query.data(), rows.data(), n, bytes, {}, 30, 10);

  std::shared_ptr<const Kernel> k;
  {
    Engine engine;
    k = engine.compile(R"({"version": 1, "record_bits": 2048, "max_distance": 30})");
  }  // the engine is gone; the kernel keeps its code memory
  ASSERT_EQ(k->backend(), Backend::xbyak) << k->describe();
  const std::string description = k->describe();
  EXPECT_NE(description.find("sweep=xbyak(B=64)"), std::string::npos) << description;
  const size_t row_bytes = k->code_bytes();

  // A row scan leaves the sweep pending.
  EXPECT_EQ(k->scan(query.data(), DatabaseView::rows(rows.data(), n, bytes)).hits, expected);
  EXPECT_EQ(k->code_bytes(), row_bytes);

  std::vector<std::thread> threads;
  std::vector<std::vector<Hit>> got(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] { got[t] = k->scan(query.data(), blocked.view(), 1).hits; });
  }
  for (auto &t : threads) t.join();
  for (auto &g : got) EXPECT_EQ(g, expected);
  EXPECT_EQ(k->sweep_backend(), Backend::xbyak) << k->sweep_note();
  EXPECT_TRUE(k->sweep_note().empty()) << k->sweep_note();
  EXPECT_GT(k->code_bytes(), row_bytes);
  EXPECT_NE(k->sweep_function(64), &sweep_block_runtime);
  EXPECT_EQ(k->describe(), description);  // what the engine set up, not when the sweep ran
}
#endif

}  // namespace
}  // namespace jitson
