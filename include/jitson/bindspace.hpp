// Bindspace types (shared/spec/SEMANTICS.md §7): fixed-size fingerprints, writer-private XOR
// deltas over an immutable ground, the collapse gate that decides whether concurrent writers may
// commit, and the 2 KB byte overlays used by agents.
//
// None of these types is thread-safe: a writer owns its DeltaLayer / Overlay, and the stack or
// multi-overlay is evaluated and committed by one thread.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "jitson/error.hpp"
#include "jitson/kernels.hpp"

namespace jitson {

// Byte views below rely on these: byte k of a record is byte k % 8 of word k / 8 (SEMANTICS §1.2)
// holds for the in-memory words only on a little-endian host, and uint8_t must be a character
// type to examine another object's bytes.
static_assert(std::endian::native == std::endian::little, "jitson needs a little-endian host");
static_assert(std::is_same_v<uint8_t, unsigned char>, "jitson needs uint8_t == unsigned char");

// N u64 words = 64·N bits, word w = little-endian bytes [8w, 8w+8), bit i = bit i % 64 of word
// i / 64. The universal container of the bindspace.
template <size_t N>
struct alignas(64) Fingerprint {
  static_assert(N > 0, "a fingerprint has at least one word");
  static_assert(N <= (size_t{1} << 26), "64·N bits must fit a uint32_t distance");
  static constexpr size_t kWords = N;
  static constexpr size_t kBytes = 8 * N;
  static constexpr size_t kBits = 64 * N;

  std::array<uint64_t, N> words{};

  static constexpr Fingerprint zero() { return Fingerprint{}; }
  static constexpr Fingerprint ones() {
    Fingerprint f;
    f.words.fill(~uint64_t{0});
    return f;
  }
  // Exactly N words; Error(invalid_argument) otherwise.
  static Fingerprint from_words(std::span<const uint64_t> w) {
    if (w.size() != N) {
      throw Error(ErrorKind::invalid_argument, "Fingerprint<" + std::to_string(N) +
                                                   ">::from_words: got " +
                                                   std::to_string(w.size()) + " words; exactly " +
                                                   std::to_string(N) + " are required");
    }
    Fingerprint f;
    std::memcpy(f.words.data(), w.data(), kBytes);
    return f;
  }
  // Little-endian bytes; at least 8·N are required, extra bytes are ignored.
  static Fingerprint from_bytes(std::span<const uint8_t> bytes) {
    if (bytes.size() < kBytes) {
      throw Error(ErrorKind::invalid_argument,
                  "Fingerprint<" + std::to_string(N) + ">::from_bytes: got " +
                      std::to_string(bytes.size()) + " bytes; at least " + std::to_string(kBytes) +
                      " are required");
    }
    Fingerprint f;
    std::memcpy(f.words.data(), bytes.data(), kBytes);  // little-endian host: bytes == LE words
    return f;
  }
  std::array<uint8_t, kBytes> to_bytes() const {
    std::array<uint8_t, kBytes> out;
    std::memcpy(out.data(), words.data(), kBytes);
    return out;
  }

  // The words' own memory, as bytes (no copy). Writes through the writable view change words.
  std::span<const uint8_t, kBytes> as_bytes() const {
    // unsigned char may examine any object's bytes; the host is little-endian (asserted above).
    return std::span<const uint8_t, kBytes>(reinterpret_cast<const uint8_t *>(words.data()),
                                            kBytes);
  }
  std::span<uint8_t, kBytes> as_writable_bytes() {
    // unsigned char may access any object's bytes; the host is little-endian (asserted above).
    return std::span<uint8_t, kBytes>(reinterpret_cast<uint8_t *>(words.data()), kBytes);
  }

  // popcount(a ^ b) through the dispatched kernels.
  uint32_t hamming_distance(const Fingerprint &o) const {
    return static_cast<uint32_t>(kernels().hamming(as_bytes().data(), o.as_bytes().data(), kBytes));
  }
  uint32_t popcount() const {
    static const Fingerprint kZero{};
    return hamming_distance(kZero);
  }
  // popcount(a & b): the bits both fingerprints set (a pair's overlap / conflict).
  uint32_t overlap_bits(const Fingerprint &o) const {
    return kernels().energy_conflict(as_bytes().data(), o.as_bytes().data(), kBytes).agreement;
  }
  bool is_zero() const {
    for (uint64_t w : words) {
      if (w != 0) return false;
    }
    return true;
  }
  // 1 − hamming / bits, in [0, 1].
  double similarity(const Fingerprint &o) const {
    return 1.0 - static_cast<double>(hamming_distance(o)) / static_cast<double>(kBits);
  }

