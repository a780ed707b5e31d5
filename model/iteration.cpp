// The closed form of one training iteration (docs/model.md §10-§14; numbers in comments,
// "(eq. N)", are the equations derived there).
//
// The per-GPU program (ITERATION.md §7.1) is priced by layer kind: a plain decoder layer
// and a layer with cross-attention each cost their GEMMs (eq. 22, the roofline) counted by
// the passes eq. 23 allows, their attention through the layer model (model/analytic.hpp)
// on the sequence-parallel group, and their recomputation (eq. 24); the step multiplies by
// how many of each kind run forward and backward (eq. 25). The FSDP collectives are laid
// along the layers in the order FSDP issues them, with the overlap it really gets (eq.
// 30-31); ZeRO-1/2 and DDP bucket their gradient traffic under the backward (eq. 32).
// Nothing here allocates on the evaluation path: the collective model is built once per
// thread and rebuilt only when the links change.
#include "model/iteration.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>

#include "model/analytic.hpp"
#include "model/collective_model.hpp"
#include "model/iteration_memory.hpp"
#include "model/iteration_work.hpp"

namespace xattn {
namespace {

using i64 = std::int64_t;

double d(i64 x) { return static_cast<double>(x); }

// ---- the breakdown ----------------------------------------------------------------

enum Part : int { kVision, kProjector, kSelf, kCross, kMlp, kOther, kHead, kSharding, kOptimizer, kParts };

StepPart step_part(Part p) {
  switch (p) {
    case kVision: return StepPart::vision;
    case kProjector: return StepPart::projector;
    case kSelf: return StepPart::self_attention;
    case kCross: return StepPart::cross_attention;
    case kMlp: return StepPart::mlp;
    case kOther: return StepPart::other_gemm;
    case kHead: return StepPart::lm_head;
    case kSharding: return StepPart::sharding;
    case kOptimizer: return StepPart::optimizer;
    case kParts: break;
  }
  return StepPart::none;
}

struct Parts {
  std::array<double, kParts> t{};
  void add(Part p, double seconds) { t[static_cast<std::size_t>(p)] += seconds; }
  [[nodiscard]] double sum() const {
    double s = 0;
    for (double x : t) s += x;
    return s;
  }
  void add_scaled(const Parts& o, double k) {
    for (std::size_t i = 0; i < t.size(); ++i) t[i] += k * o.t[i];
  }
  [[nodiscard]] IterationBreakdown breakdown() const {
    return {Seconds(t[kVision]), Seconds(t[kProjector]), Seconds(t[kSelf]),     Seconds(t[kCross]),
            Seconds(t[kMlp]),    Seconds(t[kOther]),     Seconds(t[kHead]),     Seconds(t[kSharding]),
            Seconds(t[kOptimizer])};
  }
};

// What a phase costs on the busiest GPU: its time split by part, the compute inside it,
// the FLOPs it executes (recomputation included) and the model FLOPs it stands for (one
// SP group, no recomputation).
struct Cost {
  Parts parts;
  double compute = 0;
  double flops = 0;
  double model_flops = 0;
  void add_scaled(const Cost& o, double k) {
    parts.add_scaled(o.parts, k);
    compute += k * o.compute;
    flops += k * o.flops;
    model_flops += k * o.model_flops;
  }
};

// ---- the collective model, once per thread -------------------------------------------

bool same_regimes(const std::vector<ProtocolRegime>& a, const std::vector<ProtocolRegime>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].protocol != b[i].protocol || a[i].latency != b[i].latency || a[i].bandwidth != b[i].bandwidth ||
        a[i].base_latency != b[i].base_latency)
      return false;
  return true;
}

bool same_link(const LinkCalibration& a, const LinkCalibration& b) {
  return a.latency == b.latency && a.bandwidth == b.bandwidth && same_regimes(a.protocols, b.protocols);
}

// The calibrated collective model (model/collective_model.hpp) for the scenario's links.
// CollectiveLinks holds vectors, so it is kept per thread and rebuilt only when the
// cluster's nominal links or the calibration's link figures differ from the last call's.
const CollectiveModel& collective_model(const Scenario& s) {
  struct Cache {
    bool built = false;
    LinkSpec intra, inter;
    LinkCalibration intra_cal, inter_cal;
    LaunchCalibration launch;
    std::optional<RingCollectiveModel> model;
  };
  thread_local Cache cache;
  const Calibration& cal = s.calibration;
  const bool same = cache.built && cache.intra.bandwidth == s.cluster.intra.bandwidth &&
                    cache.intra.latency == s.cluster.intra.latency &&
                    cache.inter.bandwidth == s.cluster.inter.bandwidth &&
                    cache.inter.latency == s.cluster.inter.latency && same_link(cache.intra_cal, cal.intra_node) &&
                    same_link(cache.inter_cal, cal.inter_node) && cache.launch.mpi == cal.launch.mpi &&
                    cache.launch.single_process == cal.launch.single_process;
  if (!same) {
    cache.built = true;
    cache.intra = s.cluster.intra;
    cache.inter = s.cluster.inter;
    cache.intra_cal = cal.intra_node;
    cache.inter_cal = cal.inter_node;
    cache.launch = cal.launch;
    cache.model.emplace(CollectiveLinks::from(s.cluster, cal));
  }
  return *cache.model;
}

// ---- attention through the layer model ---------------------------------------------

// One attention kind of the step (self or cross), forward and backward, on the SP group.
struct Attention {
  bool present = false;
  std::string reason;         // why not, when !present
  Mechanism run;              // the mechanism as run (the paper harness's ring is ring-stripe)
  AttentionShape shape;       // the layer's shape as run
  Estimate fwd, bwd;
  double recompute_comm = 0;  // communication the CA wrapper's recomputation repeats (eq. 24)
  double model_fwd = 0;       // model FLOPs of the forward, one SP group
};

