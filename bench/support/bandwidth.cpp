#include "support/bandwidth.hpp"

#include <immintrin.h>
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <new>
#include <thread>
#include <vector>

#include "jitson/cpu.hpp"

namespace jitson::bench {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;

// Software prefetch distance of the prefetching read loop: what the single-stage JIT kernels
// use (about 1.5 KiB ahead; see default_prefetch in jit/plan.cpp).
constexpr size_t kPrefetchAhead = 1536;

// Prefetches the 64-byte lines [p + ahead, p + ahead + bytes). Integer arithmetic: the address
// may lie past the buffer, which a prefetch never faults on.
inline void prefetch_lines(const uint8_t *p, size_t bytes) {
  const uintptr_t at = reinterpret_cast<uintptr_t>(p) + kPrefetchAhead;
  for (size_t line = 0; line < bytes; line += 64)
    _mm_prefetch(reinterpret_cast<const char *>(at + line), _MM_HINT_T0);
}

// Sums every 64-bit word of [p, p + n): forces each byte to be loaded, cheap enough that the
// loop is bound by the memory system. With `prefetch`, each line is also prefetched
// kPrefetchAhead bytes ahead (on this project's test machine that read 6-9% faster from huge
// pages than the hardware prefetchers alone).
__attribute__((target("avx512f"))) uint64_t read_all_avx512(const uint8_t *p, size_t n,
                                                            bool prefetch) {
  __m512i acc0 = _mm512_setzero_si512(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  size_t i = 0;
  for (; i + 256 <= n; i += 256) {
    if (prefetch) prefetch_lines(p + i, 256);
    acc0 = _mm512_add_epi64(acc0, _mm512_loadu_si512(p + i));  // unaligned load
    acc1 = _mm512_add_epi64(acc1, _mm512_loadu_si512(p + i + 64));
    acc2 = _mm512_add_epi64(acc2, _mm512_loadu_si512(p + i + 128));
    acc3 = _mm512_add_epi64(acc3, _mm512_loadu_si512(p + i + 192));
  }
  // A plain store instead of _mm512_reduce_add_epi64, which trips GCC 12's -Wuninitialized.
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes,  // lanes is 64-byte aligned
                     _mm512_add_epi64(_mm512_add_epi64(acc0, acc1), _mm512_add_epi64(acc2, acc3)));
  uint64_t sum = 0;
  for (uint64_t lane : lanes) sum += lane;
  for (; i < n; ++i) sum += p[i];
  return sum;
}

__attribute__((target("avx2"))) uint64_t read_all_avx2(const uint8_t *p, size_t n, bool prefetch) {
  __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    if (prefetch) prefetch_lines(p + i, 128);
    // Unaligned 32-byte loads.
    acc0 = _mm256_add_epi64(acc0, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + i)));
    acc1 =
        _mm256_add_epi64(acc1, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + i + 32)));
    acc2 =
        _mm256_add_epi64(acc2, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + i + 64)));
    acc3 =
        _mm256_add_epi64(acc3, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p + i + 96)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i *>(lanes),  // lanes is 32-byte aligned
                     _mm256_add_epi64(_mm256_add_epi64(acc0, acc1), _mm256_add_epi64(acc2, acc3)));
  uint64_t sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (; i < n; ++i) sum += p[i];
  return sum;
}

uint64_t read_all(const uint8_t *p, size_t n, bool prefetch) {
  const CpuFeatures &f = cpu_features();
  if (f.avx512f && f.os_saves_zmm) return read_all_avx512(p, n, prefetch);
  if (f.avx2 && f.os_saves_ymm) return read_all_avx2(p, n, prefetch);
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum += p[i];
  return sum;
}

std::atomic<uint64_t> g_sink{0};  // keeps the sums observable

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

}  // namespace

