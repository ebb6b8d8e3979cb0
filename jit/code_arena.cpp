#include "jit/code_arena.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "jitson/error.hpp"

namespace jitson {

namespace {

size_t page_size() {
  static const size_t page = size_t(sysconf(_SC_PAGESIZE));
  return page;
}

size_t round_up(size_t n, size_t to) {
  return (n + to - 1) / to * to;
}

std::string errno_text(int err) {
  return std::string(std::strerror(err));
}

// One memfd mapped twice. The views are the only references to the file once fd is closed.
struct Chunk {
  uint8_t *write = nullptr;
  uint8_t *exec = nullptr;
  size_t bytes = 0;
  size_t used = 0;
  size_t populated = 0;                  // [0, populated) is faulted in, in both views
  std::map<size_t, size_t> free_ranges;  // offset → length, disjoint and coalesced
};

// Pages are faulted in ahead of the code, this many bytes at a time, in both views, so a typical
// compile and a kernel's first call take no page fault: on this VM a first-touch fault of a code
// page cost 4-10 us, and a 2 KiB kernel lands on a new page every other compile (the code
// generation phase of an Engine::compile miss: median 14.2 -> 12.9 us). The cost is gathered,
// not saved: one compile in 30-50 pays 150-280 us for the next 64 KiB. Unlike MAP_POPULATE on
// the whole chunk, a process's first compile does not pay for 1 MiB (~600 us measured).
constexpr size_t kPopulateAhead = size_t{64} << 10;

void populate_through(Chunk &c, size_t end) {
#ifdef MADV_POPULATE_WRITE
  if (end <= c.populated) return;
  // The step ahead doubles with what the chunk already holds (none for its first kernel, then
  // 4, 8, ... up to 64 KiB): a process's first compile faults in the pages its kernel needs
  // instead of 64 KiB it may never use (~45 us of its ~180 us), and a busy chunk still gathers
  // the cost into few calls.
  const size_t ahead = std::min(kPopulateAhead, c.populated);
  const size_t stop = std::min(c.bytes, round_up(end, page_size()) + ahead);
  const size_t length = stop - c.populated;
  // Advice only: on kernels before 5.14 (EINVAL) the pages simply fault in on first touch.
  (void)madvise(c.write + c.populated, length, MADV_POPULATE_WRITE);
  (void)madvise(c.exec + c.populated, length, MADV_POPULATE_READ);
  c.populated = stop;
#else
  (void)c;
  (void)end;
#endif
}

// Maps a new dual-mapped chunk, or returns the errno of the step that failed.
int map_chunk(size_t bytes, Chunk &out) {
  int fd = -1;
#ifdef MFD_EXEC
  // Kernels with vm.memfd_noexec ask for MFD_EXEC to map a memfd executable; older ones reject
  // the flag with EINVAL, so retry without it.
  fd = memfd_create("jitson-code", MFD_CLOEXEC | MFD_EXEC);
  if (fd < 0 && errno == EINVAL) fd = memfd_create("jitson-code", MFD_CLOEXEC);
#else
  fd = memfd_create("jitson-code", MFD_CLOEXEC);
#endif
  if (fd < 0) return errno;
  if (ftruncate(fd, off_t(bytes)) != 0) {
    int err = errno;
    close(fd);
    return err;
  }
  // No MAP_POPULATE: faulting a whole 1 MiB chunk in up front cost ~600 us on the first compile
  // of a process and saved ~2 us per later compile (measured); pages fault in as code lands.
  void *w = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (w == MAP_FAILED) {
    int err = errno;
    close(fd);
    return err;
  }
  void *x = mmap(nullptr, bytes, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (x == MAP_FAILED) {
    munmap(w, bytes);
    return err;
  }
  out.write = static_cast<uint8_t *>(w);
  out.exec = static_cast<uint8_t *>(x);
  out.bytes = bytes;
  out.used = 0;
  out.populated = 0;
  out.free_ranges = {{0, bytes}};
  return 0;
}

void unmap_chunk(Chunk &c) {
  munmap(c.write, c.bytes);
  munmap(c.exec, c.bytes);
  c.write = c.exec = nullptr;
}

// Whether this process may turn a private writable page into an executable one.
bool mprotect_exec_allowed() {
  const size_t page = page_size();
  void *p = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  bool ok = mprotect(p, page, PROT_READ | PROT_EXEC) == 0;
  munmap(p, page);
  return ok;
}

}  // namespace

struct CodeArena::State {
  Options options;
  Mode mode = Mode::dual_mapping;
  mutable std::mutex mutex;
  std::vector<std::unique_ptr<Chunk>> chunks;
  struct Allocation {
    Chunk *chunk;   // nullptr in mprotect mode
    size_t offset;  // in the chunk
    size_t bytes;   // granule-rounded (dual) or page-rounded mapping length (mprotect)
  };
  std::unordered_map<const void *, Allocation> live;
  size_t in_use = 0;
  size_t mapped = 0;

