// The page-mapping floor of a one-shot scan: map a fingerprint file read-only, as the command
// does, and read one 64-byte line per record. Any scan whose cascade reads at least one line of
// every record pays at least this (the page faults that map the file plus one miss per record),
// so scripts/bench_cli.sh times this whole process and reports `jitson scan` against it.
//
// Usage: bench_pagefloor FILE [--raw-bits N] [--stride BYTES]
// A file with the JITSONFP header gives its record size and payload offset; a headerless file
// needs --raw-bits. --stride touches one line every BYTES of the payload instead of one per
// record: with a blocked file's block size (64 x 2,048 bytes) it is the floor of a sweep that
// reads a line or a page of every block and nothing else (the near-duplicate query). Prints the
// records touched, the time of the touching loop and a checksum (which keeps the loads from being
// optimised away). Standard library and POSIX only, so the process starts as fast as a process can:
// no libjitson, no libLLVM.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr size_t kHeaderBytes = 64;

uint64_t load_le(const uint8_t *p, int n_bytes) {
  uint64_t v = 0;
  for (int i = n_bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

int usage() {
  std::fprintf(stderr, "usage: bench_pagefloor FILE [--raw-bits N] [--stride BYTES]\n");
  return 2;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc % 2 != 0) return usage();
  uint64_t raw_bits = 0, stride = 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    const uint64_t value = std::strtoull(argv[i + 1], nullptr, 10);
    if (std::strcmp(argv[i], "--raw-bits") == 0 && value > 0 && value % 64 == 0) {
      raw_bits = value;
    } else if (std::strcmp(argv[i], "--stride") == 0 && value >= 64) {
      stride = value;
    } else {
      return usage();
    }
  }
  const int fd = ::open(argv[1], O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    std::fprintf(stderr, "bench_pagefloor: cannot open %s as a regular file\n", argv[1]);
    return 1;
  }
  const auto file_bytes = static_cast<uint64_t>(st.st_size);
  if (file_bytes == 0) {
    std::printf("records 0\n");
    return 0;
  }
  const auto start = std::chrono::steady_clock::now();
  void *map = ::mmap(nullptr, file_bytes, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) {
    std::fprintf(stderr, "bench_pagefloor: cannot map %s\n", argv[1]);
    return 1;
  }
  const auto *bytes = static_cast<const uint8_t *>(map);

  uint64_t payload_offset = 0, record_bytes = raw_bits / 8;
  if (raw_bits == 0) {
    if (file_bytes < kHeaderBytes || std::memcmp(bytes, "JITSONFP", 8) != 0) {
      std::fprintf(stderr, "bench_pagefloor: %s has no JITSONFP header; pass --raw-bits\n",
                   argv[1]);
      return 1;
    }
    record_bytes = load_le(bytes + 16, 4) / 8;
    payload_offset = load_le(bytes + 32, 8);
    if (record_bytes == 0 || payload_offset > file_bytes) {
      std::fprintf(stderr, "bench_pagefloor: %s has a bad header\n", argv[1]);
      return 1;
    }
  }
  // Every record of the payload, padding records of a blocked file included: the floor counts
  // lines at a record stride (or --stride) over the same bytes, whatever their layout.
  if (stride) record_bytes = stride;
  const uint64_t records = (file_bytes - payload_offset) / record_bytes;
  uint64_t sum = 0;
  const uint8_t *p = bytes + payload_offset;
  for (uint64_t i = 0; i < records; ++i, p += record_bytes) {
    uint64_t word;
    std::memcpy(&word, p, sizeof word);
    sum += word;
  }
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ::munmap(map, file_bytes);
  std::printf("%s %llu, map+touch %.3f ms, checksum %016llx\n", stride ? "lines" : "records",
              static_cast<unsigned long long>(records), ms, static_cast<unsigned long long>(sum));
  return 0;
}
