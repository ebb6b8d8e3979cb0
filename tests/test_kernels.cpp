// Every precompiled kernel on every ISA this machine runs, against the scalar oracle.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "jitson/error.hpp"
#include "jitson/kernels.hpp"
#include "kernels/kernels_internal.hpp"
#include "support/oracle.hpp"

namespace jitson {
namespace {

std::vector<Isa> runnable_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (isa_supported(isa)) out.push_back(isa);
  }
  return out;
}

// n bytes that end exactly where an inaccessible page begins and start after another one: any
// read outside [data, data + n) faults. The start's alignment varies with n.
class GuardedBytes {
 public:
  explicit GuardedBytes(size_t n) : n_(n) {
    const size_t page = size_t(sysconf(_SC_PAGESIZE));
    const size_t body = (n + page - 1) / page * page;
    bytes_ = body + 2 * page;
    void *m = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::bad_alloc();
    map_ = static_cast<uint8_t *>(m);
    mprotect(map_, page, PROT_NONE);
    mprotect(map_ + page + body, page, PROT_NONE);
    data_ = map_ + page + body - n;
  }
  ~GuardedBytes() { munmap(map_, bytes_); }
  GuardedBytes(const GuardedBytes &) = delete;
  GuardedBytes &operator=(const GuardedBytes &) = delete;

  uint8_t *data() { return data_; }
  size_t size() const { return n_; }
  void assign(const std::vector<uint8_t> &v) {
    if (!v.empty()) std::memcpy(data_, v.data(), v.size());
  }

 private:
  uint8_t *map_ = nullptr;
  size_t bytes_ = 0;
  uint8_t *data_ = nullptr;
  size_t n_ = 0;
};

std::vector<uint8_t> random_bytes(size_t n, std::mt19937_64 &rng) {
  std::vector<uint8_t> v(n);
  for (auto &b : v) b = uint8_t(rng());
  return v;
}

// Random bytes with a given probability of a 1 bit, so energies and agreements vary.
std::vector<uint8_t> biased_bytes(size_t n, double p_one, std::mt19937_64 &rng) {
  std::bernoulli_distribution bit(p_one);
  std::vector<uint8_t> v(n);
  for (auto &b : v) {
    for (int k = 0; k < 8; ++k) b = uint8_t(b | (bit(rng) << k));
  }
  return v;
}

const std::vector<size_t> kLengths = {0,    1,    2,    3,    7,    8,    9,    15,   16,   17,
                                      31,   32,   33,   63,   64,   65,   127,  128,  129,  191,
                                      192,  255,  256,  257,  300,  511,  512,  513,  1000, 1023,
                                      1024, 2047, 2048, 2049, 4095, 4096, 8191, 8192, 8193};

// Byte patterns of both operands: each kernel is checked on all of them.
struct Pattern {
  std::string name;
  std::function<void(std::vector<uint8_t> &, std::vector<uint8_t> &, std::mt19937_64 &)> make;
};

std::vector<Pattern> patterns() {
  return {
      {"zeros",
       [](auto &a, auto &b, auto &) {
         std::fill(a.begin(), a.end(), 0);
         std::fill(b.begin(), b.end(), 0);
       }},
      {"ones",
       [](auto &a, auto &b, auto &) {
         std::fill(a.begin(), a.end(), 0xFF);
         std::fill(b.begin(), b.end(), 0xFF);
       }},
      {"ones_vs_zeros",
       [](auto &a, auto &b, auto &) {
         std::fill(a.begin(), a.end(), 0xFF);
         std::fill(b.begin(), b.end(), 0);
       }},
      {"single_last_bit",
       [](auto &a, auto &b, auto &) {
         std::fill(a.begin(), a.end(), 0);
         std::fill(b.begin(), b.end(), 0);
         if (!a.empty()) a.back() = 0x80;
       }},
      {"single_first_bit",
       [](auto &a, auto &b, auto &) {
         std::fill(a.begin(), a.end(), 0);
         std::fill(b.begin(), b.end(), 0);
         if (!b.empty()) b.front() = 0x01;
       }},
      {"random",
       [](auto &a, auto &b, auto &rng) {
         a = random_bytes(a.size(), rng);
         b = random_bytes(b.size(), rng);
       }},
      {"sparse_vs_dense",
       [](auto &a, auto &b, auto &rng) {
         a = biased_bytes(a.size(), 0.1, rng);
         b = biased_bytes(b.size(), 0.8, rng);
       }},
  };
}

std::string where(Isa isa, const std::string &pattern, size_t n, size_t offset = 0) {
  return std::string(isa_name(isa)) + " pattern=" + pattern + " n=" + std::to_string(n) +
         " offset=" + std::to_string(offset);
}

TEST(KernelTable, EverySupportedIsaHasACompleteTable) {
  ASSERT_FALSE(runnable_isas().empty());
  for (Isa isa : runnable_isas()) {
    const KernelTable &t = kernel_table(isa);
    EXPECT_EQ(t.isa, isa);
    EXPECT_NE(t.hamming, nullptr);
    EXPECT_NE(t.hamming_masked, nullptr);
    EXPECT_NE(t.energy_conflict, nullptr);
    EXPECT_NE(t.dot_i8, nullptr);
    EXPECT_NE(t.bf16_distance, nullptr);
    EXPECT_NE(t.bf16_awareness, nullptr);
    EXPECT_NE(t.hamming_many, nullptr);
  }
  EXPECT_EQ(kernels().isa, active_isa());
  EXPECT_EQ(&kernels(), &kernel_table(active_isa()));
}

