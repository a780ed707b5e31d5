// One training step in the event engine (see iteration_sim.hpp): the step's program built
// segment by segment from the closed form's own record of the step (iteration_work), run
// by execute_streaming, and the figures of the contract taken from what ran.
#include "sim/iteration_sim.hpp"

#include "model/schedule/structure.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <utility>

#include <fmt/format.h>

#include "model/iteration_work.hpp"
#include "model/link_cost.hpp"
#include "model/schedule/builders.hpp"
#include "sim/network.hpp"
#include "sim/topology.hpp"

namespace xattn::sim {

std::string step_stream_name(int slot) {
  if (slot == 0) return "compute";
  if (slot == 1 + step_dp_comm) return "dp";
  if (slot >= 1 && slot <= step_dp_comm) return fmt::format("sp{}", slot - 1);
  return fmt::format("comm{}", slot - 1);
}

namespace {

constexpr int kSlots = 16;
constexpr int kDpSlot = 1 + step_dp_comm;

std::uint32_t bit(int slot) { return 1u << static_cast<unsigned>(slot); }

// An attention Schedule built once for one SP group (ranks 0 .. sp-1) and stamped into
// every unit that calls it, on every replica.
struct Template {
  Schedule s;
  std::uint32_t slots = 0;  // the slots its ops use (the same on every rank)
};

Template make_template(const Mechanism& m, Pass pass, const AttentionShape& shape, int sp, std::int64_t media,
                       int accumulator_bytes, const char* what) {
  Template t;
  BuildOptions b;
  b.shape = shape;
  b.ranks = sp;
  b.media_items = media;
  b.accumulator_bytes = accumulator_bytes;
  t.s = build_schedule(m, pass, b);
  for (int r = 0; r < t.s.ranks(); ++r) {
    std::uint32_t mine = 0;
    for (const Op& op : t.s.programs[static_cast<std::size_t>(r)].ops) {
      if (op.stream.kind == StreamKind::comm && (op.stream.index < 0 || op.stream.index >= step_dp_comm))
        throw SimulationError(fmt::format("{} ({}) uses stream {}, which a step keeps for its sharding traffic", what,
                                          m.name(), op.stream.name()));
      mine |= bit(op.stream.kind == StreamKind::compute ? 0 : 1 + op.stream.index);
    }
    if (r == 0) t.slots = mine;
    else if (mine != t.slots)
      throw SimulationError(fmt::format("{} ({}): its ranks use different streams, which a streamed step cannot "
                                        "plan",
                                        what, m.name()));
  }
  return t;
}

// The unit chains of eq. 30 and 31.
enum class UnitKind { vision_root, vision_layer, projector, lm_root, lm, head };
struct ChainUnit {
  UnitKind kind = UnitKind::lm;
  int index = 0;   // LM position, vision layer
  double ag = 0;   // its all-gather, bytes (0: none)
  double rs = 0;   // backward: its reduce-scatter
  int buckets = 0; // backward: gradient buckets reduced once its gradients are out
};

enum class SegmentKind { prologue, lm_forward, head_forward, backward, tail, optimizer };
struct SegmentPlan {
  SegmentKind kind = SegmentKind::prologue;
  int micro = 0;
  int first = 0, last = 0;  // chain indices (prologue: forward chain; backward: backward chain)
  bool buckets = false;     // backward/tail: this micro-step reduces its gradient buckets
  std::uint32_t slots = 0;
};

// What a rank's program looks like at the end of what was built so far.
struct Handles {
  std::int32_t count = 0;           // ops before the segment being built
  std::int32_t last_compute = -1;
  std::array<std::int32_t, kSlots> last_on{};
  std::int32_t ag_next = -1;        // the all-gather the next unit's compute waits for
  std::int32_t unit_end = -1;       // backward: the last unit's last compute op (its gradients)
  std::vector<std::int32_t> wait;   // what the next compute op waits for besides its stream
  int groups = 0;                   // transfer-group numbers used in the segment being built
  Handles() { last_on.fill(-1); }
};

class StepSource final : public SegmentSource {
 public:
  StepSource(const Scenario& s, const IterationWork& w, Pass pass)
      : s_(s), w_(w), P_(s.ranks()), sp_(w.setup.layout.sp), dtype_(s.shape.dtype), paper_(w.setup.paper) {
    handles_.resize(static_cast<std::size_t>(P_));
    all_ranks_.resize(static_cast<std::size_t>(P_));
    for (int r = 0; r < P_; ++r) all_ranks_[static_cast<std::size_t>(r)] = r;
    const int acc = s.accumulator_bytes();
    // Templates: one per attention kind and pass the step calls.
    self_fwd_ = make_template(w.self_run, Pass::fwd, w.self_shape, sp_, 1, acc, "self-attention");
    self_bwd_ = make_template(w.self_run, Pass::bwd, w.self_shape, sp_, 1, acc, "self-attention");
    if (w.cross) {
      cross_fwd_ = make_template(*w.cross, Pass::fwd, w.cross_shape, sp_, w.media_items, acc, "cross-attention");
      cross_bwd_ = make_template(*w.cross, Pass::bwd, w.cross_shape, sp_, w.media_items, acc, "cross-attention");
    }
    chains();
    plan(pass);
  }

  // The buffers the attention Schedules take as given (whole_step's inputs).
  [[nodiscard]] std::vector<std::string> inputs() const {
    std::vector<std::string> out;
    for (const Template* t : {&self_fwd_, &self_bwd_, &cross_fwd_, &cross_bwd_})
      for (const std::string& b : t->s.inputs)
        if (std::find(out.begin(), out.end(), b) == out.end()) out.push_back(b);
    return out;
  }

  [[nodiscard]] int ranks() const override { return P_; }
  [[nodiscard]] int segments() const override { return static_cast<int>(plan_.size()); }
  [[nodiscard]] std::uint32_t stream_slots(int k) const override { return plan_[static_cast<std::size_t>(k)].slots; }

