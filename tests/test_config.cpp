// Scan config rules (issue 3): one test per rule, each checking the JSON Pointer and the message;
// the canonical meaning (key, same_meaning, canonical_json); the example configs; engine options.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "jitson/config.hpp"
#include "jitson/engine.hpp"
#include "jitson/error.hpp"
#include "jitson/limits.hpp"

namespace jitson {
namespace {

// A valid config with extra members appended, e.g. config(R"("top_k": 5)").
std::string config(const std::string &extra = "", uint32_t record_bits = 16384) {
  std::string s = R"({"version": 1, "record_bits": )" + std::to_string(record_bits) +
                  R"(, "max_distance": 100)";
  if (!extra.empty()) s += ", " + extra;
  return s + "}";
}

// Parses and expects a ConfigError with exactly this pointer and a rule containing fragment.
testing::AssertionResult rejects(const std::string &text, const std::string &pointer,
                                 const std::string &fragment,
                                 const std::string *overrides = nullptr) {
  try {
    if (overrides) {
      parse_scan_config(text, *overrides);
    } else {
      parse_scan_config(text);
    }
  } catch (const ConfigError &e) {
    const std::string what = e.what();
    if (e.pointer() != pointer) {
      return testing::AssertionFailure()
             << "pointer " << e.pointer() << " != " << pointer << " (" << what << ")";
    }
    if (e.rule().find(fragment) == std::string::npos) {
      return testing::AssertionFailure() << "rule lacks \"" << fragment << "\": " << what;
    }
    if (what != pointer + ": " + e.rule()) {
      return testing::AssertionFailure() << "what() is not \"<pointer>: <rule>\": " << what;
    }
    if (e.kind() != ErrorKind::config) return testing::AssertionFailure() << "kind not config";
    return testing::AssertionSuccess();
  } catch (const std::exception &e) {
    return testing::AssertionFailure() << "threw a non-ConfigError: " << e.what();
  }
  return testing::AssertionFailure() << "accepted: " << text;
}

testing::AssertionResult rejects_override(const std::string &text, const std::string &overrides,
                                          const std::string &pointer, const std::string &fragment) {
  return rejects(text, pointer, fragment, &overrides);
}

std::string read_file(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const char *const kExamples[] = {"full-focus", "sparse-focus", "exact-cascade", "statistical",
                                 "record-64k"};

std::string example(const std::string &name) {
  return read_file(std::string(JITSON_SOURCE_DIR) + "/configs/examples/" + name + ".json");
}

// ---------------------------------------------------------------- syntax and encoding

TEST(ConfigSyntax, TrailingCommaInObjectIsRejected) {
  EXPECT_TRUE(rejects(R"({"version": 1, "record_bits": 64, "max_distance": 1,})", "/",
                      "parse error at byte 52"));
}

TEST(ConfigSyntax, TrailingCommaInArrayIsRejected) {
  EXPECT_TRUE(rejects(config(R"("focus": {"bits": [1, 2,]})"), "/", "parse error"));
}

TEST(ConfigSyntax, LineCommentIsRejected) {
  EXPECT_TRUE(rejects("// scan\n" + config(), "/", "parse error at byte 0"));
}

TEST(ConfigSyntax, BlockCommentIsRejected) {
  EXPECT_TRUE(rejects(R"({"version": 1, /* v1 */ "record_bits": 64, "max_distance": 1})", "/",
                      "parse error at byte 15"));
}

TEST(ConfigSyntax, EveryTruncationIsRejected) {
  const std::string text = example("sparse-focus");
  // Every proper prefix that ends before the closing brace is an incomplete document.
  const size_t end = text.rfind('}');
  for (size_t n = 0; n <= end; ++n) {
    EXPECT_TRUE(rejects(text.substr(0, n), "/", "parse error")) << "prefix of " << n << " bytes";
  }
}

TEST(ConfigSyntax, TruncationReportsTheByteOffset) {
  EXPECT_TRUE(rejects(R"({"version": 1, "record_bits": 64)", "/", "parse error at byte 32"));
}

TEST(ConfigSyntax, TrailingGarbageIsRejected) {
  EXPECT_TRUE(rejects(config() + " {}", "/", "parse error"));
}

TEST(ConfigSyntax, EmptyTextIsRejected) {
  EXPECT_TRUE(rejects("", "/", "parse error at byte 0"));
}

// The whole buffer is the document: nlohmann's lexer takes a NUL for the end of its input, so
// text after one used to be ignored (a valid config, a NUL and garbage was accepted).
TEST(ConfigSyntax, NulByteAnywhereIsRejectedWithItsOffset) {
  const std::string valid = R"({"version":1,"record_bits":128,"max_distance":3})";
  EXPECT_TRUE(rejects(valid + std::string("\0garbage", 8), "/", "NUL byte at byte 48"));
  EXPECT_TRUE(rejects(valid + std::string(1, '\0'), "/", "NUL byte at byte 48"));
  std::string inside = valid;
  inside.insert(10, 1, '\0');
  EXPECT_TRUE(rejects(inside, "/", "NUL byte at byte 10"));
  EXPECT_TRUE(rejects(std::string(1, '\0'), "/", "NUL byte at byte 0"));
}

TEST(ConfigSyntax, TextLongerThanTheLimitIsRejected) {
  // White space is valid JSON, so only the length can refuse this text.
  std::string text = config();
  text.append(kMaxConfigBytes - text.size(), ' ');
  EXPECT_NO_THROW(parse_scan_config(text));
  text += ' ';
  EXPECT_TRUE(rejects(text, "/", "the text is 1048577 bytes; the limit is 1048576"));
}

// Messages quote user text (keys, values); control characters in it are escaped so that a
// message is one line and cannot drive a terminal. The pointer keeps its RFC 6901 escapes.
TEST(ConfigSyntax, ControlCharactersInMessagesAreEscaped) {
  try {
    parse_scan_config(config(R"("a\nb\u001b[31m/~\u0085": 1)"));
    FAIL() << "accepted an unknown field";
  } catch (const ConfigError &e) {
    const std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_EQ(what.find('\x1b'), std::string::npos) << what;
    EXPECT_EQ(what.find("\xc2\x85"), std::string::npos) << what;
    EXPECT_TRUE(what.starts_with("/a\\nb\\u001b[31m~1~0\\u0085: unknown field")) << what;
    EXPECT_EQ(e.pointer(), "/a\nb\x1b[31m~1~0\xc2\x85");
  }
  EXPECT_EQ(escape_control("tab\tcr\rdel\x7f ok \xc3\xa9"), "tab\\tcr\\rdel\\u007f ok \xc3\xa9");
}

TEST(ConfigSyntax, NumberOverflowIsRejected) {
  EXPECT_TRUE(rejects(R"({"version": 1, "record_bits": 64, "max_distance": 1e400})", "/",
                      "parse error at byte 49: number overflow parsing '1e400'"));
}

TEST(ConfigSyntax, RootMustBeAnObject) {
  EXPECT_TRUE(rejects("[1, 2]", "/", "expected a JSON object, got array"));
  EXPECT_TRUE(rejects("16384", "/", "expected a JSON object, got integer"));
}

TEST(ConfigSyntax, SingleQuotesAreRejected) {
  EXPECT_TRUE(rejects("{'version': 1}", "/", "parse error at byte 1"));
}

TEST(ConfigEncoding, InvalidUtf8ByteIsRejectedWithItsOffset) {
  EXPECT_TRUE(rejects(config("\"name\": \"a\xff\""), "/", "invalid UTF-8 at byte 68"));
}

TEST(ConfigEncoding, OverlongEncodingIsRejected) {
  EXPECT_TRUE(rejects(config("\"name\": \"\xc0\xaf\""), "/", "invalid UTF-8 at byte 67"));
}

TEST(ConfigEncoding, EncodedSurrogateIsRejected) {
  EXPECT_TRUE(rejects(config("\"name\": \"\xed\xa0\x80\""), "/", "invalid UTF-8 at byte 67"));
}

TEST(ConfigEncoding, CodePointAboveU10FFFFIsRejected) {
  EXPECT_TRUE(rejects(config("\"name\": \"\xf4\x90\x80\x80\""), "/", "invalid UTF-8"));
}

TEST(ConfigEncoding, TruncatedSequenceAtEndIsRejected) {
  EXPECT_TRUE(rejects(config() + "\xe2\x82", "/", "invalid UTF-8"));
}

TEST(ConfigEncoding, EscapedLoneSurrogateIsRejected) {
  EXPECT_TRUE(rejects(config(R"("name": "\ud800")"), "/", "parse error"));
}

TEST(ConfigEncoding, ValidUtf8IsKept) {
  ScanSpec s = parse_scan_config(config("\"name\": \"caf\xc3\xa9 \xf0\x9f\x94\x8d \\u00e9\""));
  EXPECT_EQ(s.name, "caf\xc3\xa9 \xf0\x9f\x94\x8d \xc3\xa9");
}

TEST(ConfigDuplicates, TopLevelDuplicateKeyIsRejected) {
  EXPECT_TRUE(rejects(config(R"("top_k": 5, "top_k": 6)"), "/top_k", "duplicate key \"top_k\""));
}

TEST(ConfigDuplicates, NestedDuplicateKeyNamesItsPointer) {
  EXPECT_TRUE(rejects(config(R"("cascade": {"mode": "exact", "mode": "off"})"), "/cascade/mode",
                      "duplicate key"));
}

TEST(ConfigDuplicates, DuplicateKeyInsideAnArrayElementNamesTheIndex) {
  // Duplicate detection runs on the whole document, before any field rule.
  EXPECT_TRUE(rejects(config(R"("x": [0, {"a": 1}, {"b": 1, "b": 2}])"), "/x/2/b", "duplicate"));
}

TEST(ConfigDuplicates, DuplicateKeyPointerIsEscaped) {
  EXPECT_TRUE(rejects(config(R"("a/b~c": 1, "a/b~c": 2)"), "/a~1b~0c", "duplicate"));
}

TEST(ConfigSyntax, NestingDeeperThan64IsRejected) {
  const size_t depth = 200000;  // also proves the parser does not recurse per level
  // 64 open levels: the root object, "name", and 62 arrays inside it; the 65th is refused.
  std::string pointer = "/name";
  for (int level = 0; level < 62; ++level) pointer += "/0";
  EXPECT_TRUE(rejects(config(R"("name": )" + std::string(depth, '[') + std::string(depth, ']')),
                      pointer, "nesting deeper than 64 levels"));
  // 63 levels of arrays fit (and are then the wrong type for name).
  EXPECT_TRUE(rejects(config(R"("name": )" + std::string(63, '[') + std::string(63, ']')), "/name",
                      "expected a string, got array"));
}

TEST(ConfigSyntax, ManyMembersAreHandledQuickly) {
  // Lookups stay logarithmic: 50,000 members (under the 1 MiB limit) parse, then the first
  // unknown one is reported.
  std::string members;
  for (int i = 0; i < 50000; ++i)
    members += ", \"k" + std::to_string(i) + "\": " + std::to_string(i);
  EXPECT_TRUE(rejects(config().insert(config().size() - 1, members), "/k0", "unknown field"));
}

// Random byte edits of a valid config: every outcome is a spec or a ConfigError, never another
// exception or a crash.
TEST(ConfigSyntax, RandomEditsOnlyEverRaiseConfigErrors) {
  std::mt19937_64 rng(99);
  const std::string base = example("sparse-focus");
  const std::string alphabet = "{}[],:\"0123456789-+.eE \\tnrulfas/~\xff\xc3\xa9";
  int accepted = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string text = base;
    for (int edits = 1 + int(rng() % 3); edits > 0; --edits) {
      size_t at = rng() % (text.size() + 1);
      char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0:
          if (at < text.size()) text[at] = c;
          break;
        case 1:
          text.insert(text.begin() + long(at), c);
          break;
        default:
          if (at < text.size()) text.erase(at, 1);
          break;
      }
    }
    try {
      ScanSpec s = parse_scan_config(text);
      EXPECT_EQ(s.focus.size(), s.record_words());
      ++accepted;
    } catch (const ConfigError &) {
    } catch (const std::exception &e) {
      ADD_FAILURE() << "non-ConfigError " << e.what() << " for: " << text;
    }
  }
  EXPECT_GT(accepted, 0);  // some edits (inside the name, whitespace) keep the config valid
}

// ---------------------------------------------------------------- top-level fields

TEST(ConfigFields, UnknownFieldIsRejectedWithTheAllowedList) {
  EXPECT_TRUE(rejects(config(R"("threshold": 5)"), "/threshold",
                      "unknown field; allowed: version, name, record_bits, metric, "
                      "max_distance, min_similarity, top_k, focus, cascade, prefetch_records, tuning, isa, "
                      "backend, layout"));
}

TEST(ConfigFields, UnknownFieldPointerIsEscaped) {
  EXPECT_TRUE(rejects(config(R"("x~y/z": 1)"), "/x~0y~1z", "unknown field"));
}

TEST(ConfigFields, VersionIsRequired) {
  EXPECT_TRUE(rejects(R"({"record_bits": 64, "max_distance": 1})", "/version",
                      "required field is missing"));
}

TEST(ConfigFields, VersionMustBeOne) {
  EXPECT_TRUE(rejects(R"({"version": 2, "record_bits": 64, "max_distance": 1})", "/version",
                      "unsupported version 2; this build reads version 1"));
  EXPECT_TRUE(rejects(R"({"version": 0.5, "record_bits": 64, "max_distance": 1})", "/version",
                      "expected the integer 1, got a number with a fraction"));
}

TEST(ConfigFields, VersionMustBeANumber) {
  EXPECT_TRUE(rejects(R"({"version": "1", "record_bits": 64, "max_distance": 1})", "/version",
                      "expected the integer 1, got string"));
}

TEST(ConfigFields, NameMustBeAString) {
  EXPECT_TRUE(rejects(config(R"("name": 7)"), "/name", "expected a string, got integer"));
}

TEST(ConfigFields, RecordBitsIsRequired) {
  EXPECT_TRUE(
      rejects(R"({"version": 1, "max_distance": 1})", "/record_bits", "required field is missing"));
}

TEST(ConfigFields, RecordBitsMustBeAMultipleOf64) {
  EXPECT_TRUE(rejects(config("", 100), "/record_bits", "100 is not a multiple of 64"));
}

TEST(ConfigFields, RecordBitsBelow64IsRejected) {
  EXPECT_TRUE(rejects(config("", 0), "/record_bits", "value 0 is out of range; allowed 64..65536"));
}

TEST(ConfigFields, RecordBitsAbove65536IsRejected) {
  EXPECT_TRUE(rejects(config("", 65600), "/record_bits", "out of range; allowed 64..65536"));
}

TEST(ConfigFields, RecordBitsMustBeAnInteger) {
  EXPECT_TRUE(rejects(R"({"version": 1, "record_bits": "2048", "max_distance": 1})", "/record_bits",
                      "expected an integer in 64..65536, got string"));
  EXPECT_TRUE(rejects(R"({"version": 1, "record_bits": 64.5, "max_distance": 1})", "/record_bits",
                      "got a number with a fraction or an exponent"));
}

// Integral fields take integer literals only, decided from the literal: each of these numbers
// converts to an integral double (1e-400 underflows to 0, 64.000000000000001 rounds to 64) and
// each was accepted as an integer before.
TEST(ConfigFields, NumbersWithAFractionOrAnExponentAreNotIntegers) {
  const std::string rule = "got a number with a fraction or an exponent";
  EXPECT_TRUE(rejects(R"({"version": 1, "record_bits": 64, "max_distance": 1e-400})",
                      "/max_distance", rule));
  EXPECT_TRUE(rejects(R"({"version": 1, "record_bits": 64, "max_distance": 300.00000000000001})",
                      "/max_distance", rule));
  EXPECT_TRUE(rejects(R"({"version": 1, "record_bits": 64.000000000000001, "max_distance": 1})",
                      "/record_bits", rule));
  EXPECT_TRUE(rejects(R"({"version": 1, "record_bits": 64, "max_distance": 819.90E-592})",
                      "/max_distance", rule));
  EXPECT_TRUE(rejects(R"({"version": 1, "record_bits": 1.6384e4, "max_distance": 1})",
                      "/record_bits", rule));
  EXPECT_TRUE(rejects(config(R"("top_k": 2.0)"), "/top_k", rule));
  EXPECT_TRUE(rejects(R"({"version": 1.0, "record_bits": 64, "max_distance": 1})", "/version",
                      "expected the integer 1, got a number with a fraction or an exponent"));
  EXPECT_TRUE(rejects(R"({"version": 1e0, "record_bits": 64, "max_distance": 1})", "/version",
                      "expected the integer 1"));
  // An integer literal beyond 64 bits (stored as a double by the parser) is out of range.
  EXPECT_TRUE(rejects(R"({"version": 1, "record_bits": 64, "max_distance": 99999999999999999999})",
                      "/max_distance", "out of range; allowed 0..4294967295"));
  // -0 is an integer literal.
  EXPECT_EQ(
      parse_scan_config(R"({"version": 1, "record_bits": 64, "max_distance": -0})").max_distance,
      0u);
}

TEST(ConfigFields, MetricMustBeHammingOrTanimoto) {
  EXPECT_TRUE(rejects(config(R"("metric": "cosine")"), "/metric",
                      "unknown value \"cosine\"; allowed: hamming, tanimoto"));
  EXPECT_TRUE(rejects(config(R"("metric": 1)"), "/metric", "expected a string"));
}

// Absent max_distance means no bound: a pure top-k search, the same kernel as any bound at or
// above the focused bit count.
TEST(ConfigFields, MaxDistanceIsOptionalAndAbsentMeansNoBound) {
  const ScanSpec s = parse_scan_config(R"({"version": 1, "record_bits": 64})");
  EXPECT_EQ(s.max_distance, 4294967295u);
  const ScanSpec full =
      parse_scan_config(R"({"version": 1, "record_bits": 64, "max_distance": 64})");
  EXPECT_EQ(s.key(), full.key());
  EXPECT_TRUE(s.same_meaning(full));
  EXPECT_NE(s.canonical_json().find("\"max_distance\":64"), std::string::npos)
      << s.canonical_json();
  const ScanSpec bounded =
      parse_scan_config(R"({"version": 1, "record_bits": 64, "max_distance": 63})");
  EXPECT_FALSE(s.same_meaning(bounded));
}

TEST(ConfigFields, NegativeMaxDistanceIsRejected) {
  EXPECT_TRUE(rejects(R"({"version": 1, "record_bits": 64, "max_distance": -1})", "/max_distance",
                      "value -1 is out of range; allowed 0..4294967295"));
}

TEST(ConfigFields, MaxDistanceAbove32BitsIsRejected) {
  EXPECT_TRUE(rejects(R"({"version": 1, "record_bits": 64, "max_distance": 4294967296})",
                      "/max_distance", "value 4294967296 is out of range"));
  EXPECT_TRUE(rejects(R"({"version": 1, "record_bits": 64, "max_distance": 1e30})", "/max_distance",
                      "out of range; allowed 0..4294967295"));
}

TEST(ConfigFields, MaxDistanceUpTo32BitsIsAccepted) {
  ScanSpec s =
      parse_scan_config(R"({"version": 1, "record_bits": 64, "max_distance": 4294967295})");
  EXPECT_EQ(s.max_distance, 4294967295u);
}

TEST(ConfigFields, NonIntegralMaxDistanceIsRejected) {
  EXPECT_TRUE(rejects(R"({"version": 1, "record_bits": 64, "max_distance": 1.5})", "/max_distance",
                      "expected an integer in 0..4294967295, got a number with a fraction"));
}

TEST(ConfigFields, MaxDistanceOfWrongTypeIsRejected) {
  EXPECT_TRUE(rejects(R"({"version": 1, "record_bits": 64, "max_distance": true})", "/max_distance",
                      "expected an integer in 0..4294967295, got boolean"));
  EXPECT_TRUE(rejects(R"({"version": 1, "record_bits": 64, "max_distance": null})", "/max_distance",
                      "got null"));
}

TEST(ConfigFields, TopKZeroIsRejected) {
  EXPECT_TRUE(
      rejects(config(R"("top_k": 0)"), "/top_k", "value 0 is out of range; allowed 1..1000000"));
}

TEST(ConfigFields, TopKAboveAMillionIsRejected) {
  EXPECT_TRUE(rejects(config(R"("top_k": 1000001)"), "/top_k", "allowed 1..1000000"));
}

TEST(ConfigFields, TopKMustBeAnInteger) {
  EXPECT_TRUE(rejects(config(R"("top_k": "10")"), "/top_k",
                      "expected an integer in 1..1000000, got string"));
  EXPECT_TRUE(rejects(config(R"("top_k": [10])"), "/top_k", "got array"));
}

TEST(ConfigFields, PrefetchAbove64IsRejected) {
  EXPECT_TRUE(rejects(config(R"("prefetch_records": 65)"), "/prefetch_records",
                      "value 65 is out of range; allowed 0..64"));
}

TEST(ConfigFields, NegativePrefetchIsRejected) {
  EXPECT_TRUE(rejects(config(R"("prefetch_records": -1)"), "/prefetch_records", "allowed 0..64"));
}

TEST(ConfigFields, PrefetchMustBeAnInteger) {
  EXPECT_TRUE(rejects(config(R"("prefetch_records": {})"), "/prefetch_records", "got object"));
}

TEST(ConfigFields, UnknownIsaIsRejected) {
  EXPECT_TRUE(rejects(config(R"("isa": "avx1024")"), "/isa",
                      "unknown value \"avx1024\"; allowed: auto, avx512, avx2, scalar"));
  EXPECT_TRUE(rejects(config(R"("isa": 2)"), "/isa", "expected a string"));
}

TEST(ConfigFields, UnknownBackendIsRejected) {
  EXPECT_TRUE(rejects(config(R"("backend": "cranelift")"), "/backend",
                      "unknown value \"cranelift\"; allowed: auto, xbyak, llvm, runtime"));
}

TEST(ConfigFields, DefaultsAreFilledIn) {
  ScanSpec s = parse_scan_config(config());
  EXPECT_EQ(s.name, "");
  EXPECT_EQ(s.record_bits, 16384u);
  EXPECT_EQ(s.metric, Metric::hamming);
  EXPECT_EQ(s.max_distance, 100u);
  EXPECT_EQ(s.top_k, 10u);
  EXPECT_EQ(s.focus, std::vector<uint64_t>(256, ~uint64_t{0}));
  EXPECT_TRUE(s.focus_is_all());
  EXPECT_EQ(s.focus_bits(), 16384u);
  EXPECT_EQ(s.cascade, CascadeMode::exact);
  EXPECT_EQ(s.stage_words, (std::vector<uint32_t>{1, 8}));
  EXPECT_EQ(s.safety_margin, 1.5);
  EXPECT_FALSE(s.prefetch_records.has_value());
  EXPECT_EQ(s.isa, IsaChoice::automatic);
  EXPECT_EQ(s.backend, BackendChoice::automatic);
}

TEST(ConfigFields, EveryFieldIsRead) {
  ScanSpec s = parse_scan_config(R"({
    "version": 1, "name": "all", "record_bits": 128, "metric": "hamming", "max_distance": 7,
    "top_k": 3, "focus": {"ranges": [[0, 4]], "bits": [100]},
    "cascade": {"mode": "statistical", "safety_margin": 2.5, "stages": [1]},
    "prefetch_records": 0, "isa": "scalar", "backend": "runtime"})");
  EXPECT_EQ(s.name, "all");
  EXPECT_EQ(s.record_bits, 128u);
  EXPECT_EQ(s.max_distance, 7u);
  EXPECT_EQ(s.top_k, 3u);
  EXPECT_EQ(s.focus, (std::vector<uint64_t>{0xF, uint64_t{1} << 36}));
  EXPECT_EQ(s.cascade, CascadeMode::statistical);
  EXPECT_EQ(s.safety_margin, 2.5);
  EXPECT_EQ(s.stage_words, (std::vector<uint32_t>{1}));
  EXPECT_EQ(s.prefetch_records, std::optional<uint32_t>(0));
  EXPECT_EQ(s.isa, IsaChoice::scalar);
  EXPECT_EQ(s.backend, BackendChoice::runtime);
}

// ---------------------------------------------------------------- focus

TEST(ConfigFocus, FocusMustBeAnObject) {
  EXPECT_TRUE(rejects(config(R"("focus": [[0, 64]])"), "/focus", "expected an object, got array"));
}

TEST(ConfigFocus, UnknownFocusFieldIsRejected) {
  EXPECT_TRUE(rejects(config(R"("focus": {"mask": [1]})"), "/focus/mask",
                      "unknown field; allowed: ranges, bits"));
}

TEST(ConfigFocus, EmptyFocusObjectIsAnEmptySelection) {
  EXPECT_TRUE(rejects(config(R"("focus": {})"), "/focus", "empty selection"));
}

TEST(ConfigFocus, EmptyRangesAndNoBitsIsAnEmptySelection) {
  EXPECT_TRUE(rejects(config(R"("focus": {"ranges": []})"), "/focus", "empty selection"));
  EXPECT_TRUE(
      rejects(config(R"("focus": {"ranges": [], "bits": []})"), "/focus", "empty selection"));
}

TEST(ConfigFocus, EmptyRangesWithBitsIsAccepted) {
  ScanSpec s = parse_scan_config(config(R"("focus": {"ranges": [], "bits": [65]})", 128));
  EXPECT_EQ(s.focus, (std::vector<uint64_t>{0, 2}));
}

TEST(ConfigFocus, RangesMustBeAnArray) {
  EXPECT_TRUE(rejects(config(R"("focus": {"ranges": {"0": 5}})"), "/focus/ranges",
                      "expected an array, got object"));
}

TEST(ConfigFocus, RangeMustBeAPair) {
  EXPECT_TRUE(
      rejects(config(R"("focus": {"ranges": [[0, 8], [1, 2, 3]]})"), "/focus/ranges/1",
              "expected a range [start, end) as an array of 2 integers, got an array of 3"));
  EXPECT_TRUE(rejects(config(R"("focus": {"ranges": [5]})"), "/focus/ranges/0", "got integer"));
}

TEST(ConfigFocus, RangeBoundsMustBeIntegers) {
  EXPECT_TRUE(rejects(config(R"("focus": {"ranges": [[0, 8], ["1", 2]]})"), "/focus/ranges/1/0",
                      "expected an integer"));
  EXPECT_TRUE(
      rejects(config(R"("focus": {"ranges": [[0, 8.5]]})"), "/focus/ranges/0/1", "fraction"));
}

TEST(ConfigFocus, NegativeRangeStartIsRejected) {
  EXPECT_TRUE(rejects(config(R"("focus": {"ranges": [[-1, 8]]})"), "/focus/ranges/0/0",
                      "value -1 is out of range"));
}

TEST(ConfigFocus, ReversedRangeIsRejected) {
  EXPECT_TRUE(rejects(config(R"("focus": {"ranges": [[10, 5]]})"), "/focus/ranges/0",
                      "empty or reversed range [10, 5); start must be less than end"));
}

TEST(ConfigFocus, EmptyRangeIsRejected) {
  EXPECT_TRUE(rejects(config(R"("focus": {"ranges": [[0, 64], [5, 5]]})"), "/focus/ranges/1",
                      "empty or reversed range [5, 5)"));
}

TEST(ConfigFocus, RangeEndBeyondRecordIsRejected) {
  try {
    parse_scan_config(
        config(R"("focus": {"ranges": [[0, 64], [128, 256], [65000, 70000]]})", 65536));
    FAIL() << "accepted";
  } catch (const ConfigError &e) {
    EXPECT_STREQ(e.what(), "/focus/ranges/2: end 70000 exceeds record_bits 65536");
  }
}

TEST(ConfigFocus, RangeEndAtRecordBitsIsAccepted) {
  ScanSpec s = parse_scan_config(config(R"("focus": {"ranges": [[100, 128]]})", 128));
  EXPECT_EQ(s.focus, (std::vector<uint64_t>{0, ~uint64_t{0} << 36}));
}

TEST(ConfigFocus, BitsMustBeAnArray) {
  EXPECT_TRUE(
      rejects(config(R"("focus": {"bits": 5})"), "/focus/bits", "expected an array, got integer"));
}

TEST(ConfigFocus, BitOutOfRangeIsRejected) {
  EXPECT_TRUE(rejects(config(R"("focus": {"bits": [3, 16384]})"), "/focus/bits/1",
                      "value 16384 is out of range; allowed 0..16383"));
  EXPECT_TRUE(rejects(config(R"("focus": {"bits": [-3]})"), "/focus/bits/0", "out of range"));
}

TEST(ConfigFocus, BitMustBeAnInteger) {
  EXPECT_TRUE(rejects(config(R"("focus": {"bits": [1, "2"]})"), "/focus/bits/1",
                      "expected an integer in 0..16383, got string"));
}

TEST(ConfigFocus, RangesAndBitsUnite) {
  ScanSpec s = parse_scan_config(
      config(R"("focus": {"ranges": [[60, 70], [0, 2]], "bits": [1, 127, 64]})", 128));
  uint64_t w0 = 0x3 | (uint64_t{0xF} << 60);
  uint64_t w1 = 0x3F | (uint64_t{1} << 63);
  EXPECT_EQ(s.focus, (std::vector<uint64_t>{w0, w1}));
  EXPECT_EQ(s.focus_bits(), uint64_t(std::popcount(w0) + std::popcount(w1)));
  EXPECT_FALSE(s.focus_is_all());
}

TEST(ConfigFocus, FocusCoveringEveryBitIsAll) {
  ScanSpec s = parse_scan_config(config(R"("focus": {"ranges": [[0, 100], [50, 128]]})", 128));
  EXPECT_TRUE(s.focus_is_all());
  EXPECT_EQ(s.key(), parse_scan_config(config("", 128)).key());
}

// ---------------------------------------------------------------- cascade

TEST(ConfigCascade, CascadeMustBeAnObject) {
  EXPECT_TRUE(
      rejects(config(R"("cascade": "exact")"), "/cascade", "expected an object, got string"));
}

TEST(ConfigCascade, UnknownCascadeFieldIsRejected) {
  EXPECT_TRUE(rejects(config(R"("cascade": {"stage": [1]})"), "/cascade/stage",
                      "unknown field; allowed: mode, safety_margin, stages"));
}

TEST(ConfigCascade, UnknownModeIsRejected) {
  EXPECT_TRUE(rejects(config(R"("cascade": {"mode": "fast"})"), "/cascade/mode",
                      "unknown value \"fast\"; allowed: exact, statistical, off"));
}

TEST(ConfigCascade, SafetyMarginWithExactModeIsRejected) {
  EXPECT_TRUE(rejects(config(R"("cascade": {"mode": "exact", "safety_margin": 1.5})"),
                      "/cascade/safety_margin",
                      "safety_margin applies only to mode \"statistical\" (mode is \"exact\")"));
}

TEST(ConfigCascade, SafetyMarginWithDefaultModeIsRejected) {
  EXPECT_TRUE(rejects(config(R"("cascade": {"safety_margin": 2})"), "/cascade/safety_margin",
                      "(mode is \"exact\")"));
}

TEST(ConfigCascade, SafetyMarginWithModeOffIsRejected) {
  EXPECT_TRUE(rejects(config(R"("cascade": {"safety_margin": 2, "mode": "off"})"),
                      "/cascade/safety_margin", "(mode is \"off\")"));
}

TEST(ConfigCascade, SafetyMarginMustBePositive) {
  EXPECT_TRUE(rejects(config(R"("cascade": {"mode": "statistical", "safety_margin": 0})"),
                      "/cascade/safety_margin", "allowed a finite number > 0"));
  EXPECT_TRUE(rejects(config(R"("cascade": {"mode": "statistical", "safety_margin": -1.5})"),
                      "/cascade/safety_margin", "value -1.5 is out of range"));
}

TEST(ConfigCascade, SafetyMarginMustBeANumber) {
  EXPECT_TRUE(rejects(config(R"("cascade": {"mode": "statistical", "safety_margin": "1.5"})"),
                      "/cascade/safety_margin", "expected a number > 0, got string"));
}

TEST(ConfigCascade, StatisticalModeReadsTheMargin) {
  ScanSpec s =
      parse_scan_config(config(R"("cascade": {"mode": "statistical", "safety_margin": 3})"));
  EXPECT_EQ(s.safety_margin, 3.0);
  EXPECT_EQ(s.stage_words, (std::vector<uint32_t>{1, 8}));
}

TEST(ConfigCascade, StagesWithModeOffAreRejected) {
  EXPECT_TRUE(
      rejects(config(R"("cascade": {"mode": "off", "stages": [1, 8]})"), "/cascade/stages",
              "stages apply only to modes \"exact\" and \"statistical\" (mode is \"off\")"));
}

TEST(ConfigCascade, StagesMustBeAnArray) {
  EXPECT_TRUE(rejects(config(R"("cascade": {"stages": 8})"), "/cascade/stages",
                      "expected an array, got integer"));
}

TEST(ConfigCascade, AtMostSevenStages) {
  EXPECT_TRUE(rejects(config(R"("cascade": {"stages": [1, 2, 3, 4, 5, 6, 7, 8]})"),
                      "/cascade/stages", "8 probe stages given; at most 7 are allowed"));
  EXPECT_EQ(parse_scan_config(config(R"("cascade": {"stages": [1, 2, 3, 4, 5, 6, 7]})"))
                .stage_words.size(),
            7u);
}

TEST(ConfigCascade, StageOfZeroWordsIsRejected) {
  EXPECT_TRUE(rejects(config(R"("cascade": {"stages": [0, 8]})"), "/cascade/stages/0",
                      "value 0 is out of range; allowed 1..65536"));
}

TEST(ConfigCascade, StageBeyond65536WordsIsRejected) {
  EXPECT_TRUE(rejects(config(R"("cascade": {"stages": [1, 65537]})"), "/cascade/stages/1",
                      "allowed 1..65536"));
  // Ends past the record are accepted and, like every end past the last focused word, ignored.
  EXPECT_EQ(
      parse_scan_config(config(R"("cascade": {"stages": [1, 65536]})")).canonical_stage_words(),
      (std::vector<uint32_t>{1}));
}

TEST(ConfigCascade, StagesMustIncrease) {
  EXPECT_TRUE(rejects(config(R"("cascade": {"stages": [1, 8, 8]})"), "/cascade/stages/2",
                      "previous stage already ends at 8; stages are cumulative"));
  EXPECT_TRUE(
      rejects(config(R"("cascade": {"stages": [8, 1]})"), "/cascade/stages/1", "must increase"));
}

TEST(ConfigCascade, StageMustBeAnInteger) {
  EXPECT_TRUE(rejects(config(R"("cascade": {"stages": [1, 2.5]})"), "/cascade/stages/1",
                      "a number with a fraction or an exponent"));
}

TEST(ConfigCascade, EmptyStagesMeanOnePass) {
  ScanSpec s = parse_scan_config(config(R"("cascade": {"stages": []})"));
  EXPECT_TRUE(s.stage_words.empty());
  EXPECT_TRUE(s.canonical_stage_words().empty());
}

TEST(ConfigCascade, ModeOffHasNoStages) {
  ScanSpec s = parse_scan_config(config(R"("cascade": {"mode": "off"})"));
  EXPECT_EQ(s.cascade, CascadeMode::off);
  EXPECT_TRUE(s.stage_words.empty());
}

// ---------------------------------------------------------------- overrides

TEST(ConfigOverrides, OverrideReplacesATopLevelField) {
  ScanSpec s = parse_scan_config(config(R"("top_k": 5)"), R"({"top_k": 7, "name": "o"})");
  EXPECT_EQ(s.top_k, 7u);
  EXPECT_EQ(s.name, "o");
}

TEST(ConfigOverrides, OverrideReplacesAWholeObject) {
  // The merge is at top level: the statistical cascade with its margin is replaced as a whole.
  ScanSpec s = parse_scan_config(
      config(R"("cascade": {"mode": "statistical", "safety_margin": 2, "stages": [4]})"),
      R"({"cascade": {"mode": "off"}})");
  EXPECT_EQ(s.cascade, CascadeMode::off);
}

TEST(ConfigOverrides, NullRemovesAField) {
  ScanSpec s = parse_scan_config(config(R"("focus": {"bits": [1]}, "top_k": 3)"),
                                 R"({"focus": null, "top_k": null})");
  EXPECT_TRUE(s.focus_is_all());
  EXPECT_EQ(s.top_k, 10u);
}

TEST(ConfigOverrides, OverrideErrorsUseTheSamePointers) {
  EXPECT_TRUE(rejects_override(config(), R"({"top_k": 0})", "/top_k", "allowed 1..1000000"));
  EXPECT_TRUE(rejects_override(config(), R"({"focus": {"ranges": [[5, 1]]}})", "/focus/ranges/0",
                               "empty or reversed"));
  EXPECT_TRUE(rejects_override(config(), R"({"threshold": 5})", "/threshold", "unknown field"));
}

TEST(ConfigOverrides, OverrideCanRemoveAField) {
  EXPECT_TRUE(rejects_override(config(), R"({"record_bits": null})", "/record_bits",
                               "required field is missing"));
  EXPECT_EQ(parse_scan_config(config(), R"({"max_distance": null})").max_distance, 4294967295u);
}

TEST(ConfigOverrides, OverridesMustBeAnObject) {
  EXPECT_TRUE(
      rejects_override(config(), "[]", "/", "overrides: expected a JSON object, got array"));
}

TEST(ConfigOverrides, OverrideSyntaxErrorIsNamed) {
  EXPECT_TRUE(
      rejects_override(config(), R"({"top_k": 5,})", "/", "overrides: parse error at byte 12"));
  EXPECT_TRUE(rejects_override(config(), "{\"name\": \"\xff\"}", "/", "overrides: invalid UTF-8"));
}

TEST(ConfigOverrides, OverrideDuplicateKeyIsRejected) {
  EXPECT_TRUE(rejects_override(config(), R"({"top_k": 5, "top_k": 5})", "/top_k", "duplicate"));
}

TEST(ConfigOverrides, ConfigErrorsStillComeFirst) {
  EXPECT_TRUE(rejects_override(config() + ",", R"({"top_k": 5})", "/", "parse error"));
}

// ---------------------------------------------------------------- canonical meaning

TEST(ConfigKey, OverlappingMergedAndBitListFocusShareTheKey) {
  ScanSpec overlapping = parse_scan_config(
      config(R"("focus": {"ranges": [[10, 40], [0, 20], [35, 70], [100, 101]]})"));
  ScanSpec merged = parse_scan_config(config(R"("focus": {"ranges": [[0, 70], [100, 101]]})"));
  std::string bits;
  for (int b = 69; b >= 0; --b) bits += std::to_string(b) + ", ";
  ScanSpec listed = parse_scan_config(config(R"("focus": {"bits": [)" + bits + "100]}"));
  ScanSpec mixed = parse_scan_config(
      config(R"("focus": {"ranges": [[0, 64], [64, 65]], "bits": [65, 66, 67, 68, 69, 100, 3]})"));
  for (const ScanSpec *s : {&merged, &listed, &mixed}) {
    EXPECT_EQ(s->key(), overlapping.key());
    EXPECT_TRUE(s->same_meaning(overlapping));
    EXPECT_TRUE(overlapping.same_meaning(*s));
    EXPECT_EQ(s->canonical_json(), overlapping.canonical_json());
  }
}

TEST(ConfigKey, NameDoesNotChangeTheKey) {
  ScanSpec a = parse_scan_config(config(R"("name": "a")"));
  ScanSpec b = parse_scan_config(config(R"("name": "b")"));
  EXPECT_EQ(a.key(), b.key());
  EXPECT_TRUE(a.same_meaning(b));
  EXPECT_EQ(a.canonical_json(), b.canonical_json());
}

TEST(ConfigKey, EveryMeaningfulFieldChangesTheKey) {
  const std::string base_text =
      config(R"("cascade": {"mode": "statistical", "safety_margin": 1.5, "stages": [1, 8]})");
  const ScanSpec base = parse_scan_config(base_text);
  const char *const changes[] = {
      R"({"record_bits": 8192})",
      R"({"max_distance": 101})",
      R"({"top_k": 11})",
      R"({"focus": {"ranges": [[0, 16383]]}})",
      R"({"focus": {"bits": [0]}})",
      R"({"cascade": {"mode": "exact", "stages": [1, 8]}})",
      R"({"cascade": {"mode": "off"}})",
      R"({"cascade": {"mode": "statistical", "safety_margin": 1.25, "stages": [1, 8]}})",
      R"({"cascade": {"mode": "statistical", "safety_margin": 1.5, "stages": [1, 9]}})",
      R"({"cascade": {"mode": "statistical", "safety_margin": 1.5, "stages": [1]}})",
      R"({"prefetch_records": 0})",
      R"({"prefetch_records": 4})",
      R"({"isa": "scalar"})",
      R"({"isa": "avx2"})",
      R"({"backend": "runtime"})",
      R"({"backend": "xbyak"})",
  };
  std::set<uint64_t> keys{base.key()};
  for (const char *change : changes) {
    ScanSpec changed = parse_scan_config(base_text, change);
    EXPECT_NE(changed.key(), base.key()) << change;
    EXPECT_FALSE(changed.same_meaning(base)) << change;
    EXPECT_FALSE(base.same_meaning(changed)) << change;
    EXPECT_NE(changed.canonical_json(), base.canonical_json()) << change;
    keys.insert(changed.key());
  }
  EXPECT_EQ(keys.size(), std::size(changes) + 1);
}

TEST(ConfigKey, SafetyMarginMattersOnlyInStatisticalMode) {
  ScanSpec a = parse_scan_config(config());
  ScanSpec b = a;
  b.safety_margin = 3.0;
  EXPECT_EQ(a.key(), b.key());
  EXPECT_TRUE(a.same_meaning(b));
  a.cascade = b.cascade = CascadeMode::statistical;
  EXPECT_NE(a.key(), b.key());
  EXPECT_FALSE(a.same_meaning(b));
}

TEST(ConfigKey, StagesDoNotMatterInModeOff) {
  ScanSpec a = parse_scan_config(config(R"("cascade": {"mode": "off"})"));
  ScanSpec b = a;
  b.stage_words = {2, 30};
  EXPECT_EQ(a.key(), b.key());
  EXPECT_TRUE(a.same_meaning(b));
  EXPECT_TRUE(b.canonical_stage_words().empty());
}

TEST(ConfigKey, StagesAtOrBeyondTheLastFocusedWordAreDropped) {
  // 4 focused words (0, 1, 2, 200): stage ends 4 and beyond are the final stage anyway.
  const std::string focus = R"("focus": {"ranges": [[0, 192]], "bits": [12800]})";
  ScanSpec a = parse_scan_config(config(focus + R"(, "cascade": {"stages": [1, 8]})"));
  ScanSpec b = parse_scan_config(config(focus + R"(, "cascade": {"stages": [1]})"));
  ScanSpec c = parse_scan_config(config(focus + R"(, "cascade": {"stages": [1, 4, 100]})"));
  ScanSpec d = parse_scan_config(config(focus + R"(, "cascade": {"stages": [1, 3]})"));
  EXPECT_EQ(a.canonical_stage_words(), (std::vector<uint32_t>{1}));
  EXPECT_EQ(a.key(), b.key());
  EXPECT_EQ(a.key(), c.key());
  EXPECT_TRUE(a.same_meaning(c));
  EXPECT_NE(a.key(), d.key());
  EXPECT_EQ(d.canonical_stage_words(), (std::vector<uint32_t>{1, 3}));
}

TEST(ConfigKey, MaxDistanceAboveTheFocusedBitsMeansEveryRecord) {
  const std::string focus = R"("focus": {"ranges": [[0, 100]]})";
  ScanSpec a = parse_scan_config(config(focus, 1024), R"({"max_distance": 100})");
  ScanSpec b = parse_scan_config(config(focus, 1024), R"({"max_distance": 4000000000})");
  ScanSpec c = parse_scan_config(config(focus, 1024), R"({"max_distance": 99})");
  EXPECT_EQ(a.key(), b.key());
  EXPECT_TRUE(a.same_meaning(b));
  EXPECT_NE(a.key(), c.key());
  // Statistical bounds scale with max_distance itself, so there the values differ.
  const std::string stat = R"({"cascade": {"mode": "statistical"}, "max_distance": )";
  EXPECT_NE(parse_scan_config(config(focus, 1024), stat + "100}").key(),
            parse_scan_config(config(focus, 1024), stat + "4000000000}").key());
}

TEST(ConfigKey, PrefetchUnsetDiffersFromEveryValue) {
  ScanSpec unset = parse_scan_config(config());
  std::set<uint64_t> keys{unset.key()};
  for (uint32_t p = 0; p <= 64; ++p) {
    ScanSpec s = unset;
    s.prefetch_records = p;
    keys.insert(s.key());
    EXPECT_FALSE(s.same_meaning(unset));
  }
  EXPECT_EQ(keys.size(), 66u);
}

TEST(ConfigKey, EmptyFocusVectorMeansAllBits) {
  ScanSpec parsed = parse_scan_config(config());
  ScanSpec built = parsed;
  built.focus.clear();
  EXPECT_TRUE(built.focus_is_all());
  EXPECT_EQ(built.focus_bits(), 16384u);
  EXPECT_EQ(built.key(), parsed.key());
  EXPECT_TRUE(built.same_meaning(parsed));
}

TEST(ConfigKey, CanonicalJsonWritesEveryFieldInAStableOrder) {
  ScanSpec s = parse_scan_config(config(
      R"("name": "x", "focus": {"ranges": [[10, 20], [0, 2]], "bits": [5, 3, 4, 20, 100]},
         "cascade": {"mode": "statistical", "safety_margin": 2.25})",
      128));
  EXPECT_EQ(s.canonical_json(),
            R"({"version":1,"record_bits":128,"metric":"hamming","max_distance":100,"top_k":10,)"
            R"("focus":{"ranges":[[0,2],[3,6],[10,21],[100,101]]},)"
            R"("cascade":{"mode":"statistical","safety_margin":2.25,"stages":[1]},)"
            R"("isa":"auto","backend":"auto"})");
  ScanSpec all = parse_scan_config(config(R"("cascade": {"mode": "off"}, "prefetch_records": 3)"));
  EXPECT_EQ(all.canonical_json(),
            R"({"version":1,"record_bits":16384,"metric":"hamming","max_distance":100,)"
            R"("top_k":10,"cascade":{"mode":"off"},"prefetch_records":3,"isa":"auto",)"
            R"("backend":"auto"})");
}

