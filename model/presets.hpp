// Named presets for models, GPUs and clusters. Every figure cites its public source in
// presets.cpp; `xattn presets` lists them.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "model/architecture.hpp"
#include "model/hardware.hpp"

namespace xattn {

// A model: the whole architecture (model/architecture.hpp; what the iteration scope
// prices), and the view of it that one attention layer needs (layer scope): the
// cross-attention layer's shape and the widths of the projections that activation
// recomputation repeats (docs/model.md, §7). For a decoder-only LM the layer is its
// self-attention layer and there is no visual input.
struct ModelSpec {
  std::string name;
  std::int64_t heads = 0;             // H, query heads of a cross-attention layer
  std::int64_t kv_heads = 0;          // H_kv
  std::int64_t head_dim = 0;          // d
  std::int64_t text_hidden = 0;       // width of the text hidden state (Q projection input)
  std::int64_t visual_hidden = 0;     // width of the visual features the K/V projections read
  int layers = 0;                     // decoder layers in all
  int cross_attention_layers = 0;     // of which cross-attention (or hyper-attention)
  std::int64_t tokens_per_frame = 0;  // visual tokens per image or video frame
  std::string source;                 // where the figures come from
  Architecture arch;                  // the whole model

  [[nodiscard]] bool decoder_only() const { return !arch.multimodal(); }
};

// The model named `name` from its architecture: the layer view (heads, widths, layer
// counts, tokens per frame) is derived from `arch`, so the two always agree.
[[nodiscard]] ModelSpec describe_model(std::string name, Architecture arch, std::string source);

struct ClusterPreset {
  std::string name;
  Cluster cluster;
  std::string source;
};

[[nodiscard]] std::span<const ModelSpec> model_presets();
[[nodiscard]] std::span<const GpuSpec> gpu_presets();
[[nodiscard]] std::span<const ClusterPreset> cluster_presets();

// nullptr when the name is unknown.
[[nodiscard]] const ModelSpec* find_model(std::string_view name);
[[nodiscard]] const GpuSpec* find_gpu(std::string_view name);
[[nodiscard]] const ClusterPreset* find_cluster(std::string_view name);

// The GPU preset a CUDA device name stands for ("NVIDIA H100 80GB HBM3" -> h100-sxm), or
// nullptr when none matches.
[[nodiscard]] const GpuSpec* gpu_preset_for_device(const std::string& device_name);

// "a, b, c" — for error messages that list what would have been accepted.
[[nodiscard]] std::string model_names();
[[nodiscard]] std::string gpu_names();
[[nodiscard]] std::string cluster_names();

}  // namespace xattn
