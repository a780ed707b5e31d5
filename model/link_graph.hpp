// Routing over a listed machine (LinkGraph, hardware.hpp; docs/topology.md): the directed
// links it has and the route every ordered pair of GPUs takes. A route fixed in
// cluster.routes wins; every other pair takes a shortest path, chosen so that the answer
// depends on nothing but the listing:
//
//   1. the fewest links;
//   2. of those, the widest: the largest bottleneck (smallest link) bandwidth;
//   3. of those, the lowest link ids, compared link by link from the source. Ids follow
//      the listing; a duplex link's way back has the id right after its way out.
//
// A computed route never passes through a GPU: GPUs are endpoints (relaying costs the
// third GPU a kernel and memory bandwidth, and libraries do it only by choice, as NCCL's
// PXN does for network traffic). A fixed route may.
//
// The checks report problems by section, entry and key rather than throwing, so that the
// scenario reader can name the file and line of each, and all of them at once.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/hardware.hpp"

namespace xattn {

// One direction of a listed link. A duplex link gives two: its own name from -> to, and
// "<name>.rev" to -> from.
struct DirectedLink {
  std::string name;
  int listed = 0;        // index into LinkGraph::links
  bool reverse = false;  // the to -> from direction of a duplex link
  int from = 0, to = 0;  // vertices (RoutedGraph::vertices)
  LinkSpec figures;
  LinkClass link_class = LinkClass::intra_node;
};

struct GraphProblem {
  enum class Section { links, routes };
  Section section = Section::links;
  int index = -1;       // the entry of the section; -1: the section as a whole
  std::string key;      // "to", "bandwidth_GBps", ...; "" for the entry (or section) itself
  std::string message;
};

class RoutedGraph {
 public:
  int ranks = 0;
  std::vector<std::string> vertices;  // vertex v: GPU v for v < ranks ("gpu<v>"), then the
                                      // other endpoints in order of first appearance
  std::vector<DirectedLink> links;    // by id

  // The directed link ids from GPU `from` to GPU `to`, in order; empty when from == to.
  [[nodiscard]] std::span<const int> route(int from, int to) const;
  // Whether the route of this pair was fixed in cluster.routes.
  [[nodiscard]] bool fixed(int from, int to) const;

 private:
  friend RoutedGraph route_graph(const LinkGraph&, int, std::vector<GraphProblem>&);
  std::vector<int> offsets_;  // (ranks * ranks + 1) offsets into ids_, pair from * ranks + to
  std::vector<int> ids_;
  std::vector<bool> fixed_;
};

// The rank of a GPU endpoint ("gpu12" -> 12), or nullopt when the name does not start
// with "gpu" and a digit (a switch, NIC or bridge). A GPU name with a leading zero or a
// rank too large for an int is a GPU name that is wrong: -1.
[[nodiscard]] std::optional<int> gpu_endpoint(std::string_view name);

// Checks the graph against a cluster of `ranks` GPUs and routes every ordered pair of
// them. Problems are appended to `problems`; when there are any, the result is
// incomplete and must not be used.
[[nodiscard]] RoutedGraph route_graph(const LinkGraph& g, int ranks, std::vector<GraphProblem>& problems);

// The closed form's view of a listed machine: over the GPU pairs of one class (same node
// or not, Cluster::link_class), the slowest pair's figures — the smallest bottleneck
// bandwidth and the largest route latency, which need not be the same pair's, since a
// ring waits for its slowest hop (docs/model.md §4). nullopt when no pair has that class.
[[nodiscard]] std::optional<LinkSpec> slowest_pair(const Cluster& c, const RoutedGraph& r, LinkClass cls);

}  // namespace xattn
