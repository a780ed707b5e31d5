// Uncalibrated inputs and the ±20% sensitivity report (docs/model.md §15), with the closed
// form (model/analytic).
#include "model/sensitivity.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <optional>

#include <fmt/format.h>

#include "model/analytic.hpp"
#include "model/iteration.hpp"
#include "model/iteration_memory.hpp"
#include "model/kernel_model.hpp"

namespace xattn {
namespace {

std::vector<BlockPass> block_passes(const std::vector<Pass>& passes) {
  bool fwd = false, bwd = false;
  for (Pass p : passes) {
    fwd = fwd || p != Pass::bwd;
    bwd = bwd || p != Pass::fwd;
  }
  std::vector<BlockPass> out;
  if (fwd) out.push_back(BlockPass::fwd);
  if (bwd) out.push_back(BlockPass::bwd);
  return out;
}

const char* pass_name(BlockPass p) { return p == BlockPass::fwd ? "fwd" : "bwd"; }

double fraction(double v) { return std::clamp(v, 1e-6, 1.0); }

// A link class's bandwidth or latency: the cluster's nominal figure, the calibration's
// replacement and every protocol regime scale together.
void scale_link(Scenario& s, LinkClass lc, bool bandwidth, double f) {
  LinkSpec& nominal = lc == LinkClass::intra_node ? s.cluster.intra : s.cluster.inter;
  LinkCalibration& cal = lc == LinkClass::intra_node ? s.calibration.intra_node : s.calibration.inter_node;
  if (bandwidth) {
    nominal.bandwidth = nominal.bandwidth * f;
    // What NCCL gets through a NIC is a share of its line rate: it scales with it.
    if (lc == LinkClass::inter_node && s.cluster.nccl_per_nic) s.cluster.nccl_per_nic = *s.cluster.nccl_per_nic * f;
    if (cal.bandwidth) cal.bandwidth = *cal.bandwidth * f;
    for (ProtocolRegime& r : cal.protocols) r.bandwidth = r.bandwidth * f;
  } else {
    nominal.latency = nominal.latency * f;
    if (cal.latency) cal.latency = *cal.latency * f;
    for (ProtocolRegime& r : cal.protocols) {
      r.latency = r.latency * f;
      r.base_latency = r.base_latency * f;
    }
  }
}

// One attention the result runs: its head dimension, whether causal, whether GQA.
struct AttentionKind {
  std::int64_t head_dim = 0;
  bool causal = false;
  bool gqa = false;
};

// The attentions in play: at layer scope the scenario's layer; at iteration scope the
// cross-attention layer (a multimodal model) and the LM's self-attention.
std::vector<AttentionKind> attention_kinds(const Scenario& s, Scope scope) {
  if (scope == Scope::layer)
    return {{s.shape.head_dim, s.shape.mask == Mask::causal, s.shape.kv_heads < s.shape.heads}};
  std::vector<AttentionKind> out;
  const IterationSetup u = iteration_setup(s);
  if (s.model.arch.multimodal()) out.push_back({s.shape.head_dim, false, u.cross_kv_heads < s.shape.heads});
  out.push_back({u.self_head_dim, true, u.self_kv_heads < u.self_heads});
  return out;
}

// The block passes in play: at iteration scope a backward also repeats forwards
// (recomputation), so any pass but `fwd` uses both.
std::vector<BlockPass> block_passes(const std::vector<Pass>& passes, Scope scope) {
  if (scope == Scope::layer) return block_passes(passes);
  const bool backward = std::any_of(passes.begin(), passes.end(), [](Pass p) { return p != Pass::fwd; });
  if (backward) return {BlockPass::fwd, BlockPass::bwd};
  return passes.empty() ? std::vector<BlockPass>{} : std::vector<BlockPass>{BlockPass::fwd};
}

void add_unique(std::vector<ModelInput>& in, ModelInput x) {
  for (const ModelInput& m : in)
    if (m.name == x.name) return;
  in.push_back(std::move(x));
}

}  // namespace

std::vector<ModelInput> model_inputs(const Scenario& s, const std::vector<Pass>& passes, Scope scope) {
  std::vector<ModelInput> in;
  const ComputeCalibration& cc = s.calibration.compute;
  const GpuSpec& gpu = s.cluster.gpu;
  const std::vector<AttentionKind> kinds = attention_kinds(s, scope);
  const std::int64_t d = kinds.front().head_dim;
  const bool causal = kinds.front().causal;
  bool table = false;
  for (BlockPass bp : block_passes(passes, scope)) {
    for (const AttentionKind& k : kinds) {
      if (cc.table_covers(bp, k.head_dim)) {
        table = true;
        continue;
      }
      const bool small = k.head_dim <= 96;
      const KernelParams kp = kernel_params(gpu, cc, bp, k.head_dim, k.causal);
      // The peak fraction of this pass and head dimension.
      const bool fwd = bp == BlockPass::fwd;
      std::optional<double> ComputeCalibration::*e = fwd ? (small ? &ComputeCalibration::fwd_max_d64 : &ComputeCalibration::fwd_max_d128)
                                                          : (small ? &ComputeCalibration::bwd_max_d64 : &ComputeCalibration::bwd_max_d128);
      add_unique(in, {fmt::format("compute.{}_max_d{}", pass_name(bp), small ? 64 : 128), !(cc.*e).has_value(),
                      [e, v = kp.e_max](Scenario& x, double f) { x.calibration.compute.*e = fraction(v * f); }});
      // The loop length at which a thread block's prologue and epilogue halve it (scaled
      // from the first attention's value where two attentions' defaults differ).
      std::optional<double> ComputeCalibration::*half = fwd ? &ComputeCalibration::kv_half : &ComputeCalibration::q_half;
      add_unique(in, {fwd ? "compute.kv_half" : "compute.q_half", !(cc.*half).has_value(),
                      [half, v = kp.loop_half](Scenario& x, double f) { x.calibration.compute.*half = v * f; }});
    }
  }
  if (table) {
    in.push_back({"compute.table", false, [](Scenario& x, double f) {
                    for (EfficiencyPoint& p : x.calibration.compute.table) p.efficiency = fraction(p.efficiency * f);
                  }});
  }
  const Seconds launch = cc.launch_overhead.value_or(kernel_params(gpu, cc, BlockPass::fwd, d, causal).launch);
  in.push_back({"compute.launch_overhead_us", !cc.launch_overhead.has_value(),
                [launch](Scenario& x, double f) { x.calibration.compute.launch_overhead = launch * f; }});
  in.push_back({"compute.memory_efficiency", !cc.memory_efficiency.has_value(), [v = cc.hbm_efficiency()](Scenario& x, double f) {
                  x.calibration.compute.memory_efficiency = fraction(v * f);
                }});
  if (cc.elementwise_fixed().value() > 0)
    in.push_back({"compute.elementwise_overhead_us", !cc.elementwise_overhead.has_value(),
                  [v = cc.elementwise_fixed()](Scenario& x, double f) { x.calibration.compute.elementwise_overhead = v * f; }});
  const bool backward = std::any_of(passes.begin(), passes.end(), [](Pass p) { return p != Pass::fwd; });
  // At iteration scope every projection and MLP is a GEMM at this efficiency.
  if (scope == Scope::iteration || (s.recompute && backward))
    in.push_back({"compute.gemm_efficiency", !cc.gemm_efficiency.has_value(), [v = cc.gemm_fraction()](Scenario& x, double f) {
                    x.calibration.compute.gemm_efficiency = fraction(v * f);
                  }});
  // A datasheet figure: never reported as an uncalibrated default (the memory efficiency
  // carries what a calibration measures of it).
  in.push_back({"cluster.gpu_hbm_GBps", false, [](Scenario& x, double f) { x.cluster.gpu.hbm = x.cluster.gpu.hbm * f; }});
  if (scope == Scope::iteration) {
    // The training step's own figures (docs/model.md §14), where the step uses them.
    const IterationCalibration& ic = s.calibration.iteration;
    const IterationKnobs& k = s.training.knobs;
    const Architecture& a = s.model.arch;
    if (a.multimodal() && a.vision.layers > 0 && s.frames > 0)
      in.push_back({"iteration.vision_efficiency", !ic.vision_efficiency.has_value(),
                    [v = k.vision_efficiency](Scenario& x, double f) { x.training.knobs.vision_efficiency = fraction(v * f); }});
    if (s.training.preset == TrainingPreset::lv_xattn_paper)
      in.push_back({"iteration.host_sync_us", !ic.host_sync.has_value(),
                    [v = k.host_sync](Scenario& x, double f) { x.training.knobs.host_sync = v * f; }});
    if (s.training.sharding == Sharding::zero1 || s.training.sharding == Sharding::zero2)
      in.push_back({"iteration.zero_bucket_elements", !ic.zero_bucket_elements.has_value(),
                    [v = k.zero_bucket_elements](Scenario& x, double f) { x.training.knobs.zero_bucket_elements = v * f; }});
    if (s.training.sharding == Sharding::none)
      in.push_back({"iteration.ddp_bucket_bytes", !ic.ddp_bucket_bytes.has_value(),
                    [v = k.ddp_bucket_bytes](Scenario& x, double f) { x.training.knobs.ddp_bucket_bytes = v * f; }});
  }
  const bool multi = s.ranks() > 1;
  const auto links = [&](LinkClass lc, const char* key) {
    const LinkCalibration& cal = lc == LinkClass::intra_node ? s.calibration.intra_node : s.calibration.inter_node;
    const bool regimes = !cal.protocols.empty();
    in.push_back({fmt::format("cluster.{}.bandwidth_GBps", key), !cal.bandwidth && !regimes,
                  [lc](Scenario& x, double f) { scale_link(x, lc, true, f); }});
    in.push_back({fmt::format("cluster.{}.latency_us", key), !cal.latency && !regimes,
                  [lc](Scenario& x, double f) { scale_link(x, lc, false, f); }});
  };
  if (multi && s.cluster.gpus_per_node > 1) links(LinkClass::intra_node, "intra_node");
  if (multi && s.cluster.nodes > 1) links(LinkClass::inter_node, "inter_node");
  return in;
}

std::vector<std::string> uncalibrated_inputs(const Scenario& s, const std::vector<Pass>& passes, Scope scope) {
  std::vector<std::string> out;
  const ComputeCalibration& cc = s.calibration.compute;
  const std::vector<AttentionKind> kinds = attention_kinds(s, scope);
  const std::vector<BlockPass> bps = block_passes(passes, scope);
  auto parametric_in = [&](BlockPass bp) {
    return std::any_of(kinds.begin(), kinds.end(), [&](const AttentionKind& k) { return !cc.table_covers(bp, k.head_dim); });
  };
  bool parametric = false, fwd_parametric = false;
  for (BlockPass bp : bps)
    if (parametric_in(bp)) {
      parametric = true;
      fwd_parametric = fwd_parametric || bp == BlockPass::fwd;
    }
  if (parametric && !cc.kernel) out.emplace_back("compute.kernel");
  for (const ModelInput& m : model_inputs(s, passes, scope))
    if (m.uncalibrated) out.push_back(m.name);
  // The kernel's structure, where the parametric model prices the blocks.
  for (BlockPass bp : bps) {
    if (!parametric_in(bp)) continue;
    const bool fwd = bp == BlockPass::fwd;
    if (!(fwd ? cc.fwd_tile_rows : cc.bwd_tile_rows)) out.push_back(fmt::format("compute.{}_tile_rows", pass_name(bp)));
    if (!(fwd ? cc.fwd_tile_cols : cc.bwd_tile_cols)) out.push_back(fmt::format("compute.{}_tile_cols", pass_name(bp)));
  }
  const bool gqa = std::any_of(kinds.begin(), kinds.end(), [](const AttentionKind& k) { return k.gqa; });
  if (fwd_parametric && !cc.split_kv) out.emplace_back("compute.split_kv");
  if (fwd_parametric && !cc.gqa_packing && gqa) out.emplace_back("compute.gqa_packing");
  if (!cc.accumulate) out.emplace_back("compute.accumulate");
  return out;
}

std::vector<SensitivityRow> sensitivity(const Scenario& s, const std::vector<Pass>& passes, double change,
                                        Scope scope) {
  std::vector<SensitivityRow> rows;
  // The mechanisms compared: at iteration scope the step's cross-attention ones, or the one
  // entry "none" of a decoder-only model.
  std::vector<std::optional<Mechanism>> compared;
  if (scope == Scope::iteration && !s.model.arch.multimodal()) compared.push_back(std::nullopt);
  else
    for (const Mechanism& m : s.mechanisms) compared.emplace_back(m);
  const std::size_t n = compared.size();
  auto name = [](const std::optional<Mechanism>& m) { return m ? m->name() : std::string("none"); };
  // times[pass][mechanism], NaN when infeasible.
  auto times = [&](const Scenario& x) {
    std::vector<std::vector<double>> t(passes.size(), std::vector<double>(n));
    if (scope == Scope::iteration) {
      for (std::size_t m = 0; m < n; ++m)
        for (std::size_t p = 0; p < passes.size(); ++p) {
          const IterationEstimate e = estimate_iteration(x, compared[m], passes[p]);
          t[p][m] = e.feasible ? e.time.value() : std::nan("");
        }
      return t;
    }
    for (std::size_t p = 0; p < passes.size(); ++p)
      for (std::size_t m = 0; m < n; ++m) {
        const Estimate e = estimate(x, *compared[m], passes[p]);
        t[p][m] = e.feasible ? e.time.value() : std::nan("");
      }
    return t;
  };
  // Whether some pair of feasible mechanisms is strictly in one order in `a` and strictly
  // in the other in `b` (times within 1e-9 of each other count as a tie).
  auto reordered = [](const std::vector<double>& a, const std::vector<double>& b) {
    const double eps = 1e-9;
    for (std::size_t i = 0; i < a.size(); ++i)
      for (std::size_t j = 0; j < a.size(); ++j) {
        if (std::isnan(a[i]) || std::isnan(a[j]) || std::isnan(b[i]) || std::isnan(b[j])) continue;
        if (a[i] < a[j] * (1 - eps) && b[i] > b[j] * (1 + eps)) return true;
      }
    return false;
  };
  const auto base = times(s);
  for (const ModelInput& in : model_inputs(s, passes, scope)) {
    Scenario lo = s, hi = s;
    in.scale(lo, 1.0 - change);
    in.scale(hi, 1.0 + change);
    const auto tl = times(lo), th = times(hi);
    for (std::size_t p = 0; p < passes.size(); ++p) {
      const bool reranked = reordered(base[p], tl[p]) || reordered(base[p], th[p]);
      for (std::size_t m = 0; m < n; ++m) {
        if (std::isnan(base[p][m])) continue;
        rows.push_back({in.name, change, name(compared[m]), passes[p],
                        Seconds(std::isnan(tl[p][m]) ? 0.0 : tl[p][m]),
                        Seconds(std::isnan(th[p][m]) ? 0.0 : th[p][m]), reranked});
      }
    }
  }
  return rows;
}

}  // namespace xattn
