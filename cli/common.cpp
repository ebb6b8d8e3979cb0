#include "common.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "jitson/limits.hpp"

namespace jitson::cli {

namespace {

// Messages quote user text (paths, keys, values): escaping every control character keeps the
// report one line and stops a file name from driving the terminal. Library errors arrive
// escaped already; escape_control leaves its own escapes alone, so applying it again is harmless.
void report(std::string_view message) {
  std::fflush(stdout);
  fmt::print(stderr, "jitson: {}\n", escape_control(message));
}

int exit_code_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_argument:
    case ErrorKind::config:
    case ErrorKind::format:
    case ErrorKind::unsupported:
      return kExitUsage;
    case ErrorKind::io:
    case ErrorKind::internal:
      return kExitFailure;
  }
  return kExitFailure;
}

}  // namespace

CLI::Option *non_negative(CLI::Option *opt) {
  return opt->check(CLI::Validator(
      [](std::string &value) -> std::string {
        return value.find('-') == std::string::npos
                   ? std::string()
                   : "must be a non-negative integer, not " + value;
      },
      "UINT"));
}

int run_reporting_errors(const Action &action) {
  try {
    return action();
  } catch (const InputError &e) {
    report(e.what());
    return kExitUsage;
  } catch (const Failure &e) {
    report(e.what());
    return kExitFailure;
  } catch (const Error &e) {
    report(e.what());
    return exit_code_for(e.kind());
  } catch (const std::bad_alloc &) {
    report("out of memory");
    return kExitFailure;
  } catch (const std::exception &e) {
    report(e.what());
    return kExitFailure;
  }
}

// ---- files and text ----

namespace {

// The descriptor `-`, /dev/stdin, /dev/fd/N or /proc/self/fd/N names, or -1.
int named_descriptor(const std::string &path) {
  if (path == "-" || path == "/dev/stdin") return STDIN_FILENO;
  for (std::string_view prefix : {"/dev/fd/", "/proc/self/fd/"}) {
    if (!path.starts_with(prefix) || path.size() == prefix.size() ||
        path.size() > prefix.size() + 9)
      continue;
    int fd = 0;
    for (size_t i = prefix.size(); i < path.size(); ++i) {
      if (path[i] < '0' || path[i] > '9') return -1;
      fd = fd * 10 + (path[i] - '0');
    }
    return fd;
  }
  return -1;
}

std::string not_regular(const std::string &path, unsigned mode) {
  return fmt::format("{}: not a regular file ({})", path, file_type_name(mode));
}

}  // namespace

bool names_open_descriptor(const std::string &path) {
  return named_descriptor(path) >= 0;
}

bool names_stream(const std::string &path) {
  const int fd = named_descriptor(path);
  struct stat st {};
  return fd >= 0 && ::fstat(fd, &st) == 0 && !S_ISREG(st.st_mode);
}

void require_regular_file(const std::string &path) {
  struct stat st {};
  // stat, not open: opening a FIFO blocks until a writer comes, and opening a device can act on
  // it. A missing file is left to the open that follows (it names the reason).
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    throw InputError(not_regular(path, st.st_mode));
}

InputFile::InputFile(const std::string &path, bool allow_stream) : path_(path) {
  const int named = allow_stream ? named_descriptor(path) : -1;
  if (named >= 0) {
    // Already open (standard input, a pipe from the shell): duplicated, never reopened, so a
    // pipe's data is read exactly once and nothing waits in open().
    fd_ = ::fcntl(named, F_DUPFD_CLOEXEC, 0);
    if (fd_ < 0) throw InputError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  } else {
    require_regular_file(path);
    // O_NONBLOCK: if the path became a FIFO since the stat, open still returns at once and the
    // fstat below refuses it.
    fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd_ < 0) throw InputError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    int err = errno;
    ::close(fd_);
    throw InputError(fmt::format("{}: cannot stat: {}", path, std::strerror(err)));
  }
  regular_ = S_ISREG(st.st_mode);
  if (named < 0 && !regular_) {
    ::close(fd_);
    throw InputError(not_regular(path, st.st_mode));
  }
  if (regular_) size_ = static_cast<uint64_t>(st.st_size);
  if (named < 0) {  // a named descriptor's flags are shared with the caller: left as they are
    int flags = ::fcntl(fd_, F_GETFL);
    if (flags >= 0) ::fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK);
  }
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

