// Engine options parser, through jitson_engine_create (the C API's only way in).
//
// jitson_engine_create must agree with EngineOptions::from_json (accept/reject and message); an
// engine it creates must then compile and scan a small config correctly, whatever its thread
// count, cache size, ISA or jit switch.
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.hpp"
#include "jitson/engine.hpp"
#include "jitson/error.hpp"
#include "jitson/jitson.h"
#include "support/oracle.hpp"

using jitson::fuzz::fail;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // The C API takes a NUL-terminated string: the text ends at the first NUL.
  const std::string text(reinterpret_cast<const char *>(data), strnlen((const char *)data, size));

  std::optional<jitson::EngineOptions> options;
  std::string parse_error;
  try {
    options = jitson::EngineOptions::from_json(text);
  } catch (const jitson::Error &e) {
    parse_error = e.what();
  } catch (const std::exception &e) {
    fail("EngineOptions::from_json threw a non-jitson exception: %s", e.what());
  }

  char err[4096];
  jitson_engine *engine = jitson_engine_create(text.c_str(), err, sizeof err);
  if (!options) {
    if (engine)
      fail("jitson_engine_create accepted options from_json rejects: %s", parse_error.c_str());
    if (std::strncmp(err, parse_error.c_str(), sizeof err - 1) != 0)
      fail("jitson_engine_create and from_json reject with different messages:\n  %s\n  %s", err,
           parse_error.c_str());
    return 0;
  }
  if (!engine) fail("jitson_engine_create refused options from_json accepts: %s", err);

  // The engine must work: one small config, scanned against the oracle.
  static const char kConfig[] =
      R"({"version": 1, "record_bits": 256, "max_distance": 100, "top_k": 3})";
  jitson_kernel *kernel = jitson_compile(engine, kConfig, sizeof kConfig - 1, err, sizeof err);
  if (!kernel) fail("an engine with options %s cannot compile: %s", text.c_str(), err);
  jitson::fuzz::Rng rng{jitson::fuzz::hash_bytes(data, size)};
  constexpr size_t kRecords = 9, kBytes = 32;
  std::vector<uint8_t> query(kBytes), records(kRecords * kBytes);
  for (auto &b : query) b = uint8_t(rng.next());
  for (size_t i = 0; i < records.size(); ++i)
    records[i] = uint8_t(query[i % kBytes] ^ (rng.below(4) == 0 ? rng.next() : 0));
  jitson_hit hits[kRecords];
  int64_t n = jitson_scan(kernel, query.data(), records.data(), kRecords, hits, kRecords, nullptr,
                          err, sizeof err);
  if (n < 0) fail("scan with options %s failed: %s", text.c_str(), err);
  auto want = jitson::oracle::scan(query.data(), records.data(), kRecords, kBytes, {}, 100, 3);
  bool same = size_t(n) == want.size();
  for (size_t i = 0; same && i < want.size(); ++i)
    same = hits[i].index == want[i].index && hits[i].distance == want[i].distance;
  if (!same) fail("scan with options %s differs from the oracle", text.c_str());
  jitson_kernel_release(kernel);
  jitson_engine_destroy(engine);
  return 0;
}
