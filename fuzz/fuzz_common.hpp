// Helpers shared by the fuzz targets: failing loudly, deterministic randomness derived from the
// input, and a file holding the input for the readers that take a path.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace jitson::fuzz {

// A finding: print why and abort, so libFuzzer records the input as a crash (an exception or a
// plain return would be taken as "input handled").
[[noreturn]] inline void fail(const char *format, ...) {
  std::va_list args;
  va_start(args, format);
  std::fputs("FUZZ FAILURE: ", stderr);
  std::vfprintf(stderr, format, args);
  std::fputc('\n', stderr);
  va_end(args);
  std::abort();
}

// FNV-1a: the random database of an input depends on the input alone, so a crash reproduces.
inline uint64_t hash_bytes(const uint8_t *data, size_t size) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 0x100000001b3ull;
  return h;
}

// splitmix64: small, fast and good enough to fill records.
struct Rng {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return n ? next() % n : 0; }
};

// The input as a file, rewritten for every input, for the readers that take a path. A memfd
// by default (opened by its /proc path like any file; nothing left on disk if the fuzzer is
// killed). Regular::yes makes it a file under $TMPDIR instead, for readers that treat
// /proc/self/fd/N as a stream: the common case of a named regular file is the one to fuzz.
class InputFile {
 public:
  enum class Regular { no, yes };
  explicit InputFile(Regular regular = Regular::no) {
    if (regular == Regular::no) {
      fd_ = memfd_create("jitson-fuzz-input", MFD_CLOEXEC);
      if (fd_ < 0) fail("memfd_create failed");
      path_ = "/proc/self/fd/" + std::to_string(fd_);
    } else {
      const char *dir = std::getenv("TMPDIR");
      path_ = std::string(dir && *dir ? dir : "/tmp") + "/jitson-fuzz-XXXXXX";
      fd_ = mkstemp(path_.data());
      if (fd_ < 0) fail("mkstemp %s failed", path_.c_str());
      temporary_ = path_;
      std::atexit([] { unlink(temporary_.c_str()); });
    }
  }
  const std::string &write(const uint8_t *data, size_t size) {
    if (ftruncate(fd_, 0) != 0) fail("ftruncate failed");
    size_t done = 0;
    while (done < size) {
      ssize_t n = pwrite(fd_, data + done, size - done, off_t(done));
      if (n <= 0) fail("pwrite failed");
      done += size_t(n);
    }
    return path_;
  }
  const std::string &path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
  static inline std::string temporary_;
};

}  // namespace jitson::fuzz
