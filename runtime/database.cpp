// Database views, fingerprint files (docs/FORMAT.md) and the atomic file writer.
#include "jitson/database.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "jitson/error.hpp"

namespace jitson {
namespace {

constexpr uint32_t kMinBlockRecords = 8;
constexpr uint32_t kMaxBlockRecords = 4096;
constexpr size_t kReservedBegin = 44;  // header bytes [44, 64) are reserved and must be zero

std::string quoted(const std::string &path) {
  return "'" + path + "'";
}

std::string errno_text(int err) {
  return std::strerror(err);
}

[[noreturn]] void fail(ErrorKind kind, const std::string &message) {
  throw Error(kind, message);
}

// a * b, or false when the product does not fit 64 bits.
bool multiply(uint64_t a, uint64_t b, uint64_t *out) {
  return !__builtin_mul_overflow(a, b, out);
}

// Records the payload holds, padding included: ceil(n / B) * B for blocked layouts.
bool stored_records(uint64_t n_records, Layout layout, uint32_t block_records, uint64_t *out) {
  if (layout == Layout::row_major) {
    *out = n_records;
    return true;
  }
  const uint64_t blocks = n_records / block_records + (n_records % block_records != 0 ? 1 : 0);
  return multiply(blocks, block_records, out);
}

bool is_known_layout(Layout layout) {
  return layout == Layout::row_major || layout == Layout::blocked;
}

void check_layout(Layout layout, uint32_t block_records, ErrorKind kind, const std::string &where) {
  if (!is_known_layout(layout)) {
    fail(kind, where + ": layout " + std::to_string(static_cast<uint32_t>(layout)) +
                   " is unknown; allowed are 0 (row-major) and 1 (blocked)");
  }
  if (layout == Layout::row_major && block_records != 0) {
    fail(kind, where + ": block_records is " + std::to_string(block_records) +
                   " for a row-major layout; it must be 0");
  }
  if (layout == Layout::blocked &&
      (block_records < kMinBlockRecords || block_records > kMaxBlockRecords ||
       (block_records & (block_records - 1)) != 0)) {
    fail(kind, where + ": block_records is " + std::to_string(block_records) +
                   "; a blocked layout needs a power of two from 8 to 4096");
  }
}

void check_file_record_bits(uint64_t record_bits, ErrorKind kind, const std::string &where) {
  if (record_bits == 0 || record_bits % 64 != 0 || record_bits > kMaxFileRecordBits) {
    fail(kind, where + ": record_bits is " + std::to_string(record_bits) +
                   "; it must be a multiple of 64 from 64 to 65536 (the file format's limit)");
  }
}

void check_record_bytes(uint64_t record_bytes, const std::string &where) {
  if (record_bytes == 0 || record_bytes % 8 != 0 || record_bytes > UINT32_MAX) {
    fail(ErrorKind::invalid_argument,
         where + ": record_bytes is " + std::to_string(record_bytes) +
             "; it must be a nonzero multiple of 8 (whole 64-bit words) below 2^32");
  }
}

uint64_t load_le(const uint8_t *p, int n_bytes) {
  uint64_t v = 0;
  for (int i = n_bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void store_le(uint8_t *p, uint64_t v, int n_bytes) {
  for (int i = 0; i < n_bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// write(2) all of [p, p + n), retrying short writes and EINTR; returns 0 or errno.
int write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    const ssize_t done = ::write(fd, p, n);
    if (done < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += done;
    n -= static_cast<size_t>(done);
  }
  return 0;
}

}  // namespace

const char *file_type_name(unsigned mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return "a regular file";
    case S_IFDIR:
      return "a directory";
    case S_IFIFO:
      return "a FIFO";
    case S_IFCHR:
      return "a character device";
    case S_IFBLK:
      return "a block device";
    case S_IFSOCK:
      return "a socket";
    case S_IFLNK:
      return "a symbolic link";
  }
  return "not a file";
}

namespace {
[[noreturn]] void refuse_to_replace(const std::string &path, const std::string &what) {
  fail(ErrorKind::invalid_argument, quoted(path) + ": " + what + "; refusing to replace it");
}
}  // namespace

std::string replaceable_output_path(const std::string &path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || S_ISREG(st.st_mode)) return path;
  if (!S_ISLNK(st.st_mode)) {
    refuse_to_replace(
        path, std::string("exists and is not a regular file (") + file_type_name(st.st_mode) + ")");
  }
  struct stat target {};
  if (::stat(path.c_str(), &target) != 0) {
    refuse_to_replace(
        path, "is a symbolic link whose target cannot be reached (" + errno_text(errno) + ")");
  }
  if (!S_ISREG(target.st_mode)) {
    refuse_to_replace(path, std::string("is a symbolic link to ") + file_type_name(target.st_mode) +
                                ", not to a regular file");
  }
  char *resolved = ::realpath(path.c_str(), nullptr);
  if (resolved == nullptr) {
    fail(ErrorKind::io,
         "cannot resolve the symbolic link " + quoted(path) + ": " + errno_text(errno));
  }
  std::string out(resolved);
  std::free(resolved);
  return out;
}

namespace {

std::string directory_of(const std::string &path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// DatabaseView

DatabaseView DatabaseView::rows(const void *data, uint64_t n_records, size_t record_bytes) {
  DatabaseView v;
  check_record_bytes(record_bytes, "DatabaseView::rows");
  v.data = static_cast<const uint8_t *>(data);
  v.n_records = n_records;
  v.record_bytes = static_cast<uint32_t>(record_bytes);
  v.payload_bytes();  // null pointer and overflow checks
  return v;
}

DatabaseView DatabaseView::rows_from_bytes(const void *data, size_t n_bytes, size_t record_bytes) {
  check_record_bytes(record_bytes, "DatabaseView::rows_from_bytes");
  if (n_bytes % record_bytes != 0) {
    fail(ErrorKind::invalid_argument,
         "DatabaseView::rows_from_bytes: " + std::to_string(n_bytes) +
             " bytes is not a multiple of the record size " + std::to_string(record_bytes) +
             " (a trailing partial record of " + std::to_string(n_bytes % record_bytes) +
             " bytes); pass whole records only");
  }
  return rows(data, n_bytes / record_bytes, record_bytes);
}

DatabaseView DatabaseView::blocked(const void *data, uint64_t n_records, size_t record_bytes,
                                   uint32_t block_records) {
  DatabaseView v;
  check_record_bytes(record_bytes, "DatabaseView::blocked");
  v.data = static_cast<const uint8_t *>(data);
  v.n_records = n_records;
  v.record_bytes = static_cast<uint32_t>(record_bytes);
  v.layout = Layout::blocked;
  v.block_records = block_records;
  v.payload_bytes();
  return v;
}

uint64_t DatabaseView::payload_bytes() const {
  const std::string where = "DatabaseView";
  check_record_bytes(record_bytes, where);
  check_layout(layout, block_records, ErrorKind::invalid_argument, where);
  uint64_t records = 0, bytes = 0;
  if (!stored_records(n_records, layout, block_records, &records) ||
      !multiply(records, record_bytes, &bytes) || bytes > SIZE_MAX) {
    fail(ErrorKind::invalid_argument, where + ": " + std::to_string(n_records) + " records of " +
                                          std::to_string(record_bytes) +
                                          " bytes overflow the address space");
  }
  if (data == nullptr && n_records > 0) {
    fail(ErrorKind::invalid_argument, where + ": data is null but n_records is " +
                                          std::to_string(n_records) +
                                          "; a null pointer is allowed only for 0 records");
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Header

void encode_header(const FileHeader &h, uint8_t out[FileHeader::kSize]) {
  std::memset(out, 0, FileHeader::kSize);
  std::memcpy(out, FileHeader::kMagic, sizeof(FileHeader::kMagic));
  store_le(out + 8, h.version, 4);
  store_le(out + 12, static_cast<uint32_t>(h.layout), 4);
  store_le(out + 16, h.record_bits, 4);
  store_le(out + 20, h.block_records, 4);
  store_le(out + 24, h.record_count, 8);
  store_le(out + 32, h.header_bytes, 8);
  store_le(out + 40, h.order, 4);
}

uint64_t FileHeader::section_offset() const {
  return (record_count * (record_bits / 8) + 63) / 64 * 64;
}

uint64_t FileHeader::body_bytes() const {
  uint64_t records = 0;
  stored_records(record_count, layout, block_records, &records);
  if (order != kOrderPopcount) return records * (record_bits / 8);
  return section_offset() + 8 * (uint64_t(record_bits) + 2 + record_count);
}

FileHeader parse_header(const uint8_t *bytes, size_t available, uint64_t file_bytes,
                        const std::string &path) {
  const std::string where = quoted(path);
  if (file_bytes < FileHeader::kSize || available < FileHeader::kSize || bytes == nullptr) {
    fail(ErrorKind::format, where + ": the file is " + std::to_string(file_bytes) +
                                " bytes, shorter than the 64-byte header");
  }
  if (std::memcmp(bytes, FileHeader::kMagic, sizeof(FileHeader::kMagic)) != 0) {
    fail(ErrorKind::format, where +
                                ": not a jitson fingerprint file (bad magic; expected "
                                "\"JITSONFP\"); pass --raw-bits (raw_record_bits) to read a "
                                "headerless file of raw records");
  }
  FileHeader h;
  h.version = static_cast<uint32_t>(load_le(bytes + 8, 4));
  if (h.version != FileHeader::kVersion) {
    fail(ErrorKind::format, where + ": unsupported format version " + std::to_string(h.version) +
                                "; this build reads version " +
                                std::to_string(FileHeader::kVersion));
  }
  h.layout = static_cast<Layout>(load_le(bytes + 12, 4));
  h.record_bits = static_cast<uint32_t>(load_le(bytes + 16, 4));
  h.block_records = static_cast<uint32_t>(load_le(bytes + 20, 4));
  h.record_count = load_le(bytes + 24, 8);
  h.header_bytes = load_le(bytes + 32, 8);
  h.order = static_cast<uint32_t>(load_le(bytes + 40, 4));
  check_file_record_bits(h.record_bits, ErrorKind::format, where);
  check_layout(h.layout, h.block_records, ErrorKind::format, where);
  if (h.order > FileHeader::kOrderPopcount ||
      (h.order == FileHeader::kOrderPopcount && h.layout != Layout::row_major)) {
    fail(ErrorKind::format, where + ": record order " + std::to_string(h.order) +
                                " is unknown or not row-major; allowed are 0 (none) and 1 "
                                "(popcount order, row-major layout)");
  }
  if (h.header_bytes < FileHeader::kSize || h.header_bytes % 64 != 0) {
    fail(ErrorKind::format, where + ": header_bytes is " + std::to_string(h.header_bytes) +
                                "; it must be a multiple of 64 and at least 64");
  }
  for (size_t i = kReservedBegin; i < FileHeader::kSize; ++i) {
    if (bytes[i] != 0) {
      fail(ErrorKind::format, where + ": reserved header byte " + std::to_string(i) + " is " +
                                  std::to_string(bytes[i]) + "; bytes 44..63 must be zero");
    }
  }
  const uint64_t record_bytes = h.record_bits / 8;
  uint64_t records = 0, payload = 0;
  // A popcount section adds at most 64 + 8 · (65538 + record_count) bytes: bound the count so
  // that and the header fit 64 bits.
  if (!stored_records(h.record_count, h.layout, h.block_records, &records) ||
      !multiply(records, record_bytes, &payload) || h.record_count > (uint64_t{1} << 56) ||
      payload > (uint64_t{1} << 62) - h.header_bytes) {
    fail(ErrorKind::format, where + ": record_count " + std::to_string(h.record_count) + " × " +
                                std::to_string(record_bytes) +
                                " bytes per record overflows 64 bits");
  }
  if (h.order == FileHeader::kOrderPopcount) payload = h.body_bytes();
  if (h.header_bytes > file_bytes || file_bytes - h.header_bytes != payload) {
    const uint64_t actual = h.header_bytes > file_bytes ? 0 : file_bytes - h.header_bytes;
    std::string expected = std::to_string(payload) + " bytes (" + std::to_string(h.record_count) +
                           " records × " + std::to_string(record_bytes) + " bytes";
    if (h.layout == Layout::blocked) {
      expected += ", padded to " + std::to_string(records) + " records in blocks of " +
                  std::to_string(h.block_records);
    }
    if (h.order == FileHeader::kOrderPopcount) {
      expected += ", padded to 64 bytes, then a popcount section of " +
                  std::to_string(h.body_bytes() - h.section_offset()) + " bytes";
    }
    expected += ")";
    fail(ErrorKind::format, where + ": the payload after the " + std::to_string(h.header_bytes) +
                                "-byte header is " + std::to_string(actual) + " bytes (file " +
                                std::to_string(file_bytes) + " bytes); expected " + expected);
  }
  return h;
}

// ---------------------------------------------------------------------------------------------
// FingerprintFile

FingerprintFile FingerprintFile::open(const std::string &path,
                                      std::optional<uint32_t> raw_record_bits) {
  FileOpenOptions options;
  options.raw_record_bits = raw_record_bits;
  return open(path, options);
}

FingerprintFile FingerprintFile::open(const std::string &path, const FileOpenOptions &options) {
  if (options.raw_record_bits) {
    check_file_record_bits(*options.raw_record_bits, ErrorKind::invalid_argument,
                           quoted(path) + " (raw records)");
  }
  // stat before open: opening a FIFO blocks until a writer comes and opening a device can act
  // on it, so neither is opened at all. O_NONBLOCK covers a path swapped for a FIFO between the
  // two calls (the open returns at once and the fstat refuses it); mmap ignores the flag.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    fail(ErrorKind::io, "cannot read " + quoted(path) + ": not a regular file (" +
                            file_type_name(st.st_mode) + ")");
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    fail(ErrorKind::io, "cannot open " + quoted(path) + ": " + errno_text(errno));
  }
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail(ErrorKind::io, "cannot stat " + quoted(path) + ": " + errno_text(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(ErrorKind::io, "cannot read " + quoted(path) + ": not a regular file (" +
                            file_type_name(st.st_mode) + ")");
  }
  const auto file_bytes = static_cast<uint64_t>(st.st_size);

  FingerprintFile file;
  file.path_ = path;
  if (file_bytes > 0) {
    const int flags = MAP_SHARED | (options.populate ? MAP_POPULATE : 0);
    void *map = ::mmap(nullptr, file_bytes, PROT_READ, flags, fd, 0);
    if (map == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      fail(ErrorKind::io, "cannot map " + quoted(path) + " (" + std::to_string(file_bytes) +
                              " bytes): " + errno_text(err));
    }
    file.map_ = map;
    file.map_bytes_ = file_bytes;
    // No advice here: a whole-file MADV_WILLNEED reads only the first readahead window (it is
    // capped per call) yet costs a sweep that needs 1/256 of the file; the scan advises the
    // ranges its plan reads, window by window (will_read).
  }
  ::close(fd);  // the mapping keeps its own reference to the file
  const auto *bytes = static_cast<const uint8_t *>(file.map_);

  if (options.raw_record_bits) {
    const uint32_t record_bytes = *options.raw_record_bits / 8;
    if (file_bytes % record_bytes != 0) {
      fail(ErrorKind::format, quoted(path) + ": the file is " + std::to_string(file_bytes) +
                                  " bytes, not a multiple of the raw record size " +
                                  std::to_string(record_bytes) + " bytes (" +
                                  std::to_string(*options.raw_record_bits) + " bits)");
    }
    file.header_.record_bits = *options.raw_record_bits;
    file.header_.record_count = file_bytes / record_bytes;
    file.header_.header_bytes = 0;
    file.has_header_ = false;
    file.view_ = DatabaseView::rows(bytes, file.header_.record_count, record_bytes);
    return file;
  }

  file.header_ = parse_header(bytes, file.map_bytes_, file_bytes, path);
  file.has_header_ = true;
  file.view_.data = bytes + file.header_.header_bytes;
  file.view_.n_records = file.header_.record_count;
  file.view_.record_bytes = file.header_.record_bits / 8;
  file.view_.layout = file.header_.layout;
  file.view_.block_records = file.header_.block_records;
  if (file.header_.order == FileHeader::kOrderPopcount) {
    // The section starts at a 64-byte boundary of a page-aligned mapping: u64 loads are aligned.
    file.popcount_section_ = reinterpret_cast<const uint64_t *>(
        file.view_.data + file.header_.section_offset());
  }
  return file;
}

namespace {

uint64_t page_bytes() {
  static const uint64_t bytes = [] {
    const long p = ::sysconf(_SC_PAGESIZE);
    return p > 0 ? static_cast<uint64_t>(p) : uint64_t{4096};
  }();
  return bytes;
}

// One MADV_WILLNEED reads at most the device's readahead size (128 KiB by default), however long
// the range: longer runs are advised in pieces of this size so all of them gets read.
constexpr uint64_t kWillNeedChunk = uint64_t{128} << 10;

}  // namespace

void FingerprintFile::will_read(uint64_t begin, uint64_t end, const ReadPattern &pattern,
                                uint64_t samples) const {
  if (map_ == nullptr) return;
  auto *map = const_cast<uint8_t *>(static_cast<const uint8_t *>(map_));  // madvise takes void *
  const uint64_t base = static_cast<uint64_t>(view_.data - map);          // payload offset
  end = std::min(end, map_bytes_ - base);
  if (begin >= end) return;
  const uint64_t page = page_bytes();
  const uint64_t first_page = (base + begin) / page;
  const uint64_t n_pages = (base + end + page - 1) / page - first_page;

  // The pages the pattern reads, as 1s (relative to first_page).
  std::vector<unsigned char> wanted(n_pages, 0);
  auto want = [&](uint64_t from, uint64_t to) {  // payload bytes [from, to) inside [begin, end)
    for (uint64_t pg = (base + from) / page; pg * page < base + to; ++pg)
      wanted[pg - first_page] = 1;
  };
  if (pattern.period == 0 || pattern.runs.empty()) {
    want(begin, end);
  } else {
    for (uint64_t at = begin / pattern.period * pattern.period; at < end; at += pattern.period) {
      for (const auto &[from, to] : pattern.runs) {
        const uint64_t a = std::max(begin, at + from), b = std::min(end, at + to);
        if (a < b) want(a, b);
      }
    }
  }

  // Which of them the page cache lacks (bit 0 of mincore's byte is "cached").
  auto cached = [&](uint64_t first, uint64_t count, unsigned char *out) {
    return ::mincore(map + (first_page + first) * page, count * page, out) == 0;
  };
  if (samples == 0) {
    std::vector<unsigned char> state(n_pages, 0);
    if (cached(0, n_pages, state.data())) {
      for (uint64_t i = 0; i < n_pages; ++i) wanted[i] &= ~state[i] & 1;
    }
  } else {
    std::vector<uint64_t> pages;
    for (uint64_t i = 0; i < n_pages; ++i)
      if (wanted[i]) pages.push_back(i);
    bool all_cached = !pages.empty();
    for (uint64_t k = 0; k < samples && all_cached && !pages.empty(); ++k) {
      unsigned char state = 0;
      const uint64_t i = pages[(pages.size() - 1) * k / std::max<uint64_t>(samples - 1, 1)];
      all_cached = cached(i, 1, &state) && (state & 1) != 0;
    }
    if (all_cached) return;
  }

  for (uint64_t i = 0; i < n_pages;) {
    if (!wanted[i]) {
      ++i;
      continue;
    }
    uint64_t j = i;
    while (j < n_pages && wanted[j]) ++j;
    const uint64_t run_end = (first_page + j) * page;
    for (uint64_t at = (first_page + i) * page; at < run_end; at += kWillNeedChunk) {
      ::madvise(map + at, std::min(kWillNeedChunk, run_end - at), MADV_WILLNEED);  // advice only
    }
    i = j;
  }
}

void FingerprintFile::release(uint64_t begin, uint64_t end) const {
  if (map_ == nullptr) return;
  const auto *map = static_cast<const uint8_t *>(map_);
  const uint64_t base = static_cast<uint64_t>(view_.data - map);
  end = std::min(end, map_bytes_ - base);
  if (begin >= end) return;
  const uint64_t page = page_bytes();
  const uint64_t first = (base + begin + page - 1) / page * page;  // whole pages only
  const uint64_t last = (base + end) / page * page;
  // MADV_DONTNEED on a shared read-only file mapping only drops this process's page table
  // entries; a later read faults the same file bytes back in.
  if (first < last) ::madvise(const_cast<uint8_t *>(map) + first, last - first, MADV_DONTNEED);
}

FingerprintFile::FingerprintFile(FingerprintFile &&o) noexcept
    : map_(std::exchange(o.map_, nullptr)),
      map_bytes_(std::exchange(o.map_bytes_, 0)),
      view_(std::exchange(o.view_, DatabaseView{})),
      header_(o.header_),
      has_header_(o.has_header_),
      popcount_section_(std::exchange(o.popcount_section_, nullptr)),
      path_(std::move(o.path_)) {}

FingerprintFile &FingerprintFile::operator=(FingerprintFile &&o) noexcept {
  if (this != &o) {
    if (map_ != nullptr) ::munmap(map_, map_bytes_);
    map_ = std::exchange(o.map_, nullptr);
    map_bytes_ = std::exchange(o.map_bytes_, 0);
    view_ = std::exchange(o.view_, DatabaseView{});
    header_ = o.header_;
    has_header_ = o.has_header_;
    popcount_section_ = std::exchange(o.popcount_section_, nullptr);
    path_ = std::move(o.path_);
  }
  return *this;
}

FingerprintFile::~FingerprintFile() {
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
}

// ---------------------------------------------------------------------------------------------
// FingerprintWriter

struct FingerprintWriter::Impl {
  static constexpr size_t kBufferBytes = size_t{1} << 20;

  std::string path;
  std::string temp_path;
  int fd = -1;
  uint64_t expected_payload = 0;
  uint64_t written_payload = 0;
  std::vector<uint8_t> buffer;
  bool committed = false;

  // Closes and removes the temporary file; safe to call more than once.
  void abandon() noexcept {
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
      ::unlink(temp_path.c_str());
    }
  }

  void flush_buffer() {
    if (buffer.empty()) return;
    const int err = write_all(fd, buffer.data(), buffer.size());
    buffer.clear();
    if (err != 0) {
      abandon();
      fail(ErrorKind::io, "cannot write " + quoted(temp_path) + ": " + errno_text(err));
    }
  }

  void check_open(const char *what) const {
    if (committed) {
      fail(ErrorKind::invalid_argument, std::string("FingerprintWriter::") + what + ": " +
                                            quoted(path) + " was already committed");
    }
    if (fd < 0) {
      fail(ErrorKind::invalid_argument, std::string("FingerprintWriter::") + what + ": " +
                                            quoted(path) + " failed earlier; nothing was written");
    }
  }
};

FingerprintWriter::FingerprintWriter(const std::string &path, uint32_t record_bits,
                                     uint64_t record_count, Layout layout, uint32_t block_records,
                                     bool with_header, uint32_t order)
    : impl_(std::make_unique<Impl>()) {
  const std::string where = "FingerprintWriter " + quoted(path);
  check_file_record_bits(record_bits, ErrorKind::invalid_argument, where);
  check_layout(layout, block_records, ErrorKind::invalid_argument, where);
  if (!with_header && layout != Layout::row_major) {
    fail(ErrorKind::invalid_argument,
         where +
             ": a headerless raw file can only hold row-major records; the blocked layout "
             "needs the header to record its block size");
  }
  uint64_t records = 0;
  if (!stored_records(record_count, layout, block_records, &records) ||
      !multiply(records, record_bits / 8, &impl_->expected_payload) ||
      impl_->expected_payload > UINT64_MAX - FileHeader::kSize) {
    fail(ErrorKind::invalid_argument, where + ": record_count " + std::to_string(record_count) +
                                          " × " + std::to_string(record_bits / 8) +
                                          " bytes per record overflows 64 bits");
  }
  if (order != FileHeader::kOrderNone) {
    if (order != FileHeader::kOrderPopcount || layout != Layout::row_major || !with_header ||
        record_count > (uint64_t{1} << 56)) {
      fail(ErrorKind::invalid_argument,
           where + ": the popcount order needs row-major records in a file with a header");
    }
    FileHeader h;
    h.record_bits = record_bits;
    h.record_count = record_count;
    h.order = order;
    impl_->expected_payload = h.body_bytes();
  }
  impl_->path = replaceable_output_path(path);
  impl_->temp_path = impl_->path + ".tmp." + std::to_string(::getpid());
  impl_->fd = ::open(impl_->temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (impl_->fd < 0) {
    fail(ErrorKind::io, "cannot create " + quoted(impl_->temp_path) + ": " + errno_text(errno));
  }
  impl_->buffer.reserve(Impl::kBufferBytes);
  if (with_header) {
    FileHeader h;
    h.layout = layout;
    h.record_bits = record_bits;
    h.block_records = block_records;
    h.record_count = record_count;
    h.header_bytes = FileHeader::kSize;
    h.order = order;
    uint8_t header[FileHeader::kSize];
    encode_header(h, header);
    impl_->buffer.insert(impl_->buffer.end(), header, header + FileHeader::kSize);
  }
}

FingerprintWriter::~FingerprintWriter() {
  if (impl_) impl_->abandon();
}

void FingerprintWriter::write(const uint8_t *bytes, size_t n) {
  Impl &w = *impl_;
  w.check_open("write");
  if (bytes == nullptr && n > 0) {
    fail(ErrorKind::invalid_argument,
         "FingerprintWriter::write: null data with " + std::to_string(n) + " bytes");
  }
  if (n > w.expected_payload - w.written_payload) {
    const uint64_t attempted = w.written_payload + n;
    w.abandon();
    fail(ErrorKind::format, "FingerprintWriter " + quoted(w.path) + ": " +
                                std::to_string(attempted) +
                                " payload bytes written, more than the declared " +
                                std::to_string(w.expected_payload) + "; nothing was written");
  }
  w.written_payload += n;
  if (w.buffer.size() + n > Impl::kBufferBytes) {
    w.flush_buffer();
    if (n >= Impl::kBufferBytes) {
      const int err = write_all(w.fd, bytes, n);
      if (err != 0) {
        w.abandon();
        fail(ErrorKind::io, "cannot write " + quoted(w.temp_path) + ": " + errno_text(err));
      }
      return;
    }
  }
  w.buffer.insert(w.buffer.end(), bytes, bytes + n);
}

void FingerprintWriter::commit() {
  Impl &w = *impl_;
  w.check_open("commit");
  if (w.written_payload != w.expected_payload) {
    w.abandon();
    fail(ErrorKind::format, "FingerprintWriter " + quoted(w.path) + ": " +
                                std::to_string(w.written_payload) +
                                " payload bytes written, expected " +
                                std::to_string(w.expected_payload) + "; nothing was written");
  }
  w.flush_buffer();
  if (::fsync(w.fd) != 0) {
    const int err = errno;
    w.abandon();
    fail(ErrorKind::io, "cannot sync " + quoted(w.temp_path) + ": " + errno_text(err));
  }
  if (::close(w.fd) != 0) {
    const int err = errno;
    w.fd = -1;
    ::unlink(w.temp_path.c_str());
    fail(ErrorKind::io, "cannot close " + quoted(w.temp_path) + ": " + errno_text(err));
  }
  w.fd = -1;
  // Checked again right before the rename: the path may have become a FIFO or a device node
  // since the writer was created, and the rename would replace it.
  struct stat st {};
  if (::lstat(w.path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    ::unlink(w.temp_path.c_str());
    refuse_to_replace(w.path, std::string("exists and is not a regular file (") +
                                  file_type_name(st.st_mode) + ")");
  }
  if (::rename(w.temp_path.c_str(), w.path.c_str()) != 0) {
    const int err = errno;
    ::unlink(w.temp_path.c_str());
    fail(ErrorKind::io,
         "cannot rename " + quoted(w.temp_path) + " to " + quoted(w.path) + ": " + errno_text(err));
  }
  w.committed = true;
  // Make the rename itself durable. Best effort: some file systems refuse fsync on directories,
  // and the data is already complete and in place.
  const int dir = ::open(directory_of(w.path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

}  // namespace jitson