size_t InputFile::read(void *out, size_t n) {
  for (;;) {
    ssize_t got = ::read(fd_, out, n);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      // A stream someone left non-blocking (the descriptor is shared with the caller, so its
      // flags are not ours to change): wait for data instead.
      pollfd p{fd_, POLLIN, 0};
      ::poll(&p, 1, -1);
      continue;
    }
    throw InputError(fmt::format("{}: cannot read: {}", path_, std::strerror(errno)));
  }
}

std::string read_text_file(const std::string &path, size_t max_bytes, std::string_view what) {
  InputFile file(path, /*allow_stream=*/false);
  auto too_large = [&] {
    return InputError(
        fmt::format("{}: {} is larger than {} bytes (the limit)", path, what, max_bytes));
  };
  if (file.size() > max_bytes) throw too_large();
  std::string text;
  text.reserve(static_cast<size_t>(file.size()));
  char chunk[1 << 16];
  // Bounded even if the file grows while it is read.
  while (size_t n = file.read(chunk, sizeof chunk)) {
    if (n > max_bytes - text.size()) throw too_large();
    text.append(chunk, n);
  }
  return text;
}

std::string read_config_file(const std::string &path) {
  return read_text_file(path, kMaxConfigBytes, "config");
}

bool same_file(const std::string &a, const std::string &b) {
  std::error_code ec;
  bool same = std::filesystem::equivalent(a, b, ec);
  return !ec && same;
}

namespace {
// 0..15 for a hex digit, 0xff otherwise.
constexpr std::array<uint8_t, 256> make_hex_table() {
  std::array<uint8_t, 256> table{};
  for (auto &v : table) v = 0xff;
  for (int c = 0; c < 10; ++c) table['0' + c] = static_cast<uint8_t>(c);
  for (int c = 0; c < 6; ++c) {
    table['a' + c] = static_cast<uint8_t>(10 + c);
    table['A' + c] = static_cast<uint8_t>(10 + c);
  }
  return table;
}
constexpr std::array<uint8_t, 256> kHexValue = make_hex_table();
constexpr char kHexDigits[] = "0123456789abcdef";
}  // namespace

size_t decode_hex(std::string_view digits, uint8_t *out) {
  for (size_t i = 0; i + 1 < digits.size(); i += 2) {
    uint8_t hi = kHexValue[static_cast<unsigned char>(digits[i])];
    uint8_t lo = kHexValue[static_cast<unsigned char>(digits[i + 1])];
    if ((hi | lo) == 0xff) return hi == 0xff ? i : i + 1;
    out[i / 2] = static_cast<uint8_t>(hi << 4 | lo);
  }
  if (digits.size() % 2 != 0) {
    size_t last = digits.size() - 1;
    if (kHexValue[static_cast<unsigned char>(digits[last])] == 0xff) return last;
  }
  return std::string_view::npos;
}

void append_hex(std::string &out, const uint8_t *bytes, size_t n) {
  size_t at = out.size();
  out.resize(at + 2 * n);
  for (size_t i = 0; i < n; ++i) {
    out[at + 2 * i] = kHexDigits[bytes[i] >> 4];
    out[at + 2 * i + 1] = kHexDigits[bytes[i] & 15];
  }
}

std::string to_hex(const uint8_t *bytes, size_t n) {
  std::string s;
  append_hex(s, bytes, n);
  return s;
}

double median(std::vector<double> values) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : 0.5 * (values[mid - 1] + values[mid]);
}

