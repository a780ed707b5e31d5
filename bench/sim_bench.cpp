// bench_sim: the event-driven simulator's own speed (issue 4, "Engine" and "Scale").
//  * EventQueue/N: pop the earliest of N pending events and push its successor — the raw
//    engine, in events per second (goal: at least 10 M/s on one core).
//  * RingFwdBwd/nodes: Ring Attention forward + backward, dense cross-attention, over
//    nodes x 8 GPUs (DGX H100 nodes: NVLink switch, one NIC per GPU), simulated with the
//    max-min flow network. The schedule is built once, outside the timing; the figures are
//    the simulation's (setup included): seconds, events per second, and the memory the
//    executor and its Timeline add. 128 nodes = 1024 GPUs, about ten million ops (goal:
//    under 10 s on one core).
// Figures are printed, never asserted.
#include <cstdio>
#include <cstdint>

#include <benchmark/benchmark.h>

#include "model/presets.hpp"
#include "model/schedule/builders.hpp"
#include "sim/event_queue.hpp"
#include "sim/executor.hpp"

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
    q.push(sim::Event::make(sim::Time::ps(delay()), sim::EventKind::compute_done, i % 1024, i));
  std::int64_t index = pending;
  for (auto _ : state) {
    const sim::Event e = q.pop();
    q.push(sim::Event::make(e.time + sim::Time::ps(delay()), sim::EventKind::compute_done, e.rank(), index++));
    benchmark::DoNotOptimize(e);
  }
  state.counters["events_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(EventQueue)->Arg(64)->Arg(1024)->Arg(16384);

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
  const Schedule s = build_schedule(*parse_mechanism("ring"), Pass::fwd_bwd, o);
  std::size_t ops = 0;
  for (const Program& p : s.programs) ops += p.ops.size();
  Calibration cal;
  double events = 0.0, makespan = 0.0, added_mib = 0.0;
  for (auto _ : state) {
    const double before = resident_mib();
    sim::Timeline t = sim::simulate(s, c, cal);
    added_mib = resident_mib() - before;
    events = static_cast<double>(t.events);
    makespan = t.makespan.seconds().value();
    benchmark::DoNotOptimize(t);
  }
  state.counters["gpus"] = c.ranks();
  state.counters["ops"] = static_cast<double>(ops);
  state.counters["events"] = events;
  state.counters["events_per_s"] = benchmark::Counter(events * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["ops_per_s"] = benchmark::Counter(static_cast<double>(ops) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["timeline_MiB"] = added_mib;
  state.counters["bytes_per_op"] = added_mib * 1024.0 * 1024.0 / static_cast<double>(ops);
  state.counters["simulated_s"] = makespan;
}
BENCHMARK(RingFwdBwd)->Arg(2)->Arg(16)->Arg(64)->Arg(128)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
