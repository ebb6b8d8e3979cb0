// The LLVM version, kept here so that LLVM's headers stay inside jit/llvm_*.cpp.
#include <llvm/Config/llvm-config.h>

#include "jitson/engine.hpp"

namespace jitson {

std::string llvm_version() {
  return LLVM_VERSION_STRING;
}

}  // namespace jitson
