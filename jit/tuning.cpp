// Tuning parameters, the built-in table of measured microarchitectures, wisdom files.
#include "jitson/tuning.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "jit/strict_json.hpp"
#include "jitson/error.hpp"
#include "jitson/kernels.hpp"

namespace jitson {

using Json = nlohmann::json;

const std::vector<TuningParameter> &tuning_parameters() {
  static const std::vector<TuningParameter> table = {
      {"query_registers",
       &Tuning::query_registers,
       {0, 8, 24},
       0,
       24,
       "AVX-512 zmm registers holding query chunks (0: query loaded from memory)"},
      {"loop_min_chunks",
       &Tuning::loop_min_chunks,
       {8, 16, 64},
       1,
       1000000,
       "whole chunks in a stage before it becomes a rolled loop"},
      {"stream_prefetch_bytes",
       &Tuning::stream_prefetch_bytes,
       {0, 1024, 1536, 3072},
       0,
       1 << 20,
       "one-stage scans: software prefetch distance in bytes (0: none)"},
      {"probe_prefetch_bytes",
       &Tuning::probe_prefetch_bytes,
       {0, 4096, 8192, 16384},
       0,
       1 << 20,
       "cascades: probe-line bytes kept in flight (0: no prefetch)"},
      {"group_max_chunks",
       &Tuning::group_max_chunks,
       {0, 8},
       0,
       1000,
       "AVX-512 one-stage plans of at most this many chunks scan 8 records per trip (0: never)"},
      {"batch_query_tile",
       &Tuning::batch_query_tile,
       {1, 2, 4},
       1,
       uint32_t(kMaxTileQueries),
       "batches of one-stage plans: queries per register tile (1: the row kernel per query)"},
  };
  return table;
}

const TuningParameter *find_tuning_parameter(std::string_view name) {
  for (const TuningParameter &p : tuning_parameters()) {
    if (name == p.name) return &p;
  }
  return nullptr;
}

Tuning apply_pins(Tuning tuning, const TuningPins &pins) {
  for (const auto &[name, value] : pins) {
    if (const TuningParameter *p = find_tuning_parameter(name)) tuning.*(p->field) = value;
  }
  return tuning;
}

std::string MachineKey::to_string() const {
  return fmt::format("{} family {} model {} stepping {}, {}, jitson {}", vendor, family, model,
                     stepping, isa, version);
}

MachineKey machine_key(Isa isa) {
  const CpuFeatures &cpu = cpu_features();
  return MachineKey{cpu.vendor, cpu.family, cpu.model, cpu.stepping, isa_name(isa), JITSON_VERSION};
}

std::string default_wisdom_path() {
  if (const char *env = std::getenv("JITSON_WISDOM"); env && *env) return env;
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) {
    return std::string(xdg) + "/jitson/wisdom.json";
  }
  if (const char *home = std::getenv("HOME"); home && *home) {
    return std::string(home) + "/.cache/jitson/wisdom.json";
  }
  return "";
}

namespace {
bool is_zen5(const CpuFeatures &cpu) {  // family 26: Turin, Granite Ridge
  return cpu.vendor == "AuthenticAMD" && cpu.family == 26;
}
}  // namespace

