// The training step in the event engine (sim/iteration_sim.hpp, issue 17): where no link is
// shared it agrees with the closed form (docs/model.md §13, model/iteration.hpp) within 2%
// over five set-ups and both phases; the streamed run (segments built and dropped as ranks
// reach them) gives exactly the run of the whole program at once; the phase table of the
// critical rank accounts for its whole time; and FSDP's all-gathers are seen sharing a NIC
// with Ring's K/V transfers.
//
// Passes: `fwd` and `bwd` are one micro-step's phases, `fwd+bwd` the whole step
// (docs/model.md §13.3), in both engines.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "model/iteration.hpp"
#include "model/schedule/checks.hpp"
#include "model/scenario/scenario_file.hpp"
#include "sim/executor.hpp"
#include "sim/iteration_sim.hpp"
#include "sim/runner.hpp"
#include "model/schedule/trace.hpp"

#include <nlohmann/json.hpp>
#include "sim/network.hpp"
#include "sim/topology.hpp"

namespace xattn {
namespace {

Scenario scenario(const std::vector<std::string>& overrides) {
  return load_scenario(std::string(XATTN_SOURCE_DIR) + "/scenarios/llama32v-16xa100.yaml", overrides);
}

const Mechanism& lv() {
  static const Mechanism m = *parse_mechanism("lv-xattn");
  return m;
}

// Five set-ups of Llama-3.2-11B-Vision where no link carries two GPU pairs' transfers at
// once: one GPU; one 4-GPU node under FSDP (zero3) and under DDP; a small workload on one
// node; 16 GPUs over two nodes without sequence parallelism (sp = 1: only the sharding
// collectives travel). Expected: the closed form's time for the same pass, within 2%
// (the bound; the two differ only where pieces overlap differently).
TEST(IterationSim, AgreesWithTheClosedFormWhereNoLinkIsShared) {
  const std::vector<std::vector<std::string>> setups{
      {"cluster.nodes=1", "cluster.gpus_per_node=1", "cluster.inter_node.nics_per_node=1"},
      {"cluster.nodes=1"},
      {"cluster.nodes=1", "training.sharding=none"},
      {"cluster.nodes=1", "workload.frames=4", "workload.text_tokens=64"},
      {"training.sp=1"}};
  for (const auto& over : setups) {
    const Scenario sc = scenario(over);
    for (Pass p : {Pass::fwd, Pass::bwd}) {
      SCOPED_TRACE(fmt::format("{} {}", fmt::join(over, " "), to_string(p)));
      const IterationEstimate closed = estimate_iteration(sc, lv(), p);
      const sim::IterationSimResult ev = sim::simulate_iteration(sc, lv(), p);
      ASSERT_TRUE(closed.feasible) << closed.reason;
      ASSERT_TRUE(ev.estimate.feasible) << ev.estimate.reason;
      EXPECT_FALSE(ev.link_shared) << ev.busiest_link;  // the premise of the bound
      EXPECT_NEAR(ev.estimate.time.value(), closed.time.value(), 0.02 * closed.time.value());
      // Compute is priced by the same functions: the busiest GPU's compute agrees closer.
      EXPECT_NEAR(ev.estimate.compute.value(), closed.compute.value(), 0.005 * closed.compute.value());
    }
  }
}

// Several SP groups each running collectives of their own (Ulysses' all-to-alls, sp 4 x
// dp 4 on the paper's 16 GPUs): each group's all-to-all is its own collective instance, so
// the whole program passes the schedule checks (every instance posted by exactly its group)
// and the streamed run ends. Before the groups' tags were told apart, group 1's all-to-all
// was taken for another member of group 0's and the run refused (found by `xattn plan
// --confirm event`, whose best plans on this cluster are Ulysses at sp 4 x dp 4). Expected:
// the closed form's time within 2%, as above (the all-to-alls stay inside a node here).
TEST(IterationSim, EachSequenceParallelGroupRunsItsOwnCollectives) {
  const Mechanism ulysses = *parse_mechanism("ulysses");
  const Scenario sc = scenario({"workload.frames=4", "workload.text_tokens=64", "training.sp=4", "training.dp=4",
                                "training.global_batch=4", "training.self_attention=ulysses"});
  for (Pass p : {Pass::fwd, Pass::fwd_bwd}) {
    SCOPED_TRACE(to_string(p));
    const CheckResult check = check_schedule(sim::whole_step(sc, ulysses, p));
    EXPECT_TRUE(check.ok()) << check.str();
    const IterationEstimate closed = estimate_iteration(sc, ulysses, p);
    const sim::IterationSimResult ev = sim::simulate_iteration(sc, ulysses, p);
    ASSERT_TRUE(closed.feasible) << closed.reason;
    ASSERT_TRUE(ev.estimate.feasible) << ev.estimate.reason;
    EXPECT_NEAR(ev.estimate.time.value(), closed.time.value(), 0.02 * closed.time.value());
  }
}

// DDP and ZeRO-1 with gradient accumulation (4 micro-steps on one node): the gradients'
// all-reduce (or reduce-scatter) runs only in the last micro-step, so the data-parallel
// stream stays dry, waiting for a segment far ahead, and every segment before it is held
// at once — 4 x 86 of them here. The executor once counted segments in flight in one byte
// and refused past 255 ("more than 255 segments in flight", found through `xattn plan
// --confirm event`). Expected: the run ends, more than 255 segments in all, and the whole
// step agrees with the closed form within 2% as above (no link is shared on one node).
TEST(IterationSim, GradientAccumulationUnderDdpHoldsManySegmentsAndRuns) {
  for (const char* sharding : {"training.sharding=none", "training.sharding=zero1"}) {
    SCOPED_TRACE(sharding);
    const Scenario sc = scenario({"cluster.nodes=1", "workload.frames=4", "workload.text_tokens=64",
                                  "training.global_batch=4", sharding});
    const IterationEstimate closed = estimate_iteration(sc, lv(), Pass::fwd_bwd);
    const sim::IterationSimResult ev = sim::simulate_iteration(sc, lv(), Pass::fwd_bwd);
    ASSERT_TRUE(closed.feasible) << closed.reason;
    ASSERT_TRUE(ev.estimate.feasible) << ev.estimate.reason;
    EXPECT_GT(ev.segments, 255);
    EXPECT_FALSE(ev.link_shared) << ev.busiest_link;
    EXPECT_NEAR(ev.estimate.time.value(), closed.time.value(), 0.02 * closed.time.value());
  }
}

// The streamed run is the run of the whole program: whole_step() (every segment appended)
// executed at once on the same engine gives the same makespan, op count and messages; the
// whole program passes the schedule checks (matched transfers, collectives, no cycles);
// and the streamed run held under a quarter of the ops at any time (the step is 86
// segments for fwd+bwd; a few are in flight at once).
TEST(IterationSim, StreamingRunsTheWholeProgramsRunWithAFewSegmentsHeld) {
  const Scenario sc = scenario({"cluster.nodes=1", "workload.frames=4", "workload.text_tokens=64"});
  for (Pass p : {Pass::fwd, Pass::bwd, Pass::fwd_bwd}) {
    SCOPED_TRACE(to_string(p));
    const Schedule whole = sim::whole_step(sc, lv(), p);
    const CheckResult check = check_schedule(whole);
    EXPECT_TRUE(check.ok()) << check.str();
    const sim::StepEngine engine = sim::step_engine(sc, lv());
    auto net = sim::make_network(engine.sim.network, sim::Topology::from_cluster(sc.cluster, sc.calibration), &sc.calibration);
    const Timeline t = sim::execute(whole, *net, engine.cost, engine.sim);
    const sim::IterationSimResult ev = sim::simulate_iteration(sc, lv(), p);
    std::uint64_t ops = 0;
    for (const Program& pr : whole.programs) ops += pr.ops.size();
    EXPECT_EQ(ev.ops, ops);
    EXPECT_EQ(ev.messages, t.messages);
    EXPECT_NEAR(ev.estimate.time.value(), t.makespan.seconds().value(), 1e-12 * t.makespan.seconds().value());
    EXPECT_LT(ev.peak_live_ops * 4, ops);
  }
}

// The phase table is a partition of the critical rank's time: its compute stream was busy
// (Σ compute_s) or waiting for something, charged to one phase (Σ exposed_s), so the two
// sum to the step's time; the GEMM phases are on the compute stream only and the
// collectives on the dp stream only.
TEST(IterationSim, PhaseTableAccountsForTheCriticalRanksTime) {
  const Scenario sc = scenario({});
  const sim::IterationSimResult ev = sim::simulate_iteration(sc, lv(), Pass::fwd_bwd);
  ASSERT_TRUE(ev.estimate.feasible);
  double compute = 0, exposed = 0;
  bool saw_gather = false, saw_mlp = false;
  for (const sim::PhaseRow& r : ev.phases) {
    compute += r.compute_s;
    exposed += r.exposed_s;
    if (r.phase == "all-gather") {
      saw_gather = true;
      EXPECT_EQ(r.compute_s, 0.0);
      EXPECT_GT(r.dp_s, 0.0);
    }
    if (r.phase == "mlp fwd") {
      saw_mlp = true;
      EXPECT_EQ(r.dp_s, 0.0);
      EXPECT_EQ(r.sp_s, 0.0);
      EXPECT_GT(r.compute_s, 0.0);
    }
  }
  EXPECT_TRUE(saw_gather);
  EXPECT_TRUE(saw_mlp);
  EXPECT_NEAR(compute + exposed, ev.estimate.time.value(), 1e-9 * ev.estimate.time.value());
  // The contract (ARCHITECTURE.md, docs/model.md eq. 34): time_s is the sum of the breakdown.
  EXPECT_NEAR(ev.estimate.breakdown.total().value(), ev.estimate.time.value(), 1e-9 * ev.estimate.time.value());
}

// FSDP's all-gathers and reduce-scatters run over all 16 GPUs while Ring's K/V blocks cross
// the node boundary: in the backward of a Ring cross-attention at 16 GPUs (zero3) some
// NIC carries both at once; under DDP the forward has no collective, so nothing is mixed.
TEST(IterationSim, FsdpTrafficSharesANicWithRingTransfers) {
  const Mechanism ring = *parse_mechanism("ring");
  const sim::IterationSimResult fsdp = sim::simulate_iteration(scenario({}), ring, Pass::bwd);
  ASSERT_TRUE(fsdp.estimate.feasible);
  EXPECT_TRUE(fsdp.link_shared);
  EXPECT_GT(fsdp.mixed_s, 0.0);
  EXPECT_NE(fsdp.mixed_link.find("nic"), std::string::npos) << fsdp.mixed_link;
  const sim::IterationSimResult ddp = sim::simulate_iteration(scenario({"training.sharding=none"}), ring, Pass::fwd);
  ASSERT_TRUE(ddp.estimate.feasible);
  EXPECT_EQ(ddp.mixed_s, 0.0);
  EXPECT_TRUE(ddp.mixed_link.empty());
}

// Where it matters: OpenFlamingo-3B on 8 A30s, one GPU and one 1.25 GB/s NIC per node, Ring
// cross-attention. Under zero3 the forward's all-gathers ride the NICs Ring's K/V blocks
// use (same GPU pairs, so the Timeline's link_shared stays false: it counts pairs), and the
// event engine finds the forward over 5% slower than the closed form (measured: 20.49 s vs
// 23.27 s). Under DDP the forward has no collective at all: nothing is mixed and the two
// engines give the same time (the same pricing, Ring's rounds on private NIC pairs).
TEST(IterationSim, FsdpAllGathersSlowRingOnOneNicPerNode) {
  const Mechanism ring = *parse_mechanism("ring");
  const std::string file = std::string(XATTN_SOURCE_DIR) + "/scenarios/openflamingo3b-8xa30.yaml";
  const Scenario fsdp = load_scenario(file, {"training.sharding=zero3"});
  const sim::IterationSimResult ev = sim::simulate_iteration(fsdp, ring, Pass::fwd);
  const IterationEstimate closed = estimate_iteration(fsdp, ring, Pass::fwd);
  ASSERT_TRUE(ev.estimate.feasible) << ev.estimate.reason;
  EXPECT_GT(ev.estimate.time.value(), 1.05 * closed.time.value());
  EXPECT_GT(ev.mixed_share, 0.05);
  EXPECT_NE(ev.mixed_link.find("nic"), std::string::npos) << ev.mixed_link;
  const Scenario ddp = load_scenario(file, {"training.sharding=none"});
  const sim::IterationSimResult plain = sim::simulate_iteration(ddp, ring, Pass::fwd);
  EXPECT_EQ(plain.mixed_s, 0.0);
  EXPECT_NEAR(plain.estimate.time.value(), estimate_iteration(ddp, ring, Pass::fwd).time.value(),
              1e-6 * plain.estimate.time.value());
}

// The runner at iteration scope: `both` gives the closed form then the event run, the
// difference is the two times' (their own figures, so this checks the wiring), and a
// difference above 1% is named with its cause (the link SP and sharding traffic shared).
TEST(IterationSim, RunnerGivesBothEnginesAndTheCause) {
  const Mechanism ring = *parse_mechanism("ring");
  const Scenario sc = scenario({});
  const sim::IterationEvaluated both = sim::evaluate_iteration(sc, ring, Pass::bwd, sim::Engine::both);
  ASSERT_EQ(both.evaluations.size(), 2u);
  const sim::IterationEvaluation& a = both.evaluations[0];
  const sim::IterationEvaluation& e = both.evaluations[1];
  EXPECT_EQ(a.engine, sim::Engine::analytic);
  EXPECT_EQ(e.engine, sim::Engine::event);
  ASSERT_TRUE(e.vs_analytic.has_value());
  ASSERT_TRUE(e.event.has_value());
  EXPECT_DOUBLE_EQ(e.vs_analytic->time_diff_s, e.estimate.time.value() - a.estimate.time.value());
  EXPECT_NEAR(a.estimate.time.value(), estimate_iteration(sc, ring, Pass::bwd).time.value(), 1e-12);
  EXPECT_FALSE(e.event->mixed_link.empty());
  EXPECT_FALSE(e.event->link.busiest_link.empty());
  EXPECT_GT(e.event->messages, 0u);
  const sim::IterationEvaluated analytic = sim::evaluate_iteration(sc, ring, Pass::bwd, sim::Engine::analytic);
  ASSERT_EQ(analytic.evaluations.size(), 1u);
  EXPECT_FALSE(analytic.evaluations[0].event.has_value());
}

// A trace of a step: the recorded ranks' ops only, named by where they sit in the step, the
// sharding collectives on a stream called dp; the CSV carries layer and phase.
TEST(IterationSim, TraceNamesLayersAndPhases) {
  const Scenario sc = scenario({"cluster.nodes=1", "workload.frames=4", "workload.text_tokens=64"});
  sim::IterationEvaluateOptions o;
  o.record_ranks = {1};
  const sim::IterationEvaluated r = sim::evaluate_iteration(sc, lv(), Pass::fwd, sim::Engine::event, o);
  ASSERT_TRUE(r.evaluations.back().estimate.feasible);
  ASSERT_EQ(r.schedule.programs.size(), 4u);  // one node of 4 GPUs
  EXPECT_TRUE(r.schedule.programs[0].ops.empty());
  ASSERT_FALSE(r.schedule.programs[1].ops.empty());
  const auto j = nlohmann::json::parse(chrome_trace_json(r.schedule, r.timeline, TraceInfo("llama", "event", {1})));
  bool gather = false, attention_round = false, dp_thread = false;
  for (const auto& ev : j["traceEvents"]) {
    const std::string name = ev.value("name", "");
    if (ev["ph"] == "X" && name.starts_with("layer ") && name.ends_with(" all-gather")) gather = true;
    if (ev["ph"] == "X" && name.find("cross-attention fwd round 1") != std::string::npos) {
      attention_round = true;
      EXPECT_EQ(ev["args"]["part"], "cross-attention");
    }
    if (name == "thread_name" && ev["args"]["name"].get<std::string>().starts_with("dp")) dp_thread = true;
  }
  EXPECT_TRUE(gather);
  EXPECT_TRUE(attention_round);
  EXPECT_TRUE(dp_thread);
  const std::string csv = ops_csv(r.schedule, r.timeline, {1});
  EXPECT_NE(csv.substr(0, csv.find('\n')).find(",layer,phase"), std::string::npos);
  EXPECT_NE(csv.find(",0,layer 0 all-gather\n"), std::string::npos);  // the layer, then the phase
}

}  // namespace
}  // namespace xattn