  [[nodiscard]] Schedule build(int k) override {
    Schedule seg;
    seg.programs.resize(static_cast<std::size_t>(P_));
    for (int r = 0; r < P_; ++r) {
      seg.programs[static_cast<std::size_t>(r)].rank = r;
      handles_[static_cast<std::size_t>(r)].groups = 0;
    }
    Out o{&seg, 0};
    emit(o, plan_[static_cast<std::size_t>(k)]);
    if (o.slots != plan_[static_cast<std::size_t>(k)].slots)
      throw SimulationError(fmt::format("step segment {} uses streams {:#x}, planned {:#x}", k, o.slots,
                                        plan_[static_cast<std::size_t>(k)].slots));
    for (int r = 0; r < P_; ++r)
      handles_[static_cast<std::size_t>(r)].count += static_cast<std::int32_t>(seg.programs[static_cast<std::size_t>(r)].ops.size());
    return seg;
  }

 private:
  // Where ops go: a segment's programs, or nowhere (a dry run that only collects the slots
  // a segment uses, for the plan).
  struct Out {
    Schedule* seg = nullptr;
    std::uint32_t slots = 0;
    [[nodiscard]] bool dry() const { return seg == nullptr; }
  };

  // ---- the plan ---------------------------------------------------------------------
  void chains() {
    const IterationWork& w = w_;
    if (w.vision_layers > 0 && w.vision_flops > 0) {
      forward_.push_back(ChainUnit{UnitKind::vision_root, -1, w.ag_vision_root});
      for (int l = 0; l < w.vision_layers; ++l) forward_.push_back(ChainUnit{UnitKind::vision_layer, l, w.ag_vision_layer});
    }
    if (w.projector != ProjectorKind::none && w.projector_flops > 0)
      forward_.push_back(ChainUnit{UnitKind::projector, -1, w.ag_projector});
    forward_.push_back(ChainUnit{UnitKind::lm_root, -1, w.ag_lm_root});
    const int L = static_cast<int>(w.positions.size());
    for (int p = 0; p < L; ++p)
      forward_.push_back(ChainUnit{UnitKind::lm, p, w.positions[static_cast<std::size_t>(p)].cross ? w.ag_cross : w.ag_plain});
    if (w.head_backward) backward_.push_back(ChainUnit{UnitKind::head, -1, 0, 0});
    if (w.lm_backward)
      for (int p = L - 1; p >= 0; --p) {
        const PositionWork& pw = w.positions[static_cast<std::size_t>(p)];
        if (pw.backward == PositionWork::Backward::none) continue;
        backward_.push_back(ChainUnit{UnitKind::lm, p, pw.cross ? w.ag_cross : w.ag_plain, pw.cross ? w.rs_cross : w.rs_plain});
      }
    if (w.projector != ProjectorKind::none && w.projector_flops > 0 && w.projector_backward_passes > 0)
      backward_.push_back(ChainUnit{UnitKind::projector, -1, w.ag_projector, w.rs_projector});
    if (w.vision_backward_factor > 0 && w.vision_flops > 0)
      for (int l = w.vision_layers - 1; l >= 0; --l)
        backward_.push_back(ChainUnit{UnitKind::vision_layer, l, w.ag_vision_layer, w.rs_vision_layer});
    // Gradient buckets (ZeRO-1/2, DDP), spread over the backward's units in order.
    const int n = static_cast<int>(backward_.size());
    const double buckets = w.buckets;
    for (int j = 0; j < n; ++j)
      backward_[static_cast<std::size_t>(j)].buckets =
          static_cast<int>(std::floor((j + 1) * buckets / n + 1e-9) - std::floor(j * buckets / n + 1e-9));
  }

  void plan(Pass pass) {
    const int m = std::max(w_.micro_steps, 1);
    const bool fwd = pass != Pass::bwd, bwd = pass != Pass::fwd;
    const int first_micro = pass == Pass::fwd_bwd ? 0 : m - 1;
    for (int micro = first_micro; micro < m; ++micro) {
      if (fwd) {
        int lm_first = 0;
        while (lm_first < static_cast<int>(forward_.size()) && forward_[static_cast<std::size_t>(lm_first)].kind != UnitKind::lm)
          ++lm_first;
        add(SegmentPlan{SegmentKind::prologue, micro, 0, lm_first - 1});
        for (int j = lm_first; j < static_cast<int>(forward_.size()); ++j) add(SegmentPlan{SegmentKind::lm_forward, micro, j, j});
        add(SegmentPlan{SegmentKind::head_forward, micro, 0, 0});
      }
      if (bwd) {
        const bool buckets = w_.buckets_every_micro_step || micro == m - 1;
        for (int j = 0; j < static_cast<int>(backward_.size()); ++j)
          add(SegmentPlan{SegmentKind::backward, micro, j, j, buckets});
        add(SegmentPlan{SegmentKind::tail, micro, 0, 0, buckets});
      }
    }
    if (pass == Pass::fwd_bwd) add(SegmentPlan{SegmentKind::optimizer, m - 1, 0, 0});
  }

  // A segment whose ops use no stream at all is left out.
  void add(SegmentPlan p) {
    Out dry;
    emit(dry, p);
    p.slots = dry.slots;
    if (p.slots != 0) plan_.push_back(p);
  }

  // ---- emitting ops -----------------------------------------------------------------
  // The ranks an emitter loops over: all of them, or one for a dry run (every rank emits
  // the same kinds of ops on the same streams).
  [[nodiscard]] int rank_count(const Out& o) const { return o.dry() ? 1 : P_; }

  std::int32_t add_op(Out& o, int r, Op&& op) {
    const int slot = stream_slot(op.stream);
    o.slots |= bit(slot);
    if (o.dry()) return -1;
    o.seg->programs[static_cast<std::size_t>(r)].ops.push_back(std::move(op));
    return added(o, r, slot);
  }
  // Rank r's op just appended to the segment, on stream `slot`: its index in the program.
  std::int32_t added(Out& o, int r, int slot) {
    Handles& h = handles_[static_cast<std::size_t>(r)];
    const auto index = h.count + static_cast<std::int32_t>(o.seg->programs[static_cast<std::size_t>(r)].ops.size()) - 1;
    h.last_on[static_cast<std::size_t>(slot)] = index;
    if (slot == 0) h.last_compute = index;
    return index;
  }

  static void add_deps(Op& op, const std::vector<std::int32_t>& deps) {
    for (std::int32_t d : deps)
      if (d >= 0 && std::find(op.deps.begin(), op.deps.end(), d) == op.deps.end()) op.deps.push_back(d);
  }