bool repeats_communication(MechanismKind k) {
  return k == MechanismKind::ulysses || k == MechanismKind::usp || k == MechanismKind::startrail;
}

// ---- the program ------------------------------------------------------------------

// Everything one evaluation needs, derived once.
struct Program {
  const Scenario& s;
  const Architecture& a;
  IterationSetup u;
  ParameterCounts pc;
  const GpuSpec& gpu;
  const ComputeCalibration& cal;
  DType dtype;
  Checkpointing policy;
  double sync;  // one host synchronisation (paper harness)

  Program(const Scenario& sc)
      : s(sc),
        a(sc.model.arch),
        u(iteration_setup(sc)),
        pc(parameter_counts(sc.model.arch)),
        gpu(sc.cluster.gpu),
        cal(sc.calibration.compute),
        dtype(sc.shape.dtype),
        policy(u.checkpointing),
        sync(u.paper ? sc.training.knobs.host_sync.value() : 0.0) {}

  double gemm(double M, double K, double N) const { return gemm_time(gpu, cal, dtype, M, K, N).value(); }
};

// Where a GEMM reads from and what it belongs to (eq. 23).
enum class Input { text, visual };
enum class Owner { lm, cross };

struct GemmFlags {
  Input input = Input::text;
  Owner owner = Owner::lm;
  bool after_cross = false;    // its input depends on the unit's cross-attention output
  bool paper_wrapped = false;  // the paper's CA wrapper: no dW, no dX, recomputed in the backward
  bool window = false;         // after the unit's last attention call (the paper's FSDP hiding window)
  bool recomputed = false;     // a cross-attention projection LV-XAttn's recomputation re-runs (eq. 24)
};

// One LM unit kind, forward and backward.
struct Unit {
  Cost fwd, bwd;
  double window = 0;  // what hides the next unit's forward all-gather (eq. 30)
  std::vector<UnitItem>* record = nullptr;  // iteration_work(): each piece as it is priced
};

// Adds one GEMM of M_gpu x K x N (and M_model rows for the model FLOPs) to `unit` (eq. 22-24).
// `text_dx`: the unit's input needs a gradient.
void add_gemm(const Program& g, Unit& unit, Part part, std::string_view name, double M_gpu, double M_model, double K,
              double N, const GemmFlags& f, bool text_dx) {
  if (M_gpu <= 0 || K <= 0 || N <= 0) return;
  const double t = g.gemm(M_gpu, K, N);
  const double flops = 2.0 * M_gpu * K * N, model = 2.0 * M_model * K * N;
  unit.fwd.parts.add(part, t);
  unit.fwd.compute += t;
  unit.fwd.flops += flops;
  unit.fwd.model_flops += model;
  if (f.window) unit.window += t;
  // eq. 23: forward, + dW when the weight trains, + dX when the input needs a gradient.
  const bool trains = f.owner == Owner::lm ? g.u.trains_lm : g.u.trains_cross;
  const bool dx = f.input == Input::visual ? g.u.visual_grad : (text_dx || f.after_cross);
  const int passes = f.paper_wrapped ? 0 : (trains ? 1 : 0) + (dx ? 1 : 0);
  // eq. 24: recomputation repeats the forward under `after-attention` and `full`; the
  // paper's CA wrapper repeats its q, k, v projections.
  const int recompute = (g.policy != Checkpointing::none || f.paper_wrapped || f.recomputed) ? 1 : 0;
  unit.bwd.parts.add(part, t * (passes + recompute));
  unit.bwd.compute += t * (passes + recompute);
  unit.bwd.flops += flops * (passes + recompute);
  unit.bwd.model_flops += model * passes;
  if (unit.record != nullptr) {
    UnitItem item;
    item.kind = UnitItem::Kind::gemm;
    item.part = step_part(part);
    item.name = name;
    item.M = M_gpu;
    item.K = K;
    item.N = N;
    item.backward_passes = passes;
    item.recompute = recompute > 0;
    item.window = f.window;
    unit.record->push_back(item);
  }
}

// Adds one attention call (eq. 24): the mechanism's forward, its backward, the forward
// again under full recomputation, the CA wrapper's repeated communication, and the
// paper harness's host synchronisations (two per call and pass).
void add_attention(const Program& g, Unit& unit, Part part, const Attention& at, bool backward) {
  if (unit.record != nullptr) {
    UnitItem item;
    item.kind = UnitItem::Kind::attention;
    item.part = step_part(part);
    item.name = part == kCross ? "cross-attention" : "self-attention";
    item.cross = part == kCross;
    item.backward = backward;
    item.recompute = backward && g.policy == Checkpointing::full;
    item.host_syncs = g.sync > 0 ? 2 : 0;
    unit.record->push_back(item);
  }
  const Estimate& f = at.fwd;
  unit.fwd.parts.add(part, f.time.value() + 2.0 * g.sync);
  unit.fwd.compute += f.compute.value();
  unit.fwd.flops += f.flops_per_rank.value();
  unit.fwd.model_flops += at.model_fwd;
  if (!backward) return;
  const Estimate& b = at.bwd;
  const bool refwd = g.policy == Checkpointing::full;
  unit.bwd.parts.add(part, b.time.value() + (refwd ? f.time.value() : 0.0) + at.recompute_comm + 2.0 * g.sync);
  unit.bwd.compute += b.compute.value() + (refwd ? f.compute.value() : 0.0);
  unit.bwd.flops += b.flops_per_rank.value() + (refwd ? f.flops_per_rank.value() : 0.0);
  unit.bwd.model_flops += 2.5 * at.model_fwd;  // eq. 2
}

