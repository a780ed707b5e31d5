// How long one compute op of a Schedule takes on a GPU.
//
// ADAPTER — NOT A MODEL OF OUR OWN. The formulas are the closed form's (docs/model.md,
// eq. 3-5: block time as a roofline over calibrated efficiency and HBM traffic, plus the
// launch cost; elementwise ops at the calibrated fraction of HBM bandwidth). They live in
// model/analytic.cpp inside an anonymous namespace, so this file re-states eq. 4 and 4b
// on top of what model/ exposes (ComputeCalibration::efficiency, GpuSpec peaks) until
// model/ publishes them; then this file becomes a one-line call. The function wanted from
// model/ (see the simulator's report):
//
//   // docs/model.md eq. 4: one attention block (all its heads), forward or backward,
//   // whose mask allows `allowed_pairs` of its q_rows x kv_rows pairs per head.
//   Seconds block_time(const GpuSpec&, const ComputeCalibration&, DType, BlockPass,
//                      const BlockShape&);
//   // eq. 5: an elementwise pass over `bytes` of HBM traffic.
//   Seconds elementwise_time(const GpuSpec&, const ComputeCalibration&, Bytes);
//
// One choice is the simulator's: the gradient accumulation the closed form charges per
// round (eq. 5, "accumulating a gradient") is charged here to the backward block whose
// dq_mode or dkv_mode is `add`, for the gradient it adds into — except when that gradient
// still holds the zeros of a fill_zero (the executor finds out): a kernel writes instead
// of adding there, and the closed form charges nothing in round 0.
#pragma once

#include "model/calibration.hpp"
#include "model/hardware.hpp"
#include "model/schedule/schedule.hpp"

namespace xattn::sim {

struct ComputeCostModel {
  GpuSpec gpu;
  ComputeCalibration calibration;
  DType dtype = DType::fp16;
  int accumulator_bytes = 2;  // travelling/accumulated gradients (Scenario::accumulator_bytes)

  // `dq_adds` / `dkv_adds`: whether a backward block really adds into its dQ / dK, dV
  // accumulators (the op says `add` and they hold more than zeros).
  [[nodiscard]] Seconds time(const ComputeOp& op, bool dq_adds, bool dkv_adds) const;
  [[nodiscard]] Seconds time(const ComputeOp& op) const {
    return time(op, op.dq_mode == Accumulate::add, op.dkv_mode == Accumulate::add);
  }
};

}  // namespace xattn::sim
