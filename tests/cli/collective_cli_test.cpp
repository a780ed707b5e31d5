// `xattn collective` with its two engines: the simulator's network (--engine sim) and the
// closed form agree on nominal figures (tests/sim/collective_sim_test.cpp shows why,
// engine against engine, without the command line); and against a measured log.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <string>

#include "tests/cli/cli_test_util.hpp"

namespace xattn {
namespace {

TEST(CollectiveCommand, SimEngineAgreesWithTheRingEngineOnNominalNdv4) {
  // Nominal figures (one regime per class): the two engines agree (first test above).
  auto sim = xattn::test::run({"collective", "--op", "all_reduce", "--gpus", "16", "--gpus-per-node", "8", "--sizes",
                               "64K,1M,256M", "--format", "json", "--engine", "sim"});
  auto ring = xattn::test::run({"collective", "--op", "all_reduce", "--gpus", "16", "--gpus-per-node", "8", "--sizes",
                                "64K,1M,256M", "--format", "json"});
  ASSERT_EQ(sim.code, 0) << sim.err;
  ASSERT_EQ(ring.code, 0) << ring.err;
  auto a = nlohmann::json::parse(sim.out), b = nlohmann::json::parse(ring.out);
  EXPECT_EQ(a["engine"], "sim");
  EXPECT_EQ(b["engine"], "analytic");
  ASSERT_EQ(a["rows"].size(), 3u);
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_NEAR(a["rows"][i]["time_us"].get<double>() / b["rows"][i]["time_us"].get<double>(), 1.0, 1e-3);
  EXPECT_EQ(xattn::test::run({"collective", "--gpus", "8", "--engine", "magic"}).code, 2);
  // `ring`, the closed form's former name, still names it.
  auto old = xattn::test::run({"collective", "--gpus", "8", "--engine", "ring", "--sizes", "1M", "--format", "json"});
  ASSERT_EQ(old.code, 0) << old.err;
  EXPECT_EQ(nlohmann::json::parse(old.out)["engine"], "analytic");
}

TEST(CollectiveCommand, AgainstAMeasuredLogItTakesTheLogsShapeAndSizesAndGivesTheErrors) {
  // The 16-GPU fixture: 2 nodes of 8 by MPI, 25 sizes from 1 KiB. Each row carries the
  // measured time (the faster of out-of-place and in-place) and the error; the summary is
  // the mean |error|, as the held-out tables of docs/validation.md report it.
  const std::string log = std::string(XATTN_SOURCE_DIR) + "/tests/data/nccl-tests/azure-ndv4-a100/all_reduce_16gpu.log";
  auto r = xattn::test::run({"collective", "--measured", log, "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["gpus"], 16);
  EXPECT_EQ(j["nodes"], 2);
  EXPECT_EQ(j["launch"], "mpi");
  ASSERT_EQ(j["rows"].size(), 25u);
  EXPECT_EQ(j["rows"][0]["size_bytes"], 1024);
  EXPECT_NEAR(j["rows"][0]["measured_time_us"].get<double>(), 34.47, 1e-9);  // in-place, the faster
  double sum = 0;
  for (const auto& row : j["rows"]) {
    const double e = (row["time_us"].get<double>() - row["measured_time_us"].get<double>()) /
                     row["measured_time_us"].get<double>();
    EXPECT_NEAR(row["error"].get<double>(), e, 1e-12);
    sum += std::abs(e);
  }
  EXPECT_NEAR(j["mape"].get<double>(), sum / 25, 1e-12);
  // Sizes come from the log; giving them too is an error, and so is no shape at all.
  EXPECT_EQ(xattn::test::run({"collective", "--measured", log, "--sizes", "1M"}).code, 2);
  EXPECT_EQ(xattn::test::run({"collective"}).code, 2);
}

}  // namespace
}  // namespace xattn
