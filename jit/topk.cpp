// The chunked top-k accumulator: see jitson/topk.hpp.
#include "jitson/topk.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "jitson/cpu.hpp"
#include "jitson/engine.hpp"
#include "jitson/error.hpp"
#include "jitson/tuning.hpp"
#include "runtime/topk_heap.hpp"

namespace jitson {

namespace {
// Where a feed's records are, and who they are: one kernel call's worth at a time.
struct FeedRun {
  BlockFn fn;
  const void *context;
  const uint64_t *row_ids;
  uint64_t base_row;
  const uint8_t *skip;
};
}  // namespace

struct TopKAccumulator::Impl {
  std::shared_ptr<const Kernel> kernel;
  uint32_t record_bytes = 0;
  uint32_t n_stages = 1;
  uint64_t n_queries = 0;
  std::vector<uint8_t> queries;
  std::vector<TopKHeap> heaps;
  std::vector<ScanStats> stats;
  std::vector<uint64_t> skipped;
  std::vector<Hit> out;            // block-function output, reused across feeds
  std::vector<uint64_t> counters;  // [query][kNumCounters], zeroed per feed
  std::vector<uint64_t> candidates;
  // Byte offsets of the cache lines a record's scan reads before it can be rejected (every
  // stage but the last; the whole focus without a cascade): what gather feeds prefetch.
  std::vector<uint32_t> probe_lines;
  // Byte offsets of every cache line of the focus (all stages): what gather feeds prefetch
  // while most records are read whole.
  std::vector<uint32_t> focus_lines;
  bool prefetch_while_listing = false;  // this CPU's entry (jitson/tuning.hpp)