AlignedBuffer::AlignedBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  map_bytes_ = bytes + kHugePage;
  map_ = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw std::bad_alloc();
  }
  const uintptr_t base = reinterpret_cast<uintptr_t>(map_);
  // Round up to the next 2 MiB boundary: the mapping has kHugePage spare bytes for this.
  data_ = reinterpret_cast<uint8_t *>((base + kHugePage - 1) & ~uintptr_t(kHugePage - 1));
  madvise(map_, map_bytes_, MADV_HUGEPAGE);  // best effort: THP may be off
  for (size_t i = 0; i < bytes; i += 4096) data_[i] = 0;
}

AlignedBuffer::AlignedBuffer(AlignedBuffer &&other) noexcept
    : map_(other.map_), map_bytes_(other.map_bytes_), data_(other.data_), bytes_(other.bytes_) {
  other.map_ = nullptr;
  other.map_bytes_ = 0;
  other.data_ = nullptr;
  other.bytes_ = 0;
}

AlignedBuffer &AlignedBuffer::operator=(AlignedBuffer &&other) noexcept {
  if (this != &other) {
    release();
    std::swap(map_, other.map_);
    std::swap(map_bytes_, other.map_bytes_);
    std::swap(data_, other.data_);
    std::swap(bytes_, other.bytes_);
  }
  return *this;
}

AlignedBuffer::~AlignedBuffer() {
  release();
}

void AlignedBuffer::release() {
  if (map_ != nullptr) munmap(map_, map_bytes_);
  map_ = nullptr;
  map_bytes_ = 0;
  data_ = nullptr;
  bytes_ = 0;
}

namespace {

ReadBandwidth measure_read_loop(const uint8_t *data, size_t bytes, int threads, int passes,
                                bool prefetch) {
  threads = std::max(threads, 1);
  passes = std::max(passes, 1);
  const size_t share = (bytes / size_t(threads)) & ~size_t{63};
  std::vector<double> wall_seconds, cpu_seconds;
  for (int pass = 0; pass <= passes; ++pass) {  // pass 0 warms up and is not counted
    std::atomic<bool> go{false};
    std::atomic<int> ready{0};
    std::vector<double> thread_cpu(size_t(threads), 0.0);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      const uint8_t *begin = data + size_t(t) * share;
      const size_t n = t + 1 == threads ? bytes - size_t(t) * share : share;
      double *cpu = &thread_cpu[size_t(t)];
      workers.emplace_back([&go, &ready, begin, n, cpu, prefetch] {
        ready.fetch_add(1);
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        const double start = thread_cpu_seconds();
        g_sink.fetch_add(read_all(begin, n, prefetch), std::memory_order_relaxed);
        *cpu = thread_cpu_seconds() - start;
      });
    }
    while (ready.load() < threads) std::this_thread::yield();
    const auto start = std::chrono::steady_clock::now();
    go.store(true, std::memory_order_release);
    for (auto &w : workers) w.join();
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    if (pass > 0) {
      wall_seconds.push_back(elapsed.count());
      cpu_seconds.push_back(*std::max_element(thread_cpu.begin(), thread_cpu.end()));
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  return {double(bytes) / median(wall_seconds) / 1e9, double(bytes) / median(cpu_seconds) / 1e9};
}

}  // namespace

ReadBandwidth measure_read_bandwidth(const uint8_t *data, size_t bytes, int threads, int passes,
                                     ReadLoop loop) {
  return measure_read_loop(data, bytes, threads, passes, loop == ReadLoop::prefetching);
}

double measure_read_bandwidth_gbs(const uint8_t *data, size_t bytes, int threads, int passes,
                                  ReadLoop loop) {
  return measure_read_bandwidth(data, bytes, threads, passes, loop).wall_gbs;
}

double measure_read_bandwidth_gbs(size_t bytes, int threads) {
  AlignedBuffer buffer(bytes);
  // Distinct non-zero contents, so nothing can be served from a shared zero page.
  for (size_t i = 0; i < bytes; i += 64) buffer.data()[i] = uint8_t(i >> 6);
  return measure_read_bandwidth_gbs(buffer.data(), bytes, threads);
}

}  // namespace jitson::bench
