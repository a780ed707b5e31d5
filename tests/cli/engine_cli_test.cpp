// `xattn simulate --engine event|both`, --trace and --ops, run in-process: the event
// engine's rows sit beside the closed form's in the JSON contract, and the trace and CSV
// files are written whole.
#include <fstream>
#include <sstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_test_util.hpp"

namespace xattn::cli::test {
namespace {

TEST(SimulateEventEngine, BothEnginesSideBySide) {
  CliResult r = run({"simulate", kDefaultScenario, "--scope", "layer", "--engine", "both", "-m", "lv-xattn", "-m", "ring", "-p", "fwd", "-f", "json"});
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

TEST(SimulateEventEngine, BothSaysHowFarTheClosedFormIsAndWhetherLinksWereShared) {
  // Ulysses' all-to-alls on the 16-GPU scenario cross nodes through shared NIC links
  // (tests/sim/cross_check_test.cpp, AllToAllAcrossNodesSharesNics); LV-XAttn's forward
  // shares nothing and agrees with the closed form within 1% (eq. 6-8).
  CliResult r = run({"simulate", kDefaultScenario, "--scope", "layer", "-e", "both", "-m", "lv-xattn,ulysses", "-p", "fwd", "-f", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  ASSERT_EQ(doc["results"].size(), 4u);
  for (std::size_t i = 0; i < 4; i += 2) {
    const auto& a = doc["results"][i];
    const auto& e = doc["results"][i + 1];
    ASSERT_EQ(e["engine"], "event");
    EXPECT_FALSE(a.contains("vs_analytic"));
    EXPECT_FALSE(a.contains("link_shared"));
    ASSERT_TRUE(e.contains("vs_analytic")) << e.dump();
    const double ta = a["time_s"].get<double>(), te = e["time_s"].get<double>();
    // The difference is the two rows' own: (event - analytic) / analytic.
    EXPECT_NEAR(e["vs_analytic"]["time_diff_s"].get<double>(), te - ta, 1e-12);
    EXPECT_NEAR(e["vs_analytic"]["time_diff_rel"].get<double>(), (te - ta) / ta, 1e-12);
    const double rel = (te - ta) / ta;
    EXPECT_EQ(e["vs_analytic"]["closed_form"], rel > 0.01 ? "optimistic" : rel < -0.01 ? "pessimistic" : "agrees");
    EXPECT_GT(e["events"].get<double>(), 0.0);
    const double u = e["busiest_link"]["utilization"].get<double>();
    EXPECT_GT(u, 0.0);
    EXPECT_LE(u, 1.0 + 1e-9);
  }
  EXPECT_FALSE(doc["results"][1]["link_shared"].get<bool>());
  EXPECT_EQ(doc["results"][1]["vs_analytic"]["closed_form"], "agrees");
  EXPECT_TRUE(doc["results"][3]["link_shared"].get<bool>());

  // The table: a last column with the difference, and a line under it naming the shared
  // links of Ulysses.
  CliResult t = run({"simulate", kDefaultScenario, "--scope", "layer", "-e", "both", "-m", "lv-xattn,ulysses", "-p", "fwd"});
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("vs closed"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("# ulysses fwd: links were shared (busiest: "), std::string::npos) << t.out;
  EXPECT_EQ(t.out.find("# lv-xattn fwd:"), std::string::npos) << t.out;
}

TEST(SimulateEventEngine, TraceAndOpsFiles) {
  TempDir dir;
  const std::string trace = dir.path("run.json"), ops = dir.path("ops.csv");
  CliResult r = run({"simulate", kDefaultScenario, "--scope", "layer", "-e", "event", "-m", "ring", "-p", "bwd", "--trace", trace, "--ops", ops});
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

TEST(SimulateEventEngine, RanksSelectWhatTraceAndOpsWrite) {
  TempDir dir;
  const std::string trace = dir.path("part.json"), ops = dir.path("part.csv");
  CliResult r = run({"simulate", kDefaultScenario, "--scope", "layer", "-e", "event", "-m", "ring", "-p", "fwd", "--trace", trace, "--ops", ops,
                     "--ranks", "0-2,15"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream t(trace);
  const auto doc = nlohmann::json::parse(t);
  EXPECT_EQ(doc["metadata"]["ranks_traced"], nlohmann::json::parse("[0, 1, 2, 15]"));
  std::ifstream o(ops);
  std::string line;
  std::getline(o, line);  // the header
  std::set<std::string> ranks;
  while (std::getline(o, line)) ranks.insert(line.substr(line.find(',') + 1, line.find(',', line.find(',') + 1) - line.find(',') - 1));
  EXPECT_EQ(ranks, (std::set<std::string>{"0", "1", "2", "15"}));
}

TEST(SimulateEventEngine, BadRanksExitTwoNamingTheOptionAndWriteNothing) {
  TempDir dir;
  const std::string trace = dir.path("t.json");
  auto with = [&](const std::string& list) {
    return run({"simulate", kDefaultScenario, "--scope", "layer", "-e", "event", "-m", "ring", "-p", "fwd", "--trace", trace, "--ranks", list});
  };
  for (const auto& [list, says] : std::vector<std::pair<std::string, std::string>>{
           {"0-16", "--ranks 0-16: ranks: rank 16 is not in the scenario (P = 16: ranks 0 to 15)"},
           {"3-1", "--ranks 3-1: ranks: expected ranks and ranges separated by commas"},
           {"1,,2", "--ranks 1,,2: ranks: expected ranks"},
           {"a", "--ranks a: ranks: expected ranks"}}) {
    CliResult r = with(list);
    EXPECT_EQ(r.code, 2) << list;
    EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
    EXPECT_FALSE(std::ifstream(trace).good()) << list;
  }
  CliResult r = run({"simulate", kDefaultScenario, "--scope", "layer", "-e", "event", "-m", "ring", "-p", "fwd", "--ranks", "1"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--ranks selects what --trace and --ops write"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace xattn::cli::test
