// cluster.links and cluster.routes in scenario files (model/scenario.cpp, docs/topology.md):
// they resolve into the Cluster and set the closed form's figures, round-trip through
// YAML, and every mistake is reported with file, line, column and field — all at once.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "model/core/error.hpp"
#include "model/scenario.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn {
namespace {

// The three-GPU machine of tests/data/topology/three-gpus.yaml, written block style so
// that every key sits at a known line and column 7.
const char* kMachine =
    "workload:\n"                      // 1
    "  model: llama-3.2-11b-vision\n"  // 2
    "cluster:\n"                       // 3
    "  gpu: a100-80gb\n"               // 4
    "  nodes: 1\n"                     // 5
    "  gpus_per_node: 3\n"             // 6
    "  links:\n"                       // 7
    "    - name: nvl0\n"               // 8   cluster.links[0]
    "      from: gpu0\n"               // 9
    "      to: sw\n"                   // 10
    "      bandwidth_GBps: 100\n"      // 11
    "      latency_us: 1\n"            // 12
    "      duplex: true\n"             // 13
    "    - name: pcie1\n"              // 14  cluster.links[1]
    "      from: gpu1\n"               // 15
    "      to: bridge\n"               // 16
    "      bandwidth_GBps: 50\n"       // 17
    "      latency_us: 1\n"            // 18
    "      duplex: true\n"             // 19
    "    - name: pcie2\n"              // 20  cluster.links[2]
    "      from: gpu2\n"               // 21
    "      to: bridge\n"               // 22
    "      bandwidth_GBps: 50\n"       // 23
    "      latency_us: 1\n"            // 24
    "      duplex: true\n"             // 25
    "    - name: uplink\n"             // 26  cluster.links[3]
    "      from: bridge\n"             // 27
    "      to: sw\n"                   // 28
    "      bandwidth_GBps: 10\n"       // 29
    "      latency_us: 2\n"            // 30
    "      duplex: true\n";            // 31

// kMachine with line `n` (1-based) replaced by `text`.
std::string edit(std::string yaml, int n, const std::string& text) {
  std::size_t b = 0;
  for (int k = 1; k < n; ++k) b = yaml.find('\n', b) + 1;
  const std::size_t e = yaml.find('\n', b);
  return yaml.replace(b, e - b, text);
}

// One route, block style, at lines 32 to 35 (its `links` key at 35:7).
std::string with_route(const std::string& from, const std::string& to, const std::string& links) {
  return std::string(kMachine) + "  routes:\n" +  // 32
         "    - from: " + from + "\n" +            // 33  cluster.routes[0]
         "      to: " + to + "\n" +                // 34
         "      links: " + links + "\n";           // 35
}

std::vector<Problem> problems_of(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  try {
    ScenarioSpec spec = parse_scenario_spec(yaml, "test.yaml");
    for (const auto& o : overrides) apply_override(spec, o);
    (void)resolve(spec);
  } catch (const InputError& e) {
    return e.problems();
  }
  return {};
}

std::string text(const std::vector<Problem>& problems) {
  std::string s;
  for (const auto& p : problems) s += p.str() + "\n";
  return s;
}

// The one problem `yaml` has, as "file:line:col: field: message".
std::string only_problem(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  const std::vector<Problem> p = problems_of(yaml, overrides);
  EXPECT_EQ(p.size(), 1u) << text(p);
  return p.empty() ? "" : p.front().str();
}

bool starts(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

TEST(ScenarioLinks, ResolveIntoTheClusterAndGiveTheClosedFormTheSlowestPair) {
  Scenario s = resolve(parse_scenario_spec(kMachine, "test.yaml"));
  ASSERT_EQ(s.cluster.graph.links.size(), 4u);
  const ListedLink& up = s.cluster.graph.links[3];
  EXPECT_EQ(up.name, "uplink");
  EXPECT_EQ(up.from, "bridge");
  EXPECT_DOUBLE_EQ(up.figures.bandwidth.value(), 10e9);
  EXPECT_NEAR(up.figures.latency.value(), 2e-6, 1e-18);
  EXPECT_TRUE(up.duplex);
  EXPECT_EQ(up.link_class, LinkClass::intra_node);  // the default
  // No intra_node figures in the file: the slowest pair's, gpu1 <-> gpu0 through the
  // uplink: bottleneck 10 GB/s, latency 1 (pcie1) + 2 (uplink) + 1 (nvl0) = 4 us.
  EXPECT_DOUBLE_EQ(s.cluster.intra.bandwidth.value(), 10e9);
  EXPECT_NEAR(s.cluster.intra.latency.value(), 4e-6, 1e-18);
  // A figure the scenario sets itself wins; the other is still derived.
  s = resolve(parse_scenario_spec(std::string(kMachine) + "  intra_node:\n    bandwidth_GBps: 20\n", "test.yaml"));
  EXPECT_DOUBLE_EQ(s.cluster.intra.bandwidth.value(), 20e9);
  EXPECT_NEAR(s.cluster.intra.latency.value(), 4e-6, 1e-18);
}

TEST(ScenarioLinks, RoundTripThroughYaml) {
  std::string yaml = with_route("gpu1", "gpu0", "[pcie1, uplink, nvl0]");
  yaml += "      both_ways: true\n";
  yaml = edit(yaml, 31, "      duplex: true\n      class: inter");
  Scenario a = resolve(parse_scenario_spec(yaml, "test.yaml"));
  Scenario b = resolve(parse_scenario_spec(to_yaml(a), "again.yaml"));
  ASSERT_EQ(b.cluster.graph.links.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    const ListedLink &x = a.cluster.graph.links[i], &y = b.cluster.graph.links[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.from, y.from);
    EXPECT_EQ(x.to, y.to);
    EXPECT_DOUBLE_EQ(x.figures.bandwidth.value(), y.figures.bandwidth.value());
    EXPECT_NEAR(x.figures.latency.value(), y.figures.latency.value(), 1e-18);
    EXPECT_EQ(x.duplex, y.duplex);
    EXPECT_EQ(x.link_class, y.link_class);
  }
  EXPECT_EQ(b.cluster.graph.links[3].link_class, LinkClass::inter_node);
  ASSERT_EQ(b.cluster.graph.routes.size(), 1u);
  EXPECT_EQ(b.cluster.graph.routes[0].from, 1);
  EXPECT_EQ(b.cluster.graph.routes[0].to, 0);
  EXPECT_EQ(b.cluster.graph.routes[0].links, (std::vector<std::string>{"pcie1", "uplink", "nvl0"}));
  EXPECT_TRUE(b.cluster.graph.routes[0].both_ways);
}

TEST(ScenarioLinks, UnknownEndpoint) {
  // "brdge" appears on pcie2 only: nothing can pass through it — a misspelt "bridge".
  const std::string e = only_problem(edit(kMachine, 22, "      to: brdge"));
  EXPECT_TRUE(starts(e, "test.yaml:22:7: cluster.links[2].to: unknown endpoint 'brdge'")) << e;
  EXPECT_NE(e.find("did you mean 'bridge'?"), std::string::npos) << e;  // one edit away
}

TEST(ScenarioLinks, GpuBeyondTheClustersRanks) {
  // 1 node x 3 GPUs: gpu0 to gpu2.
  const std::string e = only_problem(edit(kMachine, 21, "      from: gpu3"));
  EXPECT_TRUE(starts(e, "test.yaml:21:7: cluster.links[2].from: gpu3 is beyond the cluster's 3 GPUs (gpu0 to gpu2")) << e;
  // The same file with 4 GPUs per node: gpu3 exists, but gpu2 is now on no link.
  const std::string f = only_problem(edit(kMachine, 21, "      from: gpu3"), {"cluster.gpus_per_node=4"});
  EXPECT_TRUE(starts(f, "test.yaml:7:3: cluster.links: gpu2 is on no link: every one of the cluster's 4 GPUs")) << f;
}

TEST(ScenarioLinks, DuplicateLinkName) {
  const std::string e = only_problem(edit(kMachine, 26, "    - name: pcie1"));
  EXPECT_EQ(e, "test.yaml:26:7: cluster.links[3].name: a second link named 'pcie1' (cluster.links[1] is the first)");
  // A duplex link's way back is named <name>.rev: that name is taken too.
  const std::string f = only_problem(edit(kMachine, 26, "    - name: pcie1.rev"));
  EXPECT_TRUE(starts(f, "test.yaml:26:7: cluster.links[3].name: the name 'pcie1.rev' is taken by cluster.links[1]")) << f;
}

TEST(ScenarioLinks, NonPositiveBandwidthAndNegativeLatency) {
  std::string e = only_problem(edit(kMachine, 11, "      bandwidth_GBps: 0"));
  EXPECT_EQ(e, "test.yaml:11:7: cluster.links[0].bandwidth_GBps: must be positive, got 0");
  e = only_problem(edit(kMachine, 30, "      latency_us: -1"));
  EXPECT_EQ(e, "test.yaml:30:7: cluster.links[3].latency_us: must not be negative, got -1");
}

TEST(ScenarioLinks, GpuPairWithNoPath) {
  // pcie2 one way (gpu2 -> bridge): gpu2 can send, but nothing reaches it.
  const std::string e = only_problem(edit(kMachine, 25, "      duplex: false"));
  EXPECT_TRUE(starts(e, "test.yaml:7:3: cluster.links: no path from gpu0 to gpu2 and gpu1 to gpu2 over the listed links"))
      << e;
}

TEST(ScenarioLinks, RouteWhoseLinksDoNotConnect) {
  // pcie1 takes gpu1 to the bridge; nvl0 joins gpu0 and sw, not the bridge.
  std::string e = only_problem(with_route("gpu1", "gpu0", "[pcie1, nvl0]"));
  EXPECT_EQ(e,
            "test.yaml:35:7: cluster.routes[0].links: 'nvl0' does not continue the route: after 'pcie1' the route is "
            "at bridge, and 'nvl0' joins gpu0 and sw");
  // Complete but ending elsewhere: gpu1 -> bridge -> sw is not gpu0.
  e = only_problem(with_route("gpu1", "gpu0", "[pcie1, uplink]"));
  EXPECT_EQ(e, "test.yaml:35:7: cluster.routes[0].links: the route ends at sw, not at gpu0");
  // A way back is not named: the walk picks the direction. A one-way link cannot be
  // crossed backwards.
  e = only_problem(with_route("gpu0", "gpu1", "[nvl0, uplink.rev]"));
  EXPECT_TRUE(starts(e, "test.yaml:35:7: cluster.routes[0].links: 'uplink.rev' is a way back")) << e;
  e = only_problem(edit(with_route("gpu0", "gpu1", "[nvl0, uplink, pcie1]"), 31, "      duplex: false"));
  EXPECT_EQ(e,
            "test.yaml:35:7: cluster.routes[0].links: 'uplink' does not continue the route: after 'nvl0' the route is at "
            "sw, and 'uplink' goes from bridge to sw, one way (add `duplex: true` to cross it backwards)");
  // The right links: no problem.
  EXPECT_TRUE(problems_of(with_route("gpu1", "gpu0", "[pcie1, uplink, nvl0]")).empty());
}

TEST(ScenarioLinks, RouteLongerThanTheSimulatorAllows) {
  // 9 names; sim::max_route_links is 8.
  const std::string e =
      only_problem(with_route("gpu1", "gpu0", "[pcie1, uplink, nvl0, nvl0, nvl0, nvl0, nvl0, nvl0, nvl0]"));
  EXPECT_EQ(e, "test.yaml:35:7: cluster.routes[0].links: the route crosses 9 links; a route crosses at most 8");
}

TEST(ScenarioLinks, RouteEndpointsAreGpusOfTheCluster) {
  std::string e = only_problem(with_route("bridge", "gpu0", "[uplink, nvl0]"));
  EXPECT_TRUE(starts(e, "test.yaml:33:7: cluster.routes[0].from: 'bridge' is not a GPU")) << e;
  e = only_problem(with_route("gpu1", "gpu5", "[pcie1]"));
  EXPECT_TRUE(starts(e, "test.yaml:34:7: cluster.routes[0].to: gpu5 is beyond the cluster's 3 GPUs")) << e;
  e = only_problem(with_route("gpu1", "gpu0", "[pcie1, wire]"));
  EXPECT_EQ(e, "test.yaml:35:7: cluster.routes[0].links: no link named 'wire' in cluster.links");
}

TEST(ScenarioLinks, UnknownKeysMissingKeysAndWrongTypes) {
  // A misspelt key is unknown, and the key it should have been is then missing.
  std::vector<Problem> p = problems_of(edit(kMachine, 29, "      bandwith_GBps: 10"));
  ASSERT_EQ(p.size(), 2u) << text(p);
  EXPECT_EQ(p[0].str(),
            "test.yaml:29:7: cluster.links[3].bandwith_GBps: unknown field; known keys under cluster.links[3]: "
            "bandwidth_GBps, class, duplex, from, latency_us, name, to");
  EXPECT_EQ(p[1].str(), "test.yaml:26:7: cluster.links[3]: missing bandwidth_GBps (per direction, GB/s)");
  std::string e = only_problem(edit(kMachine, 29, "      bandwidth_GBps: fast"));
  EXPECT_EQ(e, "test.yaml:29:23: cluster.links[3].bandwidth_GBps: 'fast' is not a number");
  e = only_problem(edit(kMachine, 31, "      class: fabric"));
  EXPECT_EQ(e, "test.yaml:31:7: cluster.links[3].class: unknown link class 'fabric'; known: intra, inter");
  // The section names are known keys of `cluster`.
  e = only_problem(std::string(kMachine) + "  rootes: []\n");
  EXPECT_NE(e.find("links"), std::string::npos) << e;
  EXPECT_NE(e.find("routes"), std::string::npos) << e;
}

TEST(ScenarioLinks, AllProblemsAreReportedAtOnce) {
  std::string yaml = edit(kMachine, 11, "      bandwidth_GBps: -5");
  yaml = edit(yaml, 21, "      from: gpu7");
  yaml = edit(yaml, 27, "      from: brige");
  yaml = edit(yaml, 30, "      latency_us: -2");
  const std::vector<Problem> p = problems_of(yaml);
  ASSERT_EQ(p.size(), 4u) << text(p);
  EXPECT_EQ(p[0].str(), "test.yaml:11:7: cluster.links[0].bandwidth_GBps: must be positive, got -5");
  EXPECT_TRUE(starts(p[1].str(), "test.yaml:21:7: cluster.links[2].from: gpu7 is beyond")) << text(p);
  EXPECT_EQ(p[2].str(), "test.yaml:30:7: cluster.links[3].latency_us: must not be negative, got -2");
  EXPECT_TRUE(starts(p[3].str(), "test.yaml:27:7: cluster.links[3].from: unknown endpoint 'brige'")) << text(p);
}

TEST(ScenarioLinks, ListedLinkFiguresAreSetByNameWithSet) {
  ScenarioSpec spec = parse_scenario_spec(kMachine, "test.yaml");
  apply_override(spec, "cluster.links.uplink.bandwidth_GBps=20");
  apply_override(spec, "cluster.links.uplink.latency_us=5");
  Scenario s = resolve(spec);
  EXPECT_DOUBLE_EQ(s.cluster.graph.links[3].figures.bandwidth.value(), 20e9);
  EXPECT_NEAR(s.cluster.graph.links[3].figures.latency.value(), 5e-6, 1e-18);
  // The other links keep the file's figures.
  EXPECT_DOUBLE_EQ(s.cluster.graph.links[1].figures.bandwidth.value(), 50e9);
  // The closed form's slowest pair follows: gpu1 <-> gpu0 now bottlenecked at 20 GB/s (the
  // uplink, still below pcie1's 50), latency 1 (pcie1) + 5 (uplink) + 1 (nvl0) = 7 us.
  EXPECT_DOUBLE_EQ(s.cluster.intra.bandwidth.value(), 20e9);
  EXPECT_NEAR(s.cluster.intra.latency.value(), 7e-6, 1e-18);
  // The field reads back the resolved figure, in the field's unit.
  const Field* f = find_field("cluster.links.uplink.bandwidth_GBps");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f, find_field("cluster.links.uplink.bandwidth_GBps"));  // made once, then kept
  EXPECT_DOUBLE_EQ(std::get<double>(f->get(s)), 20.0);
  EXPECT_DOUBLE_EQ(std::get<double>(find_field("cluster.links.uplink.latency_us")->get(s)), 5.0);
}

TEST(ScenarioLinks, SetNamingAnUnlistedLinkSaysWhichAreListed) {
  const std::string e = only_problem(kMachine, {"cluster.links.uplnk.bandwidth_GBps=20"});
  EXPECT_EQ(e, "--set cluster.links.uplnk.bandwidth_GBps=20: cluster.links.uplnk.bandwidth_GBps: the scenario lists no "
               "link named 'uplnk'; listed: nvl0, pcie1, pcie2, uplink");
  // A scenario with a structured fabric lists none.
  const std::string f = only_problem("workload:\n  model: llama-3.2-11b-vision\ncluster:\n  preset: lvxattn-16xa100\n",
                                     {"cluster.links.nic0.latency_us=3"});
  EXPECT_NE(f.find("the scenario lists no link named 'nic0'; it lists none (cluster.links)"), std::string::npos) << f;
}

TEST(ScenarioLinks, ABadFigureFromSetIsReportedAtTheSet) {
  // The link checks name the entry's key; the origin is the --set that wrote it.
  const std::string e = only_problem(kMachine, {"cluster.links.uplink.bandwidth_GBps=0"});
  EXPECT_TRUE(starts(e, "--set cluster.links.uplink.bandwidth_GBps=0: cluster.links[3].bandwidth_GBps: must be positive"))
      << e;
  const std::string g = only_problem(kMachine, {"cluster.links.uplink.bandwidth_GBps=fast"});
  EXPECT_TRUE(starts(g, "--set cluster.links.uplink.bandwidth_GBps=fast: cluster.links.uplink.bandwidth_GBps: ")) << g;
}

TEST(ScenarioLinks, EndpointsAndRoutesAreWrittenInTheFileNotWithSet) {
  const std::string e = only_problem(kMachine, {"cluster.links.uplink.to=gpu0"});
  EXPECT_TRUE(starts(e, "--set cluster.links.uplink.to=gpu0: cluster.links.uplink.to: "
                        "cluster.links is a list of entries: write it in the scenario file"))
      << e;
  EXPECT_NE(e.find("cluster.links.NAME.bandwidth_GBps or cluster.links.NAME.latency_us"), std::string::npos) << e;
  const std::string r = only_problem(kMachine, {"cluster.routes.0.from=gpu1"});
  EXPECT_TRUE(starts(r, "--set cluster.routes.0.from=gpu1: cluster.routes.0.from: cluster.routes is a list of entries"))
      << r;
  // Routes need links to route over.
  const std::string f = only_problem(
      "workload:\n  model: llama-3.2-11b-vision\ncluster:\n  preset: lvxattn-16xa100\n  routes:\n"
      "    - {from: gpu0, to: gpu1, links: [a]}\n");
  EXPECT_TRUE(starts(f, "test.yaml:5:3: cluster.routes: routes are fixed over listed links")) << f;
}

}  // namespace
}  // namespace xattn
