// Disassembly of machine code (either backend's) with LLVM's MC disassembler, Intel syntax.
#include <cstdint>
#include <cstdio>
#include <string>

#include <llvm-c/Disassembler.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/TargetParser/Host.h>

#include "jit/backend.hpp"
#include "jit/llvm_internal.hpp"
#include "jitson/error.hpp"

namespace jitson {

// One instruction per line: "<offset>: <hex bytes>  <instruction>" (hex bytes separated by one
// space, the instruction by at least two). The x86 decoder accepts every instruction set
// whatever CPU it is told, so the hint ("avx512", "avx2", "scalar") only names the CPU of the
// context; an undecodable byte is printed as ".byte" and decoding resumes at the next byte.
// Addresses are offsets from `code`, so dumps do not depend on where the code was placed.
std::string disassemble_llvm(const void *code, size_t bytes, const std::string &cpu_features_hint) {
  if (!initialise_llvm_native_target() || code == nullptr || bytes == 0) return {};

  const std::string triple = llvm::sys::getProcessTriple();
  const std::string cpu = cpu_features_hint == "avx2"     ? "haswell"
                          : cpu_features_hint == "scalar" ? "x86-64"
                                                          : llvm::sys::getHostCPUName().str();
  LLVMDisasmContextRef context =
      LLVMCreateDisasmCPUFeatures(triple.c_str(), cpu.c_str(), "", nullptr, 0, nullptr, nullptr);
  if (context == nullptr) {
    throw Error(ErrorKind::unsupported, "LLVM has no disassembler for " + triple);
  }
  LLVMSetDisasmOptions(
      context, LLVMDisassembler_Option_AsmPrinterVariant | LLVMDisassembler_Option_PrintImmHex);

  // The caller vouches for [code, code + bytes) being readable (a kernel's own code). The C API
  // takes a non-const pointer but only reads through it.
  auto *first = const_cast<uint8_t *>(static_cast<const uint8_t *>(code));
  std::string text;
  char instruction[256];
  char prefix[96];
  for (size_t offset = 0; offset < bytes;) {
    uint8_t *at = first + offset;
    size_t length =
        LLVMDisasmInstruction(context, at, bytes - offset, offset, instruction, sizeof instruction);
    int written = std::snprintf(prefix, sizeof prefix, "%6zx:", offset);
    std::string line(prefix, size_t(written));
    size_t shown = length ? length : 1;
    for (size_t i = 0; i < shown; ++i) {
      std::snprintf(prefix, sizeof prefix, " %02x", at[i]);
      line += prefix;
    }
    if (line.size() < 46) line.resize(46, ' ');
    if (length == 0) {
      std::snprintf(prefix, sizeof prefix, "  .byte 0x%02x", at[0]);
      line += prefix;
    } else {
      line += "  ";
      // LLVM indents the mnemonic with a tab.
      const char *text_start = instruction;
      while (*text_start == ' ' || *text_start == '\t') ++text_start;
      for (const char *c = text_start; *c; ++c) line += *c == '\t' ? ' ' : *c;
    }
    text += line;
    text += '\n';
    offset += shown;
  }
  LLVMDisasmDispose(context);
  return text;
}

}  // namespace jitson
