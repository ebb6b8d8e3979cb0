// W^X code memory for generated kernels. No page is ever writable and executable at once:
// code is written through a read+write view and run through a separate read+exec view of the
// same memfd pages (dual mapping), or, where the OS refuses such mappings, each allocation is
// its own read+write mapping flipped to read+exec by publish().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace jitson {

class CodeArena {
 public:
  enum class Mode {
    dual_mapping,  // one memfd per chunk, mapped RW and RX; publish() is free
    mprotect,      // one private RW mapping per allocation, mprotect'ed to RX by publish()
  };

  struct Options {
    size_t chunk_bytes = size_t{1} << 20;  // dual mapping grows by chunks of this size
    bool allow_dual_mapping = true;        // false forces the mprotect fallback (tests)
  };

  // Where the code is written and where it runs. In mprotect mode write == exec and the bytes
  // stay non-executable until publish().
  struct Block {
    uint8_t *write = nullptr;
    const uint8_t *exec = nullptr;
    size_t bytes = 0;  // usable bytes (the request rounded up to 64-byte granules)
  };

  // Probes the OS once: dual mapping first, then mprotect. Throws Error(unsupported) when the
  // OS refuses executable memory altogether (SELinux deny_execmem and the like).
  CodeArena();
  explicit CodeArena(Options options);
  ~CodeArena();
  // Handle semantics: copies share the memory, which lives until the arena and every copy are
  // gone. Compiled code keeps a copy, so it stays valid after its engine is destroyed.
  CodeArena(const CodeArena &) = default;
  CodeArena &operator=(const CodeArena &) = default;

  // Room for n bytes of code, 64-byte aligned in both views. Thread-safe. Throws
  // Error(invalid_argument) for n == 0 and Error(unsupported) if the OS refuses more memory.
  Block allocate(size_t n);
  // Makes the bytes written to block.write executable at block.exec (and no longer writable in
  // mprotect mode). Call once, after writing and before running.
  void publish(const Block &block);
  // Returns an allocation by its exec address; nullptr is ignored. Thread-safe.
  void free(const void *exec);
  // allocate + copy + publish: the exec address of a copy of code[0, n).
  const uint8_t *install(const void *code, size_t n);

  Mode mode() const;
  size_t bytes_in_use() const;  // allocated, rounded to granules
  size_t bytes_mapped() const;  // address space reserved for code (each view counted once)
  size_t chunks() const;        // dual-mapping chunks currently mapped

  static constexpr size_t kGranule = 64;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

const char *to_string(CodeArena::Mode mode);

}  // namespace jitson
