// Shared pieces of the `jitson` command: exit codes, error types, file and hex helpers, record
// files in any of the three formats, scan-config loading with command-line overrides, atomic
// text output, temporary-file cleanup on signals, and the progress bar.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "jitson/config.hpp"
#include "jitson/database.hpp"
#include "jitson/engine.hpp"
#include "jitson/error.hpp"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace jitson::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the operation failed at run time
inline constexpr int kExitUsage = 2;    // bad usage or bad input

// Bad usage or bad input (exit 2). The message is one line, without the "jitson: " prefix.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A failure while doing valid work, e.g. a disk that fills up (exit 1).
class Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What a subcommand does once the command line parsed; returns the exit code.
using Action = std::function<int()>;

// Each subcommand registers itself on the main app and, when selected, sets `action`.
void add_info_command(CLI::App &app, Action &action);
void add_validate_command(CLI::App &app, Action &action);
void add_compile_command(CLI::App &app, Action &action);
void add_gen_command(CLI::App &app, Action &action);
void add_convert_command(CLI::App &app, Action &action);
void add_scan_command(CLI::App &app, Action &action);
void add_bench_command(CLI::App &app, Action &action);

// Rejects a negative value for an unsigned option (CLI11 would wrap it around); returns opt.
CLI::Option *non_negative(CLI::Option *opt);

// Runs an action, turning every exception into one "jitson: ..." line on stderr and an exit code.
int run_reporting_errors(const Action &action);

// ---- files and text ----

// Whole file as text; InputError naming the path if it cannot be read.
std::string read_text_file(const std::string &path);
bool same_file(const std::string &a, const std::string &b);

// Decodes lowercase or uppercase hex digits; returns the offset of the first bad digit, or
// std::string_view::npos on success. `out` must hold digits.size() / 2 bytes.
size_t decode_hex(std::string_view digits, uint8_t *out);
void append_hex(std::string &out, const uint8_t *bytes, size_t n);
std::string to_hex(const uint8_t *bytes, size_t n);

double median(std::vector<double> values);
std::string human_bytes(double bytes);

// ---- record files ----

enum class RecordFormat { jfp, raw, hex };
const char *format_name(RecordFormat f);
RecordFormat parse_format(std::string_view name);  // "jfp" | "raw" | "hex"
// .jfp → jfp, .raw/.bin → raw, .hex/.txt → hex; nullopt for anything else.
std::optional<RecordFormat> format_from_extension(const std::string &path);
// Explicit choice, else the extension, else `fallback` (or InputError naming `flag` if none).
RecordFormat resolve_format(const std::string &explicit_name, const std::string &path,
                            std::optional<RecordFormat> fallback, std::string_view flag);

// Records read for scanning: memory-mapped (jfp, raw) or decoded into memory (hex).
struct RecordSet {
  std::optional<FingerprintFile> file;
  std::vector<uint8_t> decoded;
  DatabaseView view{};
  uint32_t record_bits = 0;
  std::string path;
};
// bits: the record size of raw files (required for raw, ignored otherwise: callers compare
// record_bits). populate: fault every page of a mapped file in at open (for timing).
RecordSet load_records(const std::string &path, RecordFormat format, std::optional<uint32_t> bits,
                       bool populate = false);

// Streams a hex file line by line. Lines must be non-empty, of even length, all equal, and hold
// only hex digits; a trailing '\r' is ignored. Errors name the file and the line.
class HexFileReader {
 public:
  explicit HexFileReader(const std::string &path);
  ~HexFileReader();
  HexFileReader(const HexFileReader &) = delete;
  HexFileReader &operator=(const HexFileReader &) = delete;
  // First pass: checks every line, returns the record count and sets record_bits() (from the
  // first line, or `bits` when given; an empty file needs `bits`).
  uint64_t validate(std::optional<uint32_t> bits);
  uint32_t record_bits() const { return record_bits_; }
  // Second pass (after validate): decodes the next record into out (record_bits()/8 bytes).
  bool next(uint8_t *out);

 private:
  bool read_line(std::string_view &line);
  std::string path_;
  std::FILE *file_ = nullptr;
  char *buffer_ = nullptr;
  size_t capacity_ = 0;
  uint64_t line_number_ = 0;
  uint32_t record_bits_ = 0;
};

// ---- scan configs ----

// A field replaced from the command line, e.g. {"--top-k", "top_k", 5}.
struct ConfigOverride {
  std::string flag;
  std::string field;
  nlohmann::json value;
};

// The config file plus its overrides; errors name the file (or the flag that set the field).
struct ConfigSource {
  std::string path;
  std::vector<ConfigOverride> overrides;

  ScanSpec load() const;
  std::shared_ptr<const Kernel> compile(Engine &engine, const ScanSpec &spec) const;
  [[noreturn]] void rethrow(const ConfigError &e) const;
};

// ---- output files ----

// The temporary name FingerprintWriter and AtomicTextFile use: "<path>.tmp.<pid>".
std::string temporary_path_for(const std::string &path);

// Removes registered temporary files when the process gets SIGINT, SIGTERM or SIGHUP, then dies
// of that signal. (SIGKILL cannot be caught: after it the temporary file may remain, but the
// final path never holds a partial file.)
void install_cleanup_handlers();
class TemporaryFileGuard {
 public:
  explicit TemporaryFileGuard(const std::string &temporary_path);
  ~TemporaryFileGuard();
  TemporaryFileGuard(const TemporaryFileGuard &) = delete;
  TemporaryFileGuard &operator=(const TemporaryFileGuard &) = delete;

 private:
  int slot_ = -1;
};

// A text file written to "<path>.tmp.<pid>" and renamed over path by commit(); removed if
// destroyed uncommitted.
class AtomicTextFile {
 public:
  explicit AtomicTextFile(std::string path);
  ~AtomicTextFile();
  AtomicTextFile(const AtomicTextFile &) = delete;
  AtomicTextFile &operator=(const AtomicTextFile &) = delete;
  void write(std::string_view text);
  void commit();

 private:
  std::string path_, temporary_;
  TemporaryFileGuard guard_;
  std::FILE *file_ = nullptr;
  bool committed_ = false;
};

// ---- progress ----

// A progress bar on stderr, drawn only when stderr is a terminal and once the work has taken
// longer than a second (JITSON_PROGRESS_DELAY_MS overrides the delay, for tests).
class ProgressBar {
 public:
  ProgressBar(uint64_t total, std::string unit);
  ~ProgressBar();
  ProgressBar(const ProgressBar &) = delete;
  ProgressBar &operator=(const ProgressBar &) = delete;
  bool enabled() const { return enabled_; }
  void update(uint64_t done);
  void finish();

 private:
  uint64_t total_;
  std::string unit_;
  bool enabled_ = false;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
  std::chrono::milliseconds delay_{1000};
};

}  // namespace jitson::cli