// A plain decoder layer's GEMMs and self-attention; `after_cross` when it runs after the
// unit's cross-attention (OpenFlamingo's decoder layer after its xattn block).
void add_decoder_layer(const Program& g, Unit& unit, const Attention& self, bool text_dx, bool after_cross) {
  const LanguageModelSpec& lm = g.a.lm;
  const double Mg = g.u.rows_text, Mm = d(g.s.batch) * d(g.s.text_tokens);
  const double h = d(lm.hidden), q = d(lm.heads * lm.head_dim), kv = d(lm.kv_heads * lm.head_dim);
  const double f = d(lm.mlp.width);
  GemmFlags pre{Input::text, Owner::lm, after_cross, false, false, false};
  GemmFlags post{Input::text, Owner::lm, after_cross, false, true, false};
  add_gemm(g, unit, kOther, "qkv_proj", Mg, Mm, h, q + 2.0 * kv, pre, text_dx);  // q, k, v (fused or not)
  add_attention(g, unit, kSelf, self, text_dx || after_cross);
  add_gemm(g, unit, kOther, "o_proj", Mg, Mm, q, h, post, text_dx);             // o
  if (lm.mlp.kind == MlpKind::swiglu) {
    add_gemm(g, unit, kMlp, "mlp gate+up", Mg, Mm, h, 2.0 * f, post, text_dx);  // gate and up
  } else {
    add_gemm(g, unit, kMlp, "mlp fc1", Mg, Mm, h, f, post, text_dx);            // fc1
  }
  add_gemm(g, unit, kMlp, "mlp down", Mg, Mm, f, h, post, text_dx);             // down, fc2
}

// A unit with cross-attention, of the model's kind (ITERATION.md §1).
Unit cross_unit(const Program& g, const Attention& self, const Attention& cross, bool text_dx,
               std::vector<UnitItem>* record = nullptr) {
  Unit unit;
  unit.record = record;
  const LanguageModelSpec& lm = g.a.lm;
  const CrossAttentionSpec& c = g.a.cross;
  const double Mg = g.u.rows_text, Mm = d(g.s.batch) * d(g.s.text_tokens);
  const double Vg = g.u.rows_visual, Vm = d(g.s.batch) * d(g.s.shape.kv_tokens);
  const double h = d(lm.hidden), qc = d(c.heads * c.head_dim), kvc = d(c.kv_heads * c.head_dim);
  const double v = d(c.kv_input);
  const bool wrapped = g.u.paper;
  const GemmFlags q_flags{Input::text, Owner::cross, false, wrapped, false, g.u.ca_recompute};
  const GemmFlags kv_flags{Input::visual, Owner::cross, false, wrapped, false, g.u.ca_recompute};
  switch (c.kind) {
    case CrossKind::none: break;
    case CrossKind::cross_layer: {
      const double f = d(lm.mlp.width);
      const GemmFlags post{Input::text, Owner::cross, true, false, true, false};
      add_gemm(g, unit, kCross, "q_proj", Mg, Mm, h, qc, q_flags, text_dx);          // q_proj
      add_gemm(g, unit, kCross, "kv_proj", Vg, Vm, v, 2.0 * kvc, kv_flags, text_dx);  // k_proj, v_proj over S_kv/P
      add_attention(g, unit, kCross, cross, true);
      add_gemm(g, unit, kOther, "o_proj", Mg, Mm, qc, h, post, text_dx);             // o_proj
      add_gemm(g, unit, kMlp, lm.mlp.kind == MlpKind::swiglu ? "mlp gate+up" : "mlp fc1", Mg, Mm, h,
               (lm.mlp.kind == MlpKind::swiglu ? 2.0 : 1.0) * f, post, text_dx);
      add_gemm(g, unit, kMlp, "mlp down", Mg, Mm, f, h, post, text_dx);
      break;
    }
    case CrossKind::hyper: {
      // The self-attention layer's GEMMs and attention, the visual K/V projection, the
      // visual attention with the same queries, the gate (Linear(d, d) per head).
      add_decoder_layer(g, unit, self, text_dx, false);
      add_gemm(g, unit, kCross, "v_kv_proj", Vg, Vm, v, 2.0 * kvc, kv_flags, text_dx);  // v_kv_proj
      add_attention(g, unit, kCross, cross, true);
      const GemmFlags gate{Input::text, Owner::cross, true, wrapped, true, false};
      add_gemm(g, unit, kCross, "gate", Mg * d(c.heads), Mm * d(c.heads), d(c.head_dim), d(c.head_dim), gate, text_dx);
      break;
    }
    case CrossKind::gated_block: {
      const double f = d(c.mlp.width);
      const GemmFlags after{Input::text, Owner::cross, true, false, false, false};
      add_gemm(g, unit, kCross, "to_q", Mg, Mm, h, qc, q_flags, text_dx);          // to_q
      add_gemm(g, unit, kCross, "to_kv", Vg, Vm, v, 2.0 * kvc, kv_flags, text_dx);  // to_kv
      add_attention(g, unit, kCross, cross, true);
      add_gemm(g, unit, kOther, "to_out", Mg, Mm, qc, h, after, text_dx);          // to_out
      add_gemm(g, unit, kMlp, "ffn fc1", Mg, Mm, h, f, after, text_dx);            // FFN
      add_gemm(g, unit, kMlp, "ffn fc2", Mg, Mm, f, h, after, text_dx);
      add_decoder_layer(g, unit, self, text_dx, true);
      break;
    }
  }
  return unit;
}

Unit plain_unit(const Program& g, const Attention& self, std::vector<UnitItem>* record = nullptr) {
  Unit unit;
  unit.record = record;
  add_decoder_layer(g, unit, self, true, false);
  return unit;
}

