// The hybrid pipeline (shared/spec/SEMANTICS.md §4): config parsing, Tier-0, the Hamming scan
// through the engine, the BF16 tail and resonance decomposition. It lives in jit/ because the
// Hamming stage is a compiled scan kernel.
#include "jitson/hybrid.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "jit/strict_json.hpp"
#include "jitson/error.hpp"
#include "jitson/limits.hpp"

namespace jitson {
namespace {

namespace sj = strict_json;
using sj::Json;

constexpr uint32_t kSku16K = 16384;
constexpr uint32_t kSku64K = 65536;
// The most candidates one scan can return: the scan config's top_k limit.
constexpr uint32_t kMaxScanTopK = kMaxTopK;
constexpr uint64_t kMaxTier0TopK = uint64_t{1} << 53;  // integers a JSON number holds exactly

[[noreturn]] void invalid(const std::string &message) {
  throw Error(ErrorKind::invalid_argument, message);
}

const Json *member(const Json &object, const char *key) {
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

double non_negative_number(const Json &value, const std::string &pointer) {
  if (!value.is_number()) {
    throw ConfigError(pointer, std::string("expected a number >= 0, got ") + sj::type_name(value));
  }
  const double v = value.get<double>();
  if (!std::isfinite(v) || v < 0) {
    throw ConfigError(
        pointer, "value " + sj::quoted(value) + " is out of range; allowed a finite number >= 0");
  }
  return v;
}

// The cascade object is the scan config's own: validate it with the scan config's rules (its
// errors already name "/cascade/..." pointers, which are the same in the hybrid config).
void parse_cascade(const Json &cascade, HybridConfig &c) {
  Json scan = Json::object();
  scan["version"] = 1;
  scan["record_bits"] = c.record_bits;
  scan["max_distance"] = c.max_distance;
  scan["cascade"] = cascade;
  const ScanSpec spec = parse_scan_config(scan.dump());
  c.cascade = spec.cascade;
  c.safety_margin = spec.safety_margin;
  c.cascade_stages = spec.stage_words;
}

void parse_tier0(const Json &tier0, Tier0Config &t) {
  const std::string p = "/tier0";
  sj::object_with_fields(tier0, p, {"enabled", "mode", "value"});
  const Json *enabled = member(tier0, "enabled");
  if (!enabled) {
    throw ConfigError(sj::child(p, "enabled"),
                      "required field is missing: true to run the INT8 prefilter, else false");
  }
  t.enabled = sj::boolean(*enabled, sj::child(p, "enabled"));
  t.mode = Tier0Mode::fraction;
  if (const Json *mode = member(tier0, "mode")) {
    t.mode = sj::choice(*mode, sj::child(p, "mode"), {"top_k", "fraction"}) == 0
                 ? Tier0Mode::top_k
                 : Tier0Mode::fraction;
  }
  const Json *value = member(tier0, "value");
  const std::string vp = sj::child(p, "value");
  if (t.mode == Tier0Mode::top_k) {
    if (!value) {
      throw ConfigError(vp,
                        "required field is missing for mode \"top_k\": the number of "
                        "records Tier-0 keeps, an integer >= 1");
    }
    t.top_k = sj::integer(*value, vp, 1, kMaxTier0TopK);
    return;
  }
  t.fraction = 0.25f;
  if (value) {
    const double f = sj::positive_number(*value, vp);
    if (f > 1) {
      throw ConfigError(vp, "value " + sj::quoted(*value) +
                                " is out of range; a fraction of the records, in (0, 1]");
    }
    t.fraction = float(f);
    if (!(t.fraction > 0)) {
      throw ConfigError(vp, "value " + sj::quoted(*value) +
                                " rounds to 0 in float32; the fraction must be > 0 as a float32");
    }
  }
}

BF16Weights parse_weights(const Json &w) {
  const std::string p = "/bf16_weights";
  if (w.is_string()) {
    static constexpr BF16Weights presets[] = {BF16Weights::defaults(), BF16Weights::jina(),
                                              BF16Weights::training()};
    return presets[sj::choice(w, p, {"default", "jina", "training"})];
  }
  if (!w.is_object()) {
    throw ConfigError(p, std::string("expected a preset name (default, jina, training) or an "
                                     "object {sign, exponent, mantissa}, got ") +
                             sj::type_name(w));
  }
  sj::object_with_fields(w, p, {"sign", "exponent", "mantissa"});
  uint64_t v[3];
  const char *names[3] = {"sign", "exponent", "mantissa"};
  for (int i = 0; i < 3; ++i) {
    const Json *field = member(w, names[i]);
    if (!field) {
      throw ConfigError(sj::child(p, names[i]),
                        "required field is missing: a weight in 0..65535 (give all three)");
    }
    v[i] = sj::integer(*field, sj::child(p, names[i]), 0, 65535);
  }
  const uint64_t per_dim_max = v[0] + 8 * v[1] + 7 * v[2];
  if (per_dim_max > 65535) {
    throw ConfigError(p, "sign + 8*exponent + 7*mantissa = " + std::to_string(per_dim_max) +
                             " exceeds 65535; the cost of one dimension must fit in 16 bits");
  }
  return BF16Weights{uint16_t(v[0]), uint16_t(v[1]), uint16_t(v[2])};
}

AwarenessThresholds parse_awareness(const Json &a) {
  const std::string p = "/awareness";
  sj::object_with_fields(a, p, {"sign_consensus", "exp_spread", "mantissa_noise"});
  AwarenessThresholds t;
  if (const Json *v = member(a, "sign_consensus")) {
    t.sign_consensus = uint8_t(sj::integer(*v, sj::child(p, "sign_consensus"), 0, 255));
  }
  if (const Json *v = member(a, "exp_spread")) {
    t.exp_spread = uint8_t(sj::integer(*v, sj::child(p, "exp_spread"), 0, 255));
  }
  if (const Json *v = member(a, "mantissa_noise")) {
    t.mantissa_noise = uint8_t(sj::integer(*v, sj::child(p, "mantissa_noise"), 0, 255));
  }
  return t;
}

// The scan config text of the Hamming stage.
std::string scan_config_json(const HybridConfig &c, uint32_t top_k) {
  Json scan = Json::object();
  scan["version"] = 1;
  if (!c.name.empty()) scan["name"] = c.name + " (hamming)";
  scan["record_bits"] = c.record_bits;
  scan["max_distance"] = c.max_distance;
  scan["top_k"] = top_k;
  Json cascade = Json::object();
  cascade["mode"] = to_string(c.cascade);
  if (c.cascade == CascadeMode::statistical) cascade["safety_margin"] = c.safety_margin;
  if (c.cascade != CascadeMode::off) {
    Json stages = Json::array();
    for (uint32_t s : c.cascade_stages) stages.push_back(s);
    cascade["stages"] = std::move(stages);
  }
  scan["cascade"] = std::move(cascade);
  scan["isa"] = to_string(c.isa);
  scan["backend"] = to_string(c.backend);
  return scan.dump();
}

void validate(const HybridConfig &c) {
  if (c.record_bits != kSku16K && c.record_bits != kSku64K) {
    invalid("HybridConfig: record_bits " + std::to_string(c.record_bits) +
            " is not a hybrid SKU; allowed: 16384, 65536");
  }
  if (c.max_distance > c.record_bits) {
    invalid("HybridConfig: max_distance " + std::to_string(c.max_distance) +
            " exceeds record_bits " + std::to_string(c.record_bits));
  }
  for (auto [value, name] :
       {std::pair{c.hamming_weight, "hamming_weight"}, std::pair{c.bf16_weight, "bf16_weight"}}) {
    if (!std::isfinite(value) || value < 0) {
      invalid(std::string("HybridConfig: ") + name + " is " + std::to_string(value) +
              "; allowed a finite number >= 0");
    }
  }
  BF16Weights::make(c.bf16_weights.sign, c.bf16_weights.exponent, c.bf16_weights.mantissa);
  if (c.max_bf16_candidates > kMaxScanTopK) {
    invalid("HybridConfig: max_bf16_candidates " + std::to_string(c.max_bf16_candidates) +
            " exceeds " + std::to_string(kMaxScanTopK) + " (0 means every Hamming hit)");
  }
  if (c.tier0.enabled && c.tier0.mode == Tier0Mode::fraction &&
      !(std::isfinite(c.tier0.fraction) && c.tier0.fraction > 0)) {
    invalid("HybridConfig: tier0.fraction " + std::to_string(c.tier0.fraction) +
            " is not a finite number > 0");
  }
}

const KernelTable &table_for(IsaChoice isa) {
  switch (isa) {
    case IsaChoice::automatic:
      return kernels();
    case IsaChoice::avx512:
      return jitson::kernel_table(Isa::avx512);
    case IsaChoice::avx2:
      return jitson::kernel_table(Isa::avx2);
    case IsaChoice::scalar:
      return jitson::kernel_table(Isa::scalar);
  }
  return kernels();
}

void check_inputs(std::span<const uint8_t> query, const DatabaseView &db, uint32_t record_bytes,
                  const char *what) {
  if (db.layout != Layout::row_major) {
    throw Error(ErrorKind::unsupported, std::string(what) +
                                            ": only row-major databases are "
                                            "supported");
  }
  if (db.record_bytes != record_bytes) {
    invalid(std::string(what) + ": database records are " + std::to_string(db.record_bytes) +
            " bytes but the config has " + std::to_string(record_bytes));
  }
  if (db.data == nullptr && db.n_records > 0) {
    invalid(std::string(what) + ": database pointer is null but n_records > 0");
  }
  if (query.size() != record_bytes) {
    invalid(std::string(what) + ": query has " + std::to_string(query.size()) +
            " bytes; records have " + std::to_string(record_bytes));
  }
}

bool hit_less(const Hit &a, const Hit &b) {
  return a.distance != b.distance ? a.distance < b.distance : a.index < b.index;
}

bool score_less(const HybridScore &a, const HybridScore &b) {
  return a.combined_score != b.combined_score ? a.combined_score < b.combined_score
                                              : a.index < b.index;
}

}  // namespace

uint64_t Tier0Config::survivor_count(uint64_t n) const {
  uint64_t k;
  if (mode == Tier0Mode::top_k) return std::min(top_k, n);
  // float32 throughout, as the seed (an f64 product would overshoot for 0.1f and the like).
  const float c = std::ceil(float(n) * fraction);
  if (!(c > 0)) {
    k = 0;
  } else if (c >= 18446744073709551616.0f) {
    k = UINT64_MAX;
  } else {
    k = uint64_t(c);
  }
  return std::min(std::max<uint64_t>(k, 1), n);
}

HybridConfig HybridConfig::defaults(uint32_t record_bits, HybridProfile profile) {
  HybridConfig c;
  c.record_bits = record_bits;
  c.profile = profile;
  if (profile == HybridProfile::learning) {
    c.gate = SliceGate::learning(record_bits);
    c.bf16_weights = BF16Weights::training();
    c.hamming_weight = 0.5;
    c.bf16_weight = 0.02;
    c.max_bf16_candidates = 50;
  } else {
    c.gate = SliceGate::defaults(record_bits);
  }
  c.max_distance = c.gate.k2_cold > 0 ? c.gate.k2_cold - 1 : 0;
  return c;
}

HybridConfig parse_hybrid_config(std::string_view json_text) {
  const Json root = sj::parse(json_text);
  if (!root.is_object()) {
    throw ConfigError("", std::string("expected a JSON object, got ") + sj::type_name(root));
  }
  sj::object_with_fields(
      root, "",
      {"version", "name", "record_bits", "record_type", "profile", "max_distance", "cascade",
       "tier0", "bf16_weights", "hamming_weight", "bf16_weight", "max_bf16_candidates", "awareness",
       "top_k", "isa", "backend"});

  const Json *version = member(root, "version");
  if (!version) throw ConfigError("/version", "required field is missing: the format version, 1");
  if (!version->is_number()) {
    throw ConfigError("/version",
                      std::string("expected the integer 1, got ") + sj::type_name(*version));
  }
  if (version->get<double>() != 1.0) {
    throw ConfigError(
        "/version", "unsupported version " + sj::quoted(*version) + "; this build reads version 1");
  }

  const Json *bits = member(root, "record_bits");
  if (!bits) {
    throw ConfigError("/record_bits", "required field is missing: bits per record, 16384 or 65536");
  }
  const uint64_t record_bits = sj::integer(*bits, "/record_bits", 0, UINT32_MAX);
  if (record_bits != kSku16K && record_bits != kSku64K) {
    throw ConfigError("/record_bits", "value " + std::to_string(record_bits) +
                                          " is not a hybrid SKU; allowed: 16384, 65536");
  }

  const Json *type = member(root, "record_type");
  if (!type) {
    throw ConfigError("/record_type",
                      "required field is missing: \"bf16\" (records are BF16 embeddings; their "
                      "bits feed Tier-0 and the Hamming scan, their BF16 values the tail)");
  }
  if (!type->is_string() || type->get_ref<const std::string &>() != "bf16") {
    throw ConfigError("/record_type",
                      "unsupported record type " + sj::quoted(*type) +
                          "; allowed: \"bf16\" (the BF16 tail reads each record as BF16 values, "
                          "which only means something for BF16 embeddings)");
  }

  HybridProfile profile = HybridProfile::standard;
  if (const Json *p = member(root, "profile")) {
    profile = sj::choice(*p, "/profile", {"default", "learning"}) == 0 ? HybridProfile::standard
                                                                       : HybridProfile::learning;
  }
  HybridConfig c = HybridConfig::defaults(uint32_t(record_bits), profile);

  if (const Json *name = member(root, "name")) c.name = sj::string(*name, "/name");
  if (const Json *d = member(root, "max_distance")) {
    c.max_distance = uint32_t(sj::integer(*d, "/max_distance", 0, c.record_bits));
  }
  if (const Json *cascade = member(root, "cascade")) parse_cascade(*cascade, c);
  if (const Json *tier0 = member(root, "tier0")) parse_tier0(*tier0, c.tier0);
  if (const Json *w = member(root, "bf16_weights")) c.bf16_weights = parse_weights(*w);
  if (const Json *w = member(root, "hamming_weight")) {
    c.hamming_weight = non_negative_number(*w, "/hamming_weight");
  }
  if (const Json *w = member(root, "bf16_weight")) {
    c.bf16_weight = non_negative_number(*w, "/bf16_weight");
  }
  if (const Json *m = member(root, "max_bf16_candidates")) {
    c.max_bf16_candidates = uint32_t(sj::integer(*m, "/max_bf16_candidates", 0, kMaxScanTopK));
  }
  if (const Json *a = member(root, "awareness")) c.awareness = parse_awareness(*a);
  if (const Json *k = member(root, "top_k")) {
    c.top_k = uint32_t(sj::integer(*k, "/top_k", 1, kMaxScanTopK));
  }
  if (const Json *isa = member(root, "isa")) {
    static constexpr IsaChoice isas[] = {IsaChoice::automatic, IsaChoice::avx512, IsaChoice::avx2,
                                         IsaChoice::scalar};
    c.isa = isas[sj::choice(*isa, "/isa", {"auto", "avx512", "avx2", "scalar"})];
  }
  if (const Json *backend = member(root, "backend")) {
    static constexpr BackendChoice backends[] = {BackendChoice::automatic, BackendChoice::xbyak,
                                                 BackendChoice::llvm, BackendChoice::runtime};
    c.backend = backends[sj::choice(*backend, "/backend", {"auto", "xbyak", "llvm", "runtime"})];
  }
  return c;
}

std::vector<uint64_t> tier0_prefilter(std::span<const uint8_t> query, DatabaseView db,
                                      const Tier0Config &config, Tier0Stats &stats,
                                      const KernelTable &kt) {
  check_inputs(query, db, db.record_bytes, "tier0_prefilter");
  const uint64_t n = db.n_records;
  const uint64_t keep = config.survivor_count(n);
  stats = Tier0Stats{};
  stats.active = true;
  stats.input_count = n;
  std::vector<uint64_t> survivors;
  if (keep >= n) {
    survivors.resize(n);
    for (uint64_t i = 0; i < n; ++i) survivors[i] = i;
    stats.survivor_count = n;
    stats.min_survivor_dot = INT64_MIN;
    stats.max_survivor_dot = INT64_MAX;
    return survivors;
  }
  std::vector<std::pair<int64_t, uint64_t>> scored(n);
  for (uint64_t i = 0; i < n; ++i) {
    scored[i] = {kt.dot_i8(query.data(), db.record(i), db.record_bytes), i};
  }
  // Best first: higher dot, then lower index; a strict total order, so the kept set is unique.
  auto better = [](const std::pair<int64_t, uint64_t> &a, const std::pair<int64_t, uint64_t> &b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  if (keep > 0) std::nth_element(scored.begin(), scored.begin() + keep - 1, scored.end(), better);
  scored.resize(keep);
  survivors.reserve(keep);
  for (const auto &s : scored) survivors.push_back(s.second);
  std::sort(survivors.begin(), survivors.end());
  if (!scored.empty()) {
    auto [lo, hi] = std::minmax_element(scored.begin(), scored.end());
    stats.min_survivor_dot = lo->first;
    stats.max_survivor_dot = hi->first;
  }
  stats.survivor_count = keep;
  stats.pruned_count = n - keep;
  return survivors;
}

HybridPipeline::HybridPipeline(HybridConfig config, std::shared_ptr<Engine> engine)
    : config_(std::move(config)), engine_(std::move(engine)) {
  validate(config_);
  kernels_ = &table_for(config_.isa);
  if (!engine_) engine_ = std::make_shared<Engine>();
  // With a candidate limit the scan's best-k by (distance, index) is exactly the first
  // max_bf16_candidates of the sorted hits; without one, every hit is needed and the scan runs
  // over parts of at most kMaxScanTopK records, each returning all of its hits.
  scan_top_k_ = config_.max_bf16_candidates > 0 ? config_.max_bf16_candidates : kMaxScanTopK;
  kernel_ = engine_->compile(scan_config_json(config_, scan_top_k_));
  sigma_gate_ = SigmaGate::make(config_.record_bits);
}

HybridPipeline HybridPipeline::from_json(std::string_view json_text,
                                         std::shared_ptr<Engine> engine) {
  return HybridPipeline(parse_hybrid_config(json_text), std::move(engine));
}

HybridResult HybridPipeline::run_all(std::span<const uint8_t> query, DatabaseView db) const {
  const uint32_t rb = config_.record_bytes();
  check_inputs(query, db, rb, "HybridPipeline::run");
  HybridResult result;
  HybridStats &stats = result.stats;

  // 1. Tier-0: compact the survivors (in index order) and remember where they came from.
  DatabaseView scan_db = db;
  std::vector<uint64_t> survivors;
  std::vector<uint8_t> compact;
  bool remapped = false;
  if (config_.tier0.enabled) {
    survivors = tier0_prefilter(query, db, config_.tier0, stats.tier0, *kernels_);
    if (survivors.size() < db.n_records) {
      compact.resize(survivors.size() * size_t(rb));
      for (size_t i = 0; i < survivors.size(); ++i) {
        std::copy_n(db.record(survivors[i]), rb, compact.data() + i * size_t(rb));
      }
      scan_db = DatabaseView::rows(compact.data(), survivors.size(), rb);
      remapped = true;
    }
  }

  // 2–3. Hamming hits by (distance, index), at most scan_top_k_ of them per part.
  std::vector<Hit> hits;
  const uint64_t n = scan_db.n_records;
  const uint64_t part = config_.max_bf16_candidates > 0 ? std::max<uint64_t>(n, 1) : scan_top_k_;
  for (uint64_t begin = 0; begin < n; begin += part) {
    const uint64_t count = std::min(part, n - begin);
    ScanResult r =
        kernel_->scan(query.data(), DatabaseView::rows(scan_db.record(begin), count, rb));
    for (Hit h : r.hits) {
      h.index += begin;
      hits.push_back(h);
    }
    stats.binary += r.stats;
  }
  if (n > part) std::sort(hits.begin(), hits.end(), hit_less);
  stats.hamming_candidates = hits.size();

  // 4. The BF16 tail.
  std::vector<uint64_t> indices(hits.size());
  for (size_t i = 0; i < hits.size(); ++i) indices[i] = hits[i].index;
  const std::vector<BF16TailScore> tails =
      bf16_tail_batch(query, scan_db, indices, config_.bf16_weights, config_.awareness, *kernels_);
  result.scores.reserve(hits.size());
  for (size_t i = 0; i < hits.size(); ++i) {
    HybridScore s;
    s.index = remapped ? survivors[hits[i].index] : hits[i].index;
    s.hamming_distance = hits[i].distance;
    s.energy = kernels_->energy_conflict(query.data(), scan_db.record(hits[i].index), rb);
    if (s.energy.conflict != s.hamming_distance) {
      throw Error(ErrorKind::internal, "hybrid pipeline: the scan reported distance " +
                                           std::to_string(s.hamming_distance) + " for record " +
                                           std::to_string(s.index) +
                                           " but energy_conflict measures " +
                                           std::to_string(s.energy.conflict));
    }
    s.hdr = score_hdr(s.hamming_distance, config_.gate);
    s.sigma = score_sigma(s.hamming_distance, sigma_gate_);
    s.bf16_distance = tails[i].distance;
    s.diff = tails[i].diff;
    s.awareness = tails[i].awareness;
    s.combined_score = double(s.hamming_distance) * config_.hamming_weight +
                       double(s.bf16_distance) * config_.bf16_weight;
    stats.bf16_scored += 1;
    stats.sign_flip_candidates += s.diff.sign_flips > 0;
    stats.magnitude_shift_candidates += s.diff.major_magnitude_shifts > 0;
    result.scores.push_back(s);
  }

  // 5. Best first by (combined_score, index): weights are finite and >= 0, so no NaN occurs.
  std::sort(result.scores.begin(), result.scores.end(), score_less);
  return result;
}

HybridResult HybridPipeline::run(std::span<const uint8_t> query, DatabaseView db) const {
  HybridResult r = run_all(query, db);
  if (config_.top_k > 0 && r.scores.size() > config_.top_k) r.scores.resize(config_.top_k);
  return r;
}

ResonanceResult HybridPipeline::resonance_decompose(std::span<const uint8_t> query, DatabaseView db,
                                                    size_t top_k) const {
  HybridResult all = run_all(query, db);
  ResonanceResult r;
  r.stats = all.stats;
  const size_t n_top = std::min(top_k, all.scores.size());
  if (n_top >= 3) r.noise_floor = all.scores[n_top - 1].combined_score * 1.1;
  const size_t rb = config_.record_bytes();
  for (size_t i = 0; i < n_top; ++i) {
    const HybridScore &s = all.scores[i];
    const std::span<const uint8_t> pair[2] = {query, {db.record(s.index), rb}};
    ResonantMatch m;
    m.index = s.index;
    m.score = s.combined_score;
    m.hamming_distance = s.hamming_distance;
    m.bf16_distance = s.bf16_distance;
    m.awareness = superposition_decompose_bytes(pair, config_.awareness, *kernels_);
    m.crystallized_ratio = m.awareness.crystallized_pct;
    m.tension_ratio = m.awareness.tensioned_pct;
    m.sign_flips = s.diff.sign_flips;
    if (m.crystallized_ratio > 0.5f) {
      r.crystallized.push_back(std::move(m));
    } else if (m.tension_ratio > 0.3f) {
      r.tensioned.push_back(std::move(m));
    } else {
      r.uncertain.push_back(std::move(m));
    }
  }
  if (!all.scores.empty()) {
    std::span<const uint8_t> best[2];
    const size_t n_best = std::min<size_t>(2, all.scores.size());
    for (size_t i = 0; i < n_best; ++i) best[i] = {db.record(all.scores[i].index), rb};
    r.learning_signal =
        extract_learning_signal(query, std::span(best, n_best), config_.awareness, *kernels_);
  }
  return r;
}

}  // namespace jitson
