// .jfp reader: the header parser and FingerprintFile::open on the input as a whole file.
//
// A file that opens must describe itself consistently (record size, layout, header size within
// the rules of docs/FORMAT.md, payload inside the file) and every payload byte is read through
// the view and compared with the file: a view reaching past the mapping faults, one pointing at
// the wrong bytes differs. parse_header on the same bytes must agree with open().
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "jitson/database.hpp"
#include "jitson/error.hpp"
#include "jitson/popcount.hpp"

using jitson::fuzz::fail;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static jitson::fuzz::InputFile file;
  const std::string &path = file.write(data, size);

  std::optional<jitson::FileHeader> parsed;
  try {
    parsed = jitson::parse_header(data, size, size, path);
  } catch (const jitson::Error &) {
  } catch (const std::exception &e) {
    fail("parse_header threw a non-jitson exception: %s", e.what());
  }

  std::optional<jitson::FingerprintFile> f;
  try {
    jitson::FileOpenOptions options;
    options.populate = (jitson::fuzz::hash_bytes(data, size) & 1) != 0;
    f.emplace(jitson::FingerprintFile::open(path, options));
  } catch (const jitson::Error &) {
  } catch (const std::exception &e) {
    fail("FingerprintFile::open threw a non-jitson exception: %s", e.what());
  }
  if (f.has_value() != parsed.has_value())
    fail("parse_header %s the header but FingerprintFile::open %s the file",
         parsed ? "accepts" : "rejects", f ? "opens" : "refuses");
  if (!f) return 0;

  const jitson::FileHeader &h = f->header();
  const jitson::DatabaseView v = f->view();
  if (!f->has_header()) fail("a file opened without raw_record_bits has no header");
  if (h.record_bits == 0 || h.record_bits % 64 != 0 || h.record_bits > jitson::kMaxFileRecordBits)
    fail("accepted record_bits %u", h.record_bits);
  if (h.header_bytes < jitson::FileHeader::kSize || h.header_bytes % 64 != 0 ||
      h.header_bytes > size)
    fail("accepted header_bytes %llu in a file of %zu bytes", (unsigned long long)h.header_bytes,
         size);
  if (v.record_bytes * 8ull != h.record_bits || v.n_records != h.record_count ||
      v.layout != h.layout)
    fail("view (%u bytes, %llu records) disagrees with header (%u bits, %llu records)",
         v.record_bytes, (unsigned long long)v.n_records, h.record_bits,
         (unsigned long long)h.record_count);
  if (h.layout == jitson::Layout::blocked &&
      (h.block_records < 8 || h.block_records > 4096 || (h.block_records & (h.block_records - 1))))
    fail("accepted block_records %u", h.block_records);
  if (parsed->record_bits != h.record_bits || parsed->record_count != h.record_count ||
      parsed->header_bytes != h.header_bytes || parsed->layout != h.layout)
    fail("parse_header and open disagree on the header");

  const uint64_t payload = v.payload_bytes();
  if (payload > size - h.header_bytes)
    fail("payload of %llu bytes after a %llu-byte header in a file of %zu bytes",
         (unsigned long long)payload, (unsigned long long)h.header_bytes, size);
  if (payload && std::memcmp(v.data, data + h.header_bytes, payload) != 0)
    fail("the view's payload differs from the file's bytes");

  // A popcount section either verifies, and then says the truth of every record, or is refused.
  if (h.order == jitson::FileHeader::kOrderPopcount) {
    if (!f->popcount_section()) fail("a popcount-ordered file has no popcount section");
    if (h.body_bytes() != size - h.header_bytes) fail("the popcount section does not end the file");
    try {
      const jitson::PopcountOrder order = jitson::PopcountOrder::of_file(*f);
      const auto starts = order.bucket_starts();
      const auto index = order.original_index();
      std::vector<bool> seen(v.n_records, false);
      for (uint32_t b = 0; b <= h.record_bits; ++b) {
        for (uint64_t p = starts[b]; p < starts[b + 1]; ++p) {
          uint32_t bits = 0;
          for (uint32_t i = 0; i < v.record_bytes; ++i) bits += __builtin_popcount(v.record(p)[i]);
          if (bits != b)
            fail("record %llu in bucket %u has popcount %u", (unsigned long long)p, b, bits);
        }
      }
      for (uint64_t p = 0; p < v.n_records; ++p) {
        if (index[p] >= v.n_records || seen[index[p]]) fail("original indices are no permutation");
        seen[index[p]] = true;
      }
    } catch (const jitson::Error &) {
    } catch (const std::exception &e) {
      fail("PopcountOrder::of_file threw a non-jitson exception: %s", e.what());
    }
  } else if (f->popcount_section()) {
    fail("a file without the popcount order has a popcount section");
  }
  return 0;
}
