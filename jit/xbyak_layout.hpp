// The layout of an Xbyak row kernel, decided before anything is emitted: which focused words
// each cascade stage loads (as vector pieces, rolled loops or scalar words), which query chunks
// stay in registers, which k-masks are preloaded and what is prefetched. Shared by the Hamming
// (jit/xbyak_scan.cpp) and Tanimoto (jit/xbyak_tanimoto.cpp) emitters. Internal to jit/.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "jit/xbyak_scan.hpp"
#include "jitson/plan.hpp"

namespace jitson::xbyak_common {

inline constexpr uint64_t kAllOnes = ~uint64_t{0};

// CodeLayout: what the code has to do, decided before emitting anything.

struct WordUse {
  uint32_t word;
  uint64_t mask;  // kAllOnes for a full word
};

// Focused words of one stage that share one vector load: a 64-byte chunk with a lane mask
// (AVX-512), or 32 / 16 bytes all of whose words are focused (AVX2).
struct VectorPiece {
  uint32_t offset = 0;              // byte offset in the record
  uint32_t lanes = 8;               // 8 (zmm), 4 (ymm) or 2 (xmm)
  uint8_t lane_mask = 0;            // focused lanes (AVX-512; all lanes for AVX2)
  bool partial = false;             // some lane needs an AND
  std::array<uint64_t, 8> masks{};  // AND mask per lane: kAllOnes for full lanes
  int query_register = -1;          // AVX-512: zmm holding this chunk of the query, or -1
};

// Whole chunks [offset, offset + trips * 8 * chunk bytes), 8 chunks per trip.
struct LoopRun {
  uint32_t offset;
  uint32_t trips;
};

struct StageCode {
  std::vector<WordUse> scalars;
  std::vector<VectorPiece> pieces;
  std::vector<LoopRun> loops;
  uint32_t cumulative_words = 0;
  uint32_t statistical_bound = UINT32_MAX;
};

struct QueryRegister {
  int reg;
  uint32_t offset;
  uint8_t lane_mask;  // union of the lanes any stage uses
};

struct CodeLayout {
  Isa isa = Isa::avx512;
  // AVX-512, one stage of a few chunks: 8 records per trip, their 8 sums reduced together and
  // compared with the limit at once; the remaining records go through the per-record loop.
  bool group = false;
  uint32_t stride = 0;
  uint32_t prefetch_records = 0;
  std::vector<uint32_t> prefetch_offsets;  // multi-stage: probe line offsets in a record
  uint32_t stream_ahead = 0;  // single-stage: bytes ahead of each load to prefetch (0 = none)
  std::vector<StageCode> stages;
  std::vector<QueryRegister> query_registers;
  std::vector<uint8_t> preloaded_kmasks;  // k1.. in order
};

inline uint32_t chunk_bytes(Isa isa) {
  return isa == Isa::avx512 ? 64 : 32;
}

// Where an emitter keeps query chunks in zmm registers: from query_base in the per-record loop,
// from group_query_base in the 8-record group loop (AVX-512).
struct QueryRegisterBase {
  int query_base;
  int group_query_base;
};

// Loop tops start a 32-byte fetch block (the padding is multi-byte nops, run once per loop).
inline constexpr int kLoopAlign = 32;

CodeLayout make_layout(const ScanPlan &plan, const XbyakTuning &tuning, QueryRegisterBase base);

}  // namespace jitson::xbyak_common
