// The `jitson` command (JITSON_CLI_PATH) and the file layer against hostile or unusual paths:
// hex streamed through pipes, FIFOs, sockets and device nodes given as inputs or outputs,
// unbounded inputs (/dev/zero-like streams, huge configs and lines), headerless raw files
// (--raw-bits) and control characters in user text. Every run has a timeout, so a command that
// would hang on a FIFO fails the test instead of hanging it. No test touches a real device: the
// FIFOs, sockets and device nodes are made in a temporary directory.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "jitson/database.hpp"
#include "jitson/error.hpp"
#include "jitson/limits.hpp"

extern char **environ;

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kCli = JITSON_CLI_PATH;

struct RunResult {
  int exit_code = -1;  // -1 when killed
  bool timed_out = false;
  std::string out, err;
  uint64_t stdin_bytes_written = 0;  // how much of a piped stdin the command took
};

std::string describe(const RunResult &r) {
  return "exit " + std::to_string(r.exit_code) + (r.timed_out ? " (timed out, killed)" : "") +
         "\n--- stdout:\n" + r.out + "\n--- stderr:\n" + r.err;
}

std::string slurp(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_file(const std::string &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// What the command reads on standard input.
struct Stdin {
  std::string file;                  // a regular file (default: an empty one)
  std::optional<std::string> piped;  // these bytes through a pipe, then end of file
  uint64_t endless_bytes = 0;        // or this byte repeated until the command stops reading
  char endless_byte = 'a';
};
Stdin pipe_of(std::string bytes) {
  Stdin in;
  in.piped = std::move(bytes);
  return in;
}
Stdin endless(char byte, uint64_t up_to) {
  Stdin in;
  in.endless_byte = byte;
  in.endless_bytes = up_to;
  return in;
}

// Runs `jitson args...` with stdout and stderr in files (no pipe can fill up) and kills it after
// `timeout`.
RunResult run_cli(std::vector<std::string> args, const std::string &dir, const Stdin &in = {},
                  std::chrono::milliseconds timeout = 20s) {
  static int counter = 0;
  const std::string tag = std::to_string(counter++);
  const std::string out_path = dir + "/.stdout" + tag, err_path = dir + "/.stderr" + tag;
  std::string in_path = in.file;
  if (in_path.empty()) {
    in_path = dir + "/.stdin-empty";
    write_file(in_path, "");
  }
  int pipe_fds[2] = {-1, -1};
  const bool use_pipe = in.piped.has_value() || in.endless_bytes > 0;
  if (use_pipe) {
    EXPECT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);
  }

  args.insert(args.begin(), kCli);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (use_pipe) {
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[0], 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, in_path.c_str(), O_RDONLY, 0);
  }
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  std::vector<char *> argv;
  for (auto &a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, kCli.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc, 0) << "cannot spawn " << kCli;

  RunResult r;
  std::thread writer;
  std::atomic<uint64_t> written{0};
  if (use_pipe) {
    close(pipe_fds[0]);
    // A thread feeds the pipe so that neither side waits on the other; EPIPE (the command
    // stopped reading) ends it. SIGPIPE is ignored by the fixture.
    writer = std::thread([&, fd = pipe_fds[1]] {
      std::string block = in.piped ? *in.piped : std::string(1 << 16, in.endless_byte);
      uint64_t remaining = in.piped ? block.size() : in.endless_bytes;
      size_t at = 0;
      while (remaining > 0) {
        size_t n = std::min<uint64_t>(remaining, block.size() - at);
        ssize_t done = write(fd, block.data() + at, n);
        if (done < 0 && errno == EINTR) continue;
        if (done <= 0) break;
        written += static_cast<uint64_t>(done);
        remaining -= static_cast<uint64_t>(done);
        at = in.piped ? at + static_cast<size_t>(done) : (at + done) % block.size();
      }
      close(fd);
    });
  }
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    pid_t got = waitpid(pid, &status, WNOHANG);
    if (got == pid) break;
    if (got < 0 && errno != EINTR) break;
    if (std::chrono::steady_clock::now() > deadline) {
      r.timed_out = true;
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  if (writer.joinable()) writer.join();
  if (!r.timed_out && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  r.stdin_bytes_written = written;
  fs::remove(out_path);
  fs::remove(err_path);
  return r;
}

// The error contract: exit 2 (not a hang), nothing on stdout, exactly one stderr line starting
// "jitson: " and holding `must_contain`.
void expect_usage_error(const RunResult &r, const std::string &must_contain) {
  EXPECT_FALSE(r.timed_out) << describe(r);
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_EQ(r.out, "") << describe(r);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << describe(r);
  EXPECT_EQ(r.err.rfind("jitson: ", 0), 0u) << describe(r);
  EXPECT_NE(r.err.find(must_contain), std::string::npos)
      << "stderr lacks \"" << must_contain << "\"\n"
      << describe(r);
}

// `jitson validate` reports each bad file as "FILE: problem" (no "jitson: " prefix), exit 2.
void expect_validate_error(const RunResult &r, const std::string &must_contain) {
  EXPECT_FALSE(r.timed_out) << describe(r);
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << describe(r);
  EXPECT_NE(r.err.find(must_contain), std::string::npos)
      << "stderr lacks \"" << must_contain << "\"\n"
      << describe(r);
}

void expect_ok(const RunResult &r) {
  EXPECT_FALSE(r.timed_out) << describe(r);
  EXPECT_EQ(r.exit_code, 0) << describe(r);
}

bool is_fifo(const std::string &path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
}

class CliHardening : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { signal(SIGPIPE, SIG_IGN); }
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "jitson_cli_hardening_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string &name) const { return dir_ + "/" + name; }
  RunResult run(std::vector<std::string> args, const Stdin &in = {},
                std::chrono::milliseconds timeout = 20s) {
    return run_cli(std::move(args), dir_, in, timeout);
  }

  std::string fifo(const std::string &name) {
    std::string p = path(name);
    EXPECT_EQ(mkfifo(p.c_str(), 0644), 0) << std::strerror(errno);
    return p;
  }

  // db.jfp (200 records of 256 bits), q.jfp (3 queries) and their hex and raw forms, and a
  // config for them.
  void make_data() {
    RunResult g =
        run({"gen", "--bits", "256", "--count", "200", "--out", path("db.jfp"), "--seed", "5",
             "--queries", "3", "--queries-out", path("q.jfp"), "--plant", "2", "--flip-bits", "7"});
    ASSERT_EQ(g.exit_code, 0) << describe(g);
    expect_ok(run({"convert", path("db.jfp"), path("db.hex")}));
    expect_ok(run({"convert", path("db.jfp"), path("db.raw")}));
    expect_ok(run({"convert", path("q.jfp"), path("q.hex")}));
    write_file(path("cfg.json"), R"({"version": 1, "record_bits": 256, "top_k": 4})");
  }

  std::string dir_;
};

// ------------------------------------------------------------ defect 4: hex through a pipe

TEST_F(CliHardening, HexFromAPipeIsDecodedNotZeroed) {
  make_data();
  const std::string hex = slurp(path("db.hex"));
  ASSERT_FALSE(hex.empty());
  // /dev/stdin as a pipe: once read a rewind cannot bring the data back, so a two-pass reader
  // wrote zero records here and exited 0.
  expect_ok(run({"convert", "/dev/stdin", path("out.hex"), "--from", "hex", "--to", "hex"},
                pipe_of(hex)));
  EXPECT_EQ(slurp(path("out.hex")), hex);
  // "-" is standard input too, and a pipe can only carry hex: no --from needed.
  expect_ok(run({"convert", "-", path("out.jfp")}, pipe_of(hex)));
  EXPECT_EQ(slurp(path("out.jfp")), slurp(path("db.jfp")));
  // With --bits the lines are checked against it; an empty stream is then zero records.
  expect_ok(run({"convert", "-", path("empty.jfp"), "--bits", "256"}, pipe_of("")));
  EXPECT_EQ(jitson::FingerprintFile::open(path("empty.jfp")).view().n_records, 0u);
}

TEST_F(CliHardening, HexQueriesFromAPipeGiveTheSameHits) {
  make_data();
  RunResult from_file = run({"scan", "--config", path("cfg.json"), "--db", path("db.jfp"),
                             "--queries", path("q.jfp"), "--format", "csv"});
  expect_ok(from_file);
  ASSERT_NE(from_file.out.find("\n2,"), std::string::npos) << from_file.out;
  RunResult piped = run({"scan", "--config", path("cfg.json"), "--db", path("db.jfp"), "--queries",
                         "-", "--format", "csv"},
                        pipe_of(slurp(path("q.hex"))));
  expect_ok(piped);
  EXPECT_EQ(piped.out, from_file.out);
  // The database as hex through the pipe too.
  RunResult db_piped = run({"scan", "--config", path("cfg.json"), "--db", "/dev/stdin", "--queries",
                            path("q.jfp"), "--format", "csv"},
                           pipe_of(slurp(path("db.hex"))));
  expect_ok(db_piped);
  EXPECT_EQ(db_piped.out, from_file.out);
  // One stream cannot be both.
  expect_usage_error(
      run({"scan", "--config", path("cfg.json"), "--db", "-", "--queries", "/dev/stdin"},
          pipe_of(slurp(path("q.hex")))),
      "name the same stream");
}

TEST_F(CliHardening, MappedFormatsFromAPipeAreRefused) {
  make_data();
  expect_usage_error(
      run({"convert", "-", path("out.hex"), "--from", "jfp"}, pipe_of(slurp(path("db.jfp")))),
      "only hex text can be streamed");
  // Without a format a pipe is read as hex; a jfp file in it is named as such.
  expect_usage_error(
      run({"scan", "--config", path("cfg.json"), "--db", "-", "--queries", path("q.jfp")},
          pipe_of(slurp(path("db.jfp")))),
      "<stdin>: starts with the magic JITSONFP of a jfp file, not hex text");
  // Standard input redirected from a regular file is a file: it is mapped.
  Stdin redirected;
  redirected.file = path("db.jfp");
  RunResult r = run({"scan", "--config", path("cfg.json"), "--db", "-", "--queries", path("q.jfp"),
                     "--format", "csv"},
                    redirected);
  expect_ok(r);
  EXPECT_EQ(r.out, run({"scan", "--config", path("cfg.json"), "--db", path("db.jfp"), "--queries",
                        path("q.jfp"), "--format", "csv"})
                       .out);
  EXPECT_FALSE(fs::exists(path("out.hex")));
}

// ------------------------------------------------------------ defect 7: FIFOs and sockets as
// inputs

TEST_F(CliHardening, FifoInputsAreRefusedAtOnce) {
  make_data();
  // Nobody ever writes these: an open() without O_NONBLOCK waits forever.
  const std::string db_fifo = fifo("db-fifo.jfp"), hex_fifo = fifo("q-fifo.hex"),
                    cfg_fifo = fifo("cfg-fifo.json");
  const std::string cfg = path("cfg.json");
  const auto timeout = 10s;
  expect_usage_error(
      run({"scan", "--config", cfg, "--db", db_fifo, "--queries", path("q.jfp")}, {}, timeout),
      db_fifo + ": not a regular file (a FIFO)");
  expect_usage_error(
      run({"scan", "--config", cfg, "--db", path("db.jfp"), "--queries", hex_fifo}, {}, timeout),
      hex_fifo + ": not a regular file (a FIFO)");
  expect_usage_error(
      run({"scan", "--config", cfg_fifo, "--db", path("db.jfp"), "--queries", path("q.jfp")}, {},
          timeout),
      cfg_fifo + ": not a regular file (a FIFO)");
  expect_usage_error(run({"compile", cfg_fifo}, {}, timeout),
                     cfg_fifo + ": not a regular file (a FIFO)");
  expect_validate_error(run({"validate", cfg_fifo}, {}, timeout),
                        cfg_fifo + ": not a regular file (a FIFO)");
  expect_usage_error(run({"convert", hex_fifo, path("out.jfp")}, {}, timeout),
                     hex_fifo + ": not a regular file (a FIFO)");
  expect_usage_error(run({"convert", db_fifo, path("out.hex")}, {}, timeout),
                     "not a regular file (a FIFO)");
  expect_usage_error(run({"convert", db_fifo, path("out.jfp"), "--raw-bits", "256"}, {}, timeout),
                     "not a regular file (a FIFO)");
  expect_usage_error(run({"bench", "--config", cfg, "--db", db_fifo, "--repeat", "1"}, {}, timeout),
                     "not a regular file (a FIFO)");
  expect_usage_error(run({"scan", "--config", cfg, "--db", path("db.jfp"), "--queries",
                          path("q.jfp"), "--truth", cfg_fifo},
                         {}, timeout),
                     "not a regular file (a FIFO)");
  EXPECT_FALSE(fs::exists(path("out.jfp")));
  EXPECT_FALSE(fs::exists(path("out.hex")));
}

TEST_F(CliHardening, SocketAndDirectoryInputsAreRefused) {
  make_data();
  const std::string sock = path("s.jfp");
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(sock.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, sock.c_str(), sock.size() + 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0) << std::strerror(errno);
  expect_usage_error(
      run({"scan", "--config", path("cfg.json"), "--db", sock, "--queries", path("q.jfp")}),
      sock + ": not a regular file (a socket)");
  close(fd);
  fs::create_directory(path("dir.json"));
  expect_usage_error(run({"compile", path("dir.json")}),
                     path("dir.json") + ": not a regular file (a directory)");
  expect_validate_error(run({"validate", path("dir.json")}),
                        path("dir.json") + ": not a regular file (a directory)");
}

// FingerprintFile::open itself (the library, without the command's checks in front): a FIFO
// nobody writes is refused at once. Run in a child so that a hang fails instead of blocking.
TEST_F(CliHardening, LibraryOpenRefusesAFifoWithoutBlocking) {
  const std::string p = fifo("lib.jfp");
  for (std::optional<uint32_t> raw : {std::optional<uint32_t>{}, std::optional<uint32_t>{64}}) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int code = 3;
      try {
        jitson::FingerprintFile::open(p, raw);
      } catch (const jitson::Error &e) {
        const std::string what = e.what();
        code = what.find("not a regular file (a FIFO)") != std::string::npos &&
                       what.find(p) != std::string::npos
                   ? 0
                   : 4;
      } catch (...) {
        code = 5;
      }
      _exit(code);
    }
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    bool hung = false;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        hung = true;
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(5ms);
    }
    EXPECT_FALSE(hung) << "FingerprintFile::open blocked on a FIFO";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "exit " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  }
}

