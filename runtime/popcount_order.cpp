// Popcount-ordered databases: building, writing and verifying them (jitson/popcount.hpp).
#include "jitson/popcount.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "jitson/error.hpp"
#include "jitson/kernels.hpp"
#include "runtime/streamed_buffer.hpp"

namespace jitson {
namespace {

// Popcount of each record, through the ISA's Hamming kernel against a zero record (any
// alignment; the records are caller memory).
std::vector<uint32_t> record_popcounts(const DatabaseView &rows) {
  const std::vector<uint8_t> zero(rows.record_bytes, 0);
  const KernelTable &k = kernels();
  std::vector<uint32_t> counts(rows.n_records);
  for (uint64_t i = 0; i < rows.n_records; ++i) {
    counts[i] = uint32_t(k.hamming(rows.record(i), zero.data(), rows.record_bytes));
  }
  return counts;
}

void require_rows(const DatabaseView &rows, const char *what) {
  if (rows.layout != Layout::row_major) {
    throw Error(ErrorKind::invalid_argument,
                std::string(what) + ": the popcount order is built from row-major records");
  }
  rows.payload_bytes();  // validates the view
}

// What build() and write_file() share: the order and the section (starts, then indices).
struct Sorted {
  std::vector<uint64_t> order;    // original index of each position
  std::vector<uint64_t> section;  // record_bits + 2 bucket starts, then n original indices
};

Sorted sort_by_popcount(const DatabaseView &rows) {
  const uint32_t bits = rows.record_bytes * 8;
  const std::vector<uint32_t> counts = record_popcounts(rows);
  Sorted s;
  s.order.resize(rows.n_records);
  std::iota(s.order.begin(), s.order.end(), uint64_t{0});
  std::stable_sort(s.order.begin(), s.order.end(),
                   [&](uint64_t x, uint64_t y) { return counts[x] < counts[y]; });
  s.section.assign(size_t{bits} + 2 + rows.n_records, 0);
  for (uint32_t c : counts) ++s.section[c + 1];  // counts per bucket, shifted by one
  std::partial_sum(s.section.begin(), s.section.begin() + bits + 2, s.section.begin());
  std::copy(s.order.begin(), s.order.end(), s.section.begin() + bits + 2);
  return s;
}

}  // namespace

PopcountOrder PopcountOrder::build(const DatabaseView &rows) {
  require_rows(rows, "PopcountOrder::build");
  const Sorted s = sort_by_popcount(rows);
  // The records in memory kernels stream well through (runtime/streamed_buffer.hpp).
  struct Owned {
    size_t bytes = 0;
    uint8_t *records = nullptr;
    std::vector<uint64_t> section;
    explicit Owned(size_t n) : bytes(std::max<size_t>(n, 1)) {
      records = static_cast<uint8_t *>(allocate_streamed(bytes));
    }
    ~Owned() { free_streamed(records, bytes); }
    Owned(const Owned &) = delete;
    Owned &operator=(const Owned &) = delete;
  };
  auto owned = std::make_shared<Owned>(rows.n_records * rows.record_bytes);
  for (uint64_t i = 0; i < rows.n_records; ++i) {
    std::memcpy(owned->records + i * rows.record_bytes, rows.record(s.order[i]), rows.record_bytes);
  }
  owned->section = s.section;
  PopcountOrder out;
  out.records_ = DatabaseView::rows(owned->records, rows.n_records, rows.record_bytes);
  out.starts_ = owned->section.data();
  out.ids_ = owned->section.data() + out.record_bits() + 2;
  out.storage_ = std::move(owned);
  return out;
}

void PopcountOrder::write_file(const std::string &path, const DatabaseView &rows) {
  require_rows(rows, "PopcountOrder::write_file");
  const Sorted s = sort_by_popcount(rows);
  FingerprintWriter w(path, rows.record_bytes * 8, rows.n_records, Layout::row_major, 0, true,
                      FileHeader::kOrderPopcount);
  for (uint64_t i = 0; i < rows.n_records; ++i) w.write(rows.record(s.order[i]), rows.record_bytes);
  const uint64_t payload = rows.n_records * rows.record_bytes;
  const std::vector<uint8_t> padding((payload + 63) / 64 * 64 - payload, 0);
  w.write(padding.data(), padding.size());
  // The section is little-endian u64 on disk, which is the memory order on x86-64.
  w.write(reinterpret_cast<const uint8_t *>(s.section.data()), s.section.size() * 8);
  w.commit();
}

PopcountOrder PopcountOrder::of_file(const FingerprintFile &file) {
  const std::string where = "'" + file.path() + "'";
  const uint64_t *section = file.popcount_section();
  if (!section) {
    throw Error(ErrorKind::invalid_argument,
                where +
                    ": not a popcount-ordered file (convert it with jitson convert --order "
                    "popcount)");
  }
  const DatabaseView rows = file.view();
  const uint32_t bits = rows.record_bytes * 8;
  const uint64_t n = rows.n_records;
  auto bad = [&](const std::string &what) {
    throw Error(ErrorKind::format, where + ": popcount section: " + what);
  };
  if (section[0] != 0) bad("bucket 0 starts at " + std::to_string(section[0]) + ", not 0");
  for (uint32_t b = 0; b <= bits; ++b) {
    if (section[b + 1] < section[b] || section[b + 1] > n) {
      bad("bucket " + std::to_string(b + 1) + " starts at " + std::to_string(section[b + 1]) +
          ", before bucket " + std::to_string(b) + " or past the " + std::to_string(n) +
          " records");
    }
  }
  if (section[bits + 1] != n) bad("the buckets end before the last record");
  const uint64_t *ids = section + bits + 2;
  std::vector<bool> seen(n, false);
  for (uint64_t i = 0; i < n; ++i) {
    if (ids[i] >= n || seen[ids[i]]) {
      bad("original index " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
          " is out of range or repeated");
    }
    seen[ids[i]] = true;
  }
  const std::vector<uint32_t> counts = record_popcounts(rows);
  uint32_t b = 0;
  for (uint64_t i = 0; i < n; ++i) {
    while (section[b + 1] <= i) ++b;  // the bucket holding position i
    if (counts[i] != b) {
      bad("record " + std::to_string(i) + " has popcount " + std::to_string(counts[i]) +
          " but lies in bucket " + std::to_string(b));
    }
  }
  PopcountOrder out;
  out.records_ = rows;
  out.starts_ = section;
  out.ids_ = ids;
  return out;
}

}  // namespace jitson
