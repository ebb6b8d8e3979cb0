// Compile latency of the LLVM backend (issue 17): an "auto" kernel generates its LLVM sweep at
// its first blocked scan, not beside the row kernel (generating both doubled every compile),
// and that sweep still gives the oracle's results.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "jitson/cpu.hpp"
#include "jitson/engine.hpp"
#include "jitson/layout.hpp"
#include "support/oracle.hpp"
#include "support/random_plans.hpp"

namespace jitson {
namespace {

TEST(LlvmDeferredSweep, AutoKernelGeneratesItsSweepAtTheFirstBlockedScan) {
  const uint32_t bits = 1024, bytes = bits / 8;
  const uint64_t n = 1000;
  std::mt19937_64 rng(17);
  std::vector<uint8_t> query(bytes), rows(n * bytes);
  for (auto &b : query) b = uint8_t(rng());
  testsupport::fill_records(rng, query.data(), rows.data(), n, bytes);
  const DatabaseView row_view = DatabaseView::rows(rows.data(), n, bytes);
  BlockedDatabase blocked(row_view, kDefaultBlockRecords);
  const auto expected = oracle::scan(query.data(), rows.data(), n, bytes, {}, 200, 1000);
  ASSERT_FALSE(expected.empty());
  Engine engine;
  for (Isa isa : {Isa::avx512, Isa::avx2}) {
    if (!isa_supported(isa)) continue;
    auto k = engine.compile(std::string("{\"version\": 1, \"record_bits\": 1024, ") +
                            "\"max_distance\": 200, \"top_k\": 1000, \"backend\": \"llvm\", " +
                            "\"isa\": \"" + isa_name(isa) + "\"}");
    ASSERT_EQ(k->backend(), Backend::llvm) << k->describe();
    // Only the row kernel exists after the compile; a row scan does not make the sweep.
    const size_t row_bytes = k->code_bytes();
    EXPECT_GT(row_bytes, 0u);
    EXPECT_EQ(k->scan(query.data(), row_view).hits, expected) << k->describe();
    EXPECT_EQ(k->code_bytes(), row_bytes) << k->describe();
    // The first blocked scan generates the LLVM sweep once.
    EXPECT_EQ(k->scan(query.data(), blocked.view()).hits, expected) << k->describe();
    EXPECT_EQ(k->sweep_backend(), Backend::llvm) << k->sweep_note();
    EXPECT_TRUE(k->sweep_note().empty()) << k->sweep_note();
    const size_t both_bytes = k->code_bytes();
    EXPECT_GT(both_bytes, row_bytes);
    EXPECT_EQ(k->scan(query.data(), blocked.view()).hits, expected) << k->describe();
    EXPECT_EQ(k->code_bytes(), both_bytes);
  }
}

// Kernel::dump_ir prints the kept module on request.
TEST(LlvmDeferredSweep, IrIsPrintedOnRequest) {
  Engine engine;
  auto k = engine.compile(
      R"({"version": 1, "record_bits": 2048, "max_distance": 300, "backend": "llvm"})");
  ASSERT_EQ(k->backend(), Backend::llvm) << k->describe();
  const std::string ir = k->dump_ir();
  EXPECT_NE(ir.find("define i64 @jitson_scan_"), std::string::npos) << ir.substr(0, 400);
  EXPECT_EQ(ir, k->dump_ir());
}

}  // namespace
}  // namespace jitson