TEST(ConfigKey, FocusRangesCrossingWordsAreWrittenMerged) {
  ScanSpec s = parse_scan_config(
      config(R"("focus": {"ranges": [[63, 64], [64, 200], [256, 384], [511, 512]]})", 512));
  EXPECT_NE(s.canonical_json().find(R"("ranges":[[63,200],[256,384],[511,512]])"),
            std::string::npos)
      << s.canonical_json();
}

// Random configs: the focus given as a random mix of ranges and bits; the same set of bits
// given as single bits; and canonical_json parsed back must all mean the same scan.
TEST(ConfigKey, RandomConfigsRoundTripThroughCanonicalJson) {
  std::mt19937_64 rng(20240603);
  std::set<uint64_t> distinct_keys;
  std::set<std::string> distinct_canonical;
  for (int iter = 0; iter < 400; ++iter) {
    const uint32_t record_bits = 64 * uint32_t(1 + rng() % 40);
    std::vector<bool> want(record_bits, false);
    nlohmann::json focus = nlohmann::json::object();
    nlohmann::json ranges = nlohmann::json::array(), bits = nlohmann::json::array();
    const int n_ranges = int(rng() % 4), n_bits = int(rng() % 5);
    for (int r = 0; r < n_ranges; ++r) {
      uint32_t a = uint32_t(rng() % record_bits), b = uint32_t(rng() % record_bits);
      uint32_t start = std::min(a, b), end = std::max(a, b) + 1;
      ranges.push_back({start, end});
      for (uint32_t i = start; i < end; ++i) want[i] = true;
    }
    for (int k = 0; k < n_bits; ++k) {
      uint32_t bit = uint32_t(rng() % record_bits);
      bits.push_back(bit);
      want[bit] = true;
    }
    if (n_ranges) focus["ranges"] = ranges;
    if (n_bits) focus["bits"] = bits;
    nlohmann::json cfg = {{"version", 1},
                          {"record_bits", record_bits},
                          {"max_distance", rng() % (record_bits + 50)},
                          {"top_k", 1 + rng() % 50}};
    if (n_ranges + n_bits > 0) cfg["focus"] = focus;
    const char *modes[] = {"exact", "statistical", "off"};
    const char *mode = modes[rng() % 3];
    cfg["cascade"] = {{"mode", mode}};
    if (std::string(mode) != "off" && rng() % 2) {
      std::vector<uint32_t> stages;
      uint32_t end = 0;
      for (int s = int(rng() % 4); s > 0; --s) stages.push_back(end += 1 + uint32_t(rng() % 9));
      cfg["cascade"]["stages"] = stages;
    }
    if (std::string(mode) == "statistical")
      cfg["cascade"]["safety_margin"] = 0.5 + double(rng() % 8) / 4;
    if (rng() % 2) cfg["prefetch_records"] = rng() % 65;

    const ScanSpec spec = parse_scan_config(cfg.dump());
    std::vector<uint64_t> mask(record_bits / 64, 0);
    nlohmann::json listed = nlohmann::json::array();
    for (uint32_t i = 0; i < record_bits; ++i) {
      if (n_ranges + n_bits == 0 || want[i]) {
        mask[i / 64] |= uint64_t{1} << (i % 64);
        listed.push_back(i);
      }
    }
    ASSERT_EQ(spec.focus, mask) << cfg.dump();

    nlohmann::json as_bits = cfg;
    as_bits["focus"] = {{"bits", listed}};
    const ScanSpec by_bits = parse_scan_config(as_bits.dump());
    EXPECT_EQ(by_bits.key(), spec.key()) << cfg.dump();
    EXPECT_TRUE(by_bits.same_meaning(spec)) << cfg.dump();

    const std::string canonical = spec.canonical_json();
    const ScanSpec back = parse_scan_config(canonical);
    EXPECT_EQ(back.key(), spec.key()) << canonical;
    EXPECT_TRUE(back.same_meaning(spec)) << canonical;
    EXPECT_EQ(back.canonical_json(), canonical);
    distinct_keys.insert(spec.key());
    distinct_canonical.insert(canonical);
  }
  // Different meanings (different canonical texts) never shared a key in this sample.
  EXPECT_EQ(distinct_keys.size(), distinct_canonical.size());
}

