// Issue 15, section 2: every input a fuzzing run found mishandled, given to the built
// `xattn` binary as a user would. Each must end by itself (no hang: a 120 s limit, the
// slowest case takes well under a second in a release build), with the exit code the
// contract gives it (2: bad input; 3: the machine cannot hold the run), never a signal,
// with a message that names where the bad value came from (the file and line, or the
// option) and the field, and with no file left behind in its folder — neither an output
// nor a temporary `.tmp-` one (ARCHITECTURE.md, "Contracts"; docs/limits.md).
//
// The process level matters: a SIGFPE or a std::bad_alloc only shows as what it is when
// the command runs as its own process.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/gpu_host/process_util.hpp"
#include "tests/test_support.hpp"

namespace xattn {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kSource = XATTN_SOURCE_DIR;
const std::string kScenario = kSource + "/scenarios/llama32v-16xa100.yaml";

struct Expect {
  int code = 2;
  std::vector<std::string> names;  // each must appear in stderr: where, and which field
};

// Runs `xattn ARGS` in `dir` (its outputs go there) and checks the contract above.
void check(const std::string& what, const std::vector<std::string>& args, const Expect& e, const test::TempDir& dir) {
  SCOPED_TRACE(what);
  std::vector<std::string> argv{XATTN_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  const std::vector<std::string> before = sorted(dir.files());
  const test::TempDir logs;  // the child's stdout and stderr, outside `dir`
  auto kid = test::start_process(argv, {}, logs.path("xattn"));
  const test::Finished f = test::finish_process(kid, 120s);
  EXPECT_FALSE(f.killed) << "did not finish within 120 s";
  EXPECT_NE(f.code, -1) << "ended by a signal\n" << f.err;
  EXPECT_EQ(f.code, e.code) << f.err;
  for (const auto& n : e.names) EXPECT_NE(f.err.find(n), std::string::npos) << "stderr should name '" << n << "':\n" << f.err;
  EXPECT_EQ(sorted(dir.files()), before) << "a file was left behind";
}

void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

TEST(Robustness, CountsBeyondTheirLimitsAreBadInputNotSignalsOrWrappedNumbers) {
  test::TempDir dir;
  const std::string out = dir.path("out.txt");
  // SIGFPE before: 2^32 nodes made P = 0 and a division by it.
  check("nodes = 2^32", {"simulate", kScenario, "--set", "cluster.nodes=4294967296", "-o", out},
        {2, {"--set cluster.nodes=4294967296", "cluster.nodes", "largest value"}}, dir);
  check("gpus_per_node = 2^31", {"simulate", kScenario, "--set", "cluster.gpus_per_node=2147483648"},
        {2, {"cluster.gpus_per_node"}}, dir);
  // Narrowed to 32 bits before: "P -4", and 2^32 + 1 nodes became one node.
  check("nodes = 2^32 - 1", {"simulate", kScenario, "--set", "cluster.nodes=4294967295"}, {2, {"cluster.nodes"}}, dir);
  check("nodes = 2^32 + 1", {"simulate", kScenario, "--set", "cluster.nodes=4294967297"}, {2, {"cluster.nodes"}}, dir);
  check("nics = 2^32 + 1", {"simulate", kScenario, "--set", "cluster.inter_node.nics_per_node=4294967297"},
        {2, {"cluster.inter_node.nics_per_node"}}, dir);
  check("cross-attention layers = 2^32 + 1",
        {"simulate", kScenario, "--set", "workload.cross_attention_layers=4294967297"},
        {2, {"workload.cross_attention_layers"}}, dir);
  // Within each limit, the product P = nodes x GPUs per node is checked too: 2^20 x 4.
  check("P = 2^22", {"simulate", kScenario, "--set", "cluster.nodes=1048576"},
        {2, {"cluster.nodes", "largest cluster"}}, dir);
  // 64-bit overflow with exit 0 before: a negative time, a negative peak memory.
  check("S_q = 2^63 - 1", {"simulate", kScenario, "--set", "workload.text_tokens=9223372036854775807"},
        {2, {"workload.text_tokens"}}, dir);
  check("frames = 2^63 - 1", {"simulate", kScenario, "--set", "workload.frames=9223372036854775807"},
        {2, {"workload.frames"}}, dir);
  // frames and tokens per frame each in range, their product S_kv not.
  check("S_kv = 2^16 x 2^16", {"simulate", kScenario, "--set", "workload.frames=65536", "--set", "workload.tokens_per_frame=65536"},
        {2, {"workload.frames", "visual tokens"}}, dir);
  check("batch = 1e9 (the event engine's compute was 0)",
        {"simulate", kScenario, "--scope", "layer", "--engine", "event", "--set", "workload.batch=1000000000"}, {2, {"workload.batch"}}, dir);
  check("collective size 2^63 - 1 (a negative element count before)",
        {"collective", "--op", "all_reduce", "--gpus", "8", "--sizes", "9223372036854775807"}, {2, {"--sizes", "1 PiB"}},
        dir);
  check("collective on 2^31 GPUs", {"collective", "--op", "all_reduce", "--gpus", "2147483647"}, {2, {"--gpus"}}, dir);
}

TEST(Robustness, ASweepWithABadGridValueFailsWholeAndLeavesNoFile) {
  test::TempDir dir;
  const std::string sweep = dir.path("nodes.yaml");
  write(sweep, "base: " + kScenario + "\ngrid:\n  cluster.nodes: [1, 4294967296]\n");  // line 3
  const std::string out = dir.path("rows.csv");
  // Before: SIGFPE at the second point, its .tmp- file left behind.
  check("grid value 2^32", {"sweep", sweep, "-o", out}, {2, {sweep + ":3", "cluster.nodes"}}, dir);
  // A range whose end is beyond the limit, and one whose arithmetic would overflow.
  write(sweep, "base: " + kScenario + "\ngrid:\n  workload.batch: {from: 1, to: 9223372036854775807, factor: 2}\n");
  check("range to 2^63 - 1", {"sweep", sweep, "-o", out}, {2, {sweep + ":3", "workload.batch"}}, dir);
  write(sweep, "base: " + kScenario + "\ngrid:\n  workload.batch: {from: -9223372036854775807, to: 9223372036854775807, step: 1}\n");
  check("range over all of int64", {"sweep", sweep, "-o", out}, {2, {sweep + ":3", "workload.batch"}}, dir);
}

TEST(Robustness, AnInvalidValueIsExit2FromSimulateAndSweepAlike) {
  test::TempDir dir;
  const std::string sweep = dir.path("frames.yaml");
  write(sweep, "base: " + kScenario + "\ngrid:\n  workload.frames: [64, 128]\n");
  check("simulate dtype fp7", {"simulate", kScenario, "--set", "workload.dtype=fp7"},
        {2, {"--set workload.dtype=fp7", "workload.dtype", "unknown"}}, dir);
  // Before: exit 0 with every row infeasible.
  check("sweep dtype fp7", {"sweep", sweep, "--set", "workload.dtype=fp7", "-o", dir.path("rows.csv")},
        {2, {"--set workload.dtype=fp7", "workload.dtype", "unknown"}}, dir);
  // Before: "inf GB/s" in the table.
  check("bandwidth 1e308", {"simulate", kScenario, "--set", "cluster.inter_node.bandwidth_GBps=1e308"},
        {2, {"cluster.inter_node.bandwidth_GBps", "largest value"}}, dir);
  check("bandwidth inf", {"simulate", kScenario, "--set", "cluster.intra_node.bandwidth_GBps=inf"},
        {2, {"cluster.intra_node.bandwidth_GBps", "finite"}}, dir);
}

TEST(Robustness, TheEventEngineClockRefusesInsteadOfWrapping) {
  test::TempDir dir;
  // Before: 1e-9 GB/s gave 2 ms on the event engine and 2e8 s in the closed form. Now
  // below the slowest link accepted (1 kB/s) at parse time...
  check("bandwidth 1e-9", {"simulate", kScenario, "--scope", "layer", "--engine", "event", "--set", "cluster.inter_node.bandwidth_GBps=1e-9"},
        {2, {"cluster.inter_node.bandwidth_GBps", "at least"}}, dir);
  // ... and a run longer than 2^63 ps (here 1 kB/s links and 6.4e8 visual tokens: Ring's
  // KV blocks take about 1e9 s) is exit 2 naming the link, with the closed form's answer.
  check("a run longer than the clock",
        {"simulate", kScenario, "--scope", "layer", "--engine", "event", "-m", "ring", "-p", "fwd", "--set",
         "cluster.inter_node.bandwidth_GBps=1e-6", "--set", "cluster.intra_node.bandwidth_GBps=1e-6", "--set",
         "workload.frames=100000"},
        {2, {"cluster.", "bandwidth_GBps", "event engine", "closed form gives"}}, dir);
  // Before: ignored.
  check("straggler 1e12", {"simulate", kScenario, "--scope", "layer", "--engine", "event", "--straggler", "0:1e12"},
        {2, {"--straggler 0:1e12", "at most"}}, dir);
  check("straggler inf", {"simulate", kScenario, "--scope", "layer", "--engine", "event", "--straggler", "0:inf"},
        {2, {"--straggler 0:inf"}}, dir);
}

TEST(Robustness, ALongNameCostsNoMoreThanAShortOne) {
  // Before: a 100,000-character endpoint name hung `simulate` in the name suggestion.
  test::TempDir dir;
  const std::string scenario = dir.path("long.yaml");
  const std::string name(100000, 'x');
  write(scenario,
        "workload:\n  model: llama-3.2-11b-vision\ncluster:\n  gpu: a100-80gb\n  nodes: 1\n  gpus_per_node: 2\n"
        "  links:\n"
        "    - {name: a, from: gpu0, to: sw, bandwidth_GBps: 100, latency_us: 1, duplex: true}\n"
        "    - {name: b, from: gpu1, to: sw, bandwidth_GBps: 100, latency_us: 1, duplex: true}\n"
        "    - {name: c, from: gpu1, to: " + name + "y, bandwidth_GBps: 100, latency_us: 1}\n"     // line 10
        "    - {name: d, from: gpu0, to: " + name + "z, bandwidth_GBps: 100, latency_us: 1}\n");  // line 11
  check("100,000-character endpoints", {"simulate", scenario}, {2, {scenario + ":10", "unknown endpoint"}}, dir);
}

TEST(Robustness, MalformedTextIsBadInputNamingTheFile) {
  test::TempDir dir;
  // A trace holding a number no double can: exit 1 with a raw JSON-library message before.
  const std::string trace = dir.path("trace.json");
  write(trace, R"({"traceEvents": [{"ph": "X", "ts": 1e999}], "metadata": {"P": 2}})");
  check("1e999 in a trace",
        {"validate", "--measured", trace, "--scenario", kSource + "/scenarios/loopback-h100.yaml"}, {2, {trace}}, dir);
  // A scenario name with a byte that is not UTF-8, under -f json: exit 1 before.
  const std::string scenario = dir.path("latin1.yaml");
  std::string text = "name: caf\xe9\n";  // line 1
  std::ifstream base(kScenario);
  for (std::string line; std::getline(base, line);)
    if (line.rfind("name:", 0) != 0) text += line + "\n";
  write(scenario, text);
  check("not UTF-8", {"simulate", scenario, "-f", "json"}, {2, {scenario + ":1", "name", "UTF-8"}}, dir);
  // A key given twice: the last one silently won before.
  const std::string twice = dir.path("twice.yaml");
  write(twice, "workload:\n  model: llama-3.2-11b-vision\n  frames: 8\n  frames: 16\ncluster:\n  preset: lvxattn-16xa100\n");
  check("a duplicate key", {"simulate", twice}, {2, {twice + ":4", "workload.frames", "first on line 3"}}, dir);
  // A file that never ends (/dev/zero) is bounded, not read forever.
  check("an endless calibration file", {"simulate", kScenario, "--set", "calibration=/dev/zero"},
        {2, {"/dev/zero", "calibration"}}, dir);
}

TEST(Robustness, WorkTooLargeForTheMachineIsRefusedBeforeItIsBuilt) {
  test::TempDir dir;
  // Before: the event engine at 65,536 GPUs grew to gigabytes until killed.
  check("the event engine at 65,536 GPUs",
        {"simulate", kScenario, "--scope", "layer", "--engine", "event", "-m", "ring", "--set", "cluster.nodes=16384"},
        {3, {"event engine", "65536 GPUs", "closed form"}}, dir);
  // Before: at iteration scope (the default) the same run was not refused; it grew by
  // about 125 MB/s building the first layers until killed.
  check("the event engine's training step at 65,536 GPUs",
        {"simulate", kScenario, "--engine", "event", "-m", "lv-xattn", "--set", "cluster.nodes=16384"},
        {3, {"event engine", "training step", "65536 GPUs", "closed form"}}, dir);
  // The closed form at the same size answers.
  check("the closed form at 65,536 GPUs", {"simulate", kScenario, "--scope", "layer", "-m", "ring", "--set", "cluster.nodes=16384"}, {0, {}},
        dir);
  // Before: `schedule` at a million GPUs ended in std::bad_alloc (exit 1).
  check("schedule at 2^20 GPUs", {"schedule", kScenario, "-m", "ring", "--set", "cluster.nodes=262144"},
        {3, {"ring schedule on 1048576 GPUs", "memory"}}, dir);
  // Before: `collective --engine sim` at a million GPUs grew until killed.
  check("the collective simulator at 2^20 GPUs",
        {"collective", "--op", "all_reduce", "--engine", "sim", "--gpus", "1048576", "--sizes", "1M"},
        {3, {"1048576 GPUs", "closed form"}}, dir);
}

}  // namespace
}  // namespace xattn
