// The canonical meaning of a ScanSpec: its key, equality of meaning and canonical JSON.
//
// Two specs mean the same scan when they differ only in ways no result, statistic or generated
// code can observe:
// - the focus is the set of bits it selects (ranges and bits are already merged into a mask);
// - max_distance values at or above the focused bit count all mean "every record qualifies"
//   (a masked distance cannot exceed the focused bits), except in statistical mode, where the
//   stage bounds are proportional to max_distance itself;
// - probe stages that reach or pass the last focused word do not exist in the plan, and mode off
//   has no probe stages at all;
// - safety_margin matters only in statistical mode;
// - name is a label.
#include <algorithm>
#include <bit>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "jitson/config.hpp"
#include "jitson/kernels.hpp"

namespace jitson {
namespace {

// Written in a fixed order that reads like the config.
using Json = nlohmann::ordered_json;

// The focus as exactly record_words() words, with its statistics from one pass: the stored mask
// when it has that size (always, for parsed specs), else a normalised copy (empty = all bits; a
// mask of another size, only possible in a hand-built spec, is cut or padded with zeros).
class Focus {
 public:
  explicit Focus(const ScanSpec &s) {
    const size_t n = s.record_words();
    if (s.focus.size() == n) {
      words_ = s.focus;
    } else {
      copy_.assign(n, s.focus.empty() ? ~uint64_t{0} : 0);
      std::copy_n(s.focus.begin(), std::min(n, s.focus.size()), copy_.begin());
      words_ = copy_;
    }
    bits_ = popcount_words(words_);
    for (uint64_t w : words_) focused_words_ += w != 0;
  }
  Focus(const Focus &) = delete;  // words_ may point into copy_
  Focus &operator=(const Focus &) = delete;

  std::span<const uint64_t> words() const { return words_; }
  uint64_t bits() const { return bits_; }
  uint32_t focused_words() const { return focused_words_; }

 private:
  std::vector<uint64_t> copy_;
  std::span<const uint64_t> words_;
  uint64_t bits_ = 0;
  uint32_t focused_words_ = 0;
};

uint32_t canonical_max_distance(const ScanSpec &s, const Focus &focus) {
  // A rank is not bounded by the focused bits; ranks past the largest all mean "every record".
  if (s.metric == Metric::tanimoto) return std::min(s.max_distance, kTanimotoMaxRank);
  if (s.cascade == CascadeMode::statistical) return s.max_distance;
  return uint32_t(std::min<uint64_t>(s.max_distance, focus.bits()));
}

std::vector<uint32_t> canonical_stages(const ScanSpec &s, const Focus &focus) {
  std::vector<uint32_t> out;
  if (s.cascade == CascadeMode::off) return out;
  for (uint32_t end : s.stage_words) {
    if (end >= focus.focused_words()) break;
    out.push_back(end);
  }
  return out;
}

// splitmix64's finaliser: every input bit affects every output bit.
uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// Order-sensitive combination of 64-bit values. Every variable-length part is preceded by its
// length and every field by a tag, so no two different field sequences feed the same stream.
class KeyHasher {
 public:
  void add(uint64_t v) { h_ = mix64(h_ ^ (v + 0x9e3779b97f4a7c15ULL + (h_ << 6) + (h_ >> 2))); }
  void tag(char field) { add(0x6a69747300000000ULL | uint8_t(field)); }
  uint64_t value() const { return mix64(h_); }

