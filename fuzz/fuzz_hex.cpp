// Hex record reader of the command (cli/common.cpp), through load_records(path, hex).
//
// Compared with a reference decoder written from the documented rules (HexFileReader in
// cli/common.hpp): one record per '\n'-separated line, a trailing '\r' ignored, lines non-empty,
// all of one length that is a multiple of 16 hex digits and at most 16,384 (65,536 bits), only
// hex digits, at least one record.
// Both must accept the same files and decode the same bytes; a rejection must be an InputError.
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common.hpp"
#include "fuzz_common.hpp"

using jitson::fuzz::fail;

namespace {

int digit(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

struct Reference {
  bool ok = false;
  size_t record_bytes = 0;
  std::vector<uint8_t> bytes;
};

Reference reference_decode(std::string_view text) {
  Reference r;
  size_t digits = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return r;
    if (digits == 0) {
      if (line.size() % 16 != 0 || line.size() > 16384) return r;
      digits = line.size();
    } else if (line.size() != digits) {
      return r;
    }
    for (size_t i = 0; i < line.size(); i += 2) {
      int hi = digit(line[i]), lo = digit(line[i + 1]);
      if (hi < 0 || lo < 0) return r;
      r.bytes.push_back(uint8_t(hi << 4 | lo));
    }
  }
  r.ok = digits > 0;
  r.record_bytes = digits / 2;
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static jitson::fuzz::InputFile file(jitson::fuzz::InputFile::Regular::yes);
  const std::string &path = file.write(data, size);
  const Reference want = reference_decode(std::string_view((const char *)data, size));

  std::optional<jitson::cli::RecordSet> got;
  std::string error;
  try {
    got.emplace(jitson::cli::load_records(path, jitson::cli::RecordFormat::hex, std::nullopt));
  } catch (const jitson::cli::InputError &e) {
    error = e.what();
  } catch (const std::exception &e) {
    fail("load_records(hex) threw something other than InputError: %s", e.what());
  }
  if (!got) {
    if (want.ok) fail("load_records(hex) rejected a valid file: %s", error.c_str());
    if (error.find(path) == std::string::npos)
      fail("hex error does not name the file: %s", error.c_str());
    return 0;
  }
  if (!want.ok) fail("load_records(hex) accepted a file the rules reject");
  const jitson::DatabaseView &v = got->view;
  if (v.record_bytes != want.record_bytes || got->record_bits != want.record_bytes * 8 ||
      v.n_records * v.record_bytes != want.bytes.size())
    fail("hex: %llu records of %u bytes, expected %zu bytes of records of %zu",
         (unsigned long long)v.n_records, v.record_bytes, want.bytes.size(), want.record_bytes);
  if (!want.bytes.empty() && std::memcmp(v.data, want.bytes.data(), want.bytes.size()) != 0)
    fail("hex: decoded bytes differ from the reference");
  return 0;
}
