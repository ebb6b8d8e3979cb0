// The search entry points bound in module.cpp.
#pragma once

#include <memory>
#include <optional>

#include "common.hpp"

namespace jitson::py {

// The kernel for another top_k (and max_distance) through the engine's cache.
std::shared_ptr<const Kernel> kernel_variant(const PyKernel &pk, uint32_t top_k,
                                             std::optional<uint32_t> max_distance);
// The kernel for another top_k and min_similarity (a Tanimoto kernel; the threshold an int, a
// float, a decimal str or a decimal.Decimal, read as the exact decimal it denotes).
std::shared_ptr<const Kernel> tanimoto_variant(const PyKernel &pk, uint32_t top_k,
                                               nb::handle min_similarity);
// Hamming: (distances int32 (nq, k), ids int64 (nq, k)), padded with -1. Tanimoto:
// (similarities float64, ids int64), padded with NaN and -1, then with counts (intersections
// uint32, unions uint32), padded with 0. stats: a last item {"records": uint64 (nq),
// "bound_skipped": uint64 (nq)}. A popcount-ordered Database is scanned query by query through
// scan_popcount_ordered: original indices, the popcount bound for Tanimoto kernels.
nb::tuple kernel_search(const PyKernel &pk, nb::handle queries, nb::handle database,
                        std::optional<int64_t> k, std::optional<int64_t> threads,
                        const std::optional<std::string> &column_name,
                        const std::optional<std::string> &id_column_name, bool counts, bool stats);
// (lims int64 (nq + 1), distances int32, ids int64): query i's hits are [lims[i], lims[i+1]).
// Tanimoto: (lims, similarities float64, ids int64[, intersections uint32, unions uint32]),
// bounded by min_similarity (or the config's). stats: a last item as kernel_search's.
nb::tuple kernel_range_search(const PyKernel &pk, nb::handle queries, nb::handle database,
                              std::optional<int64_t> max_distance, std::optional<int64_t> threads,
                              const std::optional<std::string> &column_name,
                              const std::optional<std::string> &id_column_name,
                              nb::handle min_similarity, bool counts, bool stats);
// Nanoseconds per Kernel::scan_batch call over a row-major buffer (no Python in the loop).
int64_t time_scan_ns(const PyKernel &pk, nb::handle queries, nb::handle database, int64_t repeats);

struct PyAccumulator {
  std::shared_ptr<const Kernel> kernel;
  std::unique_ptr<TopKAccumulator> acc;
  std::vector<uint8_t> queries;  // a copy, to make the accumulator that takes a multi-step feed
  PyAccumulator(const PyKernel &pk, nb::handle queries);
  void feed(nb::handle records, nb::handle row_ids, uint64_t base_row, nb::handle skip,
            const std::optional<std::string> &column_name,
            const std::optional<std::string> &id_column_name);
  void merge(const PyAccumulator &other);
  nb::tuple result(bool counts) const;
  nb::dict stats(uint64_t query) const;

 private:
  // Runs body(accumulator) on a copy of acc and keeps it only if body returns: a feed in several
  // steps (chunks, stream batches) interrupted by an error or Ctrl-C changes nothing.
  template <typename Body>
  void all_or_nothing(Body &&body);
};

}  // namespace jitson::py
