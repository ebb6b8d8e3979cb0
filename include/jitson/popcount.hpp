// Popcount-ordered databases and the Tanimoto popcount bound (docs/TANIMOTO.md).
//
// With a the query's popcount and b a record's, the intersection is at most min(a, b) and the
// union at least max(a, b), so T <= min(a, b) / max(a, b). Records sorted by popcount put every b
// in one contiguous bucket: a threshold scan reads only the buckets whose bound passes it, and a
// top-k scan walks buckets from b = a outwards (best bound first) and stops at the first bucket
// whose bound cannot beat the k-th hit held. Exact: the bound is only ever an upper bound.
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

 private:
  DatabaseView records_{};
  const uint64_t *starts_ = nullptr;
  const uint64_t *ids_ = nullptr;
  std::shared_ptr<const void> storage_;  // owned copy (build), or null (a file's mapping)
};

// The exact scan of kernel over db: the hits kernel.scan gives over the original database
// (indices are original indices, ties broken by them). A Tanimoto kernel whose focus is every bit
// reads only buckets the popcount bound admits; other kernels (Hamming, or a narrower focus: the
// stored popcounts count bits outside it) read every record. stats.bound_skipped counts the
// records never read. Error(invalid_argument) for a record size other than the kernel's.
ScanResult scan_popcount_ordered(const std::shared_ptr<const Kernel> &kernel, const uint8_t *query,
                                 const PopcountOrder &db);

// Whether scan_popcount_ordered can bound this kernel's scans, and why not ("" when it can).
std::string popcount_bound_unavailable(const Kernel &kernel);

}  // namespace jitson
