// GEMM front-ends: argument validation, kernel choice, Goto/BLIS blocking and the split of C
// over threads. The kernels themselves live in kernels/gemm_*.cpp.
#include "jitson/gemm.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "jitson/cpu.hpp"
#include "jitson/error.hpp"
#include "kernels/gemm_internal.hpp"
#include "runtime/streamed_buffer.hpp"
#include "runtime/thread_pool.hpp"

#if defined(__x86_64__)
#include <cpuid.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace jitson {
namespace gemm_detail {

namespace {

std::atomic<unsigned> default_threads{0};

[[noreturn]] void fail(const std::string &message) {
  throw Error(ErrorKind::invalid_argument, message);
}

// --- CPU capabilities beyond cpu.hpp: AMX needs its own cpuid bits and a kernel permission.

struct AmxSupport {
  bool bf16 = false;
  bool int8 = false;
};

AmxSupport detect_amx() {
  AmxSupport s;
#if defined(__x86_64__)
  const CpuFeatures &f = cpu_features();
  if (!f.os_saves_zmm) return s;  // xgetbv is usable (OSXSAVE) whenever zmm state is reported
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return s;
  const bool tile = (d >> 24) & 1;
  if (!tile) return s;
  uint32_t xcr0_lo = 0, xcr0_hi = 0;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  if (((xcr0_lo >> 17) & 3) != 3) return s;  // XTILECFG and XTILEDATA enabled by the OS
  // Linux grants the tile data state per process on request (ARCH_REQ_XCOMP_PERM = 0x1023,
  // XFEATURE_XTILEDATA = 18); without it the first tile instruction faults.
  if (syscall(SYS_arch_prctl, 0x1023, 18) != 0) return s;
  s.bf16 = (d >> 22) & 1;
  s.int8 = (d >> 25) & 1;
#endif
  return s;
}

const AmxSupport &amx_support() {
  static const AmxSupport s = detect_amx();
  return s;
}

// The L2 size of this core from the deterministic cache parameters (cpuid leaf 4 on Intel,
// 0x8000001D on AMD, same layout); 1 MiB when unknown.
size_t detect_l2_bytes() {
#if defined(__x86_64__)
  const unsigned leaf = cpu_features().vendor == "AuthenticAMD" ? 0x8000001Du : 4u;
  for (unsigned sub = 0; sub < 16; ++sub) {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(leaf, sub, &a, &b, &c, &d)) break;
    const unsigned type = a & 0x1F, level = (a >> 5) & 7;
    if (type == 0) break;
    if (level == 2 && (type == 2 || type == 3))  // data or unified
      return size_t((b >> 22) + 1) * (((b >> 12) & 0x3FF) + 1) * ((b & 0xFFF) + 1) *
             (size_t(c) + 1);
  }
#endif
  return size_t(1) << 20;
}

size_t l2_bytes() {
  static const size_t bytes = detect_l2_bytes();
  return bytes;
}

// nc of a kernel, sized from L2 when the kernel leaves it to the driver.
template <class T, class P>
int block_nc(const BlockedKernel<T, P> &kern) {
  if (kern.nc > 0) return kern.nc;
  const size_t per_column = size_t(kern.kc) * sizeof(P);
  const size_t columns = l2_bytes() / 2 / per_column;
  return std::max(kern.nr,
                  static_cast<int>(std::min<size_t>(columns, 1 << 16)) / kern.nr * kern.nr);
}

Isa resolve_isa(const GemmOptions &options) {
  if (!options.isa) return active_isa();
  if (!isa_supported(*options.isa))
    throw Error(ErrorKind::unsupported, std::string("GEMM isa ") + isa_name(*options.isa) +
                                            " is not supported by this CPU (best is " +
                                            isa_name(best_isa()) + ")");
  return *options.isa;
}

unsigned resolve_threads(const GemmOptions &options) {
  if (options.threads != 0) return options.threads;
  const unsigned d = default_threads.load();
  return d == 0 ? hardware_threads() : d;
}

const F32Kernel &choose_f32(Isa isa) {
  switch (isa) {
    case Isa::avx512:
      return f32_avx512;
    case Isa::avx2:
      return f32_avx2;
    case Isa::scalar:
      break;
  }
  return f32_scalar;
}

struct Bf16Choice {
  const Bf16AsF32Kernel *exact = nullptr;  // one of the two is set
  const Bf16Kernel *dot = nullptr;
  const char *name() const { return exact ? exact->name : dot->name; }
};

[[noreturn]] void unsupported_extension(const char *what, const char *why) {
  throw Error(ErrorKind::unsupported, std::string(what) + ": " + why);
}

Bf16Choice choose_bf16(const GemmOptions &options) {
  const Isa isa = resolve_isa(options);
  const GemmExtension ext = options.extension;
  if (isa != Isa::avx512) {
    if (ext == GemmExtension::avx512_dot || ext == GemmExtension::amx)
      unsupported_extension("gemm_bf16", "AVX-512 BF16 and AMX kernels need isa avx512");
    return {isa == Isa::avx2 ? &bf16_as_f32_avx2 : &bf16_as_f32_scalar, nullptr};
  }
  const bool has_dot = cpu_features().avx512bf16;
  switch (ext) {
    case GemmExtension::none:
      return {&bf16_as_f32_avx512, nullptr};
    case GemmExtension::avx512_dot:
      if (!has_dot) unsupported_extension("gemm_bf16", "this CPU lacks AVX-512 BF16 (vdpbf16ps)");
      return {nullptr, &bf16_dot_avx512};
    case GemmExtension::amx:
      if (!amx_support().bf16)
        unsupported_extension("gemm_bf16", "AMX-BF16 is absent or not granted by the OS");
      return {nullptr, &bf16_amx};
    case GemmExtension::best:
      break;
  }
  if (amx_support().bf16) return {nullptr, &bf16_amx};
  if (has_dot) return {nullptr, &bf16_dot_avx512};
  return {&bf16_as_f32_avx512, nullptr};
}

const I8Kernel &choose_i8(const GemmOptions &options) {
  const Isa isa = resolve_isa(options);
  const GemmExtension ext = options.extension;
  if (isa != Isa::avx512) {
    if (ext == GemmExtension::avx512_dot || ext == GemmExtension::amx)
      unsupported_extension("gemm_u8i8", "AVX-512 VNNI and AMX kernels need isa avx512");
    return i8_scalar;
  }
  const bool has_vnni = cpu_features().avx512vnni;
  switch (ext) {
    case GemmExtension::none:
      return i8_scalar;
    case GemmExtension::avx512_dot:
      if (!has_vnni) unsupported_extension("gemm_u8i8", "this CPU lacks AVX-512 VNNI (vpdpbusd)");
      return i8_vnni_avx512;
    case GemmExtension::amx:
      if (!amx_support().int8)
        unsupported_extension("gemm_u8i8", "AMX-INT8 is absent or not granted by the OS");
      return i8_amx;
    case GemmExtension::best:
      break;
  }
  if (amx_support().int8) return i8_amx;
  if (has_vnni) return i8_vnni_avx512;
  return i8_scalar;
}

// --- Per-thread packing buffers, grown on demand and kept for the next call. Buffers of 1 MiB
// and more are 2 MiB aligned and advised MADV_HUGEPAGE (transparent huge pages are often applied
// only on request): the micro-kernels walk megabytes of packed panels, and with 4 KiB pages the
// TLB misses cost several percent.

class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch &) = delete;
  Scratch &operator=(const Scratch &) = delete;
  ~Scratch() { free_streamed(buffer_, size_); }

  void *get(size_t bytes) {
    if (bytes > size_) {
      free_streamed(buffer_, size_);
      buffer_ = nullptr;  // allocate_streamed may throw: leave no dangling buffer
      size_ = 0;
      buffer_ = allocate_streamed(bytes);
      size_ = bytes;
    }
    return buffer_;
  }

 private:
  void *buffer_ = nullptr;
  size_t size_ = 0;
};

