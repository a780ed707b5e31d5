// What a piece of a training step is spent on (docs/model.md §13.4): the parts of the
// `breakdown_s` contract (ARCHITECTURE.md, `scope: "iteration"`), and whether the work is a
// forward, the recomputed forward of a checkpointed layer, or a backward. The closed form
// splits its time by these parts (model/iteration.hpp); the event engine tags every op of
// a simulated step with them (Op::part, Op::direction in model/schedule/schedule.hpp), so
// that a timeline, its per-phase summary and the closed form's breakdown name the same
// things.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace xattn {

enum class StepPart : std::uint8_t {
  none,             // not part of a step (a layer-scope schedule)
  vision,           // the vision encoder
  projector,        // projector or resampler
  self_attention,   // the self-attention mechanism (its transfers and host syncs included)
  cross_attention,  // the cross-attention mechanism and its q, k, v projections
  mlp,              // MLPs (and OpenFlamingo's xattn FFN)
  other_gemm,       // other projections: self-attention q, k, v, o; cross o_proj; gates
  lm_head,          // LM head and loss
  sharding,         // FSDP/ZeRO/DDP collectives (breakdown: what nothing hid)
  optimizer,        // the optimizer step
};
inline constexpr int step_part_count = 10;

enum class StepDirection : std::uint8_t { none, forward, recompute, backward };

// For people: "self-attention", "all-gather" is the op's own; "fwd", "recompute", "bwd".
[[nodiscard]] std::string_view to_string(StepPart p);
[[nodiscard]] std::string_view to_string(StepDirection d);
// The key of the part in `breakdown_s` ("self_attention", "sharding_comm_exposed", ...);
// empty for `none`.
[[nodiscard]] std::string_view breakdown_key(StepPart p);
[[nodiscard]] std::optional<StepPart> parse_step_part(std::string_view text);  // by to_string or breakdown_key

}  // namespace xattn
