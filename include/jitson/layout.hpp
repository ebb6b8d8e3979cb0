// Row-major ↔ blocked (word-major in blocks of B records) conversion of fingerprint databases
// (docs/FORMAT.md, docs/BLOCKED.md). Streaming-friendly: a block at a time, so a converter never
// holds more than one block of either layout.
#pragma once

#include <cstdint>
#include <vector>

#include "jitson/database.hpp"

namespace jitson {

// The block size the generated sweep kernels are specialised for: word w of a block is 64
// records × 8 bytes = 512 contiguous bytes = 8 zmm (or 16 ymm) of 8 (4) records each.
inline constexpr uint32_t kDefaultBlockRecords = 64;

// Bytes of a blocked payload: ceil(n_records / B) × B × record_bytes. Throws
// Error(invalid_argument) for a bad record size or B, or on overflow.
uint64_t blocked_payload_bytes(uint64_t n_records, uint32_t record_bytes, uint32_t block_records);

// One block: n (1..B) row-major records (record_bytes each) → B × record_bytes bytes of blocked
// payload; records n..B-1 of the block are zero padding.
void rows_to_block(const uint8_t *rows, uint64_t n, uint32_t record_bytes, uint32_t block_records,
                   uint8_t *block_out);
// One block back: the first n records of a blocked block → n row-major records.
void block_to_rows(const uint8_t *block, uint64_t n, uint32_t record_bytes, uint32_t block_records,
                   uint8_t *rows_out);

// A whole row-major view → a blocked payload of blocked_payload_bytes() bytes at out.
void to_blocked(DatabaseView rows, uint32_t block_records, uint8_t *out);
// A whole blocked view → n_records × record_bytes bytes of row-major records at out.
void to_rows(DatabaseView blocked, uint8_t *out);

// Owning copies, 64-byte aligned (the data() of a view built from them).
class BlockedDatabase {
 public:
  BlockedDatabase() = default;
  BlockedDatabase(DatabaseView rows, uint32_t block_records = kDefaultBlockRecords);
  ~BlockedDatabase();
  BlockedDatabase(BlockedDatabase &&o) noexcept;
  BlockedDatabase &operator=(BlockedDatabase &&o) noexcept;
  BlockedDatabase(const BlockedDatabase &) = delete;
  BlockedDatabase &operator=(const BlockedDatabase &) = delete;
  DatabaseView view() const { return view_; }

 private:
  uint8_t *data_ = nullptr;
  DatabaseView view_{};
};

// A database held in both layouts (the same records). Kernels of layout "auto" pick the one the
// planner's crossover rule prefers (ScanPlan::prefer_sweep); "row" / "blocked" kernels take
// theirs.
struct DualDatabase {
  DatabaseView rows;
  DatabaseView blocked;
};

}  // namespace jitson
