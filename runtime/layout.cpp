// Row-major ↔ blocked conversion (docs/FORMAT.md "Blocked layout").
#include "jitson/layout.hpp"

#include <algorithm>
#include <cstring>
#include <new>

#include <string>
#include "runtime/streamed_buffer.hpp"

#include "jitson/error.hpp"

namespace jitson {
namespace {

void check_geometry(uint32_t record_bytes, uint32_t block_records, const char *where) {
  if (record_bytes == 0 || record_bytes % 8 != 0) {
    throw Error(ErrorKind::invalid_argument, std::string(where) + ": record size " +
                                                 std::to_string(record_bytes) +
                                                 " bytes is not a positive multiple of 8");
  }
  if (block_records < 8 || block_records > 4096 || (block_records & (block_records - 1)) != 0) {
    throw Error(ErrorKind::invalid_argument,
                std::string(where) + ": block_records " + std::to_string(block_records) +
                    " is not allowed; a blocked layout needs a power of two from 8 to 4096");
  }
}

}  // namespace

uint64_t blocked_payload_bytes(uint64_t n_records, uint32_t record_bytes, uint32_t block_records) {
  check_geometry(record_bytes, block_records, "blocked_payload_bytes");
  DatabaseView v;
  v.data = reinterpret_cast<const uint8_t *>(uintptr_t{64});  // any non-null: size check only
  v.n_records = n_records;
  v.record_bytes = record_bytes;
  v.layout = Layout::blocked;
  v.block_records = block_records;
  return v.payload_bytes();
}

void rows_to_block(const uint8_t *rows, uint64_t n, uint32_t record_bytes, uint32_t block_records,
                   uint8_t *block_out) {
  const uint32_t words = record_bytes / 8;
  for (uint32_t w = 0; w < words; ++w) {
    uint8_t *dst = block_out + size_t(w) * block_records * 8;
    for (uint64_t j = 0; j < n; ++j) std::memcpy(dst + j * 8, rows + j * record_bytes + w * 8, 8);
    if (n < block_records) std::memset(dst + n * 8, 0, (block_records - n) * 8);
  }
}

void block_to_rows(const uint8_t *block, uint64_t n, uint32_t record_bytes, uint32_t block_records,
                   uint8_t *rows_out) {
  const uint32_t words = record_bytes / 8;
  for (uint64_t j = 0; j < n; ++j) {
    for (uint32_t w = 0; w < words; ++w) {
      std::memcpy(rows_out + j * record_bytes + w * 8, block + (size_t(w) * block_records + j) * 8,
                  8);
    }
  }
}

void to_blocked(DatabaseView rows, uint32_t block_records, uint8_t *out) {
  if (rows.layout != Layout::row_major) {
    throw Error(ErrorKind::invalid_argument, "to_blocked: the source view is not row-major");
  }
  rows.payload_bytes();
  check_geometry(rows.record_bytes, block_records, "to_blocked");
  const uint64_t block_bytes = uint64_t(block_records) * rows.record_bytes;
  for (uint64_t b = 0, i = 0; i < rows.n_records; ++b, i += block_records) {
    const uint64_t n = std::min<uint64_t>(block_records, rows.n_records - i);
    rows_to_block(rows.record(i), n, rows.record_bytes, block_records, out + b * block_bytes);
  }
}

void to_rows(DatabaseView blocked, uint8_t *out) {
  if (blocked.layout != Layout::blocked) {
    throw Error(ErrorKind::invalid_argument, "to_rows: the source view is not blocked");
  }
  blocked.payload_bytes();
  const uint32_t B = blocked.block_records;
  const uint64_t block_bytes = uint64_t(B) * blocked.record_bytes;
  for (uint64_t b = 0, i = 0; i < blocked.n_records; ++b, i += B) {
    const uint64_t n = std::min<uint64_t>(B, blocked.n_records - i);
    block_to_rows(blocked.data + b * block_bytes, n, blocked.record_bytes, B,
                  out + i * blocked.record_bytes);
  }
}

BlockedDatabase::BlockedDatabase(DatabaseView rows, uint32_t block_records) {
  const uint64_t bytes = blocked_payload_bytes(rows.n_records, rows.record_bytes, block_records);
  if (bytes) data_ = static_cast<uint8_t *>(allocate_streamed(bytes));
  try {
    if (bytes) to_blocked(rows, block_records, data_);
  } catch (...) {
    free_streamed(data_, bytes);
    throw;
  }
  view_ = DatabaseView::blocked(data_, rows.n_records, rows.record_bytes, block_records);
}

BlockedDatabase::~BlockedDatabase() {
  if (data_) free_streamed(data_, view_.payload_bytes());
}

BlockedDatabase::BlockedDatabase(BlockedDatabase &&o) noexcept : data_(o.data_), view_(o.view_) {
  o.data_ = nullptr;
  o.view_ = {};
}

BlockedDatabase &BlockedDatabase::operator=(BlockedDatabase &&o) noexcept {
  if (this != &o) {
    if (data_) free_streamed(data_, view_.payload_bytes());
    data_ = o.data_;
    view_ = o.view_;
    o.data_ = nullptr;
    o.view_ = {};
  }
  return *this;
}

}  // namespace jitson