TEST(KernelTable, UnsupportedIsaThrows) {
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (!isa_supported(isa)) {
      try {
        kernel_table(isa);
        FAIL() << "kernel_table(" << isa_name(isa) << ") did not throw";
      } catch (const Error &e) {
        EXPECT_EQ(e.kind(), ErrorKind::unsupported);
      }
    }
  }
  // A value outside the enum is never supported.
  try {
    kernel_table(static_cast<Isa>(3));
    FAIL() << "kernel_table(3) did not throw";
  } catch (const Error &e) {
    EXPECT_EQ(e.kind(), ErrorKind::unsupported);
  }
}

TEST(KernelTable, Avx512DotUsesVnniOnlyWhenTheCpuHasIt) {
  if (!isa_supported(Isa::avx512)) GTEST_SKIP() << "no avx512 tier on this CPU";
  const auto expected = cpu_features().avx512vnni ? impl::dot_i8_avx512vnni : impl::dot_i8_avx512;
  EXPECT_EQ(kernel_table(Isa::avx512).dot_i8, expected);
}

// Every length × pattern pair, the oracle's copy in a/b and the kernels' copy in guarded
// buffers (ga/gb end at a PROT_NONE page): check(a, b, ga, gb, n, pattern name).
template <class Check>
void for_each_guarded_pair(uint64_t seed, Check check) {
  std::mt19937_64 rng(seed);
  for (size_t n : kLengths) {
    std::vector<uint8_t> a(n), b(n);
    GuardedBytes ga(n), gb(n);
    for (const Pattern &p : patterns()) {
      p.make(a, b, rng);
      ga.assign(a);
      gb.assign(b);
      check(a.data(), b.data(), ga.data(), gb.data(), n, p.name);
    }
  }
}

TEST(Hamming, AllLengthsAndPatternsMatchOracle) {
  for_each_guarded_pair(1, [](const uint8_t *a, const uint8_t *b, const uint8_t *ga,
                              const uint8_t *gb, size_t n, const auto &pattern) {
    const uint64_t expected = oracle::hamming(a, b, n);
    for (Isa isa : runnable_isas()) {
      EXPECT_EQ(kernel_table(isa).hamming(ga, gb, n), expected) << where(isa, pattern, n);
    }
  });
}

TEST(Hamming, UnalignedStartsMatchOracle) {
  std::mt19937_64 rng(2);
  for (size_t n : {size_t{65}, size_t{300}, size_t{2048}, size_t{2049}}) {
    const std::vector<uint8_t> a = random_bytes(n, rng), b = random_bytes(n, rng);
    const uint64_t expected = oracle::hamming(a.data(), b.data(), n);
    for (size_t offset = 1; offset < 64; ++offset) {
      // One buffer shifted by offset inside an over-allocated vector (and the other at offset
      // 63 - offset), so both operands are misaligned, differently.
      std::vector<uint8_t> sa(n + 64), sb(n + 64);
      std::copy(a.begin(), a.end(), sa.begin() + long(offset));
      std::copy(b.begin(), b.end(), sb.begin() + long(63 - offset));
      for (Isa isa : runnable_isas()) {
        EXPECT_EQ(kernel_table(isa).hamming(sa.data() + offset, sb.data() + 63 - offset, n),
                  expected)
            << where(isa, "random", n, offset);
      }
    }
  }
}

TEST(Hamming, SingleBitAtEveryPositionOfARecord) {
  // Two 512-byte trips (AVX2 carry-save tree, AVX-512 8 x 64), 64/32-byte steps and a tail.
  const size_t n = 1100;
  std::vector<uint8_t> a(n, 0), b(n, 0);
  for (size_t bit = 0; bit < n * 8; ++bit) {
    std::fill(b.begin(), b.end(), 0);
    b[bit / 8] = uint8_t(1u << (bit % 8));
    for (Isa isa : runnable_isas()) {
      ASSERT_EQ(kernel_table(isa).hamming(a.data(), b.data(), n), 1u)
          << isa_name(isa) << " bit " << bit;
    }
  }
}

TEST(Hamming, SixtyFourKilobitRecords) {
  std::mt19937_64 rng(3);
  const size_t n = 8192;
  const std::vector<uint8_t> a = random_bytes(n, rng), b = random_bytes(n, rng);
  const uint64_t expected = oracle::hamming(a.data(), b.data(), n);
  for (Isa isa : runnable_isas()) {
    EXPECT_EQ(kernel_table(isa).hamming(a.data(), b.data(), n), expected) << isa_name(isa);
  }
}

TEST(HammingMasked, AllLengthsAndPatternsMatchOracle) {
  std::mt19937_64 rng(4);
  for (size_t n : kLengths) {
    std::vector<uint8_t> a(n), b(n);
    GuardedBytes ga(n), gb(n), gm(n);
    for (const Pattern &p : patterns()) {
      p.make(a, b, rng);
      ga.assign(a);
      gb.assign(b);
      for (double density : {0.0, 0.3, 1.0}) {
        const std::vector<uint8_t> mask = biased_bytes(n, density, rng);
        gm.assign(mask);
        const uint64_t expected = oracle::hamming_masked(a.data(), b.data(), mask.data(), n);
        for (Isa isa : runnable_isas()) {
          EXPECT_EQ(kernel_table(isa).hamming_masked(ga.data(), gb.data(), gm.data(), n), expected)
              << where(isa, p.name, n) << " mask density " << density;
        }
      }
    }
  }
}