  // A compute op on every rank; it consumes what the rank's next compute op waits for.
  void compute(Out& o, const ComputeOp& c, int layer, StepPart part, StepDirection dir, Name label) {
    for (int r = 0; r < rank_count(o); ++r) {
      Op op{c, compute_stream, {}, -1, label};
      op.layer = static_cast<std::int16_t>(layer);
      op.part = part;
      op.direction = dir;
      if (!o.dry()) {
        Handles& h = handles_[static_cast<std::size_t>(r)];
        add_deps(op, h.wait);
        h.wait.clear();
      }
      add_op(o, r, std::move(op));
    }
  }

  void gemm(Out& o, double M, double K, double N, int layer, StepPart part, StepDirection dir, Name label) {
    ComputeOp c;
    c.kind = ComputeKind::gemm;
    c.flops = gemm_flops(M, K, N);
    c.touched = gemm_bytes(dtype_, M, K, N);
    compute(o, c, layer, part, dir, label);
  }
  // FLOPs at η_gemm with no bytes: the resampler (eq. 20 at η_gemm·F).
  void flops_op(Out& o, double flops, int layer, StepPart part, StepDirection dir, Name label) {
    ComputeOp c;
    c.kind = ComputeKind::gemm;
    c.flops = Flops(flops);
    compute(o, c, layer, part, dir, label);
  }
  void elementwise(Out& o, double bytes, int layer, StepPart part, StepDirection dir, Name label) {
    ComputeOp c;
    c.kind = ComputeKind::elementwise;
    c.touched = Bytes(bytes);
    compute(o, c, layer, part, dir, label);
  }
  void encoder(Out& o, double flops, int layer, StepDirection dir, Name label) {
    ComputeOp c;
    c.kind = ComputeKind::encoder;
    c.flops = Flops(flops);
    compute(o, c, layer, StepPart::vision, dir, label);
  }

  // torch.cuda.synchronize(): waits for every stream of the rank (the last op of each),
  // then the host cost; what the host issues later depends on it.
  void host_sync(Out& o, int layer, StepPart part, StepDirection dir) {
    ComputeOp c;
    c.kind = ComputeKind::host_sync;
    for (int r = 0; r < rank_count(o); ++r) {
      Op op{c, compute_stream, {}, -1, Name("host sync")};
      op.layer = static_cast<std::int16_t>(layer);
      op.part = part;
      op.direction = dir;
      if (!o.dry()) {
        Handles& h = handles_[static_cast<std::size_t>(r)];
        add_deps(op, h.wait);
        h.wait.clear();
        for (int slot = 1; slot < kSlots; ++slot) add_deps(op, {h.last_on[static_cast<std::size_t>(slot)]});
      }
      add_op(o, r, std::move(op));
    }
  }

  // A sharding collective over every GPU on the dp stream, as NCCL runs it; `dep(r)` is
  // what its issue waits for on rank r (-1: nothing). Returns nothing: the caller reads
  // handles' last_on[kDpSlot] where it needs the index.
  template <class Dep>
  void collective(Out& o, CollectiveKind kind, double bytes, int layer, Name label, Dep dep) {
    if (bytes <= 0 || P_ <= 1) return;
    const double piece = kind == CollectiveKind::all_reduce ? 2.0 * bytes / P_ : bytes / P_;
    for (int r = 0; r < rank_count(o); ++r) {
      CollectiveOp c;
      c.kind = kind;
      c.tag = Name("dp");
      c.nccl = true;
      if (!o.dry()) {
        c.group = all_ranks_;
        c.bytes_to.assign(static_cast<std::size_t>(P_), Bytes(piece));
        c.bytes_to[static_cast<std::size_t>(r)] = Bytes(0);
      }
      Op op{std::move(c), comm_stream(step_dp_comm), {}, -1, label};
      op.layer = static_cast<std::int16_t>(layer);
      op.part = StepPart::sharding;
      if (!o.dry()) add_deps(op, {dep(r)});
      add_op(o, r, std::move(op));
    }
  }

  // One attention call: the template stamped on every SP group. Its first op on each
  // stream waits for what produced its inputs (the rank's last compute op, and what the
  // next compute op was to wait for); the next compute op waits for its last op on each
  // communication stream (the output may arrive by a transfer).
  void attention(Out& o, const Template& t, int layer, StepPart part, StepDirection dir) {
    if (o.dry()) {
      o.slots |= t.slots;
      return;
    }
    for (int r = 0; r < P_; ++r) {
      const int group = r / sp_, tr = r % sp_;
      const int offset = group * sp_;
      Handles& h = handles_[static_cast<std::size_t>(r)];
      std::vector<std::int32_t> entry = h.wait;
      entry.push_back(h.last_compute);
      h.wait.clear();
      auto& ops = o.seg->programs[static_cast<std::size_t>(r)].ops;
      const std::int32_t base = h.count + static_cast<std::int32_t>(ops.size());
      const auto& src = t.s.programs[static_cast<std::size_t>(tr)].ops;
      // Geometric growth: an exact reserve per call would move the segment's ops again
      // at every attention call of the unit.
      if (const std::size_t need = ops.size() + src.size(); need > ops.capacity())
        ops.reserve(std::max(need, 2 * ops.capacity()));
      std::uint32_t seen = 0;
      // Transfer-group numbers name one run per rank within a segment: a unit's backward
      // stamps two templates (recomputed forward, backward), so each gets its own range.
      const int groups = h.groups;
      for (const Op& from : src) {
        // Copied once, straight into the segment (the template serves the next call too),
        // and adjusted there.
        ops.push_back(from);
        Op& op = ops.back();
        for (int& d : op.deps) d += base;
        if (auto* sd = std::get_if<SendOp>(&op.body); sd != nullptr && sd->group >= 0) sd->group += groups;
        else if (auto* rv = std::get_if<RecvOp>(&op.body); rv != nullptr && rv->group >= 0) rv->group += groups;
        if (const TransferOp* x = op.transfer(); x != nullptr && x->group >= 0) h.groups = std::max(h.groups, x->group + 1);
        const int slot = stream_slot(op.stream);
        if ((seen & bit(slot)) == 0) {
          seen |= bit(slot);
          add_deps(op, entry);
        }
        if (offset != 0) {
          if (auto* s = std::get_if<SendOp>(&op.body)) s->peer += offset;
          else if (auto* v = std::get_if<RecvOp>(&op.body)) v->peer += offset;
          else if (auto* c = std::get_if<CollectiveOp>(&op.body)) {
            for (int& m : c->group) m += offset;
            // Each SP group's collective is its own instance: the k-th op with a tag on
            // each rank is instance (tag, k) (structure.hpp), so the groups' tags differ.
            c->tag = Name(fmt::format("{}.sp{}", c->tag.view(), group));
          }
        }
        op.layer = static_cast<std::int16_t>(layer);
        op.part = part;
        op.direction = dir;
        o.slots |= bit(slot);
        added(o, r, slot);
      }
      for (int slot = 1; slot < kSlots; ++slot)
        if ((seen & bit(slot)) != 0) h.wait.push_back(h.last_on[static_cast<std::size_t>(slot)]);
    }
  }

