// The dashboard's evaluations (see analysis.hpp): scenario variants built through the
// field registry, each resolved and estimated by model/; the heatmap through the sweep
// engine; the simulator for timelines.
#include "gui/analysis.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <thread>

#include "model/scenario/scenario_file.hpp"
#include "model/scenario/sweep_file.hpp"
#include "sim/sweep.hpp"

#include <fmt/format.h>

namespace xattn::gui {
namespace {

Origin gui_origin(const std::string& path, const std::string& value) {
  return Origin{"xattn-gui: " + path + "=" + value, 0, 0};
}

std::vector<Estimate> estimates_for(const Scenario& s, Pass pass) {
  std::vector<Estimate> out;
  out.reserve(s.mechanisms.size());
  for (const Mechanism& m : s.mechanisms) out.push_back(estimate(s, m, pass));
  return out;
}

std::string problem_text(const Problem& p) { return p.field.empty() ? p.message : p.field + ": " + p.message; }

std::string first_problem(const InputError& e) {
  return e.problems().empty() ? std::string(e.what()) : problem_text(e.problems().front());
}

}  // namespace

ScenarioSpec with_field(const ScenarioSpec& spec, const std::string& path, const std::string& value) {
  ScenarioSpec copy = spec;
  apply_override(copy, path, value, gui_origin(path, value));
  return copy;
}

std::vector<int> scaling_node_counts(int gpus_per_node, int min_gpus, int max_gpus) {
  std::vector<int> nodes;
  if (gpus_per_node <= 0) return nodes;
  for (int n = 1; static_cast<long long>(n) * gpus_per_node <= max_gpus; n *= 2)
    if (n * gpus_per_node >= min_gpus) nodes.push_back(n);
  return nodes;
}

ScalingResult scaling(const ScenarioSpec& spec, const Scenario& base, Pass pass) {
  ScalingResult r;
  r.gpus_per_node = base.cluster.gpus_per_node;
  const std::vector<int> counts =
      base.cluster.graph.empty() ? scaling_node_counts(r.gpus_per_node) : std::vector<int>{base.cluster.nodes};
  for (int n : counts) {
    ScalingRow row;
    row.nodes = n;
    row.gpus = n * r.gpus_per_node;
    try {
      const Scenario s = resolve(with_field(spec, "cluster.nodes", std::to_string(n)));
      row.estimates = estimates_for(s, pass);
      row.best = sim::fastest_fitting(row.estimates);
    } catch (const InputError& e) {
      row.error = first_problem(e);
    }
    r.rows.push_back(std::move(row));
  }
  return r;
}

SpeedupResult speedup_vs_visual_tokens(const ScenarioSpec& spec, const Scenario& base, Pass pass) {
  SpeedupResult r;
  int ring_index = -1;
  for (std::size_t i = 0; i < base.mechanisms.size(); ++i)
    if (base.mechanisms[i].kind == MechanismKind::ring) ring_index = static_cast<int>(i);
  if (ring_index < 0) return r;
  r.has_ring = true;
  for (std::size_t i = 0; i < base.mechanisms.size(); ++i)
    if (static_cast<int>(i) != ring_index) r.curves.push_back(SpeedupCurve{base.mechanisms[i], {}, {}, std::nullopt});

  // Frames 1, 2, 4, ... up to 16x the scenario's (at least 1024 frames).
  const std::int64_t top = std::max<std::int64_t>(1024, base.frames * 16);
  for (std::int64_t frames = 1; frames <= top; frames *= 2) {
    Scenario s;
    try {
      s = resolve(with_field(spec, "workload.frames", std::to_string(frames)));
    } catch (const InputError&) {
      continue;
    }
    const Estimate ring = estimate(s, s.mechanisms[static_cast<std::size_t>(ring_index)], pass);
    std::size_t c = 0;
    for (std::size_t i = 0; i < s.mechanisms.size(); ++i) {
      if (static_cast<int>(i) == ring_index) continue;
      const Estimate e = estimate(s, s.mechanisms[i], pass);
      SpeedupCurve& curve = r.curves[c++];
      curve.visual_tokens.push_back(static_cast<double>(s.shape.kv_tokens));
      const bool ok = ring.feasible && e.feasible && e.time.value() > 0;
      curve.speedup.push_back(ok ? ring.time / e.time : std::numeric_limits<double>::quiet_NaN());
    }
  }
  // Break-even: the first crossing of speedup 1, interpolated linearly in log(tokens).
  for (SpeedupCurve& curve : r.curves) {
    for (std::size_t k = 1; k < curve.speedup.size(); ++k) {
      const double a = curve.speedup[k - 1], b = curve.speedup[k];
      if (std::isnan(a) || std::isnan(b) || (a - 1) * (b - 1) > 0 || a == b) continue;
      const double t = (1 - a) / (b - a);
      const double la = std::log(curve.visual_tokens[k - 1]), lb = std::log(curve.visual_tokens[k]);
      curve.break_even = std::exp(la + t * (lb - la));
      break;
    }
  }
  return r;
}

StepScalingResult step_scaling(const ScenarioSpec& spec, const Scenario& base) {
  StepScalingResult r;
  r.gpus_per_node = base.cluster.gpus_per_node;
  const std::vector<int> counts =
      base.cluster.graph.empty() ? scaling_node_counts(r.gpus_per_node) : std::vector<int>{base.cluster.nodes};
  for (int n : counts) {
    StepScalingRow row;
    row.nodes = n;
    row.gpus = n * r.gpus_per_node;
    try {
      const Scenario s = resolve(with_field(spec, "cluster.nodes", std::to_string(n)));
      row.estimates = estimate_iteration_all(s, {Pass::fwd_bwd});
      row.best = sim::fastest_fitting(row.estimates);
    } catch (const InputError& e) {
      row.error = first_problem(e);
    }
    r.rows.push_back(std::move(row));
  }
  return r;
}

Dashboard evaluate(const ScenarioSpec& spec, Pass pass) {
  Dashboard d;
  d.scenario = resolve(spec);
  d.pass = pass;
  d.fwd = estimates_for(d.scenario, Pass::fwd);
  d.bwd = estimates_for(d.scenario, Pass::bwd);
  d.selected = pass == Pass::fwd ? d.fwd : pass == Pass::bwd ? d.bwd : estimates_for(d.scenario, pass);
  d.scaling = scaling(spec, d.scenario, pass);
  d.speedup = speedup_vs_visual_tokens(spec, d.scenario, pass);
  d.capacity = d.scenario.cluster.gpu.memory - d.scenario.memory_reserved;
  d.step = estimate_iteration_all(d.scenario, {Pass::fwd_bwd});
  d.step_best = sim::fastest_fitting(d.step);
  d.step_scaling = step_scaling(spec, d.scenario);
  return d;
}

HeatmapResult heatmap(const ScenarioSpec& spec, Pass pass, const HeatmapAxis& x, const HeatmapAxis& y,
                      const std::atomic<bool>& cancel, const Progress& progress) {
  // The grid is a sweep plan of the scenario's mechanisms: y the slower axis, so point
  // y * |x| + x is cell (x, y). Its axes are checked as a sweep file's are, then the base
  // scenario itself, before anything is evaluated.
  const SweepPlan plan = grid_plan(spec, {{y.field, y.values}, {x.field, x.values}}, {}, {pass}, SweepEngine::analytic,
                                   "xattn-gui: sweep");
  (void)resolve(spec);
  HeatmapResult r;
  r.x = x;
  r.y = y;
  for (const Mechanism& m : plan.mechanisms) r.mechanisms.push_back(m.name());
  r.cells.resize(plan.points());
  sim::SweepOptions options;
  options.jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  options.progress = progress;
  options.cancel = &cancel;
  const sim::SweepOutcome outcome = sim::run_sweep(plan, options, [&](std::span<const sim::SweepPoint> points) {
    for (const sim::SweepPoint& p : points) {
      HeatmapCell& cell = r.cells[p.index];
      if (!p.resolved()) {
        cell.note = problem_text(p.problems.front());
        continue;
      }
      std::vector<Estimate> es;
      for (const sim::Evaluation& e : p.results) es.push_back(e.estimate);
      cell.best = sim::fastest_fitting(es);
      if (cell.best >= 0) {
        cell.best_time_s = es[static_cast<std::size_t>(cell.best)].time.value();
      } else {
        cell.note = "no mechanism is feasible and fits";
        for (const Estimate& e : es)
          if (!e.feasible) cell.note += fmt::format("\n{}: {}", e.mechanism.name(), e.reason);
      }
    }
  });
  r.cancelled = outcome.cancelled;
  return r;
}

TimelineResult simulate_timeline(const Scenario& s, const Mechanism& m, Pass pass) {
  TimelineResult r;
  r.mechanism = m.name();
  r.pass = pass;
  r.result = sim::simulate_scenario(s, m, pass);
  return r;
}

TimelineResult simulate_step_timeline(const Scenario& s, const Mechanism& m, Pass pass, int first_rank, int count) {
  TimelineResult r;
  r.pass = pass;
  r.step = true;
  const int gpus = s.ranks();
  r.first_rank = std::clamp(first_rank, 0, std::max(0, gpus - 1));
  r.recorded = std::clamp(count, 0, gpus - r.first_rank);
  sim::IterationEvaluateOptions options;
  for (int k = 0; k < r.recorded; ++k) options.record_ranks.push_back(r.first_rank + k);
  const std::optional<Mechanism> cross = s.model.arch.multimodal() ? std::optional<Mechanism>(m) : std::nullopt;
  r.mechanism = cross ? cross->name() : "none";
  // Engine::both: the event run and, beside it, the closed form's time (microseconds more).
  sim::IterationEvaluated e = sim::evaluate_iteration(s, cross, pass, sim::Engine::both, options);
  r.step_eval = std::move(e.evaluations.back());
  r.result.estimate.feasible = r.step_eval->estimate.feasible;
  r.result.estimate.reason = r.step_eval->estimate.reason;
  r.result.estimate.time = r.step_eval->estimate.time;
  r.result.schedule = std::move(e.schedule);
  r.result.timeline = std::move(e.timeline);
  return r;
}

}  // namespace xattn::gui
