// The LLVM code generator: lowers a ScanPlan to one IR function with the semantics of
// scan_block_runtime (runtime/scan.cpp), optimises it, generates an object with a pooled target
// machine and links it into the engine's LLJIT under its own resource tracker.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <llvm/ADT/SmallVector.h>
#include <llvm/Analysis/CGSCCPassManager.h>
#include <llvm/Analysis/LoopAnalysisManager.h>
#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/Bitcode/BitcodeWriter.h>
#include <llvm/ExecutionEngine/Orc/Core.h>
#include <llvm/IR/BasicBlock.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsX86.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Metadata.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/PassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Object/ELFObjectFile.h>
#include <llvm/Object/ObjectFile.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/CodeGen.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/SmallVectorMemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Transforms/InstCombine/InstCombine.h>
#include <llvm/Transforms/Scalar/EarlyCSE.h>
#include <llvm/Transforms/Scalar/SROA.h>
#include <llvm/Transforms/Scalar/SimplifyCFG.h>

#include "jit/backend.hpp"
#include "jit/llvm_internal.hpp"
#include "jit/llvm_jit.hpp"
#include "jit/llvm_tanimoto.hpp"
#include "jitson/error.hpp"
#include "jitson/scan.hpp"

namespace jitson {
namespace {

// A full run longer than this many vector chunks becomes a rolled loop of kChunksPerTrip
// chunks per trip (PITFALLS: a fully unrolled 2 KB record reloading the query is slower in L2
// than a rolled loop). AVX-512 keeps a 2 KB record straight: with 32 zmm registers most of the
// query stays in registers, which halves the loads and beats the loop.
constexpr uint32_t kStraightChunks512 = 32, kStraightChunks = 16;
constexpr uint32_t kChunksPerTrip = 8;
// AVX2 sums byte popcounts of up to this many chunks before widening (8 * 31 = 248 < 256).
constexpr uint32_t kMaxByteChunks = 31;
// Query pieces of the first stages kept in registers across records (the rest is reloaded
// from L1 for each record): vector pieces, and scalar words.
// With a rolled loop in the kernel AVX-512 keeps 8 zmm for it.
constexpr uint32_t kPreloadVectors512 = 20, kPreloadVectors512Loop = 16, kPreloadVectors256 = 8;
constexpr uint32_t kPreloadScalars = 5;
// A stage of more pieces (loads) than this walks tables of them in a loop instead.
constexpr size_t kMaxStraightPieces = 32;
// Single-stage AVX-512 kernels of at most this many chunks process 8 records per trip.
constexpr size_t kGroupMaxChunks = 8;
constexpr uint32_t kGroupRecords = 8;

// ---------------------------------------------------------------------------------------------
// Layout: which loads each stage makes, decided before emitting IR.

// One load of the record (and of the query): a scalar word (lanes == 1), an AVX2 pair of words
// (lanes == 2, 16 bytes), or a vector chunk of vector_words words starting at `word`, of which
// lane_mask says which lanes are focused in this stage (AVX-512: the others are masked off,
// never read; AVX2: always all lanes).
struct Piece {
  uint32_t word = 0;
  uint32_t lanes = 1;
  uint32_t lane_mask = 1;
  bool needs_and = false;               // some focused lane is a partial word
  std::array<uint64_t, 8> and_masks{};  // per lane; 0 for lanes not loaded
};

// kChunksPerTrip * trips whole chunks from first_word, as a rolled loop.
struct LoopRun {
  uint32_t first_word = 0;
  uint32_t trips = 0;
};

struct StageLayout {
  std::vector<LoopRun> loops;
  std::vector<Piece> pieces;
  // Too many pieces to emit one by one: they become constant tables walked by a loop, which
  // bounds code size and compile time for scattered focus on big records.
  bool tabled = false;
};

struct WordUse {
  uint32_t word;
  uint64_t mask;
};

// min_lanes: focused words a masked (AVX-512) window needs to become a vector piece.
std::vector<StageLayout> layout_stages(const Cascade &cascade, uint32_t vector_words,
                                       bool masked_vectors, uint32_t straight_chunks,
                                       size_t min_lanes = 2) {
  const uint32_t record_words = cascade.record_bytes / 8;
  std::vector<StageLayout> layouts;
  for (const CascadeStage &stage : cascade.stages) {
    StageLayout layout;
    std::vector<WordUse> words;
    for (const Segment &seg : stage.segments) {
      if (seg.first_word + uint64_t(seg.n_words) > record_words)
        throw Error(ErrorKind::internal, "LLVM backend: a plan segment lies outside the record");
      const uint32_t end = seg.first_word + seg.n_words;
      const uint64_t mask = seg.full ? ~uint64_t{0} : seg.mask;
      // A long run loops over whole chunks aligned to the record (its loads then stay within
      // cache lines when records are line-aligned); the words around go to pieces.
      const uint32_t aligned = (seg.first_word + vector_words - 1) / vector_words * vector_words;
      uint32_t loop_begin = end, loop_end = end;
      if (seg.full && aligned < end && (end - aligned) / vector_words > straight_chunks) {
        const uint32_t trips = (end - aligned) / vector_words / kChunksPerTrip;
        layout.loops.push_back(LoopRun{aligned, trips});
        loop_begin = aligned;
        loop_end = aligned + trips * kChunksPerTrip * vector_words;
      }
      for (uint32_t word = seg.first_word; word < end; ++word) {
        if (word >= loop_begin && word < loop_end) continue;
        if (mask != 0) words.push_back(WordUse{word, mask});
      }
    }
    std::sort(words.begin(), words.end(),
              [](const WordUse &a, const WordUse &b) { return a.word < b.word; });
    // Windows of vector_words words aligned to the record, like the loops: one vector piece
    // if enough of its words are in the stage, else scalar words.
    for (size_t i = 0; i < words.size();) {
      const uint32_t first = words[i].word - words[i].word % vector_words;
      size_t j = i;
      while (j < words.size() && words[j].word < first + vector_words) ++j;
      const size_t count = j - i;
      const bool vector =
          vector_words > 1 && (masked_vectors ? count >= min_lanes : count == vector_words);
      if (!vector) {
        for (; i < j; ++i) {
          Piece p;
          p.word = words[i].word;
          p.and_masks[0] = words[i].mask;
          p.needs_and = words[i].mask != ~uint64_t{0};
          // AVX2 (no masked loads): two focused words of an aligned half window share a 16-byte
          // load.
          if (vector_words == 4 && p.word % 2 == 0 && i + 1 < j &&
              words[i + 1].word == p.word + 1) {
            p.lanes = 2;
            p.lane_mask = 3;
            p.and_masks[1] = words[i + 1].mask;
            p.needs_and |= words[i + 1].mask != ~uint64_t{0};
            ++i;
          }
          layout.pieces.push_back(p);
        }
        continue;
      }
      Piece p;
      p.word = first;
      p.lanes = vector_words;
      p.lane_mask = 0;
      for (size_t k = i; k < j; ++k) {
        const uint32_t lane = words[k].word - first;
        p.lane_mask |= 1u << lane;
        p.and_masks[lane] = words[k].mask;
        p.needs_and |= words[k].mask != ~uint64_t{0};
      }
      layout.pieces.push_back(p);
      i = j;
    }
    layout.tabled = layout.pieces.size() > kMaxStraightPieces;
    layouts.push_back(std::move(layout));
  }
  return layouts;
}

// ---------------------------------------------------------------------------------------------
// IR emission.

class ScanEmitter {
 public:
  ScanEmitter(const ScanPlan &plan, const LlvmIsaTarget &target, llvm::Module &module)
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
        vector_words_(target.vector_words) {
    if (plan.cascade.stages.size() == 1)
      stream_ahead_ = uint64_t(plan.prefetch_records) * plan.record_bytes;
    if (vector_words_ == 8) {
      chunk_type_ = llvm::FixedVectorType::get(i64_, 8);
    } else if (vector_words_ == 4) {
      chunk_type_ = llvm::FixedVectorType::get(i64_, 4);
      bytes_type_ = llvm::FixedVectorType::get(i8_, 32);
      pair_type_ = llvm::FixedVectorType::get(i64_, 2);
    } else {
      chunk_type_ = i64_;  // scalar code: a loop "chunk" is one word
    }
    // AVX-512 loads just the focused lanes of a chunk (masked-off lanes are never read, so a
    // chunk may reach past the record); AVX2 loads only chunks whose words are all focused.
    layouts_ = layout_stages(plan.cascade, vector_words_, vector_words_ == 8,
                             vector_words_ == 8 ? kStraightChunks512 : kStraightChunks);
    // AVX-512 with a single stage of at most kGroupMaxChunks chunks (single words as one-lane
    // chunks): 8 records per trip, their 8 distances reduced together into one vector and
    // compared with the limit at once (as the Xbyak backend does).
    if (vector_words_ == 8 && layouts_.size() == 1 && layouts_[0].loops.empty()) {
      auto grouped = layout_stages(plan.cascade, vector_words_, true, kStraightChunks512, 1);
      const auto &pieces = grouped[0].pieces;
      group_ =
          !pieces.empty() && pieces.size() <= kGroupMaxChunks && !grouped[0].tabled &&
          grouped[0].loops.empty() &&
          std::all_of(pieces.begin(), pieces.end(), [](const Piece &p) { return p.lanes == 8; });
      if (group_) layouts_ = std::move(grouped);
    }
  }