// The SP group's cluster: the first sp GPUs of the machine (eq. 6 places ranks in order);
// null when the group is the whole machine.
class SpGroup {
 public:
  SpGroup(const Scenario& s, int sp) {
    const Cluster& c = s.cluster;
    if (sp == c.ranks()) return;
    group_.gpu = c.gpu;
    group_.intra_kind = c.intra_kind;
    group_.intra = c.intra;
    group_.inter = c.inter;
    group_.inter_kind = c.inter_kind;
    group_.nodes_per_leaf = c.nodes_per_leaf;
    group_.oversubscription = c.oversubscription;
    if (sp <= c.gpus_per_node) {
      group_.nodes = 1;
      group_.gpus_per_node = sp;
      group_.nics_per_node = std::max(1, c.nics_per_node * sp / c.gpus_per_node);
    } else {
      group_.nodes = sp / c.gpus_per_node;
      group_.gpus_per_node = c.gpus_per_node;
      group_.nics_per_node = c.nics_per_node;
    }
    ptr_ = &group_;
  }
  SpGroup(const SpGroup&) = delete;
  SpGroup& operator=(const SpGroup&) = delete;
  [[nodiscard]] const Cluster* get() const { return ptr_; }

 private:
  Cluster group_;
  const Cluster* ptr_ = nullptr;
};

// One attention layer `q` under mechanism m, forward and backward (eq. 9-11 by
// mechanism); present = false with the reason when m cannot run it.
Attention priced(const Scenario& s, const LayerQuery& q, const Mechanism& m) {
  Attention a;
  a.run = m;
  a.shape = q.shape;
  a.fwd = estimate(s, q, m, Pass::fwd);
  if (!a.fwd.feasible) {
    a.reason = a.fwd.reason;
    return a;
  }
  a.present = true;
  a.bwd = estimate(s, q, m, Pass::bwd);
  return a;
}

// Self-attention: causal over the whole text (eq. 9-11 by mechanism). The paper
// harness's ring applies the causal flag at every step, so every step costs a
// diagonal-shaped block: ring-stripe's fractions (ITERATION.md §5). present = false with
// the reason when the mechanism cannot run.
Attention self_attention(const Scenario& s, const IterationSetup& u, const Cluster* group) {
  Mechanism run = s.training.self_attention;
  if (u.paper && run.kind == MechanismKind::ring) run.kind = MechanismKind::ring_stripe;
  LayerQuery q{AttentionShape{s.batch, u.self_heads, u.self_kv_heads, u.self_head_dim, s.text_tokens, s.text_tokens,
                              s.shape.dtype, Mask::causal},
               group, false};
  Attention self = priced(s, q, run);
  if (self.present) self.model_fwd = q.shape.forward_flops().value();
  return self;
}

// Cross-attention: the scenario's layer (workload overrides applied) under the mechanism
// compared, K/V repeated in the paper harness.
Attention cross_attention(const Scenario& s, const IterationSetup& u, const Cluster* group, const Mechanism& m) {
  LayerQuery q{s.shape, group, false};
  q.shape.kv_heads = u.cross_kv_heads;
  Attention cross = priced(s, q, m);
  if (!cross.present) return cross;
  cross.model_fwd = s.shape.forward_flops().value();
  if ((u.paper || u.ca_recompute) && repeats_communication(m.kind)) {
    // eq. 24: the recomputation needs Q, K, V in the mechanism's layout again: the layer
    // model's own recomputation (eq. 14) less its projection FLOPs, which the GEMMs
    // already count on the roofline.
    q.recompute = true;
    const Estimate re = estimate(s, q, m, Pass::bwd);
    const double proj = (re.compute - cross.bwd.compute).value();
    cross.recompute_comm = std::max(0.0, (re.time - cross.bwd.time).value() - proj);
  }
  return cross;
}

AttentionTerms terms_of(const Attention& at) {
  AttentionTerms t;
  t.feasible = at.present;
  t.reason = at.reason;
  if (!at.present) return t;
  auto working = [](const Estimate& e) { return e.memory.inputs + e.memory.outputs + e.memory.buffers; };
  t.fwd = at.fwd.time;
  t.bwd = at.bwd.time;
  t.recompute_comm = Seconds(at.recompute_comm);
  t.working_fwd = working(at.fwd);
  t.working_bwd = working(at.bwd);
  return t;
}

// ---- one evaluation -----------------------------------------------------------------

struct Step {
  bool feasible = true;
  std::string reason;
  Mechanism self;
  Cost fwd, bwd;        // one micro-step's forward and backward
  double sync_once = 0;     // per step, in the last micro-step's backward: DDP/ZeRO-1 gradient sync left exposed
  double param_gather = 0;  // per step, after the optimizer: ZeRO-1/2's parameter all-gather
  double optimizer = 0;
  double model_fwd = 0, model_bwd = 0;  // model FLOPs of one micro-step, all GPUs
  IterationMemory memory;
  IterationLayout layout;
  double tokens_micro = 0, tokens_step = 0;  // text + visual tokens, all GPUs
};

// eq. 30: FSDP's forward prefetch. A unit's all-gather is issued when the host reaches the
// unit before it and hides behind that unit's window; the first has nothing to hide behind.
struct ForwardChain {
  double prev_window = 0, exposed = 0;
  void unit(double all_gather, double window, double count = 1) {
    if (count <= 0) return;
    exposed += std::max(0.0, all_gather - prev_window) + (count - 1) * std::max(0.0, all_gather - window);
    prev_window = window;
  }
};

// eq. 31: BACKWARD_PRE on one FIFO stream. Unit i's backward (compute c_i) is issued
// after the all-gather of unit i+1 (the next to run backward) and the reduce-scatter of
// unit i-1 (the last one done); the stream carries both while unit i computes, so the
// unit costs max(c_i, r_{i-1} + a_{i+1}). What is left after the last unit, its own
// reduce-scatter and the root units', is exposed.
struct BackwardChain {
  bool any = false;
  double compute = 0, rs_before = 0, rs = 0, exposed = 0;
  void unit(double c, double all_gather, double reduce_scatter) {
    exposed += any ? std::max(compute, rs_before + all_gather) - compute : all_gather;
    rs_before = rs;
    rs = reduce_scatter;
    compute = c;
    any = true;
  }
  void finish(double tail) {
    if (any) exposed += std::max(compute, rs_before) - compute + rs;
    exposed += tail;
  }
};