// ------------------------------------------------------------ defect 5: outputs that are not files

TEST_F(CliHardening, OutputOntoAFifoIsRefusedAndTheFifoKept) {
  make_data();
  const std::string out = fifo("out.fifo");
  const std::string want =
      "out.fifo': exists and is not a regular file (a FIFO); refusing to "
      "replace it";
  expect_usage_error(run({"convert", path("db.jfp"), out, "--to", "raw"}), want);
  expect_usage_error(run({"convert", path("db.jfp"), out, "--to", "hex"}), want);
  expect_usage_error(run({"convert", path("db.jfp"), out, "--to", "jfp"}), want);
  expect_usage_error(run({"convert", path("db.jfp"), out, "--to", "blocked"}), want);
  expect_usage_error(run({"compile", path("cfg.json"), "--out", out}), want);
  expect_usage_error(run({"gen", "--bits", "64", "--count", "4", "--out", out}), want);
  expect_usage_error(run({"gen", "--bits", "64", "--count", "4", "--out", path("g.jfp"),
                          "--queries", "1", "--queries-out", out}),
                     want);
  EXPECT_TRUE(is_fifo(out));
  EXPECT_FALSE(fs::exists(path("g.jfp")));
  // No temporary file is left behind either.
  for (const auto &e : fs::directory_iterator(dir_))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
}