std::string human_bytes(double bytes) {
  if (bytes >= 1e9) return fmt::format("{:.2f} GB", bytes / 1e9);
  if (bytes >= 1e6) return fmt::format("{:.1f} MB", bytes / 1e6);
  if (bytes >= 1e3) return fmt::format("{:.1f} kB", bytes / 1e3);
  return fmt::format("{:.0f} B", bytes);
}

// ---- record files ----

const char *format_name(RecordFormat f) {
  switch (f) {
    case RecordFormat::jfp:
      return "jfp";
    case RecordFormat::raw:
      return "raw";
    case RecordFormat::hex:
      return "hex";
  }
  return "?";
}

RecordFormat parse_format(std::string_view name) {
  if (name == "jfp") return RecordFormat::jfp;
  if (name == "raw") return RecordFormat::raw;
  if (name == "hex") return RecordFormat::hex;
  throw InputError(fmt::format("unknown record format \"{}\"; allowed: jfp, raw, hex", name));
}

std::optional<RecordFormat> format_from_extension(const std::string &path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".jfp") return RecordFormat::jfp;
  if (ext == ".raw" || ext == ".bin") return RecordFormat::raw;
  if (ext == ".hex" || ext == ".txt") return RecordFormat::hex;
  return std::nullopt;
}

RecordFormat resolve_format(const std::string &explicit_name, const std::string &path,
                            std::optional<RecordFormat> fallback, std::string_view flag) {
  if (!explicit_name.empty()) return parse_format(explicit_name);
  if (auto f = format_from_extension(path)) return *f;
  if (fallback) return *fallback;
  throw InputError(fmt::format(
      "{}: cannot tell the record format from the extension (.jfp, .raw/.bin, .hex/.txt); "
      "pass {} jfp|raw|hex",
      path, flag));
}

void check_record_bits_option(std::string_view flag, uint32_t bits) {
  if (bits < kMinRecordBits || bits > kMaxRecordBits || bits % 64 != 0)
    throw InputError(fmt::format("{} {}: must be a multiple of 64 from 64 to 65536", flag, bits));
}

RecordFormat record_input_format(const std::string &path, bool raw_bits_given, bool is_database,
                                 std::string_view flag) {
  std::optional<RecordFormat> named = format_from_extension(path);
  if (raw_bits_given && (is_database || !named || *named == RecordFormat::raw))
    return RecordFormat::raw;
  // Hex is the one format that can be streamed: a pipe on standard input needs no name.
  if (!named && names_stream(path)) return RecordFormat::hex;
  return resolve_format("", path, RecordFormat::jfp, flag);
}

RecordSet load_records(const std::string &path, RecordFormat format, std::optional<uint32_t> bits,
                       bool populate, std::string_view bits_source) {
  RecordSet set;
  set.path = path;
  if (format == RecordFormat::hex) {
    // A non-empty hex file states its record size (callers compare it); bits only sizes an
    // empty one.
    HexRecords hex = read_hex_records(path, std::nullopt, {}, bits);
    set.decoded = std::move(hex.bytes);
    set.record_bits = hex.record_bits;
    set.view = DatabaseView::rows(set.decoded.data(), hex.count, set.record_bits / 8);
    return set;
  }
  if (names_stream(path))
    throw InputError(fmt::format(
        "{}: {} records are memory-mapped from a regular file; only hex text can be streamed "
        "from standard input or a pipe",
        path, format_name(format)));
  require_regular_file(path == "-" ? "/dev/stdin" : path);
  FileOpenOptions options;
  options.populate = populate;
  if (format == RecordFormat::raw) {
    if (!bits)
      throw InputError(
          fmt::format("{}: raw records have no header; pass --bits N or --raw-bits N", path));
    // Checked here to say where the record size came from; FingerprintFile::open checks again.
    const uint64_t record_bytes = *bits / 8;
    std::error_code ec;
    const uintmax_t size = std::filesystem::file_size(path == "-" ? "/dev/stdin" : path, ec);
    if (!ec && size % record_bytes != 0)
      throw InputError(fmt::format(
          "{}: the file is {} bytes, not a whole number of {}-byte records ({} bits{}{}): {} "
          "records and {} byte{} left over; a headerless file must hold whole records",
          path, size, record_bytes, *bits, bits_source.empty() ? "" : ", from ", bits_source,
          size / record_bytes, size % record_bytes, size % record_bytes == 1 ? "" : "s"));
    options.raw_record_bits = bits;
  }
  try {
    // "-" is standard input, here a regular file (a redirect): mapped through its /dev name.
    set.file.emplace(FingerprintFile::open(path == "-" ? "/dev/stdin" : path, options));
  } catch (const Error &e) {
    throw InputError(e.what());
  }
  set.view = set.file->view();
  set.record_bits = set.view.record_bytes * 8;
  return set;
}