// `work`, when given, records the step's pieces as they are priced (iteration_work()).
Step evaluate(const Scenario& s, const std::optional<Mechanism>& cross_mech, IterationWork* work = nullptr) {
  Step st;
  const Program g(s);
  const IterationSetup& u = g.u;
  if (work != nullptr) {
    work->setup = u;
    work->micro_steps = static_cast<int>(u.layout.micro_steps);
    work->sharding = s.training.sharding;
    work->host_sync = Seconds(g.sync);
  }
  const Architecture& a = g.a;
  const TrainingSetup& t = s.training;
  const int L = a.lm.layers;
  const int N = u.layout.gpus, sp = u.layout.sp;
  st.layout = u.layout;
  const double B = d(s.batch);

  // The SP group: the first sp GPUs of the machine (eq. 6 places ranks in order).
  const SpGroup group(s, sp);
  st.self = t.self_attention;
  const Attention self = self_attention(s, u, group.get());
  if (!self.present) {
    st.feasible = false;
    st.reason = fmt::format("self-attention ({}): {}", st.self.name(), self.reason);
    return st;
  }
  if (work != nullptr) {
    work->self_run = self.run;
    work->self_shape = self.shape;
  }
  Attention cross;
  if (a.multimodal() && !cross_mech) {
    st.feasible = false;
    st.reason = "the model has cross-attention layers: name the mechanism they run";
    return st;
  }
  if (a.multimodal()) {
    cross = cross_attention(s, u, group.get(), *cross_mech);
    if (!cross.present) {
      st.feasible = false;
      st.reason = fmt::format("cross-attention ({}): {}", cross_mech->name(), cross.reason);
      return st;
    }
    if (work != nullptr) {
      work->cross = *cross_mech;
      work->cross_shape = cross.shape;
      work->media_items = s.frames;
    }
  }

  // The LM's unit kinds (eq. 25): a plain layer; a cross unit whose input needs a
  // gradient; and the first trainable cross unit when the LM itself is frozen.
  const Unit plain = plain_unit(g, self, work != nullptr ? &work->plain.items : nullptr);
  Unit cross_full, cross_first;
  if (a.multimodal()) {
    cross_full = cross_unit(g, self, cross, true, work != nullptr ? &work->cross_full.items : nullptr);
    if (u.grad_from >= 0 && u.grad_from < L)
      cross_first = cross_unit(g, self, cross, false, work != nullptr ? &work->cross_first.items : nullptr);
  }
  int plain_fwd = 0, cross_fwd = 0, plain_bwd = 0, cross_bwd = 0;
  bool first_bwd = false;
  {
    std::size_t next = 0;
    const auto& pos = a.cross.layers;
    for (int p = 0; p < L; ++p) {
      const bool is_cross = next < pos.size() && pos[next] == p;
      if (is_cross) ++next;
      (is_cross ? cross_fwd : plain_fwd) += 1;
      PositionWork pos_work{is_cross, PositionWork::Backward::none};
      if (p >= u.grad_from) pos_work.backward = is_cross && p == u.grad_from ? PositionWork::Backward::first
                                                                           : PositionWork::Backward::full;
      if (work != nullptr) work->positions.push_back(pos_work);
      if (p < u.grad_from) continue;
      if (is_cross && p == u.grad_from) first_bwd = true;
      else (is_cross ? cross_bwd : plain_bwd) += 1;
    }
  }
  const bool lm_backward = u.grad_from < L;
  if (work != nullptr) work->lm_backward = lm_backward;

  // Vision encoder (eq. 19), frozen unless training.frozen says otherwise: forward only,
  // at η_vision. Projector (eq. 20) and LM head, with their passes (eq. 23).
  Cost vision_f, vision_b, proj_f, proj_b, head_f, head_b;
  const double peak = g.gpu.peak(g.dtype).value();
  if (a.vision.layers > 0 && u.items > 0) {
    const double flops = u.items * a.vision.forward_flops_per_item().value();
    const double time = flops / (peak * t.knobs.vision_efficiency);
    vision_f.parts.add(kVision, time);
    vision_f.compute = time;
    vision_f.flops = flops;
    vision_f.model_flops = B * d(s.frames) * a.vision.forward_flops_per_item().value();
    if (u.trains_vision && !u.paper) {
      const double k = 2.0 + (g.policy == Checkpointing::full ? 1.0 : 0.0);
      vision_b.parts.add(kVision, k * time);
      vision_b.compute = k * time;
      vision_b.flops = k * flops;
      vision_b.model_flops = 2.0 * vision_f.model_flops;
      if (work != nullptr) work->vision_backward_factor = k;
    }
    if (work != nullptr) {
      work->vision_layers = a.vision.layers;
      work->vision_flops = flops;
    }
  }
  if (a.projector.kind != ProjectorKind::none && u.items > 0) {
    const double per_item = a.projector.forward_flops_per_item(a.vision.output_tokens).value();
    double time = 0;
    if (a.projector.kind == ProjectorKind::linear)
      time = g.gemm(u.items * d(a.vision.output_tokens), d(a.projector.in_width), d(a.projector.out_width));
    else
      time = u.items * per_item / (peak * g.cal.gemm_fraction());
    proj_f.parts.add(kProjector, time);
    proj_f.compute = time;
    proj_f.flops = u.items * per_item;
    proj_f.model_flops = B * d(s.frames) * per_item;
    // dW when it trains (a resampler also propagates inside itself), dX when the tower trains.
    const double passes = (u.projector_grads ? (a.projector.kind == ProjectorKind::resampler ? 2.0 : 1.0) : 0.0) +
                          (u.trains_vision && !u.paper ? 1.0 : 0.0);
    proj_b.parts.add(kProjector, passes * time);
    proj_b.compute = passes * time;
    proj_b.flops = passes * proj_f.flops;
    proj_b.model_flops = passes * proj_f.model_flops;
    if (work != nullptr) {
      work->projector = a.projector.kind;
      work->projector_M = u.items * d(a.vision.output_tokens);
      work->projector_K = d(a.projector.in_width);
      work->projector_N = d(a.projector.out_width);
      work->projector_flops = u.items * per_item;
      work->projector_backward_passes = passes;
    }
  }
  {
    const double Mg = u.rows_text, Mm = B * d(s.text_tokens), h = d(a.lm.hidden), V = d(a.lm.vocab);
    const double gemm = g.gemm(Mg, h, V);
    // The loss reads the logits and writes their fp32 softmax; its backward reads that and
    // writes the logits' gradient (eq. 5).
    const double loss = elementwise_time(g.gpu, g.cal, Bytes(Mg * V * (u.act_bytes + 4.0))).value();
    head_f.parts.add(kHead, gemm + loss);
    head_f.compute = gemm + loss;
    head_f.flops = 2.0 * Mg * h * V;
    head_f.model_flops = 2.0 * Mm * h * V;
    const double passes = (lm_backward ? 1.0 : 0.0) + (u.trains_lm ? 1.0 : 0.0);
    if (passes > 0) {
      head_b.parts.add(kHead, passes * gemm + loss);
      head_b.compute = passes * gemm + loss;
      head_b.flops = passes * head_f.flops;
      head_b.model_flops = passes * head_f.model_flops;
    }
    if (work != nullptr) {
      work->head_M = Mg;
      work->head_K = h;
      work->head_N = V;
      work->loss_bytes = Mg * V * (u.act_bytes + 4.0);
      work->head_backward_passes = passes;
      work->head_backward = passes > 0;
    }
  }

  // One micro-step, sharding traffic aside.
  Cost fwd, bwd;
  fwd.add_scaled(vision_f, 1);
  fwd.add_scaled(proj_f, 1);
  fwd.add_scaled(plain.fwd, plain_fwd);
  fwd.add_scaled(cross_full.fwd, cross_fwd);
  fwd.add_scaled(head_f, 1);
  bwd.add_scaled(head_b, 1);
  bwd.add_scaled(plain.bwd, plain_bwd);
  bwd.add_scaled(cross_full.bwd, cross_bwd);
  if (first_bwd) bwd.add_scaled(cross_first.bwd, 1);
  bwd.add_scaled(proj_b, 1);
  bwd.add_scaled(vision_b, 1);

  // Sharding traffic over all N GPUs (eq. 30-32), b bytes per parameter and gradient.
  const CollectiveModel& cm = collective_model(s);
  const CollectiveShape base{NcclCollective::all_gather, N, s.cluster.gpus_per_node, s.cluster.nics_per_node,
                             LaunchMode::mpi};
  auto coll = [&](NcclCollective op, double bytes) {
    if (bytes <= 0 || N <= 1) return 0.0;
    CollectiveShape shape = base;
    shape.op = op;
    return cm.estimate(shape, Bytes(bytes)).time.value();
  };
  const double bp = u.param_bytes;
  double fwd_exposed = 0, bwd_exposed = 0;
  if (work != nullptr) work->collective_shape = base;
  if (t.sharding == Sharding::zero3) {
    auto ag = [&](double params) { return coll(NcclCollective::all_gather, bp * params); };
    auto rs = [&](double params) { return coll(NcclCollective::reduce_scatter, bp * params); };
    const double a_plain = ag(g.pc.plain_unit), a_cross = ag(g.pc.cross_unit);
    const double lm_part_cross = g.pc.cross_unit - g.pc.cross_part;
    const double r_plain = u.trains_lm ? rs(g.pc.plain_unit) : 0.0;
    const double r_cross = rs((u.trains_lm ? lm_part_cross : 0.0) + (u.trains_cross ? g.pc.cross_part : 0.0));
    const bool vision_trains = u.trains_vision && !u.paper;
    // The paper harness leaves the projector unwrapped: replicated, never gathered.
    const double a_proj = u.paper ? 0.0 : ag(g.pc.projector);
    const double r_proj = u.projector_grads ? rs(g.pc.projector) : 0.0;
    const double a_vl = ag(g.pc.vision_layer), r_vl = vision_trains ? rs(g.pc.vision_layer) : 0.0;
    const double r_root = u.trains_lm ? rs(g.pc.lm_root()) : 0.0;
    const double r_vroot = vision_trains ? rs(g.pc.vision_extra) : 0.0;
    const double vl_time = a.vision.layers > 0 ? vision_f.compute / a.vision.layers : 0.0;
    if (work != nullptr && N > 1) {
      IterationWork& w = *work;
      w.ag_plain = bp * g.pc.plain_unit;
      w.ag_cross = bp * g.pc.cross_unit;
      w.rs_plain = u.trains_lm ? bp * g.pc.plain_unit : 0.0;
      w.rs_cross = bp * ((u.trains_lm ? lm_part_cross : 0.0) + (u.trains_cross ? g.pc.cross_part : 0.0));
      if (a.vision.layers > 0 && u.items > 0) {
        w.ag_vision_root = bp * g.pc.vision_extra;
        w.ag_vision_layer = bp * g.pc.vision_layer;
      }
      w.rs_vision_layer = vision_trains ? bp * g.pc.vision_layer : 0.0;
      w.rs_vision_root = vision_trains ? bp * g.pc.vision_extra : 0.0;
      if (a.projector.kind != ProjectorKind::none && u.items > 0) w.ag_projector = u.paper ? 0.0 : bp * g.pc.projector;
      w.rs_projector = u.projector_grads ? bp * g.pc.projector : 0.0;
      w.ag_lm_root = bp * g.pc.lm_root();
      w.rs_lm_root = u.trains_lm ? bp * g.pc.lm_root() : 0.0;
    }
    // eq. 30, forward: the vision root (kept), the vision layers, the projector, the LM
    // root (kept; the embedding costs nothing), the LM layers in order.
    ForwardChain fc;
    if (a.vision.layers > 0 && u.items > 0) {
      fc.unit(ag(g.pc.vision_extra), 0.0);
      fc.unit(a_vl, vl_time, a.vision.layers);
    }
    if (a.projector.kind != ProjectorKind::none && u.items > 0) fc.unit(a_proj, proj_f.compute);
    fc.unit(ag(g.pc.lm_root()), 0.0);
    // A unit's window: its whole forward; the paper harness synchronises the host after
    // each attention call, so only what follows the last one (o_proj, MLP) hides the next
    // all-gather (ITERATION.md §4.2).
    const double w_plain = u.paper ? plain.window : plain.fwd.parts.sum();
    const double w_cross = u.paper ? cross_full.window : cross_full.fwd.parts.sum();
    {
      std::size_t next = 0;
      const auto& pos = a.cross.layers;
      for (int p = 0; p < L; ++p) {
        const bool is_cross = next < pos.size() && pos[next] == p;
        if (is_cross) ++next;
        fc.unit(is_cross ? a_cross : a_plain, is_cross ? w_cross : w_plain);
      }
    }
    fwd_exposed = fc.exposed;
    // eq. 31, backward: the LM head first (the next all-gather hides behind it), the LM
    // layers from the top down to the first whose backward runs, the projector and the
    // tower when they train; then the last reduce-scatters and the roots', exposed.
    BackwardChain bc;
    if (lm_backward || u.trains_lm) bc.unit(head_b.parts.sum(), 0.0, 0.0);
    if (lm_backward) {
      const auto& pos = a.cross.layers;
      std::ptrdiff_t next = static_cast<std::ptrdiff_t>(pos.size()) - 1;
      for (int p = L - 1; p >= std::max(u.grad_from, 0); --p) {
        const bool is_cross = next >= 0 && pos[static_cast<std::size_t>(next)] == p;
        if (is_cross) --next;
        const Unit& unit = !is_cross ? plain : (p == u.grad_from ? cross_first : cross_full);
        bc.unit(unit.bwd.parts.sum(), is_cross ? a_cross : a_plain, is_cross ? r_cross : r_plain);
      }
    }
    if (proj_b.compute > 0) bc.unit(proj_b.compute, a_proj, r_proj);
    if (vision_trains)
      for (int l = 0; l < a.vision.layers; ++l) bc.unit(vision_b.compute / a.vision.layers, a_vl, r_vl);
    bc.finish(r_root + r_vroot);
    bwd_exposed = bc.exposed;
  } else if (u.grad_parameters > 0) {
    // eq. 32: gradient buckets reduce (ZeRO-1/2: reduce-scatter; DDP: all-reduce) under
    // the backward; what the backward's compute does not cover, and the last bucket, are
    // exposed. ZeRO-2 reduces every micro-step; DDP (no_sync) and ZeRO-1 the last only.
    const bool ddp = t.sharding == Sharding::none;
    const double total = bp * u.grad_parameters;
    const double bucket = ddp ? t.knobs.ddp_bucket_bytes : bp * t.knobs.zero_bucket_elements;
    const double buckets = std::ceil(total / bucket);
    const NcclCollective op = ddp ? NcclCollective::all_reduce : NcclCollective::reduce_scatter;
    const double one = coll(op, total / buckets);
    if (work != nullptr && N > 1) {
      work->buckets = buckets;
      work->bucket_bytes = total / buckets;
      work->buckets_every_micro_step = t.sharding == Sharding::zero2;
      work->param_gather_bytes = !ddp && t.optimizer_step ? total : 0.0;
    }
    const double exposed = std::max(one, buckets * one - bwd.parts.sum());
    if (t.sharding == Sharding::zero2) bwd_exposed = exposed;
    else st.sync_once = exposed;
    // ZeRO-1/2: the updated parameters are all-gathered after the optimizer, exposed.
    if (!ddp && t.optimizer_step) st.param_gather = coll(NcclCollective::all_gather, total);
  }
  fwd.parts.add(kSharding, fwd_exposed);
  bwd.parts.add(kSharding, bwd_exposed);

  // eq. 33: the optimizer reads the fp32 master, m, v and the 16-bit gradient (14 bytes
  // per parameter) and writes the master, m, v and the 16-bit parameter (14 bytes) of its
  // local shard, at η_mem of HBM.
  if (t.optimizer_step && u.grad_parameters > 0) {
    const double local = u.grad_parameters / (t.sharding == Sharding::none ? 1.0 : d(N));
    st.optimizer = elementwise_time(g.gpu, g.cal, Bytes(28.0 * local)).value();
    if (work != nullptr) work->optimizer_bytes = 28.0 * local;
  }

  st.fwd = fwd;
  st.bwd = bwd;
  const double groups = u.layout.dp;
  st.model_fwd = fwd.model_flops * groups;
  st.model_bwd = bwd.model_flops * groups;
  const double tokens = d(s.text_tokens) + (a.multimodal() ? d(s.shape.kv_tokens) : 0.0);
  st.tokens_micro = B * groups * tokens;
  st.tokens_step = d(u.layout.global_batch) * tokens;

  MechanismMemory mm;
  auto working = [](const Estimate& e) { return e.memory.inputs + e.memory.outputs + e.memory.buffers; };
  mm.self_fwd = working(self.fwd);
  mm.self_bwd = working(self.bwd);
  if (cross.present) {
    mm.cross_fwd = working(cross.fwd);
    mm.cross_bwd = working(cross.bwd);
  }
  st.memory = iteration_memory(s, u, mm);
  return st;
}

