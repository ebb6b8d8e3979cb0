// The Xbyak version, kept here so that Xbyak's header stays inside jit/xbyak_*.cpp.
#include <xbyak/xbyak.h>

#include <fmt/format.h>

#include "jitson/engine.hpp"

namespace jitson {

// Xbyak::VERSION is 0xABCD for A.BC(.D); read the constant rather than constructing a
// CodeGenerator, whose default constructor maps RWE memory.
std::string xbyak_version() {
  unsigned v = Xbyak::VERSION;
  std::string s = fmt::format("{:x}.{:02x}", v >> 12, (v >> 4) & 0xff);
  if (v & 0xf) s += fmt::format(".{:x}", v & 0xf);
  return s;
}

}  // namespace jitson
