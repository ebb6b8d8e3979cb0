// What embedding costs (issue "Embedding core"), measured in one run:
//   chunked  1M x 2,048-byte records (JITSON_BENCH_RECORDS), exact cascade, top-10, no
//            max_distance, one thread: one Kernel::scan call against the same table fed to a
//            TopKAccumulator in 1,024-record and in 64-record chunks (the heap bound carries
//            across chunks). Rounds alternate the three; medians. Targets: >= 0.9 x and >= 0.7 x.
//   process  whole-process wall and CPU time (medians of JITSON_BENCH_RUNS, default 21,
//            alternating; /bin/true gives the floor of starting any process) and peak RSS of
//            `jitson info`, `jitson validate CONFIG` (targets <= 10 ms, <= 15 MB) and of a C
//            program that creates an engine, compiles one Xbyak kernel and scans 1,000 records
//            (bench/embed_startup.c; target <= 5 ms).
// The summary prints each figure against its target, and the CPU it ran on.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "jitson/cpu.hpp"
#include "jitson/engine.hpp"
#include "jitson/topk.hpp"
#include "support/bench_data.hpp"

extern char **environ;

namespace {

using namespace jitson;
using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---- chunked top-k -----------------------------------------------------------------------------

std::vector<Hit> feed_in_chunks(const std::shared_ptr<const Kernel> &kernel, const uint8_t *query,
                                const bench::DramDatabase &db, uint64_t chunk) {
  TopKAccumulator acc(kernel, query, 1);
  for (uint64_t a = 0; a < db.n_records; a += chunk) {
    const uint64_t n = std::min(chunk, db.n_records - a);
    acc.feed(
        Chunk{DatabaseView::rows(db.bytes.data() + a * bench::kRecordBytes, n, bench::kRecordBytes),
              nullptr, a});
  }
  return acc.hits(0);
}

// Records as a database keeps them (PostgreSQL: three 2 KB values per 8 KB page, each behind a
// tuple header, pages anywhere in a buffer pool): read in place through GatherChunk, 48 (16
// pages) per feed, against copying each batch into a chunk first.
struct PagedTable {
  std::vector<uint8_t> pages;
  std::vector<const uint8_t *> records;
};

PagedTable paged_table(const bench::DramDatabase &db, uint64_t n) {
  constexpr size_t kPage = 8192, kPerPage = 3, kHeader = 40;
  PagedTable t;
  t.pages.resize((n + kPerPage - 1) / kPerPage * kPage);
  for (uint64_t i = 0; i < n; ++i) {
    // Tuples fill a page from its end, as PostgreSQL places them.
    const size_t slot = i % kPerPage;
    const size_t at = (i / kPerPage) * kPage + kPage - (slot + 1) * (kHeader + bench::kRecordBytes);
    uint8_t *record = t.pages.data() + at + kHeader;
    std::memcpy(record, db.bytes.data() + i * bench::kRecordBytes, bench::kRecordBytes);
    t.records.push_back(record);
  }
  return t;
}

constexpr uint64_t kGatherBatch = 48;

std::vector<Hit> feed_gathered(const std::shared_ptr<const Kernel> &kernel, const uint8_t *query,
                               const PagedTable &t) {
  TopKAccumulator acc(kernel, query, 1);
  const uint64_t n = t.records.size();
  for (uint64_t a = 0; a < n; a += kGatherBatch) {
    acc.feed(GatherChunk{t.records.data() + a, std::min(kGatherBatch, n - a), nullptr, a});
  }
  return acc.hits(0);
}

std::vector<Hit> feed_copied(const std::shared_ptr<const Kernel> &kernel, const uint8_t *query,
                             const PagedTable &t) {
  TopKAccumulator acc(kernel, query, 1);
  std::vector<uint8_t> chunk(kGatherBatch * bench::kRecordBytes);
  const uint64_t n = t.records.size();
  for (uint64_t a = 0; a < n; a += kGatherBatch) {
    const uint64_t count = std::min(kGatherBatch, n - a);
    for (uint64_t i = 0; i < count; ++i) {
      std::memcpy(&chunk[i * bench::kRecordBytes], t.records[a + i], bench::kRecordBytes);
    }
    acc.feed(Chunk{DatabaseView::rows(chunk.data(), count, bench::kRecordBytes), nullptr, a});
  }
  return acc.hits(0);
}

struct PagedFigures {
  double contiguous = 0, gathered = 0, copied = 0;  // M records/s
  bool same_hits = true;
};

// The first 262,144 records laid out in pages, scanned in place, copied, and contiguous.
PagedFigures measure_paged(const std::shared_ptr<const Kernel> &kernel,
                           const bench::DramDatabase &db, const uint8_t *query) {
  const uint64_t n = std::min<uint64_t>(db.n_records, 262144);
  const PagedTable paged = paged_table(db, n);
  const DatabaseView head = DatabaseView::rows(db.bytes.data(), n, bench::kRecordBytes);
  const std::vector<Hit> want = kernel->scan(query, head, 1).hits;
  std::vector<double> contiguous, gathered, copied;
  PagedFigures f;
  for (int round = 0; round < 7; ++round) {
    auto t0 = Clock::now();
    const std::vector<Hit> a = kernel->scan(query, head, 1).hits;
    contiguous.push_back(double(n) / seconds_since(t0) / 1e6);
    t0 = Clock::now();
    const std::vector<Hit> b = feed_gathered(kernel, query, paged);
    gathered.push_back(double(n) / seconds_since(t0) / 1e6);
    t0 = Clock::now();
    const std::vector<Hit> c = feed_copied(kernel, query, paged);
    copied.push_back(double(n) / seconds_since(t0) / 1e6);
    f.same_hits = f.same_hits && a == want && b == want && c == want;
  }
  f.contiguous = median(contiguous);
  f.gathered = median(gathered);
  f.copied = median(copied);
  std::printf(
      "%s, records in 8 KB pages (3 per page), %llu records: contiguous single call %.1f, in "
      "place (GatherChunk, 48 per feed) %.1f, copied into a chunk per 48 %.1f M records/s\n",
      kernel->describe().substr(0, kernel->describe().find(" record_bits")).c_str(),
      (unsigned long long)n, f.contiguous, f.gathered, f.copied);
  return f;
}

struct ChunkedFigures {
  double single = 0, chunk1024 = 0, chunk64 = 0;  // M records/s
  PagedFigures paged, paged_full;                 // cascade top-10; every byte read
  bool same_hits = true;
};

ChunkedFigures measure_chunked() {
  Engine engine(EngineOptions{1, size_t{64} << 20, std::nullopt, true, ""});
  auto kernel = engine.compile(R"({"version": 1, "record_bits": 16384, "top_k": 10})");
  const bench::DramDatabase &db = bench::planted_database("bench_embed");
  const uint8_t *query = bench::small_data().query.data();
  std::vector<double> single, c1024, c64;
  ChunkedFigures f;
  const std::vector<Hit> want = kernel->scan(query, db.view(), 1).hits;  // also warms the pages
  for (int round = 0; round < 7; ++round) {
    auto t0 = Clock::now();
    const std::vector<Hit> a = kernel->scan(query, db.view(), 1).hits;
    single.push_back(double(db.n_records) / seconds_since(t0) / 1e6);
    t0 = Clock::now();
    const std::vector<Hit> b = feed_in_chunks(kernel, query, db, 1024);
    c1024.push_back(double(db.n_records) / seconds_since(t0) / 1e6);
    t0 = Clock::now();
    const std::vector<Hit> c = feed_in_chunks(kernel, query, db, 64);
    c64.push_back(double(db.n_records) / seconds_since(t0) / 1e6);
    f.same_hits = f.same_hits && a == want && b == want && c == want;
  }
  f.single = median(single);
  f.chunk1024 = median(c1024);
  f.chunk64 = median(c64);

  f.paged = measure_paged(kernel, db, query);
  auto full_read = engine.compile(
      R"({"version": 1, "record_bits": 16384, "top_k": 10, "cascade": {"mode": "off"}})");
  f.paged_full = measure_paged(full_read, db, query);
  f.same_hits = f.same_hits && f.paged.same_hits && f.paged_full.same_hits;
  std::printf(
      "chunked top-10, %s, %llu records: single call %.1f, 1,024-record chunks %.1f, "
      "64-record chunks %.1f M records/s (medians of 7 alternating rounds)\n",
      kernel->describe().substr(0, kernel->describe().find(" record_bits")).c_str(),
      (unsigned long long)db.n_records, f.single, f.chunk1024, f.chunk64);
  return f;
}

// ---- whole processes -------------------------------------------------------------------------

struct ProcessFigures {
  double median_ms = 0, median_cpu_ms = 0, peak_rss_mb = 0;
  bool ok = true;
};

// Runs argv once with stdout and stderr discarded; wall and CPU (user + system) time in ms,
// peak RSS in MB.
bool run_once(const std::vector<std::string> &argv, double &ms, double &cpu_ms, double &rss_mb) {
  std::vector<char *> args;
  for (const std::string &a : argv) args.push_back(const_cast<char *>(a.c_str()));  // not written
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  const auto t0 = Clock::now();
  pid_t pid;
  const int spawned = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) return false;
  int status = 0;
  rusage usage{};
  if (wait4(pid, &status, 0, &usage) != pid) return false;
  ms = seconds_since(t0) * 1e3;
  auto to_ms = [](const timeval &t) { return double(t.tv_sec) * 1e3 + double(t.tv_usec) / 1e3; };
  cpu_ms = to_ms(usage.ru_utime) + to_ms(usage.ru_stime);
  rss_mb = double(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::vector<ProcessFigures> measure_processes(const std::vector<std::vector<std::string>> &cmds) {
  int runs = 21;
  if (const char *v = std::getenv("JITSON_BENCH_RUNS"); v && std::atoi(v) > 0) runs = std::atoi(v);
  std::vector<std::vector<double>> times(cmds.size()), cpu(cmds.size());
  std::vector<ProcessFigures> out(cmds.size());
  for (int r = 0; r < runs; ++r) {
    for (size_t c = 0; c < cmds.size(); ++c) {
      double ms = 0, cpu_ms = 0, rss = 0;
      out[c].ok = run_once(cmds[c], ms, cpu_ms, rss) && out[c].ok;
      times[c].push_back(ms);
      cpu[c].push_back(cpu_ms);
      out[c].peak_rss_mb = std::max(out[c].peak_rss_mb, rss);
    }
  }
  for (size_t c = 0; c < cmds.size(); ++c) {
    out[c].median_ms = median(times[c]);
    out[c].median_cpu_ms = median(cpu[c]);
  }
  return out;
}

const char *verdict(bool met) {
  return met ? "met" : "NOT MET";
}

}  // namespace

int main() {
  const CpuFeatures &f = cpu_features();
  std::printf("CPU: %s (jitson info), ISA %s\n", f.brand.c_str(), isa_name(active_isa()));
  const std::string validate_config =
      std::string(JITSON_SOURCE_DIR) + "/configs/examples/full-focus.json";
  // /bin/true is the floor: what starting any process costs here.
  const std::vector<std::vector<std::string>> cmds = {
      {"/bin/true"},
      {JITSON_CLI_PATH, "info"},
      {JITSON_CLI_PATH, "validate", validate_config},
      {JITSON_EMBED_STARTUP_PATH},
  };
  // Processes first: a child's peak RSS includes the parent's pages until it executes, so the
  // 2 GiB database must not exist yet.
  const std::vector<ProcessFigures> p = measure_processes(cmds);
  const ChunkedFigures c = measure_chunked();

  const double r1024 = c.single > 0 ? c.chunk1024 / c.single : 0;
  const double r64 = c.single > 0 ? c.chunk64 / c.single : 0;
  std::printf("\nSummary (CPU %s)\n", f.brand.c_str());
  std::printf("  chunks of 1,024 / one call = %.2f x (target >= 0.9: %s)\n", r1024,
              verdict(r1024 >= 0.9));
  std::printf("  chunks of 64 / one call    = %.2f x (target >= 0.7: %s)\n", r64,
              verdict(r64 >= 0.7));
  for (const auto &[what, p] :
       {std::pair{"exact cascade", c.paged}, {"cascade off", c.paged_full}}) {
    std::printf(
        "  %-13s: in place from pages / contiguous = %.2f x, copied / contiguous = %.2f x "
        "(report)\n",
        what, p.contiguous > 0 ? p.gathered / p.contiguous : 0,
        p.contiguous > 0 ? p.copied / p.contiguous : 0);
  }
  std::printf("  same hits in every round: %s\n", c.same_hits ? "yes" : "NO (a bug)");
  std::printf("  process floor (/bin/true): %.2f ms wall, %.2f ms CPU, peak RSS %.1f MB\n",
              p[0].median_ms, p[0].median_cpu_ms, p[0].peak_rss_mb);
  const char *names[] = {"jitson info", "jitson validate", "C program: engine + compile + scan"};
  const double ms_targets[] = {10, 10, 5};
  for (size_t i = 1; i < p.size(); ++i) {
    const bool rss_target = i < 3;
    const bool met =
        p[i].ok && p[i].median_ms <= ms_targets[i - 1] && (!rss_target || p[i].peak_rss_mb <= 15);
    std::printf(
        "  %-36s %6.2f ms wall (%5.2f ms CPU), peak RSS %5.1f MB (target <= %.0f ms%s: "
        "%s)%s\n",
        names[i - 1], p[i].median_ms, p[i].median_cpu_ms, p[i].peak_rss_mb, ms_targets[i - 1],
        rss_target ? ", <= 15 MB" : "", verdict(met), p[i].ok ? "" : " [the process FAILED]");
  }
  return c.same_hits && p[1].ok && p[2].ok && p[3].ok ? 0 : 1;
}