RecordInputs load_record_inputs(const ScanSpec &spec, const std::string &config_path,
                                const std::string &db_path, const std::string &queries_path,
                                std::optional<uint32_t> raw_bits, bool populate) {
  if (raw_bits && *raw_bits != spec.record_bits)
    throw InputError(fmt::format("--raw-bits {} disagrees with {}: its record_bits is {}",
                                 *raw_bits, config_path, spec.record_bits));
  const std::string bits_source = raw_bits ? fmt::format("--raw-bits {}", *raw_bits)
                                           : fmt::format("the record_bits of {}", config_path);
  if (!queries_path.empty() && named_descriptor(db_path) >= 0 &&
      named_descriptor(db_path) == named_descriptor(queries_path) && names_stream(db_path))
    throw InputError(
        fmt::format("--db {} and --queries {} name the same stream; it can be read only once",
                    db_path, queries_path));
  RecordInputs in;
  in.db = load_records(db_path, record_input_format(db_path, raw_bits.has_value(), true, "--db"),
                       spec.record_bits, populate, bits_source);
  if (in.db.record_bits != spec.record_bits)
    throw InputError(fmt::format("{}: records are {} bits, but {} has record_bits {}", db_path,
                                 in.db.record_bits, config_path, spec.record_bits));
  if (queries_path.empty()) return in;
  in.queries = load_records(
      queries_path, record_input_format(queries_path, raw_bits.has_value(), false, "--queries"),
      spec.record_bits, false, bits_source);
  if (in.queries.record_bits != spec.record_bits)
    throw InputError(fmt::format(
        "{}: queries are {} bits, but {} has record_bits {}: query length must equal the "
        "record size",
        queries_path, in.queries.record_bits, config_path, spec.record_bits));
  if (in.queries.view.layout != Layout::row_major)
    throw InputError(fmt::format("{}: queries must be row-major records", queries_path));
  return in;
}

namespace {

constexpr size_t kMaxHexDigits = kMaxRecordBits / 4;

// Accumulates one line of at most kMaxHexDigits digits (+ a '\r'), checking each byte as it
// arrives, so a bad byte or an endless line is reported without reading further.
class HexDecoder {
 public:
  HexDecoder(const std::string &path, std::optional<uint32_t> bits, std::string_view bits_source,
             uint64_t size_hint)
      : path_(path), size_hint_(size_hint) {
    if (bits) {
      expected_digits_ = *bits / 4;
      why_expected_ = fmt::format("for {}", bits_source);
      reserve();
    }
    line_.reserve(kMaxHexDigits + 1);
  }

  void feed(const char *p, size_t n) {
    while (n > 0) {
      const char *newline = static_cast<const char *>(std::memchr(p, '\n', n));
      const size_t piece = newline ? static_cast<size_t>(newline - p) : n;
      append(p, piece);
      if (newline) end_line();
      p += piece + (newline ? 1 : 0);
      n -= piece + (newline ? 1 : 0);
    }
  }

  HexRecords finish(std::optional<uint32_t> empty_bits) {
    if (!line_.empty()) end_line();  // the final '\n' may be missing
    if (expected_digits_ == 0) {     // not one line, so not one byte
      if (!empty_bits)
        throw InputError(fmt::format(
            "{}: empty file: no records, so the record size is unknown; pass --bits N", path_));
      expected_digits_ = *empty_bits / 4;
    }
    HexRecords r;
    r.count = count_;
    r.record_bits = static_cast<uint32_t>(expected_digits_ * 4);
    r.bytes = std::move(bytes_);
    return r;
  }

