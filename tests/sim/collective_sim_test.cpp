// Collectives timed on the simulator's network (sim/collective_sim.hpp) against the ring
// closed form (model/collective_model.hpp): equal where the closed form's assumptions hold
// (NVSwitch inside a node, one NIC per channel across nodes), and different — by the
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
  // NDv4: 8 GPUs behind NVSwitch, one NIC per GPU. With one regime per link class, every
  // step of a ring moves equal pieces over disjoint ports and is gated by one link class,
  // which is exactly what the closed form assumes: the two must agree (to the picosecond
  // rounding of the simulator's clock). Inside one node that holds for several regimes
  // too, the protocol choice included.
  Cluster c = find_cluster("azure-ndv4")->cluster;
  for (const Calibration& cal : {Calibration{}, three_regimes()}) {
    RingCollectiveModel ring(CollectiveLinks::from(c, cal));
    sim::SimCollectiveModel simulated(c, cal);
    const bool regimes = !cal.intra_node.protocols.empty();
    for (NcclCollective op : {NcclCollective::all_reduce, NcclCollective::all_gather, NcclCollective::reduce_scatter,
                              NcclCollective::sendrecv}) {
      for (int nodes : regimes ? std::vector<int>{1} : std::vector<int>{1, 2, 4}) {
        for (double bytes : {65536.0, 1048576.0, 268435456.0}) {
          SCOPED_TRACE(testing::Message() << to_string(op) << ", " << nodes << " node(s), " << bytes << " B");
          CollectiveShape s = shape_of(c, op, nodes);
          CollectiveEstimate a = ring.estimate(s, Bytes(bytes));
          CollectiveEstimate b = simulated.estimate(s, Bytes(bytes));
          EXPECT_NEAR(b.time / a.time, 1.0, 1e-3);
          EXPECT_EQ(a.protocol, b.protocol);
        }
      }
    }
  }
}

TEST(SimCollective, AcrossNodesTheClosedFormIsAnUpperBoundOfTheSteps) {
  // With regimes whose intra- and inter-node figures differ, a step of a ring spanning
  // nodes has latency-bound NIC hops and bandwidth-bound NVLink hops side by side. The
  // simulator times each step as the slowest hop's latency + bytes / bandwidth; the
  // closed form charges the inter-node latency for every hop plus the larger of the two
  // bandwidth totals, which is never less. By hand for all-gather, 16 GPUs, 1 MiB, LL, no
  // launch overhead: the closed form is 5 + 15 x 4 + 983040 B / 40 GB/s = 89.58 us; each
  // simulated step is gated by a NIC hop, 4 us + 8192 B / 8 GB/s = 5.02 us, so 5 + 15 x
  // 5.02 = 80.36 us.
  Cluster c = find_cluster("azure-ndv4")->cluster;
  Calibration cal = three_regimes();
  cal.launch = {};
  RingCollectiveModel ring(CollectiveLinks::from(c, cal));
  sim::SimCollectiveModel simulated(c, cal);
  CollectiveShape s = shape_of(c, NcclCollective::all_gather, 2);
  EXPECT_NEAR(to_microseconds(ring.time_with(s, Bytes(1048576.0), Protocol::ll)), 89.58, 0.01);
  EXPECT_NEAR(to_microseconds(simulated.time_with(s, Bytes(1048576.0), Protocol::ll)), 80.36, 0.01);
  for (NcclCollective op : {NcclCollective::all_reduce, NcclCollective::all_gather, NcclCollective::reduce_scatter})
    for (int nodes : {2, 4})
      for (double bytes : {65536.0, 1048576.0, 268435456.0}) {
        SCOPED_TRACE(testing::Message() << to_string(op) << ", " << nodes << " node(s), " << bytes << " B");
        CollectiveShape t = shape_of(c, op, nodes);
        EXPECT_LE(simulated.estimate(t, Bytes(bytes)).time.value(), ring.estimate(t, Bytes(bytes)).time.value() * (1 + 1e-6));  // ps rounding
      }
}

TEST(SimCollective, AllToAllInsideANodeEqualsTheClosedForm) {
  // Every GPU sends S/n to each of the other g-1 through its own NVSwitch port: (g-1)/n
  // of the buffer per port, the closed form's intra_wire.
  Cluster c = find_cluster("azure-ndv4")->cluster;
  Calibration cal;
  RingCollectiveModel ring(CollectiveLinks::from(c, cal));
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
  RingCollectiveModel ring(CollectiveLinks::from(c, cal));
  sim::SimCollectiveModel simulated(c, cal);
  CollectiveShape s = shape_of(c, NcclCollective::all_gather, 1);
  const double bytes = 4294967296.0;
  EXPECT_NEAR(simulated.estimate(s, Bytes(bytes)).time / ring.estimate(s, Bytes(bytes)).time, 3.0, 0.01);
}

TEST(SimCollective, BroadcastIsLeftToTheRingModel) {
  Cluster c = find_cluster("azure-ndv4")->cluster;
  Calibration cal = three_regimes();
  RingCollectiveModel ring(CollectiveLinks::from(c, cal));
  sim::SimCollectiveModel simulated(c, cal);
  EXPECT_FALSE(sim::SimCollectiveModel::simulates(NcclCollective::broadcast));
  CollectiveShape s = shape_of(c, NcclCollective::broadcast, 2);
  EXPECT_EQ(simulated.estimate(s, Bytes(1048576.0)).time.value(), ring.estimate(s, Bytes(1048576.0)).time.value());
}

}  // namespace
}  // namespace xattn
