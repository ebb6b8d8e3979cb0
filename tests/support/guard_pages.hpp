// Memory with inaccessible pages on both sides, to prove code reads nothing outside its inputs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace jitson::testsupport {

class GuardedRegion {
 public:
  explicit GuardedRegion(size_t bytes);
  ~GuardedRegion();
  GuardedRegion(const GuardedRegion &) = delete;
  GuardedRegion &operator=(const GuardedRegion &) = delete;
  uint8_t *front() { return base_ + page_; }                           // PROT_NONE right before
  uint8_t *back(size_t n) { return base_ + page_ + data_bytes_ - n; }  // PROT_NONE right after

 private:
  uint8_t *base_ = nullptr;
  size_t page_ = 0, data_bytes_ = 0, total_ = 0;
};

}  // namespace jitson::testsupport
