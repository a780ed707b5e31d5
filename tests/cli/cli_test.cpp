// `xattn simulate`, `presets`, `fields`, --help and --version, run in-process on argument
// vectors. Numbers are compared as numbers (parsed JSON/CSV, with tolerances) against
// estimate() called directly on the same resolved scenario, never as text.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_test_util.hpp"
#include "model/analytic.hpp"
#include "model/presets.hpp"
#include "model/scenario.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn::cli::test {
namespace {

using nlohmann::json;

constexpr double kRelTol = 1e-12;

void expect_near_rel(double actual, double expected, const std::string& what) {
  EXPECT_NEAR(actual, expected, kRelTol * std::max(1.0, std::abs(expected))) << what;
}

json simulate_json(const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{"simulate", kDefaultScenario, "--scope", "layer", "--format", "json"};
  args.insert(args.end(), extra.begin(), extra.end());
  CliResult r = run(args);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  return json::parse(r.out);
}

// Checks every result entry against estimate() on `s`, in mechanism x pass order.
void expect_results_equal_estimates(const json& results, const Scenario& s, const std::vector<Mechanism>& mechanisms,
                                    const std::vector<Pass>& passes) {
  ASSERT_EQ(results.size(), mechanisms.size() * passes.size());
  std::size_t i = 0;
  for (const auto& m : mechanisms) {
    for (Pass p : passes) {
      const json& r = results[i++];
      Estimate e = estimate(s, m, p);
      std::string what = m.name() + " " + std::string(to_string(p));
      EXPECT_EQ(r.at("mechanism"), m.name()) << what;
      EXPECT_EQ(r.at("pass"), std::string(to_string(p))) << what;
      EXPECT_EQ(r.at("engine"), "analytic") << what;
      EXPECT_EQ(r.at("scope"), "layer") << what;
      ASSERT_EQ(r.at("feasible"), e.feasible) << what;
      if (!e.feasible) {
        EXPECT_EQ(r.at("reason"), e.reason) << what;
        EXPECT_FALSE(r.contains("time_s")) << what;
        continue;
      }
      expect_near_rel(r.at("time_s"), e.time.value(), what + " time_s");
      expect_near_rel(r.at("compute_s"), e.compute.value(), what + " compute_s");
      expect_near_rel(r.at("exposed_comm_s"), e.exposed_comm.value(), what + " exposed_comm_s");
      expect_near_rel(r.at("peak_memory_bytes"), e.memory.total().value(), what + " peak_memory_bytes");
      EXPECT_EQ(r.at("fits"), e.fits) << what;
      expect_near_rel(r.at("flops_per_rank"), e.flops_per_rank.value(), what + " flops_per_rank");
      expect_near_rel(r.at("bytes_per_rank"), e.bytes_per_rank.value(), what + " bytes_per_rank");
      EXPECT_EQ(r.at("rounds"), e.rounds) << what;
    }
  }
}

// ---- the JSON contract (ARCHITECTURE.md, "xattn simulate SCENARIO --format json") --------

TEST(SimulateJson, HasScenarioAndOneResultPerMechanismAndPass) {
  // The default scenario names 4 mechanisms (lv-xattn, ring, ulysses, no-comm); --pass
  // defaults to fwd, bwd, fwd+bwd: 4 x 3 = 12 entries.
  json doc = simulate_json();
  ASSERT_TRUE(doc.contains("scenario"));
  ASSERT_TRUE(doc.contains("results"));
  ASSERT_EQ(doc["results"].size(), 12u);
  for (const auto& r : doc["results"]) {
    for (const char* key : {"mechanism", "engine", "pass", "scope", "feasible"}) EXPECT_TRUE(r.contains(key)) << key;
    if (r["feasible"]) {
      for (const char* key : {"time_s", "compute_s", "exposed_comm_s", "peak_memory_bytes", "fits", "flops_per_rank",
                              "bytes_per_rank", "rounds", "memory"})
        EXPECT_TRUE(r.contains(key)) << key;
      // exposed_comm_s is defined as time_s - compute_s (ARCHITECTURE.md).
      EXPECT_NEAR(r["exposed_comm_s"].get<double>(), r["time_s"].get<double>() - r["compute_s"].get<double>(),
                  1e-12 * r["time_s"].get<double>());
      // peak_memory_bytes is the sum of the breakdown (MemoryBreakdown::total()).
      const json& m = r["memory"];
      double sum = m["inputs_bytes"].get<double>() + m["outputs_bytes"].get<double>() +
                   m["buffers_bytes"].get<double>() + m["saved_bytes"].get<double>();
      EXPECT_NEAR(r["peak_memory_bytes"].get<double>(), sum, 1e-9 * sum);
    } else {
      EXPECT_TRUE(r.contains("reason"));
    }
  }
}

TEST(SimulateJson, ValuesEqualEstimateOnTheSameScenario) {
  json doc = simulate_json();
  Scenario s = load_scenario(kDefaultScenario);
  expect_results_equal_estimates(doc["results"], s, s.mechanisms, {Pass::fwd, Pass::bwd, Pass::fwd_bwd});
}

TEST(SimulateJson, ScenarioObjectDescribesTheResolvedScenario) {
  // scenarios/llama32v-16xa100.yaml: 1008 text tokens, 192 images of 6404 tokens
  // (Llama-3.2-11B-Vision preset: 4 tiles x 1601) = 1,229,568 KV tokens; 32 heads, 8 KV
  // heads, d 128; cluster preset lvxattn-16xa100: 4 nodes x 4 A100-80GB = 16 ranks.
  json sc = simulate_json()["scenario"];
  EXPECT_EQ(sc["name"], "llama32v-16xa100");
  EXPECT_EQ(sc["path"], kDefaultScenario);
  const json& w = sc["workload"];
  EXPECT_EQ(w["model"], "llama-3.2-11b-vision");
  EXPECT_EQ(w["batch"], 1);
  EXPECT_EQ(w["text_tokens"], 1008);
  EXPECT_EQ(w["frames"], 192);
  EXPECT_EQ(w["tokens_per_frame"], 6404);
  EXPECT_EQ(w["kv_tokens"], 192 * 6404);
  EXPECT_EQ(w["heads"], 32);
  EXPECT_EQ(w["kv_heads"], 8);
  EXPECT_EQ(w["head_dim"], 128);
  EXPECT_EQ(w["dtype"], "fp16");
  const json& c = sc["cluster"];
  EXPECT_EQ(c["gpu"], "a100-80gb");
  EXPECT_EQ(c["nodes"], 4);
  EXPECT_EQ(c["gpus_per_node"], 4);
  EXPECT_EQ(c["ranks"], 16);
  // One 25 GB/s NIC per GPU between nodes (MECHANISMS.md, set-up 1).
  EXPECT_DOUBLE_EQ(c["inter_node"]["bandwidth_GBps"].get<double>(), 25.0);
  EXPECT_TRUE(c["intra_node"].contains("latency_us"));
  EXPECT_TRUE(sc["calibration"]["sources"].is_array());
}

TEST(SimulateJson, SetOverridesChangeTheScenarioAndTheResults) {
  // Doubling the images from 192 to 384 doubles S_kv: 384 x 6404 = 2,459,136.
  json doc = simulate_json({"--set", "workload.frames=384", "--set", "cluster.inter_node.bandwidth_GBps=50"});
  EXPECT_EQ(doc["scenario"]["workload"]["frames"], 384);
  EXPECT_EQ(doc["scenario"]["workload"]["kv_tokens"], 384 * 6404);
  EXPECT_DOUBLE_EQ(doc["scenario"]["cluster"]["inter_node"]["bandwidth_GBps"].get<double>(), 50.0);
  Scenario s = load_scenario(kDefaultScenario, {"workload.frames=384", "cluster.inter_node.bandwidth_GBps=50"});
  EXPECT_EQ(s.shape.kv_tokens, 384 * 6404);
  expect_results_equal_estimates(doc["results"], s, s.mechanisms, {Pass::fwd, Pass::bwd, Pass::fwd_bwd});

  // And the results differ from the default scenario's: Ring moves KV, whose size doubled.
  json base = simulate_json({"--mechanism", "ring", "--pass", "fwd"});
  json doubled = simulate_json({"--mechanism", "ring", "--pass", "fwd", "--set", "workload.frames=384"});
  EXPECT_GT(doubled["results"][0]["bytes_per_rank"].get<double>(), base["results"][0]["bytes_per_rank"].get<double>());
}

TEST(SimulateJson, MechanismAndPassSelectTheEntriesInOrder) {
  // Two mechanisms x one pass = 2 entries, in the order given.
  json doc = simulate_json({"--mechanism", "ring", "-m", "lv-xattn", "--pass", "fwd+bwd"});
  ASSERT_EQ(doc["results"].size(), 2u);
  EXPECT_EQ(doc["results"][0]["mechanism"], "ring");
  EXPECT_EQ(doc["results"][1]["mechanism"], "lv-xattn");
  EXPECT_EQ(doc["results"][0]["pass"], "fwd+bwd");
  Scenario s = load_scenario(kDefaultScenario);
  expect_results_equal_estimates(doc["results"], s, {*parse_mechanism("ring"), *parse_mechanism("lv-xattn")},
                                 {Pass::fwd_bwd});
}

TEST(SimulateJson, RepeatedNamesGiveOneEntry) {
  // ring twice (once in a comma list) and fwd twice: 2 mechanisms x 1 pass = 2 entries,
  // in first-seen order.
  json doc = simulate_json({"-m", "ring,lv-xattn", "-m", "ring", "-p", "fwd", "-p", "fwd"});
  ASSERT_EQ(doc["results"].size(), 2u);
  EXPECT_EQ(doc["results"][0]["mechanism"], "ring");
  EXPECT_EQ(doc["results"][1]["mechanism"], "lv-xattn");
}

TEST(SimulateJson, AnInfeasibleMechanismIsAnEntryNotAnAbort) {
  // All-to-all shards heads over P = 16 GPUs; 24 query heads (with 8 KV heads, so GQA
  // stays valid) do not divide by 16, so ulysses must be refused with a reason while the
  // ring family still runs (issue 2, §3).
  json doc = simulate_json({"--set", "workload.heads=24", "--pass", "fwd"});
  ASSERT_EQ(doc["results"].size(), 4u);
  bool saw_ulysses = false;
  for (const auto& r : doc["results"]) {
    if (r["mechanism"] == "ulysses") {
      saw_ulysses = true;
      EXPECT_FALSE(r["feasible"].get<bool>());
      EXPECT_FALSE(r["reason"].get<std::string>().empty());
      EXPECT_FALSE(r.contains("time_s"));
    } else {
      EXPECT_TRUE(r["feasible"].get<bool>()) << r["mechanism"];
    }
  }
  EXPECT_TRUE(saw_ulysses);
}

TEST(SimulateJson, UncalibratedAndSensitivityComeFromTheLibrary) {
  // docs/model.md §10: every result names its uncalibrated inputs (no calibration file
  // here: the kernel family's figures and the preset's links); --sensitivity adds one row
  // per input in play, mechanism and pass, as model/sensitivity computes them.
  const json doc = simulate_json({"-m", "lv-xattn", "-m", "ring", "-p", "fwd", "--sensitivity"});
  for (const auto& r : doc.at("results")) {
    const auto u = r.at("uncalibrated").get<std::vector<std::string>>();
    EXPECT_NE(std::find(u.begin(), u.end(), "compute.fwd_max_d128"), u.end());
    EXPECT_NE(std::find(u.begin(), u.end(), "cluster.inter_node.bandwidth_GBps"), u.end());
    EXPECT_EQ(std::find(u.begin(), u.end(), "compute.bwd_max_d128"), u.end());  // a forward
  }
  const json& rows = doc.at("sensitivity");
  ASSERT_FALSE(rows.empty());
  bool ring_moves = false;
  for (const auto& row : rows) {
    EXPECT_DOUBLE_EQ(row.at("change").get<double>(), 0.2);
    EXPECT_EQ(row.at("pass"), "fwd");
    for (const char* key : {"input", "mechanism", "time_s_low", "time_s_high", "ranking_changes"})
      EXPECT_TRUE(row.contains(key)) << key;
    // Ring's forward waits for its key/value blocks on the NICs: slower at 0.8x bandwidth.
    if (row.at("input") == "cluster.inter_node.bandwidth_GBps" && row.at("mechanism") == "ring")
      ring_moves = row.at("time_s_low").get<double>() > 1.2 * row.at("time_s_high").get<double>();
  }
  EXPECT_TRUE(ring_moves);
  // Without --sensitivity there is no report; the table names the defaults in a footnote.
  EXPECT_FALSE(simulate_json({"-m", "ring", "-p", "fwd"}).contains("sensitivity"));
  const CliResult t = run({"simulate", kDefaultScenario, "--scope", "layer", "-m", "ring", "-p", "fwd"});
  EXPECT_NE(t.out.find("# uncalibrated defaults"), std::string::npos) << t.out;
}

TEST(SimulateJson, OutWritesTheSameDocumentToAFile) {
  TempDir dir;
  std::string out = dir.path("result.json");
  CliResult r = run({"simulate", kDefaultScenario, "--scope", "layer", "--format", "json", "--out", out});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "");  // nothing on stdout with --out
  EXPECT_EQ(json::parse(read_file(out)), simulate_json());
  EXPECT_EQ(dir.files(), std::vector<std::string>{"result.json"});  // no temporary left over
}

