// Scan config parser → compiler → kernel, end to end through the C API.
//
// Every input is parsed by the C++ parser and compiled by jitson_compile; both must agree on
// accept/reject (and on the message). Every accepted config is scanned on a small database
// derived from the input, with the database and the query placed right before (and, in a second
// scan, right after) an inaccessible page, and the hits must equal the scalar oracle's exactly:
// same records, same distances, same order. Statistical cascades may drop hits (counted in
// stats), so there every hit must be a true one in order and, with nothing pruned, all of them.
// Blocked-capable configs are also scanned through the sweep kernel on a blocked copy.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.hpp"
#include "jitson/config.hpp"
#include "jitson/database.hpp"
#include "jitson/engine.hpp"
#include "jitson/error.hpp"
#include "jitson/jitson.h"
#include "jitson/layout.hpp"
#include "support/guard_pages.hpp"
#include "support/oracle.hpp"

using jitson::fuzz::fail;

namespace {

// Small enough that the oracle stays cheap at 65,536 bits, large enough for several blocks.
constexpr size_t kMaxDatabaseBytes = 64 * 1024;
constexpr uint64_t kMaxRecords = 160;

jitson_engine *c_engine() {
  // A small cache so that most configs are compiled rather than found, and eviction runs often.
  static jitson_engine *engine = [] {
    char err[256];
    jitson_engine *e = jitson_engine_create(R"({"cache_bytes": 1048576})", err, sizeof err);
    if (!e) fail("jitson_engine_create: %s", err);
    return e;
  }();
  return engine;
}

jitson::Engine &cpp_engine() {
  static jitson::Engine engine([] {
    jitson::EngineOptions o;
    o.cache_bytes = 1u << 20;
    return o;
  }());
  return engine;
}

std::string show(const std::vector<jitson::Hit> &hits) {
  std::string s;
  for (size_t i = 0; i < hits.size() && i < 12; ++i)
    s += "(" + std::to_string(hits[i].index) + "," + std::to_string(hits[i].distance) + ")";
  if (hits.size() > 12) s += "...";
  return s + " [" + std::to_string(hits.size()) + "]";
}

// exact: got == want. statistical: got is an ordered subset of the true hits (all of them when
// the scan says it pruned nothing, pruned = 0), never more than top_k.
void check_hits(const char *what, const jitson::ScanSpec &spec, const std::vector<jitson::Hit> &got,
                const std::vector<jitson::Hit> &all_true, const std::vector<jitson::Hit> &want,
                std::optional<uint64_t> pruned) {
  auto same = [](const jitson::Hit &a, const jitson::Hit &b) {
    return a.index == b.index && a.distance == b.distance;
  };
  bool ok;
  if (spec.cascade != jitson::CascadeMode::statistical || (pruned && *pruned == 0)) {
    ok = got.size() == want.size() && std::equal(got.begin(), got.end(), want.begin(), same);
  } else {
    ok = got.size() <= spec.top_k;
    for (size_t i = 0; ok && i < got.size(); ++i) {
      auto it = std::find_if(all_true.begin(), all_true.end(),
                             [&](const jitson::Hit &h) { return h.index == got[i].index; });
      ok = it != all_true.end() && it->distance == got[i].distance;
      if (ok && i > 0) {
        const auto &a = got[i - 1], &b = got[i];
        ok = a.distance < b.distance || (a.distance == b.distance && a.index < b.index);
      }
    }
  }
  if (!ok)
    fail("%s: hits differ from the oracle\n  got  %s\n  want %s\n  config %s", what,
         show(got).c_str(), show(want).c_str(), spec.canonical_json().c_str());
}

std::vector<jitson::Hit> oracle_range(const jitson::ScanSpec &spec, const uint8_t *query,
                                      const uint8_t *records, uint64_t begin, uint64_t end,
                                      uint32_t top_k) {
  const size_t rb = spec.record_bytes();
  auto hits = jitson::oracle::scan(query, records + begin * rb, end - begin, rb, spec.focus,
                                   spec.max_distance, top_k);
  for (auto &h : hits) h.index += begin;
  return hits;
}

// Query and records that give hits near max_distance: copies of the query with a few bits
// flipped, exact copies (distance 0), repeats of the previous record (ties broken by index)
// and random records (distance about half the focused bits).
void fill_database(const jitson::ScanSpec &spec, jitson::fuzz::Rng &rng, uint8_t *query,
                   uint8_t *records, uint64_t n) {
  const size_t rb = spec.record_bytes();
  for (size_t i = 0; i < rb; ++i) query[i] = uint8_t(rng.next());
  const uint64_t flip_span = std::min<uint64_t>(spec.record_bits, 2ull * spec.max_distance + 16);
  for (uint64_t r = 0; r < n; ++r) {
    uint8_t *rec = records + r * rb;
    switch (rng.below(8)) {
      case 0:
        if (r > 0) {
          std::memcpy(rec, rec - rb, rb);
          break;
        }
        [[fallthrough]];
      case 1:
        for (size_t i = 0; i < rb; ++i) rec[i] = uint8_t(rng.next());
        break;
      case 2:
        std::memcpy(rec, query, rb);
        break;
      default: {
        std::memcpy(rec, query, rb);
        uint64_t flips = rng.below(flip_span + 1);
        for (uint64_t f = 0; f < flips; ++f) {
          uint64_t bit = rng.below(spec.record_bits);
          rec[bit / 8] ^= uint8_t(1u << (bit % 8));
        }
      }
    }
  }
}

void scan_rows(const jitson::ScanSpec &spec, jitson_kernel *kernel, const uint8_t *data,
               size_t size) {
  const size_t rb = spec.record_bytes();
  jitson::fuzz::Rng rng{jitson::fuzz::hash_bytes(data, size)};
  const uint64_t n = rng.below(std::min<uint64_t>(kMaxRecords, kMaxDatabaseBytes / rb) + 1);

  // Scan 1: records and query end right before a guard page (a read past the end faults).
  jitson::testsupport::GuardedRegion db_region(n * rb), q_region(rb);
  uint8_t *records = db_region.back(n * rb);
  uint8_t *query = q_region.back(rb);
  fill_database(spec, rng, query, records, n);

  const auto all_true = oracle_range(spec, query, records, 0, n, UINT32_MAX);
  const auto want = oracle_range(spec, query, records, 0, n, spec.top_k);
  std::vector<jitson_hit> out(n + 1);
  jitson_stats stats{};
  char err[1024];
  int64_t got_n =
      jitson_scan(kernel, query, records, n, out.data(), out.size(), &stats, err, sizeof err);
  if (spec.layout == jitson::LayoutChoice::blocked) {
    // A blocked-only kernel has no row code: the C API must refuse, not run something.
    if (got_n != -1) fail("jitson_scan ran a \"layout\": \"blocked\" kernel on rows");
    return;
  }
  if (got_n < 0) fail("jitson_scan failed on a valid database: %s", err);
  if (stats.records != n)
    fail("jitson_scan: stats.records %llu for %llu records", (unsigned long long)stats.records,
         (unsigned long long)n);
  std::vector<jitson::Hit> got(static_cast<size_t>(got_n));
  if (!got.empty()) std::memcpy(got.data(), out.data(), got.size() * sizeof(jitson::Hit));
  check_hits("jitson_scan (guard after)", spec, got, all_true, want, std::nullopt);
  // JITSON_FUZZ_VERBOSE=1 shows what the checks saw (e.g. to see that seeds produce hits).
  static const bool verbose = std::getenv("JITSON_FUZZ_VERBOSE") != nullptr;
  if (verbose)
    std::fprintf(stderr, "fuzz_config: %s: %llu records, %zu hits of %zu true\n",
                 jitson_kernel_describe(kernel), (unsigned long long)n, got.size(),
                 all_true.size());

  // Scan 2: a copy starting right after a guard page (a read before the start faults), over a
  // random sub-range with a random output capacity.
  jitson::testsupport::GuardedRegion db2_region(n * rb), q2_region(rb);
  uint8_t *records2 = db2_region.front();
  uint8_t *query2 = q2_region.front();
  if (n) std::memcpy(records2, records, n * rb);
  std::memcpy(query2, query, rb);
  const uint64_t begin = rng.below(n + 1);
  const uint64_t end = begin + rng.below(n - begin + 1);
  const uint64_t cap = rng.below(uint64_t(spec.top_k) + 2);
  const auto range_true = oracle_range(spec, query, records, begin, end, UINT32_MAX);
  auto range_want = oracle_range(spec, query, records, begin, end, spec.top_k);
  if (range_want.size() > cap) range_want.resize(cap);
  std::vector<jitson_hit> out2(std::max<uint64_t>(cap, 1));
  got_n = jitson_scan_range(kernel, query2, records2, n, begin, end, cap ? out2.data() : nullptr,
                            cap, &stats, err, sizeof err);
  if (got_n < 0)
    fail("jitson_scan_range [%llu, %llu) failed: %s", (unsigned long long)begin,
         (unsigned long long)end, err);
  if (uint64_t(got_n) > cap)
    fail("jitson_scan_range wrote %lld hits into %llu slots", (long long)got_n,
         (unsigned long long)cap);
  got.resize(size_t(got_n));
  if (!got.empty()) std::memcpy(got.data(), out2.data(), got.size() * sizeof(jitson::Hit));
  check_hits("jitson_scan_range (guard before)", spec, got, range_true, range_want, std::nullopt);
}

// The sweep kernel over a blocked copy, in a guarded region, through the C++ API (the C API
// takes row-major records only).
void scan_blocked(const jitson::ScanSpec &spec, const uint8_t *data, size_t size) {
  const size_t rb = spec.record_bytes();
  jitson::fuzz::Rng rng{jitson::fuzz::hash_bytes(data, size) ^ 0x5bd1e995};
  const uint64_t n = rng.below(std::min<uint64_t>(kMaxRecords, kMaxDatabaseBytes / rb) + 1);
  static constexpr uint32_t kBlocks[] = {8, 16, 64, 64, 128, 256};
  const uint32_t block = kBlocks[rng.below(std::size(kBlocks))];

  std::vector<uint8_t> query(rb), rows(n * rb + 1);
  fill_database(spec, rng, query.data(), rows.data(), n);
  const uint64_t payload = jitson::blocked_payload_bytes(n, uint32_t(rb), block);
  jitson::testsupport::GuardedRegion region(payload);
  uint8_t *blocked = region.back(payload);
  jitson::to_blocked(jitson::DatabaseView::rows(rows.data(), n, rb), block, blocked);
  auto view = jitson::DatabaseView::blocked(blocked, n, rb, block);

  std::shared_ptr<const jitson::Kernel> kernel = cpp_engine().compile(spec);
  jitson::ScanResult r = kernel->scan(query.data(), view);
  const auto all_true = oracle_range(spec, query.data(), rows.data(), 0, n, UINT32_MAX);
  const auto want = oracle_range(spec, query.data(), rows.data(), 0, n, spec.top_k);
  if (r.stats.records != n)
    fail("blocked scan: stats.records %llu for %llu records", (unsigned long long)r.stats.records,
         (unsigned long long)n);
  std::string what = "blocked scan (B=" + std::to_string(block) + ", " + kernel->describe() + ")";
  check_hits(what.c_str(), spec, r.hits, all_true, want, r.stats.statistically_pruned);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string_view text(reinterpret_cast<const char *>(data), size);

  std::optional<jitson::ScanSpec> spec;
  std::string parse_error;
  try {
    spec = jitson::parse_scan_config(text);
  } catch (const jitson::Error &e) {
    parse_error = e.what();
  } catch (const std::exception &e) {
    fail("parse_scan_config threw a non-jitson exception: %s", e.what());
  }

  char err[4096];
  jitson_kernel *kernel = jitson_compile(c_engine(), text.data(), size, err, sizeof err);
  if (!spec) {
    if (kernel)
      fail("jitson_compile accepted a config parse_scan_config rejects: %s", parse_error.c_str());
    // An empty text is refused before parsing, with its own message.
    if (size > 0 && std::strncmp(err, parse_error.c_str(), sizeof err - 1) != 0)
      fail("jitson_compile and parse_scan_config reject with different messages:\n  %s\n  %s", err,
           parse_error.c_str());
    return 0;
  }
  if (!kernel) {
#ifndef JITSON_HAVE_LLVM
    if (spec->backend == jitson::BackendChoice::llvm && std::strstr(err, "not built in")) return 0;
#endif
    fail("jitson_compile rejected a config parse_scan_config accepts: %s", err);
  }
  if (std::strlen(jitson_kernel_describe(kernel)) == 0) fail("empty kernel description");

  try {
    scan_rows(*spec, kernel, data, size);
    if (spec->layout != jitson::LayoutChoice::row) scan_blocked(*spec, data, size);
  } catch (const std::exception &e) {
    fail("scanning an accepted config threw: %s\n  config %s", e.what(),
         spec->canonical_json().c_str());
  }
  jitson_kernel_release(kernel);
  return 0;
}
