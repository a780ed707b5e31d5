// `xattn validate` on synthetic measured traces: a trace simulated with the very settings a
// GPU run records (loopback transport, every rank on one device, compute placement, link
// figures, --set overrides) validates with zero error; the same trace with op durations
// scaled by known factors reports exactly those errors (simulated / measured − 1), by op
// kind and for the makespan; a set of traces gets one row each and medians; bad input
// exits 2 with the file and the field.
#include <cmath>
#include <fstream>
#include <filesystem>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/presets.hpp"
#include "model/scenario.hpp"
#include "model/schedule/builders.hpp"
#include "sim/executor.hpp"
#include "model/schedule/trace.hpp"
#include "tests/cli/cli_test_util.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn {
namespace {

const std::string kScenario = std::string(XATTN_SOURCE_DIR) + "/scenarios/llama32v-16xa100.yaml";
const std::vector<std::string> kOverrides = {"workload.text_tokens=2048", "workload.frames=2", "workload.dtype=bf16"};

// What `xattn run --trace` would write for this mechanism and pass on P loopback ranks of
// one H100, had the GPU behaved exactly like the simulator.
std::string synthetic_run(const char* mechanism, Pass pass, int P, bool one_stream) {
  const Scenario sc = load_scenario(kScenario, kOverrides);
  BuildOptions b;
  b.shape = sc.shape;
  b.ranks = P;
  b.media_items = sc.frames;
  b.accumulator_bytes = sc.accumulator_bytes();
  const Schedule s = build_schedule(*parse_mechanism(mechanism), pass, b);
  const GpuSpec gpu = *find_gpu("h100-sxm");
  const Cluster cluster = loopback_cluster(gpu, P, LinkSpec{gigabytes_per_second(20), microseconds(8)});
  sim::SimOptions o;
  o.device_of.assign(static_cast<std::size_t>(P), 0);
  o.sharing = one_stream ? sim::DeviceSharing::in_order : sim::DeviceSharing::fifo;
  nlohmann::json order = nlohmann::json::array();
  if (one_stream) {
    // The order the executor is given: device_compute_order of a run without sharing.
    const Timeline alone = sim::simulate(s, cluster, sc.calibration, {}, b.accumulator_bytes);
    o.compute_order = sim::device_compute_order(s, alone, o.device_of);
    for (const OpId& id : o.compute_order.front()) order.push_back(id.str());
  }
  const Timeline t = sim::simulate(s, cluster, sc.calibration, o, b.accumulator_bytes);
  nlohmann::json doc = nlohmann::json::parse(chrome_trace_json(s, t, TraceInfo{sc.name, "measured"}));
  doc["metadata"]["transport"] = "loopback";
  doc["metadata"]["link_bandwidth_GBps"] = 20.0;
  doc["metadata"]["link_latency_us"] = 8.0;
  doc["metadata"]["link_paced"] = true;
  doc["metadata"]["compute_placement"] = one_stream ? "one_device_stream" : "per_rank_streams";
  doc["metadata"]["dtype"] = "bf16";
  doc["metadata"]["accumulator_bytes"] = b.accumulator_bytes;
  doc["metadata"]["device"] = "NVIDIA H100 80GB HBM3";
  doc["metadata"]["ranks_per_device"] = P;
  doc["metadata"]["overrides"] = kOverrides;
  if (one_stream) doc["metadata"]["compute_order"] = order;
  return doc.dump(1);
}

// Scales the measured duration (end − start) of every op event whose kind passes `which`
// by `factor`, keeping its post and start times.
std::string scale_ops(const std::string& text, const std::function<bool(const std::string&)>& which, double factor) {
  nlohmann::json doc = nlohmann::json::parse(text);
  for (auto& e : doc["traceEvents"]) {
    if (e["ph"] != "X" || !which(e["args"]["kind"].get<std::string>())) continue;
    const double waited = e["args"]["waited_us"].get<double>();
    const double ran = e["dur"].get<double>() - waited;
    e["dur"] = waited + ran * factor;
  }
  return doc.dump(1);
}

// Every timestamp times `factor`: the whole run `factor` times slower.
std::string scale_all(const std::string& text, double factor) {
  nlohmann::json doc = nlohmann::json::parse(text);
  for (auto& e : doc["traceEvents"]) {
    if (e.contains("ts")) e["ts"] = e["ts"].get<double>() * factor;
    if (e.contains("dur")) e["dur"] = e["dur"].get<double>() * factor;
    if (e.contains("args") && e["args"].contains("waited_us"))
      e["args"]["waited_us"] = e["args"]["waited_us"].get<double>() * factor;
  }
  return doc.dump(1);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

nlohmann::json validate_json(const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"validate", "--scenario", kScenario, "--format", "json"};
  args.insert(args.end(), extra.begin(), extra.end());
  const test::CliResult r = test::run(args);
  EXPECT_EQ(r.code, 0) << r.err;
  return r.code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
}

const nlohmann::json* kind_row(const nlohmann::json& c, const std::string& kind) {
  for (const auto& k : c["by_kind"])
    if (k["kind"] == kind) return &k;
  return nullptr;
}

TEST(Validate, ASimulatedRunValidatesWithZeroError) {
  // The same settings the trace records, rebuilt from its metadata: nothing differs. Both
  // compute placements (fifo and the recorded one-stream order) and a backward pass.
  test::TempDir dir;
  for (bool one_stream : {false, true})
    for (Pass pass : {Pass::fwd, Pass::bwd}) {
      const std::string path = dir.write("m.json", synthetic_run("lv-xattn", pass, 4, one_stream));
      const nlohmann::json j = validate_json({"--measured", path});
      ASSERT_EQ(j["cases"].size(), 1u);
      const auto& c = j["cases"][0];
      EXPECT_EQ(c["P"], 4);
      EXPECT_EQ(c["gpu_preset"], "h100-sxm");
      EXPECT_EQ(c["link_from"], "trace");
      EXPECT_NEAR(c["link_bandwidth_GBps"].get<double>(), 20.0, 1e-9);
      EXPECT_NEAR(c["makespan_error_pct"].get<double>(), 0.0, 1e-6);
      EXPECT_NEAR(c["compute"]["max_abs_error_pct"].get<double>(), 0.0, 1e-4);
      EXPECT_NEAR(c["transfer"]["max_abs_error_pct"].get<double>(), 0.0, 1e-4);
      EXPECT_GT(c["compute"]["ops"].get<int>(), 4);
    }
}

TEST(Validate, WritesTheSimulatedTimelineOfOneCase) {
  // --simulated-trace: the simulated run as a Chrome trace with the measured one's op ids;
  // a synthetic run rebuilt from its own settings reads back with every op at the same
  // times (to the trace's precision). With two cases it is refused before anything runs.
  test::TempDir dir;
  const std::string measured = dir.write("m.json", synthetic_run("ring", Pass::fwd, 4, true));
  const std::string out = dir.path("sim.json");
  const test::CliResult r =
      test::run({"validate", "--scenario", kScenario, "--measured", measured, "--simulated-trace", out});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto ids = [](const std::string& text) {
    std::map<std::string, std::pair<double, double>> m;
    const nlohmann::json doc = nlohmann::json::parse(text);  // named: a loop over a temporary's member dangles
    for (const auto& e : doc["traceEvents"])
      if (e.value("ph", "") == "X") m[e["args"]["id"].get<std::string>()] = {e["ts"].get<double>(), e["dur"].get<double>()};
    return m;
  };
  const auto a = ids(read_file(measured)), b = ids(read_file(out));
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [id, t] : a) {
    ASSERT_TRUE(b.count(id)) << id;
    EXPECT_NEAR(b.at(id).first, t.first, 1e-3) << id;
    EXPECT_NEAR(b.at(id).second, t.second, 1e-3) << id;
  }
  const test::CliResult two = test::run({"validate", "--scenario", kScenario, "--measured", measured, "--measured",
                                         measured, "--simulated-trace", dir.path("two.json")});
  EXPECT_EQ(two.code, 2);
  EXPECT_NE(two.err.find("--simulated-trace"), std::string::npos) << two.err;
  EXPECT_FALSE(std::filesystem::exists(dir.path("two.json")));
}

