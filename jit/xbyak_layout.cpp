// The layout of an Xbyak row kernel (jit/xbyak_layout.hpp).
#include "jit/xbyak_layout.hpp"

#include <algorithm>
#include <bit>
#include <string>
#include <utility>
#include <vector>

#include "jit/xbyak_common.hpp"
#include "jitson/error.hpp"
#include "jitson/limits.hpp"

namespace jitson::xbyak_common {

CodeLayout make_layout(const ScanPlan &plan, const XbyakTuning &tuning, QueryRegisterBase base) {
  const Cascade &cascade = plan.cascade;
  CodeLayout L;
  L.isa = plan.isa;
  L.stride = cascade.record_bytes;
  L.prefetch_records = plan.prefetch_records;
  const uint32_t record_words = cascade.record_bytes / 8;
  if (cascade.record_bytes == 0 || cascade.record_bytes % 8 != 0 ||
      cascade.record_bytes != plan.record_bytes || cascade.record_bytes > kMaxRecordBits / 8) {
    throw Error(ErrorKind::internal, "plan record size " + std::to_string(plan.record_bytes) +
                                         " disagrees with its cascade (" +
                                         std::to_string(cascade.record_bytes) + " bytes)");
  }
  if (cascade.stages.empty() || cascade.stages.size() > size_t(kMaxStages)) {
    throw Error(ErrorKind::internal, "plan has " + std::to_string(cascade.stages.size()) +
                                         " cascade stages; 1.." + std::to_string(kMaxStages) +
                                         " are allowed");
  }
  const uint32_t cbytes = chunk_bytes(plan.isa);
  const uint32_t lanes_per_chunk = cbytes / 8;

  // The focused words of each stage grouped by chunk.
  using Chunk = FocusChunk;
  std::vector<std::vector<Chunk>> stage_chunks;
  uint32_t cumulative = 0;
  for (const CascadeStage &stage : cascade.stages) {
    StageCode code;
    cumulative += stage.words;
    code.cumulative_words = cumulative;
    code.statistical_bound = stage.statistical_bound;
    stage_chunks.push_back(stage_focus_chunks(stage, record_words, lanes_per_chunk));
    L.stages.push_back(std::move(code));
  }

  const uint8_t all_lanes = uint8_t((1u << lanes_per_chunk) - 1);
  const uint32_t n_chunks = (cascade.record_bytes + cbytes - 1) / cbytes;
  // AVX-512: the query chunks used first (stage order) stay in zmm8..zmm31 for the whole call.
  std::vector<int> reg_of_chunk(n_chunks, -1);
  L.group = plan.isa == Isa::avx512 && stage_chunks.size() == 1 && !stage_chunks[0].empty() &&
            stage_chunks[0].size() <= tuning.group_max_chunks;
  if (plan.isa == Isa::avx512) {
    // The group loop needs zmm0..zmm11, the per-record loop zmm0..zmm7.
    const int first = L.group ? base.group_query_base : base.query_base;
    const uint32_t max_regs = std::min<uint32_t>(tuning.query_registers, uint32_t(32 - first));
    const int min_lanes = L.group ? 1 : 2;  // in a group, single words are vector lanes too
    uint32_t used = 0;
    for (auto &chunks : stage_chunks) {
      for (auto &ch : chunks) {
        if (used < max_regs && std::popcount(unsigned(ch.lanes)) >= min_lanes &&
            reg_of_chunk[ch.index] < 0) {
          reg_of_chunk[ch.index] = first + int(used++);
        }
      }
    }
  }
  auto whole = [&](const Chunk &ch) {
    return ch.lanes == all_lanes && !ch.partial && reg_of_chunk[ch.index] < 0;
  };

  for (size_t s = 0; s < L.stages.size(); ++s) {
    StageCode &code = L.stages[s];
    const std::vector<Chunk> &chunks = stage_chunks[s];
    auto add_piece = [&](uint32_t offset, uint32_t lanes, uint8_t lane_mask, bool partial,
                         const uint64_t *masks, int query_register) {
      VectorPiece p;
      p.offset = offset;
      p.lanes = lanes;
      p.lane_mask = lane_mask;
      p.partial = partial;
      p.query_register = query_register;
      for (uint32_t i = 0; i < lanes; ++i) p.masks[i] = (lane_mask >> i) & 1 ? masks[i] : 0;
      code.pieces.push_back(p);
    };
    auto add_chunk = [&](const Chunk &ch) {
      const uint32_t base = ch.index * cbytes;
      const int n = std::popcount(unsigned(ch.lanes));
      if (n == 1 && !L.group) {
        uint32_t lane = uint32_t(std::countr_zero(unsigned(ch.lanes)));
        code.scalars.push_back(WordUse{ch.index * lanes_per_chunk + lane, ch.masks[lane]});
        return;
      }
      if (plan.isa == Isa::avx512 || ch.lanes == all_lanes) {
        add_piece(base, lanes_per_chunk, ch.lanes, ch.partial, ch.masks.data(),
                  reg_of_chunk[ch.index]);
        return;
      }
      // AVX2 without masked loads: 16-byte pairs of focused words, single words in scalar.
      for (uint32_t pair = 0; pair < 2; ++pair) {
        const uint8_t two = uint8_t(3u << (2 * pair));
        if ((ch.lanes & two) == two) {
          const uint64_t *m = &ch.masks[2 * pair];
          add_piece(base + 16 * pair, 2, 3, m[0] != kAllOnes || m[1] != kAllOnes, m, -1);
        } else {
          for (uint32_t lane = 2 * pair; lane < 2 * pair + 2; ++lane) {
            if ((ch.lanes >> lane) & 1) {
              code.scalars.push_back(WordUse{ch.index * lanes_per_chunk + lane, ch.masks[lane]});
            }
          }
        }
      }
    };

    // Long runs of whole chunks without query registers become rolled loops.
    for (size_t i = 0; i < chunks.size();) {
      size_t j = i;
      while (j < chunks.size() && whole(chunks[j]) &&
             (j == i || chunks[j].index == chunks[j - 1].index + 1)) {
        ++j;
      }
      const size_t run = j - i;
      // (The group loop unrolls all its chunks: it has no rolled loops.)
      if (!L.group && run >= std::max<uint32_t>(tuning.loop_min_chunks, 8)) {
        const uint32_t trips = uint32_t(run / 8);
        code.loops.push_back(LoopRun{chunks[i].index * cbytes, trips});
        for (size_t k = i + size_t(trips) * 8; k < j; ++k) add_chunk(chunks[k]);
        i = j;
      } else if (run > 0) {
        for (size_t k = i; k < j; ++k) add_chunk(chunks[k]);
        i = j;
      } else {
        add_chunk(chunks[i]);
        ++i;
      }
    }
  }

  const uint32_t n_windows = (cascade.record_bytes + 63) / 64;
  if (plan.isa == Isa::avx512) {
    // Each query register holds the union of the lanes its pieces use.
    std::vector<int> slot_of_reg(32, -1);
    uint32_t mask_uses[256] = {};
    for (auto &stage : L.stages) {
      for (auto &p : stage.pieces) {
        if (p.lane_mask != 0xFF) ++mask_uses[p.lane_mask];
        if (p.query_register < 0) continue;
        int &slot = slot_of_reg[size_t(p.query_register)];
        if (slot < 0) {
          slot = int(L.query_registers.size());
          L.query_registers.push_back(QueryRegister{p.query_register, p.offset, 0});
        }
        L.query_registers[size_t(slot)].lane_mask |= p.lane_mask;
      }
    }
    // The six lane masks used most in the record loop live in k1..k6; k7 is loaded on demand.
    for (int i = 0; i < 6; ++i) {
      int best = -1;
      for (int m = 1; m < 255; ++m) {
        if (mask_uses[m] && (best < 0 || mask_uses[m] > mask_uses[best])) best = m;
      }
      if (best < 0) break;
      L.preloaded_kmasks.push_back(uint8_t(best));
      mask_uses[best] = 0;
    }
  }

  if (L.stages.size() == 1) {
    L.stream_ahead = L.prefetch_records * L.stride;
  } else if (L.prefetch_records > 0 && tuning.max_prefetch_lines > 0) {
    // Probe stages (all but the last): the first focused byte of each 64-byte window, and its
    // last focused byte when records are not line-aligned (the window may then straddle two
    // lines), in stage order.
    const size_t probe = L.stages.size() - 1;
    std::vector<std::pair<uint32_t, uint32_t>> window_bytes(n_windows, {UINT32_MAX, 0});
    std::vector<uint32_t> order;
    for (size_t s = 0; s < probe && order.size() < tuning.max_prefetch_lines; ++s) {
      for (const Segment &seg : cascade.stages[s].segments) {
        if ((seg.full ? kAllOnes : seg.mask) == 0) continue;
        for (uint32_t w = seg.first_word; w < seg.first_word + seg.n_words; ++w) {
          const uint32_t first = w * 8, last = w * 8 + 7, window = first / 64;
          auto &[lo, hi] = window_bytes[window];
          if (lo == UINT32_MAX) order.push_back(window);
          lo = std::min(lo, first);
          hi = std::max(hi, last);
        }
      }
    }
    for (uint32_t window : order) {
      auto [first, last] = window_bytes[window];
      if (L.prefetch_offsets.size() >= tuning.max_prefetch_lines) break;
      L.prefetch_offsets.push_back(first);
      if (L.stride % 64 != 0 && last - first >= 8 &&
          L.prefetch_offsets.size() < tuning.max_prefetch_lines) {
        L.prefetch_offsets.push_back(last);
      }
    }
  }
  return L;
}

}  // namespace jitson::xbyak_common