  llvm::Function *emit(const std::string &name);

 private:
  // Vector popcounts of one stage: AVX-512 adds <8 x i64> VPOPCNTQ results; AVX2 adds byte
  // popcounts (<32 x i8>) in groups of at most kMaxByteChunks, then widens them with VPSADBW.
  // Independent accumulators (round robin) keep the adds off one dependency chain.
  static constexpr size_t kAccumulators = 4;
  struct Accumulator {
    std::array<llvm::Value *, kAccumulators> wide{};  // chunk_type_
    std::array<llvm::Value *, 2> bytes{};             // <32 x i8>, AVX2 only
    std::array<uint32_t, 2> byte_chunks{};
    size_t next_wide = 0, next_bytes = 0;
    llvm::Value *scalar = nullptr;  // i64
    void add_wide(llvm::IRBuilder<> &b, llvm::Value *value) {
      llvm::Value *&slot = wide[next_wide++ % kAccumulators];
      slot = slot ? b.CreateAdd(slot, value) : value;
    }
  };

  llvm::Value *byte_ptr(llvm::Value *base, uint64_t offset) {
    return b_.CreateConstGEP1_64(i8_, base, offset);
  }
  llvm::Instruction *tag_input(llvm::Instruction *load) {
    // Records and the query are only ever read: their loads may move across the stores to
    // out[] (scoped noalias).
    load->setMetadata(llvm::LLVMContext::MD_alias_scope, input_scope_);
    load->setMetadata(llvm::LLVMContext::MD_noalias, output_scope_);
    return load;
  }
  llvm::Value *load_input(llvm::Type *type, llvm::Value *base, llvm::Value *offset) {
    // Unaligned: records are packed at multiples of 8 bytes, the caller's base has no promise.
    return tag_input(b_.CreateAlignedLoad(type, b_.CreateGEP(i8_, base, offset), llvm::Align(1)));
  }
  llvm::Value *load_piece(const Piece &piece, llvm::Value *base);
  llvm::Value *query_piece(const Piece &piece);

  llvm::Value *chunk_popcount(llvm::Value *x);
  void add_chunk(Accumulator &acc, llvm::Value *popcount);
  void flush_bytes(Accumulator &acc, size_t which);
  void add_scalar(Accumulator &acc, llvm::Value *value);
  llvm::Value *finish(Accumulator &acc);
  llvm::Value *tree_sum(std::vector<llvm::Value *> values);

  void emit_loop(Accumulator &acc, const LoopRun &run);
  void emit_piece_table(Accumulator &acc, const std::vector<Piece> &pieces, bool vector);
  llvm::Value *table(llvm::Constant *data, unsigned align);
  llvm::MDNode *no_unroll_loop_id();
  void emit_piece(Accumulator &acc, const Piece &piece);
  llvm::Value *group_distances(const std::vector<llvm::Value *> &sums);
  llvm::Value *emit_stage(const StageLayout &layout);

  void preload_query();
  void emit_prefetch(llvm::Value *record);
  // Stream prefetch (single-stage plans, as the Xbyak backend): the line at `offset` bytes into
  // record_, stream_ahead_ bytes on; with a constant offset once per 64-byte window and record.
  void stream_prefetch(uint64_t offset);
  void stream_prefetch(llvm::Value *offset);
  void new_record_windows() { window_prefetched_.assign((plan_.record_bytes + 63) / 64, false); }
  uint64_t stream_ahead_ = 0;
  std::vector<bool> window_prefetched_;
  llvm::Value *load_arg(llvm::Type *type, size_t offset, const char *name);
  void store_hit(llvm::Value *out, llvm::Value *hits_slot, llvm::Value *index,
                 llvm::Value *distance);
  void emit_groups(llvm::Value *n_records, llvm::Value *base_index, llvm::Value *limit,
                   llvm::Value *out, llvm::Value *hits_slot, llvm::Value *record_slot,
                   llvm::Value *index_slot, llvm::Value *records_end,
                   llvm::BasicBlock *records_loop, llvm::BasicBlock *exit);
  void bump_slot(llvm::Value *slot) {
    b_.CreateStore(b_.CreateAdd(b_.CreateLoad(i64_, slot), b_.getInt64(1)), slot);
  }

