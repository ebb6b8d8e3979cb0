// The C API's database handles (memory-mapped fingerprint files) and batched scans.
#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "jit/capi_internal.hpp"
#include "jit/strict_json.hpp"
#include "jitson/database.hpp"
#include "jitson/engine.hpp"
#include "jitson/error.hpp"
#include "jitson/topk.hpp"

namespace {

using jitson::Error;
using jitson::ErrorKind;

[[noreturn]] void invalid(const std::string &message) {
  throw Error(ErrorKind::invalid_argument, message);
}

const jitson::Kernel &kernel_of(const jitson_kernel *k) {
  if (!k) invalid("kernel is NULL");
  return *k->kernel;
}

jitson::DatabaseView view_of(const jitson_db *db) {
  if (!db) invalid("db is NULL");
  return db->file.view();
}

// The same strictness as the engine options: one JSON object, known fields of the right type,
// errors naming the JSON Pointer.
jitson::FileOpenOptions parse_open_options(std::string_view json) {
  namespace sj = jitson::strict_json;
  jitson::FileOpenOptions options;
  if (json.find_first_not_of(" \t\r\n") == std::string_view::npos) return options;
  const sj::Json root = sj::parse(json);
  sj::object_with_fields(root, "", {"populate", "raw_record_bits"});
  if (auto it = root.find("raw_record_bits"); it != root.end()) {
    const uint64_t bits = sj::integer(*it, "/raw_record_bits", 64, jitson::kMaxFileRecordBits);
    if (bits % 64 != 0) {
      throw jitson::ConfigError(
          "/raw_record_bits",
          std::to_string(bits) + " is not a multiple of 64; records are whole 64-bit words");
    }
    options.raw_record_bits = uint32_t(bits);
  }
  if (auto it = root.find("populate"); it != root.end()) {
    options.populate = sj::boolean(*it, "/populate");
  }
  return options;
}

void check_out(const void *out, uint64_t out_cap) {
  if (!out && out_cap > 0) invalid("out is NULL but out_cap > 0");
}

void copy_hits(const std::vector<jitson::Hit> &hits, jitson_hit *out, uint64_t n) {
  static_assert(sizeof(jitson_hit) == sizeof(jitson::Hit), "jitson_hit mirrors jitson::Hit");
  if (n) std::memcpy(out, hits.data(), n * sizeof(jitson_hit));
}

int copy_results(const std::vector<jitson::ScanResult> &results, jitson_hit *out,
                 uint64_t out_cap_per_query, uint64_t *counts, jitson_stats *stats) {
  for (uint64_t q = 0; q < results.size(); ++q) {
    const jitson::ScanResult &r = results[q];
    const uint64_t n = std::min<uint64_t>(r.hits.size(), out_cap_per_query);
    copy_hits(r.hits, out ? out + q * out_cap_per_query : nullptr, n);
    counts[q] = n;
    copy_stats(r.stats, stats ? stats + q : nullptr);
  }
  return 0;
}

// The arguments every batch checks; false when there are no queries.
bool check_batch(const uint8_t *queries, uint64_t n_queries, const jitson_hit *out,
                 uint64_t out_cap_per_query, const uint64_t *counts) {
  if (n_queries == 0) return false;
  if (!queries) invalid("queries is NULL but n_queries > 0");
  if (!counts) invalid("counts is NULL but n_queries > 0");
  if (!out && out_cap_per_query > 0) invalid("out is NULL but out_cap_per_query > 0");
  // out holds n_queries * out_cap_per_query hits; a product that wraps cannot be an array.
  if (out_cap_per_query > UINT64_MAX / sizeof(jitson_hit) / n_queries) {
    invalid("n_queries * out_cap_per_query (" + std::to_string(n_queries) + " * " +
            std::to_string(out_cap_per_query) + ") overflows the address space");
  }
  return true;
}

int scan_batch_impl(const jitson_kernel *k, const uint8_t *queries, uint64_t n_queries,
                    const jitson::DatabaseView &db, jitson_hit *out, uint64_t out_cap_per_query,
                    uint64_t *counts, jitson_stats *stats) {
  const jitson::Kernel &kernel = kernel_of(k);
  if (!check_batch(queries, n_queries, out, out_cap_per_query, counts)) {
    kernel.entry(db);  // no queries is no error, but a database the kernel cannot scan is
    return 0;
  }
  return copy_results(kernel.scan_batch(queries, n_queries, db), out, out_cap_per_query, counts,
                      stats);
}

// A popcount-ordered file: query by query through its buckets, with original indices.
int scan_batch_ordered(const jitson_kernel *k, const uint8_t *queries, uint64_t n_queries,
                       const jitson::PopcountOrder &order, jitson_hit *out,
                       uint64_t out_cap_per_query, uint64_t *counts, jitson_stats *stats) {
  const jitson::Kernel &kernel = kernel_of(k);
  if (!check_batch(queries, n_queries, out, out_cap_per_query, counts)) return 0;
  std::vector<jitson::ScanResult> results;
  for (uint64_t q = 0; q < n_queries; ++q) {
    results.push_back(
        jitson::scan_popcount_ordered(k->kernel, queries + q * kernel.plan().record_bytes, order));
  }
  return copy_results(results, out, out_cap_per_query, counts, stats);
}

}  // namespace

