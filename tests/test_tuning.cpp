// Tuning ("wisdom"): the wisdom file round-trips, foreign or corrupt files are ignored with a
// reason and never throw, config pins reach the plan and the key, and every candidate of every
// parameter gives the oracle's hits (the code shape changes, never the result).
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "jitson/config.hpp"
#include "jitson/engine.hpp"
#include "jitson/error.hpp"
#include "jitson/plan.hpp"
#include "jitson/tuning.hpp"
#include "support/oracle.hpp"
#include "support/random_plans.hpp"

namespace jitson {
namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/jitson-tuning-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

void write(const std::filesystem::path &p, const std::string &text) {
  std::ofstream(p, std::ios::binary) << text;
}

Tuning odd_tuning() {
  Tuning t;
  t.query_registers = 8;
  t.loop_min_chunks = 64;
  t.stream_prefetch_bytes = 3072;
  t.probe_prefetch_bytes = 4096;
  t.group_max_chunks = 0;
  return t;
}

TEST(Tuning, WisdomRoundTripsAndIsUsedForThisMachine) {
  TempDir dir;
  const MachineKey key = machine_key(Isa::avx2);
  const std::string text = wisdom_json(key, odd_tuning(), "test");
  const Wisdom w = parse_wisdom(text);
  EXPECT_EQ(w.key, key);
  EXPECT_EQ(w.tuning, odd_tuning());
  const std::string path = (dir.path / "sub" / "wisdom.json").string();
  write_wisdom_file(path, text);  // creates the directory
  const ResolvedTuning r = resolve_tuning(Isa::avx2, path);
  EXPECT_EQ(r.tuning, odd_tuning());
  EXPECT_EQ(r.source, "wisdom " + path);
  EXPECT_EQ(r.note, "");
}

TEST(Tuning, ForeignOrCorruptWisdomIsIgnoredWithAReason) {
  TempDir dir;
  const std::string path = (dir.path / "wisdom.json").string();
  MachineKey other = machine_key(Isa::avx2);
  other.model += 1;
  write(path, wisdom_json(other, odd_tuning(), "elsewhere"));
  ResolvedTuning r = resolve_tuning(Isa::avx2, path);
  EXPECT_NE(r.tuning, odd_tuning());
  EXPECT_NE(r.note.find("ignored: it is for"), std::string::npos) << r.note;

  MachineKey older = machine_key(Isa::avx2);
  older.version = "0.0.1";
  write(path, wisdom_json(older, odd_tuning(), "old"));
  EXPECT_NE(resolve_tuning(Isa::avx2, path).note.find("jitson 0.0.1"), std::string::npos);

  // Another ISA of this machine is another key: avx512 wisdom does not tune avx2 kernels.
  write(path, wisdom_json(machine_key(Isa::avx512), odd_tuning(), "other isa"));
  EXPECT_NE(resolve_tuning(Isa::avx2, path).note, "");

  const std::string good = wisdom_json(machine_key(Isa::avx2), odd_tuning(), "x");
  const std::vector<std::pair<std::string, std::string>> corrupt = {
      {"", "not JSON"},
      {good.substr(0, good.size() / 2), "not JSON"},
      {"[]", "expected a JSON object"},
      {R"({"jitson_wisdom": 2})", "unsupported format"},
      {R"({"jitson_wisdom": 1})", "missing \"machine\""},
  };
  for (const auto &[text, why] : corrupt) {
    write(path, text);
    r = resolve_tuning(Isa::avx2, path);
    EXPECT_NE(r.note.find(why), std::string::npos) << text << " -> " << r.note;
    EXPECT_FALSE(r.source.starts_with("wisdom"));
  }
  // Parameter values out of range, unknown parameters: errors naming the field.
  std::string bad = good;
  bad.replace(bad.find("\"query_registers\": 8"), 20, "\"query_registers\": 99");
  EXPECT_THROW(
      {
        try {
          parse_wisdom(bad);
        } catch (const Error &e) {
          EXPECT_NE(std::string(e.what()).find("/tuning/query_registers"), std::string::npos);
          throw;
        }
      },
      Error);
  bad = good;
  bad.replace(bad.find("\"query_registers\""), 17, "\"query_regs\"");
  EXPECT_THROW(parse_wisdom(bad), Error);

  // A missing file named by the caller is a note; no file at the default path is silent.
  r = resolve_tuning(Isa::avx2, (dir.path / "absent.json").string());
  EXPECT_NE(r.note.find("cannot read"), std::string::npos);
}

TEST(Tuning, ConfigPinsReachThePlanAndTheKey) {
  const ScanSpec plain = parse_scan_config(R"({"version": 1, "record_bits": 2048})");
  const ScanSpec pinned = parse_scan_config(
      R"({"version": 1, "record_bits": 2048, "tuning": {"query_registers": 0, "stream_prefetch_bytes": 0}})");
  EXPECT_NE(plain.key(), pinned.key());
  EXPECT_FALSE(plain.same_meaning(pinned));
  const ScanPlan plan = make_plan(pinned);
  EXPECT_EQ(plan.tuning.query_registers, 0u);
  EXPECT_EQ(plan.tuning.stream_prefetch_bytes, 0u);
  EXPECT_NE(plan.tuning_source.find("config pins"), std::string::npos);
  // No stream prefetch for a one-stage plan: prefetch distance 0.
  const ScanPlan off = make_plan(parse_scan_config(
      R"({"version": 1, "record_bits": 2048, "cascade": {"mode": "off"}, "tuning": {"stream_prefetch_bytes": 0}})"));
  EXPECT_EQ(off.prefetch_records, 0u);
  // The canonical text keeps the pins, so it parses back to the same meaning.
  EXPECT_TRUE(parse_scan_config(pinned.canonical_json()).same_meaning(pinned));

  for (const char *bad : {R"({"version": 1, "record_bits": 64, "tuning": {"query_regs": 1}})",
                          R"({"version": 1, "record_bits": 64, "tuning": {"query_registers": 25}})",
                          R"({"version": 1, "record_bits": 64, "tuning": []})"}) {
    try {
      parse_scan_config(bad);
      FAIL() << bad;
    } catch (const ConfigError &e) {
      EXPECT_EQ(e.pointer().rfind("/tuning", 0), 0u) << e.what();
    }
  }
}

TEST(Tuning, EveryCandidateOfEveryParameterMatchesTheOracle) {
  Engine engine;
  std::mt19937_64 rng(1717);
  int checked = 0;
  for (const TuningParameter &p : tuning_parameters()) {
    for (uint32_t value : p.candidates) {
      for (const char *backend : {"xbyak", "llvm"}) {
        for (Isa isa : {Isa::avx512, Isa::avx2}) {
          if (!isa_supported(isa)) continue;
          for (int c = 0; c < 6; ++c) {
            const uint32_t bits = c % 2 ? 16384 : 2048;
            std::string cfg = R"({"version": 1, "record_bits": )" + std::to_string(bits);
            if (c % 3 == 0) cfg += R"(, "cascade": {"mode": "off"})";
            if (c % 3 == 1) cfg += R"(, "max_distance": )" + std::to_string(bits / 2 - 40);
            const std::string focus = testsupport::random_focus(rng, bits);
            if (!focus.empty() && c >= 3) cfg += R"(, "focus": )" + focus;
            cfg += R"(, "top_k": 7, "backend": ")" + std::string(backend) + R"(", "isa": ")" +
                   isa_name(isa) + R"(", "tuning": {")" + p.name + "\": " + std::to_string(value) +
                   "}}";
            std::shared_ptr<const Kernel> k;
            try {
              k = engine.compile(cfg);
            } catch (const ConfigError &e) {
              // LLVM not built or loadable: the xbyak half still runs.
              if (std::string(backend) == "llvm" && e.pointer() == "/backend") continue;
              throw;
            }
            const uint32_t bytes = bits / 8;
            // Batches of 1..3 queries (row kernels) and of enough for the register tile.
            const uint64_t n = 300, n_queries = c % 2 ? kMinTiledBatch + c : 1 + c % 3;
            std::vector<uint8_t> queries(n_queries * bytes), db(n * bytes);
            for (auto &b : queries) b = uint8_t(rng());
            testsupport::fill_records(rng, queries.data(), db.data(), n, bytes);
            const DatabaseView view = DatabaseView::rows(db.data(), n, bytes);
            const ScanSpec &spec = k->spec();
            const std::vector<ScanResult> batch = k->scan_batch(queries.data(), n_queries, view, 1);
            for (uint64_t j = 0; j < n_queries; ++j) {
              const uint8_t *q = &queries[j * bytes];
              const ScanResult got = k->scan(q, view, 1);
              const std::vector<Hit> want =
                  oracle::scan(q, db.data(), n, bytes, spec.focus, spec.max_distance, spec.top_k);
              ASSERT_EQ(got.hits, want) << cfg;
              ASSERT_EQ(batch[j].hits, want) << cfg << " (batch query " << j << ")";
              // A batch counts what scanning each query alone counts (register tile or not).
              EXPECT_EQ(batch[j].stats.records, got.stats.records) << cfg;
              EXPECT_EQ(batch[j].stats.rejected_by_stage, got.stats.rejected_by_stage) << cfg;
              EXPECT_EQ(batch[j].stats.words_read, got.stats.words_read) << cfg;
            }
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 0);
}

// A batch of an exact cascade tiles its queries while their limits are too high for a probe
// stage to reject anything, and hands a group back to the cascade once a limit falls below
// that: queries with near copies planted in later blocks switch over, the others never do.
// Results and statistics equal scanning each query alone, on every backend and ISA.
TEST(BatchTile, ProbeStagesTakeOverWhenTheLimitFalls) {
  Engine engine;
  std::mt19937_64 rng(4242);
  const uint32_t bits = 16384, bytes = bits / 8;
  const uint64_t n = 3000, n_queries = kMinTiledBatch + 2;
  std::vector<uint8_t> db(n * bytes), queries(n_queries * bytes);
  for (auto &b : db) b = uint8_t(rng());
  for (auto &b : queries) b = uint8_t(rng());
  for (uint64_t j = 0; j < n_queries; j += 2) {  // near copies of queries 0, 2, 4, late
    for (uint64_t at : {1000 + j, 1500 + j, 2000 + j}) {
      std::memcpy(&db[at * bytes], &queries[j * bytes], bytes);
      for (int f = 0; f < 20; ++f) db[at * bytes + rng() % bytes] ^= uint8_t(1u << (rng() % 8));
    }
  }
  const DatabaseView view = DatabaseView::rows(db.data(), n, bytes);
  for (const char *backend : {"xbyak", "llvm", "runtime"}) {
    for (Isa isa : {Isa::avx512, Isa::avx2, Isa::scalar}) {
      if (!isa_supported(isa)) continue;
      const std::string cfg = R"({"version": 1, "record_bits": 16384, "top_k": 3, "backend": ")" +
                              std::string(backend) + R"(", "isa": ")" + isa_name(isa) + R"("})";
      std::shared_ptr<const Kernel> k;
      try {
        k = engine.compile(cfg);
      } catch (const ConfigError &e) {
        if (std::string(backend) == "llvm" && e.pointer() == "/backend") continue;
        if (isa == Isa::scalar && e.pointer() == "/isa") continue;  // xbyak: no scalar code
        throw;
      }
      const size_t last = k->plan().cascade.stages.size() - 1;
      ASSERT_GE(last, 1u) << k->describe();
      const std::vector<ScanResult> batch = k->scan_batch(queries.data(), n_queries, view, 1);
      for (uint64_t j = 0; j < n_queries; ++j) {
        const uint8_t *q = &queries[j * bytes];
        const ScanResult alone = k->scan(q, view, 1);
        ASSERT_EQ(alone.hits, oracle::scan(q, db.data(), n, bytes, {}, UINT32_MAX, 3)) << cfg;
        ASSERT_EQ(batch[j].hits, alone.hits) << cfg << " query " << j;
        EXPECT_EQ(batch[j].stats.rejected_by_stage, alone.stats.rejected_by_stage) << cfg;
        EXPECT_EQ(batch[j].stats.words_read, alone.stats.words_read) << cfg;
        EXPECT_EQ(batch[j].stats.hits, alone.stats.hits) << cfg;
        uint64_t early = 0;
        for (size_t s = 0; s < last; ++s) early += batch[j].stats.rejected_by_stage[s];
        if (j % 2 == 0) {
          EXPECT_GT(early, 0u) << cfg << " query " << j << ": the probes never took over";
        } else {
          EXPECT_EQ(early, 0u) << cfg << " query " << j;
        }
      }
    }
  }
}

}  // namespace
}  // namespace jitson
