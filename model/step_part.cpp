// Names of the parts of a training step (see step_part.hpp).
#include "model/step_part.hpp"

namespace xattn {

std::string_view to_string(StepPart p) {
  switch (p) {
    case StepPart::none: return "none";
    case StepPart::vision: return "vision";
    case StepPart::projector: return "projector";
    case StepPart::self_attention: return "self-attention";
    case StepPart::cross_attention: return "cross-attention";
    case StepPart::mlp: return "mlp";
    case StepPart::other_gemm: return "other gemm";
    case StepPart::lm_head: return "lm head";
    case StepPart::sharding: return "sharding";
    case StepPart::optimizer: return "optimizer";
  }
  return "?";
}

std::string_view to_string(StepDirection d) {
  switch (d) {
    case StepDirection::none: return "";
    case StepDirection::forward: return "fwd";
    case StepDirection::recompute: return "recompute";
    case StepDirection::backward: return "bwd";
  }
  return "?";
}

std::string_view breakdown_key(StepPart p) {
  switch (p) {
    case StepPart::none: return "";
    case StepPart::vision: return "vision";
    case StepPart::projector: return "projector";
    case StepPart::self_attention: return "self_attention";
    case StepPart::cross_attention: return "cross_attention";
    case StepPart::mlp: return "mlp";
    case StepPart::other_gemm: return "other_gemm";
    case StepPart::lm_head: return "lm_head";
    case StepPart::sharding: return "sharding_comm_exposed";
    case StepPart::optimizer: return "optimizer";
  }
  return "";
}

std::optional<StepPart> parse_step_part(std::string_view text) {
  for (int i = 0; i < step_part_count; ++i) {
    const auto p = static_cast<StepPart>(i);
    if (text == to_string(p) || (p != StepPart::none && text == breakdown_key(p))) return p;
  }
  return std::nullopt;
}

}  // namespace xattn