  ~State() {
    for (auto &c : chunks) unmap_chunk(*c);
    for (auto &[exec, a] : live) {
      // const_cast: munmap takes void *; exec is the start of a mapping this arena created.
      if (!a.chunk) munmap(const_cast<void *>(exec), a.bytes);
    }
  }

  Chunk *new_chunk(size_t bytes) {
    auto c = std::make_unique<Chunk>();
    if (int err = map_chunk(bytes, *c)) {
      throw Error(ErrorKind::unsupported,
                  "executable memory refused by the OS: cannot map " + std::to_string(bytes) +
                      " bytes of dual-mapped code memory (" + errno_text(err) + ")");
    }
    mapped += bytes;
    chunks.push_back(std::move(c));
    return chunks.back().get();
  }

  Block allocate_dual(size_t need) {
    for (auto &c : chunks) {
      for (auto it = c->free_ranges.begin(); it != c->free_ranges.end(); ++it) {
        if (it->second >= need) return take(*c, it, need);
      }
    }
    Chunk *c = new_chunk(std::max(options.chunk_bytes, round_up(need, page_size())));
    return take(*c, c->free_ranges.begin(), need);
  }

  Block take(Chunk &c, std::map<size_t, size_t>::iterator range, size_t need) {
    const size_t offset = range->first, length = range->second;
    c.free_ranges.erase(range);
    if (length > need) c.free_ranges.emplace(offset + need, length - need);
    c.used += need;
    in_use += need;
    populate_through(c, offset + need);
    live.emplace(c.exec + offset, Allocation{&c, offset, need});
    return Block{c.write + offset, c.exec + offset, need};
  }

  void give_back(Chunk &c, size_t offset, size_t bytes) {
    auto next = c.free_ranges.lower_bound(offset);
    if (next != c.free_ranges.end() && offset + bytes == next->first) {
      bytes += next->second;
      next = c.free_ranges.erase(next);
    }
    if (next != c.free_ranges.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == offset) {
        prev->second += bytes;
        bytes = 0;
      }
    }
    if (bytes) c.free_ranges.emplace(offset, bytes);
  }