TEST(ConfigNames, ToStringNamesMatchTheConfigValues) {
  EXPECT_STREQ(to_string(CascadeMode::exact), "exact");
  EXPECT_STREQ(to_string(CascadeMode::statistical), "statistical");
  EXPECT_STREQ(to_string(CascadeMode::off), "off");
  EXPECT_STREQ(to_string(IsaChoice::automatic), "auto");
  EXPECT_STREQ(to_string(IsaChoice::avx512), "avx512");
  EXPECT_STREQ(to_string(IsaChoice::avx2), "avx2");
  EXPECT_STREQ(to_string(IsaChoice::scalar), "scalar");
  EXPECT_STREQ(to_string(BackendChoice::automatic), "auto");
  EXPECT_STREQ(to_string(BackendChoice::xbyak), "xbyak");
  EXPECT_STREQ(to_string(BackendChoice::llvm), "llvm");
  EXPECT_STREQ(to_string(BackendChoice::runtime), "runtime");
}

// ---------------------------------------------------------------- examples and schema

TEST(ConfigExamples, EveryExampleParses) {
  for (const char *name : kExamples) {
    ScanSpec s = parse_scan_config(example(name));
    EXPECT_EQ(s.name, name);
    EXPECT_TRUE(parse_scan_config(s.canonical_json()).same_meaning(s)) << name;
  }
}

