#include "support/guard_pages.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <stdexcept>

namespace jitson::testsupport {

GuardedRegion::GuardedRegion(size_t bytes) {
  page_ = size_t(sysconf(_SC_PAGESIZE));
  data_bytes_ = (bytes + page_ - 1) / page_ * page_;
  total_ = data_bytes_ + 2 * page_;
  void *p = mmap(nullptr, total_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("mmap failed");
  base_ = static_cast<uint8_t *>(p);
  if (mprotect(base_ + page_, data_bytes_, PROT_READ | PROT_WRITE) != 0) {
    munmap(base_, total_);
    throw std::runtime_error("mprotect failed");
  }
}

GuardedRegion::~GuardedRegion() {
  munmap(base_, total_);
}

}  // namespace jitson::testsupport
