// The LV-XAttn reproduction (reproduce.hpp): the paper's set-ups as scenarios, evaluated
// with the closed form — one training step (model/iteration.hpp) for cross-attention and
// end-to-end times, one attention layer (model/analytic.hpp) for the layer-level claims —
// beside the figures the paper reports (ITERATION.md §6 lists them with their sources and
// our confidence in each). docs/reproduction.md explains every row.
#include "sim/reproduce.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "model/analytic.hpp"
#include "model/iteration.hpp"
#include "model/kernel_model.hpp"
#include "model/presets.hpp"
#include "model/scenario/scenario_file.hpp"
#include "model/scenario/scenario_input.hpp"

namespace xattn::sim {
namespace {

// The paper's clusters (ITERATION.md §6, [LV:sum]) are cluster presets; the harness is
// training.preset lv-xattn-paper (ITERATION.md §5: fp16, FSDP full shard over every GPU,
// one SP group of them all, Ring self-attention as coded, the cross-attention recompute
// wrapper, no optimizer). Each set-up below overrides the workload (and the GPU count)
// with --set keys, exactly as a user would.
constexpr const char* kCluster1Llama = R"(name: lv-xattn-cluster1
description: LV-XAttn set-up 1, Llama-3.2-11B-Vision on 16 x A100-80GB, the authors' harness
workload: {model: llama-3.2-11b-vision, batch: 1, text_tokens: 1008, frames: 192, dtype: fp16}
cluster: {preset: lvxattn-16xa100}
training: {preset: lv-xattn-paper}
)";

constexpr const char* kCluster2 = R"(name: lv-xattn-cluster2
description: LV-XAttn set-up 2, 8 x A30-24GB, one GPU per node, 1.25 GB/s, the authors' harness
workload: {model: mplug-owl3-7b, batch: 1, text_tokens: 2048, frames: 1024, dtype: fp16}
cluster: {preset: lvxattn-8xa30}
training: {preset: lv-xattn-paper}
)";

constexpr const char* kCluster3 = R"(name: lv-xattn-cluster3
description: LV-XAttn set-up 3, A100-40GB nodes of 3 on PCIe, 25 GB/s between nodes
workload: {model: openflamingo-3b, batch: 1, text_tokens: 2048, frames: 8192, dtype: fp16}
cluster: {preset: lvxattn-12xa100, nodes: 2}
)";

constexpr const char* kOneA100 = R"(name: one-a100
description: one A100-80GB
workload: {model: llama-3.2-11b-vision, batch: 1, text_tokens: 2048, frames: 1200, dtype: fp16}
cluster: {gpu: a100-80gb, nodes: 1, gpus_per_node: 1}
)";

constexpr Mechanism kLv{MechanismKind::lv_xattn, 0};
constexpr Mechanism kRing{MechanismKind::ring, 0};
constexpr Mechanism kUlysses{MechanismKind::ulysses, 0};
constexpr Mechanism kNoComm{MechanismKind::no_comm, 0};

Scenario setup(const char* yaml, const std::vector<std::string>& overrides) {
  ScenarioSpec spec = parse_scenario_spec(yaml, "xattn reproduce lv-xattn");
  apply_overrides(spec, overrides);
  return resolve(spec);
}

// One training step (fwd+bwd) under a cross-attention mechanism; nullopt when it cannot run.
std::optional<IterationEstimate> step(const Scenario& s, const Mechanism& m) {
  IterationEstimate e = estimate_iteration(s, m, Pass::fwd_bwd);
  if (!e.feasible) return std::nullopt;
  return e;
}

std::optional<double> ratio(const std::optional<double>& a, const std::optional<double>& b) {
  if (!a || !b || !(*b > 0)) return std::nullopt;
  return *a / *b;
}

std::optional<double> time_of(const std::optional<IterationEstimate>& e) {
  return e ? std::optional<double>(e->time.value()) : std::nullopt;
}

std::optional<double> cross_of(const std::optional<IterationEstimate>& e) {
  return e ? std::optional<double>(e->breakdown.cross_attention.value()) : std::nullopt;
}

