// `xattn simulate --engine event|both`, --trace and --ops, run in-process: the event
// engine's rows sit beside the closed form's in the JSON contract, and the trace and CSV
// files are written whole.
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_test_util.hpp"

namespace xattn::cli::test {
namespace {

TEST(SimulateEventEngine, BothEnginesSideBySide) {
  CliResult r = run({"simulate", kDefaultScenario, "--engine", "both", "-m", "lv-xattn", "-m", "ring", "-p", "fwd", "-f", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  ASSERT_EQ(doc["results"].size(), 4u);  // 2 mechanisms x 1 pass x 2 engines
  // Each mechanism: the analytic row, then the event row; forward passes of these rings
  // agree within 1% (tests/sim/cross_check_test.cpp).
  for (std::size_t i = 0; i < 4; i += 2) {
    const auto& a = doc["results"][i];
    const auto& e = doc["results"][i + 1];
    EXPECT_EQ(a["engine"], "analytic");
    EXPECT_EQ(e["engine"], "event");
    EXPECT_EQ(a["mechanism"], e["mechanism"]);
    EXPECT_NEAR(e["time_s"].get<double>(), a["time_s"].get<double>(), 0.01 * a["time_s"].get<double>());
  }
}

TEST(SimulateEventEngine, TraceAndOpsFiles) {
  TempDir dir;
  const std::string trace = dir.path("run.json"), ops = dir.path("ops.csv");
  CliResult r = run({"simulate", kDefaultScenario, "-e", "event", "-m", "ring", "-p", "bwd", "--trace", trace, "--ops", ops});
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream t(trace);
  const auto doc = nlohmann::json::parse(t);
  EXPECT_EQ(doc["metadata"]["mechanism"], "ring");
  EXPECT_EQ(doc["metadata"]["pass"], "bwd");
  EXPECT_FALSE(doc["traceEvents"].empty());
  std::ifstream o(ops);
  std::string header;
  std::getline(o, header);
  EXPECT_EQ(header.rfind("op_id,rank,index", 0), 0u);
}

}  // namespace
}  // namespace xattn::cli::test