// ---- CSV and table ----------------------------------------------------------------------

TEST(SimulateCsv, HeaderHasUnitsAndRowsMatchEstimates) {
  CliResult r = run({"simulate", kDefaultScenario, "--scope", "layer", "--format", "csv"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto rows = parse_csv(r.out);
  ASSERT_EQ(rows.size(), 1u + 12u);  // header + 4 mechanisms x 3 passes
  const auto& h = rows[0];
  for (const char* name : {"mechanism", "engine", "pass", "scope", "feasible", "time_s", "compute_s", "exposed_comm_s",
                           "peak_memory_bytes", "fits", "reason"})
    EXPECT_GE(column(h, name), 0) << name;
  Scenario s = load_scenario(kDefaultScenario);
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto& row = rows[i];
    ASSERT_EQ(row.size(), h.size());
    Mechanism m = *parse_mechanism(row[static_cast<std::size_t>(column(h, "mechanism"))]);
    Pass p = *parse_pass(row[static_cast<std::size_t>(column(h, "pass"))]);
    Estimate e = estimate(s, m, p);
    ASSERT_EQ(row[static_cast<std::size_t>(column(h, "feasible"))], e.feasible ? "true" : "false");
    if (!e.feasible) continue;
    expect_near_rel(std::stod(row[static_cast<std::size_t>(column(h, "time_s"))]), e.time.value(), "time_s");
    expect_near_rel(std::stod(row[static_cast<std::size_t>(column(h, "peak_memory_bytes"))]), e.memory.total().value(),
                    "peak_memory_bytes");
  }
}

TEST(SimulateTable, HasHeaderUnitsRowAndOneLinePerResult) {
  CliResult r = run({"simulate", kDefaultScenario, "--scope", "layer"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream in(r.out);
  std::string line;
  int comment_lines = 0, data_lines = 0;
  bool units_row = false;
  while (std::getline(in, line)) {
    if (line.starts_with("#")) {
      ++comment_lines;
      units_row = units_row || line.find("(ms)") != std::string::npos;
    } else if (!line.empty()) {
      ++data_lines;
    }
  }
  EXPECT_TRUE(units_row);            // a units row, nccl-tests style
  EXPECT_GE(comment_lines, 3);       // scenario header, column names, units
  EXPECT_EQ(data_lines, 12);         // 4 mechanisms x 3 passes
  EXPECT_NE(r.out.find("llama32v-16xa100"), std::string::npos);  // names the scenario
}

// ---- bad input: exit code 2, file, line and field ---------------------------------------

// A scenario with one problem placed at a known line.
std::string scenario_with(const std::string& workload_extra, const std::string& cluster_extra = "") {
  return "name: bad\n"                          // line 1
         "workload:\n"                          // line 2
         "  model: llama-3.2-11b-vision\n"      // line 3
         "  text_tokens: 1008\n" +              // line 4
         workload_extra +                       // line 5
         "cluster:\n"
         "  preset: lvxattn-16xa100\n" +
         cluster_extra;
}

void expect_bad_input(const CliResult& r, const std::vector<std::string>& needles) {
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  for (const auto& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << "missing '" << n << "' in: " << r.err;
}

TEST(SimulateBadInput, UnknownFieldNamesFileLineAndField) {
  TempDir dir;
  std::string f = dir.write("bad.yaml", scenario_with("  framez: 3\n"));
  expect_bad_input(run({"simulate", f}), {f + ":5", "workload.framez", "unknown field"});
}

TEST(SimulateBadInput, WrongTypeNamesFileLineAndField) {
  TempDir dir;
  std::string f = dir.write("bad.yaml", scenario_with("  frames: many\n"));
  expect_bad_input(run({"simulate", f}), {f + ":5", "workload.frames", "many"});
}

TEST(SimulateBadInput, NegativeAndZeroSizesNameFileLineAndField) {
  TempDir dir;
  std::string f = dir.write("neg.yaml", scenario_with("  frames: -4\n"));
  expect_bad_input(run({"simulate", f}), {f + ":5", "workload.frames", "positive"});
  std::string g = dir.write("zero.yaml", scenario_with("  batch: 0\n"));
  expect_bad_input(run({"simulate", g}), {g + ":5", "workload.batch", "positive"});
}

TEST(SimulateBadInput, UnknownPresetNamesFileLineAndField) {
  TempDir dir;
  std::string f = dir.write("bad.yaml", "workload:\n  model: llama-9\n  frames: 4\ncluster:\n  preset: lvxattn-16xa100\n");
  expect_bad_input(run({"simulate", f}), {f + ":2", "workload.model", "llama-9"});
  std::string g = dir.write("bad2.yaml", "workload:\n  frames: 4\ncluster:\n  preset: moon-base\n");
  expect_bad_input(run({"simulate", g}), {g + ":4", "cluster.preset", "moon-base"});
}

TEST(SimulateBadInput, DegreeThatDoesNotDivide) {
  // 3 NICs per node cannot serve 4 GPUs per node evenly (one message uses one NIC).
  TempDir dir;
  std::string f = dir.write("bad.yaml", scenario_with("", "  inter_node:\n    nics_per_node: 3\n"));
  // cluster: is line 5, preset line 6, inter_node line 7, nics_per_node line 8.
  expect_bad_input(run({"simulate", f}), {f + ":8", "cluster.inter_node.nics_per_node"});
}

TEST(SimulateBadInput, EveryProblemIsReportedAtOnceOnePerLine) {
  TempDir dir;
  std::string f = dir.write("bad.yaml", scenario_with("  frames: many\n  framez: 3\n"));
  CliResult r = run({"simulate", f});
  expect_bad_input(r, {"workload.frames", "workload.framez"});
  EXPECT_GE(std::count(r.err.begin(), r.err.end(), '\n'), 2);
}

TEST(SimulateBadInput, SetPathThatDoesNotExist) {
  expect_bad_input(run({"simulate", kDefaultScenario, "--scope", "layer", "--set", "workload.framez=3"}),
                   {"--set workload.framez=3", "workload.framez"});
  expect_bad_input(run({"simulate", kDefaultScenario, "--scope", "layer", "--set", "workload.frames=lots"}), {"workload.frames", "lots"});
  expect_bad_input(run({"simulate", kDefaultScenario, "--scope", "layer", "--set", "noequals"}), {"noequals"});
}

TEST(SimulateBadInput, UnknownMechanismListsTheKnownOnes) {
  CliResult r = run({"simulate", kDefaultScenario, "--scope", "layer", "--mechanism", "warp-drive"});
  expect_bad_input(r, {"warp-drive", mechanism_names()});
}

TEST(SimulateBadInput, UnknownEngineAndTraceWithoutTheEventEngine) {
  expect_bad_input(run({"simulate", kDefaultScenario, "--scope", "layer", "--engine", "abacus"}), {"abacus"});
  // --trace records the event engine's run of one mechanism and one pass.
  expect_bad_input(run({"simulate", kDefaultScenario, "--scope", "layer", "--trace", "t.json"}), {"--trace", "--engine event", "one -m"});
}

TEST(SimulateBadInput, EventEngineKnobsAreChecked) {
  // The knobs set the event engine; each bad value is named with its option.
  expect_bad_input(run({"simulate", kDefaultScenario, "--scope", "layer", "--jitter", "0.1"}), {"--engine event"});
  expect_bad_input(run({"simulate", kDefaultScenario, "--scope", "layer", "-e", "event", "--jitter", "1.5"}), {"--jitter", "below 1"});
  expect_bad_input(run({"simulate", kDefaultScenario, "--scope", "layer", "-e", "event", "--network", "carrier-pigeon"}),
                   {"carrier-pigeon", "flow, alpha-beta"});
  expect_bad_input(run({"simulate", kDefaultScenario, "--scope", "layer", "-e", "event", "--straggler", "3"}), {"--straggler 3", "RANK:FACTOR"});
  // The scenario has 16 ranks (0..15).
  expect_bad_input(run({"simulate", kDefaultScenario, "--scope", "layer", "-e", "event", "--straggler", "16:2"}), {"rank 16", "0..15"});
  expect_bad_input(run({"simulate", kDefaultScenario, "--scope", "layer", "-e", "event", "--straggler", "2:0"}), {"positive"});
}

double event_time(const std::vector<std::string>& extra) {
  std::vector<std::string> args{"-m", "lv-xattn", "-p", "fwd", "-e", "event"};
  args.insert(args.end(), extra.begin(), extra.end());
  const json j = simulate_json(args);
  EXPECT_EQ(j.at("results").size(), 1u);
  return j.at("results").at(0).at("time_s").get<double>();
}

TEST(SimulateEventKnobs, AStragglerHoldsTheLockStepRingBack) {
  // LV-XAttn's forward on this scenario is compute-bound (README: 0.06 ms of 64.0 ms
  // exposed for fwd+bwd). Every round of the ring waits for the block of the slowest
  // rank, so one GPU at half speed stretches every round to its block time: the layer
  // takes close to twice as long (between 1.9x and 2x; the tail hop is not stretched).
  const double base = event_time({});
  const double slow = event_time({"--straggler", "5:2"});
  EXPECT_GT(slow, 1.9 * base);
  EXPECT_LE(slow, 2.0 * base * (1 + 1e-9));
}

TEST(SimulateEventKnobs, JitterIsSeededAndBounded) {
  // Every compute op's time is scaled by a draw from [0.9, 1.1]; a lock-step round takes
  // the slowest of its blocks, so the layer lands between 0.9x and 1.1x of the
  // jitter-free time, and above it (the maximum of 16 draws is almost surely above 1).
  // The draws depend on (seed, rank, op) only: the same seed gives the same time.
  const double base = event_time({});
  const double a = event_time({"--jitter", "0.1", "--seed", "7"});
  EXPECT_EQ(a, event_time({"--jitter", "0.1", "--seed", "7"}));
  EXPECT_NE(a, event_time({"--jitter", "0.1", "--seed", "8"}));
  EXPECT_GT(a, base);
  EXPECT_LT(a, 1.1 * base);
}

TEST(SimulateEventKnobs, AlphaBetaNetworkIsNeverSlowerThanSharedLinks) {
  // alpha-beta lets every message have its route alone; the flow model shares links
  // max-min fairly. Ring moves big key/value blocks and is communication-bound here, so
  // the network model shows; the contention-free model cannot be the slower one.
  std::vector<std::string> ring{"-m", "ring", "-p", "fwd", "-e", "event"};
  auto time_with = [&](const std::string& model) {
    std::vector<std::string> args = ring;
    args.insert(args.end(), {"--network", model});
    return simulate_json(args).at("results").at(0).at("time_s").get<double>();
  };
  EXPECT_LE(time_with("alpha-beta"), time_with("flow") * (1 + 1e-12));
}

TEST(SimulateBadInput, MissingFile) {
  expect_bad_input(run({"simulate", "/nonexistent/dir/s.yaml"}), {"/nonexistent/dir/s.yaml"});
}

TEST(SimulateBadInput, BadCommandLinesExitTwo) {
  // CLI11's own parse errors: unknown option, bad --pass value, bad --format, missing
  // positional, no subcommand, unknown subcommand.
  EXPECT_EQ(run({"simulate", kDefaultScenario, "--scope", "layer", "--bogus"}).code, 2);
  CliResult pass = run({"simulate", kDefaultScenario, "--scope", "layer", "--pass", "sideways"});
  EXPECT_EQ(pass.code, 2);
  EXPECT_NE(pass.err.find("sideways"), std::string::npos) << pass.err;
  EXPECT_EQ(run({"simulate", kDefaultScenario, "--scope", "layer", "--format", "xml"}).code, 2);
  EXPECT_EQ(run({"simulate"}).code, 2);
  EXPECT_EQ(run({}).code, 2);
  EXPECT_EQ(run({"teleport"}).code, 2);
}

TEST(SimulateBadInput, OutLeavesNothingBehindOnError) {
  TempDir dir;
  std::string out = dir.path("result.json");
  CliResult r = run({"simulate", kDefaultScenario, "--scope", "layer", "--format", "json", "--out", out, "--set", "workload.frames=-1"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(dir.files().empty());  // neither result.json nor a temporary
}

TEST(SimulateBadInput, OutIntoAMissingFolderIsBadInput) {
  TempDir dir;
  CliResult r = run({"simulate", kDefaultScenario, "--scope", "layer", "--out", dir.path("no/such/result.txt")});
  expect_bad_input(r, {"--out", "no such folder"});
}

// ---- help, version, presets, fields ---------------------------------------------------

TEST(Help, TopLevelAndEverySubcommandExitZero) {
  CliResult top = run({"--help"});
  EXPECT_EQ(top.code, 0);
  for (const char* sub : {"simulate", "sweep", "presets", "fields"}) {
    EXPECT_NE(top.out.find(sub), std::string::npos) << sub;
    CliResult r = run({sub, "--help"});
    EXPECT_EQ(r.code, 0) << sub;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << sub;
  }
  // simulate's help lists the mechanism names and a --set example.
  CliResult sim = run({"simulate", "--help"});
  EXPECT_NE(sim.out.find(mechanism_names()), std::string::npos);
  EXPECT_NE(sim.out.find("workload.frames=384"), std::string::npos);
}

TEST(Version, PrintsVersionAndBuiltParts) {
  CliResult r = run({"--version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(r.out.starts_with("xattn 0.1.0\n")) << r.out;  // project(xattn VERSION 0.1.0)
  // Each optional part is reported as this build has it (the defines come from CMake's
  // configure summary), and both engines are always there.
  EXPECT_NE(r.out.find("engines: analytic (closed form), event (event-driven simulator)"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("not built yet"), std::string::npos) << r.out;
#ifdef XATTN_HAVE_GPU
  EXPECT_NE(r.out.find("GPU backend (CUDA/NCCL): built, CUDA "), std::string::npos) << r.out;
#else
  EXPECT_NE(r.out.find("GPU backend (CUDA/NCCL): not built"), std::string::npos) << r.out;
#endif
#ifdef XATTN_HAVE_MPI
  EXPECT_NE(r.out.find("MPI: built"), std::string::npos) << r.out;
#else
  EXPECT_NE(r.out.find("MPI: not built"), std::string::npos) << r.out;
#endif
#ifdef XATTN_HAVE_GUI
  EXPECT_NE(r.out.find("dashboard (xattn-gui, Qt6): built"), std::string::npos) << r.out;
#else
  EXPECT_NE(r.out.find("dashboard (xattn-gui, Qt6): not built"), std::string::npos) << r.out;
#endif
}

TEST(Presets, ListsEveryPresetByName) {
  CliResult r = run({"presets"});
  ASSERT_EQ(r.code, 0);
  for (const auto& m : model_presets()) EXPECT_NE(r.out.find(m.name), std::string::npos) << m.name;
  for (const auto& g : gpu_presets()) EXPECT_NE(r.out.find(g.name), std::string::npos) << g.name;
  for (const auto& c : cluster_presets()) EXPECT_NE(r.out.find(c.name), std::string::npos) << c.name;
  EXPECT_EQ(run({"presets", "planets"}).code, 2);
}

TEST(Fields, ListsEveryScenarioKey) {
  CliResult r = run({"fields"});
  ASSERT_EQ(r.code, 0);
  for (const auto& f : scenario_fields()) EXPECT_NE(r.out.find(f.path), std::string::npos) << f.path;
}

}  // namespace
}  // namespace xattn::cli::test
