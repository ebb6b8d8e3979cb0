// Headerless raw reader: FingerprintFile::open with raw_record_bits.
//
// Input: 3 bytes choosing raw_record_bits (little-endian, 0..2^24-1, mostly invalid: the
// fuzzer's comparison tracing finds the valid ones), then the file. A file that opens must be a
// whole number of records of that size, and its view must hold exactly the file's bytes (every
// byte is read: a view past the mapping faults).
#include <cstring>
#include <exception>
#include <optional>
#include <string>

#include "fuzz_common.hpp"
#include "jitson/database.hpp"
#include "jitson/error.hpp"

using jitson::fuzz::fail;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  const uint32_t bits = uint32_t(data[0]) | uint32_t(data[1]) << 8 | uint32_t(data[2]) << 16;
  const uint8_t *content = data + 3;
  const size_t content_size = size - 3;
  static jitson::fuzz::InputFile file;
  const std::string &path = file.write(content, content_size);

  std::optional<jitson::FingerprintFile> f;
  try {
    f.emplace(jitson::FingerprintFile::open(path, bits));
  } catch (const jitson::Error &) {
    return 0;
  } catch (const std::exception &e) {
    fail("FingerprintFile::open (raw) threw a non-jitson exception: %s", e.what());
  }
  const jitson::DatabaseView v = f->view();
  if (f->has_header()) fail("a raw file claims a header");
  if (bits == 0 || bits % 64 != 0 || bits > jitson::kMaxFileRecordBits)
    fail("raw_record_bits %u accepted", bits);
  if (v.layout != jitson::Layout::row_major || v.record_bytes * 8ull != bits ||
      v.n_records * v.record_bytes != content_size)
    fail("raw view of %llu records of %u bytes over a file of %zu bytes",
         (unsigned long long)v.n_records, v.record_bytes, content_size);
  if (content_size && std::memcmp(v.data, content, content_size) != 0)
    fail("the raw view differs from the file's bytes");
  return 0;
}
