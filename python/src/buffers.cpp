// Python memory as jitson sees it: buffer-protocol views (zero-copy, validated) and Arrow arrays
// and streams moved out of PyCapsules (the Arrow PyCapsule interface).
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "common.hpp"
#include "jitson/arrow.hpp"
#include "jitson/error.hpp"

namespace jitson::py {

void value_error(const std::string &message) {
  throw nb::value_error(message.c_str());
}

Buffer::Buffer(nb::handle object, bool writable, const char *what) : what_(what) {
  if (!PyObject_CheckBuffer(object.ptr())) {
    value_error(std::string(what) + ": expected a numpy array or a buffer-protocol object, got " +
                nb::type_name(object.type()).c_str());
  }
  const int flags = PyBUF_STRIDES | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
  if (PyObject_GetBuffer(object.ptr(), &view_, flags) != 0) {
    // The exporter's own reason (e.g. "buffer is not writable") as a ValueError naming the
    // argument: a read-only output is a bad argument, not a type confusion.
    nb::python_error err;
    value_error(std::string(what) + ": " + (writable ? "needs a writable buffer: " : "") +
                err.what());
  }
  held_ = true;
  const char *f = view_.format ? view_.format : "B";
  if (*f == '@' || *f == '=' || *f == '<' || *f == '!' || *f == '>') {
    // '>' and '!' are big-endian: a multi-byte element would be read wrongly.
    if ((*f == '>' || *f == '!') && view_.itemsize > 1) {
      value_error(std::string(what) + ": big-endian data is not supported");
    }
    ++f;
  }
  code_ = (f[0] != 0 && f[1] == 0) ? f[0] : 0;  // multi-char formats match nothing
}

Buffer::~Buffer() {
  if (held_) PyBuffer_Release(&view_);
}

std::string Buffer::dtype_name() const {
  switch (code_) {
    case 'B':
      return "uint8";
    case 'b':
      return "int8";
    case 'c':
      return "bytes";
    case '?':
      return "bool";
    case 'H':
      return "uint16";
    case 'h':
      return "int16";
    case 'I':
      return "uint32";
    case 'i':
      return "int32";
    case 'L':
    case 'Q':
      return "uint64";
    case 'l':
    case 'q':
      return "int64";
    case 'e':
      return "float16";
    case 'f':
      return "float32";
    case 'd':
      return "float64";
    default:
      return std::string("format '") + (view_.format ? view_.format : "?") + "'";
  }
}

bool Buffer::c_contiguous() const {
  return PyBuffer_IsContiguous(&view_, 'C') != 0;
}

void Buffer::require_code(char want, const char *name) const {
  if (code_ == want) return;
  value_error(std::string(what_) + ": expected dtype " + name + ", got " + dtype_name());
}

void Buffer::require_c_contiguous() const {
  if (c_contiguous()) return;
  value_error(std::string(what_) +
              ": the array is not C-contiguous; jitson never copies silently: pass "
              "numpy.ascontiguousarray(x)");
}

RecordBuffer record_buffer(nb::handle object, uint32_t record_bytes, const char *what) {
  RecordBuffer r;
  r.buffer = std::make_unique<Buffer>(object, false, what);
  const Buffer &b = *r.buffer;
  if (b.code() == '?') {
    value_error(std::string(what) +
                ": got a bool array; records are bit-packed uint8: use jitson.pack_bits(x)");
  }
  if (b.code() != 'B' && b.code() != 'c') {
    value_error(std::string(what) + ": expected dtype uint8 (bit-packed records), got " +
                b.dtype_name());
  }
  b.require_c_contiguous();
  const uint64_t len = static_cast<uint64_t>(b.view().len);
  if (b.ndim() == 2) {
    const auto width = static_cast<uint64_t>(b.shape(1));
    if (record_bytes != 0 && width != record_bytes) {
      value_error(std::string(what) + ": rows are " + std::to_string(width) +
                  " bytes; the kernel's records are " + std::to_string(record_bytes) + " bytes (" +
                  std::to_string(record_bytes * 8) + " bits)");
    }
    if (width == 0 || width % 8 != 0) {
      value_error(std::string(what) + ": rows are " + std::to_string(width) +
                  " bytes; records are a whole number of 64-bit words (a multiple of 8 bytes)");
    }
    r.record_bytes = static_cast<uint32_t>(width);
    r.n = static_cast<uint64_t>(b.shape(0));
  } else if (b.ndim() <= 1) {
    if (record_bytes == 0) {
      value_error(std::string(what) +
                  ": a 1-D buffer needs the record size: pass a 2-D (n, record_bytes) array");
    }
    if (len % record_bytes != 0) {
      value_error(std::string(what) + ": " + std::to_string(len) +
                  " bytes is not a whole number of " + std::to_string(record_bytes) +
                  "-byte records");
    }
    r.record_bytes = record_bytes;
    r.n = len / record_bytes;
  } else {
    value_error(std::string(what) + ": expected a 2-D (n, record_bytes) uint8 array, got " +
                std::to_string(b.ndim()) + " dimensions");
  }
  r.data = static_cast<const uint8_t *>(b.data());
  return r;
}

// ---- Arrow PyCapsule interface

ArrowImport::~ArrowImport() {
  if (array.release) array.release(&array);
  if (schema.release) schema.release(&schema);
}

StreamImport::~StreamImport() {
  if (stream.release) stream.release(&stream);
}

bool has_arrow_array(nb::handle object) {
  return nb::hasattr(object, "__arrow_c_array__");
}
bool has_arrow_stream(nb::handle object) {
  return nb::hasattr(object, "__arrow_c_stream__");
}

namespace {

// The capsule's struct; a released one (moved out before, e.g. a capsule consumed twice) is a
// ValueError rather than a use of freed memory.
template <typename T>
T *capsule_pointer(nb::handle capsule, const char *name) {
  void *p = PyCapsule_GetPointer(capsule.ptr(), name);
  if (!p) {
    PyErr_Clear();
    value_error(std::string("expected a PyCapsule named '") + name + "' from the Arrow producer");
  }
  auto *t = static_cast<T *>(p);
  if (!t->release) {
    value_error(std::string("the Arrow ") + name +
                " was already released (consumed or freed): export it again");
  }
  return t;
}

}  // namespace

std::unique_ptr<ArrowImport> import_arrow_array(nb::handle object) {
  nb::object pair = object.attr("__arrow_c_array__")();
  if (!nb::isinstance<nb::tuple>(pair) || nb::len(pair) != 2) {
    value_error("__arrow_c_array__() must return a (schema, array) pair of PyCapsules");
  }
  ArrowSchema *schema = capsule_pointer<ArrowSchema>(pair[0], "arrow_schema");
  ArrowArray *array = capsule_pointer<ArrowArray>(pair[1], "arrow_array");
  auto out = std::make_unique<ArrowImport>();
  // Moved out: the capsules' destructors see released structs and do nothing.
  out->schema = *schema;
  schema->release = nullptr;
  out->array = *array;
  array->release = nullptr;
  return out;
}

std::unique_ptr<StreamImport> import_arrow_stream(nb::handle object) {
  nb::object capsule = object.attr("__arrow_c_stream__")();
  auto *stream = capsule_pointer<ArrowArrayStream>(capsule, "arrow_array_stream");
  auto out = std::make_unique<StreamImport>();
  out->stream = *stream;
  stream->release = nullptr;
  return out;
}

namespace {

struct OneBatch {
  std::unique_ptr<ArrowImport> data;
  bool schema_taken = false, array_taken = false;
};

int one_batch_schema(ArrowArrayStream *s, ArrowSchema *out) {
  auto *b = static_cast<OneBatch *>(s->private_data);
  if (b->schema_taken) return EINVAL;  // the reader asks once
  *out = b->data->schema;
  b->data->schema.release = nullptr;
  b->schema_taken = true;
  return 0;
}

int one_batch_next(ArrowArrayStream *s, ArrowArray *out) {
  auto *b = static_cast<OneBatch *>(s->private_data);
  if (b->array_taken) {
    std::memset(out, 0, sizeof *out);  // a released array marks the end
    return 0;
  }
  *out = b->data->array;
  b->data->array.release = nullptr;
  b->array_taken = true;
  return 0;
}

const char *one_batch_error(ArrowArrayStream *) {
  return "one-batch stream";
}

void one_batch_release(ArrowArrayStream *s) {
  delete static_cast<OneBatch *>(s->private_data);
  s->release = nullptr;
}

}  // namespace

std::unique_ptr<StreamImport> one_batch_stream(std::unique_ptr<ArrowImport> array) {
  auto out = std::make_unique<StreamImport>();
  out->stream.get_schema = one_batch_schema;
  out->stream.get_next = one_batch_next;
  out->stream.get_last_error = one_batch_error;
  out->stream.release = one_batch_release;
  out->stream.private_data = new OneBatch{std::move(array)};
  return out;
}

uint32_t fixed_binary_width(const char *format) {
  if (!format || format[0] != 'w' || format[1] != ':') return 0;
  const long w = std::strtol(format + 2, nullptr, 10);
  return w > 0 && w <= 8192 ? static_cast<uint32_t>(w) : 0;
}

std::shared_ptr<Database> database_from_object(nb::handle object, uint32_t record_bits) {
  if (record_bits % 8 != 0) value_error("record_bits must be a multiple of 64");
  auto db = std::make_shared<Database>();
  db->owner = nb::borrow(object);
  if (PyObject_CheckBuffer(object.ptr())) {
    RecordBuffer r = record_buffer(object, record_bits / 8, "database");
    db->view = DatabaseView::rows(r.data, r.n, r.record_bytes);
    db->buffer = std::move(r.buffer);
    db->source = "buffer";
    return db;
  }
  if (has_arrow_array(object)) {
    db->arrow = import_arrow_array(object);
    const ArrowSchema &s = db->arrow->schema;
    uint32_t rb = record_bits / 8;
    if (rb == 0) rb = fixed_binary_width(s.format);
    if (rb == 0) {
      value_error(std::string("database: Arrow format '") + (s.format ? s.format : "") +
                  "' needs record_bits (only fixed_size_binary carries its record size)");
    }
    db->view = arrow::records(s, db->arrow->array, rb);
    db->source = "arrow";
    return db;
  }
  value_error(std::string("database: expected a uint8 numpy array, a buffer, an Arrow array or "
                          "a jitson.Database, got ") +
              nb::type_name(object.type()).c_str());
}

namespace {
uint64_t g_chunk_records = 0;
}

uint64_t chunk_records(uint32_t record_bytes) {
  uint64_t n = g_chunk_records;
  if (n == 0) {
    // About 128 MiB of records, at least 64Ki records: a chunk takes a few ms per query on one
    // core, so Ctrl-C is noticed quickly while the per-chunk cost (a pool wake-up, a heap
    // refill) stays far below 1% of the chunk.
    n = std::max<uint64_t>(65536, (uint64_t{128} << 20) / std::max<uint32_t>(record_bytes, 1));
  }
  return std::max<uint64_t>(4096, n / 4096 * 4096);
}

void set_chunk_records(uint64_t records) {
  g_chunk_records = records;
}

void check_signals() {
  if (PyErr_CheckSignals() != 0) throw nb::python_error();
}

}  // namespace jitson::py
