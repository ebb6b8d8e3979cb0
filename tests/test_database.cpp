// Database views, the fingerprint file format (docs/FORMAT.md) and the atomic writer.
#include "jitson/database.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "jitson/error.hpp"

namespace jitson {
namespace {

namespace fs = std::filesystem;

// Runs f, expects a jitson::Error of the given kind whose message contains every fragment, and
// returns the message.
std::string expect_error(ErrorKind kind, const std::function<void()> &f,
                         std::initializer_list<std::string> fragments = {}) {
  try {
    f();
  } catch (const Error &e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what();
    for (const auto &fragment : fragments) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
          << "message \"" << e.what() << "\" lacks \"" << fragment << "\"";
    }
    return e.what();
  }
  ADD_FAILURE() << "no jitson::Error was thrown";
  return {};
}

std::vector<uint8_t> random_bytes(uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto &b : v) b = static_cast<uint8_t>(rng());
  return v;
}

std::vector<uint8_t> encoded(const FileHeader &h) {
  std::vector<uint8_t> out(FileHeader::kSize);
  encode_header(h, out.data());
  return out;
}

FileHeader header_of(uint32_t record_bits, uint64_t count, Layout layout = Layout::row_major,
                     uint32_t block_records = 0) {
  FileHeader h;
  h.record_bits = record_bits;
  h.record_count = count;
  h.layout = layout;
  h.block_records = block_records;
  return h;
}

