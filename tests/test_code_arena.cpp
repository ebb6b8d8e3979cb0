// CodeArena: W^X code memory. Both modes (dual-mapped memfd and the mprotect fallback) are
// forced in turn; allocation patterns, reuse, coalescing, growth, executing installed code,
// /proc/self/maps, and 8 threads at once.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "jit/code_arena.hpp"
#include "jitson/error.hpp"

namespace jitson {
namespace {

// x86-64: mov eax, imm32; ret
std::vector<uint8_t> return_constant(uint32_t value) {
  std::vector<uint8_t> code = {0xB8, 0, 0, 0, 0, 0xC3};
  std::memcpy(&code[1], &value, 4);
  return code;
}

uint32_t call(const uint8_t *exec) {
  // reinterpret_cast: exec holds a complete function "mov eax, imm32; ret" mapped read+exec.
  auto fn = reinterpret_cast<uint32_t (*)()>(const_cast<uint8_t *>(exec));
  return fn();
}

std::string perms_of(const void *p) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto addr = reinterpret_cast<uintptr_t>(p);  // address comparison only
  while (std::getline(maps, line)) {
    uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) == 2 && addr >= lo && addr < hi) {
      std::istringstream in(line);
      std::string range, perms;
      in >> range >> perms;
      return perms;
    }
  }
  return "";
}

bool no_wx_mapping(std::string &offender) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms;
    in >> range >> perms;
    if (perms.size() >= 3 && perms[1] == 'w' && perms[2] == 'x') {
      offender = line;
      return false;
    }
  }
  return true;
}

class Arena : public ::testing::TestWithParam<bool> {
 protected:
  CodeArena make(size_t chunk = size_t{1} << 20) {
    CodeArena::Options o;
    o.allow_dual_mapping = GetParam();
    o.chunk_bytes = chunk;
    return CodeArena(o);
  }
};

TEST_P(Arena, ModeIsTheRequestedOne) {
  CodeArena a = make();
  // This machine allows memfd dual mappings; the fallback is forced with allow_dual_mapping.
  EXPECT_EQ(a.mode(), GetParam() ? CodeArena::Mode::dual_mapping : CodeArena::Mode::mprotect);
  EXPECT_NE(std::string(to_string(a.mode())), "");
}

TEST_P(Arena, InstalledCodeRunsAndViewsAreWxSeparate) {
  CodeArena a = make();
  std::vector<const uint8_t *> fns;
  for (uint32_t v = 0; v < 50; ++v) {
    auto code = return_constant(1000 + v);
    fns.push_back(a.install(code.data(), code.size()));
  }
  for (uint32_t v = 0; v < 50; ++v) EXPECT_EQ(call(fns[v]), 1000 + v);
  for (auto *f : fns) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(f) % CodeArena::kGranule, 0u);  // address check only
    EXPECT_EQ(perms_of(f).substr(0, 3), "r-x");
  }
  std::string offender;
  EXPECT_TRUE(no_wx_mapping(offender)) << offender;
  for (auto *f : fns) a.free(f);
  EXPECT_EQ(a.bytes_in_use(), 0u);
}

TEST_P(Arena, WriteViewIsNotExecutableUntilPublished) {
  CodeArena a = make();
  CodeArena::Block b = a.allocate(100);
  ASSERT_NE(b.write, nullptr);
  EXPECT_GE(b.bytes, 100u);
  EXPECT_EQ(perms_of(b.write).substr(0, 3), "rw-");
  auto code = return_constant(77);
  std::memcpy(b.write, code.data(), code.size());
  a.publish(b);
  EXPECT_EQ(perms_of(b.exec).substr(0, 3), "r-x");
  EXPECT_EQ(call(b.exec), 77u);
  a.free(b.exec);
}

