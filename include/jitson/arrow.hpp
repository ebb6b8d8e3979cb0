// Arrow C data interface arrays and streams of records fed to the chunked top-k accumulator, in
// place: the C++ side of jitson/arrow.h (value types, null and offset rules are described there).
// Every function throws Error(invalid_argument) with a message naming the argument, the row and,
// in a stream, the batch.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "jitson/arrow.h"
#include "jitson/database.hpp"
#include "jitson/topk.hpp"

namespace jitson {

class Kernel;

namespace arrow {

// Names an array's rows in messages: "<what> row <first_row + i>[ (batch <batch>)]".
struct RowNames {
  std::string what = "values";
  uint64_t first_row = 0;
  int64_t batch = -1;  // batch index in a stream, or -1
};

// The chunks one Arrow array of records is fed as, validated whole: records point into the
// producer's data buffer (never copied), ids into its id buffer when that is 8-byte aligned;
// skip bitmaps (nulls) are built here. binary_view values that do not lie back to back (runs
// shorter than a few records, values scattered over data buffers, inline values) are read in
// place by pointer: gathers(). Valid while the producer's arrays are (unreleased) and this object
// lives; moving it keeps every pointer (the storage is on the heap).
class Chunks {
 public:
  const std::vector<Chunk> &chunks() const { return chunks_; }
  // binary_view only: non-null values fed by pointer, with explicit row ids (no skip bits).
  const std::vector<GatherChunk> &gathers() const { return gathers_; }
  uint64_t rows() const { return rows_; }        // the array's length
  uint64_t null_rows() const { return nulls_; }  // rows skipped as null
  // TopKAccumulator::feed of every chunk and gather chunk.
  void feed(TopKAccumulator &acc) const;

 private:
  friend struct ChunkBuilder;
  std::vector<Chunk> chunks_;
  std::vector<std::vector<uint8_t>> skips_;
  std::vector<uint64_t> ids_;  // a copy of an unaligned id buffer only
  uint64_t rows_ = 0, nulls_ = 0;
  std::vector<GatherChunk> gathers_;
  std::vector<std::vector<const uint8_t *>> gather_records_;
  std::vector<std::vector<uint64_t>> gather_ids_;
};

// Splits values (and ids, both may be null: row ids base_row + i) into chunks of record_bytes
// records.
Chunks split(uint32_t record_bytes, const ArrowSchema &values_schema, const ArrowArray &values,
             const ArrowSchema *ids_schema, const ArrowArray *ids, uint64_t base_row,
             const RowNames &names = {});

// split() then TopKAccumulator::feed of every chunk: on error nothing has been fed.
void feed(TopKAccumulator &acc, const ArrowSchema &values_schema, const ArrowArray &values,
          const ArrowSchema *ids_schema = nullptr, const ArrowArray *ids = nullptr,
          uint64_t base_row = 0);

// Feeds every batch of the stream (see jitson_topk_feed_arrow_stream) and returns the number of
// rows read. Batches and the schema are released as the spec requires, on errors too.
uint64_t feed_stream(TopKAccumulator &acc, ArrowArrayStream &stream, const char *column,
                     const char *id_column = nullptr);
// The same, calling between_batches() after each batch has been fed, before the next get_next:
// an embedding checks for an interrupt there (Python: Ctrl-C). What it throws ends the feed like
// an error (the schema released; the batches before stay fed).
uint64_t feed_stream(TopKAccumulator &acc, ArrowArrayStream &stream, const char *column,
                     const char *id_column, const std::function<void()> &between_batches);

// An accumulator whose queries are the rows of the array (copied; a null row is an error).
TopKAccumulator make_topk(std::shared_ptr<const Kernel> kernel, const ArrowSchema &schema,
                          const ArrowArray &array);

// The records of an array without nulls, in place (a null row is an error naming it). binary_view
// values must lie back to back in one data buffer (an error otherwise: use copy_records).
DatabaseView records(const ArrowSchema &schema, const ArrowArray &array, uint32_t record_bytes);

// The records of an array without nulls copied in row order into one row-major block (any value
// type; a null row is an error naming it): queries, and binary_view values that lie apart.
std::vector<uint8_t> copy_records(const ArrowSchema &schema, const ArrowArray &array,
                                  uint32_t record_bytes, const RowNames &names = {});

}  // namespace arrow
}  // namespace jitson