IterationEstimate entry(const Scenario& s, const Step& st, const std::optional<Mechanism>& cross, Pass pass) {
  IterationEstimate e;
  e.cross_attention = cross;
  e.self_attention = st.self;
  e.pass = pass;
  e.layout = st.layout;
  if (!st.feasible) {
    e.feasible = false;
    e.reason = st.reason;
    return e;
  }
  const double m = d(st.layout.micro_steps);
  Cost c;
  double tokens = st.tokens_micro, model = 0;
  switch (pass) {
    case Pass::fwd:
      c = st.fwd;
      model = st.model_fwd;
      break;
    case Pass::bwd:
      // The backward of the micro-step that synchronises gradients (the last one).
      c = st.bwd;
      c.parts.add(kSharding, st.sync_once);
      model = st.model_bwd;
      break;
    case Pass::fwd_bwd:
      c.add_scaled(st.fwd, m);
      c.add_scaled(st.bwd, m);
      c.parts.add(kSharding, st.sync_once + st.param_gather);
      c.parts.add(kOptimizer, st.optimizer);
      c.compute += st.optimizer;
      tokens = st.tokens_step;
      model = m * (st.model_fwd + st.model_bwd);
      break;
  }
  e.breakdown = c.parts.breakdown();
  e.time = e.breakdown.total();
  e.compute = Seconds(c.compute);
  // Compute-only phases differ from their compute by rounding alone: report zero then.
  e.exposed_comm = max(Seconds(0), e.time - e.compute);
  e.flops_per_gpu = Flops(c.flops);
  e.model_flops = Flops(model);
  const double t = e.time.value();
  e.tokens_per_s = t > 0 ? tokens / t : 0.0;
  e.mfu = t > 0 ? model / (t * st.layout.gpus * s.cluster.gpu.peak(s.shape.dtype).value()) : 0.0;
  e.memory = st.memory;
  e.peak_memory = st.memory.total();
  e.fits = e.peak_memory <= s.cluster.gpu.memory - s.memory_reserved;
  return e;
}

}  // namespace