TEST(Validate, ScaledDurationsReportTheirFactors) {
  // Measured attention blocks took 1.25x what the simulator says: -20% error. Measured
  // merges took half: +100%. Messages untouched: 0%.
  test::TempDir dir;
  std::string text = synthetic_run("ring", Pass::fwd, 4, false);
  text = scale_ops(text, [](const std::string& k) { return k == "attention_forward"; }, 1.25);
  text = scale_ops(text, [](const std::string& k) { return k == "merge"; }, 0.5);
  const nlohmann::json j = validate_json({"--measured", dir.write("m.json", text)});
  const auto& c = j["cases"][0];
  const nlohmann::json* fwd = kind_row(c, "attention_forward");
  const nlohmann::json* merge = kind_row(c, "merge");
  ASSERT_TRUE(fwd != nullptr && merge != nullptr) << c.dump(1);
  EXPECT_NEAR((*fwd)["median_error_pct"].get<double>(), -20.0, 1e-3);
  EXPECT_NEAR((*fwd)["max_abs_error_pct"].get<double>(), 20.0, 1e-3);
  EXPECT_NEAR((*merge)["median_abs_error_pct"].get<double>(), 100.0, 1e-3);
  EXPECT_NEAR(c["transfer"]["max_abs_error_pct"].get<double>(), 0.0, 1e-4);

  // The whole run twice as slow: every op and the makespan -50%.
  const nlohmann::json k = validate_json({"--measured", dir.write("slow.json", scale_all(synthetic_run("ulysses", Pass::bwd, 4, false), 2.0))});
  const auto& d = k["cases"][0];
  EXPECT_NEAR(d["makespan_error_pct"].get<double>(), -50.0, 1e-3);
  EXPECT_NEAR(d["compute"]["median_error_pct"].get<double>(), -50.0, 1e-3);
  EXPECT_NEAR(d["compute"]["max_abs_error_pct"].get<double>(), 50.0, 1e-3);
}

