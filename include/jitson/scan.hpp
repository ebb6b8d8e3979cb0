// Scan results, the block-function ABI shared by every backend, the runtime cascade that
// interprets a plan with precompiled kernels, and the one top-k driver all backends use.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "jitson/database.hpp"
#include "jitson/metric.hpp"

namespace jitson {

// Same layout as the C API's jitson_hit. Hamming: distance is the masked distance, reserved 0.
// Tanimoto: distance is the similarity's rank and reserved the union (tanimoto_of decodes both;
// jitson/metric.hpp).
struct Hit {
  uint64_t index;
  uint32_t distance;
  uint32_t reserved;
  bool operator==(const Hit &o) const { return index == o.index && distance == o.distance; }
};

inline constexpr int kMaxStages = 8;

// Counters that add up: records = Σ_{s < last} rejected_by_stage[s] + evaluated_full, and
// evaluated_full = rejected_by_stage[last] + hits. "hits" counts records that reached the
// top-k collector (distance below the bound current at that moment), so with top-k the number
// depends on scan order; the returned hits never do.
struct ScanStats {
  uint64_t records = 0;
  uint64_t evaluated_full = 0;
  uint64_t hits = 0;
  std::array<uint64_t, kMaxStages> rejected_by_stage{};
  // Statistical cascade only: records rejected by a proportional bound whose partial distance
  // was still below the exact bound. These are the hits the mode may have lost.
  uint64_t statistically_pruned = 0;
  uint64_t words_read = 0;  // focused words loaded, summed over records (0 if not counted)
  // Tanimoto over a popcount-ordered database (jitson/popcount.hpp): records never read because
  // their popcount alone rules them out. Not part of `records`, which counts records examined.
  uint64_t bound_skipped = 0;
  // The records whose word counts the word-count bound read instead of the record (one byte per
  // 64-bit word, an eighth of the record's bytes); those it kept are also counted in `records`.
  uint64_t word_counts_read = 0;
  ScanStats &operator+=(const ScanStats &o);
};

struct ScanResult {
  std::vector<Hit> hits;  // ordered by (distance, index)
  ScanStats stats;
};

// One segment of a cascade stage: n_words consecutive words, all bits counted (full), or one
// word AND-ed with mask (partial, n_words == 1).
struct Segment {
  uint32_t first_word = 0;
  uint32_t n_words = 0;
  bool full = true;
  uint64_t mask = ~uint64_t{0};
};

struct CascadeStage {
  std::vector<Segment> segments;
  uint32_t words = 0;  // focused words in this stage
  // Reject iff cumulative partial > statistical_bound (statistical mode); UINT32_MAX otherwise.
  uint32_t statistical_bound = UINT32_MAX;
};

// Stages in evaluation order; partial distances accumulate across stages. A record is rejected
// after stage s iff partial >= limit (exact rule) or partial > statistical_bound. After the last
// stage the partial is the full masked distance, and the record is a hit iff distance < limit.
// Tanimoto (metric): each stage accumulates the intersection c and the record bits b, rejects
// when tanimoto_stage_rejects(c, b, a, a_left, limit), and a record is a hit iff
// tanimoto_keeps(c, u, limit); its Hit carries rank(c, u) and u (jitson/metric.hpp).
struct KernelTable;
struct TileLine;
struct Cascade {
  Metric metric = Metric::hamming;
  uint32_t record_bytes = 0;
  std::vector<CascadeStage> stages;
  const KernelTable *kernels = nullptr;  // runtime interpreter's kernels; nullptr = kernels()
  uint32_t block_records = 0;            // blocked layout only: records per block (B)
};

// Argument block of a block function (C ABI, also the JIT kernels' only argument).
struct BlockArgs {
  const uint8_t *query;    // record_bytes
  const uint8_t *records;  // first record of the block, row-major
  uint64_t n_records;
  uint64_t base_index;  // index of records[0] in the database
  uint32_t limit;       // exclusive bound: a record is kept iff distance < limit
  uint32_t reserved;
  Hit *out;             // room for n_records hits
  uint64_t *counters;   // [0..7] rejects per stage, [8] statistically pruned, [9] words read
  const void *context;  // backend data (the runtime passes its Cascade)
};
inline constexpr int kCounterStatPruned = 8;
inline constexpr int kCounterWordsRead = 9;
inline constexpr int kNumCounters = 10;

// Appends to out every record of the block whose distance < limit, in index order, and returns
// how many. Must never read outside query[0, record_bytes) and the block's records.
using BlockFn = uint64_t (*)(const BlockArgs *args);
// A gather entry (Kernel::gather_function) has the same type and contract, except that
// args->records points at n_records `const uint8_t *` record pointers instead of the records.

// Records per block-function call for db: `requested` (the plan's block_records; 0 = choose) for
// a row-major view, else about 256 KB of records; for a blocked view whole blocks, at least 4096
// records.
uint32_t records_per_call(const DatabaseView &db, uint32_t requested);

// Adds the counters of block-function calls over `records` records that returned `candidates`
// hits in total to st (the ScanStats identities above).
void add_block_counters(const uint64_t *counters, uint64_t records, uint64_t candidates,
                        uint32_t n_stages, ScanStats &st);

// The runtime interpreter of a Cascade (context must point to the Cascade).
uint64_t scan_block_runtime(const BlockArgs *args);

// Blocked layout (docs/FORMAT.md, issue 6): blocks of B records; inside a block, word w of
// record r is the 8 bytes at offset (w * B + r) * 8 from the block start. A SWEEP function has
// the BlockFn signature with these meanings of BlockArgs:
//   records    → start of the first block (block-aligned)
//   base_index → database index of record 0 of the first block
//   reserved   → records at the start of the first block to skip (the range starts there)
//   n_records  → end of the range, counted from record 0 of the first block
// It visits records [reserved, n_records) stage by stage across each block (SIMD across
// records), appends hits in index order, and keeps the counters exactly as a row kernel does
// for the same limit: counters[s] rejects at stage s, [8] statistically pruned, [9] focused
// words read (for each record, the words of every stage it entered). Padding records past the
// database end are never visited. B and the stride are baked into the generated code.
uint64_t sweep_block_runtime(const BlockArgs *args);  // context: Cascade with block_records

// Builds the cascade of a focus mask (record_bytes/8 words; empty = all bits) with probe stages
// given as CUMULATIVE focused-word counts, strictly increasing (e.g. {1, 8}: K0 = the first
// focused word, K1 = the first 8 focused words, then all of them; the distance accumulates, so
// K1 reads only words 2..8). Counts past the focused words are dropped. Statistical bounds unset.
Cascade make_cascade(uint32_t record_bytes, std::span<const uint64_t> mask,
                     std::span<const uint32_t> stage_words);

struct ScanRequest {
  uint32_t max_distance = UINT32_MAX;
  uint32_t top_k = 10;
  unsigned threads = 1;  // 0 = all cores
  uint64_t begin = 0;    // record range [begin, end); end = UINT64_MAX means n_records
  uint64_t end = UINT64_MAX;
  uint32_t block_records = 0;  // 0 = choose
  uint32_t n_stages = 1;       // stages of the block function, for the statistics
};

// The top-k driver: runs fn over blocks of the range (split over threads), keeps the best
// top_k by (distance, index) with distance <= max_distance, and tightens the limit passed to
// fn as the heap fills. Identical results for any thread count and block size.
// For a blocked view (db.layout == Layout::blocked) fn must be a SWEEP function: calls then
// cover whole blocks (a multiple of db.block_records records, at least 4096), a range that starts
// mid-block passes `reserved`, and threads split the range on block boundaries.
ScanResult scan_with(BlockFn fn, const void *context, const uint8_t *query, DatabaseView db,
                     const ScanRequest &request);

// n_queries queries of db.record_bytes each, record blocks shared across queries (each block
// of records is streamed from memory once and reused from cache for all queries).
std::vector<ScanResult> scan_batch_with(BlockFn fn, const void *context, const uint8_t *queries,
                                        uint64_t n_queries, DatabaseView db,
                                        const ScanRequest &request);

// The batch with a register tile (KernelTable::hamming_tile): up to tile_queries queries
// compared with each record line at once, over all the cascade's words. A group of queries is
// tiled over a block when their limits are too high for any stage before the last to reject a
// record (then the cascade decides on the full distance alone, as the tile does), else each
// query runs fn, the cascade's block function, over it. Same results and statistics as
// scan_batch_with(fn).
// batch_tile_applies: Hamming over a row-major view, whole 64-byte lines only (a sparse focus
// is faster through the row kernels, which read just its words: 2 x on sparse-focus.json), and
// at least kMinTiledBatch queries. Below that the records a block brings from DRAM serve too
// few queries: 200,000 x 2 KiB records from DRAM on Zen 4, 8 queries 44 against 40 ms through
// the row kernel, 16 queries 72 against 69, 32 queries 122 against 128, 100 queries 1.28 x.
inline constexpr uint64_t kMinTiledBatch = 32;
bool batch_tile_applies(const Cascade &c, const DatabaseView &db, uint64_t n_queries);
std::vector<TileLine> tile_lines(const Cascade &c);  // every stage's words as 64-byte lines
std::vector<ScanResult> scan_batch_tiled(const Cascade &c, const KernelTable &kernels,
                                         uint32_t tile_queries, BlockFn fn, const void *context,
                                         const uint8_t *queries, uint64_t n_queries,
                                         DatabaseView db, const ScanRequest &request);

// The runtime reference scan (issue 2): exact masked top-k using the dispatched kernels.
// mask empty = all bits; stage_words as in make_cascade. A blocked view is swept with
// sweep_block_runtime.
ScanResult scan_runtime(const uint8_t *query, DatabaseView db, std::span<const uint64_t> mask,
                        uint32_t max_distance, uint32_t top_k, unsigned threads = 1,
                        std::span<const uint32_t> stage_words = {});

}  // namespace jitson
