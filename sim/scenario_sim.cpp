// simulate_scenario: Scenario -> Schedule -> Timeline -> Estimate (see scenario_sim.hpp).
#include "sim/scenario_sim.hpp"

#include "model/schedule/builders.hpp"

namespace xattn::sim {

EventResult simulate_scenario(const Scenario& s, const Mechanism& m, Pass pass, const SimOptions& options) {
  EventResult r;
  Estimate& e = r.estimate;
  // Memory (and refusals the closed form knows about) come from the closed form.
  const Estimate closed = estimate(s, m, pass);
  e.mechanism = m;
  e.pass = pass;
  e.memory = closed.memory;
  e.fits = closed.fits;
  BuildOptions b;
  b.shape = s.shape;
  b.ranks = s.ranks();
  b.media_items = s.frames;
  b.accumulator_bytes = s.accumulator_bytes();
  try {
    r.schedule = build_schedule(m, pass, b);
  } catch (const InfeasibleSchedule& why) {
    e.feasible = false;
    e.reason = why.what();
    return r;
  }
  r.timeline = simulate(r.schedule, s.cluster, s.calibration, options, s.accumulator_bytes());
  r.link_shared = r.timeline.link_shared;
  e.feasible = true;
  e.time = r.timeline.makespan.seconds();
  e.compute = r.timeline.max_compute_busy().seconds();
  e.exposed_comm = e.time - e.compute;
  const ScheduleSummary sum = summarize(r.schedule, &s.cluster);
  e.flops_per_rank = sum.max_flops();
  e.bytes_per_rank = sum.max_bytes_sent();
  e.rounds = r.schedule.rounds();
  return r;
}

}  // namespace xattn::sim
