// Strict JSON for configs: see strict_json.hpp.
#include "jit/strict_json.hpp"

#include <cmath>
#include <optional>
#include <vector>

#include "jitson/error.hpp"
#include "jitson/limits.hpp"

namespace jitson::strict_json {
namespace {

// Deeper documents are refused outright (RFC 8259 §9 lets a parser limit nesting): a scan config
// nests 4 levels at most, and the limit bounds the work a hostile text can cause.
constexpr size_t kMaxDepth = 64;

// Builds the document from SAX events so that a repeated key can be caught (nlohmann's DOM
// parser silently keeps the last one) together with the pointer of the member it repeats.
class StrictBuilder final : public nlohmann::json_sax<Json> {
 public:
  StrictBuilder(std::string_view what, FloatTexts *float_texts)
      : what_(what), float_texts_(float_texts) {}

  Json root;
  std::optional<ConfigError> error;

  bool null() override { return add(Json(nullptr)); }
  bool boolean(bool v) override { return add(Json(v)); }
  bool number_integer(number_integer_t v) override { return add(Json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return add(Json(v)); }
  bool number_float(number_float_t v, const string_t &text) override {
    // A top-level member's literal as written: a double cannot say which decimal it came from.
    if (float_texts_ && stack_.size() == 1 && root.is_object()) {
      (*float_texts_)[stack_.back().pending_key] = text;
    }
    return add(Json(v));
  }
  bool string(string_t &v) override { return add(Json(std::move(v))); }
  bool binary(binary_t &) override { return add(Json::binary({})); }

  bool start_object(std::size_t) override { return open(Json::object()); }
  bool start_array(std::size_t) override { return open(Json::array()); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }

  bool key(string_t &k) override {
    Frame &top = stack_.back();
    if (top.container->contains(k)) {
      error.emplace(child(pointer(), k),
                    "duplicate key " + quoted(Json(k)) + "; each key may appear once per object");
      return false;
    }
    top.pending_key = std::move(k);
    return true;
  }

  bool parse_error(std::size_t position, const std::string &last_token,
                   const nlohmann::detail::exception &ex) override {
    // nlohmann's text is "[json.exception.<kind>.<id>] parse error at line L, column C: why"
    // (or "[...] why" for a number overflow); keep "line L, column C" and "why", and put the
    // byte offset first.
    std::string text = ex.what();
    if (text.starts_with("[json.exception.") && text.find("] ") != std::string::npos) {
      text.erase(0, text.find("] ") + 2);
    }
    std::string where, why = text;
    size_t at = text.find("line ");
    if (at != std::string::npos && text.find(": ", at) != std::string::npos) {
      size_t colon = text.find(": ", at);
      where = " (" + text.substr(at, colon - at) + ")";
      why = text.substr(colon + 2);
    }
    const bool syntax = dynamic_cast<const nlohmann::detail::parse_error *>(&ex) != nullptr;
    // A syntax error is the last byte read; a number overflow is found one byte after its token.
    size_t byte = position == 0 ? 0 : position - 1;
    if (!syntax && byte >= last_token.size()) byte -= last_token.size();
    error.emplace("", std::string(what_) + "parse error at byte " + std::to_string(byte) + where +
                          ": " + why +
                          (syntax ? " (strict RFC 8259 JSON: no comments, no trailing commas)"
                                  : " (numbers must fit an IEEE double)"));
    return false;
  }

 private:
  // An open object or array. token is its own step in the pointer (escaped key or index), so the
  // pointer of the innermost value costs nothing until an error needs it.
  struct Frame {
    Json *container;
    std::string token;
    std::string pending_key;
  };

  std::string pointer() const {
    std::string out;
    for (size_t i = 1; i < stack_.size(); ++i) out += stack_[i].token;
    return out;
  }

  // Puts a value where the next one goes and returns it with its pointer step. References into a
  // parent stay valid while a child is open: the parent gains no member until the child closes.
  std::pair<Json *, std::string> place(Json value) {
    if (stack_.empty()) {
      root = std::move(value);
      return {&root, ""};
    }
    Frame &top = stack_.back();
    if (top.container->is_object()) {
      auto [it, inserted] = top.container->get_ref<Json::object_t &>().emplace(
          std::move(top.pending_key), std::move(value));
      return {&it->second, child("", it->first)};
    }
    auto &items = top.container->get_ref<Json::array_t &>();
    items.push_back(std::move(value));
    return {&items.back(), child("", items.size() - 1)};
  }

  bool add(Json value) {
    place(std::move(value));
    return true;
  }
  bool open(Json empty) {
    if (stack_.size() >= kMaxDepth) {
      error.emplace(pointer(), "nesting deeper than " + std::to_string(kMaxDepth) +
                                   " levels; a scan config nests at most 4");
      return false;
    }
    auto [slot, token] = place(std::move(empty));
    stack_.push_back(Frame{slot, std::move(token), {}});
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }

  std::string_view what_;
  FloatTexts *float_texts_;
  std::vector<Frame> stack_;
};

std::string out_of_range(const Json &value, uint64_t lo, uint64_t hi) {
  return "value " + quoted(value) + " is out of range; allowed " + std::to_string(lo) + ".." +
         std::to_string(hi);
}

}  // namespace

size_t first_invalid_utf8(std::string_view text) {
  const auto *s = reinterpret_cast<const unsigned char *>(text.data());  // bytes of the text
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // no overlong 3-byte forms
      if (c == 0xED) hi = 0x9F;  // no UTF-16 surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // no overlong 4-byte forms
      if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
    } else {
      return i;
    }
    if (i + len > n) return i;
    if (s[i + 1] < lo || s[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

Json parse(std::string_view text, std::string_view what, FloatTexts *float_texts) {
  if (text.size() > kMaxConfigBytes) {
    throw ConfigError("", std::string(what) + "the text is " + std::to_string(text.size()) +
                              " bytes; the limit is " + std::to_string(kMaxConfigBytes));
  }
  // nlohmann's lexer takes a NUL for the end of the input, so text after one would be ignored.
  if (size_t nul = text.find('\0'); nul != std::string_view::npos) {
    throw ConfigError("", std::string(what) + "NUL byte at byte " + std::to_string(nul) +
                              "; the whole buffer is the document and must be UTF-8 text "
                              "without NUL");
  }
  if (size_t bad = first_invalid_utf8(text); bad != std::string_view::npos) {
    throw ConfigError("", std::string(what) + "invalid UTF-8 at byte " + std::to_string(bad) +
                              "; the config must be UTF-8 text");
  }
  StrictBuilder builder(what, float_texts);
  bool ok = Json::sax_parse(text, &builder, Json::input_format_t::json, /*strict=*/true,
                            /*ignore_comments=*/false);
  if (builder.error) throw *builder.error;
  if (!ok) throw ConfigError("", std::string(what) + "parse error: not a JSON text");
  return std::move(builder.root);
}

std::string child(const std::string &pointer, std::string_view key) {
  std::string out = pointer;
  out.reserve(out.size() + key.size() + 1);
  out += '/';
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string child(const std::string &pointer, size_t index) {
  return pointer + "/" + std::to_string(index);
}

const char *type_name(const Json &value) {
  switch (value.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::string:
      return "string";
    case Json::value_t::array:
      return "array";
    case Json::value_t::object:
      return "object";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "integer";
    case Json::value_t::number_float:
      return "number";
    default:
      return "binary";
  }
}

std::string quoted(const Json &value) {
  // The text was validated as UTF-8, so dump cannot meet an invalid sequence; replace anyway
  // rather than throw if a caller built a value by hand.
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

uint64_t integer(const Json &value, const std::string &pointer, uint64_t lo, uint64_t hi) {
  const std::string expected =
      "expected an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got ";
  if (value.is_number_unsigned()) {
    uint64_t v = value.get<uint64_t>();
    if (v < lo || v > hi) throw ConfigError(pointer, out_of_range(value, lo, hi));
    return v;
  }
  if (value.is_number_integer()) {  // only negative values arrive here
    int64_t v = value.get<int64_t>();
    if (v < 0 || uint64_t(v) < lo || uint64_t(v) > hi) {
      throw ConfigError(pointer, out_of_range(value, lo, hi));
    }
    return uint64_t(v);
  }
  if (value.is_number_float()) {
    // nlohmann stores every literal with a fraction or an exponent as a double, and an integer
    // literal too only when it overflows 64 bits. The double cannot tell 1e-400 or
    // 64.000000000000001 from an integer, so none is taken for one.
    if (std::fabs(value.get<double>()) >= 0x1p63) {
      throw ConfigError(pointer, out_of_range(value, lo, hi));
    }
    throw ConfigError(pointer, expected + kNotAnIntegerLiteral);
  }
  throw ConfigError(pointer, expected + type_name(value));
}

double positive_number(const Json &value, const std::string &pointer) {
  if (!value.is_number()) {
    throw ConfigError(pointer, std::string("expected a number > 0, got ") + type_name(value));
  }
  double v = value.get<double>();
  if (!std::isfinite(v) || !(v > 0)) {
    throw ConfigError(pointer,
                      "value " + quoted(value) + " is out of range; allowed a finite number > 0");
  }
  return v;
}

bool boolean(const Json &value, const std::string &pointer) {
  if (!value.is_boolean()) {
    throw ConfigError(pointer, std::string("expected true or false, got ") + type_name(value));
  }
  return value.get<bool>();
}

const std::string &string(const Json &value, const std::string &pointer) {
  if (!value.is_string()) {
    throw ConfigError(pointer, std::string("expected a string, got ") + type_name(value));
  }
  return value.get_ref<const std::string &>();
}

namespace {
std::string join(std::initializer_list<const char *> names) {
  std::string out;
  for (const char *n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}
}  // namespace

size_t choice(const Json &value, const std::string &pointer,
              std::initializer_list<const char *> choices) {
  if (!value.is_string()) {
    throw ConfigError(pointer, std::string("expected a string (one of ") + join(choices) +
                                   "), got " + type_name(value));
  }
  const std::string &s = value.get_ref<const std::string &>();
  size_t index = 0;
  for (const char *c : choices) {
    if (s == c) return index;
    ++index;
  }
  throw ConfigError(pointer, "unknown value " + quoted(value) + "; allowed: " + join(choices));
}

void object_with_fields(const Json &value, const std::string &pointer,
                        std::initializer_list<const char *> allowed) {
  if (!value.is_object()) {
    throw ConfigError(pointer, std::string("expected an object, got ") + type_name(value));
  }
  for (const auto &[key, member] : value.items()) {
    bool known = false;
    for (const char *a : allowed) known = known || key == a;
    if (!known) throw ConfigError(child(pointer, key), "unknown field; allowed: " + join(allowed));
  }
}

void array(const Json &value, const std::string &pointer) {
  if (!value.is_array()) {
    throw ConfigError(pointer, std::string("expected an array, got ") + type_name(value));
  }
}

}  // namespace jitson::strict_json
