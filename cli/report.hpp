// Rendering closed-form (and later simulated) results of one scenario: the JSON contract
// of ARCHITECTURE.md ("xattn simulate SCENARIO --format json"), an nccl-tests style table
// and CSV. No formula lives here: every figure comes from model/ (analytic.hpp).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/analytic.hpp"
#include "model/scenario.hpp"

namespace xattn::cli {

// One estimate and the engine that produced it ("analytic"; later "event").
struct ResultRow {
  std::string engine;
  Estimate estimate;
};

// Keys keep the order written here (ordered_json), so the output reads top-down.
// The resolved scenario as the JSON `scenario` object: name, path, workload, cluster,
// calibration sources, mechanisms. Keys carry their units.
[[nodiscard]] nlohmann::ordered_json scenario_json(const Scenario& s, const ScenarioSpec& spec);

// One `results` entry (ARCHITECTURE.md contract, plus flops_per_rank, bytes_per_rank,
// rounds and the memory breakdown).
[[nodiscard]] nlohmann::ordered_json result_json(const ResultRow& r);

// {"scenario": ..., "results": [...]}, pretty-printed, with a final newline.
[[nodiscard]] std::string render_json(const Scenario& s, const ScenarioSpec& spec,
                                      const std::vector<ResultRow>& rows);

// `#` header lines naming the scenario, a column row and a units row, fixed-width columns
// grouped by pass; speedup is the ring's time over this row's time for the same pass
// and engine.
[[nodiscard]] std::string render_table(const Scenario& s, const std::vector<ResultRow>& rows);

// One header row with units in the names, one row per result.
[[nodiscard]] std::string render_csv(const std::vector<ResultRow>& rows);

}  // namespace xattn::cli
