// The LLVM code generator of Tanimoto row kernels: one IR function per ScanPlan with the results
// and counters of scan_block_tanimoto (runtime/scan.cpp), built and linked by build_llvm_kernel
// like the Hamming kernels of jit/llvm_scan.cpp.
//
// Per record the kernel sums two popcounts over each stage's focused words, d = |(q ⊕ r) ∧ f|
// and u = |(q ∨ r) ∧ f| (cumulative over the stages seen), instead of the runtime's c and b:
// u − c = d, so the rules of jitson/metric.hpp become, with limit zero-extended to 64 bits,
//   keep:   d·K < limit·max(u, 1)    (u ≥ 1: c·K > (K − limit)·u ⟺ limit·u > (u − c)·K; u = 0
//                                     means d = 0, and 0 < limit is tanimoto_keeps' u = 0 rule;
//                                     limit > K keeps all since d ≤ u)
//   rank:   d·K / max(u, 1)          (d = 0 when u = 0: rank 0)
//   reject: den ≠ 0 ∧ d·K ≥ limit·den, den = a_left + u  (den is tanimoto_stage_rejects' a + b − c,
//           its num = c + a_left = den − d; limit > K never rejects since d ≤ den)
// All products stay below 2^49 (d, u, den ≤ 2^17, K and limit < 2^32), so no rule needs the
// limit > K special case of the header and no rule divides; only a kept record's rank does.
#include "jit/llvm_tanimoto.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <llvm/IR/BasicBlock.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsX86.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Metadata.h>
#include <llvm/IR/Module.h>

#include "jit/backend.hpp"
#include "jit/llvm_internal.hpp"
#include "jit/llvm_jit.hpp"
#include "jitson/error.hpp"
#include "jitson/metric.hpp"
#include "jitson/scan.hpp"

namespace jitson {
namespace {

// A full run of more than straight_chunks vector chunks becomes a rolled loop of chunks_per_trip
// chunks per trip: each chunk costs two popcounts and two accumulators here, so straight code
// stops paying off sooner than in the Hamming kernel, and loops keep big records quick to compile.
// AVX2 halves both: its byte popcounts are ~6 instructions each, which doubles the code (and the
// compile time) of a straight run for the same bytes.
constexpr uint32_t straight_chunks(uint32_t vector_words) {
  return vector_words == 8 ? 8 : 4;
}
constexpr uint32_t chunks_per_trip(uint32_t vector_words) {
  return vector_words == 8 ? 4 : 2;
}
// AVX2 sums byte popcounts of up to this many chunks before widening (8 * 31 = 248 < 256).
constexpr uint32_t kMaxByteChunks = 31;
// A stage of more loads than this walks constant tables of them in a loop instead (scattered
// focus on big records would otherwise emit thousands of loads); AVX2 chunks cost twice the code.
constexpr size_t max_straight_pieces(uint32_t vector_words) {
  return vector_words == 8 ? 8 : 4;
}
// A stage spanning at most this many words counts the query's bits in straight code, not a loop.
constexpr uint32_t kStraightQueryWords = 8;
// Masked query pieces kept in registers across the records of a call (the rest is reloaded from
// L1 for each record): zmm / ymm chunks, and scalar words. Each record chunk needs two
// accumulators and two temporaries besides, hence fewer than the Hamming kernel keeps.
constexpr uint32_t kPreloadVectors512 = 16, kPreloadVectors256 = 6, kPreloadScalars = 4;

// One load of the record and the query: a scalar word (lanes == 1), or a chunk of vector_words
// words from `word`. AVX-512 loads only the lanes of lane_mask (masked-off lanes read nothing
// and are zero); AVX2 loads every lane, and and_masks is 0 on the lanes outside the stage.
struct Piece {
  uint32_t word = 0;
  uint32_t lanes = 1;
  uint32_t lane_mask = 1;
  bool needs_and = false;
  std::array<uint64_t, 8> and_masks{};
};

// chunks_per_trip * trips whole chunks from first_word, as a rolled loop.
struct LoopRun {
  uint32_t first_word = 0;
  uint32_t trips = 0;
};

struct StageLayout {
  std::vector<LoopRun> loops;
  std::vector<Piece> pieces;
  bool tabled = false;  // pieces walked as constant tables by a loop
};

std::vector<StageLayout> layout_stages(const Cascade &cascade, uint32_t vector_words) {
  const bool masked_loads = vector_words == 8;
  const uint32_t record_words = cascade.record_bytes / 8;
  std::vector<StageLayout> layouts;
  for (const CascadeStage &stage : cascade.stages) {
    StageLayout layout;
    std::vector<std::pair<uint32_t, uint64_t>> words;  // focused word, its mask
    for (const Segment &seg : stage.segments) {
      if (seg.first_word + uint64_t(seg.n_words) > record_words)
        throw Error(ErrorKind::internal, "LLVM Tanimoto: a plan segment lies outside the record");
      const uint32_t end = seg.first_word + seg.n_words;
      // Loops cover whole chunks aligned to the record, so their loads stay within cache lines
      // when records are line-aligned; the words around them become pieces.
      const uint32_t aligned = (seg.first_word + vector_words - 1) / vector_words * vector_words;
      uint32_t loop_begin = end, loop_end = end;
      const uint32_t per_trip = chunks_per_trip(vector_words);
      if (seg.full && aligned < end &&
          (end - aligned) / vector_words > straight_chunks(vector_words)) {
        const uint32_t trips = (end - aligned) / vector_words / per_trip;
        layout.loops.push_back(LoopRun{aligned, trips});
        loop_begin = aligned;
        loop_end = aligned + trips * per_trip * vector_words;
      }
      const uint64_t mask = seg.full ? ~uint64_t{0} : seg.mask;
      for (uint32_t word = seg.first_word; word < end; ++word) {
        if ((word < loop_begin || word >= loop_end) && mask != 0) words.emplace_back(word, mask);
      }
    }
    std::sort(words.begin(), words.end());
    // Windows of vector_words words aligned to the record: one chunk if at least two of its
    // words are in the stage (AVX2 also needs the whole window inside the record, since it
    // loads every lane; words of the record outside the stage are masked to zero), else words.
    for (size_t i = 0; i < words.size();) {
      const uint32_t first = words[i].first - words[i].first % vector_words;
      size_t j = i;
      while (j < words.size() && words[j].first < first + vector_words) ++j;
      if (j - i < 2 || (!masked_loads && first + vector_words > record_words)) {
        for (; i < j; ++i) {
          Piece p;
          p.word = words[i].first;
          p.and_masks[0] = words[i].second;
          p.needs_and = words[i].second != ~uint64_t{0};
          layout.pieces.push_back(p);
        }
        continue;
      }
      Piece p;
      p.word = first;
      p.lanes = vector_words;
      p.lane_mask = masked_loads ? 0 : (1u << vector_words) - 1;
      for (; i < j; ++i) {
        const uint32_t lane = words[i].first - first;
        if (masked_loads) p.lane_mask |= 1u << lane;
        p.and_masks[lane] = words[i].second;
      }
      for (uint32_t lane = 0; lane < vector_words; ++lane) {
        // Masked-off lanes load as zero already; any other lane not wholly focused needs the AND.
        if (((p.lane_mask >> lane) & 1) && p.and_masks[lane] != ~uint64_t{0}) p.needs_and = true;
      }
      layout.pieces.push_back(p);
    }
    layout.tabled = layout.pieces.size() > max_straight_pieces(vector_words);
    layouts.push_back(std::move(layout));
  }
  return layouts;
}

class TanimotoEmitter {
 public:
  TanimotoEmitter(const ScanPlan &plan, const LlvmIsaTarget &target, llvm::Module &module)
      : plan_(plan),
        target_(target),
        module_(module),
        ctx_(module.getContext()),
        b_(ctx_),
        i1_(llvm::Type::getInt1Ty(ctx_)),
        i8_(llvm::Type::getInt8Ty(ctx_)),
        i32_(llvm::Type::getInt32Ty(ctx_)),
        i64_(llvm::Type::getInt64Ty(ctx_)),
        ptr_(llvm::PointerType::getUnqual(ctx_)),
        vector_words_(target.vector_words),
        chunk_type_(llvm::FixedVectorType::get(i64_, vector_words_)),
        bytes_type_(vector_words_ == 4 ? llvm::FixedVectorType::get(i8_, 32) : nullptr),
        layouts_(layout_stages(plan.cascade, vector_words_)) {
    if (plan.cascade.stages.size() == 1)
      stream_ahead_ = uint64_t(plan.prefetch_records) * plan.record_bytes;
  }