TEST(HammingMasked, UnalignedStartsMatchOracle) {
  std::mt19937_64 rng(5);
  const size_t n = 777;
  const std::vector<uint8_t> a = random_bytes(n, rng), b = random_bytes(n, rng),
                             m = random_bytes(n, rng);
  const uint64_t expected = oracle::hamming_masked(a.data(), b.data(), m.data(), n);
  for (size_t offset = 1; offset < 64; ++offset) {
    std::vector<uint8_t> sa(n + 64), sb(n + 64), sm(n + 64);
    std::copy(a.begin(), a.end(), sa.begin() + long(offset));
    std::copy(b.begin(), b.end(), sb.begin() + long(offset / 2));
    std::copy(m.begin(), m.end(), sm.begin() + long(63 - offset));
    for (Isa isa : runnable_isas()) {
      EXPECT_EQ(kernel_table(isa).hamming_masked(sa.data() + offset, sb.data() + offset / 2,
                                                 sm.data() + 63 - offset, n),
                expected)
          << where(isa, "random", n, offset);
    }
  }
}

TEST(EnergyConflict, SpecExample) {
  // SEMANTICS.md §2.2, W = 1: a = 0b1100, b = 0b1010.
  uint8_t a[8] = {0b1100}, b[8] = {0b1010};
  for (Isa isa : runnable_isas()) {
    const EnergyConflict e = kernel_table(isa).energy_conflict(a, b, 8);
    EXPECT_EQ(e, (EnergyConflict{2, 2, 2, 1})) << isa_name(isa);
  }
}

TEST(EnergyConflict, AllLengthsAndPatternsMatchOracleAndIdentity) {
  for_each_guarded_pair(6, [](const uint8_t *a, const uint8_t *b, const uint8_t *ga,
                              const uint8_t *gb, size_t n, const auto &pattern) {
    const EnergyConflict expected = oracle::energy_conflict(a, b, n);
    for (Isa isa : runnable_isas()) {
      const EnergyConflict e = kernel_table(isa).energy_conflict(ga, gb, n);
      EXPECT_EQ(e, expected) << where(isa, pattern, n);
      EXPECT_EQ(uint64_t(e.conflict), uint64_t(e.energy_a) + e.energy_b - 2ull * e.agreement)
          << where(isa, pattern, n);
    }
  });
}

TEST(EnergyConflict, UnalignedStartsMatchOracle) {
  std::mt19937_64 rng(7);
  const size_t n = 2048 + 5;
  const std::vector<uint8_t> a = biased_bytes(n, 0.3, rng), b = biased_bytes(n, 0.6, rng);
  const EnergyConflict expected = oracle::energy_conflict(a.data(), b.data(), n);
  for (size_t offset = 1; offset < 64; ++offset) {
    std::vector<uint8_t> sa(n + 64), sb(n + 64);
    std::copy(a.begin(), a.end(), sa.begin() + long(offset));
    std::copy(b.begin(), b.end(), sb.begin() + long(63 - offset));
    for (Isa isa : runnable_isas()) {
      EXPECT_EQ(kernel_table(isa).energy_conflict(sa.data() + offset, sb.data() + 63 - offset, n),
                expected)
          << where(isa, "biased", n, offset);
    }
  }
}

// Every dot_i8 implementation this CPU can run, including the AVX-512 variant dispatch does
// not pick on a VNNI machine.
std::vector<std::pair<std::string, int64_t (*)(const uint8_t *, const uint8_t *, size_t)>>
dot_i8_variants() {
  std::vector<std::pair<std::string, int64_t (*)(const uint8_t *, const uint8_t *, size_t)>> out;
  out.emplace_back("scalar", impl::dot_i8_scalar);
  if (isa_supported(Isa::avx2)) out.emplace_back("avx2", impl::dot_i8_avx2);
  if (isa_supported(Isa::avx512)) {
    out.emplace_back("avx512", impl::dot_i8_avx512);
    if (cpu_features().avx512vnni) out.emplace_back("avx512vnni", impl::dot_i8_avx512vnni);
  }
  for (Isa isa : runnable_isas()) {
    out.emplace_back(std::string("table ") + isa_name(isa), kernel_table(isa).dot_i8);
  }
  return out;
}

TEST(DotI8, AllLengthsAndPatternsMatchOracle) {
  for_each_guarded_pair(8, [](const uint8_t *a, const uint8_t *b, const uint8_t *ga,
                              const uint8_t *gb, size_t n, const auto &pattern) {
    const int64_t expected = oracle::dot_i8(a, b, n);
    for (const auto &[name, fn] : dot_i8_variants()) {
      EXPECT_EQ(fn(ga, gb, n), expected) << name << " pattern=" << pattern << " n=" << n;
    }
  });
}

TEST(DotI8, SignedInterpretation) {
  // 0x80 = -128, 0xFF = -1, 0x7F = 127 (SEMANTICS.md §2.3).
  const uint8_t a[4] = {0x80, 0xFF, 0x7F, 0x01}, b[4] = {0x02, 0xFF, 0x80, 0x80};
  const int64_t expected = -256 + 1 + 127 * -128 + -128;
  for (const auto &[name, fn] : dot_i8_variants()) EXPECT_EQ(fn(a, b, 4), expected) << name;
}

