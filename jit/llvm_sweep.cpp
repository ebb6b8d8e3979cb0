// The LLVM sweep generator: one SWEEP function per ScanPlan for the blocked layout (the ABI
// above sweep_block_runtime in jitson/scan.hpp), B = 64 records per block baked in, the same
// algorithm as jit/xbyak_sweep.cpp and the same results and counters as runtime/sweep.cpp.
//
// A block is 8 groups of 8 records; word w of a group is 64 bytes at block + w * 512 + g * 64,
// handled as one <8 x i64> (AVX-512: one zmm; AVX2: LLVM splits it into two ymm and lowers the
// popcount to the nibble table, with no EVEX since the target disables AVX-512). The block's
// activity is one i64 (bit r = record r). Per block: active = records of [reserved, n_records)
// in the block; for each stage, for each group with an active record: partial sums +=
// popcount((record word XOR broadcast query word) [AND mask]) over the stage's words (long
// segments as rolled loops), compare with the limit (and the statistical bound), count the
// newly rejected, clear their bits; the block ends as soon as nothing is active. After the last
// stage the group's records below the limit are hits, in index order.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <llvm/IR/BasicBlock.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Module.h>

#include "jit/backend.hpp"
#include "jit/llvm_internal.hpp"
#include "jit/llvm_jit.hpp"
#include "jitson/error.hpp"
#include "jitson/scan.hpp"

namespace jitson {
namespace {

constexpr uint32_t kBlock = 64;               // records per block (kDefaultBlockRecords)
constexpr uint32_t kGroups = kBlock / 8;      // groups of 8 records (one line per word)
constexpr uint32_t kWordStride = kBlock * 8;  // bytes from word w to word w + 1 in a block
constexpr uint32_t kPrefetchBlocks = 8;       // as the Xbyak sweep: blocks ahead to prefetch
constexpr uint32_t kPrefetchLines = 1;        // as the Xbyak sweep: lines per word (see there)
constexpr uint32_t kMaxPrefetchWords = 2;     // first-stage words prefetched per block
// A segment longer than this many words becomes a rolled loop of kWordsPerTrip words per trip
// (bounded code size and compile time for big records).
constexpr uint32_t kStraightWords = 16;
constexpr uint32_t kWordsPerTrip = 4;
// A stage with more straight words than this walks a constant table of (word, mask) instead:
// scattered focus on big records would otherwise emit thousands of loads (slow to compile).
constexpr size_t kMaxStraightWordsPerStage = 32;

class SweepEmitter {
 public:
  SweepEmitter(const ScanPlan &plan, const LlvmIsaTarget &target, llvm::Module &module)
      : plan_(plan),
        target_(target),
        module_(module),
        ctx_(module.getContext()),
        b_(ctx_),
        i8_(llvm::Type::getInt8Ty(ctx_)),
        i32_(llvm::Type::getInt32Ty(ctx_)),
        i64_(llvm::Type::getInt64Ty(ctx_)),
        ptr_(llvm::PointerType::getUnqual(ctx_)),
        lanes_(llvm::FixedVectorType::get(i64_, 8)) {}

  void emit(const std::string &name);

 private:
  llvm::Value *load_arg(llvm::Type *type, size_t offset) {
    return b_.CreateLoad(type, b_.CreateConstGEP1_64(i8_, args_, offset));
  }
  llvm::Value *load_input(llvm::Type *type, llvm::Value *address) {
    // Unaligned: the caller's buffers carry no alignment promise beyond the format's 8 bytes.
    auto *load = b_.CreateAlignedLoad(type, address, llvm::Align(1));
    load->setMetadata(llvm::LLVMContext::MD_alias_scope, input_scope_);
    load->setMetadata(llvm::LLVMContext::MD_noalias, output_scope_);
    return load;
  }
  llvm::Value *popcount8(llvm::Value *group, llvm::Value *word_offset, llvm::Value *query_offset,
                         uint64_t mask);
  llvm::Value *accumulate_segment(llvm::Value *acc, llvm::Value *group, const Segment &seg,
                                  std::vector<uint64_t> *table);
  llvm::Value *accumulate_table(llvm::Value *acc, llvm::Value *group,
                                const std::vector<uint64_t> &table);
  llvm::Value *lane_mask(llvm::Value *bits_vector) {
    return b_.CreateZExt(b_.CreateBitCast(bits_vector, i8_), i64_);
  }
  llvm::Value *popcount(llvm::Value *x) {
    return b_.CreateUnaryIntrinsic(llvm::Intrinsic::ctpop, x);
  }
  void add_to(llvm::Value *slot, llvm::Value *delta) {
    b_.CreateStore(b_.CreateAdd(b_.CreateLoad(i64_, slot), delta), slot);
  }
  llvm::BasicBlock *block(const char *name) { return llvm::BasicBlock::Create(ctx_, name, fn_); }
  void emit_prefetch(llvm::Value *block_ptr);
  void emit_stage(size_t s, llvm::BasicBlock *next_block);

