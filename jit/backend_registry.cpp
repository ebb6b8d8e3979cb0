// The backend registry: see jit/backend.hpp.
#include <array>

#include "jit/backend.hpp"
#include "jitson/engine.hpp"

namespace jitson {
namespace {

// Indexed by Backend; a function-local static, so registration from any translation unit's
// static initialisation finds it constructed.
std::array<const BackendInfo *, 3> &registry() {
  static std::array<const BackendInfo *, 3> backends{};
  return backends;
}

}  // namespace

bool register_backend(const BackendInfo &info) {
  registry()[size_t(info.id)] = &info;
  return true;
}

const BackendInfo *find_backend(Backend id) {
  return registry()[size_t(id)];
}

std::string disassemble(const void *code, size_t bytes, const std::string &cpu_features_hint) {
  for (const BackendInfo *b : registry()) {
    if (b && b->disassemble) return b->disassemble(code, bytes, cpu_features_hint);
  }
  return {};
}

// ---- what this build contains, for `jitson info` and the C API (jitson/engine.hpp)

bool backend_built(Backend b) {
  return b == Backend::runtime || find_backend(b) != nullptr;
}

std::string xbyak_version() {
  const BackendInfo *b = find_backend(Backend::xbyak);
  return b ? b->version() : std::string();
}

std::string llvm_version() {
  const BackendInfo *b = find_backend(Backend::llvm);
  return b ? b->version() : std::string();
}

std::string version_string() {
  return JITSON_VERSION;
}

}  // namespace jitson
