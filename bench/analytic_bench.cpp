// Speed of the closed-form model (issue 2, §7): goal >= 1e6 configurations per second per
// core for one mechanism, forward + backward, and a one-million-point sweep in seconds on
// two cores; and of the whole-iteration model (issue 16): >= 200,000 evaluations per
// second per core. Run: build/bench/bench_analytic   (figures only; nothing here asserts a time)
#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <sys/resource.h>
#include <unistd.h>

#include "model/analytic.hpp"
#include "model/iteration.hpp"
#include "model/scenario.hpp"
#include "model/scenario/scenario_file.hpp"
#include "model/scenario/sweep_file.hpp"
#include "sim/sweep.hpp"

namespace {

// CPU seconds used by every thread of this process so far (the sweep's workers included).
double process_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

const std::string kScenario = XATTN_SOURCE_DIR "/scenarios/llama32v-16xa100.yaml";

const xattn::Scenario& default_scenario() {
  static const xattn::Scenario s = xattn::load_scenario(kScenario);
  return s;
}

// (a) One estimate: one mechanism, forward + backward, on the default scenario.
void BM_estimate_fwd_bwd(benchmark::State& state, const char* mechanism) {
  const xattn::Scenario& s = default_scenario();
  xattn::Mechanism m = *xattn::parse_mechanism(mechanism);
  for (auto _ : state) {
    xattn::Estimate e = xattn::estimate(s, m, xattn::Pass::fwd_bwd);
    benchmark::DoNotOptimize(e.time);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(BM_estimate_fwd_bwd, lv_xattn, "lv-xattn");
BENCHMARK_CAPTURE(BM_estimate_fwd_bwd, ring, "ring");
BENCHMARK_CAPTURE(BM_estimate_fwd_bwd, ulysses, "ulysses");
BENCHMARK_CAPTURE(BM_estimate_fwd_bwd, no_comm, "no-comm");

// (a') One whole training iteration (issue 16: goal >= 200,000 evaluations per second per
// core): Llama-3.2-11B-Vision on the 16 GPUs of the default scenario, lv-xattn for
// cross-attention, the whole step (fwd+bwd), true training (zero3, full checkpointing).
void BM_IterationLlama16(benchmark::State& state) {
  const xattn::Scenario& s = default_scenario();
  const std::optional<xattn::Mechanism> m = xattn::parse_mechanism("lv-xattn");
  for (auto _ : state) {
    xattn::IterationEstimate e = xattn::estimate_iteration(s, m, xattn::Pass::fwd_bwd);
    benchmark::DoNotOptimize(e.time);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("items_per_second = evaluations/s");
}
BENCHMARK(BM_IterationLlama16);

// (b) resolve() alone: presets, defaults and checks, what a sweep pays per point.
void BM_resolve(benchmark::State& state) {
  const xattn::ScenarioSpec spec = xattn::load_scenario_spec(kScenario);
  for (auto _ : state) {
    xattn::Scenario s = xattn::resolve(spec);
    benchmark::DoNotOptimize(s.shape.kv_tokens);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_resolve);

// A whole sweep point as the sweep engine evaluates it: set a field, resolve, estimate.
void BM_point_set_resolve_estimate(benchmark::State& state) {
  xattn::ScenarioSpec spec = xattn::load_scenario_spec(kScenario);
  const xattn::Field* frames = xattn::find_field("workload.frames");
  xattn::Mechanism m = *xattn::parse_mechanism("lv-xattn");
  std::int64_t f = 1;
  for (auto _ : state) {
    frames->set(spec, xattn::FieldValue(f));
    f = f % 1000 + 1;
    xattn::Scenario s = xattn::resolve(spec);
    xattn::Estimate e = xattn::estimate(s, m, xattn::Pass::fwd_bwd);
    benchmark::DoNotOptimize(e.time);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_point_set_resolve_estimate);

// (c) A 1000 x 1000 grid (workload.frames x workload.text_tokens), lv-xattn, fwd+bwd,
// through the sweep engine (sim/sweep.hpp), into a sink that only counts the rows.
void BM_sweep_million_points(benchmark::State& state) {
  std::string dir = std::filesystem::temp_directory_path() / ("xattn-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string path = dir + "/million.yaml";
  {
    std::ofstream f(path);
    f << "base: " << kScenario << "\n"
      << "grid:\n"
      << "  workload.frames: {from: 1, to: 1000, step: 1}\n"
      << "  workload.text_tokens: {from: 16, to: 16000, step: 16}\n"
      << "mechanisms: [lv-xattn]\n"
      << "passes: [fwd+bwd]\n";
  }
  const xattn::SweepPlan plan = xattn::load_sweep(path);
  std::filesystem::remove_all(dir);
  xattn::sim::SweepOptions options;
  options.jobs = static_cast<int>(state.range(0));
  std::size_t rows = 0;
  double cpu_start = process_cpu_seconds();
  for (auto _ : state) {
    rows = 0;
    xattn::sim::run_sweep(plan, options, [&](std::span<const xattn::sim::SweepPoint> points) {
      for (const auto& p : points) rows += p.results.size();
    });
  }
  // The "CPU" column counts the calling thread only; this counts the workers too.
  state.counters["all_threads_cpu_s"] = (process_cpu_seconds() - cpu_start) / static_cast<double>(state.iterations());
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(plan.points()));
  state.counters["points"] = static_cast<double>(plan.points());
  state.counters["rows"] = static_cast<double>(rows);
}
BENCHMARK(BM_sweep_million_points)->Arg(1)->Arg(2)->Iterations(1)->UseRealTime()->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
