// The closed form's step beside a measured one (docs/kineto.md §7 gives the phase mapping).
#include "sim/kineto_compare.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "model/core/error.hpp"
#include "model/presets.hpp"

namespace xattn::sim {
namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The GEMM parts of the breakdown: projections, MLP, LM head, projector (docs/kineto.md §7).
double gemm_part(const IterationBreakdown& b) { return (b.mlp + b.other_gemm + b.lm_head + b.projector).value(); }
double attention_part(const IterationBreakdown& b) { return (b.self_attention + b.cross_attention).value(); }

}  // namespace

StepComparison compare_step(const Scenario& s, const MeasuredStep& m) {
  StepComparison c;
  std::optional<Mechanism> cross;
  if (s.model.arch.multimodal() && !s.mechanisms.empty()) cross = s.mechanisms.front();
  const IterationEstimate fwd = estimate_iteration(s, cross, Pass::fwd);
  const IterationEstimate bwd = estimate_iteration(s, cross, Pass::bwd);
  const IterationEstimate step = estimate_iteration(s, cross, Pass::fwd_bwd);
  if (!step.feasible)
    throw InputError(Origin{s.path.empty() ? s.name : s.path, 0, 0}, "mechanisms",
                     "the scenario's step cannot be estimated: " + step.reason);
  c.cross_attention = step.cross_attention_name();
  c.self_attention = step.self_attention.name();
  c.micro_steps = step.layout.micro_steps;
  const double k = static_cast<double>(c.micro_steps);

  auto row = [&](std::string phase, const MeasuredPhase& mp, bool busy, std::optional<double> predicted,
                 const char* pass_name, const char* what) {
    ComparedPhase r;
    r.phase = std::move(phase);
    if (mp.present) r.measured_s = (busy ? mp.busy : mp.kernel_sum).value();
    r.predicted_s = predicted;
    if (!mp.present && predicted && *predicted > 0)
      r.why = fmt::format("the traces have no {} kernels in the {}", what, pass_name);
    c.rows.push_back(std::move(r));
  };
  auto unmatched = [&](std::string phase, std::optional<double> measured, std::optional<double> predicted, std::string why) {
    c.rows.push_back(ComparedPhase{std::move(phase), measured, predicted, std::move(why)});
  };

  // Forward, per layer kind; then the same for the backward.
  const bool vision = s.model.arch.vision.layers > 0 && s.frames > 0;
  for (int pass = 0; pass < 2; ++pass) {
    const IterationEstimate& e = pass == 0 ? fwd : bwd;
    const char* name = pass == 0 ? "forward" : "backward";
    const MeasuredPhase& g = pass == 0 ? m.fwd_gemm : m.bwd_gemm;
    const MeasuredPhase& a = pass == 0 ? m.fwd_attention : m.bwd_attention;
    const MeasuredPhase& o = pass == 0 ? m.fwd_other : m.bwd_other;
    row(fmt::format("{}: GEMM", name), g, false, k * gemm_part(e.breakdown), name, "GEMM");
    row(fmt::format("{}: attention", name), a, false, k * attention_part(e.breakdown), name, "attention");
    if (vision && e.breakdown.vision.value() > 0)
      unmatched(fmt::format("{}: vision tower", name), std::nullopt, k * e.breakdown.vision.value(),
                "a trace does not say which layer launched a kernel: the tower's GEMMs and attention are in the rows above");
    unmatched(fmt::format("{}: elementwise and other", name), o.present ? std::optional<double>(o.kernel_sum.value()) : std::nullopt,
              std::nullopt,
              "the closed form folds norms, activations, residual adds and the loss into its GEMM and attention "
              "efficiencies (docs/model.md §11)");
    const MeasuredPhase& all = pass == 0 ? m.fwd_compute : m.bwd_compute;
    row(fmt::format("{}: compute", name), all, true, k * e.compute.value(), name, "compute");
  }
  // Communication nothing hid: the measured NCCL time with no compute kernel running; the
  // closed form's step time less its compute (collectives, transfers and host waits).
  {
    ComparedPhase r;
    r.phase = "exposed communication";
    if (m.comm.present) r.measured_s = m.comm_exposed.value();
    r.predicted_s = step.exposed_comm.value();
    if (!m.comm.present && step.exposed_comm.value() > 0) r.why = "the traces have no NCCL kernels";
    c.rows.push_back(r);
  }
  row("optimizer", m.optimizer, true, step.breakdown.optimizer.value(), "optimizer step", "optimizer");
  unmatched("idle (no kernel running)", m.idle.value(), std::nullopt,
            "the closed form has no host-side gaps: data loading, Python overhead, launch-bound stretches and "
            "synchronisation are not modelled");
  {
    ComparedPhase r{"step", m.step.value(), step.time.value(), {}};
    c.rows.push_back(r);
  }

  std::vector<double> errs;
  for (const ComparedPhase& r : c.rows)
    if (auto e = r.error()) {
      errs.push_back(std::abs(*e));
      if (std::abs(*e) > c.max_abs_error) {
        c.max_abs_error = std::abs(*e);
        c.max_phase = r.phase;
      }
    }
  c.matched = static_cast<int>(errs.size());
  c.median_abs_error = median(errs);

  // What differs between the run and the scenario.
  if (m.world_size > 0 && m.world_size != s.ranks())
    c.notes.push_back(fmt::format("the traces say {} ranks, the scenario has {} GPUs", m.world_size, s.ranks()));
  if (m.ranks > 0 && m.world_size > 0 && m.ranks < m.world_size)
    c.notes.push_back(fmt::format("{} of {} ranks' traces given: the measured figures are the median over those", m.ranks,
                                  m.world_size));
  if (!m.device.empty()) {
    const GpuSpec* g = gpu_preset_for_device(m.device);
    if (g == nullptr || g->name != s.cluster.gpu.name)
      c.notes.push_back(fmt::format("the traces ran on {}, the scenario's GPU is {}", m.device, s.cluster.gpu.name));
  }
  if (c.micro_steps > 1)
    c.notes.push_back(fmt::format("{} micro-steps per optimizer step: the forward and backward rows are all of them", c.micro_steps));
  c.notes.push_back("attention rows include the mechanism's exposed sequence-parallel transfers on the predicted side "
                    "(docs/model.md §13): the measured side has only the attention kernels");
  return c;
}

}  // namespace xattn::sim
