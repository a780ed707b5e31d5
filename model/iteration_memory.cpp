// Memory of one training step per GPU (docs/model.md §12). Model states follow ZeRO
// (Rajbhandari et al. 2020) and FSDP's root-unit rule (ITERATION.md §3.1); activations
// follow Korthikanti et al. 2022 (arXiv 2205.05198) adapted as ITERATION.md §3.2 says:
// FlashAttention keeps O and an fp32 LSE instead of the s² softmax, no preset uses
// dropout, GQA keeps K and V at H_kv heads, SwiGLU keeps input, gate, up and product.
#include "model/iteration_memory.hpp"

#include <algorithm>

namespace xattn {
namespace {

double d(std::int64_t x) { return static_cast<double>(x); }

// Elements per token an MLP keeps: SwiGLU its input, gate, up and their product
// (h + 3f); GELU its input, the GELU input and the fc2 input (h + 2f).
double mlp_saved(const MlpSpec& m, std::int64_t hidden) {
  return d(hidden) + (m.kind == MlpKind::swiglu ? 3.0 : 2.0) * d(m.width);
}

// Parameters of each part (docs/model.md eq. 26).
struct PartParameters {
  double lm = 0, cross = 0, vision = 0, projector = 0, roots = 0;
  [[nodiscard]] double all() const { return lm + cross + vision + projector; }
};

PartParameters part_parameters(const Architecture& a) {
  const ParameterCounts pc = parameter_counts(a);
  const int nc = a.cross.count(), np = a.lm.layers - nc;
  PartParameters p;
  p.lm = np * pc.plain_unit + nc * (pc.cross_unit - pc.cross_part) + pc.lm_root();
  p.cross = nc * pc.cross_part;
  p.vision = pc.vision;
  p.projector = pc.projector;
  p.roots = pc.lm_root() + pc.vision_extra;  // the LM's and the vision encoder's root units
  return p;
}

}  // namespace

IterationSetup iteration_setup(const Scenario& s) {
  IterationSetup u;
  u.layout = iteration_layout(s);
  const TrainingSetup& t = s.training;
  const Architecture& a = s.model.arch;
  const bool multimodal = a.multimodal();
  u.paper = t.preset == TrainingPreset::lv_xattn_paper;
  const std::int64_t sp = u.layout.sp;
  u.rows_text = d(s.batch) * d(ceil_div(s.text_tokens, sp));
  u.rows_visual = multimodal ? d(s.batch) * d(ceil_div(s.shape.kv_tokens, sp)) : 0.0;
  u.items = multimodal ? d(s.batch) * d(ceil_div(s.frames, sp)) : 0.0;
  u.act_bytes = s.shape.element_bytes();
  u.param_bytes = u.act_bytes;
  u.trains_lm = !t.frozen.contains(ModelPart::lm);
  u.trains_cross = multimodal && !t.frozen.contains(ModelPart::cross_attention);
  u.trains_vision = multimodal && a.vision.layers > 0 && !t.frozen.contains(ModelPart::vision);
  u.trains_projector = multimodal && a.projector.kind != ProjectorKind::none && !t.frozen.contains(ModelPart::projector);
  // The paper harness's CA wrapper returns no gradient for its inputs: nothing reaches the
  // visual states, the projector or the tower (ITERATION.md §5).
  u.projector_grads = u.trains_projector && !u.paper;
  u.visual_grad = multimodal && !u.paper && (u.trains_projector || u.trains_vision);
  // eq. 25: the LM backward starts at the embedding when the LM trains, else at the first
  // cross-attention layer whose weights train or through which the visual states need a
  // gradient; with neither, the LM has no backward at all.
  if (u.trains_lm) u.grad_from = -1;
  else if (multimodal && (u.trains_cross || u.visual_grad)) u.grad_from = a.cross.layers.front();
  else u.grad_from = a.lm.layers;
  // Self-attention: the LM's heads (a decoder-only model's are its layer shape, so
  // workload.heads etc. reach them). The paper harness sends and keeps K/V repeated to
  // every query head (repeat_kv before its ring), in both attentions.
  if (multimodal) {
    u.self_heads = a.lm.heads;
    u.self_kv_heads = a.lm.kv_heads;
    u.self_head_dim = a.lm.head_dim;
  } else {
    u.self_heads = s.shape.heads;
    u.self_kv_heads = s.shape.kv_heads;
    u.self_head_dim = s.shape.head_dim;
  }
  if (u.paper) u.self_kv_heads = u.self_heads;
  u.cross_kv_heads = u.paper ? s.shape.heads : s.shape.kv_heads;
  u.checkpointing = t.checkpointing;
  u.ca_recompute = multimodal && s.recompute && !u.paper && u.checkpointing == Checkpointing::none;
  const PartParameters p = part_parameters(a);
  u.grad_parameters = (u.trains_lm ? p.lm : 0.0) + (u.trains_cross ? p.cross : 0.0) +
                      (u.trains_vision && !u.paper ? p.vision : 0.0) + (u.projector_grads ? p.projector : 0.0);
  return u;
}

// eq. 26: per GPU, N = all GPUs, b = bytes per parameter (2 for fp16/bf16), Ψ_g the
// parameters that get gradients:
//   none (DDP)  params b·Ψ,            grads b·Ψ_g,    optimizer (16 - 2b)·Ψ_g
//   zero1       params b·Ψ,            grads b·Ψ_g,    optimizer (16 - 2b)·Ψ_g / N
//   zero2       params b·Ψ,            grads b·Ψ_g/N,  optimizer (16 - 2b)·Ψ_g / N
//   zero3       params b·Ψ/N + b·Ψ_root, grads b·Ψ_g/N, optimizer (16 - 2b)·Ψ_g / N
//               (Ψ_root only for N > 1: one GPU's flat parameters are already whole)
// Mixed-precision Adam holds 16 bytes per trained parameter: the 16-bit parameter and
// gradient and the fp32 master, m and v (fp32 training: 4 + 4 + m and v). Frozen
// parameters hold their copy only. Under zero3 the root units (the LM's embedding, final
// norm and LM head; the vision encoder's embeddings) stay unsharded the whole step. The
// paper harness leaves the projector unwrapped (replicated) and has no optimizer.
ModelStates model_states(const Scenario& s, const IterationSetup& u) {
  const PartParameters p = part_parameters(s.model.arch);
  const double N = u.layout.gpus, b = u.param_bytes;
  const Sharding sh = s.training.sharding;
  ModelStates m;
  if (sh == Sharding::zero3) {
    // One GPU shards nothing: its flat parameters are the unsharded ones.
    const double replicated = u.paper ? p.projector : 0.0;
    m.parameters = Bytes(b * (p.all() - replicated) / N + (N > 1 ? b * p.roots : 0.0) + b * replicated);
  } else {
    m.parameters = Bytes(b * p.all());
  }
  const bool grads_sharded = sh == Sharding::zero2 || sh == Sharding::zero3;
  m.gradients = Bytes(b * u.grad_parameters / (grads_sharded ? N : 1.0));
  if (s.training.optimizer_step)
    m.optimizer = Bytes((16.0 - 2.0 * b) * u.grad_parameters / (sh == Sharding::none ? 1.0 : N));
  return m;
}

// eq. 27, per GPU and micro-step, with s_t text and s_v visual tokens on this GPU and b
// bytes per activation. A plain decoder layer under `none` keeps its two norm inputs, the
// QKV input, Q, K and V (H_kv heads), O (the out-projection input), the MLP's tensors and
// the fp32 LSE: b·s_t·(3h + 2·H·d + 2·H_kv·d + mlp) + 4·s_t·H; Llama-3 (f = 3.5h, H_kv =
// H/4) gives 34·s_t·h bytes at b = 2, as ITERATION.md §3.2. `after-attention` keeps the
// input, O and LSE; `full` the input only.
Bytes saved_activations(const Scenario& s, const IterationSetup& u, LmUnit unit, Checkpointing policy) {
  const Architecture& a = s.model.arch;
  const double b = u.act_bytes, st = u.rows_text, sv = u.rows_visual, h = d(a.lm.hidden);
  const double H = d(u.self_heads), Hkv = d(u.self_kv_heads), D = d(u.self_head_dim);
  auto plain = [&](Checkpointing c) {
    switch (c) {
      case Checkpointing::none:
        return b * st * (3.0 * h + 2.0 * H * D + 2.0 * Hkv * D + mlp_saved(a.lm.mlp, a.lm.hidden)) + 4.0 * st * H;
      case Checkpointing::after_attention: return b * st * (h + H * D) + 4.0 * st * H;
      case Checkpointing::full: return b * st * h;
    }
    return 0.0;
  };
  if (unit == LmUnit::plain) return Bytes(plain(policy));
  // Cross-attention, with the shape the layer model runs (workload overrides applied).
  const double Hc = d(s.shape.heads), Dc = d(s.shape.head_dim), Hkvc = d(u.cross_kv_heads);
  const double local_kv = b * 2.0 * sv * Hkvc * Dc;  // this GPU's K and V of the visual tokens
  const double lse = 4.0 * st * Hc;
  // The paper's CA wrapper and LV-XAttn's recomputation keep the attention's input, O and
  // LSE, not Q, K or V (MECHANISMS.md, "Activation recomputation").
  const bool wrapped = u.paper || u.ca_recompute;
  switch (a.cross.kind) {
    case CrossKind::none: return Bytes(0);
    case CrossKind::cross_layer:
      switch (policy) {
        case Checkpointing::none:
          if (wrapped) return Bytes(b * st * (3.0 * h + Hc * Dc + mlp_saved(a.lm.mlp, a.lm.hidden)) + lse);
          return Bytes(b * st * (3.0 * h + 2.0 * Hc * Dc + mlp_saved(a.lm.mlp, a.lm.hidden)) + lse + local_kv);
        case Checkpointing::after_attention: return Bytes(b * st * (h + Hc * Dc) + lse);
        case Checkpointing::full: return Bytes(b * st * h);
      }
      break;
    case CrossKind::hyper:
      // A self-attention layer plus the visual K and V, the visual output C_v, the gate g
      // and the blend C, and a second LSE.
      switch (policy) {
        case Checkpointing::none:
          return Bytes(plain(policy) + (wrapped ? 0.0 : local_kv) + b * st * 3.0 * Hc * Dc + lse);
        case Checkpointing::after_attention: return Bytes(plain(policy) + b * st * 2.0 * Hc * Dc + lse);
        case Checkpointing::full: return Bytes(plain(policy));
      }
      break;
    case CrossKind::gated_block: {
      // The xattn block (norm input, Q input, Q, O, FFN norm input and FFN, LSE, visual K
      // and V) before a plain decoder layer; one checkpoint covers both under `full`.
      switch (policy) {
        case Checkpointing::none:
          return Bytes(plain(policy) + b * st * (3.0 * h + (wrapped ? 1.0 : 2.0) * Hc * Dc +
                                                 mlp_saved(a.cross.mlp, a.lm.hidden)) +
                       lse + (wrapped ? 0.0 : local_kv));
        case Checkpointing::after_attention: return Bytes(plain(policy) + b * st * (h + Hc * Dc) + lse);
        case Checkpointing::full: return Bytes(b * st * h);
      }
      break;
    }
  }
  return Bytes(0);
}

// eq. 28-29: two candidate peaks, the larger wins.
//  (A) the vision forward: model states, the vision units gathered (zero3: this one and
//      the next), and the tower's transient (the hidden states it keeps, its explicit mask,
//      one layer's working set).
//  (B) the start of the LM backward: model states; zero3's gathered units (current and
//      next parameters, current gradients) and the root units' full gradients, which are
//      reduce-scattered only at the end; every saved activation with the visual states
//      (and the projector's input when it trains); and the larger of the logits with their
//      fp32 softmax and one unit's recomputed working set plus a mechanism's backward
//      buffers.
IterationMemory iteration_memory(const Scenario& s, const IterationSetup& u, const MechanismMemory& mech) {
  const Architecture& a = s.model.arch;
  const ParameterCounts pc = parameter_counts(a);
  const ModelStates states = model_states(s, u);
  const double b = u.act_bytes, bp = u.param_bytes;
  // Gathered units and unsharded roots exist only when there is something to gather.
  const bool zero3 = s.training.sharding == Sharding::zero3 && u.layout.gpus > 1;
  const int L = a.lm.layers;

  // (B) What the LM keeps: units from the first one whose backward runs.
  int plain_n = 0, cross_n = 0;
  std::size_t next_cross = 0;
  const auto& cross = a.cross.layers;
  for (int p = std::max(u.grad_from, 0); p < L; ++p) {
    while (next_cross < cross.size() && cross[next_cross] < p) ++next_cross;
    if (next_cross < cross.size() && cross[next_cross] == p) ++cross_n;
    else ++plain_n;
  }
  const Checkpointing policy = u.checkpointing;
  const double plain_saved = saved_activations(s, u, LmUnit::plain, policy).value();
  const double cross_saved = a.multimodal() ? saved_activations(s, u, LmUnit::cross, policy).value() : 0.0;
  double activations = plain_n * plain_saved + cross_n * cross_saved;
  if (cross_n > 0) activations += b * u.rows_visual * d(a.cross.kv_input);  // the visual states, shared
  if (u.projector_grads) activations += b * u.items * d(a.vision.output_tokens) * d(a.projector.in_width);
  if (u.trains_vision && !u.paper) {
    const double w = d(a.vision.width), T = d(a.vision.tokens);
    const double layer_none = b * T * (8.0 * w + d(a.vision.mlp.width) * 2.0) +
                              (a.vision.masked_attention ? 2.0 * d(a.vision.heads) * T * T * b : 4.0 * T * d(a.vision.heads));
    const double layer = policy == Checkpointing::full ? b * T * w
                         : policy == Checkpointing::after_attention ? b * T * 2.0 * w
                                                                    : layer_none;
    activations += u.items * a.vision.layers * layer;
  }
  // The working set of one unit's backward: what recomputation rebuilds, plus the
  // mechanism's backward buffers; or the logits and their fp32 softmax (s_t·V).
  double rebuilt = 0;
  if (policy != Checkpointing::none && L > 0) {
    const double plain_all = saved_activations(s, u, LmUnit::plain, Checkpointing::none).value();
    const double cross_all = a.multimodal() ? saved_activations(s, u, LmUnit::cross, Checkpointing::none).value() : 0.0;
    rebuilt = std::max(plain_all - plain_saved, cross_all - cross_saved);
  }
  const double mech_bwd = std::max(mech.self_bwd.value(), mech.cross_bwd.value());
  const double logits = u.grad_from < L || u.trains_lm ? u.rows_text * d(a.lm.vocab) * (b + 4.0) : 0.0;
  IterationMemory back;
  back.parameters = states.parameters;
  back.gradients = states.gradients;
  back.optimizer = states.optimizer;
  back.activations = Bytes(activations);
  back.transient = Bytes(std::max(logits, rebuilt + mech_bwd));
  if (zero3) {
    const double biggest = std::max(pc.plain_unit, pc.cross_unit);
    const double biggest_trained = std::max(u.trains_lm ? pc.plain_unit : 0.0,
                                            (u.trains_lm ? pc.cross_unit - pc.cross_part : 0.0) +
                                                (u.trains_cross ? pc.cross_part : 0.0));
    back.parameters += Bytes(2.0 * bp * biggest);
    back.gradients += Bytes(bp * biggest_trained + (u.trains_lm ? bp * pc.lm_root() : 0.0));
  } else if (s.training.sharding == Sharding::zero2) {
    // One bucket of full gradients waits for its reduce-scatter.
    back.gradients += Bytes(bp * std::min(s.training.knobs.zero_bucket_elements, u.grad_parameters));
  }

  // (A) The vision forward.
  IterationMemory vision;
  if (a.vision.layers > 0 && u.items > 0) {
    const double w = d(a.vision.width), T = d(a.vision.tokens);
    const double kept = a.vision.hidden_states_kept * T * w * b;
    const double mask = a.vision.masked_attention ? T * T * b : 0.0;
    const double layer = T * (4.0 * w + d(a.vision.mlp.width)) * b;  // q, k, v, o and the MLP's middle
    vision.parameters = states.parameters + (zero3 ? Bytes(2.0 * bp * pc.vision_layer) : Bytes(0));
    vision.gradients = states.gradients;
    vision.optimizer = states.optimizer;
    vision.transient = Bytes(u.items * (kept + mask + layer));
  }
  return vision.total() > back.total() ? vision : back;
}

}  // namespace xattn