void put_u32(std::vector<uint8_t> &bytes, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_u64(std::vector<uint8_t> &bytes, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) bytes[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

bool aligned64(const void *p) {
  return reinterpret_cast<uintptr_t>(p) % 64 == 0;
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "jitson-db-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr) << std::strerror(errno);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string &name) const { return (dir_ / name).string(); }
  std::string write_file(const std::string &name, const std::vector<uint8_t> &bytes) const {
    const std::string p = path(name);
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char *>(bytes.data()),  // char may alias any bytes
              static_cast<std::streamsize>(bytes.size()));
    EXPECT_TRUE(out.good());
    return p;
  }
  std::string write_file(const std::string &name, const FileHeader &h,
                         const std::vector<uint8_t> &payload) const {
    auto bytes = encoded(h);
    bytes.insert(bytes.end(), payload.begin(), payload.end());
    return write_file(name, bytes);
  }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto &e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    return names;
  }
  static std::vector<uint8_t> read_all(const std::string &p) {
    std::ifstream in(p, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
  }

  fs::path dir_;
};

// ---------------------------------------------------------------------------------------------
// DatabaseView

TEST(DatabaseView, RowsOverCallerMemory) {
  std::vector<uint8_t> data(5 * 16);
  const auto v = DatabaseView::rows(data.data(), 5, 16);
  EXPECT_EQ(v.n_records, 5u);
  EXPECT_EQ(v.record_bytes, 16u);
  EXPECT_EQ(v.layout, Layout::row_major);
  EXPECT_EQ(v.payload_bytes(), 80u);
  EXPECT_EQ(v.record(3), data.data() + 48);
  const auto empty = DatabaseView::rows(nullptr, 0, 2048);  // null is fine for no records
  EXPECT_EQ(empty.payload_bytes(), 0u);
}

TEST(DatabaseView, RowsRejectsNullWithRecords) {
  expect_error(ErrorKind::invalid_argument, [] { DatabaseView::rows(nullptr, 3, 8); },
               {"null", "3"});
}

TEST(DatabaseView, RowsRejectsBadRecordBytes) {
  uint8_t data[64] = {};
  expect_error(ErrorKind::invalid_argument, [&] { DatabaseView::rows(data, 1, 0); }, {"0"});
  expect_error(ErrorKind::invalid_argument, [&] { DatabaseView::rows(data, 1, 12); },
               {"12", "multiple of 8"});
  expect_error(ErrorKind::invalid_argument, [&] { DatabaseView::rows(data, 1, size_t{1} << 33); });
}

TEST(DatabaseView, RowsRejectsOverflow) {
  uint8_t data[8] = {};
  expect_error(ErrorKind::invalid_argument,
               [&] { DatabaseView::rows(data, uint64_t{1} << 62, 2048); },
               {std::to_string(uint64_t{1} << 62), "2048", "overflow"});
}

TEST(DatabaseView, RowsFromBytesNeedsWholeRecords) {
  std::vector<uint8_t> data(4096 + 100);
  expect_error(ErrorKind::invalid_argument,
               [&] { DatabaseView::rows_from_bytes(data.data(), data.size(), 2048); },
               {"4196", "2048", "100"});
  const auto v = DatabaseView::rows_from_bytes(data.data(), 4096, 2048);
  EXPECT_EQ(v.n_records, 2u);
  expect_error(ErrorKind::invalid_argument,
               [&] { DatabaseView::rows_from_bytes(data.data(), 4096, 0); });
  expect_error(ErrorKind::invalid_argument,
               [&] { DatabaseView::rows_from_bytes(nullptr, 4096, 2048); }, {"null"});
}

TEST(DatabaseView, BlockedPayloadIncludesPadding) {
  std::vector<uint8_t> data(16 * 16);
  const auto v = DatabaseView::blocked(data.data(), 10, 16, 8);  // 10 records → 2 blocks of 8
  EXPECT_EQ(v.layout, Layout::blocked);
  EXPECT_EQ(v.block_records, 8u);
  EXPECT_EQ(v.payload_bytes(), 16u * 16u);
  EXPECT_EQ(DatabaseView::blocked(data.data(), 16, 16, 8).payload_bytes(), 256u);
  EXPECT_EQ(DatabaseView::blocked(data.data(), 0, 16, 8).payload_bytes(), 0u);
  for (uint32_t bad : {0u, 4u, 7u, 12u, 8192u}) {
    expect_error(ErrorKind::invalid_argument,
                 [&] { DatabaseView::blocked(data.data(), 10, 16, bad); },
                 {std::to_string(bad), "power of two"});
  }
  EXPECT_EQ(DatabaseView::blocked(data.data(), 1, 16, 4096).payload_bytes(), 4096u * 16u);
}

TEST(DatabaseView, PayloadBytesValidatesHandBuiltViews) {
  DatabaseView v;
  v.record_bytes = 16;
  v.n_records = 1;
  expect_error(ErrorKind::invalid_argument, [&] { v.payload_bytes(); }, {"null"});
  uint8_t data[64] = {};
  v.data = data;
  v.block_records = 8;  // row-major with a block size
  expect_error(ErrorKind::invalid_argument, [&] { v.payload_bytes(); }, {"block_records"});
  v.block_records = 0;
  v.layout = static_cast<Layout>(7);
  expect_error(ErrorKind::invalid_argument, [&] { v.payload_bytes(); }, {"layout 7"});
  v.layout = Layout::blocked;
  expect_error(ErrorKind::invalid_argument, [&] { v.payload_bytes(); }, {"block_records"});
  v.block_records = 8;
  v.n_records = UINT64_MAX;  // rounding up to whole blocks overflows
  expect_error(ErrorKind::invalid_argument, [&] { v.payload_bytes(); }, {"overflow"});
}

// ---------------------------------------------------------------------------------------------
// Header encoding (the offsets table of docs/FORMAT.md)

TEST(FileHeader, EncodeWritesTheDocumentedOffsets) {
  FileHeader h = header_of(16384, 0x0102030405060708ull, Layout::blocked, 256);
  h.header_bytes = 128;
  const auto b = encoded(h);
  ASSERT_EQ(b.size(), 64u);
  EXPECT_EQ(std::string(b.begin(), b.begin() + 8), "JITSONFP");
  const std::vector<uint8_t> expected_fields = {
      1,    0,    0, 0,               // version at 8
      1,    0,    0, 0,               // layout at 12
      0x00, 0x40, 0, 0,               // record_bits 16384 at 16
      0x00, 0x01, 0, 0,               // block_records 256 at 20
      8,    7,    6, 5, 4, 3, 2, 1,   // record_count at 24
      128,  0,    0, 0, 0, 0, 0, 0};  // header_bytes at 32
  EXPECT_EQ(std::vector<uint8_t>(b.begin() + 8, b.begin() + 40), expected_fields);
  for (size_t i = 40; i < 64; ++i) EXPECT_EQ(b[i], 0) << "reserved byte " << i;
}

TEST(FileHeader, ParseRoundTrip) {
  FileHeader h = header_of(2048, 3, Layout::blocked, 8);
  const auto b = encoded(h);
  const uint64_t file_bytes = 64 + 8 * 256;  // 3 records padded to one block of 8
  const FileHeader p = parse_header(b.data(), b.size(), file_bytes, "x");
  EXPECT_EQ(p.version, 1u);
  EXPECT_EQ(p.layout, Layout::blocked);
  EXPECT_EQ(p.record_bits, 2048u);
  EXPECT_EQ(p.block_records, 8u);
  EXPECT_EQ(p.record_count, 3u);
  EXPECT_EQ(p.header_bytes, 64u);
}

// ---------------------------------------------------------------------------------------------
// FingerprintFile: every error path

TEST_F(TempDir, OpenMissingFile) {
  const std::string p = path("missing.jfp");
  expect_error(ErrorKind::io, [&] { FingerprintFile::open(p); }, {p, std::strerror(ENOENT)});
}

TEST_F(TempDir, OpenDirectoryIsUnreadable) {
  const std::string p = path("a-directory");
  fs::create_directory(p);
  expect_error(ErrorKind::io, [&] { FingerprintFile::open(p); }, {p, "not a regular file"});
}

TEST_F(TempDir, OpenFileShorterThanHeader) {
  const std::string empty = write_file("empty.jfp", std::vector<uint8_t>{});
  expect_error(ErrorKind::format, [&] { FingerprintFile::open(empty); },
               {empty, "0 bytes", "64-byte header"});
  auto partial = encoded(header_of(64, 0));
  partial.resize(40);
  const std::string p = write_file("short.jfp", partial);
  expect_error(ErrorKind::format, [&] { FingerprintFile::open(p); }, {"40 bytes", "header"});
}

TEST_F(TempDir, OpenWrongMagic) {
  auto bytes = encoded(header_of(64, 1));
  bytes[0] = 'X';
  bytes.resize(64 + 8);
  const std::string p = write_file("magic.jfp", bytes);
  expect_error(ErrorKind::format, [&] { FingerprintFile::open(p); },
               {p, "not a jitson fingerprint file", "bad magic", "--raw-bits"});
}

TEST_F(TempDir, OpenUnsupportedVersion) {
  for (uint32_t version : {0u, 2u, 0xFFFFFFFFu}) {
    FileHeader h = header_of(64, 0);
    h.version = version;
    const std::string p = write_file("version.jfp", h, {});
    expect_error(ErrorKind::format, [&] { FingerprintFile::open(p); },
                 {"unsupported", "version " + std::to_string(version), "version 1"});
  }
}

TEST_F(TempDir, OpenBadRecordBits) {
  for (uint32_t bits : {0u, 8u, 100u, 65600u, 131072u}) {
    const std::string p = write_file("bits.jfp", header_of(bits, 0), {});
    expect_error(ErrorKind::format, [&] { FingerprintFile::open(p); },
                 {"record_bits is " + std::to_string(bits), "multiple of 64", "65536"});
  }
  // The limit itself is allowed.
  const std::string ok = write_file("max.jfp", header_of(65536, 1), std::vector<uint8_t>(8192));
  EXPECT_EQ(FingerprintFile::open(ok).view().record_bytes, 8192u);
}

TEST_F(TempDir, OpenBadHeaderBytes) {
  for (uint64_t header_bytes : {0ull, 32ull, 100ull, 65ull}) {
    FileHeader h = header_of(64, 0);
    h.header_bytes = header_bytes;
    const std::string p = write_file("hb.jfp", h, std::vector<uint8_t>(192));
    expect_error(ErrorKind::format, [&] { FingerprintFile::open(p); },
                 {"header_bytes is " + std::to_string(header_bytes), "multiple of 64"});
  }
}

TEST_F(TempDir, OpenHeaderBytesBeyondFile) {
  FileHeader h = header_of(64, 0);
  h.header_bytes = 4096;
  const std::string p = write_file("beyond.jfp", h, {});
  expect_error(ErrorKind::format, [&] { FingerprintFile::open(p); }, {"expected 0 bytes"});
}

TEST_F(TempDir, OpenPayloadSizeMismatch) {
  const std::string shorter = write_file("short.jfp", header_of(128, 3), std::vector<uint8_t>(32));
  expect_error(ErrorKind::format, [&] { FingerprintFile::open(shorter); },
               {shorter, "32 bytes", "expected 48 bytes", "3 records", "16 bytes"});
  const std::string longer = write_file("long.jfp", header_of(128, 3), std::vector<uint8_t>(49));
  expect_error(ErrorKind::format, [&] { FingerprintFile::open(longer); },
               {"49 bytes", "expected 48"});
  // Blocked: 3 records need one padded block of 8.
  const std::string blocked =
      write_file("blocked.jfp", header_of(128, 3, Layout::blocked, 8), std::vector<uint8_t>(48));
  expect_error(ErrorKind::format, [&] { FingerprintFile::open(blocked); },
               {"48 bytes", "expected 128 bytes", "padded to 8 records"});
}

TEST_F(TempDir, OpenCountOverflow) {
  const std::string p = write_file("overflow.jfp", header_of(65536, uint64_t{1} << 60), {});
  expect_error(ErrorKind::format, [&] { FingerprintFile::open(p); },
               {std::to_string(uint64_t{1} << 60), "8192", "overflows"});
  // header_bytes + payload overflow: 2^61 records × 8 bytes fits, plus the header does not.
  auto bytes = encoded(header_of(64, (uint64_t{1} << 61) - 1));
  put_u64(bytes, 32, UINT64_MAX - 63);
  const std::string q = write_file("overflow2.jfp", bytes);
  expect_error(ErrorKind::format, [&] { FingerprintFile::open(q); });
}

TEST_F(TempDir, OpenBadLayoutAndBlockRecords) {
  auto bytes = encoded(header_of(64, 0));
  put_u32(bytes, 12, 9);
  const std::string layout = write_file("layout.jfp", bytes);
  expect_error(ErrorKind::format, [&] { FingerprintFile::open(layout); }, {"layout 9"});
  const std::string rm = write_file("rm.jfp", header_of(64, 0, Layout::row_major, 8), {});
  expect_error(ErrorKind::format, [&] { FingerprintFile::open(rm); }, {"must be 0"});
  for (uint32_t b : {0u, 6u, 24u, 8192u}) {
    const std::string p = write_file("blk.jfp", header_of(64, 0, Layout::blocked, b), {});
    expect_error(ErrorKind::format, [&] { FingerprintFile::open(p); },
                 {"block_records is " + std::to_string(b), "8 to 4096"});
  }
}

TEST_F(TempDir, OpenNonzeroReservedBytes) {
  auto bytes = encoded(header_of(64, 0));
  bytes[63] = 1;
  const std::string p = write_file("reserved.jfp", bytes);
  expect_error(ErrorKind::format, [&] { FingerprintFile::open(p); }, {"reserved", "63"});
}

// ---------------------------------------------------------------------------------------------
// FingerprintFile: successful opens

TEST_F(TempDir, OpenMapsPayloadAligned) {
  const auto payload = random_bytes(1, 5 * 256);
  const std::string p = write_file("ok.jfp", header_of(2048, 5), payload);
  const auto file = FingerprintFile::open(p);
  EXPECT_TRUE(file.has_header());
  EXPECT_EQ(file.path(), p);
  const DatabaseView v = file.view();
  EXPECT_EQ(v.n_records, 5u);
  EXPECT_EQ(v.record_bytes, 256u);
  EXPECT_EQ(v.layout, Layout::row_major);
  EXPECT_TRUE(aligned64(v.data));
  EXPECT_EQ(std::vector<uint8_t>(v.data, v.data + v.payload_bytes()), payload);
}

TEST_F(TempDir, OpenLargerHeaderKeepsAlignment) {
  auto bytes = encoded(header_of(64, 2));
  put_u64(bytes, 32, 192);
  bytes.resize(192, 0xEE);  // bytes 64..191: extension space a version-1 reader ignores
  const std::vector<uint8_t> payload = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  const std::string p = write_file("hb192.jfp", bytes);
  const auto file = FingerprintFile::open(p);
  EXPECT_EQ(file.header().header_bytes, 192u);
  EXPECT_TRUE(aligned64(file.view().data));
  EXPECT_EQ(file.view().data[0], 1);
  EXPECT_EQ(file.view().record(1)[7], 16);
}

TEST_F(TempDir, OpenZeroRecords) {
  const std::string p = write_file("zero.jfp", header_of(16384, 0), {});
  const auto file = FingerprintFile::open(p);
  EXPECT_EQ(file.view().n_records, 0u);
  EXPECT_EQ(file.view().payload_bytes(), 0u);
}

TEST_F(TempDir, OpenWithPopulateSeesTheSameBytes) {
  const auto payload = random_bytes(2, 3 * 1024);
  const std::string p = write_file("pop.jfp", header_of(8192, 3), payload);
  FileOpenOptions options;
  options.populate = true;
  const auto file = FingerprintFile::open(p, options);
  EXPECT_EQ(std::vector<uint8_t>(file.view().data, file.view().data + payload.size()), payload);
}

TEST_F(TempDir, OpenRawHeaderlessFiles) {
  const auto payload = random_bytes(3, 4 * 16);
  const std::string p = write_file("raw.bin", payload);
  const auto file = FingerprintFile::open(p, 128u);
  EXPECT_FALSE(file.has_header());
  EXPECT_EQ(file.view().n_records, 4u);
  EXPECT_EQ(file.view().record_bytes, 16u);
  EXPECT_EQ(file.header().record_bits, 128u);
  EXPECT_TRUE(aligned64(file.view().data));
  EXPECT_EQ(std::vector<uint8_t>(file.view().data, file.view().data + 64), payload);

  const std::string empty = write_file("empty.bin", std::vector<uint8_t>{});
  const auto none = FingerprintFile::open(empty, 2048u);
  EXPECT_EQ(none.view().n_records, 0u);

  const std::string odd = write_file("odd.bin", random_bytes(4, 100));
  expect_error(ErrorKind::format, [&] { FingerprintFile::open(odd, 128u); },
               {odd, "100 bytes", "16 bytes", "128 bits"});
  for (uint32_t bits : {0u, 100u, 70000u}) {
    expect_error(ErrorKind::invalid_argument, [&] { FingerprintFile::open(p, bits); },
                 {"record_bits is " + std::to_string(bits), "65536"});
  }
  expect_error(ErrorKind::io, [&] { FingerprintFile::open(path("nope.bin"), 64u); },
               {std::strerror(ENOENT)});
}

TEST_F(TempDir, FingerprintFileMoves) {
  const auto payload = random_bytes(5, 2 * 8);
  const std::string p = write_file("move.jfp", header_of(64, 2), payload);
  auto a = FingerprintFile::open(p);
  const uint8_t *data = a.view().data;
  FingerprintFile b = std::move(a);
  EXPECT_EQ(b.view().data, data);
  EXPECT_EQ(b.view().n_records, 2u);
  EXPECT_EQ(a.view().data, nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty
  auto c = FingerprintFile::open(write_file("other.jfp", header_of(64, 1), random_bytes(6, 8)));
  c = std::move(b);
  EXPECT_EQ(c.view().data, data);
  EXPECT_EQ(c.view().data[15], payload[15]);
}

// ---------------------------------------------------------------------------------------------
// FingerprintWriter

TEST_F(TempDir, WriterRoundTripIdenticalBytes) {
  const size_t record_bytes = 2048, count = 700;  // 1.4 MB: crosses the writer's buffer size
  const auto payload = random_bytes(7, record_bytes * count);
  const std::string p = path("db.jfp");
  {
    FingerprintWriter w(p, 16384, count);
    // Mixed chunk sizes: small pieces, one record, and one piece larger than the buffer.
    w.write(payload.data(), 10);
    w.write(payload.data() + 10, record_bytes - 10);
    w.write(payload.data() + record_bytes, 600 * record_bytes);
    w.write(payload.data() + 601 * record_bytes, 99 * record_bytes);
    w.commit();
  }
  const auto file = FingerprintFile::open(p);
  EXPECT_EQ(file.view().n_records, count);
  EXPECT_EQ(file.view().record_bytes, record_bytes);
  EXPECT_TRUE(aligned64(file.view().data));
  EXPECT_EQ(std::vector<uint8_t>(file.view().data, file.view().data + payload.size()), payload);
  // On disk: exactly the encoded header then the payload.
  auto expected = encoded(header_of(16384, count));
  expected.insert(expected.end(), payload.begin(), payload.end());
  EXPECT_EQ(read_all(p), expected);
  EXPECT_EQ(entries(), std::vector<std::string>{"db.jfp"});  // no temporary file left
}

TEST_F(TempDir, WriterBlockedLayout) {
  const auto payload = random_bytes(8, 16 * 32);  // 10 records of 32 bytes in 2 blocks of 8
  const std::string p = path("blocked.jfp");
  FingerprintWriter w(p, 256, 10, Layout::blocked, 8);
  w.write(payload.data(), payload.size());
  w.commit();
  const auto file = FingerprintFile::open(p);
  EXPECT_EQ(file.view().layout, Layout::blocked);
  EXPECT_EQ(file.view().block_records, 8u);
  EXPECT_EQ(file.view().n_records, 10u);
  EXPECT_EQ(file.view().payload_bytes(), payload.size());
  EXPECT_EQ(std::vector<uint8_t>(file.view().data, file.view().data + payload.size()), payload);
}

TEST_F(TempDir, WriterHeaderlessRaw) {
  const auto payload = random_bytes(9, 3 * 128);
  const std::string p = path("raw.bin");
  FingerprintWriter w(p, 1024, 3, Layout::row_major, 0, /*with_header=*/false);
  w.write(payload.data(), payload.size());
  w.commit();
  EXPECT_EQ(read_all(p), payload);
  const auto file = FingerprintFile::open(p, 1024u);
  EXPECT_EQ(file.view().n_records, 3u);
  expect_error(ErrorKind::invalid_argument,
               [&] { FingerprintWriter bad(path("bad.bin"), 1024, 3, Layout::blocked, 8, false); },
               {"headerless"});
}

TEST_F(TempDir, WriterNotCommittedLeavesNothing) {
  const std::string p = path("never.jfp");
  const std::string temp = p + ".tmp." + std::to_string(::getpid());
  {
    FingerprintWriter w(p, 64, 2);
    const auto payload = random_bytes(10, 16);
    w.write(payload.data(), payload.size());
    EXPECT_TRUE(fs::exists(temp));  // writes go to "<path>.tmp.<pid>"
    EXPECT_FALSE(fs::exists(p));
  }
  EXPECT_FALSE(fs::exists(p));
  EXPECT_FALSE(fs::exists(temp));
  EXPECT_TRUE(entries().empty());
}

TEST_F(TempDir, WriterCommitWithTooFewBytes) {
  const std::string p = path("few.jfp");
  FingerprintWriter w(p, 128, 4);
  const auto payload = random_bytes(11, 48);
  w.write(payload.data(), payload.size());
  expect_error(ErrorKind::format, [&] { w.commit(); }, {"48", "expected 64"});
  EXPECT_FALSE(fs::exists(p));
  EXPECT_TRUE(entries().empty());
  expect_error(ErrorKind::invalid_argument, [&] { w.commit(); }, {"failed earlier"});
}

TEST_F(TempDir, WriterWriteBeyondDeclaredSize) {
  const std::string p = path("many.jfp");
  FingerprintWriter w(p, 64, 2);
  const auto payload = random_bytes(12, 24);
  w.write(payload.data(), 16);
  expect_error(ErrorKind::format, [&] { w.write(payload.data() + 16, 8); }, {"24", "16"});
  EXPECT_TRUE(entries().empty());
  expect_error(ErrorKind::invalid_argument, [&] { w.commit(); });
  EXPECT_FALSE(fs::exists(p));
}

TEST_F(TempDir, WriterReplacesExistingFileOnlyOnCommit) {
  const auto old_payload = random_bytes(13, 8);
  const std::string p = write_file("db.jfp", header_of(64, 1), old_payload);
  const auto old_bytes = read_all(p);
  const auto new_payload = random_bytes(14, 16);
  {
    FingerprintWriter w(p, 64, 2);
    w.write(new_payload.data(), new_payload.size());
    EXPECT_EQ(read_all(p), old_bytes);  // untouched until commit
  }
  EXPECT_EQ(read_all(p), old_bytes);  // abandoned writer: old file intact
  FingerprintWriter w(p, 64, 2);
  w.write(new_payload.data(), new_payload.size());
  w.commit();
  const auto file = FingerprintFile::open(p);
  EXPECT_EQ(file.view().n_records, 2u);
  EXPECT_EQ(std::vector<uint8_t>(file.view().data, file.view().data + 16), new_payload);
  expect_error(ErrorKind::invalid_argument, [&] { w.write(new_payload.data(), 1); },
               {"already committed"});
  expect_error(ErrorKind::invalid_argument, [&] { w.commit(); }, {"already committed"});
}

TEST_F(TempDir, WriterRejectsBadArguments) {
  for (uint32_t bits : {0u, 96u, 65600u}) {
    expect_error(ErrorKind::invalid_argument, [&] { FingerprintWriter w(path("x"), bits, 1); },
                 {"record_bits is " + std::to_string(bits), "65536"});
  }
  expect_error(ErrorKind::invalid_argument,
               [&] { FingerprintWriter w(path("x"), 64, 1, Layout::blocked, 9); },
               {"power of two"});
  expect_error(ErrorKind::invalid_argument,
               [&] { FingerprintWriter w(path("x"), 65536, uint64_t{1} << 60); }, {"overflows"});
  expect_error(ErrorKind::io, [&] { FingerprintWriter w(path("no-such-dir/x.jfp"), 64, 1); },
               {"no-such-dir", std::strerror(ENOENT)});
  EXPECT_TRUE(entries().empty());
}

TEST_F(TempDir, WriterZeroRecords) {
  const std::string p = path("empty.jfp");
  FingerprintWriter w(p, 2048, 0);
  w.commit();
  EXPECT_EQ(read_all(p), encoded(header_of(2048, 0)));
  EXPECT_EQ(FingerprintFile::open(p).view().n_records, 0u);
}

}  // namespace
}  // namespace jitson
