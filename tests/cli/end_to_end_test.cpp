// The built `xattn` binary, run as a user would (XATTN_BINARY): exit codes and output
// streams of a real process.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_test_util.hpp"

namespace xattn::cli::test {
namespace {

struct Process {
  int code = -1;
  std::string out;
};

// Runs the binary with `args` (already shell-quoted), capturing stdout; stderr goes to
// `err_file` when given.
Process run_binary(const std::string& args, const std::string& err_file = "/dev/null") {
  std::string cmd = std::string("'") + XATTN_BINARY + "' " + args + " 2>'" + err_file + "'";
  Process p;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return p;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) p.out.append(buf, n);
  int status = ::pclose(pipe);
  p.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return p;
}

TEST(EndToEnd, SimulateJsonParsesAndExitsZero) {
  Process p = run_binary("simulate '" + kDefaultScenario + "' --scope layer --format json --pass fwd+bwd");
  ASSERT_EQ(p.code, 0);
  auto doc = nlohmann::json::parse(p.out);
  EXPECT_EQ(doc["results"].size(), 4u);  // the default scenario's 4 mechanisms x 1 pass
}

TEST(EndToEnd, TheReadmesMainJobBlockIsWhatItsFirstCommandPrints) {
  // The README's first command ends by running xattn; the block under the
  // `main-job-output` marker must be exactly what that run prints (iteration scope).
  const std::string readme = read_file(kSourceDir + "/README.md");
  const std::string run_marker = "&& ./build/cli/xattn ";
  const std::size_t at = readme.find(run_marker);
  ASSERT_NE(at, std::string::npos);
  const std::string args = readme.substr(at + run_marker.size(), readme.find('\n', at) - at - run_marker.size());
  const std::string block_marker = "<!-- main-job-output -->\n```\n";
  const std::size_t from = readme.find(block_marker);
  ASSERT_NE(from, std::string::npos);
  const std::size_t start = from + block_marker.size();
  const std::string block = readme.substr(start, readme.find("```\n", start) - start);
  // Run from the source folder, as the README does.
  std::string cmd = "cd '" + kSourceDir + "' && '" + XATTN_BINARY + "' " + args + " 2>/dev/null";
  std::string out;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = ::pclose(pipe);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd;
  EXPECT_EQ(block, out);
}

TEST(EndToEnd, BadInputExitsTwoWithTheFieldOnStderr) {
  TempDir dir;
  std::string err = dir.path("err.txt");
  Process p = run_binary("simulate '" + kDefaultScenario + "' --set workload.frames=0", err);
  EXPECT_EQ(p.code, 2);
  EXPECT_EQ(p.out, "");
  EXPECT_NE(read_file(err).find("workload.frames"), std::string::npos);
  EXPECT_EQ(run_binary("simulate --no-such-option").code, 2);
}

TEST(EndToEnd, VersionAndHelpExitZero) {
  Process v = run_binary("--version");
  EXPECT_EQ(v.code, 0);
  EXPECT_TRUE(v.out.starts_with("xattn 0.1.0")) << v.out;
  EXPECT_EQ(run_binary("--help").code, 0);
  EXPECT_EQ(run_binary("sweep --help").code, 0);
}

TEST(EndToEnd, SweepWritesItsCsvWithoutATerminalProgressBar) {
  // stderr is a file, not a terminal: no progress bar, only the one summary line.
  TempDir dir;
  std::string out = dir.path("frames.csv");
  std::string err = dir.path("err.txt");
  Process p = run_binary("sweep '" + kSourceDir + "/scenarios/sweeps/llama32v-frames.yaml' --out '" + out + "'", err);
  ASSERT_EQ(p.code, 0);
  EXPECT_EQ(parse_csv(read_file(out)).size(), 1u + 288u);
  EXPECT_EQ(read_file(err).find('\r'), std::string::npos);
}

TEST(EndToEnd, AnInterruptedSweepLeavesNoFileBehind) {
  // 10,000 x 1,000 = 1e7 points take seconds even on a fast machine; SIGINT after 0.3 s
  // lands mid-sweep. Expected: exit by SIGINT (timeout reports 124) and the folder holds
  // only the sweep file: neither big.csv nor its temporary.
  TempDir dir;
  std::string f = dir.write("big.yaml", "base: " + kDefaultScenario +
                                            "\ngrid:\n  workload.frames: {from: 1, to: 10000, step: 1}\n"
                                            "  workload.text_tokens: {from: 16, to: 16000, step: 16}\n"
                                            "mechanisms: [ring]\n");
  std::string cmd = "timeout -s INT 0.3 '" + std::string(XATTN_BINARY) + "' sweep '" + f + "' --jobs 2 --out '" +
                    dir.path("big.csv") + "' 2>/dev/null";
  int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 124);  // timeout(1): the command was signalled
  EXPECT_EQ(dir.files(), std::vector<std::string>{"big.yaml"});
}

}  // namespace
}  // namespace xattn::cli::test
