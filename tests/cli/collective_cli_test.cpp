// `xattn collective` with its two engines: the simulator's network (--engine sim) and the
// ring closed form agree on nominal figures (tests/sim/collective_sim_test.cpp shows why,
// engine against engine, without the command line).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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
  EXPECT_EQ(b["engine"], "ring");
  ASSERT_EQ(a["rows"].size(), 3u);
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_NEAR(a["rows"][i]["time_us"].get<double>() / b["rows"][i]["time_us"].get<double>(), 1.0, 1e-3);
  EXPECT_EQ(xattn::test::run({"collective", "--gpus", "8", "--engine", "magic"}).code, 2);
}

}  // namespace
}  // namespace xattn
