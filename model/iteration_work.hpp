// The work of one training step as the closed form prices it (docs/model.md §10-§13),
// piece by piece, for the event engine to run (sim/iteration_sim.hpp): every GEMM of each
// LM unit kind with the passes eq. 23-24 give it, the attention calls and whether their
// backward and recomputation run, the vision encoder, projector, LM head and loss, the
// sizes of the FSDP/ZeRO/DDP collectives over all GPUs, the optimizer pass. It is filled by
// the very code that prices the closed form (model/iteration.cpp evaluates and records in
// one pass), so the two engines cannot disagree on what the step contains — only on how
// its pieces overlap and share links.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/collective_model.hpp"
#include "model/iteration.hpp"
#include "model/iteration_memory.hpp"
#include "model/step_part.hpp"

namespace xattn {

// One piece of an LM unit's forward, in order.
struct UnitItem {
  enum class Kind : std::uint8_t { gemm, attention };
  Kind kind = Kind::gemm;
  StepPart part = StepPart::none;
  std::string_view name;       // gemm: "q_proj", "mlp down", ...; attention: "self-attention", "cross-attention"
  double M = 0, K = 0, N = 0;  // gemm: M x K by K x N on this GPU (eq. 22)
  int backward_passes = 0;     // gemm: dW and dX passes in the backward (eq. 23)
  bool recompute = false;      // run forward again in the backward: a GEMM (eq. 24), or the attention under `full`
  bool window = false;         // gemm: after the unit's last attention (the paper harness's hiding window, eq. 30)
  bool cross = false;          // attention: the cross-attention call (else self-attention)
  bool backward = false;       // attention: its backward runs
  int host_syncs = 0;          // attention: host synchronisations per call and pass (paper harness: 2)
};

struct UnitWork {
  std::vector<UnitItem> items;
};

// Which kind each LM position is, and whether its backward runs (eq. 25).
struct PositionWork {
  bool cross = false;
  enum class Backward : std::uint8_t { none, full, first } backward = Backward::none;  // first: cross_first's items
};

struct IterationWork {
  bool feasible = true;
  std::string reason;
  IterationSetup setup;
  int micro_steps = 1;

  // Attention as it runs on each SP group (the paper's Ring as ring-stripe; K/V repeated there).
  Mechanism self_run;
  std::optional<Mechanism> cross;
  AttentionShape self_shape, cross_shape;
  std::int64_t media_items = 1;

  UnitWork plain, cross_full, cross_first;
  std::vector<PositionWork> positions;  // one per LM layer, bottom to top
  bool lm_backward = false;             // any LM unit runs backward

  // The vision encoder (eq. 19), all items of this GPU: `vision_layers` ops of
  // vision_flops / vision_layers FLOPs at η_vision; its backward `vision_backward_factor`
  // times that when the tower trains (0 otherwise).
  int vision_layers = 0;
  double vision_flops = 0;
  double vision_backward_factor = 0;
  // The projector (eq. 20): a linear GEMM (M x K -> N), or a resampler's FLOPs at η_gemm;
  // its backward passes (dW, dX; 0 when it gets no gradient).
  ProjectorKind projector = ProjectorKind::none;
  double projector_M = 0, projector_K = 0, projector_N = 0, projector_flops = 0;
  double projector_backward_passes = 0;
  // LM head (M x h -> V) and loss (an elementwise pass over loss_bytes); the head's
  // backward passes (dX, dW) and whether the loss backward runs.
  double head_M = 0, head_K = 0, head_N = 0, loss_bytes = 0;
  double head_backward_passes = 0;
  bool head_backward = false;

  // Sharding traffic over all GPUs (eq. 30-32), in bytes per collective; 0: none.
  Sharding sharding = Sharding::zero3;
  CollectiveShape collective_shape;  // all GPUs, as the closed form prices them
  double ag_plain = 0, ag_cross = 0, rs_plain = 0, rs_cross = 0;
  double ag_vision_root = 0, ag_vision_layer = 0, rs_vision_layer = 0, rs_vision_root = 0;
  double ag_projector = 0, rs_projector = 0;
  double ag_lm_root = 0, rs_lm_root = 0;
  // ZeRO-1/2 and DDP (eq. 32): `buckets` collectives of bucket_bytes each (reduce-scatter,
  // or all-reduce under DDP), every micro-step (ZeRO-2) or the last only; then ZeRO-1/2's
  // parameter all-gather of param_gather_bytes after the optimizer.
  double buckets = 0, bucket_bytes = 0;
  bool buckets_every_micro_step = false;
  double param_gather_bytes = 0;

  double optimizer_bytes = 0;  // eq. 33: one elementwise pass (0: no optimizer step)
  Seconds host_sync;           // one host synchronisation (paper harness)
};

// The step's work for one cross-attention mechanism (nullopt for a decoder-only model).
// Infeasible (with the reason) where the closed form's entry is.
[[nodiscard]] IterationWork iteration_work(const Scenario& s, const std::optional<Mechanism>& cross);

}  // namespace xattn
