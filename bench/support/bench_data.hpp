// Benchmark data shared by the scan benchmarks: SKU-16K records (2,048 bytes), a query and an
// L2-resident block of random records, a DRAM-sized database with optional planted neighbours,
// config texts, thread CPU time and the FAISS cross-check.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "jitson/database.hpp"
#include "jitson/scan.hpp"
#include "support/bandwidth.hpp"

namespace jitson::bench {

inline constexpr size_t kRecordBytes = 2048;  // SKU-16K
inline constexpr size_t kL2Records = 256;     // 512 KiB: inside a 1 MiB L2, outside L1
inline constexpr uint32_t kTopK = 10;
inline constexpr uint64_t kPlantEvery = 2048;  // one planted neighbour per 2,048 records (0.05 %)
inline constexpr uint32_t kSelectiveMaxDistance = 500;  // keeps about the planted ones only

// Records in the DRAM database: JITSON_BENCH_RECORDS (a count > 0), else 1,048,576 (2 GiB, far
// larger than the last-level cache). `program` names the benchmark in the warning about an
// unusable value.
uint64_t dram_records(const char *program);

// splitmix64 words: reproducible, and fast enough for gigabytes.
void fill_random(uint8_t *p, size_t n, uint64_t seed);

// The query and the L2-resident records.
struct SmallData {
  AlignedBuffer query{kRecordBytes};
  AlignedBuffer records{kL2Records * kRecordBytes};
  SmallData();
};
SmallData &small_data();

// Random records; with plant_every > 0, every plant_every-th record (from plant_every / 2) is a
// copy of small_data().query with 40..439 bits flipped (a planted near neighbour).
struct DramDatabase {
  uint64_t n_records;
  AlignedBuffer bytes;
  DramDatabase(uint64_t records, uint64_t plant_every);
  DatabaseView view(uint64_t n = UINT64_MAX) const;
};

// The process's DRAM database of dram_records(program) records with a planted neighbour every
// kPlantEvery records, built on first use.
DramDatabase &planted_database(const char *program);

// A 16,384-bit scan config text.
std::string scan_config(const std::string &backend, const std::string &isa,
                        const std::string &extra, uint32_t max_distance, uint32_t top_k);
extern const std::string kCascadeOff;        // config suffix: cascade off
extern const std::string kFocusFirstEighth;  // config suffix: focus on bits [0, 2048)
std::string every_eighth_word_focus();       // config suffix: one word in eight

// This thread's CPU time in ns (which preemption on a busy machine does not inflate).
double thread_cpu_ns();

// FAISS's top-k distances equal jitson's hits' (the comparison means nothing otherwise).
bool same_top_distances(const int32_t *faiss_distances, size_t k, const std::vector<Hit> &hits);

}  // namespace jitson::bench
