#include "jit/min_similarity.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "jitson/error.hpp"
#include "jitson/metric.hpp"

namespace jitson {
namespace {

using u128 = unsigned __int128;
namespace sj = strict_json;

std::string range_rule(const std::string &what) {
  return fmt::format("value {} is out of range; min_similarity is a number in [0, 1]", what);
}

// A fraction p/q with q <= kMaxRecordBits, both small enough for 64 bits.
struct Fraction {
  uint64_t p, q;
};

// The smallest fraction with denominator <= n that is >= x = p/q (0 < x < 1). Invariant: lo < x
// < hi are Farey neighbours; once their mediant's denominator exceeds n, no fraction with a
// denominator <= n lies strictly between them, so hi is the answer (or x itself, if met).
Fraction smallest_fraction_not_below(u128 p, u128 q, uint64_t n) {
  Fraction lo{0, 1}, hi{1, 1};
  for (;;) {
    const uint64_t pm = lo.p + hi.p, qm = lo.q + hi.q;
    if (qm > n) return hi;
    const u128 mediant = u128(pm) * q, target = p * qm;
    if (mediant == target) return {pm, qm};
    if (mediant < target) {
      // lo + k·hi stays below x while k·(hi.p·q − p·hi.q) < p·lo.q − lo.p·q.
      const u128 gap = p * lo.q - u128(lo.p) * q, step = u128(hi.p) * q - p * hi.q;
      uint64_t k = uint64_t(std::min<u128>((gap - 1) / step, (n - lo.q) / hi.q));
      if (gap % step == 0 && gap / step <= (n - lo.q) / hi.q) {
        const auto exact = uint64_t(gap / step);
        return {lo.p + exact * hi.p, lo.q + exact * hi.q};
      }
      lo = {lo.p + k * hi.p, lo.q + k * hi.q};
    } else {
      const u128 gap = u128(hi.p) * q - p * hi.q, step = p * lo.q - u128(lo.p) * q;
      uint64_t k = uint64_t(std::min<u128>((gap - 1) / step, (n - hi.q) / lo.q));
      if (gap % step == 0 && gap / step <= (n - hi.q) / lo.q) {
        const auto exact = uint64_t(gap / step);
        return {hi.p + exact * lo.p, hi.q + exact * lo.q};
      }
      hi = {hi.p + k * lo.p, hi.q + k * lo.q};
    }
  }
}

}  // namespace

MinSimilarity parse_min_similarity(const sj::Json &value, const std::string *literal,
                                   const std::string &pointer) {
  MinSimilarity out;
  if (value.is_number_unsigned()) {
    const uint64_t v = value.get<uint64_t>();
    if (v > 1) throw ConfigError(pointer, range_rule(sj::quoted(value)));
    out.numerator = v;
    out.text.assign(1, v ? '1' : '0');  // gcc 12 -Wrestrict misfires on = "literal"
    return out;
  }
  if (value.is_number_integer()) throw ConfigError(pointer, range_rule(sj::quoted(value)));
  if (!value.is_number_float() || literal == nullptr) {
    throw ConfigError(pointer,
                      std::string("expected a number in [0, 1], got ") + sj::type_name(value));
  }
  // RFC 8259 number grammar, already checked by the parser: -?digits(.digits)?([eE][+-]?digits)?
  const std::string &s = *literal;
  size_t i = 0;
  const bool negative = s[i] == '-';
  i += negative;
  std::string digits;
  int64_t exponent = 0;
  for (; i < s.size() && std::isdigit(uint8_t(s[i])); ++i) digits += s[i];
  if (i < s.size() && s[i] == '.') {
    for (++i; i < s.size() && std::isdigit(uint8_t(s[i])); ++i) {
      digits += s[i];
      --exponent;
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    const bool minus = s[i] == '-';
    i += s[i] == '-' || s[i] == '+';
    int64_t e = 0;
    for (; i < s.size(); ++i) e = std::min<int64_t>(e * 10 + (s[i] - '0'), 1'000'000'000);
    exponent += minus ? -e : e;
  }
  // value = digits · 10^exponent, made canonical: no leading zeros, no trailing zeros.
  digits.erase(0, std::min(digits.find_first_not_of('0'), digits.size()));
  while (!digits.empty() && digits.back() == '0') {
    digits.pop_back();
    ++exponent;
  }
  if (digits.empty()) {  // zero, whatever its sign or exponent
    out.text.assign(1, '0');
    return out;
  }
  if (negative) throw ConfigError(pointer, range_rule(s));
  if (exponent >= 0) {  // an integer: only 1 is in range
    if (digits != "1" || exponent != 0) throw ConfigError(pointer, range_rule(s));
    out.numerator = 1;
    out.text.assign(1, '1');
    return out;
  }
  if (-exponent > kMaxSimilarityDecimals) {
    throw ConfigError(pointer, fmt::format("value {} has {} decimal places; min_similarity "
                                           "allows at most {}",
                                           s, -exponent, kMaxSimilarityDecimals));
  }
  const auto places = size_t(-exponent);
  if (digits.size() > places) throw ConfigError(pointer, range_rule(s));  // >= 1, and not 1
  out.denominator = 1;
  for (size_t k = 0; k < places; ++k) out.denominator *= 10;
  for (char c : digits) out.numerator = out.numerator * 10 + u128(c - '0');
  out.text.assign("0.").append(places - digits.size(), '0').append(digits);
  return out;
}

uint32_t tanimoto_max_rank(const MinSimilarity &t) {
  if (t.numerator == 0) return kTanimotoMaxRank;  // every similarity, 0 included
  if (t.numerator == t.denominator) return 0;     // only T = 1
  const Fraction f = smallest_fraction_not_below(t.numerator, t.denominator, kMaxRecordBits);
  return tanimoto_rank(uint32_t(f.p), uint32_t(f.q));
}

}  // namespace jitson
