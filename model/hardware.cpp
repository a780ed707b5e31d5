#include "model/hardware.hpp"

namespace xattn {

std::string_view to_string(IntraFabric f) {
  switch (f) {
    case IntraFabric::nvlink_switch: return "nvlink-switch";
    case IntraFabric::nvlink_mesh: return "nvlink-mesh";
    case IntraFabric::pcie: return "pcie";
    case IntraFabric::none: return "none";
  }
  return "?";
}

std::optional<IntraFabric> parse_intra_fabric(std::string_view s) {
  if (s == "nvlink-switch") return IntraFabric::nvlink_switch;
  if (s == "nvlink-mesh") return IntraFabric::nvlink_mesh;
  if (s == "pcie") return IntraFabric::pcie;
  if (s == "none") return IntraFabric::none;
  return std::nullopt;
}

std::string_view to_string(InterFabric f) {
  return f == InterFabric::fat_tree ? "fat-tree" : "switch";
}

std::optional<InterFabric> parse_inter_fabric(std::string_view s) {
  if (s == "switch") return InterFabric::single_switch;
  if (s == "fat-tree") return InterFabric::fat_tree;
  return std::nullopt;
}

std::string_view to_string(LinkClass c) {
  return c == LinkClass::intra_node ? "intra_node" : "inter_node";
}

Cluster loopback_cluster(const GpuSpec& gpu, int ranks, LinkSpec link) {
  Cluster c;
  c.gpu = gpu;
  c.nodes = 1;
  c.gpus_per_node = ranks;
  c.intra_kind = IntraFabric::nvlink_mesh;
  c.intra = link;
  c.inter = link;  // unused: one node
  c.nics_per_node = 1;
  return c;
}

}  // namespace xattn