std::string cluster_text(const std::string& label, const Scenario& s, const std::string& preset) {
  const Cluster& c = s.cluster;
  const ClusterPreset* p = find_cluster(preset);
  std::string text = fmt::format("{} ({}): {} node(s) x {} {}", label, preset, c.nodes, c.gpus_per_node, c.gpu.name);
  if (c.gpus_per_node > 1)
    text += fmt::format(", {} {:g} GB/s per direction inside a node", to_string(c.intra_kind),
                        to_gigabytes_per_second(c.intra.bandwidth));
  if (c.nodes > 1)
    text += fmt::format(", {:g} GB/s per NIC between nodes ({} NIC(s) per node), {:g} us", to_gigabytes_per_second(c.inter.bandwidth),
                        c.nics_per_node, to_microseconds(c.inter.latency));
  text += fmt::format("; nominal figures, not fitted; source: {}", p != nullptr ? p->source : "-");
  return text;
}

}  // namespace

Reproduction reproduce_lv_xattn() {
  Reproduction r;
  r.paper = "LV-XAttn: Distributed Cross-Attention for Long Visual Inputs in Multimodal Large Language Models "
            "(Chang & Venkataraman, ICML 2025; arXiv 2502.02406)";
  auto row = [&](std::string setup, const Scenario& s, std::string metric, std::optional<double> paper,
                 std::string paper_note, std::optional<double> predicted, std::string note) {
    r.rows.push_back({std::move(setup), s.model.name, s.ranks(), std::move(metric), paper, std::move(paper_note),
                      predicted, std::move(note)});
  };
  const std::string not_reported = "not in our sources: the paper's tables give speedups; per-row times were not recovered";

  // ---- cluster 1: Llama-3.2-11B-Vision, the three shapes of the authors' harness ---------
  // (S_q, frames) in {(1008, 192), (2032, 192), (2032, 384)}: 63 or 127 text tokens and 12 or
  // 24 images per GPU (code:LV test_llama3.py and its previous commit; ITERATION.md §5).
  struct Shape {
    std::int64_t text, frames;
  };
  const Shape shapes[] = {{1008, 192}, {2032, 192}, {2032, 384}};
  const Scenario base1 = setup(kCluster1Llama, {});
  for (const Shape& sh : shapes) {
    const Scenario s = setup(kCluster1Llama, {fmt::format("workload.text_tokens={}", sh.text),
                                              fmt::format("workload.frames={}", sh.frames)});
    const std::string name = fmt::format("cluster 1, S_q {}, {} images (S_kv {})", sh.text, sh.frames, s.shape.kv_tokens);
    const auto lv = step(s, kLv), ring = step(s, kRing);
    row(name, s, "cross-attention time per step, LV-XAttn (s)", std::nullopt, not_reported, cross_of(lv),
        "the 8 cross-attention layers forward and backward with their q, k, v projections, as the harness's CA "
        "timer brackets them");
    row(name, s, "cross-attention time per step, Ring (s)", std::nullopt, not_reported, cross_of(ring),
        "Ring as the harness runs it: K/V expanded to all 32 query heads before the ring");
    row(name, s, "end-to-end time per step, LV-XAttn (s)", std::nullopt, not_reported, time_of(lv),
        "forward (vision encoder, projector, LM, loss) + backward, no optimizer: what the harness times");
    row(name, s, "end-to-end time per step, Ring (s)", std::nullopt, not_reported, time_of(ring), "");
    const bool first = sh.text == 1008;
    const bool largest = sh.frames == 384;
    row(name, s, "cross-attention speedup of LV-XAttn over Ring (x)", first ? std::optional<double>(27.59) : std::nullopt,
        first ? "up to: the top of Table 3's range 1.47-27.59x (cluster 1, all models; LV:sum, one summary)"
              : "Table 3's per-row value not in our sources",
        ratio(cross_of(ring), cross_of(lv)),
        first ? "assigned to the shortest text: Ring's cross-attention time is moving K/V (grows with S_kv), "
                "LV-XAttn's is computing (grows with S_q x S_kv), so their ratio falls as S_q grows; the top of "
                "the range may belong to another model of Table 3"
              : "");
    row(name, s, "end-to-end speedup of LV-XAttn over Ring (x)", largest ? std::optional<double>(10.62) : std::nullopt,
        largest ? "up to: the maximum over the paper's set-ups (abstract v3; the authors' README)"
                : "Table 3's per-row value not in our sources",
        ratio(time_of(ring), time_of(lv)),
        largest ? "assigned to the most images: by Amdahl the end-to-end speedup grows with Ring's cross-attention "
                  "share of the step, which is largest where the visual context is; Ring as coded (K/V expanded)"
                : "");
    if (first)
      row(name, s, "Ring's cross-attention share of the step (%)", 88.0,
          "up to: the paper's motivation (an MLLM under Ring; which one and which set-up are not stated)",
          ring ? std::optional<double>(100.0 * ring->breakdown.cross_attention / ring->time) : std::nullopt,
          "the paper's first Llama set-up, as the harness runs it");
    if (largest) {
      // A fair comparison: true training (GQA-native K/V in Ring, zero3, full
      // checkpointing, AdamW), ITERATION.md §6's "fair GQA-native Ring".
      const Scenario t = setup(kCluster1Llama, {fmt::format("workload.text_tokens={}", sh.text),
                                                fmt::format("workload.frames={}", sh.frames), "training.preset=none"});
      row(name, t, "end-to-end speedup over Ring in true training (x)", std::nullopt,
          "the paper times its harness only", ratio(time_of(step(t, kRing)), time_of(step(t, kLv))),
          "xattn's default training step instead of the harness: Ring moves K/V at their 8 heads (GQA-native), "
          "full checkpointing, gradients to every trainable weight, AdamW step");
    }
  }
  {
    const Architecture& a = base1.model.arch;
    const LanguageModelSpec& lm = a.lm;
    const CrossAttentionSpec& c = a.cross;
    // q_proj and o_proj (h x H d), k_proj and v_proj (kv_input x H_kv d), per cross-attention layer.
    const double attention = c.count() * (2.0 * static_cast<double>(lm.hidden * c.heads * c.head_dim) +
                                          2.0 * static_cast<double>(c.kv_input * c.kv_heads * c.head_dim));
    row("Llama-3.2-11B-Vision (the model alone)", base1, "cross-attention sublayers' share of the parameters (%)", 3.0,
        "one figure: 'cross-attention layers are 3% of the parameters' (LV:sum)",
        100.0 * attention / total_parameters(a),
        "the q, k, v, o projections of the 8 cross-attention layers over all 10.67B parameters; whole "
        "cross-attention layers (with their MLPs) are 16.4%");
  }

  // ---- cluster 2: 8 x A30, one per node, 1.25 GB/s ----------------------------------------
  {
    const Scenario owl = setup(kCluster2, {});
    const Scenario of = setup(kCluster2, {"workload.model=openflamingo-3b", "workload.frames=8192"});
    const std::string owl_name = "cluster 2, S_q 2048, 1024 frames (shape assumed)";
    const std::string of_name = "cluster 2, S_q 2048, 8192 frames (shape assumed)";
    const auto owl_lv = step(owl, kLv), owl_ring = step(owl, kRing);
    const auto of_lv = step(of, kLv), of_ring = step(of, kRing);
    const std::string shape_note =
        "the paper's Table 4 shapes are not in our sources: the shipped scenario's shape, the harness's semantics "
        "applied to a model it was not written for";
    row(owl_name, owl, "cross-attention speedup of LV-XAttn over Ring (x)", 45.85,
        "up to: the top of Table 4's range 3.97-45.85x (cluster 2; LV:sum); LV:ko attributes 45.85x to mPLUG-Owl3",
        ratio(cross_of(owl_ring), cross_of(owl_lv)), shape_note);
    row(owl_name, owl, "end-to-end speedup of LV-XAttn over Ring (x)", std::nullopt,
        "Table 4's per-row value not in our sources", ratio(time_of(owl_ring), time_of(owl_lv)), shape_note);
    row(of_name, of, "cross-attention speedup of LV-XAttn over Ring (x)", std::nullopt,
        "Table 4's per-row value not in our sources", ratio(cross_of(of_ring), cross_of(of_lv)), shape_note);
    row(of_name, of, "end-to-end speedup of LV-XAttn over Ring (x)", 3.45,
        "up to: the top of Table 4's range 1.04-3.45x (LV:sum); LV:ko gives OpenFlamingo 3.47x, the nearest figure",
        ratio(time_of(of_ring), time_of(of_lv)), shape_note);
    // v1/v2's 5.58x: mPLUG-Owl3 and OpenFlamingo only, hardware not stated; LV:ko says 8 x A100.
    const Scenario owl8 = setup(kCluster1Llama, {"workload.model=mplug-owl3-7b", "workload.text_tokens=2048",
                                                 "workload.frames=1024", "cluster.nodes=2"});
    row("2 nodes of cluster 1 (8 x A100-80GB), S_q 2048, 1024 frames (assumed)", owl8,
        "end-to-end speedup of LV-XAttn over Ring (x)", 5.58,
        "up to: abstracts v1/v2, over mPLUG-Owl3 and OpenFlamingo runs (LV:abs); hardware not stated there, "
        "'8 x A100' per LV:ko (low confidence)",
        ratio(time_of(step(owl8, kRing)), time_of(step(owl8, kLv))),
        "assigned to mPLUG-Owl3 on 8 A100s as LV:ko says; the shape is assumed");
  }

  // ---- cluster 3: OpenFlamingo-3B on 6 GPUs, how close LV-XAttn comes to no communication --
  {
    std::optional<double> worst;
    Scenario last;
    for (std::int64_t text : {1024, 2048, 4096}) {
      last = setup(kCluster3, {fmt::format("workload.text_tokens={}", text)});
      const Estimate lv = estimate(last, kLv, Pass::fwd_bwd), floor = estimate(last, kNoComm, Pass::fwd_bwd);
      if (!lv.feasible || !floor.feasible) continue;
      const double above = 100.0 * (lv.time / floor.time - 1.0);
      worst = std::max(worst.value_or(above), above);
    }
    row("2 nodes of cluster 3 (6 x A100-40GB on PCIe), S_q 1024, 2048, 4096, 8192 frames (assumed)", last,
        "LV-XAttn's cross-attention layer time above no communication, worst of three text lengths (%)", 0.42,
        "up to: 'within 0.42%' over three text lengths (Fig. 5; LV:sum)", worst,
        "one cross-attention layer, forward and backward (layer scope); the text lengths and frames are assumed");
  }

  // ---- Table 5: LV-XAttn against DeepSpeed-Ulysses, mPLUG-Owl3-2B on A100s ---------------
  {
    std::optional<double> lo, hi;
    Scenario at16;
    for (int gpus : {4, 12, 16}) {
      const int nodes = gpus / 4;
      const Scenario s = setup(kCluster1Llama, {"workload.model=mplug-owl3-2b", "workload.text_tokens=2048",
                                                "workload.frames=1024", fmt::format("cluster.nodes={}", nodes)});
      const auto lv = step(s, kLv), uly = step(s, kUlysses);
      const std::string name = fmt::format("{} x A100-80GB of cluster 1, S_q 2048, 1024 frames (assumed)", gpus);
      if (gpus == 16) {
        at16 = s;
        const IterationEstimate why = estimate_iteration(s, kUlysses, Pass::fwd_bwd);
        row(name, s, "end-to-end time per step, Ulysses (s)", std::nullopt,
            "the paper: Ulysses cannot run where LV-XAttn still does", time_of(uly),
            uly ? "" : "infeasible here: " + why.reason);
        continue;
      }
      row(name, s, "end-to-end time per step, LV-XAttn (s)", std::nullopt, not_reported, time_of(lv), "");
      row(name, s, "end-to-end time per step, Ulysses (s)", std::nullopt, not_reported, time_of(uly), "");
      const auto speedup = ratio(time_of(uly), time_of(lv));
      if (speedup) {
        lo = std::min(lo.value_or(*speedup), *speedup);
        hi = std::max(hi.value_or(*speedup), *speedup);
      }
    }
    const std::string name = "4 and 12 x A100-80GB of cluster 1, S_q 2048, 1024 frames (assumed)";
    const std::string note = "Table 5's GPU counts and shapes are not in our sources: 4 and 12 GPUs divide the "
                             "model's 12 query heads, as Ulysses needs";
    row(name, at16, "end-to-end speedup of LV-XAttn over Ulysses, smallest over GPU counts (x)", 1.34,
        "the low end of the range 1.34-1.55x (Table 5; LV:sum)", lo, note);
    row(name, at16, "end-to-end speedup of LV-XAttn over Ulysses, largest over GPU counts (x)", 1.55,
        "the high end of the range 1.34-1.55x (Table 5; LV:sum)", hi, note);
  }

  // ---- layer-level claims --------------------------------------------------------------
  {
    // "One cross-attention layer needs more than 234 GB, even with FlashAttention":
    // Llama-3-V, a 20-minute video, 2048 text tokens, on one GPU.
    const Scenario s = setup(kOneA100, {});
    const Estimate e = estimate(s, kNoComm, Pass::fwd_bwd);
    row("one A100-80GB, S_q 2048, 1200 frames (20 minutes at 1 frame/s, assumed)", s,
        "memory of one cross-attention layer, forward and backward (GB)", 234.0,
        "a lower bound: 'more than 234 GB, even with FlashAttention' (LV:sum)",
        e.feasible ? std::optional<double>(e.memory.total().value() * 1e-9) : std::nullopt,
        "the layer's working set at its 8 K/V heads (inputs, outputs, buffers, what the backward keeps), weights "
        "excluded (docs/model.md §8)");
  }
  {
    // LV-XAttn's communication against Ring's at the Video-MME averages (2386 s of video at
    // 1 frame/s; 3128 words ~ 5514 tokens; ITERATION.md §6 row 12).
    const Scenario s = setup(kCluster1Llama, {"workload.text_tokens=5514", "workload.frames=2386"});
    const Estimate lv = estimate(s, kLv, Pass::fwd), ring = estimate(s, kRing, Pass::fwd);
    row("cluster 1, S_q 5514, 2386 frames (S_kv 15,279,944: the Video-MME averages)", s,
        "LV-XAttn's bytes sent per GPU over Ring's, one layer forward (%)", 0.04, "about: one figure (LV:sum)",
        lv.feasible && ring.feasible ? std::optional<double>(100.0 * lv.bytes_per_rank / ring.bytes_per_rank)
                                     : std::nullopt,
        "layer scope; Ring's K/V at their 8 heads (GQA-native)");
  }

  // ---- what the predictions assume ----------------------------------------------------
  const Scenario c2 = setup(kCluster2, {});
  const Scenario c3 = setup(kCluster3, {});
  r.assumptions.push_back(cluster_text("cluster 1", base1, "lvxattn-16xa100"));
  r.assumptions.push_back(cluster_text("cluster 2", c2, "lvxattn-8xa30"));
  r.assumptions.push_back(cluster_text("cluster 3", c3, "lvxattn-12xa100"));
  const ComputeCalibration& cc = base1.calibration.compute;
  r.assumptions.push_back(fmt::format(
      "attention kernels: {} on A100 and A30 with its defaults from published FlashAttention-2 measurements "
      "(docs/model.md §3; the paper: 'all methods used FlashAttention kernels'), uncalibrated",
      to_string(kernel_family(base1.cluster.gpu, cc))));
  r.assumptions.push_back(fmt::format(
      "GEMMs at {:g} of peak and HBM streams at {:g} (ITERATION.md §2.4, §7.2); the vision encoder at eta_vision "
      "{:g}; one host synchronisation {:g} us (ITERATION.md §7.2): defaults, uncalibrated",
      cc.gemm_fraction(), cc.hbm_efficiency(), base1.training.knobs.vision_efficiency,
      to_microseconds(base1.training.knobs.host_sync)));
  r.assumptions.push_back(
      "the authors' harness (training.preset lv-xattn-paper, ITERATION.md §5) for every step time unless a row "
      "says otherwise: fp16, FSDP full shard over all GPUs, one sequence-parallel group of all GPUs, Ring "
      "self-attention as coded, the cross-attention recompute wrapper, no optimizer step");
  return r;
}

}  // namespace xattn::sim