 private:
  void append(const char *p, size_t n) {
    if (count_ == 0 && line_.empty() && n >= sizeof FileHeader::kMagic &&
        std::memcmp(p, FileHeader::kMagic, sizeof FileHeader::kMagic) == 0)
      throw InputError(fmt::format(
          "{}: starts with the magic JITSONFP of a jfp file, not hex text; jfp files are "
          "memory-mapped, so give one by name (a regular file), not through a pipe",
          path_));
    const size_t room = kMaxHexDigits + 1 - line_.size();
    const size_t checked = std::min(n, room);
    for (size_t i = 0; i < checked; ++i) {
      const auto c = static_cast<unsigned char>(p[i]);
      // '\r' is judged at the end of the line: only a final one is allowed.
      if (kHexValue[c] == 0xff && c != '\r') bad_digit(c, line_.size() + i);
    }
    if (n > room)
      throw InputError(fmt::format(
          "{}:{}: line longer than {} hex digits ({} bits, the largest record){}", path_,
          line_number(), kMaxHexDigits, kMaxRecordBits,
          expected_digits_ ? fmt::format("; expected {} {}", expected_digits_, why_expected_)
                           : std::string()));
    line_.append(p, n);
  }

  [[noreturn]] void bad_digit(unsigned char c, size_t offset) const {
    std::string shown = (c >= 0x20 && c < 0x7f) ? fmt::format("'{}'", static_cast<char>(c))
                                                : fmt::format("byte 0x{:02x}", c);
    throw InputError(fmt::format("{}:{}: bad hex digit {} at column {}", path_, line_number(),
                                 shown, offset + 1));
  }

  uint64_t line_number() const { return count_ + 1; }

  void end_line() {
    std::string_view line = line_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (size_t cr = line.find('\r'); cr != std::string_view::npos) bad_digit('\r', cr);
    if (line.empty())
      throw InputError(
          fmt::format("{}:{}: empty line; every line must hold one record as hex digits", path_,
                      line_number()));
    if (expected_digits_ == 0) {
      if (line.size() % 16 != 0)
        throw InputError(fmt::format(
            "{}:{}: {} hex digits ({} bits); a record must be a whole number of 64-bit words "
            "(a multiple of 16 hex digits)",
            path_, line_number(), line.size(), line.size() * 4));
      expected_digits_ = line.size();
      why_expected_ = fmt::format("as on line {}", line_number());
      reserve();
    } else if (line.size() != expected_digits_) {
      throw InputError(fmt::format("{}:{}: {} hex digits; expected {} {}", path_, line_number(),
                                   line.size(), expected_digits_, why_expected_));
    }
    const size_t at = bytes_.size();
    bytes_.resize(at + line.size() / 2);
    decode_hex(line, bytes_.data() + at);  // every byte was checked in append()
    ++count_;
    line_.clear();
  }

  // A regular file of S bytes holds at most S / (digits + 1) + 1 records: reserving that
  // avoids the copies of growing (streams grow as they go).
  void reserve() {
    if (size_hint_ == 0) return;
    const uint64_t records = size_hint_ / (expected_digits_ + 1) + 1;
    bytes_.reserve(static_cast<size_t>(
        std::min<uint64_t>(records * (expected_digits_ / 2), size_hint_ / 2 + 1)));
  }

  const std::string &path_;
  uint64_t size_hint_;
  size_t expected_digits_ = 0;
  std::string why_expected_;
  std::string line_;
  std::vector<uint8_t> bytes_;
  uint64_t count_ = 0;
};

}  // namespace

