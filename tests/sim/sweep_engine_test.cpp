// The sweep engine (sim/sweep.hpp) on plans built in code (grid_plan,
// model/scenario/sweep_file.hpp): points come back in grid order with the runner's
// evaluations, the same whatever the number of threads; progress reaches the total; a
// cancel token stops the sweep early with the points before it handed back whole; a point
// that does not resolve carries its problems. (`xattn sweep` and sweep files are
// tests/cli/sweep_test.cpp.)
#include <atomic>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "model/scenario/scenario_file.hpp"
#include "model/scenario/sweep_file.hpp"
#include "model/iteration.hpp"
#include "sim/runner.hpp"
#include "sim/sweep.hpp"

namespace xattn::sim {
namespace {

const std::string kScenario = std::string(XATTN_SOURCE_DIR) + "/scenarios/llama32v-16xa100.yaml";

std::vector<std::string> numbers(int from, int to) {
  std::vector<std::string> v;
  for (int i = from; i <= to; ++i) v.push_back(std::to_string(i));
  return v;
}

// frames 1..F x nodes {1, 2, 3, 4} (3 nodes of 8 GPUs: 24 ranks, a size some mechanisms
// refuse), two mechanisms, two passes.
SweepPlan plan_over(int frames, SweepEngine engine = SweepEngine::analytic) {
  return grid_plan(load_scenario_spec(kScenario), {{"workload.frames", numbers(1, frames)}, {"cluster.nodes", {"1", "2", "3", "4"}}},
                   {*parse_mechanism("lv-xattn"), *parse_mechanism("ulysses")}, {Pass::fwd, Pass::bwd}, engine, "test");
}

std::vector<SweepPoint> collect(const SweepPlan& plan, SweepOptions options, SweepOutcome* outcome = nullptr) {
  std::vector<SweepPoint> all;
  const SweepOutcome o = run_sweep(plan, options, [&](std::span<const SweepPoint> points) {
    all.insert(all.end(), points.begin(), points.end());
  });
  if (outcome != nullptr) *outcome = o;
  return all;
}

TEST(SweepEngine, PointsInGridOrderWithTheRunnersEvaluations) {
  const SweepPlan plan = plan_over(3);
  ASSERT_EQ(plan.points(), 12u);
  SweepOutcome outcome;
  const std::vector<SweepPoint> points = collect(plan, SweepOptions{}, &outcome);
  EXPECT_FALSE(outcome.cancelled);
  EXPECT_EQ(outcome.points_done, 12u);
  ASSERT_EQ(points.size(), 12u);
  for (std::size_t i = 0; i < points.size(); ++i) {
    const SweepPoint& p = points[i];
    EXPECT_EQ(p.index, i);
    ASSERT_TRUE(p.resolved());
    ASSERT_EQ(p.results.size(), 4u);  // 2 mechanisms x 2 passes, mechanism-major
    // Point 5 is (frames[1], nodes[1]) = (2, 2): the last axis varies fastest.
    const std::vector<std::size_t> at = plan.coordinates(i);
    const Scenario s = load_scenario(kScenario, {"workload.frames=" + std::to_string(at[0] + 1),
                                                 "cluster.nodes=" + std::to_string(at[1] + 1)});
    std::size_t r = 0;
    for (const char* name : {"lv-xattn", "ulysses"})
      for (Pass pass : {Pass::fwd, Pass::bwd}) {
        const Evaluation& e = p.results[r++];
        const Evaluation want = evaluate(s, *parse_mechanism(name), pass, Engine::analytic).evaluations[0];
        EXPECT_EQ(e.engine, Engine::analytic);
        EXPECT_EQ(e.estimate.mechanism.name(), name);
        EXPECT_EQ(e.estimate.pass, pass);
        EXPECT_EQ(e.estimate.feasible, want.estimate.feasible);
        EXPECT_EQ(e.estimate.reason, want.estimate.reason);
        if (want.estimate.feasible) {
          EXPECT_EQ(e.estimate.time.value(), want.estimate.time.value());
        }
      }
  }
}

TEST(SweepEngine, TheSamePointsForOneAndThreeJobs) {
  const SweepPlan plan = plan_over(40);
  SweepOptions one;
  one.jobs = 1;
  SweepOptions three;
  three.jobs = 3;
  three.chunk_points = 7;  // pieces that do not divide the grid
  const std::vector<SweepPoint> a = collect(plan, one), b = collect(plan, three);
  ASSERT_EQ(a.size(), plan.points());
  ASSERT_EQ(b.size(), a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(b[i].index, a[i].index);
    ASSERT_EQ(b[i].resolved(), a[i].resolved());
    ASSERT_EQ(b[i].results.size(), a[i].results.size());
    for (std::size_t r = 0; r < a[i].results.size(); ++r) {
      const Estimate& x = a[i].results[r].estimate;
      const Estimate& y = b[i].results[r].estimate;
      EXPECT_EQ(y.feasible, x.feasible);
      EXPECT_EQ(y.reason, x.reason);
      EXPECT_EQ(y.time.value(), x.time.value()) << "point " << i;
      EXPECT_EQ(y.memory.total().value(), x.memory.total().value());
    }
  }
}

TEST(SweepEngine, ProgressReachesTheTotal) {
  // 40 x 4 = 160 points in pieces of 16: ten calls, each with more points done, the last
  // with all of them.
  const SweepPlan plan = plan_over(40);
  SweepOptions o;
  o.jobs = 2;
  o.chunk_points = 16;
  std::vector<std::size_t> done;
  o.progress = [&](std::size_t d, std::size_t total) {
    EXPECT_EQ(total, 160u);
    done.push_back(d);
  };
  collect(plan, o);
  ASSERT_EQ(done.size(), 10u);
  for (std::size_t i = 1; i < done.size(); ++i) EXPECT_GT(done[i], done[i - 1]);
  EXPECT_EQ(done.back(), 160u);
}

TEST(SweepEngine, CancelStopsEarlyAndKeepsWhatWasHandedBack) {
  // A 2000 x 4 grid in pieces of 8 points; the token is set once the first piece has come
  // back. The sweep stops long before the 8000th point, says it was cancelled, and what the
  // sink received is the points from 0 on, in order, as many as it reports done.
  const SweepPlan plan = plan_over(2000);
  std::atomic<bool> cancel{false};
  SweepOptions o;
  o.jobs = 2;
  o.chunk_points = 8;
  o.cancel = &cancel;
  std::size_t last_progress = 0;
  o.progress = [&](std::size_t d, std::size_t) {
    last_progress = d;
    cancel = true;
  };
  SweepOutcome outcome;
  const std::vector<SweepPoint> points = collect(plan, o, &outcome);
  EXPECT_TRUE(outcome.cancelled);
  EXPECT_GE(outcome.points_done, 8u);
  EXPECT_LT(outcome.points_done, plan.points() / 2);
  EXPECT_EQ(outcome.points_done, last_progress);
  ASSERT_EQ(points.size(), outcome.points_done);
  for (std::size_t i = 0; i < points.size(); ++i) EXPECT_EQ(points[i].index, i);

  // A token already set: nothing is evaluated.
  SweepOptions before;
  before.cancel = &cancel;
  const std::vector<SweepPoint> none = collect(plan, before, &outcome);
  EXPECT_TRUE(none.empty());
  EXPECT_TRUE(outcome.cancelled);
  EXPECT_EQ(outcome.points_done, 0u);
}

TEST(SweepEngine, APointThatDoesNotResolveCarriesItsProblems) {
  // 4 NICs per node do not divide 3 GPUs per node: that point has no results, only the
  // problem, naming the field.
  const SweepPlan plan = grid_plan(load_scenario_spec(kScenario), {{"cluster.gpus_per_node", {"4", "3"}}},
                                   {*parse_mechanism("ring")}, {Pass::fwd}, SweepEngine::analytic, "test");
  const std::vector<SweepPoint> points = collect(plan, SweepOptions{});
  ASSERT_EQ(points.size(), 2u);
  EXPECT_TRUE(points[0].resolved());
  EXPECT_EQ(points[0].results.size(), 1u);
  EXPECT_FALSE(points[1].resolved());
  EXPECT_TRUE(points[1].results.empty());
  ASSERT_FALSE(points[1].problems.empty());
  EXPECT_EQ(points[1].problems.front().field, "cluster.inter_node.nics_per_node");
}

TEST(SweepEngine, TheEventEngineGivesEventEvaluations) {
  const SweepPlan plan = grid_plan(load_scenario_spec(kScenario), {{"workload.frames", {"2", "4"}}},
                                   {*parse_mechanism("ulysses")}, {Pass::fwd}, SweepEngine::event, "test");
  const std::vector<SweepPoint> points = collect(plan, SweepOptions{});
  ASSERT_EQ(points.size(), 2u);
  for (const SweepPoint& p : points) {
    ASSERT_EQ(p.results.size(), 1u);
    EXPECT_EQ(p.results[0].engine, Engine::event);
    ASSERT_TRUE(p.results[0].event.has_value());
    EXPECT_TRUE(p.results[0].event->link_shared);  // all-to-all through shared NICs
  }
}

// At iteration scope the event engine runs each point's training step: the rows come in
// estimate_iteration_all's order (mechanism, then pass) and each is the event run's own
// estimate (sim::evaluate_iteration, Engine::event, the same to the bit). On one node with
// 4 frames no link is shared, so each is also within 2% of the closed form's (the bound of
// tests/sim/iteration_sim_test.cpp).
TEST(SweepEngine, TheEventEngineRunsTheTrainingStepAtIterationScope) {
  ScenarioSpec base = load_scenario_spec(kScenario);
  apply_override(base, "cluster.nodes=1");
  apply_override(base, "workload.text_tokens=64");
  SweepPlan plan = grid_plan(base, {{"workload.frames", {"2", "4"}}},
                             {*parse_mechanism("lv-xattn"), *parse_mechanism("ulysses")}, {Pass::fwd, Pass::bwd},
                             SweepEngine::event, "test");
  plan.scope = Scope::iteration;
  const std::vector<SweepPoint> points = collect(plan, SweepOptions{});
  ASSERT_EQ(points.size(), 2u);
  for (const SweepPoint& p : points) {
    ASSERT_TRUE(p.resolved());
    ASSERT_EQ(p.steps.size(), 4u);
    EXPECT_TRUE(p.results.empty());
    const Scenario sc = load_scenario(kScenario, {"cluster.nodes=1", "workload.text_tokens=64",
                                                  fmt::format("workload.frames={}", p.index == 0 ? 2 : 4)});
    std::size_t k = 0;
    for (const Mechanism& m : plan.mechanisms)
      for (Pass pass : plan.passes) {
        const IterationEstimate& row = p.steps[k++];
        SCOPED_TRACE(fmt::format("point {} {} {}", p.index, m.name(), to_string(pass)));
        ASSERT_TRUE(row.feasible) << row.reason;
        EXPECT_EQ(row.cross_attention_name(), m.name());
        EXPECT_EQ(row.pass, pass);
        const IterationEstimate ev = evaluate_iteration(sc, m, pass, Engine::event).evaluations.front().estimate;
        EXPECT_EQ(row.time.value(), ev.time.value());
        const IterationEstimate closed = estimate_iteration(sc, m, pass);
        EXPECT_NEAR(row.time.value(), closed.time.value(), 0.02 * closed.time.value());
      }
  }
}

TEST(GridPlan, AxesAreCheckedAsASweepFilesGridIs) {
  const ScenarioSpec base = load_scenario_spec(kScenario);
  auto problems_of = [&](const std::vector<GridAxisText>& axes) {
    try {
      (void)grid_plan(base, axes, {}, {Pass::fwd}, SweepEngine::analytic, "xattn-gui: sweep");
    } catch (const InputError& e) {
      return e.problems();
    }
    return std::vector<Problem>{};
  };
  // An unknown field, a value of the wrong type, an empty axis, the same field twice, the
  // mechanisms: each refused, all reported at once, naming the field.
  const std::vector<Problem> p = problems_of({{"workload.framez", {"1"}},
                                              {"workload.frames", {"1", "twelve"}},
                                              {"cluster.nodes", {}},
                                              {"mechanisms", {"ring"}}});
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0].field, "workload.framez");
  EXPECT_EQ(p[1].field, "workload.frames");
  EXPECT_NE(p[1].message.find("twelve"), std::string::npos) << p[1].message;
  EXPECT_EQ(p[2].field, "cluster.nodes");
  EXPECT_EQ(p[3].field, "mechanisms");
  EXPECT_EQ(p[0].origin.source, "xattn-gui: sweep");
  EXPECT_EQ(problems_of({{"workload.frames", {"1"}}, {"workload.frames", {"2"}}}).front().message,
            "appears twice in the grid");
  // Good axes: the base's mechanisms when none are given.
  const SweepPlan plan = grid_plan(base, {{"workload.frames", {"1", "2"}}}, {}, {Pass::fwd}, SweepEngine::analytic, "t");
  EXPECT_EQ(plan.points(), 2u);
  EXPECT_EQ(plan.mechanisms.size(), resolve(base).mechanisms.size());
}

}  // namespace
}  // namespace xattn::sim
