// The reference interpreter of the SWEEP ABI (include/jitson/scan.hpp): a blocked database
// visited block by block, stage by stage across the still-active records of a block. The
// generated sweep kernels (jit/xbyak_sweep.cpp, jit/llvm_sweep.cpp) must count and return
// exactly what this returns.
#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

#include "jitson/error.hpp"
#include "jitson/scan.hpp"

namespace jitson {

uint64_t sweep_block_runtime(const BlockArgs *a) {
  const Cascade &c = *static_cast<const Cascade *>(a->context);
  const uint32_t B = c.block_records;
  if (B == 0 || (B & (B - 1)) != 0) {
    throw Error(ErrorKind::internal,
                "sweep_block_runtime: cascade has block_records " + std::to_string(B));
  }
  const size_t n_stages = c.stages.size();
  const size_t block_bytes = size_t(B) * c.record_bytes;
  const size_t word_stride = size_t(B) * 8;  // bytes from word w to word w+1 of one record
  uint64_t count = 0;
  uint64_t words_read = 0;
  // Partial distances and the active list of one block; B <= 4096 (the format's limit).
  uint64_t partial[4096];
  uint32_t active[4096];

  for (uint64_t start = 0; start < a->n_records; start += B) {
    const uint8_t *block = a->records + (start / B) * block_bytes;
    const uint64_t lo = start == 0 ? std::min<uint64_t>(a->reserved, B) : 0;
    const uint64_t hi = std::min<uint64_t>(B, a->n_records - start);
    uint32_t n_active = 0;
    for (uint64_t j = lo; j < hi; ++j) {
      partial[n_active] = 0;
      active[n_active++] = uint32_t(j);
    }
    for (size_t s = 0; s < n_stages && n_active > 0; ++s) {
      const CascadeStage &stage = c.stages[s];
      words_read += uint64_t(n_active) * stage.words;
      for (const Segment &seg : stage.segments) {
        for (uint32_t w = seg.first_word; w < seg.first_word + seg.n_words; ++w) {
          uint64_t q;
          std::memcpy(&q, a->query + size_t(w) * 8, 8);  // unaligned little-endian load
          const uint64_t m = seg.full ? ~uint64_t{0} : seg.mask;
          const uint8_t *column = block + w * word_stride;
          for (uint32_t i = 0; i < n_active; ++i) {
            uint64_t r;
            std::memcpy(&r, column + size_t(active[i]) * 8, 8);
            partial[i] += uint64_t(std::popcount((q ^ r) & m));
          }
        }
      }
      const bool last = s + 1 == n_stages;
      uint32_t kept = 0;
      for (uint32_t i = 0; i < n_active; ++i) {
        const uint64_t d = partial[i];
        if (last) {
          if (d < a->limit) {
            a->out[count++] = Hit{a->base_index + start + active[i], uint32_t(d), 0};
          } else {
            ++a->counters[s];
          }
          continue;
        }
        if (d >= a->limit) {
          ++a->counters[s];
        } else if (d > stage.statistical_bound) {
          ++a->counters[s];
          ++a->counters[kCounterStatPruned];
        } else {
          partial[kept] = d;
          active[kept++] = active[i];
        }
      }
      n_active = last ? 0 : kept;
    }
  }
  a->counters[kCounterWordsRead] += words_read;
  return count;
}

}  // namespace jitson
