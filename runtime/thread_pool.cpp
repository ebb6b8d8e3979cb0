// The thread pool of GEMM and of multi-threaded scans: persistent std::threads, started on the
// first job that asks for more than one part (a process that only scans on one thread never
// starts one) and woken per call. One parallel region runs at a time; a caller that finds the
// pool busy runs the whole job as a single part on its own thread (GEMM and scan results do not
// depend on the thread count, so this changes only the speed).
#include "runtime/thread_pool.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace jitson {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}

class ThreadPool {
 public:
  ~ThreadPool() {
    stop_.store(true);
    generation_.fetch_add(1 << 16);
    generation_.notify_all();
    for (std::thread &t : workers_) t.join();
  }

  void run(unsigned parts, const std::function<void(unsigned, unsigned)> &fn) {
    if (parts <= 1) {
      fn(0, 1);
      return;
    }
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) {
      fn(0, 1);
      return;
    }
    parts_ = parts;
    while (workers_.size() + 1 < parts) {
      const unsigned index = static_cast<unsigned>(workers_.size()) + 1;
      workers_.emplace_back([this, index] { worker(index); });
    }
    task_ = &fn;
    failure_ = nullptr;
    remaining_.store(parts - 1);
    // The part count travels with the generation so a worker decides from one atomic load
    // whether it takes part; task_ is stable until every part has finished.
    sequence_ += 1;
    generation_.store((sequence_ << 16) | parts);
    generation_.notify_all();
    run_part(0);
    for (int spin = 0; remaining_.load() != 0; ++spin) {
      if (spin < 4000) {
        cpu_relax();
      } else {
        const unsigned left = remaining_.load();
        if (left != 0) remaining_.wait(left);
      }
    }
    task_ = nullptr;
    if (failure_) std::rethrow_exception(failure_);
  }

 private:
  void run_part(unsigned index) {
    try {
      (*task_)(index, parts_);
    } catch (...) {
      std::lock_guard<std::mutex> lock(failure_mutex_);
      if (!failure_) failure_ = std::current_exception();
    }
  }

  void worker(unsigned index) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t now = generation_.load();
      for (int spin = 0; now == seen && spin < 2000; ++spin) {
        cpu_relax();
        now = generation_.load();
      }
      while (now == seen) {
        generation_.wait(seen);
        now = generation_.load();
      }
      seen = now;
      if (stop_.load()) return;
      if (index < (now & 0xFFFF)) {
        run_part(index);
        if (remaining_.fetch_sub(1) == 1) remaining_.notify_all();
      }
    }
  }

  std::mutex busy_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<unsigned> remaining_{0};
  std::atomic<bool> stop_{false};
  uint64_t sequence_ = 0;
  unsigned parts_ = 0;  // written before the generation store that publishes a job
  const std::function<void(unsigned, unsigned)> *task_ = nullptr;
  std::mutex failure_mutex_;
  std::exception_ptr failure_;
};

}  // namespace

void run_parallel(unsigned parts, const std::function<void(unsigned, unsigned)> &fn) {
  static ThreadPool pool;
  parts = std::min(parts, 0xFFFFu);
  pool.run(parts, fn);
}

}  // namespace jitson
