// Machine-dependent choices of the scan code generators, measured rather than assumed, in the
// manner of FFTW's wisdom. Each parameter has a few candidate values; `jitson tune` measures them
// on the machine at hand and writes a wisdom file keyed by the CPU, the ISA and the jitson
// version. An engine takes its tuning from, in order: the wisdom file (engine option "wisdom",
// else $JITSON_WISDOM, else $XDG_CACHE_HOME/jitson/wisdom.json or ~/.cache/jitson/wisdom.json),
// the built-in table of measured microarchitectures, the defaults. A config's "tuning" object
// pins any parameter for its kernel.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jitson/cpu.hpp"

namespace jitson {

struct Tuning {
  // AVX-512 row kernels: zmm registers that keep query chunks for the whole call (0: every
  // chunk of the query is loaded from memory next to the record's).
  uint32_t query_registers = 24;
  // A run of at least this many whole vector chunks in one stage becomes a rolled loop of 8
  // chunks per trip; shorter runs are straight code.
  uint32_t loop_min_chunks = 16;
  // One-stage scans (every focused line read): prefetch each line this many bytes ahead, rounded
  // up to whole records (0: no software prefetch, the hardware prefetchers alone).
  uint32_t stream_prefetch_bytes = 1536;
  // Cascades: prefetch the probe stages' lines of a later record, far enough ahead to keep about
  // this many bytes in flight (0: none).
  uint32_t probe_prefetch_bytes = 8192;
  // AVX-512 one-stage plans of at most this many 64-byte chunks scan 8 records per loop trip
  // with one joint reduction (0: never).
  uint32_t group_max_chunks = 8;
  // Batches of one-stage Hamming plans over rows: queries compared with each record line at once
  // by the register-tiled kernel (KernelTable::hamming_tile); 1: each query runs the row kernel
  // alone, over the same L2-resident block of records.
  uint32_t batch_query_tile = 4;

  bool operator==(const Tuning &) const = default;
};

// The parameters: name (the wisdom file's and the config's field), the candidates `jitson tune`
// measures, and the range a config may pin.
struct TuningParameter {
  const char *name;
  uint32_t Tuning::*field;
  std::vector<uint32_t> candidates;
  uint32_t min_value, max_value;
  const char *what;
};
const std::vector<TuningParameter> &tuning_parameters();
const TuningParameter *find_tuning_parameter(std::string_view name);

// A config's pins: parameter name → value (validated against the table).
using TuningPins = std::map<std::string, uint32_t>;
Tuning apply_pins(Tuning tuning, const TuningPins &pins);

// What a wisdom file is valid for: this CPU, this ISA, this jitson version.
struct MachineKey {
  std::string vendor;
  uint32_t family = 0, model = 0, stepping = 0;
  std::string isa;
  std::string version;
  bool operator==(const MachineKey &) const = default;
  std::string to_string() const;  // "AuthenticAMD family 25 model 17 stepping 1, avx512, 0.1.0"
};
MachineKey machine_key(Isa isa);

// Tuning and where it came from ("wisdom /path", "built-in: ...", "defaults").
struct ResolvedTuning {
  Tuning tuning;
  std::string source;
  std::string note;  // why a wisdom file was not used ("" when none was rejected)
};

// The wisdom file an engine reads when its options name none: $JITSON_WISDOM, else
// $XDG_CACHE_HOME/jitson/wisdom.json, else $HOME/.cache/jitson/wisdom.json ("" when no HOME).
std::string default_wisdom_path();

// Resolves the tuning for kernels of isa: the wisdom file at path (empty: default_wisdom_path())
// when it exists and matches machine_key(isa); a file for another machine or version, or one
// that does not parse, is ignored with a note. Never throws for a bad file.
ResolvedTuning resolve_tuning(Isa isa, const std::string &wisdom_path = "");

// The built-in entry for this CPU (by vendor, family, model), if the table has one.
struct BuiltinTuning {
  const char *name;    // e.g. "AMD Zen 4"
  const char *source;  // the measurement the entry comes from
  Tuning tuning;
};
std::optional<BuiltinTuning> builtin_tuning(const CpuFeatures &cpu, Isa isa);

// Whether a caller that lists the records it gathers itself (tuples in a database's pages) gains,
// on this CPU, by prefetching every line the scan will read while it lists them, rather than
// leaving it to the gather feed's prefetch a few records ahead. Measured per CPU, like the table
// above; TopKAccumulator::listing_prefetch_bytes says how much.
bool prefetch_while_listing(const CpuFeatures &cpu);

// Wisdom files: JSON {"jitson_wisdom": 1, "machine": {...}, "tuning": {...}, "measured": {...}}.
std::string wisdom_json(const MachineKey &key, const Tuning &tuning, const std::string &measured);
// Parses a wisdom text; throws Error(invalid_argument) naming the field and the rule. Unknown
// parameters are errors; missing ones keep their defaults.
struct Wisdom {
  MachineKey key;
  Tuning tuning;
};
Wisdom parse_wisdom(std::string_view text);
// Writes atomically (a temporary file renamed over path), creating the directory; throws Error.
void write_wisdom_file(const std::string &path, const std::string &text);

// "query_registers=24 loop_min_chunks=16 ...": for describe() and the verbose line.
std::string tuning_string(const Tuning &tuning);

}  // namespace jitson
