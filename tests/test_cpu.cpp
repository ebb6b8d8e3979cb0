// CPU detection and the runtime ISA choice, including JITSON_ISA in child processes.
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "jitson/cpu.hpp"
#include "jitson/kernels.hpp"

extern char **environ;

namespace jitson {
namespace {

constexpr const char *kChildFlag = "JITSON_TEST_CPU_CHILD";

// When this binary is started with kChildFlag set, it reports the runtime's choice on stdout
// and exits before GoogleTest runs; the parent tests read that report.
const bool kChildReported = [] {
  if (std::getenv(kChildFlag) == nullptr) return false;
  const Isa first = active_isa();
  const Isa second = active_isa();  // must not warn again or change
  std::printf("active=%s best=%s table=%s stable=%d\n", isa_name(first), isa_name(best_isa()),
              isa_name(kernels().isa), int(first == second));
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(0);
}();

struct ChildOutput {
  std::string out, err;
  int status = -1;
};

std::string read_all(int fd) {
  std::string s;
  char buf[4096];
  ssize_t r;
  while ((r = read(fd, buf, sizeof buf)) > 0) s.append(buf, size_t(r));
  return s;
}

// Runs this test binary again with JITSON_ISA set to `value` (unset if null).
ChildOutput run_child(const char *value) {
  std::vector<std::string> env_strings;
  for (char **e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "JITSON_ISA=", 11) != 0) env_strings.emplace_back(*e);
  }
  env_strings.push_back(std::string(kChildFlag) + "=1");
  if (value != nullptr) env_strings.push_back(std::string("JITSON_ISA=") + value);
  std::vector<char *> envp;
  for (auto &s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  EXPECT_EQ(pipe(out_pipe), 0);
  EXPECT_EQ(pipe(err_pipe), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
  posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
  char exe[] = "/proc/self/exe";
  char *argv[] = {exe, nullptr};
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, exe, &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  ChildOutput result;
  EXPECT_EQ(rc, 0) << std::strerror(rc);
  if (rc == 0) {
    // The child writes one short line to each pipe, far below the pipe buffer, so reading one
    // after the other cannot deadlock.
    result.out = read_all(out_pipe[0]);
    result.err = read_all(err_pipe[0]);
    waitpid(pid, &result.status, 0);
  }
  close(out_pipe[0]);
  close(err_pipe[0]);
  return result;
}

std::string expected_report(Isa active) {
  return std::string("active=") + isa_name(active) + " best=" + isa_name(best_isa()) +
         " table=" + isa_name(active) + " stable=1\n";
}

Isa lower(Isa a, Isa b) {
  return a < b ? a : b;
}

TEST(Cpu, BestIsaFollowsTheFeatureRules) {
  const CpuFeatures &f = cpu_features();
  // Every feature a tier's files are compiled with (cmake/JitsonFlags.cmake), and the tier below.
  const bool avx2 = f.avx2 && f.popcnt && f.fma && f.bmi2 && f.f16c && f.os_saves_ymm;
  const bool avx512 = avx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq &&
                      f.avx512vpopcntdq && f.os_saves_zmm;
  const Isa expected = avx512 ? Isa::avx512 : avx2 ? Isa::avx2 : Isa::scalar;
  EXPECT_EQ(best_isa(), expected);
  EXPECT_LE(active_isa(), best_isa());
  // zmm state is a superset of ymm state.
  if (f.os_saves_zmm) {
    EXPECT_TRUE(f.os_saves_ymm);
  }
  EXPECT_EQ(&cpu_features(), &f);  // detected once
}

TEST(Cpu, VendorAndBrandAreReported) {
  const CpuFeatures &f = cpu_features();
  EXPECT_EQ(f.vendor.size(), 12u) << f.vendor;  // e.g. "AuthenticAMD", "GenuineIntel"
  EXPECT_FALSE(f.brand.empty());
  EXPECT_NE(f.brand.front(), ' ');
  EXPECT_NE(f.brand.back(), ' ');
}

// The kernel's view of the same CPU: /proc/cpuinfo lists the flags the kernel found and enabled
// (it hides AVX/AVX-512 flags when it does not save their state).
TEST(Cpu, FeaturesAgreeWithProcCpuinfo) {
  std::ifstream in("/proc/cpuinfo");
  ASSERT_TRUE(in) << "/proc/cpuinfo is not readable";
  std::string line;
  std::set<std::string> flags;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) {
      std::istringstream words(line.substr(line.find(':') + 1));
      for (std::string w; words >> w;) flags.insert(w);
      break;
    }
  }
  ASSERT_FALSE(flags.empty());
  const CpuFeatures &f = cpu_features();
  auto has = [&](const char *name) { return flags.count(name) == 1; };
  EXPECT_EQ(f.popcnt, has("popcnt"));
  EXPECT_EQ(f.bmi2, has("bmi2"));
  EXPECT_EQ(f.fma, has("fma"));
  EXPECT_EQ(f.f16c, has("f16c"));
  EXPECT_EQ(f.avx2 && f.os_saves_ymm, has("avx2"));
  EXPECT_EQ(f.avx512f && f.os_saves_zmm, has("avx512f"));
  EXPECT_EQ(f.avx512bw && f.os_saves_zmm, has("avx512bw"));
  EXPECT_EQ(f.avx512vl && f.os_saves_zmm, has("avx512vl"));
  EXPECT_EQ(f.avx512dq && f.os_saves_zmm, has("avx512dq"));
  EXPECT_EQ(f.avx512vpopcntdq && f.os_saves_zmm, has("avx512_vpopcntdq"));
  EXPECT_EQ(f.avx512bitalg && f.os_saves_zmm, has("avx512_bitalg"));
  EXPECT_EQ(f.avx512vnni && f.os_saves_zmm, has("avx512_vnni"));
  EXPECT_EQ(f.avx512bf16 && f.os_saves_zmm, has("avx512_bf16"));
}

