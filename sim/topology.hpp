// The machine as a graph of directed links, each with a bandwidth (per direction: a
// physical link is two of these) and a latency, and the route a message takes from one
// GPU to another (issue 4, "Network"). Built from a Cluster and its Calibration:
//
//   nvlink-switch  GPU --up--> switch --down--> GPU      one port per GPU and direction
//   nvlink-mesh    GPU --link(a,b)--> GPU                 one link per ordered pair
//   pcie           GPU --up--> host bridge --down--> GPU  the bridge is one link per node
//                  that every GPU-to-GPU message of the node crosses (a PCIe switch whose
//                  peer traffic goes through the CPU's root complex)
//   across nodes   NIC --up--> switch --down--> NIC       (GPU g of a node uses NIC
//                  g·N/G; two-level fat-tree: leaf --up--> spine --down--> leaf between
//                  leaves, with the leaf uplinks oversubscribed)
//
// Latencies are placed so that a route's total is the link class's alpha from the
// calibrated LinkSpec (docs/model.md, eq. 6): the first hop carries it, the others none.
//
// Irregular machines: a Cluster that lists its links (Cluster::graph, the scenario's
// cluster.links and cluster.routes) becomes exactly those links, nothing else — one per
// direction, with the figures listed and no calibration applied — and routes follow
// model/link_graph.hpp (fixed routes, else shortest, widest, lowest ids; docs/topology.md).
// A route's latency is then the sum of its links' latencies. In code, add links and
// routes by hand (add_link, set_route).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/calibration.hpp"
#include "model/hardware.hpp"
#include "model/link_graph.hpp"
#include "model/core/time.hpp"

namespace xattn::sim {

struct Link {
  std::string name;       // "n0.gpu3.up", "n2.nic0.down", "leaf1.up", ...
  BytesPerSecond bandwidth;
  Time latency;
  LinkClass link_class = LinkClass::intra_node;
};

// At most this many links on one route (the model's limit, which listed routes are checked against).
inline constexpr int max_route_links = ::xattn::max_route_links;

struct Route {
  std::array<std::int32_t, max_route_links> links{};
  int count = 0;
  [[nodiscard]] std::span<const std::int32_t> span() const { return {links.data(), static_cast<std::size_t>(count)}; }
  void add(std::int32_t l) { links[static_cast<std::size_t>(count++)] = l; }
};

// Overrides of the cluster's inter-node fabric (Cluster::inter_kind and its fat-tree
// figures, which scenarios set); the default leaves the cluster's own.
struct TopologyOptions {
  InterFabric inter = InterFabric::single_switch;
  int nodes_per_leaf = 4;          // fat-tree: nodes under one leaf switch
  double oversubscription = 1.0;   // fat-tree: leaf downlink bandwidth / uplink bandwidth
};

class Topology {
 public:
  Topology() = default;
  explicit Topology(int ranks) : ranks_(ranks) {}
  // A cluster that lists links is built by from_graph, and the calibration's link figures
  // and the options do not apply to it.
  [[nodiscard]] static Topology from_cluster(const Cluster& c, const Calibration& cal, const TopologyOptions& o = {});
  // Exactly the listed links, routed by route_graph. Throws std::invalid_argument, with
  // every problem, for a graph that does not route (resolve() reports those first, with
  // file and line; this is for clusters built in code).
  [[nodiscard]] static Topology from_graph(const LinkGraph& g, int ranks);
  // How many links from_cluster makes for `c`, known before it makes any (an NVLink mesh
  // has G(G−1) per node): what the memory a run needs is estimated from (runner.hpp).
  [[nodiscard]] static std::int64_t link_count(const Cluster& c);
  // Bytes per link, with the network model's state of it (measured, with room).
  static constexpr double bytes_per_link = 256;
  // Bytes per flow of the network model (a message in flight) with its route.
  static constexpr double bytes_per_flow = 256;

  [[nodiscard]] int ranks() const { return ranks_; }
  [[nodiscard]] const std::vector<Link>& links() const { return links_; }
  [[nodiscard]] const Link& link(int id) const { return links_[static_cast<std::size_t>(id)]; }

  int add_link(Link l);
  // An explicit route (for irregular machines and tests); wins over the structured one.
  void set_route(int from, int to, const std::vector<int>& links);

  // The links a message from GPU `from` to GPU `to` crosses, in order; empty for from == to.
  [[nodiscard]] Route route(int from, int to) const;
  [[nodiscard]] Time latency(const Route& r) const;
  [[nodiscard]] LinkClass link_class(int from, int to) const;
  // Whether the links are a listed machine's, whose figures are final: no calibration
  // replaces them (plan_transfer, network.hpp).
  [[nodiscard]] bool listed() const { return listed_; }
  // A structured cluster's GPUs per node and NICs per node (0 for a listed machine or a
  // topology built by hand): where NCCL lays its ring channels (one per NIC).
  [[nodiscard]] int gpus_per_node() const { return structured_ ? gpus_per_node_ : 0; }
  [[nodiscard]] int nics_per_node() const { return structured_ ? nics_per_node_ : 0; }

 private:
  int ranks_ = 0;
  std::vector<Link> links_;
  std::unordered_map<std::uint64_t, Route> explicit_;
  // Listed machine (from_graph): its routes, directed link ids = this topology's ids.
  bool listed_ = false;
  RoutedGraph graph_;
  // Structured routing (from_cluster); -1 where absent.
  bool structured_ = false;
  int gpus_per_node_ = 1;
  int nics_per_node_ = 1;
  IntraFabric intra_ = IntraFabric::nvlink_switch;
  InterFabric inter_ = InterFabric::single_switch;
  int nodes_per_leaf_ = 1;
  std::vector<int> gpu_up_, gpu_down_;  // per rank
  std::vector<int> bridge_;             // per node (pcie)
  std::vector<int> mesh_;               // per node: G*G pair links (mesh), row = from
  std::vector<int> nic_up_, nic_down_;  // per node * nics
  std::vector<int> leaf_up_, leaf_down_;
  [[nodiscard]] int nic_of(int rank) const;
};

}  // namespace xattn::sim
