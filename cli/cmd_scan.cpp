// jitson scan: one config, one memory-mapped database, one or many queries → hits.
#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common.hpp"
#include "jitson/engine.hpp"
#include "jitson/metric.hpp"
#include "jitson/popcount.hpp"
#include "windowed_scan.hpp"

namespace jitson::cli {
namespace {

struct ScanOptions {
  std::string config, db, query_hex, queries;
  unsigned threads = 0;
  std::optional<int64_t> top_k, max_distance;
  std::optional<std::string> min_similarity;
  std::optional<uint32_t> raw_bits;
  std::string backend, isa;
  std::string format = "table";
  std::string truth;
  bool stats = false;
};

size_t stage_count(const Kernel &kernel) {
  size_t stages = kernel.plan().cascade.stages.size();
  return std::clamp<size_t>(stages, 1, kMaxStages);
}

nlohmann::ordered_json stats_json(const ScanStats &s, size_t stages) {
  nlohmann::ordered_json j;
  j["records"] = s.records;
  j["evaluated_full"] = s.evaluated_full;
  j["hits"] = s.hits;
  j["rejected_by_stage"] =
      std::vector<uint64_t>(s.rejected_by_stage.begin(), s.rejected_by_stage.begin() + stages);
  j["statistically_pruned"] = s.statistically_pruned;
  j["bound_skipped"] = s.bound_skipped;
  j["word_counts_read"] = s.word_counts_read;
  return j;
}

// JSON on one line with a space after ':' and ',' (nlohmann's compact form has none).
std::string one_line_json(const nlohmann::ordered_json &j) {
  if (j.is_object()) {
    std::string s = "{";
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
      s += fmt::format("{}{}: {}", first ? "" : ", ", nlohmann::ordered_json(it.key()).dump(),
                       one_line_json(it.value()));
      first = false;
    }
    return s + "}";
  }
  if (j.is_array()) {
    std::string s = "[";
    for (size_t i = 0; i < j.size(); ++i) s += (i ? ", " : "") + one_line_json(j[i]);
    return s + "]";
  }
  return j.dump();
}

std::string stats_text(const ScanStats &s, size_t stages, double seconds) {
  std::string rejected;
  for (size_t i = 0; i < stages; ++i)
    rejected += fmt::format("{}{}", i ? "," : "", s.rejected_by_stage[i]);
  double rate = seconds > 0 ? static_cast<double>(s.records) / seconds : 0.0;
  return fmt::format(
      "stats: records {}, evaluated_full {}, hits {}, rejected_by_stage [{}], "
      "statistically_pruned {}, bound_skipped {}, word_counts_read {}; scan {:.6f} s ({:.1f} M "
      "records/s)",
      s.records, s.evaluated_full, s.hits, rejected, s.statistically_pruned, s.bound_skipped,
      s.word_counts_read, seconds, rate / 1e6);
}

// One hit's columns after "index": the distance, or for Tanimoto the similarity (the shortest
// decimal that reads back as the same double), the intersection and the union.
std::string hit_columns(const Hit &h, bool tanimoto, const char *separator, int width) {
  if (!tanimoto) return fmt::format("{:>{}}", h.distance, width);
  const TanimotoHit t = tanimoto_of(h.distance, h.reserved);
  return fmt::format("{:>{}}{}{:>{}}{}{:>{}}", t.similarity, width, separator, t.intersection,
                     width, separator, t.union_bits, width);
}

// Scans a popcount-ordered file (jitson/popcount.hpp): query by query on this thread, reading
// only the buckets the popcount bound admits (Tanimoto, full focus), with original indices.
std::vector<ScanResult> scan_popcount_file(const std::shared_ptr<const Kernel> &kernel,
                                           const uint8_t *queries, uint64_t n_queries,
                                           const RecordSet &db) {
  std::optional<PopcountOrder> order;
  try {
    order.emplace(PopcountOrder::of_file(*db.file));
  } catch (const Error &e) {
    throw InputError(e.what());
  }
  std::vector<ScanResult> results;
  const size_t bytes = kernel->plan().record_bytes;
  for (uint64_t q = 0; q < n_queries; ++q) {
    results.push_back(scan_popcount_ordered(kernel, queries + q * bytes, *order));
  }
  return results;
}

// Recall of planted neighbours (the truth file `jitson gen` writes beside its queries): how many
// were returned, and how many at their planted distance (a focus mask may shorten it).
nlohmann::json load_truth(const std::string &truth_path) {
  nlohmann::json truth;
  try {
    truth = nlohmann::json::parse(read_text_file(truth_path, SIZE_MAX, "truth file"));
  } catch (const nlohmann::json::exception &e) {
    throw InputError(fmt::format("{}: not a truth file: {}", truth_path, e.what()));
  }
  if (!truth.is_array()) throw InputError(fmt::format("{}: expected a JSON array", truth_path));
  for (const auto &t : truth) {
    if (!t.is_object() || !t.contains("query") || !t.contains("index") || !t.contains("distance") ||
        !t["query"].is_number_unsigned() || !t["index"].is_number_unsigned() ||
        !t["distance"].is_number_unsigned())
      throw InputError(
          fmt::format("{}: entries need unsigned query, index and distance", truth_path));
  }
  return truth;
}

std::string recall_text(const nlohmann::json &truth, const std::vector<ScanResult> &results) {
  uint64_t planted = 0, found = 0, exact = 0;
  for (const auto &t : truth) {
    uint64_t q = t["query"].get<uint64_t>();
    if (q >= results.size()) continue;
    ++planted;
    for (const Hit &h : results[q].hits) {
      if (h.index != t["index"].get<uint64_t>()) continue;
      ++found;
      exact += h.distance == t["distance"].get<uint32_t>();
    }
  }
  return fmt::format(
      "recall: {} of {} planted neighbours found ({:.1f}%), {} at their planted "
      "distance",
      found, planted, planted ? 100.0 * double(found) / double(planted) : 100.0, exact);
}

std::vector<uint8_t> query_from_hex(const std::string &hex, const ScanSpec &spec,
                                    const std::string &config_path) {
  size_t want = spec.record_bytes() * size_t{2};
  if (hex.size() != want)
    throw InputError(fmt::format(
        "--query-hex: {} hex digits ({} bits), but {} has record_bits {}: give exactly {} digits",
        hex.size(), hex.size() * 4, config_path, spec.record_bits, want));
  std::vector<uint8_t> query(spec.record_bytes());
  size_t bad = decode_hex(hex, query.data());
  if (bad != std::string_view::npos)
    throw InputError(
        fmt::format("--query-hex: bad hex digit '{}' at column {}", hex[bad], bad + 1));
  return query;
}

int run_scan(const ScanOptions &o) {
  ConfigSource source{o.config, {}};
  if (o.top_k) source.overrides.push_back({"--top-k", "top_k", *o.top_k});
  if (o.max_distance)
    source.overrides.push_back({"--max-distance", "max_distance", *o.max_distance});
  if (o.min_similarity)
    source.overrides.push_back({"--min-similarity", "min_similarity", {}, *o.min_similarity});
  if (!o.backend.empty()) source.overrides.push_back({"--backend", "backend", o.backend});
  if (!o.isa.empty()) source.overrides.push_back({"--isa", "isa", o.isa});
  if (o.query_hex.empty() == o.queries.empty())
    throw InputError("give exactly one of --query-hex HEX or --queries FILE");

  if (o.raw_bits) check_record_bits_option("--raw-bits", *o.raw_bits);

  ScanSpec spec = source.load();
  RecordInputs inputs = load_record_inputs(spec, o.config, o.db, o.queries, o.raw_bits);
  RecordSet &db = inputs.db;

  std::vector<uint8_t> hex_query;
  const uint8_t *queries = nullptr;
  uint64_t n_queries = 0;
  if (!o.query_hex.empty()) {
    hex_query = query_from_hex(o.query_hex, spec, o.config);
    queries = hex_query.data();
    n_queries = 1;
  } else {
    queries = inputs.queries.view.data;
    n_queries = inputs.queries.view.n_records;
  }

  nlohmann::json truth;
  if (!o.truth.empty()) truth = load_truth(o.truth);

  EngineOptions engine_options;
  engine_options.threads = o.threads;
  Engine engine(engine_options);
  std::shared_ptr<const Kernel> kernel = source.compile(engine, spec);

  auto start = std::chrono::steady_clock::now();
  const bool popcount_file = db.file && db.file->popcount_section() != nullptr;
  std::vector<ScanResult> results =
      popcount_file ? scan_popcount_file(kernel, queries, n_queries, db)
                    : scan_in_windows(*kernel, queries, n_queries, db, o.threads);
  const bool tanimoto = kernel->plan().spec.metric == Metric::tanimoto;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  ScanStats total;
  for (const ScanResult &r : results) total += r.stats;
  const size_t stages = stage_count(*kernel);

  std::string out;
  if (o.format == "json") {
    // One line per query keeps large results readable and greppable; still plain JSON.
    nlohmann::ordered_json config = nlohmann::ordered_json::parse(spec.canonical_json());
    out = fmt::format("{{\n  \"config\": {},\n  \"kernel\": {},\n  \"results\": [",
                      one_line_json(config), nlohmann::ordered_json(kernel->describe()).dump());
    for (uint64_t q = 0; q < results.size(); ++q) {
      out += fmt::format("{}\n    {{\"query\": {}, \"hits\": [", q ? "," : "", q);
      for (size_t i = 0; i < results[q].hits.size(); ++i) {
        const Hit &h = results[q].hits[i];
        if (tanimoto) {
          const TanimotoHit t = tanimoto_of(h.distance, h.reserved);
          out += fmt::format(
              "{}{{\"index\": {}, \"similarity\": {}, \"intersection\": {}, \"union\": {}}}",
              i ? ", " : "", h.index, t.similarity, t.intersection, t.union_bits);
        } else {
          out += fmt::format("{}{{\"index\": {}, \"distance\": {}}}", i ? ", " : "", h.index,
                             h.distance);
        }
      }
      out += "]}";
    }
    out += fmt::format("{}],\n  \"stats\": {},\n  \"seconds\": {}\n}}\n",
                       results.empty() ? "" : "\n  ", one_line_json(stats_json(total, stages)),
                       nlohmann::ordered_json(seconds).dump());
  } else if (o.format == "csv") {
    out = tanimoto ? "query,rank,index,similarity,intersection,union\n"
                   : "query,rank,index,distance\n";
    for (uint64_t q = 0; q < results.size(); ++q)
      for (size_t r = 0; r < results[q].hits.size(); ++r)
        out += fmt::format("{},{},{},{}\n", q, r + 1, results[q].hits[r].index,
                           hit_columns(results[q].hits[r], tanimoto, ",", 0));
  } else {
    out = tanimoto
              ? fmt::format("{:>5}  {:>4}  {:>12}  {:>20}  {:>12}  {:>12}\n", "query", "rank",
                            "index", "similarity", "intersection", "union")
              : fmt::format("{:>5}  {:>4}  {:>12}  {:>8}\n", "query", "rank", "index", "distance");
    for (uint64_t q = 0; q < results.size(); ++q)
      for (size_t r = 0; r < results[q].hits.size(); ++r)
        out += fmt::format("{:>5}  {:>4}  {:>12}  {}\n", q, r + 1, results[q].hits[r].index,
                           tanimoto ? hit_columns(results[q].hits[r], true, "  ", 12)
                                    : hit_columns(results[q].hits[r], false, "", 8));
  }
  fmt::print("{}", out);
  if (!o.truth.empty()) {
    std::fflush(stdout);
    fmt::print(stderr, "{}\n", recall_text(truth, results));
  }
  if (o.stats && o.format != "json") {
    std::fflush(stdout);
    fmt::print(stderr, "kernel: {}\n{}\n", kernel->describe(), stats_text(total, stages, seconds));
  }
  return kExitOk;
}

}  // namespace

