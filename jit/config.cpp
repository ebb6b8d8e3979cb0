// Scan config version 1 → ScanSpec. The rules are those of configs/scan.schema.json; every
// rejection is a ConfigError naming the JSON Pointer of the offending value.
#include "jitson/config.hpp"

#include <string>
#include <vector>

#include "jit/min_similarity.hpp"
#include "jit/strict_json.hpp"
#include "jitson/error.hpp"
#include "jitson/limits.hpp"
#include "jitson/scan.hpp"

namespace jitson {
namespace {

namespace sj = strict_json;
using sj::Json;

constexpr uint64_t kU32Max = 4294967295u;
// Stage ends count focused words; ends at or past the last focused word are ignored, so the
// bound only keeps the numbers small (no record has more than 65,536 of anything).
constexpr uint32_t kMaxStageEnd = kMaxRecordBits;

const Json *member(const Json &object, const char *key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

const Json &required(const Json &object, const char *key, const char *what) {
  const Json *v = member(object, key);
  if (!v) throw ConfigError(sj::child("", key), std::string("required field is missing: ") + what);
  return *v;
}

// Sets bits [begin, end) of a word mask a word at a time.
void set_range(std::vector<uint64_t> &mask, uint64_t begin, uint64_t end) {
  while (begin < end) {
    uint64_t word = begin / 64, bit = begin % 64;
    uint64_t n = std::min<uint64_t>(64 - bit, end - begin);
    uint64_t ones = n == 64 ? ~uint64_t{0} : ((uint64_t{1} << n) - 1);
    mask[word] |= ones << bit;
    begin += n;
  }
}

std::vector<uint64_t> parse_focus(const Json &focus, uint32_t record_bits) {
  const std::string pointer = "/focus";
  sj::object_with_fields(focus, pointer, {"ranges", "bits"});
  std::vector<uint64_t> mask(record_bits / 64, 0);
  const std::string rb = std::to_string(record_bits);

  if (const Json *ranges = member(focus, "ranges")) {
    const std::string ranges_pointer = sj::child(pointer, "ranges");
    sj::array(*ranges, ranges_pointer);
    for (size_t i = 0; i < ranges->size(); ++i) {
      const Json &range = (*ranges)[i];
      const std::string p = sj::child(ranges_pointer, i);
      if (!range.is_array() || range.size() != 2) {
        throw ConfigError(p, std::string("expected a range [start, end) as an array of 2 "
                                         "integers, got ") +
                                 (range.is_array() ? "an array of " + std::to_string(range.size())
                                                   : std::string(sj::type_name(range))));
      }
      uint64_t start = sj::integer(range[0], sj::child(p, size_t{0}), 0, kU32Max);
      uint64_t end = sj::integer(range[1], sj::child(p, size_t{1}), 0, kU32Max);
      if (start >= end) {
        throw ConfigError(p, "empty or reversed range [" + std::to_string(start) + ", " +
                                 std::to_string(end) + "); start must be less than end");
      }
      if (end > record_bits) {
        throw ConfigError(p, "end " + std::to_string(end) + " exceeds record_bits " + rb);
      }
      set_range(mask, start, end);
    }
  }
  if (const Json *bits = member(focus, "bits")) {
    const std::string bits_pointer = sj::child(pointer, "bits");
    sj::array(*bits, bits_pointer);
    for (size_t i = 0; i < bits->size(); ++i) {
      uint64_t bit = sj::integer((*bits)[i], sj::child(bits_pointer, i), 0, record_bits - 1);
      mask[bit / 64] |= uint64_t{1} << (bit % 64);
    }
  }
  bool any = false;
  for (uint64_t w : mask) any = any || w != 0;
  if (!any) {
    throw ConfigError(pointer,
                      "empty selection: ranges and bits select no bit; select at least one bit "
                      "(or omit focus to count all bits)");
  }
  return mask;
}

void parse_cascade(const Json &cascade, ScanSpec &spec) {
  const std::string pointer = "/cascade";
  sj::object_with_fields(cascade, pointer, {"mode", "safety_margin", "stages"});
  spec.cascade = CascadeMode::exact;
  if (const Json *mode = member(cascade, "mode")) {
    static constexpr CascadeMode modes[] = {CascadeMode::exact, CascadeMode::statistical,
                                            CascadeMode::off};
    spec.cascade =
        modes[sj::choice(*mode, sj::child(pointer, "mode"), {"exact", "statistical", "off"})];
  }
  const std::string mode_name = std::string("\"") + to_string(spec.cascade) + "\"";

  spec.safety_margin = 1.5;
  if (const Json *margin = member(cascade, "safety_margin")) {
    const std::string p = sj::child(pointer, "safety_margin");
    if (spec.cascade != CascadeMode::statistical) {
      throw ConfigError(
          p, "safety_margin applies only to mode \"statistical\" (mode is " + mode_name + ")");
    }
    spec.safety_margin = sj::positive_number(*margin, p);
  }

  spec.stage_words = {1, 8};
  if (spec.cascade == CascadeMode::off) spec.stage_words.clear();
  if (const Json *stages = member(cascade, "stages")) {
    const std::string p = sj::child(pointer, "stages");
    if (spec.cascade == CascadeMode::off) {
      throw ConfigError(p, "stages apply only to modes \"exact\" and \"statistical\" (mode is " +
                               mode_name + ")");
    }
    sj::array(*stages, p);
    if (stages->size() >= size_t(kMaxStages)) {
      throw ConfigError(p, std::to_string(stages->size()) + " probe stages given; at most " +
                               std::to_string(kMaxStages - 1) +
                               " are allowed (the final stage, all remaining words, is implicit)");
    }
    spec.stage_words.clear();
    for (size_t i = 0; i < stages->size(); ++i) {
      const std::string sp = sj::child(p, i);
      auto end = uint32_t(sj::integer((*stages)[i], sp, 1, kMaxStageEnd));
      if (!spec.stage_words.empty() && end <= spec.stage_words.back()) {
        throw ConfigError(sp, "stage ends at focused word " + std::to_string(end) +
                                  " but the previous stage already ends at " +
                                  std::to_string(spec.stage_words.back()) +
                                  "; stages are cumulative word counts and must increase");
      }
      spec.stage_words.push_back(end);
    }
  }
}

// Tanimoto fields and the rules tying them to the rest: run once the other fields are read.
void parse_metric_fields(const Json &root, const sj::FloatTexts &float_texts, ScanSpec &spec) {
  const Json *min_similarity = member(root, "min_similarity");
  if (spec.metric != Metric::tanimoto) {
    if (min_similarity) {
      throw ConfigError("/min_similarity",
                        "applies only to metric \"tanimoto\" (metric is \"hamming\"; a Hamming "
                        "scan is bounded with max_distance)");
    }
    return;
  }
  if (member(root, "max_distance")) {
    throw ConfigError("/max_distance",
                      "applies only to metric \"hamming\"; a tanimoto scan is bounded with "
                      "min_similarity, a number in [0, 1]");
  }
  spec.max_distance = kTanimotoMaxRank;
  if (min_similarity) {
    auto literal = float_texts.find("min_similarity");
    const MinSimilarity t = parse_min_similarity(
        *min_similarity, literal == float_texts.end() ? nullptr : &literal->second,
        "/min_similarity");
    spec.min_similarity = t.text;
    spec.max_distance = tanimoto_max_rank(t);
  }
  if (spec.cascade == CascadeMode::statistical) {
    throw ConfigError("/cascade/mode",
                      "mode \"statistical\" applies only to metric \"hamming\"; a tanimoto "
                      "cascade is \"exact\" or \"off\"");
  }
  if (spec.layout == LayoutChoice::blocked) {
    throw ConfigError("/layout",
                      "layout \"blocked\" applies only to metric \"hamming\"; a tanimoto scan "
                      "reads the row layout (\"row\" or \"auto\")");
  }
}

ScanSpec build_spec(const Json &root, const sj::FloatTexts &float_texts) {
  sj::object_with_fields(
      root, "",
      {"version", "name", "record_bits", "metric", "max_distance", "min_similarity", "top_k",
       "focus", "cascade", "prefetch_records", "tuning", "isa", "backend", "layout"});
  ScanSpec spec;

  const Json &version = required(root, "version", "the config format version, 1");
  if (!version.is_number_integer()) {
    throw ConfigError("/version", std::string("expected the integer 1, got ") +
                                      (version.is_number_float() ? sj::kNotAnIntegerLiteral
                                                                 : sj::type_name(version)));
  }
  if (version != 1) {
    throw ConfigError(
        "/version", "unsupported version " + sj::quoted(version) + "; this build reads version 1");
  }

  if (const Json *name = member(root, "name")) spec.name = sj::string(*name, "/name");

  const Json &bits =
      required(root, "record_bits", "bits per record, a multiple of 64 in 64..65536");
  spec.record_bits = uint32_t(sj::integer(bits, "/record_bits", kMinRecordBits, kMaxRecordBits));
  if (spec.record_bits % 64 != 0) {
    throw ConfigError("/record_bits", "value " + std::to_string(spec.record_bits) +
                                          " is not a multiple of 64; allowed: multiples of 64 "
                                          "in 64..65536");
  }

  if (const Json *metric = member(root, "metric")) {
    static constexpr Metric metrics[] = {Metric::hamming, Metric::tanimoto};
    spec.metric = metrics[sj::choice(*metric, "/metric", {"hamming", "tanimoto"})];
  }

  // Absent: no bound, a pure top-k search (the same meaning as any value >= the focused bits).
  spec.max_distance = uint32_t(kU32Max);
  if (const Json *max_distance = member(root, "max_distance")) {
    spec.max_distance = uint32_t(sj::integer(*max_distance, "/max_distance", 0, kU32Max));
  }

  if (const Json *top_k = member(root, "top_k")) {
    spec.top_k = uint32_t(sj::integer(*top_k, "/top_k", 1, kMaxTopK));
  }

  if (const Json *focus = member(root, "focus")) {
    spec.focus = parse_focus(*focus, spec.record_bits);
  } else {
    spec.focus.assign(spec.record_words(), ~uint64_t{0});
  }

  spec.cascade = CascadeMode::exact;
  if (const Json *cascade = member(root, "cascade")) {
    parse_cascade(*cascade, spec);
  }

  if (const Json *prefetch = member(root, "prefetch_records")) {
    spec.prefetch_records =
        uint32_t(sj::integer(*prefetch, "/prefetch_records", 0, kMaxPrefetchRecords));
  }

  if (const Json *tuning = member(root, "tuning")) {
    if (!tuning->is_object()) {
      throw ConfigError("/tuning", std::string("expected an object of tuning parameters, got ") +
                                       sj::type_name(*tuning));
    }
    for (const auto &[name, value] : tuning->items()) {
      const std::string pointer = sj::child("/tuning", name);
      const TuningParameter *p = find_tuning_parameter(name);
      if (!p) {
        std::string known;
        for (const TuningParameter &q : tuning_parameters()) {
          known += (known.empty() ? "" : ", ") + std::string(q.name);
        }
        throw ConfigError(pointer, "unknown tuning parameter; known: " + known);
      }
      spec.tuning[name] = uint32_t(sj::integer(value, pointer, p->min_value, p->max_value));
    }
  }

  if (const Json *isa = member(root, "isa")) {
    static constexpr IsaChoice isas[] = {IsaChoice::automatic, IsaChoice::avx512, IsaChoice::avx2,
                                         IsaChoice::scalar};
    spec.isa = isas[sj::choice(*isa, "/isa", {"auto", "avx512", "avx2", "scalar"})];
  }
  if (const Json *backend = member(root, "backend")) {
    static constexpr BackendChoice backends[] = {BackendChoice::automatic, BackendChoice::xbyak,
                                                 BackendChoice::llvm, BackendChoice::runtime};
    spec.backend = backends[sj::choice(*backend, "/backend", {"auto", "xbyak", "llvm", "runtime"})];
  }
  if (const Json *layout = member(root, "layout")) {
    static constexpr LayoutChoice layouts[] = {LayoutChoice::automatic, LayoutChoice::row,
                                               LayoutChoice::blocked};
    spec.layout = layouts[sj::choice(*layout, "/layout", {"auto", "row", "blocked"})];
  }
  parse_metric_fields(root, float_texts, spec);
  return spec;
}

void expect_object(const Json &value, const std::string &what) {
  if (!value.is_object()) {
    throw ConfigError("", what + "expected a JSON object, got " + sj::type_name(value));
  }
}

}  // namespace

ScanSpec parse_scan_config(std::string_view json_text) {
  sj::FloatTexts float_texts;
  Json root = sj::parse(json_text, {}, &float_texts);
  expect_object(root, "");
  return build_spec(root, float_texts);
}

ScanSpec parse_scan_config(std::string_view json_text, std::string_view overrides_json) {
  sj::FloatTexts float_texts, override_texts;
  Json root = sj::parse(json_text, {}, &float_texts);
  expect_object(root, "");
  Json overrides = sj::parse(overrides_json, "overrides: ", &override_texts);
  expect_object(overrides, "overrides: ");
  // A top-level merge: a member replaces the config's member of the same name; null removes it
  // (RFC 7386 at depth 1), so an override can return an optional field to its default.
  for (auto &[key, value] : overrides.items()) {
    float_texts.erase(key);
    if (value.is_null()) {
      root.erase(key);
    } else {
      root[key] = value;
      if (auto text = override_texts.find(key); text != override_texts.end()) {
        float_texts[key] = text->second;
      }
    }
  }
  return build_spec(root, float_texts);
}

}  // namespace jitson
