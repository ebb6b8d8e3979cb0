// CPU detection (once, at first use) and the runtime ISA choice.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jitson {

struct CpuFeatures {
  bool popcnt = false, bmi2 = false, fma = false, f16c = false, avx2 = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512vpopcntdq = false;
  bool avx512bitalg = false, avx512vnni = false, avx512bf16 = false;
  bool os_saves_ymm = false, os_saves_zmm = false;  // from xgetbv
  std::string vendor, brand;
  // Display family, model and stepping (cpuid leaf 1, extended fields folded in as the vendors
  // define them): with vendor, what identifies a microarchitecture to the tuning table.
  uint32_t family = 0, model = 0, stepping = 0;
};

// Ordered from least to most capable: a higher value may use everything below it.
enum class Isa { scalar = 0, avx2 = 1, avx512 = 2 };

// What the CPU and OS offer, read with cpuid/xgetbv on first call.
const CpuFeatures &cpu_features();

// The best ISA this machine can run. Each tier requires exactly what its kernels are compiled for
// (cmake/JitsonFlags.cmake): avx2 needs AVX2, POPCNT, FMA, BMI2, F16C and ymm state saved by the
// OS; avx512 needs all of that plus AVX512F/BW/VL/DQ/VPOPCNTDQ and zmm state.
Isa best_isa();

// The ISA the runtime dispatches to: best_isa(), lowered by JITSON_ISA=avx512|avx2|scalar
// (never raised above best_isa()). Fixed at first call.
Isa active_isa();

bool isa_supported(Isa isa);  // isa <= best_isa()
// Hardware threads (at least 1). std::thread::hardware_concurrency() reads /sys on every call;
// this asks once.
unsigned hardware_threads();
const char *isa_name(Isa isa);
std::optional<Isa> parse_isa(std::string_view name);

// One line per runtime implementation, simdjson style: name, description, instruction sets
// required, and whether it can run here.
struct IsaInfo {
  Isa isa;
  const char *name;
  const char *description;
  const char *requires_features;
  bool supported;
};
std::vector<IsaInfo> list_isas();

}  // namespace jitson
