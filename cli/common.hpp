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
void add_tune_command(CLI::App &app, Action &action);

// Rejects a negative value for an unsigned option (CLI11 would wrap it around); returns opt.
CLI::Option *non_negative(CLI::Option *opt);

// Runs an action, turning every exception into one "jitson: ..." line on stderr and an exit code.
int run_reporting_errors(const Action &action);

// ---- files and text ----

// An input file opened for reading: regular files only, except that `-`, /dev/stdin, /dev/fd/N
// and /proc/self/fd/N name a descriptor the caller already opened (standard input, a pipe) and
// are accepted whatever they are when `allow_stream` is set. A FIFO, socket or device named by
// any other path is refused at once ("X: not a regular file (a FIFO)"), without opening it, so
// nothing can hang in open() waiting for a writer. Errors are InputError naming the path.
class InputFile {
 public:
  InputFile(const std::string &path, bool allow_stream);
  ~InputFile();
  InputFile(const InputFile &) = delete;
  InputFile &operator=(const InputFile &) = delete;
  int fd() const { return fd_; }
  bool regular() const { return regular_; }
  uint64_t size() const { return size_; }  // regular files only
  // Reads up to n bytes, retrying EINTR (and waiting on a non-blocking stream); 0 at the end.
  size_t read(void *out, size_t n);

 private:
  std::string path_;
  int fd_ = -1;
  bool regular_ = false;
  uint64_t size_ = 0;
};
// True for the names InputFile treats as an already open descriptor (see above).
bool names_open_descriptor(const std::string &path);
// True when such a name's descriptor is not a regular file (a pipe, a terminal): hex, the only
// format that can be streamed, is then the input format unless one is given.
bool names_stream(const std::string &path);
// Refuses (InputError) a path that exists and is not a regular file, without opening it.
void require_regular_file(const std::string &path);

// A whole regular file as text, at most max_bytes of it ("X: <what> is larger than N bytes
// (the limit)" otherwise); InputError naming the path if it cannot be read.
std::string read_text_file(const std::string &path, size_t max_bytes = SIZE_MAX,
                           std::string_view what = "file");
// A scan config's text: read_text_file bounded by kMaxConfigBytes.
std::string read_config_file(const std::string &path);
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

// Checks a record size given on the command line (--bits, --raw-bits): a multiple of 64 from
// 64 to 65536.
void check_record_bits_option(std::string_view flag, uint32_t bits);

// Records read for scanning: memory-mapped (jfp, raw) or decoded into memory (hex).
struct RecordSet {
  std::optional<FingerprintFile> file;
  std::vector<uint8_t> decoded;
  DatabaseView view{};
  uint32_t record_bits = 0;
  std::string path;
};
// bits: the record size of raw files (required for raw); for hex, the size of an empty file's
// (zero) records (a non-empty hex file states its own size: callers compare record_bits).
// bits_source says where bits came from, for messages ("--raw-bits 256", "record_bits 256 of
// cfg.json"). populate: fault every page of a mapped file in at open (for timing). Hex is read
// in one pass, so it may be streamed from standard input (`-`, /dev/stdin) or a pipe.
RecordSet load_records(const std::string &path, RecordFormat format, std::optional<uint32_t> bits,
                       bool populate = false, std::string_view bits_source = {});

// Hex text (docs/FORMAT.md, "Text form") decoded in one pass, never re-read: one record per
// line; lines non-empty, of one length, a multiple of 16 hex digits and at most 16,384 (65,536
// bits), only hex digits; a trailing '\r' is ignored. A longer line is an error as soon as its
// first 16,385 bytes are read, so an endless line (/dev/zero) is bounded. Errors name the file
// and the line.
struct HexRecords {
  std::vector<uint8_t> bytes;
  uint64_t count = 0;
  uint32_t record_bits = 0;
};
// bits: every line must be bits/4 digits (bits_source names where bits came from, e.g.
// "--bits 64"), and an empty input holds 0 records of that size; without bits the first line
// sets the size, and an empty input holds 0 records of empty_bits, or is an error without it.
HexRecords read_hex_records(const std::string &path, std::optional<uint32_t> bits,
                            std::string_view bits_source,
                            std::optional<uint32_t> empty_bits = std::nullopt);

// The format of a record input of scan and bench: with --raw-bits the database is read as raw
// records whatever its name, and a query file too unless it is named .jfp, .hex or .txt (so the
// queries `jitson gen` writes still work); otherwise the extension decides, else jfp.
RecordFormat record_input_format(const std::string &path, bool raw_bits_given, bool is_database,
                                 std::string_view flag);

// The database and the optional query file of scan and bench (queries_path may be empty),
// checked against the config: --raw-bits (raw_bits) must equal its record_bits, and every file's
// records must have its size. Queries must be row-major.
struct RecordInputs {
  RecordSet db, queries;
};
RecordInputs load_record_inputs(const ScanSpec &spec, const std::string &config_path,
                                const std::string &db_path, const std::string &queries_path,
                                std::optional<uint32_t> raw_bits, bool populate = false);

// ---- scan configs ----

// A field replaced from the command line, e.g. {"--top-k", "top_k", 5}.
struct ConfigOverride {
  std::string flag;
  std::string field;
  nlohmann::json value;
  // A number to pass exactly as written (min_similarity is the decimal it denotes, which a double
  // cannot carry); checked to be a JSON number literal, then used in place of value.
  std::optional<std::string> literal = std::nullopt;
};

// The config file plus its overrides; errors name the file (or the flag that set the field).
struct ConfigSource {
  std::string path;
  std::vector<ConfigOverride> overrides;
  // The file's text once read: set it to parse one reading several times (bench's two kernels
  // must come from the same text even if the file changes meanwhile).
  std::optional<std::string> text = std::nullopt;

  ScanSpec load() const;
  std::shared_ptr<const Kernel> compile(Engine &engine, const ScanSpec &spec) const;
  [[noreturn]] void rethrow(const ConfigError &e) const;
};

// ---- output files ----

// The path an output is renamed onto, checked before any work: path itself when it does not
// exist or is a regular file; the target when it is a symbolic link to a regular file (writing
// through the link, as the shell's `>` does: the link stays, its target is replaced). Anything
// else (FIFO, device, socket, directory, a link to one of them or to nothing) is refused with
// InputError "X: exists and is not a regular file (a FIFO); refusing to replace it".
std::string output_path(const std::string &path);
// Refuses (InputError) if `path` now exists and is not a regular file: called right before the
// rename that would replace it.
void check_still_replaceable(const std::string &path);

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
// destroyed uncommitted. path goes through output_path() (pass its result to share the guard).
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