  bool bit(size_t i) const {
    check_bit(i);
    return (words[i / 64] >> (i % 64)) & 1;
  }
  void set_bit(size_t i, bool value) {
    check_bit(i);
    const uint64_t m = uint64_t{1} << (i % 64);
    words[i / 64] = value ? (words[i / 64] | m) : (words[i / 64] & ~m);
  }

  Fingerprint &operator^=(const Fingerprint &o) {
    for (size_t w = 0; w < N; ++w) words[w] ^= o.words[w];
    return *this;
  }
  Fingerprint &operator&=(const Fingerprint &o) {
    for (size_t w = 0; w < N; ++w) words[w] &= o.words[w];
    return *this;
  }
  Fingerprint &operator|=(const Fingerprint &o) {
    for (size_t w = 0; w < N; ++w) words[w] |= o.words[w];
    return *this;
  }
  friend Fingerprint operator^(Fingerprint a, const Fingerprint &b) { return a ^= b; }
  friend Fingerprint operator&(Fingerprint a, const Fingerprint &b) { return a &= b; }
  friend Fingerprint operator|(Fingerprint a, const Fingerprint &b) { return a |= b; }
  friend Fingerprint operator~(Fingerprint a) {
    for (uint64_t &w : a.words) w = ~w;
    return a;
  }
  bool operator==(const Fingerprint &) const = default;

 private:
  static void check_bit(size_t i) {
    if (i >= kBits) {
      throw Error(ErrorKind::invalid_argument, "Fingerprint<" + std::to_string(N) + ">: bit " +
                                                   std::to_string(i) + " is out of range [0, " +
                                                   std::to_string(kBits) + ")");
    }
  }
};

using Fingerprint1K = Fingerprint<128>;    // 8,192 bits (auxiliary size, not a cascade SKU)
using Fingerprint2K = Fingerprint<256>;    // 16,384 bits: SKU-16K, the 2 KB container
using Fingerprint64K = Fingerprint<1024>;  // 65,536 bits: SKU-64K
static_assert(sizeof(Fingerprint2K) == 2048 && alignof(Fingerprint2K) == 64);

// A writer's private XOR delta over an immutable ground (SEMANTICS §7.2).
template <size_t N>
struct DeltaLayer {
  Fingerprint<N> delta{};
  uint32_t writer_id = 0;

  DeltaLayer() = default;
  explicit DeltaLayer(uint32_t id) : writer_id(id) {}

  Fingerprint<N> read(const Fingerprint<N> &ground) const { return ground ^ delta; }
  // Afterwards read(ground) == value.
  void write(const Fingerprint<N> &ground, const Fingerprint<N> &value) { delta = ground ^ value; }
  void xor_patch(const Fingerprint<N> &patch) { delta ^= patch; }
  bool is_clean() const { return delta.is_zero(); }
  uint32_t changed_bits() const { return delta.popcount(); }
  uint32_t conflict_bits(const DeltaLayer &o) const { return delta.overlap_bits(o.delta); }
  bool conflicts_with(const DeltaLayer &o) const { return conflict_bits(o) > 0; }
  // ground ^ delta; consumes the layer (its delta is left zero).
  Fingerprint<N> collapse(const Fingerprint<N> &ground) && {
    Fingerprint<N> merged = ground ^ delta;
    delta = Fingerprint<N>{};
    return merged;
  }
};

// What a set of concurrent writers may do (SEMANTICS §7.3, §7.4).
enum class CollapseGate : uint8_t {
  flow,   // no pair overlaps beyond the threshold and something changed: commit
  hold,   // nothing changed: nothing to commit
  block,  // writers overlap beyond the threshold: clear or resolve, do not commit
};

inline const char *collapse_gate_name(CollapseGate g) {
  switch (g) {
    case CollapseGate::flow:
      return "flow";
    case CollapseGate::hold:
      return "hold";
    case CollapseGate::block:
      return "block";
  }
  return "?";
}

// A ground fingerprint and one DeltaLayer per writer (SEMANTICS §7.3). Conflicts are aggregated
// as the MAXIMUM overlap over writer pairs (max_pair_overlap); MultiOverlay uses the SUM.
//
// Cancellation hazard (kept on purpose, SEMANTICS §7.3): commit() XORs every delta into the
// ground, so a bit flipped by an even number of writers is NOT flipped. Two writers that write the
// same new value get identical deltas; their overlap equals the changed bits, and if that is
// within the threshold the gate says Flow and commit leaves the ground unchanged: a lost update.
// Use a threshold of 0 (any shared bit blocks) when writers may touch the same bits, and
// commit_checked() so that evaluation and commit cannot be separated by mistake.
template <size_t N>
class LayerStack {
 public:
  LayerStack() = default;
  explicit LayerStack(const Fingerprint<N> &ground) : ground_(ground) {}