  const Template& attention_template(bool cross, bool backward) const {
    return cross ? (backward ? cross_bwd_ : cross_fwd_) : (backward ? self_bwd_ : self_fwd_);
  }

  const UnitWork& unit_work(int p, bool backward) const {
    const PositionWork& pw = w_.positions[static_cast<std::size_t>(p)];
    if (!pw.cross) return w_.plain;
    return backward && pw.backward == PositionWork::Backward::first ? w_.cross_first : w_.cross_full;
  }

  static Name gemm_label(std::string_view name, std::string_view suffix) {
    return Name(suffix.empty() ? std::string(name) : fmt::format("{} {}", name, suffix));
  }

  // ---- the units --------------------------------------------------------------------
  // An LM unit's forward, or its recomputation in the backward. `issue_next`: in the
  // paper harness, what to issue after the unit's last attention call and its host sync
  // (the next unit's all-gather).
  template <class Issue>
  void unit_forward(Out& o, int p, const UnitWork& u, StepDirection dir, Issue issue_next) {
    int last_attention = -1;
    for (std::size_t i = 0; i < u.items.size(); ++i)
      if (u.items[i].kind == UnitItem::Kind::attention) last_attention = static_cast<int>(i);
    for (std::size_t i = 0; i < u.items.size(); ++i) {
      const UnitItem& it = u.items[i];
      if (dir == StepDirection::recompute && !it.recompute) continue;
      if (it.kind == UnitItem::Kind::gemm) {
        gemm(o, it.M, it.K, it.N, p, it.part, dir, gemm_label(it.name, dir == StepDirection::recompute ? "recompute" : ""));
        continue;
      }
      const bool syncs = it.host_syncs > 0;
      if (syncs) host_sync(o, p, it.part, dir);
      attention(o, attention_template(it.cross, false), p, it.part, dir);
      if (syncs) host_sync(o, p, it.part, dir);
      if (static_cast<int>(i) == last_attention) issue_next();
    }
  }

  // An LM unit's backward: the forward again where the policy recomputes (the paper
  // harness's CA wrapper re-projects q, k, v inside its host syncs), then every piece's
  // backward in reverse order.
  void unit_backward(Out& o, int p, const UnitWork& u) {
    // Recomputation first, in forward order — except, in the paper harness, the GEMMs its
    // CA wrapper re-projects inside its host syncs (below).
    for (const UnitItem& it : u.items) {
      if (!it.recompute) continue;
      if (it.kind == UnitItem::Kind::gemm) {
        if (paper_ && wrapped(it)) continue;
        gemm(o, it.M, it.K, it.N, p, it.part, StepDirection::recompute, gemm_label(it.name, "recompute"));
      } else {
        attention(o, attention_template(it.cross, false), p, it.part, StepDirection::recompute);
      }
    }
    for (std::size_t k = u.items.size(); k-- > 0;) {
      const UnitItem& it = u.items[k];
      if (it.kind == UnitItem::Kind::gemm) {
        if (it.backward_passes == 2) {
          gemm(o, it.M, it.K, it.N, p, it.part, StepDirection::backward, gemm_label(it.name, "dX"));
          gemm(o, it.M, it.K, it.N, p, it.part, StepDirection::backward, gemm_label(it.name, "dW"));
        } else {
          for (int i = 0; i < it.backward_passes; ++i)
            gemm(o, it.M, it.K, it.N, p, it.part, StepDirection::backward, gemm_label(it.name, "bwd"));
        }
        continue;
      }
      if (!it.backward) continue;
      const bool syncs = it.host_syncs > 0;
      if (syncs) host_sync(o, p, it.part, StepDirection::backward);
      if (paper_) {
        // The wrapper's recomputation: the GEMMs it wraps (q, k, v and the gate).
        for (const UnitItem& g : u.items)
          if (g.kind == UnitItem::Kind::gemm && g.recompute && wrapped(g) && g.part == it.part)
            gemm(o, g.M, g.K, g.N, p, g.part, StepDirection::recompute, gemm_label(g.name, "recompute"));
      }
      attention(o, attention_template(it.cross, true), p, it.part, StepDirection::backward);
      if (syncs) host_sync(o, p, it.part, StepDirection::backward);
    }
  }

  // The paper harness's CA wrapper recomputes the cross-attention's own GEMMs (eq. 24).
  static bool wrapped(const UnitItem& g) { return g.part == StepPart::cross_attention && g.backward_passes == 0; }

  // The compute of one unit of the forward chain.
  template <class Issue>
  void forward_compute(Out& o, const ChainUnit& u, Issue issue_next) {
    const IterationWork& w = w_;
    switch (u.kind) {
      case UnitKind::vision_root:
      case UnitKind::lm_root:
      case UnitKind::head: break;
      case UnitKind::vision_layer:
        encoder(o, w.vision_flops / w.vision_layers, u.index, StepDirection::forward, Name("vision layer"));
        break;
      case UnitKind::projector:
        if (w.projector == ProjectorKind::linear)
          gemm(o, w.projector_M, w.projector_K, w.projector_N, -1, StepPart::projector, StepDirection::forward,
               Name("projector"));
        else
          flops_op(o, w.projector_flops, -1, StepPart::projector, StepDirection::forward, Name("resampler"));
        break;
      case UnitKind::lm:
        unit_forward(o, u.index, unit_work(u.index, false), StepDirection::forward, issue_next);
        break;
    }
  }