  void emit(const std::string &name);

 private:
  // Popcounts of one stage in two channels: 0 = d, 1 = u.
  struct Accumulator {
    std::array<std::vector<llvm::Value *>, 2> chunks;  // per chunk (AVX2: byte counts)
    std::array<std::vector<llvm::Value *>, 2> wide;    // chunk_type_ sums
    std::array<llvm::Value *, 2> scalar{};             // i64 sums of scalar words
  };
  using Sums = std::array<llvm::Value *, 2>;  // i64

  llvm::Value *byte_ptr(llvm::Value *base, uint64_t offset) {
    return b_.CreateConstGEP1_64(i8_, base, offset);
  }
  llvm::Instruction *tag_input(llvm::Instruction *load) {
    // Records and the query are only read: their loads may move across the stores to out[].
    load->setMetadata(llvm::LLVMContext::MD_alias_scope, input_scope_);
    load->setMetadata(llvm::LLVMContext::MD_noalias, output_scope_);
    return load;
  }
  llvm::Value *popcount(llvm::Value *x) {
    // AVX2: per-byte counts (VPSHUFB nibble lookups), widened later for many chunks at once.
    if (bytes_type_ && x->getType() == chunk_type_) x = b_.CreateBitCast(x, bytes_type_);
    return b_.CreateUnaryIntrinsic(llvm::Intrinsic::ctpop, x);
  }
  llvm::Value *widen_bytes(llvm::Value *bytes) {
    return b_.CreateIntrinsic(llvm::Intrinsic::x86_avx2_psad_bw, {},
                              {bytes, llvm::Constant::getNullValue(bytes_type_)});
  }
  llvm::Value *tree_sum(std::vector<llvm::Value *> values);
  llvm::Constant *and_mask(const Piece &piece);
  llvm::Value *load_piece(const Piece &piece, llvm::Value *base);
  llvm::Value *query_piece(const Piece &piece);
  void add(Accumulator &acc, size_t channel, llvm::Value *count);
  Sums finish(Accumulator &acc);

  Sums emit_stage(const StageLayout &layout);
  void emit_piece(Accumulator &acc, const Piece &piece);
  void emit_loops(Accumulator &acc, const std::vector<LoopRun> &runs);
  void emit_table(Accumulator &acc, const std::vector<Piece> &pieces, bool vector);
  void preload_query();
  std::vector<llvm::Value *> query_bits();
  llvm::Value *table(llvm::Constant *data, unsigned align);
  llvm::MDNode *no_unroll_loop_id();