  const ScanPlan &plan_;
  const LlvmIsaTarget &target_;
  llvm::Module &module_;
  llvm::LLVMContext &ctx_;
  llvm::IRBuilder<> b_;
  llvm::Type *i8_, *i32_, *i64_, *ptr_;
  llvm::FixedVectorType *lanes_;
  llvm::Function *fn_ = nullptr;
  llvm::Value *args_ = nullptr;
  llvm::MDNode *input_scope_ = nullptr, *output_scope_ = nullptr;

  // Values of the whole call.
  llvm::Value *query_ = nullptr, *limit_ = nullptr, *limit_vec_ = nullptr, *out_ = nullptr;
  llvm::Value *base_index_ = nullptr;
  // Per-call state (allocas that SROA turns into registers where it can).
  llvm::Value *partials_ = nullptr;  // [64 x i64]: partial sums of the block, record order
  llvm::Value *active_slot_ = nullptr, *start_slot_ = nullptr, *block_slot_ = nullptr;
  llvm::Value *hits_slot_ = nullptr, *stat_slot_ = nullptr, *words_slot_ = nullptr;
  std::vector<llvm::Value *> reject_slots_;
};

// popcount((8 records' word XOR broadcast query word) [AND mask]) as <8 x i64>.
llvm::Value *SweepEmitter::popcount8(llvm::Value *group, llvm::Value *word_offset,
                                     llvm::Value *query_offset, uint64_t mask) {
  llvm::Value *records = load_input(lanes_, b_.CreateGEP(i8_, group, word_offset));
  llvm::Value *q = load_input(i64_, b_.CreateGEP(i8_, query_, query_offset));
  llvm::Value *x = b_.CreateXor(records, b_.CreateVectorSplat(8, q));
  if (mask != ~uint64_t{0}) x = b_.CreateAnd(x, b_.CreateVectorSplat(8, b_.getInt64(mask)));
  return popcount(x);
}

// The words a segment leaves outside its rolled loop are emitted straight, or appended to
// `table` as (word, mask) pairs when it is not null.
llvm::Value *SweepEmitter::accumulate_segment(llvm::Value *acc, llvm::Value *group,
                                              const Segment &seg, std::vector<uint64_t> *table) {
  const uint64_t mask = seg.full ? ~uint64_t{0} : seg.mask;
  if (mask == 0) return acc;  // adds popcount(0) = 0 for every word
  uint32_t word = seg.first_word;
  const uint32_t end = seg.first_word + seg.n_words;
  if (seg.n_words > kStraightWords) {
    const uint32_t trips = seg.n_words / kWordsPerTrip;
    llvm::BasicBlock *before = b_.GetInsertBlock();
    llvm::BasicBlock *loop = block("words");
    llvm::BasicBlock *after = block("words_done");
    b_.CreateBr(loop);
    b_.SetInsertPoint(loop);
    llvm::PHINode *w = b_.CreatePHI(i64_, 2, "w");
    llvm::PHINode *sum = b_.CreatePHI(lanes_, 2, "sum");
    w->addIncoming(b_.getInt64(word), before);
    sum->addIncoming(acc, before);
    llvm::Value *next_sum = sum;
    for (uint32_t k = 0; k < kWordsPerTrip; ++k) {
      llvm::Value *wk = b_.CreateAdd(w, b_.getInt64(k));
      next_sum = b_.CreateAdd(next_sum, popcount8(group, b_.CreateMul(wk, b_.getInt64(kWordStride)),
                                                  b_.CreateMul(wk, b_.getInt64(8)), mask));
    }
    llvm::Value *next_w = b_.CreateAdd(w, b_.getInt64(kWordsPerTrip));
    w->addIncoming(next_w, loop);
    sum->addIncoming(next_sum, loop);
    b_.CreateCondBr(b_.CreateICmpULT(next_w, b_.getInt64(word + trips * kWordsPerTrip)), loop,
                    after);
    b_.SetInsertPoint(after);
    acc = next_sum;
    word += trips * kWordsPerTrip;
  }
  for (; word < end; ++word) {
    if (table) {
      table->push_back(word);
      table->push_back(mask);
      continue;
    }
    acc = b_.CreateAdd(acc, popcount8(group, b_.getInt64(uint64_t(word) * kWordStride),
                                      b_.getInt64(uint64_t(word) * 8), mask));
  }
  return acc;
}

// acc + the popcounts of the (word, mask) pairs of `table`, in a loop over a constant array.
llvm::Value *SweepEmitter::accumulate_table(llvm::Value *acc, llvm::Value *group,
                                            const std::vector<uint64_t> &table) {
  if (table.empty()) return acc;
  auto *data = llvm::ConstantDataArray::get(ctx_, llvm::ArrayRef<uint64_t>(table));
  auto *global = new llvm::GlobalVariable(module_, data->getType(), true,
                                          llvm::GlobalValue::PrivateLinkage, data, "words");
  global->setAlignment(llvm::Align(16));
  llvm::BasicBlock *before = b_.GetInsertBlock();
  llvm::BasicBlock *loop = block("table");
  llvm::BasicBlock *after = block("table_done");
  b_.CreateBr(loop);
  b_.SetInsertPoint(loop);
  llvm::PHINode *i = b_.CreatePHI(i64_, 2, "entry");
  llvm::PHINode *sum = b_.CreatePHI(lanes_, 2, "sum");
  i->addIncoming(b_.getInt64(0), before);
  sum->addIncoming(acc, before);
  llvm::Value *pair = b_.CreateGEP(i64_, global, b_.CreateMul(i, b_.getInt64(2)));
  llvm::Value *word = b_.CreateAlignedLoad(i64_, pair, llvm::Align(8));
  llvm::Value *mask =
      b_.CreateAlignedLoad(i64_, b_.CreateConstGEP1_64(i64_, pair, 1), llvm::Align(8));
  llvm::Value *records =
      load_input(lanes_, b_.CreateGEP(i8_, group, b_.CreateMul(word, b_.getInt64(kWordStride))));
  llvm::Value *q = load_input(i64_, b_.CreateGEP(i8_, query_, b_.CreateMul(word, b_.getInt64(8))));
  llvm::Value *x = b_.CreateAnd(b_.CreateXor(records, b_.CreateVectorSplat(8, q)),
                                b_.CreateVectorSplat(8, mask));
  llvm::Value *next_sum = b_.CreateAdd(sum, popcount(x));
  llvm::Value *next_i = b_.CreateAdd(i, b_.getInt64(1));
  i->addIncoming(next_i, loop);
  sum->addIncoming(next_sum, loop);
  b_.CreateCondBr(b_.CreateICmpULT(next_i, b_.getInt64(table.size() / 2)), loop, after);
  b_.SetInsertPoint(after);
  return next_sum;
}

// Blocks are 64 * record_bytes apart, beyond what the hardware prefetchers follow: prefetch
// the first-stage lines of the block kPrefetchBlocks ahead, past this call's range too (the next
// call continues there). A prefetch never faults and reads nothing; the address is computed
// with a plain (not inbounds) GEP, so it may lie outside the buffer.
void SweepEmitter::emit_prefetch(llvm::Value *block_ptr) {
  std::vector<uint32_t> words;
  for (const Segment &seg : plan_.cascade.stages[0].segments) {
    for (uint32_t w = seg.first_word; w < seg.first_word + seg.n_words; ++w) {
      if (words.size() < kMaxPrefetchWords) words.push_back(w);
    }
  }
  if (words.empty()) return;
  const uint64_t ahead = uint64_t(kBlock) * plan_.record_bytes * kPrefetchBlocks;
  llvm::Function *intrinsic =
      llvm::Intrinsic::getDeclaration(&module_, llvm::Intrinsic::prefetch, {ptr_});
  for (uint32_t w : words) {
    for (uint32_t line = 0; line < kPrefetchLines; ++line) {
      llvm::Value *address =
          b_.CreateGEP(i8_, block_ptr, b_.getInt64(ahead + uint64_t(w) * kWordStride + line * 64));
      // Read, high locality (prefetcht0), data cache.
      b_.CreateCall(intrinsic, {address, b_.getInt32(0), b_.getInt32(3), b_.getInt32(1)});
    }
  }
}

void SweepEmitter::emit_stage(size_t s, llvm::BasicBlock *next_block) {
  const auto &stages = plan_.cascade.stages;
  const CascadeStage &stage = stages[s];
  const bool last = s + 1 == stages.size();
  llvm::Value *block_ptr = b_.CreateLoad(ptr_, block_slot_);
  llvm::Value *start = b_.CreateLoad(i64_, start_slot_);
  // Every record entering the stage reads its words.
  add_to(words_slot_,
         b_.CreateMul(popcount(b_.CreateLoad(i64_, active_slot_)), b_.getInt64(stage.words)));

  llvm::BasicBlock *before = b_.GetInsertBlock();
  llvm::BasicBlock *group_top = block("group");
  llvm::BasicBlock *group_work = block("group_work");
  llvm::BasicBlock *group_next = block("group_next");
  llvm::BasicBlock *stage_end = block("stage_end");
  b_.CreateBr(group_top);
  b_.SetInsertPoint(group_top);
  llvm::PHINode *g = b_.CreatePHI(i64_, 2, "g");
  g->addIncoming(b_.getInt64(0), before);
  llvm::Value *shift = b_.CreateMul(g, b_.getInt64(8));
  llvm::Value *bits =
      b_.CreateAnd(b_.CreateLShr(b_.CreateLoad(i64_, active_slot_), shift), b_.getInt64(0xff));
  b_.CreateCondBr(b_.CreateICmpEQ(bits, b_.getInt64(0)), group_next, group_work);

  b_.SetInsertPoint(group_work);
  llvm::Value *group = b_.CreateGEP(i8_, block_ptr, b_.CreateMul(g, b_.getInt64(64)));
  llvm::Value *partial_ptr = b_.CreateGEP(i64_, partials_, shift);
  llvm::Value *acc = s == 0 ? static_cast<llvm::Value *>(llvm::Constant::getNullValue(lanes_))
                            : b_.CreateAlignedLoad(lanes_, partial_ptr, llvm::Align(64));
  size_t straight_words = 0;
  for (const Segment &seg : stage.segments) {
    const bool empty = !seg.full && seg.mask == 0;
    if (!empty)
      straight_words += seg.n_words > kStraightWords ? seg.n_words % kWordsPerTrip : seg.n_words;
  }
  std::vector<uint64_t> table;
  const bool tabled = straight_words > kMaxStraightWordsPerStage;
  for (const Segment &seg : stage.segments)
    acc = accumulate_segment(acc, group, seg, tabled ? &table : nullptr);
  acc = accumulate_table(acc, group, table);
  b_.CreateAlignedStore(acc, partial_ptr, llvm::Align(64));
  // Partials and the limit are below 2^63: a signed compare equals the unsigned one and is
  // what AVX2 has (vpcmpgtq).
  llvm::Value *below = lane_mask(b_.CreateICmpSLT(acc, limit_vec_));
  if (last) {
    llvm::Value *hit_bits = b_.CreateAnd(below, bits);
    add_to(reject_slots_[s], popcount(b_.CreateXor(bits, hit_bits)));
    // Hits in index order: the lowest remaining bit first.
    llvm::BasicBlock *hits_before = b_.GetInsertBlock();
    llvm::BasicBlock *hit = block("hit");
    b_.CreateCondBr(b_.CreateICmpEQ(hit_bits, b_.getInt64(0)), group_next, hit);
    b_.SetInsertPoint(hit);
    llvm::PHINode *remaining = b_.CreatePHI(i64_, 2, "remaining");
    remaining->addIncoming(hit_bits, hits_before);
    llvm::Value *lane = b_.CreateBinaryIntrinsic(llvm::Intrinsic::cttz, remaining, b_.getTrue());
    llvm::Value *record = b_.CreateAdd(shift, lane);
    llvm::Value *distance =
        b_.CreateAlignedLoad(i64_, b_.CreateGEP(i64_, partials_, record), llvm::Align(8));
    llvm::Value *count = b_.CreateLoad(i64_, hits_slot_);
    llvm::Value *slot = b_.CreateGEP(i8_, out_, b_.CreateMul(count, b_.getInt64(sizeof(Hit))));
    auto store = [&](llvm::Value *value, size_t offset) {
      auto *st = b_.CreateAlignedStore(value, b_.CreateConstGEP1_64(i8_, slot, offset),
                                       llvm::Align(alignof(uint32_t)));
      st->setMetadata(llvm::LLVMContext::MD_alias_scope, output_scope_);
    };
    store(b_.CreateAdd(base_index_, b_.CreateAdd(start, record)), offsetof(Hit, index));
    store(b_.CreateTrunc(distance, i32_), offsetof(Hit, distance));
    store(b_.getInt32(0), offsetof(Hit, reserved));
    b_.CreateStore(b_.CreateAdd(count, b_.getInt64(1)), hits_slot_);
    llvm::Value *rest = b_.CreateAnd(remaining, b_.CreateSub(remaining, b_.getInt64(1)));
    remaining->addIncoming(rest, b_.GetInsertBlock());
    b_.CreateCondBr(b_.CreateICmpEQ(rest, b_.getInt64(0)), group_next, hit);
  } else {
    llvm::Value *rejected = b_.CreateAnd(b_.CreateXor(below, b_.getInt64(0xff)), bits);
    llvm::Value *dropped = rejected;
    if (stage.statistical_bound != UINT32_MAX) {
      llvm::Value *over = lane_mask(
          b_.CreateICmpSGT(acc, b_.CreateVectorSplat(8, b_.getInt64(stage.statistical_bound))));
      llvm::Value *pruned = b_.CreateAnd(b_.CreateAnd(over, below), bits);
      add_to(stat_slot_, popcount(pruned));
      dropped = b_.CreateOr(rejected, pruned);
    }
    add_to(reject_slots_[s], popcount(dropped));
    llvm::Value *active = b_.CreateLoad(i64_, active_slot_);
    b_.CreateStore(b_.CreateAnd(active, b_.CreateNot(b_.CreateShl(dropped, shift))), active_slot_);
    b_.CreateBr(group_next);
  }

  b_.SetInsertPoint(group_next);
  llvm::Value *next_g = b_.CreateAdd(g, b_.getInt64(1));
  g->addIncoming(next_g, group_next);
  b_.CreateCondBr(b_.CreateICmpULT(next_g, b_.getInt64(kGroups)), group_top, stage_end);

  b_.SetInsertPoint(stage_end);
  if (last) {
    b_.CreateBr(next_block);
  } else {
    // The block ends as soon as no record is active.
    llvm::BasicBlock *continue_block = block("stage_next");
    b_.CreateCondBr(b_.CreateICmpEQ(b_.CreateLoad(i64_, active_slot_), b_.getInt64(0)), next_block,
                    continue_block);
    b_.SetInsertPoint(continue_block);
  }
}

void SweepEmitter::emit(const std::string &name) {
  const auto &stages = plan_.cascade.stages;
  auto *fn_type = llvm::FunctionType::get(i64_, {ptr_}, false);
  fn_ = llvm::Function::Create(fn_type, llvm::Function::ExternalLinkage, name, module_);
  fn_->addFnAttr(llvm::Attribute::NoUnwind);
  fn_->addFnAttr("target-cpu", target_.cpu);
  fn_->addFnAttr("target-features", target_.features);
  const std::string vector_bits = std::to_string(target_.vector_words * 64);
  fn_->addFnAttr("min-legal-vector-width", vector_bits);
  fn_->addFnAttr("prefer-vector-width", vector_bits);
  fn_->addParamAttr(0, llvm::Attribute::NoCapture);
  fn_->addParamAttr(0, llvm::Attribute::NoAlias);

  llvm::MDBuilder md(ctx_);
  llvm::MDNode *domain = md.createAnonymousAliasScopeDomain("jitson.sweep");
  input_scope_ = llvm::MDNode::get(ctx_, {md.createAnonymousAliasScope(domain, "inputs")});
  output_scope_ = llvm::MDNode::get(ctx_, {md.createAnonymousAliasScope(domain, "outputs")});

  llvm::BasicBlock *entry = block("entry");
  b_.SetInsertPoint(entry);
  args_ = fn_->getArg(0);
  auto *partials = b_.CreateAlloca(llvm::ArrayType::get(i64_, kBlock), nullptr, "partials");
  partials->setAlignment(llvm::Align(64));
  partials_ = partials;
  active_slot_ = b_.CreateAlloca(i64_, nullptr, "active");
  start_slot_ = b_.CreateAlloca(i64_, nullptr, "start");
  block_slot_ = b_.CreateAlloca(ptr_, nullptr, "block");
  hits_slot_ = b_.CreateAlloca(i64_, nullptr, "hits");
  stat_slot_ = b_.CreateAlloca(i64_, nullptr, "stat");
  words_slot_ = b_.CreateAlloca(i64_, nullptr, "words");
  for (size_t s = 0; s < stages.size(); ++s) {
    reject_slots_.push_back(b_.CreateAlloca(i64_));
    b_.CreateStore(b_.getInt64(0), reject_slots_.back());
  }
  for (llvm::Value *slot : {start_slot_, hits_slot_, stat_slot_, words_slot_})
    b_.CreateStore(b_.getInt64(0), slot);

  query_ = load_arg(ptr_, offsetof(BlockArgs, query));
  b_.CreateStore(load_arg(ptr_, offsetof(BlockArgs, records)), block_slot_);
  llvm::Value *n_records = load_arg(i64_, offsetof(BlockArgs, n_records));
  base_index_ = load_arg(i64_, offsetof(BlockArgs, base_index));
  limit_ = b_.CreateZExt(load_arg(i32_, offsetof(BlockArgs, limit)), i64_);
  limit_vec_ = b_.CreateVectorSplat(8, limit_);
  llvm::Value *reserved = b_.CreateZExt(load_arg(i32_, offsetof(BlockArgs, reserved)), i64_);
  out_ = load_arg(ptr_, offsetof(BlockArgs, out));
  llvm::Value *counters = load_arg(ptr_, offsetof(BlockArgs, counters));
  // Records below `reserved` in the first block are outside the range.
  llvm::Value *all = b_.getInt64(~uint64_t{0});
  llvm::Value *low_mask = b_.CreateSelect(
      b_.CreateICmpUGE(reserved, b_.getInt64(kBlock)), all,
      b_.CreateSub(b_.CreateShl(b_.getInt64(1), b_.CreateAnd(reserved, 63)), b_.getInt64(1)));

  llvm::BasicBlock *block_top = block("block");
  llvm::BasicBlock *block_body = block("block_body");
  llvm::BasicBlock *stages_start = block("stages");
  llvm::BasicBlock *next_block = block("next_block");
  llvm::BasicBlock *exit = block("exit");
  b_.CreateBr(block_top);

  b_.SetInsertPoint(block_top);
  llvm::Value *start = b_.CreateLoad(i64_, start_slot_);
  b_.CreateCondBr(b_.CreateICmpULT(start, n_records), block_body, exit);

  b_.SetInsertPoint(block_body);
  // Active: records [0, min(64, n_records - start)) of the block, minus the reserved ones.
  llvm::Value *in_block = b_.CreateSub(n_records, start);
  llvm::Value *active = b_.CreateSelect(
      b_.CreateICmpUGE(in_block, b_.getInt64(kBlock)), all,
      b_.CreateSub(b_.CreateShl(b_.getInt64(1), b_.CreateAnd(in_block, 63)), b_.getInt64(1)));
  active = b_.CreateAnd(active, b_.CreateNot(b_.CreateSelect(b_.CreateICmpEQ(start, b_.getInt64(0)),
                                                             low_mask, b_.getInt64(0))));
  b_.CreateStore(active, active_slot_);
  emit_prefetch(b_.CreateLoad(ptr_, block_slot_));
  b_.CreateCondBr(b_.CreateICmpEQ(b_.CreateLoad(i64_, active_slot_), b_.getInt64(0)), next_block,
                  stages_start);

  b_.SetInsertPoint(stages_start);
  for (size_t s = 0; s < stages.size(); ++s) emit_stage(s, next_block);

  b_.SetInsertPoint(next_block);
  b_.CreateStore(b_.CreateGEP(i8_, b_.CreateLoad(ptr_, block_slot_),
                              b_.getInt64(uint64_t(kBlock) * plan_.record_bytes)),
                 block_slot_);
  b_.CreateStore(b_.CreateAdd(b_.CreateLoad(i64_, start_slot_), b_.getInt64(kBlock)), start_slot_);
  b_.CreateBr(block_top);

  // Counters are added once per call.
  b_.SetInsertPoint(exit);
  auto bump = [&](size_t counter, llvm::Value *delta) {
    llvm::Value *address = b_.CreateConstGEP1_64(i8_, counters, counter * 8);
    llvm::Value *old_value = b_.CreateAlignedLoad(i64_, address, llvm::Align(8));
    auto *st = b_.CreateAlignedStore(b_.CreateAdd(old_value, delta), address, llvm::Align(8));
    st->setMetadata(llvm::LLVMContext::MD_alias_scope, output_scope_);
  };
  for (size_t s = 0; s < stages.size(); ++s) bump(s, b_.CreateLoad(i64_, reject_slots_[s]));
  bump(size_t(kCounterStatPruned), b_.CreateLoad(i64_, stat_slot_));
  bump(size_t(kCounterWordsRead), b_.CreateLoad(i64_, words_slot_));
  b_.CreateRet(b_.CreateLoad(i64_, hits_slot_));
}

}  // namespace

std::shared_ptr<CompiledCode> compile_llvm_sweep(const ScanPlan &plan, LlvmJit &jit) {
  if (plan.isa != Isa::avx512 && plan.isa != Isa::avx2) {
    throw Error(ErrorKind::unsupported,
                std::string("the LLVM sweep is generated for avx512 or avx2; the plan asks for ") +
                    isa_name(plan.isa));
  }
  LlvmJitState &state = jit.state();
  const LlvmIsaTarget &target = state.target(plan.isa);
  const Cascade &c = plan.cascade;
  if (c.block_records != kBlock || c.record_bytes != plan.record_bytes || c.record_bytes == 0 ||
      c.record_bytes % 8 != 0 || c.stages.empty() || c.stages.size() > size_t(kMaxStages)) {
    throw Error(ErrorKind::internal,
                "LLVM sweep: the plan's cascade is not a 64-record block cascade of 1..8 stages");
  }
  const uint32_t record_words = c.record_bytes / 8;
  for (const CascadeStage &st : c.stages) {
    for (const Segment &seg : st.segments) {
      if (uint64_t(seg.first_word) + seg.n_words > record_words) {
        throw Error(ErrorKind::internal, "LLVM sweep: segment at word " +
                                             std::to_string(seg.first_word) +
                                             " lies outside the record");
      }
    }
  }

  return build_llvm_kernel(jit, plan.isa, plan.key, "jitson_sweep",
                           [&](llvm::Module &module, const std::string &name) {
                             SweepEmitter(plan, target, module).emit(name);
                           });
}

}  // namespace jitson