thread_local Scratch scratch_a, scratch_b, scratch_sums;

// --- Splitting C over threads: a tm x tn grid that minimises what each thread packs.

struct Range {
  int64_t begin, end;
};

Range part(int64_t total, int64_t unit, unsigned parts, unsigned index) {
  const int64_t units = (total + unit - 1) / unit;
  const int64_t base = units / parts, extra = units % parts;
  const int64_t first = index * base + std::min<int64_t>(index, extra);
  const int64_t count = base + (static_cast<int64_t>(index) < extra ? 1 : 0);
  return {std::min(total, first * unit), std::min(total, (first + count) * unit)};
}

struct Grid {
  unsigned tm = 1, tn = 1;
};

Grid choose_grid(unsigned threads, int64_t m, int64_t n, int64_t k, int mr, int nr, bool shared_b) {
  // At least ~2 M multiply-adds per thread, else waking threads costs more than it saves.
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  if (threads <= 1 || work < double(1 << 22)) return Grid{1, 1};
  const double by_work = work / double(1 << 21);
  unsigned t = static_cast<unsigned>(std::min<double>(threads, by_work));
  const int64_t units_m = (m + mr - 1) / mr, units_n = (n + nr - 1) / nr;
  t = static_cast<unsigned>(std::min<int64_t>(t, units_m * units_n));
  Grid best{1, 1};
  double best_cost = -1;
  for (unsigned tm = 1; tm <= t; ++tm) {
    if (t % tm != 0) continue;
    const unsigned tn = t / tm;
    if (tm > units_m || tn > units_n) continue;
    // Packed elements per thread: its rows of A (a copy per column group) and its columns of B
    // (with shared_b, only its share: the tm threads of a column group pack B together).
    const double cost = double(m) / tm + double(n) / (double(tn) * (shared_b ? tm : 1));
    if (best_cost < 0 || cost < best_cost) {
      best = {tm, tn};
      best_cost = cost;
    }
  }
  return best;
}

