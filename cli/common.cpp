#include "common.hpp"

#include <fcntl.h>
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

namespace jitson::cli {

namespace {

std::string one_line(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

void report(std::string_view message) {
  std::fflush(stdout);
  fmt::print(stderr, "jitson: {}\n", one_line(std::string(message)));
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

std::string read_text_file(const std::string &path) {
  std::FILE *file = std::fopen(path.c_str(), "rb");
  if (!file) throw InputError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  std::string text;
  char chunk[1 << 16];
  for (;;) {
    size_t n = std::fread(chunk, 1, sizeof chunk, file);
    text.append(chunk, n);
    if (n < sizeof chunk) break;
  }
  bool failed = std::ferror(file) != 0;
  int read_errno = errno;
  std::fclose(file);
  if (failed) throw InputError(fmt::format("{}: cannot read: {}", path, std::strerror(read_errno)));
  return text;
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

RecordSet load_records(const std::string &path, RecordFormat format, std::optional<uint32_t> bits,
                       bool populate) {
  RecordSet set;
  set.path = path;
  if (format == RecordFormat::hex) {
    HexFileReader reader(path);
    uint64_t count = reader.validate(std::nullopt);
    set.record_bits = reader.record_bits();
    size_t record_bytes = set.record_bits / 8;
    set.decoded.resize(count * record_bytes);
    for (uint64_t i = 0; i < count; ++i) reader.next(set.decoded.data() + i * record_bytes);
    set.view = DatabaseView::rows(set.decoded.data(), count, record_bytes);
    return set;
  }
  FileOpenOptions options;
  options.populate = populate;
  if (format == RecordFormat::raw) {
    if (!bits) throw InputError(fmt::format("{}: raw records have no header; pass --bits N", path));
    options.raw_record_bits = bits;
  }
  try {
    set.file.emplace(FingerprintFile::open(path, options));
  } catch (const Error &e) {
    throw InputError(e.what());
  }
  set.view = set.file->view();
  set.record_bits = set.view.record_bytes * 8;
  return set;
}

HexFileReader::HexFileReader(const std::string &path) : path_(path) {
  file_ = std::fopen(path.c_str(), "rb");
  if (!file_) throw InputError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
}

HexFileReader::~HexFileReader() {
  if (file_) std::fclose(file_);
  std::free(buffer_);
}

bool HexFileReader::read_line(std::string_view &line) {
  errno = 0;
  ssize_t n = ::getline(&buffer_, &capacity_, file_);
  if (n < 0) {
    if (std::ferror(file_))
      throw InputError(fmt::format("{}: cannot read: {}", path_, std::strerror(errno)));
    return false;
  }
  ++line_number_;
  size_t length = static_cast<size_t>(n);
  if (length > 0 && buffer_[length - 1] == '\n') --length;
  if (length > 0 && buffer_[length - 1] == '\r') --length;
  line = std::string_view(buffer_, length);
  return true;
}

uint64_t HexFileReader::validate(std::optional<uint32_t> bits) {
  std::rewind(file_);
  line_number_ = 0;
  size_t expected_digits = bits ? *bits / 4 : 0;
  std::string why_expected = bits ? fmt::format("--bits {}", *bits) : std::string();
  std::vector<uint8_t> scratch;
  uint64_t count = 0;
  std::string_view line;
  while (read_line(line)) {
    if (line.empty())
      throw InputError(fmt::format(
          "{}:{}: empty line; every line must hold one record as hex digits", path_, line_number_));
    if (expected_digits == 0) {
      if (line.size() % 16 != 0)
        throw InputError(fmt::format(
            "{}:{}: {} hex digits ({} bits); a record must be a whole number of 64-bit words "
            "(a multiple of 16 hex digits)",
            path_, line_number_, line.size(), line.size() * 4));
      expected_digits = line.size();
      why_expected = fmt::format("line {}", line_number_);
    } else if (line.size() != expected_digits) {
      throw InputError(fmt::format("{}:{}: {} hex digits; expected {} as on {}", path_,
                                   line_number_, line.size(), expected_digits, why_expected));
    }
    scratch.resize(line.size() / 2);
    size_t bad = decode_hex(line, scratch.data());
    if (bad != std::string_view::npos) {
      unsigned char c = static_cast<unsigned char>(line[bad]);
      std::string shown = (c >= 0x20 && c < 0x7f) ? fmt::format("'{}'", static_cast<char>(c))
                                                  : fmt::format("byte 0x{:02x}", c);
      throw InputError(
          fmt::format("{}:{}: bad hex digit {} at column {}", path_, line_number_, shown, bad + 1));
    }
    ++count;
  }
  if (expected_digits == 0)
    throw InputError(
        fmt::format("{}: no records, so the record size is unknown; pass --bits N", path_));
  record_bits_ = static_cast<uint32_t>(expected_digits * 4);
  std::rewind(file_);
  line_number_ = 0;
  return count;
}

bool HexFileReader::next(uint8_t *out) {
  std::string_view line;
  if (!read_line(line)) return false;
  if (line.size() != record_bits_ / 4 || decode_hex(line, out) != std::string_view::npos)
    throw InputError(fmt::format("{}:{}: changed while being read", path_, line_number_));
  return true;
}

// ---- scan configs ----

ScanSpec ConfigSource::load() const {
  std::string text = read_text_file(path);
  try {
    if (overrides.empty()) return parse_scan_config(text);
    nlohmann::json fields = nlohmann::json::object();
    for (const auto &o : overrides) fields[o.field] = o.value;
    return parse_scan_config(text, fields.dump());
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
    : path_(std::move(path)), temporary_(temporary_path_for(path_)), guard_(temporary_) {
  file_ = std::fopen(temporary_.c_str(), "wb");
  if (!file_)
    throw InputError(fmt::format("{}: cannot create: {}", temporary_, std::strerror(errno)));
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
