// Views of fingerprint databases: caller memory, or a memory-mapped fingerprint file
// (format in docs/FORMAT.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace jitson {

enum class Layout : uint32_t {
  row_major = 0,  // record i at byte i * record_bytes
  blocked = 1,    // blocks of block_records records, word-major inside a block (issue 6)
};

// A validated, non-owning view of N records.
struct DatabaseView {
  const uint8_t *data = nullptr;
  uint64_t n_records = 0;
  uint32_t record_bytes = 0;
  Layout layout = Layout::row_major;
  uint32_t block_records = 0;  // blocked layout only

  // Row-major view over caller memory. Throws Error(invalid_argument) for a null pointer with
  // n_records > 0, record_bytes == 0 or not a multiple of 8, or a size that overflows.
  static DatabaseView rows(const void *data, uint64_t n_records, size_t record_bytes);
  // Same, from a byte length that must be an exact multiple of record_bytes.
  static DatabaseView rows_from_bytes(const void *data, size_t n_bytes, size_t record_bytes);
  // Blocked view over caller memory holding payload_bytes() bytes (docs/FORMAT.md): the same
  // checks as rows(), and block_records a power of two in [8, 4096].
  static DatabaseView blocked(const void *data, uint64_t n_records, size_t record_bytes,
                              uint32_t block_records);

  const uint8_t *record(uint64_t i) const { return data + i * record_bytes; }  // row_major only
  // Bytes the records occupy: n_records * record_bytes (row_major), or whole blocks including
  // the zero padding records of the last one (blocked). Throws Error(invalid_argument) for a
  // view that breaks the rules above.
  uint64_t payload_bytes() const;
};

// The on-disk header (64 bytes, little-endian). The payload starts at header_bytes, a multiple
// of 64, so records are 64-byte aligned in a page-aligned mapping.
struct FileHeader {
  static constexpr char kMagic[8] = {'J', 'I', 'T', 'S', 'O', 'N', 'F', 'P'};
  static constexpr uint32_t kVersion = 1;
  static constexpr uint32_t kSize = 64;
  uint32_t version = kVersion;
  Layout layout = Layout::row_major;
  uint32_t record_bits = 0;
  uint32_t block_records = 0;
  uint64_t record_count = 0;
  uint64_t header_bytes = kSize;
  // Record order (bytes 40..43): kOrderNone, or kOrderPopcount: row-major records in ascending
  // popcount, followed by the popcount section (docs/FORMAT.md) at the next 64-byte boundary.
  static constexpr uint32_t kOrderNone = 0;
  static constexpr uint32_t kOrderPopcount = 1;
  uint32_t order = kOrderNone;
  // Bytes after the header: the records, then for kOrderPopcount the padding and the section.
  uint64_t body_bytes() const;
  uint64_t section_offset() const;  // from the start of the payload; kOrderPopcount only
};

// Largest record the file format allows.
inline constexpr uint32_t kMaxFileRecordBits = 65536;

struct FileOpenOptions {
  std::optional<uint32_t> raw_record_bits;  // read as headerless raw records of this size
  bool populate = false;                    // MAP_POPULATE: fault every page in at open time
};

// Where a scan reads inside the payload: the byte runs [begin, end) of one period (a record of a
// row-major file, a block of a blocked one), the same in every period. No runs: every byte.
struct ReadPattern {
  uint64_t period = 0;
  std::vector<std::pair<uint64_t, uint64_t>> runs;  // each within [0, period)
};

// What a file of this st_mode is, for messages: "a regular file", "a FIFO", "a character
// device", ...
const char *file_type_name(unsigned mode);

// The path an atomic writer (a temporary file renamed on success) may rename onto: `path` when
// it is absent or a regular file, the resolved target of a symbolic link to a regular file
// (written through the link, as the shell's `>` does). Anything else would be replaced by the
// rename (a FIFO or device node turned into a regular file): Error(invalid_argument) "'path':
// exists and is not a regular file (a FIFO); refusing to replace it".
std::string replaceable_output_path(const std::string &path);

