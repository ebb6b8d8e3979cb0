// The Xbyak backend's Tanimoto row kernels: one block function per plan, specialised like the
// Hamming kernels of xbyak_scan.cpp (focus words, stage bounds, stride, query in registers), equal
// to runtime/scan.cpp's scan_block_tanimoto hit for hit and counter for counter.
//
// Shape of the generated function (SysV: rdi = const BlockArgs *):
//   prologue   save callee-saved registers, read the args once, preload k-masks and (AVX-512)
//              the query chunks that fit in registers; run every stage's code once over the
//              query itself to get its focused bits, and from them and the limit the call's
//              constants α, β, γ_s of the tests below (stack slots)
//   group      AVX-512 plans of one stage and few chunks: 8 records per trip, reduced together
//              and tested against the limit with vector multiplies
//   record:    per stage: popcounts of r & focus (b) and q & r (c) for every focused line,
//              accumulated as one packed scalar c + (b << 32); after each stage one linear
//              test α·b − β·c against γ_s: a probe stage rejects out of line, the last stage
//              sends hits out of line, where u and the rank (one division) are computed
//   epilogue   counters from the per-stage reject counts (as the Hamming kernels), vzeroupper
//   constants  AND masks, K, the AVX2 nibble table
//
// The integer rules of jitson/metric.hpp are linear in (b, c) once the call fixes a and the
// limit. For a > 0 (so den = a + b − c > 0 and u = a + b − c > 0), multiplying out
// tanimoto_stage_rejects' num·K ≤ (K − limit)·den with num = c + a − a_seen_s gives
//   stage s rejects  ⇔  α·b − β·c ≥ γ_s
//   with α = K − limit, β = 2K − limit, γ_s = limit·a − a_seen_s·K,
// and tanimoto_keeps' c·K > (K − limit)·u is its negation with a_seen = a:
//   keeps            ⇔  α·b − β·c < γ_last.
// For limit > K both agree with the rules' "limit > K" case: α < 0 < β makes the left side
// ≤ 0, and γ_s ≥ a·(limit − K) > 0. For a = 0 (c = 0, den = u = b) the rules reduce to
// "rejects ⇔ b > 0 ∧ limit ≤ K" and "keeps ⇔ (b = 0 ? limit > 0 : limit > K)", which the same
// tests compute with α = [limit ≤ K], β = 0, γ_s = 1 and γ_last = [limit > 0]. Signed 64 bits
// never overflow: |α| < 2^32, β < 2^33, b, c ≤ 2^16 and |γ_s| < 2^49.
#include "jit/xbyak_tanimoto.hpp"

#include <xbyak/xbyak.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "jit/xbyak_common.hpp"
#include "jit/xbyak_layout.hpp"
#include "jitson/error.hpp"
#include "jitson/metric.hpp"

namespace jitson {

namespace {

using Xbyak::Label;
using Xbyak::Opmask;
using Xbyak::Reg64;
using Xbyak::Xmm;
using Xbyak::Ymm;
using Xbyak::Zmm;
using namespace xbyak_common;  // the layout types (jit/xbyak_layout.hpp)

// AVX-512 register plan. Per-record loop: accumulators zmm0..3 (b, b, c, c), temporaries
// zmm4..7, query zmm8..31. Group loop: accumulators zmm0..7 (b of record r) and zmm8..15 (c of
// record r), temporaries zmm16..19, query zmm20..31.
constexpr int kQueryBase = 8, kGroupQueryBase = 20, kGroupRecords = 8;

// Upper bound of the code size; the emitter retries with a doubled buffer if it is exceeded.
// Stage code is emitted twice (once over the query in the prologue).
size_t estimate_code_bytes(const CodeLayout &L) {
  const bool z = L.isa == Isa::avx512;
  size_t bytes = 2048 + L.prefetch_offsets.size() * 12 + L.query_registers.size() * 24;
  for (auto &s : L.stages) {
    size_t stage = 320 + s.scalars.size() * 48 + s.loops.size() * (z ? 640 : 1280);
    stage += s.pieces.size() * (z ? 64 : 128);
    if (L.stream_ahead) stage += (s.pieces.size() + s.scalars.size() + 8 * s.loops.size()) * 8;
    bytes += 2 * stage + 160;
    bytes += s.pieces.size() * 64 + s.scalars.size() * 8;  // constants, at most
  }
  if (L.group) bytes += L.stages[0].pieces.size() * kGroupRecords * 64 + 1024;
  return bytes + 4096;
}

// ---------------------------------------------------------------------------------------------
// Emission.

class TanimotoEmitter : public Xbyak::CodeGenerator {
 public:
  TanimotoEmitter(void *buffer, size_t capacity) : Xbyak::CodeGenerator(capacity, buffer) {
    setDefaultJmpNEAR(true);
  }

