// Errors are exceptions in the C++ API (one type for the whole library) and
// error strings in the C API. Every message says what was wrong and what is allowed.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace jitson {

// The text with every control character (C0, DEL and the C1 range U+0080..U+009F) written as a
// JSON escape (\n, \t, \u001b, \u009b), so a message that quotes user text (a key, a path, a
// value) stays one line and cannot drive the terminal it is printed on. Other bytes, including
// invalid UTF-8, pass unchanged.
std::string escape_control(std::string_view text);

enum class ErrorKind {
  invalid_argument,  // a caller passed a bad value (null pointer, size mismatch)
  config,            // a scan config broke a rule; pointer() names the field
  format,            // a fingerprint file or record data is malformed
  io,                // the operating system refused (open, mmap, write)
  unsupported,       // the request needs something this build or CPU lacks
  internal,          // a bug in jitson
};

class Error : public std::runtime_error {
 public:
  // what() is the message with its control characters escaped (escape_control): always one line.
  Error(ErrorKind kind, const std::string &message)
      : std::runtime_error(escape_control(message)), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

// A config rule violation. what() is "<pointer>: <rule>", e.g.
// "/focus/ranges/2: end 70000 exceeds record_bits 65536", escaped as Error's; pointer() is the
// RFC 6901 pointer itself (its tokens escaped with ~0 and ~1, control characters kept).
class ConfigError : public Error {
 public:
  ConfigError(std::string pointer, const std::string &rule)
      : Error(ErrorKind::config, (pointer.empty() ? std::string("/") : pointer) + ": " + rule),
        pointer_(pointer.empty() ? "/" : std::move(pointer)),
        rule_(rule) {}
  const std::string &pointer() const noexcept { return pointer_; }
  const std::string &rule() const noexcept { return rule_; }

 private:
  std::string pointer_;
  std::string rule_;
};

}  // namespace jitson
