// Parameter counts and per-item FLOPs of whole architectures (docs/model.md §10). A
// projection of K inputs to N outputs has K·N weights (+ N with a bias) and costs 2·M·K·N
// FLOPs on M tokens (eq. 21).
#include "model/architecture.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace xattn {
namespace {

double d(std::int64_t x) { return static_cast<double>(x); }

}  // namespace

std::string_view to_string(MlpKind k) { return k == MlpKind::swiglu ? "swiglu" : "gelu"; }

std::optional<MlpKind> parse_mlp_kind(std::string_view s) {
  if (s == "swiglu") return MlpKind::swiglu;
  if (s == "gelu") return MlpKind::gelu;
  return std::nullopt;
}

std::string_view to_string(CrossKind k) {
  switch (k) {
    case CrossKind::none: return "none";
    case CrossKind::cross_layer: return "cross-layer";
    case CrossKind::hyper: return "hyper";
    case CrossKind::gated_block: return "gated-block";
  }
  return "?";
}

std::optional<CrossKind> parse_cross_kind(std::string_view s) {
  if (s == "none") return CrossKind::none;
  if (s == "cross-layer") return CrossKind::cross_layer;
  if (s == "hyper") return CrossKind::hyper;
  if (s == "gated-block") return CrossKind::gated_block;
  return std::nullopt;
}

std::string_view to_string(ProjectorKind k) {
  switch (k) {
    case ProjectorKind::none: return "none";
    case ProjectorKind::linear: return "linear";
    case ProjectorKind::resampler: return "resampler";
  }
  return "?";
}

std::optional<ProjectorKind> parse_projector_kind(std::string_view s) {
  if (s == "none") return ProjectorKind::none;
  if (s == "linear") return ProjectorKind::linear;
  if (s == "resampler") return ProjectorKind::resampler;
  return std::nullopt;
}

// SwiGLU: gate and up (h x f each), down (f x h); GELU: fc1 (h x f), fc2 (f x h). Biases on
// every matrix's output when `bias`.
double MlpSpec::parameters(std::int64_t hidden) const {
  const double h = d(hidden), f = d(width);
  const double weights = matrices() * h * f;
  const double biases = !bias ? 0.0 : (kind == MlpKind::swiglu ? 2.0 * f + h : f + h);
  return weights + biases;
}

double LanguageModelSpec::norm_parameters() const { return norm == NormKind::layer ? 2.0 * d(hidden) : d(hidden); }

double LanguageModelSpec::layer_parameters() const {
  const double h = d(hidden), q = d(heads * head_dim), kv = d(kv_heads * head_dim);
  const bool b_qkv = qkv_bias || bias;
  const double attention = h * q + 2.0 * h * kv + q * h + (b_qkv ? q + 2.0 * kv : 0.0) + (bias ? h : 0.0);
  return attention + mlp.parameters(hidden) + 2.0 * norm_parameters();
}

double CrossAttentionSpec::parameters(const LanguageModelSpec& lm) const {
  const double h = d(lm.hidden), q = d(heads * head_dim), kv = d(kv_heads * head_dim), v = d(kv_input);
  const double dh = d(head_dim);
  switch (kind) {
    case CrossKind::none: return 0.0;
    case CrossKind::cross_layer:
      // q, k, v, o; per-head q_norm and k_norm (RMS, d each); the attention and MLP tanh
      // gates (one scalar each); the LM's MLP and two norms.
      return h * q + 2.0 * v * kv + q * h + 2.0 * dh + 2.0 + lm.mlp.parameters(lm.hidden) + 2.0 * lm.norm_parameters();
    case CrossKind::hyper:
      // v_kv_proj (v -> 2·H_kv·d, biased) and the per-head gate Linear(d, d) with bias.
      return v * 2.0 * kv + (kv_bias ? 2.0 * kv : 0.0) + dh * dh + dh;
    case CrossKind::gated_block:
      // LayerNorm, to_q, to_kv, to_out (no biases), LayerNorm + FFN, two tanh gates.
      return 2.0 * h + h * q + v * 2.0 * kv + q * h + 2.0 * h + mlp.parameters(lm.hidden) + 2.0;
  }
  return 0.0;
}