  // Keeps one empty chunk for the next kernel; unmaps further empty ones.
  void release_empty_chunks() {
    bool kept_one = false;
    for (auto it = chunks.begin(); it != chunks.end();) {
      if ((*it)->used == 0) {
        if (!kept_one) {
          kept_one = true;
        } else {
          mapped -= (*it)->bytes;
          unmap_chunk(**it);
          it = chunks.erase(it);
          continue;
        }
      }
      ++it;
    }
  }
};

CodeArena::CodeArena() : CodeArena(Options{}) {}

CodeArena::CodeArena(Options options) : state_(std::make_shared<State>()) {
  if (options.chunk_bytes == 0) options.chunk_bytes = size_t{1} << 20;
  options.chunk_bytes = round_up(options.chunk_bytes, page_size());
  state_->options = options;
  int dual_error = 0;
  if (options.allow_dual_mapping) {
    auto c = std::make_unique<Chunk>();
    dual_error = map_chunk(options.chunk_bytes, *c);
    if (dual_error == 0) {
      state_->mode = Mode::dual_mapping;
      state_->mapped += c->bytes;
      state_->chunks.push_back(std::move(c));
      return;
    }
  }
  if (mprotect_exec_allowed()) {
    state_->mode = Mode::mprotect;
    return;
  }
  throw Error(ErrorKind::unsupported,
              "executable memory refused by the OS (no dual-mapped memfd" +
                  (dual_error ? ": " + errno_text(dual_error) : std::string()) +
                  ", no mprotect to read+exec); use the runtime backend");
}

CodeArena::~CodeArena() = default;

CodeArena::Block CodeArena::allocate(size_t n) {
  if (n == 0) throw Error(ErrorKind::invalid_argument, "code allocation of 0 bytes");
  State &s = *state_;
  if (s.mode == Mode::dual_mapping) {
    const size_t need = round_up(n, kGranule);
    std::lock_guard lock(s.mutex);
    return s.allocate_dual(need);
  }
  const size_t bytes = round_up(n, page_size());
  void *p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    throw Error(ErrorKind::unsupported, "executable memory refused by the OS: cannot map " +
                                            std::to_string(bytes) + " bytes for code (" +
                                            errno_text(errno) + ")");
  }
  auto *bytes_ptr = static_cast<uint8_t *>(p);
  std::lock_guard lock(s.mutex);
  s.live.emplace(bytes_ptr, State::Allocation{nullptr, 0, bytes});
  s.in_use += bytes;
  s.mapped += bytes;
  return Block{bytes_ptr, bytes_ptr, bytes};
}

void CodeArena::publish(const Block &block) {
  if (state_->mode == Mode::dual_mapping) {
    // The exec view shares the physical pages, and x86 keeps instruction fetch coherent with
    // stores to them; the release fence orders the code bytes before the pointer is handed out.
    std::atomic_thread_fence(std::memory_order_release);
    return;
  }
  if (mprotect(block.write, round_up(block.bytes, page_size()), PROT_READ | PROT_EXEC) != 0) {
    throw Error(ErrorKind::unsupported,
                "executable memory refused by the OS: mprotect to read+exec failed (" +
                    errno_text(errno) + ")");
  }
}

void CodeArena::free(const void *exec) {
  if (exec == nullptr) return;
  State &s = *state_;
  std::lock_guard lock(s.mutex);
  auto it = s.live.find(exec);
  if (it == s.live.end()) {
    throw Error(ErrorKind::internal, "CodeArena::free of an address it did not allocate");
  }
  State::Allocation a = it->second;
  s.live.erase(it);
  s.in_use -= a.bytes;
  if (!a.chunk) {
    // const_cast: munmap takes void *; exec is the start of a mapping this arena created.
    munmap(const_cast<void *>(exec), a.bytes);
    s.mapped -= a.bytes;
    return;
  }
  // int3 over the freed entry: a stale call (through a function pointer, so at the first byte)
  // traps instead of running whatever is written there next. One granule, not the whole
  // range: the range is cold by the time its kernel is evicted, and filling it all cost ~1 us.
  std::memset(a.chunk->write + a.offset, 0xCC, std::min(a.bytes, kGranule));
  a.chunk->used -= a.bytes;
  s.give_back(*a.chunk, a.offset, a.bytes);
  if (a.chunk->used == 0) s.release_empty_chunks();
}

const uint8_t *CodeArena::install(const void *code, size_t n) {
  Block b = allocate(n);
  std::memcpy(b.write, code, n);
  try {
    publish(b);
  } catch (...) {
    free(b.exec);
    throw;
  }
  return b.exec;
}

CodeArena::Mode CodeArena::mode() const {
  return state_->mode;
}

size_t CodeArena::bytes_in_use() const {
  std::lock_guard lock(state_->mutex);
  return state_->in_use;
}

size_t CodeArena::bytes_mapped() const {
  std::lock_guard lock(state_->mutex);
  return state_->mapped;
}

size_t CodeArena::chunks() const {
  std::lock_guard lock(state_->mutex);
  return state_->chunks.size();
}

const char *to_string(CodeArena::Mode mode) {
  return mode == CodeArena::Mode::dual_mapping ? "dual-mapped memfd" : "mprotect";
}

}  // namespace jitson
