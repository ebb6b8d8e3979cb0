// The Arrow C data interface (jitson/arrow.h, jitson/arrow.hpp) against the oracle: arrays built
// by hand here as a producer would (fixed_size_binary, binary, large_binary, binary_view; offsets,
// slices, validity bitmaps, null values of other lengths between runs, binary_view values spread
// over several data buffers, shuffled or inline, with garbage views for nulls and hidden rows,
// int64/uint64 id arrays, struct
// record batches and a hand-written ArrowArrayStream counting every release), fed through the C++
// and the C API, give exactly the hits of the oracle over the unskipped rows ordered by (distance,
// row id), read in place from the producer's buffers; every malformed input is an error naming the
// problem and the row. Seeded:
//   JITSON_ARROW_CASES=N  random cases per test (default 200)
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "jitson/arrow.h"
#include "jitson/arrow.hpp"
#include "jitson/config.hpp"
#include "jitson/engine.hpp"
#include "jitson/error.hpp"
#include "jitson/jitson.h"
#include "jitson/topk.hpp"
#include "support/guard_pages.hpp"
#include "support/oracle.hpp"
#include "support/random_plans.hpp"

namespace jitson {
namespace {

using testsupport::env_u64;

// ---- The table the arrays are made of, and the oracle over it

struct Table {
  uint32_t bytes = 0;
  uint64_t n = 0;
  std::vector<uint8_t> records;
  std::vector<uint64_t> ids;   // the row id of row i
  std::vector<uint8_t> nulls;  // 1 = row i is null (in the values or in its record batch)
};

// Every non-null row within max_distance, ordered by (distance, row id), first top_k.
std::vector<Hit> expected(const Table &t, const ScanSpec &spec, const uint8_t *query) {
  return oracle::scan_with_ids(query, t.records.data(), t.n, t.bytes, spec.focus, spec.max_distance,
                               spec.top_k, t.ids, [&](uint64_t i) { return !t.nulls[i]; });
}

Table random_table(std::mt19937_64 &rng, uint32_t bytes, uint64_t n, const uint8_t *query,
                   bool sequential_ids, bool signed_ids) {
  Table t;
  t.bytes = bytes;
  t.n = n;
  t.records.resize(n * bytes);
  testsupport::fill_records(rng, query, t.records.data(), n, bytes);
  for (uint64_t i = 1; i < n; ++i)  // duplicates make ties, broken by row id
    if (rng() % 6 == 0) std::memcpy(&t.records[i * bytes], &t.records[rng() % i * bytes], bytes);
  t.ids.resize(n);
  if (sequential_ids) {
    std::iota(t.ids.begin(), t.ids.end(), rng() % 1000);
  } else {
    for (auto &id : t.ids) id = signed_ids ? rng() >> 1 : rng();  // sparse, unordered
  }
  t.nulls.assign(n, 0);
  const unsigned density = unsigned(rng() % 4);  // none, some, many, most
  for (auto &x : t.nulls) x = rng() % 8 < density * 2;
  return t;
}

std::string random_config(std::mt19937_64 &rng, uint32_t bits) {
  std::string c = R"({"version": 1, "record_bits": )" + std::to_string(bits);
  if (rng() % 3 != 0) c += R"(, "max_distance": )" + std::to_string(rng() % (bits / 2 + 2));
  c += R"(, "top_k": )" + std::to_string(1 + rng() % (rng() % 4 == 0 ? 200 : 12));
  const std::string focus = testsupport::random_focus(rng, bits);
  if (!focus.empty()) c += R"(, "focus": )" + focus;
  if (rng() % 4 == 0) c += R"(, "backend": "runtime")";
  return c + "}";
}

// ---- A hand-written Arrow producer: arrays and schemas own their memory through private_data
// and count their releases.

struct Counter {
  int released = 0;
};

struct ArrayData {
  std::vector<std::vector<uint8_t>> storage;
  std::vector<const void *> buffers;
  std::vector<ArrowArray *> children;  // owned; released with the parent, as the spec says
  Counter *counter = nullptr;
};

void release_array(ArrowArray *a) {
  auto *d = static_cast<ArrayData *>(a->private_data);
  for (ArrowArray *c : d->children) {
    if (c->release) c->release(c);
    delete c;
  }
  if (d->counter) ++d->counter->released;
  delete d;
  a->release = nullptr;
}

// A consumer-side view (a slice) of someone else's array: not released through this copy.
void release_nothing(ArrowArray *a) {
  a->release = nullptr;
}

struct SchemaData {
  std::string format, name;
  std::vector<ArrowSchema *> children;
  Counter *counter = nullptr;
};

void release_schema(ArrowSchema *s) {
  auto *d = static_cast<SchemaData *>(s->private_data);
  for (ArrowSchema *c : d->children) {
    if (c->release) c->release(c);
    delete c;
  }
  if (d->counter) ++d->counter->released;
  delete d;
  s->release = nullptr;
}

ArrowSchema make_schema(const std::string &format, const std::string &name = "",
                        std::vector<ArrowSchema> children = {}, Counter *counter = nullptr) {
  auto *d = new SchemaData{format, name, {}, counter};
  for (ArrowSchema &c : children) d->children.push_back(new ArrowSchema(c));
  ArrowSchema s{};
  s.format = d->format.c_str();
  s.name = d->name.c_str();
  s.flags = ARROW_FLAG_NULLABLE;
  s.n_children = int64_t(d->children.size());
  s.children = d->children.empty() ? nullptr : d->children.data();
  s.release = release_schema;
  s.private_data = d;
  return s;
}

// buffers[i] points into storage[i], or is NULL when null_buffer[i].
ArrowArray make_array(int64_t length, int64_t null_count, int64_t offset,
                      std::vector<std::vector<uint8_t>> storage, std::vector<bool> null_buffer = {},
                      std::vector<ArrowArray> children = {}, Counter *counter = nullptr) {
  auto *d = new ArrayData;
  d->storage = std::move(storage);
  d->counter = counter;
  for (size_t i = 0; i < d->storage.size(); ++i) {
    const bool null = i < null_buffer.size() && null_buffer[i];
    d->buffers.push_back(null ? nullptr : d->storage[i].data());
  }
  for (ArrowArray &c : children) d->children.push_back(new ArrowArray(c));
  ArrowArray a{};
  a.length = length;
  a.null_count = null_count;
  a.offset = offset;
  a.n_buffers = int64_t(d->buffers.size());
  a.n_children = int64_t(d->children.size());
  a.buffers = d->buffers.data();
  a.children = d->children.empty() ? nullptr : d->children.data();
  a.release = release_array;
  a.private_data = d;
  return a;
}

// An array and its schema, released at scope exit unless moved into a stream.
struct Arrow {
  ArrowSchema schema{};
  ArrowArray array{};
  Arrow() = default;
  Arrow(ArrowSchema s, ArrowArray a) : schema(s), array(a) {}
  Arrow(Arrow &&o) noexcept : schema(o.schema), array(o.array) {
    o.schema.release = nullptr;
    o.array.release = nullptr;
  }
  Arrow &operator=(Arrow &&) = delete;
  ~Arrow() {
    if (array.release) array.release(&array);
    if (schema.release) schema.release(&schema);
  }
  // Rows [offset, offset + length) of this array's rows, as a view sharing its buffers.
  ArrowArray slice(int64_t from, int64_t length) const {
    ArrowArray s = array;
    s.offset += from;
    s.length = length;
    if (s.null_count != 0) s.null_count = -1;  // 0 stays: the bitmap may say anything then
    s.release = release_nothing;
    return s;
  }
};

std::vector<uint8_t> random_bytes(std::mt19937_64 &rng, size_t n) {
  std::vector<uint8_t> v(n);
  for (auto &b : v) b = uint8_t(rng());
  return v;
}

enum class Kind { fixed, binary, large_binary, view };

const char *format_of(Kind kind) {
  return kind == Kind::binary ? "z" : kind == Kind::large_binary ? "Z" : "vz";  // not fixed
}

// How a records array lays out rows [a, b) of a table.
struct Layout {
  Kind kind = Kind::fixed;
  int64_t hidden = 0;  // junk rows before, hidden by the array's own offset
  int64_t lead = 0;    // junk rows before, hidden by an enclosing struct's offset
  bool validity = true;
  int null_length = 0;  // binary nulls: 0 bytes (0), record bytes (1) or random (2)
  // binary_view values: back to back in one data buffer in row order (0), over several data
  // buffers with gaps (1), in shuffled order (2).
  int view_spread = 0;
};

// The validity bitmap of hidden + lead junk rows (random bits) then rows with valid[i]; and the
// null count to report (exact, or -1 "unknown").
std::vector<uint8_t> bitmap(std::mt19937_64 &rng, int64_t junk, const std::vector<bool> &valid) {
  std::vector<uint8_t> bits = random_bytes(rng, size_t(junk + int64_t(valid.size()) + 7) / 8 + 1);
  for (size_t i = 0; i < valid.size(); ++i) {
    const size_t b = size_t(junk) + i;
    bits[b / 8] =
        uint8_t(valid[i] ? bits[b / 8] | (1u << (b % 8)) : bits[b / 8] & ~(1u << (b % 8)));
  }
  return bits;
}

// binary_view: 16-byte views (length, then the value inline up to 12 bytes, else prefix, data
// buffer index, offset) over data buffers laid out as l.view_spread says; the views of junk rows
// and of nulls are garbage (or zero), which a reader must never look at.
Arrow view_array(std::mt19937_64 &rng, const Table &t, uint64_t a, const std::vector<bool> &valid,
                 const Layout &l, std::vector<uint8_t> bits, bool no_bitmap, int64_t null_count,
                 Counter *counter) {
  const uint32_t bytes = t.bytes;
  const int64_t junk = l.hidden + l.lead;
  const int64_t rows = junk + int64_t(valid.size());
  std::vector<uint8_t> views(size_t(rows) * 16);
  std::vector<std::vector<uint8_t>> data(1);
  std::vector<int64_t> order(static_cast<size_t>(rows));
  std::iota(order.begin(), order.end(), 0);
  if (l.view_spread == 2) std::shuffle(order.begin(), order.end(), rng);
  for (const int64_t r : order) {
    uint8_t *view = &views[size_t(r) * 16];
    if (r < junk || !valid[size_t(r - junk)]) {
      if (rng() % 2) {
        const std::vector<uint8_t> garbage = random_bytes(rng, 16);
        std::memcpy(view, garbage.data(), 16);
      }
      continue;
    }
    const uint8_t *rec = &t.records[(a + uint64_t(r - junk)) * bytes];
    const int32_t len = int32_t(bytes);
    std::memcpy(view, &len, 4);
    if (bytes <= 12) {
      std::memcpy(view + 4, rec, bytes);  // inline
      continue;
    }
    std::memcpy(view + 4, rec, 4);  // the prefix
    if (l.view_spread == 1 && rng() % 4 == 0) data.emplace_back();
    if (l.view_spread == 1 && rng() % 3 == 0) {
      const std::vector<uint8_t> gap = random_bytes(rng, rng() % (2 * bytes));
      data.back().insert(data.back().end(), gap.begin(), gap.end());
    }
    const int32_t index = int32_t(data.size() - 1), at = int32_t(data.back().size());
    data.back().insert(data.back().end(), rec, rec + bytes);
    std::memcpy(view + 8, &index, 4);
    std::memcpy(view + 12, &at, 4);
  }
  std::vector<uint8_t> sizes(data.size() * 8);
  std::vector<std::vector<uint8_t>> storage{std::move(bits), std::move(views)};
  for (size_t i = 0; i < data.size(); ++i) {
    const int64_t size = int64_t(data[i].size());
    std::memcpy(&sizes[i * 8], &size, 8);
    storage.push_back(std::move(data[i]));
  }
  storage.push_back(std::move(sizes));
  return Arrow(make_schema("vz"), make_array(l.lead + int64_t(valid.size()), null_count, l.hidden,
                                             std::move(storage), {no_bitmap}, {}, counter));
}

// Rows [a, b) of t where null_here[i - a] as a values array (schema format included).
Arrow records_array(std::mt19937_64 &rng, const Table &t, uint64_t a, uint64_t b,
                    const std::vector<bool> &null_here, const Layout &l,
                    Counter *counter = nullptr) {
  const uint32_t bytes = t.bytes;
  const int64_t junk = l.hidden + l.lead;
  const int64_t n = int64_t(b - a);
  std::vector<bool> valid(static_cast<size_t>(n));
  int64_t nulls = 0;
  for (int64_t i = 0; i < n; ++i) {
    valid[size_t(i)] = !null_here[size_t(i)];
    nulls += !valid[size_t(i)];
  }
  std::vector<uint8_t> bits = bitmap(rng, junk, valid);
  const bool no_bitmap = nulls == 0 && (!l.validity || rng() % 2);
  const int64_t null_count = nulls == 0 ? (rng() % 2 ? 0 : -1) : (rng() % 2 ? nulls : -1);
  if (nulls == 0 && null_count == 0 && !no_bitmap) {
    // null_count 0: a consumer ignores the bitmap, so it may say anything.
    bits = random_bytes(rng, bits.size());
  }
  if (l.kind == Kind::view) {
    return view_array(rng, t, a, valid, l, std::move(bits), no_bitmap, null_count, counter);
  }
  if (l.kind == Kind::fixed) {
    std::vector<uint8_t> data = random_bytes(rng, size_t(junk) * bytes);
    data.insert(data.end(), t.records.begin() + int64_t(a * bytes),
                t.records.begin() + int64_t(b * bytes));
    // Null rows hold whatever the producer left there.
    for (int64_t i = 0; i < n; ++i)
      if (!valid[size_t(i)])
        for (uint32_t k = 0; k < bytes; ++k) data[size_t((junk + i) * bytes + k)] = uint8_t(rng());
    std::vector<uint8_t> tail = random_bytes(rng, rng() % 3 * bytes);
    data.insert(data.end(), tail.begin(), tail.end());
    return Arrow(make_schema("w:" + std::to_string(bytes)),
                 make_array(l.lead + n, null_count, l.hidden, {std::move(bits), std::move(data)},
                            {no_bitmap}, {}, counter));
  }
  // binary / large_binary: offsets then data, junk values first.
  std::vector<int64_t> offsets{int64_t(rng() % 5)};
  std::vector<uint8_t> data = random_bytes(rng, size_t(offsets[0]));
  // Values lie back to back (binary has no gaps): a null of another length ends a run.
  auto put = [&](const uint8_t *p, size_t len) {
    data.insert(data.end(), p, p + len);
    offsets.push_back(int64_t(data.size()));
  };
  for (int64_t i = 0; i < junk; ++i) {
    const std::vector<uint8_t> v = random_bytes(rng, bytes);
    put(v.data(), v.size());
  }
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t *rec = &t.records[(a + uint64_t(i)) * bytes];
    if (valid[size_t(i)]) {
      put(rec, bytes);
      continue;
    }
    const size_t len = l.null_length == 0 ? 0 : l.null_length == 1 ? bytes : rng() % (2 * bytes);
    const std::vector<uint8_t> v = random_bytes(rng, len);
    put(v.data(), v.size());
  }
  std::vector<uint8_t> off;
  if (l.kind == Kind::binary) {
    off.resize(offsets.size() * 4);
    for (size_t i = 0; i < offsets.size(); ++i) {
      const int32_t o = int32_t(offsets[i]);
      std::memcpy(&off[i * 4], &o, 4);
    }
  } else {
    off.resize(offsets.size() * 8);
    std::memcpy(off.data(), offsets.data(), off.size());
  }
  if (data.empty()) data.push_back(0);  // a valid pointer for an all-empty array
  return Arrow(
      make_schema(format_of(l.kind)),
      make_array(l.lead + n, null_count, l.hidden,
                 {std::move(bits), std::move(off), std::move(data)}, {no_bitmap}, {}, counter));
}

// Ids of rows [a, b) as an int64 ("l") or uint64 ("L") array with hidden + lead junk rows.
Arrow ids_array(std::mt19937_64 &rng, const Table &t, uint64_t a, uint64_t b, bool is_signed,
                int64_t hidden, int64_t lead) {
  const int64_t n = int64_t(b - a);
  std::vector<uint8_t> data(size_t(hidden + lead + n) * 8);
  for (int64_t i = 0; i < hidden + lead; ++i) {
    const uint64_t junk = rng() | (uint64_t{1} << 63);  // negative as int64: must not be read
    std::memcpy(&data[size_t(i) * 8], &junk, 8);
  }
  if (n > 0) std::memcpy(data.data() + (hidden + lead) * 8, t.ids.data() + a, size_t(n) * 8);
  std::vector<uint8_t> bits(size_t(hidden + lead + n + 7) / 8 + 1, 0xff);
  const bool with_bitmap = rng() % 2;
  return Arrow(make_schema(is_signed ? "l" : "L"),
               make_array(lead + n, 0, hidden, {std::move(bits), std::move(data)}, {!with_bitmap}));
}

Layout random_layout(std::mt19937_64 &rng) {
  Layout l;
  l.kind = Kind(rng() % 4);
  l.view_spread = int(rng() % 3);
  l.hidden = rng() % 2 ? 0 : int64_t(rng() % 20);
  l.validity = rng() % 2;
  l.null_length = int(rng() % 3);
  return l;
}

std::vector<uint64_t> random_cuts(std::mt19937_64 &rng, uint64_t n) {
  std::vector<uint64_t> cuts{0, n};
  const int pieces = int(rng() % 6);
  for (int i = 0; i < pieces; ++i) cuts.push_back(rng() % (n + 1));
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  return cuts;
}

uint32_t random_bits(std::mt19937_64 &rng) {
  static const uint32_t sizes[] = {64, 128, 256, 512, 576, 2048, 16384};
  return sizes[rng() % std::size(sizes)];
}

// Every record a binary_view array is fed as lies inside one of its data buffers, or inside its
// views buffer (inline values): read in place.
void expect_view_in_place(const arrow::Chunks &c, const ArrowArray &values, const Table &t,
                          const std::string &what) {
  const auto *d = static_cast<const ArrayData *>(values.private_data);
  auto inside = [&](const uint8_t *p, uint64_t n) {
    for (size_t b = 1; b + 1 < d->storage.size(); ++b) {
      const uint8_t *data = d->storage[b].data();
      if (p >= data && p + n * t.bytes <= data + d->storage[b].size()) return true;
    }
    return false;
  };
  for (const Chunk &chunk : c.chunks())
    EXPECT_TRUE(inside(chunk.records.data, chunk.records.n_records)) << what;
  for (const GatherChunk &g : c.gathers())
    for (uint64_t i = 0; i < g.n_records; ++i) EXPECT_TRUE(inside(g.records[i], 1)) << what;
}

// Every chunk's records lie inside the producer's data buffer and equal the table's rows.
void expect_in_place(const arrow::Chunks &c, const ArrowArray &values, Kind kind, const Table &t,
                     const std::string &what) {
  if (kind == Kind::view) return expect_view_in_place(c, values, t, what);
  EXPECT_TRUE(c.gathers().empty()) << what;
  const auto *data = static_cast<const uint8_t *>(values.buffers[kind == Kind::fixed ? 1 : 2]);
  const auto *d = static_cast<const ArrayData *>(values.private_data);
  const size_t size = d->storage[kind == Kind::fixed ? 1 : 2].size();
  for (const Chunk &chunk : c.chunks()) {
    const uint8_t *p = chunk.records.data;
    ASSERT_TRUE(p >= data && p + chunk.records.n_records * t.bytes <= data + size) << what;
    if (kind == Kind::fixed) {
      EXPECT_EQ(c.chunks().size(), 1u) << what;
      EXPECT_EQ(p, data + uint64_t(values.offset) * t.bytes) << what;
    }
  }
}

// ---- Single arrays, sliced, through the C++ and the C API

TEST(Arrow, ArraysSlicesNullsAndIdsEqualTheOracle) {
  const uint64_t cases = env_u64("JITSON_ARROW_CASES", 200);
  Engine engine;
  char err[512];
  jitson_engine *ce = jitson_engine_create(R"({"threads": 1})", err, sizeof err);
  ASSERT_NE(ce, nullptr) << err;
  int contiguous_binary = 0, contiguous_view = 0, scattered_view = 0;
  for (uint64_t seed = 9000; seed < 9000 + cases; ++seed) {
    std::mt19937_64 rng(seed);
    const uint32_t bits = random_bits(rng);
    const uint32_t bytes = bits / 8;
    const std::string cfg = random_config(rng, bits);
    const ScanSpec spec = parse_scan_config(cfg);
    const uint64_t n = rng() % (bits >= 16384 ? 200 : 1500);
    const uint64_t n_queries = 1 + rng() % 3;
    const std::vector<uint8_t> queries = random_bytes(rng, n_queries * bytes);
    const int ids_mode = int(rng() % 3);  // base_row + i, int64 ids, uint64 ids
    Table t = random_table(rng, bytes, n, queries.data(), ids_mode == 0, ids_mode == 1);
    const Layout l = random_layout(rng);
    std::vector<bool> nulls(t.nulls.begin(), t.nulls.end());
    Arrow values = records_array(rng, t, 0, n, nulls, l);
    Arrow ids = ids_mode ? ids_array(rng, t, 0, n, ids_mode == 1, int64_t(rng() % 4), 0) : Arrow();
    const bool c_api = rng() % 2;
    const std::string what = "seed " + std::to_string(seed) + " config " + cfg;

    std::unique_ptr<TopKAccumulator> acc;
    jitson_kernel *ck = nullptr;
    jitson_topk *ct = nullptr;
    if (c_api) {
      ck = jitson_compile(ce, cfg.data(), cfg.size(), err, sizeof err);
      ASSERT_NE(ck, nullptr) << err;
      ct = jitson_topk_create(ck, queries.data(), n_queries, err, sizeof err);
      ASSERT_NE(ct, nullptr) << err;
    } else {
      acc = std::make_unique<TopKAccumulator>(engine.compile(cfg), queries.data(), n_queries);
    }
    // Slices of the one array (consumer-side views of the producer's buffers), fed in any order.
    std::vector<uint64_t> cuts = random_cuts(rng, n);
    std::vector<std::pair<uint64_t, uint64_t>> pieces;
    for (size_t i = 0; i + 1 < cuts.size(); ++i) pieces.emplace_back(cuts[i], cuts[i + 1]);
    std::shuffle(pieces.begin(), pieces.end(), rng);
    for (const auto &[a, b] : pieces) {
      ArrowArray v = values.slice(int64_t(a), int64_t(b - a));
      ArrowArray ids_slice{};
      const ArrowSchema *ids_schema = ids_mode ? &ids.schema : nullptr;
      const ArrowArray *ids_ptr = nullptr;
      if (ids_mode) {
        ids_slice = ids.slice(int64_t(a), int64_t(b - a));
        ids_ptr = &ids_slice;
      }
      const uint64_t base = ids_mode ? 0 : t.ids[0] + a;
      const arrow::Chunks chunks = arrow::split(bytes, values.schema, v, ids_schema, ids_ptr, base);
      expect_in_place(chunks, v, l.kind, t, what);
      if (l.kind != Kind::fixed && l.kind != Kind::view && l.null_length == 1 && b > a) {
        EXPECT_EQ(chunks.chunks().size(), 1u) << what;  // back to back: one block, in place
        ++contiguous_binary;
      }
      const bool any_null = std::any_of(t.nulls.begin() + int64_t(a), t.nulls.begin() + int64_t(b),
                                        [](uint8_t x) { return x != 0; });
      if (l.kind == Kind::view && l.view_spread == 0 && bytes > 12 && !any_null && b > a) {
        EXPECT_EQ(chunks.chunks().size(), 1u) << what;  // one run in one buffer: one block
        EXPECT_TRUE(chunks.gathers().empty()) << what;
        ++contiguous_view;
      }
      if (l.kind == Kind::view && !chunks.gathers().empty()) ++scattered_view;
      if (c_api) {
        ASSERT_EQ(jitson_topk_feed_arrow(ct, &values.schema, &v, ids_schema, ids_ptr, base, err,
                                         sizeof err),
                  0)
            << err << " " << what;
      } else {
        arrow::feed(*acc, values.schema, v, ids_schema, ids_ptr, base);
      }
    }
    for (uint64_t q = 0; q < n_queries; ++q) {
      const std::vector<Hit> want = expected(t, spec, queries.data() + q * bytes);
      std::vector<Hit> got;
      if (c_api) {
        std::vector<jitson_hit> h(spec.top_k);
        const int64_t k = jitson_topk_result(ct, q, h.data(), h.size(), nullptr, err, sizeof err);
        ASSERT_GE(k, 0) << err;
        for (int64_t i = 0; i < k; ++i)
          got.push_back(Hit{h[size_t(i)].index, h[size_t(i)].distance, 0});
      } else {
        got = acc->hits(q);
      }
      ASSERT_EQ(got, want) << what << " query " << q << " n " << n << " kind " << int(l.kind)
                           << " pieces " << pieces.size();
    }
    jitson_topk_destroy(ct);
    jitson_kernel_release(ck);
  }
  jitson_engine_destroy(ce);
  EXPECT_GT(contiguous_binary, 0);
  EXPECT_GT(contiguous_view, 0);
  EXPECT_GT(scattered_view, 0);
}

// ---- Zero copy

// The kernel reads the producer's buffer: after the producer rewrites a record in place, the next
// feed sees the new bytes; the records a feed scans start at the producer's address.
TEST(Arrow, RecordsAreReadInPlace) {
  Engine engine;
  auto k = engine.compile(R"({"version": 1, "record_bits": 128, "top_k": 1})");
  std::mt19937_64 rng(1);
  Table t;
  t.bytes = 16;
  t.n = 64;
  t.records = random_bytes(rng, 64 * 16);
  const std::vector<uint8_t> q = random_bytes(rng, 16);
  t.nulls.assign(64, 0);
  t.ids.resize(64);
  for (Kind kind : {Kind::fixed, Kind::binary, Kind::large_binary}) {
    Layout l;
    l.kind = kind;
    l.hidden = 3;
    Arrow a = records_array(rng, t, 0, 64, std::vector<bool>(64, false), l);
    auto *data = const_cast<uint8_t *>(
        static_cast<const uint8_t *>(a.array.buffers[kind == Kind::fixed ? 1 : 2]));
    uint8_t *row40;
    if (kind == Kind::fixed) {
      row40 = data + (3 + 40) * 16;
    } else {
      int64_t o;
      if (kind == Kind::binary) {
        int32_t o32;
        std::memcpy(&o32, static_cast<const uint8_t *>(a.array.buffers[1]) + (3 + 40) * 4, 4);
        o = o32;
      } else {
        std::memcpy(&o, static_cast<const uint8_t *>(a.array.buffers[1]) + (3 + 40) * 8, 8);
      }
      row40 = data + o;
      // The C API says where the records are: the producer's data at row 0 of the array.
      int64_t first = 0;
      if (kind == Kind::binary) {
        int32_t o32;
        std::memcpy(&o32, static_cast<const uint8_t *>(a.array.buffers[1]) + 3 * 4, 4);
        first = o32;
      } else {
        std::memcpy(&first, static_cast<const uint8_t *>(a.array.buffers[1]) + 3 * 8, 8);
      }
      EXPECT_EQ(row40, data + first + 40 * 16);
    }
    const uint8_t *records = nullptr;
    uint64_t n_records = 0;
    char err[256];
    ASSERT_EQ(jitson_arrow_records(&a.schema, &a.array, 16, &records, &n_records, err, sizeof err),
              0)
        << err;
    EXPECT_EQ(n_records, 64u);
    EXPECT_EQ(records + 40 * 16, row40);
    EXPECT_EQ(arrow::records(a.schema, a.array, 16).data, records);

    TopKAccumulator before(k, q.data(), 1);
    arrow::feed(before, a.schema, a.array);
    EXPECT_NE(before.hits(0)[0].distance, 0u);
    std::memcpy(row40, q.data(), 16);  // the producer writes the query into row 40
    TopKAccumulator after(k, q.data(), 1);
    arrow::feed(after, a.schema, a.array);
    EXPECT_EQ(after.hits(0), (std::vector<Hit>{{40, 0, 0}}));
  }
}

// A fixed_size_binary array whose data ends flush against an inaccessible page, with the array's
// offset and length covering it to the last byte: the feed reads exactly the records, in place.
TEST(Arrow, FixedSizeBinaryFlushAgainstAGuardPage) {
  Engine engine;
  for (uint32_t bits : {64u, 576u, 16384u}) {
    const uint32_t bytes = bits / 8;
    auto k = engine.compile(R"({"version": 1, "record_bits": )" + std::to_string(bits) +
                            R"(, "top_k": 5})");
    const uint64_t n = 37, hidden = 5;
    testsupport::GuardedRegion region((n + hidden) * bytes);
    uint8_t *data = region.back((n + hidden) * bytes);
    std::mt19937_64 rng(bits);
    for (uint64_t i = 0; i < (n + hidden) * bytes; ++i) data[i] = uint8_t(rng());
    const std::vector<uint8_t> q = random_bytes(rng, bytes);
    ArrowSchema schema = make_schema("w:" + std::to_string(bytes));
    const void *buffers[2] = {nullptr, data};
    ArrowArray a{};
    a.length = int64_t(n);
    a.offset = int64_t(hidden);
    a.n_buffers = 2;
    a.buffers = buffers;
    a.release = release_nothing;  // the region owns the memory
    TopKAccumulator acc(k, q.data(), 1);
    const arrow::Chunks c = arrow::split(bytes, schema, a, nullptr, nullptr, 100);
    ASSERT_EQ(c.chunks().size(), 1u);
    EXPECT_EQ(c.chunks()[0].records.data, data + hidden * bytes);
    arrow::feed(acc, schema, a, nullptr, nullptr, 100);
    Table t;
    t.bytes = bytes;
    t.n = n;
    t.records.assign(data + hidden * bytes, data + (hidden + n) * bytes);
    t.ids.resize(n);
    std::iota(t.ids.begin(), t.ids.end(), 100);
    t.nulls.assign(n, 0);
    EXPECT_EQ(acc.hits(0), expected(t, k->spec(), q.data()));
    schema.release(&schema);
  }
}

// ---- Errors

struct ErrorCase {
  std::string want;  // a substring of the message
  std::function<void(Arrow &values)> mutate;
};

TEST(Arrow, MalformedArraysAreErrorsNamingTheProblem) {
  Engine engine;
  auto k = engine.compile(R"({"version": 1, "record_bits": 128, "top_k": 3})");
  std::mt19937_64 rng(2);
  Table t;
  t.bytes = 16;
  t.n = 20;
  t.records = random_bytes(rng, 20 * 16);
  t.ids.resize(20);
  t.nulls.assign(20, 0);
  const std::vector<uint8_t> q = random_bytes(rng, 16);
  auto fixed = [&] { return records_array(rng, t, 0, 20, std::vector<bool>(20, false), Layout{}); };
  auto binary = [&] {
    Layout l;
    l.kind = Kind::binary;
    return records_array(rng, t, 0, 20, std::vector<bool>(20, false), l);
  };
  auto expect_error = [&](Arrow &a, const std::string &want,
                          const ArrowSchema *ids_schema = nullptr,
                          const ArrowArray *ids = nullptr) {
    TopKAccumulator acc(k, q.data(), 1);
    try {
      arrow::feed(acc, a.schema, a.array, ids_schema, ids, 0);
      ADD_FAILURE() << "no error; wanted " << want;
    } catch (const Error &e) {
      EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
    EXPECT_TRUE(acc.hits(0).empty());  // validated whole: nothing was fed
    EXPECT_EQ(acc.stats(0).records, 0u);
  };
  {
    Arrow a(make_schema("i"), make_array(20, 0, 0, {{}, std::vector<uint8_t>(80)}));
    expect_error(a,
                 "values format 'i' (int32): expected fixed_size_binary w:16, binary, "
                 "large_binary or binary_view");
  }
  {
    Arrow a(make_schema("w:8"), make_array(20, 0, 0, {{}, std::vector<uint8_t>(160)}));
    expect_error(a, "values format 'w:8' (fixed_size_binary of 8 bytes): records are 16 bytes");
  }
  {
    Arrow a(make_schema("w:1x"), make_array(20, 0, 0, {{}, std::vector<uint8_t>(160)}));
    expect_error(a, "format 'w:1x' is malformed");
  }
  {
    Arrow a(make_schema("+s"), make_array(20, 0, 0, {{}}));
    expect_error(a, "format '+s' (struct)");
  }
  {
    // Row 17 is 7 bytes long: the binary array is rebuilt with a short value there.
    Table s = t;
    Layout l;
    l.kind = Kind::binary;
    std::vector<bool> nulls(20, false);
    nulls[17] = true;
    l.null_length = 0;
    Arrow a = records_array(rng, s, 0, 20, nulls, l);
    // Make row 17 valid again while it is 0 bytes long.
    auto *bits = const_cast<uint8_t *>(static_cast<const uint8_t *>(a.array.buffers[0]));
    if (bits) bits[17 / 8] |= uint8_t(1u << (17 % 8));
    a.array.null_count = 0;
    expect_error(a, "values row 17: value is 0 bytes; records are 16 bytes");
  }
  {
    Arrow a = fixed();
    a.array.offset = -1;
    expect_error(a, "values array: offset is -1 (negative)");
  }
  {
    Arrow a = fixed();
    a.array.length = -3;
    expect_error(a, "values array: length is -3 (negative)");
  }
  {
    Arrow a = fixed();
    a.array.n_buffers = 1;
    expect_error(a, "values array: n_buffers is 1; this type has 2 (validity, data)");
    a.array.n_buffers = 2;
  }
  {
    Arrow a = binary();
    a.array.n_buffers = 2;
    expect_error(a, "n_buffers is 2; this type has 3 (validity, offsets, data)");
    a.array.n_buffers = 3;
  }
  {
    Arrow a = fixed();
    a.array.buffers[1] = nullptr;
    expect_error(a, "values array: data buffer (buffers[1]) is NULL");
  }
  {
    Arrow a = binary();
    a.array.buffers[1] = nullptr;
    expect_error(a, "offsets buffer (buffers[1]) is NULL");
  }
  {
    Arrow a = fixed();
    a.array.null_count = 2;
    a.array.buffers[0] = nullptr;
    expect_error(a, "null_count is 2 but the validity buffer (buffers[0]) is NULL");
  }
  {
    // A released array and a released schema (the producer's release was called).
    Arrow a = fixed();
    ArrowArray released = a.array;
    released.release = nullptr;
    TopKAccumulator acc(k, q.data(), 1);
    try {
      arrow::feed(acc, a.schema, released);
      ADD_FAILURE();
    } catch (const Error &e) {
      EXPECT_STREQ(e.what(), "values array is released (release is NULL)");
    }
    ArrowSchema released_schema = a.schema;
    released_schema.release = nullptr;
    try {
      arrow::feed(acc, released_schema, a.array);
      ADD_FAILURE();
    } catch (const Error &e) {
      EXPECT_STREQ(e.what(), "values schema is released (release is NULL)");
    }
  }
  {
    // Ids: a null, a negative value, another length, another type.
    Arrow a = fixed();
    std::vector<uint8_t> idv(20 * 8, 0);
    const int64_t minus = -5;
    std::memcpy(&idv[3 * 8], &minus, 8);
    Arrow neg(make_schema("l"), make_array(20, 0, 0, {{}, idv}, {true}));
    expect_error(a, "ids row 3 is -5; row ids must be >= 0", &neg.schema, &neg.array);
    std::vector<uint8_t> bits(3, 0xff);
    bits[1] &= uint8_t(~(1u << 4));  // row 12 null
    Arrow with_null(make_schema("L"), make_array(20, 1, 0, {bits, idv}));
    expect_error(a, "ids row 12 is null", &with_null.schema, &with_null.array);
    Arrow short_ids(make_schema("L"), make_array(19, 0, 0, {{}, idv}, {true}));
    expect_error(a, "ids has 19 rows but the values have 20", &short_ids.schema, &short_ids.array);
    Arrow int32_ids(make_schema("i"), make_array(20, 0, 0, {{}, idv}, {true}));
    expect_error(a, "ids format 'i' (int32): expected int64 'l' or uint64 'L'", &int32_ids.schema,
                 &int32_ids.array);
    expect_error(a, "ids_schema and ids go together", &int32_ids.schema, nullptr);
  }
  {
    // A dictionary-encoded column.
    Arrow a = fixed();
    ArrowSchema dict = make_schema("w:16");
    a.schema.dictionary = &dict;
    expect_error(a, "values is dictionary-encoded");
    a.schema.dictionary = nullptr;
    dict.release(&dict);
  }
}

TEST(Arrow, RecordsOfArraysWithNullsAreErrors) {
  std::mt19937_64 rng(4);
  Table t;
  t.bytes = 16;
  t.n = 10;
  t.records = random_bytes(rng, 160);
  std::vector<bool> nulls(10, false);
  nulls[6] = true;
  Arrow with_null = records_array(rng, t, 0, 10, nulls, Layout{});
  with_null.array.null_count = 1;
  const uint8_t *records;
  uint64_t n;
  char err[256];
  EXPECT_EQ(
      jitson_arrow_records(&with_null.schema, &with_null.array, 16, &records, &n, err, sizeof err),
      -1);
  EXPECT_STREQ(err, "values row 6 is null; every row needs a value here");
  EXPECT_EQ(
      jitson_arrow_records(&with_null.schema, &with_null.array, 12, &records, &n, err, sizeof err),
      -1);
  EXPECT_NE(std::string(err).find("positive multiple of 8"), std::string::npos) << err;
  EXPECT_EQ(jitson_arrow_records(nullptr, &with_null.array, 16, &records, &n, err, sizeof err), -1);
  EXPECT_STREQ(err, "schema is NULL");
}

// ---- binary_view (Polars' Binary): hand-built views

// A binary_view array over caller-owned buffers: views (length, inline bytes or prefix, buffer
// index, offset) built from (buffer, offset) pairs; buffer -1 marks a null row.
struct ViewArray {
  std::vector<uint8_t> views, validity;
  std::vector<int64_t> sizes;
  std::vector<const void *> buffers;
  ArrowSchema schema{};
  ArrowArray array{};

  ViewArray(const std::vector<const uint8_t *> &data, const std::vector<int64_t> &data_sizes,
            const std::vector<std::pair<int32_t, int32_t>> &rows, int32_t len, int64_t offset = 0) {
    views.assign(rows.size() * 16, 0);
    validity.assign((rows.size() + 7) / 8, 0);
    int64_t nulls = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      uint8_t *v = &views[i * 16];
      const auto [buffer, at] = rows[i];
      if (buffer < 0) {
        ++nulls;
        std::memset(v, 0xee, 16);  // garbage: a null's view is never read
        continue;
      }
      validity[i / 8] |= uint8_t(1u << (i % 8));
      std::memcpy(v, &len, 4);
      std::memcpy(v + 8, &buffer, 4);
      std::memcpy(v + 12, &at, 4);
    }
    sizes = data_sizes;
    buffers.push_back(validity.data());
    buffers.push_back(views.data());
    for (const uint8_t *d : data) buffers.push_back(d);
    buffers.push_back(sizes.data());
    schema = make_schema("vz");
    array.length = int64_t(rows.size()) - offset;
    array.null_count = nulls;
    array.offset = offset;
    array.n_buffers = int64_t(buffers.size());
    array.buffers = buffers.data();
    array.release = release_nothing;  // this object owns the memory
  }
  ~ViewArray() { schema.release(&schema); }
  void set_view(size_t row, int32_t len, int32_t buffer, int32_t at) {
    std::memcpy(&views[row * 16], &len, 4);
    std::memcpy(&views[row * 16 + 8], &buffer, 4);
    std::memcpy(&views[row * 16 + 12], &at, 4);
  }
};

// Polars' layout (data buffers that double in size, values back to back in each) plus nulls,
// an offset and scattered values: long runs are fed in place as chunks, short ones and scattered
// values by pointer into the same buffers; the hits equal the oracle's; records() and
// copy_records() give the block or the rows in order.
TEST(ArrowView, RunsAreChunksAndTheRestIsReadByPointer) {
  Engine engine;
  auto k = engine.compile(R"({"version": 1, "record_bits": 256, "top_k": 20})");
  const uint32_t bytes = 32;
  std::mt19937_64 rng(41);
  const std::vector<uint8_t> q = random_bytes(rng, bytes);
  // Buffers of 4, 8, 16 and 32 records; 60 rows: 3 short runs of 2 (buffer 0, split by nulls
  // and a jump), then runs of 8, 16 and 28 records, then 2 rows pointing back into buffer 0.
  std::vector<std::vector<uint8_t>> data;
  for (int b = 0; b < 4; ++b) data.push_back(random_bytes(rng, (4u << b) * bytes));
  std::vector<std::pair<int32_t, int32_t>> rows = {{0, 0}, {0, 32}, {-1, 0}, {0, 96}, {0, 64}};
  for (int32_t i = 0; i < 8; ++i) rows.emplace_back(1, i * 32);
  for (int32_t i = 0; i < 16; ++i) rows.emplace_back(2, i * 32);
  for (int32_t i = 0; i < 28; ++i) rows.emplace_back(3, i * 32);
  rows.emplace_back(-1, 0);
  rows.emplace_back(0, 32);  // the same value as row 1
  rows.emplace_back(3, 31 * 32);
  std::vector<const uint8_t *> ptrs;
  std::vector<int64_t> sizes;
  for (const auto &d : data) {
    ptrs.push_back(d.data());
    sizes.push_back(int64_t(d.size()));
  }
  for (const int64_t offset : {int64_t{0}, int64_t{1}}) {
    ViewArray va(ptrs, sizes, rows, int32_t(bytes), offset);
    Table t;
    t.bytes = bytes;
    for (size_t i = size_t(offset); i < rows.size(); ++i) {
      const auto [b, at] = rows[i];
      t.nulls.push_back(b < 0);
      const uint8_t *p = b < 0 ? data[0].data() : data[size_t(b)].data() + at;
      t.records.insert(t.records.end(), p, p + bytes);
      t.ids.push_back(t.n++ + 1000);
    }
    const arrow::Chunks c = arrow::split(bytes, va.schema, va.array, nullptr, nullptr, 1000);
    // Runs of 8, 16 and 28 in place, the same bytes as the producer's.
    ASSERT_EQ(c.chunks().size(), 3u);
    EXPECT_EQ(c.chunks()[0].records.data, data[1].data());
    EXPECT_EQ(c.chunks()[0].base_row, 1000u + 5 - uint64_t(offset));
    EXPECT_EQ(c.chunks()[2].records.n_records, 28u);
    ASSERT_EQ(c.gathers().size(), 1u);
    const GatherChunk &g = c.gathers()[0];
    ASSERT_EQ(g.n_records, 6u - uint64_t(offset));
    EXPECT_EQ(g.records[g.n_records - 3], data[0].data() + 64);  // row 4, in place
    EXPECT_EQ(g.records[g.n_records - 2], data[0].data() + 32);  // row 58
    EXPECT_EQ(g.row_ids[g.n_records - 1], 1000u + 59 - uint64_t(offset));
    EXPECT_EQ(c.null_rows(), 2u);
    TopKAccumulator acc(k, q.data(), 1);
    c.feed(acc);
    EXPECT_EQ(acc.hits(0), expected(t, k->spec(), q.data()));
    char err[512];
    jitson_engine *ce = jitson_engine_create(nullptr, err, sizeof err);
    const std::string cfg = R"({"version": 1, "record_bits": 256, "top_k": 20})";
    jitson_kernel *ck = jitson_compile(ce, cfg.data(), cfg.size(), err, sizeof err);
    jitson_topk *ct = jitson_topk_create(ck, q.data(), 1, err, sizeof err);
    ASSERT_EQ(
        jitson_topk_feed_arrow(ct, &va.schema, &va.array, nullptr, nullptr, 1000, err, sizeof err),
        0)
        << err;
    jitson_hit h[20];
    ASSERT_EQ(jitson_topk_result(ct, 0, h, 20, nullptr, err, sizeof err), 20);
    for (size_t i = 0; i < 20; ++i) EXPECT_EQ(h[i].index, acc.hits(0)[i].index);
    // Not one block, and nulls: records() refuses, naming the first null row.
    const uint8_t *records;
    uint64_t n;
    EXPECT_EQ(jitson_arrow_records(&va.schema, &va.array, bytes, &records, &n, err, sizeof err),
              -1);
    EXPECT_STREQ(err, offset ? "values row 1 is null; every row needs a value here"
                             : "values row 2 is null; every row needs a value here");
    jitson_topk_destroy(ct);
    jitson_kernel_release(ck);
    jitson_engine_destroy(ce);
  }
  {
    // Without nulls: copy_records gives the rows in order; records() says the values lie apart
    // unless they are one run.
    std::vector<std::pair<int32_t, int32_t>> r2 = {{3, 64}, {0, 0}, {3, 0}, {2, 32}};
    ViewArray va(ptrs, sizes, r2, int32_t(bytes));
    const std::vector<uint8_t> copy = arrow::copy_records(va.schema, va.array, bytes);
    ASSERT_EQ(copy.size(), 4u * bytes);
    for (size_t i = 0; i < 4; ++i) {
      EXPECT_EQ(
          std::memcmp(&copy[i * bytes], data[size_t(r2[i].first)].data() + r2[i].second, bytes), 0);
    }
    try {
      arrow::records(va.schema, va.array, bytes);
      ADD_FAILURE();
    } catch (const Error &e) {
      EXPECT_NE(std::string(e.what()).find("do not lie back to back in one data buffer (0 runs, "
                                           "4 values apart)"),
                std::string::npos)
          << e.what();
    }
    std::vector<std::pair<int32_t, int32_t>> one_run = {{2, 64}, {2, 96}, {2, 128}};
    ViewArray run(ptrs, sizes, one_run, int32_t(bytes));
    const DatabaseView v = arrow::records(run.schema, run.array, bytes);
    EXPECT_EQ(v.data, data[2].data() + 64);
    EXPECT_EQ(v.n_records, 3u);
  }
}

// 8-byte records fit in a view: they are read from the views buffer itself, by pointer.
TEST(ArrowView, InlineRecordsOfEightBytes) {
  Engine engine;
  auto k = engine.compile(R"({"version": 1, "record_bits": 64, "top_k": 7})");
  std::mt19937_64 rng(43);
  const std::vector<uint8_t> q = random_bytes(rng, 8);
  Table t = random_table(rng, 8, 300, q.data(), true, true);
  Layout l;
  l.kind = Kind::view;
  l.hidden = 3;
  Arrow a = records_array(rng, t, 0, 300, std::vector<bool>(t.nulls.begin(), t.nulls.end()), l);
  const arrow::Chunks c = arrow::split(8, a.schema, a.array, nullptr, nullptr, t.ids[0]);
  EXPECT_TRUE(c.chunks().empty());
  const auto *views = static_cast<const uint8_t *>(a.array.buffers[1]);
  for (const GatherChunk &g : c.gathers())
    for (uint64_t i = 0; i < g.n_records; ++i)
      EXPECT_EQ((g.records[i] - views) % 16, 4);  // right after the view's length
  TopKAccumulator acc(k, q.data(), 1);
  c.feed(acc);
  EXPECT_EQ(acc.hits(0), expected(t, k->spec(), q.data()));
}

// Values flush against an inaccessible page: the last value ends on the buffer's last byte, and
// a view one byte past it is refused before anything is read.
TEST(ArrowView, ValuesFlushAgainstAGuardPage) {
  Engine engine;
  auto k = engine.compile(R"({"version": 1, "record_bits": 2048, "top_k": 3})");
  const uint32_t bytes = 256;
  testsupport::GuardedRegion region(10 * bytes);
  uint8_t *data = region.back(10 * bytes);
  std::mt19937_64 rng(47);
  for (uint32_t i = 0; i < 10 * bytes; ++i) data[i] = uint8_t(rng());
  std::vector<std::pair<int32_t, int32_t>> rows;
  for (int32_t i = 9; i >= 0; --i) rows.emplace_back(0, i * int32_t(bytes));  // reversed
  ViewArray va({data}, {10 * int64_t(bytes)}, rows, int32_t(bytes));
  const std::vector<uint8_t> q = random_bytes(rng, bytes);
  TopKAccumulator acc(k, q.data(), 1);
  arrow::feed(acc, va.schema, va.array);
  EXPECT_EQ(acc.stats(0).records, 10u);
  va.set_view(0, int32_t(bytes), 0, 9 * int32_t(bytes) + 1);
  try {
    arrow::feed(acc, va.schema, va.array);
    ADD_FAILURE();
  } catch (const Error &e) {
    EXPECT_STREQ(e.what(),
                 "values row 0: the value's bytes [2305, 2561) lie outside data buffer 0 "
                 "(buffers[2], 2560 bytes)");
  }
}

TEST(ArrowView, MalformedViewsAreErrorsNamingTheRow) {
  Engine engine;
  auto k = engine.compile(R"({"version": 1, "record_bits": 128, "top_k": 3})");
  std::mt19937_64 rng(45);
  const std::vector<uint8_t> q = random_bytes(rng, 16);
  const std::vector<uint8_t> d0 = random_bytes(rng, 64), d1 = random_bytes(rng, 48);
  const std::vector<std::pair<int32_t, int32_t>> rows = {{0, 0},  {0, 16}, {1, 0}, {1, 32},
                                                         {0, 48}, {-1, 0}, {1, 16}};
  auto expect_error = [&](const std::function<void(ViewArray &)> &mutate, const std::string &want,
                          int64_t offset = 0) {
    ViewArray va({d0.data(), d1.data()}, {64, 48}, rows, 16, offset);
    mutate(va);
    TopKAccumulator acc(k, q.data(), 1);
    try {
      arrow::feed(acc, va.schema, va.array);
      ADD_FAILURE() << "no error; wanted " << want;
    } catch (const Error &e) {
      EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
    EXPECT_EQ(acc.stats(0).records, 0u);  // validated whole: nothing was fed
  };
  {
    // Well-formed (the null row's view is garbage and never read): 6 records, 2 + 2 by pointer.
    ViewArray va({d0.data(), d1.data()}, {64, 48}, rows, 16);
    TopKAccumulator acc(k, q.data(), 1);
    arrow::feed(acc, va.schema, va.array);
    EXPECT_EQ(acc.stats(0).records, 6u);
  }
  using V = ViewArray;
  expect_error([](V &va) { va.set_view(3, 5, 0, 0); },
               "values row 3: value is 5 bytes; records are 16 bytes");  // inline, too short
  expect_error([](V &va) { va.set_view(2, -1, 0, 0); }, "values row 2: value is -1 bytes");
  expect_error([](V &va) { va.set_view(1, 17, 0, 0); }, "values row 1: value is 17 bytes");
  expect_error([](V &va) { va.set_view(4, 16, 2, 0); },
               "values row 4: the view names data buffer 2; the array has 2 (n_buffers 5)");
  expect_error([](V &va) { va.set_view(4, 16, -1, 0); }, "the view names data buffer -1;");
  expect_error([](V &va) { va.set_view(3, 16, 1, 40); },
               "values row 3: the value's bytes [40, 56) lie outside data buffer 1 (buffers[3], "
               "48 bytes)");
  expect_error([](V &va) { va.set_view(3, 16, 1, -16); }, "bytes [-16, 0) lie outside");
  expect_error([](V &va) { va.set_view(0, 16, 0, INT32_MAX); },
               "values row 0: the value's bytes [2147483647, 2147483663) lie outside");
  expect_error([](V &va) { va.set_view(3, 16, 1, 40); }, "values row 2: the value's bytes [40",
               1);  // rows are counted from the array's offset
  expect_error([](V &va) { va.buffers.back() = nullptr; },
               "values array: the data buffer sizes (buffers[4]) are NULL");
  expect_error([](V &va) { va.sizes[1] = -1; },
               "values array: data buffer 1 (buffers[3]) has size -1 (negative)");
  expect_error([](V &va) { va.buffers[3] = nullptr; },
               "values row 2: data buffer 1 (buffers[3]) is NULL");
  expect_error([](V &va) { va.buffers[1] = nullptr; }, "views buffer (buffers[1]) is NULL");
  expect_error([](V &va) { va.array.n_buffers = 2; },
               "values array: n_buffers is 2; this type has at least 3 (validity, views, data "
               "buffers, buffer sizes)");
  expect_error([](V &va) { va.array.n_buffers = 3; },
               "values row 0: the view names data buffer 0; the array has 0 (n_buffers 3)");
  expect_error([](V &va) { va.array.offset = INT64_MAX / 16; }, "overflows");
}

// ---- Queries from Arrow

TEST(Arrow, QueriesFromAnArray) {
  char err[256];
  jitson_engine *e = jitson_engine_create(nullptr, err, sizeof err);
  const std::string cfg = R"({"version": 1, "record_bits": 256, "top_k": 4})";
  jitson_kernel *k = jitson_compile(e, cfg.data(), cfg.size(), err, sizeof err);
  ASSERT_NE(k, nullptr) << err;
  std::mt19937_64 rng(8);
  Table queries;
  queries.bytes = 32;
  queries.n = 3;
  queries.records = random_bytes(rng, 96);
  std::vector<uint8_t> db(200 * 32);
  testsupport::fill_records(rng, queries.records.data(), db.data(), 200, 32);
  for (Kind kind : {Kind::fixed, Kind::binary, Kind::large_binary, Kind::view}) {
    Layout l;
    l.kind = kind;
    l.hidden = 2;
    l.view_spread = 2;  // shuffled: the queries are still copied in row order
    Arrow qa = records_array(rng, queries, 0, 3, std::vector<bool>(3, false), l);
    jitson_topk *from_arrow = jitson_topk_create_arrow(k, &qa.schema, &qa.array, err, sizeof err);
    ASSERT_NE(from_arrow, nullptr) << err;
    jitson_topk *plain = jitson_topk_create(k, queries.records.data(), 3, err, sizeof err);
    ASSERT_EQ(jitson_topk_feed(from_arrow, db.data(), 200, nullptr, 0, nullptr, err, sizeof err),
              0);
    ASSERT_EQ(jitson_topk_feed(plain, db.data(), 200, nullptr, 0, nullptr, err, sizeof err), 0);
    for (uint64_t q = 0; q < 3; ++q) {
      jitson_hit a[4], b[4];
      ASSERT_EQ(jitson_topk_result(from_arrow, q, a, 4, nullptr, err, sizeof err), 4);
      ASSERT_EQ(jitson_topk_result(plain, q, b, 4, nullptr, err, sizeof err), 4);
      EXPECT_EQ(std::memcmp(a, b, sizeof a), 0);
    }
    // A merge checks that the queries are the same bytes.
    EXPECT_EQ(jitson_topk_merge(from_arrow, plain, err, sizeof err), 0) << err;
    jitson_topk_destroy(from_arrow);
    jitson_topk_destroy(plain);

    std::vector<bool> nulls(3, false);
    nulls[2] = true;
    Arrow with_null = records_array(rng, queries, 0, 3, nulls, l);
    with_null.array.null_count = 1;
    EXPECT_EQ(jitson_topk_create_arrow(k, &with_null.schema, &with_null.array, err, sizeof err),
              nullptr);
    EXPECT_STREQ(err, "queries row 2 is null; every row needs a value here");
  }
  Arrow empty(make_schema("w:32"), make_array(0, 0, 0, {{}, {}}, {true, true}));
  EXPECT_EQ(jitson_topk_create_arrow(k, &empty.schema, &empty.array, err, sizeof err), nullptr);
  EXPECT_NE(std::string(err).find("n_queries is 0"), std::string::npos) << err;
  EXPECT_EQ(jitson_topk_create_arrow(nullptr, &empty.schema, &empty.array, err, sizeof err),
            nullptr);
  EXPECT_STREQ(err, "kernel is NULL");
  jitson_kernel_release(k);
  jitson_engine_destroy(e);
}

// ---- Streams

// A hand-written ArrowArrayStream handing out prepared batches, counting what it hands out and
// what comes back released.
struct TestStream {
  std::function<ArrowSchema()> schema;
  std::vector<ArrowArray> batches;
  size_t next = 0;
  int fail_schema = 0;      // errno get_schema returns, or 0
  int64_t fail_at = -1;     // get_next fails (EIO) when asked for this batch
  Counter schemas, arrays;  // releases seen
  int schemas_given = 0, arrays_given = 0, stream_released = 0;
  std::string last_error;

  static TestStream &of(ArrowArrayStream *s) { return *static_cast<TestStream *>(s->private_data); }
  static int get_schema(ArrowArrayStream *s, ArrowSchema *out) {
    TestStream &t = of(s);
    if (t.fail_schema) {
      t.last_error = "catalog unavailable";
      return t.fail_schema;
    }
    *out = t.schema();
    ++t.schemas_given;
    return 0;
  }
  static int get_next(ArrowArrayStream *s, ArrowArray *out) {
    TestStream &t = of(s);
    if (int64_t(t.next) == t.fail_at) {
      t.last_error = "disk on fire";
      return EIO;
    }
    if (t.next == t.batches.size()) {
      *out = ArrowArray{};  // released: the end
      return 0;
    }
    *out = t.batches[t.next];  // moved to the consumer
    t.batches[t.next++].release = nullptr;
    ++t.arrays_given;
    return 0;
  }
  static const char *get_last_error(ArrowArrayStream *s) { return of(s).last_error.c_str(); }
  static void release(ArrowArrayStream *s) {
    ++of(s).stream_released;
    s->release = nullptr;
  }
  ArrowArrayStream stream() {
    return ArrowArrayStream{get_schema, get_next, get_last_error, release, this};
  }
  ~TestStream() {
    for (ArrowArray &a : batches)
      if (a.release) a.release(&a);
  }
};

// Batches of a table: struct arrays {"label": int32, "fp": records, "id": int64} with struct
// offsets, struct-level nulls and child offsets.
struct StreamCase {
  Table t;
  std::vector<uint64_t> cuts;
  Layout layout;
  bool with_ids = false;
};

ArrowSchema batch_schema(Kind kind, uint32_t bytes, Counter *counter) {
  const std::string f = kind == Kind::fixed ? "w:" + std::to_string(bytes) : format_of(kind);
  std::vector<ArrowSchema> children;
  children.push_back(make_schema("i", "label"));
  children.push_back(make_schema(f, "fp"));
  children.push_back(make_schema("l", "id"));
  return make_schema("+s", "", std::move(children), counter);
}

// Rows [a, b) as a struct batch; nulls split between the struct level and the fp column.
ArrowArray struct_batch(std::mt19937_64 &rng, const Table &t, uint64_t a, uint64_t b,
                        const Layout &base, Counter *counter) {
  const int64_t n = int64_t(b - a);
  const int64_t lead = rng() % 2 ? 0 : int64_t(rng() % 5);  // the struct's own offset
  Layout l = base;
  l.lead = lead;
  std::vector<bool> top_valid(static_cast<size_t>(n)), child_null(static_cast<size_t>(n));
  int64_t top_nulls = 0;
  for (int64_t i = 0; i < n; ++i) {
    const bool null = t.nulls[a + uint64_t(i)];
    const bool at_top = null && rng() % 2;
    top_valid[size_t(i)] = !at_top;
    top_nulls += at_top;
    child_null[size_t(i)] = null && !at_top;
  }
  Arrow fp = records_array(rng, t, a, b, child_null, l);
  Arrow id = ids_array(rng, t, a, b, true, int64_t(rng() % 3), lead);
  std::vector<uint8_t> labels(size_t(lead + n + int64_t(rng() % 4)) * 4);
  Arrow label(make_schema("i"), make_array(int64_t(labels.size() / 4), 0, 0, {{}, labels}, {true}));
  std::vector<ArrowArray> children{label.array, fp.array, id.array};
  label.array.release = fp.array.release = id.array.release = nullptr;  // owned by the batch
  std::vector<uint8_t> bits = bitmap(rng, lead, top_valid);
  const bool no_bitmap = top_nulls == 0 && rng() % 2;
  return make_array(n, top_nulls ? top_nulls : 0, lead, {std::move(bits)}, {no_bitmap},
                    std::move(children), counter);
}

TEST(ArrowStream, RecordBatchesEqualTheOracleAndAreReleasedOnce) {
  const uint64_t cases = env_u64("JITSON_ARROW_CASES", 200);
  char err[512];
  jitson_engine *ce = jitson_engine_create(R"({"threads": 1})", err, sizeof err);
  for (uint64_t seed = 12000; seed < 12000 + cases; ++seed) {
    std::mt19937_64 rng(seed);
    const uint32_t bits = random_bits(rng);
    const uint32_t bytes = bits / 8;
    const std::string cfg = random_config(rng, bits);
    const ScanSpec spec = parse_scan_config(cfg);
    const uint64_t n = rng() % (bits >= 16384 ? 200 : 1200);
    const std::vector<uint8_t> queries = random_bytes(rng, bytes);
    const bool with_ids = rng() % 2;
    Table t = random_table(rng, bytes, n, queries.data(), !with_ids, true);
    if (!with_ids) std::iota(t.ids.begin(), t.ids.end(), uint64_t{0});  // stream positions
    Layout l = random_layout(rng);
    const std::vector<uint64_t> cuts = random_cuts(rng, n);
    TestStream ts;
    ts.schema = [&] { return batch_schema(l.kind, bytes, &ts.schemas); };
    for (size_t i = 0; i + 1 < cuts.size(); ++i)
      ts.batches.push_back(struct_batch(rng, t, cuts[i], cuts[i + 1], l, &ts.arrays));
    if (rng() % 3 == 0) ts.batches.push_back(struct_batch(rng, t, n, n, l, &ts.arrays));
    const std::string what = "seed " + std::to_string(seed) + " config " + cfg;
    ArrowArrayStream s = ts.stream();
    jitson_kernel *ck = jitson_compile(ce, cfg.data(), cfg.size(), err, sizeof err);
    ASSERT_NE(ck, nullptr) << err;
    jitson_topk *ct = jitson_topk_create(ck, queries.data(), 1, err, sizeof err);
    ASSERT_EQ(
        jitson_topk_feed_arrow_stream(ct, &s, "fp", with_ids ? "id" : nullptr, err, sizeof err), 0)
        << err << " " << what;
    std::vector<jitson_hit> h(spec.top_k);
    const int64_t k = jitson_topk_result(ct, 0, h.data(), h.size(), nullptr, err, sizeof err);
    std::vector<Hit> got;
    for (int64_t i = 0; i < k; ++i)
      got.push_back(Hit{h[size_t(i)].index, h[size_t(i)].distance, 0});
    ASSERT_EQ(got, expected(t, spec, queries.data())) << what;
    EXPECT_EQ(ts.arrays_given, int(ts.batches.size())) << what;
    EXPECT_EQ(ts.arrays.released, ts.arrays_given) << what;
    EXPECT_EQ(ts.schemas_given, 1) << what;
    EXPECT_EQ(ts.schemas.released, 1) << what;
    EXPECT_EQ(ts.stream_released, 0) << what;  // the stream stays the caller's
    s.release(&s);
    jitson_topk_destroy(ct);
    jitson_kernel_release(ck);
  }
  jitson_engine_destroy(ce);
}

// A stream whose type is the records type itself (not a struct), column NULL.
TEST(ArrowStream, AStreamOfRecordArrays) {
  Engine engine;
  auto k = engine.compile(R"({"version": 1, "record_bits": 512, "max_distance": 250})");
  std::mt19937_64 rng(21);
  const std::vector<uint8_t> q = random_bytes(rng, 64);
  for (Kind kind : {Kind::fixed, Kind::binary, Kind::large_binary, Kind::view}) {
    Table t = random_table(rng, 64, 500, q.data(), true, true);
    std::iota(t.ids.begin(), t.ids.end(), uint64_t{0});
    Layout l = random_layout(rng);
    l.kind = kind;
    TestStream ts;
    ts.schema = [&] {
      return make_schema(kind == Kind::fixed ? "w:64" : format_of(kind), "", {}, &ts.schemas);
    };
    for (uint64_t a = 0; a < 500; a += 128) {
      const uint64_t b = std::min<uint64_t>(a + 128, 500);
      std::vector<bool> nulls(t.nulls.begin() + int64_t(a), t.nulls.begin() + int64_t(b));
      Arrow batch = records_array(rng, t, a, b, nulls, l, &ts.arrays);
      ts.batches.push_back(batch.array);
      batch.array.release = nullptr;
    }
    ArrowArrayStream s = ts.stream();
    TopKAccumulator acc(k, q.data(), 1);
    EXPECT_EQ(arrow::feed_stream(acc, s, nullptr), 500u);
    EXPECT_EQ(acc.hits(0), expected(t, k->spec(), q.data()));
    EXPECT_EQ(ts.arrays.released, 4);
    EXPECT_EQ(ts.schemas.released, 1);
    s.release(&s);
  }
}

// The between-batches hook (Python checks Ctrl-C there): called after each batch, before the
// next get_next; what it throws ends the feed with every batch and the schema released, and the
// batches before stay fed.
TEST(ArrowStream, BetweenBatchesHookCanStopTheFeed) {
  Engine engine;
  auto k = engine.compile(R"({"version": 1, "record_bits": 256, "top_k": 3})");
  std::mt19937_64 rng(33);
  const std::vector<uint8_t> q = random_bytes(rng, 32);
  Table t = random_table(rng, 32, 100, q.data(), true, true);
  std::fill(t.nulls.begin(), t.nulls.end(), 0);
  Layout l;
  l.kind = Kind::view;
  l.view_spread = 1;
  for (const int stop_at : {0, 2}) {  // 0: never stop
    TestStream ts;
    ts.schema = [&ts] { return batch_schema(Kind::view, 32, &ts.schemas); };
    for (uint64_t a = 0; a < 100; a += 25)
      ts.batches.push_back(struct_batch(rng, t, a, a + 25, l, &ts.arrays));
    ArrowArrayStream s = ts.stream();
    TopKAccumulator acc(k, q.data(), 1);
    int calls = 0;
    auto hook = [&] {
      if (++calls == stop_at) throw std::runtime_error("interrupted");
    };
    if (stop_at == 0) {
      EXPECT_EQ(arrow::feed_stream(acc, s, "fp", nullptr, hook), 100u);
      EXPECT_EQ(calls, 4);  // before batches 1, 2, 3 and before the end
    } else {
      EXPECT_THROW(arrow::feed_stream(acc, s, "fp", nullptr, hook), std::runtime_error);
      EXPECT_EQ(ts.arrays_given, 2);
      EXPECT_EQ(acc.stats(0).records, 50u);
    }
    EXPECT_EQ(ts.arrays.released, ts.arrays_given);
    EXPECT_EQ(ts.schemas.released, 1);
    s.release(&s);
  }
}

TEST(ArrowStream, ErrorsReleaseWhatWasObtained) {
  Engine engine;
  auto k = engine.compile(R"({"version": 1, "record_bits": 128, "top_k": 3})");
  std::mt19937_64 rng(31);
  const std::vector<uint8_t> q = random_bytes(rng, 16);
  Table t = random_table(rng, 16, 100, q.data(), true, true);
  std::fill(t.nulls.begin(), t.nulls.end(), 0);
  Layout l;
  l.kind = Kind::binary;
  auto make = [&](TestStream &ts) {
    ts.schema = [&ts] { return batch_schema(Kind::binary, 16, &ts.schemas); };
    for (uint64_t a = 0; a < 100; a += 25)
      ts.batches.push_back(struct_batch(rng, t, a, a + 25, l, &ts.arrays));
  };
  char err[512];
  jitson_engine *ce = jitson_engine_create(nullptr, err, sizeof err);
  const std::string cfg = R"({"version": 1, "record_bits": 128, "top_k": 3})";
  jitson_kernel *ck = jitson_compile(ce, cfg.data(), cfg.size(), err, sizeof err);
  jitson_topk *ct = jitson_topk_create(ck, q.data(), 1, err, sizeof err);
  ASSERT_NE(ct, nullptr) << err;

  auto run = [&](TestStream &ts, const char *column, const char *id_column) {
    ArrowArrayStream s = ts.stream();
    const int rc = jitson_topk_feed_arrow_stream(ct, &s, column, id_column, err, sizeof err);
    EXPECT_EQ(ts.arrays.released, ts.arrays_given) << err;  // every batch released once
    EXPECT_EQ(ts.schemas.released, ts.schemas_given) << err;
    EXPECT_EQ(ts.stream_released, 0);
    s.release(&s);
    return rc;
  };
  {
    TestStream ts;
    make(ts);
    EXPECT_EQ(run(ts, "fingerprint", nullptr), -1);
    EXPECT_STREQ(err, "the stream has no column 'fingerprint'; its columns: 'label', 'fp', 'id'");
    EXPECT_EQ(ts.arrays_given, 0);
  }
  {
    TestStream ts;
    make(ts);
    EXPECT_EQ(run(ts, nullptr, nullptr), -1);
    EXPECT_NE(std::string(err).find("column is NULL but the stream's batches are structs with "
                                    "columns 'label', 'fp', 'id'"),
              std::string::npos)
        << err;
  }
  {
    TestStream ts;
    make(ts);
    EXPECT_EQ(run(ts, "label", nullptr), -1);
    EXPECT_NE(std::string(err).find("column 'label' format 'i' (int32)"), std::string::npos) << err;
  }
  {
    TestStream ts;
    make(ts);
    EXPECT_EQ(run(ts, "fp", "label"), -1);
    EXPECT_NE(std::string(err).find("id column 'label' format 'i' (int32): expected int64"),
              std::string::npos)
        << err;
  }
  {
    TestStream ts;
    make(ts);
    ts.fail_schema = EINVAL;
    EXPECT_EQ(run(ts, "fp", nullptr), -1);
    EXPECT_NE(std::string(err).find("stream get_schema failed (error 22"), std::string::npos)
        << err;
    EXPECT_NE(std::string(err).find("catalog unavailable"), std::string::npos) << err;
  }
  {
    TestStream ts;
    make(ts);
    ts.fail_at = 2;
    jitson_topk_reset(ct);
    EXPECT_EQ(run(ts, "fp", nullptr), -1);
    EXPECT_NE(std::string(err).find("stream get_next (batch 2) failed (error 5"), std::string::npos)
        << err;
    EXPECT_NE(std::string(err).find(": disk on fire"), std::string::npos) << err;
    EXPECT_EQ(ts.arrays_given, 2);
    jitson_stats stats;
    jitson_hit h[3];
    ASSERT_GE(jitson_topk_result(ct, 0, h, 3, &stats, err, sizeof err), 0);
    EXPECT_EQ(stats.records, 50u);  // the batches before the failure stay fed
  }
  {
    // A value of another length in batch 3, row 17 of the batch: stream row 92.
    TestStream ts;
    make(ts);
    ArrowArray &batch = ts.batches[3];
    ArrowArray *fp = batch.children[1];
    const int64_t at = fp->offset + batch.offset + 17;
    auto *offsets = const_cast<int32_t *>(static_cast<const int32_t *>(fp->buffers[1]));
    offsets[at + 1] -= 9;  // row 17 is 7 bytes, row 18 25
    EXPECT_EQ(run(ts, "fp", nullptr), -1);
    EXPECT_STREQ(err, "column 'fp' row 92 (batch 3): value is 7 bytes; records are 16 bytes");
    EXPECT_EQ(ts.arrays_given, 4);
  }
  {
    // A released child column inside a batch.
    TestStream ts;
    make(ts);
    ArrowArray *fp = ts.batches[1].children[1];
    fp->release = nullptr;
    void *fp_data = fp->private_data;  // freed below: the batch's release skips a released child
    EXPECT_EQ(run(ts, "fp", nullptr), -1);
    EXPECT_STREQ(err, "column 'fp' array (batch 1) is released (release is NULL)");
    ArrowArray orphan{};
    orphan.private_data = fp_data;
    release_array(&orphan);
  }
  {
    // A released stream, a NULL stream.
    TestStream ts;
    ArrowArrayStream s = ts.stream();
    s.release = nullptr;
    EXPECT_EQ(jitson_topk_feed_arrow_stream(ct, &s, "fp", nullptr, err, sizeof err), -1);
    EXPECT_STREQ(err, "stream is released (release is NULL)");
    EXPECT_EQ(jitson_topk_feed_arrow_stream(ct, nullptr, "fp", nullptr, err, sizeof err), -1);
    EXPECT_STREQ(err, "stream is NULL");
    EXPECT_EQ(jitson_topk_feed_arrow_stream(nullptr, &s, "fp", nullptr, err, sizeof err), -1);
    EXPECT_STREQ(err, "accumulator is NULL");
  }
  jitson_topk_destroy(ct);
  jitson_kernel_release(ck);
  jitson_engine_destroy(ce);
}

}  // namespace
}  // namespace jitson