  void emit(const CodeLayout &L);

 private:
  // Fixed register roles; rax, rcx, rdx are scratch (rax:rdx for the rank's division).
  const Reg64 &query_ = rsi, &rec_ = r8, &limit_ = r9, &index_ = r10, &out_ = r11, &cb_ = r13,
              &end_ = r14, &loop_ = rdi;
  // Stack: the args pointer, probe-stage reject counts beyond the registers, the cumulative
  // focused query bits after each stage (a_seen; the last is a), γ_s of each stage, α, β, the
  // limit as a qword, and the group loop's spills of d·K, max(u, 1) and u.
  static constexpr int kArgsSlot = 0, kExtraStageSlot = 8, kSeenSlot = 64, kGammaSlot = 128,
                       kAlphaSlot = 192, kBetaSlot = 200, kLimitSlot = 208, kSpillY = 256,
                       kSpillUp = 320, kSpillU = 384, kFrame = 456;
  static constexpr int kRegisterCounters = 4;

  xbyak_common::ConstantPool constants_;
  const Label &constant(std::vector<uint64_t> words) {
    return constants_.label_for(std::move(words));
  }

  const CodeLayout *L_ = nullptr;
  Label loop_top_, done_;
  bool prefetch_on_ = false;

  int seen_slot(size_t s) const { return kSeenSlot + 8 * int(s); }
  int gamma_slot(size_t s) const { return kGammaSlot + 8 * int(s); }
  int a_slot() const { return seen_slot(L_->stages.size() - 1); }
  const Reg64 &counter_register(size_t s) const {
    static const Reg64 regs[kRegisterCounters] = {rbx, rbp, r15, r12};
    return regs[s];
  }
  void count_reject(size_t s) {
    if (s < size_t(kRegisterCounters)) {
      inc(counter_register(s));
    } else {
      inc(qword[rsp + kExtraStageSlot + 8 * int(s - kRegisterCounters)]);
    }
  }
  void next_record() {
    add(rec_, L_->stride);
    inc(index_);
    cmp(rec_, end_);
    jb(loop_top_);
    jmp(done_);
  }

  Opmask lane_kmask(uint8_t lanes);
  void emit_stage(const StageCode &s, const Reg64 &base);
  void emit_scalar(const WordUse &w, const Reg64 &base);
  void call_constants();
  void linear_test(size_t s);

