// Memory of one training step per GPU (docs/model.md §12; ITERATION.md §3): model states
// under each sharding stage with the FSDP root-unit rule, what each LM layer kind keeps
// for its backward under each checkpointing mode (Korthikanti et al. 2022, adapted to
// FlashAttention, GQA and SwiGLU), the visual states, the FSDP units gathered in flight
// and the transients. The set-up both the time (model/iteration.cpp) and the memory read
// is IterationSetup, derived once per evaluation.
#pragma once

#include <cstdint>

#include "model/core/units.hpp"
#include "model/iteration.hpp"
#include "model/scenario.hpp"

namespace xattn {

// Everything the iteration formulas share, derived once per evaluation (docs/model.md §13.1).
struct IterationSetup {
  IterationLayout layout;
  bool paper = false;                // training.preset: lv-xattn-paper
  double rows_text = 0;              // text tokens per GPU per micro-step: batch x ceil(S_q / sp)
  double rows_visual = 0;            // visual tokens per GPU: batch x ceil(S_kv / sp)
  double items = 0;                  // images or frames per GPU: batch x ceil(frames / sp)
  int param_bytes = 2;               // bytes per parameter and gradient element
  int act_bytes = 2;                 // bytes per activation element
  bool trains_vision = false, trains_projector = false, trains_lm = false, trains_cross = false;
  bool projector_grads = false;      // the projector gets gradients (not in the paper harness)
  bool visual_grad = false;          // the visual states need a gradient (projector or vision trains)
  int grad_from = 0;                 // first LM position whose backward runs: -1 all, layers none (§12.3)
  std::int64_t self_heads = 0, self_kv_heads = 0, self_head_dim = 0;  // self-attention as it runs
  std::int64_t cross_kv_heads = 0;   // K/V heads cross-attention moves and keeps (the paper repeats K/V)
  Checkpointing checkpointing = Checkpointing::full;  // none in the paper harness, whose CA wrapper is its own
  // workload.recompute under checkpointing `none` (eq. 24, 27): cross-attention keeps its
  // input, O and LSE and re-runs its q, k, v projections in the backward (LV-XAttn §4.2).
  // The paper harness's wrapper already does; `after-attention` and `full` subsume it.
  bool ca_recompute = false;
  double grad_parameters = 0;        // parameters that get gradients (and optimizer state)
};

[[nodiscard]] IterationSetup iteration_setup(const Scenario& s);

// Persistent model states per GPU (docs/model.md eq. 26): parameter and gradient shards
// (or full copies), unsharded root units, optimizer state. Units gathered in flight are
// not included (iteration_memory() adds them at the peak).
struct ModelStates {
  Bytes parameters, gradients, optimizer;
  [[nodiscard]] Bytes total() const { return parameters + gradients + optimizer; }
};
[[nodiscard]] ModelStates model_states(const Scenario& s, const IterationSetup& setup);

// The LM's layer kinds: a plain decoder layer, or a layer with cross-attention (Mllama CA
// layer, hyper layer, OpenFlamingo decoder layer with its xattn block).
enum class LmUnit { plain, cross };

// docs/model.md eq. 27: what one LM unit keeps for its backward, per GPU and micro-step,
// under training.checkpointing (`none` with the paper harness's CA recompute wrapper).
[[nodiscard]] Bytes saved_activations(const Scenario& s, const IterationSetup& setup, LmUnit unit,
                                      Checkpointing policy);

// Mechanism working sets (the layer model's inputs + outputs + buffers, weights and other
// layers excluded) for the step's attention calls, forward and backward.
struct MechanismMemory {
  Bytes self_fwd, self_bwd, cross_fwd, cross_bwd;
};

// The whole step's memory at its peak (docs/model.md eq. 28-29): the larger of the vision
// forward and the start of the LM backward.
[[nodiscard]] IterationMemory iteration_memory(const Scenario& s, const IterationSetup& setup,
                                               const MechanismMemory& mechanisms);

}  // namespace xattn
