// Compile latency of a fresh engine (issue 17): every engine of the process shares one code
// arena, so a new engine's first compile maps no new code memory; kernels outlive their engine.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "jitson/engine.hpp"

namespace jitson {
namespace {

// Mappings of the code arena's memfds (both views of every chunk).
int code_mappings() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  int found = 0;
  while (std::getline(maps, line)) found += line.find("jitson-code") != std::string::npos;
  return found;
}

std::string config(uint32_t max_distance) {
  return "{\"version\": 1, \"record_bits\": 16384, \"backend\": \"xbyak\", \"max_distance\": " +
         std::to_string(max_distance) + "}";
}

TEST(XbyakSharedArena, FreshEnginesMapNoNewCodeMemory) {
  std::vector<std::shared_ptr<const Kernel>> kept;
  {
    Engine first;
    kept.push_back(first.compile(config(100)));
    ASSERT_EQ(kept.back()->backend(), Backend::xbyak) << kept.back()->describe();
  }
  const int mapped = code_mappings();
  for (uint32_t e = 0; e < 20; ++e) {
    Engine fresh;
    auto k = fresh.compile(config(200 + e));
    ASSERT_EQ(k->backend(), Backend::xbyak) << k->describe();
    kept.push_back(k);
  }
  EXPECT_EQ(code_mappings(), mapped);
  // Kernels of destroyed engines still run, and agree with a kernel of a live engine.
  std::vector<uint8_t> query(2048, 0x5a), records(4 * 2048, 0xa5);
  const DatabaseView db = DatabaseView::rows(records.data(), 4, 2048);
  Engine live;
  const auto expected = live.compile(config(16384))->scan(query.data(), db).hits;
  ASSERT_EQ(expected.size(), 4u);
  for (const auto &k : kept) {
    EXPECT_EQ(k->scan(query.data(), db).hits.size(), 0u);  // every distance is 16,384
  }
}

}  // namespace
}  // namespace jitson