TEST(ConfigExamples, ExamplesHaveTheirDocumentedShape) {
  ScanSpec full = parse_scan_config(example("full-focus"));
  EXPECT_EQ(full.record_bits, 16384u);
  EXPECT_TRUE(full.focus_is_all());
  EXPECT_EQ(full.cascade, CascadeMode::off);

  ScanSpec sparse = parse_scan_config(example("sparse-focus"));
  EXPECT_EQ(sparse.record_bits, 16384u);
  size_t focused_words = 0;
  for (uint64_t w : sparse.focus) focused_words += w != 0;
  EXPECT_EQ(focused_words, 256u / 8);

  ScanSpec exact = parse_scan_config(example("exact-cascade"));
  EXPECT_EQ(exact.cascade, CascadeMode::exact);
  EXPECT_LT(exact.max_distance, exact.record_bits / 8);

  EXPECT_EQ(parse_scan_config(example("statistical")).cascade, CascadeMode::statistical);
  EXPECT_EQ(parse_scan_config(example("record-64k")).record_bits, 65536u);
}

TEST(ConfigSchema, SchemaListsExactlyTheFieldsTheParserAccepts) {
  const nlohmann::json schema = nlohmann::json::parse(
      read_file(std::string(JITSON_SOURCE_DIR) + "/configs/scan.schema.json"));
  EXPECT_EQ(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
  std::string allowed;
  try {
    parse_scan_config(config(R"("not_a_field": 1)"));
  } catch (const ConfigError &e) {
    allowed = e.rule().substr(e.rule().find("allowed: ") + 9);
  }
  std::set<std::string> parser_fields, schema_fields;
  std::stringstream ss(allowed);
  for (std::string f; std::getline(ss, f, ',');)
    parser_fields.insert(f.substr(f.find_first_not_of(' ')));
  for (auto &[k, v] : schema["properties"].items()) schema_fields.insert(k);
  EXPECT_EQ(parser_fields, schema_fields);
  std::set<std::string> required(schema["required"].begin(), schema["required"].end());
  EXPECT_EQ(required, (std::set<std::string>{"version", "record_bits"}));
  EXPECT_EQ(schema["properties"]["focus"]["properties"].size(), 2u);
  EXPECT_EQ(schema["properties"]["cascade"]["properties"].size(), 3u);
  std::set<std::string> schema_tuning, parser_tuning;
  for (auto &[k, v] : schema["properties"]["tuning"]["properties"].items()) {
    schema_tuning.insert(k);
    const TuningParameter *p = find_tuning_parameter(k);
    ASSERT_NE(p, nullptr) << k;
    EXPECT_EQ(v["minimum"], p->min_value) << k;
    EXPECT_EQ(v["maximum"], p->max_value) << k;
  }
  for (const TuningParameter &p : tuning_parameters()) parser_tuning.insert(p.name);
  EXPECT_EQ(schema_tuning, parser_tuning);
}

// ---------------------------------------------------------------- engine options

testing::AssertionResult options_reject(const std::string &text, const std::string &pointer,
                                        const std::string &fragment) {
  try {
    EngineOptions::from_json(text);
  } catch (const ConfigError &e) {
    if (e.pointer() != pointer || e.rule().find(fragment) == std::string::npos) {
      return testing::AssertionFailure() << "got " << e.what();
    }
    return testing::AssertionSuccess();
  }
  return testing::AssertionFailure() << "accepted " << text;
}

TEST(EngineOptionsJson, EmptyTextAndEmptyObjectGiveDefaults) {
  for (const char *text : {"", "  \n", "{}"}) {
    EngineOptions o = EngineOptions::from_json(text);
    EngineOptions d;
    EXPECT_EQ(o.threads, d.threads);
    EXPECT_EQ(o.cache_bytes, d.cache_bytes);
    EXPECT_FALSE(o.isa.has_value());
    EXPECT_TRUE(o.jit);
  }
}

TEST(EngineOptionsJson, EveryFieldIsRead) {
  EngineOptions o = EngineOptions::from_json(
      R"({"threads": 3, "cache_bytes": 4096, "isa": "scalar", "jit": false})");
  EXPECT_EQ(o.threads, 3u);
  EXPECT_EQ(o.cache_bytes, 4096u);
  EXPECT_EQ(o.isa, std::optional<Isa>(Isa::scalar));
  EXPECT_FALSE(o.jit);
  EXPECT_FALSE(EngineOptions::from_json(R"({"isa": "auto"})").isa.has_value());
}

TEST(EngineOptionsJson, ThreadsOutOfRangeIsRejected) {
  EXPECT_TRUE(options_reject(R"({"threads": 1025})", "/threads", "allowed 0..1024"));
  EXPECT_TRUE(options_reject(R"({"threads": -1})", "/threads", "out of range"));
  EXPECT_TRUE(options_reject(R"({"threads": "2"})", "/threads", "expected an integer"));
}

TEST(EngineOptionsJson, CacheBelowAPageIsRejected) {
  EXPECT_TRUE(
      options_reject(R"({"cache_bytes": 4095})", "/cache_bytes", "value 4095 is out of range"));
}

TEST(EngineOptionsJson, JitMustBeABoolean) {
  EXPECT_TRUE(options_reject(R"({"jit": 1})", "/jit", "expected true or false, got integer"));
}

TEST(EngineOptionsJson, UnknownIsaIsRejected) {
  EXPECT_TRUE(options_reject(R"({"isa": "sse2"})", "/isa", "allowed: auto, avx512, avx2, scalar"));
}

TEST(EngineOptionsJson, IsaAboveTheCpuIsRejected) {
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    const std::string text = std::string(R"({"isa": ")") + isa_name(isa) + "\"}";
    if (isa_supported(isa)) {
      EXPECT_EQ(EngineOptions::from_json(text).isa, std::optional<Isa>(isa));
    } else {
      EXPECT_TRUE(options_reject(text, "/isa", "requested but this CPU supports at most"));
    }
  }
}

TEST(EngineOptionsJson, UnknownFieldIsRejected) {
  EXPECT_TRUE(options_reject(R"({"threads": 1, "cache": 5})", "/cache",
                             "unknown field; allowed: threads, cache_bytes, isa, jit"));
}

TEST(EngineOptionsJson, StrictSyntax) {
  EXPECT_TRUE(options_reject(R"({"threads": 1,})", "/", "parse error"));
  EXPECT_TRUE(options_reject(R"({"threads": 1, "threads": 2})", "/threads", "duplicate"));
  EXPECT_TRUE(options_reject(R"([1])", "/", "expected an object"));
}

}  // namespace
}  // namespace jitson
