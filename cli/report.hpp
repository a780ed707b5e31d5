// Rendering closed-form (and later simulated) results of one scenario: the JSON contract
// of ARCHITECTURE.md ("xattn simulate SCENARIO --format json"), an nccl-tests style table
// and CSV. No formula lives here: every figure comes from model/ (analytic.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/analytic.hpp"
#include "model/scenario.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn::cli {

// What only the event engine knows about its run (Timeline): whether a link carried
// transfers of two GPU pairs at once (contention the closed form cannot see), the link
// that was busiest, and how many events the run took.
struct EventFacts {
  bool link_shared = false;
  std::string busiest_link;        // empty when no link carried anything
  double busiest_utilization = 0;  // its busy time / the makespan
  std::uint64_t events = 0;
};

// One estimate and the engine that produced it ("analytic" or "event").
struct ResultRow {
  std::string engine;
  Estimate estimate;
  std::optional<EventFacts> event;  // event rows
};

// An event row against the analytic row of the same mechanism and pass: the relative
// difference of their times, (event - analytic) / analytic, and what it says of the
// closed form: within 1% it agrees; above, it is optimistic (the simulator found the
// layer slower: shared links, ranks out of step); below, pessimistic.
struct EngineDifference {
  double time_diff_s = 0.0;
  double time_diff_rel = 0.0;
  std::string_view closed_form;  // "agrees", "optimistic", "pessimistic"
};
[[nodiscard]] std::optional<EngineDifference> engine_difference(const ResultRow& event_row,
                                                                const std::vector<ResultRow>& rows);

// Keys keep the order written here (ordered_json), so the output reads top-down.
// The resolved scenario as the JSON `scenario` object: name, path, workload, cluster,
// calibration sources, mechanisms. Keys carry their units.
[[nodiscard]] nlohmann::ordered_json scenario_json(const Scenario& s, const ScenarioSpec& spec);

// One `results` entry (ARCHITECTURE.md contract, plus flops_per_rank, bytes_per_rank,
// rounds and the memory breakdown; event rows: link_shared, busiest_link, events and,
// beside an analytic row, vs_analytic).
[[nodiscard]] nlohmann::ordered_json result_json(const ResultRow& r, const std::vector<ResultRow>& rows = {});

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
