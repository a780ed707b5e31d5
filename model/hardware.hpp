// GPUs, links and clusters. Bandwidths are per direction; inter-node bandwidth is per NIC
// and one point-to-point message uses one NIC (ARCHITECTURE.md, "Scenario keys").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/types.hpp"
#include "model/core/units.hpp"

namespace xattn {

struct GpuSpec {
  std::string name;
  FlopsPerSecond peak_fp16;  // dense fp16/bf16 tensor-core FLOP/s (datasheet)
  FlopsPerSecond peak_fp32;  // dense fp32 FLOP/s without tensor cores (datasheet)
  BytesPerSecond hbm;        // HBM bandwidth (datasheet)
  Bytes memory;              // device memory capacity
  int sms = 0;               // streaming multiprocessors

  [[nodiscard]] FlopsPerSecond peak(DType t) const { return t == DType::fp32 ? peak_fp32 : peak_fp16; }
};

enum class IntraFabric { nvlink_switch, nvlink_mesh, pcie, none };

[[nodiscard]] std::string_view to_string(IntraFabric f);
[[nodiscard]] std::optional<IntraFabric> parse_intra_fabric(std::string_view s);

// Between nodes: one switch every NIC hangs off, or a two-level fat-tree (nodes under leaf
// switches, leaves joined through a spine by uplinks that may be oversubscribed).
enum class InterFabric { single_switch, fat_tree };

[[nodiscard]] std::string_view to_string(InterFabric f);
[[nodiscard]] std::optional<InterFabric> parse_inter_fabric(std::string_view s);

// One class of link, alpha-beta: a message of n bytes takes latency + n / bandwidth.
struct LinkSpec {
  BytesPerSecond bandwidth;
  Seconds latency;

  [[nodiscard]] Seconds transfer(Bytes n) const { return latency + n / bandwidth; }
};

enum class LinkClass { intra_node, inter_node };

[[nodiscard]] std::string_view to_string(LinkClass c);

// The most links one GPU-to-GPU route may cross (the simulator's Route holds this many).
inline constexpr int max_route_links = 8;

// An irregular machine, listed link by link (scenario keys cluster.links and
// cluster.routes; docs/topology.md). Endpoints are GPUs, written gpu<rank> with the
// global rank, or switches, NICs and bridges, named by the links that join them. When a
// cluster lists links they are its whole network: the simulator builds nothing else.
struct ListedLink {
  std::string name;
  std::string from, to;    // "gpu3", or the name of a switch, NIC or bridge
  LinkSpec figures;        // per direction
  bool duplex = false;     // also a link to -> from with the same figures
  LinkClass link_class = LinkClass::intra_node;
};

// A route fixed by hand: the links a message from GPU `from` to GPU `to` crosses, in
// order, by name (a duplex link is crossed in whichever direction the walk needs). It
// wins over the computed shortest path for that pair.
struct ListedRoute {
  int from = 0, to = 0;
  std::vector<std::string> links;
  bool both_ways = false;  // also the route to -> from, over the same links backwards
};

struct LinkGraph {
  std::vector<ListedLink> links;
  std::vector<ListedRoute> routes;

  [[nodiscard]] bool empty() const { return links.empty(); }
};

struct Cluster {
  GpuSpec gpu;
  int nodes = 1;
  int gpus_per_node = 1;
  IntraFabric intra_kind = IntraFabric::nvlink_switch;
  LinkSpec intra;        // one GPU to another inside a node, per direction
  LinkSpec inter;        // one NIC, per direction
  int nics_per_node = 1;
  // The bus bandwidth NCCL's all-reduce reaches through one NIC, where the vendor publishes
  // it (an all-reduce forced over the NICs alone); below the NIC's line rate `inter`
  // (docs/calibration.md, "Priors"). Unset: unknown.
  std::optional<BytesPerSecond> nccl_per_nic;
  InterFabric inter_kind = InterFabric::single_switch;
  int nodes_per_leaf = 4;         // fat-tree: nodes under one leaf switch
  double oversubscription = 1.0;  // fat-tree: a leaf's NIC bandwidth over its uplink bandwidth
  // Listed links: when not empty, the simulator's whole network (the fabric fields above
  // then serve only the closed form, which sees intra- and inter-node links as classes).
  LinkGraph graph;

  [[nodiscard]] int ranks() const { return nodes * gpus_per_node; }
  // Ranks are placed in order: rank r lives on node r / gpus_per_node.
  [[nodiscard]] int node_of(int rank) const { return rank / gpus_per_node; }
  [[nodiscard]] LinkClass link_class(int from, int to) const {
    return node_of(from) == node_of(to) ? LinkClass::intra_node : LinkClass::inter_node;
  }
};

// P ranks that are virtual ranks of one physical GPU (issue 6, the GPU backend's loopback
// transport): one node of `ranks` "GPUs" of type `gpu`, joined nvlink-mesh style by one
// independent link per ordered pair with the given figures, because each loopback copy
// is paced on its own rather than through a shared port. The compute sharing of the one
// device is the simulator's (sim/device_share.hpp), not the cluster's.
[[nodiscard]] Cluster loopback_cluster(const GpuSpec& gpu, int ranks, LinkSpec link);

}  // namespace xattn
