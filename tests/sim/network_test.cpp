// The network models on small hand-made topologies, every expected value worked out by
// hand in the comments: one flow's alpha-beta time, max-min fair sharing (3 flows on 2
// links, with a rate change when one flow ends), rate caps, and topologies built from a
// Cluster (routes, latency placement, a NIC shared by the GPUs of a node).
#include <vector>

#include <gtest/gtest.h>

#include "sim/network.hpp"
#include "tests/sim/sim_test_util.hpp"

namespace xattn::sim {
namespace {

using test::run_all;
using test::us;

Topology two_links(double a_GBps, double b_GBps) {
  Topology t(3);
  t.add_link(Link{"A", gigabytes_per_second(a_GBps), Time(), LinkClass::intra_node});
  t.add_link(Link{"B", gigabytes_per_second(b_GBps), Time(), LinkClass::intra_node});
  t.set_route(0, 2, {0, 1});  // flow 1 crosses A and B
  t.set_route(0, 1, {0});     // flow 2: A only
  t.set_route(1, 2, {1});     // flow 3: B only
  return t;
}

TEST(FlowNetwork, OneFlowTakesLatencyPlusBytesOverBandwidth) {
  // 1 MB over a 1 GB/s link with 1 us latency: 1 us + 1e6 / 1e9 s = 1001 us.
  Topology t(2);
  t.add_link(Link{"L", gigabytes_per_second(1), Time::ps(1 * us), LinkClass::intra_node});
  t.set_route(0, 1, {0});
  for (NetworkModel m : {NetworkModel::flow, NetworkModel::alpha_beta}) {
    auto net = make_network(m, t, nullptr);
    net->start(Time(), 0, 1, 1e6, 0);
    EXPECT_EQ(run_all(*net, 1)[0], Time::ps(1001 * us));
  }
}

TEST(FlowNetwork, MaxMinFairThreeFlowsOnTwoLinks) {
  // Link A = 10 GB/s, link B = 4 GB/s. Flow 1 crosses A and B (2 MB), flow 2 only A
  // (16 MB), flow 3 only B (2 MB). Max-min: B is the bottleneck, 4/2 = 2 GB/s for flows
  // 1 and 3; flow 2 takes what A has left, 10 - 2 = 8 GB/s.
  //  - flows 1 and 3 end at 2e6 / 2e9 = 1 ms;
  //  - flow 2 has moved 8 MB by then; alone on A it gets 10 GB/s for the other 8 MB,
  //    0.8 ms more: it ends at 1.8 ms.
  auto net = make_network(NetworkModel::flow, two_links(10, 4), nullptr);
  net->start(Time(), 0, 2, 2e6, 0);
  net->start(Time(), 0, 1, 16e6, 1);
  net->start(Time(), 1, 2, 2e6, 2);
  std::vector<Time> at = run_all(*net, 3);
  EXPECT_EQ(at[0], Time::ps(1000 * us));
  EXPECT_EQ(at[1], Time::ps(1800 * us));
  EXPECT_EQ(at[2], Time::ps(1000 * us));
  EXPECT_TRUE(net->any_link_shared());
  auto stats = net->link_stats(Time::ps(1800 * us));
  EXPECT_DOUBLE_EQ(stats[0].bytes, 18e6);  // A: flows 1 and 2
  EXPECT_DOUBLE_EQ(stats[1].bytes, 4e6);   // B: flows 1 and 3
  EXPECT_EQ(stats[0].busy, Time::ps(1800 * us));
  EXPECT_EQ(stats[1].busy, Time::ps(1000 * us));
  EXPECT_EQ(stats[0].max_flows, 2);
}

TEST(AlphaBetaNetwork, IgnoresSharingButReportsIt) {
  // The same three flows as if each were alone: flow 1 at its slowest link, 2e6 / 4e9 =
  // 0.5 ms; flow 2 at 10 GB/s, 1.6 ms; flow 3 at 4 GB/s, 0.5 ms.
  auto net = make_network(NetworkModel::alpha_beta, two_links(10, 4), nullptr);
  net->start(Time(), 0, 2, 2e6, 0);
  net->start(Time(), 0, 1, 16e6, 1);
  net->start(Time(), 1, 2, 2e6, 2);
  std::vector<Time> at = run_all(*net, 3);
  EXPECT_EQ(at[0], Time::ps(500 * us));
  EXPECT_EQ(at[1], Time::ps(1600 * us));
  EXPECT_EQ(at[2], Time::ps(500 * us));
  EXPECT_TRUE(net->any_link_shared());
}

TEST(FlowNetwork, FlowJoiningLaterSlowsTheFirst) {
  // One 10 GB/s link. Flow 0: 10 MB from t = 0; flow 1: 2 MB from t = 0.5 ms.
  // Until 0.5 ms flow 0 moves 5 MB alone. Then 5 GB/s each: flow 1 needs 0.4 ms (ends at
  // 0.9 ms), by which flow 0 has 3 MB left; alone again, 0.3 ms: it ends at 1.2 ms.
  Topology t(2);
  t.add_link(Link{"L", gigabytes_per_second(10), Time(), LinkClass::intra_node});
  t.set_route(0, 1, {0});
  t.set_route(1, 0, {0});
  auto net = make_network(NetworkModel::flow, t, nullptr);
  net->start(Time(), 0, 1, 10e6, 0);
  std::vector<std::uint64_t> done;
  net->advance(Time(), Time::ps(500 * us), done);
  EXPECT_TRUE(done.empty());
  net->start(Time::ps(500 * us), 1, 0, 2e6, 1);
  std::vector<Time> at(2, Time::never());
  Time now = Time::ps(500 * us);
  for (Time next = net->next_event_after(now); !next.is_never(); next = net->next_event_after(now)) {
    done.clear();
    net->advance(now, next - now, done);
    now = next;
    for (auto id : done) at[id] = now;
  }
  EXPECT_EQ(at[1], Time::ps(900 * us));
  EXPECT_EQ(at[0], Time::ps(1200 * us));
}

TEST(FlowNetwork, TwoTransfersOfOnePairAreNotContention) {
  // Two messages from GPU 0 to GPU 1 at once share the pipe (5 GB/s each) but are the
  // same pair of GPUs: the closed form adds them up, so this is not reported as sharing.
  Topology t(2);
  t.add_link(Link{"L", gigabytes_per_second(10), Time(), LinkClass::intra_node});
  t.set_route(0, 1, {0});
  auto net = make_network(NetworkModel::flow, t, nullptr);
  net->start(Time(), 0, 1, 5e6, 0);
  net->start(Time(), 0, 1, 5e6, 1);
  std::vector<Time> at = run_all(*net, 2);
  EXPECT_EQ(at[0], Time::ps(1000 * us));  // 5e6 B at 5 GB/s
  EXPECT_EQ(at[1], Time::ps(1000 * us));
  EXPECT_FALSE(net->any_link_shared());
}

TEST(FlowNetwork, ProtocolRegimeCapsTheRate) {
  // A 100 GB/s link, calibrated with an LL regime (1 us, 5 GB/s) and a Simple regime
  // (10 us, 50 GB/s). A 10 kB message: LL takes 1 + 2 = 3 us, Simple 10 + 0.2 us: LL
  // wins, so the flow waits 1 us and moves at 5 GB/s: 3 us in all. A 10 MB message:
  // LL 2001 us, Simple 10 + 200 = 210 us: Simple.
  Topology t(2);
  t.add_link(Link{"L", gigabytes_per_second(100), Time(), LinkClass::intra_node});
  t.set_route(0, 1, {0});
  Calibration cal;
  cal.intra_node.protocols = {ProtocolRegime{Protocol::ll, microseconds(1), gigabytes_per_second(5), Seconds(0)},
                              ProtocolRegime{Protocol::simple, microseconds(10), gigabytes_per_second(50), Seconds(0)}};
  auto net = make_network(NetworkModel::flow, t, &cal);
  net->start(Time(), 0, 1, 1e4, 0);
  EXPECT_EQ(run_all(*net, 1)[0], Time::ps(3 * us));
  auto net2 = make_network(NetworkModel::flow, t, &cal);
  net2->start(Time(), 0, 1, 1e7, 0);
  EXPECT_EQ(run_all(*net2, 1)[0], Time::ps(210 * us));
}

Cluster small_cluster(int nodes, int gpus, int nics, IntraFabric fabric) {
  Cluster c;
  c.nodes = nodes;
  c.gpus_per_node = gpus;
  c.nics_per_node = nics;
  c.intra_kind = fabric;
  c.intra = LinkSpec{gigabytes_per_second(100), microseconds(2)};
  c.inter = LinkSpec{gigabytes_per_second(25), microseconds(5)};
  return c;
}

TEST(Topology, RoutesFollowTheCluster) {
  Calibration cal;
  Topology t = Topology::from_cluster(small_cluster(2, 4, 4, IntraFabric::nvlink_switch), cal);
  // Inside a node: GPU up-port, GPU down-port; the route's latency is the intra alpha.
  Route r = t.route(0, 1);
  ASSERT_EQ(r.count, 2);
  EXPECT_EQ(t.link(r.links[0]).name, "n0.gpu0.up");
  EXPECT_EQ(t.link(r.links[1]).name, "n0.gpu1.down");
  EXPECT_EQ(t.latency(r), Time::ps(2 * us));
  // Across nodes, one NIC per GPU: GPU 5 (node 1, local 1) sends through NIC 1 of node 1.
  r = t.route(5, 2);
  ASSERT_EQ(r.count, 2);
  EXPECT_EQ(t.link(r.links[0]).name, "n1.nic1.up");
  EXPECT_EQ(t.link(r.links[1]).name, "n0.nic2.down");
  EXPECT_EQ(t.latency(r), Time::ps(5 * us));
  // A calibration replaces the nominal figures.
  Calibration faster;
  faster.inter_node.bandwidth = gigabytes_per_second(50);
  Topology u = Topology::from_cluster(small_cluster(2, 4, 4, IntraFabric::nvlink_switch), faster);
  EXPECT_DOUBLE_EQ(u.link(u.route(5, 2).links[0]).bandwidth.value(), 50e9);
  // PCIe: the node's host bridge sits between the two GPU ports.
  Topology p = Topology::from_cluster(small_cluster(1, 3, 1, IntraFabric::pcie), cal);
  r = p.route(0, 2);
  ASSERT_EQ(r.count, 3);
  EXPECT_EQ(p.link(r.links[1]).name, "n0.host-bridge");
  // Mesh: one direct link.
  Topology m = Topology::from_cluster(small_cluster(1, 4, 1, IntraFabric::nvlink_mesh), cal);
  r = m.route(3, 1);
  ASSERT_EQ(r.count, 1);
  EXPECT_EQ(m.link(r.links[0]).name, "n0.nvlink3-1");
  // Fat-tree: nodes 0, 1 under leaf 0 and nodes 2, 3 under leaf 1.
  TopologyOptions ft{InterFabric::fat_tree, 2, 2.0};
  Topology f = Topology::from_cluster(small_cluster(4, 1, 1, IntraFabric::none), cal, ft);
  EXPECT_EQ(f.route(0, 1).count, 2);  // same leaf
  r = f.route(0, 3);
  ASSERT_EQ(r.count, 4);
  EXPECT_EQ(f.link(r.links[1]).name, "leaf0.up");
  // Leaf uplink: 2 nodes x 1 NIC x 25 GB/s / oversubscription 2 = 25 GB/s.
  EXPECT_DOUBLE_EQ(f.link(r.links[1]).bandwidth.value(), 25e9);
}

TEST(Topology, SharedNicSlowsFourSendersByFour) {
  // 2 nodes x 4 GPUs with one 25 GB/s NIC per node. Each GPU of node 0 sends 25 MB to
  // its counterpart on node 1 at once. With one NIC per GPU each takes 5 us + 1 ms; through
  // one shared NIC, 4 x 25 MB = 100 MB at 25 GB/s: 5 us + 4 ms, four times the transfer.
  Calibration cal;
  for (int nics : {4, 1}) {
    auto net = make_network(NetworkModel::flow, Topology::from_cluster(small_cluster(2, 4, nics, IntraFabric::nvlink_switch), cal), &cal);
    for (int g = 0; g < 4; ++g) net->start(Time(), g, 4 + g, 25e6, static_cast<std::uint64_t>(g));
    std::vector<Time> at = run_all(*net, 4);
    const std::int64_t expect = nics == 4 ? 1005 * us : 4005 * us;
    for (int g = 0; g < 4; ++g) EXPECT_EQ(at[static_cast<std::size_t>(g)], Time::ps(expect)) << "nics " << nics;
    EXPECT_EQ(net->any_link_shared(), nics == 1);
  }
}

TEST(Topology, TheClustersOwnFatTreeIsUsedUnlessTheOptionsOverrideIt) {
  // A cluster that says fat-tree (as a scenario's cluster.inter_node.fabric does) gets its
  // leaves without any TopologyOptions: 4 nodes, 2 per leaf, 4:1 oversubscribed, so a
  // leaf's uplink is 2 nodes x 1 NIC x 25 GB/s / 4 = 12.5 GB/s. A 25 MB message from node
  // 1 to node 2 crosses it: 5 us + 25 MB / 12.5 GB/s = 2005 us; inside leaf 0 (node 0 to
  // node 1) the NIC's 25 GB/s: 1005 us.
  Calibration cal;
  Cluster c = small_cluster(4, 1, 1, IntraFabric::none);
  c.inter_kind = InterFabric::fat_tree;
  c.nodes_per_leaf = 2;
  c.oversubscription = 4.0;
  Topology t = Topology::from_cluster(c, cal);
  Route r = t.route(1, 2);
  ASSERT_EQ(r.count, 4);
  EXPECT_EQ(t.link(r.links[1]).name, "leaf0.up");
  EXPECT_DOUBLE_EQ(t.link(r.links[1]).bandwidth.value(), 12.5e9);
  auto net = make_network(NetworkModel::flow, std::move(t), &cal);
  net->start(Time(), 1, 2, 25e6, 0);
  net->start(Time(), 0, 1, 25e6, 1);
  std::vector<Time> at = run_all(*net, 2);
  EXPECT_EQ(at[0], Time::ps(2005 * us));
  EXPECT_EQ(at[1], Time::ps(1005 * us));
  // Options asking for their own fat-tree win: 1 node per leaf, non-blocking.
  Topology o = Topology::from_cluster(c, cal, TopologyOptions{InterFabric::fat_tree, 1, 1.0});
  EXPECT_EQ(o.link(o.route(0, 1).links[1]).name, "leaf0.up");
  EXPECT_DOUBLE_EQ(o.link(o.route(0, 1).links[1]).bandwidth.value(), 25e9);
}

TEST(FifoPairs, APairsMessagesGoOneAfterTheOtherOthersDoNot) {
  // The pair topology's links: 1 GB/s, 1 us each way. Two 1 MB messages 0 -> 1 started
  // together share the link fairly on the flow network: both end at 1 + 2000 = 2001 us.
  // Through make_fifo_pairs the first has the link alone (1001 us) and the second starts
  // when it ends: 1001 + 1001 = 2002 us. A message 1 -> 0 at the same time is another pair:
  // 1001 us either way.
  Calibration cal;
  auto run = [&](bool fifo) {
    Topology t(2);
    const int a = t.add_link(Link{"0->1", gigabytes_per_second(1), Time::ps(us), LinkClass::intra_node});
    const int b = t.add_link(Link{"1->0", gigabytes_per_second(1), Time::ps(us), LinkClass::intra_node});
    t.set_route(0, 1, {a});
    t.set_route(1, 0, {b});
    auto net = make_network(NetworkModel::flow, std::move(t), &cal);
    if (fifo) net = make_fifo_pairs(std::move(net));
    net->start(Time(), 0, 1, 1e6, 0);
    net->start(Time(), 0, 1, 1e6, 1);
    net->start(Time(), 1, 0, 1e6, 2);
    return run_all(*net, 3);
  };
  const std::vector<Time> shared = run(false), fifo = run(true);
  EXPECT_EQ(shared[0], Time::ps(2001 * us));
  EXPECT_EQ(shared[1], Time::ps(2001 * us));
  EXPECT_EQ(shared[2], Time::ps(1001 * us));
  EXPECT_EQ(fifo[0], Time::ps(1001 * us));
  EXPECT_EQ(fifo[1], Time::ps(2002 * us));
  EXPECT_EQ(fifo[2], Time::ps(1001 * us));
}

}  // namespace
}  // namespace xattn::sim