  const ScanPlan &plan_;
  const LlvmIsaTarget &target_;
  llvm::Module &module_;
  llvm::LLVMContext &ctx_;
  llvm::IRBuilder<> b_;
  llvm::Type *i1_, *i8_, *i32_, *i64_, *ptr_;
  llvm::Type *chunk_type_ = nullptr;             // <vector_words x i64>, or i64 for scalar
  llvm::FixedVectorType *bytes_type_ = nullptr;  // <32 x i8> (AVX2)
  llvm::FixedVectorType *pair_type_ = nullptr;   // <2 x i64> (AVX2)
  uint32_t vector_words_;
  std::vector<StageLayout> layouts_;
  bool group_ = false;
  llvm::Function *fn_ = nullptr;
  llvm::Value *args_ = nullptr, *query_ = nullptr, *records_ = nullptr, *record_ = nullptr;
  llvm::MDNode *input_scope_ = nullptr, *output_scope_ = nullptr;
  std::map<std::pair<uint32_t, uint32_t>, llvm::Value *> preloaded_;  // (word, lane mask)
};

llvm::Value *ScanEmitter::tree_sum(std::vector<llvm::Value *> values) {
  while (values.size() > 1) {
    std::vector<llvm::Value *> next;
    for (size_t i = 0; i + 1 < values.size(); i += 2)
      next.push_back(b_.CreateAdd(values[i], values[i + 1]));
    if (values.size() % 2) next.push_back(values.back());
    values = std::move(next);
  }
  return values.empty() ? nullptr : values[0];
}

llvm::Value *ScanEmitter::chunk_popcount(llvm::Value *x) {
  // AVX2: per-byte popcounts (VPSHUFB nibble lookups), widened later for a group at once.
  if (bytes_type_) x = b_.CreateBitCast(x, bytes_type_);
  return b_.CreateUnaryIntrinsic(llvm::Intrinsic::ctpop, x);
}

void ScanEmitter::flush_bytes(Accumulator &acc, size_t which) {
  if (!acc.bytes[which]) return;
  llvm::Value *zero = llvm::Constant::getNullValue(bytes_type_);
  acc.add_wide(b_,
               b_.CreateIntrinsic(llvm::Intrinsic::x86_avx2_psad_bw, {}, {acc.bytes[which], zero}));
  acc.bytes[which] = nullptr;
  acc.byte_chunks[which] = 0;
}

void ScanEmitter::add_chunk(Accumulator &acc, llvm::Value *popcount) {
  if (!bytes_type_) {
    acc.add_wide(b_, popcount);
    return;
  }
  const size_t which = acc.next_bytes++ % acc.bytes.size();
  if (acc.byte_chunks[which] == kMaxByteChunks) flush_bytes(acc, which);
  acc.bytes[which] = acc.bytes[which] ? b_.CreateAdd(acc.bytes[which], popcount) : popcount;
  ++acc.byte_chunks[which];
}

void ScanEmitter::add_scalar(Accumulator &acc, llvm::Value *value) {
  acc.scalar = acc.scalar ? b_.CreateAdd(acc.scalar, value) : value;
}

llvm::Value *ScanEmitter::finish(Accumulator &acc) {
  for (size_t which = 0; which < acc.bytes.size(); ++which) flush_bytes(acc, which);
  llvm::Value *total = acc.scalar;
  std::vector<llvm::Value *> wides;
  for (llvm::Value *w : acc.wide) {
    if (w) wides.push_back(w);
  }
  if (llvm::Value *wide = tree_sum(wides)) {
    llvm::Value *reduced = wide->getType()->isVectorTy() ? b_.CreateAddReduce(wide) : wide;
    total = total ? b_.CreateAdd(total, reduced) : reduced;
  }
  acc = Accumulator{};
  return total ? total : b_.getInt64(0);
}

llvm::Value *ScanEmitter::load_piece(const Piece &piece, llvm::Value *base) {
  llvm::Value *address = byte_ptr(base, uint64_t(piece.word) * 8);
  if (piece.lanes == 1) return tag_input(b_.CreateAlignedLoad(i64_, address, llvm::Align(1)));
  if (piece.lanes == 2) return tag_input(b_.CreateAlignedLoad(pair_type_, address, llvm::Align(1)));
  const uint32_t all = (1u << piece.lanes) - 1;
  if (piece.lane_mask == all)
    return tag_input(b_.CreateAlignedLoad(chunk_type_, address, llvm::Align(1)));
  // Masked-off lanes are not accessed (AVX-512 fault suppression): the chunk may extend past
  // the record, the block or the query without reading there.
  std::vector<llvm::Constant *> lanes;
  for (uint32_t lane = 0; lane < piece.lanes; ++lane)
    lanes.push_back(llvm::ConstantInt::get(i1_, (piece.lane_mask >> lane) & 1));
  auto *load =
      b_.CreateMaskedLoad(chunk_type_, address, llvm::Align(1), llvm::ConstantVector::get(lanes),
                          llvm::Constant::getNullValue(chunk_type_));
  return tag_input(load);
}

llvm::Value *ScanEmitter::query_piece(const Piece &piece) {
  auto it = preloaded_.find({piece.word, piece.lane_mask | (piece.lanes << 8)});
  return it != preloaded_.end() ? it->second : load_piece(piece, query_);
}

void ScanEmitter::emit_piece(Accumulator &acc, const Piece &piece) {
  stream_prefetch(uint64_t(piece.word) * 8);
  llvm::Value *x = b_.CreateXor(query_piece(piece), load_piece(piece, record_));
  if (piece.lanes == 1) {
    if (piece.needs_and) x = b_.CreateAnd(x, b_.getInt64(piece.and_masks[0]));
    add_scalar(acc, b_.CreateUnaryIntrinsic(llvm::Intrinsic::ctpop, x));
    return;
  }
  if (piece.needs_and) {
    std::vector<llvm::Constant *> masks;
    for (uint32_t lane = 0; lane < piece.lanes; ++lane)
      masks.push_back(llvm::ConstantInt::get(i64_, piece.and_masks[lane]));
    x = b_.CreateAnd(x, llvm::ConstantVector::get(masks));
  }
  if (piece.lanes == 2) {
    // Byte popcounts of the pair, widened with zero bytes to join the 32-byte accumulators
    // (a VEX.128 result already has its upper half zeroed).
    llvm::Value *bytes = b_.CreateUnaryIntrinsic(
        llvm::Intrinsic::ctpop, b_.CreateBitCast(x, llvm::FixedVectorType::get(i8_, 16)));
    std::vector<int> widen(32);
    for (int lane = 0; lane < 32; ++lane) widen[size_t(lane)] = lane;
    add_chunk(acc,
              b_.CreateShuffleVector(bytes, llvm::Constant::getNullValue(bytes->getType()), widen));
    return;
  }
  add_chunk(acc, chunk_popcount(x));
}

// kChunksPerTrip * run.trips chunks as a rolled loop that LLVM must not unroll.
void ScanEmitter::emit_loop(Accumulator &acc, const LoopRun &run) {
  llvm::BasicBlock *preheader = b_.GetInsertBlock();
  llvm::BasicBlock *body = llvm::BasicBlock::Create(ctx_, "run", fn_);
  llvm::BasicBlock *after = llvm::BasicBlock::Create(ctx_, "run.end", fn_);
  b_.CreateBr(body);
  b_.SetInsertPoint(body);
  llvm::PHINode *trip = b_.CreatePHI(i64_, 2, "trip");
  llvm::PHINode *sum = b_.CreatePHI(chunk_type_, 2, "run.sum");
  trip->addIncoming(b_.getInt64(0), preheader);
  sum->addIncoming(llvm::Constant::getNullValue(chunk_type_), preheader);

  const uint64_t chunk_bytes = uint64_t(vector_words_) * 8;
  llvm::Value *base = b_.CreateAdd(b_.getInt64(uint64_t(run.first_word) * 8),
                                   b_.CreateMul(trip, b_.getInt64(kChunksPerTrip * chunk_bytes)));
  std::vector<llvm::Value *> popcounts;
  for (uint32_t c = 0; c < kChunksPerTrip; ++c) {
    llvm::Value *offset = b_.CreateAdd(base, b_.getInt64(c * chunk_bytes));
    if ((uint64_t(run.first_word) * 8 + c * chunk_bytes) % 64 == 0) stream_prefetch(offset);
    llvm::Value *q = load_input(chunk_type_, query_, offset);
    llvm::Value *r = load_input(chunk_type_, record_, offset);
    popcounts.push_back(chunk_popcount(b_.CreateXor(q, r)));
  }
  llvm::Value *trip_sum = tree_sum(popcounts);
  if (bytes_type_) {
    llvm::Value *zero = llvm::Constant::getNullValue(bytes_type_);
    trip_sum = b_.CreateIntrinsic(llvm::Intrinsic::x86_avx2_psad_bw, {}, {trip_sum, zero});
  }
  llvm::Value *next_sum = b_.CreateAdd(sum, trip_sum);
  llvm::Value *next_trip = b_.CreateAdd(trip, b_.getInt64(1));
  auto *branch = b_.CreateCondBr(b_.CreateICmpULT(next_trip, b_.getInt64(run.trips)), body, after);
  trip->addIncoming(next_trip, body);
  sum->addIncoming(next_sum, body);

  branch->setMetadata(llvm::LLVMContext::MD_loop, no_unroll_loop_id());

  b_.SetInsertPoint(after);
  acc.add_wide(b_, next_sum);
}

llvm::MDNode *ScanEmitter::no_unroll_loop_id() {
  llvm::MDNode *no_unroll =
      llvm::MDNode::get(ctx_, {llvm::MDString::get(ctx_, "llvm.loop.unroll.disable")});
  llvm::MDNode *loop_id = llvm::MDNode::getDistinct(ctx_, {nullptr, no_unroll});
  loop_id->replaceOperandWith(0, loop_id);
  return loop_id;
}

llvm::Value *ScanEmitter::table(llvm::Constant *data, unsigned align) {
  auto *global = new llvm::GlobalVariable(module_, data->getType(), true,
                                          llvm::GlobalValue::PrivateLinkage, data, "table");
  global->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
  global->setAlignment(llvm::Align(align));
  return global;
}

// One loop over constant tables of pieces: byte offset, lane mask (AVX-512) and AND masks of
// each. Vector pieces: AVX-512 masked chunks, or AVX2 whole chunks; else scalar words.
void ScanEmitter::emit_piece_table(Accumulator &acc, const std::vector<Piece> &pieces,
                                   bool vector) {
  const uint32_t lanes = vector ? vector_words_ : 1;
  llvm::Type *value_type = vector ? chunk_type_ : i64_;
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
  llvm::Type *sum_type = vector ? chunk_type_ : i64_;
  llvm::PHINode *index = b_.CreatePHI(i64_, 2, "piece");
  llvm::PHINode *sum = b_.CreatePHI(sum_type, 2, "pieces.sum");
  index->addIncoming(b_.getInt64(0), preheader);
  sum->addIncoming(llvm::Constant::getNullValue(sum_type), preheader);

  llvm::Value *offset =
      b_.CreateAlignedLoad(i64_, b_.CreateGEP(i64_, offset_table, index), llvm::Align(8));
  llvm::Value *and_mask = b_.CreateAlignedLoad(
      value_type, b_.CreateGEP(value_type, mask_table, index), llvm::Align(vector ? 32 : 8));
  stream_prefetch(offset);
  llvm::Value *query_address = b_.CreateGEP(i8_, query_, offset);
  llvm::Value *record_address = b_.CreateGEP(i8_, record_, offset);
  llvm::Value *q, *r;
  if (masked_loads) {
    // Masked-off lanes are not accessed (AVX-512 fault suppression), as for straight pieces.
    llvm::Value *bits =
        b_.CreateAlignedLoad(i8_, b_.CreateGEP(i8_, lane_table, index), llvm::Align(1));
    llvm::Value *lane_mask = b_.CreateBitCast(bits, llvm::FixedVectorType::get(i1_, 8));
    llvm::Value *zero = llvm::Constant::getNullValue(chunk_type_);
    q = tag_input(b_.CreateMaskedLoad(chunk_type_, query_address, llvm::Align(1), lane_mask, zero));
    r = tag_input(
        b_.CreateMaskedLoad(chunk_type_, record_address, llvm::Align(1), lane_mask, zero));
  } else {
    q = tag_input(b_.CreateAlignedLoad(value_type, query_address, llvm::Align(1)));
    r = tag_input(b_.CreateAlignedLoad(value_type, record_address, llvm::Align(1)));
  }
  llvm::Value *x = b_.CreateAnd(b_.CreateXor(q, r), and_mask);
  llvm::Value *count;
  if (!vector) {
    count = b_.CreateUnaryIntrinsic(llvm::Intrinsic::ctpop, x);
  } else if (bytes_type_) {
    llvm::Value *zero = llvm::Constant::getNullValue(bytes_type_);
    count = b_.CreateIntrinsic(llvm::Intrinsic::x86_avx2_psad_bw, {}, {chunk_popcount(x), zero});
  } else {
    count = chunk_popcount(x);
  }
  llvm::Value *next_sum = b_.CreateAdd(sum, count);
  llvm::Value *next_index = b_.CreateAdd(index, b_.getInt64(1));
  auto *branch =
      b_.CreateCondBr(b_.CreateICmpULT(next_index, b_.getInt64(pieces.size())), body, after);
  index->addIncoming(next_index, body);
  sum->addIncoming(next_sum, body);
  branch->setMetadata(llvm::LLVMContext::MD_loop, no_unroll_loop_id());

  b_.SetInsertPoint(after);
  if (vector) {
    acc.add_wide(b_, next_sum);
  } else {
    add_scalar(acc, next_sum);
  }
}

llvm::Value *ScanEmitter::emit_stage(const StageLayout &layout) {
  Accumulator acc;
  new_record_windows();
  for (const LoopRun &run : layout.loops) emit_loop(acc, run);
  if (!layout.tabled) {
    for (const Piece &piece : layout.pieces) emit_piece(acc, piece);
    return finish(acc);
  }
  std::vector<Piece> vectors, scalars;
  for (const Piece &piece : layout.pieces) {
    if (piece.lanes == vector_words_ && piece.lanes > 1) {
      vectors.push_back(piece);
      continue;
    }
    for (uint32_t lane = 0; lane < piece.lanes; ++lane) {  // words of scalars and pairs
      Piece word;
      word.word = piece.word + lane;
      word.and_masks[0] = piece.and_masks[lane];
      scalars.push_back(word);
    }
  }
  if (!vectors.empty()) emit_piece_table(acc, vectors, true);
  if (!scalars.empty()) emit_piece_table(acc, scalars, false);
  return finish(acc);
}

// Loads the query pieces of the first stages once per block, before the record loop.
void ScanEmitter::preload_query() {
  bool loops = false;
  for (const StageLayout &layout : layouts_) loops |= !layout.loops.empty() || layout.tabled;
  uint32_t vectors = vector_words_ != 8 ? kPreloadVectors256
                     : loops            ? kPreloadVectors512Loop
                                        : kPreloadVectors512;
  uint32_t scalars = kPreloadScalars;
  for (const StageLayout &layout : layouts_) {
    if (layout.tabled) continue;  // table loops load the query as they go
    for (const Piece &piece : layout.pieces) {
      uint32_t &budget = piece.lanes == 1 ? scalars : vectors;
      if (budget == 0) continue;
      --budget;
      preloaded_[{piece.word, piece.lane_mask | (piece.lanes << 8)}] = load_piece(piece, query_);
    }
  }
}

void ScanEmitter::stream_prefetch(uint64_t offset) {
  if (stream_ahead_ == 0 || window_prefetched_[offset / 64]) return;
  window_prefetched_[offset / 64] = true;
  stream_prefetch(b_.getInt64(offset));
}

void ScanEmitter::stream_prefetch(llvm::Value *offset) {
  if (stream_ahead_ == 0) return;
  // Prefetches never fault, so the address may lie past the block: a plain (not inbounds) GEP.
  llvm::Value *address =
      b_.CreateGEP(i8_, record_, b_.CreateAdd(offset, b_.getInt64(stream_ahead_)));
  b_.CreateIntrinsic(llvm::Intrinsic::prefetch, {ptr_},
                     {address, b_.getInt32(0), b_.getInt32(3), b_.getInt32(1)});
}

void ScanEmitter::emit_prefetch(llvm::Value *record) {
  // Prefetches never fault, so the address may lie past the block: plain (not inbounds) GEPs.
  const uint64_t ahead = uint64_t(plan_.prefetch_records) * plan_.record_bytes;
  for (uint32_t offset : llvm_probe_prefetch_offsets(plan_.cascade)) {
    llvm::Value *address = b_.CreateGEP(i8_, record, b_.getInt64(ahead + offset));
    b_.CreateIntrinsic(llvm::Intrinsic::prefetch, {ptr_},
                       {address, b_.getInt32(0), b_.getInt32(3), b_.getInt32(1)});
  }
}

llvm::Value *ScanEmitter::load_arg(llvm::Type *type, size_t offset, const char *name) {
  return b_.CreateAlignedLoad(type, byte_ptr(args_, offset), llvm::Align(type == i32_ ? 4 : 8),
                              name);
}

// out[hits++] = {index, distance, 0}.
void ScanEmitter::store_hit(llvm::Value *out, llvm::Value *hits_slot, llvm::Value *index,
                            llvm::Value *distance) {
  llvm::Value *hits = b_.CreateLoad(i64_, hits_slot);
  llvm::Value *slot = b_.CreateGEP(i8_, out, b_.CreateMul(hits, b_.getInt64(sizeof(Hit))));
  auto store_out = [&](llvm::Value *value, size_t offset, unsigned align) {
    auto *store = b_.CreateAlignedStore(value, byte_ptr(slot, offset), llvm::Align(align));
    store->setMetadata(llvm::LLVMContext::MD_alias_scope, output_scope_);
    store->setMetadata(llvm::LLVMContext::MD_noalias, input_scope_);
  };
  store_out(index, offsetof(Hit, index), 8);
  store_out(b_.CreateTrunc(distance, i32_), offsetof(Hit, distance), 4);
  store_out(b_.getInt32(0), offsetof(Hit, reserved), 4);
  b_.CreateStore(b_.CreateAdd(hits, b_.getInt64(1)), hits_slot);
}

// The 8 lanes' sums of each of 8 <8 x i64> vectors, as one <8 x i64> (lane r = record r): a
// transpose-and-add butterfly (VPUNPCK[LH]QDQ, VSHUFI64X2) instead of 8 horizontal reductions.
llvm::Value *ScanEmitter::group_distances(const std::vector<llvm::Value *> &sums) {
  auto combine = [&](llvm::Value *a, llvm::Value *b, std::vector<int> lo, std::vector<int> hi) {
    return b_.CreateAdd(b_.CreateShuffleVector(a, b, lo), b_.CreateShuffleVector(a, b, hi));
  };
  // Level 1: qword pairs. Lane 2k = a's pair k, lane 2k+1 = b's pair k.
  std::vector<llvm::Value *> pairs;
  for (size_t r = 0; r < 8; r += 2)
    pairs.push_back(
        combine(sums[r], sums[r + 1], {0, 8, 2, 10, 4, 12, 6, 14}, {1, 9, 3, 11, 5, 13, 7, 15}));
  // Level 2: 128-bit blocks. Lanes 0-3 = records 0-3 (halves 0), lanes 4-7 = (halves 1).
  std::vector<llvm::Value *> quads;
  for (size_t r = 0; r < 4; r += 2)
    quads.push_back(
        combine(pairs[r], pairs[r + 1], {0, 1, 8, 9, 4, 5, 12, 13}, {2, 3, 10, 11, 6, 7, 14, 15}));
  // Level 3: 256-bit halves.
  return combine(quads[0], quads[1], {0, 1, 2, 3, 8, 9, 10, 11}, {4, 5, 6, 7, 12, 13, 14, 15});
}

// Whole groups of kGroupRecords records, then on to the per-record loop for the rest (or to
// exit). A group's 8 distances are compared with the limit at once; hits are stored in index
// order from the mask of lanes below the limit.
void ScanEmitter::emit_groups(llvm::Value *n_records, llvm::Value *base_index, llvm::Value *limit,
                              llvm::Value *out, llvm::Value *hits_slot, llvm::Value *record_slot,
                              llvm::Value *index_slot, llvm::Value *records_end,
                              llvm::BasicBlock *records_loop, llvm::BasicBlock *exit) {
  auto *group = llvm::BasicBlock::Create(ctx_, "group", fn_, records_loop);
  auto *group_hits = llvm::BasicBlock::Create(ctx_, "group.hits", fn_, records_loop);
  auto *group_next = llvm::BasicBlock::Create(ctx_, "group.next", fn_, records_loop);
  auto *rest = llvm::BasicBlock::Create(ctx_, "rest", fn_, records_loop);
  const uint64_t stride = plan_.record_bytes;
  llvm::Value *whole = b_.CreateAnd(n_records, b_.getInt64(~uint64_t{kGroupRecords - 1}));
  llvm::Value *groups_end = b_.CreateGEP(i8_, records_, b_.CreateMul(whole, b_.getInt64(stride)));
  llvm::Value *mask_slot = b_.CreateAlloca(i32_, nullptr, "lanes");
  b_.CreateCondBr(b_.CreateICmpEQ(whole, b_.getInt64(0)), rest, group);

  b_.SetInsertPoint(group);
  llvm::Value *first = b_.CreateLoad(ptr_, record_slot, "group.rec");
  std::vector<llvm::Value *> sums;
  for (uint32_t r = 0; r < kGroupRecords; ++r) {
    record_ = b_.CreateGEP(i8_, first, b_.getInt64(r * stride));
    Accumulator acc;
    new_record_windows();
    for (const Piece &piece : layouts_[0].pieces) emit_piece(acc, piece);
    std::vector<llvm::Value *> parts;
    for (llvm::Value *w : acc.wide) {
      if (w) parts.push_back(w);
    }
    sums.push_back(tree_sum(parts));
  }
  llvm::Value *distances = group_distances(sums);
  llvm::Value *below = b_.CreateICmpULT(distances, b_.CreateVectorSplat(kGroupRecords, limit));
  llvm::Value *lanes = b_.CreateZExt(b_.CreateBitCast(below, i8_), i32_);
  b_.CreateStore(lanes, mask_slot);
  llvm::MDBuilder md(ctx_);
  b_.CreateCondBr(b_.CreateICmpNE(lanes, b_.getInt32(0)), group_hits, group_next,
                  md.createUnlikelyBranchWeights());

  // One hit per set lane, lowest lane (index) first.
  b_.SetInsertPoint(group_hits);
  llvm::Value *left = b_.CreateLoad(i32_, mask_slot);
  llvm::Value *lane = b_.CreateIntrinsic(llvm::Intrinsic::cttz, {i32_}, {left, b_.getTrue()});
  llvm::Value *index = b_.CreateAdd(b_.CreateLoad(i64_, index_slot), b_.CreateZExt(lane, i64_));
  store_hit(out, hits_slot, b_.CreateAdd(base_index, index),
            b_.CreateExtractElement(distances, lane));
  llvm::Value *rest_lanes = b_.CreateAnd(left, b_.CreateSub(left, b_.getInt32(1)));
  b_.CreateStore(rest_lanes, mask_slot);
  b_.CreateCondBr(b_.CreateICmpNE(rest_lanes, b_.getInt32(0)), group_hits, group_next);

  b_.SetInsertPoint(group_next);
  llvm::Value *next = b_.CreateGEP(i8_, b_.CreateLoad(ptr_, record_slot),
                                   b_.getInt64(uint64_t(kGroupRecords) * stride));
  b_.CreateStore(next, record_slot);
  b_.CreateStore(b_.CreateAdd(b_.CreateLoad(i64_, index_slot), b_.getInt64(kGroupRecords)),
                 index_slot);
  b_.CreateCondBr(b_.CreateICmpULT(next, groups_end), group, rest);

  b_.SetInsertPoint(rest);
  b_.CreateCondBr(b_.CreateICmpULT(b_.CreateLoad(ptr_, record_slot), records_end), records_loop,
                  exit);
}

llvm::Function *ScanEmitter::emit(const std::string &name) {
  const auto &stages = plan_.cascade.stages;
  const size_t n_stages = stages.size();
  if (n_stages == 0 || n_stages > size_t(kMaxStages))
    throw Error(ErrorKind::internal, "LLVM backend: a plan needs 1 to 8 cascade stages, got " +
                                         std::to_string(n_stages));

  auto *fn_type = llvm::FunctionType::get(i64_, {ptr_}, false);
  fn_ = llvm::Function::Create(fn_type, llvm::Function::ExternalLinkage, name, module_);
  fn_->addFnAttr(llvm::Attribute::NoUnwind);
  fn_->addFnAttr("target-cpu", target_.cpu);
  fn_->addFnAttr("target-features", target_.features);
  const unsigned vector_bits = vector_words_ * 64;
  if (vector_bits > 64) {
    fn_->addFnAttr("min-legal-vector-width", std::to_string(vector_bits));
    fn_->addFnAttr("prefer-vector-width", std::to_string(vector_bits));
  }
  fn_->addParamAttr(0, llvm::Attribute::NoCapture);
  fn_->addParamAttr(0, llvm::Attribute::NoAlias);

  llvm::MDBuilder md(ctx_);
  llvm::MDNode *domain = md.createAnonymousAliasScopeDomain("jitson.block");
  llvm::MDNode *input = md.createAnonymousAliasScope(domain, "inputs");
  llvm::MDNode *output = md.createAnonymousAliasScope(domain, "outputs");
  input_scope_ = llvm::MDNode::get(ctx_, {input});
  output_scope_ = llvm::MDNode::get(ctx_, {output});

  auto *entry = llvm::BasicBlock::Create(ctx_, "entry", fn_);
  auto *loop = llvm::BasicBlock::Create(ctx_, "record", fn_);
  auto *next = llvm::BasicBlock::Create(ctx_, "next", fn_);
  auto *exit = llvm::BasicBlock::Create(ctx_, "exit", fn_);
  auto *done = llvm::BasicBlock::Create(ctx_, "done", fn_);

  b_.SetInsertPoint(entry);
  args_ = fn_->getArg(0);
  // Per-record state lives in allocas that mem2reg turns into registers.
  // Records that pass each probe stage are counted (rejects follow from them at the end): the
  // common path, a rejection, then costs no instruction beyond its branch.
  llvm::Value *hits_slot = b_.CreateAlloca(i64_, nullptr, "hits");
  std::vector<llvm::Value *> passed_slots;
  for (size_t s = 0; s + 1 < n_stages; ++s) passed_slots.push_back(b_.CreateAlloca(i64_));
  llvm::Value *pruned_slot = b_.CreateAlloca(i64_, nullptr, "pruned");
  llvm::Value *record_slot = b_.CreateAlloca(ptr_, nullptr, "rec");
  llvm::Value *index_slot = b_.CreateAlloca(i64_, nullptr, "i");
  b_.CreateStore(b_.getInt64(0), index_slot);
  b_.CreateStore(b_.getInt64(0), hits_slot);
  for (auto *slot : passed_slots) b_.CreateStore(b_.getInt64(0), slot);
  b_.CreateStore(b_.getInt64(0), pruned_slot);

  query_ = load_arg(ptr_, offsetof(BlockArgs, query), "query");
  records_ = load_arg(ptr_, offsetof(BlockArgs, records), "records");
  llvm::Value *n_records = load_arg(i64_, offsetof(BlockArgs, n_records), "n");
  llvm::Value *base_index = load_arg(i64_, offsetof(BlockArgs, base_index), "base");
  // The only bound read at run time, once per block.
  llvm::Value *limit =
      b_.CreateZExt(load_arg(i32_, offsetof(BlockArgs, limit), "limit32"), i64_, "limit");
  llvm::Value *out = load_arg(ptr_, offsetof(BlockArgs, out), "out");
  llvm::Value *counters = load_arg(ptr_, offsetof(BlockArgs, counters), "counters");
  b_.CreateStore(records_, record_slot);
  // The loop walks a record pointer up to the end of the block, and the index for hits; plain
  // GEP: the end pointer is one past the block, never dereferenced.
  llvm::Value *records_end =
      b_.CreateGEP(i8_, records_, b_.CreateMul(n_records, b_.getInt64(plan_.record_bytes)));
  b_.CreateCondBr(b_.CreateICmpEQ(n_records, b_.getInt64(0)), done, loop);

  // Query words are loaded after the emptiness test: a block of zero records reads nothing.
  auto *preload = llvm::BasicBlock::Create(ctx_, "preload", fn_, loop);
  entry->getTerminator()->setSuccessor(1, preload);
  b_.SetInsertPoint(preload);
  preload_query();
  if (group_) {
    emit_groups(n_records, base_index, limit, out, hits_slot, record_slot, index_slot, records_end,
                loop, exit);
  } else {
    b_.CreateBr(loop);
  }

  // One record per trip (after the groups, if any): stage by stage, leaving at the first
  // rejecting stage.
  b_.SetInsertPoint(loop);
  record_ = b_.CreateLoad(ptr_, record_slot, "rec");
  llvm::Value *index = b_.CreateLoad(i64_, index_slot, "i");
  if (plan_.prefetch_records > 0 && n_stages > 1) emit_prefetch(record_);

  llvm::MDNode *likely = md.createLikelyBranchWeights();
  llvm::MDNode *unlikely = md.createUnlikelyBranchWeights();
  llvm::Value *partial = b_.getInt64(0);
  for (size_t s = 0; s < n_stages; ++s) {
    partial = b_.CreateAdd(partial, emit_stage(layouts_[s]), "partial");
    if (s + 1 == n_stages) break;
    auto *pass = llvm::BasicBlock::Create(ctx_, "pass", fn_, next);
    // Probes exist to reject: most records leave here.
    b_.CreateCondBr(b_.CreateICmpUGE(partial, limit), next, pass, likely);
    b_.SetInsertPoint(pass);
    const uint32_t bound = stages[s].statistical_bound;
    if (bound != UINT32_MAX) {
      auto *pruned = llvm::BasicBlock::Create(ctx_, "pruned", fn_, next);
      auto *kept = llvm::BasicBlock::Create(ctx_, "kept", fn_, next);
      b_.CreateCondBr(b_.CreateICmpUGT(partial, b_.getInt64(bound)), pruned, kept);
      b_.SetInsertPoint(pruned);
      bump_slot(pruned_slot);
      b_.CreateBr(next);
      b_.SetInsertPoint(kept);
    }
    bump_slot(passed_slots[s]);
  }
  // After the last stage the partial is the masked distance.
  auto *hit = llvm::BasicBlock::Create(ctx_, "hit", fn_, next);
  b_.CreateCondBr(b_.CreateICmpULT(partial, limit), hit, next, unlikely);

  b_.SetInsertPoint(hit);
  store_hit(out, hits_slot, b_.CreateAdd(base_index, index), partial);
  b_.CreateBr(next);

  emit_record_loop_end(b_, plan_,
                       {next, loop, exit, record_slot, index_slot, records_end, counters, n_records,
                        hits_slot, pruned_slot, passed_slots, output_scope_});
  b_.CreateRet(b_.CreateLoad(i64_, hits_slot));

  b_.SetInsertPoint(done);
  b_.CreateRet(b_.getInt64(0));
  return fn_;
}

// Kernel code in the JIT: removed from it (with its memory) when the last holder lets go.
class LlvmCode final : public CompiledCode {
 public:
  LlvmCode(std::shared_ptr<LlvmJitState> state, llvm::orc::ResourceTrackerSP tracker, BlockFn entry,
           size_t bytes, std::string symbol, llvm::SmallVector<char, 0> bitcode)
      : state_(std::move(state)),
        tracker_(std::move(tracker)),
        entry_(entry),
        bytes_(bytes),
        symbol_(std::move(symbol)),
        bitcode_(std::move(bitcode)) {
    ++state_->live_kernels;
  }
  ~LlvmCode() override {
    // Removal fails only if the session has already ended, in which case nothing is left.
    llvm::consumeError(tracker_->remove());
    --state_->live_kernels;
  }
  BlockFn entry() const override { return entry_; }
  const void *code_address() const override {
    // The entry is a function pointer; its bytes are what a disassembler reads.
    return reinterpret_cast<const void *>(entry_);
  }
  size_t code_bytes() const override { return bytes_; }
  // Printed from the kept bitcode on request (dumps, `jitson compile --ir`): printing the text
  // at every compile cost ~5 % of a compile, and the bitcode is a fraction of the text's size.
  // The module read back is the one that was compiled, so its text is the same IR.
  std::string ir() const override {
    llvm::LLVMContext context;
    auto module = llvm::parseBitcodeFile(
        llvm::MemoryBufferRef(llvm::StringRef(bitcode_.data(), bitcode_.size()), symbol_), context);
    if (!module) return "; cannot read the kernel's IR back: " + llvm::toString(module.takeError());
    std::string text;
    llvm::raw_string_ostream stream(text);
    (*module)->print(stream, nullptr);
    stream.flush();
    return text;
  }
  const std::string &symbol() const { return symbol_; }