  void emit_prefetch(llvm::Value *record);
  void stream_prefetch(uint64_t offset);
  void stream_prefetch(llvm::Value *offset);
  llvm::Value *load_arg(llvm::Type *type, size_t offset, const char *name) {
    return b_.CreateAlignedLoad(type, byte_ptr(args_, offset), llvm::Align(type == i32_ ? 4 : 8),
                                name);
  }
  void bump_slot(llvm::Value *slot) {
    b_.CreateStore(b_.CreateAdd(b_.CreateLoad(i64_, slot), b_.getInt64(1)), slot);
  }

  const ScanPlan &plan_;
  const LlvmIsaTarget &target_;
  llvm::Module &module_;
  llvm::LLVMContext &ctx_;
  llvm::IRBuilder<> b_;
  llvm::Type *i1_, *i8_, *i32_, *i64_, *ptr_;
  uint32_t vector_words_;
  llvm::FixedVectorType *chunk_type_;  // <vector_words x i64>
  llvm::FixedVectorType *bytes_type_;  // <32 x i8> (AVX2), else null
  std::vector<StageLayout> layouts_;
  uint64_t stream_ahead_ = 0;  // single-stage plans: bytes ahead to prefetch each line
  std::vector<bool> window_prefetched_;
  llvm::Function *fn_ = nullptr;
  llvm::Value *args_ = nullptr, *query_ = nullptr, *record_ = nullptr;
  llvm::MDNode *input_scope_ = nullptr, *output_scope_ = nullptr;
  // q ∧ f of a piece of layouts_ (a window may hold pieces of two stages with different masks).
  std::map<const Piece *, llvm::Value *> preloaded_;
};

llvm::Value *TanimotoEmitter::tree_sum(std::vector<llvm::Value *> values) {
  while (values.size() > 1) {
    std::vector<llvm::Value *> next;
    for (size_t i = 0; i + 1 < values.size(); i += 2)
      next.push_back(b_.CreateAdd(values[i], values[i + 1]));
    if (values.size() % 2) next.push_back(values.back());
    values = std::move(next);
  }
  return values.empty() ? nullptr : values[0];
}

llvm::Constant *TanimotoEmitter::and_mask(const Piece &piece) {
  if (piece.lanes == 1) return b_.getInt64(piece.and_masks[0]);
  std::vector<llvm::Constant *> masks;
  for (uint32_t lane = 0; lane < piece.lanes; ++lane)
    masks.push_back(llvm::ConstantInt::get(i64_, piece.and_masks[lane]));
  return llvm::ConstantVector::get(masks);
}

llvm::Value *TanimotoEmitter::load_piece(const Piece &piece, llvm::Value *base) {
  llvm::Value *address = byte_ptr(base, uint64_t(piece.word) * 8);
  if (piece.lanes == 1) return tag_input(b_.CreateAlignedLoad(i64_, address, llvm::Align(1)));
  if (piece.lane_mask == (1u << piece.lanes) - 1)
    return tag_input(b_.CreateAlignedLoad(chunk_type_, address, llvm::Align(1)));
  // Masked-off lanes are not accessed (AVX-512 fault suppression): the chunk may reach past the
  // record, the block or the query without reading there.
  std::vector<llvm::Constant *> lanes;
  for (uint32_t lane = 0; lane < piece.lanes; ++lane)
    lanes.push_back(llvm::ConstantInt::get(i1_, (piece.lane_mask >> lane) & 1));
  return tag_input(b_.CreateMaskedLoad(chunk_type_, address, llvm::Align(1),
                                       llvm::ConstantVector::get(lanes),
                                       llvm::Constant::getNullValue(chunk_type_)));
}

// q ∧ f for the piece: from a register if preloaded, else loaded (from L1) for this record.
llvm::Value *TanimotoEmitter::query_piece(const Piece &piece) {
  auto it = preloaded_.find(&piece);
  if (it != preloaded_.end()) return it->second;
  llvm::Value *q = load_piece(piece, query_);
  return piece.needs_and ? b_.CreateAnd(q, and_mask(piece)) : q;
}

void TanimotoEmitter::add(Accumulator &acc, size_t channel, llvm::Value *count) {
  if (!count->getType()->isVectorTy()) {
    llvm::Value *&sum = acc.scalar[channel];
    sum = sum ? b_.CreateAdd(sum, count) : count;
    return;
  }
  std::vector<llvm::Value *> &chunks = acc.chunks[channel];
  chunks.push_back(count);
  if (bytes_type_ && chunks.size() == kMaxByteChunks) {
    acc.wide[channel].push_back(widen_bytes(tree_sum(chunks)));
    chunks.clear();
  }
}

TanimotoEmitter::Sums TanimotoEmitter::finish(Accumulator &acc) {
  std::array<llvm::Value *, 2> wide{};
  for (size_t ch = 0; ch < 2; ++ch) {
    if (llvm::Value *chunks = tree_sum(acc.chunks[ch]))
      acc.wide[ch].push_back(bytes_type_ ? widen_bytes(chunks) : chunks);
    wide[ch] = tree_sum(acc.wide[ch]);
  }
  Sums sums{};
  if (wide[0] && wide[1]) {
    // One horizontal reduction for both channels: every lane holds at most 2^16 + 64 < 2^32
    // bits of either, so d's lanes never carry into u's upper halves, nor their sums.
    llvm::Value *packed = b_.CreateAdd(wide[0], b_.CreateShl(wide[1], 32));
    llvm::Value *total = b_.CreateAddReduce(packed);
    sums[0] = b_.CreateAnd(total, b_.getInt64(0xffffffff));
    sums[1] = b_.CreateLShr(total, 32);
  } else {
    for (size_t ch = 0; ch < 2; ++ch) {
      if (wide[ch]) sums[ch] = b_.CreateAddReduce(wide[ch]);
    }
  }
  for (size_t ch = 0; ch < 2; ++ch) {
    if (acc.scalar[ch])
      sums[ch] = sums[ch] ? b_.CreateAdd(sums[ch], acc.scalar[ch]) : acc.scalar[ch];
    if (!sums[ch]) sums[ch] = b_.getInt64(0);
  }
  acc = Accumulator{};
  return sums;
}

void TanimotoEmitter::emit_piece(Accumulator &acc, const Piece &piece) {
  stream_prefetch(uint64_t(piece.word) * 8);
  llvm::Value *q = query_piece(piece);
  llvm::Value *r = load_piece(piece, record_);
  // (q ∧ f) ⊕ (r ∧ f) = (q ⊕ r) ∧ f and likewise for ∨: one AND per record piece.
  if (piece.needs_and) r = b_.CreateAnd(r, and_mask(piece));
  add(acc, 0, popcount(b_.CreateXor(q, r)));
  add(acc, 1, popcount(b_.CreateOr(q, r)));
}

llvm::MDNode *TanimotoEmitter::no_unroll_loop_id() {
  llvm::MDNode *no_unroll =
      llvm::MDNode::get(ctx_, {llvm::MDString::get(ctx_, "llvm.loop.unroll.disable")});
  llvm::MDNode *loop_id = llvm::MDNode::getDistinct(ctx_, {nullptr, no_unroll});
  loop_id->replaceOperandWith(0, loop_id);
  return loop_id;
}

// The stage's runs as one rolled loop (LLVM must not unroll it) of chunks_per_trip whole chunks
// per trip, the query chunks from L1 on every trip. Several runs (a focus of several ranges) share
// the loop through a constant table of trip offsets: one loop body to compile, not one per run.
void TanimotoEmitter::emit_loops(Accumulator &acc, const std::vector<LoopRun> &runs) {
  const uint64_t chunk_bytes = uint64_t(vector_words_) * 8,
                 trip_bytes = chunks_per_trip(vector_words_) * chunk_bytes;
  std::vector<uint64_t> trip_offsets;
  for (const LoopRun &run : runs) {
    for (uint32_t t = 0; t < run.trips; ++t)
      trip_offsets.push_back(uint64_t(run.first_word) * 8 + t * trip_bytes);
  }
  llvm::Value *offset_table =
      runs.size() > 1 ? table(llvm::ConstantDataArray::get(ctx_, trip_offsets), 8) : nullptr;
  llvm::BasicBlock *preheader = b_.GetInsertBlock();
  llvm::BasicBlock *body = llvm::BasicBlock::Create(ctx_, "run", fn_);
  llvm::BasicBlock *after = llvm::BasicBlock::Create(ctx_, "run.end", fn_);
  b_.CreateBr(body);
  b_.SetInsertPoint(body);
  llvm::PHINode *trip = b_.CreatePHI(i64_, 2, "trip");
  trip->addIncoming(b_.getInt64(0), preheader);
  // AVX2: byte counts of every trip fit a byte (at most 8 per chunk) up to kMaxByteChunks chunks,
  // so a short loop widens them once after the loop instead of once per trip.
  const uint64_t chunks = trip_offsets.size() * chunks_per_trip(vector_words_);
  const bool byte_sums = bytes_type_ && chunks <= kMaxByteChunks;
  llvm::Type *sum_type = byte_sums ? static_cast<llvm::Type *>(bytes_type_) : chunk_type_;
  std::array<llvm::PHINode *, 2> sums{};
  for (size_t ch = 0; ch < 2; ++ch) {
    sums[ch] = b_.CreatePHI(sum_type, 2, "run.sum");
    sums[ch]->addIncoming(llvm::Constant::getNullValue(sum_type), preheader);
  }
  llvm::Value *base =
      offset_table
          ? b_.CreateAlignedLoad(i64_, b_.CreateGEP(i64_, offset_table, trip), llvm::Align(8))
          : b_.CreateAdd(b_.getInt64(trip_offsets[0]), b_.CreateMul(trip, b_.getInt64(trip_bytes)));
  std::array<std::vector<llvm::Value *>, 2> counts;
  for (uint32_t c = 0; c < chunks_per_trip(vector_words_); ++c) {
    llvm::Value *offset = b_.CreateAdd(base, b_.getInt64(c * chunk_bytes));
    llvm::Value *q = tag_input(
        b_.CreateAlignedLoad(chunk_type_, b_.CreateGEP(i8_, query_, offset), llvm::Align(1)));
    if ((trip_offsets[0] + c * chunk_bytes) % 64 == 0) stream_prefetch(offset);
    llvm::Value *r = tag_input(
        b_.CreateAlignedLoad(chunk_type_, b_.CreateGEP(i8_, record_, offset), llvm::Align(1)));
    counts[0].push_back(popcount(b_.CreateXor(q, r)));
    counts[1].push_back(popcount(b_.CreateOr(q, r)));
  }
  std::array<llvm::Value *, 2> next_sums{};
  for (size_t ch = 0; ch < 2; ++ch) {
    llvm::Value *trip_sum = tree_sum(counts[ch]);
    if (bytes_type_ && !byte_sums) trip_sum = widen_bytes(trip_sum);
    next_sums[ch] = b_.CreateAdd(sums[ch], trip_sum);
    sums[ch]->addIncoming(next_sums[ch], body);
  }
  llvm::Value *next_trip = b_.CreateAdd(trip, b_.getInt64(1));
  trip->addIncoming(next_trip, body);
  auto *branch =
      b_.CreateCondBr(b_.CreateICmpULT(next_trip, b_.getInt64(trip_offsets.size())), body, after);
  branch->setMetadata(llvm::LLVMContext::MD_loop, no_unroll_loop_id());
  b_.SetInsertPoint(after);
  for (size_t ch = 0; ch < 2; ++ch)
    acc.wide[ch].push_back(byte_sums ? widen_bytes(next_sums[ch]) : next_sums[ch]);
}

llvm::Value *TanimotoEmitter::table(llvm::Constant *data, unsigned align) {
  auto *global = new llvm::GlobalVariable(module_, data->getType(), true,
                                          llvm::GlobalValue::PrivateLinkage, data, "table");
  global->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
  global->setAlignment(llvm::Align(align));
  return global;
}

// One loop over constant tables of pieces (byte offset, AVX-512 lane mask, AND masks): vector
// chunks (vector) or scalar words.
void TanimotoEmitter::emit_table(Accumulator &acc, const std::vector<Piece> &pieces, bool vector) {
  const uint32_t lanes = vector ? vector_words_ : 1;
  llvm::Type *value_type = vector ? static_cast<llvm::Type *>(chunk_type_) : i64_;
  std::vector<uint64_t> offsets, masks;
  std::vector<uint8_t> lane_masks;
  for (const Piece &piece : pieces) {
    offsets.push_back(uint64_t(piece.word) * 8);
    lane_masks.push_back(uint8_t(piece.lane_mask));
    for (uint32_t lane = 0; lane < lanes; ++lane) masks.push_back(piece.and_masks[lane]);
  }
  llvm::Value *offset_table = table(llvm::ConstantDataArray::get(ctx_, offsets), 8);
  llvm::Value *mask_table = table(llvm::ConstantDataArray::get(ctx_, masks), 64);
  const bool masked_loads = vector && vector_words_ == 8;
  llvm::Value *lane_table =
      masked_loads ? table(llvm::ConstantDataArray::get(ctx_, lane_masks), 1) : nullptr;

  llvm::BasicBlock *preheader = b_.GetInsertBlock();
  llvm::BasicBlock *body = llvm::BasicBlock::Create(ctx_, "pieces", fn_);
  llvm::BasicBlock *after = llvm::BasicBlock::Create(ctx_, "pieces.end", fn_);
  b_.CreateBr(body);
  b_.SetInsertPoint(body);
  llvm::PHINode *index = b_.CreatePHI(i64_, 2, "piece");
  index->addIncoming(b_.getInt64(0), preheader);
  llvm::Type *sum_type = vector ? static_cast<llvm::Type *>(chunk_type_) : i64_;
  std::array<llvm::PHINode *, 2> sums{};
  for (size_t ch = 0; ch < 2; ++ch) {
    sums[ch] = b_.CreatePHI(sum_type, 2, "pieces.sum");
    sums[ch]->addIncoming(llvm::Constant::getNullValue(sum_type), preheader);
  }
  llvm::Value *offset =
      b_.CreateAlignedLoad(i64_, b_.CreateGEP(i64_, offset_table, index), llvm::Align(8));
  llvm::Value *mask = b_.CreateAlignedLoad(value_type, b_.CreateGEP(value_type, mask_table, index),
                                           llvm::Align(vector ? 32 : 8));
  auto load = [&](llvm::Value *base) -> llvm::Value * {
    llvm::Value *address = b_.CreateGEP(i8_, base, offset);
    if (!masked_loads) return tag_input(b_.CreateAlignedLoad(value_type, address, llvm::Align(1)));
    // Masked-off lanes are not accessed (AVX-512 fault suppression), as for straight pieces.
    llvm::Value *bits =
        b_.CreateAlignedLoad(i8_, b_.CreateGEP(i8_, lane_table, index), llvm::Align(1));
    return tag_input(b_.CreateMaskedLoad(chunk_type_, address, llvm::Align(1),
                                         b_.CreateBitCast(bits, llvm::FixedVectorType::get(i1_, 8)),
                                         llvm::Constant::getNullValue(chunk_type_)));
  };
  stream_prefetch(offset);
  llvm::Value *q = load(query_);
  llvm::Value *r = load(record_);
  const std::array<llvm::Value *, 2> counts = {popcount(b_.CreateAnd(b_.CreateXor(q, r), mask)),
                                               popcount(b_.CreateAnd(b_.CreateOr(q, r), mask))};
  std::array<llvm::Value *, 2> next_sums{};
  for (size_t ch = 0; ch < 2; ++ch) {
    llvm::Value *count = vector && bytes_type_ ? widen_bytes(counts[ch]) : counts[ch];
    next_sums[ch] = b_.CreateAdd(sums[ch], count);
    sums[ch]->addIncoming(next_sums[ch], body);
  }
  llvm::Value *next_index = b_.CreateAdd(index, b_.getInt64(1));
  index->addIncoming(next_index, body);
  auto *branch =
      b_.CreateCondBr(b_.CreateICmpULT(next_index, b_.getInt64(pieces.size())), body, after);
  branch->setMetadata(llvm::LLVMContext::MD_loop, no_unroll_loop_id());
  b_.SetInsertPoint(after);
  for (size_t ch = 0; ch < 2; ++ch) {
    if (vector) {
      acc.wide[ch].push_back(next_sums[ch]);
    } else {
      add(acc, ch, next_sums[ch]);
    }
  }
}

TanimotoEmitter::Sums TanimotoEmitter::emit_stage(const StageLayout &layout) {
  Accumulator acc;
  window_prefetched_.assign((plan_.record_bytes + 63) / 64, false);
  if (!layout.loops.empty()) emit_loops(acc, layout.loops);
  if (!layout.tabled) {
    for (const Piece &piece : layout.pieces) emit_piece(acc, piece);
    return finish(acc);
  }
  std::vector<Piece> vectors, scalars;
  for (const Piece &piece : layout.pieces) (piece.lanes > 1 ? vectors : scalars).push_back(piece);
  if (!vectors.empty()) emit_table(acc, vectors, true);
  if (!scalars.empty()) emit_table(acc, scalars, false);
  return finish(acc);
}

// q ∧ f of the first pieces, loaded once per call and kept in registers for every record.
void TanimotoEmitter::preload_query() {
  uint32_t vectors = vector_words_ == 8 ? kPreloadVectors512 : kPreloadVectors256;
  uint32_t scalars = kPreloadScalars;
  for (const StageLayout &layout : layouts_) {
    if (layout.tabled) continue;  // table loops load the query as they go
    for (const Piece &piece : layout.pieces) {
      uint32_t &budget = piece.lanes == 1 ? scalars : vectors;
      if (budget == 0) continue;
      --budget;
      llvm::Value *q = load_piece(piece, query_);
      preloaded_[&piece] = piece.needs_and ? b_.CreateAnd(q, and_mask(piece)) : q;
    }
  }
}

// The query's focused bits of each stage but the first, once per call, with scalar POPCNT over the
// words the stage spans (a loop, with a constant table of their masks unless all are full, when it
// spans more than kStraightQueryWords words). Compact IR whatever the focus: vector code per stage
// would add half a record's worth of code to compile, to save a few cycles per focused word and
// call (a call covers ~256 KB of records). Words of the span outside the stage are masked to
// zero; they lie inside the query, so reading them is allowed.
std::vector<llvm::Value *> TanimotoEmitter::query_bits() {
  std::vector<llvm::Value *> bits = {nullptr};  // stage 0's are never needed
  for (size_t s = 1; s < plan_.cascade.stages.size(); ++s) {
    const CascadeStage &stage = plan_.cascade.stages[s];
    uint32_t lo = UINT32_MAX, hi = 0;
    for (const Segment &seg : stage.segments) {
      if (seg.n_words == 0) continue;
      lo = std::min(lo, seg.first_word);
      hi = std::max(hi, seg.first_word + seg.n_words);
    }
    if (lo >= hi) {
      bits.push_back(b_.getInt64(0));
      continue;
    }
    std::vector<uint64_t> masks(hi - lo, 0);
    for (const Segment &seg : stage.segments) {
      for (uint32_t w = 0; w < seg.n_words; ++w)
        masks[seg.first_word + w - lo] = seg.full ? ~uint64_t{0} : seg.mask;
    }
    auto word_bits = [&](llvm::Value *word, llvm::Value *mask) {
      llvm::Value *address = b_.CreateGEP(i8_, query_, b_.CreateMul(word, b_.getInt64(8)));
      llvm::Value *q = tag_input(b_.CreateAlignedLoad(i64_, address, llvm::Align(1)));
      if (mask) q = b_.CreateAnd(q, mask);
      return b_.CreateUnaryIntrinsic(llvm::Intrinsic::ctpop, q);
    };
    if (masks.size() <= kStraightQueryWords) {
      std::vector<llvm::Value *> counts;
      for (uint32_t w = lo; w < hi; ++w) {
        const uint64_t mask = masks[w - lo];
        if (mask != 0)
          counts.push_back(
              word_bits(b_.getInt64(w), mask == ~uint64_t{0} ? nullptr : b_.getInt64(mask)));
      }
      bits.push_back(counts.empty() ? b_.getInt64(0) : tree_sum(counts));
      continue;
    }
    const bool all_full =
        std::all_of(masks.begin(), masks.end(), [](uint64_t m) { return m == ~uint64_t{0}; });
    llvm::Value *mask_table =
        all_full ? nullptr : table(llvm::ConstantDataArray::get(ctx_, masks), 8);
    llvm::BasicBlock *preheader = b_.GetInsertBlock();
    llvm::BasicBlock *body = llvm::BasicBlock::Create(ctx_, "qbits", fn_);
    llvm::BasicBlock *after = llvm::BasicBlock::Create(ctx_, "qbits.end", fn_);
    b_.CreateBr(body);
    b_.SetInsertPoint(body);
    llvm::PHINode *index = b_.CreatePHI(i64_, 2, "qbits.i");
    llvm::PHINode *sum = b_.CreatePHI(i64_, 2, "qbits.sum");
    index->addIncoming(b_.getInt64(0), preheader);
    sum->addIncoming(b_.getInt64(0), preheader);
    llvm::Value *mask = all_full ? nullptr
                                 : b_.CreateAlignedLoad(i64_, b_.CreateGEP(i64_, mask_table, index),
                                                        llvm::Align(8));
    llvm::Value *next_sum =
        b_.CreateAdd(sum, word_bits(b_.CreateAdd(index, b_.getInt64(lo)), mask));
    llvm::Value *next_index = b_.CreateAdd(index, b_.getInt64(1));
    index->addIncoming(next_index, body);
    sum->addIncoming(next_sum, body);
    b_.CreateCondBr(b_.CreateICmpULT(next_index, b_.getInt64(masks.size())), body, after)
        ->setMetadata(llvm::LLVMContext::MD_loop, no_unroll_loop_id());
    b_.SetInsertPoint(after);
    bits.push_back(next_sum);
  }
  return bits;
}

void TanimotoEmitter::stream_prefetch(uint64_t offset) {
  if (stream_ahead_ == 0 || window_prefetched_[offset / 64]) return;
  window_prefetched_[offset / 64] = true;
  stream_prefetch(b_.getInt64(offset));
}

void TanimotoEmitter::stream_prefetch(llvm::Value *offset) {
  if (stream_ahead_ == 0) return;
  // Prefetches never fault, so the address may lie past the block: a plain (not inbounds) GEP.
  llvm::Value *address =
      b_.CreateGEP(i8_, record_, b_.CreateAdd(offset, b_.getInt64(stream_ahead_)));
  b_.CreateIntrinsic(llvm::Intrinsic::prefetch, {ptr_},
                     {address, b_.getInt32(0), b_.getInt32(3), b_.getInt32(1)});
}

void TanimotoEmitter::emit_prefetch(llvm::Value *record) {
  // Prefetches never fault, so the address may lie past the block: plain (not inbounds) GEPs.
  const uint64_t ahead = uint64_t(plan_.prefetch_records) * plan_.record_bytes;
  for (uint32_t offset : llvm_probe_prefetch_offsets(plan_.cascade)) {
    llvm::Value *address = b_.CreateGEP(i8_, record, b_.getInt64(ahead + offset));
    b_.CreateIntrinsic(llvm::Intrinsic::prefetch, {ptr_},
                       {address, b_.getInt32(0), b_.getInt32(3), b_.getInt32(1)});
  }
}

void TanimotoEmitter::emit(const std::string &name) {
  const auto &stages = plan_.cascade.stages;
  const size_t n_stages = stages.size();
  if (n_stages == 0 || n_stages > size_t(kMaxStages))
    throw Error(ErrorKind::internal, "LLVM Tanimoto: a plan needs 1 to 8 cascade stages, got " +
                                         std::to_string(n_stages));

  fn_ = llvm::Function::Create(llvm::FunctionType::get(i64_, {ptr_}, false),
                               llvm::Function::ExternalLinkage, name, module_);
  fn_->addFnAttr(llvm::Attribute::NoUnwind);
  fn_->addFnAttr("target-cpu", target_.cpu);
  fn_->addFnAttr("target-features", target_.features);
  const std::string vector_bits = std::to_string(vector_words_ * 64);
  fn_->addFnAttr("min-legal-vector-width", vector_bits);
  fn_->addFnAttr("prefer-vector-width", vector_bits);
  fn_->addParamAttr(0, llvm::Attribute::NoCapture);
  fn_->addParamAttr(0, llvm::Attribute::NoAlias);

  llvm::MDBuilder md(ctx_);
  llvm::MDNode *domain = md.createAnonymousAliasScopeDomain("jitson.block");
  input_scope_ = llvm::MDNode::get(ctx_, {md.createAnonymousAliasScope(domain, "inputs")});
  output_scope_ = llvm::MDNode::get(ctx_, {md.createAnonymousAliasScope(domain, "outputs")});

  auto *entry = llvm::BasicBlock::Create(ctx_, "entry", fn_);
  auto *preload = llvm::BasicBlock::Create(ctx_, "preload", fn_);
  auto *loop = llvm::BasicBlock::Create(ctx_, "record", fn_);
  auto *next = llvm::BasicBlock::Create(ctx_, "next", fn_);
  auto *exit = llvm::BasicBlock::Create(ctx_, "exit", fn_);
  auto *done = llvm::BasicBlock::Create(ctx_, "done", fn_);

  b_.SetInsertPoint(entry);
  args_ = fn_->getArg(0);
  // Per-record state lives in allocas that SROA turns into registers. Records passing each
  // probe stage are counted and the rejects follow from them at the end, so a rejection costs
  // nothing beyond its branch.
  llvm::Value *hits_slot = b_.CreateAlloca(i64_, nullptr, "hits");
  std::vector<llvm::Value *> passed_slots;
  for (size_t s = 0; s + 1 < n_stages; ++s) passed_slots.push_back(b_.CreateAlloca(i64_));
  llvm::Value *record_slot = b_.CreateAlloca(ptr_, nullptr, "rec");
  llvm::Value *index_slot = b_.CreateAlloca(i64_, nullptr, "i");
  b_.CreateStore(b_.getInt64(0), index_slot);
  b_.CreateStore(b_.getInt64(0), hits_slot);
  for (auto *slot : passed_slots) b_.CreateStore(b_.getInt64(0), slot);

  query_ = load_arg(ptr_, offsetof(BlockArgs, query), "query");
  llvm::Value *records = load_arg(ptr_, offsetof(BlockArgs, records), "records");
  llvm::Value *n_records = load_arg(i64_, offsetof(BlockArgs, n_records), "n");
  llvm::Value *base_index = load_arg(i64_, offsetof(BlockArgs, base_index), "base");
  llvm::Value *limit =
      b_.CreateZExt(load_arg(i32_, offsetof(BlockArgs, limit), "limit32"), i64_, "limit");
  llvm::Value *out = load_arg(ptr_, offsetof(BlockArgs, out), "out");
  llvm::Value *counters = load_arg(ptr_, offsetof(BlockArgs, counters), "counters");
  b_.CreateStore(records, record_slot);
  // One past the block, never dereferenced: a plain GEP.
  llvm::Value *records_end =
      b_.CreateGEP(i8_, records, b_.CreateMul(n_records, b_.getInt64(plan_.record_bytes)));
  b_.CreateCondBr(b_.CreateICmpEQ(n_records, b_.getInt64(0)), done, preload);

  // Query work once per call, after the emptiness test (a block of no records reads nothing):
  // a_left after each probe stage, the query's focused bits of the stages after it (a itself is
  // never needed: den = a_left + u, and the last stage has u whole).
  b_.SetInsertPoint(preload);
  preload_query();
  const std::vector<llvm::Value *> stage_query_bits = query_bits();
  std::vector<llvm::Value *> a_left(n_stages - 1);
  for (size_t s = n_stages - 1; s-- > 0;) {
    a_left[s] = s + 2 < n_stages ? b_.CreateAdd(a_left[s + 1], stage_query_bits[s + 1])
                                 : stage_query_bits[s + 1];
  }
  llvm::Value *scale = b_.getInt64(kTanimotoScale);
  b_.CreateBr(loop);

  b_.SetInsertPoint(loop);
  record_ = b_.CreateLoad(ptr_, record_slot, "rec");
  llvm::Value *index = b_.CreateLoad(i64_, index_slot, "i");
  if (plan_.prefetch_records > 0 && n_stages > 1) emit_prefetch(record_);
  llvm::Value *d = nullptr, *u = nullptr;
  for (size_t s = 0; s < n_stages; ++s) {
    const Sums sums = emit_stage(layouts_[s]);
    d = d ? b_.CreateAdd(d, sums[0], "d") : sums[0];
    u = u ? b_.CreateAdd(u, sums[1], "u") : sums[1];
    if (s + 1 == n_stages) break;
    llvm::Value *den = b_.CreateAdd(u, a_left[s], "den");
    llvm::Value *rejects =
        b_.CreateAnd(b_.CreateICmpUGE(b_.CreateMul(d, scale), b_.CreateMul(limit, den)),
                     b_.CreateICmpNE(den, b_.getInt64(0)));
    auto *pass = llvm::BasicBlock::Create(ctx_, "pass", fn_, next);
    b_.CreateCondBr(rejects, next, pass);
    b_.SetInsertPoint(pass);
    bump_slot(passed_slots[s]);
  }
  llvm::Value *union_bits = b_.CreateSelect(b_.CreateICmpEQ(u, b_.getInt64(0)), b_.getInt64(1), u);
  llvm::Value *scaled = b_.CreateMul(d, scale, "dK");
  auto *hit = llvm::BasicBlock::Create(ctx_, "hit", fn_, next);
  b_.CreateCondBr(b_.CreateICmpULT(scaled, b_.CreateMul(limit, union_bits)), hit, next,
                  md.createUnlikelyBranchWeights());

  // out[hits++] = {base + i, rank, u}.
  b_.SetInsertPoint(hit);
  llvm::Value *hits = b_.CreateLoad(i64_, hits_slot);
  llvm::Value *slot = b_.CreateGEP(i8_, out, b_.CreateMul(hits, b_.getInt64(sizeof(Hit))));
  auto store_out = [&](llvm::Value *value, size_t offset, unsigned align) {
    auto *store = b_.CreateAlignedStore(value, byte_ptr(slot, offset), llvm::Align(align));
    store->setMetadata(llvm::LLVMContext::MD_alias_scope, output_scope_);
    store->setMetadata(llvm::LLVMContext::MD_noalias, input_scope_);
  };
  store_out(b_.CreateAdd(base_index, index), offsetof(Hit, index), 8);
  store_out(b_.CreateTrunc(b_.CreateUDiv(scaled, union_bits), i32_), offsetof(Hit, distance), 4);
  store_out(b_.CreateTrunc(u, i32_), offsetof(Hit, reserved), 4);
  b_.CreateStore(b_.CreateAdd(hits, b_.getInt64(1)), hits_slot);
  b_.CreateBr(next);

  emit_record_loop_end(b_, plan_,
                       {next, loop, exit, record_slot, index_slot, records_end, counters, n_records,
                        hits_slot, nullptr, passed_slots, output_scope_});
  b_.CreateRet(b_.CreateLoad(i64_, hits_slot));

  b_.SetInsertPoint(done);
  b_.CreateRet(b_.getInt64(0));
}

}  // namespace

std::shared_ptr<CompiledCode> compile_llvm_tanimoto(const ScanPlan &plan, LlvmJit &jit) {
  if (plan.cascade.metric != Metric::tanimoto)
    throw Error(ErrorKind::internal, "LLVM Tanimoto: the plan's metric is not tanimoto");
  if (plan.isa != Isa::avx512 && plan.isa != Isa::avx2) {
    throw Error(
        ErrorKind::unsupported,
        std::string("LLVM generates Tanimoto scans for avx512 or avx2; the plan asks for ") +
            isa_name(plan.isa));
  }
  for (const CascadeStage &stage : plan.cascade.stages) {
    // The runtime's Tanimoto cascade has no statistical bounds (configs cannot ask for them).
    if (stage.statistical_bound != UINT32_MAX)
      throw Error(ErrorKind::unsupported, "LLVM Tanimoto: statistical stage bounds");
  }
  const LlvmIsaTarget &target = jit.state().target(plan.isa);
  if (target.vector_words != (plan.isa == Isa::avx512 ? 8u : 4u))
    throw Error(ErrorKind::internal, "LLVM Tanimoto: unexpected vector width of the target");
  if (plan.record_bytes == 0 || plan.record_bytes % 8 != 0 ||
      plan.cascade.record_bytes != plan.record_bytes)
    throw Error(ErrorKind::internal, "LLVM Tanimoto: inconsistent plan record size");
  return build_llvm_kernel(jit, plan.isa, plan.key, "jitson_tanimoto",
                           [&](llvm::Module &module, const std::string &name) {
                             TanimotoEmitter(plan, target, module).emit(name);
                           });
}

}  // namespace jitson
