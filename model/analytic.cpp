// The closed-form model (docs/model.md). Numbers in comments, "(eq. N)", are the equations
// derived there; change a formula here and there together.
//
// Ring-family mechanisms (LV-XAttn, Ring, the causal ring layouts, no-comm) are written as
// a few groups of identical lock-step rounds, each costing the larger of its compute and
// its transfers on the slowest hop (eq. 7), plus a prologue (recomputation) and an exposed
// tail (the last accumulator coming home). All-to-all (Ulysses) is three phases that do not
// overlap (eq. 13). Nothing here allocates on the hot path: estimate() runs in well under a
// microsecond.
#include "model/analytic.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <span>

#include <fmt/format.h>

#include "model/link_cost.hpp"

namespace xattn {
namespace {

using i64 = std::int64_t;

double d(i64 x) { return static_cast<double>(x); }

// What one layer estimate reads: a Scenario's own layer, or a layer of the whole iteration
// (model/iteration.cpp) with its own shape on the sequence-parallel group's GPUs. The
// members are named as the Scenario's, so the formulas below read the same either way.
struct LayerView {
  const AttentionShape& shape;
  const Cluster& cluster;
  const Calibration& calibration;
  const ModelSpec& model;
  bool recompute;
  AccumulatorDType accumulator;
  Bytes memory_reserved;

  [[nodiscard]] int ranks() const { return cluster.ranks(); }
  [[nodiscard]] int accumulator_bytes() const {
    return accumulator == AccumulatorDType::fp32 ? 4 : shape.element_bytes();
  }
};

LayerView view_of(const Scenario& s) {
  return {s.shape, s.cluster, s.calibration, s.model, s.recompute, s.accumulator, s.memory_reserved};
}

// Everything the formulas need, derived once per estimate.
struct Ctx {
  const LayerView& s;
  int P;
  double B, H, Hkv, D, b, ba;  // batch, heads, kv heads, head dim, element bytes, accumulator bytes
  i64 q, k;                    // rows per rank: ceil(S_q/P), ceil(S_kv/P)
  FlopsPerSecond peak;

  explicit Ctx(const LayerView& sc)
      : s(sc),
        P(sc.ranks()),
        B(d(sc.shape.batch)),
        H(d(sc.shape.heads)),
        Hkv(d(sc.shape.kv_heads)),
        D(d(sc.shape.head_dim)),
        b(sc.shape.element_bytes()),
        ba(sc.accumulator_bytes()),
        q(ceil_div(sc.shape.q_tokens, sc.ranks())),
        k(ceil_div(sc.shape.kv_tokens, sc.ranks())),
        peak(sc.cluster.gpu.peak(sc.shape.dtype)) {}

  // eq. 1-4: one attention block of `rows` x `cols` per head over `heads` query heads,
  // `fraction` of its pairs allowed by the mask, computed by the kernel call(s) `call`
  // says (model/kernel_model.hpp, the same function the simulator prices its ops with).
  Seconds block(BlockPass pass, double heads, i64 rows, i64 cols, double fraction,
                BlockCall call = BlockCall::whole) const {
    if (rows <= 0 || cols <= 0 || fraction <= 0) return Seconds(0);
    const BlockDims dims{s.shape.batch, heads,          heads * Hkv / H,  s.shape.head_dim, rows, cols,
                         fraction * d(rows) * d(cols), s.shape.mask, call};
    return block_time(s.cluster.gpu, s.calibration.compute, s.shape.dtype, pass, dims,
                      block_flops(pass, heads, rows, cols, fraction));
  }
  Flops block_flops(BlockPass pass, double heads, i64 rows, i64 cols, double fraction) const {
    return Flops(4.0 * B * heads * d(rows) * d(cols) * D * fraction * (pass == BlockPass::bwd ? 2.5 : 1.0));
  }
  // eq. 5: an elementwise pass over `bytes` of HBM traffic.
  Seconds elementwise(double bytes) const {
    return elementwise_time(s.cluster.gpu, s.calibration.compute, Bytes(bytes));
  }
  // eq. 5a: folding partials into running accumulators, `bytes` being what a separate
  // pass moves (a merge, an accumulate): that pass, or fused into the kernel's epilogue.
  Seconds accumulate(double bytes, AccumulateKind kind = AccumulateKind::add) const {
    return accumulate_time(s.cluster.gpu, s.calibration.compute, Bytes(bytes), kind, s.accumulator_bytes());
  }

  // eq. 14: projections repeated by recomputation (Q from the text input; K, V from the
  // visual features), for `q_rows` queries and `kv_rows` keys on this rank.
  Flops recompute_flops(i64 q_rows, i64 kv_rows, double q_heads, double kv_heads) const {
    const ModelSpec& m = s.model;
    return Flops(2.0 * B * d(q_rows) * d(m.text_hidden) * q_heads * D +
                 2.0 * 2.0 * B * d(kv_rows) * d(m.visual_hidden) * kv_heads * D);
  }
  Seconds recompute(i64 q_rows, i64 kv_rows, double q_heads, double kv_heads) const {
    return recompute_flops(q_rows, kv_rows, q_heads, kv_heads) / (peak * s.calibration.compute.gemm_fraction());
  }
};

// A ring-family pass: up to four groups of rounds, a prologue and an exposed tail.
struct RingPlan {
  std::array<RoundGroup, 4> groups{};
  int n = 0;
  Seconds prologue;        // compute before round 0 (recomputation)
  Flops prologue_flops;
  Seconds tail;            // exposed transfer after the last round
  Bytes tail_bytes;

