#include "support/bench_data.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace jitson::bench {

uint64_t dram_records(const char *program) {
  if (const char *s = std::getenv("JITSON_BENCH_RECORDS")) {
    const unsigned long long n = std::strtoull(s, nullptr, 10);
    if (n > 0) return n;
    std::fprintf(stderr, "%s: ignoring JITSON_BENCH_RECORDS=%s (need a count > 0)\n", program, s);
  }
  return uint64_t{1} << 20;
}

void fill_random(uint8_t *p, size_t n, uint64_t seed) {
  uint64_t state = seed;
  for (size_t i = 0; i < n; i += 8) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    std::memcpy(p + i, &z, n - i < 8 ? n - i : 8);
  }
}

SmallData::SmallData() {
  fill_random(query.data(), query.size(), 1);
  fill_random(records.data(), records.size(), 2);
}

SmallData &small_data() {
  static SmallData d;
  return d;
}

DramDatabase::DramDatabase(uint64_t records, uint64_t plant_every)
    : n_records(records), bytes(records * kRecordBytes) {
  fill_random(bytes.data(), bytes.size(), 3);
  if (plant_every == 0) return;
  const uint8_t *q = small_data().query.data();
  uint64_t state = 99;
  for (uint64_t i = plant_every / 2; i < n_records; i += plant_every) {
    uint8_t *r = bytes.data() + i * kRecordBytes;
    std::memcpy(r, q, kRecordBytes);
    const int flips = 40 + int((i / plant_every) % 400);
    for (int f = 0; f < flips; ++f) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      const uint32_t bit = uint32_t(state >> 33) % (kRecordBytes * 8);
      r[bit / 8] ^= uint8_t(1u << (bit % 8));
    }
  }
}

DatabaseView DramDatabase::view(uint64_t n) const {
  return DatabaseView::rows(bytes.data(), std::min(n, n_records), kRecordBytes);
}

DramDatabase &planted_database(const char *program) {
  static DramDatabase d(dram_records(program), kPlantEvery);
  return d;
}

std::string scan_config(const std::string &backend, const std::string &isa,
                        const std::string &extra, uint32_t max_distance, uint32_t top_k) {
  return "{\"version\": 1, \"record_bits\": 16384, \"max_distance\": " +
         std::to_string(max_distance) + ", \"top_k\": " + std::to_string(top_k) + ", \"isa\": \"" +
         isa + "\", \"backend\": \"" + backend + "\"" + extra + "}";
}

const std::string kCascadeOff = ", \"cascade\": {\"mode\": \"off\"}";
const std::string kFocusFirstEighth = ", \"focus\": {\"ranges\": [[0, 2048]]}";

std::string every_eighth_word_focus() {
  std::string s = ", \"focus\": {\"ranges\": [";
  for (int w = 0; w < 256; w += 8) {
    s += (w ? ", [" : "[") + std::to_string(64 * w) + ", " + std::to_string(64 * w + 64) + "]";
  }
  return s + "]}";
}

double thread_cpu_ns() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) * 1e9 + double(t.tv_nsec);
}

bool same_top_distances(const int32_t *faiss_distances, size_t k, const std::vector<Hit> &hits) {
  for (size_t i = 0; i < hits.size() && i < k; ++i) {
    if (uint32_t(faiss_distances[i]) != hits[i].distance) return false;
  }
  return true;
}

}  // namespace jitson::bench
