// One process-wide pool of worker threads for GEMM and multi-threaded scans (internal).
#pragma once

#include <functional>

namespace jitson {

// Runs fn(0, parts) .. fn(parts - 1, parts) concurrently, the caller taking part 0; returns when
// all have returned and rethrows the first exception any part threw. parts <= 1 runs fn(0, 1) on
// the caller's thread and starts no thread. When the pool is busy with another caller's job it
// runs fn(0, 1) alone instead: the parts of one job may rely on running at the same time (they may
// wait for each other), and a job must give the same result with one part as with many.
void run_parallel(unsigned parts, const std::function<void(unsigned, unsigned)> &fn);

}  // namespace jitson