// A read-only memory-mapped fingerprint file. Move-only; unmaps on destruction. The mapping is
// shared with the file: truncating the file while it is mapped makes reads fault (SIGBUS).
class FingerprintFile {
 public:
  // Opens a file with a header. If raw_record_bits is given the file is read as headerless raw
  // records of that size instead. Throws Error(io) or Error(format) with the path and the rule;
  // a FIFO, socket or device is refused (Error(io), "not a regular file (a FIFO)") without
  // blocking: it is never opened.
  static FingerprintFile open(const std::string &path,
                              std::optional<uint32_t> raw_record_bits = std::nullopt);
  static FingerprintFile open(const std::string &path, const FileOpenOptions &options);
  FingerprintFile(FingerprintFile &&) noexcept;
  FingerprintFile &operator=(FingerprintFile &&) noexcept;
  ~FingerprintFile();

  DatabaseView view() const { return view_; }
  const FileHeader &header() const { return header_; }

  // Residency of a scan that walks the payload in windows (offsets are payload bytes, clamped to
  // the payload). Opening advises nothing: what a scan reads depends on its plan (a sweep reads
  // 1/256 of a blocked file), and on kernels that map whole large folios per fault a mapping
  // grows by far more than what is read, so the reader bounds its resident set itself.
  //
  // will_read starts reading from storage the pages of [begin, end) that `pattern` reads and the
  // page cache lacks (MADV_WILLNEED, in pieces the per-call readahead cap allows). samples = 0
  // checks every page with mincore(); samples = n checks only n of the pattern's pages, spread
  // over the range, and advises all of them unless every sample is cached: on a warm cache that
  // is n one-page mincore() calls and no advice, where a whole-range check costs about 80 ns per
  // page. Advice only: it maps nothing.
  void will_read(uint64_t begin, uint64_t end, const ReadPattern &pattern,
                 uint64_t samples = 0) const;
  // Unmaps the whole pages inside [begin, end) from this process (MADV_DONTNEED). The mapping is
  // a read-only view of the file, so the pages stay in the page cache and the next read maps
  // them again with the same bytes: view() stays valid, only the resident set shrinks.
  void release(uint64_t begin, uint64_t end) const;

  bool has_header() const { return has_header_; }
  // The popcount section of a kOrderPopcount file (docs/FORMAT.md): record_bits + 2 bucket starts
  // then record_count original indices, as little-endian u64; nullptr for other files. Not
  // validated here: PopcountOrder::of_file checks it (jitson/popcount.hpp).
  const uint64_t *popcount_section() const { return popcount_section_; }
  const std::string &path() const { return path_; }

 private:
  FingerprintFile() = default;
  void *map_ = nullptr;
  size_t map_bytes_ = 0;
  DatabaseView view_{};
  FileHeader header_{};
  bool has_header_ = false;
  const uint64_t *popcount_section_ = nullptr;
  std::string path_;
};

// Parses and validates a header from the first bytes of a file of file_bytes bytes.
FileHeader parse_header(const uint8_t *bytes, size_t available, uint64_t file_bytes,
                        const std::string &path);
// Serialises a header into exactly FileHeader::kSize bytes.
void encode_header(const FileHeader &h, uint8_t out[FileHeader::kSize]);

// Streams records into a fingerprint file atomically: writes to "<path>.tmp.<pid>" and renames
// on commit(); destruction without commit() removes the temporary file. A path that exists and
// is not a regular file (FIFO, device, socket, directory) is refused, Error(invalid_argument),
// at construction and again right before the rename; a symbolic link to a regular file is
// written through (its target is replaced, the link kept), any other link is refused.
class FingerprintWriter {
 public:
  // order FileHeader::kOrderPopcount: write() then takes the whole body (records, zero padding
  // to 64 bytes, the popcount section), FileHeader::body_bytes() in all.
  FingerprintWriter(const std::string &path, uint32_t record_bits, uint64_t record_count,
                    Layout layout = Layout::row_major, uint32_t block_records = 0,
                    bool with_header = true, uint32_t order = FileHeader::kOrderNone);
  ~FingerprintWriter();
  FingerprintWriter(const FingerprintWriter &) = delete;
  FingerprintWriter &operator=(const FingerprintWriter &) = delete;
  void write(const uint8_t *bytes, size_t n);  // payload bytes, in order
  void commit();                               // checks the byte count, fsyncs, renames

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jitson