  // Appends a clean writer and returns its id (0, 1, ...). References returned by writer()
  // are invalidated by add_writer().
  uint32_t add_writer() {
    const auto id = static_cast<uint32_t>(deltas_.size());
    deltas_.emplace_back(id);
    return id;
  }
  size_t writer_count() const { return deltas_.size(); }
  DeltaLayer<N> &writer(uint32_t id) { return deltas_[checked(id)]; }
  const DeltaLayer<N> &writer(uint32_t id) const { return deltas_[checked(id)]; }
  const Fingerprint<N> &ground() const { return ground_; }

  // max over pairs i < j of popcount(delta_i & delta_j); 0 with fewer than two writers.
  uint32_t max_pair_overlap() const {
    uint32_t worst = 0;
    for (size_t i = 0; i < deltas_.size(); ++i) {
      for (size_t j = i + 1; j < deltas_.size(); ++j) {
        const uint32_t overlap = deltas_[i].conflict_bits(deltas_[j]);
        if (overlap > worst) worst = overlap;
      }
    }
    return worst;
  }
  uint32_t max_conflict_bits() const { return max_pair_overlap(); }  // the seed's name

  // Block if max_pair_overlap() > conflict_threshold, else Hold if every delta is zero, else Flow.
  CollapseGate evaluate(uint32_t conflict_threshold) const {
    if (max_pair_overlap() > conflict_threshold) return CollapseGate::block;
    for (const auto &d : deltas_) {
      if (!d.is_clean()) return CollapseGate::flow;
    }
    return CollapseGate::hold;
  }

  // ground ^= delta_0 ^ delta_1 ^ ...; all deltas cleared. Does not consult evaluate().
  void commit() {
    for (auto &d : deltas_) {
      ground_ ^= d.delta;
      d.delta = Fingerprint<N>{};
    }
  }
  // Evaluates, commits only on Flow, and returns the decision; on Block and Hold the deltas
  // are left as they are (clear() is the Block action).
  CollapseGate commit_checked(uint32_t conflict_threshold) {
    const CollapseGate decision = evaluate(conflict_threshold);
    if (decision == CollapseGate::flow) commit();
    return decision;
  }
  // All deltas zero, ground unchanged.
  void clear() {
    for (auto &d : deltas_) d.delta = Fingerprint<N>{};
  }

  Fingerprint<N> read_all() const {
    Fingerprint<N> merged = ground_;
    for (const auto &d : deltas_) merged ^= d.delta;
    return merged;
  }
  // hamming(ground, read_all()): the bits an unchecked commit would change, i.e. the popcount of
  // the XOR of the deltas (symmetric difference, not the union: cancelled flips do not count).
  uint32_t total_changed_bits() const { return ground_.hamming_distance(read_all()); }

 private:
  size_t checked(uint32_t id) const {
    if (id >= deltas_.size()) {
      throw Error(ErrorKind::invalid_argument, "LayerStack: writer " + std::to_string(id) +
                                                   " does not exist; there are " +
                                                   std::to_string(deltas_.size()) + " writers");
    }
    return id;
  }

  Fingerprint<N> ground_{};
  std::vector<DeltaLayer<N>> deltas_;
};

// 2048 bytes, 64-byte aligned. The storage IS a Fingerprint<256>: words() is that object and
// bytes() views its own bytes, so both views share one address and no copy is ever made.
class AlignedBuf2K {
 public:
  static constexpr size_t kBytes = 2048;

  void zero() { words_ = Fingerprint<256>{}; }
  bool is_zero() const { return words_.is_zero(); }
  Fingerprint<256> &words() { return words_; }
  const Fingerprint<256> &words() const { return words_; }
  std::span<uint8_t, kBytes> bytes() { return words_.as_writable_bytes(); }
  std::span<const uint8_t, kBytes> bytes() const { return words_.as_bytes(); }

  // Byte i as a two's-complement int8. (No int8_t span is offered: signed char may not alias
  // another type's storage in C++, unsigned char may.)
  int8_t i8_at(size_t i) const { return static_cast<int8_t>(bytes()[checked(i)]); }
  void set_i8(size_t i, int8_t v) { bytes()[checked(i)] = static_cast<uint8_t>(v); }
  std::array<int8_t, kBytes> to_i8() const {
    std::array<int8_t, kBytes> out;
    std::memcpy(out.data(), words_.words.data(), kBytes);
    return out;
  }
  static AlignedBuf2K from_i8(std::span<const int8_t, kBytes> values) {
    AlignedBuf2K b;
    std::memcpy(b.words_.words.data(), values.data(), kBytes);
    return b;
  }

