// How long one compute op of a Schedule takes on a GPU: the closed form's block time
// (docs/model.md eq. 3-4b, model/analytic.hpp block_time) on the op's own FLOPs, and its
// elementwise time (eq. 5) for merges, rescales and accumulates; for a training step's
// other ops the closed form's own prices too: a GEMM on the roofline (eq. 22), the vision
// encoder at η_vision (eq. 19), the loss and optimizer passes (eq. 5, 33), a host sync.
//
// One choice is the simulator's: the gradient accumulation the closed form charges per
// round (eq. 5, "accumulating a gradient") is charged here to the backward block whose
// dq_mode or dkv_mode is `add`, for the gradient it adds into — except when that gradient
// still holds the zeros of a fill_zero (the executor finds out): a kernel writes instead
// of adding there, and the closed form charges nothing in round 0.
#pragma once

#include <utility>

#include "model/calibration.hpp"
#include "model/hardware.hpp"
#include "model/schedule/schedule.hpp"

namespace xattn::sim {

struct ComputeCostModel {
  ComputeCostModel() = default;
  ComputeCostModel(GpuSpec g, ComputeCalibration c, DType d, int accumulator)
      : gpu(std::move(g)), calibration(std::move(c)), dtype(d), accumulator_bytes(accumulator) {}

  GpuSpec gpu;
  ComputeCalibration calibration;
  DType dtype = DType::fp16;
  int accumulator_bytes = 2;  // travelling/accumulated gradients (Scenario::accumulator_bytes)
  // A training step's other ops (sim/iteration_sim.hpp): the vision encoder's efficiency
  // (η_vision, eq. 19) and one host synchronisation's cost (the paper harness's t_sync).
  double encoder_efficiency = 0.55;
  Seconds host_sync;

  // `dq_adds` / `dkv_adds`: whether a backward block really adds into its dQ / dK, dV
  // accumulators (the op says `add` and they hold more than zeros).
  [[nodiscard]] Seconds time(const ComputeOp& op, bool dq_adds, bool dkv_adds) const;
  [[nodiscard]] Seconds time(const ComputeOp& op) const {
    return time(op, op.dq_mode == Accumulate::add, op.dkv_mode == Accumulate::add);
  }
};

}  // namespace xattn::sim
