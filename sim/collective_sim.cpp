// Collectives on the simulator's network (collective_sim.hpp).
#include "sim/collective_sim.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "model/link_cost.hpp"
#include "sim/network.hpp"
#include "sim/topology.hpp"

namespace xattn::sim {
namespace {

// All-to-all posts n(n−1) flows at once; past this many the max-min solver is too slow
// for a per-size table, and the ring model answers instead.
constexpr double max_all_to_all_flows = 262144.0;

// The link calibration of one class restricted to protocol p: p's regime when the class
// has one, else (for the class that is not the bottleneck) its widest regime; a class
// without regimes keeps its plain latency/bandwidth, which the ring model calls Simple.
// The regimes are read as the ring model reads them (link_regimes: none wider than the
// class's link).
LinkCalibration restrict_to(const LinkSpec& nominal, const LinkCalibration& lc, Protocol p) {
  if (lc.protocols.empty()) return lc;
  LinkCalibration out = lc;
  const std::vector<ProtocolRegime> regimes = link_regimes(nominal, lc);
  const ProtocolRegime* r = find_regime(regimes, p);
  if (r == nullptr) r = &widest(regimes);
  out.protocols = {*r};
  // The topology's links carry the regime's figures too, so that a link is never
  // narrower than the regime running on it.
  out.latency = r->latency;
  out.bandwidth = r->bandwidth;
  return out;
}

// Whether protocol p exists on link class `lc` (no regimes: Simple only).
const ProtocolRegime* regime_or_null(const LinkCalibration& lc, Protocol p, ProtocolRegime& plain) {
  if (lc.protocols.empty()) {
    if (p != Protocol::simple) return nullptr;
    plain = ProtocolRegime{Protocol::simple, Seconds(0), BytesPerSecond(0), Seconds(0)};
    return &plain;
  }
  return find_regime(lc.protocols, p);
}

// Channel k's ring as global ranks (see the header): node j is entered at local GPU s_j
// and left from s_j − 1, with s_0 = k and s_{j+1} = s_j − 1 (mod g).
std::vector<int> channel_ring(int k, int nodes, int g) {
  std::vector<int> ring;
  ring.reserve(static_cast<std::size_t>(nodes * g));
  int start = k % g;
  for (int j = 0; j < nodes; ++j) {
    for (int i = 0; i < g; ++i) ring.push_back(j * g + (start + i) % g);
    start = (start - 1 + g) % g;
  }
  return ring;
}

struct Flow {
  int src, dst;
  double bytes;
};

// How long a set of flows started together takes to finish on `net`.
Seconds run_step(Network& net, const std::vector<Flow>& flows) {
  Time now;
  std::uint64_t id = 0;
  for (const Flow& f : flows) net.start(now, f.src, f.dst, f.bytes, id++);
  std::size_t pending = flows.size();
  std::vector<std::uint64_t> done;
  while (pending > 0) {
    const Time t = net.next_event_after(now);
    if (t.is_never()) break;  // cannot happen: every flow has a positive-rate route
    done.clear();
    net.advance(now, t - now, done);
    now = t;
    pending -= std::min(pending, done.size());
  }
  return now.seconds();
}

}  // namespace

SimCollectiveModel::SimCollectiveModel(Cluster nominal, Calibration cal)
    : nominal_(std::move(nominal)), cal_(std::move(cal)), ring_(CollectiveLinks::from(nominal_, cal_)) {}

bool SimCollectiveModel::simulates(NcclCollective op) {
  return op != NcclCollective::broadcast && op != NcclCollective::reduce;
}

Seconds SimCollectiveModel::time_with(const CollectiveShape& s, Bytes size, Protocol p) const {
  const int n = s.gpus;
  const double dn = n;
  const double a2a_flows = dn * (dn - 1.0);
  if (!simulates(s.op) || (s.op == NcclCollective::all_to_all && a2a_flows > max_all_to_all_flows))
    return ring_.time_with(s, size, p);
  const Seconds overhead = ring_.links().overhead(s.launch);
  if (n <= 1) return overhead;

  Cluster c = nominal_;
  c.gpus_per_node = std::min(s.gpus_per_node, n);
  c.nodes = s.nodes();
  c.nics_per_node = std::max(1, s.nics_per_node);
  const bool across = c.nodes > 1;
  const LinkCalibration& bottleneck = across ? cal_.inter_node : cal_.intra_node;
  ProtocolRegime plain;
  const ProtocolRegime* r = regime_or_null(bottleneck, p, plain);
  if (r == nullptr) return Seconds(std::numeric_limits<double>::infinity());

  Calibration cal = cal_;
  cal.intra_node = restrict_to(nominal_.intra, cal_.intra_node, p);
  cal.inter_node = restrict_to(nominal_.inter, cal_.inter_node, p);
  auto net = make_network(NetworkModel::flow, Topology::from_cluster(c, cal), &cal);

  const int g = c.gpus_per_node;
  const int channels = across ? c.nics_per_node : 1;
  std::vector<Flow> flows;
  int steps = 1;
  switch (s.op) {
    case NcclCollective::all_reduce:
    case NcclCollective::all_gather:
    case NcclCollective::reduce_scatter: {
      steps = s.op == NcclCollective::all_reduce ? 2 * (n - 1) : n - 1;
      const double chunk = size.value() / (dn * channels);
      for (int k = 0; k < channels; ++k) {
        const std::vector<int> ring = channel_ring(k, c.nodes, g);
        for (int i = 0; i < n; ++i)
          flows.push_back(Flow{ring[static_cast<std::size_t>(i)], ring[static_cast<std::size_t>((i + 1) % n)], chunk});
      }
      break;
    }
    case NcclCollective::sendrecv:
      for (int i = 0; i < n; ++i) flows.push_back(Flow{i, (i + 1) % n, size.value()});
      break;
    case NcclCollective::all_to_all:
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j)
          if (i != j) flows.push_back(Flow{i, j, size.value() / dn});
      break;
    case NcclCollective::broadcast:
    case NcclCollective::reduce: break;  // handled above
  }
  const Seconds step = run_step(*net, flows);
  return overhead + r->base_latency + step * static_cast<double>(steps);
}

CollectiveEstimate SimCollectiveModel::estimate(const CollectiveShape& s, Bytes size) const {
  const LinkClass bottleneck = s.nodes() > 1 ? LinkClass::inter_node : LinkClass::intra_node;
  CollectiveEstimate best{Seconds(std::numeric_limits<double>::infinity()), Protocol::simple, bottleneck};
  for (Protocol p : {Protocol::ll, Protocol::ll128, Protocol::simple}) {
    const Seconds t = time_with(s, size, p);
    if (t < best.time) best = {t, p, bottleneck};
  }
  return best;
}

}  // namespace xattn::sim
