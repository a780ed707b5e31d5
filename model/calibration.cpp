#include "model/calibration.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "model/kernel_model.hpp"
#include "model/link_cost.hpp"

namespace xattn {
namespace {

// Bilinear interpolation in (log2 q_rows, log2 kv_rows) over the grid of one
// (pass, head_dim); clamped at the grid's edges.
double interpolate(const std::vector<const EfficiencyPoint*>& pts, std::int64_t q, std::int64_t kv) {
  std::vector<std::int64_t> qs, ks;
  for (const auto* p : pts) {
    qs.push_back(p->q_rows);
    ks.push_back(p->kv_rows);
  }
  std::sort(qs.begin(), qs.end());
  qs.erase(std::unique(qs.begin(), qs.end()), qs.end());
  std::sort(ks.begin(), ks.end());
  ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
  auto at = [&](std::int64_t qq, std::int64_t kk) {
    for (const auto* p : pts)
      if (p->q_rows == qq && p->kv_rows == kk) return p->efficiency;
    return 0.0;  // unreachable for validated tables
  };
  auto bracket = [](const std::vector<std::int64_t>& v, std::int64_t x) {
    if (x <= v.front()) return std::pair<std::size_t, double>{0, 0.0};
    if (x >= v.back()) return std::pair<std::size_t, double>{v.size() - 1, 0.0};
    std::size_t i = static_cast<std::size_t>(std::upper_bound(v.begin(), v.end(), x) - v.begin()) - 1;
    double lo = std::log2(static_cast<double>(v[i]));
    double hi = std::log2(static_cast<double>(v[i + 1]));
    return std::pair<std::size_t, double>{i, (std::log2(static_cast<double>(x)) - lo) / (hi - lo)};
  };
  auto [iq, fq] = bracket(qs, q);
  auto [ik, fk] = bracket(ks, kv);
  std::size_t iq1 = std::min(iq + 1, qs.size() - 1);
  std::size_t ik1 = std::min(ik + 1, ks.size() - 1);
  double e00 = at(qs[iq], ks[ik]), e01 = at(qs[iq], ks[ik1]);
  double e10 = at(qs[iq1], ks[ik]), e11 = at(qs[iq1], ks[ik1]);
  return (1 - fq) * ((1 - fk) * e00 + fk * e01) + fq * ((1 - fk) * e10 + fk * e11);
}

}  // namespace

const GemmPoint* ComputeCalibration::gemm_point(double m, double k, double n) const {
  for (const GemmPoint& p : gemm_table)
    if (static_cast<double>(p.m) == m && static_cast<double>(p.k) == k && static_cast<double>(p.n) == n) return &p;
  return nullptr;
}

const AttentionPoint* ComputeCalibration::attention_point(BlockPass pass, std::int64_t head_dim, std::int64_t q_rows,
                                                         std::int64_t kv_rows, bool causal) const {
  for (const AttentionPoint& p : attention_table)
    if (p.pass == pass && p.head_dim == head_dim && p.q_rows == q_rows && p.kv_rows == kv_rows && p.causal == causal)
      return &p;
  return nullptr;
}

bool ComputeCalibration::table_covers(BlockPass pass, std::int64_t head_dim) const {
  return std::any_of(table.begin(), table.end(),
                     [&](const EfficiencyPoint& p) { return p.pass == pass && p.head_dim == head_dim; });
}

double ComputeCalibration::efficiency(BlockPass pass, std::int64_t head_dim, std::int64_t q_rows,
                                      std::int64_t kv_rows) const {
  if (q_rows <= 0 || kv_rows <= 0) return 1.0;  // an empty block does no work
  if (!table.empty()) {
    std::vector<const EfficiencyPoint*> pts;
    for (const auto& p : table)
      if (p.pass == pass && p.head_dim == head_dim) pts.push_back(&p);
    if (!pts.empty()) return interpolate(pts, q_rows, kv_rows);
  }
  // docs/model.md eq. 3 for one dense call of one head on a GPU of unknown size (an
  // Ampere part, no SM count: no occupancy, no split-KV): e_max · fill · amortization.
  const BlockDims one{1, 1.0, 1.0, head_dim, q_rows, kv_rows};
  const Flops some(1.0);
  return kernel_cost(GpuSpec{}, *this, DType::fp16, pass, one, some).efficiency;
}

LinkSpec Calibration::link(const Cluster& cluster, LinkClass c) const {
  return c == LinkClass::intra_node ? calibrated_link(cluster.intra, intra_node) : calibrated_link(cluster.inter, inter_node);
}

std::string_view to_string(Protocol p) {
  switch (p) {
    case Protocol::ll: return "ll";
    case Protocol::ll128: return "ll128";
    case Protocol::simple: return "simple";
  }
  return "?";
}

std::optional<Protocol> parse_protocol(std::string_view s) {
  for (Protocol p : {Protocol::ll, Protocol::ll128, Protocol::simple})
    if (s == to_string(p)) return p;
  return std::nullopt;
}

std::string_view to_string(LaunchMode m) { return m == LaunchMode::mpi ? "mpi" : "single_process"; }

std::optional<LaunchMode> parse_launch_mode(std::string_view s) {
  if (s == "mpi") return LaunchMode::mpi;
  if (s == "single_process" || s == "single-process") return LaunchMode::single_process;
  return std::nullopt;
}

std::string validate_table(const std::vector<EfficiencyPoint>& table) {
  std::map<std::pair<int, std::int64_t>, std::vector<const EfficiencyPoint*>> groups;
  for (const auto& p : table) {
    if (!(p.efficiency > 0.0 && p.efficiency <= 1.0))
      return fmt::format("efficiency {} is outside (0, 1]", p.efficiency);
    if (p.q_rows <= 0 || p.kv_rows <= 0 || p.head_dim <= 0)
      return "q_rows, kv_rows and head_dim must be positive";
    groups[{static_cast<int>(p.pass), p.head_dim}].push_back(&p);
  }
  for (const auto& [key, pts] : groups) {
    std::set<std::int64_t> qs, ks;
    std::set<std::pair<std::int64_t, std::int64_t>> cells;
    for (const auto* p : pts) {
      qs.insert(p->q_rows);
      ks.insert(p->kv_rows);
      if (!cells.insert({p->q_rows, p->kv_rows}).second)
        return fmt::format("duplicate point q_rows={} kv_rows={} for head_dim {}", p->q_rows,
                           p->kv_rows, key.second);
    }
    if (cells.size() != qs.size() * ks.size())
      return fmt::format("points for {} head_dim {} do not form a full q_rows x kv_rows grid "
                         "({} of {} cells)",
                         key.first == 0 ? "fwd" : "bwd", key.second, cells.size(),
                         qs.size() * ks.size());
  }
  return {};
}

}  // namespace xattn
