// Orders for several ranks on one device (see device_share.hpp).
#include "sim/device_share.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace xattn::sim {

int device_count(const std::vector<int>& device_of) {
  int n = 0;
  for (int d : device_of) n = std::max(n, d + 1);
  return n;
}

std::vector<std::vector<OpId>> device_compute_order(const Schedule& s, const Timeline& independent,
                                                    const std::vector<int>& device_of) {
  if (static_cast<int>(device_of.size()) != s.ranks())
    throw std::invalid_argument(fmt::format("device_of names {} ranks; the schedule has {}", device_of.size(), s.ranks()));
  if (independent.ranks() != s.ranks())
    throw std::invalid_argument(fmt::format("the timeline has {} ranks; the schedule has {}", independent.ranks(), s.ranks()));
  std::vector<std::vector<OpId>> order(static_cast<std::size_t>(device_count(device_of)));
  for (int r = 0; r < s.ranks(); ++r) {
    const int d = device_of[static_cast<std::size_t>(r)];
    if (d < 0) throw std::invalid_argument(fmt::format("rank {} is placed on device {}", r, d));
    const auto& ops = s.programs[static_cast<std::size_t>(r)].ops;
    if (independent.ops[static_cast<std::size_t>(r)].size() != ops.size())
      throw std::invalid_argument(fmt::format("the timeline of rank {} does not match its program", r));
    for (std::size_t i = 0; i < ops.size(); ++i)
      if (ops[i].kind() == OpKind::compute) order[static_cast<std::size_t>(d)].push_back(OpId{r, static_cast<int>(i)});
  }
  for (auto& list : order)
    std::sort(list.begin(), list.end(), [&](const OpId& a, const OpId& b) {
      const Time ta = independent.at(a).start, tb = independent.at(b).start;
      return ta != tb ? ta < tb : a < b;
    });
  return order;
}

}  // namespace xattn::sim
