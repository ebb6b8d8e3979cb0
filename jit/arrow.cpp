// Arrow C data interface arrays and streams of records fed to the top-k accumulator in place: see
// jitson/arrow.hpp and jitson/arrow.h.
#include "jitson/arrow.hpp"

#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "jitson/engine.hpp"
#include "jitson/error.hpp"

namespace jitson::arrow {

namespace {

[[noreturn]] void invalid(const std::string &message) {
  throw Error(ErrorKind::invalid_argument, message);
}

// Producer text (formats, column names) quoted in a message: at most 64 bytes of it.
std::string quoted(const char *text) {
  const std::string_view s(text);
  return s.size() > 64 ? fmt::format("'{}...'", s.substr(0, 64)) : fmt::format("'{}'", s);
}

std::string row_name(const RowNames &n, uint64_t i) {
  std::string s = fmt::format("{} row {}", n.what, n.first_row + i);
  if (n.batch >= 0) s += fmt::format(" (batch {})", n.batch);
  return s;
}

// The array as a whole in messages: "values" or "column 'fp' (batch 3)".
std::string array_name(const RowNames &n) {
  return n.batch >= 0 ? fmt::format("{} (batch {})", n.what, n.batch) : n.what;
}

// The type a format string means, for messages ("int32", "fixed_size_binary(8)").
std::string type_name(std::string_view f) {
  static const struct {
    const char *format, *name;
  } names[] = {{"n", "null"},
               {"b", "bool"},
               {"c", "int8"},
               {"C", "uint8"},
               {"s", "int16"},
               {"S", "uint16"},
               {"i", "int32"},
               {"I", "uint32"},
               {"l", "int64"},
               {"L", "uint64"},
               {"e", "float16"},
               {"f", "float32"},
               {"g", "float64"},
               {"z", "binary"},
               {"Z", "large_binary"},
               {"u", "utf8"},
               {"U", "large_utf8"},
               {"vz", "binary_view"},
               {"vu", "utf8_view"},
               {"+s", "struct"},
               {"+l", "list"},
               {"+L", "large_list"},
               {"+m", "map"},
               {"+vl", "list_view"},
               {"+vL", "large_list_view"},
               {"+r", "run_end_encoded"}};
  for (const auto &n : names)
    if (f == n.format) return n.name;
  if (f.starts_with("w:")) return fmt::format("fixed_size_binary({})", f.substr(2));
  if (f.starts_with("+w:")) return fmt::format("fixed_size_list({})", f.substr(3));
  if (f.starts_with("d:")) return "decimal";
  if (f.starts_with("ts")) return "timestamp";
  if (f.starts_with("td")) return "date";
  if (f.starts_with("tt")) return "time";
  if (f.starts_with("tD")) return "duration";
  if (f.starts_with("ti")) return "interval";
  if (f.starts_with("+u")) return "union";
  return "unknown type";
}

enum class Kind { fixed, binary, large_binary, view };

// Checks a schema of records of record_bytes bytes and says which value type it is.
Kind value_kind(const ArrowSchema &s, uint32_t record_bytes, const std::string &what) {
  if (!s.release) invalid(what + " schema is released (release is NULL)");
  if (!s.format) invalid(what + " schema has no format (format is NULL)");
  const std::string_view f = s.format;
  const std::string expected = fmt::format(
      "expected fixed_size_binary w:{}, binary, large_binary or binary_view", record_bytes);
  if (s.dictionary) {
    invalid(fmt::format("{} is dictionary-encoded (format {} with a dictionary): {}", what,
                        quoted(s.format), expected));
  }
  if (f == "z") return Kind::binary;
  if (f == "Z") return Kind::large_binary;
  if (f == "vz") return Kind::view;
  if (f.starts_with("w:")) {
    const std::string_view digits = f.substr(2);
    uint64_t width = 0;
    bool ok = !digits.empty() && digits.size() <= 10;
    for (char c : digits) {
      ok = ok && c >= '0' && c <= '9';
      width = width * 10 + uint64_t(c - '0');
    }
    if (!ok)
      invalid(fmt::format("{} format {} is malformed: {}", what, quoted(s.format), expected));
    if (width != record_bytes) {
      invalid(fmt::format(
          "{} format {} (fixed_size_binary of {} bytes): records are {} bytes "
          "(record_bits {}); {}",
          what, quoted(s.format), width, record_bytes, uint64_t(record_bytes) * 8, expected));
    }
    return Kind::fixed;
  }
  invalid(fmt::format("{} format {} ({}): {}", what, quoted(s.format), type_name(f), expected));
}

// The part of an array a caller sees: a struct's offset applies to its children on top of their
// own, so a child's rows are [child.offset + parent.offset, + parent.length).
struct View {
  const ArrowArray *a = nullptr;
  int64_t offset = 0;
  int64_t length = 0;
};

// The structural rules every array must follow before any of its buffers is read. variadic: the
// type has n_buffers or more (binary_view: its data buffers are counted by the array).
void check_array(const ArrowArray *a, const std::string &what, int64_t n_buffers,
                 const char *buffers_are, int64_t n_children = 0, bool variadic = false) {
  if (!a) invalid(what + " array is NULL");
  if (!a->release) invalid(what + " array is released (release is NULL)");
  if (a->length < 0) invalid(fmt::format("{} array: length is {} (negative)", what, a->length));
  if (a->offset < 0) invalid(fmt::format("{} array: offset is {} (negative)", what, a->offset));
  if (a->offset > std::numeric_limits<int64_t>::max() - a->length) {
    invalid(fmt::format("{} array: offset {} + length {} overflows", what, a->offset, a->length));
  }
  if (a->null_count < -1) {
    invalid(fmt::format("{} array: null_count is {} (-1 or more)", what, a->null_count));
  }
  if (variadic ? a->n_buffers < n_buffers : a->n_buffers != n_buffers) {
    invalid(fmt::format("{} array: n_buffers is {}; this type has {}{} ({})", what, a->n_buffers,
                        variadic ? "at least " : "", n_buffers, buffers_are));
  }
  if (!a->buffers) invalid(what + " array: buffers is NULL");
  if (a->n_children != n_children) {
    invalid(fmt::format("{} array: n_children is {}; this type has {}", what, a->n_children,
                        n_children));
  }
  if (n_children > 0 && !a->children) invalid(what + " array: children is NULL");
  if (a->dictionary)
    invalid(what + " array has a dictionary but its type is not dictionary-encoded");
}

// A validity bitmap seen from row 0 of a view; no bitmap: every row is valid.
struct Validity {
  const uint8_t *bits = nullptr;
  int64_t offset = 0;
  bool valid(uint64_t i) const {
    if (!bits) return true;
    const uint64_t b = uint64_t(offset) + i;
    return (bits[b >> 3] >> (b & 7)) & 1;
  }
};

// Buffer 0 of a view; the spec lets a producer leave it NULL only when there are no nulls, and
// lets a consumer ignore it when null_count is 0.
Validity validity(const View &v, const std::string &what) {
  const ArrowArray &a = *v.a;
  if (a.null_count == 0) return {};
  const auto *bits = static_cast<const uint8_t *>(a.buffers[0]);
  if (!bits) {
    if (a.null_count > 0) {
      invalid(fmt::format("{} array: null_count is {} but the validity buffer (buffers[0]) is NULL",
                          what, a.null_count));
    }
    return {};  // null_count unknown (-1) and no bitmap: no nulls
  }
  return {bits, v.offset};
}

// Row ids are int64 (never negative) or uint64; returns the format.
std::string_view check_ids_schema(const ArrowSchema &s, const std::string &what) {
  if (!s.release) invalid(what + " schema is released (release is NULL)");
  if (!s.format) invalid(what + " schema has no format (format is NULL)");
  const std::string_view f = s.format;
  if (f != "l" && f != "L") {
    invalid(fmt::format("{} format {} ({}): expected int64 'l' or uint64 'L'", what,
                        quoted(s.format), type_name(f)));
  }
  return f;
}

// One array of records being cut into chunks.
struct Source {
  uint32_t record_bytes = 0;
  const ArrowSchema *schema = nullptr;
  View values;
  Validity parent;  // the validity of an enclosing struct (record batch), or none
  const ArrowSchema *ids_schema = nullptr;
  View ids;  // ids.a null: no id column
  uint64_t base_row = 0;
  RowNames names;
  std::string ids_what = "ids";
  bool nulls_are_errors = false;  // queries, records(): every row must have a value
};

}  // namespace

struct ChunkBuilder {
  const Source &src;
  Chunks out;
  const uint64_t *ids = nullptr;  // row id of row i: ids[i], or base_row + i
  Validity valid;
  // Values fed by pointer (binary_view), with their row ids, in row order.
  std::vector<const uint8_t *> scattered;
  std::vector<uint64_t> scattered_ids;

