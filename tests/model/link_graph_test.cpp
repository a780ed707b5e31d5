// Routing over listed links (model/link_graph.hpp) on graphs small enough to route by
// eye. Each test says which route the rules must pick and why: fewest links first, then
// the widest bottleneck, then the lowest link ids; computed routes never pass through a
// GPU; fixed routes win; and what the closed form takes from the graph.
#include <initializer_list>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "model/link_graph.hpp"

namespace xattn {
namespace {

ListedLink link(std::string name, std::string from, std::string to, double GBps, double us, bool duplex = true) {
  return ListedLink{std::move(name), std::move(from), std::move(to), LinkSpec{gigabytes_per_second(GBps), microseconds(us)},
                    duplex, LinkClass::intra_node};
}

// The directed link names a message from `a` to `b` crosses.
std::vector<std::string> names(const RoutedGraph& r, int a, int b) {
  std::vector<std::string> out;
  for (int id : r.route(a, b)) out.push_back(r.links[static_cast<std::size_t>(id)].name);
  return out;
}

using Names = std::vector<std::string>;

// Every problem's message, one a line, for failure output and substring checks.
std::string text(const std::vector<GraphProblem>& problems) {
  std::string s;
  for (const auto& p : problems) s += p.message + "\n";
  return s;
}

RoutedGraph routed(const LinkGraph& g, int ranks) {
  std::vector<GraphProblem> problems;
  RoutedGraph r = route_graph(g, ranks, problems);
  EXPECT_TRUE(problems.empty()) << text(problems);
  return r;
}

TEST(LinkGraph, DirectedLinksFollowTheListingWithTheWayBackRightAfter) {
  // Two duplex links and one simplex: ids 0 a, 1 a.rev, 2 b, 3 b.rev, 4 c.
  LinkGraph g{{link("a", "gpu0", "sw", 10, 1), link("b", "gpu1", "sw", 10, 1), link("c", "sw", "gpu0", 10, 1, false)}, {}};
  RoutedGraph r = routed(g, 2);
  ASSERT_EQ(r.links.size(), 5u);
  EXPECT_EQ(r.links[1].name, "a.rev");
  EXPECT_TRUE(r.links[1].reverse);
  EXPECT_EQ(r.links[4].name, "c");
  // Vertices: the GPUs first, then the switch.
  EXPECT_EQ(r.vertices, (Names{"gpu0", "gpu1", "sw"}));
  // gpu1 -> gpu0: b then, of a.rev (id 1) and c (id 4), both 10 GB/s, the lower id.
  EXPECT_EQ(names(r, 1, 0), (Names{"b", "a.rev"}));
  EXPECT_TRUE(names(r, 0, 0).empty());
}

TEST(LinkGraph, FewestLinksFirstEvenWhenTheyAreNarrower) {
  // A direct 1 GB/s cable beats a 2-link path at 100 GB/s: hops come before width.
  LinkGraph g{{link("via0", "gpu0", "sw", 100, 1), link("via1", "gpu1", "sw", 100, 1), link("direct", "gpu0", "gpu1", 1, 1)},
              {}};
  RoutedGraph r = routed(g, 2);
  EXPECT_EQ(names(r, 0, 1), (Names{"direct"}));
  EXPECT_EQ(names(r, 1, 0), (Names{"direct.rev"}));
}

TEST(LinkGraph, ThenTheWidestBottleneck) {
  // Two 2-link paths: through swA the narrowest link is 10 GB/s, through swB 50 GB/s.
  // swB wins although swA's links are listed (and numbered) first.
  LinkGraph g{{link("a0", "gpu0", "swA", 100, 1), link("a1", "swA", "gpu1", 10, 1), link("b0", "gpu0", "swB", 50, 1),
               link("b1", "swB", "gpu1", 50, 1)},
              {}};
  RoutedGraph r = routed(g, 2);
  EXPECT_EQ(names(r, 0, 1), (Names{"b0", "b1"}));
  EXPECT_EQ(names(r, 1, 0), (Names{"b1.rev", "b0.rev"}));
}

TEST(LinkGraph, ThenTheLowestLinkIds) {
  // Two equal paths (all 100 GB/s): the one through the first-listed links. From gpu1 the
  // first links on offer are a1.rev (id 3) and b1.rev (id 7): a1.rev.
  LinkGraph g{{link("a0", "gpu0", "swA", 100, 1), link("a1", "swA", "gpu1", 100, 1), link("b0", "gpu0", "swB", 100, 1),
               link("b1", "swB", "gpu1", 100, 1)},
              {}};
  RoutedGraph r = routed(g, 2);
  EXPECT_EQ(names(r, 0, 1), (Names{"a0", "a1"}));
  EXPECT_EQ(names(r, 1, 0), (Names{"a1.rev", "a0.rev"}));
}

TEST(LinkGraph, ComputedRoutesDoNotPassThroughGpusFixedOnesMay) {
  // A chain gpu0 - gpu1 - gpu2: gpu0 and gpu2 are two links apart, but only through gpu1,
  // which does not forward: no path either way.
  LinkGraph g{{link("a", "gpu0", "gpu1", 10, 1), link("b", "gpu1", "gpu2", 10, 1)}, {}};
  std::vector<GraphProblem> problems;
  (void)route_graph(g, 3, problems);
  ASSERT_EQ(problems.size(), 1u) << text(problems);
  EXPECT_EQ(problems[0].index, -1);
  EXPECT_NE(problems[0].message.find("no path from gpu0 to gpu2 and gpu2 to gpu0"), std::string::npos) << text(problems);
  // Fixing the route (both ways) says gpu1 relays: now every pair routes.
  g.routes.push_back(ListedRoute{0, 2, {"a", "b"}, true});
  RoutedGraph r = routed(g, 3);
  EXPECT_EQ(names(r, 0, 2), (Names{"a", "b"}));
  EXPECT_EQ(names(r, 2, 0), (Names{"b.rev", "a.rev"}));
  EXPECT_TRUE(r.fixed(0, 2));
  EXPECT_TRUE(r.fixed(2, 0));
  EXPECT_FALSE(r.fixed(0, 1));
}

TEST(LinkGraph, AFixedRouteWinsOverTheShortest) {
  // The shortest gpu0 -> gpu1 is the direct link; the fixed route goes through the switch.
  // Only that direction is fixed: gpu1 -> gpu0 still takes the direct link back.
  LinkGraph g{{link("direct", "gpu0", "gpu1", 10, 1), link("up", "gpu0", "sw", 100, 1), link("down", "sw", "gpu1", 100, 1)},
              {ListedRoute{0, 1, {"up", "down"}, false}}};
  RoutedGraph r = routed(g, 2);
  EXPECT_EQ(names(r, 0, 1), (Names{"up", "down"}));
  EXPECT_EQ(names(r, 1, 0), (Names{"direct.rev"}));
}

TEST(LinkGraph, FixedRouteMistakes) {
  // One-way links only: gpu0 -a-> sw -b-> gpu1 and gpu1 -c-> sw2 -d-> gpu0.
  LinkGraph g{{link("a", "gpu0", "sw", 10, 1, false), link("b", "sw", "gpu1", 10, 1, false),
               link("c", "gpu1", "sw2", 10, 1, false), link("d", "sw2", "gpu0", 10, 1, false)},
              {ListedRoute{0, 1, {"a", "b"}, true}}};
  std::vector<GraphProblem> problems;
  (void)route_graph(g, 2, problems);
  // The way back walks b first, from gpu1, against its one direction.
  ASSERT_EQ(problems.size(), 1u) << text(problems);
  EXPECT_EQ(problems[0].key, "links");
  EXPECT_EQ(problems[0].message,
            "the way back (both_ways): 'b' does not continue the route: the route starts at gpu1, and 'b' goes from sw "
            "to gpu1, one way (add `duplex: true` to cross it backwards)");
  // Two routes for one pair: the second is the problem.
  g.routes = {ListedRoute{0, 1, {"a", "b"}, false}, ListedRoute{0, 1, {"a", "b"}, false}};
  problems.clear();
  (void)route_graph(g, 2, problems);
  ASSERT_EQ(problems.size(), 1u) << text(problems);
  EXPECT_EQ(problems[0].index, 1);
  EXPECT_EQ(problems[0].message, "a second route from gpu0 to gpu1 (cluster.routes[0] fixes one)");
  // A loop: a duplex `a` crossed there and back returns to gpu0.
  g.links[0].duplex = true;
  g.routes = {ListedRoute{0, 1, {"a", "a", "a", "b"}, false}};
  problems.clear();
  (void)route_graph(g, 2, problems);
  ASSERT_EQ(problems.size(), 1u) << text(problems);
  EXPECT_EQ(problems[0].message, "the route passes gpu0 twice");
}

TEST(LinkGraph, AShortestPathLongerThanARouteMayIsAProblem) {
  // gpu0 - s1 - s2 - ... - s8 - gpu1: 9 links, one more than max_route_links (8).
  LinkGraph g;
  std::string at = "gpu0";
  for (int k = 1; k <= 8; ++k) {
    g.links.push_back(link("l" + std::to_string(k), at, "s" + std::to_string(k), 10, 1));
    at = "s" + std::to_string(k);
  }
  g.links.push_back(link("l9", at, "gpu1", 10, 1));
  std::vector<GraphProblem> problems;
  (void)route_graph(g, 2, problems);
  ASSERT_EQ(problems.size(), 1u) << text(problems);
  EXPECT_NE(problems[0].message.find("gpu0 to gpu1 (9 links) and gpu1 to gpu0 (9 links) crosses more links than a route "
                                     "may (8)"),
            std::string::npos)
      << text(problems);
  // Dropping the last switch (l9 then leaves s7) makes it 8 links: allowed.
  g.links.erase(g.links.begin() + 7);
  g.links.back().from = "s7";
  EXPECT_EQ(routed(g, 2).route(0, 1).size(), 8u);
}

TEST(LinkGraph, GpuNamesAreGlobalRanksWithoutLeadingZeros) {
  EXPECT_EQ(gpu_endpoint("gpu0"), 0);
  EXPECT_EQ(gpu_endpoint("gpu12"), 12);
  EXPECT_EQ(gpu_endpoint("gpu012"), -1);  // a GPU name, written wrong
  EXPECT_EQ(gpu_endpoint("gpu3a"), -1);
  EXPECT_EQ(gpu_endpoint("gpu"), std::nullopt);      // a switch may be called that
  EXPECT_EQ(gpu_endpoint("gpu-sw"), std::nullopt);
  EXPECT_EQ(gpu_endpoint("nvswitch0"), std::nullopt);
}

TEST(LinkGraph, TheClosedFormSeesTheSlowestPairOfEachClass) {
  // The three-GPU machine of tests/data/topology/three-gpus.yaml, as 1 node x 3 GPUs:
  //   gpu0 -nvl0- sw -uplink- bridge -pcie1- gpu1, bridge -pcie2- gpu2
  // gpu0 <-> gpu1 and gpu0 <-> gpu2 cross nvl0 (100 GB/s, 1 us), uplink (10 GB/s, 2 us)
  // and a pcie link (50 GB/s, 1 us): bottleneck 10 GB/s, latency 1 + 2 + 1 = 4 us.
  // gpu1 <-> gpu2: two pcie links, 50 GB/s and 2 us. Slowest: 10 GB/s and 4 us.
  LinkGraph g{{link("nvl0", "gpu0", "sw", 100, 1), link("pcie1", "gpu1", "bridge", 50, 1),
               link("pcie2", "gpu2", "bridge", 50, 1), link("uplink", "bridge", "sw", 10, 2)},
              {}};
  Cluster c;
  c.nodes = 1;
  c.gpus_per_node = 3;
  RoutedGraph r = routed(g, 3);
  const std::optional<LinkSpec> intra = slowest_pair(c, r, LinkClass::intra_node);
  ASSERT_TRUE(intra);
  EXPECT_DOUBLE_EQ(intra->bandwidth.value(), 10e9);
  EXPECT_NEAR(intra->latency.value(), 4e-6, 1e-18);
  EXPECT_FALSE(slowest_pair(c, r, LinkClass::inter_node));  // one node: no such pair
  EXPECT_EQ(names(r, 1, 2), (Names{"pcie1", "pcie2.rev"}));
}

}  // namespace
}  // namespace xattn
