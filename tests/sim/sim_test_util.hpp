// Fixtures the simulator's tests share: a time unit, a compute cost model that times
// elementwise ops by hand-friendly figures, and hand-made schedules' building blocks.
#pragma once

#include <cstdint>
#include <string>

#include "model/schedule/schedule.hpp"
#include "sim/compute_cost.hpp"

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

inline Schedule empty_schedule(int ranks) {
  Schedule s;
  s.programs.resize(static_cast<std::size_t>(ranks));
  for (int r = 0; r < ranks; ++r) s.programs[static_cast<std::size_t>(r)].rank = r;
  return s;
}

}  // namespace xattn::sim::test
