// The cascade interpreter and the top-k driver shared by every backend.
#include "jitson/scan.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>
#include <string>

#include "jitson/cpu.hpp"
#include "jitson/error.hpp"
#include "jitson/kernels.hpp"
#include "jitson/limits.hpp"
#include "runtime/thread_pool.hpp"
#include "runtime/topk_heap.hpp"

namespace jitson {

ScanStats &ScanStats::operator+=(const ScanStats &o) {
  records += o.records;
  evaluated_full += o.evaluated_full;
  hits += o.hits;
  for (int s = 0; s < kMaxStages; ++s)
    rejected_by_stage[size_t(s)] += o.rejected_by_stage[size_t(s)];
  statistically_pruned += o.statistically_pruned;
  words_read += o.words_read;
  bound_skipped += o.bound_skipped;
  word_counts_read += o.word_counts_read;
  return *this;
}

uint32_t records_per_call(const DatabaseView &db, uint32_t requested) {
  if (db.layout == Layout::blocked) {
    // A sweep call covers whole blocks; at least 4096 records, so the per-call overhead is
    // amortised even when a stage-0 probe rejects a record for a few cycles.
    const uint64_t B = db.block_records;
    const uint64_t want = std::max<uint64_t>(requested, 4096);
    return uint32_t(std::min<uint64_t>((want + B - 1) / B * B, uint64_t{1} << 16));
  }
  if (requested) return requested;
  // About 256 KB of records per call: the limit tightens often, the block stays in L2.
  return uint32_t(std::clamp<uint64_t>((256u << 10) / db.record_bytes, 16, 4096));
}

void add_block_counters(const uint64_t *counters, uint64_t records, uint64_t candidates,
                        uint32_t n_stages, ScanStats &st) {
  st.records += records;
  st.hits += candidates;
  for (uint32_t s = 0; s < n_stages; ++s) st.rejected_by_stage[s] += counters[s];
  st.evaluated_full += candidates + counters[n_stages - 1];
  st.statistically_pruned += counters[kCounterStatPruned];
  st.words_read += counters[kCounterWordsRead];
}

Cascade make_cascade(uint32_t record_bytes, std::span<const uint64_t> mask,
                     std::span<const uint32_t> stage_words) {
  if (record_bytes == 0 || record_bytes % 8 != 0) {
    throw Error(ErrorKind::invalid_argument, "record size " + std::to_string(record_bytes) +
                                                 " bytes is not a positive multiple of 8");
  }
  const uint32_t words = record_bytes / 8;
  if (!mask.empty() && mask.size() != words) {
    throw Error(ErrorKind::invalid_argument, "focus mask has " + std::to_string(mask.size()) +
                                                 " words, records have " + std::to_string(words));
  }
  if (stage_words.size() >= size_t(kMaxStages)) {
    throw Error(ErrorKind::invalid_argument,
                "at most " + std::to_string(kMaxStages - 1) + " probe stages are allowed");
  }
  auto mask_of = [&](uint32_t w) { return mask.empty() ? ~uint64_t{0} : mask[w]; };
  std::vector<uint32_t> focused;
  for (uint32_t w = 0; w < words; ++w) {
    if (mask_of(w) != 0) focused.push_back(w);
  }

  // Stage boundaries in the focused-word list: the probe counts, then the rest.
  std::vector<std::pair<size_t, size_t>> bounds;
  size_t at = 0;
  uint32_t previous = 0;
  for (uint32_t cumulative : stage_words) {
    if (cumulative <= previous) {
      throw Error(ErrorKind::invalid_argument,
                  "cascade stages are cumulative word counts and must increase strictly from 1");
    }
    previous = cumulative;
    if (at >= focused.size()) continue;
    size_t end = std::min<size_t>(focused.size(), cumulative);
    bounds.emplace_back(at, end);
    at = end;
  }
  if (at < focused.size() || bounds.empty()) bounds.emplace_back(at, focused.size());

  Cascade cascade;
  cascade.record_bytes = record_bytes;
  for (auto [first, last] : bounds) {
    CascadeStage stage;
    stage.words = uint32_t(last - first);
    for (size_t i = first; i < last; ++i) {
      uint32_t w = focused[i];
      uint64_t m = mask_of(w);
      bool full = m == ~uint64_t{0};
      if (full && !stage.segments.empty()) {
        Segment &prev = stage.segments.back();
        if (prev.full && prev.first_word + prev.n_words == w) {
          ++prev.n_words;
          continue;
        }
      }
      stage.segments.push_back(Segment{w, 1, full, m});
    }
    cascade.stages.push_back(std::move(stage));
  }
  return cascade;
}

namespace {

inline uint64_t load_word(const uint8_t *p) {
  uint64_t x;
  std::memcpy(&x, p, 8);  // unaligned little-endian load (x86 is little-endian)
  return x;
}

// The common case of a single stage that is one run of whole words covering the record:
// distances of the whole block at once through the ISA's streaming kernel.
bool is_plain_full_scan(const Cascade &c) {
  return c.stages.size() == 1 && c.stages[0].segments.size() == 1 && c.stages[0].segments[0].full &&
         c.stages[0].segments[0].first_word == 0 &&
         c.stages[0].segments[0].n_words * 8 == c.record_bytes;
}

}  // namespace

namespace {

// Focused query bits of each stage: the `a` of the Tanimoto bounds, once per call. Whole words
// go through the ISA's popcount (kernels of this file are built for the baseline, where
// std::popcount is a library call); masked words are few.
void query_bits_per_stage(const Cascade &c, const KernelTable &k, const uint8_t *query,
                          uint32_t *bits) {
  static constexpr uint8_t kZeros[kMaxRecordBits / 8] = {};
  for (size_t s = 0; s < c.stages.size(); ++s) {
    uint32_t n = 0;
    for (const Segment &seg : c.stages[s].segments) {
      const uint8_t *at = query + 8 * size_t(seg.first_word);
      if (seg.full) {
        n += uint32_t(k.hamming(at, kZeros, 8 * size_t(seg.n_words)));
      } else {
        n += uint32_t(std::popcount(load_word(at) & seg.mask));
      }
    }
    bits[s] = n;
  }
}

uint64_t scan_block_tanimoto(const BlockArgs *a, const Cascade &c, const KernelTable &k) {
  const size_t stride = c.record_bytes;
  const size_t n_stages = c.stages.size();
  uint32_t stage_query_bits[kMaxStages];
  query_bits_per_stage(c, k, a->query, stage_query_bits);
  uint32_t query_bits = 0;
  for (size_t s = 0; s < n_stages; ++s) query_bits += stage_query_bits[s];

  uint64_t count = 0, words_read = 0;
  for (uint64_t i = 0; i < a->n_records; ++i) {
    const uint8_t *rec = a->records + i * stride;
    uint32_t common = 0, record_bits = 0, query_seen = 0;
    bool rejected = false;
    for (size_t s = 0; s < n_stages && !rejected; ++s) {
      const CascadeStage &stage = c.stages[s];
      for (const Segment &seg : stage.segments) {
        const size_t off = size_t(seg.first_word) * 8;
        if (seg.full && seg.n_words >= 4) {
          const EnergyConflict e = k.energy_conflict(a->query + off, rec + off, seg.n_words * 8);
          common += e.agreement;
          record_bits += e.energy_b;
        } else {
          for (uint32_t w = 0; w < seg.n_words; ++w) {
            const uint64_t r = load_word(rec + off + 8 * w) & seg.mask;
            common += uint32_t(std::popcount(load_word(a->query + off + 8 * w) & r));
            record_bits += uint32_t(std::popcount(r));
          }
        }
      }
      words_read += stage.words;
      query_seen += stage_query_bits[s];
      if (s + 1 == n_stages) break;
      if (tanimoto_stage_rejects(common, record_bits, query_bits, query_bits - query_seen,
                                 a->limit)) {
        ++a->counters[s];
        rejected = true;
      }
    }
    if (rejected) continue;
    const uint32_t union_bits = query_bits + record_bits - common;
    if (tanimoto_keeps(common, union_bits, a->limit)) {
      a->out[count++] = Hit{a->base_index + i, tanimoto_rank(common, union_bits), union_bits};
    } else {
      ++a->counters[n_stages - 1];
    }
  }
  a->counters[kCounterWordsRead] += words_read;
  return count;
}

}  // namespace

uint64_t scan_block_runtime(const BlockArgs *a) {
  const Cascade &c = *static_cast<const Cascade *>(a->context);
  const KernelTable &k = c.kernels ? *c.kernels : kernels();
  if (c.metric == Metric::tanimoto) return scan_block_tanimoto(a, c, k);
  const size_t stride = c.record_bytes;
  const size_t n_stages = c.stages.size();
  uint64_t count = 0;

  if (is_plain_full_scan(c)) {
    constexpr size_t kChunk = 256;
    uint32_t dist[kChunk];
    for (uint64_t i0 = 0; i0 < a->n_records; i0 += kChunk) {
      size_t n = size_t(std::min<uint64_t>(kChunk, a->n_records - i0));
      k.hamming_many(a->query, a->records + i0 * stride, stride, n, stride, dist);
      for (size_t j = 0; j < n; ++j) {
        if (dist[j] < a->limit) {
          a->out[count++] = Hit{a->base_index + i0 + j, dist[j], 0};
        } else {
          ++a->counters[0];
        }
      }
    }
    a->counters[kCounterWordsRead] += a->n_records * c.stages[0].words;
    return count;
  }

  uint64_t words_read = 0;
  for (uint64_t i = 0; i < a->n_records; ++i) {
    const uint8_t *rec = a->records + i * stride;
    uint64_t partial = 0;
    bool rejected = false;
    for (size_t s = 0; s < n_stages && !rejected; ++s) {
      const CascadeStage &stage = c.stages[s];
      for (const Segment &seg : stage.segments) {
        const size_t off = size_t(seg.first_word) * 8;
        if (seg.full && seg.n_words >= 4) {
          partial += k.hamming(a->query + off, rec + off, size_t(seg.n_words) * 8);
        } else {
          for (uint32_t w = 0; w < seg.n_words; ++w) {
            uint64_t x = load_word(a->query + off + 8 * w) ^ load_word(rec + off + 8 * w);
            partial += uint64_t(std::popcount(x & seg.mask));
          }
        }
      }
      words_read += stage.words;
      if (s + 1 == n_stages) break;
      if (partial >= a->limit) {
        ++a->counters[s];
        rejected = true;
      } else if (partial > stage.statistical_bound) {
        ++a->counters[s];
        ++a->counters[kCounterStatPruned];
        rejected = true;
      }
    }
    if (rejected) continue;
    if (partial < a->limit) {
      a->out[count++] = Hit{a->base_index + i, uint32_t(partial), 0};
    } else {
      ++a->counters[n_stages - 1];
    }
  }
  a->counters[kCounterWordsRead] += words_read;
  return count;
}

namespace {

void check_scan_args(const uint8_t *query, const DatabaseView &db, const ScanRequest &r) {
  if (query == nullptr) throw Error(ErrorKind::invalid_argument, "query pointer is null");
  if (db.data == nullptr && db.n_records > 0) {
    throw Error(ErrorKind::invalid_argument, "database pointer is null but n_records > 0");
  }
  if (db.record_bytes == 0 || db.record_bytes % 8 != 0) {
    throw Error(ErrorKind::invalid_argument, "record size " + std::to_string(db.record_bytes) +
                                                 " bytes is not a positive multiple of 8");
  }
  if (db.layout == Layout::blocked) {
    db.payload_bytes();  // throws for a block size the format does not allow
  } else if (db.layout != Layout::row_major) {
    throw Error(ErrorKind::invalid_argument, "unknown database layout");
  }
  if (r.top_k == 0) throw Error(ErrorKind::invalid_argument, "top_k must be >= 1");
  if (r.n_stages == 0 || r.n_stages > uint32_t(kMaxStages)) {
    throw Error(ErrorKind::invalid_argument, "n_stages must be 1..8");
  }
  uint64_t end = std::min(r.end, db.n_records);
  if (r.begin > end) {
    throw Error(ErrorKind::invalid_argument,
                "range begin " + std::to_string(r.begin) + " is past end " + std::to_string(end));
  }
}

// Calls of a range [b, e) in steps of `block` records: row-major views start each call at its
// first record; blocked views start at the first record's block and skip the records before b
// with `reserved` (the SWEEP ABI), so every call is block-aligned.
template <class Call>
void for_each_call(const DatabaseView &db, uint64_t b, uint64_t e, uint32_t block, Call call) {
  if (db.layout != Layout::blocked) {
    for (uint64_t i = b; i < e; i += block) {
      call(db.data + i * db.record_bytes, std::min<uint64_t>(block, e - i), i, uint32_t{0});
    }
    return;
  }
  const uint64_t B = db.block_records;
  for (uint64_t i = b; i < e;) {
    const uint64_t start = i / B * B;
    const uint64_t stop = std::min<uint64_t>(start + block, e);
    call(db.data + start * db.record_bytes, stop - start, start, uint32_t(i - start));
    i = stop;
  }
}

unsigned choose_threads(uint64_t n_records, unsigned requested) {
  unsigned t = requested ? requested : hardware_threads();
  constexpr uint64_t kMinRecordsPerThread = 4096;  // below this a thread costs more than it saves
  return unsigned(std::clamp<uint64_t>(n_records / kMinRecordsPerThread, 1, t));
}

// Splits [begin, end) into `parts` contiguous chunks, cut at multiples of `align` records, and
// runs body(part, begin, end) on the shared pool (on the caller's thread alone when parts is 1
// or the pool is busy: then part 0 covers the whole range).
template <class Body>
void parallel_ranges(uint64_t begin, uint64_t end, unsigned parts, uint64_t align, Body body) {
  const uint64_t n = end - begin;
  run_parallel(parts, [&](unsigned p, unsigned n_parts) {
    auto cut = [&](unsigned q) {
      if (q == 0) return begin;
      if (q == n_parts) return end;
      return std::clamp<uint64_t>((begin + n * q / n_parts) / align * align, begin, end);
    };
    body(p, cut(p), cut(p + 1));
  });
}

std::vector<Hit> finish(std::vector<std::vector<Hit>> &parts, uint32_t top_k) {
  std::vector<Hit> all;
  for (auto &p : parts) all.insert(all.end(), p.begin(), p.end());
  std::sort(all.begin(), all.end(), hit_less);
  if (all.size() > top_k) all.resize(top_k);
  return all;
}

}  // namespace

ScanResult scan_with(BlockFn fn, const void *context, const uint8_t *query, DatabaseView db,
                     const ScanRequest &r) {
  check_scan_args(query, db, r);
  const uint64_t end = std::min(r.end, db.n_records);
  const uint32_t block = records_per_call(db, r.block_records);
  const unsigned parts = choose_threads(end - r.begin, r.threads);

  std::vector<std::vector<Hit>> part_hits(parts);
  std::vector<ScanStats> part_stats(parts);
  const uint64_t align = db.layout == Layout::blocked ? db.block_records : 1;
  parallel_ranges(r.begin, end, parts, align, [&](unsigned p, uint64_t b, uint64_t e) {
    TopKHeap top(r.top_k, r.max_distance);
    std::vector<Hit> out(block);
    uint64_t counters[kNumCounters] = {};
    uint64_t candidates = 0;
    for_each_call(
        db, b, e, block, [&](const uint8_t *records, uint64_t n, uint64_t base, uint32_t reserved) {
          // Calls run in index order: every record of this one follows the heap's.
          BlockArgs args{query,    records,    n,        base,   top.limit(base + reserved),
                         reserved, out.data(), counters, context};
          uint64_t got = fn(&args);
          candidates += got;
          for (uint64_t h = 0; h < got; ++h) top.offer(out[h]);
        });
    add_block_counters(counters, e - b, candidates, r.n_stages, part_stats[p]);
    part_hits[p] = std::move(top.hits());
  });

  ScanResult result;
  for (auto &s : part_stats) result.stats += s;
  result.hits = finish(part_hits, r.top_k);
  return result;
}

namespace {

// One thread's share of a batch: a heap, counters and a candidate count per query.
struct BatchPart {
  std::vector<TopKHeap> tops;
  std::vector<uint64_t> counters;  // [query][kNumCounters]
  std::vector<uint64_t> candidates;
  std::vector<Hit> out;             // a block function's hits
  std::vector<uint32_t> distances;  // a tile's distances
  BatchPart(uint64_t n_queries, const ScanRequest &r)
      : tops(n_queries, TopKHeap(r.top_k, r.max_distance)),
        counters(n_queries * kNumCounters, 0),
        candidates(n_queries, 0) {}
  uint64_t *counters_of(uint64_t q) { return &counters[q * kNumCounters]; }
};

// The batch driver: splits the range over threads and, in each, visits the record blocks in
// order with block(records, n, base, reserved, part). Record block outer, queries inner: each
// block is read from memory once and then served from L2 for every query.
template <class Block>
std::vector<ScanResult> run_batch(uint64_t n_queries, DatabaseView db, const ScanRequest &r,
                                  Block block) {
  const uint64_t end = std::min(r.end, db.n_records);
  const uint32_t records = records_per_call(db, r.block_records);
  const unsigned parts = choose_threads(end - r.begin, r.threads);

  std::vector<std::vector<std::vector<Hit>>> part_hits(parts);  // [part][query]
  std::vector<std::vector<ScanStats>> part_stats(parts, std::vector<ScanStats>(n_queries));
  const uint64_t align = db.layout == Layout::blocked ? db.block_records : 1;
  parallel_ranges(r.begin, end, parts, align, [&](unsigned p, uint64_t b, uint64_t e) {
    BatchPart part(n_queries, r);
    for_each_call(db, b, e, records,
                  [&](const uint8_t *first, uint64_t n, uint64_t base, uint32_t reserved) {
                    block(first, n, base, reserved, part);
                  });
    part_hits[p].resize(n_queries);
    for (uint64_t q = 0; q < n_queries; ++q) {
      add_block_counters(part.counters_of(q), e - b, part.candidates[q], r.n_stages,
                         part_stats[p][q]);
      part_hits[p][q] = std::move(part.tops[q].hits());
    }
  });

  std::vector<ScanResult> results(n_queries);
  for (uint64_t q = 0; q < n_queries; ++q) {
    std::vector<std::vector<Hit>> per_part;
    for (unsigned p = 0; p < parts; ++p) {
      results[q].stats += part_stats[p][q];
      per_part.push_back(std::move(part_hits[p][q]));
    }
    results[q].hits = finish(per_part, r.top_k);
  }
  return results;
}

// Query q of a batch over one block through the block function (part.out holds its hits).
void block_fn_call(BlockFn fn, const void *context, const uint8_t *query, uint64_t q,
                   const uint8_t *records, uint64_t n, uint64_t base, uint32_t reserved,
                   BatchPart &part) {
  BlockArgs args{query,
                 records,
                 n,
                 base,
                 part.tops[q].limit(base + reserved),
                 reserved,
                 part.out.data(),
                 part.counters_of(q),
                 context};
  const uint64_t got = fn(&args);
  part.candidates[q] += got;
  for (uint64_t h = 0; h < got; ++h) part.tops[q].offer(part.out[h]);
}

}  // namespace

std::vector<ScanResult> scan_batch_with(BlockFn fn, const void *context, const uint8_t *queries,
                                        uint64_t n_queries, DatabaseView db, const ScanRequest &r) {
  check_scan_args(queries, db, r);
  const uint32_t block = records_per_call(db, r.block_records);
  return run_batch(
      n_queries, db, r,
      [&](const uint8_t *records, uint64_t n, uint64_t base, uint32_t reserved, BatchPart &part) {
        part.out.resize(block);
        for (uint64_t q = 0; q < n_queries; ++q) {
          block_fn_call(fn, context, queries + q * db.record_bytes, q, records, n, base, reserved,
                        part);
        }
      });
}

std::vector<TileLine> tile_lines(const Cascade &c) {
  std::map<uint32_t, TileLine> by_line;  // line index → its selected words, in record order
  for (const CascadeStage &stage : c.stages) {
    for (const Segment &seg : stage.segments) {
      for (uint32_t w = seg.first_word; w < seg.first_word + seg.n_words; ++w) {
        auto [it, fresh] = by_line.try_emplace(w / 8);
        TileLine &line = it->second;
        if (fresh) {
          line.offset = w / 8 * 64;
          line.words = 0;
          std::fill(std::begin(line.mask), std::end(line.mask), ~uint64_t{0});
        }
        line.words |= uint8_t(1u << (w % 8));
        if (!seg.full) {
          line.masked = true;
          line.mask[w % 8] = seg.mask;
        }
      }
    }
  }
  std::vector<TileLine> lines;
  lines.reserve(by_line.size());
  for (auto &[index, line] : by_line) lines.push_back(line);
  return lines;
}

bool batch_tile_applies(const Cascade &c, const DatabaseView &db, uint64_t n_queries) {
  if (c.metric != Metric::hamming || c.stages.empty() || db.layout == Layout::blocked ||
      n_queries < kMinTiledBatch) {
    return false;
  }
  for (const TileLine &line : tile_lines(c)) {
    if (line.words != 0xFF || line.masked) return false;
  }
  return true;
}

namespace {

// The least limit under which no stage before the last can reject a record: after stage s a
// record's partial distance is at most the focused bits read so far, so it cannot reach a limit
// above that count, nor exceed a statistical bound at or above it. Under such a limit the
// cascade's only decision is the last stage's, on the full distance: the tile's. UINT64_MAX:
// a statistical bound below the bits of its stage can reject under any limit.
uint64_t tile_min_limit(const Cascade &c) {
  uint64_t bits = 0, need = 0;
  for (size_t s = 0; s + 1 < c.stages.size(); ++s) {
    for (const Segment &seg : c.stages[s].segments) {
      bits += seg.full ? 64 * uint64_t(seg.n_words) : uint64_t(std::popcount(seg.mask));
    }
    if (bits > c.stages[s].statistical_bound) return UINT64_MAX;
    need = bits + 1;
  }
  return need;
}

}  // namespace

std::vector<ScanResult> scan_batch_tiled(const Cascade &c, const KernelTable &k,
                                         uint32_t tile_queries, BlockFn fn, const void *context,
                                         const uint8_t *queries, uint64_t n_queries,
                                         DatabaseView db, const ScanRequest &r) {
  check_scan_args(queries, db, r);
  if (!batch_tile_applies(c, db, n_queries) || c.record_bytes != db.record_bytes) {
    throw Error(ErrorKind::internal, "scan_batch_tiled: outside batch_tile_applies");
  }
  const std::vector<TileLine> lines = tile_lines(c);
  uint64_t words = 0;
  for (const CascadeStage &stage : c.stages) words += stage.words;
  const size_t last = c.stages.size() - 1;
  const uint64_t min_limit = tile_min_limit(c);
  const uint64_t tile = std::clamp<uint64_t>(tile_queries, 1, kMaxTileQueries);
  const uint64_t block = records_per_call(db, r.block_records);
  return run_batch(
      n_queries, db, r,
      [&](const uint8_t *records, uint64_t n, uint64_t base, uint32_t reserved, BatchPart &part) {
        part.distances.resize(tile * block);
        for (uint64_t q0 = 0; q0 < n_queries; q0 += tile) {
          const uint64_t nq = std::min(tile, n_queries - q0);
          bool tiled = true;
          for (uint64_t j = 0; j < nq; ++j) {
            tiled = tiled && part.tops[q0 + j].limit(base + reserved) >= min_limit;
          }
          if (!tiled) {
            // A limit low enough for a probe stage to reject: the cascade saves reads.
            part.out.resize(block);
            for (uint64_t q = q0; q < q0 + nq; ++q) {
              block_fn_call(fn, context, queries + q * db.record_bytes, q, records, n, base,
                            reserved, part);
            }
            continue;
          }
          const uint8_t *group[kMaxTileQueries];
          for (uint64_t j = 0; j < nq; ++j) {
            group[j] = queries + (q0 + j) * db.record_bytes;
          }
          k.hamming_tile(group, nq, records, db.record_bytes, n, lines.data(), lines.size(),
                         part.distances.data());
          for (uint64_t j = 0; j < nq; ++j) {
            // As a block function does: one limit for the block, then the heap; records the
            // limit excludes are rejected by the last stage, having read every stage's words.
            const uint64_t q = q0 + j;
            const uint32_t limit = part.tops[q].limit(base + reserved);
            const uint32_t *d = &part.distances[j * n];
            uint64_t kept = 0;
            for (uint64_t i = 0; i < n; ++i) {
              if (d[i] < limit) {
                ++kept;
                part.tops[q].offer(Hit{base + i, d[i], 0});
              }
            }
            part.candidates[q] += kept;
            part.counters_of(q)[last] += n - kept;
            part.counters_of(q)[kCounterWordsRead] += n * words;
          }
        }
      });
}

ScanResult scan_runtime(const uint8_t *query, DatabaseView db, std::span<const uint64_t> mask,
                        uint32_t max_distance, uint32_t top_k, unsigned threads,
                        std::span<const uint32_t> stage_words) {
  Cascade cascade = make_cascade(db.record_bytes, mask, stage_words);
  cascade.block_records = db.layout == Layout::blocked ? db.block_records : 0;
  ScanRequest r;
  r.max_distance = max_distance;
  r.top_k = top_k;
  r.threads = threads;
  r.n_stages = uint32_t(cascade.stages.size());
  return scan_with(db.layout == Layout::blocked ? sweep_block_runtime : scan_block_runtime,
                   &cascade, query, db, r);
}

}  // namespace jitson
