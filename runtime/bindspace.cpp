// Overlay and MultiOverlay (SEMANTICS.md §7.4); the templates live in the header.
#include "jitson/bindspace.hpp"

#include <algorithm>

namespace jitson {
namespace {

constexpr size_t kOverlayBytes = Overlay::kBytes;

void check_container(size_t size, const char *what) {
  if (size < kOverlayBytes) {
    throw Error(ErrorKind::invalid_argument, std::string(what) + ": the container is " +
                                                 std::to_string(size) +
                                                 " bytes; it must hold at least 2048");
  }
}

void check_offset(size_t container_size, size_t offset, const char *what) {
  if (offset >= kOverlayBytes || offset >= container_size) {
    throw Error(ErrorKind::invalid_argument,
                std::string(what) + ": offset " + std::to_string(offset) +
                    " is out of range; it must be below 2048 and below the container size " +
                    std::to_string(container_size));
  }
}

void check_agent(size_t i, size_t n_agents) {
  if (i >= n_agents) {
    throw Error(ErrorKind::invalid_argument, "MultiOverlay: agent " + std::to_string(i) +
                                                 " does not exist; there are " +
                                                 std::to_string(n_agents) + " agents");
  }
}

uint8_t add_wrapping(uint8_t c, uint8_t o) {
  return static_cast<uint8_t>(c + o);
}

uint8_t add_saturating_i8(uint8_t c, uint8_t o) {
  const int sum = static_cast<int8_t>(c) + static_cast<int8_t>(o);
  return static_cast<uint8_t>(static_cast<int8_t>(std::clamp(sum, -128, 127)));
}

template <typename Combine>
AlignedBuf2K read_full(const AlignedBuf2K &buffer, std::span<const uint8_t> container,
                       Combine combine) {
  AlignedBuf2K out;
  const auto o = buffer.bytes();
  const auto r = out.bytes();
  for (size_t i = 0; i < kOverlayBytes; ++i) r[i] = combine(container[i], o[i]);
  return out;
}

template <typename Combine>
void apply(const AlignedBuf2K &buffer, std::span<uint8_t> container, Combine combine) {
  const auto o = buffer.bytes();
  for (size_t i = 0; i < kOverlayBytes; ++i) container[i] = combine(container[i], o[i]);
}

}  // namespace

void Overlay::snapshot() {
  snapshots_.push_back(buffer_);
}

bool Overlay::rewind() {
  if (snapshots_.empty()) return false;
  buffer_ = snapshots_.back();
  snapshots_.pop_back();
  return true;
}

void Overlay::discard() {
  buffer_.zero();
  snapshots_.clear();
}

bool Overlay::is_clean() const {
  return buffer_.is_zero();
}

uint8_t Overlay::read_xor(std::span<const uint8_t> container, size_t offset) const {
  check_offset(container.size(), offset, "Overlay::read_xor");
  return container[offset] ^ bytes()[offset];
}

uint8_t Overlay::read_add(std::span<const uint8_t> container, size_t offset) const {
  check_offset(container.size(), offset, "Overlay::read_add");
  return add_wrapping(container[offset], bytes()[offset]);
}

int8_t Overlay::read_i8(std::span<const uint8_t> container, size_t offset) const {
  check_offset(container.size(), offset, "Overlay::read_i8");
  return static_cast<int8_t>(add_saturating_i8(container[offset], bytes()[offset]));
}

AlignedBuf2K Overlay::read_full_xor(std::span<const uint8_t> container) const {
  check_container(container.size(), "Overlay::read_full_xor");
  return read_full(buffer_, container, [](uint8_t c, uint8_t o) -> uint8_t { return c ^ o; });
}

AlignedBuf2K Overlay::read_full_add(std::span<const uint8_t> container) const {
  check_container(container.size(), "Overlay::read_full_add");
  return read_full(buffer_, container, add_wrapping);
}

AlignedBuf2K Overlay::read_full_i8(std::span<const uint8_t> container) const {
  check_container(container.size(), "Overlay::read_full_i8");
  return read_full(buffer_, container, add_saturating_i8);
}

void Overlay::flush_xor(std::span<uint8_t> container) {
  check_container(container.size(), "Overlay::flush_xor");
  apply(buffer_, container, [](uint8_t c, uint8_t o) -> uint8_t { return c ^ o; });
  discard();
}

void Overlay::flush_add(std::span<uint8_t> container) {
  check_container(container.size(), "Overlay::flush_add");
  apply(buffer_, container, add_wrapping);
  discard();
}

void Overlay::flush_add_i8(std::span<uint8_t> container) {
  check_container(container.size(), "Overlay::flush_add_i8");
  apply(buffer_, container, add_saturating_i8);
  discard();
}

Overlay &MultiOverlay::agent(size_t i) {
  check_agent(i, overlays_.size());
  return overlays_[i];
}

const Overlay &MultiOverlay::agent(size_t i) const {
  check_agent(i, overlays_.size());
  return overlays_[i];
}

uint64_t MultiOverlay::sum_pair_overlap() const {
  uint64_t total = 0;
  for (size_t i = 0; i < overlays_.size(); ++i) {
    for (size_t j = i + 1; j < overlays_.size(); ++j) {
      total += overlays_[i].words().overlap_bits(overlays_[j].words());
    }
  }
  return total;
}

MultiOverlay::ConflictMap MultiOverlay::conflict_map() const {
  const uint64_t total = sum_pair_overlap();
  return ConflictMap{total > 0, total};
}

CollapseGate MultiOverlay::evaluate(uint64_t threshold) const {
  if (sum_pair_overlap() > threshold) return CollapseGate::block;
  for (const Overlay &o : overlays_) {
    if (!o.is_clean()) return CollapseGate::flow;
  }
  return CollapseGate::hold;
}

void MultiOverlay::commit_xor(std::span<uint8_t> container) {
  check_container(container.size(), "MultiOverlay::commit_xor");
  for (Overlay &o : overlays_) o.flush_xor(container);
}

void MultiOverlay::commit_add(std::span<uint8_t> container) {
  check_container(container.size(), "MultiOverlay::commit_add");
  for (Overlay &o : overlays_) o.flush_add(container);
}

void MultiOverlay::discard_all() {
  for (Overlay &o : overlays_) o.discard();
}

}  // namespace jitson
