// jitson validate: parse and plan each config, report each one on its own line.
#include <memory>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "common.hpp"
#include "jitson/config.hpp"
#include "jitson/plan.hpp"

namespace jitson::cli {
namespace {

struct ValidateOptions {
  std::vector<std::string> configs;
};

int run_validate(const ValidateOptions &options) {
  bool all_valid = true;
  for (const std::string &path : options.configs) {
    std::string problem;
    try {
      // Planning too, so that an ISA this CPU lacks or a backend not built in is reported.
      ScanSpec spec = ConfigSource{path, {}}.load();
      try {
        make_plan(spec);
      } catch (const ConfigError &e) {
        ConfigSource{path, {}}.rethrow(e);
      }
    } catch (const InputError &e) {
      problem = e.what();
    } catch (const Error &e) {
      problem = fmt::format("{}: {}", path, e.what());
    }
    // Escaped: a path or key may hold a newline or a terminal escape sequence, and each
    // report must stay one inert line.
    if (problem.empty()) {
      fmt::print("{}: ok\n", escape_control(path));
    } else {
      all_valid = false;
      std::fflush(stdout);
      fmt::print(stderr, "{}\n", escape_control(problem));
    }
  }
  std::fflush(stdout);
  return all_valid ? kExitOk : kExitUsage;
}

}  // namespace

void add_validate_command(CLI::App &app, Action &action) {
  auto options = std::make_shared<ValidateOptions>();
  CLI::App *sub = app.add_subcommand(
      "validate",
      "Check scan configs: \"FILE: ok\" on stdout, or \"FILE: /json/pointer: rule\" on stderr; "
      "exit 0 when all are valid, 2 otherwise");
  sub->add_option("CONFIG", options->configs, "Scan config files (JSON)")->required();
  sub->footer("Example:\n  jitson validate configs/examples/*.json");
  sub->callback([options, &action] { action = [options] { return run_validate(*options); }; });
}

}  // namespace jitson::cli
