// The closed form's step beside a measured one (sim/kineto_compare.hpp, docs/kineto.md §7):
// a measured step made by hand from the closed form's own figures, scaled, must come back
// with exactly that error in every matched row; a phase the traces lack is named with why;
// a run that differs from the scenario says so. (Reading real traces into a MeasuredStep is
// model/calib's, tested in tests/calib/kineto_test.cpp; the whole chain in
// tests/cli/kineto_cli_test.cpp.)
#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "model/iteration.hpp"
#include "model/scenario/scenario_file.hpp"
#include "sim/kineto_compare.hpp"

namespace xattn::sim {
namespace {

const std::string kScenario = std::string(XATTN_SOURCE_DIR) + "/tests/data/kineto/synthetic-fsdp-2rank/scenario.yaml";

MeasuredPhase phase(double seconds) {
  MeasuredPhase p;
  p.busy = Seconds(seconds);
  p.kernel_sum = Seconds(seconds);
  p.kernels = 1;
  p.present = true;
  return p;
}

const ComparedPhase& row(const StepComparison& c, const std::string& name) {
  auto it = std::find_if(c.rows.begin(), c.rows.end(), [&](const ComparedPhase& r) { return r.phase == name; });
  if (it == c.rows.end()) throw std::runtime_error("no row " + name);
  return *it;
}

// The measured step the closed form itself predicts, every phase divided by `scale`: each
// matched row's error is then scale - 1.
MeasuredStep measured_from_prediction(const Scenario& s, double scale) {
  const IterationEstimate f = estimate_iteration(s, std::nullopt, Pass::fwd);
  const IterationEstimate b = estimate_iteration(s, std::nullopt, Pass::bwd);
  const IterationEstimate st = estimate_iteration(s, std::nullopt, Pass::fwd_bwd);
  auto gemm = [](const IterationBreakdown& x) { return (x.mlp + x.other_gemm + x.lm_head + x.projector).value(); };
  auto attn = [](const IterationBreakdown& x) { return (x.self_attention + x.cross_attention).value(); };
  MeasuredStep m;
  m.ranks = 2;
  m.world_size = 2;
  m.steps = 1;
  m.device = "NVIDIA A100-SXM4-80GB";
  m.fwd_gemm = phase(gemm(f.breakdown) / scale);
  m.fwd_attention = phase(attn(f.breakdown) / scale);
  m.bwd_gemm = phase(gemm(b.breakdown) / scale);
  m.bwd_attention = phase(attn(b.breakdown) / scale);
  m.fwd_compute = phase(f.compute.value() / scale);
  m.bwd_compute = phase(b.compute.value() / scale);
  m.optimizer = phase(st.breakdown.optimizer.value() / scale);
  m.comm = phase(1e-3);
  m.comm_exposed = Seconds(st.exposed_comm.value() / scale);
  m.step = Seconds(st.time.value() / scale);
  return m;
}

TEST(KinetoCompare, EveryMatchedRowCarriesTheErrorPutIn) {
  const Scenario s = load_scenario(kScenario);
  const StepComparison c = compare_step(s, measured_from_prediction(s, 1.25));
  // The decoder-only scenario has no cross-attention mechanism.
  EXPECT_EQ(c.cross_attention, "none");
  // Matched: forward and backward GEMM, attention and compute, exposed communication,
  // optimizer, step = 9 (docs/kineto.md §7); each predicted 1.25 x measured.
  EXPECT_EQ(c.matched, 9);
  for (const ComparedPhase& r : c.rows) {
    if (r.matched()) {
      EXPECT_NEAR(*r.error(), 0.25, 1e-9) << r.phase;
    }
  }
  EXPECT_NEAR(c.median_abs_error, 0.25, 1e-9);
  EXPECT_NEAR(c.max_abs_error, 0.25, 1e-9);
  // The same run as the scenario: no note about ranks or GPU.
  for (const std::string& n : c.notes) {
    EXPECT_EQ(n.find("ranks"), std::string::npos) << n;
    EXPECT_EQ(n.find("ran on"), std::string::npos) << n;
  }
}

TEST(KinetoCompare, PhasesOneSideCannotGiveAreNamedWithWhy) {
  const Scenario s = load_scenario(kScenario);
  MeasuredStep m = measured_from_prediction(s, 1.0);
  m.comm = MeasuredPhase{};  // no NCCL kernels in the traces
  m.fwd_other = phase(1e-3);
  const StepComparison c = compare_step(s, m);
  const ComparedPhase& comm = row(c, "exposed communication");
  EXPECT_FALSE(comm.matched());
  EXPECT_NE(comm.why.find("no NCCL kernels"), std::string::npos) << comm.why;
  // Elementwise kernels: measured, but the closed form folds them into its efficiencies.
  const ComparedPhase& other = row(c, "forward: elementwise and other");
  EXPECT_FALSE(other.matched());
  ASSERT_TRUE(other.measured_s);
  EXPECT_DOUBLE_EQ(*other.measured_s, 1e-3);
  EXPECT_FALSE(other.why.empty());
  EXPECT_EQ(c.matched, 8);
  EXPECT_NEAR(c.max_abs_error, 0.0, 1e-9);
}

TEST(KinetoCompare, ARunUnlikeTheScenarioSaysSo) {
  const Scenario s = load_scenario(kScenario);
  MeasuredStep m = measured_from_prediction(s, 1.0);
  m.world_size = 8;
  m.device = "NVIDIA H100 80GB HBM3";
  const StepComparison c = compare_step(s, m);
  auto noted = [&](const std::string& what) {
    return std::any_of(c.notes.begin(), c.notes.end(), [&](const std::string& n) { return n.find(what) != std::string::npos; });
  };
  EXPECT_TRUE(noted("the traces say 8 ranks, the scenario has 2 GPUs"));
  EXPECT_TRUE(noted("the traces ran on NVIDIA H100 80GB HBM3"));
}

}  // namespace
}  // namespace xattn::sim