  explicit ChunkBuilder(const Source &s) : src(s) {}

  bool is_null(uint64_t i) const { return !valid.valid(i) || !src.parent.valid(i); }
  bool may_have_nulls() const { return valid.bits || src.parent.bits; }

  void null_row(uint64_t i) {
    if (src.nulls_are_errors) {
      invalid(row_name(src.names, i) + " is null; every row needs a value here");
    }
    ++out.nulls_;
  }

  // Rows [first, first + n) whose records lie back to back at records.
  void add(const uint8_t *records, uint64_t first, uint64_t n) {
    if (n == 0) return;
    Chunk c;
    c.records = DatabaseView::rows(records, n, src.record_bytes);
    if (ids) {
      c.row_ids = ids + first;
    } else {
      c.base_row = src.base_row + first;
    }
    std::vector<uint8_t> skip;
    for (uint64_t i = 0; may_have_nulls() && i < n; ++i) {
      if (!is_null(first + i)) continue;
      if (skip.empty()) skip.assign((n + 7) / 8, 0);
      skip[i >> 3] |= uint8_t(1u << (i & 7));
    }
    if (!skip.empty()) {
      out.skips_.push_back(std::move(skip));
      // The inner vector's heap buffer does not move when skips_ grows or out is moved.
      c.skip = out.skips_.back().data();
    }
    out.chunks_.push_back(c);
  }

