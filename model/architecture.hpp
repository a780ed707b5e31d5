// A whole model as the iteration model needs it (docs/model.md §10): the language model,
// where its cross-attention (or hyper-attention, or gated cross-attention) layers sit and
// what they contain, the vision encoder and the projector or resampler. From these come
// the parameter count of every part (FSDP units, model states) and the FLOPs of every
// GEMM. The figures of each preset, with their sources, are in presets.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/core/units.hpp"

namespace xattn {

// SwiGLU (Llama, Qwen2): gate and up h -> f, down f -> h, three matrices. GELU (GPT, MPT,
// ViTs): fc1 h -> f, fc2 f -> h, two matrices.
enum class MlpKind { swiglu, gelu };

[[nodiscard]] std::string_view to_string(MlpKind k);
[[nodiscard]] std::optional<MlpKind> parse_mlp_kind(std::string_view s);

// RMSNorm has a weight of h; LayerNorm a weight and a bias (MPT's LayerNorm has no bias).
enum class NormKind { rms, layer, layer_no_bias };

struct MlpSpec {
  MlpKind kind = MlpKind::swiglu;
  std::int64_t width = 0;  // intermediate size f
  bool bias = false;

  [[nodiscard]] int matrices() const { return kind == MlpKind::swiglu ? 3 : 2; }
  [[nodiscard]] double parameters(std::int64_t hidden) const;  // weights and biases
};

// The decoder (text) model.
struct LanguageModelSpec {
  int layers = 0;
  std::int64_t hidden = 0;
  std::int64_t heads = 0, kv_heads = 0, head_dim = 0;
  MlpSpec mlp;
  bool qkv_bias = false;   // q, k, v projections biased (Qwen2)
  bool bias = false;       // every linear layer biased (GPT)
  NormKind norm = NormKind::rms;
  std::int64_t vocab = 0;           // rows of the LM head (logits)
  std::int64_t embedding_rows = 0;  // rows of the input embedding (Mllama: vocab + 8)
  bool tied = false;                // the LM head is the input embedding

  [[nodiscard]] double norm_parameters() const;  // one norm over h
  // One plain decoder layer: attention (q, k, v, o), MLP and two norms.
  [[nodiscard]] double layer_parameters() const;
};

// How a model's text looks at the visual tokens (ITERATION.md §1).
enum class CrossKind {
  none,         // a decoder-only LM
  cross_layer,  // Mllama: a cross-attention layer replaces a self-attention layer (own q, k, v, o, MLP)
  hyper,        // mPLUG-Owl3: a self-attention layer that also attends to visual K/V (shares q, o, MLP)
  gated_block,  // OpenFlamingo: a gated xattn block (q, kv, out, FFN) runs before a decoder layer
};

[[nodiscard]] std::string_view to_string(CrossKind k);
[[nodiscard]] std::optional<CrossKind> parse_cross_kind(std::string_view s);

struct CrossAttentionSpec {
  CrossKind kind = CrossKind::none;
  std::vector<int> layers;     // 0-based LM layer positions, ascending
  std::int64_t heads = 0, kv_heads = 0, head_dim = 0;
  std::int64_t kv_input = 0;   // width of the visual states the K/V projections read
  bool kv_bias = false;        // hyper: v_kv_proj is biased
  MlpSpec mlp;                 // gated_block: the block's own FFN (cross_layer uses the LM's)

  [[nodiscard]] int count() const { return static_cast<int>(layers.size()); }
  // Parameters that belong to the cross-attention part: a whole Mllama CA layer; the
  // hyper layer's visual K/V projection and gate; a whole OpenFlamingo xattn block.
  [[nodiscard]] double parameters(const LanguageModelSpec& lm) const;
};

// The vision encoder, a ViT run once per image or video frame.
struct VisionSpec {
  int layers = 0;                   // 0: no vision encoder
  std::int64_t width = 0, heads = 0;
  MlpSpec mlp{MlpKind::gelu, 0, true};
  bool qkv_bias = false;            // q, k, v, o biased
  std::int64_t tokens = 0;          // the encoder's sequence per image or frame
  std::int64_t output_tokens = 0;   // tokens per item it hands the projector
  std::int64_t output_width = 0;    // features per output token (Mllama: 5 + 1 layers x 1280)
  double extra_parameters = 0;      // patch, class, position and tile embeddings, pre/post norms
  int hidden_states_kept = 1;       // hidden states its forward holds at once (Mllama: 33)
  bool masked_attention = false;    // an explicit float mask: SDPA without FlashAttention

