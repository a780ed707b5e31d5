// The Chrome-trace export follows the ARCHITECTURE.md contract (one pid per rank, one tid
// per stream, op ids in args, microsecond timestamps, metadata) and the CSV has one row
// per op.
#include <algorithm>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/scenario.hpp"
#include "sim/runner.hpp"
#include "model/schedule/trace.hpp"
#include "model/scenario/scenario_file.hpp"

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

TEST(Trace, OnlyTheRanksAskedForWithTheArrowsBetweenThem) {
  // LV-XAttn forward on 16 GPUs: the ring is 0 -> 1 -> ... -> 15 -> 0. Ranks {0, 1, 5}:
  // their processes and ops, and arrows only where both ends are written (0 -> 1).
  Scenario s = load_scenario(std::string(XATTN_SOURCE_DIR) + "/scenarios/llama32v-16xa100.yaml");
  EventResult r = simulate_scenario(s, *parse_mechanism("lv-xattn"), Pass::fwd);
  const std::vector<int> ranks{5, 0, 1, 0};  // order and repeats do not matter
  const auto doc = nlohmann::json::parse(chrome_trace_json(r.schedule, r.timeline, TraceInfo{s.name, "event", ranks}));
  EXPECT_EQ(doc["metadata"]["ranks_traced"], nlohmann::json::parse("[0, 1, 5]"));
  EXPECT_EQ(doc["metadata"]["P"], 16);
  std::size_t slices = 0, arrows = 0;
  std::set<int> pids;
  for (const auto& e : doc["traceEvents"]) {
    pids.insert(e["pid"].get<int>());
    if (e["ph"] == "X") ++slices;
    if (e["ph"] == "s") ++arrows;
  }
  EXPECT_EQ(pids, (std::set<int>{0, 1, 5}));
  std::size_t ops = 0, sends_within = 0;
  for (int rank : {0, 1, 5}) {
    for (const Op& op : r.schedule.programs[static_cast<std::size_t>(rank)].ops) {
      ++ops;
      const int peer = op.kind() == OpKind::send ? op.transfer()->peer : -1;
      sends_within += peer == 0 || peer == 1 || peer == 5;
    }
  }
  EXPECT_EQ(slices, ops);
  EXPECT_EQ(arrows, sends_within);
  EXPECT_GT(arrows, 0u);  // 0 -> 1 carries the query blocks and their accumulators
  // The CSV takes the same selection.
  const std::string csv = ops_csv(r.schedule, r.timeline, ranks);
  EXPECT_EQ(static_cast<std::size_t>(std::count(csv.begin(), csv.end(), '\n')), ops + 1);
  EXPECT_THROW((void)chrome_trace_json(r.schedule, r.timeline, TraceInfo{s.name, "event", {16}}), std::invalid_argument);
  EXPECT_THROW((void)ops_csv(r.schedule, r.timeline, {-1}), std::invalid_argument);
}

TEST(Trace, ARepeatedKeyGetsOneArrowToEachOfItsReceives) {
  // Rank 0 sends tag x to rank 1 twice, rank 1 receives it twice (by hand, times set by
  // hand: the receives start at 2 and 6 us). FIFO pairing (structure.hpp): the first
  // send's arrow lands on the first receive at 2 us, the second's on the second at 6 us,
  // not both on the first.
  Schedule s;
  s.programs.resize(2);
  s.programs[1].rank = 1;
  ProgramBuilder b(s);
  for (int k = 0; k < 2; ++k) {
    b.send(0, 1, "x", {{"a", Bytes(64)}}, comm_stream(0), -1, 0);
    b.recv(1, 0, "x", {{"b", Bytes(64)}}, comm_stream(0), -1, 0);
  }
  Timeline t;
  const auto us = [](std::int64_t n) { return Time::ps(n * 1000000); };
  t.ops = {{{us(0), us(1), us(3)}, {us(3), us(5), us(7)}}, {{us(0), us(2), us(3)}, {us(3), us(6), us(7)}}};
  t.makespan = us(7);
  t.compute_busy.assign(2, Time());
  const auto doc = nlohmann::json::parse(chrome_trace_json(s, t, TraceInfo{"by hand"}));
  std::vector<double> lands;
  for (const auto& e : doc["traceEvents"])
    if (e["ph"] == "f") lands.push_back(e["ts"].get<double>());
  EXPECT_EQ(lands, (std::vector<double>{2.0, 6.0}));
}

TEST(Trace, TextIsEscapedAsJsonRequires) {
  // The trace is written as text, not through a JSON library: a scenario name with
  // quotes, a backslash, a tab and a control character must come back unchanged.
  Scenario s = load_scenario(std::string(XATTN_SOURCE_DIR) + "/scenarios/llama32v-16xa100.yaml", {"cluster.nodes=1"});
  EventResult r = simulate_scenario(s, *parse_mechanism("ring"), Pass::fwd);
  const std::string name = "a \"quoted\" name\\ with\ta tab and \x01";
  const auto doc = nlohmann::json::parse(chrome_trace_json(r.schedule, r.timeline, TraceInfo{name}));
  EXPECT_EQ(doc["metadata"]["scenario"], name);
  EXPECT_EQ(doc["metadata"]["engine"], "event");
  EXPECT_FALSE(doc["metadata"].contains("ranks_traced"));  // every rank written
}

}  // namespace
}  // namespace xattn::sim
