// Popcount-ordered databases and the Tanimoto popcount bound (docs/TANIMOTO.md).
//
// With a the query's popcount and b a record's, the intersection is at most min(a, b) and the
// union at least max(a, b), so T <= min(a, b) / max(a, b). Records sorted by popcount put every b
// in one contiguous bucket: a threshold scan reads only the buckets whose bound passes it, and a
// top-k scan walks buckets from b = a outwards (best bound first) and stops at the first bucket
// whose bound cannot beat the k-th hit held. Exact: the bound is only ever an upper bound.
//
// Inside an admitted bucket a second bound reads one byte per 64-bit word instead of the record:
// with a_w and b_w the popcounts of word w of the query and the record, c <= sum_w min(a_w, b_w).
// Records whose word-count overlap cannot reach the intersection the limit needs are never read
// (docs/TANIMOTO.md, "Word-count bound").
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "jitson/database.hpp"
#include "jitson/scan.hpp"

namespace jitson {

class Kernel;

class PopcountOrder {
 public:
  // A sorted copy of row-major records: ascending popcount, ties by index.
  static PopcountOrder build(const DatabaseView &rows);
  // The records of a popcount-ordered file (FileHeader::kOrderPopcount), read in place. Verifies
  // the section against the records (bucket starts from 0 to n, never decreasing; indices a
  // permutation of 0..n-1; every record's popcount inside its bucket): one pass over the file,
  // so a damaged file is an Error(format) naming what is wrong, never a wrong result.
  static PopcountOrder of_file(const FingerprintFile &file);
  // Writes rows as a popcount-ordered file (atomically, as FingerprintWriter does).
  static void write_file(const std::string &path, const DatabaseView &rows);

  DatabaseView records() const { return records_; }
  uint32_t record_bits() const { return records_.record_bytes * 8; }
  // record_bits + 2 entries: records with popcount b are positions [starts[b], starts[b + 1]).
  std::span<const uint64_t> bucket_starts() const { return {starts_, record_bits() + size_t{2}}; }
  // The index in the original database of the record at each position.
  std::span<const uint64_t> original_index() const { return {ids_, records_.n_records}; }
  // The popcount of every 64-bit word of every record, in position order: words_per_record()
  // bytes per record (each 0..64). Computed when the order is built or the file verified.
  uint32_t words_per_record() const { return records_.record_bytes / 8; }
  std::span<const uint8_t> word_counts() const {
    return {word_counts_, records_.n_records * words_per_record()};
  }

 private:
  DatabaseView records_{};
  const uint64_t *starts_ = nullptr;
  const uint64_t *ids_ = nullptr;
  const uint8_t *word_counts_ = nullptr;
  // The owned copy (build) or the word counts of a file whose records stay in its mapping.
  std::shared_ptr<const void> storage_;
};

// The exact scan of kernel over db: the hits kernel.scan gives over the original database
// (indices are original indices, ties broken by them). A Tanimoto kernel whose focus is every bit
// reads only buckets the popcount bound admits; other kernels (Hamming, or a narrower focus: the
// stored popcounts count bits outside it) read every record. stats.bound_skipped counts the
// records never read (by the popcount or the word-count bound). Error(invalid_argument) for a
// record size other than the kernel's.
ScanResult scan_popcount_ordered(const std::shared_ptr<const Kernel> &kernel, const uint8_t *query,
                                 const PopcountOrder &db);

// Whether scan_popcount_ordered can bound this kernel's scans, and why not ("" when it can).
std::string popcount_bound_unavailable(const Kernel &kernel);

}  // namespace jitson
