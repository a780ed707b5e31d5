// bench_sim: the event-driven simulator's own speed (issue 4, "Engine" and "Scale").
//  * EventQueue/N: pop the earliest of N pending events and push its successor — the raw
//    engine, in events per second (goal: at least 10 M/s on one core).
//  * RingFwdBwd/nodes: Ring Attention forward + backward, dense cross-attention, over
//    nodes x 8 GPUs (DGX H100 nodes: NVLink switch, one NIC per GPU), simulated with the
//    max-min flow network: what `xattn simulate --engine event` does, schedule build
//    included. The figures: build_s (the Schedule), sim_s (the simulation, setup
//    included), both in wall time and in this process's CPU time (*_cpu_s: what one core
//    spent, the fairer figure on a shared machine), events and point-to-point messages per
//    second of the simulation, and the memory the schedule and the Timeline add
//    (schedule_MiB, timeline_MiB, and bytes per op). 128 nodes = 1024 GPUs, about 11.5
//    million ops (goal: under 10 s on one core, memory proportional to the ops).
//  * TrainingStep/nodes: one fwd+bwd training step of Llama-3.2-11B-Vision with the
//    scenario's default set-up (scenarios/llama32v-16xa100.yaml: LV-XAttn, FSDP zero3) over
//    nodes x 4 A100s (4, 16, 64 nodes: 16, 64, 256 GPUs; 64 GPUs take seconds, for
//    before/after comparisons), built and simulated segment by segment
//    (sim/iteration_sim.hpp, issue 17; goals: 16 GPUs under 1 s, 256 GPUs under 60 s on
//    one core, peak memory under 8 GB). Figures: wall and CPU seconds, the process's peak resident memory (run one
//    size per process for a clean figure: --benchmark_filter=TrainingStep/64), ops,
//    events and point-to-point messages per second, the most ops held at once.
// Figures are printed, never asserted.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>

#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include "model/presets.hpp"
#include "model/scenario/scenario_file.hpp"
#include "model/schedule/builders.hpp"
#include "sim/event_queue.hpp"
#include "sim/executor.hpp"
#include "sim/iteration_sim.hpp"