// Each entry names the measurement it comes from (`jitson tune` on that machine; the figures are
// in the README's measured-figures section). Entries tune the avx512 kernels, and the avx2
// kernels where they were measured too; other avx2 kernels use the defaults unless a wisdom file
// says otherwise.
std::optional<BuiltinTuning> builtin_tuning(const CpuFeatures &cpu, Isa isa) {
  const bool zen4 = cpu.vendor == "AuthenticAMD" && cpu.family == 25 &&
                    (cpu.model == 0x11 || cpu.model == 0x61 || cpu.model == 0xA0);
  if (isa == Isa::avx2 && zen4) {
    // Two full `jitson tune --isa avx2` runs on the same idle VM, 2026-12-06: from DRAM, no
    // stream prefetch 23.6/25.1 GB/s against 20.8-22.8 with any distance (bench_jit: 32.4 GB/s =
    // 1.00 x the read loop against 0.87 x with 1,536 bytes); every other parameter within noise.
    Tuning t;
    t.stream_prefetch_bytes = 0;
    return BuiltinTuning{"AMD Zen 4",
                         "jitson tune --isa avx2 on an idle 2-core EPYC Zen 4 VM, family 25 "
                         "model 17 (2026-12-06, two runs)",
                         t};
  }
  if (isa != Isa::avx512) return std::nullopt;
  if (cpu.vendor == "GenuineIntel" && cpu.family == 6 && (cpu.model == 0x8F || cpu.model == 0xCF)) {
    // Sapphire/Emerald Rapids: the defaults were measured there (bench_jit, 2026-11-29).
    return BuiltinTuning{"Intel Sapphire Rapids class",
                         "the defaults, measured with bench_jit on a 2-core Xeon VM (2026-11-29)",
                         Tuning{}};
  }
  if (zen4) {
    // Zen 4 (Genoa, Raphael, Bergamo). Two full `jitson tune` runs on an idle 2-core EPYC VM,
    // family 25 model 17, 2026-12-05: from DRAM, no stream prefetch 18.8-19.4 GB/s against
    // 15.1-15.5 with any distance; 1,024-bit records in L2 with the 8-record group loop 26.8-27.1
    // against 29.3-29.4 without; rolled loops only from 64 chunks 67.5/64.5 against 67.4/58.5
    // GB/s at 16; the query in 24 zmm registers 65-68 against 45-49 GB/s loaded from memory.
    // Batches of 16 queries in L2 (`jitson tune --quick`, 2026-12-06): register tiles of 4
    // queries 89.0 GB/s against 80.8 for 2 and 70.6 for the row kernel per query.
    Tuning t;
    t.loop_min_chunks = 64;
    t.stream_prefetch_bytes = 0;
    t.group_max_chunks = 0;
    return BuiltinTuning{"AMD Zen 4",
                         "jitson tune on an idle 2-core EPYC Zen 4 VM, family 25 model 17 "
                         "(2026-12-05, two runs)",
                         t};
  }
  if (is_zen5(cpu)) {
    Tuning t;
    t.query_registers = 0;
    t.stream_prefetch_bytes = 0;
    return BuiltinTuning{"AMD Zen 5",
                         "the issue's Zen 5 figures: no stream prefetch (the prefetching read "
                         "loop lost), query from memory (rolled loop beat 24 zmm in L2)",
                         t};
  }
  return std::nullopt;
}

bool prefetch_while_listing(const CpuFeatures &cpu) {
  // Zen 5, scripts/bench_pg.sh's tables of 200,000 2 KB values in PostgreSQL's shared buffers,
  // builds alternated (2026-12-06): PLAIN top-10 28.0 -> 26.2 ms, a 1-word focus 17.7 -> 9.1;
  // the extension also takes it as the sign to prefetch TOAST chunks whole (default storage
  // 34.7 -> 31.5 ms) and to pipeline small batches (PLAIN median 21.8 -> 21.25 ms). Zen 4 lost
  // with whole tuples prefetched into L2 (27.4 -> 29.2 ms); other CPUs: not measured.
  return is_zen5(cpu);
}

namespace {

[[noreturn]] void bad_wisdom(const std::string &where, const std::string &rule) {
  throw Error(ErrorKind::invalid_argument, "wisdom " + where + ": " + rule);
}

const Json &field(const Json &object, const char *key, const std::string &where) {
  auto it = object.find(key);
  if (it == object.end()) bad_wisdom(where, std::string("missing \"") + key + "\"");
  return *it;
}

uint32_t u32_field(const Json &object, const char *key, const std::string &where) {
  const Json &v = field(object, key, where);
  if (!v.is_number_unsigned() || v.get<uint64_t>() > UINT32_MAX) {
    bad_wisdom(where + "/" + key, "expected an integer in 0..4294967295");
  }
  return v.get<uint32_t>();
}

std::string string_field(const Json &object, const char *key, const std::string &where) {
  const Json &v = field(object, key, where);
  if (!v.is_string()) bad_wisdom(where + "/" + key, "expected a string");
  return v.get<std::string>();
}

}  // namespace

