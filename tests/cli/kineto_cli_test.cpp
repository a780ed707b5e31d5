// `xattn import kineto` and `xattn validate --measured-kineto` (cli/import_cmd.cpp,
// cli/validate_cmd.cpp; docs/kineto.md), driven in-process: the JSON contracts (classes,
// rows), the fitted calibration written and used, the whole chain trace -> fit -> scenario
// -> closed form -> comparison, and the exit-2 cases naming the file.
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/calibration.hpp"
#include "model/scenario/calibration_file.hpp"
#include "tests/cli/cli_test_util.hpp"

namespace xattn::cli::test {
namespace {

const std::string kDir = kSourceDir + "/tests/data/kineto/";
const std::string kRank0 = kDir + "synthetic-fsdp-2rank/rank0.json";
const std::string kRank1 = kDir + "synthetic-fsdp-2rank/rank1.json";
const std::string kFsdpScenario = kDir + "synthetic-fsdp-2rank/scenario.yaml";

const nlohmann::json& find_row(const nlohmann::json& rows, const char* key, const std::string& value) {
  for (const auto& r : rows)
    if (r.at(key) == value) return r;
  throw std::runtime_error("no row " + value);
}

TEST(ImportKineto, JsonClassesOfTheTwoRankTrace) {
  const CliResult r = run({"import", "kineto", kRank0, kRank1, "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  const auto& classes = j.at("classes");
  ASSERT_EQ(classes.size(), 5u);
  // The five class names of the contract, in order.
  const char* names[] = {"gemm", "attention", "nccl", "elementwise", "other"};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(classes[i].at("class"), names[i]);
    for (const char* key : {"count", "time_s", "achieved_tflops", "achieved_GBps"})
      EXPECT_TRUE(classes[i].contains(key)) << names[i] << " " << key;
  }
  // make_synthetic.py: 27 GEMM and 8 attention kernels per rank and step, 2 steps, 2 ranks.
  EXPECT_EQ(find_row(classes, "class", "gemm").at("count"), 108);
  EXPECT_EQ(find_row(classes, "class", "attention").at("count"), 32);
  // GEMMs at 55-62% of 312 TFLOP/s.
  const double tflops = find_row(classes, "class", "gemm").at("achieved_tflops").get<double>();
  EXPECT_GT(tflops, 0.55 * 312 * 0.97);
  EXPECT_LT(tflops, 0.62 * 312 * 1.03);
  // No other kernels: no rate claimed.
  EXPECT_TRUE(find_row(classes, "class", "other").at("achieved_tflops").is_null());
  EXPECT_EQ(j.at("traces").size(), 2u);
}

TEST(ImportKineto, OutWritesACalibrationTheScenarioReadsAndTheStepUsesIt) {
  TempDir dir;
  const std::string out = dir.path("fitted.yaml");
  CliResult r = run({"import", "kineto", kRank0, kRank1, "--out", out});
  ASSERT_EQ(r.code, 0) << r.err;
  Calibration cal;
  apply_calibration_file(cal, out);
  EXPECT_FALSE(cal.compute.gemm_table.empty());
  ASSERT_TRUE(cal.compute.fwd_max_d128);
  // The whole chain: the scenario of the same run with the fitted calibration. Its
  // attention is one shape (4096 x 4096, causal, d 128; sp 1: no transfers), the one the
  // attention figures were fitted to: the forward and backward attention rows come back
  // within 1%. Without the fit they are off by more than 10% (tested below).
  r = run({"validate", "--scenario", kFsdpScenario, "--calibration", out, "--measured-kineto", kRank0, kRank1,
           "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  for (const char* phase : {"forward: attention", "backward: attention"})
    EXPECT_LT(std::abs(find_row(j.at("rows"), "phase", phase).at("error").get<double>()), 0.01) << phase;
  const double calibrated_step = std::abs(find_row(j.at("rows"), "phase", "step").at("error").get<double>());
  r = run({"validate", "--scenario", kFsdpScenario, "--measured-kineto", kRank0, kRank1, "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_GT(std::abs(find_row(j.at("rows"), "phase", "forward: attention").at("error").get<double>()), 0.10);
  // Calibrated from the run, the step is predicted closer than from the presets.
  EXPECT_LT(calibrated_step, std::abs(find_row(j.at("rows"), "phase", "step").at("error").get<double>()));
}

TEST(ValidateKineto, TwoMicroStepsPerOptimizerStepAreAllCounted) {
  // synthetic-fsdp-2rank-accum2 (make_synthetic.py): the same run with gradient
  // accumulation, two forward-backward micro-steps per ProfilerStep and one optimizer; its
  // scenario says global_batch 4 = 2 micro-steps x batch 1 x dp 2.
  const std::string a0 = kDir + "synthetic-fsdp-2rank-accum2/rank0.json";
  const std::string a1 = kDir + "synthetic-fsdp-2rank-accum2/rank1.json";
  const std::string scenario = kDir + "synthetic-fsdp-2rank-accum2/scenario.yaml";
  TempDir dir;
  const std::string out = dir.path("fitted.yaml");
  CliResult r = run({"import", "kineto", a0, a1, "--out", out});
  ASSERT_EQ(r.code, 0) << r.err;
  r = run({"validate", "--scenario", scenario, "--calibration", out, "--measured-kineto", a0, a1, "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json two = nlohmann::json::parse(r.out);
  EXPECT_EQ(two.at("micro_steps"), 2);
  // Fitted to these very calls (compute.attention_table), the attention rows of the whole
  // step (both micro-steps) come back within 1%, as in the one-micro-step run above.
  for (const char* phase : {"forward: attention", "backward: attention"})
    EXPECT_LT(std::abs(find_row(two.at("rows"), "phase", phase).at("error").get<double>()), 0.01) << phase;
  // Measured: twice the forward and backward work of the one-micro-step traces (the same
  // kernels, jitter +-3%), and the same optimizer.
  r = run({"validate", "--scenario", kFsdpScenario, "--measured-kineto", kRank0, kRank1, "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json one = nlohmann::json::parse(r.out);
  auto measured = [&](const nlohmann::json& j, const char* phase) {
    return find_row(j.at("rows"), "phase", phase).at("measured_s").get<double>();
  };
  for (const char* phase : {"forward: GEMM", "forward: attention", "backward: GEMM", "backward: attention"})
    EXPECT_NEAR(measured(two, phase) / measured(one, phase), 2.0, 2.0 * 0.03) << phase;
  EXPECT_NEAR(measured(two, "optimizer") / measured(one, "optimizer"), 1.0, 0.03);
  // The same traces against the one-micro-step scenario: the prediction holds half the
  // forward and backward work, and the rows say so (-50%, within the jitter).
  r = run({"validate", "--scenario", kFsdpScenario, "--calibration", out, "--measured-kineto", a0, a1, "--format",
           "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json wrong = nlohmann::json::parse(r.out);
  for (const char* phase : {"forward: attention", "backward: attention"})
    EXPECT_NEAR(find_row(wrong.at("rows"), "phase", phase).at("error").get<double>(), -0.5, 0.01) << phase;
}

TEST(ValidateKineto, JsonRowsMediansAndUnmatchedPhases) {
  const CliResult r =
      run({"validate", "--scenario", kFsdpScenario, "--measured-kineto", kRank0, kRank1, "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  for (const auto& row : j.at("rows"))
    for (const char* key : {"phase", "measured_s", "predicted_s", "error"}) EXPECT_TRUE(row.contains(key)) << key;
  EXPECT_TRUE(j.contains("median_abs_error"));
  EXPECT_TRUE(j.contains("max_abs_error"));
  EXPECT_EQ(j.at("ranks"), 2);
  EXPECT_EQ(j.at("steps_per_rank"), 2);
  // The closed form has no elementwise phase: measured, unmatched, with why.
  const auto& other = find_row(j.at("rows"), "phase", "forward: elementwise and other");
  EXPECT_TRUE(other.at("error").is_null());
  EXPECT_FALSE(other.at("why").get<std::string>().empty());
}

TEST(ImportKineto, BadTracesExitTwoNamingTheFile) {
  TempDir dir;
  const std::string text = read_file(kRank0);
  const std::string cut = dir.write("cut.json", text.substr(0, text.size() / 3));
  CliResult r = run({"import", "kineto", cut});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("cut.json"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("traceEvents["), std::string::npos) << r.err;
  const std::string cpu = dir.write("cpu.json",
                                    "{\"traceEvents\": [{\"ph\": \"X\", \"cat\": \"cpu_op\", \"name\": \"aten::mm\", "
                                    "\"ts\": 1, \"dur\": 2, \"pid\": 1, \"tid\": 1}]}");
  r = run({"import", "kineto", cpu});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("no GPU kernel"), std::string::npos) << r.err;
  r = run({"import", "kineto", dir.path("absent.json")});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("absent.json"), std::string::npos) << r.err;
  // Nothing written when the input is bad.
  r = run({"import", "kineto", cut, "--out", dir.path("fit.yaml")});
  EXPECT_EQ(r.code, 2);
  EXPECT_FALSE(std::filesystem::exists(dir.path("fit.yaml")));
  // validate: the same trace, and --measured-kineto without a scenario.
  r = run({"validate", "--scenario", kFsdpScenario, "--measured-kineto", cut});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("cut.json"), std::string::npos) << r.err;
  EXPECT_EQ(run({"validate", "--measured-kineto", kRank0}).code, 2);
}

}  // namespace
}  // namespace xattn::cli::test
