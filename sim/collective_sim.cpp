// Collectives on the simulator's network (collective_sim.hpp).
#include "sim/collective_sim.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "model/core/error.hpp"
#include "model/core/memory.hpp"
#include "model/link_cost.hpp"
#include "sim/network.hpp"
#include "sim/topology.hpp"

namespace xattn::sim {
namespace {

// All-to-all posts n(n−1) flows at once; past this many the max-min solver is too slow
// for a per-size table, and the ring model answers instead.
constexpr double max_all_to_all_flows = 262144.0;

// A ring step lays one flow per rank and channel on the topology; past this many (a
// quarter of a million GPUs with 8 NICs per node) a table of sizes would take hours, and
// the memory grows with it: such a run is refused (docs/limits.md, "Memory"), the closed
// form answers it.
constexpr std::int64_t max_ring_flows = std::int64_t{1} << 21;

// Refuses a ring step this process cannot lay out in bounded work and memory.
void check_ring_fits(const Cluster& c, std::int64_t flows) {
  const std::int64_t links = Topology::link_count(c);
  const double bytes =
      static_cast<double>(flows) * Topology::bytes_per_flow + static_cast<double>(links) * Topology::bytes_per_link;
  const std::string what = fmt::format("the collective simulator's ring over {} GPUs ({} flows per step on {} links)",
                                       c.ranks(), flows, links);
  const std::string instead = "the closed form (--engine analytic) answers it";
  if (flows > max_ring_flows)
    throw EnvironmentError(what, fmt::format("more than the {} flows per step it lays out in bounded time; {}",
                                             max_ring_flows, instead));
  check_memory(static_cast<std::uint64_t>(bytes), what, instead);
}

// The link calibration of one class for protocol p on the network: no latency (the closed
// form prices it) and one regime, the bandwidth cap. The bottleneck class runs p's regime;
// the other class (and a bottleneck class without regimes) its widest, the link's own
// rate, as price_collective reads them. The regimes are read as the closed form reads them
// (link_regimes: none wider than the class's link).
LinkCalibration wire_only(const LinkSpec& nominal, const LinkCalibration& lc, Protocol p, bool bottleneck) {
  const std::vector<ProtocolRegime> regimes = link_regimes(nominal, lc);
  const ProtocolRegime* r = bottleneck ? find_regime(regimes, p) : nullptr;
  if (r == nullptr) r = &widest(regimes);
  LinkCalibration out;
  ProtocolRegime w = *r;
  w.latency = Seconds(0);
  w.base_latency = Seconds(0);
  out.protocols = {w};
  // The topology's links carry the regime's figures too, so that a link is never
  // narrower than the regime running on it.
  out.latency = Seconds(0);
  out.bandwidth = r->bandwidth;
  return out;
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
    : nominal_(std::move(nominal)), cal_(std::move(cal)), links_(CollectiveLinks::from(nominal_, cal_)) {
  nominal_.inter = collective_nic(nominal_, cal_);  // the NICs' flows at what NCCL gets through them
}

bool SimCollectiveModel::simulates(NcclCollective op) {
  return op != NcclCollective::broadcast && op != NcclCollective::reduce && op != NcclCollective::sendrecv;
}

Seconds SimCollectiveModel::gpu_time(const CollectiveShape& s, Bytes size, Algorithm a, Protocol p) const {
  const GpuTimeParts parts = gpu_time_parts(links_, s, size, a, p);
  const int n = s.gpus;
  const double dn = n;
  const double a2a_flows = dn * (dn - 1.0);
  if (a != Algorithm::ring || !simulates(s.op) || n <= 1 || !std::isfinite(parts.total().value()) ||
      (s.op == NcclCollective::all_to_all && a2a_flows > max_all_to_all_flows))
    return parts.total();

  Cluster c = nominal_;
  c.gpus_per_node = std::min(s.gpus_per_node, n);
  c.nodes = s.nodes();
  c.nics_per_node = std::max(1, s.nics_per_node);
  const bool across = c.nodes > 1;
  Calibration cal = cal_;
  cal.intra_node = wire_only(nominal_.intra, cal_.intra_node, p, !across);
  cal.inter_node = wire_only(nominal_.inter, cal_.inter_node, p, across);
  const int g = c.gpus_per_node;
  const int channels = across ? c.nics_per_node : 1;
  check_ring_fits(c, s.op == NcclCollective::all_to_all ? static_cast<std::int64_t>(a2a_flows)
                                                         : std::int64_t{n} * channels);
  auto net = make_network(NetworkModel::flow, Topology::from_cluster(c, cal), &cal);

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
    case NcclCollective::all_to_all:
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j)
          if (i != j) flows.push_back(Flow{i, j, size.value() / dn});
      break;
    case NcclCollective::sendrecv:
    case NcclCollective::broadcast:
    case NcclCollective::reduce: break;  // handled above
  }
  const Seconds step = run_step(*net, flows);
  return parts.fixed + step * static_cast<double>(steps);
}

Seconds SimCollectiveModel::time_with(const CollectiveShape& s, Bytes size, Algorithm a, Protocol p) const {
  return max(links_.host(s), gpu_time(s, size, a, p));
}

Seconds SimCollectiveModel::time_with(const CollectiveShape& s, Bytes size, Protocol p) const {
  return choose(s, size, p).time;
}

CollectiveEstimate SimCollectiveModel::estimate(const CollectiveShape& s, Bytes size) const {
  return choose(s, size, std::nullopt);
}

// NCCL's choice with the ring timed on the network, each protocol's ring simulated once:
// the tuner compares it with the tree as it counts the tree's bytes
// (CollectiveTerms::tuner_wire), and the pair it picks is priced the same way, the tree at
// its own bytes.
CollectiveEstimate SimCollectiveModel::choose(const CollectiveShape& s, Bytes size, std::optional<Protocol> only) const {
  std::array<std::optional<Seconds>, 3> ring;  // by Protocol
  auto timed = [&](Algorithm a, Protocol p) {
    if (a != Algorithm::ring) return gpu_time(s, size, a, p);
    std::optional<Seconds>& r = ring[static_cast<std::size_t>(p)];
    if (!r) r = gpu_time(s, size, a, p);
    return *r;
  };
  auto tuner = [&](Algorithm a, Protocol p) {
    return a == Algorithm::tree ? xattn::gpu_time(links_, s, size, a, p, true) : timed(a, p);
  };
  return nccl_choice(s, links_.host(s), timed, tuner, only);
}

}  // namespace xattn::sim