// --- The f32-output blocked driver (sgemm and the bf16 paths).

template <class T>
struct Problem {
  int64_t m, n, k;
  const T *a;
  ptrdiff_t rsa, csa;  // op(A)(i, p) = a[i * rsa + p * csa]
  const T *b;
  ptrdiff_t rsb, csb;  // op(B)(p, j) = b[p * rsb + j * csb]
  float *c;
  ptrdiff_t ldc;  // row-major C
  float alpha, beta;
};

// The members of a column group meet once per B block. They run at the same time by
// construction (run_parallel), so waiting is spinning: std::barrier soon sleeps in the kernel,
// and on this VM a futex wake-up of an idle vCPU costs ~0.1-0.3 ms, several times per call
// (bench_gemm sgemm n = 1024, 2 threads, every call after an idle pause: 222 -> 265 GFLOPS,
// OpenBLAS 255-293 in the same runs). It pauses, then yields, and sleeps only after 2^16
// yields (a member descheduled that long).
class SpinBarrier {
 public:
  explicit SpinBarrier(unsigned members) : members_(members) {}
  void arrive_and_wait() {
    const unsigned phase = phase_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == members_) {
      arrived_.store(0, std::memory_order_relaxed);
      phase_.store(phase + 1, std::memory_order_release);
      phase_.notify_all();
      return;
    }
    for (uint32_t spin = 0; phase_.load(std::memory_order_acquire) == phase; ++spin) {
      if (spin < 1024) {
        _mm_pause();
      } else if (spin < (1u << 16)) {
        // The member we wait for may have been woken onto this very CPU (the scheduler puts a
        // wakee beside its waker): yielding lets it run instead of spinning against it.
        sched_yield();
      } else {
        phase_.wait(phase, std::memory_order_acquire);
      }
    }
  }

 private:
  const unsigned members_;
  std::atomic<unsigned> arrived_{0};
  std::atomic<unsigned> phase_{0};
};

// The threads of one column group (same columns of C, different rows) pack each B block
// together, every thread a share of its nr-wide panels, into one of two shared buffers, and
// wait for each other once per block: with two buffers, a thread packing block b + 1 overwrites
// the buffer of block b - 1, which every thread has finished with before it arrived at the
// barrier of block b.
template <class P>
struct SharedB {
  P *buffer[2];
  SpinBarrier *sync;  // null when the group has a single thread
};

// Packs this member's share of the nr-wide panels of one B block (kc x nc from (pc, jc)).
template <class T, class P>
void pack_b_share(const BlockedKernel<T, P> &kern, const Problem<T> &pr, int64_t pc, int kc,
                  int64_t jc, int nc, P *pack_b, unsigned member, unsigned members) {
  const int kp = round_up(kc, kern.k_align);
  const int panels = (nc + kern.nr - 1) / kern.nr;
  const int first = static_cast<int>(int64_t(panels) * member / members);
  const int last = static_cast<int>(int64_t(panels) * (member + 1) / members);
  if (first >= last) return;
  const int j0 = first * kern.nr;
  const int width = std::min(nc, last * kern.nr) - j0;
  kern.pack_b(pr.b + pc * pr.rsb + (jc + j0) * pr.csb, pr.rsb, pr.csb, kc, width,
              pack_b + size_t(j0) * size_t(kp));
}

// Rows of A packed per chunk when the kernel leaves mc to the driver: up to 8 MiB of packed A.
template <class T, class P>
int64_t chunk_rows(const BlockedKernel<T, P> &kern, int kp_cap) {
  const int64_t rows = (int64_t(8) << 20) / (int64_t(kp_cap) * int64_t(sizeof(P)));
  return std::max<int64_t>(kern.mr, rows / kern.mr * kern.mr);
}

