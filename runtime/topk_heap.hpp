// The best top_k hits by (distance, index) among hits offered in any order: the one heap behind
// the scan driver (index = record index) and the chunked accumulator (index = the caller's row
// id, which may be sparse and unordered). Internal to runtime/ and jit/.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "jitson/scan.hpp"

namespace jitson {

inline bool hit_less(const Hit &x, const Hit &y) {
  return x.distance != y.distance ? x.distance < y.distance : x.index < y.index;
}

class TopKHeap {
 public:
  TopKHeap(uint32_t k, uint32_t max_distance) : k_(k), max_distance_(max_distance) {}

  void offer(const Hit &h) {
    if (h.distance > max_distance_) return;
    if (heap_.size() < k_) {
      heap_.push_back(h);
      std::push_heap(heap_.begin(), heap_.end(), hit_less);
    } else if (hit_less(h, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), hit_less);
      heap_.back() = h;
      std::push_heap(heap_.begin(), heap_.end(), hit_less);
    }
  }

  // Exclusive distance bound for records whose indices are all >= min_index: with a full heap a
  // record at the worst distance still wins when its index is smaller than the worst's, so the
  // bound admits that distance exactly then. Records visited in index order (the scan driver)
  // always pass min_index > worst's index and get the strict bound.
  uint32_t limit(uint64_t min_index) const {
    const uint32_t base =
        max_distance_ >= kMaxDistanceCap ? kMaxDistanceCap + 1 : max_distance_ + 1;
    if (heap_.size() < k_) return base;
    const Hit &worst = heap_.front();
    const uint32_t bound = min_index < worst.index ? worst.distance + 1 : worst.distance;
    return std::min(base, bound);
  }

  // The hits held, in heap order; sorted() orders them by (distance, index).
  const std::vector<Hit> &hits() const { return heap_; }
  std::vector<Hit> &hits() { return heap_; }
  std::vector<Hit> sorted() const {
    std::vector<Hit> out = heap_;
    std::sort(out.begin(), out.end(), hit_less);
    return out;
  }
  void clear() { heap_.clear(); }

 private:
  // At or above every distance and every Tanimoto rank (jitson/metric.hpp), and + 1 still fits.
  static constexpr uint32_t kMaxDistanceCap = kTanimotoMaxRank;
  uint32_t k_;
  uint32_t max_distance_;
  std::vector<Hit> heap_;
};

}  // namespace jitson
