// What this build contains, for `jitson info` and the C API.
#include "jitson/engine.hpp"

namespace jitson {

bool backend_built(Backend b) {
  switch (b) {
    case Backend::runtime:
      return true;
    case Backend::xbyak:
#ifdef JITSON_HAVE_XBYAK
      return true;
#else
      return false;
#endif
    case Backend::llvm:
#ifdef JITSON_HAVE_LLVM
      return true;
#else
      return false;
#endif
  }
  return false;
}

std::string version_string() {
  return JITSON_VERSION;
}

#ifndef JITSON_HAVE_XBYAK
std::string xbyak_version() {
  return {};
}
#endif

#ifndef JITSON_HAVE_LLVM
std::string llvm_version() {
  return {};
}
std::string disassemble(const void *, size_t, const std::string &) {
  return {};
}
#endif

}  // namespace jitson