// One thread's rectangle of C. Two loop orders:
//  - kern.mc == 0 (row-outer macro-kernels): for each k block, A is packed once per chunk of
//    rows (normally all of this thread's rows) and B once per nc block, which streams from L2;
//  - kern.mc > 0 (column-outer macro-kernels, Goto's order): for each nc x kc block of B, A is
//    packed mc rows at a time and stays in L2.
// `max_rows` is the largest row count in the column group, so that every member runs the same
// number of B blocks (and barriers), even one with fewer or no rows.
template <class T, class P>
void run_block_range(const BlockedKernel<T, P> &kern, const Problem<T> &pr, Range rows,
                     int64_t max_rows, Range cols, const SharedB<P> &shared, unsigned member,
                     unsigned members) {
  const int kc_max = kern.kc, nc_max = block_nc(kern);
  const int kp_cap = round_up(static_cast<int>(std::min<int64_t>(kc_max, pr.k)), kern.k_align);
  const int64_t mc_max = kern.mc > 0 ? kern.mc : chunk_rows(kern, kp_cap);
  const int64_t mc_cap = std::min<int64_t>(mc_max, std::max<int64_t>(1, max_rows));
  P *pack_a = static_cast<P *>(
      scratch_a.get(sizeof(P) * size_t(round_up(int(mc_cap), kern.mr)) * size_t(kp_cap)));
  unsigned block = 0;
  auto next_b = [&](int64_t pc, int kc, int64_t jc, int nc) {
    P *pack_b = shared.buffer[block++ % 2];
    pack_b_share(kern, pr, pc, kc, jc, nc, pack_b, member, members);
    if (shared.sync) shared.sync->arrive_and_wait();
    return pack_b;
  };
  if (kern.mc == 0) {
    const int64_t chunks = std::max<int64_t>(1, (max_rows + mc_max - 1) / mc_max);
    for (int64_t pc = 0; pc < pr.k; pc += kc_max) {
      const int kc = static_cast<int>(std::min<int64_t>(kc_max, pr.k - pc));
      const float beta = pc == 0 ? pr.beta : 1.0f;
      for (int64_t chunk = 0; chunk < chunks; ++chunk) {
        const int64_t ic = rows.begin + chunk * mc_max;
        const int mc = static_cast<int>(std::max<int64_t>(0, std::min(mc_max, rows.end - ic)));
        if (mc > 0) kern.pack_a(pr.a + ic * pr.rsa + pc * pr.csa, pr.rsa, pr.csa, mc, kc, pack_a);
        for (int64_t jc = cols.begin; jc < cols.end; jc += nc_max) {
          const int nc = static_cast<int>(std::min<int64_t>(nc_max, cols.end - jc));
          const P *pack_b = next_b(pc, kc, jc, nc);
          if (mc > 0)
            kern.macro(mc, nc, kc, pack_a, pack_b, pr.c + ic * pr.ldc + jc, pr.ldc, pr.alpha, beta);
        }
      }
    }
    return;
  }
  for (int64_t jc = cols.begin; jc < cols.end; jc += nc_max) {
    const int nc = static_cast<int>(std::min<int64_t>(nc_max, cols.end - jc));
    for (int64_t pc = 0; pc < pr.k; pc += kc_max) {
      const int kc = static_cast<int>(std::min<int64_t>(kc_max, pr.k - pc));
      const P *pack_b = next_b(pc, kc, jc, nc);
      const float beta = pc == 0 ? pr.beta : 1.0f;
      for (int64_t ic = rows.begin; ic < rows.end; ic += mc_max) {
        const int mc = static_cast<int>(std::min<int64_t>(mc_max, rows.end - ic));
        kern.pack_a(pr.a + ic * pr.rsa + pc * pr.csa, pr.rsa, pr.csa, mc, kc, pack_a);
        kern.macro(mc, nc, kc, pack_a, pack_b, pr.c + ic * pr.ldc + jc, pr.ldc, pr.alpha, beta);
      }
    }
  }
}

template <class T, class P>
void run_blocked(const BlockedKernel<T, P> &kern, const Problem<T> &pr, unsigned threads) {
  if (kern.needs_amx) (void)amx_support();
  const Grid g = choose_grid(threads, pr.m, pr.n, pr.k, kern.mr, kern.nr, true);
  // Two B buffers per column group, each wide enough for any group's block (also for the whole
  // of C when the pool runs the job as one part).
  const int kp_cap = round_up(static_cast<int>(std::min<int64_t>(kern.kc, pr.k)), kern.k_align);
  const size_t b_elems =
      size_t(round_up(static_cast<int>(std::min<int64_t>(block_nc(kern), pr.n)), kern.nr)) *
      size_t(kp_cap);
  P *b_all = static_cast<P *>(scratch_b.get(sizeof(P) * b_elems * 2 * g.tn));
  if (g.tm * g.tn == 1) {  // one part: no pool, no barrier
    run_block_range(kern, pr, Range{0, pr.m}, pr.m, Range{0, pr.n},
                    SharedB<P>{{b_all, b_all + b_elems}, nullptr}, 0, 1);
    return;
  }
  std::vector<std::unique_ptr<SpinBarrier>> barriers;
  if (g.tm > 1)
    for (unsigned c = 0; c < g.tn; ++c) barriers.push_back(std::make_unique<SpinBarrier>(g.tm));
  run_parallel(g.tm * g.tn, [&](unsigned t, unsigned parts) {
    const Grid grid = parts == g.tm * g.tn ? g : Grid{1, 1};
    const unsigned row_group = t / grid.tn, col_group = t % grid.tn;
    const Range rows = part(pr.m, kern.mr, grid.tm, row_group);
    const Range cols = part(pr.n, kern.nr, grid.tn, col_group);
    SharedB<P> shared{{b_all + b_elems * 2 * col_group, b_all + b_elems * (2 * col_group + 1)},
                      grid.tm > 1 ? barriers[col_group].get() : nullptr};
    const Range first_rows = part(pr.m, kern.mr, grid.tm, 0);  // the largest share
    // Every member of a group packs and waits, even one without rows of its own.
    if (cols.begin < cols.end)
      run_block_range(kern, pr, rows, first_rows.end - first_rows.begin, cols, shared, row_group,
                      grid.tm);
  });
}