 private:
  std::shared_ptr<LlvmJitState> state_;  // outlives the tracker: declared first
  llvm::orc::ResourceTrackerSP tracker_;
  BlockFn entry_;
  size_t bytes_;
  std::string symbol_;
  llvm::SmallVector<char, 0> bitcode_;  // the optimised module, for ir()
};

// The IR is emitted already vectorised, with its loops rolled as wanted and its query words
// hoisted, so it needs only the clean-up part of an O2 pipeline: allocas to registers (SROA),
// redundancy removal (EarlyCSE), peephole folding (InstCombine) and block merging (SimplifyCFG).
// Measured on kernels of every shape, the full O2 module pipeline produced the same machine
// code within a few bytes (and no faster) while taking ~5 ms of CPU against ~0.5 ms, which
// alone would have broken the 10 ms compile budget. Code generation runs at O1
// (CodeGenOptLevel::Less, llvm_jit.cpp: instruction selection, scheduling, greedy allocation).
void optimise(llvm::Module &module, llvm::TargetMachine &machine) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder builder(&machine);
  builder.registerModuleAnalyses(mam);
  builder.registerCGSCCAnalyses(cgam);
  builder.registerFunctionAnalyses(fam);
  builder.registerLoopAnalyses(lam);
  builder.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::FunctionPassManager passes;
  passes.addPass(llvm::SROAPass(llvm::SROAOptions::ModifyCFG));
  passes.addPass(llvm::EarlyCSEPass());
  passes.addPass(llvm::InstCombinePass());
  passes.addPass(llvm::SimplifyCFGPass());
  llvm::ModulePassManager module_passes;
  module_passes.addPass(llvm::createModuleToFunctionPassAdaptor(std::move(passes)));
  module_passes.run(module, mam);
}

llvm::SmallVector<char, 0> emit_object(llvm::Module &module, llvm::TargetMachine &machine) {
  llvm::SmallVector<char, 0> object;
  llvm::raw_svector_ostream stream(object);
  llvm::legacy::PassManager passes;
  if (machine.addPassesToEmitFile(passes, stream, nullptr, llvm::CodeGenFileType::ObjectFile))
    throw Error(ErrorKind::internal, "LLVM backend: the target cannot emit object files");
  passes.run(module);
  return object;
}

// Size of the function `symbol` in the object (its ELF st_size).
size_t symbol_size(const llvm::MemoryBuffer &object, const std::string &symbol) {
  auto file = llvm::object::ObjectFile::createObjectFile(object.getMemBufferRef());
  if (!file) throw_llvm_error(file.takeError(), "reading the generated object");
  for (const llvm::object::SymbolRef &sym : (*file)->symbols()) {
    auto name = sym.getName();
    if (!name) throw_llvm_error(name.takeError(), "reading a symbol name");
    // The file symbol carries the module's name too: only the function counts.
    auto type = sym.getType();
    if (!type) throw_llvm_error(type.takeError(), "reading a symbol type");
    if (*name != symbol || *type != llvm::object::SymbolRef::ST_Function) continue;
    if (llvm::isa<llvm::object::ELFObjectFileBase>(file->get()))
      return size_t(llvm::object::ELFSymbolRef(sym).getSize());
  }
  throw Error(ErrorKind::internal, "LLVM backend: the object has no sized symbol " + symbol);
}

}  // namespace

