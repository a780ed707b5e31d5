// What the dashboard shows, computed without Qt: every number comes from the closed form
// (model/analytic.hpp estimate()), the sweep engine (sim/sweep.hpp) or the simulator
// (sim/runner.hpp) on a Scenario resolved from a ScenarioSpec whose fields were set
// through the field registry (apply_override), exactly as `xattn simulate --set ...` does.
// Nothing here is a formula: these functions choose which scenarios to evaluate and
// collect the results into immutable structs the views read.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "model/analytic.hpp"
#include "model/iteration.hpp"
#include "model/scenario.hpp"
#include "sim/runner.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn::gui {

// Sets `path` to `value` on a copy of `spec` as `--set path=value` would.
[[nodiscard]] ScenarioSpec with_field(const ScenarioSpec& spec, const std::string& path, const std::string& value);

// One GPU count of the scaling question: the scenario with cluster.nodes changed.
struct ScalingRow {
  int gpus = 0;
  int nodes = 0;
  std::string error;               // the scenario does not resolve at this size (then no estimates)
  std::vector<Estimate> estimates; // one per mechanism of the scenario, the selected pass
  // Index into `estimates` of the fastest feasible mechanism that fits, no-comm (the
  // floor, not a runnable mechanism) excluded; -1 when none.
  int best = -1;
};

struct ScalingResult {
  int gpus_per_node = 1;
  std::vector<ScalingRow> rows;  // ascending GPU count
};

// GPU counts 8..1024: nodes take powers of two, GPUs per node stay the scenario's.
[[nodiscard]] std::vector<int> scaling_node_counts(int gpus_per_node, int min_gpus = 8, int max_gpus = 1024);
// The scenario at those GPU counts. A machine listed link by link (cluster.links) has the
// GPUs it lists and no others: its one row is the scenario's own count.
[[nodiscard]] ScalingResult scaling(const ScenarioSpec& spec, const Scenario& base, Pass pass);

// Speedup over Ring against the visual tokens (workload.frames varied, powers of two).
struct SpeedupCurve {
  Mechanism mechanism;
  std::vector<double> visual_tokens;  // x
  std::vector<double> speedup;        // ring time / this time; NaN where either is infeasible
  std::optional<double> break_even;   // visual tokens where the curve crosses 1 (log-x interpolation)
};
struct SpeedupResult {
  bool has_ring = false;
  std::vector<SpeedupCurve> curves;  // every mechanism but ring
};
[[nodiscard]] SpeedupResult speedup_vs_visual_tokens(const ScenarioSpec& spec, const Scenario& base, Pass pass);

// The planning question at iteration scope (docs/model.md §13): one whole training step
// (fwd+bwd, gradient accumulation and optimizer included) per cross-attention mechanism,
// from estimate_iteration_all() on the scenario with cluster.nodes changed.
struct StepScalingRow {
  int gpus = 0;
  int nodes = 0;
  std::string error;                         // the scenario does not resolve at this size
  std::vector<IterationEstimate> estimates;  // one per cross-attention mechanism ("none" for a decoder-only model)
  int best = -1;                             // sim::fastest_fitting(estimates)
};
struct StepScalingResult {
  int gpus_per_node = 1;
  std::vector<StepScalingRow> rows;  // ascending GPU count, the counts scaling() takes
};
[[nodiscard]] StepScalingResult step_scaling(const ScenarioSpec& spec, const Scenario& base);

// Everything the closed-form views show for one scenario. Built in microseconds.
struct Dashboard {
  Scenario scenario;
  Pass pass = Pass::fwd;
  std::vector<Estimate> fwd, bwd, selected;  // one per mechanism
  ScalingResult scaling;
  SpeedupResult speedup;
  Bytes capacity;  // per GPU for attention: the GPU's memory less the reserved part
  // The training step (pass fwd+bwd) at the scenario's own size, one per cross-attention
  // mechanism, its fastest that fits, and the step against GPU count.
  std::vector<IterationEstimate> step;
  int step_best = -1;
  StepScalingResult step_scaling;
};
// Throws InputError when the spec does not resolve.
[[nodiscard]] Dashboard evaluate(const ScenarioSpec& spec, Pass pass);

// A grid over two fields, each point coloured by its fastest mechanism that fits.
struct HeatmapAxis {
  std::string field;                // dotted path
  std::vector<std::string> values;  // as the user wrote them
};
struct HeatmapCell {
  int best = -1;           // index into mechanisms; -1: none feasible and fitting
  double best_time_s = 0;  // its time
  std::string note;        // why none, or the runner-up margin
};
struct HeatmapResult {
  HeatmapAxis x, y;
  std::vector<std::string> mechanisms;
  std::vector<HeatmapCell> cells;  // row-major: y index * x.values.size() + x index
  bool cancelled = false;
  [[nodiscard]] const HeatmapCell& at(std::size_t xi, std::size_t yi) const { return cells[yi * x.values.size() + xi]; }
};
using Progress = std::function<void(std::size_t done, std::size_t total)>;
// A sweep of the closed form over the two axes (sim/sweep.hpp), x the faster. The axes are
// checked as a sweep file's grid is (model/scenario/sweep_file.hpp grid_plan: throws
// InputError for an unknown field or a value of the wrong type) before anything is
// evaluated; stops early when `cancel` turns true.
[[nodiscard]] HeatmapResult heatmap(const ScenarioSpec& spec, Pass pass, const HeatmapAxis& x, const HeatmapAxis& y,
                                    const std::atomic<bool>& cancel, const Progress& progress);

// The simulated schedule of one mechanism and pass on the scenario's own cluster: one
// layer (sim::simulate_scenario), or a whole training step (sim::evaluate_iteration, the
// event engine streamed layer by layer) of which only the ranks first_rank ..
// first_rank + recorded - 1 keep their ops (the other ranks' programs are empty).
// Ranks the Gantt view draws at once (issue 17: "16 ranks at a time").
inline constexpr int kGanttRanks = 16;
struct TimelineResult {
  std::string mechanism;
  Pass pass = Pass::fwd;
  bool step = false;
  int first_rank = 0, recorded = 0;  // step: the ranks whose ops `result.schedule` holds
  sim::EventResult result;           // step: estimate.feasible/reason, the recorded schedule and timeline
  // step: the event engine's figures of the whole step, its phases and links (event) and
  // its difference from the closed form (vs_analytic).
  std::optional<sim::IterationEvaluation> step_eval;
};
[[nodiscard]] TimelineResult simulate_timeline(const Scenario& s, const Mechanism& m, Pass pass);
// A training step with ranks first_rank .. first_rank + count - 1 recorded (clamped to the
// scenario's GPUs). `m` is ignored for a model without cross-attention layers.
[[nodiscard]] TimelineResult simulate_step_timeline(const Scenario& s, const Mechanism& m, Pass pass, int first_rank,
                                                    int count);

}  // namespace xattn::gui
