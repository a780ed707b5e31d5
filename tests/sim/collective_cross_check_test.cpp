// The collective model against the simulator's network model: a ring all-reduce laid
// out as NCCL does it on NDv4 (one ring per channel, each channel leaving every node by
// its own NIC), run step by step as flows on sim::FlowNetwork over links without latency,
// must take the time on the wire the closed form gives (gpu_time_parts, model/link_cost),
// inside one node and across nodes: the NIC lanes of the closed form are the channels.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "model/collective_model.hpp"
#include "model/link_cost.hpp"
#include "model/presets.hpp"
#include "sim/network.hpp"
#include "sim/topology.hpp"

namespace xattn {
namespace {

// Channel k's ring, as global ranks. Node j is entered at local GPU s_j and left from
// s_j - 1 (mod g), towards the same local GPU of the next node, so the channel uses NIC
// s_j - 1 out of node j; s_0 = k and s_{j+1} = s_j - 1. Different channels use different
// NICs on every node.
std::vector<int> channel_ring(int k, int nodes, int g) {
  std::vector<int> ring;
  int start = k;
  for (int j = 0; j < nodes; ++j) {
    for (int i = 0; i < g; ++i) ring.push_back(j * g + (start + i) % g);
    start = (start - 1 + g) % g;
  }
  return ring;
}

// Reduce-scatter then all-gather: 2(n-1) steps, in each of which every rank of every
// channel sends S / (n * channels) to its successor; a step ends when all its flows have.
Seconds simulate_ring_all_reduce(const Cluster& c, const Calibration& cal, double bytes, int channels) {
  auto net = sim::make_network(sim::NetworkModel::flow, sim::Topology::from_cluster(c, cal), &cal);
  const int n = c.ranks();
  std::vector<std::vector<int>> rings;
  for (int k = 0; k < channels; ++k) rings.push_back(channel_ring(k, c.nodes, c.gpus_per_node));
  const double chunk = bytes / (static_cast<double>(n) * channels);
  Time now;
  std::uint64_t id = 0;
  std::vector<std::uint64_t> done;
  for (int step = 0; step < 2 * (n - 1); ++step) {
    std::size_t pending = 0;
    for (const auto& ring : rings)
      for (int r = 0; r < n; ++r) {
        net->start(now, ring[static_cast<std::size_t>(r)], ring[static_cast<std::size_t>((r + 1) % n)], chunk, id++);
        ++pending;
      }
    while (pending > 0) {
      Time t = net->next_event_after(now);
      if (t.is_never()) {
        ADD_FAILURE() << "the network went idle with transfers pending";
        return Seconds(0);
      }
      done.clear();
      net->advance(now, t - now, done);
      now = t;
      pending -= std::min(pending, done.size());
    }
  }
  return now.seconds();
}

TEST(CollectiveCrossCheck, RingAllReduceMatchesTheSimulatorsFlowNetwork) {
  Cluster c = find_cluster("azure-ndv4")->cluster;  // 8 GPUs per node, NVSwitch, 8 NICs
  Calibration wire;  // the preset's bandwidths, no latency: the wire alone
  wire.intra_node.latency = Seconds(0);
  wire.inter_node.latency = Seconds(0);
  // The NICs at what NCCL gets through them (18.0 GB/s on this preset), as the closed form
  // sees them when nothing across nodes is calibrated.
  c.inter = collective_nic(c, wire);
  ASSERT_NEAR(to_gigabytes_per_second(c.inter.bandwidth), 18.0, 1e-9);
  for (int nodes : {1, 2, 4}) {
    c.nodes = nodes;
    CollectiveShape s;
    s.op = NcclCollective::all_reduce;
    s.gpus = c.ranks();
    s.gpus_per_node = c.gpus_per_node;
    s.nics_per_node = c.nics_per_node;
    const CollectiveLinks links = CollectiveLinks::from(c, wire);
    for (double bytes : {1048576.0, 268435456.0}) {
      SCOPED_TRACE(testing::Message() << nodes << " node(s), " << bytes << " B");
      Seconds simulated = simulate_ring_all_reduce(c, wire, bytes, c.gpus_per_node);
      Seconds closed = gpu_time_parts(links, s, Bytes(bytes), Algorithm::ring, Protocol::simple).wire;
      EXPECT_NEAR(simulated / closed, 1.0, 1e-3) << to_microseconds(simulated) << " us simulated vs "
                                                 << to_microseconds(closed) << " us closed form";
    }
  }
}

TEST(CollectiveCrossCheck, OneChannelAcrossNodesIsOneNicSlower) {
  // With a single ring, all of its traffic leaves each node by one NIC: the simulator
  // shows the 8x that the closed form's NIC lanes stand for.
  Cluster c = find_cluster("azure-ndv4")->cluster;
  c.nodes = 2;
  Calibration nominal;
  const double bytes = 4294967296.0;  // large enough that latency is noise
  Seconds eight = simulate_ring_all_reduce(c, nominal, bytes, 8);
  Seconds one = simulate_ring_all_reduce(c, nominal, bytes, 1);
  EXPECT_NEAR(one / eight, 8.0, 0.1);
}

}  // namespace
}  // namespace xattn
