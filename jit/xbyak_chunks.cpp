// Grouping a cascade stage's focused words by vector chunk (jit/xbyak_common.hpp).
#include <algorithm>
#include <string>
#include <vector>

#include "jit/xbyak_common.hpp"

namespace jitson::xbyak_common {

std::vector<FocusChunk> stage_focus_chunks(const CascadeStage &stage, uint32_t record_words,
                                           uint32_t lanes_per_chunk) {
  constexpr uint64_t kAllOnes = ~uint64_t{0};
  using Chunk = FocusChunk;
  // A segment at a time (whole runs of chunks cost one step each), then put in chunk order if
  // the segments were not.
  std::vector<Chunk> chunks;
  bool ordered = true;
  for (const Segment &seg : stage.segments) {
    if (uint64_t(seg.first_word) + seg.n_words > record_words || (!seg.full && seg.n_words != 1)) {
      throw Error(ErrorKind::internal, "cascade segment at word " + std::to_string(seg.first_word) +
                                           " is malformed or outside the record");
    }
    const uint64_t m = seg.full ? kAllOnes : seg.mask;
    if (m == 0) continue;  // a word with no focused bit is never loaded
    for (uint32_t w = seg.first_word, end = seg.first_word + seg.n_words; w < end;) {
      const uint32_t c = w / lanes_per_chunk, lane = w % lanes_per_chunk;
      const uint32_t take = std::min(end - w, lanes_per_chunk - lane);
      if (chunks.empty() || chunks.back().index != c) {
        ordered = ordered && (chunks.empty() || chunks.back().index < c);
        chunks.push_back(Chunk{c});
      }
      Chunk &ch = chunks.back();
      const uint8_t bits = uint8_t(((1u << take) - 1) << lane);
      if (ch.lanes & bits) {
        throw Error(ErrorKind::internal,
                    "a word of chunk " + std::to_string(c) + " appears twice in one stage");
      }
      ch.lanes |= bits;
      ch.partial |= m != kAllOnes;
      for (uint32_t l = lane; l < lane + take; ++l) ch.masks[l] = m;
      w += take;
    }
  }
  if (!ordered) {
    std::stable_sort(chunks.begin(), chunks.end(),
                     [](const Chunk &x, const Chunk &y) { return x.index < y.index; });
    std::vector<Chunk> merged;
    for (const Chunk &ch : chunks) {
      if (merged.empty() || merged.back().index != ch.index) {
        merged.push_back(ch);
        continue;
      }
      Chunk &into = merged.back();
      if (into.lanes & ch.lanes) {
        throw Error(ErrorKind::internal,
                    "a word of chunk " + std::to_string(ch.index) + " appears twice in one stage");
      }
      into.lanes |= ch.lanes;
      into.partial |= ch.partial;
      for (uint32_t l = 0; l < lanes_per_chunk; ++l) {
        if ((ch.lanes >> l) & 1) into.masks[l] = ch.masks[l];
      }
    }
    chunks = std::move(merged);
  }
  return chunks;
}

}  // namespace jitson::xbyak_common
