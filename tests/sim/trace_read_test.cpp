// Reading a Chrome trace back into a Timeline (sim/trace.hpp, read_chrome_trace): a
// simulated run exported and read again is the same timeline to the picosecond (the
// exporter writes microseconds at full double precision), with device sharing too; and a
// trace that does not fit the schedule is refused with the file, the field and the op id.
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/core/error.hpp"
#include "model/scenario.hpp"
#include "sim/runner.hpp"
#include "model/schedule/trace.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn::sim {
namespace {

const std::string kScenario = std::string(XATTN_SOURCE_DIR) + "/scenarios/llama32v-16xa100.yaml";

void expect_same(const Timeline& a, const Timeline& b) {
  ASSERT_EQ(a.ranks(), b.ranks());
  for (int r = 0; r < a.ranks(); ++r) {
    ASSERT_EQ(a.ops[static_cast<std::size_t>(r)].size(), b.ops[static_cast<std::size_t>(r)].size());
    for (std::size_t i = 0; i < a.ops[static_cast<std::size_t>(r)].size(); ++i) {
      const OpTimes& x = a.ops[static_cast<std::size_t>(r)][i];
      const OpTimes& y = b.ops[static_cast<std::size_t>(r)][i];
      EXPECT_LE(std::abs(x.posted.ps() - y.posted.ps()), 1) << r << "/" << i;
      EXPECT_LE(std::abs(x.start.ps() - y.start.ps()), 1) << r << "/" << i;
      EXPECT_LE(std::abs(x.end.ps() - y.end.ps()), 1) << r << "/" << i;
    }
    EXPECT_LE(std::abs(a.compute_busy[static_cast<std::size_t>(r)].ps() - b.compute_busy[static_cast<std::size_t>(r)].ps()), 2);
  }
  EXPECT_LE(std::abs(a.makespan.ps() - b.makespan.ps()), 1);
}

TEST(TraceRead, SimulatedTraceReadsBackToTheSameTimeline) {
  const Scenario sc = load_scenario(kScenario, {"workload.frames=8"});
  for (const char* name : {"lv-xattn", "ring", "ulysses"})
    for (Pass p : {Pass::fwd, Pass::bwd}) {
      const EventResult r = simulate_scenario(sc, *parse_mechanism(name), p);
      ASSERT_TRUE(r.estimate.feasible) << name;
      const std::string text = chrome_trace_json(r.schedule, r.timeline, TraceInfo{sc.name});
      const Timeline back = read_chrome_trace(parse_trace(text, "t.json"), r.schedule, "t.json");
      expect_same(back, r.timeline);
      const TraceMetadata meta = trace_metadata(parse_trace(text, "t.json"), "t.json");
      EXPECT_EQ(meta.mechanism, name);
      EXPECT_EQ(meta.pass, to_string(p));
      EXPECT_EQ(meta.ranks, 16);
      EXPECT_EQ(meta.engine, "event");
    }
}

TEST(TraceRead, SharedDeviceTimelineReadsBack) {
  // Waiting for the device shows as posted < start; it survives the round trip.
  const Scenario sc = load_scenario(kScenario, {"workload.frames=8", "cluster.nodes=1"});
  SimOptions o;
  o.device_of.assign(4, 0);
  o.sharing = DeviceSharing::fifo;
  const EventResult r = simulate_scenario(sc, *parse_mechanism("ring"), Pass::fwd, o);
  ASSERT_TRUE(r.estimate.feasible);
  bool waited = false;
  for (const auto& rank : r.timeline.ops)
    for (const OpTimes& x : rank) waited = waited || x.start > x.posted;
  EXPECT_TRUE(waited);
  const std::string text = chrome_trace_json(r.schedule, r.timeline, TraceInfo{sc.name});
  expect_same(read_chrome_trace(parse_trace(text, "t.json"), r.schedule, "t.json"), r.timeline);
}

// The error message of reading `doc` against `s`.
std::string error_of(const nlohmann::json& doc, const Schedule& s) {
  try {
    (void)read_chrome_trace(doc, s, "bad.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TraceRead, MismatchedTracesAreRefusedWithFileFieldAndOpId) {
  const Scenario sc = load_scenario(kScenario, {"workload.frames=8", "cluster.nodes=1"});
  const EventResult r = simulate_scenario(sc, *parse_mechanism("lv-xattn"), Pass::fwd);
  const std::string text = chrome_trace_json(r.schedule, r.timeline, TraceInfo{sc.name});
  const nlohmann::json good = parse_trace(text, "bad.json");

  // Truncated file: not JSON.
  try {
    (void)parse_trace(text.substr(0, text.size() / 2), "bad.json");
    ADD_FAILURE() << "a truncated trace was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)parse_trace("{\"traceEvents\": []}", "bad.json"), InputError);  // no metadata

  // A trace of some ranks only (--ranks) cannot be compared op by op.
  try {
    (void)read_chrome_trace(parse_trace(chrome_trace_json(r.schedule, r.timeline, TraceInfo{sc.name, "event", {0, 1}}),
                                        "part.json"),
                            r.schedule, "part.json");
    ADD_FAILURE() << "a partial trace was accepted";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("part.json"), std::string::npos) << what;
    EXPECT_NE(what.find("metadata.ranks_traced"), std::string::npos) << what;
    EXPECT_NE(what.find("holds 2 of the 4 ranks"), std::string::npos) << what;
  }

  // The index of op 2/1's event.
  std::size_t at = 0;
  for (std::size_t e = 0; e < good["traceEvents"].size(); ++e)
    if (good["traceEvents"][e]["ph"] == "X" && good["traceEvents"][e]["args"]["id"] == "2/1") at = e;
  ASSERT_GT(at, 0u);

  nlohmann::json missing = good;
  missing["traceEvents"].erase(at);
  EXPECT_NE(error_of(missing, r.schedule).find("op 2/1"), std::string::npos) << error_of(missing, r.schedule);

  nlohmann::json twice = good;
  twice["traceEvents"].push_back(good["traceEvents"][at]);
  EXPECT_NE(error_of(twice, r.schedule).find("op 2/1 appears twice"), std::string::npos);

  nlohmann::json unknown = good;
  unknown["traceEvents"][at]["args"]["id"] = "2/100000";
  EXPECT_NE(error_of(unknown, r.schedule).find("args.id"), std::string::npos);
  unknown["traceEvents"][at]["args"]["id"] = "two/one";
  EXPECT_NE(error_of(unknown, r.schedule).find("not an op id"), std::string::npos);

  nlohmann::json kind = good;
  kind["traceEvents"][at]["args"]["kind"] = "all_to_all";
  EXPECT_NE(error_of(kind, r.schedule).find("args.kind"), std::string::npos);

  nlohmann::json negative = good;
  negative["traceEvents"][at]["dur"] = -1.0;
  EXPECT_NE(error_of(negative, r.schedule).find(".dur"), std::string::npos);

  nlohmann::json other = good;
  other["metadata"]["mechanism"] = "ring";
  EXPECT_NE(error_of(other, r.schedule).find("metadata.mechanism"), std::string::npos);
  other = good;
  other["metadata"]["P"] = 8;
  EXPECT_NE(error_of(other, r.schedule).find("metadata.P"), std::string::npos);
  other = good;
  other["metadata"].erase("pass");
  EXPECT_NE(error_of(other, r.schedule).find("metadata.pass"), std::string::npos);
  // Every message names the file.
  EXPECT_NE(error_of(other, r.schedule).find("bad.json"), std::string::npos);
}

}  // namespace
}  // namespace xattn::sim
