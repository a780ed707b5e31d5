// Who a process is in a multi-process run (gpu/launch.hpp): each launcher's variables,
// which launcher wins when several are set, what is refused and how it is worded, the
// rendezvous address, and which GPU a process takes.
#include <gtest/gtest.h>

#include <cstdlib>

#include "gpu/errors.hpp"
#include "gpu/launch.hpp"

namespace xattn::gpu {
namespace {

std::string error_of(const Environment& env) {
  try {
    (void)detect_launch(env);
  } catch (const LaunchError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Launch, EachLauncherIsReadWithItsRankOnTheNode) {
  struct Case {
    Environment env;
    Launcher launcher;
    int rank, world, local;
  };
  const std::vector<Case> cases{
      {{{"XATTN_RANK", "3"}, {"XATTN_WORLD", "8"}, {"XATTN_LOCAL_RANK", "1"}}, Launcher::xattn, 3, 8, 1},
      {{{"OMPI_COMM_WORLD_RANK", "5"}, {"OMPI_COMM_WORLD_SIZE", "16"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}},
       Launcher::open_mpi, 5, 16, 1},
      {{{"PMI_RANK", "2"}, {"PMI_SIZE", "4"}, {"MPI_LOCALRANKID", "0"}}, Launcher::pmi, 2, 4, 0},
      {{{"RANK", "7"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "3"}}, Launcher::torchrun, 7, 8, 3},
      {{{"SLURM_PROCID", "6"}, {"SLURM_STEP_NUM_TASKS", "12"}, {"SLURM_LOCALID", "2"}, {"SLURM_NTASKS", "12"}},
       Launcher::slurm, 6, 12, 2},
      // The rank on the node is optional.
      {{{"RANK", "1"}, {"WORLD_SIZE", "2"}}, Launcher::torchrun, 1, 2, -1},
  };
  for (const Case& c : cases) {
    auto e = detect_launch(c.env);
    ASSERT_TRUE(e.has_value()) << to_string(c.launcher);
    EXPECT_EQ(e->launcher, c.launcher);
    EXPECT_EQ(e->rank, c.rank) << to_string(c.launcher);
    EXPECT_EQ(e->world, c.world) << to_string(c.launcher);
    EXPECT_EQ(e->local_rank, c.local) << to_string(c.launcher);
  }
}

TEST(Launch, DescribeNamesTheVariablesAndTheirValues) {
  auto e = detect_launch({{"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "4"}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->describe(), "rank 1 of 4 (open_mpi: OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=4)");
}

TEST(Launch, TheInnermostLauncherWins) {
  // mpirun inside a Slurm allocation: Open MPI's variables, not Slurm's.
  auto a = detect_launch({{"OMPI_COMM_WORLD_RANK", "3"}, {"OMPI_COMM_WORLD_SIZE", "4"}, {"SLURM_PROCID", "0"},
                          {"SLURM_STEP_NUM_TASKS", "1"}});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->launcher, Launcher::open_mpi);
  EXPECT_EQ(a->rank, 3);
  // srun starting one torchrun per node: torchrun's global rank, not the node's task id.
  auto b = detect_launch({{"RANK", "5"}, {"WORLD_SIZE", "8"}, {"SLURM_PROCID", "1"}, {"SLURM_STEP_NUM_TASKS", "2"}});
  ASSERT_TRUE(b);
  EXPECT_EQ(b->launcher, Launcher::torchrun);
  EXPECT_EQ(b->rank, 5);
  // xattn's own names override everything.
  auto c = detect_launch({{"XATTN_RANK", "0"}, {"XATTN_WORLD", "2"}, {"RANK", "5"}, {"WORLD_SIZE", "8"}});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->launcher, Launcher::xattn);
  EXPECT_EQ(c->world, 2);
}

TEST(Launch, NoLauncherAndASlurmBatchScriptAreNotMultiProcess) {
  EXPECT_FALSE(detect_launch({}));
  EXPECT_FALSE(detect_launch({{"HOME", "/root"}, {"PATH", "/usr/bin"}}));
  // The batch script of `sbatch --ntasks 4` itself: rank 0 of 4 by SLURM_NTASKS, but not
  // an srun task (no SLURM_STEP_NUM_TASKS). A plain `xattn run` there is one process.
  EXPECT_FALSE(detect_launch({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}, {"SLURM_LOCALID", "0"}}));
  // Empty values count as unset.
  EXPECT_FALSE(detect_launch({{"RANK", ""}, {"WORLD_SIZE", ""}}));
}

TEST(Launch, HalfOfAPairIsAnErrorForDistinctiveNamesAndIgnoredForGenericOnes) {
  EXPECT_EQ(error_of({{"XATTN_RANK", "1"}}), "XATTN_RANK is set but XATTN_WORLD is not: set both, or neither");
  EXPECT_EQ(error_of({{"OMPI_COMM_WORLD_SIZE", "4"}}),
            "OMPI_COMM_WORLD_SIZE is set but OMPI_COMM_WORLD_RANK is not: set both, or neither");
  // RANK alone is a generic name some shells set for other reasons: not a launch.
  EXPECT_FALSE(detect_launch({{"RANK", "1"}}));
  // ... and a half-set generic pair does not hide a later launcher.
  auto e = detect_launch({{"RANK", "1"}, {"SLURM_PROCID", "2"}, {"SLURM_STEP_NUM_TASKS", "4"}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->launcher, Launcher::slurm);
}

TEST(Launch, ValuesThatAreNotRanksAreRefusedNamingTheVariable) {
  EXPECT_EQ(error_of({{"RANK", "one"}, {"WORLD_SIZE", "2"}}), "RANK='one' is not a whole number >= 0");
  EXPECT_EQ(error_of({{"RANK", "1"}, {"WORLD_SIZE", "2x"}}), "WORLD_SIZE='2x' is not a whole number >= 0");
  EXPECT_EQ(error_of({{"RANK", "-1"}, {"WORLD_SIZE", "2"}}), "RANK='-1' is not a whole number >= 0");
  EXPECT_EQ(error_of({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "x"}}), "LOCAL_RANK='x' is not a whole number >= 0");
  EXPECT_EQ(error_of({{"RANK", "2"}, {"WORLD_SIZE", "2"}}),
            "RANK=2 WORLD_SIZE=2: rank 2 is outside a world of 2 (ranks 0..1)");
  EXPECT_EQ(error_of({{"RANK", "0"}, {"WORLD_SIZE", "0"}}), "RANK=0 WORLD_SIZE=0: a world of 0 processes");
  // Surrounding blanks and a trailing newline (from a wrapper's $(...)) are tolerated.
  auto e = detect_launch({{"RANK", " 1\n"}, {"WORLD_SIZE", "2 "}});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->rank, 1);
}

TEST(Launch, ProcessEnvironmentReadsThisProcess) {
  ::setenv("XATTN_LAUNCH_TEST_VARIABLE", "a=b", 1);
  const Environment env = process_environment();
  ::unsetenv("XATTN_LAUNCH_TEST_VARIABLE");
  auto it = env.find("XATTN_LAUNCH_TEST_VARIABLE");
  ASSERT_NE(it, env.end());
  EXPECT_EQ(it->second, "a=b");  // split at the first '='
}

TEST(TcpAddress, ParsesHostPortAndBracketedIpv6) {
  auto a = parse_tcp_address("node17:29500", "--rendezvous");
  EXPECT_EQ(a.host, "node17");
  EXPECT_EQ(a.port, 29500);
  EXPECT_EQ(a.str(), "node17:29500");
  auto b = parse_tcp_address("[fe80::1]:1", "--rendezvous");
  EXPECT_EQ(b.host, "fe80::1");
  EXPECT_EQ(b.port, 1);
  EXPECT_EQ(b.str(), "[fe80::1]:1");
  for (const char* bad : {"node17", "node17:", ":29500", "node17:0", "node17:65536", "node17:29x", "a:b:1", "[::1]", "[::1]29500"})
    EXPECT_THROW((void)parse_tcp_address(bad, "--rendezvous"), LaunchError) << bad;
  try {
    (void)parse_tcp_address("node17:70000", "--rendezvous");
  } catch (const LaunchError& e) {
    EXPECT_STREQ(e.what(), "--rendezvous: '70000' is not a TCP port (1..65535)");
  }
}

TEST(TcpAddress, FromMasterAddrAndMasterPort) {
  EXPECT_FALSE(tcp_address_from_env({}));
  auto a = tcp_address_from_env({{"MASTER_ADDR", "10.0.0.1"}, {"MASTER_PORT", "29500"}});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->str(), "10.0.0.1:29500");
  EXPECT_THROW((void)tcp_address_from_env({{"MASTER_ADDR", "10.0.0.1"}}), LaunchError);
  EXPECT_THROW((void)tcp_address_from_env({{"MASTER_PORT", "29500"}}), LaunchError);
  EXPECT_THROW((void)tcp_address_from_env({{"MASTER_ADDR", "h"}, {"MASTER_PORT", "http"}}), LaunchError);
}

TEST(LocalDevice, RankOnTheNodeOrTheOnlyGpuOrRankModuloGpus) {
  EXPECT_EQ(choose_local_device(5, 1, 4), 1);  // its rank on the node
  EXPECT_EQ(choose_local_device(5, 3, 1), 0);  // one GPU per process (CUDA_VISIBLE_DEVICES per task)
  EXPECT_EQ(choose_local_device(6, -1, 4), 2); // unknown rank on the node: rank modulo GPUs
  EXPECT_THROW((void)choose_local_device(0, 0, 0), GpuUnavailable);
  try {
    (void)choose_local_device(9, 5, 4);
    ADD_FAILURE() << "rank 5 on a node of 4 GPUs";
  } catch (const GpuUnavailable& e) {
    EXPECT_STREQ(e.what(),
                 "rank 9 is rank 5 on its node, but the node shows this process only 4 GPUs: start at most 4 processes per "
                 "node (one per GPU)");
  }
}

}  // namespace
}  // namespace xattn::gpu
