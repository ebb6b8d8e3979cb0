// Pieces shared by the Xbyak generators (xbyak_scan.cpp, xbyak_sweep.cpp): the rip-relative
// constant pool, the ISA check, the grow-and-retry emission into a scratch buffer and the
// installed code's lifetime in its CodeArena.
#pragma once

#include <xbyak/xbyak.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "jit/backend.hpp"
#include "jit/code_arena.hpp"
#include "jitson/cpu.hpp"
#include "jitson/error.hpp"
#include "jitson/plan.hpp"

namespace jitson::xbyak_common {

// Constants addressed rip-relative from the code; equal word vectors share one label.
class ConstantPool {
 public:
  const Xbyak::Label &label_for(std::vector<uint64_t> words) {
    auto it = index_.find(words);
    if (it != index_.end()) return it->second->label;
    constants_.emplace_back();
    constants_.back().words = words;
    index_.emplace(std::move(words), &constants_.back());
    return constants_.back().label;
  }

  // Emits every constant at the generator's current position and binds its label.
  void emit(Xbyak::CodeGenerator &gen) {
    if (constants_.empty()) return;
    std::vector<Constant *> order;
    for (auto &c : constants_) order.push_back(&c);
    // Largest first keeps every constant aligned to its own size after one align(64).
    std::stable_sort(order.begin(), order.end(), [](const Constant *a, const Constant *b) {
      return a->words.size() > b->words.size();
    });
    gen.align(64);
    for (Constant *c : order) {
      gen.L(c->label);
      for (uint64_t w : c->words) gen.dq(w);
    }
  }

 private:
  struct Constant {
    std::vector<uint64_t> words;
    Xbyak::Label label;
  };
  std::deque<Constant> constants_;  // a deque: labels must not move once referenced
  std::map<std::vector<uint64_t>, Constant *> index_;
};

// Throws unless the plan is for avx512 or avx2 and this CPU runs it. `what` names the product
// ("code", "sweeps") in the message.
// The focused words of one cascade stage grouped by the vector chunk (chunk_bytes of the ISA)
// that holds them, in chunk order: lanes has bit l for word index * lanes_per_chunk + l, masks[l]
// its AND mask (all ones for a full word), partial whether any lane is masked. Words with no
// focused bit are left out (never loaded). Throws Error(internal) for a segment outside the record
// or a word that appears twice. Shared by the Hamming and Tanimoto row kernels
// (jit/xbyak_chunks.cpp).
struct FocusChunk {
  uint32_t index;
  uint8_t lanes = 0;
  bool partial = false;
  std::array<uint64_t, 8> masks{};
};
std::vector<FocusChunk> stage_focus_chunks(const CascadeStage &stage, uint32_t record_words,
                                           uint32_t lanes_per_chunk);

inline void require_xbyak_isa(const ScanPlan &plan, const char *what) {
  if (plan.isa != Isa::avx512 && plan.isa != Isa::avx2) {
    throw Error(ErrorKind::unsupported, std::string("xbyak emits avx512 or avx2 ") + what +
                                            "; the plan asks for " + isa_name(plan.isa));
  }
  if (!isa_supported(plan.isa)) {
    throw Error(ErrorKind::unsupported,
                std::string("this CPU cannot run ") + isa_name(plan.isa) + " code");
  }
}

// A 64-byte aligned scratch buffer for emission (Xbyak writes into it; it is never
// executable), reused so that compiling allocates nothing but the arena range.
class EmitBuffer {
 public:
  EmitBuffer() = default;
  EmitBuffer(const EmitBuffer &) = delete;
  EmitBuffer &operator=(const EmitBuffer &) = delete;
  ~EmitBuffer() { release(); }
  uint8_t *get(size_t n) {
    if (n > size_) {
      release();
      data_ = static_cast<uint8_t *>(::operator new(n, std::align_val_t(64)));
      size_ = n;
    }
    return data_;
  }

 private:
  void release() {
    if (data_) ::operator delete(data_, std::align_val_t(64));
    data_ = nullptr;
    size_ = 0;
  }
  uint8_t *data_ = nullptr;
  size_t size_ = 0;
};

// Emitted code installed in a CodeArena; the range goes back to the arena with the last
// reference.
class ArenaCode final : public CompiledCode {
 public:
  ArenaCode(CodeArena arena, const uint8_t *exec, size_t bytes)
      : arena_(std::move(arena)), exec_(exec), bytes_(bytes) {}
  ~ArenaCode() override {
    try {
      arena_.free(exec_);
    } catch (...) {
      // free() only throws for an address it never handed out, which cannot happen here.
    }
  }
  // reinterpret_cast: exec_ is the first byte of a function emitted for the BlockFn ABI and
  // mapped read+exec by the arena.
  BlockFn entry() const override { return reinterpret_cast<BlockFn>(const_cast<uint8_t *>(exec_)); }
  const void *code_address() const override { return exec_; }
  size_t code_bytes() const override { return bytes_; }

 private:
  CodeArena arena_;
  const uint8_t *exec_;
  size_t bytes_;
};

// Builds Emitter(buffer, capacity, emitter_args...) in this thread's scratch buffer, runs
// body(emitter), doubling the capacity while the code does not fit (up to 256 MiB), and installs
// the result in the arena. `name` prefixes the internal error messages.
template <class Emitter, class Body, class... Args>
std::shared_ptr<CompiledCode> emit_and_install(CodeArena &arena, size_t capacity, const char *name,
                                               Body &&body, const Args &...emitter_args) {
  thread_local EmitBuffer buffer;
  size_t size = 0;
  uint8_t *code = nullptr;
  for (;;) {
    code = buffer.get(capacity);
    try {
      Emitter emitter(code, capacity, emitter_args...);
      body(emitter);
      if (emitter.hasUndefinedLabel()) {
        throw Error(ErrorKind::internal, std::string(name) + " code has an undefined label");
      }
      size = emitter.getSize();
      break;
    } catch (const Xbyak::Error &e) {
      if (int(e) != Xbyak::ERR_CODE_IS_TOO_BIG || capacity > (size_t{256} << 20)) {
        throw Error(ErrorKind::internal, std::string(name) + ": " + e.what());
      }
      capacity *= 2;
    }
  }
  const uint8_t *exec = arena.install(code, size);
  try {
    return std::make_shared<ArenaCode>(arena, exec, size);
  } catch (...) {
    arena.free(exec);
    throw;
  }
}

}  // namespace jitson::xbyak_common