  void load_ids() {
    const std::string what = array_name({src.ids_what, 0, src.names.batch});
    const std::string_view f = check_ids_schema(*src.ids_schema, what);
    const View &v = src.ids;
    if (v.length != src.values.length) {
      invalid(
          fmt::format("{} has {} rows but the values have {}", what, v.length, src.values.length));
    }
    if (v.length == 0) return;
    const auto *data = static_cast<const uint8_t *>(v.a->buffers[1]);
    if (!data) invalid(what + " array: data buffer (buffers[1]) is NULL");
    if (uint64_t(v.offset + v.length) > uint64_t(std::numeric_limits<int64_t>::max()) / 8) {
      invalid(fmt::format("{} array: offset {} + length {} overflows", what, v.offset, v.length));
    }
    const uint8_t *p = data + uint64_t(v.offset) * 8;
    RowNames names = src.names;
    names.what = src.ids_what;
    const Validity nulls = validity(v, what);
    for (int64_t i = 0; i < v.length; ++i) {
      if (!nulls.valid(uint64_t(i))) {
        invalid(row_name(names, uint64_t(i)) + " is null; every row needs an id");
      }
    }
    if (f == "l") {
      for (int64_t i = 0; i < v.length; ++i) {
        int64_t id;
        std::memcpy(&id, p + i * 8, 8);  // any alignment
        if (id < 0) invalid(fmt::format("{} is {}; row ids must be >= 0", row_name(names, i), id));
      }
    }
    if (reinterpret_cast<uintptr_t>(p) % alignof(uint64_t) == 0) {
      // Aligned, and an int64 buffer may be read as uint64: signed and unsigned variants of a
      // type may alias, and every value was just checked to be >= 0 (same bits).
      ids = reinterpret_cast<const uint64_t *>(p);
    } else {
      out.ids_.resize(size_t(v.length));  // a misaligned producer buffer: copy the ids only
      std::memcpy(out.ids_.data(), p, size_t(v.length) * 8);
      ids = out.ids_.data();
    }
  }

