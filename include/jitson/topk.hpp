// Chunked (streaming) top-k: feed a table chunk by chunk, in any order and split, to one
// accumulator or to several merged ones, and get exactly the result of one scan over the whole.
// This is how a query engine drives jitson: PostgreSQL pages, SQLite blobs, Arrow record batches,
// shards.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "jitson/database.hpp"
#include "jitson/scan.hpp"

namespace jitson {

class Kernel;

// The records of one chunk and who they are.
struct Chunk {
  // Row-major records, or whole blocks of a blocked layout (the kernel's sweep scans those).
  DatabaseView records;
  // The caller's id of record i: row_ids[i], or base_row + i when row_ids is null. Ids may be
  // sparse and unordered; ties in distance are broken by them.
  const uint64_t *row_ids = nullptr;
  uint64_t base_row = 0;
  // One bit per record, least significant bit first (bit i = byte i / 8, bit i % 8): 1 = skip
  // (deleted, null, filtered out). Null: no record is skipped. Skipped records may still be read
  // by the kernel; they never reach the result.
  const uint8_t *skip = nullptr;
};

// Records scattered in memory and read where they lie, with no copy: records[i] points at record
// i's bytes (any alignment), e.g. values inside a database's pages. Row layout only; ids and skip
// bits as in Chunk, by position in records.
struct GatherChunk {
  const uint8_t *const *records = nullptr;
  uint64_t n_records = 0;
  const uint64_t *row_ids = nullptr;
  uint64_t base_row = 0;
  const uint8_t *skip = nullptr;
};

// Keeps, per query, the best top_k of every record fed so far by (distance, row id) with
// distance <= max_distance (the kernel's config): any split of a table into chunks, fed in any
// order to one accumulator or to several merged ones, gives exactly the hits of one scan over the
// whole table with ids as indices. Range search is the same object: with max_distance set, the
// result is every record within range, capped at the first top_k by (distance, row id).
//
// The bound carries across chunks: once a query's heap is full its worst distance bounds the
// kernel's cascade on the next chunk, so later chunks prune as hard as one scan does.
//
// Not thread-safe: one accumulator per thread (each on the caller's thread, no threads started),
// then merge().
class TopKAccumulator {
 public:
  // n_queries queries of the kernel's record size each, copied (the caller may free them).
  TopKAccumulator(std::shared_ptr<const Kernel> kernel, const uint8_t *queries, uint64_t n_queries);
  ~TopKAccumulator();
  TopKAccumulator(TopKAccumulator &&) noexcept;
  TopKAccumulator &operator=(TopKAccumulator &&) noexcept;

  // Scans the chunk for every query. Throws Error(invalid_argument) for a chunk of another
  // record size or a layout the kernel lacks (Error(unsupported)); the accumulator is unchanged
  // then.
  void feed(const Chunk &chunk);
  // The same for records in place: exactly what feed() gives for them gathered into one chunk.
  // Throws Error(unsupported) for a kernel without a row entry, Error(invalid_argument) for a null
  // pointer; the accumulator is unchanged then.
  void feed(const GatherChunk &chunk);
  // Adds another accumulator's hits and statistics: it must hold the same queries for a kernel
  // of the same meaning (Error(invalid_argument) otherwise).
  void merge(const TopKAccumulator &from);
  // Forgets every hit and statistic; the queries and the kernel stay.
  void reset();

  uint64_t n_queries() const;
  const Kernel &kernel() const;
  // Hits of one query ordered by (distance, row id); Hit::index is the row id.
  std::vector<Hit> hits(uint64_t query) const;
  // Kernel statistics summed over every chunk fed (and merged); skipped records count as
  // scanned records, and "hits" counts candidates before skipping.
  const ScanStats &stats(uint64_t query) const;
  uint64_t skipped(uint64_t query) const;  // candidates dropped because their skip bit was set
  // The exclusive distance (Tanimoto: rank) a record of any id must be below to enter query's
  // result now: max_distance + 1 until the heap is full, then the worst held + 1.
  uint32_t limit(uint64_t query) const;
  // For a caller that lists the records it feeds through feed(GatherChunk): the bytes from each
  // record's start worth prefetching while it lists them (the focus's extent while most records
  // are read whole, on a CPU where prefetch_while_listing holds); 0: prefetch nothing more than
  // the first lines, the feed asks for the rest a few records ahead.
  uint32_t listing_prefetch_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jitson
