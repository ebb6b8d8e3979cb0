// The Tanimoto scan of a popcount-ordered database (jitson/popcount.hpp): buckets of equal
// record popcount fed to one top-k accumulator, best popcount bound first.
#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "jitson/engine.hpp"
#include "jitson/error.hpp"
#include "jitson/kernels.hpp"
#include "jitson/metric.hpp"
#include "jitson/popcount.hpp"
#include "jitson/topk.hpp"

namespace jitson {

std::string popcount_bound_unavailable(const Kernel &kernel) {
  const ScanPlan &plan = kernel.plan();
  if (plan.spec.metric != Metric::tanimoto) return "the kernel's metric is hamming";
  if (!plan.popcount_bound) {
    return "the focus selects " + std::to_string(plan.focus_bits) + " of " +
           std::to_string(plan.record_bits) + " bits, and stored popcounts count every bit";
  }
  return {};
}

ScanResult scan_popcount_ordered(const std::shared_ptr<const Kernel> &kernel, const uint8_t *query,
                                 const PopcountOrder &db) {
  if (!kernel) throw Error(ErrorKind::invalid_argument, "popcount-ordered scan: kernel is null");
  const ScanPlan &plan = kernel->plan();
  const DatabaseView records = db.records();
  if (records.record_bytes != plan.record_bytes) {
    throw Error(ErrorKind::invalid_argument,
                "popcount-ordered scan: records of " + std::to_string(records.record_bytes * 8) +
                    " bits, the kernel's are " + std::to_string(plan.record_bits));
  }
  if (!query) throw Error(ErrorKind::invalid_argument, "popcount-ordered scan: query is null");

  TopKAccumulator acc(kernel, query, 1);
  uint64_t word_counts_read = 0;
  const std::span<const uint64_t> starts = db.bucket_starts();
  const uint64_t *ids = db.original_index().data();
  auto feed = [&](uint64_t begin, uint64_t end) {
    if (begin >= end) return;
    Chunk chunk;
    chunk.records = DatabaseView::rows(records.record(begin), end - begin, records.record_bytes);
    chunk.row_ids = ids + begin;
    acc.feed(chunk);
  };

  if (!plan.popcount_bound) {
    feed(0, records.n_records);
  } else {
    const KernelTable &k = kernels();
    const uint32_t words = db.words_per_record();
    std::vector<uint8_t> query_counts(words);
    k.word_popcounts(query, plan.record_bytes, 1, plan.record_bytes, query_counts.data());
    const uint32_t a = std::accumulate(query_counts.begin(), query_counts.end(), uint32_t{0});
    const uint32_t bits = plan.record_bits;
    // The best rank a record of popcount b can reach: c <= min(a, b), u >= max(a, b).
    auto best_rank = [&](uint32_t b) { return tanimoto_rank(std::min(a, b), std::max(a, b)); };
    // The least intersection a record of popcount b needs to be kept (rank < limit), or
    // min(a, b) + 1 if none suffices: the keep rule is monotone in c, as T = c / (a + b - c) is.
    auto needed_intersection = [&](uint32_t b, uint32_t limit) {
      uint32_t low = 0, high = std::min(a, b) + 1;
      while (low < high) {
        const uint32_t c = low + (high - low) / 2;
        tanimoto_keeps(c, a + b - c, limit) ? high = c : low = c + 1;
      }
      return low;
    };
    // A bucket in blocks: each block's needed intersection comes from the heap's limit then, and
    // only the records whose word-count overlap reaches it are read, gathered where they lie.
    constexpr uint64_t kBlock = 4096;
    std::vector<uint32_t> selected(kBlock);
    std::vector<const uint8_t *> gathered(kBlock);
    std::vector<uint64_t> gathered_ids(kBlock);
    const uint8_t *counts = db.word_counts().data();
    auto feed_bucket = [&](uint32_t b) {
      for (uint64_t at = starts[b]; at < starts[b + 1]; at += kBlock) {
        const uint64_t count = std::min(kBlock, starts[b + 1] - at);
        const uint32_t need = needed_intersection(b, acc.limit(0));
        if (need > std::min(a, b)) return;  // the heap tightened past this bucket
        if (need == 0) {
          feed(at, at + count);
          continue;
        }
        word_counts_read += count;
        const size_t kept = k.select_word_overlap(query_counts.data(), counts + at * words, words,
                                                  count, need, selected.data());
        if (kept * 4 >= count) {  // most records pass: one streamed chunk reads them faster
          feed(at, at + count);
          continue;
        }
        for (size_t j = 0; j < kept; ++j) {
          gathered[j] = records.record(at + selected[j]);
          gathered_ids[j] = ids[at + selected[j]];
        }
        GatherChunk chunk;
        chunk.records = gathered.data();
        chunk.n_records = kept;
        chunk.row_ids = gathered_ids.data();
        acc.feed(chunk);
      }
    };
    // Buckets from b = a outwards, always the side whose bound is better; both sides' bounds
    // only worsen, so the first bucket that cannot beat the heap ends the walk.
    int64_t below = int64_t(a) - 1;
    uint64_t above = a;
    while (below >= 0 || above <= bits) {
      const bool take_below =
          above > bits || (below >= 0 && best_rank(uint32_t(below)) <= best_rank(uint32_t(above)));
      const auto b = uint32_t(take_below ? below : int64_t(above));
      if (best_rank(b) >= acc.limit(0)) break;
      feed_bucket(b);
      take_below ? --below : ++above;
    }
  }
  ScanResult out;
  out.hits = acc.hits(0);
  out.stats = acc.stats(0);
  out.stats.bound_skipped = records.n_records - out.stats.records;
  out.stats.word_counts_read = word_counts_read;
  return out;
}

}  // namespace jitson
