// Bindspace types (SEMANTICS.md §7): Fingerprint, DeltaLayer, LayerStack + CollapseGate,
// AlignedBuf2K, Overlay, MultiOverlay. Distances are checked against the scalar oracle.
#include "jitson/bindspace.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "support/oracle.hpp"

namespace jitson {
namespace {

template <size_t N>
Fingerprint<N> random_fingerprint(std::mt19937_64 &rng) {
  Fingerprint<N> f;
  for (auto &w : f.words) w = rng();
  return f;
}

// A sparse fingerprint: each bit set with probability 1/16, so overlaps are small and varied.
template <size_t N>
Fingerprint<N> sparse_fingerprint(std::mt19937_64 &rng) {
  Fingerprint<N> f;
  for (auto &w : f.words) w = rng() & rng() & rng() & rng();
  return f;
}

template <size_t N>
Fingerprint<N> bits(std::initializer_list<size_t> set) {
  Fingerprint<N> f;
  for (size_t i : set) f.set_bit(i, true);
  return f;
}

template <typename F>
ErrorKind error_kind_of(F &&f) {
  try {
    f();
  } catch (const Error &e) {
    return e.kind();
  }
  ADD_FAILURE() << "no jitson::Error was thrown";
  return ErrorKind::internal;
}

bool aligned64(const void *p) {
  return reinterpret_cast<uintptr_t>(p) % 64 == 0;
}

// ---------------------------------------------------------------------------------------------
// Fingerprint

TEST(Fingerprint, SizesAliasesAndAlignment) {
  static_assert(Fingerprint2K::kBits == 16384 && Fingerprint2K::kBytes == 2048);
  static_assert(Fingerprint64K::kBits == 65536 && sizeof(Fingerprint64K) == 8192);
  static_assert(Fingerprint1K::kBits == 8192 && sizeof(Fingerprint1K) == 1024);
  static_assert(alignof(Fingerprint<1>) == 64 && alignof(Fingerprint64K) == 64);
  std::vector<Fingerprint2K> many(5);
  for (const auto &f : many) EXPECT_TRUE(aligned64(&f));
  auto heap = std::make_unique<Fingerprint<3>>();
  EXPECT_TRUE(aligned64(heap.get()));
}

TEST(Fingerprint, ZeroOnesPopcount) {
  EXPECT_TRUE(Fingerprint2K::zero().is_zero());
  EXPECT_EQ(Fingerprint2K::zero().popcount(), 0u);
  EXPECT_EQ(Fingerprint2K::ones().popcount(), 16384u);
  EXPECT_EQ(Fingerprint64K::ones().popcount(), 65536u);
  EXPECT_FALSE(Fingerprint2K::ones().is_zero());
  EXPECT_EQ(Fingerprint2K::zero().hamming_distance(Fingerprint2K::ones()), 16384u);
  Fingerprint2K one_bit;
  one_bit.set_bit(16383, true);
  EXPECT_FALSE(one_bit.is_zero());
  EXPECT_EQ(one_bit.popcount(), 1u);
}

TEST(Fingerprint, ByteOrderIsLittleEndianPerSemantics12) {
  std::vector<uint8_t> bytes(16, 0);
  bytes[0] = 0x01;
  bytes[7] = 0x80;
  bytes[8] = 0xAB;
  const auto f = Fingerprint<2>::from_bytes(bytes);
  EXPECT_EQ(f.words[0], 0x8000000000000001ull);
  EXPECT_EQ(f.words[1], 0xABull);
  EXPECT_TRUE(f.bit(0));
  EXPECT_TRUE(f.bit(63));
  EXPECT_FALSE(f.bit(1));
  EXPECT_TRUE(f.bit(64));   // 0xAB bit 0
  EXPECT_FALSE(f.bit(66));  // 0xAB bit 2
  const auto back = f.to_bytes();
  EXPECT_TRUE(std::equal(back.begin(), back.end(), bytes.begin()));
  // Bit i = bit i % 8 of byte i / 8, for every bit.
  for (size_t i = 0; i < 128; ++i) EXPECT_EQ(f.bit(i), oracle::bit(bytes.data(), i)) << i;
}

TEST(Fingerprint, FromBytesNeedsEnoughBytesAndIgnoresExtra) {
  std::vector<uint8_t> short_bytes(2047, 0xFF);
  EXPECT_EQ(error_kind_of([&] { Fingerprint2K::from_bytes(short_bytes); }),
            ErrorKind::invalid_argument);
  try {
    Fingerprint2K::from_bytes(short_bytes);
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("2047"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("2048"), std::string::npos) << e.what();
  }
  std::vector<uint8_t> long_bytes(2100);
  for (size_t i = 0; i < long_bytes.size(); ++i) long_bytes[i] = static_cast<uint8_t>(i * 7);
  const auto f = Fingerprint2K::from_bytes(long_bytes);
  const auto back = f.to_bytes();
  EXPECT_TRUE(std::equal(back.begin(), back.end(), long_bytes.begin()));
}

TEST(Fingerprint, FromWordsNeedsExactlyN) {
  std::vector<uint64_t> words = {1, 2, 3};
  const auto f = Fingerprint<3>::from_words(words);
  EXPECT_EQ(f.words[0], 1u);
  EXPECT_EQ(f.words[2], 3u);
  EXPECT_EQ(error_kind_of([&] { Fingerprint<4>::from_words(words); }), ErrorKind::invalid_argument);
  EXPECT_EQ(error_kind_of([&] { Fingerprint<2>::from_words(words); }), ErrorKind::invalid_argument);
}

TEST(Fingerprint, ByteViewIsTheSameMemory) {
  Fingerprint2K f;
  EXPECT_EQ(static_cast<const void *>(f.as_bytes().data()),
            static_cast<const void *>(f.words.data()));
  EXPECT_EQ(static_cast<void *>(f.as_writable_bytes().data()), static_cast<void *>(&f));
  f.as_writable_bytes()[9] = 0x5A;  // byte 9 = byte 1 of word 1
  EXPECT_EQ(f.words[1], 0x5A00ull);
  f.words[3] = 0x0102030405060708ull;
  EXPECT_EQ(f.as_bytes()[24], 0x08);
  EXPECT_EQ(f.as_bytes()[31], 0x01);
}

template <size_t N>
void check_against_oracle(uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (int trial = 0; trial < 20; ++trial) {
    const auto a = random_fingerprint<N>(rng);
    const auto b = trial % 3 == 0 ? sparse_fingerprint<N>(rng) : random_fingerprint<N>(rng);
    const auto ab = a.as_bytes(), bb = b.as_bytes();
    const uint64_t d = oracle::hamming(ab.data(), bb.data(), N * 8);
    EXPECT_EQ(a.hamming_distance(b), d);
    EXPECT_EQ(b.hamming_distance(a), d);
    const auto e = oracle::energy_conflict(ab.data(), bb.data(), N * 8);
    EXPECT_EQ(a.popcount(), e.energy_a);
    EXPECT_EQ(b.popcount(), e.energy_b);
    EXPECT_EQ(a.overlap_bits(b), e.agreement);
    EXPECT_EQ(a.similarity(b), 1.0 - static_cast<double>(d) / static_cast<double>(N * 64));
    EXPECT_EQ(a.hamming_distance(a), 0u);
    EXPECT_EQ(a.similarity(a), 1.0);
    EXPECT_EQ(a.similarity(~a), 0.0);
  }
}

TEST(Fingerprint, DistancesEqualTheOracle) {
  check_against_oracle<1>(1);
  check_against_oracle<5>(2);
  check_against_oracle<128>(3);
  check_against_oracle<256>(4);
  check_against_oracle<1024>(5);
}

TEST(Fingerprint, ByteViewFeedsEverySupportedIsa) {
  std::mt19937_64 rng(11);
  const auto a = random_fingerprint<256>(rng), b = random_fingerprint<256>(rng);
  const uint64_t d = oracle::hamming(a.as_bytes().data(), b.as_bytes().data(), 2048);
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (!isa_supported(isa)) continue;  // this CPU cannot run it; the active table is tested above
    EXPECT_EQ(kernel_table(isa).hamming(a.as_bytes().data(), b.as_bytes().data(), 2048), d)
        << isa_name(isa);
  }
  EXPECT_EQ(a.hamming_distance(b), d);
}

TEST(Fingerprint, BitwiseOperatorsAreWordWise) {
  std::mt19937_64 rng(7);
  const auto a = random_fingerprint<9>(rng), b = random_fingerprint<9>(rng);
  const auto x = a ^ b, n = a & b, o = a | b, c = ~a;
  for (size_t w = 0; w < 9; ++w) {
    EXPECT_EQ(x.words[w], a.words[w] ^ b.words[w]);
    EXPECT_EQ(n.words[w], a.words[w] & b.words[w]);
    EXPECT_EQ(o.words[w], a.words[w] | b.words[w]);
    EXPECT_EQ(c.words[w], ~a.words[w]);
  }
  auto y = a;
  y ^= b;
  EXPECT_EQ(y, x);
  y = a;
  y &= b;
  EXPECT_EQ(y, n);
  y = a;
  y |= b;
  EXPECT_EQ(y, o);
  EXPECT_EQ(a ^ a, Fingerprint<9>::zero());
  EXPECT_EQ(a | ~a, Fingerprint<9>::ones());
  EXPECT_NE(a, b);
  auto a2 = a;
  EXPECT_EQ(a2, a);
  a2.words[8] ^= 1;  // a difference in the last word counts
  EXPECT_NE(a2, a);
}

TEST(Fingerprint, BitAccessChecksRange) {
  Fingerprint<2> f;
  f.set_bit(127, true);
  EXPECT_EQ(f.words[1], 0x8000000000000000ull);
  f.set_bit(127, false);
  EXPECT_TRUE(f.is_zero());
  EXPECT_EQ(error_kind_of([&] { (void)f.bit(128); }), ErrorKind::invalid_argument);
  EXPECT_EQ(error_kind_of([&] { f.set_bit(128, true); }), ErrorKind::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// DeltaLayer

TEST(DeltaLayer, ReadWritePatchCollapse) {
  std::mt19937_64 rng(21);
  const auto ground = random_fingerprint<16>(rng);
  const auto value = random_fingerprint<16>(rng);
  DeltaLayer<16> layer(7);
  EXPECT_EQ(layer.writer_id, 7u);
  EXPECT_TRUE(layer.is_clean());
  EXPECT_EQ(layer.read(ground), ground);
  layer.write(ground, value);
  EXPECT_EQ(layer.read(ground), value);
  EXPECT_EQ(layer.delta, ground ^ value);
  EXPECT_EQ(layer.changed_bits(), ground.hamming_distance(value));
  EXPECT_FALSE(layer.is_clean());
  const auto patch = bits<16>({0, 5, 1000});
  layer.xor_patch(patch);
  EXPECT_EQ(layer.read(ground), value ^ patch);
  layer.xor_patch(patch);
  EXPECT_EQ(layer.read(ground), value);
  const auto merged = std::move(layer).collapse(ground);
  EXPECT_EQ(merged, value);
  EXPECT_TRUE(layer.is_clean());  // NOLINT(bugprone-use-after-move): collapse leaves it zero
}

TEST(DeltaLayer, ConflictsAreSharedDeltaBits) {
  DeltaLayer<2> a(0), b(1), c(2);
  a.xor_patch(bits<2>({1, 2, 70}));
  b.xor_patch(bits<2>({2, 70, 100}));
  c.xor_patch(bits<2>({3}));
  EXPECT_EQ(a.conflict_bits(b), 2u);
  EXPECT_EQ(b.conflict_bits(a), 2u);
  EXPECT_TRUE(a.conflicts_with(b));
  EXPECT_EQ(a.conflict_bits(c), 0u);
  EXPECT_FALSE(a.conflicts_with(c));
}

// ---------------------------------------------------------------------------------------------
// LayerStack and CollapseGate

TEST(LayerStack, SemanticsExample73) {
  LayerStack<1> stack(Fingerprint<1>::zero());
  const uint32_t w0 = stack.add_writer();
  const uint32_t w1 = stack.add_writer();
  EXPECT_EQ(w0, 0u);
  EXPECT_EQ(w1, 1u);
  stack.writer(w0).xor_patch(Fingerprint<1>::from_words(std::vector<uint64_t>{0b0011}));
  stack.writer(w1).xor_patch(Fingerprint<1>::from_words(std::vector<uint64_t>{0b0110}));
  EXPECT_EQ(stack.max_pair_overlap(), 1u);
  EXPECT_EQ(stack.max_conflict_bits(), 1u);
  EXPECT_EQ(stack.evaluate(0), CollapseGate::block);
  EXPECT_EQ(stack.evaluate(1), CollapseGate::flow);
  EXPECT_EQ(stack.read_all().words[0], 0b0101u);
  EXPECT_EQ(stack.total_changed_bits(), 2u);
  stack.commit();
  EXPECT_EQ(stack.ground().words[0], 0b0101u);
  EXPECT_TRUE(stack.writer(0).is_clean());
  EXPECT_TRUE(stack.writer(1).is_clean());
  EXPECT_EQ(stack.evaluate(0), CollapseGate::hold);
}

TEST(LayerStack, MaxOverPairsAndEdgeCases) {
  LayerStack<4> stack;
  EXPECT_EQ(stack.max_pair_overlap(), 0u);
  EXPECT_EQ(stack.evaluate(0), CollapseGate::hold);  // no writers: nothing changed
  stack.add_writer();
  stack.writer(0).xor_patch(Fingerprint<4>::ones());
  EXPECT_EQ(stack.max_pair_overlap(), 0u);  // a single writer has no pair
  EXPECT_EQ(stack.evaluate(0), CollapseGate::flow);
  stack.add_writer();
  stack.add_writer();
  stack.writer(1).xor_patch(bits<4>({1, 2, 3}));
  stack.writer(2).xor_patch(bits<4>({200, 201, 202, 203, 204}));
  // pairs: (0,1) 3, (0,2) 5, (1,2) 0 → max 5
  EXPECT_EQ(stack.max_pair_overlap(), 5u);
  EXPECT_EQ(stack.evaluate(4), CollapseGate::block);
  EXPECT_EQ(stack.evaluate(5), CollapseGate::flow);  // strict: overlap == threshold flows
  EXPECT_EQ(stack.writer_count(), 3u);
  EXPECT_EQ(error_kind_of([&] { stack.writer(3); }), ErrorKind::invalid_argument);
}

TEST(LayerStack, RuleOrderBlockThenHoldThenFlow) {
  LayerStack<1> stack;
  stack.add_writer();
  stack.add_writer();
  EXPECT_EQ(stack.evaluate(0), CollapseGate::hold);  // all clean
  stack.writer(0).xor_patch(bits<1>({4}));
  EXPECT_EQ(stack.evaluate(0), CollapseGate::flow);  // one dirty writer, no overlap
  stack.writer(1).xor_patch(bits<1>({4}));
  EXPECT_EQ(stack.evaluate(0), CollapseGate::block);  // overlap beats "something changed"
  stack.clear();
  EXPECT_EQ(stack.evaluate(0), CollapseGate::hold);
  EXPECT_TRUE(stack.ground().is_zero());  // clear keeps the ground
}

TEST(LayerStack, CommitIgnoresTheGateCommitCheckedDoesNot) {
  const auto ground = bits<2>({0, 64});
  LayerStack<2> stack(ground);
  stack.add_writer();
  stack.add_writer();
  stack.writer(0).xor_patch(bits<2>({1, 2}));
  stack.writer(1).xor_patch(bits<2>({2, 3}));

  EXPECT_EQ(stack.commit_checked(0), CollapseGate::block);
  EXPECT_EQ(stack.ground(), ground);                  // nothing committed
  EXPECT_EQ(stack.writer(0).delta, bits<2>({1, 2}));  // deltas kept for the caller
  EXPECT_EQ(stack.writer(1).delta, bits<2>({2, 3}));

  LayerStack<2> unchecked = stack;
  unchecked.commit();  // commits despite Block
  EXPECT_EQ(unchecked.ground(), bits<2>({0, 64, 1, 3}));

  EXPECT_EQ(stack.commit_checked(1), CollapseGate::flow);
  EXPECT_EQ(stack.ground(), bits<2>({0, 64, 1, 3}));
  EXPECT_TRUE(stack.writer(0).is_clean());
  EXPECT_EQ(stack.commit_checked(1), CollapseGate::hold);
  EXPECT_EQ(stack.ground(), bits<2>({0, 64, 1, 3}));
}

TEST(LayerStack, TotalChangedBitsIsSymmetricDifferenceNotUnion) {
  LayerStack<1> stack;
  stack.add_writer();
  stack.add_writer();
  stack.writer(0).xor_patch(bits<1>({0, 1, 2}));
  stack.writer(1).xor_patch(bits<1>({2, 3}));
  // union {0,1,2,3} = 4 bits; XOR of the deltas {0,1,3} = 3 bits
  EXPECT_EQ(stack.total_changed_bits(), 3u);
  EXPECT_EQ(stack.read_all(), bits<1>({0, 1, 3}));
}

// The documented hazard (SEMANTICS §7.3): identical writes cancel at commit.
TEST(LayerStack, CancellationHazardLosesIdenticalUpdates) {
  std::mt19937_64 rng(99);
  const auto ground = random_fingerprint<4>(rng);
  auto value = ground;
  value.words[0] ^= 0xFF;  // the new value differs from the ground in 8 bits
  LayerStack<4> stack(ground);
  stack.add_writer();
  stack.add_writer();
  stack.writer(0).write(ground, value);
  stack.writer(1).write(ground, value);
  EXPECT_EQ(stack.writer(0).read(ground), value);  // each writer sees its own update
  EXPECT_EQ(stack.max_pair_overlap(), 8u);
  EXPECT_EQ(stack.total_changed_bits(), 0u);

  // A threshold at or above the overlap lets it Flow, and the commit loses the update.
  EXPECT_EQ(stack.commit_checked(8), CollapseGate::flow);
  EXPECT_EQ(stack.ground(), ground);
  EXPECT_NE(stack.ground(), value);

  // Threshold 0 catches it.
  stack.writer(0).write(ground, value);
  stack.writer(1).write(ground, value);
  EXPECT_EQ(stack.commit_checked(0), CollapseGate::block);
  EXPECT_EQ(stack.ground(), ground);
}

// ≥ 3 writers: LayerStack's max and MultiOverlay's sum over pairs disagree (SEMANTICS §7.4).
TEST(LayerStack, MaxAndSumAggregationDecideDifferently) {
  // Three writers, each pair shares exactly one bit: max 1, sum 3.
  const std::vector<Fingerprint2K> deltas = {bits<256>({0, 1, 500}), bits<256>({1, 2, 600}),
                                             bits<256>({2, 0, 16383})};
  LayerStack<256> stack;
  MultiOverlay multi(3);
  for (size_t i = 0; i < deltas.size(); ++i) {
    stack.writer(stack.add_writer()).xor_patch(deltas[i]);
    multi.agent(i).words() = deltas[i];
  }
  EXPECT_EQ(stack.max_pair_overlap(), 1u);
  EXPECT_EQ(multi.sum_pair_overlap(), 3u);
  for (uint32_t threshold : {1u, 2u}) {
    EXPECT_EQ(stack.evaluate(threshold), CollapseGate::flow) << threshold;
    EXPECT_EQ(multi.evaluate(threshold), CollapseGate::block) << threshold;
  }
  EXPECT_EQ(stack.evaluate(0), CollapseGate::block);
  EXPECT_EQ(multi.evaluate(3), CollapseGate::flow);
}

TEST(CollapseGate, Names) {
  EXPECT_STREQ(collapse_gate_name(CollapseGate::flow), "flow");
  EXPECT_STREQ(collapse_gate_name(CollapseGate::hold), "hold");
  EXPECT_STREQ(collapse_gate_name(CollapseGate::block), "block");
}

// ---------------------------------------------------------------------------------------------
// AlignedBuf2K

TEST(AlignedBuf2K, ViewsShareOneAddressNoCopy) {
  static_assert(sizeof(AlignedBuf2K) == 2048 && alignof(AlignedBuf2K) == 64);
  AlignedBuf2K buf;
  EXPECT_TRUE(aligned64(&buf));
  EXPECT_TRUE(buf.is_zero());
  EXPECT_EQ(static_cast<void *>(&buf.words()), static_cast<void *>(&buf));
  EXPECT_EQ(static_cast<void *>(buf.bytes().data()), static_cast<void *>(&buf.words()));
  buf.bytes()[2047] = 0x80;
  EXPECT_EQ(buf.words().words[255], 0x8000000000000000ull);
  EXPECT_TRUE(buf.words().bit(16383));
  buf.words().words[0] = 0xFF01;
  EXPECT_EQ(buf.bytes()[0], 0x01);
  EXPECT_EQ(buf.bytes()[1], 0xFF);
  EXPECT_EQ(buf.i8_at(1), -1);
  buf.zero();
  EXPECT_TRUE(buf.is_zero());
  EXPECT_EQ(buf.words(), Fingerprint2K::zero());
}

TEST(AlignedBuf2K, I8AndFingerprintConversions) {
  AlignedBuf2K buf;
  buf.set_i8(0, -128);
  buf.set_i8(1, 127);
  buf.set_i8(2, -1);
  EXPECT_EQ(buf.bytes()[0], 0x80);
  EXPECT_EQ(buf.bytes()[1], 0x7F);
  EXPECT_EQ(buf.bytes()[2], 0xFF);
  EXPECT_EQ(buf.i8_at(0), -128);
  const auto values = buf.to_i8();
  EXPECT_EQ(values[0], -128);
  EXPECT_EQ(values[2], -1);
  EXPECT_EQ(AlignedBuf2K::from_i8(values), buf);
  EXPECT_EQ(error_kind_of([&] { (void)buf.i8_at(2048); }), ErrorKind::invalid_argument);
  EXPECT_EQ(error_kind_of([&] { buf.set_i8(2048, 1); }), ErrorKind::invalid_argument);

  std::mt19937_64 rng(5);
  const auto f = random_fingerprint<256>(rng);
  const auto from = AlignedBuf2K::from_fingerprint(f);
  EXPECT_EQ(from.to_fingerprint(), f);
  const auto le = f.to_bytes();
  EXPECT_TRUE(std::equal(le.begin(), le.end(), from.bytes().begin()));  // LE words = bytes
}

// ---------------------------------------------------------------------------------------------
// Overlay

std::vector<uint8_t> random_bytes(std::mt19937_64 &rng, size_t n) {
  std::vector<uint8_t> v(n);
  for (auto &b : v) b = static_cast<uint8_t>(rng());
  return v;
}

int8_t saturating_i8(uint8_t c, uint8_t o) {
  int sum = int{static_cast<int8_t>(c)} + int{static_cast<int8_t>(o)};
  if (sum > 127) sum = 127;
  if (sum < -128) sum = -128;
  return static_cast<int8_t>(sum);
}

TEST(Overlay, WordViewIsTheBufferItself) {
  Overlay o;
  EXPECT_TRUE(aligned64(&o.words()));
  EXPECT_EQ(&o.words(), &o.buffer().words());
  EXPECT_EQ(static_cast<void *>(o.bytes().data()), static_cast<void *>(&o.words()));
  EXPECT_EQ(static_cast<void *>(o.buffer().bytes().data()), static_cast<void *>(&o.words()));
  o.words().words[2] = 0x1122334455667788ull;  // write through the Fingerprint view
  EXPECT_EQ(o.bytes()[16], 0x88);
  EXPECT_EQ(o.buffer().bytes()[23], 0x11);
  o.bytes()[2040] = 0xAA;  // write through the byte view
  EXPECT_EQ(o.words().words[255], 0xAAull);
  EXPECT_EQ(o.buffer().words().words[255], 0xAAull);
  Fingerprint2K &view = o.words();
  view.set_bit(5, true);
  EXPECT_EQ(o.bytes()[0], 0x20);
}

TEST(Overlay, SnapshotRewindDiscard) {
  Overlay o;
  EXPECT_TRUE(o.is_clean());
  EXPECT_FALSE(o.rewind());
  o.bytes()[0] = 1;
  o.snapshot();
  o.bytes()[1] = 2;
  o.snapshot();
  o.bytes()[2] = 3;
  EXPECT_EQ(o.snapshot_count(), 2u);
  EXPECT_TRUE(o.rewind());  // back to {1, 2}
  EXPECT_EQ(o.bytes()[1], 2);
  EXPECT_EQ(o.bytes()[2], 0);
  EXPECT_TRUE(o.rewind());  // back to {1}
  EXPECT_EQ(o.bytes()[0], 1);
  EXPECT_EQ(o.bytes()[1], 0);
  EXPECT_FALSE(o.rewind());
  EXPECT_EQ(o.bytes()[0], 1);  // a failed rewind leaves the buffer alone
  EXPECT_FALSE(o.is_clean());
  o.snapshot();
  o.discard();
  EXPECT_TRUE(o.is_clean());
  EXPECT_EQ(o.snapshot_count(), 0u);
  EXPECT_FALSE(o.rewind());
}

TEST(Overlay, ReadModesMatchTheirDefinitions) {
  std::mt19937_64 rng(42);
  Overlay o;
  const auto overlay_bytes = random_bytes(rng, 2048);
  std::copy(overlay_bytes.begin(), overlay_bytes.end(), o.bytes().begin());
  const auto container = random_bytes(rng, 2100);  // longer containers are fine
  const auto full_xor = o.read_full_xor(container);
  const auto full_add = o.read_full_add(container);
  const auto full_i8 = o.read_full_i8(container);
  for (size_t i = 0; i < 2048; ++i) {
    const uint8_t c = container[i], v = overlay_bytes[i];
    EXPECT_EQ(o.read_xor(container, i), c ^ v);
    EXPECT_EQ(o.read_add(container, i), static_cast<uint8_t>((c + v) % 256));
    EXPECT_EQ(o.read_i8(container, i), saturating_i8(c, v));
    EXPECT_EQ(full_xor.bytes()[i], c ^ v);
    EXPECT_EQ(full_add.bytes()[i], static_cast<uint8_t>((c + v) % 256));
    EXPECT_EQ(full_i8.i8_at(i), saturating_i8(c, v));
  }
  EXPECT_EQ(o.read_full_xor(container).words(), o.words() ^ Fingerprint2K::from_bytes(container));
}

TEST(Overlay, AddWrapsAndI8Saturates) {
  Overlay o;
  std::vector<uint8_t> c(2048, 0);
  c[0] = 200;
  o.bytes()[0] = 100;  // 300 mod 256 = 44; as i8: -56 + 100 = 44
  c[1] = 100;
  o.bytes()[1] = 100;  // i8: 200 → 127
  c[2] = static_cast<uint8_t>(-100);
  o.bytes()[2] = static_cast<uint8_t>(-100);  // i8: -200 → -128; add: 312 mod 256 = 56
  c[3] = 0x80;
  o.bytes()[3] = 0xFF;  // i8: -128 + -1 → -128 (stays saturated); add: 0x7F
  c[4] = 127;
  o.bytes()[4] = 0x81;  // i8: 127 + -127 = 0
  EXPECT_EQ(o.read_add(c, 0), 44);
  EXPECT_EQ(o.read_i8(c, 0), 44);
  EXPECT_EQ(o.read_add(c, 1), 200);
  EXPECT_EQ(o.read_i8(c, 1), 127);
  EXPECT_EQ(o.read_add(c, 2), 56);
  EXPECT_EQ(o.read_i8(c, 2), -128);
  EXPECT_EQ(o.read_add(c, 3), 0x7F);
  EXPECT_EQ(o.read_i8(c, 3), -128);
  EXPECT_EQ(o.read_i8(c, 4), 0);

  auto saturated = c;
  o.snapshot();
  o.flush_add_i8(saturated);
  EXPECT_EQ(saturated[1], 127);
  EXPECT_EQ(saturated[2], 0x80);
  EXPECT_EQ(saturated[3], 0x80);
  EXPECT_EQ(saturated[4], 0);
  EXPECT_TRUE(o.is_clean());
  EXPECT_EQ(o.snapshot_count(), 0u);
}

TEST(Overlay, FlushesApplyZeroAndDropSnapshots) {
  std::mt19937_64 rng(8);
  const auto delta = random_bytes(rng, 2048);
  const auto original = random_bytes(rng, 3000);
  using Flush = void (Overlay::*)(std::span<uint8_t>);
  using Read = AlignedBuf2K (Overlay::*)(std::span<const uint8_t>) const;
  const std::vector<std::pair<Flush, Read>> modes = {
      {&Overlay::flush_xor, &Overlay::read_full_xor},
      {&Overlay::flush_add, &Overlay::read_full_add},
      {&Overlay::flush_add_i8, &Overlay::read_full_i8}};
  for (const auto &[flush, read] : modes) {
    Overlay o;
    std::copy(delta.begin(), delta.end(), o.bytes().begin());
    o.snapshot();
    o.snapshot();
    auto container = original;
    const AlignedBuf2K expected = (o.*read)(container);
    (o.*flush)(container);
    EXPECT_TRUE(std::equal(expected.bytes().begin(), expected.bytes().end(), container.begin()));
    EXPECT_TRUE(std::equal(container.begin() + 2048, container.end(), original.begin() + 2048))
        << "bytes past 2048 must not change";
    EXPECT_TRUE(o.is_clean());
    EXPECT_EQ(o.snapshot_count(), 0u);
  }
  // XOR twice restores; ADD then ADD of the negation restores.
  Overlay o;
  std::copy(delta.begin(), delta.end(), o.bytes().begin());
  auto c = original;
  o.flush_xor(c);
  std::copy(delta.begin(), delta.end(), o.bytes().begin());
  o.flush_xor(c);
  EXPECT_EQ(c, original);
}

TEST(Overlay, ShortContainersAndBadOffsetsAreRejected) {
  Overlay o;
  o.bytes()[0] = 1;
  std::vector<uint8_t> short_container(2047, 9);
  const auto before = short_container;
  EXPECT_EQ(error_kind_of([&] { o.flush_xor(short_container); }), ErrorKind::invalid_argument);
  EXPECT_EQ(error_kind_of([&] { o.flush_add(short_container); }), ErrorKind::invalid_argument);
  EXPECT_EQ(error_kind_of([&] { o.flush_add_i8(short_container); }), ErrorKind::invalid_argument);
  EXPECT_EQ(error_kind_of([&] { o.read_full_xor(short_container); }), ErrorKind::invalid_argument);
  EXPECT_EQ(error_kind_of([&] { o.read_full_add(short_container); }), ErrorKind::invalid_argument);
  EXPECT_EQ(error_kind_of([&] { o.read_full_i8(short_container); }), ErrorKind::invalid_argument);
  EXPECT_EQ(short_container, before);
  EXPECT_FALSE(o.is_clean());  // a rejected flush leaves the buffer
  try {
    o.flush_xor(short_container);
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("2047"), std::string::npos) << e.what();
  }
  // Single-byte reads work on short containers inside their bounds only.
  EXPECT_EQ(o.read_xor(short_container, 0), 9 ^ 1);
  EXPECT_EQ(error_kind_of([&] { o.read_xor(short_container, 2047); }), ErrorKind::invalid_argument);
  std::vector<uint8_t> big(4096, 0);
  EXPECT_EQ(error_kind_of([&] { o.read_add(big, 2048); }), ErrorKind::invalid_argument);
  EXPECT_EQ(error_kind_of([&] { o.read_i8(big, 5000); }), ErrorKind::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// MultiOverlay

TEST(MultiOverlay, SumOverPairsAndGate) {
  MultiOverlay multi(3);
  EXPECT_EQ(multi.agent_count(), 3u);
  EXPECT_EQ(multi.evaluate(0), CollapseGate::hold);
  EXPECT_FALSE(multi.conflict_map().has_conflict);
  multi.agent(0).words() = bits<256>({0, 1, 2, 3});
  EXPECT_EQ(multi.evaluate(0), CollapseGate::flow);
  multi.agent(1).words() = bits<256>({2, 3, 4});
  multi.agent(2).words() = bits<256>({3, 4, 9000});
  // (0,1) {2,3} = 2, (0,2) {3} = 1, (1,2) {3,4} = 2 → 5
  EXPECT_EQ(multi.sum_pair_overlap(), 5u);
  const auto map = multi.conflict_map();
  EXPECT_TRUE(map.has_conflict);
  EXPECT_EQ(map.total_overlap_bits, 5u);
  EXPECT_EQ(multi.evaluate(4), CollapseGate::block);
  EXPECT_EQ(multi.evaluate(5), CollapseGate::flow);
  EXPECT_EQ(error_kind_of([&] { multi.agent(3); }), ErrorKind::invalid_argument);
  const MultiOverlay &constant = multi;
  EXPECT_EQ(&constant.agent(2), &multi.agent(2));
  multi.discard_all();
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(multi.agent(i).is_clean());
  EXPECT_EQ(multi.evaluate(0), CollapseGate::hold);
}

TEST(MultiOverlay, SumMatchesOracleOnRandomOverlays) {
  std::mt19937_64 rng(77);
  MultiOverlay multi(5);
  for (size_t i = 0; i < 5; ++i) multi.agent(i).words() = sparse_fingerprint<256>(rng);
  uint64_t expected = 0;
  for (size_t i = 0; i < 5; ++i) {
    for (size_t j = i + 1; j < 5; ++j) {
      expected += oracle::energy_conflict(multi.agent(i).bytes().data(),
                                          multi.agent(j).bytes().data(), 2048)
                      .agreement;
    }
  }
  EXPECT_GT(expected, 0u);
  EXPECT_EQ(multi.sum_pair_overlap(), expected);
}

TEST(MultiOverlay, CommitsFlushEveryAgentOrderFree) {
  std::mt19937_64 rng(3);
  const auto original = random_bytes(rng, 2048);
  std::vector<std::vector<uint8_t>> deltas;
  for (int i = 0; i < 3; ++i) deltas.push_back(random_bytes(rng, 2048));

  MultiOverlay multi(3), reversed(3);
  for (size_t i = 0; i < 3; ++i) {
    std::copy(deltas[i].begin(), deltas[i].end(), multi.agent(i).bytes().begin());
    std::copy(deltas[i].begin(), deltas[i].end(), reversed.agent(2 - i).bytes().begin());
  }
  auto c_xor = original, c_xor_rev = original;
  multi.commit_xor(c_xor);
  reversed.commit_xor(c_xor_rev);
  EXPECT_EQ(c_xor, c_xor_rev);
  for (size_t b = 0; b < 2048; ++b) {
    EXPECT_EQ(c_xor[b], original[b] ^ deltas[0][b] ^ deltas[1][b] ^ deltas[2][b]);
  }
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(multi.agent(i).is_clean());

  for (size_t i = 0; i < 3; ++i) {
    std::copy(deltas[i].begin(), deltas[i].end(), multi.agent(i).bytes().begin());
    std::copy(deltas[i].begin(), deltas[i].end(), reversed.agent(2 - i).bytes().begin());
  }
  auto c_add = original, c_add_rev = original;
  multi.commit_add(c_add);
  reversed.commit_add(c_add_rev);
  EXPECT_EQ(c_add, c_add_rev);
  for (size_t b = 0; b < 2048; ++b) {
    EXPECT_EQ(c_add[b],
              static_cast<uint8_t>(original[b] + deltas[0][b] + deltas[1][b] + deltas[2][b]));
  }
  EXPECT_EQ(multi.evaluate(0), CollapseGate::hold);
}

TEST(MultiOverlay, ShortContainerChangesNothing) {
  MultiOverlay multi(2);
  multi.agent(0).bytes()[0] = 1;
  multi.agent(1).bytes()[1] = 2;
  std::vector<uint8_t> c(100, 0);
  EXPECT_EQ(error_kind_of([&] { multi.commit_xor(c); }), ErrorKind::invalid_argument);
  EXPECT_EQ(error_kind_of([&] { multi.commit_add(c); }), ErrorKind::invalid_argument);
  EXPECT_FALSE(multi.agent(0).is_clean());
  EXPECT_FALSE(multi.agent(1).is_clean());
  EXPECT_EQ(c, std::vector<uint8_t>(100, 0));
}

}  // namespace
}  // namespace jitson