  void backward_compute(Out& o, const ChainUnit& u) {
    const IterationWork& w = w_;
    switch (u.kind) {
      case UnitKind::head:
        elementwise(o, w.loss_bytes, -1, StepPart::lm_head, StepDirection::backward, Name("loss bwd"));
        for (int i = 0; i < static_cast<int>(std::lround(w.head_backward_passes)); ++i)
          gemm(o, w.head_M, w.head_K, w.head_N, -1, StepPart::lm_head, StepDirection::backward, Name("lm head bwd"));
        break;
      case UnitKind::lm: unit_backward(o, u.index, unit_work(u.index, true)); break;
      case UnitKind::projector:
        for (int i = 0; i < static_cast<int>(std::lround(w.projector_backward_passes)); ++i) {
          if (w.projector == ProjectorKind::linear)
            gemm(o, w.projector_M, w.projector_K, w.projector_N, -1, StepPart::projector, StepDirection::backward,
                 Name("projector bwd"));
          else
            flops_op(o, w.projector_flops, -1, StepPart::projector, StepDirection::backward, Name("resampler bwd"));
        }
        break;
      case UnitKind::vision_layer:
        encoder(o, w.vision_flops / w.vision_layers * w.vision_backward_factor, u.index, StepDirection::backward,
                Name("vision layer bwd"));
        break;
      case UnitKind::vision_root:
      case UnitKind::lm_root: break;
    }
  }

  static Name unit_label(const ChainUnit& u, std::string_view what) {
    switch (u.kind) {
      case UnitKind::vision_root: return Name(fmt::format("vision root {}", what));
      case UnitKind::vision_layer: return Name(fmt::format("vision layer {}", what));
      case UnitKind::projector: return Name(fmt::format("projector {}", what));
      case UnitKind::lm_root: return Name(fmt::format("LM root {}", what));
      case UnitKind::lm: return Name(fmt::format("unit {}", what));
      case UnitKind::head: return Name(fmt::format("head {}", what));
    }
    return Name(what);
  }
  static int unit_layer(const ChainUnit& u) {
    return u.kind == UnitKind::lm || u.kind == UnitKind::vision_layer ? u.index : -1;
  }

  // eq. 30: unit j of the forward chain. Its all-gather was issued before (the first
  // unit's here); the next unit's is issued now, waiting for the compute op before this
  // unit (FSDP's rate limiter: two units in flight) — in the paper harness after this
  // unit's last attention and its host sync instead.
  void forward_unit(Out& o, int j) {
    const ChainUnit& u = forward_[static_cast<std::size_t>(j)];
    const std::vector<std::int32_t> mine = own_all_gather(o, u, j == 0);
    const bool has_next = j + 1 < static_cast<int>(forward_.size());
    const ChainUnit next = has_next ? forward_[static_cast<std::size_t>(j) + 1] : ChainUnit{};
    bool issued = !has_next;
    auto issue = [&](auto dep) {
      collective(o, CollectiveKind::all_gather, next.ag, unit_layer(next), unit_label(next, "all-gather"), dep);
      set_ag_next(o, next.ag > 0 && P_ > 1);
      issued = true;
    };
    const bool deferred = paper_ && u.kind == UnitKind::lm && has_attention(unit_work(u.index, false));
    if (!issued && !deferred) issue([&](int r) { return handles_[static_cast<std::size_t>(r)].last_compute; });
    if (!o.dry())
      for (int r = 0; r < P_; ++r)
        if (mine[static_cast<std::size_t>(r)] >= 0) handles_[static_cast<std::size_t>(r)].wait.push_back(mine[static_cast<std::size_t>(r)]);
    forward_compute(o, u, [&] {
      if (!issued) issue([&](int r) { return handles_[static_cast<std::size_t>(r)].last_compute; });  // the host sync just emitted
    });
    if (!issued) issue([&](int r) { return handles_[static_cast<std::size_t>(r)].last_compute; });
  }

  static bool has_attention(const UnitWork& u) {
    return std::any_of(u.items.begin(), u.items.end(), [](const UnitItem& i) { return i.kind == UnitItem::Kind::attention; });
  }

  // The all-gather just emitted is what the next unit waits for (or nothing).
  void set_ag_next(Out& o, bool emitted) {
    if (o.dry()) return;
    for (int r = 0; r < P_; ++r) {
      Handles& h = handles_[static_cast<std::size_t>(r)];
      h.ag_next = emitted ? h.last_on[static_cast<std::size_t>(kDpSlot)] : -1;
    }
  }
  void set_ag_next_from(Out& o, const ChainUnit& u) { set_ag_next(o, u.ag > 0 && P_ > 1); }

  // The all-gather unit u waits for, per rank (-1: none, and all -1 in a dry run): issued
  // here for the first unit of a chain, else by the unit before it.
  std::vector<std::int32_t> own_all_gather(Out& o, const ChainUnit& u, bool first) {
    if (first) {
      collective(o, CollectiveKind::all_gather, u.ag, unit_layer(u), unit_label(u, "all-gather"), [](int) { return -1; });
      set_ag_next_from(o, u);
    }
    std::vector<std::int32_t> mine(static_cast<std::size_t>(rank_count(o)), -1);
    if (!o.dry())
      for (int r = 0; r < P_; ++r) mine[static_cast<std::size_t>(r)] = handles_[static_cast<std::size_t>(r)].ag_next;
    return mine;
  }

  // eq. 31: unit j of the backward chain. Before its compute: the reduce-scatter of the
  // unit before it (waiting for that unit's gradients), then the all-gather of the unit
  // after it (issued as this unit starts); the first unit's own all-gather first.
  void backward_unit(Out& o, int j, bool buckets) {
    const ChainUnit& u = backward_[static_cast<std::size_t>(j)];
    const std::vector<std::int32_t> mine = own_all_gather(o, u, j == 0);
    if (j > 0) {
      const ChainUnit& before = backward_[static_cast<std::size_t>(j) - 1];
      collective(o, CollectiveKind::reduce_scatter, before.rs, unit_layer(before), unit_label(before, "reduce-scatter"),
                 [&](int r) { return handles_[static_cast<std::size_t>(r)].unit_end; });
    }
    if (j + 1 < static_cast<int>(backward_.size())) {
      const ChainUnit& next = backward_[static_cast<std::size_t>(j) + 1];
      collective(o, CollectiveKind::all_gather, next.ag, unit_layer(next), unit_label(next, "all-gather"),
                 [&](int r) { return handles_[static_cast<std::size_t>(r)].last_compute; });
      set_ag_next_from(o, next);
    }
    if (!o.dry())
      for (int r = 0; r < P_; ++r)
        if (mine[static_cast<std::size_t>(r)] >= 0) handles_[static_cast<std::size_t>(r)].wait.push_back(mine[static_cast<std::size_t>(r)]);
    backward_compute(o, u);
    if (!o.dry())
      for (int r = 0; r < P_; ++r) {
        Handles& h = handles_[static_cast<std::size_t>(r)];
        h.unit_end = h.last_compute;
      }
    if (buckets) gradient_buckets(o, u.buckets);
  }

