// The simulator on a listed machine (Topology::from_graph; docs/topology.md): the three
// GPUs of tests/data/topology/three-gpus.yaml, where gpu1 and gpu2 reach gpu0 only through
// one 10 GB/s uplink they share:
//
//   gpu0 -nvl0 (100 GB/s, 1 us)- sw -uplink (10 GB/s, 2 us)- bridge -pcie1 (50 GB/s, 1 us)- gpu1
//                                                           bridge -pcie2 (50 GB/s, 1 us)- gpu2
//
// (all duplex). Every expected time is worked out by hand in the comments: one message,
// two messages sharing the uplink, a flow whose first link is shared but whose bottleneck
// is elsewhere; the listed figures winning over a calibration. `xattn simulate` on the
// file, end to end, is in tests/cli/listed_links_cli_test.cpp.
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/scenario.hpp"
#include "sim/network.hpp"
#include "tests/sim/sim_test_util.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn::sim {
namespace {

using test::run_all;
using test::us;

const std::string kThreeGpus = std::string(XATTN_SOURCE_DIR) + "/tests/data/topology/three-gpus.yaml";

Cluster three_gpus() { return load_scenario(kThreeGpus).cluster; }


std::vector<std::string> names(const Topology& t, int from, int to) {
  std::vector<std::string> out;
  const Route r = t.route(from, to);  // by value: the span must not outlive it
  for (int l : r.span()) out.push_back(t.link(l).name);
  return out;
}

using Names = std::vector<std::string>;

TEST(ListedLinks, TheTopologyIsExactlyTheListedLinks) {
  const Calibration cal;
  const Topology t = Topology::from_cluster(three_gpus(), cal);
  EXPECT_TRUE(t.listed());
  // 4 duplex links: 8 directed ones, each listed link followed by its way back.
  ASSERT_EQ(t.links().size(), 8u);
  EXPECT_EQ(t.link(0).name, "nvl0");
  EXPECT_EQ(t.link(1).name, "nvl0.rev");
  EXPECT_EQ(t.link(7).name, "uplink.rev");
  // Shortest paths: gpu1 -> gpu0 climbs to the bridge, crosses the uplink, comes down nvl0.
  EXPECT_EQ(names(t, 1, 0), (Names{"pcie1", "uplink", "nvl0.rev"}));
  EXPECT_EQ(names(t, 0, 2), (Names{"nvl0", "uplink.rev", "pcie2.rev"}));
  EXPECT_EQ(names(t, 1, 2), (Names{"pcie1", "pcie2.rev"}));
  // A route's latency is the sum of its links': 1 + 2 + 1 us.
  EXPECT_EQ(t.latency(t.route(1, 0)), Time::ps(4 * us));
  EXPECT_EQ(t.latency(t.route(1, 2)), Time::ps(2 * us));
}

TEST(ListedLinks, OneMessageTakesTheRouteLatencyPlusBytesOverItsSlowestLink) {
  // 10 MB from gpu1 to gpu0: 4 us + 1e7 B / 10 GB/s (the uplink) = 4 + 1000 = 1004 us.
  // From gpu1 to gpu2 the uplink is not on the way: 2 us + 1e7 / 50e9 s = 202 us.
  const Calibration cal;
  for (NetworkModel m : {NetworkModel::flow, NetworkModel::alpha_beta}) {
    auto net = make_network(m, Topology::from_cluster(three_gpus(), cal), &cal);
    net->start(Time(), 1, 0, 1e7, 0);
    EXPECT_EQ(run_all(*net, 1)[0], Time::ps(1004 * us));
    net = make_network(m, Topology::from_cluster(three_gpus(), cal), &cal);
    net->start(Time(), 1, 2, 1e7, 0);
    EXPECT_EQ(run_all(*net, 1)[0], Time::ps(202 * us));
  }
}

TEST(ListedLinks, TwoSendersShareTheSlowUplink) {
  // gpu1 and gpu2 each send 10 MB to gpu0 at once. Both flows cross the uplink (bridge ->
  // sw) after the same 4 us of latency; max-min gives each 10 / 2 = 5 GB/s, so each takes
  // 4 us + 1e7 / 5e9 s = 2004 us: twice the 1000 us of transfer one alone needs. The
  // alpha-beta model times each as if alone (1004 us) but reports the sharing.
  const Calibration cal;
  auto flow = make_network(NetworkModel::flow, Topology::from_cluster(three_gpus(), cal), &cal);
  flow->start(Time(), 1, 0, 1e7, 0);
  flow->start(Time(), 2, 0, 1e7, 1);
  const std::vector<Time> shared = run_all(*flow, 2);
  EXPECT_EQ(shared[0], Time::ps(2004 * us));
  EXPECT_EQ(shared[1], Time::ps(2004 * us));
  EXPECT_TRUE(flow->any_link_shared());
  auto alone = make_network(NetworkModel::alpha_beta, Topology::from_cluster(three_gpus(), cal), &cal);
  alone->start(Time(), 1, 0, 1e7, 0);
  alone->start(Time(), 2, 0, 1e7, 1);
  const std::vector<Time> blind = run_all(*alone, 2);
  EXPECT_EQ(blind[0], Time::ps(1004 * us));
  EXPECT_EQ(blind[1], Time::ps(1004 * us));
  EXPECT_TRUE(alone->any_link_shared());
}

TEST(ListedLinks, ASharedFirstLinkWithTheBottleneckElsewhere) {
  // gpu1 sends 10 MB to gpu0 (A: pcie1, uplink, nvl0.rev; 4 us latency) and 10 MB to gpu2
  // (B: pcie1, pcie2.rev; 2 us) at once. Both leave gpu1 on pcie1 (50 GB/s).
  //  - 0 to 2 us: both in their latency phase.
  //  - 2 to 4 us: B alone at 50 GB/s moves 1e5 B.
  //  - from 4 us: max-min fixes A first at the uplink's 10 GB/s; pcie1 has 40 left for B.
  //    B's other 9.9e6 B take 247.5 us: B ends at 251.5 us. A moves 1e7 B at 10 GB/s from
  //    4 us, unchanged when B leaves (the uplink still limits it): A ends at 1004 us.
  const Calibration cal;
  auto net = make_network(NetworkModel::flow, Topology::from_cluster(three_gpus(), cal), &cal);
  net->start(Time(), 1, 0, 1e7, 0);
  net->start(Time(), 1, 2, 1e7, 1);
  const std::vector<Time> at = run_all(*net, 2);
  EXPECT_EQ(at[0], Time::ps(1004 * us));
  EXPECT_EQ(at[1], Time::ps(251'500'000));
}

TEST(ListedLinks, TheListedFiguresWinOverACalibration) {
  // A calibration whose intra-node figures (1 GB/s, 100 us) and NCCL regime would replace a
  // structured cluster's: on a listed machine the links keep their own, and a message from
  // gpu1 to gpu0 still takes 1004 us (OneMessageTakes...).
  Calibration cal;
  cal.intra_node.bandwidth = gigabytes_per_second(1);
  cal.intra_node.latency = microseconds(100);
  cal.intra_node.protocols = {ProtocolRegime{Protocol::simple, microseconds(100), gigabytes_per_second(1), Seconds(0)}};
  const Topology t = Topology::from_cluster(three_gpus(), cal);
  EXPECT_DOUBLE_EQ(t.link(t.route(1, 0).links[1]).bandwidth.value(), 10e9);
  auto net = make_network(NetworkModel::flow, t, &cal);
  net->start(Time(), 1, 0, 1e7, 0);
  EXPECT_EQ(run_all(*net, 1)[0], Time::ps(1004 * us));
}

TEST(ListedLinks, LinkClassesComeFromTheLinksOnTheRoute) {
  // The uplink marked inter-node: routes crossing it are of that class, gpu1 <-> gpu2 not.
  Cluster c = three_gpus();
  c.graph.links[3].link_class = LinkClass::inter_node;
  const Topology t = Topology::from_cluster(c, Calibration{});
  EXPECT_EQ(t.link_class(1, 0), LinkClass::inter_node);
  EXPECT_EQ(t.link_class(1, 2), LinkClass::intra_node);
}

TEST(ListedLinks, AGraphThatDoesNotRouteIsRefusedInCode) {
  // Clusters built in code skip resolve(): from_graph refuses a bad graph with the problems.
  Cluster c = three_gpus();
  c.graph.links[3].duplex = false;  // sw can no longer reach the bridge: gpu0 reaches nobody
  try {
    (void)Topology::from_cluster(c, Calibration{});
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("no path from gpu0 to gpu1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace xattn::sim
