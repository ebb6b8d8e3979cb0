// The Xbyak sweep generator: one SWEEP function per ScanPlan for the blocked layout (the ABI
// above sweep_block_runtime in jitson/scan.hpp), B = plan.cascade.block_records baked in (a
// power-of-two multiple of 64), AVX-512 (VPOPCNTDQ, k-masks) or AVX2 (nibble-table popcount,
// vmovmskpd; no EVEX).
//
// A block is swept as B / 64 sub-blocks of 64 records, each 8 groups of 8 records; word w of a
// group is one 64-byte line at block + w * B * 8 + sub-block * 512 + group * 64. The 64 activity
// bits of a sub-block live in rbp (bit r = record r). Per sub-block: active = records of
// [reserved, n_records) in it; for each stage, for each group with an active record (bsf over a
// copy of the mask): load the group's 8 partial sums, add popcount((record word XOR broadcast
// query word) [AND partial mask]) for the stage's words, compare with the limit (and the
// statistical bound), count the newly rejected, clear their bits; the sub-block ends as soon as
// rbp is 0. After the last stage the group's records below the limit are hits, written in index
// order. Words outside the focus are never loaded; a group with no active record is never
// loaded. Counters are kept in the frame and added to args->counters once per call.
//
// Registers: rsi query, rbx sub-block (its group 0, word 0), r12 record offset of the sub-block,
// r13 n_records, r14 hit write pointer, r15 base_index, rbp active mask, r10 groups left in this
// stage, rdx group byte offset (g * 64), rdi the group's 8 activity bits, rcx shift count g * 8;
// rax r8 r9 r11 temps. AVX-512: zmm0 partial sums, zmm5 second accumulator, zmm1..4 temps, zmm31
// limit. AVX2: ymm0/ymm1 partial sums (records 0..3 / 4..7), ymm2..7 temps, ymm12 zero, ymm13 low
// nibble mask, ymm14 nibble popcount table, ymm15 limit.
#include <xbyak/xbyak.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <new>
#include <string>
#include <vector>

#include "jit/backend.hpp"
#include "jit/code_arena.hpp"
#include "jit/xbyak_common.hpp"
#include "jitson/error.hpp"

namespace jitson {
namespace {

using Xbyak::Label;
using Xbyak::Reg64;
using Xbyak::Ymm;
using Xbyak::Zmm;

// A block of B records (a power of two, a multiple of 64) is swept as B / 64 sub-blocks of 64
// records, one 64-bit active mask each. Sub-block q's word w is the 512 bytes at
// block + w * B * 8 + q * 512, so consecutive sub-blocks read consecutive 512-byte runs.
constexpr uint32_t kSub = 64;
// Prefetch: the first line of each first-stage word of the block kPrefetchBlocks ahead; the L2
// streamer, seeing a line at the start of a 4 KiB page, brings the next ones. bench_blocked near
// (max_distance 16, top-10), wall M records/s warm / cold, three runs each:
//   1 line,  8 blocks ahead: 1219/458 1266/408 1257/470     (chosen)
//   1 line,  4 blocks ahead: 1152/377 1160/376 1183/353
//   1 line, 12 blocks ahead: 1070/392 1223/455 1046/373
//   2 lines, 8 blocks ahead: 1027/353 1167/385 1177/390
//   8 lines (the whole 512-byte run), 8 ahead: 1117/308 1170/373 1095/366; 16 ahead: 795/337
// More prefetches hold line-fill buffers that the current block's loads need.
constexpr uint32_t kPrefetchBlocks = 8;
constexpr uint32_t kPrefetchLines = 1;
constexpr uint32_t kMaxPrefetchWords = 2;  // first-stage words prefetched per block

// Frame (64-byte aligned): partial sums of the 8 groups, then the counters and saved values.
constexpr int kAccSlot = 0, kCounterSlot = 512, kStatSlot = 576, kWordsSlot = 584, kArgsSlot = 592,
              kOutStartSlot = 600, kOldRspSlot = 608, kReservedSlot = 616, kFrame = 640;

class SweepEmitter : public Xbyak::CodeGenerator {
 public:
  SweepEmitter(void *buffer, size_t capacity, const ScanPlan &plan)
      : Xbyak::CodeGenerator(capacity, buffer),
        plan_(plan),
        avx512_(plan.isa == Isa::avx512),
        block_records_(plan.cascade.block_records),
        word_stride_(plan.cascade.block_records * 8) {
    setDefaultJmpNEAR(true);
  }
  void emit();

