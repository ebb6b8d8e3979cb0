// jitson tune: measures the tuning parameters on this machine and writes the wisdom file.
#include <memory>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "common.hpp"
#include "jitson/tune.hpp"
#include "jitson/tuning.hpp"

namespace jitson::cli {
namespace {

struct TuneCliOptions {
  bool quick = false;
  std::string output;  // "" = default_wisdom_path()
  std::string isa;     // "" = the active ISA
  bool dry_run = false;
};

int run_tune(const TuneCliOptions &o) {
  TuneOptions options;
  options.quick = o.quick;
  options.isa = active_isa();
  if (!o.isa.empty()) {
    const std::optional<Isa> isa = parse_isa(o.isa);
    if (!isa) throw InputError("--isa: \"" + o.isa + "\" is not one of avx512, avx2");
    options.isa = *isa;
  }
  const std::string path = o.output.empty() ? default_wisdom_path() : o.output;
  if (path.empty() && !o.dry_run) {
    throw InputError("no wisdom path: set JITSON_WISDOM, XDG_CACHE_HOME or HOME, or give --output");
  }
  const MachineKey key = machine_key(options.isa);
  fmt::print("tuning {} kernels on {} ({}){}\n", isa_name(options.isa), cpu_features().brand,
             key.to_string(), o.quick ? ", quick" : "");
  options.progress = [](const std::string &line) {
    fmt::print("  {}\n", line);
    std::fflush(stdout);
  };
  const TuneResult r = tune(options);
  fmt::print("chosen: {}\n", tuning_string(r.tuning));
  bool within = true;
  for (const auto &[workload, ratio] : r.chosen_vs_best) {
    fmt::print("  {:<12}: chosen / best fixed variant = {:.3f} (target >= 0.95: {})\n", workload,
               ratio, ratio >= 0.95 ? "met" : "NOT met");
    within = within && ratio >= 0.95;
  }
  if (o.dry_run) {
    fmt::print("--dry-run: no wisdom file written\n");
  } else {
    write_wisdom_file(path, wisdom_json(key, r.tuning, r.summary));
    fmt::print("wrote {}\n", path);
  }
  if (!within) fmt::print("note: a noisy machine moves these figures; run tune again to confirm\n");
  return kExitOk;
}

}  // namespace

void add_tune_command(CLI::App &app, Action &action) {
  auto options = std::make_shared<TuneCliOptions>();
  CLI::App *sub = app.add_subcommand(
      "tune",
      "Measure the code generator's tuning parameters on this machine and write the "
      "wisdom file engines load (about 10 s; --quick about 3 s, on the Zen 4 VM)");
  sub->add_flag("--quick", options->quick, "Fewer rounds and a 256 MiB DRAM table");
  sub->add_option("--output", options->output,
                  "Wisdom file to write (default: $JITSON_WISDOM, else "
                  "$XDG_CACHE_HOME/jitson/wisdom.json or ~/.cache/jitson/wisdom.json)");
  sub->add_option("--isa", options->isa,
                  "Kernels to tune: avx512 or avx2 (default: the active ISA)");
  sub->add_flag("--dry-run", options->dry_run, "Measure and print, write nothing");
  sub->footer("Example:\n  jitson tune --quick && JITSON_VERBOSE=1 jitson info");
  sub->callback([options, &action] { action = [options] { return run_tune(*options); }; });
}

}  // namespace jitson::cli