void add_scan_command(CLI::App &app, Action &action) {
  auto o = std::make_shared<ScanOptions>();
  CLI::App *sub = app.add_subcommand(
      "scan", "Scan a fingerprint file with a config: hits (index, distance) per query");
  sub->add_option("--config", o->config, "Scan config file (JSON)")->required();
  sub->add_option("--db", o->db,
                  "Database: .jfp (memory-mapped), .raw/.bin (or any name with --raw-bits), or "
                  ".hex/.txt")
      ->required();
  CLI::Option *hex =
      sub->add_option("--query-hex", o->query_hex, "One query as hex (record_bits/4 digits)");
  CLI::Option *file =
      sub->add_option("--queries", o->queries, "Query file (.jfp, .raw/.bin or .hex/.txt)");
  hex->excludes(file);
  non_negative(sub->add_option(
      "--raw-bits", o->raw_bits,
      "Read --db (and a --queries file not named .jfp/.hex/.txt) as headerless raw records of "
      "this many bits, whatever the name; must equal the config's record_bits"));
  sub->add_option("--threads", o->threads, "Scan threads (0 = all cores)")
      ->check(CLI::Range(0u, 4096u))
      ->capture_default_str();
  sub->add_option("--top-k", o->top_k, "Override the config's top_k");
  sub->add_option("--max-distance", o->max_distance, "Override the config's max_distance");
  sub->add_option("--min-similarity", o->min_similarity,
                  "Override the config's min_similarity (metric tanimoto), a decimal in [0, 1] "
                  "compared exactly as written");
  sub->add_option("--backend", o->backend, "Override the config's backend");
  sub->add_option("--isa", o->isa, "Override the config's isa");
  sub->add_option("--format", o->format, "Output: table, json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
  sub->add_option("--truth", o->truth,
                  "Truth file of planted neighbours (from gen --queries-out): prints the recall "
                  "on stderr");
  sub->add_flag("--stats", o->stats,
                "Print the kernel and the scan statistics (on stderr for table and csv; always "
                "in json)");
  sub->footer(
      "Overrides replace config fields and are checked by the same rules as the file.\n"
      "Metric tanimoto prints similarity, intersection and union per hit, best first; over a\n"
      "popcount-ordered file (jitson convert --order popcount) it reads only the records the\n"
      "popcount bound admits (stats: bound_skipped).\n"
      "A progress bar appears on stderr only if it is a terminal and the scan takes > 1 s.\n"
      "Examples:\n"
      "  jitson scan --config configs/examples/full-focus.json --db db.jfp --queries q.jfp "
      "--stats\n"
      "  jitson scan --config cfg.json --db db.jfp --query-hex 00ff... --top-k 5 --format json\n"
      "  jitson scan --config cfg.json --db records.dat --raw-bits 16384 --queries q.jfp");
  sub->callback([o, &action] { action = [o] { return run_scan(*o); }; });
}

}  // namespace jitson::cli
