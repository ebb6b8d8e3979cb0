// The C API: a thin, exception-free shell over Engine and Kernel.
#include "jitson/jitson.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "jit/capi_internal.hpp"
#include "jitson/engine.hpp"
#include "jitson/error.hpp"
#include "jitson/topk.hpp"

struct jitson_engine {
  jitson::Engine engine;
  explicit jitson_engine(jitson::EngineOptions o) : engine(o) {}
};

namespace {

int64_t scan_impl(const jitson_kernel *k, const uint8_t *query, const uint8_t *records,
                  uint64_t n_records, uint64_t begin, uint64_t end, bool ranged, jitson_hit *out,
                  uint64_t out_cap, jitson_stats *stats, char *err, size_t err_len) {
  return guarded<int64_t>(err, err_len, -1, [&]() -> int64_t {
    using jitson::Error;
    using jitson::ErrorKind;
    if (!k) throw Error(ErrorKind::invalid_argument, "kernel is NULL");
    if (!query) throw Error(ErrorKind::invalid_argument, "query is NULL");
    if (!records && n_records > 0) {
      throw Error(ErrorKind::invalid_argument, "records is NULL but n_records > 0");
    }
    if (!out && out_cap > 0)
      throw Error(ErrorKind::invalid_argument, "out is NULL but out_cap > 0");
    const auto &kernel = *k->kernel;
    auto db = jitson::DatabaseView::rows(records, n_records, kernel.plan().record_bytes);
    jitson::ScanResult r =
        ranged ? kernel.scan_range(query, db, begin, end) : kernel.scan(query, db);
    uint64_t n = std::min<uint64_t>(r.hits.size(), out_cap);
    static_assert(sizeof(jitson_hit) == sizeof(jitson::Hit), "jitson_hit mirrors jitson::Hit");
    if (n) std::memcpy(out, r.hits.data(), n * sizeof(jitson_hit));
    copy_stats(r.stats, stats);
    return int64_t(n);
  });
}

}  // namespace