extern "C" {

jitson_db *jitson_db_open(const char *path, const char *options_json, char *err, size_t err_len) {
  return guarded<jitson_db *>(err, err_len, nullptr, [&]() -> jitson_db * {
    if (!path) invalid("path is NULL");
    const jitson::FileOpenOptions options =
        options_json ? parse_open_options(options_json) : jitson::FileOpenOptions{};
    auto db =
        std::make_unique<jitson_db>(jitson_db{jitson::FingerprintFile::open(path, options), {}});
    if (db->file.popcount_section()) db->order.emplace(jitson::PopcountOrder::of_file(db->file));
    return db.release();
  });
}

void jitson_db_close(jitson_db *db) {
  delete db;
}

uint64_t jitson_db_records(const jitson_db *db) {
  return db ? db->file.view().n_records : 0;
}

uint32_t jitson_db_record_bits(const jitson_db *db) {
  return db ? db->file.view().record_bytes * 8 : 0;
}

uint32_t jitson_db_layout(const jitson_db *db) {
  static_assert(uint32_t(jitson::Layout::row_major) == JITSON_LAYOUT_ROW &&
                    uint32_t(jitson::Layout::blocked) == JITSON_LAYOUT_BLOCKED,
                "the C layout codes are the file format's");
  return db ? uint32_t(db->file.view().layout) : JITSON_LAYOUT_ROW;
}

uint32_t jitson_db_block_records(const jitson_db *db) {
  return db && db->file.view().layout == jitson::Layout::blocked ? db->file.view().block_records
                                                                 : 0;
}

const uint8_t *jitson_db_data(const jitson_db *db) {
  return db ? db->file.view().data : nullptr;
}

uint64_t jitson_db_payload_bytes(const jitson_db *db) {
  // The view was validated at open, so payload_bytes() cannot throw here; guard anyway, as no
  // exception may leave a C function.
  return db ? guarded<uint64_t>(nullptr, 0, 0, [&] { return db->file.view().payload_bytes(); }) : 0;
}

int64_t jitson_scan_db(const jitson_kernel *k, const uint8_t *query, const jitson_db *db,
                       jitson_hit *out, uint64_t out_cap, jitson_stats *stats, char *err,
                       size_t err_len) {
  return guarded<int64_t>(err, err_len, -1, [&]() -> int64_t {
    const jitson::Kernel &kernel = kernel_of(k);
    if (!query) invalid("query is NULL");
    const jitson::DatabaseView view = view_of(db);
    check_out(out, out_cap);
    // Kernel::scan picks the row kernel or, for a blocked file, the sweep; a popcount-ordered
    // file is scanned bucket by bucket with original indices.
    const jitson::ScanResult r = db->order
                                     ? jitson::scan_popcount_ordered(k->kernel, query, *db->order)
                                     : kernel.scan(query, view);
    const uint64_t n = std::min<uint64_t>(r.hits.size(), out_cap);
    copy_hits(r.hits, out, n);
    copy_stats(r.stats, stats);
    return int64_t(n);
  });
}

int jitson_topk_feed_db(jitson_topk *t, const jitson_db *db, uint64_t begin, uint64_t end,
                        const uint8_t *skip_bitmap, char *err, size_t err_len) {
  return guarded<int>(err, err_len, -1, [&] {
    if (!t) invalid("accumulator is NULL");
    const jitson::DatabaseView view = view_of(db);
    if (begin > end || end > view.n_records) {
      invalid("record range [" + std::to_string(begin) + ", " + std::to_string(end) +
              ") is outside the file of " + std::to_string(view.n_records) + " records");
    }
    jitson::DatabaseView chunk;
    if (view.layout == jitson::Layout::blocked) {
      // A chunk of a blocked file is whole blocks: the sweep reads a block's words for all of its
      // records at once, so a range cannot start or stop inside one (except at the file's end,
      // where the file holds the zero padding of the last block).
      const uint64_t b = view.block_records;
      if (begin % b != 0) {
        invalid("begin " + std::to_string(begin) +
                " is not a multiple of the file's block_records " + std::to_string(b) +
                "; a chunk of a blocked file starts on a block boundary");
      }
      if (end % b != 0 && end != view.n_records) {
        invalid("end " + std::to_string(end) +
                " is neither a multiple of the file's block_records " + std::to_string(b) +
                " nor its record count " + std::to_string(view.n_records) +
                "; a chunk of a blocked file ends on a block boundary or at the end of the file");
      }
      chunk = jitson::DatabaseView::blocked(view.data + begin * view.record_bytes, end - begin,
                                            view.record_bytes, view.block_records);
    } else {
      chunk = jitson::DatabaseView::rows(view.n_records ? view.record(begin) : nullptr, end - begin,
                                         view.record_bytes);
    }
    // Positions of a popcount-ordered file are not its records' indices: ids say which they are.
    const uint64_t *ids = db->order ? db->order->original_index().data() + begin : nullptr;
    t->acc.feed(jitson::Chunk{chunk, ids, begin, skip_bitmap});
    return 0;
  });
}

int jitson_scan_batch(const jitson_kernel *k, const uint8_t *queries, uint64_t n_queries,
                      const uint8_t *records, uint64_t n_records, jitson_hit *out,
                      uint64_t out_cap_per_query, uint64_t *counts, jitson_stats *stats, char *err,
                      size_t err_len) {
  return guarded<int>(err, err_len, -1, [&] {
    const jitson::Kernel &kernel = kernel_of(k);
    if (!records && n_records > 0) invalid("records is NULL but n_records > 0");
    const auto db = jitson::DatabaseView::rows(records, n_records, kernel.plan().record_bytes);
    return scan_batch_impl(k, queries, n_queries, db, out, out_cap_per_query, counts, stats);
  });
}

int jitson_scan_batch_db(const jitson_kernel *k, const uint8_t *queries, uint64_t n_queries,
                         const jitson_db *db, jitson_hit *out, uint64_t out_cap_per_query,
                         uint64_t *counts, jitson_stats *stats, char *err, size_t err_len) {
  return guarded<int>(err, err_len, -1, [&] {
    kernel_of(k);  // reported before a NULL db, as in every other entry point
    const jitson::DatabaseView view = view_of(db);
    if (db->order)
      return scan_batch_ordered(k, queries, n_queries, *db->order, out, out_cap_per_query, counts,
                                stats);
    return scan_batch_impl(k, queries, n_queries, view, out, out_cap_per_query, counts, stats);
  });
}

}  // extern "C"