namespace {

using namespace xattn;

double resident_mib() {
  long pages = 0, resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * 4096.0 / (1024.0 * 1024.0);
}

void EventQueue(benchmark::State& state) {
  const int pending = static_cast<int>(state.range(0));
  sim::EventQueue q;
  q.reserve(static_cast<std::size_t>(pending) + 1);
  std::uint64_t x = 88172645463325252ULL;  // xorshift: cheap, deterministic delays
  auto delay = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return static_cast<std::int64_t>(x % 1'000'000);
  };
  for (int i = 0; i < pending; ++i)
    q.push(sim::Event::make(Time::ps(delay()), sim::EventKind::compute_done, i % 1024, i));
  std::int64_t index = pending;
  for (auto _ : state) {
    const sim::Event e = q.pop();
    q.push(sim::Event::make(e.time + Time::ps(delay()), sim::EventKind::compute_done, e.rank(), index++));
    benchmark::DoNotOptimize(e);
  }
  state.counters["events_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(EventQueue)->Arg(64)->Arg(1024)->Arg(16384);

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void RingFwdBwd(benchmark::State& state) {
  Cluster c = find_cluster("dgx-h100")->cluster;
  c.nodes = static_cast<int>(state.range(0));
  AttentionShape a;  // Llama-3.2-Vision-like cross-attention: 32 x 128, 8 KV heads
  a.heads = 32;
  a.kv_heads = 8;
  a.head_dim = 128;
  a.q_tokens = 128 * c.ranks();
  a.kv_tokens = 6404 * c.ranks() / 8;
  BuildOptions o;
  o.shape = a;
  o.ranks = c.ranks();
  const Mechanism ring = *parse_mechanism("ring");
  Calibration cal;
  double ops = 0.0, messages = 0.0, events = 0.0, makespan = 0.0, schedule_mib = 0.0, timeline_mib = 0.0;
  double build_s = 0.0, sim_s = 0.0, build_cpu_s = 0.0, sim_cpu_s = 0.0;
  for (auto _ : state) {
    const double m0 = resident_mib(), w0 = wall_seconds(), c0 = cpu_seconds();
    const Schedule s = build_schedule(ring, Pass::fwd_bwd, o);
    const double m1 = resident_mib(), w1 = wall_seconds(), c1 = cpu_seconds();
    Timeline t = sim::simulate(s, c, cal);
    const double m2 = resident_mib(), w2 = wall_seconds(), c2 = cpu_seconds();
    build_s = w1 - w0;
    sim_s = w2 - w1;
    build_cpu_s = c1 - c0;
    sim_cpu_s = c2 - c1;
    schedule_mib = m1 - m0;
    timeline_mib = m2 - m1;
    state.SetIterationTime(w2 - w0);
    ops = 0.0;
    messages = 0.0;
    for (const Program& p : s.programs) {
      ops += static_cast<double>(p.ops.size());
      for (const Op& op : p.ops) messages += op.kind() == OpKind::send ? 1.0 : 0.0;
    }
    events = static_cast<double>(t.events);
    makespan = t.makespan.seconds().value();
    benchmark::DoNotOptimize(t);
  }
  state.counters["gpus"] = c.ranks();
  state.counters["ops"] = ops;
  state.counters["events"] = events;
  state.counters["build_s"] = build_s;
  state.counters["sim_s"] = sim_s;
  state.counters["build_cpu_s"] = build_cpu_s;
  state.counters["sim_cpu_s"] = sim_cpu_s;
  state.counters["total_cpu_s"] = build_cpu_s + sim_cpu_s;
  state.counters["events_per_s"] = sim_s > 0.0 ? events / sim_s : 0.0;
  // Point-to-point messages simulated per second: the figure ASTRA-sim's analytical
  // backend is quoted in (0.3-1.4 M/s, issue 4).
  state.counters["messages"] = messages;
  state.counters["messages_per_s"] = sim_s > 0.0 ? messages / sim_s : 0.0;
  state.counters["ops_per_s"] = build_s + sim_s > 0.0 ? ops / (build_s + sim_s) : 0.0;
  state.counters["schedule_MiB"] = schedule_mib;
  state.counters["timeline_MiB"] = timeline_mib;
  state.counters["bytes_per_op"] = (schedule_mib + timeline_mib) * 1024.0 * 1024.0 / ops;
  state.counters["simulated_s"] = makespan;
}
BENCHMARK(RingFwdBwd)->Arg(2)->Arg(16)->Arg(64)->Arg(128)->Iterations(1)->Unit(benchmark::kSecond)->UseManualTime();

double peak_resident_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // kilobytes on Linux
}

void TrainingStep(benchmark::State& state) {
  const std::string nodes = std::to_string(state.range(0));
  const Scenario sc = load_scenario(std::string(XATTN_SOURCE_DIR) + "/scenarios/llama32v-16xa100.yaml",
                                    {"cluster.nodes=" + nodes});
  const Mechanism lv = *parse_mechanism("lv-xattn");
  sim::IterationSimResult r;
  double wall = 0.0, cpu = 0.0;
  for (auto _ : state) {
    const double w0 = wall_seconds(), c0 = cpu_seconds();
    r = sim::simulate_iteration(sc, lv, Pass::fwd_bwd);
    wall = wall_seconds() - w0;
    cpu = cpu_seconds() - c0;
    state.SetIterationTime(wall);
    benchmark::DoNotOptimize(r);
  }
  state.counters["gpus"] = sc.ranks();
  state.counters["wall_s"] = wall;
  state.counters["cpu_s"] = cpu;
  state.counters["peak_RSS_MiB"] = peak_resident_mib();
  state.counters["ops"] = static_cast<double>(r.ops);
  state.counters["peak_live_ops"] = static_cast<double>(r.peak_live_ops);
  state.counters["segments"] = r.segments;
  state.counters["events"] = static_cast<double>(r.events);
  state.counters["messages"] = static_cast<double>(r.messages);
  state.counters["events_per_s"] = cpu > 0.0 ? static_cast<double>(r.events) / cpu : 0.0;
  state.counters["messages_per_s"] = cpu > 0.0 ? static_cast<double>(r.messages) / cpu : 0.0;
  state.counters["ops_per_s"] = cpu > 0.0 ? static_cast<double>(r.ops) / cpu : 0.0;
  state.counters["simulated_s"] = r.estimate.time.value();
}
BENCHMARK(TrainingStep)->Arg(4)->Arg(16)->Arg(64)->Iterations(1)->Unit(benchmark::kSecond)->UseManualTime();

}  // namespace

BENCHMARK_MAIN();
