// The memory-bandwidth limit measured in the same run as the kernels, and huge-page-backed
// buffers for large benchmark data.
#pragma once

#include <cstddef>
#include <cstdint>

namespace jitson::bench {

// An anonymous mapping aligned to 2 MiB, advised MADV_HUGEPAGE (transparent huge pages are
// applied only on request here) and pre-touched so that page faults are not timed later.
// Move-only; unmaps on destruction. Throws std::bad_alloc if the mapping fails.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes);
  AlignedBuffer(AlignedBuffer &&other) noexcept;
  AlignedBuffer &operator=(AlignedBuffer &&other) noexcept;
  AlignedBuffer(const AlignedBuffer &) = delete;
  AlignedBuffer &operator=(const AlignedBuffer &) = delete;
  ~AlignedBuffer();

  uint8_t *data() { return data_; }
  const uint8_t *data() const { return data_; }
  size_t size() const { return bytes_; }

 private:
  void release();
  void *map_ = nullptr;
  size_t map_bytes_ = 0;
  uint8_t *data_ = nullptr;
  size_t bytes_ = 0;
};

// The read loop: left to the hardware prefetchers, or also prefetching each line about 1.5 KiB
// ahead, as the single-stage JIT kernels do (6-9% faster from huge pages on this project's
// test machine). A kernel that prefetches is compared with the prefetching loop, so that it is
// never measured against a limit below what it reaches itself.
enum class ReadLoop { plain, prefetching };

// Read bandwidth in GB/s (1e9 bytes/s) of `threads` threads each streaming its share of a fresh
// buffer of `bytes` bytes with 512-bit loads (256-bit without AVX-512) summed into an
// accumulator; the median of several passes.
double measure_read_bandwidth_gbs(size_t bytes, int threads);

// The same over caller memory (e.g. the benchmark's own database, to save memory).
double measure_read_bandwidth_gbs(const uint8_t *data, size_t bytes, int threads, int passes = 7,
                                  ReadLoop loop = ReadLoop::plain);

// Both clocks, medians over passes: wall-clock GB/s, and GB/s over the CPU time of the slowest
// reading thread. On an idle machine they agree; on a shared one the CPU-time figure is the one
// comparable with Google Benchmark's default (main-thread CPU time) kernel timings.
struct ReadBandwidth {
  double wall_gbs = 0;
  double cpu_gbs = 0;
};
ReadBandwidth measure_read_bandwidth(const uint8_t *data, size_t bytes, int threads, int passes = 7,
                                     ReadLoop loop = ReadLoop::plain);

}  // namespace jitson::bench
