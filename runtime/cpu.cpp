// CPU detection with cpuid/xgetbv, once; the runtime ISA choice (JITSON_ISA), once.
#include "jitson/cpu.hpp"

#include <cpuid.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace jitson {
namespace {

struct CpuidRegs {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

CpuidRegs cpuid(uint32_t leaf, uint32_t subleaf = 0) {
  CpuidRegs r;
  // __get_cpuid_count checks the maximum leaf first and leaves r zeroed if it is absent.
  __get_cpuid_count(leaf, subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx);
  return r;
}

bool bit(uint32_t reg, int i) {
  return (reg >> i) & 1;
}

// XCR0, readable only when CPUID.1:ECX.OSXSAVE says the OS enabled XSAVE.
uint64_t read_xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t{hi} << 32) | lo;
}

std::string trim(std::string s) {
  const auto first = s.find_first_not_of(' ');
  if (first == std::string::npos) return {};
  return s.substr(first, s.find_last_not_of(' ') - first + 1);
}

CpuFeatures detect() {
  CpuFeatures f;
  const CpuidRegs leaf0 = cpuid(0);
  char vendor[13] = {};
  std::memcpy(vendor + 0, &leaf0.ebx, 4);  // the vendor string is EBX, EDX, ECX in that order
  std::memcpy(vendor + 4, &leaf0.edx, 4);
  std::memcpy(vendor + 8, &leaf0.ecx, 4);
  f.vendor = vendor;

  if (cpuid(0x80000000).eax >= 0x80000004) {
    char brand[49] = {};
    for (uint32_t k = 0; k < 3; ++k) {
      const CpuidRegs r = cpuid(0x80000002 + k);
      std::memcpy(brand + 16 * k + 0, &r.eax, 4);
      std::memcpy(brand + 16 * k + 4, &r.ebx, 4);
      std::memcpy(brand + 16 * k + 8, &r.ecx, 4);
      std::memcpy(brand + 16 * k + 12, &r.edx, 4);
    }
    f.brand = trim(brand);
  }

  const uint32_t max_leaf = leaf0.eax;
  if (max_leaf < 1) return f;
  const CpuidRegs leaf1 = cpuid(1);
  const uint32_t base_family = (leaf1.eax >> 8) & 0xF;
  f.stepping = leaf1.eax & 0xF;
  f.family = base_family == 0xF ? base_family + ((leaf1.eax >> 20) & 0xFF) : base_family;
  f.model = (leaf1.eax >> 4) & 0xF;
  if (base_family == 0x6 || base_family == 0xF) f.model |= ((leaf1.eax >> 16) & 0xF) << 4;
  f.popcnt = bit(leaf1.ecx, 23);
  f.fma = bit(leaf1.ecx, 12);
  f.f16c = bit(leaf1.ecx, 29);
  const bool osxsave = bit(leaf1.ecx, 27);
  if (osxsave) {
    const uint64_t xcr0 = read_xcr0();
    f.os_saves_ymm = (xcr0 & 0x6) == 0x6;                      // SSE and AVX state
    f.os_saves_zmm = f.os_saves_ymm && (xcr0 & 0xE0) == 0xE0;  // opmask, ZMM_Hi256, Hi16_ZMM
  }
  if (max_leaf < 7) return f;
  const CpuidRegs leaf7 = cpuid(7, 0);
  f.avx2 = bit(leaf7.ebx, 5);
  f.bmi2 = bit(leaf7.ebx, 8);
  f.avx512f = bit(leaf7.ebx, 16);
  f.avx512dq = bit(leaf7.ebx, 17);
  f.avx512bw = bit(leaf7.ebx, 30);
  f.avx512vl = bit(leaf7.ebx, 31);
  f.avx512vnni = bit(leaf7.ecx, 11);
  f.avx512bitalg = bit(leaf7.ecx, 12);
  f.avx512vpopcntdq = bit(leaf7.ecx, 14);
  if (leaf7.eax >= 1) f.avx512bf16 = bit(cpuid(7, 1).eax, 5);
  return f;
}

// Each tier checks every feature its files are compiled with (cmake/JitsonFlags.cmake), since
// the compiler may use any of them anywhere in those files. FMA, BMI2, F16C and AVX512DQ cost no
// real CPU the tier: Intel since Haswell and AMD since Excavator pair AVX2 with the first three,
// and every AVX512BW/VL CPU has DQ. A tier includes the one below it, whose kernels it also runs.
Isa detect_best_isa(const CpuFeatures &f) {
  const bool avx2 = f.avx2 && f.popcnt && f.fma && f.bmi2 && f.f16c && f.os_saves_ymm;
  if (avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512vpopcntdq &&
      f.os_saves_zmm) {
    return Isa::avx512;
  }
  if (avx2) return Isa::avx2;
  return Isa::scalar;
}

Isa choose_active_isa() {
  const Isa best = best_isa();
  const char *requested = std::getenv("JITSON_ISA");
  if (requested == nullptr || *requested == '\0') return best;
  const std::optional<Isa> isa = parse_isa(requested);
  if (!isa) {
    std::fprintf(stderr,
                 "jitson: ignoring JITSON_ISA=%s (allowed: avx512, avx2, scalar); using %s\n",
                 requested, isa_name(best));
    return best;
  }
  return *isa < best ? *isa : best;
}

}  // namespace

const CpuFeatures &cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

Isa best_isa() {
  static const Isa best = detect_best_isa(cpu_features());
  return best;
}

Isa active_isa() {
  static const Isa active = choose_active_isa();
  return active;
}

unsigned hardware_threads() {
  static const unsigned n = [] {
    const unsigned c = std::thread::hardware_concurrency();
    return c == 0 ? 1u : c;
  }();
  return n;
}

bool isa_supported(Isa isa) {
  return isa <= best_isa();
}

const char *isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar:
      return "scalar";
    case Isa::avx2:
      return "avx2";
    case Isa::avx512:
      return "avx512";
  }
  return "unknown";
}

std::optional<Isa> parse_isa(std::string_view name) {
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (name == isa_name(isa)) return isa;
  }
  return std::nullopt;
}

std::vector<IsaInfo> list_isas() {
  const Isa best = best_isa();
  return {
      {Isa::avx512, "avx512", "AVX-512 kernels: vpopcntq Hamming, masked tails",
       "AVX2 POPCNT FMA BMI2 F16C AVX512F AVX512BW AVX512VL AVX512DQ AVX512_VPOPCNTDQ "
       "(AVX512_VNNI, AVX512_BF16 and AMX kernels used when present)",
       Isa::avx512 <= best},
      {Isa::avx2, "avx2", "AVX2 kernels: vpshufb nibble-lookup popcount",
       "AVX2 POPCNT FMA BMI2 F16C", Isa::avx2 <= best},
      {Isa::scalar, "scalar", "portable x86-64 code, the scalar twins", "none", true},
  };
}

}  // namespace jitson
