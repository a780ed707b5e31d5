// The training set-up around the model (issue 16; the training.* scenario keys): how the
// GPUs are split into sequence-parallel groups and data-parallel replicas, the batch and
// gradient accumulation, how model states are sharded, what is recomputed, what is frozen,
// and whether the optimizer steps. The iteration model (model/iteration.hpp) reads it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "model/core/units.hpp"
#include "model/mechanism.hpp"

namespace xattn {

// How model states are sharded over all GPUs (ZeRO, Rajbhandari et al. 2020): `none` is
// DDP (everything replicated, gradients all-reduced); zero1 shards optimizer states,
// zero2 also gradients, zero3 (FSDP FULL_SHARD) also parameters.
enum class Sharding { none, zero1, zero2, zero3 };

// What each layer keeps for its backward: everything (`none`), its input and the
// attention output (`after-attention`: the backward recomputes projections and MLP, not
// attention, as DistFlashAttn and WallFacer do), or its input only (`full`: the backward
// re-runs the whole layer forward first).
enum class Checkpointing { none, after_attention, full };

// The parts of a model training.frozen may name.
enum class ModelPart : unsigned { vision = 1u, projector = 2u, lm = 4u, cross_attention = 8u };

struct PartSet {
  unsigned bits = 0;
  [[nodiscard]] bool contains(ModelPart p) const { return (bits & static_cast<unsigned>(p)) != 0; }
  void add(ModelPart p) { bits |= static_cast<unsigned>(p); }
  friend bool operator==(PartSet, PartSet) = default;
};

// `lv_xattn_paper`: the semantics of the LV-XAttn authors' harness (ITERATION.md §5).
enum class TrainingPreset { none, lv_xattn_paper };

// Figures of the iteration besides kernels and links (docs/model.md §14: each default and
// where it comes from). resolve() fills them from the calibration's `iteration:` keys
// (model/calibration.hpp, IterationCalibration) where a file sets them; the defaults below
// stand otherwise, and are reported as uncalibrated.
struct IterationKnobs {
  double vision_efficiency = 0.55;        // η_vision: the tower's GEMMs and masked SDPA, blended
  Seconds host_sync = microseconds(20);   // one torch.cuda.synchronize() (paper harness)
  double zero_bucket_elements = 5e8;      // DeepSpeed reduce_bucket_size
  double ddp_bucket_bytes = 25e6;         // DDP bucket_cap_mb = 25
};

struct TrainingSetup {
  Mechanism self_attention{MechanismKind::ring_zigzag, 0};
  int sp = 0;                      // sequence-parallel degree; 0: all GPUs
  int dp = 0;                      // data-parallel replicas; 0: GPUs / sp
  std::int64_t global_batch = 0;   // samples per optimizer step; 0: batch x dp
  Sharding sharding = Sharding::zero3;
  Checkpointing checkpointing = Checkpointing::full;
  PartSet frozen{static_cast<unsigned>(ModelPart::vision)};
  bool optimizer_step = true;
  TrainingPreset preset = TrainingPreset::none;
  IterationKnobs knobs;
};

[[nodiscard]] std::string_view to_string(Sharding s);
[[nodiscard]] std::optional<Sharding> parse_sharding(std::string_view s);
[[nodiscard]] std::string_view to_string(Checkpointing c);
[[nodiscard]] std::optional<Checkpointing> parse_checkpointing(std::string_view s);
[[nodiscard]] std::string_view to_string(ModelPart p);
[[nodiscard]] std::optional<ModelPart> parse_model_part(std::string_view s);
[[nodiscard]] std::string_view to_string(TrainingPreset p);
[[nodiscard]] std::optional<TrainingPreset> parse_training_preset(std::string_view s);

}  // namespace xattn