// C <- beta * C only (alpha == 0 or k == 0): zeros when beta == 0, whatever C held.
void beta_only(float *c, int64_t m, int64_t n, int64_t ldc, float beta) {
  if (beta == 1.0f) return;
  for (int64_t i = 0; i < m; ++i) {
    float *row = c + i * ldc;
    if (beta == 0.0f) {
      std::fill(row, row + n, 0.0f);
    } else {
      for (int64_t j = 0; j < n; ++j) row[j] = beta * row[j];
    }
  }
}

// --- Validation.

// A matrix as stored: `lines` lines (rows for row-major, columns for column-major) of
// `length` elements, `ld` elements apart.
struct Stored {
  const char *name;  // "A", "B", "C"
  const char *ptr_name;
  const char *ld_name;
  const void *ptr;
  int64_t lines, length, ld;
  size_t elem;
  const char *how;  // "row-major A, no transpose" ...
};

// Bytes spanned from ptr to one past the last element; 0 for an empty matrix.
uint64_t span_bytes(const char *fn, const Stored &s) {
  if (s.lines == 0 || s.length == 0) return 0;
  unsigned __int128 elems =
      static_cast<unsigned __int128>(s.lines - 1) * static_cast<unsigned __int128>(s.ld) +
      static_cast<unsigned __int128>(s.length);
  const unsigned __int128 bytes = elems * s.elem;
  const uintptr_t base = reinterpret_cast<uintptr_t>(s.ptr);  // only compared, never used
  if (bytes > (unsigned __int128)(UINTPTR_MAX - base))
    fail(std::string(fn) + ": " + s.name + " (" + std::to_string(s.lines) + " lines of " +
         std::to_string(s.length) + ", " + s.ld_name + " = " + std::to_string(s.ld) +
         ") extends past the end of the address space");
  return static_cast<uint64_t>(bytes);
}

void check_stored(const char *fn, const Stored &s) {
  const int64_t min_ld = std::max<int64_t>(1, s.length);
  if (s.ld < min_ld)
    fail(std::string(fn) + ": " + s.ld_name + " = " + std::to_string(s.ld) +
         " is less than max(1, " + std::to_string(s.length) + ") = " + std::to_string(min_ld) +
         " (" + s.how + ": " + s.ld_name + " must be at least the length of a stored " +
         "line of " + s.name + ")");
  if (s.ptr == nullptr && s.lines > 0 && s.length > 0)
    fail(std::string(fn) + ": " + s.ptr_name + " is null but " + s.name + " has " +
         std::to_string(s.lines) + " x " + std::to_string(s.length) +
         " elements; a pointer may be null only when its matrix is empty");
  (void)span_bytes(fn, s);
}

bool overlaps(const char *fn, const Stored &x, const Stored &y) {
  const uint64_t bx = span_bytes(fn, x), by = span_bytes(fn, y);
  if (bx == 0 || by == 0) return false;
  const uintptr_t px = reinterpret_cast<uintptr_t>(x.ptr);  // addresses compared only
  const uintptr_t py = reinterpret_cast<uintptr_t>(y.ptr);
  return px < py + by && py < px + bx;
}

void check_no_overlap(const char *fn, const Stored &c, const Stored &other, const char *when) {
  if (overlaps(fn, c, other))
    fail(std::string(fn) + ": " + c.name + " overlaps " + other.name + " (" + c.ptr_name + " and " +
         other.ptr_name + " share memory); " + c.name + " must not share memory with " +
         other.name + when);
}

void check_dims(const char *fn, int64_t m, int64_t n, int64_t k) {
  const char *names[3] = {"m", "n", "k"};
  const int64_t values[3] = {m, n, k};
  for (int i = 0; i < 3; ++i)
    if (values[i] < 0)
      fail(std::string(fn) + ": " + names[i] + " = " + std::to_string(values[i]) +
           " is negative; m, n and k must be >= 0");
}

bool is_trans(GemmTranspose t) {
  return t != GemmTranspose::none;
}

void check_codes(const char *fn, GemmOrder order, GemmTranspose ta, GemmTranspose tb) {
  if (order != GemmOrder::row_major && order != GemmOrder::col_major)
    fail(std::string(fn) + ": order = " + std::to_string(static_cast<int>(order)) +
         " is not CblasRowMajor (101) or CblasColMajor (102)");
  const GemmTranspose ts[2] = {ta, tb};
  const char *names[2] = {"trans_a", "trans_b"};
  for (int i = 0; i < 2; ++i)
    if (ts[i] != GemmTranspose::none && ts[i] != GemmTranspose::transpose &&
        ts[i] != GemmTranspose::conj_transpose)
      fail(std::string(fn) + ": " + names[i] + " = " + std::to_string(static_cast<int>(ts[i])) +
           " is not CblasNoTrans (111), CblasTrans (112) or CblasConjTrans (113)");
}