extern "C" {

jitson_engine *jitson_engine_create(const char *options_json, char *err, size_t err_len) {
  return guarded<jitson_engine *>(err, err_len, nullptr, [&] {
    jitson::EngineOptions o;
    if (options_json) o = jitson::EngineOptions::from_json(options_json);
    return new jitson_engine(o);
  });
}

void jitson_engine_destroy(jitson_engine *e) {
  delete e;
}

jitson_kernel *jitson_compile(jitson_engine *e, const char *config_json, size_t config_len,
                              char *err, size_t err_len) {
  return guarded<jitson_kernel *>(err, err_len, nullptr, [&]() -> jitson_kernel * {
    using jitson::Error;
    using jitson::ErrorKind;
    if (!e) throw Error(ErrorKind::invalid_argument, "engine is NULL");
    if (!config_json) throw Error(ErrorKind::invalid_argument, "config_json is NULL");
    if (config_len == 0) throw Error(ErrorKind::invalid_argument, "config_len is 0 (empty config)");
    auto kernel = e->engine.compile(std::string_view(config_json, config_len));
    return new jitson_kernel{std::move(kernel)};
  });
}

void jitson_kernel_release(jitson_kernel *k) {
  delete k;
}

const char *jitson_kernel_describe(const jitson_kernel *k) {
  return k ? k->kernel->describe().c_str() : "(null kernel)";
}

int jitson_kernel_metric(const jitson_kernel *k) {
  if (!k) return -1;
  return k->kernel->plan().spec.metric == jitson::Metric::tanimoto ? JITSON_METRIC_TANIMOTO
                                                                   : JITSON_METRIC_HAMMING;
}

void jitson_tanimoto_of(const jitson_hit *hit, uint32_t *intersection, uint32_t *union_bits,
                        double *similarity) {
  const jitson::TanimotoHit t =
      hit ? jitson::tanimoto_of(hit->distance, hit->reserved) : jitson::TanimotoHit{};
  if (intersection) *intersection = t.intersection;
  if (union_bits) *union_bits = t.union_bits;
  if (similarity) *similarity = t.similarity;
}

int64_t jitson_scan(const jitson_kernel *k, const uint8_t *query, const uint8_t *records,
                    uint64_t n_records, jitson_hit *out, uint64_t out_cap, jitson_stats *stats,
                    char *err, size_t err_len) {
  return scan_impl(k, query, records, n_records, 0, n_records, false, out, out_cap, stats, err,
                   err_len);
}

int64_t jitson_scan_range(const jitson_kernel *k, const uint8_t *query, const uint8_t *records,
                          uint64_t n_records, uint64_t begin, uint64_t end, jitson_hit *out,
                          uint64_t out_cap, jitson_stats *stats, char *err, size_t err_len) {
  return scan_impl(k, query, records, n_records, begin, end, true, out, out_cap, stats, err,
                   err_len);
}

jitson_topk *jitson_topk_create(const jitson_kernel *k, const uint8_t *queries, uint64_t n_queries,
                                char *err, size_t err_len) {
  return guarded<jitson_topk *>(err, err_len, nullptr, [&]() -> jitson_topk * {
    if (!k) throw jitson::Error(jitson::ErrorKind::invalid_argument, "kernel is NULL");
    return new jitson_topk{jitson::TopKAccumulator(k->kernel, queries, n_queries)};
  });
}

namespace {
int feed_impl(jitson_topk *t, const jitson::DatabaseView &view, const uint64_t *row_ids,
              uint64_t base_row, const uint8_t *skip_bitmap) {
  t->acc.feed(jitson::Chunk{view, row_ids, base_row, skip_bitmap});
  return 0;
}
void require_topk(const jitson_topk *t, const char *name) {
  if (!t) throw jitson::Error(jitson::ErrorKind::invalid_argument, std::string(name) + " is NULL");
}
}  // namespace

int jitson_topk_feed(jitson_topk *t, const uint8_t *records, uint64_t n_records,
                     const uint64_t *row_ids, uint64_t base_row, const uint8_t *skip_bitmap,
                     char *err, size_t err_len) {
  return guarded<int>(err, err_len, -1, [&] {
    require_topk(t, "accumulator");
    const uint32_t bytes = t->acc.kernel().plan().record_bytes;
    return feed_impl(t, jitson::DatabaseView::rows(records, n_records, bytes), row_ids, base_row,
                     skip_bitmap);
  });
}

int jitson_topk_feed_blocked(jitson_topk *t, const uint8_t *blocks, uint64_t n_records,
                             uint32_t block_records, const uint64_t *row_ids, uint64_t base_row,
                             const uint8_t *skip_bitmap, char *err, size_t err_len) {
  return guarded<int>(err, err_len, -1, [&] {
    require_topk(t, "accumulator");
    const uint32_t bytes = t->acc.kernel().plan().record_bytes;
    return feed_impl(t, jitson::DatabaseView::blocked(blocks, n_records, bytes, block_records),
                     row_ids, base_row, skip_bitmap);
  });
}

int jitson_topk_feed_gather(jitson_topk *t, const uint8_t *const *records, uint64_t n_records,
                            const uint64_t *row_ids, uint64_t base_row, const uint8_t *skip_bitmap,
                            char *err, size_t err_len) {
  return guarded<int>(err, err_len, -1, [&] {
    require_topk(t, "accumulator");
    t->acc.feed(jitson::GatherChunk{records, n_records, row_ids, base_row, skip_bitmap});
    return 0;
  });
}

int jitson_topk_merge(jitson_topk *into, const jitson_topk *from, char *err, size_t err_len) {
  return guarded<int>(err, err_len, -1, [&] {
    require_topk(into, "into");
    require_topk(from, "from");
    into->acc.merge(from->acc);
    return 0;
  });
}

int64_t jitson_topk_result(const jitson_topk *t, uint64_t query, jitson_hit *out, uint64_t out_cap,
                           jitson_stats *stats, char *err, size_t err_len) {
  return guarded<int64_t>(err, err_len, -1, [&]() -> int64_t {
    require_topk(t, "accumulator");
    if (!out && out_cap > 0) {
      throw jitson::Error(jitson::ErrorKind::invalid_argument, "out is NULL but out_cap > 0");
    }
    const std::vector<jitson::Hit> hits = t->acc.hits(query);
    const uint64_t n = std::min<uint64_t>(hits.size(), out_cap);
    if (n) std::memcpy(out, hits.data(), n * sizeof(jitson_hit));
    copy_stats(t->acc.stats(query), stats);
    return int64_t(n);
  });
}

uint32_t jitson_topk_listing_prefetch_bytes(const jitson_topk *t) {
  return t ? t->acc.listing_prefetch_bytes() : 0;
}

void jitson_topk_reset(jitson_topk *t) {
  if (t) t->acc.reset();
}

void jitson_topk_destroy(jitson_topk *t) {
  delete t;
}

const char *jitson_version(void) {
  static const std::string v = jitson::version_string();
  return v.c_str();
}

}  // extern "C"