  void fixed() {
    const View &v = src.values;
    const uint64_t n = uint64_t(v.length);
    if (n == 0) return;
    const auto *data = static_cast<const uint8_t *>(v.a->buffers[1]);
    if (!data) invalid(array_name(src.names) + " array: data buffer (buffers[1]) is NULL");
    if (uint64_t(v.offset) + n > uint64_t(std::numeric_limits<int64_t>::max()) / src.record_bytes) {
      invalid(fmt::format("{} array: offset {} + length {} of {}-byte values overflows",
                          array_name(src.names), v.offset, n, src.record_bytes));
    }
    for (uint64_t i = 0; may_have_nulls() && i < n; ++i)
      if (is_null(i)) null_row(i);
    // In place: row i of the view is at data + (offset + i) * width, as the spec lays it out.
    add(data + uint64_t(v.offset) * src.record_bytes, 0, n);
  }

  template <class Offset>
  void binary() {
    const View &v = src.values;
    const uint64_t n = uint64_t(v.length);
    if (n == 0) return;
    const auto *offsets = static_cast<const uint8_t *>(v.a->buffers[1]);
    const auto *data = static_cast<const uint8_t *>(v.a->buffers[2]);
    if (!offsets) invalid(array_name(src.names) + " array: offsets buffer (buffers[1]) is NULL");
    if (uint64_t(v.offset) + n + 1 > uint64_t(std::numeric_limits<int64_t>::max()) / 8) {
      invalid(fmt::format("{} array: offset {} + length {} overflows", array_name(src.names),
                          v.offset, n));
    }
    // Offsets are read with memcpy: a producer's buffer may be misaligned.
    auto offset_at = [&](uint64_t i) {
      Offset o;
      std::memcpy(&o, offsets + (uint64_t(v.offset) + i) * sizeof(Offset), sizeof o);
      return int64_t(o);
    };
    const int64_t width = src.record_bytes;
    uint64_t run_first = 0, run_n = 0;
    int64_t run_start = 0;
    int64_t start = offset_at(0);
    for (uint64_t i = 0; i < n; ++i) {
      const int64_t end = offset_at(i + 1);
      if (start < 0 || end < start) {
        invalid(fmt::format("{}: offsets {} then {} (offsets must not decrease or be negative)",
                            row_name(src.names, i), start, end));
      }
      const bool null = is_null(i);
      if (null) null_row(i);
      if (!null && end - start != width) {
        invalid(fmt::format("{}: value is {} bytes; records are {} bytes", row_name(src.names, i),
                            end - start, width));
      }
      if (end - start == width) {
        // A value of record size (a null one too: its skip bit drops it) continues the run when
        // it starts where the run's last value ends.
        if (run_n > 0 && start == run_start + int64_t(run_n) * width) {
          ++run_n;
        } else {
          flush(data, run_start, run_first, run_n);
          run_first = i;
          run_start = start;
          run_n = 1;
        }
      } else {
        flush(data, run_start, run_first, run_n);  // a null of another length is never read
        run_n = 0;
      }
      start = end;
    }
    flush(data, run_start, run_first, run_n);
  }

