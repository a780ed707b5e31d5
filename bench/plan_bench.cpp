// Speed of the planner (issue 18, §6): goal: one million plans evaluated with the closed
// form in under 10 s on two cores. Three searches over the LV-XAttn paper's cluster (4
// A100s per node), 4 to 1024 GPUs (whole nodes), a global batch of 256, every sp x dp,
// cross- and self-attention mechanism, sharding, checkpointing and recompute, with
// pruning off (every feasible plan priced) and no explanation, at 64, 384 and 1024
// images: about 1.3 million plans evaluated of 12 million considered. A second benchmark
// times the search as `xattn plan` runs it (pruning and explanation on) on the same space.
// Run: build/bench/bench_plan   (figures only; nothing here asserts a time)
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <sys/resource.h>

#include "model/scenario/scenario_file.hpp"
#include "sim/plan.hpp"

namespace {

const std::string kScenario = std::string(XATTN_SOURCE_DIR) + "/scenarios/llama32v-16xa100.yaml";

double process_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

xattn::sim::PlanRequest request(int frames) {
  xattn::sim::PlanRequest r;
  r.spec = xattn::load_scenario_spec(kScenario);
  r.overrides = {"training.global_batch=256", "workload.frames=" + std::to_string(frames)};
  r.space.gpu_range = std::pair{4, 1024};
  return r;
}

void run(benchmark::State& state, bool prune) {
  xattn::sim::PlanOptions options;
  options.jobs = static_cast<int>(state.range(0));
  options.prune = prune;
  options.explain = prune;
  std::uint64_t evaluated = 0, considered = 0;
  const double cpu_start = process_cpu_seconds();
  for (auto _ : state) {
    evaluated = considered = 0;
    for (int frames : {64, 384, 1024}) {
      const auto result = xattn::sim::plan_search(request(frames), options);
      evaluated += result.tally.evaluated;
      considered += result.tally.considered;
      benchmark::DoNotOptimize(result.best);
    }
  }
  state.counters["all_threads_cpu_s"] = (process_cpu_seconds() - cpu_start) / static_cast<double>(state.iterations());
  state.counters["evaluated"] = static_cast<double>(evaluated);
  state.counters["considered"] = static_cast<double>(considered);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(evaluated));
}

// Every feasible plan priced: the figure (items_per_second = plans evaluated per second).
void BM_plan_evaluate_all(benchmark::State& state) { run(state, false); }
BENCHMARK(BM_plan_evaluate_all)->Arg(1)->Arg(2)->Iterations(1)->UseRealTime()->Unit(benchmark::kSecond);

// The search as the command runs it: dominated mechanisms pruned, the winner explained.
void BM_plan_search_pruned(benchmark::State& state) { run(state, true); }
BENCHMARK(BM_plan_search_pruned)->Arg(2)->Iterations(1)->UseRealTime()->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
