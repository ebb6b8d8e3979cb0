// Memory that kernels stream through (copies of databases, packed GEMM panels). Internal to
// runtime/.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <new>

namespace jitson {

// Buffers of 1 MiB and more are 2 MiB aligned and advised MADV_HUGEPAGE: transparent huge pages
// are often granted only on request, and a scan over 4 KiB pages ran at half the speed of the
// same scan over a huge-page file mapping (Zen 4, 51 MB of 2,048-bit records: 2.9 ms vs 1.4 ms).
inline constexpr size_t kStreamedHugePage = size_t{2} << 20;

inline size_t streamed_alignment(size_t bytes) {
  return bytes >= (size_t{1} << 20) ? kStreamedHugePage : 64;
}

// bytes rounded up to the alignment; release with free_streamed(p, the same bytes).
inline void *allocate_streamed(size_t bytes) {
  const size_t align = streamed_alignment(bytes);
  const size_t rounded = (bytes + align - 1) / align * align;
  void *p = ::operator new (rounded, std::align_val_t{align});
  if (align == kStreamedHugePage) (void)madvise(p, rounded, MADV_HUGEPAGE);  // advice only
  return p;
}

inline void free_streamed(void *p, size_t bytes) {
  if (p) ::operator delete (p, std::align_val_t{streamed_alignment(bytes)});
}

}  // namespace jitson