Seconds gemm_time(const GpuSpec& gpu, const ComputeCalibration& cal, DType dtype, double M, double K, double N) {
  if (M <= 0 || K <= 0 || N <= 0) return Seconds(0);
  // A measured shape (compute.gemm_table, `xattn import kineto`) is charged as measured.
  if (const GemmPoint* p = cal.gemm_point(M, K, N)) return gemm_flops(M, K, N) / (gpu.peak(dtype) * p->efficiency);
  return roofline_time(gpu, cal, dtype, gemm_flops(M, K, N), gemm_bytes(dtype, M, K, N));
}

Flops gemm_flops(double M, double K, double N) { return Flops(2.0 * M * K * N); }

Bytes gemm_bytes(DType dtype, double M, double K, double N) {
  return Bytes((K * N + M * K + M * N) * bytes_per_element(dtype));
}

IterationWork iteration_work(const Scenario& s, const std::optional<Mechanism>& cross) {
  IterationWork work;
  const std::optional<Mechanism> c = s.model.arch.multimodal() ? cross : std::nullopt;
  const Step st = evaluate(s, c, &work);
  work.feasible = st.feasible;
  work.reason = st.reason;
  return work;
}

IterationLayout iteration_layout(const Scenario& s) {
  const TrainingSetup& t = s.training;
  IterationLayout l;
  l.gpus = s.ranks();
  l.sp = t.sp > 0 ? t.sp : (t.dp > 0 ? std::max(l.gpus / t.dp, 1) : l.gpus);
  l.dp = t.dp > 0 ? t.dp : std::max(l.gpus / l.sp, 1);
  l.global_batch = t.global_batch > 0 ? t.global_batch : s.batch * l.dp;
  l.micro_steps = std::max<std::int64_t>(l.global_batch / std::max<std::int64_t>(s.batch * l.dp, 1), 1);
  return l;
}