// Validates a CBLAS-style call and maps it to a row-major Problem (a column-major C is the
// row-major C^T = op(B)^T op(A)^T, so A and B swap roles).
template <class T>
Problem<T> make_problem(const char *fn, GemmOrder order, GemmTranspose ta, GemmTranspose tb,
                        int64_t m, int64_t n, int64_t k, float alpha, const T *a, int64_t lda,
                        const T *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  check_codes(fn, order, ta, tb);
  check_dims(fn, m, n, k);
  const bool row = order == GemmOrder::row_major;
  const bool tra = is_trans(ta), trb = is_trans(tb);
  // Stored shape of each operand: lines x length.
  const int64_t a_rows = tra ? k : m, a_cols = tra ? m : k;  // as if row-major
  const int64_t b_rows = trb ? n : k, b_cols = trb ? k : n;
  const Stored sa{"A",
                  "a",
                  "lda",
                  a,
                  row ? a_rows : a_cols,
                  row ? a_cols : a_rows,
                  lda,
                  sizeof(T),
                  row ? (tra ? "row-major A, transposed" : "row-major A, no transpose")
                      : (tra ? "column-major A, transposed" : "column-major A, no transpose")};
  const Stored sb{"B",
                  "b",
                  "ldb",
                  b,
                  row ? b_rows : b_cols,
                  row ? b_cols : b_rows,
                  ldb,
                  sizeof(T),
                  row ? (trb ? "row-major B, transposed" : "row-major B, no transpose")
                      : (trb ? "column-major B, transposed" : "column-major B, no transpose")};
  const Stored sc{"C", "c",           "ldc",
                  c,   row ? m : n,   row ? n : m,
                  ldc, sizeof(float), row ? "row-major C" : "column-major C"};
  check_stored(fn, sa);
  check_stored(fn, sb);
  check_stored(fn, sc);
  if (alpha != 0.0f && k > 0 && m > 0 && n > 0) {
    check_no_overlap(fn, sc, sa, " when alpha != 0 and k > 0");
    check_no_overlap(fn, sc, sb, " when alpha != 0 and k > 0");
  }
  Problem<T> pr{};
  pr.alpha = alpha;
  pr.beta = beta;
  pr.c = c;
  pr.ldc = ldc;
  if (row) {
    pr.m = m;
    pr.n = n;
    pr.k = k;
    pr.a = a;
    pr.rsa = tra ? 1 : lda;
    pr.csa = tra ? lda : 1;
    pr.b = b;
    pr.rsb = trb ? 1 : ldb;
    pr.csb = trb ? ldb : 1;
  } else {
    // Row-major view: C' = C^T (n x m) = op(B)^T (n x k) * op(A)^T (k x m). Column-major op(B)
    // element (p, j) is b[p + j*ldb] (no transpose) or b[j + p*ldb]; so op(B)^T(j, p) is that.
    pr.m = n;
    pr.n = m;
    pr.k = k;
    pr.a = b;
    pr.rsa = trb ? 1 : ldb;
    pr.csa = trb ? ldb : 1;
    pr.b = a;
    pr.rsb = tra ? 1 : lda;
    pr.csb = tra ? lda : 1;
  }
  return pr;
}

template <class T, class Run>
void gemm_common(const Problem<T> &pr, Run run) {
  if (pr.m == 0 || pr.n == 0) return;
  if (pr.alpha == 0.0f || pr.k == 0) {
    beta_only(pr.c, pr.m, pr.n, pr.ldc, pr.beta);
    return;
  }
  run();
}

GemmOrder order_from_code(const char *fn, int code) {
  if (code != 101 && code != 102)
    fail(std::string(fn) + ": order = " + std::to_string(code) +
         " is not CblasRowMajor (101) or CblasColMajor (102)");
  return static_cast<GemmOrder>(code);
}

GemmTranspose trans_from_code(const char *fn, const char *name, int code) {
  if (code != 111 && code != 112 && code != 113)
    fail(std::string(fn) + ": " + name + " = " + std::to_string(code) +
         " is not CblasNoTrans (111), CblasTrans (112) or CblasConjTrans (113)");
  return static_cast<GemmTranspose>(code);
}

// --- u8 x i8.

struct I8Problem {
  int64_t m, n, k;
  const uint8_t *a;
  int64_t lda;
  const int8_t *b;
  int64_t ldb;
  I8Output out;  // pointers at C[0, 0], rows/columns arrays at index 0
};

