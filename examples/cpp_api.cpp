// Embeds jitson through its C++ API: compile a config, scan, print hits. Exit code 0 when the
// planted neighbour is found at its distance.
#include <jitson/jitson.hpp>

#include <cstdio>
#include <random>
#include <vector>

int main() {
  constexpr size_t kRecordBytes = 2048, kRecords = 10000, kPlanted = 1234;
  std::vector<uint8_t> db(kRecords * kRecordBytes);
  std::mt19937_64 rng(11);
  for (auto &b : db) b = uint8_t(rng());
  std::vector<uint8_t> query(db.begin() + kPlanted * kRecordBytes,
                             db.begin() + (kPlanted + 1) * kRecordBytes);
  query[100] ^= 0x01;  // distance 1

  jitson::Engine engine;
  auto kernel = engine.compile(R"({"version": 1, "record_bits": 16384, "max_distance": 50})");
  std::printf("%s\n", kernel->describe().c_str());
  auto result =
      kernel->scan(query.data(), jitson::DatabaseView::rows(db.data(), kRecords, kRecordBytes));
  for (const auto &h : result.hits)
    std::printf("index %llu distance %u\n", (unsigned long long)h.index, h.distance);
  return result.hits.size() == 1 && result.hits[0].index == kPlanted && result.hits[0].distance == 1
             ? 0
             : 1;
}