  // binary_view ("vz"): 16-byte views, each a length (int32) then either the value itself (up to
  // 12 bytes, "inline") or a 4-byte prefix, a data buffer index and an offset (int32 each); the
  // data buffers are buffers[2 .. n_buffers - 2] and buffers[n_buffers - 1] holds their sizes
  // (int64 each). Values that follow each other in one data buffer are fed in place as chunks, the
  // others by pointer (a gather feed): nothing is copied either way. The prefix is not compared
  // with the data: reading it would cost a pass over every record before the scan.
  void view() {
    const View &v = src.values;
    const ArrowArray &a = *v.a;
    const std::string what = array_name(src.names);
    const int64_t n_data = a.n_buffers - 3;  // check_array: n_buffers >= 3
    const int64_t sizes_at = a.n_buffers - 1;
    const auto *size_buffer = static_cast<const uint8_t *>(a.buffers[sizes_at]);
    if (n_data > 0 && !size_buffer) {
      invalid(
          fmt::format("{} array: the data buffer sizes (buffers[{}]) are NULL", what, sizes_at));
    }
    std::vector<int64_t> sizes(static_cast<size_t>(n_data));
    // memcpy: the producer's int64 buffer may be misaligned.
    if (n_data > 0) std::memcpy(sizes.data(), size_buffer, sizes.size() * sizeof(int64_t));
    for (int64_t b = 0; b < n_data; ++b) {
      if (sizes[size_t(b)] < 0) {
        invalid(fmt::format("{} array: data buffer {} (buffers[{}]) has size {} (negative)", what,
                            b, b + 2, sizes[size_t(b)]));
      }
    }
    const uint64_t n = uint64_t(v.length);
    if (n == 0) return;
    const auto *views = static_cast<const uint8_t *>(a.buffers[1]);
    if (!views) invalid(what + " array: views buffer (buffers[1]) is NULL");
    if (uint64_t(v.offset) + n > uint64_t(std::numeric_limits<int64_t>::max()) / 16) {
      invalid(fmt::format("{} array: offset {} + length {} overflows", what, v.offset, n));
    }
    const uint8_t *first_view = views + uint64_t(v.offset) * 16;
    const int64_t width = src.record_bytes;
    // The current run: rows [run_first, run_first + run_n) back to back from byte run_at of data
    // buffer run_buffer.
    uint64_t run_first = 0, run_n = 0;
    int64_t run_buffer = -1, run_at = 0;
    const uint8_t *run_data = nullptr;
    for (uint64_t i = 0; i < n; ++i) {
      if (is_null(i)) {
        null_row(i);  // a null's view may hold anything: it is never read
        end_run(run_data, run_first, run_n, n);
        run_n = 0;
        continue;
      }
      const uint8_t *view = first_view + i * 16;
      int32_t len, buffer, at;
      std::memcpy(&len, view, 4);  // memcpy: the spec's 16-byte alignment is not trusted
      if (len != width) {
        invalid(fmt::format("{}: value is {} bytes; records are {} bytes", row_name(src.names, i),
                            len, width));
      }
      if (width <= 12) {
        gather(view + 4, i);  // inline: the value follows its length inside the view
        continue;
      }
      std::memcpy(&buffer, view + 8, 4);
      std::memcpy(&at, view + 12, 4);
      if (buffer < 0 || buffer >= n_data) {
        invalid(fmt::format("{}: the view names data buffer {}; the array has {} (n_buffers {})",
                            row_name(src.names, i), buffer, n_data, a.n_buffers));
      }
      if (at < 0 || at + width > sizes[size_t(buffer)]) {
        invalid(fmt::format(
            "{}: the value's bytes [{}, {}) lie outside data buffer {} (buffers[{}], {} bytes)",
            row_name(src.names, i), at, at + width, buffer, buffer + 2, sizes[size_t(buffer)]));
      }
      const auto *data = static_cast<const uint8_t *>(a.buffers[2 + buffer]);
      if (!data) {
        invalid(fmt::format("{}: data buffer {} (buffers[{}]) is NULL", row_name(src.names, i),
                            buffer, buffer + 2));
      }
      if (run_n > 0 && buffer == run_buffer && at == run_at + int64_t(run_n) * width) {
        ++run_n;
        continue;
      }
      end_run(run_data, run_first, run_n, n);
      run_first = i;
      run_n = 1;
      run_buffer = buffer;
      run_at = at;
      run_data = data + at;
    }
    end_run(run_data, run_first, run_n, n);
    if (scattered.empty()) return;
    GatherChunk g;
    g.n_records = scattered.size();
    // Moving a vector into another keeps its heap buffer, so these pointers stay valid.
    out.gather_records_.push_back(std::move(scattered));
    out.gather_ids_.push_back(std::move(scattered_ids));
    g.records = out.gather_records_.back().data();
    g.row_ids = out.gather_ids_.back().data();
    out.gathers_.push_back(g);
  }

  // A feed call per query costs about as much as scanning a few records: shorter runs of
  // binary_view values are fed by pointer with the scattered ones (see view()).
  static constexpr uint64_t kMinRun = 8;