void run_i8_range(const I8Kernel &kern, const I8Problem &pr, Range rows, Range cols) {
  const int k4 = round_up(static_cast<int>(pr.k), kern.k_align);
  const int denom = std::max(k4, kern.k_align);
  const int nc_max = std::max(kern.nr, kern.nc_bytes / denom / kern.nr * kern.nr);
  const int mc_max = std::max(kern.mr, kern.mc_bytes / denom / kern.mr * kern.mr);
  const int64_t mc_cap = std::min<int64_t>(mc_max, rows.end - rows.begin);
  const int64_t nc_cap = std::min<int64_t>(nc_max, cols.end - cols.begin);
  auto *pack_a = static_cast<uint8_t *>(
      scratch_a.get(size_t(round_up(int(mc_cap), kern.mr)) * size_t(k4) + 64));
  auto *pack_b = static_cast<int8_t *>(
      scratch_b.get(size_t(round_up(int(nc_cap), kern.nr)) * size_t(k4) + 64));
  auto *sums = static_cast<int32_t *>(
      scratch_sums.get(sizeof(int32_t) * size_t(round_up(int(nc_cap), kern.nr))));
  for (int64_t jc = cols.begin; jc < cols.end; jc += nc_max) {
    const int nc = static_cast<int>(std::min<int64_t>(nc_max, cols.end - jc));
    kern.pack_b(pr.b + jc, pr.ldb, static_cast<int>(pr.k), nc, pack_b, sums);
    for (int64_t ic = rows.begin; ic < rows.end; ic += mc_max) {
      const int mc = static_cast<int>(std::min<int64_t>(mc_max, rows.end - ic));
      kern.pack_a(pr.a + ic * pr.lda, pr.lda, mc, static_cast<int>(pr.k), pack_a);
      I8Output out = pr.out;
      out.col_sums = sums;
      if (out.c_i32) out.c_i32 += ic * out.ldc + jc;
      if (out.c_f32) out.c_f32 += ic * out.ldc + jc;
      if (out.a_scales) out.a_scales += ic;
      if (out.a_zero_points) out.a_zero_points += ic;
      if (out.b_scales) out.b_scales += jc;
      kern.macro(mc, nc, static_cast<int>(pr.k), pack_a, pack_b, out);
    }
  }
}

void run_i8(const I8Problem &pr, const GemmOptions &options) {
  if (pr.m == 0 || pr.n == 0) return;
  const I8Kernel &kern = choose_i8(options);
  const Grid g = choose_grid(resolve_threads(options), pr.m, pr.n, std::max<int64_t>(pr.k, 1),
                             kern.mr, kern.nr, false);
  run_parallel(g.tm * g.tn, [&](unsigned t, unsigned parts) {
    const Grid grid = parts == g.tm * g.tn ? g : Grid{1, 1};
    const Range rows = part(pr.m, kern.mr, grid.tm, t / grid.tn);
    const Range cols = part(pr.n, kern.nr, grid.tn, t % grid.tn);
    if (rows.begin < rows.end && cols.begin < cols.end) run_i8_range(kern, pr, rows, cols);
  });
}

template <class CT>
I8Problem make_i8_problem(const char *fn, int64_t m, int64_t n, int64_t k, const uint8_t *a,
                          int64_t lda, const int8_t *b, int64_t ldb, CT *c, int64_t ldc) {
  check_dims(fn, m, n, k);
  if (k > gemm_u8i8_max_k)
    fail(std::string(fn) + ": k = " + std::to_string(k) + " exceeds " +
         std::to_string(gemm_u8i8_max_k) +
         ", the largest k for which every u8 x i8 sum is exact in i32");
  const Stored sa{"A", "a", "lda", a, m, k, lda, 1, "row-major A (m x k)"};
  const Stored sb{"B", "b", "ldb", b, k, n, ldb, 1, "row-major B (k x n)"};
  const Stored sc{"C", "c", "ldc", c, m, n, ldc, sizeof(CT), "row-major C (m x n)"};
  check_stored(fn, sa);
  check_stored(fn, sb);
  check_stored(fn, sc);
  if (k > 0) {
    check_no_overlap(fn, sc, sa, " when k > 0");
    check_no_overlap(fn, sc, sb, " when k > 0");
  }
  I8Problem pr{};
  pr.m = m;
  pr.n = n;
  pr.k = k;
  pr.a = a;
  pr.lda = lda;
  pr.b = b;
  pr.ldb = ldb;
  pr.out.ldc = ldc;
  return pr;
}

void check_zero_point(const char *fn, const std::string &name, int32_t zp) {
  if (zp < 0 || zp > 255)
    fail(std::string(fn) + ": " + name + " = " + std::to_string(zp) +
         " is outside [0, 255], the range of a u8 zero point");
}

void check_array(const char *fn, const char *name, const void *p, int64_t count, size_t elem,
                 const Stored &c) {
  if (count > 0 && p == nullptr)
    fail(std::string(fn) + ": " + name + " is null but must hold " + std::to_string(count) +
         " values");
  const Stored s{name, name, "length", p, 1, count, std::max<int64_t>(count, 1), elem, name};
  if (overlaps(fn, c, s))
    fail(std::string(fn) + ": C overlaps " + name + "; C must not share memory with " + name);
}

}  // namespace
}  // namespace gemm_detail

