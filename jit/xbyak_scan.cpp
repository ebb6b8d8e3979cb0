// The Xbyak backend: emits one block function per ScanPlan, specialised for its focus words,
// stage bounds and record stride, for AVX-512 (VPOPCNTDQ) or AVX2 (no EVEX at all).
//
// Shape of the generated function (SysV: rdi = const BlockArgs *):
//   prologue   save callee-saved registers, read the args once, preload k-masks and (AVX-512)
//              the query chunks that fit in zmm8..zmm31
//   record:    multi-stage plans: prefetch the probe lines of record i + prefetch_records;
//              single-stage plans prefetch each line they load, prefetch_records ahead, just
//              before loading it (a stream prefetch)
//              for each stage: scalar words (popcnt), vector chunks (masked loads, AND with a
//              rip-relative constant only where a word is partial), rolled 8-chunk loops for
//              long runs of whole chunks; add the stage sum to the partial distance; reject to
//              an out-of-line path if partial >= limit or partial > statistical bound
//              after the last stage: distance < limit → out-of-line hit store
//   epilogue   counters from the per-stage reject registers (the last stage's rejects and the
//              words read follow from the totals), vzeroupper, return the hit count
//   constants  AND masks, the AVX2 nibble table
// The gather function (compile_xbyak_gather, generated at its first use) is the same record
// loop over records scattered in memory (BlockArgs.records points at n_records record pointers),
// without the group loop or prefetches of its own (its caller knows where the next records are;
// the record stride means nothing).
// All addressing is register- or rip-relative, so the code runs at any address.
#include "jit/xbyak_scan.hpp"

#include <xbyak/xbyak.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstring>
#include <deque>
#include <map>
#include <new>
#include <string>
#include <vector>

#include "jit/code_arena.hpp"
#include "jit/xbyak_common.hpp"
#include "jit/xbyak_layout.hpp"
#include "jit/xbyak_tanimoto.hpp"
#include "jitson/error.hpp"

namespace jitson {

namespace {

using Xbyak::Label;
using Xbyak::Opmask;
using Xbyak::Reg64;
using Xbyak::Xmm;
using Xbyak::Ymm;
using Xbyak::Zmm;
using namespace xbyak_common;  // the layout types (jit/xbyak_layout.hpp)

// AVX-512 register plan. Per-record loop: accumulators zmm0..3, temporaries zmm4..7, query
// zmm8..31. Group loop: accumulators zmm0..7 (one per record), temporaries zmm8..11, query
// zmm12..31.
constexpr int kQueryBase = 8, kGroupQueryBase = 12, kGroupRecords = 8;

// Upper bound of the code size; the emitter retries with a doubled buffer if it is exceeded.
size_t estimate_code_bytes(const CodeLayout &L) {
  const bool z = L.isa == Isa::avx512;
  size_t bytes = 1024 + L.prefetch_offsets.size() * 12 + L.query_registers.size() * 24 + 256;
  for (auto &s : L.stages) {
    bytes += 320 + s.scalars.size() * 40 + s.loops.size() * (z ? 512 : 768);
    bytes += s.pieces.size() * (z ? 48 : 80);
    if (L.stream_ahead) bytes += (s.pieces.size() + s.scalars.size() + 8 * s.loops.size()) * 8;
    bytes += s.pieces.size() * 64 + s.scalars.size() * 8;  // constants, at most
  }
  return bytes + 4096;
}

// ---------------------------------------------------------------------------------------------
// Emission.

class ScanEmitter : public Xbyak::CodeGenerator {
 public:
  ScanEmitter(void *buffer, size_t capacity) : Xbyak::CodeGenerator(capacity, buffer) {
    setDefaultJmpNEAR(true);
  }

  // The row function, or the gather function, then its constants.
  void emit(const CodeLayout &L);
  void emit_gather(const CodeLayout &L);