 private:
  uint64_t h_ = 0x243f6a8885a308d3ULL;  // digits of pi: an arbitrary non-zero start
};

uint64_t double_bits(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits;
}

// Sorted, disjoint, non-adjacent [start, end) bit ranges of the focus.
std::vector<std::pair<uint64_t, uint64_t>> focus_ranges(std::span<const uint64_t> words) {
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  const uint64_t n = words.size() * 64;
  uint64_t bit = 0;
  while (bit < n) {
    uint64_t w = words[bit / 64] >> (bit % 64);
    if (w == 0) {  // nothing set in the rest of this word
      bit = (bit / 64 + 1) * 64;
      continue;
    }
    bit += uint64_t(std::countr_zero(w));
    const uint64_t start = bit;
    // Extend over set bits: a whole word per step where whole words are set.
    while (bit < n) {
      uint64_t ones = uint64_t(std::countr_one(words[bit / 64] >> (bit % 64)));
      uint64_t rest_of_word = 64 - bit % 64;
      bit += std::min(ones, rest_of_word);
      if (ones < rest_of_word) break;
    }
    ranges.emplace_back(start, bit);
  }
  return ranges;
}

}  // namespace

const char *to_string(Metric m) {
  switch (m) {
    case Metric::hamming:
      return "hamming";
    case Metric::tanimoto:
      return "tanimoto";
  }
  return "?";
}

const char *to_string(CascadeMode m) {
  switch (m) {
    case CascadeMode::exact:
      return "exact";
    case CascadeMode::statistical:
      return "statistical";
    case CascadeMode::off:
      return "off";
  }
  return "?";
}

const char *to_string(IsaChoice i) {
  switch (i) {
    case IsaChoice::automatic:
      return "auto";
    case IsaChoice::avx512:
      return "avx512";
    case IsaChoice::avx2:
      return "avx2";
    case IsaChoice::scalar:
      return "scalar";
  }
  return "?";
}

const char *to_string(BackendChoice b) {
  switch (b) {
    case BackendChoice::automatic:
      return "auto";
    case BackendChoice::xbyak:
      return "xbyak";
    case BackendChoice::llvm:
      return "llvm";
    case BackendChoice::runtime:
      return "runtime";
  }
  return "?";
}

const char *to_string(LayoutChoice l) {
  switch (l) {
    case LayoutChoice::automatic:
      return "auto";
    case LayoutChoice::row:
      return "row";
    case LayoutChoice::blocked:
      return "blocked";
  }
  return "?";
}

bool ScanSpec::focus_is_all() const {
  Focus f(*this);
  return f.bits() == uint64_t(record_words()) * 64;
}

uint64_t ScanSpec::focus_bits() const {
  return Focus(*this).bits();
}

std::vector<uint32_t> ScanSpec::canonical_stage_words() const {
  return canonical_stages(*this, Focus(*this));
}

uint64_t ScanSpec::key() const {
  const Focus focus(*this);
  KeyHasher h;
  h.tag('R');
  h.add(record_bits);
  h.tag('M');
  h.add(uint64_t(metric));
  h.tag('D');
  h.add(canonical_max_distance(*this, focus));
  // Only a Tanimoto threshold feeds the key, so keys of Hamming configs are unchanged.
  if (!min_similarity.empty()) {
    h.tag('Y');
    h.add(min_similarity.size());
    for (char c : min_similarity) h.add(uint8_t(c));
  }
  h.tag('K');
  h.add(top_k);
  // The focus as runs of equal words: a full focus is one run, so hashing it costs one pass of
  // comparisons rather than one mix per word.
  h.tag('F');
  const std::span<const uint64_t> words = focus.words();
  h.add(words.size());
  for (size_t w = 0; w < words.size();) {
    size_t run = 1;
    while (w + run < words.size() && words[w + run] == words[w]) ++run;
    h.add(words[w]);
    h.add(run);
    w += run;
  }
  h.tag('C');
  h.add(uint64_t(cascade));
  if (cascade == CascadeMode::statistical) {
    h.tag('S');
    h.add(double_bits(safety_margin));
  }
  const std::vector<uint32_t> stages = canonical_stages(*this, focus);
  h.tag('W');
  h.add(stages.size());
  for (uint32_t s : stages) h.add(s);
  h.tag('P');
  h.add(prefetch_records.has_value());
  h.add(prefetch_records.value_or(0));
  // Only pins feed the key, so keys of configs without them are unchanged.
  if (!tuning.empty()) {
    h.tag('T');
    h.add(tuning.size());
    for (const auto &[name, value] : tuning) {
      h.add(uint64_t(find_tuning_parameter(name) - tuning_parameters().data()));
      h.add(value);
    }
  }
  h.tag('I');
  h.add(uint64_t(isa));
  h.tag('B');
  h.add(uint64_t(backend));
  // Only a non-default layout feeds the key, so keys of configs without the field are unchanged.
  if (layout != LayoutChoice::automatic) {
    h.tag('L');
    h.add(uint64_t(layout));
  }
  return h.value();
}

bool ScanSpec::same_meaning(const ScanSpec &o) const {
  if (record_bits != o.record_bits || metric != o.metric || top_k != o.top_k ||
      cascade != o.cascade || prefetch_records != o.prefetch_records || isa != o.isa ||
      backend != o.backend || layout != o.layout || tuning != o.tuning ||
      min_similarity != o.min_similarity) {
    return false;
  }
  if (cascade == CascadeMode::statistical &&
      double_bits(safety_margin) != double_bits(o.safety_margin)) {
    return false;
  }
  const Focus mine(*this), theirs(o);
  if (!std::ranges::equal(mine.words(), theirs.words())) return false;
  return canonical_max_distance(*this, mine) == canonical_max_distance(o, theirs) &&
         canonical_stages(*this, mine) == canonical_stages(o, theirs);
}

std::string ScanSpec::canonical_json() const {
  Json j = Json::object();
  j["version"] = 1;
  j["record_bits"] = record_bits;
  j["metric"] = to_string(metric);
  const Focus focus(*this);
  // The threshold is written as the decimal it is (a double could not say it exactly): a
  // placeholder string, replaced by the bare number once the text is dumped.
  static constexpr const char *kSimilarityPlaceholder = "\x01min_similarity\x01";
  if (metric == Metric::hamming) {
    j["max_distance"] = canonical_max_distance(*this, focus);
  } else if (!min_similarity.empty()) {
    j["min_similarity"] = kSimilarityPlaceholder;
  }
  j["top_k"] = top_k;
  if (focus.bits() != uint64_t(record_words()) * 64) {
    Json ranges = Json::array();
    for (auto [start, end] : focus_ranges(focus.words())) {
      ranges.push_back(Json::array({start, end}));
    }
    j["focus"] = Json{{"ranges", std::move(ranges)}};
  }
  Json cascade_json = Json::object();
  cascade_json["mode"] = to_string(cascade);
  if (cascade == CascadeMode::statistical) cascade_json["safety_margin"] = safety_margin;
  if (cascade != CascadeMode::off) cascade_json["stages"] = canonical_stages(*this, focus);
  j["cascade"] = std::move(cascade_json);
  if (prefetch_records) j["prefetch_records"] = *prefetch_records;
  if (!tuning.empty()) {
    Json pins = Json::object();
    for (const auto &[name, value] : tuning) pins[name] = value;
    j["tuning"] = std::move(pins);
  }
  j["isa"] = to_string(isa);
  j["backend"] = to_string(backend);
  // Written only when not the default, like the key (canonical texts of older configs stay).
  if (layout != LayoutChoice::automatic) j["layout"] = to_string(layout);
  std::string text = j.dump();
  if (!min_similarity.empty()) {
    const std::string quoted = Json(kSimilarityPlaceholder).dump();
    text.replace(text.find(quoted), quoted.size(), min_similarity);
  }
  return text;
}

}  // namespace jitson