TEST(DotI8, ExtremeValuesOverMegabytesNeedTheFlush) {
  // 4 MiB + a tail: more i32 steps per lane than any implementation could survive without
  // flushing into i64 (VNNI: 2^31 / 130560 steps of 64 bytes ≈ 1 MB; vpmaddwd: 2 MB).
  const size_t n = (size_t{4} << 20) + 37;
  std::vector<uint8_t> a(n), b(n);
  struct Extreme {
    uint8_t a, b;
  };
  for (Extreme e : {Extreme{0x80, 0x80}, Extreme{0x7F, 0x80}, Extreme{0x80, 0x7F},
                    Extreme{0x7F, 0x7F}, Extreme{0xFF, 0x80}}) {
    std::fill(a.begin(), a.end(), e.a);
    std::fill(b.begin(), b.end(), e.b);
    const int64_t expected = int64_t(n) * int8_t(e.a) * int8_t(e.b);
    ASSERT_EQ(oracle::dot_i8(a.data(), b.data(), n), expected);
    for (const auto &[name, fn] : dot_i8_variants()) {
      EXPECT_EQ(fn(a.data(), b.data(), n), expected)
          << name << " a=" << int(e.a) << " b=" << int(e.b);
    }
  }
}

TEST(DotI8, UnalignedStartsMatchOracle) {
  std::mt19937_64 rng(9);
  const size_t n = 1000;
  const std::vector<uint8_t> a = random_bytes(n, rng), b = random_bytes(n, rng);
  const int64_t expected = oracle::dot_i8(a.data(), b.data(), n);
  for (size_t offset = 1; offset < 64; ++offset) {
    std::vector<uint8_t> sa(n + 64), sb(n + 64);
    std::copy(a.begin(), a.end(), sa.begin() + long(offset));
    std::copy(b.begin(), b.end(), sb.begin() + long(63 - offset));
    for (const auto &[name, fn] : dot_i8_variants()) {
      EXPECT_EQ(fn(sa.data() + offset, sb.data() + 63 - offset, n), expected)
          << name << " offset " << offset;
    }
  }
}

std::vector<uint16_t> random_bf16(size_t n, std::mt19937_64 &rng) {
  std::vector<uint16_t> v(n);
  for (auto &x : v) x = uint16_t(rng());
  return v;
}

// BF16 values close to each other, so that every awareness state occurs: flips a few random
// bits of base.
std::vector<uint16_t> perturb_bf16(const std::vector<uint16_t> &base, std::mt19937_64 &rng) {
  std::vector<uint16_t> v = base;
  for (auto &x : v) {
    const int flips = int(rng() % 4);
    for (int k = 0; k < flips; ++k) x = uint16_t(x ^ (1u << (rng() % 16)));
  }
  return v;
}

const std::vector<BF16Weights> kWeights = {BF16Weights::defaults(), BF16Weights::jina(),
                                           BF16Weights::training(), BF16Weights{65535, 0, 0},
                                           BF16Weights{0, 8191, 1}, BF16Weights{3, 5, 7}};

TEST(Bf16Distance, WorkedExamples) {
  // SEMANTICS.md §2.4, default weights.
  struct Example {
    uint16_t a, b;
    uint64_t cost;
  };
  for (Example ex : {Example{0x3F80, 0xBF80, 256}, Example{0x3F80, 0x4000, 128},
                     Example{0x3F80, 0x3F81, 1}, Example{0x3F80, 0x3F80, 0}}) {
    ASSERT_EQ(oracle::bf16_distance(&ex.a, &ex.b, 1, BF16Weights::defaults()), ex.cost);
    for (Isa isa : runnable_isas()) {
      EXPECT_EQ(kernel_table(isa).bf16_distance(&ex.a, &ex.b, 1, BF16Weights::defaults()), ex.cost)
          << isa_name(isa) << " " << ex.a << " vs " << ex.b;
    }
  }
  // The per-element maximum with default weights is 391 (all 16 bits differ).
  const uint16_t zero = 0, ones = 0xFFFF;
  for (Isa isa : runnable_isas()) {
    EXPECT_EQ(kernel_table(isa).bf16_distance(&zero, &ones, 1, BF16Weights::defaults()), 391u);
  }
}

TEST(Bf16Distance, AllLengthsAndWeightsMatchOracle) {
  std::mt19937_64 rng(10);
  for (size_t n_dims : kLengths) {
    const std::vector<uint16_t> a = random_bf16(n_dims, rng), b = perturb_bf16(a, rng),
                                c = random_bf16(n_dims, rng);
    GuardedBytes ga(2 * n_dims), gb(2 * n_dims), gc(2 * n_dims);
    if (n_dims > 0) {
      std::memcpy(ga.data(), a.data(), 2 * n_dims);
      std::memcpy(gb.data(), b.data(), 2 * n_dims);
      std::memcpy(gc.data(), c.data(), 2 * n_dims);
    }
    // GuardedBytes ends on a page boundary, so an even-length buffer is 2-byte aligned.
    const auto *pa = reinterpret_cast<const uint16_t *>(ga.data());
    const auto *pb = reinterpret_cast<const uint16_t *>(gb.data());
    const auto *pc = reinterpret_cast<const uint16_t *>(gc.data());
    for (const BF16Weights &w : kWeights) {
      const uint64_t near = oracle::bf16_distance(a.data(), b.data(), n_dims, w);
      const uint64_t far = oracle::bf16_distance(a.data(), c.data(), n_dims, w);
      for (Isa isa : runnable_isas()) {
        EXPECT_EQ(kernel_table(isa).bf16_distance(pa, pb, n_dims, w), near)
            << isa_name(isa) << " n_dims=" << n_dims << " w=" << w.sign << "," << w.exponent << ","
            << w.mantissa;
        EXPECT_EQ(kernel_table(isa).bf16_distance(pa, pc, n_dims, w), far)
            << isa_name(isa) << " n_dims=" << n_dims;
      }
    }
  }
}

