#include "windowed_scan.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <functional>
#include <iterator>
#include <system_error>
#include <thread>

#include "jitson/cpu.hpp"

namespace jitson::cli {
namespace {

// Bytes one thread scans per kernel call. Small enough that the resident set stays a window per
// thread even where one fault maps a whole large folio (a sweep reads one page in 32 of a block of
// 64 × 2 KB records, yet on such kernels its faults map nearly every page); large enough that a
// call's set-up is noise.
constexpr uint64_t kWindowBytes = uint64_t{8} << 20;
// Below this many records a thread costs more than it saves (as in runtime/scan.cpp).
constexpr uint64_t kMinRecordsPerThread = 4096;
// Pages sampled to tell a cached window from one that must come from storage.
constexpr uint64_t kResidencySamples = 4;

bool hit_before(const Hit &a, const Hit &b) {
  return a.distance != b.distance ? a.distance < b.distance : a.index < b.index;
}

// kept and more are each in (distance, index) order; more's indices are relative to offset.
void merge_hits(std::vector<Hit> &kept, std::vector<Hit> more, uint64_t offset, uint32_t top_k) {
  for (Hit &h : more) h.index += offset;
  std::vector<Hit> merged;
  merged.reserve(std::min<size_t>(top_k, kept.size() + more.size()));
  std::merge(kept.begin(), kept.end(), more.begin(), more.end(), std::back_inserter(merged),
             hit_before);
  if (merged.size() > top_k) merged.resize(top_k);
  kept = std::move(merged);
}

// The byte runs the first stage reads in each record (rows) or block (blocked): every record
// reaches the first stage, so these are the pages a window certainly needs; later stages read
// only for the few survivors.
ReadPattern first_stage_pattern(const Kernel &kernel, const DatabaseView &db) {
  ReadPattern p;
  const bool blocked = db.layout == Layout::blocked;
  const uint64_t word_bytes = blocked ? uint64_t{8} * db.block_records : 8;
  p.period = blocked ? uint64_t{db.block_records} * db.record_bytes : db.record_bytes;
  const auto &stages = kernel.plan().cascade.stages;
  if (stages.empty()) return p;
  for (const Segment &s : stages.front().segments)
    p.runs.emplace_back(s.first_word * word_bytes, (s.first_word + s.n_words) * word_bytes);
  return p;
}

// The records [begin, begin + n) of db as a view of their own (begin is a block boundary of a
// blocked view).
DatabaseView window_view(const DatabaseView &db, uint64_t begin, uint64_t n) {
  const uint8_t *data = db.data + begin * db.record_bytes;
  if (db.layout == Layout::blocked)
    return DatabaseView::blocked(data, n, db.record_bytes, db.block_records);
  return DatabaseView::rows(data, n, db.record_bytes);
}

struct Walk {
  const Kernel &kernel;
  const uint8_t *queries;
  uint64_t n_queries;
  const DatabaseView &view;
  const FingerprintFile *file;  // null for records decoded into memory
  ReadPattern pattern;
  uint64_t step;          // records per window
  uint64_t stored_bytes;  // payload bytes, a blocked view's padding included

  uint64_t bytes_at(uint64_t record) const {
    // The end of the last record is the end of the payload: a blocked view's padding is there.
    if (record >= view.n_records) return stored_bytes;
    return record * uint64_t{view.record_bytes};
  }

  // Readahead for the window [begin, end) unless a few of its pages are all cached already (one
  // mincore() per sample: a whole-window check costs more than the scan on a warm cache).
  void prefetch(uint64_t begin, uint64_t end) const {
    if (file == nullptr || begin >= end) return;
    const uint64_t from = bytes_at(begin), to = bytes_at(end);
    if (from < to) file->will_read(from, to, pattern, kResidencySamples);
  }

