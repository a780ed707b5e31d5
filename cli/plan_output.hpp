// `xattn plan`'s output (docs/plan.md; the JSON contract in ARCHITECTURE.md): the planner's
// typed results (sim/plan.hpp) spelled as a table for people, as JSON and as CSV. Nothing
// here computes: every figure and sentence comes from the library.
#pragma once

#include <optional>
#include <string>

#include "model/scenario.hpp"
#include "sim/plan.hpp"

namespace xattn::cli {

// The search (and with --maximize, the value found).
[[nodiscard]] std::string plan_table(const Scenario& scenario, const sim::PlanResult& r,
                                     const std::optional<sim::Maximized>& maximized);
[[nodiscard]] std::string plan_json(const Scenario& scenario, const sim::PlanResult& r,
                                    const std::optional<sim::Maximized>& maximized);
// One row per plan: the top plans (role top, rank 1..K), then the frontier (role frontier).
[[nodiscard]] std::string plan_csv(const sim::PlanResult& r);

// --lengths.
[[nodiscard]] std::string lengths_table(const Scenario& scenario, const sim::LengthPolicy& p);
[[nodiscard]] std::string lengths_json(const Scenario& scenario, const sim::LengthPolicy& p);
// One row per bucket of the policy.
[[nodiscard]] std::string lengths_csv(const sim::LengthPolicy& p);

// --break-even as JSON (its CSV and SVG are the library's).
[[nodiscard]] std::string break_even_json(const sim::BreakEvenMap& map);

}  // namespace xattn::cli