HexRecords read_hex_records(const std::string &path, std::optional<uint32_t> bits,
                            std::string_view bits_source, std::optional<uint32_t> empty_bits) {
  // One pass, no rewind: a pipe cannot be read twice (a rewind on it fails silently).
  InputFile file(path, /*allow_stream=*/true);
  const std::string shown = path == "-" ? std::string("<stdin>") : path;
  HexDecoder decoder(shown, bits, bits_source, file.regular() ? file.size() : 0);
  char chunk[1 << 16];
  while (size_t n = file.read(chunk, sizeof chunk)) decoder.feed(chunk, n);
  return decoder.finish(bits ? bits : empty_bits);
}

// ---- scan configs ----

namespace {
bool is_json_number(std::string_view s) {
  // RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i - start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (digits() == 0) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (digits() == 0) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == s.size();
}
}  // namespace

ScanSpec ConfigSource::load() const {
  const std::string text = this->text ? *this->text : read_config_file(path);
  try {
    if (overrides.empty()) return parse_scan_config(text);
    nlohmann::json fields = nlohmann::json::object();
    for (const auto &o : overrides) {
      if (o.literal && !is_json_number(*o.literal)) {
        throw InputError(fmt::format("{} {}: expected a number (as in 0.7)", o.flag, *o.literal));
      }
      // A literal goes in as a placeholder string, swapped for the number's text after dumping.
      fields[o.field] = o.literal ? nlohmann::json("\x01" + o.field + "\x01") : o.value;
    }
    std::string overrides_text = fields.dump();
    for (const auto &o : overrides) {
      if (!o.literal) continue;
      const std::string placeholder = nlohmann::json("\x01" + o.field + "\x01").dump();
      overrides_text.replace(overrides_text.find(placeholder), placeholder.size(), *o.literal);
    }
    return parse_scan_config(text, overrides_text);
  } catch (const ConfigError &e) {
    rethrow(e);
  } catch (const Error &e) {
    throw InputError(fmt::format("{}: {}", path, e.what()));
  }
}

std::shared_ptr<const Kernel> ConfigSource::compile(Engine &engine, const ScanSpec &spec) const {
  try {
    return engine.compile(spec);
  } catch (const ConfigError &e) {
    rethrow(e);
  }
}

void ConfigSource::rethrow(const ConfigError &e) const {
  for (const auto &o : overrides) {
    std::string field_pointer = "/" + o.field;
    const std::string &p = e.pointer();
    if (p == field_pointer || p.starts_with(field_pointer + "/")) {
      std::string value = o.value.is_string() ? o.value.get<std::string>() : o.value.dump();
      throw InputError(fmt::format("{} {}: {}", o.flag, value, e.what()));
    }
  }
  throw InputError(fmt::format("{}: {}", path, e.what()));
}

// ---- output files ----

std::string output_path(const std::string &path) {
  try {
    return replaceable_output_path(path);
  } catch (const Error &e) {
    throw InputError(e.what());
  }
}

void check_still_replaceable(const std::string &path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    throw InputError(
        fmt::format("{}: exists and is not a regular file ({}); refusing to replace it", path,
                    file_type_name(st.st_mode)));
}

std::string temporary_path_for(const std::string &path) {
  return fmt::format("{}.tmp.{}", path, static_cast<long>(::getpid()));
}

namespace {
constexpr int kMaxTemporaries = 16;
constexpr size_t kMaxTemporaryPath = 4096;
char g_temporaries[kMaxTemporaries][kMaxTemporaryPath];
volatile std::sig_atomic_t g_temporary_in_use[kMaxTemporaries];

// Only async-signal-safe calls: unlink, sigaction, raise.
extern "C" void remove_temporaries_and_die(int signal_number) {
  for (int i = 0; i < kMaxTemporaries; ++i)
    if (g_temporary_in_use[i]) ::unlink(g_temporaries[i]);
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  ::sigaction(signal_number, &action, nullptr);
  ::raise(signal_number);
}
}  // namespace

void install_cleanup_handlers() {
  struct sigaction action {};
  action.sa_handler = remove_temporaries_and_die;
  sigemptyset(&action.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&action.sa_mask, s);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(s, &action, nullptr);
}

