// The ring collective model's decomposition and rows; the derivation is in
// collective_model.hpp and docs/calibration.md, "Collective model". The regimes and the
// time of a collective come from model/link_cost.hpp, which prices hops for every engine.
#include "model/collective_model.hpp"

#include <algorithm>
#include <cassert>

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

CollectiveLinks CollectiveLinks::from(const Cluster& nominal, const Calibration& cal) {
  CollectiveLinks l;
  l.intra = link_regimes(nominal.intra, cal.intra_node);
  l.inter = link_regimes(nominal.inter, cal.inter_node);
  // A launch mode the calibration did not measure takes the other mode's figure.
  auto single = cal.launch.single_process ? cal.launch.single_process : cal.launch.mpi;
  auto mpi = cal.launch.mpi ? cal.launch.mpi : cal.launch.single_process;
  l.overhead_single_process = single.value_or(Seconds(0));
  l.overhead_mpi = mpi.value_or(Seconds(0));
  return l;
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

CollectiveTerms collective_terms(const CollectiveShape& s, Bytes size) {
  CollectiveTerms t;
  const int n = s.gpus;
  const int nodes = s.nodes();
  const double dn = n;
  t.communicates = n > 1;
  t.bottleneck = nodes > 1 ? LinkClass::inter_node : LinkClass::intra_node;
  const double lanes = nodes > 1 ? std::max(1, s.nics_per_node) : 1.0;
  switch (s.op) {
    case NcclCollective::all_reduce:
      t.hops = 2.0 * (dn - 1);
      t.intra_wire = size * (2.0 * (dn - 1) / dn);
      t.wire = t.intra_wire;
      t.lanes = lanes;
      break;
    case NcclCollective::all_gather:
    case NcclCollective::reduce_scatter:
      t.hops = dn - 1;
      t.intra_wire = size * ((dn - 1) / dn);
      t.wire = t.intra_wire;
      t.lanes = lanes;
      break;
    case NcclCollective::broadcast:
    case NcclCollective::reduce:
      t.hops = dn - 1;
      t.intra_wire = size;
      t.wire = size;
      t.lanes = lanes;
      break;
    case NcclCollective::sendrecv:
      // Rank r sends to r+1: one message per rank, one NIC per message across nodes.
      t.hops = 1;
      t.intra_wire = size;
      t.wire = size;
      t.lanes = 1;
      break;
    case NcclCollective::all_to_all: {
      // Every pair at once: each GPU sends size/n to each peer. Inside the node: (g-1)/n of
      // the buffer per GPU; across nodes: g * (n-g)/n of it per node, shared by its NICs.
      const double g = std::min(s.gpus_per_node, n);
      t.hops = 1;
      t.intra_wire = size * ((g - 1) / dn);
      t.wire = nodes > 1 ? size * (g * (dn - g) / dn) : t.intra_wire;
      t.lanes = lanes;
      break;
    }
  }
  return t;
}

Seconds RingCollectiveModel::time_with(const CollectiveShape& s, Bytes size, Protocol p) const {
  return price_collective(links_, s, size, p);
}

CollectiveEstimate RingCollectiveModel::estimate(const CollectiveShape& s, Bytes size) const {
  return price_collective(links_, s, size);
}

CollectiveRow predict_row(const CollectiveModel& m, const CollectiveShape& s, Bytes size, int type_bytes) {
  CollectiveEstimate e = m.estimate(s, size);
  CollectiveRow row;
  row.size = size;
  row.count = element_count(s.op, s.gpus, size, type_bytes);
  row.time = e.time;
  row.protocol = e.protocol;
  row.algbw_GBps = e.time.value() > 0 ? size.value() / e.time.value() * 1e-9 : 0.0;
  row.busbw_GBps = s.gpus > 1 ? row.algbw_GBps * busbw_factor(s.op, s.gpus) : 0.0;
  return row;
}

}  // namespace xattn
