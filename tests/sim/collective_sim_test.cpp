// Collectives timed on the simulator's network (sim/collective_sim.hpp) against the closed
// form (model/collective_model.hpp): the network decides only the ring's time on the wire,
// everything else is link_cost's; so they are equal where the closed form's assumptions
// hold (NVSwitch inside a node, one NIC per channel across nodes), and different — by the
// amount the topology says — where they do not (a PCIe host bridge every message crosses).
#include <gtest/gtest.h>

#include "model/collective_model.hpp"
#include "model/presets.hpp"
#include "sim/collective_sim.hpp"

namespace xattn {
namespace {

CollectiveShape shape_of(const Cluster& c, NcclCollective op, int nodes) {
  CollectiveShape s;
  s.op = op;
  s.gpus = nodes * c.gpus_per_node;
  s.gpus_per_node = c.gpus_per_node;
  s.nics_per_node = c.nics_per_node;
  s.launch = nodes > 1 ? LaunchMode::mpi : LaunchMode::single_process;
  return s;
}

// Three regimes per link class, shaped like the NDv4 fit (LL: low latency, low bandwidth;
// Simple: the reverse), plus launch overheads and base latencies, so that the protocol
// choice and the fixed costs are exercised too.
Calibration three_regimes() {
  Calibration cal;
  cal.intra_node.protocols = {
      ProtocolRegime{Protocol::ll, microseconds(1.0), BytesPerSecond(40e9), microseconds(2.0)},
      ProtocolRegime{Protocol::ll128, microseconds(2.0), BytesPerSecond(120e9), microseconds(3.0)},
      ProtocolRegime{Protocol::simple, microseconds(6.0), BytesPerSecond(230e9), microseconds(8.0)}};
  cal.inter_node.protocols = {
      ProtocolRegime{Protocol::ll, microseconds(4.0), BytesPerSecond(8e9), microseconds(5.0)},
      ProtocolRegime{Protocol::ll128, microseconds(6.0), BytesPerSecond(18e9), microseconds(7.0)},
      ProtocolRegime{Protocol::simple, microseconds(12.0), BytesPerSecond(23e9), microseconds(20.0)}};
  cal.launch.single_process = microseconds(9.0);
  cal.launch.mpi = microseconds(15.0);
  return cal;
}

TEST(SimCollective, RingCollectivesOnNvSwitchAndRailNicsEqualTheClosedForm) {
  // NDv4: 8 GPUs behind NVSwitch, one NIC per GPU. Every step of a ring moves equal pieces
  // over disjoint ports and is gated by one link class, which is exactly what the closed
  // form assumes, and the rest (base latency, hops, tree levels, host) is priced by the same
  // function: the two must agree (to the picosecond rounding of the simulator's clock), the
  // choice of algorithm and protocol included, inside one node and across 2 and 4.
  Cluster c = find_cluster("azure-ndv4")->cluster;
  for (const Calibration& cal : {Calibration{}, three_regimes()}) {
    NcclCollectiveModel closed(CollectiveLinks::from(c, cal));
    sim::SimCollectiveModel simulated(c, cal);
    for (NcclCollective op : {NcclCollective::all_reduce, NcclCollective::all_gather, NcclCollective::reduce_scatter,
                              NcclCollective::sendrecv}) {
      for (int nodes : {1, 2, 4}) {
        for (double bytes : {65536.0, 1048576.0, 268435456.0}) {
          SCOPED_TRACE(testing::Message() << to_string(op) << ", " << nodes << " node(s), " << bytes << " B");
          CollectiveShape s = shape_of(c, op, nodes);
          CollectiveEstimate a = closed.estimate(s, Bytes(bytes));
          CollectiveEstimate b = simulated.estimate(s, Bytes(bytes));
          EXPECT_NEAR(b.time / a.time, 1.0, 1e-3);
          EXPECT_EQ(a.protocol, b.protocol);
          EXPECT_EQ(a.algorithm, b.algorithm);
        }
      }
    }
  }
}

TEST(SimCollective, TheNetworkTimesTheRingsWireAndLinkCostTheRest) {
  // All-gather on 16 GPUs (2 nodes), 1 MiB, LL, no host cost. The closed form: base 5 us,
  // 15 hops of which ceil(15 x 2 / 16) = 2 cross nodes (13 x 1 + 2 x 4 = 21 us), and
  // 983040 B through 8 NICs of 8 GB/s: 15.36 us; 41.36 us in all. The simulator runs each
  // step's flows without latency: 8 channels, a NIC flow of 8192 B at 8 GB/s (1.024 us)
  // gating each of the 15 steps: 15.36 us of wire, and the same 26 us from link_cost.
  // NCCL's tree (all-reduce across nodes) is the closed form's in both engines.
  Cluster c = find_cluster("azure-ndv4")->cluster;
  Calibration cal = three_regimes();
  cal.launch = {};
  NcclCollectiveModel closed(CollectiveLinks::from(c, cal));
  sim::SimCollectiveModel simulated(c, cal);
  CollectiveShape s = shape_of(c, NcclCollective::all_gather, 2);
  EXPECT_NEAR(to_microseconds(closed.time_with(s, Bytes(1048576.0), Protocol::ll)), 41.36, 1e-6);
  EXPECT_NEAR(to_microseconds(simulated.time_with(s, Bytes(1048576.0), Protocol::ll)), 41.36, 1e-3);
  CollectiveShape ar = shape_of(c, NcclCollective::all_reduce, 4);
  for (Protocol p : {Protocol::ll, Protocol::ll128, Protocol::simple})
    EXPECT_EQ(simulated.time_with(ar, Bytes(65536.0), Algorithm::tree, p).value(),
              closed.time_with(ar, Bytes(65536.0), Algorithm::tree, p).value());
}

TEST(SimCollective, AllToAllInsideANodeEqualsTheClosedForm) {
  // Every GPU sends S/n to each of the other g-1 through its own NVSwitch port: (g-1)/n
  // of the buffer per port, the closed form's intra_wire.
  Cluster c = find_cluster("azure-ndv4")->cluster;
  Calibration cal;
  NcclCollectiveModel ring(CollectiveLinks::from(c, cal));
  sim::SimCollectiveModel simulated(c, cal);
  CollectiveShape s = shape_of(c, NcclCollective::all_to_all, 1);
  for (double bytes : {1048576.0, 1073741824.0})
    EXPECT_NEAR(simulated.estimate(s, Bytes(bytes)).time / ring.estimate(s, Bytes(bytes)).time, 1.0, 1e-3);
}

TEST(SimCollective, APcieHostBridgeSlowsARingByItsWidth) {
  // lvxattn-12xa100: 3 GPUs per node on PCIe, every GPU-to-GPU message crossing the node's
  // one host bridge (sim/topology.hpp), which is as wide as one GPU's link. An all-gather
  // inside one node puts all 3 ring flows of a step on the bridge at once: each gets a
  // third, so for a large buffer (latency negligible) the step takes 3x what the closed
  // form — which sees only each GPU's own link — says.
  Cluster c = find_cluster("lvxattn-12xa100")->cluster;
  ASSERT_EQ(c.intra_kind, IntraFabric::pcie);
  ASSERT_EQ(c.gpus_per_node, 3);
  Calibration cal;
  NcclCollectiveModel ring(CollectiveLinks::from(c, cal));
  sim::SimCollectiveModel simulated(c, cal);
  CollectiveShape s = shape_of(c, NcclCollective::all_gather, 1);
  const double bytes = 4294967296.0;
  EXPECT_NEAR(simulated.estimate(s, Bytes(bytes)).time / ring.estimate(s, Bytes(bytes)).time, 3.0, 0.01);
}

TEST(SimCollective, BroadcastIsLeftToTheClosedForm) {
  Cluster c = find_cluster("azure-ndv4")->cluster;
  Calibration cal = three_regimes();
  NcclCollectiveModel ring(CollectiveLinks::from(c, cal));
  sim::SimCollectiveModel simulated(c, cal);
  EXPECT_FALSE(sim::SimCollectiveModel::simulates(NcclCollective::broadcast));
  CollectiveShape s = shape_of(c, NcclCollective::broadcast, 2);
  EXPECT_EQ(simulated.estimate(s, Bytes(1048576.0)).time.value(), ring.estimate(s, Bytes(1048576.0)).time.value());
}

}  // namespace
}  // namespace xattn