  // Windows of [begin, end), one thread: each is read-ahead one window early and unmapped once
  // scanned.
  std::vector<ScanResult> run(uint64_t begin, uint64_t end, std::atomic<uint64_t> &done,
                              const std::function<void()> &report) const {
    std::vector<ScanResult> results(n_queries);
    const uint32_t top_k = kernel.spec().top_k;
    prefetch(begin, std::min(end, begin + step));
    for (uint64_t at = begin; at < end; at += step) {
      const uint64_t stop = std::min(end, at + step);
      prefetch(stop, std::min(end, stop + step));
      const DatabaseView part = window_view(view, at, stop - at);
      std::vector<ScanResult> partial = n_queries == 1
                                            ? std::vector<ScanResult>{kernel.scan(queries, part, 1)}
                                            : kernel.scan_batch(queries, n_queries, part, 1);
      if (file) file->release(bytes_at(at), bytes_at(stop));
      for (uint64_t q = 0; q < n_queries; ++q) {
        merge_hits(results[q].hits, std::move(partial[q].hits), at, top_k);
        results[q].stats += partial[q].stats;
      }
      done += stop - at;
      if (report) report();
    }
    return results;
  }
};

}  // namespace

std::vector<ScanResult> scan_in_windows(const Kernel &kernel, const uint8_t *queries,
                                        uint64_t n_queries, const RecordSet &db, unsigned threads) {
  if (n_queries == 0) return {};
  const DatabaseView &view = db.view;
  if (view.n_records == 0) {
    if (n_queries == 1) return {kernel.scan(queries, view)};
    return kernel.scan_batch(queries, n_queries, view);
  }
  const uint64_t align = view.layout == Layout::blocked ? view.block_records : 1;
  const Walk walk{kernel,
                  queries,
                  n_queries,
                  view,
                  db.file ? &*db.file : nullptr,
                  first_stage_pattern(kernel, view),
                  std::max<uint64_t>(kWindowBytes / view.record_bytes / align, 1) * align,
                  view.payload_bytes()};

  // Each thread walks one contiguous part (cut on block boundaries) window by window, so no
  // thread waits for another between windows.
  const uint64_t wanted = threads ? threads : hardware_threads();
  const auto parts =
      static_cast<unsigned>(std::clamp<uint64_t>(view.n_records / kMinRecordsPerThread, 1, wanted));
  auto cut = [&](unsigned p) {
    if (p == parts) return view.n_records;
    return view.n_records / parts * p / align * align;  // no overflow for any size
  };
  std::vector<std::vector<ScanResult>> part_results(parts);
  std::vector<std::exception_ptr> failures(parts);
  std::atomic<uint64_t> done{0};
  ProgressBar progress(view.n_records, "records");
  auto run_part = [&](unsigned p, const std::function<void()> &report) {
    try {
      part_results[p] = walk.run(cut(p), cut(p + 1), done, report);
    } catch (...) {
      failures[p] = std::current_exception();
    }
  };
  std::vector<std::thread> workers;
  try {
    for (unsigned p = 1; p < parts; ++p) workers.emplace_back(run_part, p, std::function<void()>());
  } catch (const std::system_error &) {
    // No more threads to be had: this thread scans the parts left over after its own.
  }
  run_part(0, [&] { progress.update(done.load()); });  // the bar is drawn from this thread only
  for (auto p = static_cast<unsigned>(workers.size()) + 1; p < parts; ++p) run_part(p, {});
  for (std::thread &w : workers) w.join();
  progress.update(done.load());
  progress.finish();
  for (const std::exception_ptr &f : failures)
    if (f) std::rethrow_exception(f);

  const uint32_t top_k = kernel.spec().top_k;
  std::vector<ScanResult> results = std::move(part_results[0]);
  for (unsigned p = 1; p < parts; ++p)
    for (uint64_t q = 0; q < n_queries; ++q) {
      merge_hits(results[q].hits, std::move(part_results[p][q].hits), 0, top_k);
      results[q].stats += part_results[p][q].stats;
    }
  return results;
}

}  // namespace jitson::cli
