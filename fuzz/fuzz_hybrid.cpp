// Hybrid pipeline config parser (parse_hybrid_config), then the pipeline it describes.
//
// A config the parser accepts must build a pipeline (only "not built in" backends may refuse)
// and run on a small BF16 database derived from the input: every score names a record of the
// database, carries its true Hamming distance (<= max_distance), the list is ordered by
// (combined_score, index) and no longer than top_k.
#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.hpp"
#include "jitson/engine.hpp"
#include "jitson/error.hpp"
#include "jitson/hybrid.hpp"
#include "support/oracle.hpp"

using jitson::fuzz::fail;

namespace {

std::shared_ptr<jitson::Engine> engine() {
  static auto e = [] {
    jitson::EngineOptions o;
    o.cache_bytes = 1u << 20;
    return std::make_shared<jitson::Engine>(o);
  }();
  return e;
}

void run(const jitson::HybridConfig &config, const uint8_t *data, size_t size) {
  std::optional<jitson::HybridPipeline> pipeline;
  try {
    pipeline.emplace(config, engine());
  } catch (const jitson::Error &e) {
    if (e.kind() == jitson::ErrorKind::unsupported) return;  // e.g. the llvm backend left out
    fail("HybridPipeline refused a config parse_hybrid_config accepted: %s", e.what());
  }

  const size_t rb = config.record_bytes();
  jitson::fuzz::Rng rng{jitson::fuzz::hash_bytes(data, size)};
  const uint64_t n = rng.below(8 * 1024 / rb + 3);
  std::vector<uint8_t> query(rb), records(n * rb + 1);
  for (auto &b : query) b = uint8_t(rng.next());
  for (uint64_t r = 0; r < n; ++r) {
    uint8_t *rec = records.data() + r * rb;
    std::memcpy(rec, query.data(), rb);
    // Flip up to about max_distance + 64 bits so that some records hit and some miss.
    const uint64_t flips = rng.below(uint64_t(config.max_distance) + 64);
    for (uint64_t f = 0; f < flips; ++f) {
      uint64_t bit = rng.below(config.record_bits);
      rec[bit / 8] ^= uint8_t(1u << (bit % 8));
    }
  }
  const auto db = jitson::DatabaseView::rows(records.data(), n, rb);
  jitson::HybridResult result = pipeline->run(query, db);

  const auto &s = result.scores;
  if (config.top_k > 0 && s.size() > config.top_k)
    fail("hybrid: %zu scores for top_k %u", s.size(), config.top_k);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i].index >= n)
      fail("hybrid: score %zu names record %llu of %llu", i, (unsigned long long)s[i].index,
           (unsigned long long)n);
    uint64_t d = jitson::oracle::hamming(query.data(), records.data() + s[i].index * rb, rb);
    if (d != s[i].hamming_distance || d > config.max_distance)
      fail("hybrid: record %llu has Hamming distance %llu, the pipeline says %u (max %u)",
           (unsigned long long)s[i].index, (unsigned long long)d, s[i].hamming_distance,
           config.max_distance);
    if (i > 0) {
      const auto &a = s[i - 1], &b = s[i];
      if (!(a.combined_score < b.combined_score ||
            (a.combined_score == b.combined_score && a.index < b.index)))
        fail("hybrid: scores %zu and %zu out of (combined_score, index) order", i - 1, i);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string_view text(reinterpret_cast<const char *>(data), size);
  std::optional<jitson::HybridConfig> config;
  try {
    config = jitson::parse_hybrid_config(text);
  } catch (const jitson::Error &) {
    return 0;
  } catch (const std::exception &e) {
    fail("parse_hybrid_config threw a non-jitson exception: %s", e.what());
  }
  try {
    run(*config, data, size);
  } catch (const std::exception &e) {
    fail("running an accepted hybrid config threw: %s", e.what());
  }
  return 0;
}
