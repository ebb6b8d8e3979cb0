// jitson gen: a random database, streamed in constant memory and written atomically, optionally
// with queries whose planted neighbours lie at a known distance (and a truth file listing them).
#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <unordered_set>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "common.hpp"
#include "jitson/database.hpp"

namespace jitson::cli {
namespace {

struct GenOptions {
  uint32_t bits = 0;
  uint64_t count = 0;
  std::string out;
  uint64_t seed = 42;
  uint64_t queries = 0;
  std::string queries_out;
  uint64_t plant = 1;
  std::optional<uint32_t> flip_bits;
};

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// xoshiro256** (Blackman and Vigna): fast, and each (seed, stream) pair gives its own sequence,
// so the database records do not depend on whether queries are planted.
class Random {
 public:
  Random(uint64_t seed, uint64_t stream) {
    uint64_t x = mix64(seed + 0x9e3779b97f4a7c15ull) ^ mix64(stream ^ 0x5851f42d4c957f2dull);
    for (auto &word : s_) {
      x += 0x9e3779b97f4a7c15ull;
      word = mix64(x);
    }
  }
  uint64_t next() {
    uint64_t result = rotl(s_[1] * 5, 7) * 9;
    uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, bound) by multiply-shift (bias below 2^-64 * bound: irrelevant here).
  uint64_t below(uint64_t bound) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * bound) >> 64);
  }
  void fill(uint8_t *out, size_t bytes) {  // bytes is a multiple of 8 (whole records)
    for (size_t i = 0; i < bytes; i += 8) {
      uint64_t word = next();
      std::memcpy(out + i, &word, 8);
    }
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

constexpr uint64_t kStreamRecords = 0, kStreamQueries = 1, kStreamPlacement = 2;
constexpr uint64_t kStreamFlipsBase = uint64_t{1} << 63;  // + plant number

struct Plant {
  uint64_t index;  // record index in the database
  uint64_t query;
  uint64_t id;  // plant number: seeds its bit flips
};

// Copies the query and flips exactly `flips` distinct bits chosen by Floyd's algorithm: bit t
// "already chosen" is exactly "record bit differs from the query bit", so no extra set is needed.
void make_planted(const uint8_t *query, uint8_t *record, uint32_t record_bits, uint32_t flips,
                  Random &random) {
  std::memcpy(record, query, record_bits / 8);
  for (uint64_t j = record_bits - flips; j < record_bits; ++j) {
    uint64_t t = random.below(j + 1);
    bool already = ((record[t / 8] ^ query[t / 8]) >> (t % 8)) & 1;
    uint64_t bit = already ? j : t;
    record[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  }
}

// n distinct indices in [0, count), in random order (Floyd's sampling, then a shuffle).
std::vector<uint64_t> distinct_indices(uint64_t n, uint64_t count, Random &random) {
  std::vector<uint64_t> chosen;
  chosen.reserve(n);
  std::unordered_set<uint64_t> taken;
  taken.reserve(n);
  for (uint64_t j = count - n; j < count; ++j) {
    uint64_t t = random.below(j + 1);
    uint64_t pick = taken.insert(t).second ? t : j;
    if (pick == j) taken.insert(j);
    chosen.push_back(pick);
  }
  for (uint64_t i = chosen.size(); i > 1; --i) std::swap(chosen[i - 1], chosen[random.below(i)]);
  return chosen;
}

std::unique_ptr<FingerprintWriter> open_writer(const std::string &path, uint32_t bits,
                                               uint64_t count) {
  try {
    return std::make_unique<FingerprintWriter>(path, bits, count);
  } catch (const Error &e) {
    throw InputError(e.what());
  }
}

int run_gen(const GenOptions &o) {
  if (o.bits < 64 || o.bits > 65536 || o.bits % 64 != 0)
    throw InputError(fmt::format("--bits {}: must be a multiple of 64 from 64 to 65536", o.bits));
  // Before any work: a FIFO or device at an output path is refused, never replaced.
  const std::string out_path = output_path(o.out);
  const std::string queries_path =
      o.queries_out.empty() ? std::string() : output_path(o.queries_out);
  const std::string truth_path =
      o.queries_out.empty() ? std::string() : output_path(o.queries_out + ".truth.json");
  const uint32_t record_bytes = o.bits / 8;
  const bool with_queries = !o.queries_out.empty();
  const uint32_t flips = o.flip_bits.value_or(o.bits / 64);
  uint64_t n_plants = 0;
  if (with_queries) {
    if (same_file(o.out, o.queries_out) || o.out == o.queries_out || out_path == queries_path)
      throw InputError("--out and --queries-out name the same file");
    if (flips > o.bits)
      throw InputError(fmt::format("--flip-bits {}: at most --bits {}", flips, o.bits));
    if (o.plant != 0 && o.queries > UINT64_MAX / o.plant)
      throw InputError("--queries × --plant overflows");
    n_plants = o.queries * o.plant;
    if (n_plants > o.count)
      throw InputError(fmt::format(
          "--queries {} × --plant {} = {} planted neighbours need as many distinct records, but "
          "--count is {}",
          o.queries, o.plant, n_plants, o.count));
    if (o.queries > (uint64_t{1} << 32) / record_bytes)
      throw InputError(fmt::format("--queries {}: too many to hold in memory", o.queries));
  }

  auto start = std::chrono::steady_clock::now();
  install_cleanup_handlers();

  std::vector<uint8_t> queries(o.queries * record_bytes);
  std::vector<Plant> plants;
  if (with_queries) {
    Random query_random(o.seed, kStreamQueries);
    query_random.fill(queries.data(), queries.size());
    Random placement(o.seed, kStreamPlacement);
    std::vector<uint64_t> indices = distinct_indices(n_plants, o.count, placement);
    plants.reserve(n_plants);
    for (uint64_t p = 0; p < n_plants; ++p) plants.push_back({indices[p], p / o.plant, p});
    std::sort(plants.begin(), plants.end(),
              [](const Plant &a, const Plant &b) { return a.index < b.index; });
  }

  TemporaryFileGuard db_guard(temporary_path_for(out_path));
  std::unique_ptr<FingerprintWriter> db = open_writer(out_path, o.bits, o.count);

  std::optional<TemporaryFileGuard> queries_guard;
  std::unique_ptr<FingerprintWriter> query_writer;
  std::unique_ptr<AtomicTextFile> truth;
  if (with_queries) {
    queries_guard.emplace(temporary_path_for(queries_path));
    query_writer = open_writer(queries_path, o.bits, o.queries);
    query_writer->write(queries.data(), queries.size());
    truth = std::make_unique<AtomicTextFile>(truth_path);
    std::vector<Plant> by_query = plants;
    std::sort(by_query.begin(), by_query.end(), [](const Plant &a, const Plant &b) {
      return a.query != b.query ? a.query < b.query : a.index < b.index;
    });
    std::string text = "[";
    for (size_t i = 0; i < by_query.size(); ++i)
      text += fmt::format("{}\n  {{\"query\": {}, \"index\": {}, \"distance\": {}}}", i ? "," : "",
                          by_query[i].query, by_query[i].index, flips);
    text += by_query.empty() ? "]\n" : "\n]\n";
    truth->write(text);
  }

  // Records are generated in order in chunks of about 1 MiB; planted ones replace the random
  // record at their index as the stream passes it.
  const uint64_t chunk_records = std::max<uint64_t>(1, (uint64_t{1} << 20) / record_bytes);
  std::vector<uint8_t> chunk(std::min(chunk_records, std::max<uint64_t>(o.count, 1)) *
                             record_bytes);
  Random record_random(o.seed, kStreamRecords);
  ProgressBar progress(o.count, "records");
  size_t next_plant = 0;
  for (uint64_t begin = 0; begin < o.count; begin += chunk_records) {
    uint64_t n = std::min(chunk_records, o.count - begin);
    record_random.fill(chunk.data(), n * record_bytes);
    for (; next_plant < plants.size() && plants[next_plant].index < begin + n; ++next_plant) {
      const Plant &p = plants[next_plant];
      Random flip_random(o.seed, kStreamFlipsBase + p.id);
      make_planted(queries.data() + p.query * record_bytes,
                   chunk.data() + (p.index - begin) * record_bytes, o.bits, flips, flip_random);
    }
    db->write(chunk.data(), n * record_bytes);
    progress.update(begin + n);
  }
  progress.finish();

  db->commit();
  if (with_queries) {
    query_writer->commit();
    truth->commit();
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("wrote {}: {} records of {} bits ({}) in {:.2f} s\n", o.out, o.count, o.bits,
             human_bytes(static_cast<double>(o.count) * record_bytes), seconds);
  if (with_queries)
    fmt::print(
        "wrote {}: {} queries; {} planted neighbours per query at distance {}, listed in {}\n",
        o.queries_out, o.queries, o.plant, flips, truth_path);
  return kExitOk;
}

}  // namespace

void add_gen_command(CLI::App &app, Action &action) {
  auto o = std::make_shared<GenOptions>();
  CLI::App *sub = app.add_subcommand(
      "gen",
      "Write a random database (streamed, atomically), optionally with queries whose planted "
      "neighbours lie at a known distance");
  non_negative(
      sub->add_option("--bits", o->bits, "Bits per record: a multiple of 64 from 64 to 65536"))
      ->required();
  non_negative(sub->add_option("--count", o->count, "Number of records"))->required();
  sub->add_option("--out", o->out, "Database file to write (jfp format)")->required();
  non_negative(sub->add_option("--seed", o->seed, "Seed of the generator"))->capture_default_str();
  CLI::Option *queries =
      non_negative(sub->add_option("--queries", o->queries, "Number of queries to write"));
  CLI::Option *queries_out =
      sub->add_option("--queries-out", o->queries_out,
                      "Query file to write (jfp); the planted neighbours go to FILE.truth.json");
  queries->needs(queries_out);
  queries_out->needs(queries);
  non_negative(
      sub->add_option("--plant", o->plant, "Planted neighbours per query, at distinct records"))
      ->capture_default_str()
      ->needs(queries);
  non_negative(sub->add_option(
                   "--flip-bits", o->flip_bits,
                   "Bits flipped in each planted neighbour (its exact distance); default bits/64"))
      ->needs(queries);
  sub->footer(
      "Example:\n"
      "  jitson gen --bits 16384 --count 20000 --out db.jfp --seed 7 \\\n"
      "      --queries 10 --queries-out q.jfp --plant 3 --flip-bits 300\n"
      "q.jfp.truth.json then lists {\"query\": q, \"index\": i, \"distance\": 300} for each "
      "planted\n"
      "neighbour. An interrupted run leaves no db.jfp (SIGKILL may leave db.jfp.tmp.<pid>).");
  sub->callback([o, &action] { action = [o] { return run_gen(*o); }; });
}

}  // namespace jitson::cli