  Fingerprint<256> to_fingerprint() const { return words_; }
  static AlignedBuf2K from_fingerprint(const Fingerprint<256> &f) {
    AlignedBuf2K b;
    b.words_ = f;
    return b;
  }
  bool operator==(const AlignedBuf2K &) const = default;

 private:
  static size_t checked(size_t i) {
    if (i >= kBytes) {
      throw Error(ErrorKind::invalid_argument,
                  "AlignedBuf2K: byte " + std::to_string(i) + " is out of range [0, 2048)");
    }
    return i;
  }

  Fingerprint<256> words_{};
};
static_assert(sizeof(AlignedBuf2K) == 2048 && alignof(AlignedBuf2K) == 64);

// An agent's 2048-byte scratch delta over a container it does not own, with a stack of full
// snapshots (SEMANTICS §7.4). Containers are byte spans of at least 2048 bytes; only the first
// 2048 are read or changed (Error(invalid_argument) if shorter).
class Overlay {
 public:
  static constexpr size_t kBytes = AlignedBuf2K::kBytes;

  AlignedBuf2K &buffer() { return buffer_; }
  const AlignedBuf2K &buffer() const { return buffer_; }
  std::span<uint8_t, kBytes> bytes() { return buffer_.bytes(); }
  std::span<const uint8_t, kBytes> bytes() const { return buffer_.bytes(); }
  // The buffer as 256 words: the same object as buffer().words(), not a copy.
  Fingerprint<256> &words() { return buffer_.words(); }
  const Fingerprint<256> &words() const { return buffer_.words(); }

  void snapshot();        // pushes a copy of the buffer
  bool rewind();          // pops the last snapshot into the buffer; false if none
  void discard();         // zero buffer, no snapshots
  bool is_clean() const;  // every buffer byte is 0
  size_t snapshot_count() const { return snapshots_.size(); }

  // One byte at offset (< 2048 and < container.size()):
  uint8_t read_xor(std::span<const uint8_t> container, size_t offset) const;  // c ^ o
  uint8_t read_add(std::span<const uint8_t> container, size_t offset) const;  // (c + o) mod 256
  // sat_i8(int8(c) + int8(o)), clamped to [-128, 127].
  int8_t read_i8(std::span<const uint8_t> container, size_t offset) const;
  // The first 2048 bytes, in each mode.
  AlignedBuf2K read_full_xor(std::span<const uint8_t> container) const;
  AlignedBuf2K read_full_add(std::span<const uint8_t> container) const;
  AlignedBuf2K read_full_i8(std::span<const uint8_t> container) const;

  // Apply the buffer to the container's first 2048 bytes, then zero the buffer and drop every
  // snapshot. flush_add_i8 saturates, so unlike the others it cannot be undone.
  void flush_xor(std::span<uint8_t> container);
  void flush_add(std::span<uint8_t> container);
  void flush_add_i8(std::span<uint8_t> container);

 private:
  AlignedBuf2K buffer_{};
  std::vector<AlignedBuf2K> snapshots_;
};

// One Overlay per agent over a shared container (SEMANTICS §7.4). Conflicts are aggregated as the
// SUM of overlaps over agent pairs (sum_pair_overlap), unlike LayerStack's maximum: with three or
// more agents the two rules can give different decisions for the same bits.
class MultiOverlay {
 public:
  explicit MultiOverlay(size_t n_agents) : overlays_(n_agents) {}

  size_t agent_count() const { return overlays_.size(); }
  Overlay &agent(size_t i);
  const Overlay &agent(size_t i) const;

  // Σ over pairs i < j of popcount(o_i & o_j).
  uint64_t sum_pair_overlap() const;
  struct ConflictMap {
    bool has_conflict = false;  // total_overlap_bits > 0
    uint64_t total_overlap_bits = 0;
  };
  ConflictMap conflict_map() const;
  // Block if sum_pair_overlap() > threshold, else Hold if every overlay is clean, else Flow.
  CollapseGate evaluate(uint64_t threshold) const;

  // Flush every overlay into the container in agent order (XOR and wrapping ADD are both
  // order-independent). The container is checked before anything changes.
  void commit_xor(std::span<uint8_t> container);
  void commit_add(std::span<uint8_t> container);
  void discard_all();

 private:
  std::vector<Overlay> overlays_;
};

}  // namespace jitson
