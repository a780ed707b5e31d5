// `xattn presets`: the model, GPU and cluster presets a scenario can name, with their key
// figures and where they come from (model/presets.cpp): each model's cross-attention layer,
// its whole architecture (what one training step runs), the GPUs and the clusters.
#include <iterator>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/command.hpp"
#include "model/presets.hpp"

namespace xattn::cli {
namespace {

constexpr double kGiB = 1073741824.0;

std::string render_presets(const std::string& only) {
  fmt::memory_buffer b;
  auto out = std::back_inserter(b);
  bool all = only.empty();

  if (all || only == "models") {
    fmt::format_to(out, "# models (workload.model): one cross-attention layer's shape\n");
    fmt::format_to(out, "{:<22} {:>5} {:>5} {:>5} {:>7} {:>7} {:>9} {:>12}  {}\n", "# name", "H", "H_kv", "d",
                   "text_h", "vis_h", "CA/layers", "tokens/frame", "source");
    for (const auto& m : model_presets())
      fmt::format_to(out, "{:<22} {:>5} {:>5} {:>5} {:>7} {:>7} {:>9} {:>12}  {}\n", m.name, m.heads, m.kv_heads,
                     m.head_dim, m.text_hidden, m.visual_hidden,
                     fmt::format("{}/{}", m.cross_attention_layers, m.layers), m.tokens_per_frame, m.source);
    fmt::format_to(out, "\n");
  }
  if (all || only == "architectures") {
    // The whole model the iteration scope prices (docs/model.md §10; ITERATION.md §1).
    fmt::format_to(out, "# architectures (workload.model): the whole model one training step runs\n");
    fmt::format_to(out, "{:<22} {:>8} {:>6} {:>6} {:>12} {:>14} {:>7}  {:<24} {:<26} {}\n", "# name", "params",
                   "layers", "hidden", "H/H_kv/d", "MLP", "vocab", "cross-attention", "vision encoder", "projector");
    fmt::format_to(out, "{:<22} {:>8}\n", "#", "(B)");
    for (const auto& m : model_presets()) {
      const Architecture& a = m.arch;
      const LanguageModelSpec& lm = a.lm;
      std::string cross = "-", vision = "-", projector = "-";
      if (a.multimodal()) {
        std::string at;
        for (int l : a.cross.layers) at += (at.empty() ? "" : ",") + std::to_string(l);
        cross = fmt::format("{} x{} {}/{}/{}", to_string(a.cross.kind), a.cross.count(), a.cross.heads,
                            a.cross.kv_heads, a.cross.head_dim);
        if (a.vision.layers > 0)
          vision = fmt::format("{} x {}, {} tok -> {}", a.vision.layers, a.vision.width, a.vision.tokens,
                               a.tokens_per_item());
        if (a.projector.kind == ProjectorKind::linear)
          projector = fmt::format("linear {} -> {}", a.projector.in_width, a.projector.out_width);
        else if (a.projector.kind == ProjectorKind::resampler)
          projector = fmt::format("resampler {} layers, {} latents", a.projector.layers, a.projector.latents);
        cross += " at " + at;
      }
      fmt::format_to(out, "{:<22} {:>8.3f} {:>6} {:>6} {:>12} {:>14} {:>7}  {:<24} {:<26} {}\n", m.name,
                     total_parameters(a) * 1e-9, lm.layers, lm.hidden,
                     fmt::format("{}/{}/{}", lm.heads, lm.kv_heads, lm.head_dim),
                     fmt::format("{} {}", to_string(lm.mlp.kind), lm.mlp.width), lm.vocab, cross, vision, projector);
    }
    fmt::format_to(out, "\n");
  }
  if (all || only == "gpus") {
    fmt::format_to(out, "# GPUs (cluster.gpu): datasheet figures, dense\n");
    fmt::format_to(out, "{:<12} {:>12} {:>12} {:>10} {:>9} {:>5}\n", "# name", "fp16 TFLOP/s", "fp32 TFLOP/s",
                   "HBM GB/s", "mem GiB", "SMs");
    for (const auto& g : gpu_presets())
      fmt::format_to(out, "{:<12} {:>12.1f} {:>12.1f} {:>10.0f} {:>9.1f} {:>5}\n", g.name, g.peak_fp16.value() * 1e-12,
                     g.peak_fp32.value() * 1e-12, to_gigabytes_per_second(g.hbm), g.memory.value() / kGiB, g.sms);
    fmt::format_to(out, "\n");
  }
  if (all || only == "clusters") {
    fmt::format_to(out, "# clusters (cluster.preset): bandwidths per direction; inter-node per NIC\n");
    fmt::format_to(out, "{:<16} {:>10} {:>6} {:>9} {:>14} {:>10} {:>9} {:>10} {:>9} {:>9}  {}\n", "# name", "gpu",
                   "nodes", "gpus/node", "intra", "intra GB/s", "intra us", "inter GB/s", "inter us", "NICs/node",
                   "source");
    for (const auto& p : cluster_presets()) {
      const Cluster& c = p.cluster;
      fmt::format_to(out, "{:<16} {:>10} {:>6} {:>9} {:>14} {:>10g} {:>9g} {:>10g} {:>9g} {:>9}  {}\n", p.name,
                     c.gpu.name, c.nodes, c.gpus_per_node, to_string(c.intra_kind),
                     to_gigabytes_per_second(c.intra.bandwidth), to_microseconds(c.intra.latency),
                     to_gigabytes_per_second(c.inter.bandwidth), to_microseconds(c.inter.latency), c.nics_per_node,
                     p.source);
    }
  }
  return fmt::to_string(b);
}

}  // namespace

void add_presets(CLI::App& app, Commands& commands) {
  auto only = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand(
      "presets", "List the model (layer and whole architecture), GPU and cluster presets, their figures and sources");
  sub->add_option("KIND", *only, "Only this kind: models, architectures, gpus or clusters (default: all)")
      ->check(CLI::IsMember({"models", "architectures", "gpus", "clusters"}));
  commands.add(sub, [only](Io& io) {
    io.out << render_presets(*only) << std::flush;
    return 0;
  });
}

}  // namespace xattn::cli