  // eq. 32: gradient buckets reduced as the backward produces them.
  void gradient_buckets(Out& o, int count) {
    const CollectiveKind kind = w_.sharding == Sharding::none ? CollectiveKind::all_reduce : CollectiveKind::reduce_scatter;
    for (int b = 0; b < count; ++b)
      collective(o, kind, w_.bucket_bytes, -1, Name("gradient bucket"),
                 [&](int r) { return handles_[static_cast<std::size_t>(r)].last_compute; });
  }

  void emit(Out& o, const SegmentPlan& p) {
    const IterationWork& w = w_;
    switch (p.kind) {
      case SegmentKind::prologue:
        for (int j = p.first; j <= p.last; ++j) forward_unit(o, j);
        break;
      case SegmentKind::lm_forward: forward_unit(o, p.first); break;
      case SegmentKind::head_forward:
        gemm(o, w.head_M, w.head_K, w.head_N, -1, StepPart::lm_head, StepDirection::forward, Name("lm head"));
        elementwise(o, w.loss_bytes, -1, StepPart::lm_head, StepDirection::forward, Name("loss"));
        break;
      case SegmentKind::backward: backward_unit(o, p.first, p.buckets); break;
      case SegmentKind::tail: {
        if (!backward_.empty()) {
          const ChainUnit& last = backward_.back();
          collective(o, CollectiveKind::reduce_scatter, last.rs, unit_layer(last), unit_label(last, "reduce-scatter"),
                     [&](int r) { return handles_[static_cast<std::size_t>(r)].unit_end; });
        }
        auto after = [&](int r) { return handles_[static_cast<std::size_t>(r)].unit_end; };
        collective(o, CollectiveKind::reduce_scatter, w.rs_lm_root, -1, Name("LM root reduce-scatter"), after);
        collective(o, CollectiveKind::reduce_scatter, w.rs_vision_root, -1, Name("vision root reduce-scatter"), after);
        break;
      }
      case SegmentKind::optimizer: {
        if (w.optimizer_bytes > 0) {
          // It needs the reduced gradients: everything on the dp stream so far.
          if (!o.dry())
            for (int r = 0; r < P_; ++r) {
              Handles& h = handles_[static_cast<std::size_t>(r)];
              h.wait.push_back(h.last_on[static_cast<std::size_t>(kDpSlot)]);
            }
          elementwise(o, w.optimizer_bytes, -1, StepPart::optimizer, StepDirection::none, Name("optimizer step"));
        }
        collective(o, CollectiveKind::all_gather, w.param_gather_bytes, -1, Name("parameter all-gather"),
                   [&](int r) { return handles_[static_cast<std::size_t>(r)].last_compute; });
        break;
      }
    }
  }

  const Scenario& s_;
  const IterationWork& w_;
  const int P_, sp_;
  const DType dtype_;
  const bool paper_;
  Template self_fwd_, self_bwd_, cross_fwd_, cross_bwd_;
  std::vector<ChainUnit> forward_, backward_;
  std::vector<SegmentPlan> plan_;
  std::vector<Handles> handles_;
  std::vector<int> all_ranks_;
};

// ---- what the run tells ----------------------------------------------------------------

// A phase row: a part and direction, or a sharding collective's kind.
int row_of(const Op& op) {
  if (op.part == StepPart::sharding) {
    const CollectiveOp* c = op.collective();
    return step_part_count * 4 + (c != nullptr ? static_cast<int>(c->kind) : 0);
  }
  return static_cast<int>(op.part) * 4 + static_cast<int>(op.direction);
}
constexpr int kRows = step_part_count * 4 + 4;
StepPart part_of_row(int row) { return row >= step_part_count * 4 ? StepPart::sharding : static_cast<StepPart>(row / 4); }

// What StepSink keeps of an op in its 8-bit tag (OpSink::appended): the phase row (bits
// 0-6) and whether it is a compute op (bit 7).
static_assert(kRows <= 128);
constexpr std::uint8_t kComputeBit = 0x80;
std::uint8_t op_tag(const Op& op) {
  return static_cast<std::uint8_t>(row_of(op) | (op.compute() != nullptr ? kComputeBit : 0));
}
int tag_row(std::uint8_t tag) { return tag & 0x7f; }

std::string row_name(int row) {
  if (row >= step_part_count * 4) {
    switch (static_cast<CollectiveKind>(row - step_part_count * 4)) {
      case CollectiveKind::all_gather: return "all-gather";
      case CollectiveKind::reduce_scatter: return "reduce-scatter";
      case CollectiveKind::all_reduce: return "all-reduce";
      case CollectiveKind::all_to_all: return "all-to-all";
    }
  }
  const auto part = static_cast<StepPart>(row / 4);
  const auto dir = static_cast<StepDirection>(row % 4);
  return dir == StepDirection::none ? std::string(to_string(part)) : fmt::format("{} {}", to_string(part), to_string(dir));
}

class StepSink final : public OpSink {
 public:
  StepSink(int ranks, const std::vector<int>& record)
      : P_(ranks), rank_(static_cast<std::size_t>(ranks)), record_(static_cast<std::size_t>(ranks), false) {
    for (int r : record)
      if (r >= 0 && r < ranks) record_[static_cast<std::size_t>(r)] = true;
    recorded.programs.resize(static_cast<std::size_t>(ranks));
    for (int r = 0; r < ranks; ++r) recorded.programs[static_cast<std::size_t>(r)].rank = r;
    times.resize(static_cast<std::size_t>(ranks));
  }

  std::uint8_t appended(int rank, int index, const Op& op) override {
    (void)index;
    // A rank's compute ops run one at a time on its compute stream, in program order: the
    // order they complete in, so the sum is the same as adding them up as they complete.
    if (const ComputeOp* c = op.compute()) rank_[static_cast<std::size_t>(rank)].flops += c->flops.value();
    return op_tag(op);
  }