  // Rows [first, first + n) back to back at data: a chunk when long enough or when they are the
  // whole array (arrow::records gives those as one block), else by pointer.
  void end_run(const uint8_t *data, uint64_t first, uint64_t n, uint64_t rows) {
    if (n == 0) return;
    if (n >= kMinRun || n == rows) {
      add(data, first, n);
      return;
    }
    for (uint64_t j = 0; j < n; ++j) gather(data + j * src.record_bytes, first + j);
  }

  void gather(const uint8_t *record, uint64_t row) {
    scattered.push_back(record);
    scattered_ids.push_back(ids ? ids[row] : src.base_row + row);
  }

  void flush(const uint8_t *data, int64_t start, uint64_t first, uint64_t n) {
    if (n == 0) return;
    if (!data) invalid(array_name(src.names) + " array: data buffer (buffers[2]) is NULL");
    add(data + start, first, n);
  }

  Chunks build() {
    const Kind kind = value_kind(*src.schema, src.record_bytes, array_name(src.names));
    const std::string what = array_name(src.names);
    if (kind == Kind::fixed) {
      check_array(src.values.a, what, 2, "validity, data");
    } else if (kind == Kind::view) {
      check_array(src.values.a, what, 3, "validity, views, data buffers, buffer sizes", 0, true);
    } else {
      check_array(src.values.a, what, 3, "validity, offsets, data");
    }
    valid = validity(src.values, what);
    if (src.ids.a || src.ids_schema) {
      if (!src.ids.a || !src.ids_schema) {
        invalid("ids_schema and ids go together: give both or neither");
      }
      check_array(src.ids.a, array_name({src.ids_what, 0, src.names.batch}), 2, "validity, data");
      load_ids();
    }
    out.rows_ = uint64_t(src.values.length);
    switch (kind) {
      case Kind::fixed:
        fixed();
        break;
      case Kind::binary:
        binary<int32_t>();
        break;
      case Kind::large_binary:
        binary<int64_t>();
        break;
      case Kind::view:
        view();
        break;
    }
    return std::move(out);
  }
};

namespace {

// The view of a top-level array: its own offset and length (checked by check_array later; a
// null array is reported there).
View whole(const ArrowArray *a) {
  return a ? View{a, a->offset, a->length} : View{};
}

}  // namespace

Chunks split(uint32_t record_bytes, const ArrowSchema &values_schema, const ArrowArray &values,
             const ArrowSchema *ids_schema, const ArrowArray *ids, uint64_t base_row,
             const RowNames &names) {
  Source s;
  s.record_bytes = record_bytes;
  s.schema = &values_schema;
  s.values = whole(&values);
  s.ids_schema = ids_schema;
  s.ids = whole(ids);
  s.base_row = base_row;
  s.names = names;
  return ChunkBuilder(s).build();
}

void Chunks::feed(TopKAccumulator &acc) const {
  for (const Chunk &chunk : chunks_) acc.feed(chunk);
  for (const GatherChunk &g : gathers_) acc.feed(g);
}

void feed(TopKAccumulator &acc, const ArrowSchema &values_schema, const ArrowArray &values,
          const ArrowSchema *ids_schema, const ArrowArray *ids, uint64_t base_row) {
  split(acc.kernel().plan().record_bytes, values_schema, values, ids_schema, ids, base_row)
      .feed(acc);
}

namespace {

// What the stream gave us, released however we leave (the spec: the consumer releases every
// schema and array it obtained, independently of the stream).
struct OwnedSchema {
  ArrowSchema s{};
  OwnedSchema() = default;
  OwnedSchema(const OwnedSchema &) = delete;
  OwnedSchema &operator=(const OwnedSchema &) = delete;
  ~OwnedSchema() {
    if (s.release) s.release(&s);
  }
};

struct OwnedArray {
  ArrowArray a{};
  OwnedArray() = default;
  OwnedArray(const OwnedArray &) = delete;
  OwnedArray &operator=(const OwnedArray &) = delete;
  ~OwnedArray() {
    if (a.release) a.release(&a);
  }
};

[[noreturn]] void stream_failed(ArrowArrayStream &stream, int rc, const std::string &call) {
  const char *text = stream.get_last_error ? stream.get_last_error(&stream) : nullptr;
  invalid(fmt::format("stream {} failed (error {}: {}){}{}", call, rc, std::strerror(rc),
                      text ? ": " : "", text ? text : ""));
}

std::string column_list(const ArrowSchema &s) {
  std::string out;
  for (int64_t i = 0; i < s.n_children; ++i) {
    const ArrowSchema *c = s.children[i];
    if (!out.empty()) out += ", ";
    out += c && c->name ? quoted(c->name) : std::string("(unnamed)");
  }
  return out.empty() ? "none" : out;
}

int64_t find_column(const ArrowSchema &s, const char *name, const char *role) {
  for (int64_t i = 0; i < s.n_children; ++i) {
    const ArrowSchema *c = s.children[i];
    if (c && c->name && std::strcmp(c->name, name) == 0) return i;
  }
  invalid(
      fmt::format("the stream has no {} {}; its columns: {}", role, quoted(name), column_list(s)));
}

}  // namespace

uint64_t feed_stream(TopKAccumulator &acc, ArrowArrayStream &stream, const char *column,
                     const char *id_column) {
  return feed_stream(acc, stream, column, id_column, {});
}

uint64_t feed_stream(TopKAccumulator &acc, ArrowArrayStream &stream, const char *column,
                     const char *id_column, const std::function<void()> &between_batches) {
  if (!stream.release) invalid("stream is released (release is NULL)");
  if (!stream.get_schema || !stream.get_next) {
    invalid("stream has no get_schema or get_next callback");
  }
  const uint32_t record_bytes = acc.kernel().plan().record_bytes;
  OwnedSchema schema;
  if (const int rc = stream.get_schema(&stream, &schema.s)) stream_failed(stream, rc, "get_schema");
  const ArrowSchema &s = schema.s;
  if (!s.release) invalid("stream get_schema gave a released schema (release is NULL)");
  if (!s.format) invalid("stream schema has no format (format is NULL)");
  const bool is_struct = std::string_view(s.format) == "+s";
  if (is_struct && s.n_children > 0 && !s.children) invalid("stream schema: children is NULL");
  int64_t values_at = -1, ids_at = -1;
  std::string values_what = "values", ids_what = "id column";
  if (column) {
    if (!is_struct) {
      invalid(
          fmt::format("column {} given but the stream's type is {} ({}), not a struct of "
                      "columns; give column NULL",
                      quoted(column), quoted(s.format), type_name(s.format)));
    }
    values_at = find_column(s, column, "column");
    values_what = "column " + quoted(column);
  } else if (is_struct) {
    invalid(
        fmt::format("column is NULL but the stream's batches are structs with columns {}; "
                    "name the column of records",
                    column_list(s)));
  }
  if (id_column) {
    if (!is_struct) invalid("id_column given but the stream's batches are not structs of columns");
    ids_at = find_column(s, id_column, "id column");
    ids_what = "id column " + quoted(id_column);
    check_ids_schema(*s.children[ids_at], ids_what);
  }
  const ArrowSchema &values_schema = is_struct ? *s.children[values_at] : s;
  // Fail before reading a batch when the type is wrong.
  value_kind(values_schema, record_bytes, values_what);

  uint64_t rows = 0;
  for (int64_t b = 0;; ++b) {
    if (b > 0 && between_batches) between_batches();  // may throw: nothing of ours is held
    OwnedArray batch;
    if (const int rc = stream.get_next(&stream, &batch.a)) {
      stream_failed(stream, rc, fmt::format("get_next (batch {})", b));
    }
    if (!batch.a.release) break;  // the end of the stream
    Source src;
    src.record_bytes = record_bytes;
    src.schema = &values_schema;
    src.base_row = rows;
    src.names = RowNames{values_what, rows, b};
    const ArrowArray &a = batch.a;
    if (is_struct) {
      const std::string what = fmt::format("batch {}", b);
      check_array(&a, what, 1, "validity", s.n_children);
      const View top{&a, a.offset, a.length};
      src.parent = validity(top, what);
      auto child = [&](int64_t at, const std::string &name) {
        const ArrowArray *c = a.children[at];
        if (!c) invalid(fmt::format("{} array (batch {}) is NULL", name, b));
        if (!c->release) {
          invalid(fmt::format("{} array (batch {}) is released (release is NULL)", name, b));
        }
        if (c->length < a.offset + a.length) {
          invalid(
              fmt::format("{} array (batch {}): length {} is less than the batch's offset {} "
                          "+ length {}",
                          name, b, c->length, a.offset, a.length));
        }
        if (c->offset > std::numeric_limits<int64_t>::max() - a.offset - a.length) {
          invalid(fmt::format("{} array (batch {}): offset {} overflows", name, b, c->offset));
        }
        return View{c, c->offset + a.offset, a.length};
      };
      src.values = child(values_at, values_what);
      if (ids_at >= 0) {
        src.ids_schema = s.children[ids_at];
        src.ids = child(ids_at, ids_what);
        src.ids_what = ids_what;
      }
    } else {
      src.values = View{&a, a.offset, a.length};
    }
    const Chunks c = ChunkBuilder(src).build();
    c.feed(acc);
    rows += c.rows();
  }
  return rows;
}

std::vector<uint8_t> copy_records(const ArrowSchema &schema, const ArrowArray &array,
                                  uint32_t record_bytes, const RowNames &names) {
  if (record_bytes == 0 || record_bytes % 8 != 0) {
    invalid(fmt::format("record_bytes is {}; records are a positive multiple of 8 bytes",
                        record_bytes));
  }
  Source src;
  src.record_bytes = record_bytes;
  src.schema = &schema;
  src.values = whole(&array);
  src.names = names;
  src.names.first_row = 0;  // base_row 0 and no ids: a record's row id is its row
  src.nulls_are_errors = true;
  const Chunks c = ChunkBuilder(src).build();
  // Without nulls every row is in exactly one chunk (rows base_row ..) or gather (row row_ids[i]).
  std::vector<uint8_t> out(c.rows() * record_bytes);
  for (const Chunk &chunk : c.chunks()) {
    const DatabaseView &v = chunk.records;
    std::memcpy(out.data() + chunk.base_row * record_bytes, v.data, v.n_records * record_bytes);
  }
  for (const GatherChunk &g : c.gathers()) {
    for (uint64_t i = 0; i < g.n_records; ++i)
      std::memcpy(out.data() + g.row_ids[i] * record_bytes, g.records[i], record_bytes);
  }
  return out;
}

TopKAccumulator make_topk(std::shared_ptr<const Kernel> kernel, const ArrowSchema &schema,
                          const ArrowArray &array) {
  if (!kernel) invalid("kernel is null");
  const uint32_t bytes = kernel->plan().record_bytes;
  RowNames names;
  names.what = "queries";
  // Queries are copied anyway (the accumulator keeps its own), in row order.
  const std::vector<uint8_t> queries = copy_records(schema, array, bytes, names);
  return TopKAccumulator(std::move(kernel), queries.data(), queries.size() / bytes);
}

DatabaseView records(const ArrowSchema &schema, const ArrowArray &array, uint32_t record_bytes) {
  if (record_bytes == 0 || record_bytes % 8 != 0) {
    invalid(fmt::format("record_bytes is {}; records are a positive multiple of 8 bytes",
                        record_bytes));
  }
  Source src;
  src.record_bytes = record_bytes;
  src.schema = &schema;
  src.values = whole(&array);
  src.nulls_are_errors = true;
  const Chunks c = ChunkBuilder(src).build();
  if (c.chunks().empty() && c.gathers().empty()) {
    return DatabaseView::rows(nullptr, 0, record_bytes);
  }
  if (c.chunks().size() != 1 || !c.gathers().empty()) {
    // Only binary_view values can lie apart: without nulls every value has record size, binary
    // values lie back to back and fixed_size_binary is one block by definition.
    uint64_t scattered = 0;
    for (const GatherChunk &g : c.gathers()) scattered += g.n_records;
    invalid(fmt::format(
        "values: the binary_view values do not lie back to back in one data buffer ({} runs, "
        "{} values apart), so they are not one block of records; feed them to an accumulator "
        "(read in place) or copy them (jitson::arrow::copy_records)",
        c.chunks().size(), scattered));
  }
  return c.chunks()[0].records;
}

}  // namespace jitson::arrow
