// The runner (runner.hpp): a Scenario, a mechanism and a pass through the closed form, the
// event engine (Scenario -> Schedule -> Timeline -> Estimate), or both; a training step
// through the closed form of docs/model.md §13 or the step in the event engine.
#include "sim/runner.hpp"

#include <utility>

#include <fmt/format.h>

#include "model/core/error.hpp"
#include "model/core/memory.hpp"
#include "model/core/time.hpp"
#include "model/iteration.hpp"
#include "model/schedule/builders.hpp"
#include "sim/topology.hpp"

namespace xattn::sim {

std::string_view to_string(Engine e) {
  switch (e) {
    case Engine::analytic: return "analytic";
    case Engine::event: return "event";
    case Engine::both: return "both";
  }
  return "?";
}

std::optional<Engine> parse_engine(std::string_view name) {
  for (Engine e : {Engine::analytic, Engine::event, Engine::both})
    if (name == to_string(e)) return e;
  return std::nullopt;
}

namespace {

// Bytes per op of a run beyond the Schedule's own (ScheduleSize::bytes_per_op): the
// executor's packed record (48), the Timeline's times (24), the critical path and the
// structure built once over the ops; and per message in flight, a flow of the network
// model with its route. Measured on the event engine (docs/limits.md, "Memory"), with room.
constexpr double kRunBytesPerOp = 192;

// The input that makes a run longer than the event engine's clock: by what dominates the
// closed form's time of the same run — a straggler's factor, the links (the slowest that
// the scenario set), or the compute of the layer.
std::pair<std::string, Origin> clock_culprit(const Scenario& s, const Estimate& closed, const SimOptions& o) {
  if (o.straggler >= 0 && o.straggler_factor > 1.0)
    return {"--straggler", Origin{fmt::format("--straggler {}:{:g}", o.straggler, o.straggler_factor)}};
  if (closed.feasible && closed.exposed_comm > closed.compute) {
    if (!s.cluster.graph.links.empty()) return {"cluster.links", s.origin_of("cluster.links")};
    const bool inter = s.cluster.nodes > 1 && (s.cluster.gpus_per_node == 1 ||
                                               s.cluster.inter.bandwidth < s.cluster.intra.bandwidth);
    const std::string field = inter ? "cluster.inter_node.bandwidth_GBps" : "cluster.intra_node.bandwidth_GBps";
    return {field, s.origin_of(field)};
  }
  for (const char* field : {"cluster.gpu_peak_TFLOPS", "workload.batch", "workload.text_tokens", "workload.frames"})
    if (s.origins.contains(field)) return {field, s.origin_of(field)};
  return {"workload", s.origin_of("workload")};
}

// The event engine, given the closed form's estimate of the same mechanism and pass (its
// memory, and the refusals the closed form knows about).
EventResult simulate_with(const Scenario& s, const Mechanism& m, Pass pass, const SimOptions& options,
                          const Estimate& closed) {
  EventResult r;
  Estimate& e = r.estimate;
  e.mechanism = m;
  e.pass = pass;
  e.memory = closed.memory;
  e.fits = closed.fits;
  BuildOptions b;
  b.shape = s.shape;
  b.ranks = s.ranks();
  b.media_items = s.frames;
  b.accumulator_bytes = s.accumulator_bytes();
  check_event_run_fits(s.cluster, m, pass, options.memory_available);
  try {
    r.schedule = build_schedule(m, pass, b);
  } catch (const InfeasibleSchedule& why) {
    e.feasible = false;
    e.reason = why.what();
    return r;
  }
  try {
    r.timeline = simulate(r.schedule, s.cluster, s.calibration, options, s.accumulator_bytes());
  } catch (const ClockOverflow& why) {
    const auto [field, origin] = clock_culprit(s, closed, options);
    throw InputError(origin, field,
                     fmt::format("{} {} on {} GPUs runs longer than the event engine can simulate: {}; the closed form "
                                 "gives {}{} (--engine analytic)",
                                 m.name(), to_string(pass), b.ranks, why.what(),
                                 closed.feasible ? fmt::format("{:.3g} s", closed.time.value()) : std::string("no time"),
                                 closed.feasible && closed.exposed_comm > closed.compute ? ", most of it communication"
                                                                                         : ""));
  }
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

EventStats event_stats(const Timeline& t) {
  EventStats f;
  f.link_shared = t.link_shared;
  f.events = t.events;
  const double span = t.makespan.seconds().value();
  for (const LinkUsage& l : t.links) {
    const double u = span > 0.0 ? l.busy.seconds().value() / span : 0.0;
    if (l.bytes > 0.0 && (f.busiest_link.empty() || u > f.busiest_utilization)) {
      f.busiest_link = l.name;
      f.busiest_utilization = u;
    }
  }
  return f;
}

template <class E>
std::optional<EngineDifference> difference(const E& event, const E& closed) {
  if (!event.feasible || !closed.feasible || !(closed.time.value() > 0.0)) return std::nullopt;
  EngineDifference d;
  d.time_diff_s = event.time.value() - closed.time.value();
  d.time_diff_rel = d.time_diff_s / closed.time.value();
  d.closed_form = d.time_diff_rel > 0.01 ? "optimistic" : d.time_diff_rel < -0.01 ? "pessimistic" : "agrees";
  return d;
}

}  // namespace

namespace {

// What the event engine holds for `groups` copies of a schedule of size `z` on `ranks`
// ranks each: the Schedule's ops, the run's record and Timeline entry of each, the flows of
// its largest all-to-all and of its rings, and the cluster's links (docs/limits.md, "Memory").
double run_bytes(const ScheduleSize& z, int ranks, int groups, const Cluster& cluster) {
  return z.bytes() * groups + static_cast<double>(z.ops) * groups * kRunBytesPerOp +
         static_cast<double>(z.all_to_all_flows + 4 * std::int64_t{std::max(ranks, 1)}) * groups * Topology::bytes_per_flow +
         static_cast<double>(Topology::link_count(cluster)) * Topology::bytes_per_link;
}

// EnvironmentError (exit 3) when `bytes` would not fit in `available`, naming the closed form.
void refuse_beyond(double bytes, const std::string& what, std::optional<std::uint64_t> available) {
  check_memory(bytes >= 1.8e19 ? std::uint64_t{18000000000000000000u} : static_cast<std::uint64_t>(bytes), what,
               "the closed form (--engine analytic) answers it in microseconds, or simulate fewer GPUs", available);
}

// A step's segments are one pass of one layer: a forward step holds forward layers, a
// backward or whole step backward ones too (the larger). Its attention runs the cross-
// attention mechanism, or the self-attention one for a model without cross-attention.
ScheduleSize step_layer_size(const Scenario& s, const std::optional<Mechanism>& cross, Pass pass, int sp) {
  return schedule_size(cross ? *cross : s.training.self_attention, pass == Pass::fwd ? Pass::fwd : Pass::bwd, sp);
}

}  // namespace

double event_run_bytes(const Cluster& cluster, const Mechanism& m, Pass pass) {
  return run_bytes(schedule_size(m, pass, cluster.ranks()), cluster.ranks(), 1, cluster);
}

void check_event_run_fits(const Cluster& cluster, const Mechanism& m, Pass pass, std::optional<std::uint64_t> available) {
  const int ranks = cluster.ranks();
  const ScheduleSize z = schedule_size(m, pass, ranks);
  refuse_beyond(run_bytes(z, ranks, 1, cluster),
                fmt::format("the event engine's run of {} {} on {} GPUs (up to {} ops)", m.name(), to_string(pass), ranks, z.ops),
                available);
}

void check_event_step_fits(const Scenario& s, const std::optional<Mechanism>& cross, Pass pass,
                           std::optional<std::uint64_t> available) {
  const IterationLayout l = iteration_layout(s);
  refuse_beyond(run_bytes(step_layer_size(s, cross, pass, l.sp), l.sp, l.dp, s.cluster),
                fmt::format("the event engine's run of a training step ({} {}) on {} GPUs, one attention layer of "
                            "which ({} SP group(s) of {}) is held at once",
                            cross ? cross->name() : s.training.self_attention.name(), to_string(pass), s.ranks(), l.dp,
                            l.sp),
                available);
}

EventResult simulate_scenario(const Scenario& s, const Mechanism& m, Pass pass, const SimOptions& options) {
  return simulate_with(s, m, pass, options, estimate(s, m, pass));
}

Evaluated evaluate(const Scenario& s, const Mechanism& m, Pass pass, Engine engine, const EvaluateOptions& options) {
  Evaluated out;
  Estimate closed = estimate(s, m, pass);
  if (engine == Engine::analytic) {
    out.evaluations.push_back(Evaluation{Engine::analytic, std::move(closed), std::nullopt, std::nullopt});
    return out;
  }
  EventResult ev = simulate_with(s, m, pass, options.sim, closed);
  Evaluation row{Engine::event, std::move(ev.estimate), std::nullopt, std::nullopt};
  if (row.estimate.feasible) row.event = event_stats(ev.timeline);
  if (engine == Engine::both) {
    row.vs_analytic = difference(row.estimate, closed);
    out.evaluations.push_back(Evaluation{Engine::analytic, std::move(closed), std::nullopt, std::nullopt});
  }
  out.evaluations.push_back(std::move(row));
  if (options.keep_timeline && out.evaluations.back().estimate.feasible) {
    out.schedule = std::move(ev.schedule);
    out.timeline = std::move(ev.timeline);
  }
  return out;
}

IterationEvaluated evaluate_iteration(const Scenario& s, const std::optional<Mechanism>& cross, Pass pass, Engine engine,
                                      const IterationEvaluateOptions& options) {
  IterationEvaluated out;
  IterationEstimate closed = estimate_iteration(s, cross, pass);
  if (engine == Engine::analytic) {
    out.evaluations.push_back(IterationEvaluation{Engine::analytic, std::move(closed), std::nullopt, std::nullopt});
    return out;
  }
  check_event_step_fits(s, cross, pass, options.sim.memory_available);
  IterationSimOptions o;
  o.sim = options.sim;
  o.record_ranks = options.record_ranks;
  IterationSimResult ev = simulate_iteration(s, cross, pass, o);
  IterationEvaluation row{Engine::event, std::move(ev.estimate), std::nullopt, std::nullopt};
  if (row.estimate.feasible) {
    StepStats st;
    st.link = EventStats{ev.link_shared, ev.busiest_link, ev.busiest_utilization, ev.events};
    st.mixed_link = ev.mixed_link;
    st.mixed_share = ev.mixed_share;
    st.messages = ev.messages;
    st.ops = ev.ops;
    st.segments = ev.segments;
    st.critical_rank = ev.critical_rank;
    st.phases = std::move(ev.phases);
    row.event = std::move(st);
  }
  if (engine == Engine::both) {
    row.vs_analytic = difference(row.estimate, closed);
    out.evaluations.push_back(IterationEvaluation{Engine::analytic, std::move(closed), std::nullopt, std::nullopt});
  }
  out.evaluations.push_back(std::move(row));
  if (!options.record_ranks.empty() && out.evaluations.back().estimate.feasible) {
    out.schedule = std::move(ev.recorded);
    out.timeline = std::move(ev.recorded_timeline);
  }
  return out;
}

namespace {

// The fastest of `es` that can run and fits; `floor(e)`: e is no-comm, never the answer.
template <class E, class Floor>
int fastest_of(const std::vector<E>& es, Floor floor) {
  int best = -1;
  for (std::size_t i = 0; i < es.size(); ++i) {
    const E& e = es[i];
    if (!e.feasible || !e.fits || floor(e)) continue;
    if (best < 0 || e.time < es[static_cast<std::size_t>(best)].time) best = static_cast<int>(i);
  }
  return best;
}

}  // namespace

int fastest_fitting(const std::vector<Estimate>& es) {
  return fastest_of(es, [](const Estimate& e) { return e.mechanism.kind == MechanismKind::no_comm; });
}

int fastest_fitting(const std::vector<IterationEstimate>& steps) {
  return fastest_of(steps, [](const IterationEstimate& e) {
    return e.cross_attention && e.cross_attention->kind == MechanismKind::no_comm;
  });
}

}  // namespace xattn::sim
