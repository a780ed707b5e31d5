// Sweep files (docs/sweep.md): a base scenario, fixed overrides and a Cartesian grid over
// any scenario fields, with the mechanisms and passes to evaluate at every point and the
// engine that evaluates them — read once into a SweepPlan, every grid value parsed once,
// every problem found reported together with the sweep file's line and field. The plan
// only describes the grid; sim/sweep.hpp evaluates it.
//
// A front end that builds its grid in code (the dashboard's heatmap) gets its plan from
// grid_plan(), whose axes pass the same checks as a sweep file's `grid:` keys.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "model/core/error.hpp"
#include "model/mechanism.hpp"
#include "model/scenario/scenario_file.hpp"
#include "model/types.hpp"

namespace xattn {

// One grid dimension: a scenario field and the values it takes, in order.
struct GridAxis {
  const Field* field = nullptr;
  Origin origin;  // the key in the sweep file (or where a front end's axis came from)
  std::vector<FieldValue> values;
};

// Which model evaluates a point: the closed form (fast: millions of points), or the
// event-driven simulator (builds and runs each point's schedule: link contention, listed
// machines, ranks out of step; seconds per point at thousands of GPUs).
enum class SweepEngine { analytic, event };

struct SweepPlan {
  std::string path;                 // the sweep file ("" for a grid built in code)
  SweepEngine engine = SweepEngine::analytic;  // `engine:` in the file, or --engine
  ScenarioSpec base;                // base scenario with `set` and --set applied
  std::vector<GridAxis> axes;       // the first varies slowest, the last fastest
  std::vector<Mechanism> mechanisms;
  std::vector<Pass> passes;
  // What a point's rows cover: a sweep file's `scope:`, by default `iteration` (one
  // training step; the mechanisms are the cross-attention ones, and a decoder-only point
  // has one row per pass, mechanism "none"); `layer`: one attention layer. A plan built in
  // code (grid_plan, the dashboard's heatmap) stays at layer scope unless it says so.
  Scope scope = Scope::layer;

  // Points in the grid: the product of the axis sizes (1 for an empty grid).
  [[nodiscard]] std::size_t points() const;
  // Rows of output: points x mechanisms x passes.
  [[nodiscard]] std::size_t rows() const { return points() * mechanisms.size() * passes.size(); }
  // Index into each axis of point `index` (row-major: the last axis varies fastest).
  [[nodiscard]] std::vector<std::size_t> coordinates(std::size_t index) const;
};

// Reads a sweep file; `overrides` ("KEY=VALUE", from --set) apply after the file's `set`,
// and `engine` ("analytic" or "event", from --engine; empty: the file's, else analytic)
// wins over the file's `engine:`. `scope:` is `iteration` (default) or `layer`; both
// engines run at either scope. Throws
// InputError naming the sweep file, line and field for every problem found.
[[nodiscard]] SweepPlan load_sweep(const std::string& path, const std::vector<std::string>& overrides = {},
                                   const std::string& engine = {});
// The same from the file's text already read; `path` names it and anchors its relative base.
[[nodiscard]] SweepPlan parse_sweep(const std::string& text, const std::string& path,
                                    const std::vector<std::string>& overrides = {}, const std::string& engine = {});

// One axis given as text: a dotted field path and its values as a user typed them.
struct GridAxisText {
  std::string field;
  std::vector<std::string> values;
};

// A plan over `base` with these axes (the first slowest), checked as a sweep file's grid is:
// a known field, not `mechanisms`, not twice, values of the field's type, at least one,
// a listed link the base lists. `source` names where the axes came from in the problems.
// `mechanisms` empty: the base scenario's (as a sweep file without `mechanisms:`).
// Throws InputError with every problem found.
[[nodiscard]] SweepPlan grid_plan(const ScenarioSpec& base, const std::vector<GridAxisText>& axes,
                                  std::vector<Mechanism> mechanisms, std::vector<Pass> passes,
                                  SweepEngine engine, const std::string& source);

}  // namespace xattn
