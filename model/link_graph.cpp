// Checks and routes a listed machine (see link_graph.hpp): one breadth-first search per
// destination GPU over the links reversed, then a greedy walk from each source that keeps
// to the shortest, widest paths and takes the lowest link id at every step.
#include "model/link_graph.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <unordered_map>
#include <variant>

#include <fmt/format.h>

namespace xattn {
namespace {

using Section = GraphProblem::Section;

constexpr int unreached = std::numeric_limits<int>::max();

std::string gpu_name(int rank) { return fmt::format("gpu{}", rank); }

// "a, b and c", or the first `shown` items and "and N more".
std::string some_of(const std::vector<std::string>& items, std::size_t shown = 4) {
  std::string s;
  const std::size_t n = std::min(items.size(), shown);
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) s += (i + 1 == n && items.size() <= shown) ? " and " : ", ";
    s += items[i];
  }
  if (items.size() > shown) s += fmt::format(" and {} more", items.size() - shown);
  return s;
}

// Edits (insert, delete, replace a character) that turn a into b, when at most `limit`;
// limit + 1 otherwise. Only the diagonal band |i − j| <= limit can stay within the limit,
// so the work is O(min(|a|, |b|) · limit), whatever the names' length: a suggestion for a
// misspelt 100,000-character name costs no more than for a short one.
std::size_t edit_distance(std::string_view a, std::string_view b, std::size_t limit) {
  if (a.size() > b.size()) std::swap(a, b);
  if (b.size() - a.size() > limit) return limit + 1;
  const std::size_t far = limit + 1;
  std::vector<std::size_t> row(b.size() + 1, far);
  for (std::size_t j = 0; j <= std::min(b.size(), limit); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    const std::size_t lo = i > limit ? i - limit : 1, hi = std::min(b.size(), i + limit);
    std::size_t diagonal = row[lo - 1];
    row[lo - 1] = lo - 1 == 0 ? i : far;  // left of the band: out of reach
    std::size_t best = row[lo - 1];
    for (std::size_t j = lo; j <= hi; ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({up + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1), far});
      diagonal = up;
      best = std::min(best, row[j]);
    }
    if (hi < b.size()) row[hi + 1] = far;  // right of the band: out of reach
    if (best > limit) return far;
  }
  return std::min(row[b.size()], far);
}

}  // namespace

std::optional<int> gpu_endpoint(std::string_view name) {
  if (name.size() < 4 || !name.starts_with("gpu") || name[3] < '0' || name[3] > '9') return std::nullopt;
  int rank = 0;
  const char* end = name.data() + name.size();
  auto [stop, ec] = std::from_chars(name.data() + 3, end, rank);
  if (ec != std::errc() || stop != end || (name[3] == '0' && name.size() > 4)) return -1;
  return rank;
}

std::span<const int> RoutedGraph::route(int from, int to) const {
  const std::size_t k = static_cast<std::size_t>(from) * static_cast<std::size_t>(ranks) + static_cast<std::size_t>(to);
  const auto b = static_cast<std::size_t>(offsets_[k]), e = static_cast<std::size_t>(offsets_[k + 1]);
  return {ids_.data() + b, e - b};
}

bool RoutedGraph::fixed(int from, int to) const {
  return fixed_[static_cast<std::size_t>(from) * static_cast<std::size_t>(ranks) + static_cast<std::size_t>(to)];
}

