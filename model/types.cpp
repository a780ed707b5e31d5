#include "model/types.hpp"

namespace xattn {

int bytes_per_element(DType t) {
  switch (t) {
    case DType::fp16:
    case DType::bf16: return 2;
    case DType::fp32: return 4;
  }
  return 0;
}

std::string_view to_string(DType t) {
  switch (t) {
    case DType::fp16: return "fp16";
    case DType::bf16: return "bf16";
    case DType::fp32: return "fp32";
  }
  return "?";
}

std::optional<DType> parse_dtype(std::string_view s) {
  if (s == "fp16" || s == "float16") return DType::fp16;
  if (s == "bf16" || s == "bfloat16") return DType::bf16;
  if (s == "fp32" || s == "float32") return DType::fp32;
  return std::nullopt;
}

std::string_view to_string(Pass p) {
  switch (p) {
    case Pass::fwd: return "fwd";
    case Pass::bwd: return "bwd";
    case Pass::fwd_bwd: return "fwd+bwd";
  }
  return "?";
}

std::optional<Pass> parse_pass(std::string_view s) {
  if (s == "fwd") return Pass::fwd;
  if (s == "bwd") return Pass::bwd;
  if (s == "fwd+bwd") return Pass::fwd_bwd;
  return std::nullopt;
}

std::string_view to_string(Scope s) { return s == Scope::iteration ? "iteration" : "layer"; }

std::optional<Scope> parse_scope(std::string_view s) {
  if (s == "layer") return Scope::layer;
  if (s == "iteration") return Scope::iteration;
  return std::nullopt;
}

std::string_view to_string(Mask m) {
  switch (m) {
    case Mask::dense: return "dense";
    case Mask::causal: return "causal";
    case Mask::media_local: return "media-local";
  }
  return "?";
}

std::optional<Mask> parse_mask(std::string_view s) {
  if (s == "dense") return Mask::dense;
  if (s == "causal") return Mask::causal;
  if (s == "media-local") return Mask::media_local;
  return std::nullopt;
}

Flops AttentionShape::forward_flops() const {
  double f = 4.0 * static_cast<double>(batch) * static_cast<double>(heads) *
             static_cast<double>(q_tokens) * static_cast<double>(kv_tokens) *
             static_cast<double>(head_dim);
  if (mask == Mask::causal) f *= 0.5;
  return Flops(f);
}

}  // namespace xattn