  void add(int count, Seconds compute, Seconds transfer, Flops flops, Bytes bytes, int messages) {
    if (count <= 0) return;
    groups[static_cast<std::size_t>(n++)] = RoundGroup{count, compute, transfer, flops, bytes, messages};
  }
};

// eq. 6: a hop on one link class, priced by price_hop (model/link_cost.hpp) from the
// class's calibrated figures and protocol regimes, as the simulator prices it; `flows`
// messages share the link's bandwidth at once (rings crossing a node boundary through one
// NIC), and each still runs no faster than its regime.
struct Hop {
  LinkSpec link;                            // the class's figures (Calibration::link)
  std::span<const ProtocolRegime> regimes;  // its calibrated regimes; empty: none
  double flows = 1;

  HopPrice price(Bytes n) const { return price_hop(link, regimes, n); }
  Seconds time(Bytes n) const {
    const HopPrice p = price(n);
    return p.latency + n / std::min(p.bandwidth, link.bandwidth / flows);
  }
};

Hop hop_of(const Ctx& c, LinkClass lc) {
  const LinkCalibration& cal = lc == LinkClass::intra_node ? c.s.calibration.intra_node : c.s.calibration.inter_node;
  return Hop{c.s.calibration.link(c.s.cluster, lc), cal.protocols, 1};
}

// The ring a ring-family pass runs on: R ranks in lock step, each holding q query rows
// and k key rows for `heads` query and `kv_heads` key/value heads, and the slowest hop.
// For LV-XAttn, Ring and no-comm this is all P ranks with every head (eq. 6); USP runs
// U such rings of R = P/U ranks side by side on H/U heads (eq. 17).
struct Ring {
  int R = 1;
  i64 q = 0, k = 0;
  double heads = 0, kv_heads = 0;
  Hop hop;
  Seconds xfer(Bytes n) const { return R > 1 ? hop.time(n) : Seconds(0); }
};

// eq. 6: ranks in order; rank r on node r / G. A ring whose consecutive members are
// `stride` ranks apart (1 for the plain ring, U for USP's rings) has hops inside nodes
// when a node holds two members, and hops across nodes when the ring spans nodes; the
// slowest class present gates every round (compared at a 1 MB message). `parallel` rings
// cross each node boundary side by side: their flows share the node's NICs when fewer
// NICs than flows serve the GPUs that send.
Hop slowest_hop(const Ctx& c, int stride, int parallel, int span) {
  const Cluster& cl = c.s.cluster;
  const Hop intra = hop_of(c, LinkClass::intra_node);
  Hop inter = hop_of(c, LinkClass::inter_node);
  const int members = span / stride;  // the ring covers `span` consecutive ranks
  const bool spans_nodes = span > cl.gpus_per_node && members > 1;
  const bool shares_node = cl.gpus_per_node / stride >= 2;
  if (spans_nodes) {
    const int gpus_per_nic = std::max(cl.gpus_per_node / std::max(cl.nics_per_node, 1), 1);
    const int flows_per_nic = std::min(parallel, gpus_per_nic);
    inter.flows = static_cast<double>(std::max(flows_per_nic, 1));
  }
  if (spans_nodes && shares_node)
    return intra.time(Bytes(1e6)) > inter.time(Bytes(1e6)) ? intra : inter;
  return spans_nodes ? inter : intra;
}

Ring full_ring(const Ctx& c) {
  return Ring{c.P, c.q, c.k, c.H, c.Hkv, slowest_hop(c, 1, 1, c.P)};
}

// Causal layouts (eq. 9-11): which share of a block each round computes, and how. Round 0
// is every rank's diagonal block: one call with the kernel's causal mask. Contiguous: in
// every later round some rank holds a full block, which gates the lock step. Zigzag: every
// later round half a block on every rank, run as one unmasked call of half the keys (keys
// from an earlier rank) or half the query rows (a later one): the lock step waits for the
// slower of the two. Striped: every round a causal call of n(n+1)/2 pairs on the busiest
// rank.
struct CausalRounds {
  double first;               // round 0
  double rest;                // rounds 1..R-1
  bool zigzag_halves = false; // rounds 1..R-1 are zigzag half calls
};

CausalRounds causal_rounds(const Ctx& c, const Ring& ring, MechanismKind kind, bool zigzag_calls) {
  if (c.s.shape.mask != Mask::causal) return {1.0, 1.0};
  // A diagonal block of n tokens has n(n+1)/2 allowed pairs of n² (the diagonal included).
  const double n = d(ring.q);
  const double diagonal = (n + 1.0) / (2.0 * n);
  switch (kind) {
    case MechanismKind::ring_zigzag: return {diagonal, 0.5, zigzag_calls};
    case MechanismKind::ring_stripe: return {diagonal, diagonal};
    default: return {diagonal, ring.R > 1 ? 1.0 : diagonal};
  }
}

// LV-XAttn and Ring share one round structure (eq. 8): a block prefetched one round ahead
// (R-1 transfers of `pre` bytes) and, optionally, an accumulator that follows one round
// behind (R transfers of `acc` bytes, the last one exposed).
void travelling_rounds(const Ring& ring, RingPlan& plan, Seconds blk0, Seconds blk, Flops f0, Flops f,
                       Seconds combine, double pre, double acc) {
  const int R = ring.R;
  if (R == 1) {
    plan.add(1, blk0, Seconds(0), f0, Bytes(0), 0);
    return;
  }
  Seconds t_pre = ring.xfer(Bytes(pre));
  Seconds t_acc = acc > 0 ? ring.xfer(Bytes(acc)) : Seconds(0);
  int acc_msgs = acc > 0 ? 1 : 0;
  // Round 0: own block, no combine; the next round's block is prefetched.
  plan.add(1, blk0, t_pre, f0, Bytes(pre), 1);
  // Rounds 1..R-2: the accumulator from the previous round and the next prefetch, posted
  // together to the same neighbour: they share the hop, so one latency and their bytes
  // add up.
  plan.add(R - 2, blk + combine, ring.xfer(Bytes(pre + acc)), f, Bytes(pre + acc), 1 + acc_msgs);
  // Round R-1: nothing left to prefetch.
  plan.add(1, blk + combine, t_acc, f, Bytes(acc), acc_msgs);
  if (acc > 0) {
    plan.tail = t_acc;  // the accumulator's last hop: home, exposed
    plan.tail_bytes = Bytes(acc);
  }
}

// `zigzag_calls`: a zigzag ring's later rounds run as half calls (eq. 10); StarTrail's
// sub-rings mix chunks and run whole blocks with the causal mask.
RingPlan ring_plan(const Ctx& c, const Ring& ring, MechanismKind kind, BlockPass pass, bool zigzag_calls = true) {
  RingPlan plan;
  const double B = c.B, D = c.D, b = c.b, ba = c.ba;
  const double H = ring.heads, Hkv = ring.kv_heads;
  const double q = d(ring.q), k = d(ring.k);
  const CausalRounds frac = causal_rounds(c, ring, kind, zigzag_calls);
  Seconds blk0 = c.block(pass, H, ring.q, ring.k, frac.first);
  Seconds blk = frac.zigzag_halves ? max(c.block(pass, H, ring.q, ring.k, frac.rest, BlockCall::kv_first_half),
                                         c.block(pass, H, ring.q, ring.k, frac.rest, BlockCall::q_second_half))
                                   : c.block(pass, H, ring.q, ring.k, frac.rest);
  Flops f0 = c.block_flops(pass, H, ring.q, ring.k, frac.first);
  Flops f = c.block_flops(pass, H, ring.q, ring.k, frac.rest);
  if (pass == BlockPass::bwd && c.s.recompute && kind != MechanismKind::no_comm && kind != MechanismKind::usp) {
    plan.prologue = c.recompute(c.q, c.k, c.H, c.Hkv);
    plan.prologue_flops = c.recompute_flops(c.q, c.k, c.H, c.Hkv);
  }

  // eq. 5: merge of (O, LSE): read two partials, write one; accumulate of gradients: read
  // two, write one.
  const double merge_bytes = 3.0 * B * H * q * (D * ba + 4.0);
  const double dq_acc_bytes = 3.0 * B * H * q * D * ba;
  const double dkv_acc_bytes = 3.0 * 2.0 * B * Hkv * k * D * ba;

  // The per-round combine is the same for every ring-family mechanism: in the forward a
  // merge of (O, LSE); in the backward an accumulate of dQ and of dK, dV (one of them
  // travels, the other stays, depending on the mechanism).
  // As the Schedule runs them: LV-XAttn and no-comm add dQ by one pass and dK, dV by
  // another; Ring's family adds dQ, dK and dV by one pass each.
  const bool kv_ring = kind != MechanismKind::lv_xattn && kind != MechanismKind::no_comm;
  const Seconds combine =
      pass == BlockPass::fwd ? c.accumulate(merge_bytes, AccumulateKind::merge)
      : kv_ring ? c.accumulate(dq_acc_bytes) + 2.0 * c.accumulate(dkv_acc_bytes / 2.0)
                : c.accumulate(dq_acc_bytes) + c.accumulate(dkv_acc_bytes);

  switch (kind) {
    case MechanismKind::no_comm:
      // eq. 8e: the ring family's own compute, blocks and combines, with no transfers.
      plan.add(1, blk0, Seconds(0), f0, Bytes(0), 0);
      plan.add(ring.R - 1, blk + combine, Seconds(0), f, Bytes(0), 0);
      break;
    case MechanismKind::lv_xattn:
      if (pass == BlockPass::fwd) {
        // eq. 8a: Q blocks travel ahead; (O, LSE) accumulators one round behind.
        travelling_rounds(ring, plan, blk0, blk, f0, f, combine, B * H * q * D * b, B * H * q * (D * ba + 4.0));
      } else {
        // eq. 8b: Q, O, dO and LSE travel together; dQ accumulators one round behind;
        // dK, dV accumulate locally.
        travelling_rounds(ring, plan, blk0, blk, f0, f, combine, B * H * q * (3.0 * D * b + 4.0), B * H * q * D * ba);
      }
      break;
    case MechanismKind::ring:
    case MechanismKind::ring_zigzag:
    case MechanismKind::ring_stripe:
    case MechanismKind::usp:
      if (pass == BlockPass::fwd) {
        // eq. 8c: K, V blocks travel (2·H_kv heads, never GQA-expanded); O, LSE stay.
        travelling_rounds(ring, plan, blk0, blk, f0, f, combine, 2.0 * B * Hkv * k * D * b, 0.0);
      } else {
        // eq. 8d: K, V travel again; dK, dV accumulators one round behind; dQ stays.
        travelling_rounds(ring, plan, blk0, blk, f0, f, combine, 2.0 * B * Hkv * k * D * b, 2.0 * B * Hkv * k * D * ba);
      }
      break;
    default:
      break;
  }
  return plan;
}

struct PassResult {
  Seconds time, compute;
  Flops flops;
  Bytes bytes;
  int rounds = 0;
};

PassResult run_plan(const RingPlan& plan) {
  PassResult r;
  r.time = plan.prologue + plan.tail;  // eq. 7
  r.compute = plan.prologue;
  r.flops = plan.prologue_flops;
  r.bytes = plan.tail_bytes;
  for (int i = 0; i < plan.n; ++i) {
    const RoundGroup& g = plan.groups[static_cast<std::size_t>(i)];
    r.time += max(g.compute, g.transfer) * g.count;
    r.compute += g.compute * g.count;
    r.flops += g.flops * g.count;
    r.bytes += g.bytes * g.count;
    r.rounds += g.count;
  }
  return r;
}

// ---- all-to-all and head-parallel mechanisms -------------------------------------

// eq. 12: an all-to-all among `group` consecutive ranks in which every rank sends
// `per_peer` bytes to each other member, posted at once (as NCCL groups its sends).
// Inside a node every GPU's sends share its own fabric port (on a mesh each peer has its
// own link); across nodes the GPUs of a node share its NICs. Groups never straddle a node
// boundary: they fit in a node or are whole nodes (usp_refusal checks).
Seconds all_to_all(const Ctx& c, int group, double per_peer) {
  const Cluster& cl = c.s.cluster;
  if (group <= 1 || per_peer <= 0) return Seconds(0);
  const int G = cl.gpus_per_node;
  const int local = std::min(group, G);  // members sharing a node
  const Hop intra = hop_of(c, LinkClass::intra_node);
  const Hop inter = hop_of(c, LinkClass::inter_node);
  // Each message is priced on its own (price_hop: its regime's latency, a rate no higher
  // than the regime's); the collective pays the regime's base latency once (zero without
  // calibrated regimes).
  Seconds t_intra(0), t_inter(0), alpha(0), base(0);
  if (local > 1) {
    const HopPrice p = intra.price(Bytes(per_peer));
    double bytes = cl.intra_kind == IntraFabric::nvlink_mesh ? per_peer : (local - 1.0) * per_peer;
    t_intra = max(Bytes(per_peer) / p.bandwidth, Bytes(bytes) / intra.link.bandwidth);
    alpha = p.latency;
    base = p.base_latency;
  }
  if (group > G) {
    const HopPrice p = inter.price(Bytes(per_peer));
    double node_bytes = d(G) * d(group - G) * per_peer;
    t_inter = max(Bytes(per_peer) / p.bandwidth,
                  Bytes(node_bytes) / (inter.link.bandwidth * static_cast<double>(cl.nics_per_node)));
    alpha = max(alpha, p.latency);
    base = max(base, p.base_latency);
  }
  return base + alpha + max(t_intra, t_inter);
}

// Ulysses is the head-parallel degree U = P; USP any U dividing P (eq. 13, 17).
int head_degree(const Ctx& c, const Mechanism& m) {
  return m.kind == MechanismKind::usp ? m.param : c.P;
}

std::string head_parallel_refusal(const Ctx& c, const Mechanism& m) {
  const i64 H = c.s.shape.heads, Hkv = c.s.shape.kv_heads, P = c.P;
  const i64 U = head_degree(c, m);
  const int G = c.s.cluster.gpus_per_node;
  const std::string what = m.kind == MechanismKind::usp ? fmt::format("{}: the all-to-all", m.name()) : "all-to-all";
  if (P % U != 0) return fmt::format("{}: the Ulysses degree u = {} does not divide P = {}", m.name(), U, P);
  if (H % U != 0)
    return fmt::format("{} splits query heads over {} ranks: H = {} is not divisible by {} = {}", what, U, H,
                       m.kind == MechanismKind::usp ? "u" : "P", U);
  if (U % Hkv != 0 && Hkv % U != 0)
    return fmt::format("key/value heads H_kv = {} and {} ranks: neither divides the other, so K, V heads "
                       "cannot be split or replicated evenly",
                       Hkv, U);
  if (m.kind == MechanismKind::usp && (U <= G ? G % U != 0 : U % G != 0))
    return fmt::format("{}: groups of {} ranks would straddle nodes of {} GPUs (u must divide the GPUs per "
                       "node or be a multiple of it)",
                       m.name(), U, G);
  return {};
}

// The ring a head-parallel mechanism runs after its all-to-all: R = P/U ranks, each with
// the sequence share of its ring position for H/U query heads and max(H_kv/U, 1)
// key/value heads (replicated when U > H_kv). For Ulysses R = 1: one local block.
Ring head_parallel_ring(const Ctx& c, int U) {
  const int R = c.P / U;
  return Ring{R,
              ceil_div(c.s.shape.q_tokens, R),
              ceil_div(c.s.shape.kv_tokens, R),
              c.H / U,
              std::max(c.Hkv / U, 1.0),
              slowest_hop(c, U, U, c.P)};
}


PassResult head_parallel_pass(const Ctx& c, const Mechanism& m, BlockPass pass) {
  const int U = head_degree(c, m);
  const Ring ring = head_parallel_ring(c, U);
  const double B = c.B, D = c.D, b = c.b;
  const double q = d(c.q), k = d(c.k);  // this rank's sequence shard
  const double qkv_peer = B * D * b * (q * ring.heads + 2.0 * k * ring.kv_heads);  // eq. 13a
  const double o_peer = B * D * b * q * ring.heads;
  const double peers = U - 1.0;
  PassResult r = run_plan(ring_plan(c, ring, MechanismKind::usp, pass));
  if (pass == BlockPass::fwd) {
    r.time += all_to_all(c, U, qkv_peer) + all_to_all(c, U, o_peer);  // eq. 13b
    r.bytes += Bytes(peers * (qkv_peer + o_peer));
  } else {
    // eq. 13c: dO to head shards, local backward, dQ, dK, dV back; replicated K, V heads
    // are summed at their home (an elementwise add of U/H_kv partials).
    Seconds reduce(0);
    if (U > c.Hkv) reduce = c.elementwise(3.0 * 2.0 * B * k * c.Hkv * D * b * (U / c.Hkv - 1.0));
    r.time += all_to_all(c, U, o_peer) + all_to_all(c, U, qkv_peer) + reduce;
    r.compute += reduce;
    r.bytes += Bytes(peers * (o_peer + qkv_peer));
    if (c.s.recompute) {
      // Recomputation keeps only the input, O and LSE: re-project Q, K, V and redo the
      // forward all-to-alls of Q, K, V and O (eq. 14).
      Seconds re = c.recompute(c.q, c.k, c.H, c.Hkv);
      r.time += re + all_to_all(c, U, qkv_peer) + all_to_all(c, U, o_peer);
      r.compute += re;
      r.flops += c.recompute_flops(c.q, c.k, c.H, c.Hkv);
      r.bytes += Bytes(peers * (qkv_peer + o_peer));
    }
  }
  if (ring.R == 1) r.rounds = 0;  // Ulysses: one local block, no ring
  return r;
}

// ---- StarTrail ---------------------------------------------------------------------

// eq. 18: StarTrail with team size C (docs/schedules.md §7 gives the Schedule this
// follows): teams of C consecutive ranks, n = P/C² teams per group, C² sub-rings of n
// ranks that are C apart inside a group of P/C consecutive ranks.
std::string startrail_refusal(const Ctx& c, int C) {
  if (C < 1 || static_cast<i64>(C) * C > c.P || c.P % (C * C) != 0)
    return fmt::format("startrail:c={} needs 1 <= C <= sqrt(P) and C^2 dividing P = {}", C, c.P);
  return {};
}

// A collective of NCCL's ring algorithm over `members` ranks: members - 1 steps, each
// moving one shard of `shard` bytes over the slowest hop of the group (eq. 18a), and the
// base latency of the shard's protocol regime once (zero without calibrated regimes).
Seconds ring_collective(int members, const Hop& hop, double shard) {
  if (members <= 1 || shard <= 0) return Seconds(0);
  return hop.price(Bytes(shard)).base_latency + hop.time(Bytes(shard)) * static_cast<double>(members - 1);
}

// The link a team collective runs on: inside a node when the team is, else the slowest.
Hop team_link(const Ctx& c, int C) { return slowest_hop(c, 1, 1, C); }

// The redistribution (step 2): every rank sends one message at once; a message crosses
// nodes when its target lies on another node, and the crossing senders of a node share
// its NICs. The slowest message gates the step.
Seconds redistribution(const Ctx& c, int C, double bytes) {
  if (c.P <= 1 || bytes <= 0) return Seconds(0);
  const Cluster& cl = c.s.cluster;
  const int n = c.P / (C * C);
  int worst_crossing = 0, crossing = 0, any_local = 0;
  for (int pos = 0; pos < c.P; ++pos) {
    if (pos % cl.gpus_per_node == 0) crossing = 0;
    const int T = pos / C, a = pos % C;
    const int target = (a * n + T / C) * C + T % C;
    if (target == pos) continue;  // a local copy
    if (cl.node_of(target) != cl.node_of(pos)) worst_crossing = std::max(worst_crossing, ++crossing);
    else any_local = 1;
  }
  Seconds t(0);
  if (any_local) t = hop_of(c, LinkClass::intra_node).time(Bytes(bytes));
  if (worst_crossing > 0) {
    Hop inter = hop_of(c, LinkClass::inter_node);
    const int gpus_per_nic = std::max(cl.gpus_per_node / std::max(cl.nics_per_node, 1), 1);
    inter.flows = static_cast<double>(std::min(worst_crossing, gpus_per_nic));
    t = max(t, inter.time(Bytes(bytes)));
  }
  return t;
}

PassResult startrail_pass(const Ctx& c, int C, BlockPass pass) {
  const int n = c.P / (C * C);
  const double B = c.B, H = c.H, Hkv = c.Hkv, D = c.D, b = c.b, ba = c.ba;
  const double q = d(c.q), k = d(c.k);
  const Hop team = team_link(c, C);
  // The sub-ring: the team's C·q queries against key blocks of C·k rows (eq. 18b).
  const Ring sub{n, C * c.q, C * c.k, H, Hkv, slowest_hop(c, C, C, c.P / C)};
  const double kv_block = 2.0 * B * C * k * Hkv * D;  // elements of a redistributed K, V block
  PassResult r;
  if (pass == BlockPass::fwd) {
    // (1) team all-gathers of Q, K and V; (2) redistribution; (3) the sub-ring, Ring
    // Attention's forward on it; (4) all-gather LSE, rescale, sum reduce-scatter O.
    Seconds gather = ring_collective(C, team, B * q * H * D * b) + 2.0 * ring_collective(C, team, B * k * Hkv * D * b);
    Seconds redis = redistribution(c, C, kv_block * b);
    // Causal StarTrail uses the zigzag layout: balanced, half a block per step.
    const MechanismKind layout = c.s.shape.mask == Mask::causal ? MechanismKind::ring_zigzag : MechanismKind::ring;
    PassResult ring = run_plan(ring_plan(c, sub, layout, pass, false));
    Seconds rescale = c.elementwise(2.0 * B * C * q * H * D * ba);
    Seconds combine = ring_collective(C, team, B * C * q * H * 4.0) + rescale +
                      ring_collective(C, team, B * q * H * D * ba);
    r = ring;
    r.time += gather + redis + combine;
    r.compute += rescale;
    const double gathered = (C - 1.0) * (B * q * H * D * b + 2.0 * B * k * Hkv * D * b);
    const double combined = (C - 1.0) * (B * C * q * H * 4.0 + B * q * H * D * ba);
    // With C = 1 every redistribution target is the rank itself: nothing is sent.
    r.bytes += Bytes(gathered + (C > 1 ? kv_block * b : 0.0) + combined);
  } else {
    // (0) delta = rowsum(dO∘O); (1) team all-gathers of dO, delta and LSE; (2) LV-XAttn's
    // backward on the sub-ring; (3) sum reduce-scatter of dQ in the team; (4) the inverse
    // redistribution of dK, dV; (5) their sum reduce-scatter in the team.
    Seconds delta = c.elementwise(2.0 * B * q * H * D * b);
    Seconds gather = ring_collective(C, team, B * q * H * D * b) + 2.0 * ring_collective(C, team, B * q * H * 4.0);
    RingPlan plan;
    Seconds blk = c.block(pass, H, sub.q, sub.k, c.s.shape.mask == Mask::causal ? 0.5 : 1.0);
    Flops f = c.block_flops(pass, H, sub.q, sub.k, c.s.shape.mask == Mask::causal ? 0.5 : 1.0);
    Seconds acc = c.accumulate(3.0 * B * d(sub.q) * H * D * ba) + c.accumulate(3.0 * 2.0 * B * d(sub.k) * Hkv * D * ba);
    travelling_rounds(sub, plan, blk, blk, f, f, acc, B * d(sub.q) * H * (2.0 * D * b + 8.0), B * d(sub.q) * H * D * ba);
    PassResult ring = run_plan(plan);
    Seconds scatter = ring_collective(C, team, B * q * H * D * ba) + redistribution(c, C, kv_block * ba) +
                      ring_collective(C, team, 2.0 * B * k * Hkv * D * ba);
    r = ring;
    r.time += delta + gather + scatter;
    r.compute += delta;
    const double gathered = (C - 1.0) * (B * q * H * D * b + 2.0 * B * q * H * 4.0);
    const double scattered = (C - 1.0) * (B * q * H * D * ba + 2.0 * B * k * Hkv * D * ba);
    r.bytes += Bytes(gathered + (C > 1 ? kv_block * ba : 0.0) + scattered);
    if (c.s.recompute) {
      // Recomputation re-projects Q, K, V and repeats the forward's gathers and
      // redistribution (eq. 14).
      Seconds re = c.recompute(c.q, c.k, H, Hkv);
      r.time += re + ring_collective(C, team, B * q * H * D * b) + 2.0 * ring_collective(C, team, B * k * Hkv * D * b) +
                redistribution(c, C, kv_block * b);
      r.compute += re;
      r.flops += c.recompute_flops(c.q, c.k, H, Hkv);
    }
  }
  return r;
}

// eq. 18c: StarTrail's memory: the team's gathered queries and keys, the redistributed
// key/value block and its double buffer, and the partial outputs of the team's queries.
MemoryBreakdown memory_startrail(const Ctx& c, int C, BlockPass pass) {
  const double B = c.B, H = c.H, Hkv = c.Hkv, D = c.D, b = c.b, ba = c.ba;
  const double q = d(c.q), k = d(c.k);
  const double own = B * q * H * D * b + 2.0 * B * k * Hkv * D * b;
  const double team_q = B * C * q * H * D * b;
  const double block = 2.0 * B * C * k * Hkv * D * b;
  MemoryBreakdown m;
  if (pass == BlockPass::fwd) {
    m.inputs = Bytes(own + team_q + 2.0 * B * C * k * Hkv * D * b + block);
    m.outputs = Bytes(B * C * q * H * (D * ba + 4.0) + B * q * H * (D * b + 4.0));
    m.buffers = Bytes(block + B * C * q * H * (D * ba + 4.0));
  } else {
    m.inputs = Bytes(team_q + block + B * C * q * H * (D * b + 8.0) + B * q * H * (D * b + 4.0));
    m.outputs = Bytes(B * C * q * H * D * ba + 2.0 * B * C * k * Hkv * D * ba + B * q * H * D * b +
                      2.0 * B * k * Hkv * D * ba);
    m.buffers = Bytes(2.0 * B * C * q * H * (2.0 * D * b + 8.0) + 2.0 * B * C * q * H * D * ba +
                      2.0 * B * C * k * Hkv * D * 4.0);
  }
  return m;
}

// ---- memory (docs/model.md, §6) -----------------------------------------------------

MemoryBreakdown memory_ring_family(const Ctx& c, MechanismKind kind, BlockPass pass) {
  const double B = c.B, H = c.H, Hkv = c.Hkv, D = c.D, b = c.b, ba = c.ba;
  const double q = d(c.q), k = d(c.k);
  const double kv = 2.0 * B * Hkv * k * D * b;  // K_i and V_i
  MemoryBreakdown m;
  if (pass == BlockPass::fwd) {
    m.inputs = Bytes(B * H * q * D * b + kv);              // eq. 15a
    m.outputs = Bytes(B * H * q * (D * b + 4.0));
    const double partial = B * H * q * (D * ba + 4.0);
    if (kind == MechanismKind::lv_xattn)
      m.buffers = Bytes(2.0 * B * H * q * D * b + 2.0 * B * H * q * (D * ba + 4.0) + partial);
    else if (kind == MechanismKind::no_comm)
      m.buffers = Bytes(partial);
    else
      m.buffers = Bytes(2.0 * kv + partial);
  } else {
    m.inputs = Bytes(B * H * q * (3.0 * D * b + 4.0) + kv);  // eq. 15b: Q, O, dO, LSE, K, V
    m.outputs = Bytes(B * H * q * D * b + 2.0 * B * Hkv * k * D * ba);
    const double dq_partial = B * H * q * D * 4.0;           // kernels accumulate dQ in fp32
    const double dkv_partial = 2.0 * B * Hkv * k * D * 4.0;
    if (kind == MechanismKind::lv_xattn)
      m.buffers = Bytes(2.0 * B * H * q * (3.0 * D * b + 4.0) + 2.0 * B * H * q * D * ba + dq_partial + dkv_partial);
    else if (kind == MechanismKind::no_comm)
      m.buffers = Bytes(dq_partial + dkv_partial);
    else
      m.buffers = Bytes(2.0 * kv + 2.0 * 2.0 * B * Hkv * k * D * ba + dq_partial + dkv_partial);
  }
  return m;
}

// eq. 15c: head-parallel mechanisms (Ulysses, USP). Both layouts are live around the
// all-to-alls: the sequence shard of every head and the head shard of the ring position's
// sequence share; USP adds its ring's buffers (R = 1 for Ulysses: none).
MemoryBreakdown memory_head_parallel(const Ctx& c, const Ring& ring, BlockPass pass) {
  const double B = c.B, H = c.H, Hkv = c.Hkv, D = c.D, b = c.b, ba = c.ba;
  const double h = ring.heads, hkv = ring.kv_heads;
  const double qr = d(ring.q), kr = d(ring.k);
  const double q = d(c.q), k = d(c.k);
  const double seq_qkv = B * q * H * D * b + 2.0 * B * k * Hkv * D * b;
  const double head_kv = 2.0 * B * kr * hkv * D * b;
  const double head_qkv = B * qr * h * D * b + head_kv;
  const bool has_ring = ring.R > 1;
  MemoryBreakdown m;
  if (pass == BlockPass::fwd) {
    m.inputs = Bytes(seq_qkv + head_qkv);
    m.outputs = Bytes(B * qr * h * (D * b + 4.0) + B * q * H * D * b);
    if (has_ring) m.buffers = Bytes(2.0 * head_kv + B * qr * h * (D * ba + 4.0));
  } else {
    m.inputs = Bytes(head_qkv + B * qr * h * (2.0 * D * b + 4.0) + B * q * H * D * b);  // + O, dO, LSE; dO seq
    m.outputs = Bytes(head_qkv + seq_qkv);  // dQ, dK, dV in head and then sequence layout
    if (has_ring)
      m.buffers = Bytes(2.0 * head_kv + 2.0 * 2.0 * B * kr * hkv * D * ba + B * qr * h * D * 4.0 +
                        2.0 * B * kr * hkv * D * 4.0);
  }
  return m;
}

bool head_parallel(MechanismKind k) { return k == MechanismKind::ulysses || k == MechanismKind::usp; }

// What one cross-attention layer keeps for its backward, per GPU (eq. 16).
double saved_per_layer(const Ctx& c, const Mechanism& mech) {
  const double B = c.B, H = c.H, Hkv = c.Hkv, D = c.D, b = c.b;
  const double q = d(c.q), k = d(c.k);
  const double input = B * q * d(c.s.model.text_hidden) * b;
  if (c.s.recompute) return input + B * q * H * (D * b + 4.0);  // input, O, LSE
  if (mech.kind == MechanismKind::startrail) {  // team Q, redistributed K, V, own O and LSE
    const double C = mech.param;
    return input + B * C * q * H * D * b + 2.0 * B * C * k * Hkv * D * b + B * q * H * (D * b + 4.0);
  }
  if (head_parallel(mech.kind)) {
    const Ring ring = head_parallel_ring(c, head_degree(c, mech));
    return input + B * d(ring.q) * ring.heads * (2.0 * D * b + 4.0) + 2.0 * B * d(ring.k) * ring.kv_heads * D * b;
  }
  return input + B * q * H * (2.0 * D * b + 4.0) + 2.0 * B * Hkv * k * D * b;  // Q, O, LSE, K, V
}

MemoryBreakdown memory_for(const Ctx& c, const Mechanism& mech, BlockPass pass) {
  if (mech.kind == MechanismKind::startrail) return memory_startrail(c, mech.param, pass);
  if (head_parallel(mech.kind)) return memory_head_parallel(c, head_parallel_ring(c, head_degree(c, mech)), pass);
  return memory_ring_family(c, mech.kind, pass);
}

MemoryBreakdown memory(const Ctx& c, const Mechanism& mech, Pass pass) {
  MemoryBreakdown m;
  if (pass == Pass::fwd) {
    m = memory_for(c, mech, BlockPass::fwd);
  } else {
    MemoryBreakdown bwd = memory_for(c, mech, BlockPass::bwd);
    m = bwd;
    if (pass == Pass::fwd_bwd) {
      MemoryBreakdown fwd = memory_for(c, mech, BlockPass::fwd);
      if (fwd.inputs + fwd.outputs + fwd.buffers > bwd.inputs + bwd.outputs + bwd.buffers) m = fwd;
    }
    // The other cross-attention layers' saved activations, and the visual features they
    // all share (eq. 16).
    const double layers = std::max(c.s.model.cross_attention_layers - 1, 0);
    m.saved = Bytes(layers * saved_per_layer(c, mech) + c.B * d(c.k) * d(c.s.model.visual_hidden) * c.b);
  }
  return m;
}

bool ring_family(MechanismKind k) {
  return k == MechanismKind::lv_xattn || k == MechanismKind::ring || k == MechanismKind::no_comm ||
         k == MechanismKind::ring_zigzag || k == MechanismKind::ring_stripe;
}

}  // namespace

std::vector<RoundGroup> round_groups(const Scenario& s, const Mechanism& m, Pass pass) {
  std::vector<RoundGroup> out;
  if (!ring_family(m.kind) || pass == Pass::fwd_bwd) return out;
  const LayerView v = view_of(s);
  Ctx c(v);
  RingPlan plan = ring_plan(c, full_ring(c), m.kind, pass == Pass::fwd ? BlockPass::fwd : BlockPass::bwd);
  out.assign(plan.groups.begin(), plan.groups.begin() + plan.n);
  return out;
}

namespace {

Estimate estimate_view(const LayerView& s, const Mechanism& m, Pass pass) {
  Estimate e;
  e.mechanism = m;
  e.pass = pass;
  Ctx c(s);
  auto refuse = [&](std::string why) {
    e.feasible = false;
    e.reason = std::move(why);
    return e;
  };
  if (s.shape.mask == Mask::media_local)
    return refuse("the closed form models dense and causal masks; a media-local mask's skipped blocks depend "
                  "on where each text span and frame land, which the Schedule (xattn schedule) and the event "
                  "engine count exactly");
  if ((m.kind == MechanismKind::ring_zigzag || m.kind == MechanismKind::ring_stripe) && s.shape.mask != Mask::causal)
    return refuse(fmt::format("{} is a layout for causal self-attention; with a dense mask use ring", m.name()));
  if (m.kind == MechanismKind::startrail) {
    std::string why = startrail_refusal(c, m.param);
    if (!why.empty()) return refuse(std::move(why));
  }
  if (head_parallel(m.kind)) {
    std::string why = head_parallel_refusal(c, m);
    if (!why.empty()) return refuse(std::move(why));
  }
  const Ring ring = full_ring(c);
  auto one = [&](BlockPass bp) {
    if (m.kind == MechanismKind::startrail) return startrail_pass(c, m.param, bp);
    return head_parallel(m.kind) ? head_parallel_pass(c, m, bp) : run_plan(ring_plan(c, ring, m.kind, bp));
  };
  PassResult r;
  if (pass == Pass::fwd || pass == Pass::bwd) {
    r = one(pass == Pass::fwd ? BlockPass::fwd : BlockPass::bwd);
  } else {
    PassResult f = one(BlockPass::fwd), b = one(BlockPass::bwd);
    r.time = f.time + b.time;
    r.compute = f.compute + b.compute;
    r.flops = f.flops + b.flops;
    r.bytes = f.bytes + b.bytes;
    r.rounds = f.rounds + b.rounds;
  }
  e.time = r.time;
  e.compute = r.compute;
  e.exposed_comm = r.time - r.compute;
  e.flops_per_rank = r.flops;
  e.bytes_per_rank = r.bytes;
  e.rounds = r.rounds;
  e.memory = memory(c, m, pass);
  e.fits = e.memory.total() <= s.cluster.gpu.memory - s.memory_reserved;
  return e;
}

}  // namespace

Estimate estimate(const Scenario& s, const Mechanism& m, Pass pass) { return estimate_view(view_of(s), m, pass); }

Estimate estimate(const Scenario& s, const LayerQuery& layer, const Mechanism& m, Pass pass) {
  const LayerView v{layer.shape,   layer.group != nullptr ? *layer.group : s.cluster,
                    s.calibration, s.model,
                    layer.recompute, s.accumulator,
                    s.memory_reserved};
  return estimate_view(v, m, pass);
}

std::vector<Estimate> estimate_all(const Scenario& s, const std::vector<Pass>& passes) {
  std::vector<Estimate> out;
  out.reserve(s.mechanisms.size() * passes.size());
  for (const auto& m : s.mechanisms)
    for (Pass p : passes) out.push_back(estimate(s, m, p));
  return out;
}

}  // namespace xattn