TemporaryFileGuard::TemporaryFileGuard(const std::string &temporary_path) {
  if (temporary_path.size() >= kMaxTemporaryPath) return;  // too long to track; still atomic
  for (int i = 0; i < kMaxTemporaries; ++i) {
    if (!g_temporary_in_use[i]) {
      std::memcpy(g_temporaries[i], temporary_path.c_str(), temporary_path.size() + 1);
      g_temporary_in_use[i] = 1;  // published after the path is complete
      slot_ = i;
      return;
    }
  }
}

TemporaryFileGuard::~TemporaryFileGuard() {
  if (slot_ >= 0) g_temporary_in_use[slot_] = 0;
}

AtomicTextFile::AtomicTextFile(std::string path)
    : path_(output_path(path)), temporary_(temporary_path_for(path_)), guard_(temporary_) {
  // O_NOFOLLOW and O_NONBLOCK with the fstat below: a link or FIFO planted at the temporary
  // name is refused instead of written through or waited on.
  int fd = ::open(temporary_.c_str(),
                  O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
  struct stat st {};
  if (fd >= 0 && (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
    ::close(fd);
    fd = -1;
    errno = EEXIST;
  }
  if (fd >= 0) file_ = ::fdopen(fd, "wb");
  if (!file_) {
    int err = errno;
    if (fd >= 0) ::close(fd);
    throw InputError(fmt::format("{}: cannot create: {}", temporary_, std::strerror(err)));
  }
}

AtomicTextFile::~AtomicTextFile() {
  if (file_) std::fclose(file_);
  if (!committed_) ::unlink(temporary_.c_str());
}

void AtomicTextFile::write(std::string_view text) {
  if (text.empty()) return;
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size())
    throw Failure(fmt::format("{}: write failed: {}", temporary_, std::strerror(errno)));
}

void AtomicTextFile::commit() {
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0)
    throw Failure(fmt::format("{}: write failed: {}", temporary_, std::strerror(errno)));
  int closed = std::fclose(file_);
  file_ = nullptr;
  if (closed != 0)
    throw Failure(fmt::format("{}: write failed: {}", temporary_, std::strerror(errno)));
  // Checked again at the last moment: the path may have become a FIFO or device meanwhile, and
  // a rename would replace it. (The destructor removes the temporary file.)
  check_still_replaceable(path_);
  if (std::rename(temporary_.c_str(), path_.c_str()) != 0)
    throw Failure(
        fmt::format("{}: cannot rename to {}: {}", temporary_, path_, std::strerror(errno)));
  committed_ = true;
}

// ---- progress ----

ProgressBar::ProgressBar(uint64_t total, std::string unit)
    : total_(total), unit_(std::move(unit)), start_(std::chrono::steady_clock::now()) {
  enabled_ = total > 0 && ::isatty(STDERR_FILENO) == 1;
  if (const char *delay = std::getenv("JITSON_PROGRESS_DELAY_MS")) {
    char *end = nullptr;
    long ms = std::strtol(delay, &end, 10);
    if (end != delay && *end == '\0' && ms >= 0) delay_ = std::chrono::milliseconds(ms);
  }
}

ProgressBar::~ProgressBar() {
  if (drawn_) std::fputs("\r\x1b[2K", stderr);
}

void ProgressBar::update(uint64_t done) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - start_ < delay_) return;
  if (drawn_ && done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  constexpr int kWidth = 30;
  double fraction = std::min(1.0, static_cast<double>(done) / static_cast<double>(total_));
  int filled = static_cast<int>(fraction * kWidth);
  double seconds = std::chrono::duration<double>(now - start_).count();
  fmt::print(stderr, "\r[{}{}] {:3.0f}% {}/{} {} {:.1f} s", std::string(filled, '#'),
             std::string(kWidth - filled, '.'), fraction * 100, done, total_, unit_, seconds);
  std::fflush(stderr);
  drawn_ = true;
  last_draw_ = now;
}

void ProgressBar::finish() {
  if (!drawn_) return;
  std::fputs("\r\x1b[2K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace jitson::cli
