// Runs the built `jitson` command (JITSON_CLI_PATH) and checks its output, exit codes, error
// lines and files: every subcommand's success path, its error paths, gen → scan round trips
// against the scalar oracle, byte-identical conversions, and interrupted writes.
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "jitson/cpu.hpp"
#include "jitson/database.hpp"
#include "support/oracle.hpp"

extern char **environ;

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kCli = JITSON_CLI_PATH;
const std::string kExamples = std::string(JITSON_SOURCE_DIR) + "/configs/examples";

struct RunResult {
  int exit_code = -1;  // -1 when killed by a signal
  int term_signal = 0;
  std::string out, err;
};

std::vector<char *> c_argv(std::vector<std::string> &args) {
  std::vector<char *> argv;
  for (auto &a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

std::vector<char *> c_env(std::vector<std::string> &storage,
                          const std::vector<std::string> &extra) {
  for (char **e = environ; *e; ++e) storage.emplace_back(*e);
  for (const auto &x : extra) storage.push_back(x);
  std::vector<char *> env;
  for (auto &s : storage) env.push_back(s.data());
  env.push_back(nullptr);
  return env;
}

RunResult wait_for(pid_t pid) {
  RunResult r;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.term_signal = WTERMSIG(status);
  return r;
}

// Runs `jitson args...` with stdout and stderr captured through pipes (or stderr on a given
// descriptor, e.g. a terminal), and waits for it.
RunResult run_cli(std::vector<std::string> args, const std::vector<std::string> &env_extra = {},
                  int stderr_fd = -1, std::string *terminal_output = nullptr,
                  int terminal_master = -1) {
  args.insert(args.begin(), kCli);
  int out_pipe[2], err_pipe[2];
  EXPECT_EQ(pipe(out_pipe), 0);
  EXPECT_EQ(pipe(err_pipe), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, stderr_fd >= 0 ? stderr_fd : err_pipe[1], 2);
  posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
  posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
  if (terminal_master >= 0) posix_spawn_file_actions_addclose(&actions, terminal_master);
  std::vector<std::string> env_storage;
  auto argv = c_argv(args);
  auto envp = c_env(env_storage, env_extra);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, kCli.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (stderr_fd >= 0) close(stderr_fd);
  EXPECT_EQ(rc, 0) << "cannot spawn " << kCli;

  std::string out, err;
  std::vector<pollfd> fds = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  if (terminal_master >= 0) fds.push_back({terminal_master, POLLIN, 0});
  std::string *sinks[] = {&out, &err, terminal_output};
  size_t open_fds = fds.size();
  char buffer[65536];
  while (open_fds > 0) {
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else {  // EOF, or EIO from a terminal whose other side closed
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  RunResult r = wait_for(pid);
  r.out = std::move(out);
  r.err = std::move(err);
  return r;
}

std::string describe(const RunResult &r) {
  return "exit " + std::to_string(r.exit_code) + " signal " + std::to_string(r.term_signal) +
         "\n--- stdout:\n" + r.out + "\n--- stderr:\n" + r.err;
}

// The error contract: exit 2, nothing on stdout, exactly one line on stderr starting "jitson: ".
void expect_usage_error(const RunResult &r, const std::string &must_contain) {
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_EQ(r.out, "") << describe(r);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << describe(r);
  EXPECT_EQ(r.err.rfind("jitson: ", 0), 0u) << describe(r);
  EXPECT_NE(r.err.find(must_contain), std::string::npos)
      << "stderr lacks \"" << must_contain << "\"\n"
      << describe(r);
}

std::vector<uint8_t> read_bytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

std::string read_text(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const std::string &path, const std::string &text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::vector<std::string> lines_of(const std::string &text) {
  std::vector<std::string> lines;
  std::stringstream s(text);
  for (std::string line; std::getline(s, line);) lines.push_back(line);
  return lines;
}

std::string hex_of(const uint8_t *p, size_t n) {
  static const char *digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "jitson_cli_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string &name) const { return (fs::path(dir_) / name).string(); }

  std::string config(const std::string &name, const std::string &body) {
    std::string p = path(name);
    write_text(p, body);
    return p;
  }

  // A database with queries and planted neighbours; returns the truth entries.
  json gen(uint32_t bits, uint64_t count, uint64_t queries, uint64_t plant, uint32_t flips,
           uint64_t seed = 9) {
    RunResult r = run_cli({"gen", "--bits", std::to_string(bits), "--count", std::to_string(count),
                           "--out", path("db.jfp"), "--seed", std::to_string(seed), "--queries",
                           std::to_string(queries), "--queries-out", path("q.jfp"), "--plant",
                           std::to_string(plant), "--flip-bits", std::to_string(flips)});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    return json::parse(read_text(path("q.jfp.truth.json")));
  }

  std::vector<std::string> dir_entries() const {
    std::vector<std::string> names;
    for (auto &e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string dir_;
};

// ---------------------------------------------------------------- info, help, usage

TEST_F(CliTest, InfoText) {
  RunResult r = run_cli({"info"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out.rfind("jitson ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find(std::string("isa: best ") + jitson::isa_name(jitson::best_isa())),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("backends:"), std::string::npos);
  EXPECT_NE(r.out.find("runtime=built in"), std::string::npos);
  EXPECT_EQ(r.err, "");
}

TEST_F(CliTest, InfoJson) {
  RunResult r = run_cli({"info", "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  json j = json::parse(r.out);
  EXPECT_FALSE(j.at("jitson").get<std::string>().empty());
  EXPECT_EQ(j.at("best_isa"), jitson::isa_name(jitson::best_isa()));
  EXPECT_EQ(j.at("active_isa"), jitson::isa_name(jitson::active_isa()));
  EXPECT_EQ(j.at("cpu").at("features").at("avx2").get<bool>(), jitson::cpu_features().avx2);
  EXPECT_EQ(j.at("isas").size(), jitson::list_isas().size());
  EXPECT_TRUE(j.at("backends").at("runtime").get<bool>());
#ifdef JITSON_HAVE_XBYAK
  EXPECT_TRUE(j.at("backends").at("xbyak").get<bool>());
  EXPECT_FALSE(j.at("xbyak").get<std::string>().empty());
#endif
#ifdef JITSON_HAVE_LLVM
  EXPECT_TRUE(j.at("backends").at("llvm").get<bool>());
#else
  EXPECT_FALSE(j.at("backends").at("llvm").get<bool>());
#endif
}

TEST_F(CliTest, EveryHelpHasAnExample) {
  RunResult main_help = run_cli({"--help"});
  EXPECT_EQ(main_help.exit_code, 0);
  EXPECT_NE(main_help.out.find("Exit codes: 0 success; 1 runtime failure"), std::string::npos)
      << main_help.out;
  for (std::string sub : {"info", "validate", "compile", "gen", "convert", "scan", "bench"}) {
    RunResult r = run_cli({sub, "--help"});
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_NE(r.out.find("Example"), std::string::npos) << sub << ":\n" << r.out;
    EXPECT_NE(r.out.find("jitson " + sub), std::string::npos) << sub << ":\n" << r.out;
  }
}

TEST_F(CliTest, BadUsageExitsTwoWithOneLine) {
  expect_usage_error(run_cli({}), "subcommand");
  expect_usage_error(run_cli({"frobnicate"}), "unknown subcommand \"frobnicate\"; one of: info,");
  expect_usage_error(run_cli({"info", "--bogus"}), "--bogus");
  expect_usage_error(run_cli({"info", "--format", "xml"}), "xml");
  expect_usage_error(run_cli({"gen", "--bits", "64", "--count", "ten", "--out", path("x.jfp")}),
                     "ten");
  expect_usage_error(run_cli({"scan", "--db", path("db.jfp")}), "--config");
  expect_usage_error(run_cli({"gen", "--bits", "64", "--count", "-5", "--out", path("x.jfp")}),
                     "must be a non-negative integer, not -5");
  EXPECT_TRUE(dir_entries().empty());
}

// ---------------------------------------------------------------- validate

TEST_F(CliTest, ValidateExamples) {
  std::vector<std::string> args = {"validate"};
  for (auto &e : fs::directory_iterator(kExamples))
    if (e.path().extension() == ".json") args.push_back(e.path().string());
  ASSERT_GE(args.size(), 2u) << "no example configs in " << kExamples;
  RunResult r = run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), args.size() - 1);
  for (size_t i = 1; i < args.size(); ++i) EXPECT_EQ(lines[i - 1], args[i] + ": ok");
  EXPECT_EQ(r.err, "");
}

TEST_F(CliTest, ValidateReportsPointerPerFile) {
  std::string good = config("good.json", R"({"version": 1, "record_bits": 64, "max_distance": 3})");
  std::string bad =
      config("bad.json", R"({"version": 1, "record_bits": 64, "max_distance": 3, "top_k": 0})");
  std::string unknown = config(
      "unknown.json", R"({"version": 1, "record_bits": 64, "max_distance": 3, "colour": 1})");
  RunResult r = run_cli({"validate", good, bad, unknown, path("missing.json")});
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_EQ(r.out, good + ": ok\n");
  auto errors = lines_of(r.err);
  ASSERT_EQ(errors.size(), 3u) << r.err;
  EXPECT_EQ(errors[0].rfind(bad + ": /top_k: ", 0), 0u) << errors[0];
  EXPECT_EQ(errors[1].rfind(unknown + ": /colour: ", 0), 0u) << errors[1];
  EXPECT_EQ(errors[2].rfind(path("missing.json") + ": cannot open", 0), 0u) << errors[2];
}

TEST_F(CliTest, ValidatePlansTheIsa) {
  std::string avx512 = config(
      "avx512.json", R"({"version": 1, "record_bits": 128, "max_distance": 3, "isa": "avx512"})");
  RunResult r = run_cli({"validate", avx512});
  if (jitson::isa_supported(jitson::Isa::avx512)) {
    EXPECT_EQ(r.exit_code, 0) << describe(r);
  } else {
    EXPECT_EQ(r.exit_code, 2) << describe(r);
    EXPECT_EQ(r.err.rfind(avx512 + ": /isa: ", 0), 0u) << r.err;
  }
}

// ---------------------------------------------------------------- compile

TEST_F(CliTest, CompileDescribesAndDumps) {
  std::string full = kExamples + "/full-focus.json";
  RunResult r = run_cli({"compile", full});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("record_bits=16384"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("compile time: "), std::string::npos) << r.out;

  RunResult runtime = run_cli({"compile", full, "--backend", "runtime"});
  ASSERT_EQ(runtime.exit_code, 0) << describe(runtime);
  EXPECT_EQ(runtime.out.rfind("runtime", 0), 0u) << runtime.out;

  RunResult plan = run_cli({"compile", full, "--dump", "plan"});
  ASSERT_EQ(plan.exit_code, 0) << describe(plan);
  EXPECT_TRUE(json::accept(plan.out)) << plan.out;

  RunResult to_file = run_cli({"compile", full, "--dump", "plan", "--out", path("plan.json")});
  ASSERT_EQ(to_file.exit_code, 0) << describe(to_file);
  EXPECT_EQ(to_file.out, "");
  EXPECT_EQ(read_text(path("plan.json")), plan.out);
  EXPECT_EQ(dir_entries(), std::vector<std::string>{"plan.json"});

#if defined(JITSON_HAVE_XBYAK) && defined(JITSON_HAVE_LLVM)
  RunResult asm_dump = run_cli({"compile", full, "--backend", "xbyak", "--dump", "asm"});
  ASSERT_EQ(asm_dump.exit_code, 0) << describe(asm_dump);
  EXPECT_GT(lines_of(asm_dump.out).size(), 5u) << asm_dump.out;
  EXPECT_NE(asm_dump.out.find("ret"), std::string::npos) << asm_dump.out;
#endif
#ifdef JITSON_HAVE_LLVM
  RunResult ir = run_cli({"compile", full, "--backend", "llvm", "--dump", "ir"});
  ASSERT_EQ(ir.exit_code, 0) << describe(ir);
  EXPECT_NE(ir.out.find("define"), std::string::npos) << ir.out;
#endif
}

TEST_F(CliTest, CompileErrors) {
  std::string full = kExamples + "/full-focus.json";
  expect_usage_error(run_cli({"compile", full, "--backend", "runtime", "--dump", "ir"}),
                     "--dump ir needs the llvm backend");
  expect_usage_error(run_cli({"compile", full, "--isa", "avx9"}), "--isa avx9: /isa: ");
  expect_usage_error(run_cli({"compile", full, "--backend", "runtime", "--dump", "asm"}),
                     "--dump asm: no disassembly for this runtime kernel");
#ifndef JITSON_HAVE_LLVM
  expect_usage_error(run_cli({"compile", full, "--dump", "asm"}),
                     "the disassembler comes with the LLVM build");
#endif
  expect_usage_error(run_cli({"compile", full, "--dump", "pdf"}), "pdf");
  expect_usage_error(run_cli({"compile", path("nope.json")}), "nope.json: cannot open");
  std::string bad = config("bad.json", R"({"version": 2, "record_bits": 64, "max_distance": 3})");
  expect_usage_error(run_cli({"compile", bad}), bad + ": /version: ");
#ifndef JITSON_HAVE_LLVM
  expect_usage_error(run_cli({"compile", full, "--backend", "llvm"}), "--backend llvm: /backend: ");
#endif
  expect_usage_error(run_cli({"compile", full, "--dump", "plan", "--out", path("no/dir/x.json")}),
                     "cannot create");
  EXPECT_EQ(dir_entries(), std::vector<std::string>{"bad.json"});
}

// ---------------------------------------------------------------- gen → scan

TEST_F(CliTest, GenWritesPlantedNeighboursAtTheirDistance) {
  const uint32_t bits = 256, bytes = bits / 8, flips = 5;
  json truth = gen(bits, 3000, 6, 3, flips);
  ASSERT_EQ(truth.size(), 18u);
  auto db = jitson::FingerprintFile::open(path("db.jfp"));
  auto queries = jitson::FingerprintFile::open(path("q.jfp"));
  ASSERT_EQ(db.view().n_records, 3000u);
  ASSERT_EQ(db.header().record_bits, bits);
  ASSERT_EQ(queries.view().n_records, 6u);
  std::set<uint64_t> indices;
  std::vector<int> per_query(6, 0);
  for (const json &t : truth) {
    uint64_t q = t.at("query"), i = t.at("index");
    ASSERT_LT(q, 6u);
    ASSERT_LT(i, 3000u);
    EXPECT_EQ(t.at("distance"), flips);
    indices.insert(i);
    ++per_query[q];
    EXPECT_EQ(jitson::oracle::hamming(queries.view().record(q), db.view().record(i), bytes), flips);
  }
  EXPECT_EQ(indices.size(), 18u) << "planted indices must be distinct";
  for (int n : per_query) EXPECT_EQ(n, 3);

  // Same seed, same bytes; without queries only the planted records differ.
  std::vector<uint8_t> first = read_bytes(path("db.jfp"));
  gen(bits, 3000, 6, 3, flips);
  EXPECT_EQ(read_bytes(path("db.jfp")), first);
  RunResult plain = run_cli(
      {"gen", "--bits", "256", "--count", "3000", "--out", path("plain.jfp"), "--seed", "9"});
  ASSERT_EQ(plain.exit_code, 0) << describe(plain);
  std::vector<uint8_t> unplanted = read_bytes(path("plain.jfp"));
  ASSERT_EQ(unplanted.size(), first.size());
  for (uint64_t i = 0; i < 3000; ++i) {
    bool same = std::equal(first.begin() + 64 + i * bytes, first.begin() + 64 + (i + 1) * bytes,
                           unplanted.begin() + 64 + i * bytes);
    EXPECT_EQ(same, !indices.count(i)) << "record " << i;
  }
  RunResult other_seed = run_cli(
      {"gen", "--bits", "256", "--count", "3000", "--out", path("other.jfp"), "--seed", "10"});
  ASSERT_EQ(other_seed.exit_code, 0);
  EXPECT_NE(read_bytes(path("other.jfp")), unplanted);
}

TEST_F(CliTest, GenScanRoundTripFindsEveryPlantedNeighbour) {
  const uint32_t bits = 256, flips = 5;
  json truth = gen(bits, 3000, 6, 3, flips);
  std::string cfg = config("cfg.json", R"({"version": 1, "record_bits": 256, "max_distance": 5,
                                           "top_k": 3, "cascade": {"mode": "exact"}})");
  RunResult r = run_cli({"scan", "--config", cfg, "--db", path("db.jfp"), "--queries",
                         path("q.jfp"), "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.err, "");
  json j = json::parse(r.out);
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  // nlohmann::json iterates sorted; check the text order separately.
  EXPECT_LT(r.out.find("\"config\""), r.out.find("\"kernel\""));
  EXPECT_LT(r.out.find("\"kernel\""), r.out.find("\"results\""));
  EXPECT_LT(r.out.find("\"results\""), r.out.find("\"stats\""));
  EXPECT_LT(r.out.find("\"stats\""), r.out.find("\"seconds\""));
  EXPECT_EQ(keys.size(), 5u);
  EXPECT_EQ(j.at("config").at("record_bits"), 256);
  EXPECT_EQ(j.at("config").at("top_k"), 3);
  EXPECT_FALSE(j.at("kernel").get<std::string>().empty());
  EXPECT_GE(j.at("seconds").get<double>(), 0.0);
  const json &stats = j.at("stats");
  EXPECT_EQ(stats.at("records"), 6 * 3000);
  EXPECT_GE(stats.at("hits").get<uint64_t>(), 18u);
  EXPECT_TRUE(stats.at("rejected_by_stage").is_array());
  EXPECT_EQ(stats.at("statistically_pruned"), 0);

  ASSERT_EQ(j.at("results").size(), 6u);
  for (const json &t : truth) {
    const json &hits = j.at("results").at(t.at("query").get<size_t>()).at("hits");
    bool found = false;
    for (const json &h : hits)
      if (h.at("index") == t.at("index")) {
        found = true;
        EXPECT_EQ(h.at("distance"), flips);
      }
    EXPECT_TRUE(found) << "planted neighbour " << t.dump() << " not found";
  }

  // Exactly the oracle's answer for every query.
  auto db = jitson::FingerprintFile::open(path("db.jfp"));
  auto queries = jitson::FingerprintFile::open(path("q.jfp"));
  for (uint64_t q = 0; q < 6; ++q) {
    auto expected =
        jitson::oracle::scan(queries.view().record(q), db.view().data, 3000, bits / 8, {}, 5, 3);
    const json &hits = j.at("results").at(q).at("hits");
    ASSERT_EQ(hits.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(hits[i].at("index"), expected[i].index);
      EXPECT_EQ(hits[i].at("distance"), expected[i].distance);
    }
  }
}

TEST_F(CliTest, ScanFormatsAndOverrides) {
  json truth = gen(256, 2000, 2, 2, 4);
  std::string cfg = config("cfg.json", R"({"version": 1, "record_bits": 256, "max_distance": 4,
                                           "top_k": 10})");
  std::vector<std::string> base = {"scan",         "--config",  cfg,          "--db",
                                   path("db.jfp"), "--queries", path("q.jfp")};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  };

  RunResult csv = with({"--format", "csv"});
  ASSERT_EQ(csv.exit_code, 0) << describe(csv);
  auto csv_lines = lines_of(csv.out);
  ASSERT_EQ(csv_lines.size(), 5u) << csv.out;
  EXPECT_EQ(csv_lines[0], "query,rank,index,distance");
  std::set<std::string> expected_rows;
  std::vector<std::vector<uint64_t>> by_query(2);
  for (const json &t : truth) by_query[t.at("query").get<size_t>()].push_back(t.at("index"));
  for (size_t q = 0; q < 2; ++q) {
    std::sort(by_query[q].begin(), by_query[q].end());  // equal distances: by index
    for (size_t r = 0; r < 2; ++r)
      expected_rows.insert(std::to_string(q) + "," + std::to_string(r + 1) + "," +
                           std::to_string(by_query[q][r]) + ",4");
  }
  EXPECT_EQ(std::set<std::string>(csv_lines.begin() + 1, csv_lines.end()), expected_rows);
  EXPECT_EQ(csv.err, "");

  RunResult table = with({"--stats"});
  ASSERT_EQ(table.exit_code, 0) << describe(table);
  auto table_lines = lines_of(table.out);
  ASSERT_EQ(table_lines.size(), 5u) << table.out;
  EXPECT_NE(table_lines[0].find("query"), std::string::npos);
  EXPECT_NE(table_lines[0].find("distance"), std::string::npos);
  EXPECT_NE(table.err.find("stats: records 4000,"), std::string::npos) << table.err;
  EXPECT_NE(table.err.find("kernel: "), std::string::npos) << table.err;

  RunResult top1 = with({"--top-k", "1", "--format", "csv"});
  ASSERT_EQ(top1.exit_code, 0) << describe(top1);
  EXPECT_EQ(lines_of(top1.out).size(), 3u) << top1.out;

  RunResult tight = with({"--max-distance", "3", "--format", "csv"});
  ASSERT_EQ(tight.exit_code, 0) << describe(tight);
  EXPECT_EQ(tight.out, "query,rank,index,distance\n");

  RunResult runtime = with({"--backend", "runtime", "--format", "csv", "--threads", "1"});
  ASSERT_EQ(runtime.exit_code, 0) << describe(runtime);
  EXPECT_EQ(runtime.out, csv.out);

  // One query given as hex: the same hits as query 0 of the file.
  auto queries = jitson::FingerprintFile::open(path("q.jfp"));
  std::string hex = hex_of(queries.view().record(0), 32);
  RunResult one = run_cli(
      {"scan", "--config", cfg, "--db", path("db.jfp"), "--query-hex", hex, "--format", "csv"});
  ASSERT_EQ(one.exit_code, 0) << describe(one);
  auto one_lines = lines_of(one.out);
  ASSERT_EQ(one_lines.size(), 3u);
  EXPECT_EQ(one_lines[1], csv_lines[1]);
  EXPECT_EQ(one_lines[2], csv_lines[2]);

  // Queries as hex text give the same answer.
  ASSERT_EQ(run_cli({"convert", path("q.jfp"), path("q.txt")}).exit_code, 0);
  RunResult hex_queries = run_cli({"scan", "--config", cfg, "--db", path("db.jfp"), "--queries",
                                   path("q.txt"), "--format", "csv"});
  ASSERT_EQ(hex_queries.exit_code, 0) << describe(hex_queries);
  EXPECT_EQ(hex_queries.out, csv.out);

  // The database as hex text gives the same answer.
  RunResult to_hex = run_cli({"convert", path("db.jfp"), path("db.hex")});
  ASSERT_EQ(to_hex.exit_code, 0) << describe(to_hex);
  RunResult from_hex = run_cli({"scan", "--config", cfg, "--db", path("db.hex"), "--queries",
                                path("q.jfp"), "--format", "csv"});
  ASSERT_EQ(from_hex.exit_code, 0) << describe(from_hex);
  EXPECT_EQ(from_hex.out, csv.out);
}

TEST_F(CliTest, ScanErrors) {
  gen(256, 500, 2, 1, 4);
  std::string cfg = config("cfg.json", R"({"version": 1, "record_bits": 256, "max_distance": 4})");
  std::string db = path("db.jfp"), q = path("q.jfp");
  std::string good_hex(64, 'a');
  auto scan = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"scan", "--config", cfg, "--db", db};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_cli(args);
  };
  EXPECT_EQ(scan({"--query-hex", good_hex}).exit_code, 0);

  expect_usage_error(
      run_cli({"scan", "--config", cfg, "--db", path("missing.jfp"), "--queries", q}),
      "missing.jfp");
  expect_usage_error(
      run_cli({"scan", "--config", path("missing.json"), "--db", db, "--queries", q}),
      "missing.json: cannot open");
  expect_usage_error(scan({"--query-hex", std::string(63, 'a') + "g"}),
                     "--query-hex: bad hex digit 'g' at column 64");
  expect_usage_error(scan({"--query-hex", std::string(62, 'a')}),
                     "--query-hex: 62 hex digits (248 bits)");
  expect_usage_error(scan({}), "exactly one of --query-hex HEX or --queries FILE");
  expect_usage_error(scan({"--query-hex", good_hex, "--queries", q}), "excludes");
  expect_usage_error(scan({"--query-hex", good_hex, "--top-k", "0"}), "--top-k 0: /top_k: ");
  expect_usage_error(scan({"--query-hex", good_hex, "--max-distance", "-1"}),
                     "--max-distance -1: /max_distance: ");
  expect_usage_error(scan({"--query-hex", good_hex, "--isa", "sse9"}), "--isa sse9: /isa: ");
  expect_usage_error(scan({"--query-hex", good_hex, "--format", "xml"}), "xml");
  expect_usage_error(scan({"--query-hex", good_hex, "--bogus"}), "--bogus");

  std::string bad = config("bad.json", R"({"version": 1, "record_bits": 256, "max_distance": 4,
                                           "focus": {"ranges": [[0, 300]]}})");
  expect_usage_error(run_cli({"scan", "--config", bad, "--db", db, "--queries", q}),
                     bad + ": /focus/ranges/0");

  // Records of another size: the database, then the queries.
  std::string cfg512 =
      config("cfg512.json", R"({"version": 1, "record_bits": 512, "max_distance": 4})");
  expect_usage_error(
      run_cli({"scan", "--config", cfg512, "--db", db, "--query-hex", std::string(128, '0')}),
      "records are 256 bits, but " + cfg512 + " has record_bits 512");
  RunResult q512 = run_cli({"gen", "--bits", "512", "--count", "2", "--out", path("q512.jfp")});
  ASSERT_EQ(q512.exit_code, 0);
  expect_usage_error(scan({"--queries", path("q512.jfp")}),
                     "query length must equal the record size");

  // A jfp file cut short, and a file that is not a jfp file at all.
  std::vector<uint8_t> whole = read_bytes(db);
  std::ofstream(path("short.jfp"), std::ios::binary)
      .write(reinterpret_cast<const char *>(whole.data()), whole.size() - 5);  // bytes as chars
  expect_usage_error(
      run_cli({"scan", "--config", cfg, "--db", path("short.jfp"), "--query-hex", good_hex}),
      "short.jfp");
  write_text(path("text.jfp"),
             "this is not a fingerprint file, just text long enough to be read "
             "as a header by anything that does not check the magic bytes\n");
  expect_usage_error(
      run_cli({"scan", "--config", cfg, "--db", path("text.jfp"), "--query-hex", good_hex}),
      "text.jfp");

  // A raw database whose size is not a whole number of records.
  write_text(path("odd.raw"), std::string(33, 'x'));
  RunResult odd =
      run_cli({"scan", "--config", cfg, "--db", path("odd.raw"), "--query-hex", good_hex});
  expect_usage_error(odd, "odd.raw");
}

// ---------------------------------------------------------------- convert

TEST_F(CliTest, ConvertRoundTripsAreByteIdentical) {
  RunResult g = run_cli({"gen", "--bits", "192", "--count", "100", "--out", path("db.jfp")});
  ASSERT_EQ(g.exit_code, 0) << describe(g);
  std::vector<uint8_t> original = read_bytes(path("db.jfp"));
  ASSERT_EQ(original.size(), 64u + 100 * 24);

  ASSERT_EQ(run_cli({"convert", path("db.jfp"), path("db.raw")}).exit_code, 0);
  std::vector<uint8_t> raw = read_bytes(path("db.raw"));
  EXPECT_EQ(raw, std::vector<uint8_t>(original.begin() + 64, original.end()));
  RunResult back = run_cli({"convert", path("db.raw"), path("back.jfp"), "--bits", "192"});
  ASSERT_EQ(back.exit_code, 0) << describe(back);
  EXPECT_EQ(read_bytes(path("back.jfp")), original);

  ASSERT_EQ(run_cli({"convert", path("db.jfp"), path("db.hex")}).exit_code, 0);
  auto hex_lines = lines_of(read_text(path("db.hex")));
  ASSERT_EQ(hex_lines.size(), 100u);
  for (size_t i = 0; i < 100; ++i) EXPECT_EQ(hex_lines[i], hex_of(raw.data() + i * 24, 24));
  ASSERT_EQ(run_cli({"convert", path("db.hex"), path("back2.jfp")}).exit_code, 0);
  EXPECT_EQ(read_bytes(path("back2.jfp")), original);
  ASSERT_EQ(run_cli({"convert", path("db.hex"), path("back.raw")}).exit_code, 0);
  EXPECT_EQ(read_bytes(path("back.raw")), raw);

  // Explicit formats for extensions that say nothing.
  RunResult explicit_formats = run_cli({"convert", path("db.jfp"), path("db.dat"), "--to", "hex"});
  ASSERT_EQ(explicit_formats.exit_code, 0) << describe(explicit_formats);
  RunResult explicit_back =
      run_cli({"convert", path("db.dat"), path("back3.bin"), "--from", "hex", "--to", "jfp"});
  ASSERT_EQ(explicit_back.exit_code, 0) << describe(explicit_back);
  EXPECT_EQ(read_bytes(path("back3.bin")), original);

  // Uppercase and CRLF hex input is accepted; output is lowercase.
  std::string upper = read_text(path("db.hex"));
  std::string crlf;
  for (char c : upper) crlf += c == '\n' ? std::string("\r\n") : std::string(1, std::toupper(c));
  write_text(path("upper.hex"), crlf);
  ASSERT_EQ(run_cli({"convert", path("upper.hex"), path("back4.jfp")}).exit_code, 0);
  EXPECT_EQ(read_bytes(path("back4.jfp")), original);
}

TEST_F(CliTest, ConvertErrorsLeaveNoOutput) {
  ASSERT_EQ(run_cli({"gen", "--bits", "192", "--count", "100", "--out", path("db.jfp")}).exit_code,
            0);
  ASSERT_EQ(run_cli({"convert", path("db.jfp"), path("db.raw")}).exit_code, 0);
  auto before = dir_entries();

  expect_usage_error(run_cli({"convert", path("db.raw"), path("out.jfp")}), "pass --bits");
  expect_usage_error(run_cli({"convert", path("db.raw"), path("out.jfp"), "--bits", "448"}),
                     "db.raw");
  expect_usage_error(run_cli({"convert", path("db.jfp"), path("out.jfp"), "--bits", "256"}),
                     "records are 192 bits, not --bits 256");
  expect_usage_error(run_cli({"convert", path("missing.jfp"), path("out.raw")}), "missing.jfp");
  expect_usage_error(run_cli({"convert", path("db.jfp"), path("out.xyz")}), "pass --to");
  expect_usage_error(run_cli({"convert", path("db.jfp"), path("db.jfp")}), "same file");
  expect_usage_error(run_cli({"convert", path("db.jfp"), path("out.raw"), "--to", "csv"}), "csv");

  std::string a(48, 'a');
  write_text(path("bad.hex"), a + "\n" + a.substr(0, 20) + "x" + a.substr(21) + "\n" + a + "\n");
  expect_usage_error(run_cli({"convert", path("bad.hex"), path("out.jfp")}),
                     "bad.hex:2: bad hex digit 'x' at column 21");
  write_text(path("ragged.hex"), a + "\n" + a + "\n" + a + "00\n");
  expect_usage_error(run_cli({"convert", path("ragged.hex"), path("out.jfp")}),
                     "ragged.hex:3: 50 hex digits; expected 48 as on line 1");
  write_text(path("blank.hex"), a + "\n\n" + a + "\n");
  expect_usage_error(run_cli({"convert", path("blank.hex"), path("out.jfp")}),
                     "blank.hex:2: empty line");
  write_text(path("short.hex"), "abc\n");
  expect_usage_error(run_cli({"convert", path("short.hex"), path("out.jfp")}),
                     "short.hex:1: 3 hex digits");
  write_text(path("empty.hex"), "");
  expect_usage_error(run_cli({"convert", path("empty.hex"), path("out.jfp")}), "pass --bits");
  // With --bits an empty hex file is zero records.
  RunResult empty = run_cli({"convert", path("empty.hex"), path("empty.jfp"), "--bits", "64"});
  ASSERT_EQ(empty.exit_code, 0) << describe(empty);
  EXPECT_EQ(read_bytes(path("empty.jfp")).size(), 64u);
  fs::remove(path("empty.jfp"));

  for (const char *f : {"bad.hex", "ragged.hex", "blank.hex", "short.hex", "empty.hex"})
    before.push_back(f);
  std::sort(before.begin(), before.end());
  EXPECT_EQ(dir_entries(), before);
}

// ---------------------------------------------------------------- gen errors, interrupted gen

TEST_F(CliTest, GenErrors) {
  expect_usage_error(run_cli({"gen", "--bits", "100", "--count", "5", "--out", path("a.jfp")}),
                     "--bits 100: must be a multiple of 64");
  expect_usage_error(run_cli({"gen", "--bits", "64", "--count", "50", "--out", path("a.jfp"),
                              "--queries", "10", "--queries-out", path("q.jfp"), "--plant", "10"}),
                     "--queries 10 × --plant 10 = 100 planted neighbours");
  expect_usage_error(
      run_cli({"gen", "--bits", "64", "--count", "50", "--out", path("a.jfp"), "--queries", "2"}),
      "--queries-out");
  expect_usage_error(
      run_cli({"gen", "--bits", "64", "--count", "50", "--out", path("a.jfp"), "--queries", "2",
               "--queries-out", path("q.jfp"), "--flip-bits", "65"}),
      "--flip-bits 65");
  expect_usage_error(
      run_cli({"gen", "--bits", "64", "--count", "5", "--out", path("no/such/dir/a.jfp")}),
      "no/such/dir");
  expect_usage_error(run_cli({"gen", "--bits", "64", "--count", "5", "--out", path("a.jfp"),
                              "--queries", "1", "--queries-out", path("a.jfp")}),
                     "same file");
  EXPECT_TRUE(dir_entries().empty());
}

// Starts a gen big enough to run for a while, waits until its temporary file holds data,
// sends `signal_number`, and returns how it ended.
RunResult interrupt_gen(const std::string &dir, int signal_number, bool with_queries) {
  std::vector<std::string> args = {kCli,      "gen",    "--bits", "65536",
                                   "--count", "131072", "--out",  dir + "/big.jfp"};
  if (with_queries) {
    args.insert(args.end(), {"--queries", "4", "--queries-out", dir + "/q.jfp"});
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  auto argv = c_argv(args);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, kCli.c_str(), &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  std::string temporary = dir + "/big.jfp.tmp." + std::to_string(pid);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::error_code ec;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(temporary, ec) && fs::file_size(temporary, ec) > (1u << 20)) break;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      ADD_FAILURE() << "gen ended before it could be interrupted";
      return {};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(fs::exists(temporary)) << "the temporary file never appeared: " << temporary;
  kill(pid, signal_number);
  RunResult r = wait_for(pid);
  EXPECT_EQ(r.term_signal, signal_number);
  return r;
}

TEST_F(CliTest, GenKilledLeavesNoOutputFile) {
  interrupt_gen(dir_, SIGKILL, false);
  // SIGKILL cannot be caught: the temporary file may remain, the output file never exists.
  EXPECT_FALSE(fs::exists(path("big.jfp")));
  for (const std::string &name : dir_entries())
    EXPECT_EQ(name.rfind("big.jfp.tmp.", 0), 0u) << name;
}

TEST_F(CliTest, GenTerminatedLeavesNothing) {
  interrupt_gen(dir_, SIGTERM, true);
  EXPECT_EQ(dir_entries(), std::vector<std::string>{});
  interrupt_gen(dir_, SIGINT, false);
  EXPECT_EQ(dir_entries(), std::vector<std::string>{});
}

// ---------------------------------------------------------------- progress bar

TEST_F(CliTest, ProgressBarOnlyOnATerminal) {
  gen(256, 5000, 3, 2, 4);
  std::string cfg = config("cfg.json", R"({"version": 1, "record_bits": 256, "max_distance": 4,
                                           "top_k": 5})");
  std::vector<std::string> args = {"scan",      "--config",    cfg,        "--db", path("db.jfp"),
                                   "--queries", path("q.jfp"), "--format", "json"};
  // Delay 0 so that even this small scan would draw the bar.
  RunResult piped = run_cli(args, {"JITSON_PROGRESS_DELAY_MS=0"});
  ASSERT_EQ(piped.exit_code, 0) << describe(piped);
  EXPECT_EQ(piped.err, "");

  int master = -1, slave = -1;
  ASSERT_EQ(openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  std::string terminal;
  RunResult tty = run_cli(args, {"JITSON_PROGRESS_DELAY_MS=0"}, slave, &terminal, master);
  ASSERT_EQ(tty.exit_code, 0) << describe(tty) << terminal;
  EXPECT_NE(terminal.find("records"), std::string::npos) << terminal;
  EXPECT_NE(terminal.find("100%"), std::string::npos) << terminal;
  // The sliced scan behind the bar returns exactly the same results.
  json a = json::parse(piped.out), b = json::parse(tty.out);
  EXPECT_EQ(a.at("results"), b.at("results"));
  EXPECT_EQ(a.at("stats").at("records"), b.at("stats").at("records"));
}

// ---------------------------------------------------------------- bench

TEST_F(CliTest, BenchComparesBackends) {
  gen(512, 4000, 3, 1, 8);
  std::string cfg = config("cfg.json", R"({"version": 1, "record_bits": 512, "max_distance": 100,
                                           "top_k": 5})");
  RunResult r = run_cli({"bench", "--config", cfg, "--db", path("db.jfp"), "--queries",
                         path("q.jfp"), "--repeat", "1", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("read bandwidth over the mapped database: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\njit "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nruntime "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("results: jit and runtime identical (3 hits)"), std::string::npos) << r.out;
  // FAISS is found beside libjitson whenever the build made its peer library.
#ifdef JITSON_HAVE_FAISS_PEER
  EXPECT_NE(r.out.find("\nfaiss "), std::string::npos) << r.out;
#else
  EXPECT_NE(r.out.find("faiss: not available"), std::string::npos) << r.out;
#endif
  if (r.out.find("\nfaiss ") != std::string::npos) {
    EXPECT_NE(r.out.find("faiss: the distances of jitson's hits agree"), std::string::npos)
        << r.out;
  }

  expect_usage_error(run_cli({"bench", "--config", cfg, "--db", path("missing.jfp")}),
                     "missing.jfp");
  expect_usage_error(run_cli({"bench", "--config", cfg, "--db", path("db.jfp"), "--repeat", "0"}),
                     "--repeat 0");
}

}  // namespace