TEST(Bf16Distance, OddByteAddresses) {
  // The table accepts any alignment, even for u16 arrays.
  std::mt19937_64 rng(11);
  const size_t n_dims = 1029;
  const std::vector<uint16_t> a = random_bf16(n_dims, rng), b = random_bf16(n_dims, rng);
  const uint64_t expected = oracle::bf16_distance(a.data(), b.data(), n_dims, kWeights[0]);
  std::vector<uint8_t> sa(2 * n_dims + 64), sb(2 * n_dims + 64);
  for (size_t offset : {size_t{1}, size_t{3}, size_t{33}, size_t{63}}) {
    std::memcpy(sa.data() + offset, a.data(), 2 * n_dims);
    std::memcpy(sb.data() + 64 - offset, b.data(), 2 * n_dims);
    // The kernels read u16 values through unaligned-safe loads only.
    const auto *pa = reinterpret_cast<const uint16_t *>(sa.data() + offset);
    const auto *pb = reinterpret_cast<const uint16_t *>(sb.data() + 64 - offset);
    for (Isa isa : runnable_isas()) {
      EXPECT_EQ(kernel_table(isa).bf16_distance(pa, pb, n_dims, kWeights[0]), expected)
          << isa_name(isa) << " offset " << offset;
    }
  }
}

TEST(Bf16Weights, MakeValidatesThePerElementMaximum) {
  EXPECT_EQ(BF16Weights::make(256, 16, 1), BF16Weights::defaults());
  EXPECT_EQ(BF16Weights::make(0, 8191, 1), (BF16Weights{0, 8191, 1}));  // exactly 65535
  EXPECT_EQ(BF16Weights::make(65535, 0, 0), (BF16Weights{65535, 0, 0}));
  try {
    BF16Weights::make(0, 8192, 0);  // 65536
    FAIL() << "make(0, 8192, 0) did not throw";
  } catch (const Error &e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("65536"), std::string::npos) << e.what();
  }
  try {
    BF16Weights::make(65535, 65535, 65535);
    FAIL() << "make(65535, 65535, 65535) did not throw";
  } catch (const Error &e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
    EXPECT_NE(std::string(e.what()).find(std::to_string(65535 + 8 * 65535 + 7 * 65535)),
              std::string::npos)
        << e.what();
  }
}

struct AwarenessOut {
  std::vector<uint8_t> states, consensus, exp_spread, noise;
  explicit AwarenessOut(size_t n)
      : states(n + 64, 0xAA),
        consensus(n + 64, 0xAA),
        exp_spread(n + 64, 0xAA),
        noise(n + 64, 0xAA) {}
};

void run_awareness(const KernelTable &t, const std::vector<const uint16_t *> &v, size_t n,
                   AwarenessThresholds th, AwarenessOut &out) {
  t.bf16_awareness(v.data(), v.size(), n, th, out.states.data(), out.consensus.data(),
                   out.exp_spread.data(), out.noise.data());
}

TEST(Bf16Awareness, WorkedExamplesAgainstOne) {
  // SEMANTICS.md §2.5: each value against 1.0 (0x3F80), two vectors.
  struct Example {
    uint16_t other;
    Awareness state;
  };
  const std::vector<Example> examples = {
      {0x3F80, Awareness::crystallized}, {0x3F81, Awareness::crystallized},
      {0x3F83, Awareness::noise},        {0xBF80, Awareness::tensioned},
      {0x4780, Awareness::uncertain},    {0x3F03, Awareness::crystallized}};
  std::vector<uint16_t> one(examples.size(), 0x3F80), other;
  for (const Example &ex : examples) other.push_back(ex.other);
  const std::vector<const uint16_t *> v = {one.data(), other.data()};
  for (Isa isa : runnable_isas()) {
    AwarenessOut out(examples.size());
    run_awareness(kernel_table(isa), v, examples.size(), AwarenessThresholds{}, out);
    for (size_t d = 0; d < examples.size(); ++d) {
      EXPECT_EQ(out.states[d], uint8_t(examples[d].state))
          << isa_name(isa) << " 0x3F80 vs 0x" << std::hex << examples[d].other;
    }
    EXPECT_EQ(out.consensus[3], 0) << isa_name(isa);
    EXPECT_EQ(out.consensus[0], 255) << isa_name(isa);
    EXPECT_EQ(out.exp_spread[4], 4) << isa_name(isa);
    EXPECT_EQ(out.noise[2], 1) << isa_name(isa);
  }
}