using namespace gemm_detail;

void set_gemm_threads(unsigned threads) {
  default_threads.store(threads);
}

unsigned gemm_threads() {
  const unsigned d = default_threads.load();
  return d == 0 ? hardware_threads() : d;
}

void sgemm(GemmOrder order, GemmTranspose trans_a, GemmTranspose trans_b, int64_t m, int64_t n,
           int64_t k, float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
           float beta, float *c, int64_t ldc, const GemmOptions &options) {
  const Problem<float> pr = make_problem<float>("sgemm", order, trans_a, trans_b, m, n, k, alpha, a,
                                                lda, b, ldb, beta, c, ldc);
  const F32Kernel &kern = choose_f32(resolve_isa(options));
  const unsigned threads = resolve_threads(options);
  gemm_common(pr, [&] { run_blocked(kern, pr, threads); });
}

void sgemm(int order, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
           int64_t ldc, const GemmOptions &options) {
  sgemm(order_from_code("sgemm", order), trans_from_code("sgemm", "trans_a", trans_a),
        trans_from_code("sgemm", "trans_b", trans_b), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
        options);
}

void gemm_bf16(GemmOrder order, GemmTranspose trans_a, GemmTranspose trans_b, int64_t m, int64_t n,
               int64_t k, float alpha, const uint16_t *a, int64_t lda, const uint16_t *b,
               int64_t ldb, float beta, float *c, int64_t ldc, const GemmOptions &options) {
  const Problem<uint16_t> pr = make_problem<uint16_t>("gemm_bf16", order, trans_a, trans_b, m, n, k,
                                                      alpha, a, lda, b, ldb, beta, c, ldc);
  const Bf16Choice choice = choose_bf16(options);
  const unsigned threads = resolve_threads(options);
  gemm_common(pr, [&] {
    if (choice.exact)
      run_blocked(*choice.exact, pr, threads);
    else
      run_blocked(*choice.dot, pr, threads);
  });
}

void gemm_u8i8_i32(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *b,
                   int64_t ldb, int32_t *c, int64_t ldc, const GemmOptions &options) {
  I8Problem pr = make_i8_problem("gemm_u8i8_i32", m, n, k, a, lda, b, ldb, c, ldc);
  pr.out.kind = I8Output::store_i32;
  pr.out.c_i32 = c;
  run_i8(pr, options);
}

void gemm_u8i8_f32(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const int8_t *b,
                   int64_t ldb, float *c, int64_t ldc, float scale_a, int32_t zero_point_a,
                   float scale_b, const GemmOptions &options) {
  const char *fn = "gemm_u8i8_f32";
  I8Problem pr = make_i8_problem(fn, m, n, k, a, lda, b, ldb, c, ldc);
  check_zero_point(fn, "zero_point_a", zero_point_a);
  pr.out.kind = I8Output::dequant_tensor;
  pr.out.c_f32 = c;
  pr.out.zero_point = zero_point_a;
  pr.out.scale = scale_a * scale_b;
  run_i8(pr, options);
}

void gemm_u8i8_f32_per_channel(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda,
                               const int8_t *b, int64_t ldb, float *c, int64_t ldc,
                               const float *a_scales, const int32_t *a_zero_points,
                               const float *b_scales, const GemmOptions &options) {
  const char *fn = "gemm_u8i8_f32_per_channel";
  I8Problem pr = make_i8_problem(fn, m, n, k, a, lda, b, ldb, c, ldc);
  const Stored sc{"C", "c", "ldc", c, m, n, ldc, sizeof(float), "row-major C (m x n)"};
  check_array(fn, "a_scales", a_scales, m, sizeof(float), sc);
  check_array(fn, "a_zero_points", a_zero_points, m, sizeof(int32_t), sc);
  check_array(fn, "b_scales", b_scales, n, sizeof(float), sc);
  for (int64_t i = 0; i < m; ++i)
    check_zero_point(fn, "a_zero_points[" + std::to_string(i) + "]", a_zero_points[i]);
  pr.out.kind = I8Output::dequant_channel;
  pr.out.c_f32 = c;
  pr.out.a_scales = a_scales;
  pr.out.a_zero_points = a_zero_points;
  pr.out.b_scales = b_scales;
  run_i8(pr, options);
}

std::string gemm_kernel_name(const std::string &kind, const GemmOptions &options) {
  if (kind == "sgemm") return choose_f32(resolve_isa(options)).name;
  if (kind == "bf16") return choose_bf16(options).name();
  if (kind == "u8i8") return choose_i8(options).name;
  fail("gemm_kernel_name: kind \"" + kind + "\" is not one of sgemm, bf16, u8i8");
}

}  // namespace jitson
