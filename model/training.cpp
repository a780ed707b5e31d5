// Names of the training set-up's choices, as the training.* scenario keys spell them.
#include "model/training.hpp"

namespace xattn {

std::string_view to_string(Sharding s) {
  switch (s) {
    case Sharding::none: return "none";
    case Sharding::zero1: return "zero1";
    case Sharding::zero2: return "zero2";
    case Sharding::zero3: return "zero3";
  }
  return "?";
}

std::optional<Sharding> parse_sharding(std::string_view s) {
  if (s == "none") return Sharding::none;
  if (s == "zero1") return Sharding::zero1;
  if (s == "zero2") return Sharding::zero2;
  if (s == "zero3") return Sharding::zero3;
  return std::nullopt;
}

std::string_view to_string(Checkpointing c) {
  switch (c) {
    case Checkpointing::none: return "none";
    case Checkpointing::after_attention: return "after-attention";
    case Checkpointing::full: return "full";
  }
  return "?";
}

std::optional<Checkpointing> parse_checkpointing(std::string_view s) {
  if (s == "none") return Checkpointing::none;
  if (s == "after-attention") return Checkpointing::after_attention;
  if (s == "full") return Checkpointing::full;
  return std::nullopt;
}

std::string_view to_string(ModelPart p) {
  switch (p) {
    case ModelPart::vision: return "vision";
    case ModelPart::projector: return "projector";
    case ModelPart::lm: return "lm";
    case ModelPart::cross_attention: return "cross_attention";
  }
  return "?";
}

std::optional<ModelPart> parse_model_part(std::string_view s) {
  if (s == "vision") return ModelPart::vision;
  if (s == "projector") return ModelPart::projector;
  if (s == "lm") return ModelPart::lm;
  if (s == "cross_attention") return ModelPart::cross_attention;
  return std::nullopt;
}

std::string_view to_string(TrainingPreset p) {
  return p == TrainingPreset::lv_xattn_paper ? "lv-xattn-paper" : "none";
}

std::optional<TrainingPreset> parse_training_preset(std::string_view s) {
  if (s == "none") return TrainingPreset::none;
  if (s == "lv-xattn-paper") return TrainingPreset::lv_xattn_paper;
  return std::nullopt;
}

}  // namespace xattn
