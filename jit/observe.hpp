// Observability of compiled kernels, switched on by environment variables read once:
// JITSON_VERBOSE=1 (one line per compile and scan on stderr), JITSON_DUMP_DIR=path (plan,
// disassembly and IR files per kernel), JITSON_PERF_MAP=1 (/tmp/perf-<pid>.map entries).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace jitson {

class Kernel;
struct ResolvedTuning;
enum class Isa;

// One verbose line per resolved tuning (source, values, and why a wisdom file was ignored).
void observe_tuning(Isa isa, const ResolvedTuning &tuning);

void observe_compile(const Kernel &kernel);
void log_scan(const Kernel &kernel, uint64_t records, uint64_t queries, uint64_t hits,
              std::chrono::steady_clock::duration elapsed);

// Writes the dumps of one kernel into dir (created if missing); returns the files written.
std::vector<std::string> dump_kernel(const Kernel &kernel, const std::string &dir);
// The symbol name used in dumps and perf maps, e.g. "jitson_xbyak_avx512_5f3a...".
std::string kernel_symbol(const Kernel &kernel);

}  // namespace jitson