TEST_P(Arena, FreedRangesAreReusedAndCoalesced) {
  CodeArena a = make();
  if (a.mode() != CodeArena::Mode::dual_mapping) {
    // One mapping per allocation: reuse is the kernel's business; check accounting only.
    auto b = a.allocate(10);
    EXPECT_GT(a.bytes_in_use(), 0u);
    a.free(b.exec);
    EXPECT_EQ(a.bytes_in_use(), 0u);
    return;
  }
  auto x = a.allocate(64), y = a.allocate(128), z = a.allocate(64);
  EXPECT_EQ(y.exec, x.exec + 64);
  EXPECT_EQ(z.exec, y.exec + 128);
  a.free(y.exec);
  auto y2 = a.allocate(100);  // first fit: the hole left by y
  EXPECT_EQ(y2.exec, y.exec);
  a.free(x.exec);
  a.free(y2.exec);
  a.free(z.exec);
  EXPECT_EQ(a.bytes_in_use(), 0u);
  // Coalesced: the whole chunk is one free range again.
  auto big = a.allocate(size_t{1} << 20);
  EXPECT_EQ(big.exec, x.exec);
  EXPECT_EQ(a.chunks(), 1u);
  a.free(big.exec);
}

TEST_P(Arena, GrowsBeyondOneChunkAndReleasesEmptyChunks) {
  CodeArena a = make(64 * 1024);
  std::vector<CodeArena::Block> blocks;
  for (int i = 0; i < 40; ++i) blocks.push_back(a.allocate(10000));  // ~400 KB over 64 KB chunks
  auto huge = a.allocate(300 * 1024);                                // bigger than a chunk
  for (size_t i = 0; i < blocks.size(); ++i) {
    auto code = return_constant(uint32_t(i));
    std::memcpy(blocks[i].write, code.data(), code.size());
    a.publish(blocks[i]);
  }
  for (size_t i = 0; i < blocks.size(); ++i) EXPECT_EQ(call(blocks[i].exec), uint32_t(i));
  if (a.mode() == CodeArena::Mode::dual_mapping) {
    EXPECT_GT(a.chunks(), 5u);
    // Blocks never straddle chunks: each block's views are valid for all its bytes.
    std::set<const uint8_t *> starts;
    for (auto &b : blocks) EXPECT_TRUE(starts.insert(b.exec).second);
  }
  for (auto &b : blocks) a.free(b.exec);
  a.free(huge.exec);
  EXPECT_EQ(a.bytes_in_use(), 0u);
  if (a.mode() == CodeArena::Mode::dual_mapping) {
    EXPECT_EQ(a.chunks(), 1u);  // one empty chunk is kept for the next kernel
  }
}

TEST_P(Arena, RejectsBadRequests) {
  CodeArena a = make();
  EXPECT_THROW(a.allocate(0), Error);
  a.free(nullptr);  // ignored
  int local = 0;
  try {
    a.free(&local);
    FAIL() << "free of a foreign address accepted";
  } catch (const Error &e) {
    EXPECT_EQ(e.kind(), ErrorKind::internal);
  }
}

TEST_P(Arena, MemoryOutlivesTheArenaObject) {
  const uint8_t *f = nullptr;
  CodeArena copy = make();
  {
    CodeArena a = copy;  // handle copy shares the memory
    auto code = return_constant(5);
    f = a.install(code.data(), code.size());
  }
  EXPECT_EQ(call(f), 5u);
  copy.free(f);
}

TEST_P(Arena, EightThreadsAllocateRunAndFree) {
  CodeArena a = make(128 * 1024);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng{unsigned(t)};
      std::vector<std::pair<const uint8_t *, uint32_t>> mine;
      for (int i = 0; i < 400; ++i) {
        if (!mine.empty() && rng() % 3 == 0) {
          size_t k = rng() % mine.size();
          if (call(mine[k].first) != mine[k].second) ++errors;
          a.free(mine[k].first);
          mine.erase(mine.begin() + ptrdiff_t(k));
          continue;
        }
        uint32_t value = uint32_t(t) << 20 | uint32_t(i);
        std::vector<uint8_t> code = return_constant(value);
        code.resize(6 + rng() % 3000, 0xCC);  // various sizes, int3 padding
        mine.emplace_back(a.install(code.data(), code.size()), value);
      }
      for (auto &[f, v] : mine) {
        if (call(f) != v) ++errors;
        a.free(f);
      }
    });
  }
  for (auto &t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(a.bytes_in_use(), 0u);
  std::string offender;
  EXPECT_TRUE(no_wx_mapping(offender)) << offender;
}

INSTANTIATE_TEST_SUITE_P(Modes, Arena, ::testing::Values(true, false),
                         [](const auto &info) { return info.param ? "dual" : "mprotect"; });

}  // namespace
}  // namespace jitson