TEST(Cpu, IsaNamesRoundTrip) {
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    ASSERT_TRUE(parse_isa(isa_name(isa)).has_value()) << isa_name(isa);
    EXPECT_EQ(*parse_isa(isa_name(isa)), isa);
  }
  EXPECT_STREQ(isa_name(Isa::avx512), "avx512");
  EXPECT_STREQ(isa_name(Isa::avx2), "avx2");
  EXPECT_STREQ(isa_name(Isa::scalar), "scalar");
  EXPECT_FALSE(parse_isa("").has_value());
  EXPECT_FALSE(parse_isa("avx").has_value());
  EXPECT_FALSE(parse_isa("avx5121").has_value());
  EXPECT_FALSE(parse_isa("sse4").has_value());
}

TEST(Cpu, IsaSupportedIsEverythingUpToBest) {
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    EXPECT_EQ(isa_supported(isa), isa <= best_isa()) << isa_name(isa);
  }
  EXPECT_TRUE(isa_supported(Isa::scalar));
}

TEST(Cpu, ListIsasIsConsistentWithBestIsa) {
  const std::vector<IsaInfo> list = list_isas();
  ASSERT_EQ(list.size(), 3u);
  std::set<Isa> seen;
  Isa best_listed = Isa::scalar;
  for (const IsaInfo &info : list) {
    seen.insert(info.isa);
    EXPECT_STREQ(info.name, isa_name(info.isa));
    EXPECT_NE(std::strlen(info.description), 0u);
    EXPECT_NE(std::strlen(info.requires_features), 0u);
    EXPECT_EQ(info.supported, isa_supported(info.isa)) << info.name;
    if (info.supported && info.isa > best_listed) best_listed = info.isa;
  }
  EXPECT_EQ(seen.size(), 3u);
  EXPECT_EQ(best_listed, best_isa());
}

TEST(JitsonIsaEnv, UnsetMeansBest) {
  const ChildOutput c = run_child(nullptr);
  EXPECT_EQ(c.status, 0);
  EXPECT_EQ(c.out, expected_report(best_isa()));
  EXPECT_EQ(c.err, "");
}

TEST(JitsonIsaEnv, EmptyMeansBest) {
  const ChildOutput c = run_child("");
  EXPECT_EQ(c.out, expected_report(best_isa()));
  EXPECT_EQ(c.err, "");
}

TEST(JitsonIsaEnv, EachValueLowersButNeverRaises) {
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    const ChildOutput c = run_child(isa_name(isa));
    EXPECT_EQ(c.status, 0) << isa_name(isa);
    EXPECT_EQ(c.out, expected_report(lower(isa, best_isa()))) << "JITSON_ISA=" << isa_name(isa);
    EXPECT_EQ(c.err, "") << "JITSON_ISA=" << isa_name(isa);
  }
}

TEST(JitsonIsaEnv, UnknownValueWarnsOnceAndIsIgnored) {
  for (const char *bad : {"bogus", "AVX512", "avx-512", " avx2"}) {
    const ChildOutput c = run_child(bad);
    EXPECT_EQ(c.status, 0) << bad;
    EXPECT_EQ(c.out, expected_report(best_isa())) << "JITSON_ISA=" << bad;
    // Exactly one line, naming the value and what is allowed.
    ASSERT_FALSE(c.err.empty()) << bad;
    EXPECT_EQ(c.err.find('\n'), c.err.size() - 1) << c.err;
    EXPECT_NE(c.err.find(std::string("JITSON_ISA=") + bad), std::string::npos) << c.err;
    EXPECT_NE(c.err.find("avx512, avx2, scalar"), std::string::npos) << c.err;
  }
}

}  // namespace
}  // namespace jitson
