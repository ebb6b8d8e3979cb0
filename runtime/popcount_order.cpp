// Popcount-ordered databases: building, writing and verifying them (jitson/popcount.hpp).
#include "jitson/popcount.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "jitson/error.hpp"
#include "jitson/kernels.hpp"
#include "runtime/streamed_buffer.hpp"

namespace jitson {
namespace {

// Memory kernels stream through (runtime/streamed_buffer.hpp), owned.
struct StreamedBytes {
  size_t bytes = 0;
  uint8_t *data = nullptr;
  explicit StreamedBytes(size_t n) : bytes(std::max<size_t>(n, 1)) {
    data = static_cast<uint8_t *>(allocate_streamed(bytes));
  }
  ~StreamedBytes() { free_streamed(data, bytes); }
  StreamedBytes(const StreamedBytes &) = delete;
  StreamedBytes &operator=(const StreamedBytes &) = delete;
};

// The popcount of every word of every record (kernels().word_popcounts), one byte each.
std::unique_ptr<StreamedBytes> word_counts_of(const DatabaseView &rows) {
  auto counts = std::make_unique<StreamedBytes>(rows.n_records * (rows.record_bytes / 8));
  if (rows.n_records > 0) {
    kernels().word_popcounts(rows.record(0), rows.record_bytes, rows.n_records, rows.record_bytes,
                             counts->data);
  }
  return counts;
}

// Each record's popcount: the sum of its word counts.
std::vector<uint32_t> record_popcounts(const uint8_t *word_counts, uint64_t n, uint32_t words) {
  std::vector<uint32_t> counts(n);
  for (uint64_t i = 0; i < n; ++i) {
    const uint8_t *w = word_counts + i * words;
    counts[i] = std::accumulate(w, w + words, uint32_t{0});
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

Sorted sort_by_popcount(const DatabaseView &rows, const std::vector<uint32_t> &counts) {
  const uint32_t bits = rows.record_bytes * 8;
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
  const uint32_t words = rows.record_bytes / 8;
  const std::unique_ptr<StreamedBytes> unsorted_counts = word_counts_of(rows);
  const Sorted s =
      sort_by_popcount(rows, record_popcounts(unsorted_counts->data, rows.n_records, words));
  struct Owned {
    StreamedBytes records, word_counts;
    std::vector<uint64_t> section;
    Owned(size_t record_bytes, size_t count_bytes)
        : records(record_bytes), word_counts(count_bytes) {}
  };
  auto owned = std::make_shared<Owned>(rows.n_records * rows.record_bytes, rows.n_records * words);
  for (uint64_t i = 0; i < rows.n_records; ++i) {
    std::memcpy(owned->records.data + i * rows.record_bytes, rows.record(s.order[i]),
                rows.record_bytes);
    std::memcpy(owned->word_counts.data + i * words, unsorted_counts->data + s.order[i] * words,
                words);
  }
  owned->section = s.section;
  PopcountOrder out;
  out.records_ = DatabaseView::rows(owned->records.data, rows.n_records, rows.record_bytes);
  out.starts_ = owned->section.data();
  out.ids_ = owned->section.data() + out.record_bits() + 2;
  out.word_counts_ = owned->word_counts.data;
  out.storage_ = std::move(owned);
  return out;
}

void PopcountOrder::write_file(const std::string &path, const DatabaseView &rows) {
  require_rows(rows, "PopcountOrder::write_file");
  const Sorted s = sort_by_popcount(
      rows, record_popcounts(word_counts_of(rows)->data, rows.n_records, rows.record_bytes / 8));
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
  std::shared_ptr<StreamedBytes> word_counts = word_counts_of(rows);
  const std::vector<uint32_t> counts = record_popcounts(word_counts->data, n, bits / 64);
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
  out.word_counts_ = word_counts->data;
  out.storage_ = std::move(word_counts);
  return out;
}

}  // namespace jitson
