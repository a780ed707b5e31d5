// The runner (sim/runner.hpp): one scenario, mechanism and pass through each engine. The
// analytic engine gives the closed form's estimate and nothing else; the event engine
// gives the simulator's, with what only it knows (events, link sharing, the busiest link)
// and, when asked, the Schedule and Timeline it ran; both gives the two, analytic first,
// with the event one's distance from the closed form. A mechanism that cannot run is an
// evaluation that says so, never an exception.
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "model/analytic.hpp"
#include "model/scenario/scenario_file.hpp"
#include "sim/runner.hpp"

namespace xattn::sim {
namespace {

const std::string kScenario = std::string(XATTN_SOURCE_DIR) + "/scenarios/llama32v-16xa100.yaml";

// The paper's 16 A100s with a small layer: a few milliseconds of simulation.
Scenario small_scenario() { return load_scenario(kScenario, {"workload.text_tokens=1024", "workload.frames=4"}); }

TEST(Runner, EngineNamesRoundTrip) {
  for (Engine e : {Engine::analytic, Engine::event, Engine::both}) EXPECT_EQ(parse_engine(to_string(e)), e);
  EXPECT_EQ(parse_engine("events"), std::nullopt);
}

TEST(Runner, AnalyticIsTheClosedFormAlone) {
  const Scenario s = small_scenario();
  const Mechanism ring = *parse_mechanism("ring");
  const Evaluated r = evaluate(s, ring, Pass::fwd, Engine::analytic, EvaluateOptions{{}, true});
  ASSERT_EQ(r.evaluations.size(), 1u);
  const Evaluation& a = r.evaluations[0];
  EXPECT_EQ(a.engine, Engine::analytic);
  const Estimate closed = estimate(s, ring, Pass::fwd);
  ASSERT_TRUE(a.estimate.feasible);
  EXPECT_EQ(a.estimate.time.value(), closed.time.value());
  EXPECT_EQ(a.estimate.memory.total().value(), closed.memory.total().value());
  EXPECT_FALSE(a.event.has_value());
  EXPECT_FALSE(a.vs_analytic.has_value());
  EXPECT_TRUE(r.schedule.programs.empty());  // no event run, nothing to keep
}

TEST(Runner, EventIsTheSimulatorWithItsStatistics) {
  // Ulysses' all-to-alls cross the nodes through shared NICs (cross_check_test.cpp): the
  // run says a link was shared and names the busiest one, busy for part of the makespan.
  const Scenario s = small_scenario();
  const Mechanism ulysses = *parse_mechanism("ulysses");
  const Evaluated r = evaluate(s, ulysses, Pass::fwd, Engine::event, EvaluateOptions{{}, true});
  ASSERT_EQ(r.evaluations.size(), 1u);
  const Evaluation& e = r.evaluations[0];
  EXPECT_EQ(e.engine, Engine::event);
  ASSERT_TRUE(e.estimate.feasible) << e.estimate.reason;
  const EventResult direct = simulate_scenario(s, ulysses, Pass::fwd);
  EXPECT_EQ(e.estimate.time.value(), direct.estimate.time.value());
  EXPECT_EQ(e.estimate.compute.value(), direct.estimate.compute.value());
  EXPECT_NEAR(e.estimate.exposed_comm.value(), e.estimate.time.value() - e.estimate.compute.value(), 1e-15);
  // Memory is the closed form's: the simulator does not track buffers.
  EXPECT_EQ(e.estimate.memory.total().value(), estimate(s, ulysses, Pass::fwd).memory.total().value());
  ASSERT_TRUE(e.event.has_value());
  EXPECT_TRUE(e.event->link_shared);
  EXPECT_GT(e.event->events, 0u);
  EXPECT_EQ(e.event->events, direct.timeline.events);
  EXPECT_FALSE(e.event->busiest_link.empty());
  EXPECT_GT(e.event->busiest_utilization, 0.0);
  EXPECT_LE(e.event->busiest_utilization, 1.0 + 1e-12);
  EXPECT_FALSE(e.vs_analytic.has_value());  // no closed form beside it
  // Kept: the schedule that ran (P programs) and its timeline.
  EXPECT_EQ(r.schedule.ranks(), s.ranks());
  EXPECT_EQ(r.timeline.makespan.seconds().value(), e.estimate.time.value());
  // Not asked to keep them: nothing kept.
  EXPECT_TRUE(evaluate(s, ulysses, Pass::fwd, Engine::event).schedule.programs.empty());
}

TEST(Runner, BothGivesTheClosedFormThenTheSimulatorAndTheirDifference) {
  const Scenario s = small_scenario();
  for (const char* name : {"lv-xattn", "ulysses"}) {
    const Mechanism m = *parse_mechanism(name);
    const Evaluated r = evaluate(s, m, Pass::fwd, Engine::both);
    ASSERT_EQ(r.evaluations.size(), 2u) << name;
    const Evaluation& a = r.evaluations[0];
    const Evaluation& e = r.evaluations[1];
    EXPECT_EQ(a.engine, Engine::analytic);
    EXPECT_EQ(e.engine, Engine::event);
    EXPECT_EQ(a.estimate.time.value(), evaluate(s, m, Pass::fwd, Engine::analytic).evaluations[0].estimate.time.value());
    EXPECT_EQ(e.estimate.time.value(), evaluate(s, m, Pass::fwd, Engine::event).evaluations[0].estimate.time.value());
    ASSERT_TRUE(e.vs_analytic.has_value()) << name;
    const double rel = e.estimate.time.value() / a.estimate.time.value() - 1.0;
    EXPECT_NEAR(e.vs_analytic->time_diff_rel, rel, 1e-12);
    EXPECT_NEAR(e.vs_analytic->time_diff_s, e.estimate.time.value() - a.estimate.time.value(), 1e-15);
    // Within 1% the closed form agrees; above, it is optimistic; below, pessimistic.
    const std::string_view verdict = rel > 0.01 ? "optimistic" : rel < -0.01 ? "pessimistic" : "agrees";
    EXPECT_EQ(e.vs_analytic->closed_form, verdict) << name;
  }
}

TEST(Runner, AMechanismThatCannotRunIsAnEvaluationThatSaysWhy) {
  // USP's Ulysses degree must divide the 16 ranks: 3 does not.
  const Scenario s = small_scenario();
  const Evaluated r = evaluate(s, *parse_mechanism("usp:u=3"), Pass::fwd, Engine::both);
  ASSERT_EQ(r.evaluations.size(), 2u);
  for (const Evaluation& e : r.evaluations) {
    EXPECT_FALSE(e.estimate.feasible);
    EXPECT_FALSE(e.estimate.reason.empty());
    EXPECT_FALSE(e.event.has_value());
    EXPECT_FALSE(e.vs_analytic.has_value());
  }
}

TEST(Runner, FastestFittingSkipsNoCommAndWhatDoesNotFit) {
  // Times 3, 1 (no-comm: the floor, never the answer), 2 (does not fit), 4 (infeasible):
  // the fastest that fits and can run is the first.
  auto make = [](const char* name, double t, bool fits, bool feasible) {
    Estimate e;
    e.mechanism = *parse_mechanism(name);
    e.time = Seconds(t);
    e.fits = fits;
    e.feasible = feasible;
    return e;
  };
  std::vector<Estimate> es = {make("ring", 3, true, true), make("no-comm", 1, true, true), make("lv-xattn", 2, false, true),
                              make("ulysses", 0.5, true, false)};
  EXPECT_EQ(fastest_fitting(es), 0);
  es[2].fits = true;
  EXPECT_EQ(fastest_fitting(es), 2);
  EXPECT_EQ(fastest_fitting({make("no-comm", 1, true, true)}), -1);
}

TEST(Runner, FastestFittingStepSkipsNoCommAndWhatDoesNotFit) {
  // Whole steps, times 3, 1 (no-comm cross-attention: the floor), 2 (does not fit), 0.5
  // (infeasible): the first is the answer; with the third fitting, the third. A step
  // without cross-attention (decoder-only) is a real answer, not a floor.
  auto make = [](std::optional<const char*> cross, double t, bool fits, bool feasible) {
    IterationEstimate e;
    if (cross) e.cross_attention = *parse_mechanism(*cross);
    e.time = Seconds(t);
    e.fits = fits;
    e.feasible = feasible;
    return e;
  };
  std::vector<IterationEstimate> es = {make("ring", 3, true, true), make("no-comm", 1, true, true),
                                       make("lv-xattn", 2, false, true), make("ulysses", 0.5, true, false)};
  EXPECT_EQ(fastest_fitting(es), 0);
  es[2].fits = true;
  EXPECT_EQ(fastest_fitting(es), 2);
  EXPECT_EQ(fastest_fitting(std::vector<IterationEstimate>{make("no-comm", 1, true, true)}), -1);
  EXPECT_EQ(fastest_fitting(std::vector<IterationEstimate>{make(std::nullopt, 1, true, true)}), 0);
}

}  // namespace
}  // namespace xattn::sim
