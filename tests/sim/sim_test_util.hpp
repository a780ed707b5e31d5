// Fixtures the simulator's tests share: a time unit, a compute cost model that times
// elementwise ops by hand-friendly figures, hand-made schedules' building blocks, and a
// loop that runs a network until it is idle.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/schedule/schedule.hpp"
#include "sim/compute_cost.hpp"
#include "sim/network.hpp"

namespace xattn::sim::test {

constexpr std::int64_t us = 1'000'000;  // picoseconds per microsecond

// Elementwise ops take touched / HBM: with 1e12 B/s at efficiency 1, 1 MB takes 1 us.
inline ComputeCostModel unit_cost() {
  ComputeCostModel c;
  c.gpu.hbm = BytesPerSecond(1e12);
  c.gpu.peak_fp16 = FlopsPerSecond(1e15);
  c.calibration.memory_efficiency = 1.0;
  return c;
}

// dst = src, touching `touched_bytes` (1e6 bytes: 1 us under unit_cost()).
inline ComputeOp copy_op(const std::string& src, const std::string& dst, double touched_bytes) {
  ComputeOp c;
  c.kind = ComputeKind::copy;
  c.src = src;
  c.dst = dst;
  c.touched = Bytes(touched_bytes);
  return c;
}

// Runs the network until idle; returns the completion time of each id (index = id).
inline std::vector<Time> run_all(Network& net, std::size_t ids) {
  std::vector<Time> at(ids, Time::never());
  std::vector<std::uint64_t> done;
  Time now;
  for (;;) {
    const Time next = net.next_event_after(now);
    if (next.is_never()) break;
    done.clear();
    net.advance(now, next - now, done);
    now = next;
    for (auto id : done) at[id] = now;
  }
  return at;
}

inline Schedule empty_schedule(int ranks) {
  Schedule s;
  s.programs.resize(static_cast<std::size_t>(ranks));
  for (int r = 0; r < ranks; ++r) s.programs[static_cast<std::size_t>(r)].rank = r;
  return s;
}

}  // namespace xattn::sim::test
