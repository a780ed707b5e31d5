// The Chrome-trace export follows the ARCHITECTURE.md contract (one pid per rank, one tid
// per stream, op ids in args, microsecond timestamps, metadata) and the CSV has one row
// per op.
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/scenario.hpp"
#include "sim/scenario_sim.hpp"
#include "sim/trace.hpp"

namespace xattn::sim {
namespace {

TEST(Trace, ChromeTraceFollowsTheContract) {
  Scenario s = load_scenario(std::string(XATTN_SOURCE_DIR) + "/scenarios/llama32v-16xa100.yaml");
  EventResult r = simulate_scenario(s, *parse_mechanism("lv-xattn"), Pass::fwd);
  const auto doc = nlohmann::json::parse(chrome_trace_json(r.schedule, r.timeline, TraceInfo{s.name}));
  EXPECT_EQ(doc["metadata"]["mechanism"], "lv-xattn");
  EXPECT_EQ(doc["metadata"]["pass"], "fwd");
  EXPECT_EQ(doc["metadata"]["P"], 16);
  EXPECT_EQ(doc["metadata"]["scenario"], s.name);
  std::size_t slices = 0, arrows = 0, ops = 0;
  double last_end_us = 0.0;
  for (const auto& e : doc["traceEvents"]) {
    if (e["ph"] == "X") {
      ++slices;
      EXPECT_TRUE(e["args"].contains("id"));
      EXPECT_TRUE(e["args"].contains("bytes"));
      EXPECT_TRUE(e["args"].contains("flops"));
      last_end_us = std::max(last_end_us, e["ts"].get<double>() + e["dur"].get<double>());
    }
    if (e["ph"] == "s") ++arrows;
  }
  std::size_t sends = 0;
  for (const auto& p : r.schedule.programs) {
    ops += p.ops.size();
    for (const auto& op : p.ops) sends += op.kind() == OpKind::send;
  }
  EXPECT_EQ(slices, ops);
  EXPECT_EQ(arrows, sends);
  // Timestamps are microseconds: the last slice ends at the makespan.
  EXPECT_NEAR(last_end_us, r.timeline.makespan.seconds().value() * 1e6, 1e-3);
  // The op id of rank 3's first op.
  bool found = false;
  for (const auto& e : doc["traceEvents"])
    if (e["ph"] == "X" && e["pid"] == 3 && e["args"]["id"] == "3/0") found = true;
  EXPECT_TRUE(found);

  const std::string csv = ops_csv(r.schedule, r.timeline);
  EXPECT_EQ(static_cast<std::size_t>(std::count(csv.begin(), csv.end(), '\n')), ops + 1);
  EXPECT_EQ(csv.rfind("op_id,rank,index,stream,kind,round,peer,bytes,flops,posted_us,start_us,end_us,duration_us", 0), 0u);
}

}  // namespace
}  // namespace xattn::sim
