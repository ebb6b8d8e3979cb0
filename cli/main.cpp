// jitson: config-driven Hamming scans over fingerprint files.
#include <cstdio>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "common.hpp"

int main(int argc, char **argv) {
  using namespace jitson::cli;
  CLI::App app{"jitson: JIT-compiled, config-driven Hamming scans over fingerprint files",
               "jitson"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("jitson ") + JITSON_CLI_VERSION);

  Action action;
  add_info_command(app, action);
  add_validate_command(app, action);
  add_compile_command(app, action);
  add_gen_command(app, action);
  add_convert_command(app, action);
  add_scan_command(app, action);
  add_bench_command(app, action);
  add_tune_command(app, action);

  // Set after the subcommands so that each keeps its own footer with its example.
  app.footer(
      "Exit codes: 0 success; 1 runtime failure (e.g. a write that fails); 2 bad usage or bad\n"
      "input (unknown option, missing or malformed file, config error, size mismatch).\n"
      "Errors are one line on stderr: \"jitson: <what>\" (configs: \"FILE: /json/pointer: "
      "rule\").\n"
      "Outputs are written to FILE.tmp.<pid> and renamed on success: no partial FILE, ever.\n"
      "An existing FILE that is not a regular file (a FIFO, a device) is refused, never replaced.\n"
      "Hex input may be streamed from standard input (-); other inputs must be regular files.\n"
      "\n"
      "Example, from nothing to hits:\n"
      "  jitson gen --bits 16384 --count 20000 --out db.jfp --queries 4 --queries-out q.jfp\n"
      "  jitson scan --config configs/examples/full-focus.json --db db.jfp --queries q.jfp\n"
      "Run \"jitson SUBCOMMAND --help\" for each subcommand's options and an example.");

  // CLI11 would only say "A subcommand is required" for a misspelt one.
  if (argc > 1 && argv[1][0] != '-') {
    std::string names;
    bool known = false;
    for (const CLI::App *sub : app.get_subcommands({})) {
      known = known || sub->get_name() == argv[1];
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      fmt::print(stderr, "jitson: unknown subcommand \"{}\"; one of: {}\n",
                 jitson::escape_control(argv[1]), names);
      return kExitUsage;
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success &e) {
    return app.exit(e);  // --help, --help-all, --version: printed on stdout, exit 0
  } catch (const CLI::ParseError &e) {
    std::string message = e.what();
    if (message.empty()) message = e.get_name();
    // CLI11 quotes the offending argument, which may hold control characters.
    fmt::print(stderr, "jitson: {} (see --help)\n", jitson::escape_control(message));
    return kExitUsage;
  }
  if (!action) {
    fmt::print(stderr, "jitson: no subcommand given (see --help)\n");
    return kExitUsage;
  }
  return run_reporting_errors(action);
}
