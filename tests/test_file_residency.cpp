// What a memory-mapped fingerprint file keeps resident (issue 17): opening maps nothing beyond
// the header, will_read() advises without mapping, and release() unmaps what a windowed scan has
// passed, so a scan that reads one line per block leaves far less than the file resident even on
// kernels that map a whole large folio per fault. Residency is this mapping's Rss in
// /proc/self/smaps; the bounds (a quarter of the file) are generous, no timing is asserted.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "jitson/database.hpp"

namespace {

namespace fs = std::filesystem;

constexpr uint32_t kRecordBits = 16384;
constexpr uint32_t kRecordBytes = kRecordBits / 8;
constexpr uint32_t kBlock = 64;                                    // records per block
constexpr uint64_t kBlockBytes = uint64_t{kBlock} * kRecordBytes;  // 128 KiB
constexpr uint64_t kRecords = 32768;                               // 64 MiB of payload
constexpr uint64_t kPayload = kRecords * kRecordBytes;

// Resident kB of the mapping that holds `address`, from /proc/self/smaps.
uint64_t resident_kb(const void *address) {
  std::ifstream smaps("/proc/self/smaps");
  const auto at = reinterpret_cast<uintptr_t>(address);
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    unsigned long long lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {  // a mapping's first line
      inside = lo <= at && at < hi;
      continue;
    }
    if (inside && line.rfind("Rss:", 0) == 0) return std::strtoull(line.c_str() + 4, nullptr, 10);
  }
  ADD_FAILURE() << "no mapping holds " << address;
  return 0;
}

class FileResidency : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string pattern = (fs::temp_directory_path() / "jitson_residency_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    // Word w of record i holds i * 256 + w + 1: any byte read back names its own position.
    jitson::FingerprintWriter w(path(), kRecordBits, kRecords, jitson::Layout::blocked, kBlock);
    std::vector<uint64_t> block(kBlockBytes / 8);
    for (uint64_t b = 0; b < kRecords / kBlock; ++b) {
      for (uint64_t word = 0; word < kRecordBytes / 8; ++word)
        for (uint64_t j = 0; j < kBlock; ++j)
          block[word * kBlock + j] = (b * kBlock + j) * 256 + word + 1;
      w.write(reinterpret_cast<const uint8_t *>(block.data()), kBlockBytes);
    }
    w.commit();
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static std::string path() { return dir_ + "/blocked.jfp"; }
  static uint64_t word0(const jitson::DatabaseView &v, uint64_t block) {
    return reinterpret_cast<const uint64_t *>(v.data + block * kBlockBytes)[0];
  }
  static inline std::string dir_;
};

constexpr uint64_t kBound = kPayload / 4 / 1024;  // kB

TEST_F(FileResidency, OpeningMapsOnlyTheHeader) {
  auto file = jitson::FingerprintFile::open(path());
  EXPECT_EQ(file.view().n_records, kRecords);
  EXPECT_LT(resident_kb(file.view().data), kBound);
}

TEST_F(FileResidency, WillReadAdvisesWithoutMapping) {
  auto file = jitson::FingerprintFile::open(path());
  jitson::ReadPattern sweep{kBlockBytes, {{0, 8 * kBlock}}};  // word 0 of every block
  const uint64_t before = resident_kb(file.view().data);
  file.will_read(0, kPayload, sweep);
  file.will_read(0, kPayload, sweep, 4);
  file.will_read(0, kPayload, {});
  file.will_read(kPayload - 1, kPayload * 2, {});  // clamped to the payload
  file.will_read(5, 5, sweep);                     // empty
  EXPECT_EQ(resident_kb(file.view().data), before);
}

TEST_F(FileResidency, ReleaseKeepsAWindowedSweepSmall) {
  auto file = jitson::FingerprintFile::open(path());
  const jitson::DatabaseView v = file.view();
  constexpr uint64_t kWindowBlocks = 32;  // 4 MiB windows
  uint64_t peak = 0;
  for (uint64_t b = 0; b < kRecords / kBlock; b += kWindowBlocks) {
    for (uint64_t k = b; k < b + kWindowBlocks; ++k) ASSERT_EQ(word0(v, k), k * kBlock * 256 + 1);
    peak = std::max(peak, resident_kb(v.data));  // this window, and what earlier ones left
    file.release(b * kBlockBytes, (b + kWindowBlocks) * kBlockBytes);
  }
  EXPECT_LT(peak, kBound) << "kB resident at most while scanning a " << kPayload / 1024
                          << " kB file";
  EXPECT_LT(resident_kb(v.data), kBound);
  // Released pages read back the same bytes.
  for (uint64_t k = 0; k < kRecords / kBlock; k += 97) EXPECT_EQ(word0(v, k), k * kBlock * 256 + 1);
}

TEST_F(FileResidency, ReleaseOutsideThePayloadIsHarmless) {
  auto file = jitson::FingerprintFile::open(path());
  file.release(kPayload, kPayload * 2);
  file.release(10, 5);
  file.release(0, 100);  // no whole page: nothing to unmap
  EXPECT_EQ(file.header().record_count, kRecords);
  EXPECT_EQ(word0(file.view(), 0), 1u);
}

TEST_F(FileResidency, AFileWithoutRecordsAcceptsBoth) {
  const std::string empty = dir_ + "/empty.jfp";
  {
    jitson::FingerprintWriter w(empty, kRecordBits, 0);
    w.commit();
  }
  auto file = jitson::FingerprintFile::open(empty);
  file.will_read(0, 1 << 20, {});
  file.release(0, 1 << 20);
  EXPECT_EQ(file.view().n_records, 0u);
}

}  // namespace