TEST(Validate, ASetGetsOneRowPerCaseAndMedians) {
  // Three cases: exact, 2x slow, and 1.25x slow. Median |makespan error| over the set is
  // 20% (0, 20, 50), max 50%; three cases are fewer than the goal's twelve.
  test::TempDir dir;
  const std::string a = dir.write("a.json", synthetic_run("lv-xattn", Pass::fwd, 2, false));
  const std::string b = dir.write("b.json", scale_all(synthetic_run("ring", Pass::bwd, 4, false), 2.0));
  const std::string c = dir.write("c.json", scale_all(synthetic_run("ulysses", Pass::fwd, 4, true), 1.25));
  const nlohmann::json j = validate_json({"--measured", a, "--measured", b, "--measured", c});
  ASSERT_EQ(j["cases"].size(), 3u);
  EXPECT_EQ(j["summary"]["cases"], 3);
  EXPECT_NEAR(j["summary"]["makespan_median_abs_error_pct"].get<double>(), 20.0, 1e-3);
  EXPECT_NEAR(j["summary"]["makespan_max_abs_error_pct"].get<double>(), 50.0, 1e-3);
  EXPECT_FALSE(j["summary"]["goals_met"].get<bool>());

  // The same set from a file (paths relative to it), and the table with one row per case.
  const std::string set = dir.write("cases.yaml", "scenario: " + kScenario +
                                                      "\ncases:\n  - a.json\n  - measured: b.json\n  - measured: c.json\n");
  const test::CliResult t = test::run({"validate", "--set-file", set, "--out", dir.path("report.json")});
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("# xattn validate: 3 cases"), std::string::npos) << t.out;
  const nlohmann::json saved = nlohmann::json::parse(read_file(dir.path("report.json")));
  EXPECT_NEAR(saved["summary"]["makespan_median_abs_error_pct"].get<double>(), 20.0, 1e-3);

  // A set file without a scenario takes the command line's --scenario; without either it
  // is an error naming the case.
  const std::string bare = dir.write("bare.yaml", "cases:\n  - a.json\n  - b.json\n");
  const test::CliResult u = test::run({"validate", "--set-file", bare, "--scenario", kScenario, "--format", "json"});
  ASSERT_EQ(u.code, 0) << u.err;
  EXPECT_EQ(nlohmann::json::parse(u.out)["summary"]["cases"], 2);
  const test::CliResult v = test::run({"validate", "--set-file", bare});
  EXPECT_EQ(v.code, 2);
  EXPECT_NE(v.err.find("cases[0].scenario"), std::string::npos) << v.err;
}