  void compute_started(int rank, std::uint8_t tag, Time idle_since, Time now,
                       std::optional<std::uint8_t> cause) override {
    if (now <= idle_since) return;
    PerRank& p = rank_[static_cast<std::size_t>(rank)];
    const int row = cause && part_of_row(tag_row(*cause)) != StepPart::none ? tag_row(*cause) : tag_row(tag);
    const double gap = (now - idle_since).seconds().value();
    p.rows[static_cast<std::size_t>(row)].exposed += gap;
    p.parts[static_cast<std::size_t>(part_of_row(row))] += gap;
  }

  void completed(int rank, int index, int slot, std::uint8_t tag, const OpTimes& t, const Op& op) override {
    PerRank& p = rank_[static_cast<std::size_t>(rank)];
    const int row = tag_row(tag);
    const StepPart part = part_of_row(row);
    Row& x = p.rows[static_cast<std::size_t>(row)];
    ++x.ops;
    Time& until = p.until[static_cast<std::size_t>(std::clamp(slot, 0, kSlots - 1))];
    const Time from = max(t.start, until);
    const double busy = t.end > from ? (t.end - from).seconds().value() : 0.0;
    until = max(until, t.end);
    if (slot == 0) x.compute += busy;
    else if (slot == kDpSlot) x.dp += busy;
    else x.sp += busy;
    if ((tag & kComputeBit) != 0) {
      p.parts[static_cast<std::size_t>(part)] += (t.end - t.start).seconds().value();
      p.compute_end = max(p.compute_end, t.end);
    }
    if (t.end >= p.last_end) {
      p.last_end = t.end;
      p.last_row = row;
      p.last_part = part;
    }
    if (record_[static_cast<std::size_t>(rank)]) {
      auto& ops = recorded.programs[static_cast<std::size_t>(rank)].ops;
      auto& ts = times[static_cast<std::size_t>(rank)];
      const auto i = static_cast<std::size_t>(index);
      if (ops.size() <= i) {
        ops.resize(i + 1);
        ts.resize(i + 1);
      }
      ops[i] = op;
      ts[i] = t;
    }
  }

  struct Row {
    double compute = 0, sp = 0, dp = 0, exposed = 0;
    std::uint64_t ops = 0;
  };
  struct PerRank {
    std::array<Row, kRows> rows{};
    std::array<double, step_part_count> parts{};
    std::array<Time, kSlots> until{};
    Time compute_end, last_end;
    int last_row = 0;
    StepPart last_part = StepPart::none;
    double flops = 0;
  };

  // The tail after each rank's last compute op goes to what ended last on it.
  void close() {
    for (PerRank& p : rank_) {
      if (p.last_end <= p.compute_end) continue;
      const double tail = (p.last_end - p.compute_end).seconds().value();
      p.rows[static_cast<std::size_t>(p.last_row)].exposed += tail;
      p.parts[static_cast<std::size_t>(p.last_part)] += tail;
    }
  }

