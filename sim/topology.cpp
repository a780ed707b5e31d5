// Builds the link graph of a Cluster and routes messages over it (see topology.hpp).
#include "sim/topology.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace xattn::sim {

int Topology::add_link(Link l) {
  links_.push_back(std::move(l));
  return static_cast<int>(links_.size()) - 1;
}

void Topology::set_route(int from, int to, const std::vector<int>& links) {
  if (static_cast<int>(links.size()) > max_route_links)
    throw std::invalid_argument(fmt::format("a route has at most {} links", max_route_links));
  Route r;
  for (int l : links) r.add(l);
  explicit_[(static_cast<std::uint64_t>(from) << 32) | static_cast<std::uint32_t>(to)] = r;
}

int Topology::nic_of(int rank) const {
  const int g = rank % gpus_per_node_, node = rank / gpus_per_node_;
  const int k = nics_per_node_ >= gpus_per_node_ ? g : g * nics_per_node_ / gpus_per_node_;
  return node * nics_per_node_ + k;
}

LinkClass Topology::link_class(int from, int to) const {
  if (listed_) {
    // A listed route is of the inter-node class when any link on it is.
    const Route r = route(from, to);  // by value: the span must not outlive it
    for (int l : r.span())
      if (links_[static_cast<std::size_t>(l)].link_class == LinkClass::inter_node) return LinkClass::inter_node;
    return LinkClass::intra_node;
  }
  if (!structured_) return LinkClass::intra_node;
  return from / gpus_per_node_ == to / gpus_per_node_ ? LinkClass::intra_node : LinkClass::inter_node;
}

Route Topology::route(int from, int to) const {
  if (!explicit_.empty()) {
    auto it = explicit_.find((static_cast<std::uint64_t>(from) << 32) | static_cast<std::uint32_t>(to));
    if (it != explicit_.end()) return it->second;
  }
  Route r;
  if (listed_) {
    if (from != to)
      for (int l : graph_.route(from, to)) r.add(l);
    return r;
  }
  if (from == to || !structured_) return r;
  const int G = gpus_per_node_;
  const int na = from / G, nb = to / G;
  if (na == nb) {
    switch (intra_) {
      case IntraFabric::nvlink_mesh:
        r.add(mesh_[static_cast<std::size_t>(na * G * G + (from % G) * G + to % G)]);
        break;
      case IntraFabric::pcie:
        r.add(gpu_up_[static_cast<std::size_t>(from)]);
        r.add(bridge_[static_cast<std::size_t>(na)]);
        r.add(gpu_down_[static_cast<std::size_t>(to)]);
        break;
      default:
        r.add(gpu_up_[static_cast<std::size_t>(from)]);
        r.add(gpu_down_[static_cast<std::size_t>(to)]);
        break;
    }
    return r;
  }
  r.add(nic_up_[static_cast<std::size_t>(nic_of(from))]);
  if (inter_ == InterFabric::fat_tree && na / nodes_per_leaf_ != nb / nodes_per_leaf_) {
    r.add(leaf_up_[static_cast<std::size_t>(na / nodes_per_leaf_)]);
    r.add(leaf_down_[static_cast<std::size_t>(nb / nodes_per_leaf_)]);
  }
  r.add(nic_down_[static_cast<std::size_t>(nic_of(to))]);
  return r;
}

Time Topology::latency(const Route& r) const {
  Time t;
  for (int l : r.span()) t += links_[static_cast<std::size_t>(l)].latency;
  return t;
}

Topology Topology::from_graph(const LinkGraph& g, int ranks) {
  std::vector<GraphProblem> problems;
  Topology t(ranks);
  t.graph_ = route_graph(g, ranks, problems);
  if (!problems.empty()) {
    std::string text = "the listed links do not route:";
    for (const auto& p : problems) {
      const char* section = p.section == GraphProblem::Section::links ? "links" : "routes";
      text += p.index < 0 ? fmt::format("\n  {}: {}", section, p.message)
                          : fmt::format("\n  {}[{}]{}{}: {}", section, p.index, p.key.empty() ? "" : ".", p.key, p.message);
    }
    throw std::invalid_argument(text);
  }
  t.listed_ = true;
  for (const DirectedLink& d : t.graph_.links)
    t.add_link(Link{d.name, d.figures.bandwidth, Time::from(d.figures.latency), d.link_class});
  return t;
}

