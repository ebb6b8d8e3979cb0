// Shared pieces of the jitson Python extension: buffer-protocol views, Arrow imports, the
// database and kernel wrappers. Only public headers (include/jitson) are used.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "jitson/arrow.h"
#include "jitson/database.hpp"
#include "jitson/engine.hpp"
#include "jitson/layout.hpp"
#include "jitson/popcount.hpp"
#include "jitson/topk.hpp"

namespace jitson::py {

namespace nb = nanobind;

// A ValueError with this message (shapes, dtypes, arguments).
[[noreturn]] void value_error(const std::string &message);

// One Py_buffer held for the lifetime of this object: the exporter keeps the memory (and, for a
// bytearray, its size) fixed until release, which is what lets the GIL go during a scan.
class Buffer {
 public:
  // writable: the buffer must accept writes (outputs); inputs take read-only buffers too.
  Buffer(nb::handle object, bool writable, const char *what);
  ~Buffer();
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;

  const Py_buffer &view() const { return view_; }
  void *data() const { return view_.buf; }
  int ndim() const { return view_.ndim; }
  int64_t shape(int i) const { return view_.shape ? view_.shape[i] : view_.len; }
  int64_t stride(int i) const { return view_.strides ? view_.strides[i] : view_.itemsize; }
  // The struct-module format code without its byte-order prefix ('B', 'f', 'H', 'b', 'i', ...).
  char code() const { return code_; }
  const char *what() const { return what_; }
  // numpy's name of the element type, for messages ("uint8", "float32", ...).
  std::string dtype_name() const;
  bool c_contiguous() const;
  // Refuses (ValueError) anything but the element code `want` (numpy name `name`).
  void require_code(char want, const char *name) const;
  // Refuses a buffer that is not C-contiguous, naming numpy.ascontiguousarray.
  void require_c_contiguous() const;

 private:
  Py_buffer view_{};
  bool held_ = false;
  char code_ = 0;
  const char *what_;
};

// Records given as a 2-D uint8 array (n, record_bytes) or a 1-D buffer of whole records.
// record_bytes 0: taken from the array's second dimension (a 1-D buffer is an error then).
struct RecordBuffer {
  std::unique_ptr<Buffer> buffer;
  const uint8_t *data = nullptr;
  uint64_t n = 0;
  uint32_t record_bytes = 0;
};
RecordBuffer record_buffer(nb::handle object, uint32_t record_bytes, const char *what);

// Arrow C data interface structs moved out of PyCapsules (the consumer side of the Arrow
// PyCapsule protocol), released on destruction.
struct ArrowImport {
  ArrowSchema schema{};
  ArrowArray array{};
  ArrowImport() = default;
  ArrowImport(const ArrowImport &) = delete;
  ArrowImport &operator=(const ArrowImport &) = delete;
  ~ArrowImport();
};
struct StreamImport {
  ArrowArrayStream stream{};
  StreamImport() = default;
  StreamImport(const StreamImport &) = delete;
  StreamImport &operator=(const StreamImport &) = delete;
  ~StreamImport();
};
bool has_arrow_array(nb::handle object);
bool has_arrow_stream(nb::handle object);
std::unique_ptr<ArrowImport> import_arrow_array(nb::handle object);
std::unique_ptr<StreamImport> import_arrow_stream(nb::handle object);
// A stream that yields `array` once (then ends): record batches (struct arrays) go through the
// stream reader, which applies the struct's offset and validity to its columns.
std::unique_ptr<StreamImport> one_batch_stream(std::unique_ptr<ArrowImport> array);
// Record bytes of an Arrow fixed_size_binary format "w:N", or 0 for any other format.
uint32_t fixed_binary_width(const char *format);

// A database the kernels scan: a mapped file, a blocked copy, a popcount-ordered copy, or a view
// of Python-owned memory (a buffer or an Arrow array) kept alive by `owner`.
struct Database {
  DatabaseView view{};
  std::shared_ptr<FingerprintFile> file;
  std::shared_ptr<BlockedDatabase> blocked;
  std::unique_ptr<Buffer> buffer;
  std::unique_ptr<ArrowImport> arrow;
  nb::object owner;  // the Python object whose memory the view reads
  std::string path;
  std::string source;  // "file", "buffer", "arrow", "blocked copy", "popcount-ordered copy"
  // Records in ascending popcount (a popcount-ordered file, verified at open, or the copy
  // jitson.order_by_popcount builds): `view` is order->records(), whose positions are not the
  // records' indices. Every scan goes through scan_popcount_ordered (original indices, the
  // popcount bound) and an accumulator feed passes original_index() as row ids.
  std::optional<PopcountOrder> order;
};
// A Database over a Python object: a buffer-protocol object (2-D uint8 or 1-D raw bytes) or an
// Arrow array of fixed_size_binary without nulls. record_bits 0: taken from the object's shape
// or Arrow width.
std::shared_ptr<Database> database_from_object(nb::handle object, uint32_t record_bits);

// A compiled kernel and the engine it came from (compiling variants with another top_k or
// max_distance for search(k=...) and range_search goes through the same cache).
struct PyEngine {
  std::shared_ptr<Engine> engine;
};
struct PyKernel {
  std::shared_ptr<Engine> engine;
  std::shared_ptr<const Kernel> kernel;
};

// Records scanned per chunk between two Ctrl-C checks (a multiple of 4096, the largest block).
uint64_t chunk_records(uint32_t record_bytes);
void set_chunk_records(uint64_t records);  // 0: the default (about 128 MiB per chunk)

// Raises KeyboardInterrupt (or whatever a signal handler raised) if a signal arrived.
void check_signals();

void bind_runtime(nb::module_ &m);

}  // namespace jitson::py