 private:
  // Fixed register roles.
  const Reg64 &query_ = rsi, &rec_ = rdx, &end_ = rcx, &index_ = r8, &out_ = r10, &tmp_ = r11,
              &dist_ = rax, &loop_ = rdi;
  static constexpr int kArgsSlot = 0, kStatSlot = 8, kExtraStageSlot = 16, kLimitSlot = 24,
                       kGroupSpillSlot = 32, kGatherEndSlot = 96, kFrame = 104;

  // Constants addressed rip-relative from the code.
  xbyak_common::ConstantPool constants_;
  const Label &constant(std::vector<uint64_t> words) {
    return constants_.label_for(std::move(words));
  }

  const CodeLayout *L_ = nullptr;
  Label loop_top_, done_;
  // Emitting the gather function: rec_ comes from the record pointer at end_.
  bool gather_ = false;
  void emit_function(const CodeLayout &L);

  bool stage_counter_in_register(size_t s) const { return s < 6; }
  const Reg64 &stage_register(size_t s) const {
    static const Reg64 regs[6] = {rbx, rbp, r12, r13, r14, r15};
    return regs[s];
  }
  void count_reject(size_t s) {
    if (stage_counter_in_register(s)) {
      inc(stage_register(s));
    } else {
      inc(qword[rsp + kExtraStageSlot]);
    }
  }
  // To the next record, or falls through after the last one.
  void advance_record() {
    if (gather_) {
      add(end_, 8);
      inc(index_);
      cmp(end_, qword[rsp + kGatherEndSlot]);
    } else {
      add(rec_, L_->stride);
      inc(index_);
      cmp(rec_, end_);
    }
    jb(loop_top_);
  }
  void next_record() {
    advance_record();
    jmp(done_);
  }

  void emit_scalar(const WordUse &w);
  Opmask lane_kmask(uint8_t lanes);

  // Stream prefetch (single-stage plans): the line at `at` bytes into the record (or `index`
  // plus `at`), stream_ahead bytes ahead, once per 64-byte window and record.
  std::vector<bool> window_prefetched_;
  void stream_prefetch(uint32_t at, const Reg64 *index = nullptr) {
    if (L_->stream_ahead == 0) return;
    if (!index) {
      if (window_prefetched_[at / 64]) return;
      window_prefetched_[at / 64] = true;
    }
    // A prefetch never faults, so reaching past the end of the records is fine.
    const uint64_t disp = uint64_t(at) + L_->stream_ahead;
    if (index) {
      prefetcht0(ptr[rec_ + *index + disp]);
    } else {
      prefetcht0(ptr[rec_ + disp]);
    }
  }
  void new_record_windows() { window_prefetched_.assign((L_->stride + 63) / 64, false); }

  // AVX-512
  bool acc_live_[4] = {};
  int next_acc_ = 0;
  void z_stage(const StageCode &s);
  void z_piece(const VectorPiece &p, int slot);
  void z_loop(const LoopRun &r);
  void z_accumulate(const Zmm &t, int slot);
  void z_reduce();
  void z_group(Label &group_hits, Label &group_next);