 private:
  const ScanPlan &plan_;
  const bool avx512_;
  const uint32_t block_records_;  // B
  const uint32_t word_stride_;    // bytes from word w to word w + 1 of a record in a block
  const Reg64 &query_ = rsi, &block_ = rbx, &start_ = r12, &end_ = r13, &out_ = r14, &base_ = r15,
              &active_ = rbp, &left_ = r10, &group_ = rdx, &bits_ = rdi;

  xbyak_common::ConstantPool constants_;
  const Label &constant(std::vector<uint64_t> words) {
    return constants_.label_for(std::move(words));
  }
  // A 64-bit value as an AVX-512 broadcast operand (8 bytes) or an AVX2 vector (4 copies).
  const Label &lanes(uint64_t v) { return avx512_ ? constant({v}) : constant({v, v, v, v}); }

  void prologue();
  void epilogue();
  void prefetch_ahead();
  void stage(size_t s, Label &next_block);
  bool has_full_block_first_stage() const;
  void full_block_first_stage(Label &next_block);
  void next_group(Label &stage_end);
  void accumulate_word(const Xbyak::RegExp &record, const Xbyak::RegExp &query, uint64_t mask,
                       int temp, int acc);
  void accumulate_segment(const Segment &seg);
  void below_limit_bits(const Xbyak::Reg32 &out);  // eax-style 8 bits: partial < limit
  void reject_and_count(size_t s);
  void hits_and_count(size_t s);
};

void SweepEmitter::prologue() {
  push(rbx);
  push(rbp);
  push(r12);
  push(r13);
  push(r14);
  push(r15);
  mov(rax, rsp);
  sub(rsp, kFrame);
  and_(rsp, -64);
  mov(qword[rsp + kOldRspSlot], rax);
  mov(qword[rsp + kArgsSlot], rdi);
  xor_(eax, eax);
  for (int slot = kCounterSlot; slot <= kWordsSlot; slot += 8) mov(qword[rsp + slot], rax);
  // BlockArgs: query 0, records 8, n_records 16, base_index 24, limit 32, reserved 36, out 40,
  // counters 48, context 56.
  mov(query_, qword[rdi + 0]);
  mov(block_, qword[rdi + 8]);
  mov(end_, qword[rdi + 16]);
  mov(base_, qword[rdi + 24]);
  mov(out_, qword[rdi + 40]);
  mov(qword[rsp + kOutStartSlot], out_);
  mov(eax, dword[rdi + 32]);  // zero-extends: the limit as a u64
  if (avx512_) {
    vpbroadcastq(Zmm(31), rax);
  } else {
    vmovq(Xbyak::Xmm(15), rax);
    vpbroadcastq(Ymm(15), Xbyak::Xmm(15));
    vpxor(Ymm(12), Ymm(12), Ymm(12));
    vmovdqu(Ymm(13), ptr[rip + constant({0x0f0f0f0f0f0f0f0fULL, 0x0f0f0f0f0f0f0f0fULL,
                                         0x0f0f0f0f0f0f0f0fULL, 0x0f0f0f0f0f0f0f0fULL})]);
    // Popcounts of the nibbles 0..15, for vpshufb in each 128-bit lane.
    vmovdqu(Ymm(14), ptr[rip + constant({0x0302020102010100ULL, 0x0403030203020201ULL,
                                         0x0302020102010100ULL, 0x0403030203020201ULL})]);
  }
  // Records of the first block before `reserved` are not part of the range; each sub-block
  // takes up to 64 of them off this count.
  mov(eax, dword[rdi + 36]);
  mov(qword[rsp + kReservedSlot], rax);
  xor_(start_.cvt32(), start_.cvt32());
}

void SweepEmitter::epilogue() {
  mov(rdi, qword[rsp + kArgsSlot]);
  mov(r8, qword[rdi + 48]);
  for (size_t s = 0; s < plan_.cascade.stages.size(); ++s) {
    mov(rax, qword[rsp + kCounterSlot + int(8 * s)]);
    add(qword[r8 + int(8 * s)], rax);
  }
  mov(rax, qword[rsp + kStatSlot]);
  add(qword[r8 + 8 * kCounterStatPruned], rax);
  mov(rax, qword[rsp + kWordsSlot]);
  add(qword[r8 + 8 * kCounterWordsRead], rax);
  mov(rax, out_);
  sub(rax, qword[rsp + kOutStartSlot]);
  shr(rax, 4);  // sizeof(Hit) == 16
  vzeroupper();
  mov(rsp, qword[rsp + kOldRspSlot]);
  pop(r15);
  pop(r14);
  pop(r13);
  pop(r12);
  pop(rbp);
  pop(rbx);
  ret();
}

// Blocks are block_bytes apart, far beyond what the hardware prefetchers follow: prefetch the
// first-stage lines of the block kPrefetchBlocks ahead. Past the end of this call too: the
// driver's next call continues there, and bounding the prefetch by this call's range left the
// first kPrefetchBlocks blocks of every call unprefetched (a quarter of a 4,096-record call).
// A prefetch is a hint, not a load: it never faults (the guard-page tests run it against
// PROT_NONE pages) and returns nothing, so no byte past the buffer is ever read.
void SweepEmitter::prefetch_ahead() {
  // The same sub-block kPrefetchBlocks sub-blocks' worth of records ahead, rounded to blocks.
  const uint64_t block_bytes = uint64_t(block_records_) * plan_.record_bytes;
  const uint64_t ahead =
      block_bytes * std::max<uint64_t>(1, uint64_t(kPrefetchBlocks) * kSub / block_records_);
  if (ahead + uint64_t(plan_.record_words) * word_stride_ > 0x7fffffffULL) return;
  std::vector<uint32_t> words;
  for (const Segment &seg : plan_.cascade.stages[0].segments) {
    for (uint32_t w = seg.first_word; w < seg.first_word + seg.n_words; ++w) {
      if (words.size() < kMaxPrefetchWords) words.push_back(w);
    }
  }
  for (uint32_t w : words) {
    for (uint32_t line = 0; line < kPrefetchLines; ++line) {
      prefetcht0(ptr[block_ + uint32_t(ahead + w * word_stride_ + line * 64)]);
    }
  }
}

void SweepEmitter::accumulate_word(const Xbyak::RegExp &record, const Xbyak::RegExp &query,
                                   uint64_t mask, int temp, int acc) {
  if (avx512_) {
    const Zmm t(temp);
    vmovdqu64(t, ptr[record]);
    vpxorq(t, t, ptr_b[query]);
    if (mask != ~uint64_t{0}) vpandq(t, t, ptr_b[rip + lanes(mask)]);
    vpopcntq(t, t);
    vpaddq(Zmm(acc), Zmm(acc), t);
    return;
  }
  // AVX2: the group's line is two ymm of 4 records each; acc and acc + 1 hold their sums.
  vpbroadcastq(Ymm(7), ptr[query]);
  for (int half = 0; half < 2; ++half) {
    const Ymm t(2 + half), u(4 + half);
    vpxor(t, Ymm(7), ptr[record + 32 * half]);
    if (mask != ~uint64_t{0}) vpand(t, t, ptr[rip + lanes(mask)]);
    vpsrlw(u, t, 4);
    vpand(t, t, Ymm(13));
    vpand(u, u, Ymm(13));
    vpshufb(t, Ymm(14), t);
    vpshufb(u, Ymm(14), u);
    vpaddb(t, t, u);
    vpsadbw(t, t, Ymm(12));
    vpaddq(Ymm(acc + half), Ymm(acc + half), t);
  }
}

void SweepEmitter::accumulate_segment(const Segment &seg) {
  const uint64_t mask = seg.full ? ~uint64_t{0} : seg.mask;
  constexpr uint32_t kUnrolled = 8;
  if (seg.n_words <= kUnrolled) {
    for (uint32_t i = 0; i < seg.n_words; ++i) {
      const uint32_t w = seg.first_word + i;
      accumulate_word(block_ + group_ + w * word_stride_, query_ + w * 8, mask,
                      avx512_ ? 1 + int(i % 4) : 0, avx512_ ? (i % 2 ? 5 : 0) : 0);
    }
    return;
  }
  // A long run of whole words: a rolled loop, 4 words per trip (AVX-512) or 1 (AVX2).
  const uint32_t per_trip = avx512_ ? 4 : 1;
  const uint32_t trips = seg.n_words / per_trip, rest = seg.n_words % per_trip;
  lea(r11, ptr[block_ + group_ + seg.first_word * word_stride_]);
  lea(r8, ptr[query_ + seg.first_word * 8]);
  mov(r9d, trips);
  Label top;
  L(top);
  for (uint32_t i = 0; i < per_trip; ++i) {
    accumulate_word(r11 + i * word_stride_, r8 + i * 8, mask, avx512_ ? 1 + int(i) : 0,
                    avx512_ ? (i % 2 ? 5 : 0) : 0);
  }
  add(r11, per_trip * word_stride_);
  add(r8, per_trip * 8);
  dec(r9d);
  jnz(top);
  for (uint32_t i = 0; i < rest; ++i) {
    accumulate_word(r11 + i * word_stride_, r8 + i * 8, mask, avx512_ ? 1 + int(i) : 0,
                    avx512_ ? (i % 2 ? 5 : 0) : 0);
  }
}

// Picks the next group with an active record: rcx = g * 8, rdx = g * 64, edi = its 8 bits.
void SweepEmitter::next_group(Label &stage_end) {
  test(left_, left_);
  jz(stage_end);
  bsf(rcx, left_);
  and_(ecx, 0x38);
  lea(group_, ptr[rcx * 8]);
  mov(bits_, active_);
  shr(bits_, cl);
  and_(bits_.cvt32(), 0xff);
  mov(eax, 0xff);
  shl(rax, cl);
  not_(rax);
  and_(left_, rax);
}

void SweepEmitter::below_limit_bits(const Xbyak::Reg32 &out) {
  // AVX2 only: signed compares are exact, partial sums and limits are far below 2^63.
  vpcmpgtq(Ymm(2), Ymm(15), Ymm(0));
  vpcmpgtq(Ymm(3), Ymm(15), Ymm(1));
  vmovmskpd(out, Ymm(2));
  vmovmskpd(r9d, Ymm(3));
  shl(r9d, 4);
  or_(out, r9d);
}

// Not the last stage: reject partial >= limit, or (statistical) partial > the stage bound.
void SweepEmitter::reject_and_count(size_t s) {
  const uint32_t bound = plan_.cascade.stages[s].statistical_bound;
  if (avx512_) {
    kmovw(k1, bits_.cvt32());
    vpcmpuq(k2 | k1, Zmm(0), Zmm(31), 5);  // NLT: partial >= limit
    if (bound != UINT32_MAX) {
      vpcmpuq(k3 | k1, Zmm(0), ptr_b[rip + lanes(bound)], 6);  // NLE: partial > bound
      kandnw(k3, k2, k3);
      kmovw(eax, k3);
      popcnt(eax, eax);
      add(qword[rsp + kStatSlot], rax);
      korw(k2, k2, k3);
    }
    kmovw(eax, k2);
  } else {
    below_limit_bits(eax);
    not_(eax);
    and_(eax, bits_.cvt32());  // active and partial >= limit
    if (bound != UINT32_MAX) {
      vmovdqu(Ymm(6), ptr[rip + lanes(bound)]);
      vpcmpgtq(Ymm(2), Ymm(0), Ymm(6));
      vpcmpgtq(Ymm(3), Ymm(1), Ymm(6));
      vmovmskpd(r8d, Ymm(2));
      vmovmskpd(r9d, Ymm(3));
      shl(r9d, 4);
      or_(r8d, r9d);
      and_(r8d, bits_.cvt32());
      mov(r9d, eax);
      not_(r9d);
      and_(r8d, r9d);  // above the bound, active, not already rejected by the limit
      popcnt(r9d, r8d);
      add(qword[rsp + kStatSlot], r9);
      or_(eax, r8d);
    }
  }
  popcnt(r8d, eax);
  add(qword[rsp + kCounterSlot + int(8 * s)], r8);
  mov(rcx, group_);
  shr(rcx, 3);
  shl(rax, cl);
  xor_(active_, rax);  // the rejected bits are a subset of the active ones
}

// The last stage: partial < limit is a hit, in index order; the other active records count as
// rejects of this stage.
void SweepEmitter::hits_and_count(size_t s) {
  if (avx512_) {
    vmovdqu64(ptr[rsp + group_ + kAccSlot], Zmm(0));
    kmovw(k1, bits_.cvt32());
    vpcmpuq(k2 | k1, Zmm(0), Zmm(31), 1);  // LT
    kmovw(eax, k2);
  } else {
    vmovdqu(ptr[rsp + group_ + kAccSlot], Ymm(0));
    vmovdqu(ptr[rsp + group_ + kAccSlot + 32], Ymm(1));
    below_limit_bits(eax);
    and_(eax, bits_.cvt32());
  }
  popcnt(r8d, bits_.cvt32());
  popcnt(r9d, eax);
  sub(r8, r9);
  add(qword[rsp + kCounterSlot + int(8 * s)], r8);
  Label done, top;
  test(eax, eax);
  jz(done);
  lea(r11, ptr[rsp + group_ + kAccSlot]);
  mov(rcx, group_);
  shr(rcx, 3);
  add(rcx, start_);
  add(rcx, base_);  // index of record 0 of the group
  L(top);
  bsf(r9d, eax);
  lea(r8, ptr[rcx + r9]);
  mov(qword[out_], r8);
  mov(r8, qword[r11 + r9 * 8]);  // the distance, < 2^32; the upper half is Hit::reserved = 0
  mov(qword[out_ + 8], r8);
  add(out_, 16);
  lea(r8, ptr[rax - 1]);
  and_(rax, r8);
  jnz(top);
  L(done);
}

void SweepEmitter::stage(size_t s, Label &next_block) {
  const CascadeStage &st = plan_.cascade.stages[s];
  const bool last = s + 1 == plan_.cascade.stages.size();
  // Words read: every active record enters this stage.
  popcnt(rax, active_);
  imul(rax, rax, int(st.words));
  add(qword[rsp + kWordsSlot], rax);
  mov(left_, active_);
  Label top, stage_end;
  L(top);
  next_group(stage_end);
  if (avx512_) {
    if (s == 0) {
      vpxorq(Zmm(0), Zmm(0), Zmm(0));
    } else {
      vmovdqu64(Zmm(0), ptr[rsp + group_ + kAccSlot]);
    }
    vpxorq(Zmm(5), Zmm(5), Zmm(5));
  } else if (s == 0) {
    vpxor(Ymm(0), Ymm(0), Ymm(0));
    vpxor(Ymm(1), Ymm(1), Ymm(1));
  } else {
    vmovdqu(Ymm(0), ptr[rsp + group_ + kAccSlot]);
    vmovdqu(Ymm(1), ptr[rsp + group_ + kAccSlot + 32]);
  }
  for (const Segment &seg : st.segments) accumulate_segment(seg);
  if (avx512_) vpaddq(Zmm(0), Zmm(0), Zmm(5));
  if (last) {
    hits_and_count(s);
  } else {
    if (avx512_) {
      vmovdqu64(ptr[rsp + group_ + kAccSlot], Zmm(0));
    } else {
      vmovdqu(ptr[rsp + group_ + kAccSlot], Ymm(0));
      vmovdqu(ptr[rsp + group_ + kAccSlot + 32], Ymm(1));
    }
    reject_and_count(s);
  }
  jmp(top);
  L(stage_end);
  if (!last) {
    test(active_, active_);
    jz(next_block);
  }
}

// A full block entering a non-final exact first stage of at most 8 words (the common case:
// K0 = 1 word) needs no group selection: all 8 groups are processed straight-line and their
// survivor masks joined into the 64-bit active set. The general loop spends ~30 instructions per
// group on picking it and updating the set; this spends ~8, which is what a near-duplicate
// search that rejects almost every record at its first word runs at (measured: bench_blocked).
// It loads the first word straight into the accumulator instead of reusing accumulate_segment
// (zeroed zmm0/zmm5, a fixed group register): the reuse measured ~10% slower warm and cold.
bool SweepEmitter::has_full_block_first_stage() const {
  const auto &stages = plan_.cascade.stages;
  if (!avx512_ || stages.size() < 2 || stages[0].statistical_bound != UINT32_MAX) return false;
  uint32_t words = 0;
  for (const Segment &seg : stages[0].segments) words += seg.n_words;
  return words <= 8;
}

void SweepEmitter::full_block_first_stage(Label &next_block) {
  const CascadeStage &st = plan_.cascade.stages[0];
  std::vector<std::pair<uint32_t, uint64_t>> words;  // (word, mask)
  for (const Segment &seg : st.segments) {
    for (uint32_t i = 0; i < seg.n_words; ++i) {
      words.emplace_back(seg.first_word + i, seg.full ? ~uint64_t{0} : seg.mask);
    }
  }
  add(qword[rsp + kWordsSlot], int(kSub * st.words));
  for (uint32_t g = 0; g < 8; ++g) {
    const Zmm acc(g % 2 ? 5 : 0), t(1 + int(g % 2));
    for (size_t i = 0; i < words.size(); ++i) {
      const auto [w, mask] = words[i];
      const Zmm dst = i == 0 ? acc : t;
      vmovdqu64(dst, ptr[block_ + w * word_stride_ + g * 64]);
      vpxorq(dst, dst, ptr_b[query_ + w * 8]);
      if (mask != ~uint64_t{0}) vpandq(dst, dst, ptr_b[rip + lanes(mask)]);
      vpopcntq(dst, dst);
      if (i) vpaddq(acc, acc, dst);
    }
    vmovdqu64(ptr[rsp + kAccSlot + int(g * 64)], acc);
    // Survivors of group g: partial < limit. k1..k4 collect two groups each.
    const Xbyak::Opmask pair(1 + int(g / 2)), high(5);
    if (g % 2 == 0) {
      vpcmpuq(pair, acc, Zmm(31), 1);  // LT
    } else {
      vpcmpuq(high, acc, Zmm(31), 1);
      kunpckbw(pair, high, pair);  // bits 0..7 group g - 1, 8..15 group g
    }
  }
  kunpckwd(k1, k2, k1);
  kunpckwd(k3, k4, k3);
  kunpckdq(k1, k3, k1);
  kmovq(active_, k1);
  popcnt(rax, active_);
  neg(rax);
  add(rax, int(kSub));
  add(qword[rsp + kCounterSlot], rax);  // rejected by the first stage
  test(active_, active_);
  jz(next_block);
}

void SweepEmitter::emit() {
  prologue();
  Label block_top, next_block, done, full_block;
  L(block_top);
  cmp(start_, end_);
  jae(done);
  // Active records of this block: [0, min(64, n_records - start)) minus the reserved ones.
  mov(rcx, end_);
  sub(rcx, start_);
  mov(active_, -1);
  cmp(rcx, 64);
  jae(full_block);
  mov(ebp, 1);
  shl(active_, cl);
  dec(active_);
  L(full_block);
  {
    // Reserved records of this sub-block: the low min(reserved left, 64) bits.
    Label all_reserved;
    mov(rcx, qword[rsp + kReservedSlot]);
    mov(rax, -1);
    mov(r8, rcx);
    sub(r8, kSub);
    jae(all_reserved);  // 64 or more left: the whole sub-block, and 64 fewer after it
    xor_(r8d, r8d);
    mov(eax, 1);
    shl(rax, cl);
    dec(rax);
    L(all_reserved);
    mov(qword[rsp + kReservedSlot], r8);
    not_(rax);
    and_(active_, rax);
  }
  prefetch_ahead();
  size_t first = 0;
  if (has_full_block_first_stage()) {
    Label partial_block, first_done;
    cmp(active_, -1);
    jne(partial_block);
    full_block_first_stage(next_block);
    jmp(first_done);
    L(partial_block);
    stage(0, next_block);
    L(first_done);
    first = 1;
  }
  for (size_t s = first; s < plan_.cascade.stages.size(); ++s) stage(s, next_block);
  L(next_block);
  // Calls start on a block boundary, so start_ is a multiple of B exactly when a block ends.
  add(start_, kSub);
  if (block_records_ > kSub) {
    Label same_block;
    test(start_.cvt32(), block_records_ - 1);
    jnz(same_block);
    add(block_, uint32_t(block_records_ * plan_.record_bytes - (block_records_ - kSub) * 8));
    jmp(block_top);
    L(same_block);
    add(block_, kSub * 8);
  } else {
    add(block_, uint32_t(kSub * plan_.record_bytes));
  }
  jmp(block_top);
  L(done);
  epilogue();
  constants_.emit(*this);
}

}  // namespace

std::shared_ptr<CompiledCode> compile_xbyak_sweep(const ScanPlan &plan, CodeArena &arena) {
  xbyak_common::require_xbyak_isa(plan, "sweeps");
  const Cascade &c = plan.cascade;
  if (c.block_records < kSub || c.block_records % kSub != 0 ||
      (c.block_records & (c.block_records - 1)) != 0 || c.record_bytes != plan.record_bytes ||
      c.record_bytes % 8 != 0 || c.stages.empty() || c.stages.size() > size_t(kMaxStages) ||
      uint64_t(c.block_records) * c.record_bytes > 0x3fffffffULL) {
    throw Error(ErrorKind::internal,
                "xbyak sweep: the plan's cascade is not a cascade of 1..8 stages over blocks of "
                "a power-of-two multiple of 64 records (B = " +
                    std::to_string(c.block_records) + ")");
  }
  for (const CascadeStage &st : c.stages) {
    for (const Segment &seg : st.segments) {
      if (uint64_t(seg.first_word) + seg.n_words > plan.record_words ||
          (!seg.full && seg.n_words != 1)) {
        throw Error(ErrorKind::internal,
                    "xbyak sweep: malformed segment at word " + std::to_string(seg.first_word));
      }
    }
  }
  size_t capacity = 16384;
  for (const CascadeStage &st : c.stages) capacity += 400 * st.segments.size();
  return xbyak_common::emit_and_install<SweepEmitter>(
      arena, capacity, "xbyak sweep", [](SweepEmitter &emitter) { emitter.emit(); }, plan);
}

}  // namespace jitson
