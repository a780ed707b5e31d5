// ADAPTER for docs/model.md eq. 3-5 (see compute_cost.hpp): to be replaced by model/'s own
// block_time / elementwise_time once they are public.
#include "sim/compute_cost.hpp"

#include <algorithm>

namespace xattn::sim {

Seconds ComputeCostModel::time(const ComputeOp& op, bool dq_adds, bool dkv_adds) const {
  const BytesPerSecond hbm = gpu.hbm * calibration.memory_efficiency;
  const auto elementwise = [&](double bytes) { return Bytes(bytes) / hbm; };
  if (op.kind != ComputeKind::attention_forward && op.kind != ComputeKind::attention_backward)
    return elementwise(op.touched.value());

  const BlockShape& s = op.block;
  if (s.q_rows <= 0 || s.kv_rows <= 0 || s.allowed_pairs <= 0) return Seconds(0);
  const BlockPass pass = op.kind == ComputeKind::attention_forward ? BlockPass::fwd : BlockPass::bwd;
  const double B = static_cast<double>(s.batch), h = static_cast<double>(s.heads);
  const double hkv = static_cast<double>(s.kv_heads), D = static_cast<double>(s.head_dim);
  const double rows = static_cast<double>(s.q_rows), cols = static_cast<double>(s.kv_rows);
  const double b = bytes_per_element(dtype), ba = accumulator_bytes;
  // eq. 3, 4: FLOPs (the schedule's own count) at the achieved efficiency of the block.
  const double e = calibration.efficiency(pass, s.head_dim, s.q_rows, s.kv_rows);
  const Seconds math = op.flops / (gpu.peak(dtype) * e);
  // eq. 4b: HBM traffic of the block.
  const double q_side = B * h * rows * D * b, kv_side = 2.0 * B * hkv * cols * D * b;
  const double bytes = pass == BlockPass::fwd ? 2.0 * q_side + kv_side + B * h * rows * 4.0
                                              : 3.0 * q_side + 2.0 * kv_side + B * h * rows * (4.0 + 4.0 * D);
  Seconds t = max(math, Bytes(bytes) / hbm) + calibration.launch_overhead;
  if (pass == BlockPass::bwd) {
    // eq. 5: read two, write one, for each gradient added into an accumulator.
    if (dq_adds) t += elementwise(3.0 * B * h * rows * D * ba);
    if (dkv_adds) t += elementwise(3.0 * 2.0 * B * hkv * cols * D * ba);
  }
  return t;
}

}  // namespace xattn::sim
