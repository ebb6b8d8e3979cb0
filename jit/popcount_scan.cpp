// The Tanimoto scan of a popcount-ordered database (jitson/popcount.hpp): buckets of equal
// record popcount fed to one top-k accumulator, best popcount bound first.
#include <algorithm>
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
    const std::vector<uint8_t> zero(plan.record_bytes, 0);
    const auto a = uint32_t(kernels().hamming(query, zero.data(), plan.record_bytes));
    const uint32_t bits = plan.record_bits;
    // The best rank a record of popcount b can reach: c <= min(a, b), u >= max(a, b).
    auto best_rank = [&](uint32_t b) { return tanimoto_rank(std::min(a, b), std::max(a, b)); };
    // Buckets from b = a outwards, always the side whose bound is better; both sides' bounds
    // only worsen, so the first bucket that cannot beat the heap ends the walk.
    int64_t below = int64_t(a) - 1;
    uint64_t above = a;
    while (below >= 0 || above <= bits) {
      const bool take_below =
          above > bits || (below >= 0 && best_rank(uint32_t(below)) <= best_rank(uint32_t(above)));
      const auto b = uint32_t(take_below ? below : int64_t(above));
      if (best_rank(b) >= acc.limit(0)) break;
      feed(starts[b], starts[b + 1]);
      take_below ? --below : ++above;
    }
  }
  ScanResult out;
  out.hits = acc.hits(0);
  out.stats = acc.stats(0);
  out.stats.bound_skipped = records.n_records - out.stats.records;
  return out;
}

}  // namespace jitson
