// jitson info: what this machine and this build offer.
#include <memory>
#include <utility>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "jitson/cpu.hpp"
#include "jitson/engine.hpp"
#include "jitson/plan.hpp"
#include "jitson/tuning.hpp"

namespace jitson::cli {
namespace {

struct InfoOptions {
  std::string format = "text";
};

std::vector<std::pair<const char *, bool>> feature_list(const CpuFeatures &f) {
  return {{"popcnt", f.popcnt},
          {"bmi2", f.bmi2},
          {"fma", f.fma},
          {"avx2", f.avx2},
          {"f16c", f.f16c},
          {"avx512f", f.avx512f},
          {"avx512dq", f.avx512dq},
          {"avx512bw", f.avx512bw},
          {"avx512vl", f.avx512vl},
          {"avx512vpopcntdq", f.avx512vpopcntdq},
          {"avx512bitalg", f.avx512bitalg},
          {"avx512vnni", f.avx512vnni},
          {"avx512bf16", f.avx512bf16},
          {"os_saves_ymm", f.os_saves_ymm},
          {"os_saves_zmm", f.os_saves_zmm}};
}

constexpr bool kFaissBuiltIn =
#ifdef JITSON_HAVE_FAISS
    true;
#else
    false;
#endif

int run_info(const InfoOptions &options) {
  const CpuFeatures &cpu = cpu_features();
  auto features = feature_list(cpu);
  std::vector<IsaInfo> isas = list_isas();
  const std::pair<Backend, const char *> backends[] = {
      {Backend::xbyak, "xbyak"}, {Backend::llvm, "llvm"}, {Backend::runtime, "runtime"}};

  if (options.format == "json") {
    nlohmann::ordered_json out;
    out["jitson"] = version_string();
    out["xbyak"] = xbyak_version();
    out["llvm"] = llvm_version();
    out["cpu"]["vendor"] = cpu.vendor;
    out["cpu"]["brand"] = cpu.brand;
    out["cpu"]["family"] = cpu.family;
    out["cpu"]["model"] = cpu.model;
    out["cpu"]["stepping"] = cpu.stepping;
    for (auto &[name, present] : features) out["cpu"]["features"][name] = present;
    out["best_isa"] = isa_name(best_isa());
    out["active_isa"] = isa_name(active_isa());
    out["isas"] = nlohmann::ordered_json::array();
    for (const IsaInfo &i : isas)
      out["isas"].push_back({{"name", i.name},
                             {"description", i.description},
                             {"requires", i.requires_features},
                             {"supported", i.supported}});
    for (auto &[b, name] : backends) out["backends"][name] = backend_built(b);
    out["faiss_in_bench"] = kFaissBuiltIn;
    if (active_isa() != Isa::scalar) {
      const ResolvedTuning &t = machine_tuning(active_isa());
      out["tuning"]["source"] = t.source;
      for (const TuningParameter &p : tuning_parameters()) {
        out["tuning"]["values"][p.name] = t.tuning.*(p.field);
      }
      if (!t.note.empty()) out["tuning"]["note"] = t.note;
    }
    fmt::print("{}\n", out.dump(2));
    return kExitOk;
  }

  fmt::print("jitson {}\n", version_string());
  fmt::print("xbyak  {}\n", xbyak_version().empty() ? "not built in" : xbyak_version());
  fmt::print("llvm   {}\n", llvm_version().empty() ? "not built in" : llvm_version());
  fmt::print("\ncpu: {} {} (family {} model {} stepping {})\n", cpu.vendor, cpu.brand, cpu.family,
             cpu.model, cpu.stepping);
  std::string present, absent;
  for (auto &[name, has] : features) (has ? present : absent) += fmt::format(" {}", name);
  fmt::print("  features:{}\n", present.empty() ? " (none)" : present);
  fmt::print("  missing:{}\n", absent.empty() ? " (none)" : absent);
  fmt::print("\nisa: best {}, active {}{}\n", isa_name(best_isa()), isa_name(active_isa()),
             active_isa() != best_isa() ? " (lowered by JITSON_ISA)" : "");
  for (const IsaInfo &i : isas)
    fmt::print("  {:<7} {:<13} {} (needs {})\n", i.name, i.supported ? "runs here" : "cannot run",
               i.description, i.requires_features);
  fmt::print("\nbackends:");
  for (auto &[b, name] : backends)
    fmt::print(" {}={}", name, backend_built(b) ? "built in" : "not built in");
  fmt::print("\nbench peer: faiss {}\n", kFaissBuiltIn ? "built in" : "not built in");
  if (active_isa() != Isa::scalar) {
    const ResolvedTuning &t = machine_tuning(active_isa());
    fmt::print("tuning ({}): {} [{}]{}\n", isa_name(active_isa()), tuning_string(t.tuning),
               t.source, t.note.empty() ? "" : "; " + t.note);
  }
  return kExitOk;
}

}  // namespace

void add_info_command(CLI::App &app, Action &action) {
  auto options = std::make_shared<InfoOptions>();
  CLI::App *sub = app.add_subcommand(
      "info", "CPU features found, ISA chosen, backends built in, versions of jitson, Xbyak, LLVM");
  sub->add_option("--format", options->format, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  sub->footer("Example:\n  jitson info --format json");
  sub->callback([options, &action] { action = [options] { return run_info(*options); }; });
}

}  // namespace jitson::cli