TEST(Validate, BadInputExitsTwoNamingTheFileAndField) {
  test::TempDir dir;
  const std::string good = synthetic_run("lv-xattn", Pass::fwd, 4, false);
  // No such file.
  test::CliResult r = test::run({"validate", "--scenario", kScenario, "--measured", dir.path("none.json")});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("none.json"), std::string::npos) << r.err;
  // Truncated trace.
  r = test::run({"validate", "--scenario", kScenario, "--measured", dir.write("cut.json", good.substr(0, good.size() / 3))});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("cut.json"), std::string::npos) << r.err;
  // The run recorded other overrides: its ops do not match the rebuilt schedule's.
  nlohmann::json doc = nlohmann::json::parse(good);
  doc["metadata"]["overrides"] = {"workload.text_tokens=2048", "workload.frames=2", "workload.dtype=fp16"};
  r = test::run({"validate", "--scenario", kScenario, "--measured", dir.write("other.json", doc.dump())});
  EXPECT_EQ(r.code, 0) << "a dtype change keeps the op ids: " << r.err;
  doc["metadata"]["P"] = 8;
  r = test::run({"validate", "--scenario", kScenario, "--measured", dir.write("p8.json", doc.dump())});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("p8.json"), std::string::npos) << r.err;
  // No trace at all; a set file with an unknown key.
  EXPECT_EQ(test::run({"validate", "--scenario", kScenario}).code, 2);
  r = test::run({"validate", "--set-file", dir.write("s.yaml", "scenario: x.yaml\ncase:\n  - a.json\n")});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("s.yaml:2"), std::string::npos) << r.err;
}

TEST(CalibrateGpu, WithoutAGpuItSaysSoAndExitsThree) {
  // Bad options are bad input wherever it runs; good ones need a GPU (this test machine
  // may have one only in a CUDA build, where the test is skipped).
  EXPECT_EQ(test::run({"calibrate", "gpu", "--head-dim", "96"}).code, 2);
  EXPECT_EQ(test::run({"calibrate", "gpu", "--heads", "6", "--kv-heads", "4"}).code, 2);
#ifndef XATTN_HAVE_GPU
  const test::CliResult r = test::run({"calibrate", "gpu", "--out", "/nonexistent-dir-xattn/x.yaml"});
  EXPECT_EQ(r.code, 2);  // the output folder is checked first
  const test::CliResult g = test::run({"calibrate", "gpu"});
  EXPECT_EQ(g.code, 3);
  EXPECT_NE(g.err.find("without CUDA"), std::string::npos) << g.err;
#endif
}

TEST(Validate, TheH100SetMeetsTheGoalsWithOneDeviceStream) {
  // Real measurements (tests/data/h100-validation/README.md): 24 loopback runs on an H100
  // with all ranks' compute on one device stream, against the simulator with the
  // calibration measured in the same session. Goals (issue 6): median per-op compute
  // error <= 10%, median end-to-end error <= 5%, over >= 12 cases. The figures below are
  // what this simulator gave when the set was recorded (docs/validation.md §6); they move
  // only when the model does.
  const std::string data = std::string(XATTN_SOURCE_DIR) + "/tests/data/h100-validation/";
  const std::string loopback = std::string(XATTN_SOURCE_DIR) + "/scenarios/loopback-h100.yaml";
  const test::CliResult serial =
      test::run({"validate", "--scenario", loopback, "--set-file", data + "serial.yaml", "--format", "json"});
  ASSERT_EQ(serial.code, 0) << serial.err;
  const nlohmann::json a = nlohmann::json::parse(serial.out)["summary"];
  EXPECT_EQ(a["cases"], 24);
  EXPECT_TRUE(a["goals_met"].get<bool>());
  EXPECT_NEAR(a["compute_median_abs_error_pct"].get<double>(), 3.50, 0.05);
  EXPECT_NEAR(a["makespan_median_abs_error_pct"].get<double>(), 0.62, 0.05);
  EXPECT_NEAR(a["makespan_max_abs_error_pct"].get<double>(), 5.31, 0.05);

  // The same runs with a compute stream per rank: kernels of different ranks overlap on
  // the SMs, each op's measured time includes the sharing, and the simulator's one-at-a-
  // time model misses it per op (57.6%) though the makespan stays close (1.6%). This is
  // why validation uses one device stream (docs/validation.md §2).
  const test::CliResult per_rank =
      test::run({"validate", "--scenario", loopback, "--set-file", data + "per-rank.yaml", "--format", "json"});
  ASSERT_EQ(per_rank.code, 0) << per_rank.err;
  const nlohmann::json b = nlohmann::json::parse(per_rank.out)["summary"];
  EXPECT_FALSE(b["goals_met"].get<bool>());
  EXPECT_NEAR(b["compute_median_abs_error_pct"].get<double>(), 57.64, 0.05);
  EXPECT_NEAR(b["makespan_median_abs_error_pct"].get<double>(), 1.64, 0.05);
  EXPECT_GT(b["compute_median_abs_error_pct"].get<double>(), 5 * a["compute_median_abs_error_pct"].get<double>());
}

}  // namespace
}  // namespace xattn