  // AVX2: byte accumulators ymm0/1, qword accumulators ymm2/3, temps ymm4..11, zero ymm12,
  // scratch ymm13, nibble table ymm14, low-nibble mask ymm15.
  bool byte_live_[2] = {}, qword_live_[2] = {};
  int byte_count_[2] = {};
  int next_byte_ = 0;
  void y_stage(const StageCode &s);
  void y_piece(const Xbyak::Address &q, const Xbyak::Address &r, uint32_t lanes,
               const Label *and_mask, int slot, bool in_loop);
  void y_flush(int j);
  void y_loop(const LoopRun &r);
  void y_reduce();
};

Opmask ScanEmitter::lane_kmask(uint8_t lanes) {
  const auto &pre = L_->preloaded_kmasks;
  auto it = std::find(pre.begin(), pre.end(), lanes);
  if (it != pre.end()) return Opmask(1 + int(it - pre.begin()));
  mov(tmp_.cvt32(), lanes);
  kmovw(k7, tmp_.cvt32());
  return k7;
}

void ScanEmitter::emit_scalar(const WordUse &w) {
  const uint32_t off = w.word * 8;
  stream_prefetch(off);
  mov(tmp_, qword[rec_ + off]);
  xor_(tmp_, qword[query_ + off]);
  if (w.mask != kAllOnes) {
    if (int64_t(int32_t(uint32_t(w.mask))) == int64_t(w.mask)) {
      and_(tmp_, int32_t(uint32_t(w.mask)));
    } else {
      and_(tmp_, qword[rip + constant({w.mask})]);
    }
  }
  popcnt(tmp_, tmp_);
  add(dist_, tmp_);
}

// ----- AVX-512 ---------------------------------------------------------------------------------

void ScanEmitter::z_accumulate(const Zmm &t, int slot) {
  const int a = slot % 4;
  if (acc_live_[a]) {
    vpopcntq(t, t);
    vpaddq(Zmm(a), Zmm(a), t);
  } else {
    vpopcntq(Zmm(a), t);
    acc_live_[a] = true;
  }
}

void ScanEmitter::z_piece(const VectorPiece &p, int slot) {
  const Zmm t(4 + slot % 4);
  stream_prefetch(p.offset);
  const bool masked = p.lane_mask != 0xFF;
  const Opmask k = masked ? lane_kmask(p.lane_mask) : k0;
  // Zero-masked loads: lanes outside the focus are neither read (no fault either) nor counted.
  if (p.query_register >= 0) {
    if (masked) {
      vpxorq(t | k | T_z, Zmm(p.query_register), ptr[rec_ + p.offset]);
    } else {
      vpxorq(t, Zmm(p.query_register), ptr[rec_ + p.offset]);
    }
  } else if (masked) {
    vmovdqu64(t | k | T_z, ptr[query_ + p.offset]);
    vpxorq(t | k | T_z, t, ptr[rec_ + p.offset]);
  } else {
    vmovdqu64(t, ptr[query_ + p.offset]);
    vpxorq(t, t, ptr[rec_ + p.offset]);
  }
  if (p.partial) {
    vpandq(t, t, ptr[rip + constant(std::vector<uint64_t>(p.masks.begin(), p.masks.end()))]);
  }
  z_accumulate(t, slot);
}

void ScanEmitter::z_loop(const LoopRun &r) {
  for (int a = 0; a < 4; ++a) {
    if (!acc_live_[a]) {
      vpxord(Zmm(a), Zmm(a), Zmm(a));
      acc_live_[a] = true;
    }
  }
  const uint32_t span = r.trips * 512;
  const uint32_t base = r.offset + span;
  mov(loop_, -int64_t(span));
  Label top;
  align(kLoopAlign);
  L(top);
  for (int j = 0; j < 8; ++j) {
    const Zmm t(4 + j % 4);
    stream_prefetch(base + 64 * j, &loop_);
    vmovdqu64(t, ptr[query_ + loop_ + (base + 64 * j)]);
    vpxorq(t, t, ptr[rec_ + loop_ + (base + 64 * j)]);
    vpopcntq(t, t);
    vpaddq(Zmm(j % 4), Zmm(j % 4), t);
  }
  add(loop_, 512);
  jnz(top);
}

void ScanEmitter::z_reduce() {
  std::vector<int> live;
  for (int a = 0; a < 4; ++a) {
    if (acc_live_[a]) live.push_back(a);
    acc_live_[a] = false;
  }
  next_acc_ = 0;
  if (live.empty()) return;
  while (live.size() > 1) {
    std::vector<int> next;
    for (size_t i = 0; i + 1 < live.size(); i += 2) {
      vpaddq(Zmm(live[i]), Zmm(live[i]), Zmm(live[i + 1]));
      next.push_back(live[i]);
    }
    if (live.size() % 2) next.push_back(live.back());
    live = next;
  }
  const int a = live[0];
  vextracti64x4(Ymm(4), Zmm(a), 1);
  vpaddq(Ymm(a), Ymm(a), Ymm(4));
  vextracti128(Xmm(4), Ymm(a), 1);
  vpaddq(Xmm(a), Xmm(a), Xmm(4));
  vpshufd(Xmm(4), Xmm(a), 0x4E);
  vpaddq(Xmm(a), Xmm(a), Xmm(4));
  vmovq(tmp_, Xmm(a));
  add(dist_, tmp_);
}

// Eight records per trip over records [rec, records + (n & ~7) * stride): accumulator r holds
// record r; a transposing add network turns the eight accumulators into one vector of eight
// distances (lane r = record r) that is compared with the limit at once. Only single-stage plans
// come here, so nothing is counted per record (the epilogue derives the rejects).
void ScanEmitter::z_group(Label &group_hits, Label &group_next) {
  const CodeLayout &layout = *L_;
  const StageCode &stage = layout.stages[0];
  const uint32_t stride = layout.stride;
  mov(rbx, qword[rsp + kArgsSlot]);
  mov(rbx, qword[rbx + offsetof(BlockArgs, n_records)]);
  and_(rbx, -kGroupRecords);
  imul(rbx, rbx, int(stride));
  add(rbx, rec_);  // end of the whole groups
  mov(tmp_.cvt32(), r9d);
  mov(qword[rsp + kLimitSlot], tmp_);  // the limit, zero-extended, for a broadcast compare
  cmp(rec_, rbx);
  Label group_end, top;
  jae(group_end);
  align(kLoopAlign);
  L(top);
  window_prefetched_.assign((kGroupRecords * stride + 63) / 64, false);
  int temp = 0;
  for (int r = 0; r < kGroupRecords; ++r) {
    bool first = true;
    for (const VectorPiece &p : stage.pieces) {
      const Zmm t(8 + temp++ % 4);
      const uint64_t at = uint64_t(r) * stride + p.offset;
      stream_prefetch(uint32_t(at));
      const bool masked = p.lane_mask != 0xFF;
      const Opmask k = masked ? lane_kmask(p.lane_mask) : k0;
      if (p.query_register >= 0) {
        if (masked) {
          vpxorq(t | k | T_z, Zmm(p.query_register), ptr[rec_ + at]);
        } else {
          vpxorq(t, Zmm(p.query_register), ptr[rec_ + at]);
        }
      } else if (masked) {
        vmovdqu64(t | k | T_z, ptr[query_ + p.offset]);
        vpxorq(t | k | T_z, t, ptr[rec_ + at]);
      } else {
        vmovdqu64(t, ptr[query_ + p.offset]);
        vpxorq(t, t, ptr[rec_ + at]);
      }
      if (p.partial) {
        vpandq(t, t, ptr[rip + constant(std::vector<uint64_t>(p.masks.begin(), p.masks.end()))]);
      }
      if (first) {
        vpopcntq(Zmm(r), t);
        first = false;
      } else {
        vpopcntq(t, t);
        vpaddq(Zmm(r), Zmm(r), t);
      }
    }
  }
  // Pairs: per 128-bit lane, (record a, record b) half sums.
  for (int a = 0; a < kGroupRecords; a += 2) {
    const Zmm t(8 + a / 2);
    vpunpcklqdq(t, Zmm(a), Zmm(a + 1));
    vpunpckhqdq(Zmm(a), Zmm(a), Zmm(a + 1));
    vpaddq(Zmm(a), Zmm(a), t);
  }
  // 128-bit lanes: even lanes of both sources, then odd lanes, added.
  auto fold = [&](int a, int b, int t) {
    vshufi64x2(Zmm(t), Zmm(a), Zmm(b), 0x88);
    vshufi64x2(Zmm(a), Zmm(a), Zmm(b), 0xDD);
    vpaddq(Zmm(a), Zmm(a), Zmm(t));
  };
  fold(0, 2, 8);
  fold(4, 6, 9);
  fold(0, 4, 10);                                   // zmm0 lane r = distance of record r
  vpcmpuq(k7, Zmm(0), ptr_b[rsp + kLimitSlot], 1);  // 1: unsigned less than
  kmovw(eax, k7);
  test(eax, eax);
  jnz(group_hits);
  L(group_next);
  add(rec_, uint64_t(kGroupRecords) * stride);
  add(index_, kGroupRecords);
  cmp(rec_, rbx);
  jb(top);
  L(group_end);
}

void ScanEmitter::z_stage(const StageCode &s) {
  new_record_windows();
  for (auto &w : s.scalars) emit_scalar(w);
  for (auto &r : s.loops) z_loop(r);
  for (auto &p : s.pieces) z_piece(p, next_acc_++);
  z_reduce();
}

// ----- AVX2 ------------------------------------------------------------------------------------

void ScanEmitter::y_flush(int j) {
  if (!byte_live_[j]) return;
  if (qword_live_[j]) {
    vpsadbw(Ymm(13), Ymm(j), Ymm(12));
    vpaddq(Ymm(2 + j), Ymm(2 + j), Ymm(13));
  } else {
    vpsadbw(Ymm(2 + j), Ymm(j), Ymm(12));
    qword_live_[j] = true;
  }
  byte_live_[j] = false;
  byte_count_[j] = 0;
}

// Nibble-table popcount of (q ^ r) [& mask] into byte accumulator slot % 2. Each add puts at most
// 8 into a byte lane, so an accumulator is flushed (vpsadbw) after 31 adds.
void ScanEmitter::y_piece(const Xbyak::Address &q, const Xbyak::Address &r, uint32_t lanes,
                          const Label *and_mask, int slot, bool in_loop) {
  const int a = 4 + 2 * (slot % 4), b = a + 1, j = slot % 2;
  auto op = [&](auto &&f) {
    if (lanes == 4) {
      f(Ymm(a), Ymm(b), Ymm(14), Ymm(15));
    } else {
      f(Xmm(a), Xmm(b), Xmm(14), Xmm(15));
    }
  };
  op([&](auto va, auto vb, auto lut, auto nib) {
    vmovdqu(va, q);
    vpxor(va, va, r);
    if (and_mask) vpand(va, va, ptr[rip + *and_mask]);
    vpsrlw(vb, va, 4);
    vpand(va, va, nib);
    vpand(vb, vb, nib);
    vpshufb(va, lut, va);
    vpshufb(vb, lut, vb);
  });
  // VEX.128 ops zero bits 255:128, so the ymm adds below are right for xmm pieces too.
  if (in_loop ? slot < 2 : !byte_live_[j]) {
    vpaddb(Ymm(j), Ymm(a), Ymm(b));
    byte_live_[j] = true;
    byte_count_[j] = 1;
  } else {
    vpaddb(Ymm(a), Ymm(a), Ymm(b));
    vpaddb(Ymm(j), Ymm(j), Ymm(a));
    ++byte_count_[j];
  }
  if (!in_loop && byte_count_[j] >= 31) y_flush(j);
}

void ScanEmitter::y_loop(const LoopRun &r) {
  y_flush(0);
  y_flush(1);
  for (int j = 0; j < 2; ++j) {
    if (!qword_live_[j]) {
      vpxor(Ymm(2 + j), Ymm(2 + j), Ymm(2 + j));
      qword_live_[j] = true;
    }
  }
  const uint32_t span = r.trips * 256;
  const uint32_t base = r.offset + span;
  mov(loop_, -int64_t(span));
  Label top;
  align(kLoopAlign);
  L(top);
  for (int j = 0; j < 8; ++j) {
    if ((base + 32 * j) % 64 == 0) stream_prefetch(base + 32 * j, &loop_);
    y_piece(ptr[query_ + loop_ + (base + 32 * j)], ptr[rec_ + loop_ + (base + 32 * j)], 4, nullptr,
            j, true);
  }
  for (int j = 0; j < 2; ++j) {
    vpsadbw(Ymm(13), Ymm(j), Ymm(12));
    vpaddq(Ymm(2 + j), Ymm(2 + j), Ymm(13));
  }
  add(loop_, 256);
  jnz(top);
  byte_live_[0] = byte_live_[1] = false;
  byte_count_[0] = byte_count_[1] = 0;
}

void ScanEmitter::y_reduce() {
  y_flush(0);
  y_flush(1);
  next_byte_ = 0;
  int q = -1;
  if (qword_live_[0] && qword_live_[1]) {
    vpaddq(Ymm(2), Ymm(2), Ymm(3));
    q = 2;
  } else if (qword_live_[0]) {
    q = 2;
  } else if (qword_live_[1]) {
    q = 3;
  }
  qword_live_[0] = qword_live_[1] = false;
  if (q < 0) return;
  vextracti128(Xmm(13), Ymm(q), 1);
  vpaddq(Xmm(q), Xmm(q), Xmm(13));
  vpshufd(Xmm(13), Xmm(q), 0x4E);
  vpaddq(Xmm(q), Xmm(q), Xmm(13));
  vmovq(tmp_, Xmm(q));
  add(dist_, tmp_);
}

void ScanEmitter::y_stage(const StageCode &s) {
  new_record_windows();
  for (auto &w : s.scalars) emit_scalar(w);
  for (auto &r : s.loops) y_loop(r);
  for (auto &p : s.pieces) {
    stream_prefetch(p.offset);
    const Label *m = nullptr;
    if (p.partial) m = &constant(std::vector<uint64_t>(p.masks.begin(), p.masks.begin() + p.lanes));
    y_piece(ptr[query_ + p.offset], ptr[rec_ + p.offset], p.lanes, m, next_byte_++, false);
  }
  y_reduce();
}

// ----- Whole function --------------------------------------------------------------------------

void ScanEmitter::emit(const CodeLayout &layout) {
  emit_function(layout);
  constants_.emit(*this);
}

void ScanEmitter::emit_gather(const CodeLayout &layout) {
  CodeLayout scattered = layout;
  scattered.group = false;
  scattered.stream_ahead = 0;
  scattered.prefetch_records = 0;
  scattered.prefetch_offsets.clear();
  gather_ = true;
  emit_function(scattered);
  constants_.emit(*this);
}

void ScanEmitter::emit_function(const CodeLayout &layout) {
  L_ = &layout;
  const bool gather = gather_;
  const bool z = layout.isa == Isa::avx512;
  const size_t n_stages = layout.stages.size();
  const size_t last = n_stages - 1;

  // Prologue.
  static const Reg64 saved[6] = {rbx, rbp, r12, r13, r14, r15};
  for (auto &r : saved) push(r);
  sub(rsp, kFrame);
  mov(qword[rsp + kArgsSlot], rdi);
  mov(qword[rsp + kStatSlot], 0);
  mov(qword[rsp + kExtraStageSlot], 0);
  for (size_t s = 0; s < last && stage_counter_in_register(s); ++s) {
    xor_(stage_register(s).cvt32(), stage_register(s).cvt32());
  }
  mov(query_, qword[rdi + offsetof(BlockArgs, query)]);
  if (gather) {
    // end_ walks the record pointers up to the end kept in the frame.
    mov(end_, qword[rdi + offsetof(BlockArgs, records)]);
    mov(tmp_, qword[rdi + offsetof(BlockArgs, n_records)]);
    lea(tmp_, ptr[end_ + tmp_ * 8]);
    mov(qword[rsp + kGatherEndSlot], tmp_);
  } else {
    mov(rec_, qword[rdi + offsetof(BlockArgs, records)]);
    imul(end_, qword[rdi + offsetof(BlockArgs, n_records)], int(layout.stride));
    add(end_, rec_);
  }
  mov(index_, qword[rdi + offsetof(BlockArgs, base_index)]);
  mov(r9d, dword[rdi + offsetof(BlockArgs, limit)]);
  mov(out_, qword[rdi + offsetof(BlockArgs, out)]);
  if (gather) {
    cmp(end_, tmp_);
  } else {
    cmp(rec_, end_);
  }
  jae(done_);

  if (z) {
    for (size_t i = 0; i < layout.preloaded_kmasks.size(); ++i) {
      mov(tmp_.cvt32(), layout.preloaded_kmasks[i]);
      kmovw(Opmask(1 + int(i)), tmp_.cvt32());
    }
    for (auto &qr : layout.query_registers) {
      if (qr.lane_mask == 0xFF) {
        vmovdqu64(Zmm(qr.reg), ptr[query_ + qr.offset]);
      } else {
        vmovdqu64(Zmm(qr.reg) | lane_kmask(qr.lane_mask) | T_z, ptr[query_ + qr.offset]);
      }
    }
  } else {
    // Bytes 0..15 of each 128-bit lane hold popcount(0..15) for vpshufb.
    std::vector<uint64_t> table(4), nibbles(4, 0x0F0F0F0F0F0F0F0FULL);
    uint8_t bytes[16];
    for (int i = 0; i < 16; ++i) bytes[i] = uint8_t(std::popcount(unsigned(i)));
    std::memcpy(&table[0], bytes, 16);
    std::memcpy(&table[2], bytes, 16);
    vmovdqu(Ymm(14), ptr[rip + constant(table)]);
    vmovdqu(Ymm(15), ptr[rip + constant(nibbles)]);
    vpxor(Ymm(12), Ymm(12), Ymm(12));
  }

  Label group_hits, group_next;
  if (layout.group) {
    z_group(group_hits, group_next);
    cmp(rec_, end_);
    jae(done_);
  }

  // Record loop.
  std::vector<Label> reject(n_stages), stat_reject(n_stages);
  Label hit;
  align(kLoopAlign);
  L(loop_top_);
  if (gather) mov(rec_, qword[end_]);
  for (uint32_t off : layout.prefetch_offsets) {
    prefetcht0(ptr[rec_ + (uint64_t(layout.prefetch_records) * layout.stride + off)]);
  }
  xor_(dist_.cvt32(), dist_.cvt32());
  for (size_t s = 0; s < n_stages; ++s) {
    const StageCode &stage = layout.stages[s];
    if (z) {
      z_stage(stage);
    } else {
      y_stage(stage);
    }
    if (s == last) break;
    cmp(dist_.cvt32(), r9d);
    jae(reject[s]);
    if (stage.statistical_bound != UINT32_MAX) {
      cmp(dist_.cvt32(), stage.statistical_bound);
      ja(stat_reject[s]);
    }
  }
  cmp(dist_.cvt32(), r9d);
  jb(hit);
  advance_record();

  // Epilogue: counters. Records that reached the last stage = n - Σ earlier rejects; of those,
  // the hits are the records written to out.
  L(done_);
  vzeroupper();
  mov(rdi, qword[rsp + kArgsSlot]);
  mov(tmp_, qword[rdi + offsetof(BlockArgs, counters)]);
  mov(rax, out_);
  sub(rax, qword[rdi + offsetof(BlockArgs, out)]);
  shr(rax, 4);
  mov(rcx, qword[rdi + offsetof(BlockArgs, n_records)]);
  xor_(edx, edx);
  for (size_t s = 0; s < last; ++s) {
    Reg64 r = rdi;
    if (stage_counter_in_register(s)) {
      r = stage_register(s);
    } else {
      mov(rdi, qword[rsp + kExtraStageSlot]);
    }
    add(qword[tmp_ + 8 * s], r);
    sub(rcx, r);
    if (layout.stages[s].cumulative_words) {
      imul(rsi, r, int(layout.stages[s].cumulative_words));
      add(rdx, rsi);
    }
  }
  if (layout.stages[last].cumulative_words) {
    imul(rsi, rcx, int(layout.stages[last].cumulative_words));
    add(rdx, rsi);
  }
  add(qword[tmp_ + 8 * kCounterWordsRead], rdx);
  sub(rcx, rax);
  add(qword[tmp_ + 8 * last], rcx);
  mov(rsi, qword[rsp + kStatSlot]);
  add(qword[tmp_ + 8 * kCounterStatPruned], rsi);
  add(rsp, kFrame);
  for (int i = 5; i >= 0; --i) pop(saved[i]);
  ret();

  // Out-of-line paths.
  if (layout.group) {
    // Lanes of zmm0 below the limit, in index order: lane → index, distance.
    L(group_hits);
    vmovdqu64(ptr[rsp + kGroupSpillSlot], Zmm(0));
    Label next_bit;
    L(next_bit);
    bsf(tmp_.cvt32(), eax);
    lea(r12, ptr[index_ + tmp_]);
    mov(qword[out_ + offsetof(Hit, index)], r12);
    // The lane holds the distance with bits 63:32 clear: distance and reserved = 0 at once.
    mov(r12, qword[rsp + tmp_ * 8 + kGroupSpillSlot]);
    mov(qword[out_ + offsetof(Hit, distance)], r12);
    add(out_, sizeof(Hit));
    lea(r12d, ptr[rax - 1]);
    and_(eax, r12d);
    jnz(next_bit);
    jmp(group_next);
  }
  L(hit);
  mov(qword[out_ + offsetof(Hit, index)], index_);
  // rax holds the distance with bits 63:32 clear: one store writes distance and reserved = 0.
  mov(qword[out_ + offsetof(Hit, distance)], dist_);
  add(out_, sizeof(Hit));
  next_record();
  for (size_t s = 0; s < last; ++s) {
    L(reject[s]);
    count_reject(s);
    next_record();
    if (layout.stages[s].statistical_bound != UINT32_MAX) {
      L(stat_reject[s]);
      count_reject(s);
      inc(qword[rsp + kStatSlot]);
      next_record();
    }
  }
}

// ---------------------------------------------------------------------------------------------

}  // namespace

std::shared_ptr<CompiledCode> compile_xbyak(const ScanPlan &plan, CodeArena &arena,
                                            const XbyakTuning &tuning) {
  xbyak_common::require_xbyak_isa(plan, "code");
  if (plan.cascade.metric == Metric::tanimoto) return compile_xbyak_tanimoto(plan, arena, tuning);
  const CodeLayout layout = make_layout(plan, tuning, {kQueryBase, kGroupQueryBase});
  return xbyak_common::emit_and_install<ScanEmitter>(
      arena, estimate_code_bytes(layout), "xbyak scan",
      [&](ScanEmitter &emitter) { emitter.emit(layout); });
}

namespace {
XbyakTuning plan_tuning(const ScanPlan &plan) {
  XbyakTuning tuning;
  tuning.query_registers = plan.tuning.query_registers;
  tuning.loop_min_chunks = plan.tuning.loop_min_chunks;
  tuning.group_max_chunks = plan.tuning.group_max_chunks;
  return tuning;
}
}  // namespace

std::shared_ptr<CompiledCode> compile_xbyak(const ScanPlan &plan, CodeArena &arena) {
  return compile_xbyak(plan, arena, plan_tuning(plan));
}

std::shared_ptr<CompiledCode> compile_xbyak_gather(const ScanPlan &plan, CodeArena &arena) {
  xbyak_common::require_xbyak_isa(plan, "code");
  if (plan.cascade.metric == Metric::tanimoto) {
    throw Error(ErrorKind::unsupported, "xbyak makes no gather entry for tanimoto kernels");
  }
  const CodeLayout layout = make_layout(plan, plan_tuning(plan), {kQueryBase, kGroupQueryBase});
  return xbyak_common::emit_and_install<ScanEmitter>(
      arena, estimate_code_bytes(layout), "xbyak gather",
      [&](ScanEmitter &emitter) { emitter.emit_gather(layout); });
}

}  // namespace jitson
