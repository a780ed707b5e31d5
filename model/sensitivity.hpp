// Which inputs of a result are uncalibrated defaults, and how much each mechanism's time
// moves when one input varies (docs/model.md §15). Both are computed here, with the closed
// form, so that every front end prints the same thing: `uncalibrated` (a list of input
// names) and `sensitivity` (rows of input, change, mechanism, pass, the times at the low
// and high end, and whether the ranking of the mechanisms changes).
//
// Inputs are named by their scenario key where one exists (cluster.inter_node.
// bandwidth_GBps, cluster.gpu_hbm_GBps) and by their calibration key otherwise
// (compute.fwd_max_d128, compute.q_half, compute.launch_overhead_us, iteration.
// vision_efficiency).
//
// Both scopes are covered: one attention layer (model/analytic.hpp), and one training step
// (model/iteration.hpp), whose inputs are those of both attentions it runs plus the GEMMs'
// efficiency and the training step's own figures (the calibration's `iteration:` keys).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "model/scenario.hpp"
#include "model/types.hpp"
#include "model/core/units.hpp"

namespace xattn {

// One input the estimates of a scenario depend on, and how to scale it.
struct ModelInput {
  std::string name;
  bool uncalibrated = false;  // a built-in default (the kernel family's, a preset's) no calibration replaced
  // Multiplies the input by `factor` in `s` (efficiencies stay within (0, 1]).
  std::function<void(Scenario& s, double factor)> scale;
};

// The inputs in play for these passes: the efficiencies (each pass and head dimension the
// layer uses, or the measured table that replaces them), the kernel's loop halves and
// launch cost, the HBM bandwidth and memory efficiency, the elementwise fixed cost when
// there is one, the recomputation GEMMs' efficiency when recomputing, and the bandwidth
// and latency of each link class the ring or all-to-all crosses (inside nodes when a node
// has two GPUs or more, between nodes when there are two nodes or more).
//
// At iteration scope: the same for each attention the step runs (the cross-attention
// layer's head dimension, dense; the LM's self-attention's, causal), both block passes
// whenever the backward is in play (recomputation repeats forwards), the GEMMs'
// efficiency always, and iteration.vision_efficiency (a model with a vision tower),
// iteration.host_sync_us (the paper harness), iteration.zero_bucket_elements (zero1,
// zero2) or iteration.ddp_bucket_bytes (no sharding) where the step uses them.
[[nodiscard]] std::vector<ModelInput> model_inputs(const Scenario& s, const std::vector<Pass>& passes,
                                                   Scope scope = Scope::layer);

// The names of the inputs in play that no calibration set: defaults (the kernel family's,
// the preset's nominal link figures). Also "compute.kernel" when the family was chosen by
// the GPU, and the kernel's structural figures left at the family's defaults (tiles,
// split-KV, GQA packing, accumulate pass) when the parametric model is in play.
[[nodiscard]] std::vector<std::string> uncalibrated_inputs(const Scenario& s, const std::vector<Pass>& passes,
                                                           Scope scope = Scope::layer);

struct SensitivityRow {
  std::string input;
  double change = 0.2;         // the input at (1 - change) and (1 + change) times its value
  std::string mechanism;       // Mechanism::name()
  Pass pass = Pass::fwd;
  Seconds time_low, time_high; // this mechanism's time at each end (0 when infeasible)
  bool ranking_changes = false;  // at either end, the mechanisms of this pass rank otherwise
};

// For every input in play and every feasible mechanism and pass, the closed form's time at
// (1 ± change) times the input; `ranking_changes` compares the order of the feasible
// mechanisms' times (fastest first) at each end with the order at the scenario's values.
// At iteration scope the times are whole steps (or phases) and the mechanisms are the
// cross-attention ones ("none" for a decoder-only model, which then has one).
[[nodiscard]] std::vector<SensitivityRow> sensitivity(const Scenario& s, const std::vector<Pass>& passes,
                                                      double change = 0.2, Scope scope = Scope::layer);

}  // namespace xattn