  void begin_feed(uint64_t per_call);
  void scan_call(const FeedRun &run, const uint8_t *data, uint64_t first, uint64_t count);
  void end_feed(uint64_t n_records);
  // True while at least half the records fed so far were read to the last stage (and before
  // any, when every record is read whole until the heaps fill).
  bool mostly_read_whole() const;
};

namespace {

[[noreturn]] void invalid(const std::string &message) {
  throw Error(ErrorKind::invalid_argument, message);
}

bool skip_bit(const uint8_t *skip, uint64_t i) {
  return (skip[i >> 3] >> (i & 7)) & 1;
}

// The cache lines stages [0, n_stages) of the cascade read, as sorted byte offsets.
std::vector<uint32_t> stage_lines(const Cascade &cascade, size_t n_stages) {
  constexpr uint32_t kLine = 64;
  std::vector<uint32_t> lines;
  for (size_t s = 0; s < n_stages; ++s) {
    for (const Segment &seg : cascade.stages[s].segments) {
      const uint32_t first = seg.first_word * 8 / kLine;
      const uint32_t last = ((seg.first_word + seg.n_words) * 8 - 1) / kLine;
      for (uint32_t l = first; l <= last; ++l) lines.push_back(l * kLine);
    }
  }
  std::sort(lines.begin(), lines.end());
  lines.erase(std::unique(lines.begin(), lines.end()), lines.end());
  return lines;
}

std::vector<uint32_t> probe_lines(const Cascade &cascade) {
  const size_t n_stages = cascade.stages.size();
  return stage_lines(cascade, n_stages > 1 ? n_stages - 1 : n_stages);
}

}  // namespace

TopKAccumulator::TopKAccumulator(std::shared_ptr<const Kernel> kernel, const uint8_t *queries,
                                 uint64_t n_queries)
    : impl_(std::make_unique<Impl>()) {
  if (!kernel) invalid("top-k accumulator: kernel is null");
  if (n_queries == 0) invalid("top-k accumulator: n_queries is 0; give at least one query");
  if (!queries) invalid("top-k accumulator: queries is null");
  Impl &m = *impl_;
  m.record_bytes = kernel->plan().record_bytes;
  if (n_queries > (uint64_t{1} << 40) / m.record_bytes) {
    invalid(fmt::format("top-k accumulator: {} queries of {} bytes is too many", n_queries,
                        m.record_bytes));
  }
  m.n_stages = uint32_t(kernel->plan().cascade.stages.size());
  m.n_queries = n_queries;
  m.queries.assign(queries, queries + n_queries * m.record_bytes);
  const ScanSpec &spec = kernel->spec();
  m.heaps.assign(n_queries, TopKHeap(spec.top_k, spec.max_distance));
  m.stats.assign(n_queries, ScanStats{});
  m.skipped.assign(n_queries, 0);
  m.counters.assign(n_queries * kNumCounters, 0);
  m.candidates.assign(n_queries, 0);
  m.probe_lines = probe_lines(kernel->plan().cascade);
  m.focus_lines = stage_lines(kernel->plan().cascade, kernel->plan().cascade.stages.size());
  m.prefetch_while_listing = prefetch_while_listing(cpu_features());
  m.kernel = std::move(kernel);
}

TopKAccumulator::~TopKAccumulator() = default;
TopKAccumulator::TopKAccumulator(TopKAccumulator &&) noexcept = default;
TopKAccumulator &TopKAccumulator::operator=(TopKAccumulator &&) noexcept = default;

// Scans count records at data (chunk positions first .. first + count) for every query and
// offers the kept ones to the heaps; a hit's index is its chunk position.
void TopKAccumulator::Impl::scan_call(const FeedRun &run, const uint8_t *data, uint64_t first,
                                      uint64_t count) {
  Impl &m = *this;
  uint64_t min_id;
  if (run.row_ids) {
    min_id = *std::min_element(run.row_ids + first, run.row_ids + first + count);
  } else {
    min_id = run.base_row + first;
  }
  for (uint64_t q = 0; q < m.n_queries; ++q) {
    TopKHeap &heap = m.heaps[q];
    BlockArgs args{m.queries.data() + q * m.record_bytes,
                   data,
                   count,
                   first,
                   heap.limit(min_id),
                   0,
                   m.out.data(),
                   &m.counters[q * kNumCounters],
                   run.context};
    const uint64_t got = run.fn(&args);
    m.candidates[q] += got;
    for (uint64_t h = 0; h < got; ++h) {
      const uint64_t at = m.out[h].index;
      if (run.skip && skip_bit(run.skip, at)) {
        ++m.skipped[q];
        continue;
      }
      const uint64_t id = run.row_ids ? run.row_ids[at] : run.base_row + at;
      heap.offer(Hit{id, m.out[h].distance, m.out[h].reserved});
    }
  }
}

void TopKAccumulator::Impl::begin_feed(uint64_t per_call) {
  Impl &m = *this;
  if (m.out.size() < per_call) m.out.resize(per_call);
  std::fill(m.counters.begin(), m.counters.end(), 0);
  std::fill(m.candidates.begin(), m.candidates.end(), 0);
}

void TopKAccumulator::Impl::end_feed(uint64_t n_records) {
  Impl &m = *this;
  for (uint64_t q = 0; q < m.n_queries; ++q) {
    add_block_counters(&m.counters[q * kNumCounters], n_records, m.candidates[q], m.n_stages,
                       m.stats[q]);
  }
}

bool TopKAccumulator::Impl::mostly_read_whole() const {
  uint64_t records = 0, whole = 0;
  for (const ScanStats &s : stats) {
    records += s.records;
    whole += s.evaluated_full;
  }
  return whole * 2 >= records;
}

void TopKAccumulator::feed(const Chunk &chunk) {
  Impl &m = *impl_;
  const DatabaseView &db = chunk.records;
  const auto [fn, context] = m.kernel->entry(db);  // record size and layout checks
  db.payload_bytes();                              // the view's own rules (hand-built views)
  if (db.n_records == 0) return;
  if (!db.data) invalid("top-k feed: records is null but n_records > 0");

  const uint64_t n = db.n_records;
  const uint32_t per_call = records_per_call(db, m.kernel->plan().block_records);
  m.begin_feed(per_call);
  // Record blocks outer, queries inner: a block is read from memory once for every query. Both
  // layouts start a call at its first record (a blocked chunk starts on a block boundary and
  // calls span whole blocks), so a hit's index is its position in the chunk.
  const FeedRun run{fn, context, chunk.row_ids, chunk.base_row, chunk.skip};
  for (uint64_t begin = 0; begin < n; begin += per_call) {
    const uint64_t count = std::min<uint64_t>(per_call, n - begin);
    m.scan_call(run, db.data + begin * db.record_bytes, begin, count);
  }
  m.end_feed(n);
}

void TopKAccumulator::feed(const GatherChunk &chunk) {
  Impl &m = *impl_;
  if (chunk.n_records == 0) return;
  if (!chunk.records) invalid("top-k gather feed: records is null but n_records > 0");
  for (uint64_t i = 0; i < chunk.n_records; ++i) {
    if (!chunk.records[i]) invalid(fmt::format("top-k gather feed: records[{}] is null", i));
  }
  // records[i] as a one-record row-major view: the record size and layout checks, and the
  // entry that scans one record where it lies (unaligned loads, nothing read beyond it).
  const auto [fn, context] =
      m.kernel->entry(DatabaseView::rows(chunk.records[0], 1, m.record_bytes));
  // Generated code also has a gather entry, which scans a run of scattered records in one call
  // (the call's setup, its query loads and counters, once per run instead of per record). Zen 5,
  // 200,000 PLAIN values in PostgreSQL, builds alternated 3 times: a one-word focus (the page
  // walk, most records rejected at once) 8.3 -> 7.1-7.4 ms with runs of 4, 8 or 16 records; a
  // full top-10, bound by memory, alike within the noise (19.7-20.8 -> 20.2-20.9 ms with 16).
  const BlockFn gather = m.kernel->gather_function();
  constexpr uint64_t kGatherRun = 16;
  const uint64_t run_records = gather ? kGatherRun : 1;
  m.begin_feed(run_records);
  const FeedRun run{gather ? gather : fn, gather ? nullptr : context, chunk.row_ids, chunk.base_row,
                    chunk.skip};
  const uint64_t n = chunk.n_records;
  // Scattered records defeat the hardware prefetchers, and a rejected record costs little more
  // than its first miss: ask for the lines the cascade probes a few records ahead. A prefetch
  // never faults, and these lines lie inside the record.
  constexpr uint64_t kAhead = 16;
  const auto prefetch = [&](uint64_t i) {
    for (uint32_t at : m.probe_lines) __builtin_prefetch(chunk.records[i] + at);
  };
  // While most records are read whole, the prefetchers still stop at each record's end: ask
  // for all focused lines a few records ahead, into L2 (prefetcht2) so that the requests do
  // not fill L1's miss buffers. On PostgreSQL's shared buffers (3 values of 2 KB a page) this
  // took a top-10 from 94-125 to 73-77 ms; farther ahead (8) or into L1 gained less.
  constexpr uint64_t kWholeAhead = 3;
  const bool whole = m.mostly_read_whole();
  const auto prefetch_whole = [&](uint64_t i) {
    for (uint32_t at : m.focus_lines) __builtin_prefetch(chunk.records[i] + at, 0, 1);
  };
  for (uint64_t i = 0; i < std::min(kAhead, n); ++i) prefetch(i);
  for (uint64_t i = 0; whole && i < std::min(kWholeAhead, n); ++i) prefetch_whole(i);
  for (uint64_t i = 0; i < n; i += run_records) {
    const uint64_t count = std::min(run_records, n - i);
    // each record asked for kAhead (kWholeAhead) records before the run that reads it
    for (uint64_t j = i + kAhead; j < std::min(i + count + kAhead, n); ++j) prefetch(j);
    for (uint64_t j = i + kWholeAhead; whole && j < std::min(i + count + kWholeAhead, n); ++j) {
      prefetch_whole(j);
    }
    if (gather) {
      // reinterpret_cast: the gather entry reads BlockArgs.records as the record pointers.
      m.scan_call(run, reinterpret_cast<const uint8_t *>(chunk.records + i), i, count);
    } else {
      m.scan_call(run, chunk.records[i], i, 1);
    }
  }
  m.end_feed(n);
}

void TopKAccumulator::merge(const TopKAccumulator &from) {
  Impl &m = *impl_;
  const Impl &f = *from.impl_;
  if (&f == &m) invalid("top-k merge: an accumulator cannot be merged into itself");
  if (f.kernel != m.kernel && !f.kernel->spec().same_meaning(m.kernel->spec())) {
    invalid(
        "top-k merge: the accumulators' kernels differ in meaning (config); merge results "
        "of the same config only");
  }
  if (f.n_queries != m.n_queries || f.queries != m.queries) {
    invalid(
        fmt::format("top-k merge: the accumulators hold different queries ({} and {}); "
                    "merge results of the same queries only",
                    f.n_queries, m.n_queries));
  }
  for (uint64_t q = 0; q < m.n_queries; ++q) {
    for (const Hit &h : f.heaps[q].hits()) m.heaps[q].offer(h);
    m.stats[q] += f.stats[q];
    m.skipped[q] += f.skipped[q];
  }
}

void TopKAccumulator::reset() {
  Impl &m = *impl_;
  for (TopKHeap &h : m.heaps) h.clear();
  std::fill(m.stats.begin(), m.stats.end(), ScanStats{});
  std::fill(m.skipped.begin(), m.skipped.end(), 0);
}

uint64_t TopKAccumulator::n_queries() const {
  return impl_->n_queries;
}

const Kernel &TopKAccumulator::kernel() const {
  return *impl_->kernel;
}

namespace {
void check_query(uint64_t query, uint64_t n_queries) {
  if (query >= n_queries) {
    invalid(
        fmt::format("top-k: query {} is out of range; the accumulator holds {}", query, n_queries));
  }
}
}  // namespace

std::vector<Hit> TopKAccumulator::hits(uint64_t query) const {
  check_query(query, impl_->n_queries);
  return impl_->heaps[query].sorted();
}

const ScanStats &TopKAccumulator::stats(uint64_t query) const {
  check_query(query, impl_->n_queries);
  return impl_->stats[query];
}

uint32_t TopKAccumulator::limit(uint64_t query) const {
  check_query(query, impl_->n_queries);
  return impl_->heaps[query].limit(0);
}

uint32_t TopKAccumulator::listing_prefetch_bytes() const {
  const Impl &m = *impl_;
  if (!m.prefetch_while_listing || m.focus_lines.empty() || !m.mostly_read_whole()) return 0;
  return std::min(m.focus_lines.back() + 64, m.record_bytes);  // sorted: the last line's end
}

uint64_t TopKAccumulator::skipped(uint64_t query) const {
  check_query(query, impl_->n_queries);
  return impl_->skipped[query];
}

}  // namespace jitson
