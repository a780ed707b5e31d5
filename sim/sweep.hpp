// The sweep engine: every point of a SweepPlan's grid (model/scenario/sweep_file.hpp)
// evaluated through the runner (runner.hpp) on worker threads, handed back as typed points
// in grid order, whatever the number of threads. `xattn sweep` writes them as CSV; the
// dashboard's heatmap picks each point's fastest mechanism.
//
// Points are derived in memory: each worker keeps its own ScenarioSpec, sets the grid
// fields of a point on it (only those that changed since its previous point), resolves
// and evaluates. A point that does not resolve (a degree that does not divide, a size that
// is not positive) carries the problems, not an error. Work goes out in chunks of
// consecutive points; at most a few chunks per worker are evaluated ahead of the one being
// handed back, so memory stays bounded on a grid of millions of points.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <span>
#include <vector>

#include "model/core/error.hpp"
#include "model/iteration.hpp"
#include "model/scenario/sweep_file.hpp"
#include "sim/runner.hpp"

namespace xattn::sim {

// One point of the grid, evaluated.
struct SweepPoint {
  std::size_t index = 0;          // row-major in the grid (SweepPlan::coordinates)
  std::vector<Problem> problems;  // the point's scenario did not resolve: no results
  // Layer scope: one per mechanism x pass, mechanism-major, in the plan's orders: the
  // engine's evaluation (feasible = false with the reason for a mechanism that cannot run).
  std::vector<Evaluation> results;
  // Iteration scope: the closed form of the step (model/iteration.hpp) instead, one per
  // mechanism x pass in the same order — or, for a decoder-only model, one per pass
  // (mechanism "none").
  std::vector<IterationEstimate> steps;

  [[nodiscard]] bool resolved() const { return problems.empty(); }
};

// Called with consecutive points, in grid order, from the thread that called run_sweep.
using SweepSink = std::function<void(std::span<const SweepPoint> points)>;
// Called after each piece with (points done, points in all), from the same thread.
using SweepProgress = std::function<void(std::size_t done, std::size_t total)>;

struct SweepOptions {
  int jobs = 1;                    // worker threads (>= 1)
  std::size_t chunk_points = 512;  // points per work item, and per call of the sink
  SweepProgress progress;          // optional
  // Optional: once it reads true, no point is started and run_sweep returns what it
  // handed back so far.
  const std::atomic<bool>* cancel = nullptr;
  // Several processes (process_group.hpp): this one evaluates only the chunks c with
  // c % shards == shard, and the sink sees those, in order (points keep their grid index).
  std::size_t shard = 0;
  std::size_t shards = 1;
};

struct SweepOutcome {
  std::size_t points_done = 0;  // handed to the sink, from point 0 on (of this shard's, when sharded)
  bool cancelled = false;       // stopped by `cancel` before the last point
};

// The engine a plan's points are evaluated with.
[[nodiscard]] Engine engine_of(SweepEngine e);

// Evaluates every point and hands them to `sink` in grid order; what the sink sees does
// not depend on `jobs` or `chunk_points`. Rethrows the first exception of a worker or of
// the sink after stopping the others.
SweepOutcome run_sweep(const SweepPlan& plan, const SweepOptions& options, const SweepSink& sink);

}  // namespace xattn::sim