TEST(Bf16Awareness, ThreeVectorConsensusLevels) {
  // Signs (+,+,+) → 255, (+,+,-) → 85 (one agreeing pair of three).
  const uint16_t x[2] = {0x3F80, 0x3F80}, y[2] = {0x3F80, 0x3F80}, z[2] = {0x3F80, 0xBF80};
  const std::vector<const uint16_t *> v = {x, y, z};
  for (Isa isa : runnable_isas()) {
    AwarenessOut out(2);
    run_awareness(kernel_table(isa), v, 2, AwarenessThresholds{}, out);
    EXPECT_EQ(out.consensus[0], 255) << isa_name(isa);
    EXPECT_EQ(out.consensus[1], 85) << isa_name(isa);
    EXPECT_EQ(out.states[1], uint8_t(Awareness::tensioned)) << isa_name(isa);
  }
}

TEST(Bf16Awareness, RandomVectorsMatchOracle) {
  std::mt19937_64 rng(12);
  const std::vector<AwarenessThresholds> thresholds = {
      AwarenessThresholds{}, AwarenessThresholds{85, 0, 0}, AwarenessThresholds{255, 8, 7},
      AwarenessThresholds{0, 1, 3}, AwarenessThresholds{171, 3, 2}};
  for (size_t n : {size_t{0}, size_t{1}, size_t{5}, size_t{31}, size_t{32}, size_t{33}, size_t{64},
                   size_t{100}, size_t{1024}, size_t{4096 + 3}}) {
    const std::vector<uint16_t> a = random_bf16(n, rng), b = perturb_bf16(a, rng),
                                c = perturb_bf16(a, rng);
    for (size_t n_vectors : {size_t{2}, size_t{3}}) {
      std::vector<const uint16_t *> v = {a.data(), b.data(), c.data()};
      v.resize(n_vectors);
      for (const AwarenessThresholds &th : thresholds) {
        AwarenessOut want(n);
        oracle::bf16_awareness(v.data(), n_vectors, n, th, want.states.data(),
                               want.consensus.data(), want.exp_spread.data(), want.noise.data());
        for (Isa isa : runnable_isas()) {
          AwarenessOut got(n);
          run_awareness(kernel_table(isa), v, n, th, got);
          // Also compares the 64 bytes past n: they must still hold the 0xAA fill.
          EXPECT_EQ(got.states, want.states) << isa_name(isa) << " n=" << n << " v=" << n_vectors;
          EXPECT_EQ(got.consensus, want.consensus) << isa_name(isa) << " n=" << n;
          EXPECT_EQ(got.exp_spread, want.exp_spread) << isa_name(isa) << " n=" << n;
          EXPECT_EQ(got.noise, want.noise) << isa_name(isa) << " n=" << n;
        }
      }
    }
  }
}

TEST(Bf16Awareness, OptionalOutputsMayBeNull) {
  std::mt19937_64 rng(13);
  const size_t n = 77;
  const std::vector<uint16_t> a = random_bf16(n, rng), b = perturb_bf16(a, rng);
  const std::vector<const uint16_t *> v = {a.data(), b.data()};
  std::vector<uint8_t> want(n);
  oracle::bf16_awareness(v.data(), 2, n, {}, want.data(), nullptr, nullptr, nullptr);
  for (Isa isa : runnable_isas()) {
    std::vector<uint8_t> got(n);
    kernel_table(isa).bf16_awareness(v.data(), 2, n, {}, got.data(), nullptr, nullptr, nullptr);
    EXPECT_EQ(got, want) << isa_name(isa);
  }
}

TEST(HammingMany, MatchesOracleForStridesCountsAndLengths) {
  std::mt19937_64 rng(14);
  struct Shape {
    size_t n, stride, count;
  };
  for (Shape s :
       {Shape{2048, 2048, 37}, Shape{8192, 8192, 5}, Shape{64, 64, 100}, Shape{65, 70, 33},
        Shape{7, 7, 9}, Shape{2048, 2048 + 13, 11}, Shape{0, 8, 4}, Shape{1000, 1000, 0}}) {
    const size_t total = s.count == 0 ? 0 : (s.count - 1) * s.stride + s.n;
    const std::vector<uint8_t> query = random_bytes(s.n, rng), db = random_bytes(total, rng);
    GuardedBytes gq(s.n), gdb(total);
    gq.assign(query);
    gdb.assign(db);
    std::vector<uint32_t> want(s.count);
    for (size_t i = 0; i < s.count; ++i) {
      want[i] = uint32_t(oracle::hamming(query.data(), db.data() + i * s.stride, s.n));
    }
    for (Isa isa : runnable_isas()) {
      std::vector<uint32_t> got(s.count + 1, 0xDEADBEEF);
      kernel_table(isa).hamming_many(gq.data(), gdb.data(), s.stride, s.count, s.n, got.data());
      EXPECT_EQ(got.back(), 0xDEADBEEF) << isa_name(isa) << " wrote past count";
      got.pop_back();
      EXPECT_EQ(got, want) << isa_name(isa) << " n=" << s.n << " stride=" << s.stride
                           << " count=" << s.count;
    }
  }
}

TEST(HammingMany, UnalignedQueryAndRecords) {
  std::mt19937_64 rng(15);
  const size_t n = 2048, count = 9;
  const std::vector<uint8_t> query = random_bytes(n, rng), db = random_bytes(n * count, rng);
  std::vector<uint32_t> want(count);
  for (size_t i = 0; i < count; ++i) {
    want[i] = uint32_t(oracle::hamming(query.data(), db.data() + i * n, n));
  }
  for (size_t offset : {size_t{1}, size_t{17}, size_t{63}}) {
    std::vector<uint8_t> sq(n + 64), sdb(n * count + 64);
    std::copy(query.begin(), query.end(), sq.begin() + long(64 - offset));
    std::copy(db.begin(), db.end(), sdb.begin() + long(offset));
    for (Isa isa : runnable_isas()) {
      std::vector<uint32_t> got(count);
      kernel_table(isa).hamming_many(sq.data() + 64 - offset, sdb.data() + offset, n, count, n,
                                     got.data());
      EXPECT_EQ(got, want) << isa_name(isa) << " offset " << offset;
    }
  }
}

