// Rendering the results of one scenario — at layer scope the runner's sim::Evaluation rows
// (sim/runner.hpp), at iteration scope the closed form's IterationEstimates
// (model/iteration.hpp) — as the JSON contract of ARCHITECTURE.md ("xattn simulate
// SCENARIO --format json"), an nccl-tests style table and CSV, with the uncalibrated
// inputs and the sensitivity report of model/sensitivity.hpp. No formula lives here: every
// figure comes from the runner or the model.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/analytic.hpp"
#include "model/iteration.hpp"
#include "model/scenario.hpp"
#include "model/sensitivity.hpp"
#include "model/scenario/scenario_file.hpp"
#include "sim/runner.hpp"

namespace xattn::cli {

// Keys keep the order written here (ordered_json), so the output reads top-down.
// The resolved scenario as the JSON `scenario` object: name, path, workload, cluster,
// calibration sources, mechanisms. Keys carry their units.
[[nodiscard]] nlohmann::ordered_json scenario_json(const Scenario& s, const ScenarioSpec& spec);

// One `results` entry (ARCHITECTURE.md contract, plus flops_per_rank, bytes_per_rank,
// rounds and the memory breakdown; event rows: link_shared, busiest_link, events and,
// beside an analytic row, vs_analytic).
[[nodiscard]] nlohmann::ordered_json result_json(const sim::Evaluation& r);

// What docs/model.md §15 adds to a report, computed by model/sensitivity for the results
// shown: each pass's uncalibrated inputs (JSON `uncalibrated` of every result), those of
// all the passes shown (the table's footnote) and, when asked for, the sensitivity rows.
struct ModelInputsReport {
  Scope scope = Scope::layer;
  std::vector<Pass> passes;                              // the passes shown
  std::vector<std::vector<std::string>> per_pass;       // parallel to `passes`
  std::vector<std::string> all_passes;
  bool with_sensitivity = false;
  std::vector<SensitivityRow> sensitivity;
  std::vector<std::string> mechanisms;                  // the sensitivity table's columns

  [[nodiscard]] const std::vector<std::string>& uncalibrated(Pass p) const;
};

// `s.mechanisms` are the mechanisms shown (what the sensitivity report compares).
[[nodiscard]] ModelInputsReport model_inputs_report(const Scenario& s, const std::vector<Pass>& passes,
                                                    bool with_sensitivity, Scope scope);

// {"scenario": ..., "results": [...]}, pretty-printed, with a final newline. With `inputs`,
// every result also has `uncalibrated` and, with sensitivity, the document `sensitivity`.
[[nodiscard]] std::string render_json(const Scenario& s, const ScenarioSpec& spec,
                                      const std::vector<sim::Evaluation>& rows,
                                      const ModelInputsReport* inputs = nullptr);

// `#` header lines naming the scenario, a column row and a units row, fixed-width columns
// grouped by pass; speedup is the ring's time over this row's time for the same pass
// and engine.
[[nodiscard]] std::string render_table(const Scenario& s, const std::vector<sim::Evaluation>& rows);

// The table's footnote: the uncalibrated inputs and, with sensitivity, one row per input
// and pass with each mechanism's time at the low and high end (ms) and whether the ranking
// changes.
[[nodiscard]] std::string model_inputs_table(const ModelInputsReport& inputs);

// One header row with units in the names, one row per result.
[[nodiscard]] std::string render_csv(const std::vector<sim::Evaluation>& rows);

// ---- iteration scope (ARCHITECTURE.md, `scope: "iteration"`) ----------------------------

// The resolved training set-up as the JSON `scenario.training` object.
[[nodiscard]] nlohmann::ordered_json training_json(const Scenario& s);

// One `results` entry: scope, mechanism, self_attention, engine, pass, feasible (reason),
// time_s, compute_s, exposed_comm_s, breakdown_s, tokens_per_s, mfu, model_flops,
// flops_per_gpu, memory_bytes, peak_memory_bytes, fits.
[[nodiscard]] nlohmann::ordered_json result_json(const IterationEstimate& e);
// The same entry for one engine's answer: `engine` names it and, for the event engine beside
// a feasible closed form (--engine both), `vs_analytic` gives their difference.
[[nodiscard]] nlohmann::ordered_json result_json(const sim::IterationEvaluation& r);

// {"scenario": ... (with `training`), "results": [...] (each with `uncalibrated`),
// "sensitivity": [...] (when asked for)}.
[[nodiscard]] std::string render_iteration_json(const Scenario& s, const ScenarioSpec& spec,
                                                const std::vector<sim::IterationEvaluation>& rows,
                                                const ModelInputsReport& inputs);

// The step's table: header lines (model, tokens, cluster, training set-up), one row per
// mechanism and pass with time, compute, exposed communication (s), speedup over Ring,
// tokens/s, MFU, peak memory, fits and the largest parts of the breakdown.
// Event rows are followed by render_step_phases().
[[nodiscard]] std::string render_iteration_table(const Scenario& s, const std::vector<sim::IterationEvaluation>& rows);

// For people without a trace viewer: where an event run's step went, one line per phase of
// the critical rank (sim::PhaseRow: compute, sequence-parallel and sharding stream busy
// time, the compute stream's exposed wait, ops), their sums, the busiest link and the link
// where sequence-parallel and sharding traffic met. Empty for an analytic or infeasible row.
[[nodiscard]] std::string render_step_phases(const sim::IterationEvaluation& r);

// One header row with units in the names (every breakdown and memory part), one row per entry.
[[nodiscard]] std::string render_iteration_csv(const std::vector<sim::IterationEvaluation>& rows);

// The breakdown's parts by their JSON names, in the contract's order.
[[nodiscard]] std::vector<std::pair<std::string_view, Seconds>> breakdown_parts(const IterationBreakdown& b);

}  // namespace xattn::cli
