// Scans of `jitson scan` over a database walked in windows: the process keeps only the windows it
// is scanning mapped, advises the next window's pages the plan reads, and draws the progress bar.
#pragma once

#include <cstdint>
#include <vector>

#include "common.hpp"

namespace jitson::cli {

// Every query over every record of `db`. Up to `threads` threads (0 = all cores; at least 4096
// records each) each walk a contiguous part (whole blocks of a blocked view) in windows of about
// 8 MiB, one kernel call per window; a window of a mapped file is read ahead one window early and
// unmapped once scanned. The merged top-k is exactly the top-k of one scan over the database.
std::vector<ScanResult> scan_in_windows(const Kernel &kernel, const uint8_t *queries,
                                        uint64_t n_queries, const RecordSet &db, unsigned threads);

}  // namespace jitson::cli
