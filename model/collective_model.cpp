// The collective model's decomposition (ring, tree, lone messages), NCCL's tuning constants
// it takes over, and nccl-tests' rows; the derivation is in collective_model.hpp and
// docs/calibration.md, "The collective model". The regimes and the time of a collective
// come from model/link_cost.hpp, which prices hops for every engine.
#include "model/collective_model.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "model/link_cost.hpp"

namespace xattn {

const ProtocolRegime* find_regime(const std::vector<ProtocolRegime>& rs, Protocol p) {
  for (const auto& r : rs)
    if (r.protocol == p) return &r;
  return nullptr;
}

const ProtocolRegime& widest(const std::vector<ProtocolRegime>& rs) {
  assert(!rs.empty());
  return *std::max_element(rs.begin(), rs.end(),
                           [](const ProtocolRegime& a, const ProtocolRegime& b) { return a.bandwidth < b.bandwidth; });
}

LinkSpec collective_nic(const Cluster& nominal, const Calibration& cal) {
  LinkSpec nic = nominal.inter;
  if (nominal.nccl_per_nic && cal.inter_node.protocols.empty() && !cal.inter_node.bandwidth)
    nic.bandwidth = std::min(nic.bandwidth, *nominal.nccl_per_nic);
  return nic;
}

CollectiveLinks CollectiveLinks::from(const Cluster& nominal, const Calibration& cal) {
  CollectiveLinks l;
  l.intra = link_regimes(nominal.intra, cal.intra_node);
  l.inter = link_regimes(collective_nic(nominal, cal), cal.inter_node);
  l.intra_p2p = cal.intra_node.p2p;
  l.inter_p2p = cal.inter_node.p2p;
  // A launch mode the calibration did not measure takes the other mode's figure.
  auto single = cal.launch.single_process ? cal.launch.single_process : cal.launch.mpi;
  auto mpi = cal.launch.mpi ? cal.launch.mpi : cal.launch.single_process;
  l.overhead_single_process = single.value_or(Seconds(0));
  l.overhead_mpi = mpi.value_or(Seconds(0));
  l.overhead_per_gpu = cal.launch.per_gpu.value_or(Seconds(0));
  return l;
}

std::string_view to_string(Algorithm a) {
  switch (a) {
    case Algorithm::ring: return "ring";
    case Algorithm::tree: return "tree";
    case Algorithm::p2p: return "p2p";
  }
  return "?";
}

namespace {

// NVIDIA/nccl src/graph/tuning.cc (2.18/2.19): baseLat of the tree minus the ring's, in us.
constexpr double kTreeBaseOffsetUs[3] = {6.8 - 6.6, 14.0 - 14.0, 0.0 - 8.4};
// The same file: the tree reaches 0.92 of the links' bandwidth, and treeCorrectionFactor
// scales it further for medium sizes, indexed by log2(bytes / 64), 64 B to 256 MiB.
constexpr double kTreeEfficiency = 0.92;
constexpr double kTreeCorrection[3][23] = {
    {1.0, 1.0, 1.0, 1.0, .9, .8, .7, .7, .7, .7, .6, .5, .4, .4, .5, .6, .7, .8, .9, 1.0, 1.0, 1.0, 1.0},
    {1.0, 1.0, 1.0, 1.0, 1.0, .9, .8, .8, .8, .7, .6, .6, .6, .6, .6, .6, .8, .9, .9, .9, .9, 1.0, 1.0},
    {.9, .9, .9, .9, .9, .9, .9, .8, .7, .6, .6, .5, .5, .5, .5, .6, .7, .8, .7, .7, .8, .9, .9}};

int protocol_index(Protocol p) { return p == Protocol::ll ? 0 : p == Protocol::ll128 ? 1 : 2; }

// floor(log2(v)) for v >= 1, 0 below (NCCL's log2i).
int floor_log2(double v) {
  int l = 0;
  while (v >= 2.0) {
    v /= 2.0;
    ++l;
  }
  return l;
}

}  // namespace

Seconds tree_base_offset(Protocol p) { return microseconds(kTreeBaseOffsetUs[protocol_index(p)]); }

double tree_efficiency(Protocol p, Bytes size) {
  const int l = floor_log2(std::floor(size.value() / 64.0));
  const double correction = l < 23 ? kTreeCorrection[protocol_index(p)][l] : 1.0;
  return kTreeEfficiency * correction;
}

double busbw_factor(NcclCollective op, int ranks) {
  const double n = ranks;
  switch (op) {
    case NcclCollective::all_reduce: return 2.0 * (n - 1) / n;
    case NcclCollective::all_gather:
    case NcclCollective::reduce_scatter:
    case NcclCollective::all_to_all: return (n - 1) / n;
    case NcclCollective::broadcast:
    case NcclCollective::reduce:
    case NcclCollective::sendrecv: return 1.0;
  }
  return 1.0;
}

std::int64_t element_count(NcclCollective op, int ranks, Bytes size, int type_bytes) {
  auto elems = static_cast<std::int64_t>(size.value()) / type_bytes;
  switch (op) {
    case NcclCollective::all_gather:
    case NcclCollective::reduce_scatter:
    case NcclCollective::all_to_all: return elems / ranks;  // per-rank count, as nccl-tests prints
    default: return elems;
  }
}

CollectiveTerms collective_terms(const CollectiveShape& s, Bytes size, Algorithm a, Protocol p) {
  CollectiveTerms t;
  const int n = s.gpus;
  const int nodes = s.nodes();
  const double dn = n;
  const double dN = nodes;
  t.communicates = n > 1;
  t.bottleneck = nodes > 1 ? LinkClass::inter_node : LinkClass::intra_node;
  const double lanes = nodes > 1 ? std::max(1, s.nics_per_node) : 1.0;
  // A ring's hops on a chunk's path of h consecutive hops: the path crosses the N node
  // boundaries of each revolution (n hops), so ceil(h N / n) of its hops are between nodes
  // (NCCL's count for all-reduce: 2N).
  auto ring_path = [&](double h) {
    const double x = nodes > 1 ? std::ceil(h * dN / dn - 1e-9) : 0.0;
    t.inter_hops = x;
    t.intra_hops = h - x;
  };
  const bool sendrecv = s.op == NcclCollective::sendrecv;
  if (a == Algorithm::p2p || sendrecv) {
    // Rank r sends to r+1: one message per rank, one NIC per message across nodes.
    t.available = a == Algorithm::p2p && sendrecv;
    (nodes > 1 ? t.inter_hops : t.intra_hops) = 1;
    t.intra_wire = size;
    t.wire = size;
    t.lanes = 1;
    return t;
  }
  if (a == Algorithm::tree) {
    // NCCL's double binary tree over the nodes, a chain inside each: the buffer goes up
    // and comes down. Each tree carries half of it; a node that is inner in one tree (two
    // children) and a leaf in the other receives S from its children, S/2 from its parent
    // and S/2 as a leaf, and sends as much: 2S each way. Over 2 nodes each tree is a root
    // and a leaf (S each way), over 3 one node is the inner of one tree only (1.5S).
    // NCCL's tuner counts 2S everywhere (its tree ratio 1/2).
    t.available = s.op == NcclCollective::all_reduce && nodes > 1;
    const double g = std::min(s.gpus_per_node, n);
    t.intra_hops = 2.0 * (g - 1);
    t.tree_levels = 2.0 * floor_log2(dN);
    t.wire = size * (nodes == 2 ? 1.0 : nodes == 3 ? 1.5 : 2.0);
    t.tuner_wire = size * 2.0;
    t.intra_wire = size * 2.0;
    t.lanes = lanes;
    t.efficiency = tree_efficiency(p, size);
    t.base_offset = tree_base_offset(p);
    return t;
  }
  switch (s.op) {
    case NcclCollective::all_reduce:
      ring_path(2.0 * (dn - 1));
      t.intra_wire = size * (2.0 * (dn - 1) / dn);
      t.wire = t.intra_wire;
      t.lanes = lanes;
      break;
    case NcclCollective::all_gather:
    case NcclCollective::reduce_scatter:
      ring_path(dn - 1);
      t.intra_wire = size * ((dn - 1) / dn);
      t.wire = t.intra_wire;
      t.lanes = lanes;
      break;
    case NcclCollective::broadcast:
    case NcclCollective::reduce:
      // A pipelined chain: n-1 hops, crossing each node boundary once.
      t.inter_hops = nodes - 1;
      t.intra_hops = (dn - 1) - t.inter_hops;
      t.intra_wire = size;
      t.wire = size;
      t.lanes = lanes;
      break;
    case NcclCollective::all_to_all: {
      // Every pair at once: each GPU sends size/n to each peer. Inside the node: (g-1)/n of
      // the buffer per GPU; across nodes: g * (n-g)/n of it per node, shared by its NICs.
      const double g = std::min(s.gpus_per_node, n);
      (nodes > 1 ? t.inter_hops : t.intra_hops) = 1;
      t.intra_wire = size * ((g - 1) / dn);
      t.wire = nodes > 1 ? size * (g * (dn - g) / dn) : t.intra_wire;
      t.lanes = lanes;
      break;
    }
    case NcclCollective::sendrecv: break;  // above
  }
  return t;
}

Seconds NcclCollectiveModel::time_with(const CollectiveShape& s, Bytes size, Protocol p) const {
  return price_collective(links_, s, size, p);
}

Seconds NcclCollectiveModel::time_with(const CollectiveShape& s, Bytes size, Algorithm a, Protocol p) const {
  return price_collective(links_, s, size, a, p);
}

CollectiveEstimate NcclCollectiveModel::estimate(const CollectiveShape& s, Bytes size) const {
  return price_collective(links_, s, size);
}

CollectiveRow predict_row(const CollectiveModel& m, const CollectiveShape& s, Bytes size, int type_bytes) {
  CollectiveEstimate e = m.estimate(s, size);
  CollectiveRow row;
  row.size = size;
  row.count = element_count(s.op, s.gpus, size, type_bytes);
  row.time = e.time;
  row.protocol = e.protocol;
  row.algorithm = e.algorithm;
  row.host_bound = e.host_bound;
  row.algbw_GBps = e.time.value() > 0 ? size.value() / e.time.value() * 1e-9 : 0.0;
  row.busbw_GBps = s.gpus > 1 ? row.algbw_GBps * busbw_factor(s.op, s.gpus) : 0.0;
  return row;
}

}  // namespace xattn
