// `xattn run --transport nccl` started as one of several processes, as a launcher starts
// it: the xattn binary run with a launcher's variables. What the command refuses before
// touching a GPU (exit 2, with the reason), and — in a build with CUDA — two processes
// meeting over TCP: on a machine without enough GPUs both stop with the same kind of
// error (exit 3) naming their rank; with two GPUs or more they run, and rank 0 alone
// prints the result and writes one trace holding both ranks' ops.
#include <gtest/gtest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "gpu/rendezvous.hpp"
#include "tests/gpu_host/process_util.hpp"
#include "tests/test_support.hpp"

#ifdef XATTN_HAVE_GPU
#include "gpu/device.hpp"
#endif

namespace xattn {
namespace {

using namespace std::chrono_literals;

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const std::string scenario = std::string(XATTN_SOURCE_DIR) + "/scenarios/llama32v-16xa100.yaml";

// `xattn run` of a small LV-XAttn forward on P = 2 ranks, with `extra` arguments.
std::vector<std::string> run_args(const std::vector<std::string>& extra) {
  std::vector<std::string> a{XATTN_BINARY, "run", scenario, "-m", "lv-xattn", "-P", "2", "--set", "workload.text_tokens=256",
                             "--set", "workload.frames=1", "--set", "workload.tokens_per_frame=512", "--reps", "2"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

test::Finished xattn(const std::vector<std::string>& extra, const std::map<std::string, std::string>& env,
                     const test::TempDir& dir, const std::string& name = "run") {
  auto kid = test::start_process(run_args(extra), env, dir.path(name));
  return test::finish_process(kid, 60s);
}

std::string describe(const test::Finished& f) {
  return "exit " + std::to_string(f.code) + "\nstdout:\n" + f.out + "stderr:\n" + f.err;
}

TEST(RunLaunch, AWorldThatIsNotTheSchedulesRanksIsBadInput) {
  // torchrun started 4 processes; the schedule has 2 ranks. Expected: exit 2 before any
  // GPU or network, naming both numbers and the launcher's variables.
  test::TempDir dir;
  auto f = xattn({"--transport", "nccl"}, {{"RANK", "0"}, {"WORLD_SIZE", "4"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "1"}},
                 dir);
  EXPECT_EQ(f.code, 2) << describe(f);
  EXPECT_TRUE(has(f.err, "the schedule has 2 ranks, but this process is rank 0 of 4 (torchrun: RANK=0 WORLD_SIZE=4)")) << f.err;
  EXPECT_TRUE(has(f.err, "pass -P 4")) << f.err;
}

TEST(RunLaunch, OneOfSeveralProcessesWithoutARendezvousAddressIsBadInput) {
  test::TempDir dir;
  auto f = xattn({"--transport", "nccl"}, {{"SLURM_PROCID", "1"}, {"SLURM_STEP_NUM_TASKS", "2"}}, dir);
  EXPECT_EQ(f.code, 2) << describe(f);
  EXPECT_TRUE(has(f.err, "set MASTER_ADDR and MASTER_PORT")) << f.err;
  EXPECT_TRUE(has(f.err, "rank 1 of 2 (slurm: SLURM_PROCID=1 SLURM_STEP_NUM_TASKS=2)")) << f.err;
  auto g = xattn({"--transport", "nccl", "--rendezvous", "node0"}, {{"SLURM_PROCID", "1"}, {"SLURM_STEP_NUM_TASKS", "2"}}, dir);
  EXPECT_EQ(g.code, 2) << describe(g);
  EXPECT_TRUE(has(g.err, "--rendezvous: 'node0' is not HOST:PORT")) << g.err;
}

TEST(RunLaunch, BrokenLauncherVariablesAreBadInput) {
  test::TempDir dir;
  auto f = xattn({"--transport", "nccl"}, {{"XATTN_RANK", "1"}}, dir);
  EXPECT_EQ(f.code, 2) << describe(f);
  EXPECT_TRUE(has(f.err, "environment: launch: XATTN_RANK is set but XATTN_WORLD is not")) << f.err;
  auto g = xattn({"--transport", "nccl"}, {{"OMPI_COMM_WORLD_RANK", "x"}, {"OMPI_COMM_WORLD_SIZE", "2"}}, dir);
  EXPECT_EQ(g.code, 2) << describe(g);
  EXPECT_TRUE(has(g.err, "OMPI_COMM_WORLD_RANK='x' is not a whole number")) << g.err;
}

TEST(RunLaunch, OptionsThatCannotGoTogetherAreBadInput) {
  test::TempDir dir;
  // One process per rank is for NCCL.
  auto a = xattn({"--launch", "tcp"}, {{"RANK", "0"}, {"WORLD_SIZE", "2"}}, dir, "a");
  EXPECT_EQ(a.code, 2) << describe(a);
  EXPECT_TRUE(has(a.err, "one process per rank needs --transport nccl")) << a.err;
  // --launch tcp without a launcher.
  auto b = xattn({"--transport", "nccl", "--launch", "tcp"}, {}, dir, "b");
  EXPECT_EQ(b.code, 2) << describe(b);
  EXPECT_TRUE(has(b.err, "no launcher's variables found")) << b.err;
  // NCCL runs one rank per GPU: no shared device stream.
  auto c = xattn({"--transport", "nccl", "--compute", "serial"}, {}, dir, "c");
  EXPECT_EQ(c.code, 2) << describe(c);
  EXPECT_TRUE(has(c.err, "--compute per-rank")) << c.err;
  // MPI asked for in a build without it.
  if (!gpu::mpi_built()) {
    auto d = xattn({"--transport", "nccl", "--launch", "mpi"}, {}, dir, "d");
    EXPECT_EQ(d.code, 2) << describe(d);
    EXPECT_TRUE(has(d.err, "built without MPI")) << d.err;
  }
}

TEST(RunLaunch, LoopbackIgnoresTheLauncher) {
  // Every process of a loopback run runs the whole schedule on its own GPU: a launcher's
  // variables are no reason to refuse it (exit 3 without a GPU, 0 with one; never 2).
  test::TempDir dir;
  auto f = xattn({}, {{"RANK", "1"}, {"WORLD_SIZE", "4"}}, dir);
  EXPECT_TRUE(f.code == 0 || f.code == 3) << describe(f);
}

#ifdef XATTN_HAVE_GPU

int gpus_here() { return static_cast<int>(gpu::query_devices().devices.size()); }

TEST(RunLaunch, TwoProcessesMeetOverTcpAndRank0WritesTheOneTrace) {
  // Ranks 0 and 1 of torchrun-style variables on one machine, LOCAL_RANK 0 and 1.
  // Without two GPUs: both meet, learn that a rank cannot run, and exit 3 naming their
  // rank. With two GPUs or more: both exit 0; rank 0 prints the table and writes a trace
  // with every op of both ranks; rank 1 prints nothing.
  test::TempDir dir;
  const int port = test::free_port();
  const std::string trace = dir.path("merged.json");
  auto env = [&](int r) {
    return std::map<std::string, std::string>{{"RANK", std::to_string(r)}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", std::to_string(r)},
                                              {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", std::to_string(port)}};
  };
  const std::vector<std::string> extra{"--transport", "nccl", "--launch", "tcp", "--trace", trace, "--rendezvous-timeout", "30"};
  auto k1 = test::start_process(run_args(extra), env(1), dir.path("rank1"));
  auto k0 = test::start_process(run_args(extra), env(0), dir.path("rank0"));
  auto f0 = test::finish_process(k0, 120s);
  auto f1 = test::finish_process(k1, 120s);
  if (gpus_here() < 2) {
    EXPECT_EQ(f0.code, 3) << describe(f0);
    EXPECT_EQ(f1.code, 3) << describe(f1);
    EXPECT_TRUE(has(f0.err, "xattn run: rank 0: ")) << f0.err;
    EXPECT_TRUE(has(f1.err, "xattn run: rank 1: ")) << f1.err;
    EXPECT_FALSE(std::filesystem::exists(trace));
    return;
  }
  ASSERT_EQ(f0.code, 0) << describe(f0);
  ASSERT_EQ(f1.code, 0) << describe(f1);
  EXPECT_TRUE(has(f0.out, "2 processes via tcp")) << f0.out;
  EXPECT_EQ(f1.out, "");
  const auto doc = nlohmann::json::parse(test::slurp(trace));
  EXPECT_EQ(doc["metadata"]["processes"], 2);
  EXPECT_EQ(doc["metadata"]["launch"], "tcp");
  std::set<int> pids;
  for (const auto& e : doc["traceEvents"])
    if (e.value("ph", "") == "X") pids.insert(e["pid"].get<int>());
  EXPECT_EQ(pids.size(), 2u) << "ops of both ranks in the one trace";
}

TEST(RunLaunch, ProcessesStartedByMpiexecMeetThroughMpi) {
  // Built with MPI: `mpiexec -n 2 xattn run --transport nccl` takes the MPI bootstrap by
  // itself. Without two GPUs: both ranks report why (exit 3, mpiexec passes it on); with
  // two or more, the trace says 2 processes launched by mpi.
  if (std::string(XATTN_MPIEXEC).empty()) GTEST_SKIP() << "xattn was built without MPI (apt-get install libopenmpi-dev)";
  test::TempDir dir;
  const std::string trace = dir.path("merged.json");
  std::vector<std::string> argv{XATTN_MPIEXEC, "-n", "2"};
  for (const auto& a : run_args({"--transport", "nccl", "--trace", trace})) argv.push_back(a);
  auto kid = test::start_process(argv,
                                 {{"OMPI_ALLOW_RUN_AS_ROOT", "1"}, {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"},
                                  {"OMPI_MCA_rmaps_base_oversubscribe", "1"},
                                  {"OMPI_MCA_btl_vader_single_copy_mechanism", "none"}},
                                 dir.path("mpi"));
  auto f = test::finish_process(kid, 120s);
  if (gpus_here() < 2) {
    EXPECT_EQ(f.code, 3) << describe(f);
    EXPECT_TRUE(has(f.err, "rank 0: ")) << f.err;
    EXPECT_TRUE(has(f.err, "rank 1: ")) << f.err;
    return;
  }
  ASSERT_EQ(f.code, 0) << describe(f);
  const auto doc = nlohmann::json::parse(test::slurp(trace));
  EXPECT_EQ(doc["metadata"]["processes"], 2);
  EXPECT_EQ(doc["metadata"]["launch"], "mpi");
}

TEST(RunLaunch, ProcessesStartedWithDifferentArgumentsStopTogether) {
  // Rank 1 warms up twice, rank 0 once: NCCL would hang on the extra run. Expected: both
  // exit 2 with one message naming rank 1, before any GPU work.
  test::TempDir dir;
  const int port = test::free_port();
  auto env = [&](int r) {
    return std::map<std::string, std::string>{{"RANK", std::to_string(r)}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"},
                                              {"MASTER_PORT", std::to_string(port)}};
  };
  auto k0 = test::start_process(run_args({"--transport", "nccl", "--rendezvous-timeout", "30"}), env(0), dir.path("rank0"));
  auto k1 = test::start_process(run_args({"--transport", "nccl", "--rendezvous-timeout", "30", "--warmup", "2"}), env(1),
                                dir.path("rank1"));
  auto f0 = test::finish_process(k0, 60s);
  auto f1 = test::finish_process(k1, 60s);
  for (const auto& f : {f0, f1}) {
    EXPECT_EQ(f.code, 2) << describe(f);
    EXPECT_TRUE(has(f.err, "rank 1 runs [")) << f.err;
    EXPECT_TRUE(has(f.err, "warmup=2")) << f.err;
    EXPECT_TRUE(has(f.err, "start every process with the same arguments")) << f.err;
  }
}

TEST(RunLaunch, AProcessThatNeverComesEndsTheRunAtTheTimeout) {
  // World 2, only rank 0 starts, 1 s to wait. Expected: exit 3 (the environment: the
  // processes could not meet, cli/errors.hpp) naming rank 1 as missing.
  test::TempDir dir;
  const int port = test::free_port();
  auto f = xattn({"--transport", "nccl", "--rendezvous-timeout", "1"},
                 {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", std::to_string(port)}}, dir);
  EXPECT_EQ(f.code, 3) << describe(f);
  EXPECT_TRUE(has(f.err, "for rank(s) 1 (1 of 2 never joined)")) << f.err;
}

#else

TEST(RunLaunch, ABuildWithoutCudaSaysSoAfterCheckingTheInput) {
  test::TempDir dir;
  auto f = xattn({"--transport", "nccl"}, {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "1"}},
                 dir);
  EXPECT_EQ(f.code, 3) << describe(f);
  EXPECT_TRUE(has(f.err, "built without CUDA")) << f.err;
}

#endif

}  // namespace
}  // namespace xattn
