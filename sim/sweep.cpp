// The sweep engine (sweep.hpp): a plan's points evaluated on worker threads, handed back in
// grid order.
#include "sim/sweep.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <utility>

#include "model/scenario/scenario_file.hpp"
#include "sim/workers.hpp"

namespace xattn::sim {

Engine engine_of(SweepEngine e) { return e == SweepEngine::event ? Engine::event : Engine::analytic; }

namespace {

// One worker's state: its own ScenarioSpec, on which the grid fields are set point by point.
class PointEvaluator {
 public:
  explicit PointEvaluator(const SweepPlan& plan)
      : plan_(plan), engine_(engine_of(plan.engine)), spec_(plan.base), current_(plan.axes.size(), kUnset) {
    // Problems found when a point resolves name the grid key in the sweep file.
    for (const auto& a : plan.axes) spec_.origins[a.field->path] = a.origin;
  }

  // Evaluates point `index` into `point`, reusing the storage it holds.
  void evaluate_point(std::size_t index, SweepPoint& point) {
    // Mixed-radix digits of the index, last axis fastest; only changed fields are set.
    std::size_t rest = index;
    for (std::size_t a = plan_.axes.size(); a-- > 0;) {
      const GridAxis& axis = plan_.axes[a];
      std::size_t i = rest % axis.values.size();
      rest /= axis.values.size();
      if (current_[a] != i) {
        axis.field->set(spec_, axis.values[i]);
        current_[a] = i;
      }
    }
    point.index = index;
    point.problems.clear();
    point.results.clear();
    point.steps.clear();
    std::optional<Scenario> scenario;
    try {
      scenario.emplace(resolve(spec_));
    } catch (const InputError& e) {
      point.problems = e.problems();
      if (point.problems.empty()) point.problems.push_back(Problem{Origin{}, "", e.what()});
      return;
    }
    if (plan_.scope == Scope::iteration) {
      scenario->mechanisms = plan_.mechanisms;
      if (engine_ == Engine::analytic) {
        point.steps = estimate_iteration_all(*scenario, plan_.passes);
        return;
      }
      // The event engine runs each step (runner.hpp), in estimate_iteration_all's order:
      // mechanism by mechanism (one step for a decoder-only model), pass by pass.
      auto run = [&](const std::optional<Mechanism>& cross) {
        for (Pass pass : plan_.passes)
          point.steps.push_back(std::move(evaluate_iteration(*scenario, cross, pass, engine_).evaluations.front().estimate));
      };
      if (!scenario->model.arch.multimodal()) run(std::nullopt);
      else for (const Mechanism& m : plan_.mechanisms) run(m);
      return;
    }
    for (const Mechanism& m : plan_.mechanisms)
      for (Pass pass : plan_.passes) point.results.push_back(std::move(evaluate(*scenario, m, pass, engine_).evaluations.front()));
  }

 private:
  static constexpr std::size_t kUnset = static_cast<std::size_t>(-1);
  const SweepPlan& plan_;
  Engine engine_;
  ScenarioSpec spec_;
  std::vector<std::size_t> current_;  // index of each axis's value now set on spec_
};

}  // namespace

SweepOutcome run_sweep(const SweepPlan& plan, const SweepOptions& options, const SweepSink& sink) {
  const std::size_t all_points = plan.points();
  const std::size_t chunk = std::max<std::size_t>(1, options.chunk_points);
  const std::size_t all_chunks = (all_points + chunk - 1) / chunk;
  // This shard's chunks: k-th is grid chunk shard + k * shards.
  const std::size_t shards = std::max<std::size_t>(1, options.shards), shard = options.shard % shards;
  const std::size_t chunks = all_chunks > shard ? (all_chunks - shard + shards - 1) / shards : 0;
  auto grid_chunk = [&](std::size_t k) { return shard + k * shards; };
  auto points_in = [&](std::size_t k) {
    const std::size_t first = grid_chunk(k) * chunk;
    return std::min(all_points, first + chunk) - first;
  };
  std::size_t total = 0;
  for (std::size_t k = 0; k < chunks; ++k) total += points_in(k);
  const int jobs = static_cast<int>(std::max<std::size_t>(1, std::min<std::size_t>(options.jobs < 1 ? 1 : options.jobs, chunks)));
  // At most this many chunks are evaluated ahead of the one being handed back.
  const std::size_t window = static_cast<std::size_t>(jobs) * 4;
  auto cancelled = [&] { return options.cancel != nullptr && options.cancel->load(std::memory_order_relaxed); };

  Workers pool;
  std::mutex& mu = pool.mutex();
  std::condition_variable& cv = pool.changed();
  std::vector<std::optional<std::vector<SweepPoint>>> done(window);  // slot = chunk % window; guarded by mu
  std::vector<std::vector<SweepPoint>> spare;                       // handed back, for reuse; guarded by mu
  std::size_t next_to_write = 0;                                    // guarded by mu

  auto work = [&](std::size_t) {
    PointEvaluator evaluator(plan);
    for (;;) {
      const std::optional<std::size_t> next = pool.take(chunks);
      if (!next) return;
      const std::size_t c = *next;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return pool.stopped() || c < next_to_write + window; });
        if (pool.stopped()) return;
      }
      // A chunk the sink is done with, if there is one: its points' storage is reused.
      std::vector<SweepPoint> points;
      {
        std::lock_guard lock(mu);
        if (!spare.empty()) {
          points = std::move(spare.back());
          spare.pop_back();
        }
      }
      const std::size_t first = grid_chunk(c) * chunk, end = std::min(all_points, first + chunk);
      points.resize(end - first);
      for (std::size_t p = first; p < end; ++p) {
        if (cancelled()) return pool.stop();
        evaluator.evaluate_point(p, points[p - first]);
      }
      {
        std::lock_guard lock(mu);
        done[c % window].emplace(std::move(points));
      }
      cv.notify_all();
    }
  };

  // This thread hands the chunks over in order as they complete.
  SweepOutcome outcome;
  auto hand_over = [&] {
    for (std::size_t c = 0; c < chunks; ++c) {
      if (cancelled()) return pool.stop();
      std::vector<SweepPoint> points;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return pool.stopped() || done[c % window].has_value(); });
        if (pool.stopped()) return;
        points = std::move(*done[c % window]);
        done[c % window].reset();
        next_to_write = c + 1;
      }
      cv.notify_all();
      sink(std::span<const SweepPoint>(points));
      {
        std::lock_guard lock(mu);
        spare.push_back(std::move(points));
      }
      outcome.points_done += points_in(c);
      if (options.progress) options.progress(outcome.points_done, total);
    }
  };
  pool.run(jobs, work, hand_over);
  outcome.cancelled = outcome.points_done < total;  // nothing else stops the loop early
  return outcome;
}

}  // namespace xattn::sim