std::int64_t Topology::link_count(const Cluster& c) {
  if (!c.graph.empty()) return 2 * static_cast<std::int64_t>(c.graph.links.size());  // duplex ones twice
  const std::int64_t nodes = c.nodes, G = c.gpus_per_node, nics = std::max(1, c.nics_per_node);
  std::int64_t per_node = 0;
  if (G > 1) per_node = c.intra_kind == IntraFabric::nvlink_mesh ? G * G : 2 * G + 1;
  const std::int64_t leaves = (nodes + std::max(1, c.nodes_per_leaf) - 1) / std::max(1, c.nodes_per_leaf);
  return nodes * per_node + (nodes > 1 ? nodes * 2 * nics + 2 * leaves : 0);
}

Topology Topology::from_cluster(const Cluster& c, const Calibration& cal, const TopologyOptions& options) {
  if (!c.graph.empty()) return from_graph(c.graph, c.ranks());
  // The cluster's own fabric unless the options ask for a fat-tree themselves.
  const TopologyOptions o = options.inter == InterFabric::fat_tree
                                ? options
                                : TopologyOptions{c.inter_kind, c.nodes_per_leaf, c.oversubscription};
  Topology t(c.ranks());
  t.structured_ = true;
  t.gpus_per_node_ = c.gpus_per_node;
  t.nics_per_node_ = std::max(1, c.nics_per_node);
  t.intra_ = c.intra_kind;
  t.inter_ = o.inter;
  t.nodes_per_leaf_ = std::max(1, o.nodes_per_leaf);
  const LinkSpec intra = cal.link(c, LinkClass::intra_node);
  const LinkSpec inter = cal.link(c, LinkClass::inter_node);
  const Time a_intra = Time::from(intra.latency), a_inter = Time::from(inter.latency);
  const int G = c.gpus_per_node;
  const auto intra_link = [&](std::string name, Time lat) {
    return t.add_link(Link{std::move(name), intra.bandwidth, lat, LinkClass::intra_node});
  };
  for (int n = 0; n < c.nodes && G > 1; ++n) {
    if (c.intra_kind == IntraFabric::nvlink_mesh) {
      for (int a = 0; a < G; ++a)
        for (int b = 0; b < G; ++b)
          t.mesh_.push_back(a == b ? -1 : intra_link(fmt::format("n{}.nvlink{}-{}", n, a, b), a_intra));
      continue;
    }
    for (int g = 0; g < G; ++g) {
      t.gpu_up_.push_back(intra_link(fmt::format("n{}.gpu{}.up", n, g), a_intra));
      t.gpu_down_.push_back(intra_link(fmt::format("n{}.gpu{}.down", n, g), Time()));
    }
    if (c.intra_kind == IntraFabric::pcie) t.bridge_.push_back(intra_link(fmt::format("n{}.host-bridge", n), Time()));
  }
  if (c.nodes > 1) {
    for (int n = 0; n < c.nodes; ++n)
      for (int k = 0; k < t.nics_per_node_; ++k) {
        t.nic_up_.push_back(t.add_link(Link{fmt::format("n{}.nic{}.up", n, k), inter.bandwidth, a_inter, LinkClass::inter_node}));
        t.nic_down_.push_back(t.add_link(Link{fmt::format("n{}.nic{}.down", n, k), inter.bandwidth, Time(), LinkClass::inter_node}));
      }
    if (o.inter == InterFabric::fat_tree) {
      const int leaves = (c.nodes + t.nodes_per_leaf_ - 1) / t.nodes_per_leaf_;
      const BytesPerSecond up = inter.bandwidth * (static_cast<double>(t.nodes_per_leaf_ * t.nics_per_node_) /
                                                   std::max(o.oversubscription, 1e-9));
      for (int l = 0; l < leaves; ++l) {
        t.leaf_up_.push_back(t.add_link(Link{fmt::format("leaf{}.up", l), up, Time(), LinkClass::inter_node}));
        t.leaf_down_.push_back(t.add_link(Link{fmt::format("leaf{}.down", l), up, Time(), LinkClass::inter_node}));
      }
    }
  }
  return t;
}

}  // namespace xattn::sim
