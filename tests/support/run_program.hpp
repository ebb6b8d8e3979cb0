// Runs a program with its standard output and error captured, for the command-line suites.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace jitson::testing_support {

struct ProgramResult {
  int exit_code = -1;  // -1 when killed by a signal
  int term_signal = 0;
  uint64_t peak_rss_kb = 0;  // the program's peak resident set (ru_maxrss from wait4)
  std::string out, err;
};

// Spawns exe with args (argv[0] = exe) and the current environment plus env_extra
// ("NAME=value"), reads both pipes to the end, and waits for it.
ProgramResult run_program(const std::string &exe, const std::vector<std::string> &args,
                          const std::vector<std::string> &env_extra = {});

}  // namespace jitson::testing_support
