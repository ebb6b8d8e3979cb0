// Knobs of the Xbyak scan generator, for benchmarks and tests that compare code shapes.
// compile_xbyak (jit/backend.hpp) takes them from plan.tuning (jitson/tuning.hpp).
#pragma once

#include <cstdint>
#include <memory>

#include "jit/backend.hpp"

namespace jitson {

struct XbyakTuning {
  // AVX-512: zmm registers that keep query chunks for the whole call (0..24), filled in stage
  // order with the chunks not handled by a rolled loop.
  uint32_t query_registers = 24;
  // A run of at least this many whole 64-byte chunks (AVX-512) or 32-byte chunks (AVX2) in one
  // stage becomes a rolled loop of 8 chunks per trip; shorter runs are unrolled.
  uint32_t loop_min_chunks = 16;
  // Software prefetch of multi-stage plans: at most this many cache lines per record (focused
  // lines of the probe stages). Single-stage plans prefetch every line they load (a stream
  // prefetch). plan.prefetch_records = 0 disables both.
  uint32_t max_prefetch_lines = 8;
  // AVX-512 plans of one stage with at most this many 64-byte chunks run 8 records per loop
  // trip with one joint horizontal reduction and limit compare (0 = never).
  uint32_t group_max_chunks = 8;
};

std::shared_ptr<CompiledCode> compile_xbyak(const ScanPlan &plan, CodeArena &arena,
                                            const XbyakTuning &tuning);

}  // namespace jitson