RoutedGraph route_graph(const LinkGraph& g, int ranks, std::vector<GraphProblem>& problems) {
  const std::size_t problems_before = problems.size();
  const auto problem = [&](Section s, int index, std::string key, std::string message) {
    problems.push_back(GraphProblem{s, index, std::move(key), std::move(message)});
  };
  const auto found_problems = [&] { return problems.size() > problems_before; };
  RoutedGraph out;
  out.ranks = ranks;
  if (g.links.empty()) {
    if (!g.routes.empty())
      problem(Section::routes, -1, "", "routes are fixed over listed links, and cluster.links lists none");
    return out;
  }

  // ---- the links one by one: names, endpoints, figures -------------------------------
  for (int v = 0; v < ranks; ++v) out.vertices.push_back(gpu_name(v));
  std::unordered_map<std::string, int> vertex_of;  // switches, NICs, bridges
  std::unordered_map<std::string, int> named;      // directed link name -> listed index
  std::unordered_map<std::string, int> listed_of;  // listed name -> listed index
  std::vector<int> touching(static_cast<std::size_t>(ranks), 0);
  const auto endpoint = [&](int i, const char* key, const std::string& name) -> int {
    if (name.empty()) {
      problem(Section::links, i, key, "an endpoint needs a name: gpu<rank> or a switch, NIC or bridge");
      return -1;
    }
    if (auto rank = gpu_endpoint(name)) {
      if (*rank < 0) {
        problem(Section::links, i, key,
                fmt::format("'{}' is not a GPU name: write gpu<rank>, the global rank without leading zeros", name));
        return -1;
      }
      if (*rank >= ranks) {
        problem(Section::links, i, key,
                fmt::format("{} is beyond the cluster's {} GPUs (gpu0 to gpu{}; cluster.nodes x cluster.gpus_per_node)",
                            name, ranks, ranks - 1));
        return -1;
      }
      return *rank;
    }
    auto [it, added] = vertex_of.try_emplace(name, static_cast<int>(out.vertices.size()));
    if (added) {
      out.vertices.push_back(name);
      touching.push_back(0);
    }
    return it->second;
  };
  std::vector<std::pair<int, int>> ends(g.links.size(), {-1, -1});
  for (std::size_t n = 0; n < g.links.size(); ++n) {
    const int i = static_cast<int>(n);
    const ListedLink& l = g.links[n];
    if (l.name.empty()) {
      problem(Section::links, i, "name", "a link needs a name (routes and reports refer to it)");
    } else {
      listed_of.emplace(l.name, i);
      std::vector<std::string> names{l.name};
      if (l.duplex) names.push_back(l.name + ".rev");
      auto clash = named.end();  // the first of this link's names that another link has
      for (const auto& name : names)
        if (clash == named.end()) clash = named.find(name);
      if (clash == named.end()) {
        for (const auto& name : names) named.emplace(name, i);
      } else {
        const std::string& other = g.links[static_cast<std::size_t>(clash->second)].name;
        problem(Section::links, i, "name",
                other == l.name ? fmt::format("a second link named '{}' (cluster.links[{}] is the first)", l.name,
                                              clash->second)
                                : fmt::format("the name '{}' is taken by cluster.links[{}] (a duplex link's way back "
                                              "is named <name>.rev)",
                                              clash->first, clash->second));
      }
    }
    const int a = endpoint(i, "from", l.from);
    const int b = endpoint(i, "to", l.to);
    if (a >= 0 && a == b)
      problem(Section::links, i, "to", fmt::format("a link joins two endpoints; from and to are both '{}'", l.from));
    ends[n] = {a, b};
    if (a >= 0) ++touching[static_cast<std::size_t>(a)];
    if (b >= 0 && b != a) ++touching[static_cast<std::size_t>(b)];
    if (!(l.figures.bandwidth.value() > 0))
      problem(Section::links, i, "bandwidth_GBps",
              fmt::format("must be positive, got {}", to_gigabytes_per_second(l.figures.bandwidth)));
    if (!(l.figures.latency.value() >= 0))
      problem(Section::links, i, "latency_us",
              fmt::format("must not be negative, got {}", to_microseconds(l.figures.latency)));
  }
  // A switch, NIC or bridge that one link only names is most likely a misspelt name.
  const auto first_link_at = [&](int v) {
    int i = 0;
    while (ends[static_cast<std::size_t>(i)].first != v && ends[static_cast<std::size_t>(i)].second != v) ++i;
    return std::pair{i, ends[static_cast<std::size_t>(i)].first == v ? "from" : "to"};
  };
  for (int v = ranks; v < static_cast<int>(out.vertices.size()); ++v)
    if (touching[static_cast<std::size_t>(v)] == 1) {
      const auto [i, key] = first_link_at(v);
      const std::string& name = out.vertices[static_cast<std::size_t>(v)];
      std::string closest;  // another switch, NIC or bridge at most 2 edits away
      std::size_t best = 3;
      for (int w = ranks; w < static_cast<int>(out.vertices.size()); ++w)
        if (const std::size_t d = w == v ? best : edit_distance(name, out.vertices[static_cast<std::size_t>(w)], 2);
            d < best) {
          best = d;
          closest = out.vertices[static_cast<std::size_t>(w)];
        }
      problem(Section::links, i, key,
              fmt::format("unknown endpoint '{}': no other link names it, so nothing can pass through it; {} (a "
                          "switch, NIC or bridge is joined to the rest by two links or more)",
                          name, closest.empty() ? "a misspelt name?" : fmt::format("did you mean '{}'?", closest)));
    }

  // ---- fixed routes: what can be checked without walking ------------------------------
  const auto gpu_of_route = [&](int j, const char* key, int rank) {
    if (rank >= 0 && rank < ranks) return true;
    problem(Section::routes, j, key,
            fmt::format("gpu{} is beyond the cluster's {} GPUs (gpu0 to gpu{})", rank, ranks, ranks - 1));
    return false;
  };
  std::vector<bool> walkable(g.routes.size(), false);
  for (std::size_t n = 0; n < g.routes.size(); ++n) {
    const int j = static_cast<int>(n);
    const ListedRoute& r = g.routes[n];
    bool ok = gpu_of_route(j, "from", r.from);
    ok = gpu_of_route(j, "to", r.to) && ok;
    if (ok && r.from == r.to) {
      problem(Section::routes, j, "to", fmt::format("a route joins two GPUs; from and to are both gpu{}", r.from));
      ok = false;
    }
    if (r.links.empty()) {
      problem(Section::routes, j, "links", "a route crosses at least one link");
      ok = false;
    } else if (static_cast<int>(r.links.size()) > max_route_links) {
      problem(Section::routes, j, "links",
              fmt::format("the route crosses {} links; a route crosses at most {}", r.links.size(), max_route_links));
      ok = false;
    }
    for (const auto& name : r.links)
      if (!listed_of.contains(name)) {
        problem(Section::routes, j, "links",
                named.contains(name)
                    ? fmt::format("'{}' is a way back: name the link itself; the route's direction picks the way", name)
                    : fmt::format("no link named '{}' in cluster.links", name));
        ok = false;
      }
    walkable[n] = ok;
  }
  if (found_problems()) return out;

  // ---- the directed graph -------------------------------------------------------------
  const int vertices = static_cast<int>(out.vertices.size());
  std::vector<std::vector<int>> leaving(static_cast<std::size_t>(vertices)), arriving(leaving.size());
  for (std::size_t n = 0; n < g.links.size(); ++n) {
    const ListedLink& l = g.links[n];
    const auto [a, b] = ends[n];
    const auto add = [&](std::string name, bool reverse, int from, int to) {
      const int id = static_cast<int>(out.links.size());
      out.links.push_back(DirectedLink{std::move(name), static_cast<int>(n), reverse, from, to, l.figures, l.link_class});
      leaving[static_cast<std::size_t>(from)].push_back(id);
      arriving[static_cast<std::size_t>(to)].push_back(id);
    };
    add(l.name, false, a, b);
    if (l.duplex) add(l.name + ".rev", true, b, a);
  }
  // A switch, NIC or bridge that traffic can enter but not leave (or the reverse) is most
  // likely a missing `duplex: true`.
  for (int v = ranks; v < vertices; ++v) {
    const auto sv = static_cast<std::size_t>(v);
    const auto [first, key] = first_link_at(v);
    if (leaving[sv].empty())
      problem(Section::links, first, key,
              fmt::format("every link at '{}' ends there, so nothing can leave it (is a `duplex: true` missing?)",
                          out.vertices[sv]));
    else if (arriving[sv].empty())
      problem(Section::links, first, key,
              fmt::format("every link at '{}' starts there, so nothing can reach it (is a `duplex: true` missing?)",
                          out.vertices[sv]));
  }
  std::vector<std::string> lonely;
  for (int v = 0; v < ranks; ++v)
    if (touching[static_cast<std::size_t>(v)] == 0) lonely.push_back(gpu_name(v));
  if (!lonely.empty())
    problem(Section::links, -1, "",
            fmt::format("{} {} on no link: every one of the cluster's {} GPUs must be joined to the others",
                        some_of(lonely), lonely.size() == 1 ? "is" : "are", ranks));

  // ---- fixed routes: walk them --------------------------------------------------------
  const auto pair_index = [&](int from, int to) {
    return static_cast<std::size_t>(from) * static_cast<std::size_t>(ranks) + static_cast<std::size_t>(to);
  };
  const auto ends_text = [](const ListedLink& l) {
    return l.duplex ? fmt::format("joins {} and {}", l.from, l.to)
                    : fmt::format("goes from {} to {}, one way", l.from, l.to);
  };
  // The directed links of `names` walked from GPU `start` to GPU `goal`, or what is wrong.
  const auto walk = [&](int start, int goal, const std::vector<std::string>& names)
      -> std::variant<std::vector<int>, std::string> {
    std::vector<int> ids;
    std::vector<int> seen{start};
    int at = start;
    for (std::size_t k = 0; k < names.size(); ++k) {
      const int listed = listed_of.at(names[k]);
      const ListedLink& l = g.links[static_cast<std::size_t>(listed)];
      int id = -1;
      for (int candidate : leaving[static_cast<std::size_t>(at)])
        if (out.links[static_cast<std::size_t>(candidate)].listed == listed) id = candidate;
      if (id < 0) {
        const std::string where =
            k == 0 ? fmt::format("the route starts at {}", out.vertices[static_cast<std::size_t>(at)])
                   : fmt::format("after '{}' the route is at {}", names[k - 1], out.vertices[static_cast<std::size_t>(at)]);
        const bool one_way_back = !l.duplex && ends[static_cast<std::size_t>(listed)].second == at;
        return fmt::format("'{}' does not continue the route: {}, and '{}' {}{}", names[k], where, names[k],
                           ends_text(l), one_way_back ? " (add `duplex: true` to cross it backwards)" : "");
      }
      ids.push_back(id);
      at = out.links[static_cast<std::size_t>(id)].to;
      if (std::find(seen.begin(), seen.end(), at) != seen.end())
        return fmt::format("the route passes {} twice", out.vertices[static_cast<std::size_t>(at)]);
      seen.push_back(at);
    }
    if (at != goal)
      return fmt::format("the route ends at {}, not at gpu{}", out.vertices[static_cast<std::size_t>(at)], goal);
    return ids;
  };
  std::unordered_map<std::size_t, std::vector<int>> fixed;  // pair -> directed ids
  std::unordered_map<std::size_t, int> fixed_by;            // pair -> route entry
  for (std::size_t n = 0; n < g.routes.size(); ++n) {
    const int j = static_cast<int>(n);
    const ListedRoute& r = g.routes[n];
    if (!walkable[n]) continue;
    std::vector<std::pair<std::pair<int, int>, std::vector<std::string>>> ways{{{r.from, r.to}, r.links}};
    if (r.both_ways) ways.push_back({{r.to, r.from}, std::vector<std::string>(r.links.rbegin(), r.links.rend())});
    for (std::size_t w = 0; w < ways.size(); ++w) {
      const auto [from, to] = ways[w].first;
      const std::string prefix = w == 0 ? "" : "the way back (both_ways): ";
      auto walked = walk(from, to, ways[w].second);
      if (auto* why = std::get_if<std::string>(&walked)) {
        problem(Section::routes, j, "links", prefix + *why);
        continue;
      }
      auto [it, added] = fixed_by.try_emplace(pair_index(from, to), j);
      if (!added) {
        problem(Section::routes, j, w == 0 ? "from" : "both_ways",
                fmt::format("a second route from gpu{} to gpu{} (cluster.routes[{}] fixes one)", from, to, it->second));
        continue;
      }
      fixed[pair_index(from, to)] = std::get<std::vector<int>>(std::move(walked));
    }
  }

  if (found_problems()) return out;  // a broken graph's missing paths would only repeat its problems

  // ---- computed routes: per destination, BFS backwards, then greedy walks ---------------
  const auto P = static_cast<std::size_t>(ranks);
  std::vector<std::vector<int>> routes(P * P);
  std::vector<std::pair<int, int>> no_path;            // (source, destination)
  std::vector<std::array<int, 3>> too_long;            // (source, destination, links)
  std::vector<int> dist(static_cast<std::size_t>(vertices));
  std::vector<double> widest(static_cast<std::size_t>(vertices));
  std::vector<int> order;
  const auto bandwidth = [&](int id) { return out.links[static_cast<std::size_t>(id)].figures.bandwidth.value(); };
  for (int d = 0; d < ranks; ++d) {
    std::fill(dist.begin(), dist.end(), unreached);
    std::fill(widest.begin(), widest.end(), 0.0);
    order.assign(1, d);
    dist[static_cast<std::size_t>(d)] = 0;
    widest[static_cast<std::size_t>(d)] = std::numeric_limits<double>::infinity();
    for (std::size_t head = 0; head < order.size(); ++head) {
      const int x = order[head];
      if (x != d && x < ranks) continue;  // a GPU other than the destination forwards nothing
      for (int id : arriving[static_cast<std::size_t>(x)]) {
        const int y = out.links[static_cast<std::size_t>(id)].from;
        if (dist[static_cast<std::size_t>(y)] != unreached) continue;
        dist[static_cast<std::size_t>(y)] = dist[static_cast<std::size_t>(x)] + 1;
        order.push_back(y);
      }
    }
    // One step closer to d, through d itself or a vertex that forwards.
    const auto closer = [&](int x, int id) {
      const int w = out.links[static_cast<std::size_t>(id)].to;
      return dist[static_cast<std::size_t>(w)] == dist[static_cast<std::size_t>(x)] - 1 && (w == d || w >= ranks);
    };
    for (std::size_t k = 1; k < order.size(); ++k) {  // by distance: every `w` below is done
      const int x = order[k];
      double best = 0.0;
      for (int id : leaving[static_cast<std::size_t>(x)])
        if (closer(x, id))
          best = std::max(best, std::min(bandwidth(id), widest[static_cast<std::size_t>(out.links[static_cast<std::size_t>(id)].to)]));
      widest[static_cast<std::size_t>(x)] = best;
    }
    for (int s = 0; s < ranks; ++s) {
      if (s == d || fixed.contains(pair_index(s, d))) continue;
      const int hops = dist[static_cast<std::size_t>(s)];
      if (hops == unreached) {
        if (touching[static_cast<std::size_t>(s)] > 0 && touching[static_cast<std::size_t>(d)] > 0)
          no_path.push_back({s, d});
        continue;
      }
      if (hops > max_route_links) {
        too_long.push_back({s, d, hops});
        continue;
      }
      const double floor = widest[static_cast<std::size_t>(s)];
      std::vector<int>& route = routes[pair_index(s, d)];
      for (int x = s, step = 0; step < hops; ++step) {  // hops steps reach d: each keeps the width
        for (int id : leaving[static_cast<std::size_t>(x)]) {  // in id order: the lowest that keeps the width
          const int w = out.links[static_cast<std::size_t>(id)].to;
          if (closer(x, id) && bandwidth(id) >= floor && widest[static_cast<std::size_t>(w)] >= floor) {
            route.push_back(id);
            x = w;
            break;
          }
        }
      }
    }
  }
  // Reported by source, then destination.
  std::sort(no_path.begin(), no_path.end());
  std::sort(too_long.begin(), too_long.end());
  if (!no_path.empty()) {
    std::vector<std::string> pairs;
    for (auto [s, d] : no_path) pairs.push_back(fmt::format("gpu{} to gpu{}", s, d));
    problem(Section::links, -1, "",
            fmt::format("no path from {} over the listed links (computed routes do not pass through GPUs; list the "
                        "missing links, or fix a route in cluster.routes)",
                        some_of(pairs)));
  }
  if (!too_long.empty()) {
    std::vector<std::string> pairs;
    for (auto [s, d, hops] : too_long) pairs.push_back(fmt::format("gpu{} to gpu{} ({} links)", s, d, hops));
    problem(Section::links, -1, "",
            fmt::format("the shortest path from {} crosses more links than a route may ({})", some_of(pairs),
                        max_route_links));
  }
  if (found_problems()) return out;

  out.offsets_.assign(P * P + 1, 0);
  out.fixed_.assign(P * P, false);
  for (std::size_t k = 0; k < P * P; ++k) {
    auto it = fixed.find(k);
    const std::vector<int>& ids = it != fixed.end() ? it->second : routes[k];
    out.fixed_[k] = it != fixed.end();
    out.ids_.insert(out.ids_.end(), ids.begin(), ids.end());
    out.offsets_[k + 1] = static_cast<int>(out.ids_.size());
  }
  return out;
}

std::optional<LinkSpec> slowest_pair(const Cluster& c, const RoutedGraph& r, LinkClass cls) {
  std::optional<LinkSpec> slowest;
  for (int a = 0; a < r.ranks; ++a)
    for (int b = 0; b < r.ranks; ++b) {
      if (a == b || c.link_class(a, b) != cls) continue;
      double bottleneck = std::numeric_limits<double>::infinity();
      Seconds latency;
      for (int id : r.route(a, b)) {
        const LinkSpec& f = r.links[static_cast<std::size_t>(id)].figures;
        bottleneck = std::min(bottleneck, f.bandwidth.value());
        latency = latency + f.latency;
      }
      if (!slowest) {
        slowest = LinkSpec{BytesPerSecond(bottleneck), latency};
        continue;
      }
      slowest->bandwidth = BytesPerSecond(std::min(slowest->bandwidth.value(), bottleneck));
      slowest->latency = Seconds(std::max(slowest->latency.value(), latency.value()));
    }
  return slowest;
}

}  // namespace xattn
