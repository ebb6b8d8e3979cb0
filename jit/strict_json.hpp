// Strict JSON reading shared by the scan config and the engine options: RFC 8259 only, UTF-8
// validated, duplicate keys rejected, and typed accessors whose errors are ConfigErrors naming the
// JSON Pointer (RFC 6901) of the offending value and the rule. Internal to jit/.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace jitson::strict_json {

// Objects are sorted maps (logarithmic lookups whatever a text holds), so when several members
// break rules the first one reported is the first in key order.
using Json = nlohmann::json;

// Parses one JSON text: the whole of `text`, which must not exceed kMaxConfigBytes. Throws
// ConfigError("/", ...) for a longer text, a NUL byte, invalid UTF-8, a syntax error (trailing
// comma, comment, truncated input, trailing garbage) with its byte offset, and
// ConfigError(<pointer of the member>, "duplicate key ...") for a key repeated in one object.
// `what` prefixes the rule of syntax errors (e.g. "overrides: "). float_texts, when given,
// receives the literal text of every top-level member whose value has a fraction or an exponent,
// by member name (for fields compared exactly as the decimal written, like min_similarity).
using FloatTexts = std::map<std::string, std::string>;
Json parse(std::string_view text, std::string_view what = {}, FloatTexts *float_texts = nullptr);

// Byte offset of the first byte that is not well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), or std::string_view::npos.
size_t first_invalid_utf8(std::string_view text);

// RFC 6901 pointers. The root is "" (ConfigError shows it as "/").
std::string child(const std::string &pointer, std::string_view key);
std::string child(const std::string &pointer, size_t index);

// What an integral field says of a number written with a fraction or an exponent.
inline constexpr const char *kNotAnIntegerLiteral =
    "a number with a fraction or an exponent; write an integer literal (digits only, as in 300)";

// "null", "boolean", "string", "array", "object", "integer" or "number".
const char *type_name(const Json &value);
// The value as written in JSON (strings quoted and escaped).
std::string quoted(const Json &value);

// An integer in [lo, hi], written as a JSON integer literal: a number with a fraction or an
// exponent (2.0, 1e3, 1e-400) is refused whatever its value, decided from the kind of literal,
// not from a converted double.
uint64_t integer(const Json &value, const std::string &pointer, uint64_t lo, uint64_t hi);
// A finite number > 0.
double positive_number(const Json &value, const std::string &pointer);
bool boolean(const Json &value, const std::string &pointer);
const std::string &string(const Json &value, const std::string &pointer);
// Index of the string value in choices.
size_t choice(const Json &value, const std::string &pointer,
              std::initializer_list<const char *> choices);
// value must be an object whose keys are all in allowed.
void object_with_fields(const Json &value, const std::string &pointer,
                        std::initializer_list<const char *> allowed);
void array(const Json &value, const std::string &pointer);

}  // namespace jitson::strict_json
