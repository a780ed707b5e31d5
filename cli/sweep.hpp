// The sweep engine behind `xattn sweep`: a base scenario, fixed overrides and a Cartesian
// grid over any scenario fields (docs/sweep.md), evaluated with the closed-form model on
// several threads, one CSV row per point x mechanism x pass, in grid order.
//
// Points are derived in memory: the sweep file and the base scenario are read and every
// grid value parsed once (load_sweep); each worker keeps its own ScenarioSpec, sets the
// grid fields of a point on it, resolves and estimates. A point that does not resolve (a
// degree that does not divide, a size that is not positive) becomes rows with
// feasible=false and the reason, not an error.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "model/mechanism.hpp"
#include "model/scenario.hpp"
#include "model/types.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn::cli {

// One grid dimension: a scenario field and the values it takes, in order.
struct GridAxis {
  const Field* field = nullptr;
  Origin origin;                   // the key in the sweep file
  std::vector<FieldValue> values;
  std::vector<std::string> cells;  // each value as its CSV cell, formatted once
};

// Which model evaluates a point: the closed form (fast: millions of points), or the
// event-driven simulator (builds and runs each point's schedule: link contention, listed
// machines, ranks out of step; seconds per point at thousands of GPUs).
enum class SweepEngine { analytic, event };

struct SweepPlan {
  std::string path;                 // the sweep file
  SweepEngine engine = SweepEngine::analytic;  // `engine:` in the file, or --engine
  ScenarioSpec base;                // base scenario with `set` and --set applied
  std::vector<GridAxis> axes;       // the first varies slowest, the last fastest
  std::vector<Mechanism> mechanisms;
  std::vector<Pass> passes;

  // Points in the grid: the product of the axis sizes (1 for an empty grid).
  [[nodiscard]] std::size_t points() const;
  // Rows in the CSV: points x mechanisms x passes.
  [[nodiscard]] std::size_t rows() const { return points() * mechanisms.size() * passes.size(); }
  // Index into each axis of point `index` (row-major: the last axis varies fastest).
  [[nodiscard]] std::vector<std::size_t> coordinates(std::size_t index) const;
};

// Reads a sweep file; `overrides` ("KEY=VALUE", from --set) apply after the file's `set`,
// and `engine` ("analytic" or "event", from --engine; empty: the file's, else analytic)
// wins over the file's `engine:`. Throws InputError naming the sweep file, line and field
// for every problem found.
[[nodiscard]] SweepPlan load_sweep(const std::string& path, const std::vector<std::string>& overrides = {},
                                   const std::string& engine = {});

// Called with consecutive pieces of CSV text (whole rows), in grid order, from the thread
// that called run_sweep.
using RowSink = std::function<void(std::string_view rows)>;
// Called after each piece with (points done, points in all), from the same thread.
using SweepProgress = std::function<void(std::size_t done, std::size_t total)>;

struct SweepOptions {
  int jobs = 1;                    // worker threads (>= 1)
  std::size_t chunk_points = 512;  // points per work item
  SweepProgress progress;          // optional
};

// The CSV header row (with its newline): point, the grid fields, mechanism, pass, feasible,
// time_s, compute_s, exposed_comm_s, peak_memory_bytes, fits, reason; with the event
// engine, link_shared (a link carried two GPU pairs' transfers at once) before reason.
[[nodiscard]] std::string sweep_csv_header(const SweepPlan& plan);

// Evaluates every point and hands the rows (without the header) to `sink` in grid order;
// the output does not depend on `jobs`. Rethrows the first exception of a worker or the
// sink after stopping the others.
void run_sweep(const SweepPlan& plan, const SweepOptions& options, const RowSink& sink);

}  // namespace xattn::cli