  const int P_;
  std::vector<PerRank> rank_;
  std::vector<bool> record_;
  Schedule recorded;
  std::vector<std::vector<OpTimes>> times;
};

NcclCollective nccl_op(CollectiveKind k) {
  switch (k) {
    case CollectiveKind::all_gather: return NcclCollective::all_gather;
    case CollectiveKind::reduce_scatter: return NcclCollective::reduce_scatter;
    case CollectiveKind::all_reduce: return NcclCollective::all_reduce;
    case CollectiveKind::all_to_all: return NcclCollective::all_to_all;
  }
  return NcclCollective::all_gather;
}


StepEngine engine_for(const Scenario& s, const IterationWork& work, const SimOptions& base) {
  StepEngine out;
  out.sim = base;
  // The sharding collectives, priced by the collective model's own terms (eq. 30-32).
  const CollectiveLinks links = CollectiveLinks::from(s.cluster, s.calibration);
  auto cache = std::make_shared<std::map<std::pair<int, double>, NcclCost>>();
  const CollectiveShape shape = work.collective_shape;
  out.sim.nccl_cost = [links, shape, cache](CollectiveKind kind, int members, double size) {
    const auto key = std::make_pair(static_cast<int>(kind) * 1000003 + members, size);
    if (auto it = cache->find(key); it != cache->end()) return it->second;
    CollectiveShape sh = shape;
    sh.op = nccl_op(kind);
    sh.gpus = members;
    const CollectivePlan plan = plan_collective(links, sh, Bytes(size));
    NcclCost c{Time::from(plan.parts.fixed), Time::from(plan.host), plan.cap_intra.value(), plan.cap_inter.value()};
    (*cache)[key] = c;
    return c;
  };
  out.cost = ComputeCostModel{s.cluster.gpu, s.calibration.compute, s.shape.dtype, s.accumulator_bytes()};
  out.cost.encoder_efficiency = s.training.knobs.vision_efficiency;
  out.cost.host_sync = work.host_sync;
  return out;
}

}  // namespace

StepEngine step_engine(const Scenario& s, const std::optional<Mechanism>& cross_in, const SimOptions& base) {
  const std::optional<Mechanism> cross = s.model.arch.multimodal() ? cross_in : std::nullopt;
  const IterationWork work = iteration_work(s, cross);
  if (!work.feasible) throw InfeasibleSchedule(work.reason);
  return engine_for(s, work, base);
}

Schedule whole_step(const Scenario& s, const std::optional<Mechanism>& cross_in, Pass pass) {
  const std::optional<Mechanism> cross = s.model.arch.multimodal() ? cross_in : std::nullopt;
  const IterationWork work = iteration_work(s, cross);
  if (!work.feasible) throw InfeasibleSchedule(work.reason);
  StepSource source(s, work, pass);
  Schedule whole;
  whole.pass = pass;
  whole.inputs = source.inputs();
  whole.programs.resize(static_cast<std::size_t>(s.ranks()));
  for (int r = 0; r < s.ranks(); ++r) whole.programs[static_cast<std::size_t>(r)].rank = r;
  std::vector<int> group_base(static_cast<std::size_t>(s.ranks()), 0);
  for (int k = 0; k < source.segments(); ++k) {
    Schedule seg = source.build(k);
    for (int r = 0; r < s.ranks(); ++r) {
      auto& to = whole.programs[static_cast<std::size_t>(r)].ops;
      int top = group_base[static_cast<std::size_t>(r)];
      for (Op& op : seg.programs[static_cast<std::size_t>(r)].ops) {
        if (auto* t = std::get_if<SendOp>(&op.body); t != nullptr && t->group >= 0) {
          t->group += group_base[static_cast<std::size_t>(r)];
          top = std::max(top, t->group + 1);
        } else if (auto* v = std::get_if<RecvOp>(&op.body); v != nullptr && v->group >= 0) {
          v->group += group_base[static_cast<std::size_t>(r)];
          top = std::max(top, v->group + 1);
        }
        // The checks want a reduce-scatter's parts; the step's carry only sizes.
        if (auto* c = std::get_if<CollectiveOp>(&op.body); c != nullptr && c->parts.size() != c->group.size() &&
                                                           c->kind == CollectiveKind::reduce_scatter)
          c->parts.assign(c->group.size(), IndexSet{});
        to.push_back(std::move(op));
      }
      group_base[static_cast<std::size_t>(r)] = top;
    }
  }
  return whole;
}

IterationSimResult simulate_iteration(const Scenario& s, const std::optional<Mechanism>& cross_in, Pass pass,
                                      const IterationSimOptions& options) {
  IterationSimResult out;
  const std::optional<Mechanism> cross = s.model.arch.multimodal() ? cross_in : std::nullopt;
  const IterationEstimate closed = estimate_iteration(s, cross, pass);
  IterationEstimate& e = out.estimate;
  e = closed;  // the layout, memory and the mechanisms named; the times are replaced below
  if (!closed.feasible) return out;
  const IterationWork work = iteration_work(s, cross);
  if (!work.feasible) {
    e.feasible = false;
    e.reason = work.reason;
    return out;
  }
  std::unique_ptr<StepSource> source;
  try {
    source = std::make_unique<StepSource>(s, work, pass);
  } catch (const InfeasibleSchedule& why) {
    e.feasible = false;
    e.reason = why.what();
    return out;
  }

  const StepEngine engine = engine_for(s, work, options.sim);
  auto net = make_network(engine.sim.network, Topology::from_cluster(s.cluster, s.calibration, engine.sim.topology),
                          &s.calibration);
  if (engine.sim.fifo_pairs) net = make_fifo_pairs(std::move(net));

  StepSink sink(s.ranks(), options.record_ranks);
  StreamRun run = execute_streaming(*source, *net, engine.cost, engine.sim, sink);
  sink.close();
  const Timeline& t = run.timeline;

  // The contract's figures from the run.
  const double time = t.makespan.seconds().value();
  e.time = Seconds(time);
  e.compute = t.max_compute_busy().seconds();
  e.exposed_comm = max(Seconds(0), e.time - e.compute);
  int critical = 0;
  for (int r = 1; r < s.ranks(); ++r)
    if (sink.rank_[static_cast<std::size_t>(r)].last_end > sink.rank_[static_cast<std::size_t>(critical)].last_end) critical = r;
  out.critical_rank = critical;
  const auto& parts = sink.rank_[static_cast<std::size_t>(critical)].parts;
  auto part = [&](StepPart p) { return Seconds(parts[static_cast<std::size_t>(p)]); };
  e.breakdown = IterationBreakdown{part(StepPart::vision),     part(StepPart::projector), part(StepPart::self_attention),
                                   part(StepPart::cross_attention), part(StepPart::mlp),  part(StepPart::other_gemm),
                                   part(StepPart::lm_head),    part(StepPart::sharding),  part(StepPart::optimizer)};
  double flops = 0;
  for (const auto& p : sink.rank_) flops = std::max(flops, p.flops);
  e.flops_per_gpu = Flops(flops);
  const double tokens = closed.tokens_per_s * closed.time.value();
  e.tokens_per_s = time > 0 ? tokens / time : 0.0;
  e.mfu = time > 0 ? closed.model_flops.value() / (time * s.ranks() * s.cluster.gpu.peak(s.shape.dtype).value()) : 0.0;

  out.link_shared = t.link_shared;
  out.events = t.events;
  out.messages = run.messages;
  out.ops = run.ops;
  out.peak_live_ops = run.peak_live_ops;
  out.segments = run.segments;
  for (const LinkUsage& l : t.links) {
    const double u = time > 0 ? l.busy.seconds().value() / time : 0.0;
    if (l.bytes > 0.0 && (out.busiest_link.empty() || u > out.busiest_utilization)) {
      out.busiest_link = l.name;
      out.busiest_utilization = u;
    }
    const double mixed = l.mixed.seconds().value();
    if (mixed > out.mixed_s) {
      out.mixed_s = mixed;
      out.mixed_link = l.name;
      out.mixed_share = time > 0 ? mixed / time : 0.0;
    }
  }
  const auto& rows = sink.rank_[static_cast<std::size_t>(critical)].rows;
  for (int row = 0; row < kRows; ++row) {
    const auto& x = rows[static_cast<std::size_t>(row)];
    if (x.ops == 0 && x.exposed <= 0) continue;
    PhaseRow pr;
    pr.phase = row_name(row);
    pr.part = row >= step_part_count * 4 ? StepPart::sharding : static_cast<StepPart>(row / 4);
    pr.compute_s = x.compute;
    pr.sp_s = x.sp;
    pr.dp_s = x.dp;
    pr.exposed_s = x.exposed;
    pr.ops = x.ops;
    out.phases.push_back(std::move(pr));
  }
  if (!options.record_ranks.empty()) {
    out.recorded = std::move(sink.recorded);
    out.recorded.mechanism = cross ? *cross : work.self_run;
    out.recorded.pass = pass;
    out.recorded.shape = cross ? work.cross_shape : work.self_shape;
    out.recorded_timeline.makespan = t.makespan;
    out.recorded_timeline.compute_busy = t.compute_busy;
    out.recorded_timeline.links = t.links;
    out.recorded_timeline.link_shared = t.link_shared;
    out.recorded_timeline.events = t.events;
    out.recorded_timeline.messages = t.messages;
    out.recorded_timeline.ops = std::move(sink.times);
  }
  return out;
}

}  // namespace xattn::sim
