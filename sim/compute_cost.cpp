// How long one compute op of a Schedule takes: the closed form's own kernel-call and
// elementwise times (model/kernel_model.hpp, docs/model.md eq. 3-5), on the schedule's
// FLOPs and allowed pairs.
#include "sim/compute_cost.hpp"

#include "model/kernel_model.hpp"

namespace xattn::sim {

Seconds ComputeCostModel::time(const ComputeOp& op, bool dq_adds, bool dkv_adds) const {
  const auto elementwise = [&](double bytes) { return elementwise_time(gpu, calibration, Bytes(bytes)); };
  // eq. 5a: folding a partial into an accumulator, as a separate pass or fused.
  const auto accumulate = [&](double bytes, AccumulateKind kind = AccumulateKind::add) {
    return accumulate_time(gpu, calibration, Bytes(bytes), kind, accumulator_bytes);
  };
  switch (op.kind) {
    case ComputeKind::gemm: return roofline_time(gpu, calibration, dtype, op.flops, op.touched);
    case ComputeKind::encoder: return encoder_time(gpu, dtype, op.flops, encoder_efficiency);
    case ComputeKind::host_sync: return host_sync;
    default: break;
  }
  if (op.kind == ComputeKind::merge) return accumulate(op.touched.value(), AccumulateKind::merge);
  if (op.kind == ComputeKind::accumulate) return accumulate(op.touched.value());
  if (op.kind != ComputeKind::attention_forward && op.kind != ComputeKind::attention_backward)
    return elementwise(op.touched.value());

  const BlockShape& s = op.block;
  if (s.q_rows <= 0 || s.kv_rows <= 0 || s.allowed_pairs <= 0) return Seconds(0);
  const BlockPass pass = op.kind == ComputeKind::attention_forward ? BlockPass::fwd : BlockPass::bwd;
  const BlockDims dims{s.batch,   static_cast<double>(s.heads), static_cast<double>(s.kv_heads),
                       s.head_dim, s.q_rows,                     s.kv_rows,
                       static_cast<double>(s.allowed_pairs),  s.mask, op.call};
  Seconds t = block_time(gpu, calibration, dtype, pass, dims, op.flops);
  if (pass == BlockPass::bwd) {
    // eq. 5: read two, write one, for each gradient added into an accumulator.
    const double B = static_cast<double>(s.batch), D = static_cast<double>(s.head_dim);
    const double ba = accumulator_bytes;
    if (dq_adds) t += accumulate(3.0 * B * dims.heads * static_cast<double>(s.q_rows) * D * ba);
    if (dkv_adds) t += accumulate(3.0 * 2.0 * B * dims.kv_heads * static_cast<double>(s.kv_rows) * D * ba);
  }
  return t;
}

}  // namespace xattn::sim