// Byte offsets in a record to prefetch for record i + prefetch_records in a multi-stage plan:
// the lines the probe stages (all but the last) read first. (A single-stage plan prefetches
// each line next to its load instead: ScanEmitter::stream_prefetch.)
void emit_record_loop_end(llvm::IRBuilder<> &b, const ScanPlan &plan, const RecordLoopEnd &end) {
  llvm::Type *i8 = b.getInt8Ty(), *i64 = b.getInt64Ty(), *ptr = b.getPtrTy();
  b.SetInsertPoint(end.next);
  llvm::Value *next_record =
      b.CreateGEP(i8, b.CreateLoad(ptr, end.record_slot), b.getInt64(plan.record_bytes));
  b.CreateStore(next_record, end.record_slot);
  b.CreateStore(b.CreateAdd(b.CreateLoad(i64, end.index_slot), b.getInt64(1)), end.index_slot);
  b.CreateCondBr(b.CreateICmpULT(next_record, end.records_end), end.loop, end.exit);

  b.SetInsertPoint(end.exit);
  auto bump = [&](size_t counter, llvm::Value *delta) {
    llvm::Value *address = b.CreateConstGEP1_64(i8, end.counters, counter * 8);
    llvm::Value *old_value = b.CreateAlignedLoad(i64, address, llvm::Align(8));
    auto *store = b.CreateAlignedStore(b.CreateAdd(old_value, delta), address, llvm::Align(8));
    store->setMetadata(llvm::LLVMContext::MD_alias_scope, end.output_scope);
  };
  const auto &stages = plan.cascade.stages;
  llvm::Value *reaching = end.n_records;
  llvm::Value *words_read = b.getInt64(0);
  for (size_t s = 0; s < stages.size(); ++s) {
    llvm::Value *passed =
        b.CreateLoad(i64, s + 1 < stages.size() ? end.passed_slots[s] : end.hits_slot, "passed");
    bump(s, b.CreateSub(reaching, passed));
    words_read = b.CreateAdd(words_read, b.CreateMul(reaching, b.getInt64(stages[s].words)));
    reaching = passed;
  }
  if (end.pruned_slot) bump(size_t(kCounterStatPruned), b.CreateLoad(i64, end.pruned_slot));
  bump(size_t(kCounterWordsRead), words_read);
}