double VisionSpec::layer_parameters() const {
  const double w = d(width);
  return 4.0 * w * w + (qkv_bias ? 4.0 * w : 0.0) + mlp.parameters(width) + 4.0 * w;  // + two LayerNorms
}

// eq. 19: per item, layers x (2·T·(4w² + m·w·f) + 4·T²·w): the GEMMs of every weight matrix
// over T tokens, and non-causal attention over all heads (H·d = w).
Flops VisionSpec::forward_flops_per_item() const {
  if (layers <= 0) return Flops(0);
  const double w = d(width), T = d(tokens);
  const double gemm = 2.0 * T * (4.0 * w * w + mlp.matrices() * w * d(mlp.width));
  const double attention = 4.0 * T * T * w;
  return Flops(layers * (gemm + attention));
}

double ProjectorSpec::parameters() const {
  switch (kind) {
    case ProjectorKind::none: return 0.0;
    case ProjectorKind::linear: return d(in_width) * d(out_width) + (bias ? d(out_width) : 0.0);
    case ProjectorKind::resampler: {
      const double w = d(out_width), a = d(heads * head_dim);
      // Per layer: LayerNorms of media and latents, to_q, to_kv, to_out, LayerNorm + FFN
      // (no biases); then the learned latents and a final LayerNorm.
      const double layer = 2.0 * w + 2.0 * w + w * a + w * 2.0 * a + a * w + 2.0 * w + 2.0 * w * d(ffn_width);
      return layers * layer + d(latents) * w + 2.0 * w;
    }
  }
  return 0.0;
}

// eq. 20: linear: 2·T·in·out. Resampler, per layer, with L latents over T media tokens and
// a = heads·head_dim: q 2·L·w·a, k and v over media and latents 2·(T+L)·w·2a, attention
// 4·L·(T+L)·a, out 2·L·a·w, FFN 2·2·L·w·ffn.
Flops ProjectorSpec::forward_flops_per_item(std::int64_t encoder_tokens) const {
  const double T = d(encoder_tokens);
  switch (kind) {
    case ProjectorKind::none: return Flops(0);
    case ProjectorKind::linear: return Flops(2.0 * T * d(in_width) * d(out_width));
    case ProjectorKind::resampler: {
      const double w = d(out_width), a = d(heads * head_dim), L = d(latents);
      const double layer = 2.0 * L * w * a + 2.0 * (T + L) * w * 2.0 * a + 4.0 * L * (T + L) * a + 2.0 * L * a * w +
                           4.0 * L * w * d(ffn_width);
      return Flops(layers * layer);
    }
  }
  return Flops(0);
}

bool Architecture::is_cross_layer(int position) const {
  return std::binary_search(cross.layers.begin(), cross.layers.end(), position);
}

ParameterCounts parameter_counts(const Architecture& a) {
  ParameterCounts p;
  const LanguageModelSpec& lm = a.lm;
  p.plain_unit = lm.layer_parameters();
  p.cross_part = a.cross.parameters(lm);
  switch (a.cross.kind) {
    case CrossKind::none: p.cross_unit = 0; break;
    case CrossKind::cross_layer: p.cross_unit = p.cross_part; break;
    case CrossKind::hyper:
    case CrossKind::gated_block: p.cross_unit = p.plain_unit + p.cross_part; break;
  }
  p.embedding = d(lm.embedding_rows) * d(lm.hidden);
  p.final_norm = lm.norm_parameters();
  p.lm_head = lm.tied ? 0.0 : d(lm.vocab) * d(lm.hidden);
  p.vision_layer = a.vision.layers > 0 ? a.vision.layer_parameters() : 0.0;
  p.vision_extra = a.vision.layers > 0 ? a.vision.extra_parameters : 0.0;
  p.vision = a.vision.layers * p.vision_layer + p.vision_extra;
  p.projector = a.projector.parameters();
  return p;
}

double total_parameters(const Architecture& a) {
  const ParameterCounts p = parameter_counts(a);
  // Every LM position holds one unit: a cross unit at the listed positions (which, for
  // hyper layers and gated blocks, includes the decoder layer), a plain layer elsewhere.
  const int cross = a.cross.count();
  return p.text(a.lm.layers - cross, cross) + p.vision + p.projector;
}