TEST(WordPopcounts, CountEveryWordOfEveryRecordAndWriteNothingElse) {
  std::mt19937_64 rng(17);
  struct Shape {
    size_t n, stride, count;
  };
  for (Shape s : {Shape{256, 256, 33}, Shape{8, 8, 70}, Shape{72, 80, 9}, Shape{8192, 8192, 3},
                  Shape{2048, 2048 + 8, 5}, Shape{64, 64, 0}}) {
    const size_t total = s.count == 0 ? 0 : (s.count - 1) * s.stride + s.n;
    // Densities from empty to full words, so counts reach both 0 and 64.
    std::vector<uint8_t> db = biased_bytes(total, 0.5, rng);
    for (size_t i = 0; i + 8 <= total; i += 8 * (1 + rng() % 5)) {
      std::memset(&db[i], rng() % 2 ? 0xFF : 0, 8);
    }
    GuardedBytes records(total);
    records.assign(db);
    const size_t words = s.n / 8;
    std::vector<uint8_t> want(s.count * words);
    for (size_t i = 0; i < s.count; ++i) {
      for (size_t w = 0; w < words; ++w) {
        want[i * words + w] = uint8_t(
            oracle::hamming(&db[i * s.stride + 8 * w], std::vector<uint8_t>(8, 0).data(), 8));
      }
    }
    for (Isa isa : runnable_isas()) {
      GuardedBytes got(want.size());
      kernel_table(isa).word_popcounts(records.data(), s.stride, s.count, s.n, got.data());
      EXPECT_EQ(std::vector<uint8_t>(got.data(), got.data() + want.size()), want)
          << isa_name(isa) << " n=" << s.n << " stride=" << s.stride << " count=" << s.count;
    }
  }
}

TEST(SelectWordOverlap, SelectsExactlyTheRecordsReachingTheNeed) {
  std::mt19937_64 rng(18);
  for (size_t n_words : {1, 7, 16, 31, 32, 33, 64, 100, 256, 1024}) {
    const size_t count = 1 + rng() % 300;
    std::vector<uint8_t> query(n_words), counts(n_words * count);
    for (auto &c : query) c = uint8_t(rng() % 65);
    for (auto &c : counts) c = uint8_t(rng() % 4 == 0 ? 64 : rng() % 65);
    std::vector<uint32_t> overlap(count, 0);
    for (size_t i = 0; i < count; ++i) {
      for (size_t w = 0; w < n_words; ++w)
        overlap[i] += std::min(query[w], counts[i * n_words + w]);
    }
    // Needs at, just above and just below actual overlaps, and the extremes.
    std::vector<uint32_t> needs = {0, 1, uint32_t(64 * n_words), uint32_t(64 * n_words + 1)};
    for (int t = 0; t < 6; ++t) {
      const uint32_t o = overlap[rng() % count];
      needs.insert(needs.end(), {o, o + 1, o > 0 ? o - 1 : 0});
    }
    GuardedBytes q(n_words), c(counts.size());
    q.assign(query);
    c.assign(counts);
    for (uint32_t need : needs) {
      std::vector<uint32_t> want;
      for (size_t i = 0; i < count; ++i) {
        if (overlap[i] >= need) want.push_back(uint32_t(i));
      }
      for (Isa isa : runnable_isas()) {
        std::vector<uint32_t> selected(count + 1, 0xDEADBEEF);
        const size_t kept = kernel_table(isa).select_word_overlap(q.data(), c.data(), n_words,
                                                                  count, need, selected.data());
        EXPECT_EQ(selected.back(), 0xDEADBEEF) << isa_name(isa) << " wrote past count";
        ASSERT_EQ(kept, want.size()) << isa_name(isa) << " n_words=" << n_words << " need=" << need;
        selected.resize(kept);
        EXPECT_EQ(selected, want) << isa_name(isa) << " n_words=" << n_words << " need=" << need;
      }
    }
  }
}

