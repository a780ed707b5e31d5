// Rendering the results of one scenario — the runner's sim::Evaluation rows
// (sim/runner.hpp) — as the JSON contract of ARCHITECTURE.md ("xattn simulate SCENARIO
// --format json"), an nccl-tests style table and CSV. No formula lives here: every figure
// comes from the runner.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/analytic.hpp"
#include "model/scenario.hpp"
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

// {"scenario": ..., "results": [...]}, pretty-printed, with a final newline.
[[nodiscard]] std::string render_json(const Scenario& s, const ScenarioSpec& spec,
                                      const std::vector<sim::Evaluation>& rows);

// `#` header lines naming the scenario, a column row and a units row, fixed-width columns
// grouped by pass; speedup is the ring's time over this row's time for the same pass
// and engine.
[[nodiscard]] std::string render_table(const Scenario& s, const std::vector<sim::Evaluation>& rows);

// One header row with units in the names, one row per result.
[[nodiscard]] std::string render_csv(const std::vector<sim::Evaluation>& rows);

}  // namespace xattn::cli