IterationEstimate estimate_iteration(const Scenario& s, const std::optional<Mechanism>& cross, Pass pass) {
  // A decoder-only model has no cross-attention layers: whatever was named runs nowhere.
  const std::optional<Mechanism> c = s.model.arch.multimodal() ? cross : std::nullopt;
  return entry(s, evaluate(s, c), c, pass);
}

AttentionTerms self_attention_terms(const Scenario& s) {
  const IterationSetup u = iteration_setup(s);
  const SpGroup group(s, u.layout.sp);
  return terms_of(self_attention(s, u, group.get()));
}

AttentionTerms cross_attention_terms(const Scenario& s, const Mechanism& cross) {
  const IterationSetup u = iteration_setup(s);
  if (!s.model.arch.multimodal()) {
    AttentionTerms t;
    t.feasible = false;
    t.reason = "the model has no cross-attention layers";
    return t;
  }
  const SpGroup group(s, u.layout.sp);
  return terms_of(cross_attention(s, u, group.get(), cross));
}

std::vector<IterationEstimate> estimate_iteration_all(const Scenario& s, const std::vector<Pass>& passes) {
  std::vector<IterationEstimate> out;
  auto one = [&](const std::optional<Mechanism>& cross) {
    const Step st = evaluate(s, cross);
    for (Pass p : passes) out.push_back(entry(s, st, cross, p));
  };
  if (!s.model.arch.multimodal()) {
    one(std::nullopt);
  } else {
    out.reserve(s.mechanisms.size() * passes.size());
    for (const Mechanism& m : s.mechanisms) one(m);
  }
  return out;
}

}  // namespace xattn