std::vector<uint32_t> llvm_probe_prefetch_offsets(const Cascade &cascade) {
  // Same software prefetch policy as the Xbyak backend, so that both are compared fairly.
  constexpr uint32_t kMaxPrefetchLines = 8;
  const size_t probe = cascade.stages.size() - 1;
  std::map<uint32_t, std::pair<uint32_t, uint32_t>> windows;  // 64-byte window → first, last
  std::vector<uint32_t> order;
  for (size_t s = 0; s < probe && s < cascade.stages.size(); ++s) {
    for (const Segment &seg : cascade.stages[s].segments) {
      for (uint32_t w = seg.first_word; w < seg.first_word + seg.n_words; ++w) {
        const uint32_t first = w * 8, last = w * 8 + 7, window = first / 64;
        auto [it, fresh] = windows.emplace(window, std::make_pair(first, last));
        if (fresh) {
          order.push_back(window);
        } else {
          it->second.first = std::min(it->second.first, first);
          it->second.second = std::max(it->second.second, last);
        }
      }
    }
  }
  std::vector<uint32_t> offsets;
  for (uint32_t window : order) {
    if (offsets.size() >= kMaxPrefetchLines) break;
    auto [first, last] = windows[window];
    offsets.push_back(first);
    // Records not line-aligned: the window may straddle two lines.
    if (cascade.record_bytes % 64 != 0 && last - first >= 8 && offsets.size() < kMaxPrefetchLines)
      offsets.push_back(last);
  }
  return offsets;
}