std::vector<ArchitectureProblem> check_architecture(const Architecture& a) {
  std::vector<ArchitectureProblem> out;
  auto positive = [&](std::string_view key, std::int64_t v) {
    if (v <= 0) out.push_back({key, fmt::format("must be positive, got {}", v)});
  };
  const LanguageModelSpec& lm = a.lm;
  positive("lm.layers", lm.layers);
  positive("lm.hidden", lm.hidden);
  positive("lm.heads", lm.heads);
  positive("lm.kv_heads", lm.kv_heads);
  positive("lm.head_dim", lm.head_dim);
  positive("lm.mlp_width", lm.mlp.width);
  positive("lm.vocab", lm.vocab);
  if (lm.heads > 0 && lm.kv_heads > 0 && lm.heads % lm.kv_heads != 0)
    out.push_back({"lm.kv_heads", fmt::format("query heads ({}) must be a multiple of key/value heads ({})", lm.heads,
                                              lm.kv_heads)});
  if (lm.embedding_rows < lm.vocab)
    out.push_back({"lm.embedding_rows", fmt::format("must be at least the vocabulary ({}), got {}", lm.vocab,
                                                    lm.embedding_rows)});
  if (a.cross.kind == CrossKind::none) {
    if (a.vision.layers > 0 || a.projector.kind != ProjectorKind::none)
      out.push_back({"cross_attention", "a model with a vision encoder or a projector needs cross-attention layers"});
    return out;
  }
  const CrossAttentionSpec& c = a.cross;
  positive("cross_attention.heads", c.heads);
  positive("cross_attention.kv_heads", c.kv_heads);
  positive("cross_attention.head_dim", c.head_dim);
  positive("cross_attention.kv_input", c.kv_input);
  if (c.heads > 0 && c.kv_heads > 0 && c.heads % c.kv_heads != 0)
    out.push_back({"cross_attention.kv_heads",
                   fmt::format("query heads ({}) must be a multiple of key/value heads ({})", c.heads, c.kv_heads)});
  if (c.kind == CrossKind::gated_block) positive("cross_attention.mlp_width", c.mlp.width);
  if (c.kind == CrossKind::hyper && (c.heads != lm.heads || c.head_dim != lm.head_dim))
    out.push_back({"cross_attention.heads", "a hyper-attention layer shares its queries with self-attention: its "
                                            "heads and head_dim must be the LM's"});
  if (c.layers.empty()) out.push_back({"cross_attention.layers", "lists no layer"});
  for (std::size_t i = 0; i < c.layers.size(); ++i) {
    if (c.layers[i] < 0 || c.layers[i] >= lm.layers) {
      out.push_back({"cross_attention.layers",
                     fmt::format("position {} is outside the LM's layers 0..{}", c.layers[i], lm.layers - 1)});
      break;
    }
    if (i > 0 && c.layers[i] <= c.layers[i - 1]) {
      out.push_back({"cross_attention.layers", "positions must be ascending and distinct"});
      break;
    }
  }
  positive("vision.layers", a.vision.layers);
  positive("vision.width", a.vision.width);
  positive("vision.heads", a.vision.heads);
  positive("vision.mlp_width", a.vision.mlp.width);
  positive("vision.tokens", a.vision.tokens);
  positive("vision.output_tokens", a.vision.output_tokens);
  positive("vision.output_width", a.vision.output_width);
  if (a.projector.kind == ProjectorKind::none) out.push_back({"projector.kind", "linear or resampler"});
  positive("projector.out_width", a.projector.out_width);
  if (a.projector.kind == ProjectorKind::linear) positive("projector.in_width", a.projector.in_width);
  if (a.projector.kind == ProjectorKind::resampler) {
    positive("projector.layers", a.projector.layers);
    positive("projector.heads", a.projector.heads);
    positive("projector.head_dim", a.projector.head_dim);
    positive("projector.latents", a.projector.latents);
    positive("projector.ffn_width", a.projector.ffn_width);
  }
  if (a.projector.out_width > 0 && c.kv_input > 0 && a.projector.out_width != c.kv_input)
    out.push_back({"cross_attention.kv_input", fmt::format("the projector emits {} features per token, the K/V "
                                                           "projections read {}",
                                                           a.projector.out_width, c.kv_input)});
  return out;
}

}  // namespace xattn