std::string wisdom_json(const MachineKey &key, const Tuning &tuning, const std::string &measured) {
  Json j;
  j["jitson_wisdom"] = 1;
  j["machine"] = {{"vendor", key.vendor},     {"family", key.family}, {"model", key.model},
                  {"stepping", key.stepping}, {"isa", key.isa},       {"version", key.version}};
  Json t = Json::object();
  for (const TuningParameter &p : tuning_parameters()) t[p.name] = tuning.*(p.field);
  j["tuning"] = std::move(t);
  j["measured"] = measured;
  return j.dump(2) + "\n";
}

Wisdom parse_wisdom(std::string_view text) {
  Json j;
  try {
    j = strict_json::parse(text);
  } catch (const std::exception &e) {
    bad_wisdom("", std::string("not JSON: ") + e.what());
  }
  if (!j.is_object()) bad_wisdom("", "expected a JSON object");
  const Json &format = field(j, "jitson_wisdom", "");
  if (format != 1) bad_wisdom("/jitson_wisdom", "unsupported format; this build reads 1");
  Wisdom w;
  const Json &m = field(j, "machine", "");
  if (!m.is_object()) bad_wisdom("/machine", "expected an object");
  w.key.vendor = string_field(m, "vendor", "/machine");
  w.key.family = u32_field(m, "family", "/machine");
  w.key.model = u32_field(m, "model", "/machine");
  w.key.stepping = u32_field(m, "stepping", "/machine");
  w.key.isa = string_field(m, "isa", "/machine");
  w.key.version = string_field(m, "version", "/machine");
  const Json &t = field(j, "tuning", "");
  if (!t.is_object()) bad_wisdom("/tuning", "expected an object");
  for (const auto &[name, value] : t.items()) {
    const TuningParameter *p = find_tuning_parameter(name);
    if (!p) bad_wisdom("/tuning/" + name, "unknown parameter");
    if (!value.is_number_unsigned() || value.get<uint64_t>() < p->min_value ||
        value.get<uint64_t>() > p->max_value) {
      bad_wisdom("/tuning/" + name,
                 fmt::format("expected an integer in {}..{}", p->min_value, p->max_value));
    }
    w.tuning.*(p->field) = value.get<uint32_t>();
  }
  return w;
}

void write_wisdom_file(const std::string &path, const std::string &text) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  if (ec) {
    throw Error(ErrorKind::io,
                "cannot create " + target.parent_path().string() + ": " + ec.message());
  }
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw Error(ErrorKind::io, "cannot write " + tmp + ": " + std::strerror(errno));
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp);
    throw Error(ErrorKind::io, "cannot rename " + tmp + " to " + path + ": " + ec.message());
  }
}

ResolvedTuning resolve_tuning(Isa isa, const std::string &wisdom_path) {
  ResolvedTuning r;
  const std::string path = wisdom_path.empty() ? default_wisdom_path() : wisdom_path;
  if (!path.empty()) {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      std::stringstream text;
      text << in.rdbuf();
      try {
        const Wisdom w = parse_wisdom(text.str());
        const MachineKey here = machine_key(isa);
        if (w.key == here) {
          r.tuning = w.tuning;
          r.source = "wisdom " + path;
          return r;
        }
        r.note = "wisdom " + path + " ignored: it is for " + w.key.to_string() + ", this is " +
                 here.to_string();
      } catch (const Error &e) {
        r.note = "wisdom " + path + " ignored: " + e.what();
      }
    } else if (!wisdom_path.empty()) {
      r.note = "wisdom " + path + " ignored: cannot read it";
    }
  }
  if (auto b = builtin_tuning(cpu_features(), isa)) {
    r.tuning = b->tuning;
    r.source = std::string("built-in: ") + b->name;
    return r;
  }
  r.source = "defaults";
  return r;
}

std::string tuning_string(const Tuning &tuning) {
  std::string out;
  for (const TuningParameter &p : tuning_parameters()) {
    if (!out.empty()) out += ' ';
    out += fmt::format("{}={}", p.name, tuning.*(p.field));
  }
  return out;
}

}  // namespace jitson