TEST_F(CliHardening, OutputOntoADeviceNodeIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "mknod of a character device needs root";
  make_data();
  // A node with /dev/null's numbers, made in the temporary directory: the test never names
  // a real device, so even the old code could only have replaced this copy.
  const std::string dev = path("null.raw");
  ASSERT_EQ(mknod(dev.c_str(), S_IFCHR | 0600, makedev(1, 3)), 0) << std::strerror(errno);
  expect_usage_error(run({"convert", path("db.jfp"), dev}),
                     "null.raw': exists and is not a regular file (a character device)");
  struct stat st {};
  ASSERT_EQ(lstat(dev.c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST_F(CliHardening, OutputThroughASymbolicLink) {
  make_data();
  // A link to a regular file is written through: the link stays, its target gets the data.
  write_file(path("target.raw"), "old");
  fs::create_symlink(path("target.raw"), path("link.raw"));
  expect_ok(run({"convert", path("db.jfp"), path("link.raw")}));
  EXPECT_TRUE(fs::is_symlink(path("link.raw")));
  EXPECT_EQ(slurp(path("target.raw")), slurp(path("db.raw")));
  fs::create_symlink(path("target.raw"), path("link.hex"));
  expect_ok(run({"convert", path("db.jfp"), path("link.hex"), "--to", "hex"}));
  EXPECT_TRUE(fs::is_symlink(path("link.hex")));
  EXPECT_EQ(slurp(path("target.raw")), slurp(path("db.hex")));
  // A link to a FIFO, or to nothing, is refused.
  const std::string f = fifo("f");
  fs::create_symlink(f, path("to-fifo.raw"));
  expect_usage_error(run({"convert", path("db.jfp"), path("to-fifo.raw")}), "a FIFO");
  EXPECT_TRUE(is_fifo(f));
  fs::create_symlink(path("missing"), path("dangling.raw"));
  expect_usage_error(run({"convert", path("db.jfp"), path("dangling.raw")}), "refusing");
  EXPECT_TRUE(fs::is_symlink(path("dangling.raw")));
}

// The library writer refuses too, including a path that became a FIFO after it was created
// (the check right before the rename).
TEST_F(CliHardening, WriterNeverRenamesOverAFifo) {
  const std::string early = fifo("early.jfp");
  try {
    jitson::FingerprintWriter w(early, 64, 0);
    ADD_FAILURE() << "a writer onto a FIFO was created";
  } catch (const jitson::Error &e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file (a FIFO)"), std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(is_fifo(early));

  const std::string late = path("late.jfp");
  jitson::FingerprintWriter w(late, 64, 1);
  const uint8_t record[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  w.write(record, sizeof record);
  ASSERT_EQ(mkfifo(late.c_str(), 0644), 0);
  try {
    w.commit();
    ADD_FAILURE() << "commit renamed over a FIFO";
  } catch (const jitson::Error &e) {
    EXPECT_NE(std::string(e.what()).find("refusing to replace it"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(is_fifo(late));
  EXPECT_FALSE(fs::exists(late + ".tmp." + std::to_string(getpid())));
}

// ------------------------------------------------------------ defect 8: bounded reads

TEST_F(CliHardening, ConfigLargerThanTheLimitIsRefused) {
  make_data();
  // Valid JSON up to the limit's end: only the size is wrong.
  std::string big = R"({"version": 1, "record_bits": 256, "name": ")";
  big += std::string(jitson::kMaxConfigBytes, 'x');
  big += "\"}";
  write_file(path("big.json"), big);
  const std::string want = path("big.json") + ": config is larger than " +
                           std::to_string(jitson::kMaxConfigBytes) + " bytes (the limit)";
  expect_usage_error(run({"compile", path("big.json")}), want);
  expect_usage_error(run({"scan", "--config", path("big.json"), "--db", path("db.jfp"), "--queries",
                          path("q.jfp")}),
                     want);
  // Exactly at the limit the size is fine (whatever the parser then says about the text).
  std::string at_limit = R"({"version": 1, "record_bits": 256, "name": ")";
  at_limit += std::string(jitson::kMaxConfigBytes - at_limit.size() - 2, 'x') + "\"}";
  ASSERT_EQ(at_limit.size(), jitson::kMaxConfigBytes);
  write_file(path("limit.json"), at_limit);
  RunResult r = run({"compile", path("limit.json")});
  EXPECT_EQ(r.err.find("larger than"), std::string::npos) << describe(r);
}

// Defect 1 on the command's side: the whole file is the config, so a NUL (and whatever
// follows it) is an error with its byte offset, never the end of the text.
TEST_F(CliHardening, ConfigWithANulByteIsRefused) {
  write_file(path("nul.json"), std::string(R"({"version":1,"record_bits":128,"max_distance":3})") +
                                   std::string("\0garbage", 8));
  expect_validate_error(run({"validate", path("nul.json")}), "NUL byte at byte 48");
  expect_usage_error(run({"compile", path("nul.json")}), "NUL byte at byte 48");
}

TEST_F(CliHardening, HexErrorsSayWhatIsWrong) {
  write_file(path("empty.hex"), "");
  expect_usage_error(run({"convert", path("empty.hex"), path("out.jfp")}),
                     path("empty.hex") + ": empty file: no records");
  write_file(path("nul.hex"), std::string(5, '\0'));
  expect_usage_error(run({"convert", path("nul.hex"), path("out.jfp")}),
                     path("nul.hex") + ":1: bad hex digit byte 0x00 at column 1");
  write_file(path("cr.hex"), "0011223344556677\n00112233\r44556677\n");
  expect_usage_error(run({"convert", path("cr.hex"), path("out.jfp")}),
                     path("cr.hex") + ":2: bad hex digit byte 0x0d at column 9");
  // A line longer than the largest record (65,536 bits = 16,384 digits), even a whole number
  // of words: an error, not a record of 160,000 bits.
  write_file(path("long.hex"), std::string(40000, '0') + "\n");
  expect_usage_error(run({"convert", path("long.hex"), path("out.jfp")}),
                     path("long.hex") + ":1: line longer than 16384 hex digits");
  // The largest record itself is fine, with CRLF.
  write_file(path("max.hex"), std::string(16384, 'f') + "\r\n");
  expect_ok(run({"convert", path("max.hex"), path("max.jfp")}));
  EXPECT_EQ(jitson::FingerprintFile::open(path("max.jfp")).view().record_bytes, 8192u);
  EXPECT_FALSE(fs::exists(path("out.jfp")));
}

TEST_F(CliHardening, EndlessHexLineIsRefusedWithoutReadingIt) {
  // An endless line of valid digits on a pipe (`yes | tr -d '\n'`, /dev/zero's cousin): the
  // error comes after the first 16,385 bytes, so the command stops reading long before 64 MiB.
  RunResult r =
      run({"convert", "-", path("out.jfp"), "--from", "hex"}, endless('a', uint64_t{64} << 20));
  expect_usage_error(r, "<stdin>:1: line longer than 16384 hex digits");
  EXPECT_LT(r.stdin_bytes_written, uint64_t{4} << 20);
  // NUL bytes on a pipe: the first one is the error.
  RunResult zeros = run({"convert", "/dev/stdin", path("out.jfp"), "--from", "hex"},
                        endless('\0', uint64_t{64} << 20));
  expect_usage_error(zeros, "/dev/stdin:1: bad hex digit byte 0x00 at column 1");
  EXPECT_LT(zeros.stdin_bytes_written, uint64_t{4} << 20);
  EXPECT_FALSE(fs::exists(path("out.jfp")));
}

// ------------------------------------------------------------ defect 10: --raw-bits

TEST_F(CliHardening, RawBitsReadsHeaderlessFilesOfAnyName) {
  make_data();
  fs::copy_file(path("db.raw"), path("db.dat"));
  const std::string cfg = path("cfg.json");
  RunResult want = run({"scan", "--config", cfg, "--db", path("db.jfp"), "--queries", path("q.jfp"),
                        "--format", "csv"});
  expect_ok(want);
  // Without the flag the error names it, and the flag exists.
  expect_usage_error(
      run({"scan", "--config", cfg, "--db", path("db.dat"), "--queries", path("q.jfp")}),
      "pass --raw-bits");
  RunResult raw = run({"scan", "--config", cfg, "--db", path("db.dat"), "--queries", path("q.jfp"),
                       "--format", "csv", "--raw-bits", "256"});
  expect_ok(raw);
  EXPECT_EQ(raw.out, want.out);
  // Raw queries of any name too (query files named .jfp/.hex keep their format).
  expect_ok(run({"convert", path("q.jfp"), path("q.raw")}));
  fs::copy_file(path("q.raw"), path("q.dat"));
  RunResult raw_q = run({"scan", "--config", cfg, "--db", path("db.dat"), "--queries",
                         path("q.dat"), "--format", "csv", "--raw-bits", "256"});
  expect_ok(raw_q);
  EXPECT_EQ(raw_q.out, want.out);
  // bench and convert take it as well.
  RunResult bench = run({"bench", "--config", cfg, "--db", path("db.dat"), "--raw-bits", "256",
                         "--repeat", "1", "--no-faiss", "--threads", "1"});
  expect_ok(bench);
  expect_ok(run({"convert", path("db.dat"), path("back.jfp"), "--raw-bits", "256"}));
  EXPECT_EQ(slurp(path("back.jfp")), slurp(path("db.jfp")));
  for (const char *command : {"scan", "bench", "convert"}) {
    RunResult help = run({command, "--help"});
    EXPECT_NE(help.out.find("--raw-bits"), std::string::npos) << command << "\n" << help.out;
  }
}

TEST_F(CliHardening, RawBitsDisagreementsNameBothNumbers) {
  make_data();
  fs::copy_file(path("db.raw"), path("db.dat"));
  const std::string cfg = path("cfg.json");
  expect_usage_error(run({"scan", "--config", cfg, "--db", path("db.dat"), "--queries",
                          path("q.jfp"), "--raw-bits", "128"}),
                     "--raw-bits 128 disagrees with " + cfg + ": its record_bits is 256");
  expect_usage_error(run({"bench", "--config", cfg, "--db", path("db.dat"), "--raw-bits", "512"}),
                     "--raw-bits 512 disagrees");
  expect_usage_error(
      run({"convert", path("db.dat"), path("o.jfp"), "--raw-bits", "256", "--bits", "128"}),
      "--bits 128 and --raw-bits 256 disagree");
  expect_usage_error(run({"convert", path("db.dat"), path("o.jfp"), "--raw-bits", "100"}),
                     "--raw-bits 100: must be a multiple of 64");
  expect_usage_error(
      run({"convert", path("db.hex"), path("o.jfp"), "--raw-bits", "256", "--from", "hex"}),
      "--from says hex");
  // A size that is not a whole number of records: both sizes and where the record size came
  // from, instead of a scan of a different number of records.
  write_file(path("odd.dat"), slurp(path("db.raw")) + "x");
  expect_usage_error(run({"scan", "--config", cfg, "--db", path("odd.dat"), "--queries",
                          path("q.jfp"), "--raw-bits", "256"}),
                     "the file is 6401 bytes, not a whole number of 32-byte records (256 bits, "
                     "from --raw-bits 256)");
  fs::copy_file(path("odd.dat"), path("odd.raw"));
  expect_usage_error(
      run({"scan", "--config", cfg, "--db", path("odd.raw"), "--queries", path("q.jfp")}),
      "from the record_bits of " + cfg);
  EXPECT_FALSE(fs::exists(path("o.jfp")));
}

// ------------------------------------------------------------ defect 2: control characters

TEST_F(CliHardening, ControlCharactersInUserTextAreEscaped) {
  // The name and an unknown key both hold a newline and an ANSI colour sequence.
  const std::string name = "bad\n\x1b[31mname.json";
  // JSON escapes in the file: the parsed key holds the raw control characters.
  write_file(path(name), R"({"version": 1, "record_bits": 64, "k\n\u001b[31m": 1})");
  const std::string escaped_name = "bad\\n\\u001b[31mname.json";
  for (const char *command : {"compile", "validate"}) {
    RunResult r = run({command, path(name)});
    EXPECT_EQ(r.exit_code, 2) << describe(r);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << describe(r);
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << describe(r);
    EXPECT_NE(r.err.find(escaped_name), std::string::npos) << describe(r);
    EXPECT_NE(r.err.find("k\\n\\u001b[31m"), std::string::npos) << describe(r);
  }
  // A missing file and a bad option value are quoted safely too.
  RunResult missing = run({"compile", path("nope\x1b]0;title\x07.json")});
  expect_usage_error(missing, "nope\\u001b]0;title\\u0007.json");
  EXPECT_EQ(missing.err.find('\x1b'), std::string::npos);
  RunResult option =
      run({"scan", "--config", path("c.json"), "--db", "x", "--threads", "1\n\x1b[2J"});
  EXPECT_EQ(option.exit_code, 2) << describe(option);
  EXPECT_EQ(std::count(option.err.begin(), option.err.end(), '\n'), 1) << describe(option);
  EXPECT_EQ(option.err.find('\x1b'), std::string::npos) << describe(option);
}

}  // namespace