TEST(SpanWrappers, UseTheActiveTableAndCheckLengths) {
  std::mt19937_64 rng(16);
  const std::vector<uint8_t> a = random_bytes(300, rng), b = random_bytes(300, rng),
                             m = random_bytes(300, rng);
  EXPECT_EQ(hamming(a, b), oracle::hamming(a.data(), b.data(), 300));
  EXPECT_EQ(hamming_masked(a, b, m), oracle::hamming_masked(a.data(), b.data(), m.data(), 300));
  EXPECT_EQ(energy_conflict(a, b), oracle::energy_conflict(a.data(), b.data(), 300));
  EXPECT_EQ(dot_i8(a, b), oracle::dot_i8(a.data(), b.data(), 300));
  const std::vector<uint16_t> x = random_bf16(150, rng), y = random_bf16(150, rng);
  EXPECT_EQ(bf16_distance(x, y), oracle::bf16_distance(x.data(), y.data(), 150, {}));
  EXPECT_EQ(bf16_distance(x, y, BF16Weights::training()),
            oracle::bf16_distance(x.data(), y.data(), 150, BF16Weights::training()));

  const std::span<const uint8_t> shorter(b.data(), 299);
  auto expect_mismatch = [](const std::function<void()> &call, const std::string &what) {
    try {
      call();
      FAIL() << what << " accepted different lengths";
    } catch (const Error &e) {
      EXPECT_EQ(e.kind(), ErrorKind::invalid_argument) << what;
      const std::string msg = e.what();
      EXPECT_NE(msg.find("300"), std::string::npos) << msg;
      EXPECT_NE(msg.find("299"), std::string::npos) << msg;
    }
  };
  expect_mismatch([&] { hamming(a, shorter); }, "hamming");
  expect_mismatch([&] { hamming_masked(a, shorter, m); }, "hamming_masked (b)");
  expect_mismatch([&] { hamming_masked(a, b, shorter); }, "hamming_masked (mask)");
  expect_mismatch([&] { energy_conflict(shorter, a); }, "energy_conflict");
  expect_mismatch([&] { dot_i8(a, shorter); }, "dot_i8");
  const std::vector<uint16_t> x300(300), x299(299);
  expect_mismatch([&] { bf16_distance(x300, x299); }, "bf16_distance");
}

// The planner's bit counter (POPCNT build where the CPU has it) against a bit-by-bit count.
TEST(PopcountWords, MatchesBitByBitCount) {
  std::mt19937_64 rng(7);
  for (size_t n : {size_t{0}, size_t{1}, size_t{3}, size_t{256}, size_t{1024}, size_t{1031}}) {
    for (int pattern = 0; pattern < 3; ++pattern) {
      std::vector<uint64_t> words(n);
      for (auto &w : words) w = pattern == 0 ? rng() : pattern == 1 ? ~uint64_t{0} : rng() & rng();
      uint64_t expected = 0;
      for (uint64_t w : words)
        for (int b = 0; b < 64; ++b) expected += (w >> b) & 1;
      EXPECT_EQ(popcount_words(words), expected) << "n " << n << " pattern " << pattern;
    }
  }
}

}  // namespace
}  // namespace jitson

namespace jitson {
namespace {

// hamming_tile against a word-by-word count: every ISA, 1-4 queries, record counts that leave
// remainders of every tile width, lines whole, with words left out and with partial masks, and
// the last record ending on a guard page, so a read of a word outside the lines would fault.
TEST(HammingTile, EveryIsaCountsExactlyTheSelectedWordsAndReadsNothingElse) {
  std::mt19937_64 rng(19);
  for (size_t n_words : {1, 7, 8, 9, 32, 33, 256}) {
    const size_t n = n_words * 8;
    for (int shape = 0; shape < 4; ++shape) {
      const size_t count = 1 + rng() % 23, stride = n + 8 * (rng() % 3);
      std::vector<TileLine> lines;
      for (size_t first = 0; first < n_words; first += 8) {
        TileLine line;
        line.offset = uint32_t(first * 8);
        const size_t in_record = std::min<size_t>(8, n_words - first);
        line.words = uint8_t((1u << in_record) - 1);
        if (shape >= 1 && rng() % 2) line.words &= uint8_t(rng());  // words left out
        if (shape >= 2 && rng() % 2) {
          line.masked = true;
          for (auto &m : line.mask) m = rng() & rng();
        }
        if (line.words != 0 || shape == 3) lines.push_back(line);
      }
      const size_t total = (count - 1) * stride + n;
      std::vector<uint8_t> db = biased_bytes(total, 0.5, rng);
      GuardedBytes records(total);
      records.assign(db);
      std::vector<std::vector<uint8_t>> queries;
      std::vector<std::unique_ptr<GuardedBytes>> guarded_queries;
      for (size_t q = 0; q < kMaxTileQueries; ++q) {
        queries.push_back(biased_bytes(n, 0.5, rng));
        guarded_queries.push_back(std::make_unique<GuardedBytes>(n));
        guarded_queries.back()->assign(queries.back());
      }
      for (size_t n_queries = 1; n_queries <= kMaxTileQueries; ++n_queries) {
        std::vector<uint32_t> want(n_queries * count, 0);
        for (size_t q = 0; q < n_queries; ++q) {
          for (size_t i = 0; i < count; ++i) {
            for (const TileLine &line : lines) {
              for (unsigned w = 0; w < 8; ++w) {
                if (!(line.words >> w & 1)) continue;
                uint64_t a, b;
                std::memcpy(&a, &queries[q][line.offset + 8 * w], 8);
                std::memcpy(&b, &db[i * stride + line.offset + 8 * w], 8);
                want[q * count + i] +=
                    uint32_t(std::popcount((a ^ b) & (line.masked ? line.mask[w] : ~uint64_t{0})));
              }
            }
          }
        }
        const uint8_t *group[kMaxTileQueries];
        for (size_t q = 0; q < n_queries; ++q) group[q] = guarded_queries[q]->data();
        for (Isa isa : runnable_isas()) {
          std::vector<uint32_t> got(n_queries * count, 0xDEADBEEF);
          kernel_table(isa).hamming_tile(group, n_queries, records.data(), stride, count,
                                         lines.data(), lines.size(), got.data());
          EXPECT_EQ(got, want) << isa_name(isa) << " words=" << n_words << " shape=" << shape
                               << " count=" << count << " stride=" << stride
                               << " queries=" << n_queries;
        }
      }
    }
  }
}

}  // namespace
}  // namespace jitson
