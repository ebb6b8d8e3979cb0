// The LLVM backend against the runtime interpreter (scan_block_runtime) and the scalar oracle:
// hits and every counter for thousands of random plans (parse_scan_config + make_plan) on
// avx512, avx2 and scalar; guard pages; no EVEX in avx2 code; removal of a kernel's code from
// the JIT; concurrent compiles; the engine's "backend": "llvm".
//   JITSON_LLVM_PLANS=N   random plans per ISA (default 1000)
//   JITSON_LLVM_SEED=S    base seed (default 11)
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "jit/backend.hpp"
#include "jit/llvm_jit.hpp"
#include "jitson/config.hpp"
#include "jitson/engine.hpp"
#include "jitson/error.hpp"
#include "jitson/plan.hpp"
#include "support/oracle.hpp"
#include "support/random_plans.hpp"

namespace jitson {
namespace {

using namespace testsupport;

// Every ISA is forced through the config; a CPU without one of them fails loudly in make_plan.
const Isa kIsas[] = {Isa::avx512, Isa::avx2, Isa::scalar};

LlvmJit &shared_jit() {
  static std::unique_ptr<LlvmJit> jit = LlvmJit::create();
  return *jit;
}

constexpr BackendUnderTest kBackend{"llvm", /*shuffle_segments=*/false};

ScanPlan plan_of(const std::string &config) {
  try {
    return make_plan(parse_scan_config(config));
  } catch (const Error &e) {
    throw Error(e.kind(), std::string(e.what()) + " in config " + config);
  }
}

std::string simple_config(uint32_t bits, Isa isa, const std::string &extra = "") {
  return "{\"version\": 1, \"record_bits\": " + std::to_string(bits) +
         ", \"max_distance\": " + std::to_string(bits) + ", \"isa\": \"" + isa_name(isa) +
         "\", \"backend\": \"llvm\"" + extra + "}";
}

// ---------------------------------------------------------------------------------------------

class LlvmDifferential : public ::testing::TestWithParam<Isa> {};

TEST_P(LlvmDifferential, RandomPlansMatchRuntimeAndOracle) {
  const Isa isa = GetParam();
  // Scalar code is the least used path: a third of the plans.
  const uint64_t plans = env_u64("JITSON_LLVM_PLANS", 1000) / (isa == Isa::scalar ? 3 : 1);
  const uint64_t seed0 = env_u64("JITSON_LLVM_SEED", 11) * 1000003 + uint64_t(isa);
  LlvmJit &jit = shared_jit();
  uint64_t failures = 0;
  for (uint64_t p = 0; p < plans && failures < 5; ++p) {
    std::mt19937_64 rng(seed0 + p);
    const std::string config = kBackend.random_config(rng, isa);
    ScanPlan plan = plan_of(config);
    ASSERT_EQ(plan.isa, isa);
    ASSERT_EQ(plan.backend, Backend::llvm);
    kBackend.mutate_plan(rng, plan);
    std::shared_ptr<CompiledCode> code = compile_llvm(plan, jit);
    const std::string what = "seed " + std::to_string(seed0 + p) + " config " + config;
    if (!kBackend.check_random_blocks(rng, plan, code->entry(), what)) ++failures;
  }
  EXPECT_EQ(failures, 0u);
}

INSTANTIATE_TEST_SUITE_P(Isas, LlvmDifferential, ::testing::ValuesIn(kIsas),
                         [](const auto &info) { return std::string(isa_name(info.param)); });

// Long runs (rolled loops), every stage shape, through the whole top-k driver.
TEST(Llvm, ScanWithMatchesOracleOnExampleShapes) {
  std::mt19937_64 rng(99);
  for (Isa isa : kIsas) {
    for (const char *extra :
         {"", ", \"cascade\": {\"mode\": \"off\"}", ", \"focus\": {\"ranges\": [[0, 2048]]}",
          ", \"cascade\": {\"mode\": \"exact\", \"stages\": [64, 128]}",
          ", \"focus\": {\"ranges\": [[0, 512], [4096, 5120], [8192, 8448]], \"bits\": [12288, "
          "12352, 12416, 12480]}",
          ", \"cascade\": {\"mode\": \"statistical\", \"safety_margin\": 0.5}"}) {
      const std::string config = std::string(
                                     "{\"version\": 1, \"record_bits\": 16384, "
                                     "\"max_distance\": 7000, \"top_k\": 7, \"isa\": \"") +
                                 isa_name(isa) + "\", \"backend\": \"llvm\"" + extra + "}";
      ScanPlan plan = plan_of(config);
      auto code = compile_llvm(plan, shared_jit());
      const ScanInputs in = random_scan_inputs(rng, plan, 3000, 100);
      const ScanRequest &req = in.request;
      const uint8_t *query = in.query.data();
      auto view = in.view();
      ScanResult got = scan_with(code->entry(), nullptr, query, view, req);
      ScanResult rt = scan_with(scan_block_runtime, &plan.cascade, query, view, req);
      std::vector<uint64_t> mask = plan_mask(plan);
      auto want = oracle::scan(query, in.records.data(), in.n_records, 2048, mask, req.max_distance,
                               req.top_k);
      if (plan.mode != CascadeMode::statistical) {
        EXPECT_EQ(got.hits, want) << config;
      }
      EXPECT_EQ(got.hits, rt.hits) << config;
      EXPECT_EQ(got.stats.rejected_by_stage, rt.stats.rejected_by_stage) << config;
      EXPECT_EQ(got.stats.statistically_pruned, rt.stats.statistically_pruned) << config;
      EXPECT_EQ(got.stats.words_read, rt.stats.words_read) << config;
      EXPECT_EQ(got.stats.hits, rt.stats.hits) << config;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Guard pages: nothing outside query[0, record_bytes) and the block's records is read.

TEST(Llvm, GuardPagesAroundQueryAndRecords) {
  std::mt19937_64 rng(5);
  const uint32_t sizes[] = {64, 128, 192, 448, 512, 576, 704, 1088, 2048, 16384, 65536};
  int checked = 0;
  for (Isa isa : kIsas) {
    for (uint32_t bits : sizes) {
      const uint32_t bytes = bits / 8;
      for (int v = 0; v < 7; ++v) {
        for (const char *cascade : {"{\"mode\": \"off\"}", "{\"mode\": \"exact\"}",
                                    "{\"mode\": \"exact\", \"stages\": [1, 2, 3]}"}) {
          const std::string config =
              simple_config(bits, isa,
                            std::string(", \"prefetch_records\": 3, \"cascade\": ") + cascade +
                                focus_variant(v, bits));
          ScanPlan plan = plan_of(config);
          auto code = compile_llvm(plan, shared_jit());
          const uint64_t n = bytes >= 8192 ? 3 : 7;
          checked += kBackend.check_block_at_guard_pages(rng, plan, code->entry(), n, config);
        }
      }
    }
  }
  EXPECT_GT(checked, 0);
}

// AVX-512 single-stage kernels of at most 8 chunks take 8 records per trip (a group), the rest
// one by one: every block length around the group size, every limit.
TEST(Llvm, GroupedRecordsMatchForEveryBlockLength) {
  std::mt19937_64 rng(41);
  const char *shapes[] = {"", ", \"focus\": {\"ranges\": [[0, 2048]]}",
                          ", \"focus\": {\"ranges\": [[3, 70], [200, 1000]], \"bits\": [4095]}",
                          ", \"focus\": {\"bits\": [5, 700, 1400, 2100, 2800, 3500]}"};
  for (uint32_t bits : {64u, 576u, 4096u}) {
    for (const char *shape : shapes) {
      if (bits < 4096 && *shape) continue;
      const std::string config = simple_config(
          bits, Isa::avx512, std::string(", \"cascade\": {\"mode\": \"off\"}") + shape);
      ScanPlan plan = plan_of(config);
      auto code = compile_llvm(plan, shared_jit());
      // The group path transposes 8 sums with VSHUFI64X2: present in every such kernel.
      const std::string text = disassemble(code->code_address(), code->code_bytes(), "avx512");
      EXPECT_NE(text.find("vshufi64x2"), std::string::npos) << config;
      const uint32_t bytes = plan.record_bytes;
      std::vector<uint8_t> query(bytes), records(41 * size_t(bytes));
      for (auto &b : query) b = uint8_t(rng());
      fill_records(rng, query.data(), records.data(), 41, bytes);
      for (uint64_t n = 0; n <= 41; ++n) {
        for (uint32_t limit : {0u, 1u, pick_limit(rng, plan), plan.focus_bits / 2, bits + 1}) {
          ASSERT_TRUE(kBackend.check_block(plan, code->entry(), query.data(), records.data(), n,
                                           1000 * n, limit, config));
        }
      }
    }
  }
  // More than 8 chunks: one record at a time.
  auto code =
      compile_llvm(plan_of(simple_config(16384, Isa::avx512, ", \"cascade\": {\"mode\": \"off\"}")),
                   shared_jit());
  EXPECT_EQ(disassemble(code->code_address(), code->code_bytes(), "avx512").find("vshufi64x2"),
            std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Generated code: AVX2 kernels contain no EVEX instruction, AVX-512 kernels do.

struct DisassemblyScan {
  size_t instructions = 0;
  size_t evex = 0;         // instructions whose opcode starts with the EVEX escape 0x62
  size_t zmm_or_mask = 0;  // zmm or k-register operands
  size_t vpopcntq = 0;
  bool ends_with_ret = false;
  std::string first_offender;
};

DisassemblyScan scan_disassembly(const std::string &text) {
  DisassemblyScan s;
  std::istringstream in(text);
  std::string line, last_mnemonic;
  while (std::getline(in, line)) {
    // "<offset>: <hex bytes>  <instruction>": bytes separated by one space, then two or more.
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const size_t gap = line.find("  ", colon + 2);
    if (gap == std::string::npos) continue;
    ++s.instructions;
    std::istringstream bytes(line.substr(colon + 1, gap - colon - 1));
    std::string hex;
    while (bytes >> hex) {
      unsigned value = unsigned(std::strtoul(hex.c_str(), nullptr, 16));
      // Legacy prefixes (operand/address size, segments, lock/rep) may precede the escape.
      if (value == 0x66 || value == 0x67 || value == 0xF0 || value == 0xF2 || value == 0xF3 ||
          value == 0x2E || value == 0x3E || value == 0x26 || value == 0x64 || value == 0x65 ||
          value == 0x36)
        continue;
      if (value == 0x62) {
        ++s.evex;
        if (s.first_offender.empty()) s.first_offender = line;
      }
      break;
    }
    std::string instruction = line.substr(line.find_first_not_of(' ', gap));
    bool mask_register = false;
    for (size_t at = instruction.find('k'); at != std::string::npos;
         at = instruction.find('k', at + 1)) {
      bool start = at == 0 || !std::isalnum(static_cast<unsigned char>(instruction[at - 1]));
      bool digit = at + 1 < instruction.size() && instruction[at + 1] >= '0' &&
                   instruction[at + 1] <= '7' &&
                   (at + 2 >= instruction.size() ||
                    !std::isalnum(static_cast<unsigned char>(instruction[at + 2])));
      mask_register |= start && digit;
    }
    if (instruction.find("zmm") != std::string::npos || mask_register) {
      ++s.zmm_or_mask;
      if (s.first_offender.empty()) s.first_offender = line;
    }
    if (instruction.find("vpopcntq") != std::string::npos) ++s.vpopcntq;
    last_mnemonic = instruction.substr(0, instruction.find(' '));
  }
  s.ends_with_ret = last_mnemonic == "ret";
  return s;
}

TEST(Llvm, Avx2CodeHasNoEvexAndAvx512CodeUsesVpopcntq) {
  std::mt19937_64 rng(3);
  for (int p = 0; p < 40; ++p) {
    std::string config = kBackend.random_config(rng, Isa::avx2);
    if (p < 4) {
      const char *fixed[] = {"", ", \"cascade\": {\"mode\": \"off\"}",
                             ", \"focus\": {\"ranges\": [[3, 700], [1000, 1900]]}",
                             ", \"cascade\": {\"mode\": \"statistical\"}"};
      config = simple_config(16384, Isa::avx2, fixed[p]);
    }
    ScanPlan plan = plan_of(config);
    auto code = compile_llvm(plan, shared_jit());
    const std::string text = disassemble(code->code_address(), code->code_bytes(), "avx2");
    DisassemblyScan s = scan_disassembly(text);
    ASSERT_GT(s.instructions, 5u) << text;
    EXPECT_TRUE(s.ends_with_ret) << text;
    EXPECT_EQ(s.evex, 0u) << config << "\n" << s.first_offender;
    EXPECT_EQ(s.zmm_or_mask, 0u) << config << "\n" << s.first_offender;
    EXPECT_EQ(s.vpopcntq, 0u) << config;
  }
  // The same check sees EVEX in AVX-512 code, so it can fail.
  ScanPlan plan = plan_of(simple_config(16384, Isa::avx512, ", \"cascade\": {\"mode\": \"off\"}"));
  auto code = compile_llvm(plan, shared_jit());
  DisassemblyScan s =
      scan_disassembly(disassemble(code->code_address(), code->code_bytes(), "avx512"));
  EXPECT_GT(s.evex, 0u);
  EXPECT_GT(s.zmm_or_mask, 0u);
  EXPECT_GT(s.vpopcntq, 0u);
  EXPECT_TRUE(s.ends_with_ret);
}

TEST(Llvm, DisassemblyIsIntelSyntaxWithOffsets) {
  ScanPlan plan = plan_of(simple_config(512, Isa::avx512));
  auto code = compile_llvm(plan, shared_jit());
  const std::string text = disassemble(code->code_address(), code->code_bytes(), "avx512");
  // Intel syntax: no AT&T register sigils, memory operands as "ptr [...]".
  EXPECT_EQ(text.find('%'), std::string::npos) << text;
  EXPECT_NE(text.find("ptr ["), std::string::npos) << text;
  EXPECT_EQ(text.rfind("     0:", 0), 0u) << text;
  // Bytes that are not an instruction are shown, not skipped.
  const uint8_t junk[] = {0x06, 0xC3};  // push es: invalid in 64-bit mode
  const std::string odd = disassemble(junk, sizeof junk, "");
  EXPECT_NE(odd.find(".byte 0x06"), std::string::npos) << odd;
  EXPECT_NE(odd.find("     1: c3"), std::string::npos) << odd;
  EXPECT_NE(odd.find("ret"), std::string::npos) << odd;
}

TEST(Llvm, CodeSizeIrAndSymbol) {
  ScanPlan plan = plan_of(simple_config(65536, Isa::avx512, ", \"prefetch_records\": 4"));
  auto code = compile_llvm(plan, shared_jit());
  EXPECT_GT(code->code_bytes(), 32u);
  EXPECT_LT(code->code_bytes(), 1u << 16);
  EXPECT_EQ(code->code_address(), reinterpret_cast<const void *>(code->entry()));
  const std::string ir = code->ir();
  const std::string symbol = llvm_symbol_name(*code);
  EXPECT_EQ(symbol.rfind("jitson_scan_", 0), 0u) << symbol;
  EXPECT_NE(ir.find("define i64 @" + symbol), std::string::npos) << ir;
  EXPECT_NE(ir.find("llvm.ctpop.v8i64"), std::string::npos) << ir;
  EXPECT_NE(ir.find("llvm.prefetch"), std::string::npos) << ir;
  EXPECT_NE(ir.find("llvm.loop.unroll.disable"), std::string::npos) << ir;
  EXPECT_TRUE(shared_jit().defines(symbol));
}

// Prefetches follow the plan as in the Xbyak backend: a single-stage plan prefetches next to
// its loads, one per 64-byte window of a record (the 4 lines of a 2,048-bit focus; AVX-512 also
// runs them in its 8-record group loop, 8 x 4 more); a cascade
// prefetches its probe lines at the record's top; prefetch_records 0 means none.
TEST(Llvm, PrefetchesFollowThePlan) {
  auto prefetches = [](Isa isa, const std::string &extra) {
    const std::string ir =
        compile_llvm(plan_of(simple_config(16384, isa, extra)), shared_jit())->ir();
    size_t count = 0;
    for (size_t at = ir.find("call void @llvm.prefetch"); at != std::string::npos;
         at = ir.find("call void @llvm.prefetch", at + 1)) {
      ++count;
    }
    return count;
  };
  for (Isa isa : {Isa::avx512, Isa::avx2}) {
    const std::string off = R"(, "cascade": {"mode": "off"})";
    EXPECT_EQ(prefetches(isa, off + R"(, "focus": {"ranges": [[0, 2048]]})"),
              isa == Isa::avx512 ? 36u : 4u)
        << isa_name(isa);
    EXPECT_GE(prefetches(isa, off), 4u) << isa_name(isa);
    EXPECT_EQ(prefetches(isa, off + R"(, "prefetch_records": 0)"), 0u) << isa_name(isa);
    EXPECT_EQ(prefetches(isa, ""), 1u) << isa_name(isa);  // K0 and K1 read line 0
  }
}

// JITLink maps code writable while linking, then read+execute: never both at once.
TEST(Llvm, CodeIsNeverWritableAndExecutable) {
  std::vector<std::shared_ptr<CompiledCode>> kept;
  for (Isa isa : kIsas) {
    for (uint32_t bits : {64u, 576u, 16384u, 65536u}) {
      kept.push_back(compile_llvm(plan_of(simple_config(bits, isa)), shared_jit()));
    }
  }
  std::ifstream maps("/proc/self/maps");
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms;
    in >> range >> perms;
    EXPECT_FALSE(perms.size() >= 3 && perms[1] == 'w' && perms[2] == 'x') << line;
    lines.push_back(line);
  }
  for (const auto &code : kept) {
    // Address comparison only.
    const auto at = reinterpret_cast<uintptr_t>(code->code_address());
    bool found = false;
    for (const std::string &m : lines) {
      unsigned long lo = 0, hi = 0;
      char perms[5] = {};
      if (std::sscanf(m.c_str(), "%lx-%lx %4s", &lo, &hi, perms) == 3 && at >= lo && at < hi) {
        EXPECT_EQ(std::string(perms).substr(0, 3), "r-x") << m;
        found = true;
      }
    }
    EXPECT_TRUE(found);
  }
}

// ---------------------------------------------------------------------------------------------
// Lifetime: each kernel's code leaves the JIT with its CompiledCode.

size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * size_t(sysconf(_SC_PAGESIZE));
}

TEST(Llvm, DestroyedKernelsLeaveTheJit) {
  auto jit = LlvmJit::create();
  std::mt19937_64 rng(17);
  std::string symbol;
  {
    auto code = compile_llvm(plan_of(simple_config(16384, Isa::avx512)), *jit);
    symbol = llvm_symbol_name(*code);
    EXPECT_TRUE(jit->defines(symbol));
    EXPECT_EQ(jit->live_kernels(), 1u);
  }
  EXPECT_FALSE(jit->defines(symbol));
  EXPECT_EQ(jit->live_kernels(), 0u);

  auto churn = [&](int rounds) {
    for (int i = 0; i < rounds; ++i) {
      const Isa isa = i % 2 ? Isa::avx2 : Isa::avx512;
      auto code = compile_llvm(plan_of(kBackend.random_config(rng, isa)), *jit);
      ASSERT_TRUE(jit->defines(llvm_symbol_name(*code)));
    }
  };
  churn(60);  // warm-up: LLVM's one-time tables and allocator pools
  const size_t before = resident_bytes();
  churn(240);
  const size_t after = resident_bytes();
  EXPECT_EQ(jit->live_kernels(), 0u);
  // 240 kernels kept alive would hold megabytes of code, IR text and JIT bookkeeping; after
  // removal the process must not grow by more than allocator noise. (A sanitizer's allocator
  // keeps freed memory in quarantine: there RSS says nothing, and live_kernels() above checks.)
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  EXPECT_LT(after, before + (24u << 20)) << "resident " << before << " -> " << after;
#else
  (void)before, (void)after;
#endif
}

TEST(Llvm, KernelOutlivesItsJit) {
  ScanPlan plan = plan_of(simple_config(1024, Isa::avx2, ", \"cascade\": {\"mode\": \"off\"}"));
  std::shared_ptr<CompiledCode> code;
  {
    auto jit = LlvmJit::create();
    code = compile_llvm(plan, *jit);
  }
  std::vector<uint8_t> query(128, 0x0F), records(128 * 3, 0xF0);
  EXPECT_TRUE(kBackend.check_block(plan, code->entry(), query.data(), records.data(), 3, 0, 1025,
                                   "outlive"));
}

TEST(Llvm, ConcurrentCompilesFromEightThreads) {
  auto jit = LlvmJit::create();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(1000 + uint64_t(t));
      std::vector<std::shared_ptr<CompiledCode>> kept;
      for (int i = 0; i < 6; ++i) {
        const Isa isa = kIsas[size_t(t + i) % 3];
        const std::string config =
            i == 0 ? simple_config(2048, isa) : kBackend.random_config(rng, isa);
        ScanPlan plan = plan_of(config);
        auto code = compile_llvm(plan, *jit);
        std::vector<uint8_t> query(plan.record_bytes), records(plan.record_bytes * 10);
        for (auto &b : query) b = uint8_t(rng());
        fill_records(rng, query.data(), records.data(), 10, plan.record_bytes);
        if (!kBackend.check_block(plan, code->entry(), query.data(), records.data(), 10, 0,
                                  pick_limit(rng, plan), config))
          ++failures;
        if (i % 2) kept.push_back(std::move(code));  // some die at once, some at thread end
      }
    });
  }
  for (auto &thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(jit->live_kernels(), 0u);
}

// ---------------------------------------------------------------------------------------------
// Through the engine: "backend": "llvm" compiles with LLVM, scans equal the oracle.

TEST(Llvm, EngineCompilesAndScansWithLlvm) {
  Engine engine;
  std::mt19937_64 rng(31);
  for (Isa isa : {Isa::avx512, Isa::avx2}) {
    const std::string config =
        "{\"version\": 1, \"record_bits\": 576, \"max_distance\": 200, \"top_k\": 9, \"isa\": "
        "\"" +
        std::string(isa_name(isa)) +
        "\", \"backend\": \"llvm\", \"focus\": {\"ranges\": [[5, 300], [320, 576]]}}";
    auto kernel = engine.compile(config);
    ASSERT_EQ(kernel->backend(), Backend::llvm) << kernel->describe();
    EXPECT_EQ(kernel->describe().rfind("llvm", 0), 0u) << kernel->describe();
    EXPECT_NE(kernel->dump_ir().find("define i64 @jitson_scan_"), std::string::npos);
    EXPECT_NE(kernel->dump_asm().find("ret"), std::string::npos);
    const uint64_t n = 5000;
    std::vector<uint8_t> query(72), db(n * 72);
    for (auto &b : query) b = uint8_t(rng());
    fill_records(rng, query.data(), db.data(), n, 72);
    ScanResult got = kernel->scan(query.data(), DatabaseView::rows(db.data(), n, 72), 2);
    auto want = oracle::scan(query.data(), db.data(), n, 72, plan_mask(kernel->plan()), 200, 9);
    EXPECT_EQ(got.hits, want);
  }
}

}  // namespace
}  // namespace jitson