std::shared_ptr<CompiledCode> compile_llvm(const ScanPlan &plan, LlvmJit &jit) {
  if (plan.cascade.metric != Metric::hamming) return compile_llvm_tanimoto(plan, jit);
  LlvmJitState &state = jit.state();
  const LlvmIsaTarget &target = state.target(plan.isa);
  if (plan.record_bytes == 0 || plan.record_bytes % 8 != 0 ||
      plan.cascade.record_bytes != plan.record_bytes)
    throw Error(ErrorKind::internal, "LLVM backend: inconsistent plan record size");

  return build_llvm_kernel(jit, plan.isa, plan.key, "jitson_scan",
                           [&](llvm::Module &module, const std::string &name) {
                             ScanEmitter(plan, target, module).emit(name);
                           });
}

std::shared_ptr<CompiledCode> build_llvm_kernel(
    LlvmJit &jit, Isa isa, uint64_t key, const char *prefix,
    const std::function<void(llvm::Module &module, const std::string &name)> &emit) {
  LlvmJitState &state = jit.state();
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%s_%016llx_%llu", prefix,
                static_cast<unsigned long long>(key),
                static_cast<unsigned long long>(state.next_serial++));
  const std::string name = buffer;
  llvm::LLVMContext context;
  auto owned = std::make_unique<llvm::Module>(name, context);
  llvm::Module &module = *owned;
  BorrowedMachine borrowed(state, isa);
  llvm::TargetMachine &machine = *borrowed;
  module.setDataLayout(machine.createDataLayout());
  module.setTargetTriple(machine.getTargetTriple().str());
  emit(module, name);

  std::string problems;
  llvm::raw_string_ostream problem_stream(problems);
  if (llvm::verifyModule(module, &problem_stream))
    throw Error(ErrorKind::internal, "LLVM backend: invalid IR: " + problems);

  optimise(module, machine);
  llvm::SmallVector<char, 0> bitcode;
  llvm::raw_svector_ostream bitcode_stream(bitcode);
  llvm::WriteBitcodeToFile(module, bitcode_stream);

  auto object =
      std::make_unique<llvm::SmallVectorMemoryBuffer>(emit_object(module, machine), name, false);
  const size_t bytes = symbol_size(*object, name);

  llvm::orc::LLJIT &lljit = *state.jit;
  llvm::orc::ResourceTrackerSP tracker = lljit.getMainJITDylib().createResourceTracker();
  if (auto error = lljit.addObjectFile(tracker, std::move(object)))
    throw_llvm_error(std::move(error), "adding the kernel object");
  auto address = lljit.lookup(name);
  if (!address) {
    llvm::consumeError(tracker->remove());
    throw_llvm_error(address.takeError(), "linking the kernel");
  }
  auto entry = address->toPtr<BlockFn>();
  return std::make_shared<LlvmCode>(jit.shared_state(), std::move(tracker), entry, bytes, name,
                                    std::move(bitcode));
}

std::string llvm_symbol_name(const CompiledCode &code) {
  auto *llvm_code = dynamic_cast<const LlvmCode *>(&code);
  return llvm_code ? llvm_code->symbol() : std::string();
}

}  // namespace jitson