  // Stream prefetch (single-stage plans): the line at `at` bytes into the record (or `index`
  // plus `at`), stream_ahead bytes ahead, once per 64-byte window and record.
  std::vector<bool> window_prefetched_;
  void stream_prefetch(uint32_t at, const Reg64 *index = nullptr) {
    if (!prefetch_on_ || L_->stream_ahead == 0) return;
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
  void new_record_windows(uint32_t bytes) { window_prefetched_.assign((bytes + 63) / 64, false); }

  // AVX-512
  bool acc_live_[4] = {};  // zmm0, zmm1: b; zmm2, zmm3: c
  int next_slot_ = 0;
  void z_stage(const StageCode &s, const Reg64 &base);
  void z_piece(const VectorPiece &p, int slot, const Reg64 &base);
  void z_accumulate(const Zmm &t, int acc);
  void z_loop(const LoopRun &r, const Reg64 &base);
  void z_reduce();
  void z_group(Label &group_hits, Label &group_next);

  // AVX2: byte accumulators ymm0 (b) and ymm1 (c), qword accumulators ymm2 (b) and ymm3 (c),
  // temporaries ymm4..11, scratch ymm12, zero ymm13, nibble table ymm14, low-nibble mask ymm15.
  bool byte_live_ = false, qword_live_ = false;
  int byte_count_ = 0;
  int next_piece_ = 0;
  void y_stage(const StageCode &s, const Reg64 &base);
  void y_piece(const Xbyak::Address &r, const Xbyak::Address &q, uint32_t lanes,
               const Label *and_mask, int slot, bool first_in_trip);
  void y_flush();
  void y_loop(const LoopRun &r, const Reg64 &base);
  void y_reduce();
};

Opmask TanimotoEmitter::lane_kmask(uint8_t lanes) {
  const auto &pre = L_->preloaded_kmasks;
  auto it = std::find(pre.begin(), pre.end(), lanes);
  if (it != pre.end()) return Opmask(1 + int(it - pre.begin()));
  mov(eax, lanes);
  kmovw(k7, eax);
  return k7;
}

void TanimotoEmitter::emit_stage(const StageCode &s, const Reg64 &base) {
  if (L_->isa == Isa::avx512) {
    z_stage(s, base);
  } else {
    y_stage(s, base);
  }
}

// cb += popcount(q & r & m) + (popcount(r & m) << 32).
void TanimotoEmitter::emit_scalar(const WordUse &w, const Reg64 &base) {
  const uint32_t off = w.word * 8;
  stream_prefetch(off);
  mov(rax, qword[base + off]);
  if (w.mask != kAllOnes) {
    if (int64_t(int32_t(uint32_t(w.mask))) == int64_t(w.mask)) {
      and_(rax, int32_t(uint32_t(w.mask)));
    } else {
      and_(rax, qword[rip + constant({w.mask})]);
    }
  }
  popcnt(rcx, rax);
  and_(rax, qword[query_ + off]);
  popcnt(rax, rax);
  shl(rcx, 32);
  add(cb_, rax);
  add(cb_, rcx);
}

// α, β and γ_s of this call (the file comment derives them).
void TanimotoEmitter::call_constants() {
  const size_t last = L_->stages.size() - 1;
  Label zero_query, ready;
  mov(rdx, qword[rsp + a_slot()]);
  test(rdx, rdx);
  jz(zero_query);
  mov(rcx, kTanimotoScale);
  sub(rcx, limit_);
  mov(qword[rsp + kAlphaSlot], rcx);
  mov(rax, kTanimotoScale);
  add(rcx, rax);
  mov(qword[rsp + kBetaSlot], rcx);
  imul(rdx, limit_);
  for (size_t s = 0; s <= last; ++s) {
    mov(rax, qword[rsp + seen_slot(s)]);
    imul(rax, qword[rip + constant({kTanimotoScale})]);
    mov(rcx, rdx);
    sub(rcx, rax);
    mov(qword[rsp + gamma_slot(s)], rcx);
  }
  jmp(ready);
  L(zero_query);
  xor_(eax, eax);
  mov(rcx, kTanimotoScale);
  cmp(limit_, rcx);
  setbe(al);
  mov(qword[rsp + kAlphaSlot], rax);
  mov(qword[rsp + kBetaSlot], 0);
  for (size_t s = 0; s < last; ++s) mov(qword[rsp + gamma_slot(s)], 1);
  xor_(eax, eax);
  test(limit_, limit_);
  setnz(al);
  mov(qword[rsp + gamma_slot(last)], rax);
  L(ready);
}

// Flags of α·b − β·c compared with γ_s: "greater or equal" rejects after a probe stage and
// fails the keep rule after the last.
void TanimotoEmitter::linear_test(size_t s) {
  mov(rcx, cb_);
  shr(rcx, 32);  // b
  imul(rcx, qword[rsp + kAlphaSlot]);
  mov(eax, cb_.cvt32());  // c
  imul(rax, qword[rsp + kBetaSlot]);
  sub(rcx, rax);
  cmp(rcx, qword[rsp + gamma_slot(s)]);
}

// ----- AVX-512 ---------------------------------------------------------------------------------

void TanimotoEmitter::z_accumulate(const Zmm &t, int acc) {
  if (acc_live_[acc]) {
    vpopcntq(t, t);
    vpaddq(Zmm(acc), Zmm(acc), t);
  } else {
    vpopcntq(Zmm(acc), t);
    acc_live_[acc] = true;
  }
}

void TanimotoEmitter::z_piece(const VectorPiece &p, int slot, const Reg64 &base) {
  const Zmm r(4 + 2 * (slot % 2)), qr(5 + 2 * (slot % 2));
  stream_prefetch(p.offset);
  // Zero-masked loads: lanes outside the focus are neither read (no fault either) nor counted.
  const bool masked = p.lane_mask != 0xFF;
  const Opmask k = masked ? lane_kmask(p.lane_mask) : k0;
  if (masked) {
    vmovdqu64(r | k | T_z, ptr[base + p.offset]);
  } else {
    vmovdqu64(r, ptr[base + p.offset]);
  }
  if (p.partial) {
    vpandq(r, r, ptr[rip + constant(std::vector<uint64_t>(p.masks.begin(), p.masks.end()))]);
  }
  // r is already masked to the focus, so the query needs no AND mask of its own.
  if (p.query_register >= 0) {
    vpandq(qr, r, Zmm(p.query_register));
  } else if (masked) {
    vpandq(qr | k | T_z, r, ptr[query_ + p.offset]);
  } else {
    vpandq(qr, r, ptr[query_ + p.offset]);
  }
  z_accumulate(r, slot % 2);
  z_accumulate(qr, 2 + slot % 2);
}

void TanimotoEmitter::z_loop(const LoopRun &r, const Reg64 &base) {
  for (int a = 0; a < 4; ++a) {
    if (!acc_live_[a]) {
      vpxord(Zmm(a), Zmm(a), Zmm(a));
      acc_live_[a] = true;
    }
  }
  const uint32_t span = r.trips * 512;
  const uint32_t top_offset = r.offset + span;
  mov(loop_, -int64_t(span));
  Label top;
  align(kLoopAlign);
  L(top);
  for (int j = 0; j < 8; ++j) {
    const Zmm t(4 + 2 * (j % 2)), qt(5 + 2 * (j % 2));
    const uint32_t at = top_offset + 64 * j;
    stream_prefetch(at, &loop_);
    vmovdqu64(t, ptr[base + loop_ + at]);
    vpandq(qt, t, ptr[query_ + loop_ + at]);
    vpopcntq(t, t);
    vpaddq(Zmm(j % 2), Zmm(j % 2), t);
    vpopcntq(qt, qt);
    vpaddq(Zmm(2 + j % 2), Zmm(2 + j % 2), qt);
  }
  add(loop_, 512);
  jnz(top);
}

// cb += Σ lanes (c + (b << 32)): each lane's c is below 2^32, so the packing never carries.
void TanimotoEmitter::z_reduce() {
  next_slot_ = 0;
  if (!acc_live_[0]) return;  // b and c accumulators are always live together
  if (acc_live_[1]) vpaddq(Zmm(0), Zmm(0), Zmm(1));
  if (acc_live_[3]) vpaddq(Zmm(2), Zmm(2), Zmm(3));
  for (bool &live : acc_live_) live = false;
  vpsllq(Zmm(0), Zmm(0), 32);
  vpaddq(Zmm(0), Zmm(0), Zmm(2));
  vextracti64x4(Ymm(4), Zmm(0), 1);
  vpaddq(Ymm(0), Ymm(0), Ymm(4));
  vextracti128(Xmm(4), Ymm(0), 1);
  vpaddq(Xmm(0), Xmm(0), Xmm(4));
  vpshufd(Xmm(4), Xmm(0), 0x4E);
  vpaddq(Xmm(0), Xmm(0), Xmm(4));
  vmovq(rax, Xmm(0));
  add(cb_, rax);
}

void TanimotoEmitter::z_stage(const StageCode &s, const Reg64 &base) {
  new_record_windows(L_->stride);
  for (auto &w : s.scalars) emit_scalar(w, base);
  for (auto &r : s.loops) z_loop(r, base);
  for (auto &p : s.pieces) z_piece(p, next_slot_++, base);
  z_reduce();
}

// Eight records per trip over records [rec, records + (n & ~7) * stride): b and c of record r
// accumulate in zmm r and zmm 8 + r, are packed as c + (b << 32), and a transposing add network
// turns the eight into one vector (lane r = record r) that the keep rule tests at once. Only
// single-stage plans come here, so nothing is counted per record.
void TanimotoEmitter::z_group(Label &group_hits, Label &group_next) {
  const CodeLayout &layout = *L_;
  const StageCode &stage = layout.stages[0];
  const uint32_t stride = layout.stride;
  mov(rbx, qword[rsp + kArgsSlot]);
  mov(rbx, qword[rbx + offsetof(BlockArgs, n_records)]);
  and_(rbx, -kGroupRecords);
  imul(rbx, rbx, int(stride));
  add(rbx, rec_);  // end of the whole groups
  cmp(rec_, rbx);
  Label group_end, top;
  jae(group_end);
  align(kLoopAlign);
  L(top);
  new_record_windows(kGroupRecords * stride);
  int temp = 0;
  for (int r = 0; r < kGroupRecords; ++r) {
    bool first = true;
    for (const VectorPiece &p : stage.pieces) {
      const Zmm t(16 + 2 * (temp % 2)), qt(17 + 2 * (temp % 2));
      ++temp;
      const uint64_t at = uint64_t(r) * stride + p.offset;
      stream_prefetch(uint32_t(at));
      const bool masked = p.lane_mask != 0xFF;
      const Opmask k = masked ? lane_kmask(p.lane_mask) : k0;
      if (masked) {
        vmovdqu64(t | k | T_z, ptr[rec_ + at]);
      } else {
        vmovdqu64(t, ptr[rec_ + at]);
      }
      if (p.partial) {
        vpandq(t, t, ptr[rip + constant(std::vector<uint64_t>(p.masks.begin(), p.masks.end()))]);
      }
      if (p.query_register >= 0) {
        vpandq(qt, t, Zmm(p.query_register));
      } else if (masked) {
        vpandq(qt | k | T_z, t, ptr[query_ + p.offset]);
      } else {
        vpandq(qt, t, ptr[query_ + p.offset]);
      }
      if (first) {
        vpopcntq(Zmm(r), t);
        vpopcntq(Zmm(8 + r), qt);
        first = false;
      } else {
        vpopcntq(t, t);
        vpaddq(Zmm(r), Zmm(r), t);
        vpopcntq(qt, qt);
        vpaddq(Zmm(8 + r), Zmm(8 + r), qt);
      }
    }
    vpsllq(Zmm(r), Zmm(r), 32);
    vpaddq(Zmm(r), Zmm(r), Zmm(8 + r));
  }
  // Pairs: per 128-bit lane, (record a, record b) half sums.
  for (int a = 0; a < kGroupRecords; a += 2) {
    const Zmm t(16 + a / 2);
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
  fold(0, 2, 16);
  fold(4, 6, 17);
  fold(0, 4, 18);  // zmm0 lane r = c_r + (b_r << 32)
  // keeps ⇔ d·K < limit·max(u, 1), d = u − c: for u > 0 that is c·K > (K − limit)·u
  // rearranged (and true for every limit > K, as d ≤ u); u = 0 has d = 0, kept iff limit > 0.
  // vpmuludq multiplies the low dwords: d, max(u, 1), K and the limit all fit in 32 bits.
  vpsrlq(Zmm(1), Zmm(0), 32);                                      // b
  vpandq(Zmm(2), Zmm(0), ptr_b[rip + constant({0xFFFFFFFFull})]);  // c
  vpsubq(Zmm(1), Zmm(1), Zmm(2));
  vpaddq(Zmm(1), Zmm(1), ptr_b[rsp + a_slot()]);  // u
  vpsubq(Zmm(3), Zmm(1), Zmm(2));                 // d
  vpmuludq(Zmm(3), Zmm(3), ptr_b[rip + constant({kTanimotoScale})]);
  vpmaxuq(Zmm(4), Zmm(1), ptr_b[rip + constant({1})]);
  vpmuludq(Zmm(5), Zmm(4), ptr_b[rsp + kLimitSlot]);
  vpcmpuq(k7, Zmm(3), Zmm(5), 1);  // 1: unsigned less than
  kmovw(ebp, k7);
  test(ebp, ebp);
  jnz(group_hits);
  L(group_next);
  add(rec_, uint64_t(kGroupRecords) * stride);
  add(index_, kGroupRecords);
  cmp(rec_, rbx);
  jb(top);
  L(group_end);
}

// ----- AVX2 ------------------------------------------------------------------------------------

void TanimotoEmitter::y_flush() {
  if (!byte_live_) return;
  if (qword_live_) {
    vpsadbw(Ymm(12), Ymm(0), Ymm(13));
    vpaddq(Ymm(2), Ymm(2), Ymm(12));
    vpsadbw(Ymm(12), Ymm(1), Ymm(13));
    vpaddq(Ymm(3), Ymm(3), Ymm(12));
  } else {
    vpsadbw(Ymm(2), Ymm(0), Ymm(13));
    vpsadbw(Ymm(3), Ymm(1), Ymm(13));
    qword_live_ = true;
  }
  byte_live_ = false;
  byte_count_ = 0;
}

// Nibble-table popcounts of r [& mask] and of q & r into the byte accumulators. Each piece puts
// at most 8 into a byte lane, so the accumulators are flushed (vpsadbw) after 31 pieces.
void TanimotoEmitter::y_piece(const Xbyak::Address &r, const Xbyak::Address &q, uint32_t lanes,
                              const Label *and_mask, int slot, bool first_in_trip) {
  const int a = 4 + 4 * (slot % 2);
  auto op = [&](auto &&f) {
    if (lanes == 4) {
      f(Ymm(a), Ymm(a + 1), Ymm(a + 2), Ymm(a + 3), Ymm(14), Ymm(15));
    } else {
      f(Xmm(a), Xmm(a + 1), Xmm(a + 2), Xmm(a + 3), Xmm(14), Xmm(15));
    }
  };
  op([&](auto rl, auto rh, auto ql, auto qh, auto lut, auto nib) {
    vmovdqu(rl, r);
    if (and_mask) vpand(rl, rl, ptr[rip + *and_mask]);
    vpand(ql, rl, q);  // r is already masked to the focus
    vpsrlw(rh, rl, 4);
    vpsrlw(qh, ql, 4);
    vpand(rl, rl, nib);
    vpand(rh, rh, nib);
    vpand(ql, ql, nib);
    vpand(qh, qh, nib);
    vpshufb(rl, lut, rl);
    vpshufb(rh, lut, rh);
    vpshufb(ql, lut, ql);
    vpshufb(qh, lut, qh);
  });
  // VEX.128 ops zero bits 255:128, so the ymm adds below are right for xmm pieces too.
  if (first_in_trip || !byte_live_) {
    vpaddb(Ymm(0), Ymm(a), Ymm(a + 1));
    vpaddb(Ymm(1), Ymm(a + 2), Ymm(a + 3));
    byte_live_ = true;
    byte_count_ = 1;
  } else {
    vpaddb(Ymm(a), Ymm(a), Ymm(a + 1));
    vpaddb(Ymm(0), Ymm(0), Ymm(a));
    vpaddb(Ymm(a + 2), Ymm(a + 2), Ymm(a + 3));
    vpaddb(Ymm(1), Ymm(1), Ymm(a + 2));
    ++byte_count_;
  }
}

void TanimotoEmitter::y_loop(const LoopRun &r, const Reg64 &base) {
  y_flush();
  if (!qword_live_) {
    vpxor(Ymm(2), Ymm(2), Ymm(2));
    vpxor(Ymm(3), Ymm(3), Ymm(3));
    qword_live_ = true;
  }
  const uint32_t span = r.trips * 256;
  const uint32_t top_offset = r.offset + span;
  mov(loop_, -int64_t(span));
  Label top;
  align(kLoopAlign);
  L(top);
  for (int j = 0; j < 8; ++j) {
    const uint32_t at = top_offset + 32 * j;
    if (at % 64 == 0) stream_prefetch(at, &loop_);
    y_piece(ptr[base + loop_ + at], ptr[query_ + loop_ + at], 4, nullptr, j, j == 0);
  }
  y_flush();  // 8 pieces per trip: at most 64 per byte lane
  add(loop_, 256);
  jnz(top);
}

void TanimotoEmitter::y_reduce() {
  y_flush();
  next_piece_ = 0;
  if (!qword_live_) return;
  qword_live_ = false;
  vpsllq(Ymm(2), Ymm(2), 32);
  vpaddq(Ymm(2), Ymm(2), Ymm(3));
  vextracti128(Xmm(12), Ymm(2), 1);
  vpaddq(Xmm(2), Xmm(2), Xmm(12));
  vpshufd(Xmm(12), Xmm(2), 0x4E);
  vpaddq(Xmm(2), Xmm(2), Xmm(12));
  vmovq(rax, Xmm(2));
  add(cb_, rax);
}

void TanimotoEmitter::y_stage(const StageCode &s, const Reg64 &base) {
  new_record_windows(L_->stride);
  for (auto &w : s.scalars) emit_scalar(w, base);
  for (auto &r : s.loops) y_loop(r, base);
  for (auto &p : s.pieces) {
    stream_prefetch(p.offset);
    const Label *m = nullptr;
    if (p.partial) m = &constant(std::vector<uint64_t>(p.masks.begin(), p.masks.begin() + p.lanes));
    y_piece(ptr[base + p.offset], ptr[query_ + p.offset], p.lanes, m, next_piece_++, false);
    if (byte_count_ >= 31) y_flush();
  }
  y_reduce();
}

// ----- Whole function --------------------------------------------------------------------------

void TanimotoEmitter::emit(const CodeLayout &layout) {
  L_ = &layout;
  const bool z = layout.isa == Isa::avx512;
  const size_t n_stages = layout.stages.size();
  const size_t last = n_stages - 1;

  // Prologue.
  static const Reg64 saved[6] = {rbx, rbp, r12, r13, r14, r15};
  for (auto &r : saved) push(r);
  sub(rsp, kFrame);
  mov(qword[rsp + kArgsSlot], rdi);
  for (size_t s = 0; s < last; ++s) {
    if (s < size_t(kRegisterCounters)) {
      xor_(counter_register(s).cvt32(), counter_register(s).cvt32());
    } else {
      mov(qword[rsp + kExtraStageSlot + 8 * int(s - kRegisterCounters)], 0);
    }
  }
  mov(query_, qword[rdi + offsetof(BlockArgs, query)]);
  mov(rec_, qword[rdi + offsetof(BlockArgs, records)]);
  imul(end_, qword[rdi + offsetof(BlockArgs, n_records)], int(layout.stride));
  add(end_, rec_);
  mov(index_, qword[rdi + offsetof(BlockArgs, base_index)]);
  mov(limit_.cvt32(), dword[rdi + offsetof(BlockArgs, limit)]);  // zero-extends
  mov(qword[rsp + kLimitSlot], limit_);
  mov(out_, qword[rdi + offsetof(BlockArgs, out)]);
  cmp(rec_, end_);
  jae(done_);

  if (z) {
    for (size_t i = 0; i < layout.preloaded_kmasks.size(); ++i) {
      mov(eax, layout.preloaded_kmasks[i]);
      kmovw(Opmask(1 + int(i)), eax);
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
    vpxor(Ymm(13), Ymm(13), Ymm(13));
  }

  // a_seen of each stage: the stage code run over the query as its record counts q & q & focus.
  prefetch_on_ = false;
  xor_(cb_.cvt32(), cb_.cvt32());
  for (size_t s = 0; s < n_stages; ++s) {
    emit_stage(layout.stages[s], query_);
    mov(ecx, cb_.cvt32());
    mov(qword[rsp + seen_slot(s)], rcx);
  }
  prefetch_on_ = true;
  call_constants();

  Label group_hits, group_next;
  if (layout.group) {
    z_group(group_hits, group_next);
    cmp(rec_, end_);
    jae(done_);
  }

  // Record loop.
  std::vector<Label> reject(n_stages);
  Label hit;
  align(kLoopAlign);
  L(loop_top_);
  for (uint32_t off : layout.prefetch_offsets) {
    prefetcht0(ptr[rec_ + (uint64_t(layout.prefetch_records) * layout.stride + off)]);
  }
  xor_(cb_.cvt32(), cb_.cvt32());
  for (size_t s = 0; s < n_stages; ++s) {
    emit_stage(layout.stages[s], rec_);
    linear_test(s);
    if (s == last) break;
    jge(reject[s]);
  }
  jl(hit);
  add(rec_, layout.stride);
  inc(index_);
  cmp(rec_, end_);
  jb(loop_top_);

  // Epilogue: counters. Records that reached the last stage = n − Σ earlier rejects; of those,
  // the hits are the records written to out and the rest failed the keep rule.
  L(done_);
  vzeroupper();
  mov(rdi, qword[rsp + kArgsSlot]);
  mov(r13, qword[rdi + offsetof(BlockArgs, counters)]);
  mov(rax, out_);
  sub(rax, qword[rdi + offsetof(BlockArgs, out)]);
  shr(rax, 4);
  mov(rcx, qword[rdi + offsetof(BlockArgs, n_records)]);
  xor_(edx, edx);
  for (size_t s = 0; s < last; ++s) {
    Reg64 r = rsi;
    if (s < size_t(kRegisterCounters)) {
      r = counter_register(s);
    } else {
      mov(rsi, qword[rsp + kExtraStageSlot + 8 * int(s - kRegisterCounters)]);
    }
    add(qword[r13 + 8 * int(s)], r);
    sub(rcx, r);
    if (layout.stages[s].cumulative_words) {
      imul(r8, r, int(layout.stages[s].cumulative_words));
      add(rdx, r8);
    }
  }
  if (layout.stages[last].cumulative_words) {
    imul(r8, rcx, int(layout.stages[last].cumulative_words));
    add(rdx, r8);
  }
  add(qword[r13 + 8 * kCounterWordsRead], rdx);
  sub(rcx, rax);
  add(qword[r13 + 8 * int(last)], rcx);
  add(rsp, kFrame);
  for (int i = 5; i >= 0; --i) pop(saved[i]);
  ret();  // rax: the hits written

  // Out-of-line paths.
  if (layout.group) {
    // Lanes below the limit, in index order: rank = d·K / max(u, 1), then {index, rank, u}.
    L(group_hits);
    vmovdqu64(ptr[rsp + kSpillY], Zmm(3));
    vmovdqu64(ptr[rsp + kSpillUp], Zmm(4));
    vmovdqu64(ptr[rsp + kSpillU], Zmm(1));
    Label next_bit;
    L(next_bit);
    bsf(ecx, ebp);
    lea(rax, ptr[index_ + rcx]);
    mov(qword[out_ + offsetof(Hit, index)], rax);
    mov(rax, qword[rsp + rcx * 8 + kSpillY]);
    xor_(edx, edx);
    div(qword[rsp + rcx * 8 + kSpillUp]);
    mov(rdx, qword[rsp + rcx * 8 + kSpillU]);
    shl(rdx, 32);
    or_(rax, rdx);  // the rank is below 2^32: distance and reserved (u) in one store
    mov(qword[out_ + offsetof(Hit, distance)], rax);
    add(out_, sizeof(Hit));
    lea(eax, ptr[rbp - 1]);
    and_(ebp, eax);
    jnz(next_bit);
    jmp(group_next);
  }
  // rank = d·K / u with u = a + b − c and d = u − c; u = 0 has d = 0, so max(u, 1) gives 0.
  L(hit);
  mov(ecx, cb_.cvt32());  // c
  mov(rdx, cb_);
  shr(rdx, 32);  // b
  sub(rdx, rcx);
  add(rdx, qword[rsp + a_slot()]);  // u
  mov(qword[out_ + offsetof(Hit, index)], index_);
  mov(dword[out_ + offsetof(Hit, reserved)], edx);
  mov(rax, rdx);
  sub(rax, rcx);  // d
  imul(rax, qword[rip + constant({kTanimotoScale})]);
  mov(rcx, rdx);
  cmp(rcx, 1);
  adc(rcx, 0);  // CF = (u < 1)
  xor_(edx, edx);
  div(rcx);
  mov(dword[out_ + offsetof(Hit, distance)], eax);
  add(out_, sizeof(Hit));
  next_record();
  for (size_t s = 0; s < last; ++s) {
    L(reject[s]);
    count_reject(s);
    next_record();
  }
  constants_.emit(*this);
}

}  // namespace

std::shared_ptr<CompiledCode> compile_xbyak_tanimoto(const ScanPlan &plan, CodeArena &arena,
                                                     const XbyakTuning &tuning) {
  xbyak_common::require_xbyak_isa(plan, "code");
  if (plan.cascade.metric != Metric::tanimoto) {
    throw Error(ErrorKind::internal, "the Tanimoto generator got a plan of another metric");
  }
  const CodeLayout layout = make_layout(plan, tuning, {kQueryBase, kGroupQueryBase});
  return xbyak_common::emit_and_install<TanimotoEmitter>(
      arena, estimate_code_bytes(layout), "xbyak tanimoto",
      [&](TanimotoEmitter &emitter) { emitter.emit(layout); });
}

}  // namespace jitson
