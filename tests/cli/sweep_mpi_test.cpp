// `xattn sweep` under `mpiexec -n 3` (a build with MPI; issue 18 §4): the chunks of points
// are dealt to the ranks, and rank 0 writes byte for byte the CSV one process writes, with
// a summary line on stderr naming the ranks and the points.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "tests/cli/cli_test_util.hpp"
#include "tests/gpu_host/process_util.hpp"

namespace xattn::cli::test {
namespace {

using namespace std::chrono_literals;

TEST(SweepMpi, RankZeroWritesWhatOneProcessWrites) {
  if (std::string(XATTN_MPIEXEC).empty()) GTEST_SKIP() << "xattn was built without MPI (apt-get install libopenmpi-dev)";
  TempDir dir;
  // 60 x 30 = 1800 points: four chunks of 512, so every rank has one and rank 0 two, the
  // last one short.
  const std::string sweep = dir.write("grid.yaml", "base: " + kDefaultScenario +
                                                        "\n"
                                                        "grid:\n"
                                                        "  workload.frames: {from: 1, to: 60, step: 1}\n"
                                                        "  workload.text_tokens: {from: 64, to: 1920, step: 64}\n"
                                                        "mechanisms: [lv-xattn, ring]\n"
                                                        "passes: [fwd+bwd]\n");
  const CliResult one = run({"sweep", sweep, "--jobs", "2"});
  ASSERT_EQ(one.code, 0) << one.err;
  ASSERT_EQ(parse_csv(one.out).size(), 1u + 1800u * 2u);  // header + points x mechanisms
  const std::map<std::string, std::string> env{{"OMPI_ALLOW_RUN_AS_ROOT", "1"},
                                               {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"},
                                               {"OMPI_MCA_rmaps_base_oversubscribe", "1"},
                                               {"OMPI_MCA_btl_vader_single_copy_mechanism", "none"}};
  for (const bool to_file : {false, true}) {
    std::vector<std::string> argv{XATTN_MPIEXEC, "-n", "3", XATTN_BINARY, "sweep", sweep, "--jobs", "1"};
    if (to_file) argv.insert(argv.end(), {"--out", dir.path("three.csv")});
    auto kid = xattn::test::start_process(argv, env, dir.path(to_file ? "file" : "stdout"));
    const auto f = xattn::test::finish_process(kid, 120s);
    ASSERT_EQ(f.code, 0) << f.err;
    EXPECT_EQ(to_file ? read_file(dir.path("three.csv")) : f.out, one.out);
    EXPECT_NE(f.err.find("3 ranks: 1800 points"), std::string::npos) << f.err;
  }
}

}  // namespace
}  // namespace xattn::cli::test
