// The most pairs per second one core can compare, measured in the same run as the batch kernels:
// a hand-written register tile over 2 KiB records that stay in L1, with no heap and no memory
// traffic, so nothing the batch scan does can beat it. The batch target is read against it.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace jitson::bench {

// Pairs of 2,048-byte records per second: AVX-512 4 queries × 4 records per pass (vpxorq,
// vpopcntq, vpaddq per 64-byte line and pair); AVX2 2 × 2 with the nibble-lookup popcount.
// Call only where the ISA runs; `pairs` is about how many pairs to time.
double pair_ceiling_avx512(uint64_t pairs);
double pair_ceiling_avx2(uint64_t pairs);

namespace {  // compiled into each ISA's file with that file's flags

// Pairs per second of tile(queries, records), which compares Q queries with R records of
// record_bytes each, alternating between two sets of R records; all of it stays in L1.
template <int Q, int R, class Tile>
double time_tiles(Tile tile, size_t record_bytes, uint64_t pairs) {
  std::vector<uint8_t> queries(Q * record_bytes), records(2 * R * record_bytes);
  for (size_t i = 0; i < queries.size(); ++i) queries[i] = uint8_t(i * 131 + 7);
  for (size_t i = 0; i < records.size(); ++i) records[i] = uint8_t(i * 197 + 3);
  const uint64_t tiles = pairs / (Q * R) + 1;
  volatile uint64_t sink = 0;  // keeps every tile's result live
  const auto t0 = std::chrono::steady_clock::now();
  for (uint64_t t = 0; t < tiles; ++t) {
    sink = sink + tile(queries.data(), &records[(t % 2) * R * record_bytes]);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return double(tiles * Q * R) / s;
}

}  // namespace

}  // namespace jitson::bench
