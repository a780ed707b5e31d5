// `xattn simulate` at iteration scope (issue #16 phase 2): the JSON contract of
// ARCHITECTURE.md checked against its own definitions (breakdown sums to the time, tokens/s
// and MFU from their formulas, docs/model.md §13), bad input exiting 2 with file, line and
// field, the iteration knobs as calibration keys, `--set` into a model mapping, the
// paper preset's rule for explicit keys, sweeps' `scope`, and `xattn reproduce`'s structure.
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/iteration.hpp"
#include "model/presets.hpp"
#include "model/scenario/scenario_file.hpp"
#include "sim/runner.hpp"
#include "tests/cli/cli_test_util.hpp"

namespace xattn::cli::test {
namespace {

using json = nlohmann::json;

json simulate_json(const std::vector<std::string>& extra, const std::string& scenario = kDefaultScenario) {
  std::vector<std::string> args{"simulate", scenario, "--format", "json"};
  args.insert(args.end(), extra.begin(), extra.end());
  const CliResult r = run(args);
  EXPECT_EQ(r.code, 0) << r.err;
  return json::parse(r.out);
}

void expect_input_error(const CliResult& r, const std::vector<std::string>& needles) {
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  for (const auto& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << "missing '" << n << "' in: " << r.err;
}

// The default scenario's workload and cluster, with lines the tests below add under it.
const std::string kHead =
    "workload:\n"                       // 1
    "  model: llama-3.2-11b-vision\n"   // 2
    "  text_tokens: 1008\n"             // 3
    "  frames: 192\n"                   // 4
    "cluster:\n"                        // 5
    "  preset: lvxattn-16xa100\n";      // 6

TEST(IterationCli, IterationIsTheDefaultScopeAndEntriesFollowTheContract) {
  const json doc = simulate_json({"--pass", "fwd+bwd"});
  ASSERT_EQ(doc["results"].size(), 4u);  // the scenario's 4 mechanisms x 1 pass
  EXPECT_EQ(doc["scenario"]["training"]["sp"], 16);
  for (const json& r : doc["results"]) {
    EXPECT_EQ(r["scope"], "iteration");
    EXPECT_EQ(r["engine"], "analytic");
    EXPECT_EQ(r["self_attention"], "ring-zigzag");  // the default training.self_attention
    ASSERT_TRUE(r["feasible"].get<bool>());
    const double t = r["time_s"];
    // breakdown_s's parts sum to time_s (ARCHITECTURE.md).
    double sum = 0;
    for (const auto& [part, s] : r["breakdown_s"].items()) sum += s.get<double>();
    EXPECT_NEAR(sum, t, 1e-12 * t);
    EXPECT_NEAR(r["compute_s"].get<double>() + r["exposed_comm_s"].get<double>(), t, 1e-9 * t);
    // tokens/s: text plus visual tokens of the global batch (1 sample: 1008 + 192 x 6404)
    // per second of step.
    EXPECT_NEAR(r["tokens_per_s"].get<double>() * t, 1008.0 + 192.0 * 6404.0, 1e-6);
    // MFU: model FLOPs over time x GPUs x peak (A100 fp16 dense 312 TFLOP/s, datasheet).
    EXPECT_NEAR(r["mfu"].get<double>(), r["model_flops"].get<double>() / (t * 16 * 312e12), 1e-12);
    EXPECT_TRUE(r["memory_bytes"].contains("activations"));
    EXPECT_GT(r["peak_memory_bytes"].get<double>(), 0.0);
    EXPECT_TRUE(r["fits"].get<bool>());  // 11B under ZeRO-3 over 16 x 80 GB
    EXPECT_FALSE(r["uncalibrated"].empty());
  }
  // The cross-attention mechanism changes the step: Ring moves 315 MB blocks through the
  // 25 GB/s NICs (README), LV-XAttn does not.
  EXPECT_EQ(doc["results"][0]["mechanism"], "lv-xattn");
  EXPECT_EQ(doc["results"][1]["mechanism"], "ring");
  EXPECT_GT(doc["results"][1]["time_s"].get<double>(), 2 * doc["results"][0]["time_s"].get<double>());
}

TEST(IterationCli, TheEventEngineRunsTheStepBesideTheClosedForm) {
  // -e both: the closed form's entry, then the event engine's run of the same step
  // (sim::evaluate_iteration), with their difference.
  const json doc = simulate_json({"--engine", "both", "-m", "lv-xattn", "-p", "fwd+bwd"});
  ASSERT_EQ(doc["results"].size(), 2u);
  const json& closed = doc["results"][0];
  const json& event = doc["results"][1];
  EXPECT_EQ(closed["engine"], "analytic");
  EXPECT_EQ(event["engine"], "event");
  EXPECT_EQ(event["scope"], "iteration");
  EXPECT_EQ(event["mechanism"], "lv-xattn");
  ASSERT_TRUE(event["feasible"].get<bool>());
  const double tc = closed["time_s"].get<double>(), te = event["time_s"].get<double>();
  // LV-XAttn moves only the small Q/O blocks, so little shares a link: the engines agree
  // within the 2% of the runner's agreement test (tests/sim/iteration_sim_test.cpp).
  EXPECT_NEAR(te, tc, 0.02 * tc);
  // vs_analytic is the event time less the closed form's, absolute and relative.
  EXPECT_NEAR(event["vs_analytic"]["time_diff_s"].get<double>(), te - tc, 1e-9 * tc);
  EXPECT_NEAR(event["vs_analytic"]["time_diff_rel"].get<double>(), (te - tc) / tc, 1e-9);
  EXPECT_FALSE(closed.contains("vs_analytic"));
  // The event entry keeps the contract: its breakdown sums to its time, compute plus
  // exposed communication too.
  double sum = 0;
  for (const auto& [name, v] : event["breakdown_s"].items()) sum += v.get<double>();
  EXPECT_NEAR(sum, te, 1e-9 * te);
  EXPECT_NEAR(event["compute_s"].get<double>() + event["exposed_comm_s"].get<double>(), te, 1e-9 * te);
  // -e event alone: the event entry only, the same figure.
  const json alone = simulate_json({"--engine", "event", "-m", "lv-xattn", "-p", "fwd+bwd"});
  ASSERT_EQ(alone["results"].size(), 1u);
  EXPECT_EQ(alone["results"][0]["engine"], "event");
  EXPECT_NEAR(alone["results"][0]["time_s"].get<double>(), te, 1e-12 * te);
}

// `-e event` at iteration scope prints where the step went, phase by phase (issue 17 §2):
// the rows are the event engine's PhaseRows of the critical rank (sim::evaluate_iteration
// on the same scenario, printed to 4 decimals), and the compute stream's busy plus
// exposed time over every phase is the step's time (the compute stream is busy or waiting
// from the step's start to its end).
TEST(IterationCli, EventRunPrintsWhereTheStepWentPerPhaseAndStream) {
  const CliResult r = run({"simulate", kDefaultScenario, "-e", "event", "-m", "ring", "-p", "fwd+bwd"});
  ASSERT_EQ(r.code, 0) << r.err;
  const Scenario s = load_scenario(kDefaultScenario);
  const sim::IterationEvaluated direct =
      sim::evaluate_iteration(s, *parse_mechanism("ring"), Pass::fwd_bwd, sim::Engine::event);
  const sim::IterationEvaluation& ev = direct.evaluations.back();
  ASSERT_TRUE(ev.estimate.feasible && ev.event);
  const auto& phases = ev.event->phases;
  ASSERT_GE(phases.size(), 5u);

  // The summary's rows: "  NAME  compute sp dp exposed share ops" after the "# phase" header.
  struct Printed {
    std::string name;
    double v[5];
    long long ops;
  };
  std::vector<Printed> rows;
  std::istringstream in(r.out);
  std::string line;
  bool in_summary = false;
  while (std::getline(in, line)) {
    if (line.rfind("# phase", 0) == 0) {
      in_summary = true;
      continue;
    }
    if (!in_summary || line.rfind("  ", 0) != 0) {
      if (in_summary && line.rfind("#", 0) == 0 && !rows.empty()) break;
      continue;
    }
    std::istringstream l(line);
    std::vector<std::string> words;
    for (std::string w; l >> w;) words.push_back(w);
    ASSERT_GE(words.size(), 7u) << line;
    Printed p;
    for (std::size_t i = 0; i + 6 < words.size(); ++i) p.name += (i ? " " : "") + words[i];
    for (int k = 0; k < 5; ++k) p.v[k] = std::stod(words[words.size() - 6 + static_cast<std::size_t>(k)]);
    p.ops = std::stoll(words.back());
    rows.push_back(p);
  }
  ASSERT_EQ(rows.size(), phases.size() + 1) << r.out;  // the phases, then "all phases"
  double compute = 0, exposed = 0;
  for (std::size_t i = 0; i < phases.size(); ++i) {
    EXPECT_EQ(rows[i].name, phases[i].phase);
    EXPECT_NEAR(rows[i].v[0], phases[i].compute_s, 5e-5);
    EXPECT_NEAR(rows[i].v[1], phases[i].sp_s, 5e-5);
    EXPECT_NEAR(rows[i].v[2], phases[i].dp_s, 5e-5);
    EXPECT_NEAR(rows[i].v[3], phases[i].exposed_s, 5e-5);
    EXPECT_EQ(static_cast<std::uint64_t>(rows[i].ops), phases[i].ops);
    compute += phases[i].compute_s;
    exposed += phases[i].exposed_s;
  }
  EXPECT_EQ(rows.back().name, "all phases");
  EXPECT_NEAR(compute + exposed, ev.estimate.time.value(), 1e-6 * ev.estimate.time.value());
  EXPECT_NEAR(rows.back().v[4], 100.0, 0.05);
  // Ring's K/V transfers run on the sequence-parallel streams: the cross-attention rows
  // carry sp busy time, and the sharding collectives dp time.
  double cross_sp = 0, dp = 0;
  for (const auto& p : phases) {
    if (p.part == StepPart::cross_attention) cross_sp += p.sp_s;
    dp += p.dp_s;
  }
  EXPECT_GT(cross_sp, 0.0);
  EXPECT_GT(dp, 0.0);
  // The closed form alone prints no summary: it has no phases of a run.
  const CliResult analytic = run({"simulate", kDefaultScenario, "-m", "ring", "-p", "fwd+bwd"});
  ASSERT_EQ(analytic.code, 0) << analytic.err;
  EXPECT_EQ(analytic.out.find("# phase"), std::string::npos);
}

TEST(IterationCli, AMechanismThatCannotRunTheLayerIsAnInfeasibleEntry) {
  // 12 GPUs: Ulysses splits 32 query heads over 12 ranks, which does not divide.
  const json doc = simulate_json({"-m", "ulysses", "-m", "lv-xattn", "-p", "fwd+bwd"},
                                 kSourceDir + "/scenarios/llama32v-12xa100-pcie.yaml");
  ASSERT_EQ(doc["results"].size(), 2u);
  const json& u = doc["results"][0];
  EXPECT_EQ(u["mechanism"], "ulysses");
  EXPECT_FALSE(u["feasible"].get<bool>());
  EXPECT_NE(u["reason"].get<std::string>().find("not divisible"), std::string::npos) << u["reason"];
  EXPECT_FALSE(u.contains("time_s"));
  EXPECT_TRUE(doc["results"][1]["feasible"].get<bool>());
}

TEST(IterationCli, CsvRowsCarryTheJsonFigures) {
  const json doc = simulate_json({"-p", "fwd+bwd"});
  const CliResult r = run({"simulate", kDefaultScenario, "-p", "fwd+bwd", "--format", "csv"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto rows = parse_csv(r.out);
  ASSERT_EQ(rows.size(), 1u + doc["results"].size());
  const auto& h = rows[0];
  ASSERT_GE(column(h, "time_s"), 0);
  ASSERT_GE(column(h, "mfu"), 0);
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const json& e = doc["results"][i - 1];
    EXPECT_EQ(rows[i][static_cast<std::size_t>(column(h, "mechanism"))], e["mechanism"].get<std::string>());
    const double t = std::stod(rows[i][static_cast<std::size_t>(column(h, "time_s"))]);
    EXPECT_NEAR(t, e["time_s"].get<double>(), 1e-12 * t);
  }
}

TEST(IterationCli, PresetsListEveryArchitecture) {
  const CliResult r = run({"presets", "architectures"});
  ASSERT_EQ(r.code, 0) << r.err;
  // One line per model preset, starting with its name.
  for (const ModelSpec& m : model_presets())
    EXPECT_NE(r.out.find("\n" + m.name + " "), std::string::npos) << m.name << " missing in:\n" << r.out;
  EXPECT_EQ(run({"presets", "shapes"}).code, 2);
}

// ---- bad input: exit 2 with file, line and field (issue #16 §7) -------------------------

TEST(IterationCliBadInput, EachNamesFileLineAndField) {
  TempDir dir;
  auto check = [&](const std::string& body, const std::vector<std::string>& needles) {
    const std::string f = dir.write("s.yaml", body);
    std::vector<std::string> with_file{f};
    for (const auto& n : needles) with_file.push_back(n);
    expect_input_error(run({"simulate", f}), with_file);
  };
  // sp = 3 does not divide 16 GPUs.
  check(kHead + "training:\n  sp: 3\n", {"s.yaml:8:", "training.sp"});
  // dp x sp = 4 x 2 = 8, not 16.
  check(kHead + "training:\n  sp: 2\n  dp: 4\n", {"s.yaml:", "training.dp"});
  // global_batch 3 is not a multiple of batch 1 x dp 2.
  check(kHead + "training:\n  sp: 8\n  dp: 2\n  global_batch: 3\n", {"s.yaml:10:", "training.global_batch"});
  // An unknown frozen part.
  check(kHead + "training:\n  frozen: [vision, eyes]\n", {"s.yaml:8:", "training.frozen", "eyes"});
  // Frames on a decoder-only model.
  check("workload:\n  model: llama-3-8b\n  text_tokens: 4096\n  frames: 4\ncluster:\n  preset: lvxattn-16xa100\n",
        {"s.yaml:4:", "workload.frames", "decoder-only"});
  // A model mapping without the LM's hidden width.
  check("workload:\n  model:\n    name: tiny\n    lm: {layers: 4, heads: 8, kv_heads: 8, head_dim: 64,\n"
        "         mlp: gelu, mlp_width: 2048, vocab: 32000}\n  text_tokens: 4096\ncluster:\n  preset: lvxattn-16xa100\n",
        {"s.yaml:4:", "workload.model.lm.hidden", "missing"});
}

// ---- the iteration knobs are calibration keys (phase 1 note a) -------------------------

TEST(IterationCli, VisionEfficiencyFromACalibrationFileLeavesTheUncalibratedList) {
  TempDir dir;
  const std::string cal = dir.write("cal.yaml", "iteration:\n  vision_efficiency: 0.6\n");
  const std::string with = dir.write("with.yaml", kHead + "calibration: [cal.yaml]\n");
  const json base = simulate_json({"-m", "lv-xattn", "-p", "fwd+bwd"});
  const json cal_doc = simulate_json({"-m", "lv-xattn", "-p", "fwd+bwd"}, with);
  auto has = [](const json& r, const std::string& name) {
    for (const auto& n : r["uncalibrated"])
      if (n == name) return true;
    return false;
  };
  EXPECT_TRUE(has(base["results"][0], "iteration.vision_efficiency"));
  EXPECT_FALSE(has(cal_doc["results"][0], "iteration.vision_efficiency"));
  // The vision tower's time goes as 1/η (docs/model.md §14): 0.55 / 0.6 of the default's.
  const double v0 = base["results"][0]["breakdown_s"]["vision"], v1 = cal_doc["results"][0]["breakdown_s"]["vision"];
  EXPECT_NEAR(v1, v0 * 0.55 / 0.6, 1e-9 * v0);
  // A bad value names the calibration file, its line and the key.
  dir.write("cal.yaml", "iteration:\n  vision_efficiency: 1.5\n");
  expect_input_error(run({"simulate", with}), {"cal.yaml:2:", "iteration.vision_efficiency"});
  dir.write("cal.yaml", "iteration:\n  zero_bucket_elements: 0\n");
  expect_input_error(run({"simulate", with}), {"cal.yaml:2:", "iteration.zero_bucket_elements"});
}

TEST(IterationCli, SensitivityWorksAtIterationScope) {
  const json doc = simulate_json({"--sensitivity", "-m", "lv-xattn", "-m", "ring", "-p", "fwd+bwd"});
  bool seen = false;
  for (const json& row : doc["sensitivity"]) {
    if (row["input"] != "iteration.vision_efficiency" || row["mechanism"] != "lv-xattn") continue;
    seen = true;
    // A less efficient tower (0.8 x η) is slower than a more efficient one (1.2 x η).
    EXPECT_GT(row["time_s_low"].get<double>(), row["time_s_high"].get<double>());
  }
  EXPECT_TRUE(seen);
}

// ---- --set into a model mapping (phase 1 note b) ----------------------------------------

TEST(IterationCli, SetReachesAKeyOfTheWholeModel) {
  // Half the LM layers: fewer parameters, a shorter step.
  const json base = simulate_json({"-m", "lv-xattn", "-p", "fwd+bwd"});
  const json half = simulate_json({"-m", "lv-xattn", "-p", "fwd+bwd", "--set", "workload.model.lm.layers=20",
                                   "--set", "workload.model.cross_attention.layers=3,8,13"});
  EXPECT_LT(half["scenario"]["training"]["parameters"].get<double>(),
            base["scenario"]["training"]["parameters"].get<double>());
  EXPECT_LT(half["results"][0]["time_s"].get<double>(), base["results"][0]["time_s"].get<double>());
  // A cross-attention layer past the LM's last is the mapping's own check, named.
  expect_input_error(run({"simulate", kDefaultScenario, "--set", "workload.model.lm.layers=20"}),
                     {"workload.model.cross_attention"});
  expect_input_error(run({"simulate", kDefaultScenario, "--set", "workload.model.lm.colour=red"}), {"workload.model.lm.colour"});
}

// ---- explicit keys over training.preset lv-xattn-paper (phase 1 note c) ----------------

TEST(IterationCli, ExplicitTrainingKeysWinOverThePaperPresetExceptATrainableTower) {
  TempDir dir;
  const std::string paper = dir.write("p.yaml", kHead + "training:\n  preset: lv-xattn-paper\n");
  const json p = simulate_json({"-m", "lv-xattn", "-p", "fwd+bwd"}, paper);
  EXPECT_EQ(p["scenario"]["training"]["sharding"], "zero3");
  EXPECT_FALSE(p["scenario"]["training"]["optimizer_step"].get<bool>());  // the harness takes no step
  const json q = simulate_json({"-m", "lv-xattn", "-p", "fwd+bwd", "--set", "training.optimizer_step=true",
                                "--set", "training.sharding=zero2"},
                               paper);
  EXPECT_EQ(q["scenario"]["training"]["sharding"], "zero2");
  EXPECT_TRUE(q["scenario"]["training"]["optimizer_step"].get<bool>());
  EXPECT_GT(q["results"][0]["breakdown_s"]["optimizer"].get<double>(), 0.0);
  // Its harness returns no gradient to the visual states: a trainable tower is refused.
  const std::string tower = dir.write("t.yaml", kHead + "training:\n  preset: lv-xattn-paper\n  frozen: [projector]\n");
  expect_input_error(run({"simulate", tower}), {"t.yaml:9:", "training.frozen", "lv-xattn-paper"});
}

// ---- sweeps' scope ----------------------------------------------------------------------

TEST(IterationCli, SweepRowsAreStepsByDefaultAndEqualTheClosedForm) {
  TempDir dir;
  const std::string f = dir.write("s.yaml", "base: " + kDefaultScenario +
                                                "\ngrid:\n  workload.frames: [96, 192]\nmechanisms: [lv-xattn, ring]\n");
  const CliResult r = run({"sweep", f, "--jobs", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto rows = parse_csv(r.out);
  ASSERT_EQ(rows.size(), 1u + 2u * 2u);
  const auto& h = rows[0];
  ASSERT_GE(column(h, "mfu"), 0);
  for (std::size_t i = 1; i < rows.size(); ++i) {
    auto cell = [&](const char* name) { return rows[i][static_cast<std::size_t>(column(h, name))]; };
    const Scenario s = load_scenario(kDefaultScenario, {"workload.frames=" + cell("workload.frames")});
    const IterationEstimate e = estimate_iteration(s, *parse_mechanism(cell("mechanism")), Pass::fwd_bwd);
    EXPECT_NEAR(std::stod(cell("time_s")), e.time.value(), 1e-12 * e.time.value());
    EXPECT_NEAR(std::stod(cell("mfu")), e.mfu, 1e-12);
  }
  expect_input_error(run({"sweep", dir.write("b.yaml", "base: " + kDefaultScenario + "\nscope: model\n")}),
                     {"b.yaml:2:", "scope"});
}

// ---- xattn reproduce lv-xattn: structure and physics, never the paper's numbers ----------

TEST(ReproduceCli, RowsCarryTheContractAndSpeedupsAreTheirTimesRatio) {
  const CliResult r = run({"reproduce", "lv-xattn", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const json doc = json::parse(r.out);
  ASSERT_FALSE(doc["rows"].empty());
  EXPECT_FALSE(doc["assumptions"].empty());
  for (const json& row : doc["rows"]) {
    for (const char* k : {"setup", "model", "gpus", "metric", "paper", "paper_note", "predicted", "note"})
      EXPECT_TRUE(row.contains(k)) << k << " in " << row.dump();
    // A paper figure always says what kind of figure it is.
    if (!row["paper"].is_null()) {
      EXPECT_FALSE(row["paper_note"].get<std::string>().empty()) << row.dump();
    }
  }
  // Within a set-up, the speedup row is Ring's time over LV-XAttn's (the same step, the
  // same closed form), for the cross-attention and the end-to-end step alike.
  auto find = [&](const std::string& setup, const std::string& metric) -> const json* {
    for (const json& row : doc["rows"])
      if (row["setup"] == setup && row["metric"] == metric) return &row;
    return nullptr;
  };
  int checked = 0;
  for (const json& row : doc["rows"]) {
    const std::string setup = row["setup"];
    for (const std::string what : {"cross-attention", "end-to-end"}) {
      const json* lv = find(setup, what + " time per step, LV-XAttn (s)");
      const json* ring = find(setup, what + " time per step, Ring (s)");
      const json* up = find(setup, what + " speedup of LV-XAttn over Ring (x)");
      if (&row != lv || ring == nullptr || up == nullptr) continue;
      ASSERT_FALSE((*up)["predicted"].is_null());
      EXPECT_NEAR((*up)["predicted"].get<double>(),
                  (*ring)["predicted"].get<double>() / (*lv)["predicted"].get<double>(), 1e-9);
      ++checked;
    }
  }
  EXPECT_GE(checked, 2);
  EXPECT_EQ(run({"reproduce", "ring-paper"}).code, 2);
}

}  // namespace
}  // namespace xattn::cli::test