  [[nodiscard]] double layer_parameters() const;
  [[nodiscard]] double parameters() const { return layers * layer_parameters() + extra_parameters; }
  // docs/model.md eq. 19: forward FLOPs per image or frame: every layer's GEMMs and its
  // (non-causal) attention over `tokens`.
  [[nodiscard]] Flops forward_flops_per_item() const;
};

enum class ProjectorKind { none, linear, resampler };

[[nodiscard]] std::string_view to_string(ProjectorKind k);
[[nodiscard]] std::optional<ProjectorKind> parse_projector_kind(std::string_view s);

// What turns the vision encoder's output into the visual states the LM attends to: one
// linear layer (Mllama, mPLUG-Owl3) or a Perceiver resampler (OpenFlamingo).
struct ProjectorSpec {
  ProjectorKind kind = ProjectorKind::none;
  std::int64_t in_width = 0, out_width = 0;  // linear: in -> out; resampler: its width (in = out)
  bool bias = true;
  // Perceiver resampler: layers of latents attending to concat(media tokens, latents).
  int layers = 0;
  std::int64_t heads = 0, head_dim = 0, latents = 0, ffn_width = 0;

  [[nodiscard]] double parameters() const;
  // Visual tokens per item it emits, given the encoder's output tokens.
  [[nodiscard]] std::int64_t tokens_per_item(std::int64_t encoder_tokens) const {
    return kind == ProjectorKind::resampler ? latents : encoder_tokens;
  }
  // docs/model.md eq. 20: forward FLOPs per item over `encoder_tokens` input tokens.
  [[nodiscard]] Flops forward_flops_per_item(std::int64_t encoder_tokens) const;
};

struct Architecture {
  LanguageModelSpec lm;
  CrossAttentionSpec cross;
  VisionSpec vision;
  ProjectorSpec projector;

  [[nodiscard]] bool multimodal() const { return cross.kind != CrossKind::none; }
  // Visual tokens per image or frame that every cross-attention layer attends to.
  [[nodiscard]] std::int64_t tokens_per_item() const { return projector.tokens_per_item(vision.output_tokens); }
  [[nodiscard]] bool is_cross_layer(int position) const;
};

// Parameters of each part (docs/model.md §10.1). An "LM unit" is what FSDP wraps per
// decoder layer: a plain layer, or a layer with cross-attention (Mllama's CA layer; a
// hyper layer; an OpenFlamingo decoder layer with its xattn block before it).
struct ParameterCounts {
  double plain_unit = 0;      // one plain decoder layer
  double cross_unit = 0;      // one LM unit with cross-attention, all of it
  double cross_part = 0;      // of which the cross_attention part (the rest is the LM's)
  double embedding = 0, final_norm = 0, lm_head = 0;  // the LM's root unit (lm_head 0 when tied)
  double vision_layer = 0, vision = 0, vision_extra = 0;
  double projector = 0;

  [[nodiscard]] double lm_root() const { return embedding + final_norm + lm_head; }
  [[nodiscard]] double text(int plain_layers, int cross_layers) const {
    return plain_layers * plain_unit + cross_layers * cross_unit + lm_root();
  }
};

[[nodiscard]] ParameterCounts parameter_counts(const Architecture& a);
// Every parameter of the model: text model, vision encoder and projector.
[[nodiscard]] double total_parameters(const Architecture& a);

// Checks an architecture read from a scenario (workload.model as a mapping): returns the
// dotted key (under workload.model) and message of the first problem, or nothing.
struct ArchitectureProblem {
  std::string_view key;
  std::string message;
};
[[nodiscard]] std::vector<ArchitectureProblem> check_architecture(const Architecture& a);

}  // namespace xattn
