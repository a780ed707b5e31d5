// Pricing a hop and a collective from nominal figures plus calibration (link_cost.hpp;
// docs/model.md §4, docs/calibration.md "Protocol regimes" and "The collective model").
#include "model/link_cost.hpp"

#include <algorithm>
#include <limits>
#include <vector>

namespace xattn {
namespace {

ProtocolRegime capped(const ProtocolRegime& r, const LinkSpec& link) {
  ProtocolRegime c = r;
  c.bandwidth = std::min(r.bandwidth, link.bandwidth);
  return c;
}

}  // namespace

LinkSpec calibrated_link(const LinkSpec& nominal, const LinkCalibration& cal) {
  LinkSpec spec = nominal;
  if (cal.latency) spec.latency = *cal.latency;
  if (cal.bandwidth) spec.bandwidth = *cal.bandwidth;
  return spec;
}

std::vector<ProtocolRegime> link_regimes(const LinkSpec& link, std::span<const ProtocolRegime> calibrated) {
  if (calibrated.empty()) return {ProtocolRegime{Protocol::simple, link.latency, link.bandwidth, Seconds(0)}};
  std::vector<ProtocolRegime> out;
  out.reserve(calibrated.size());
  for (const ProtocolRegime& r : calibrated) out.push_back(capped(r, link));
  return out;
}

std::vector<ProtocolRegime> link_regimes(const LinkSpec& nominal, const LinkCalibration& cal) {
  return link_regimes(calibrated_link(nominal, cal), cal.protocols);
}

HopPrice price_hop(const LinkSpec& link, std::span<const ProtocolRegime> calibrated, Bytes n) {
  if (calibrated.empty()) return HopPrice{Protocol::simple, link.latency, link.bandwidth, Seconds(0)};
  const ProtocolRegime* best = nullptr;
  Seconds best_time;
  for (const ProtocolRegime& r : calibrated) {
    const Seconds t = r.latency + n / std::min(r.bandwidth, link.bandwidth);
    if (best == nullptr || t < best_time) {
      best = &r;
      best_time = t;
    }
  }
  const ProtocolRegime c = capped(*best, link);
  return HopPrice{c.protocol, c.latency, c.bandwidth, c.base_latency};
}

HopPrice price_hop(const LinkSpec& nominal, const LinkCalibration& cal, Bytes n) {
  return price_hop(calibrated_link(nominal, cal), cal.protocols, n);
}

std::vector<ProtocolRegime> message_regimes(std::span<const ProtocolRegime> p2p,
                                            std::span<const ProtocolRegime> collective) {
  if (!p2p.empty()) return {p2p.begin(), p2p.end()};
  std::vector<ProtocolRegime> out;
  if (collective.empty()) return out;
  Seconds base_min = collective.front().base_latency;
  for (const ProtocolRegime& r : collective) base_min = std::min(base_min, r.base_latency);
  for (const ProtocolRegime& r : collective) {
    if (r.protocol == Protocol::ll128 && collective.size() > 1) continue;  // send/recv: LL or Simple
    ProtocolRegime m = r;
    m.latency = base_min + r.latency;
    if (r.local_bandwidth) m.bandwidth = BytesPerSecond(1.0 / (1.0 / r.bandwidth.value() + 1.0 / r.local_bandwidth->value()));
    m.base_latency = Seconds(0);
    m.tree_latency.reset();
    m.local_bandwidth.reset();
    out.push_back(m);
  }
  return out;
}

HopPrice price_message(const LinkSpec& nominal, const LinkCalibration& cal, Bytes n) {
  const LinkSpec link = calibrated_link(nominal, cal);
  const std::vector<ProtocolRegime> rs = message_regimes(cal.p2p, link_regimes(link, cal.protocols));
  const ProtocolRegime* best = nullptr;
  Seconds best_time;
  for (const ProtocolRegime& r : rs) {
    const Seconds t = r.latency + n / r.bandwidth;
    if (best == nullptr || t < best_time) {
      best = &r;
      best_time = t;
    }
  }
  return HopPrice{best->protocol, best->latency, best->bandwidth, Seconds(0)};
}

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// A regime of protocol p in `rs`, else the widest (for the class that does not gate).
const ProtocolRegime& regime_or_widest(const std::vector<ProtocolRegime>& rs, Protocol p) {
  const ProtocolRegime* r = find_regime(rs, p);
  return r != nullptr ? *r : widest(rs);
}

}  // namespace

GpuTimeParts gpu_time_parts(const CollectiveLinks& links, const CollectiveShape& s, Bytes size, Algorithm a,
                            Protocol p, bool tuner) {
  const CollectiveTerms t = collective_terms(s, size, a, p);
  if (!t.communicates) return {};
  const GpuTimeParts never{Seconds(kInfinity), Seconds(kInfinity)};
  if (!t.available) return never;
  const bool across = t.bottleneck == LinkClass::inter_node;
  if (a == Algorithm::p2p) {
    // A lone message per rank: its own regimes (calibrated, or derived from the class's).
    const std::vector<ProtocolRegime> rs =
        message_regimes(across ? links.inter_p2p : links.intra_p2p, across ? links.inter : links.intra);
    const ProtocolRegime* r = find_regime(rs, p);
    if (r == nullptr) return never;
    return {r->latency, t.wire / r->bandwidth};
  }
  const ProtocolRegime* r = find_regime(across ? links.inter : links.intra, p);
  if (r == nullptr) return never;
  const ProtocolRegime& intra = regime_or_widest(links.intra, p);
  const ProtocolRegime& inter = regime_or_widest(links.inter, p);
  const Seconds base = max(Seconds(0), r->base_latency + t.base_offset);
  const Seconds level = inter.tree_latency.value_or(inter.latency);
  const Seconds latency = intra.latency * t.intra_hops + inter.latency * t.inter_hops + level * t.tree_levels;
  Seconds wire = (tuner && t.tuner_wire ? *t.tuner_wire : t.wire) / (r->bandwidth * t.lanes);
  // The intra-node part of a collective spanning nodes gates only when the NICs together
  // outrun one GPU's intra-node links (at the link's own rate: its widest regime).
  if (across && s.gpus_per_node > 1) wire = max(wire, t.intra_wire / widest(links.intra).bandwidth);
  const Seconds local = r->local_bandwidth ? size / *r->local_bandwidth : Seconds(0);
  return {base + latency + local, wire / t.efficiency};
}

Seconds gpu_time(const CollectiveLinks& links, const CollectiveShape& s, Bytes size, Algorithm a, Protocol p,
                 bool tuner) {
  return gpu_time_parts(links, s, size, a, p, tuner).total();
}

Seconds price_collective(const CollectiveLinks& links, const CollectiveShape& s, Bytes size, Algorithm a, Protocol p) {
  return max(links.host(s), gpu_time(links, s, size, a, p));
}

Seconds price_collective(const CollectiveLinks& links, const CollectiveShape& s, Bytes size, Protocol p) {
  return nccl_choice(
             s, links.host(s), [&](Algorithm a, Protocol q) { return gpu_time(links, s, size, a, q); },
             [&](Algorithm a, Protocol q) { return gpu_time(links, s, size, a, q, true); }, p)
      .time;
}

CollectiveEstimate price_collective(const CollectiveLinks& links, const CollectiveShape& s, Bytes size) {
  return nccl_choice(
      s, links.host(s), [&](Algorithm a, Protocol p) { return gpu_time(links, s, size, a, p); },
      [&](Algorithm a, Protocol p) { return gpu_time(links, s, size, a, p, true); });
}

CollectivePlan plan_collective(const CollectiveLinks& links, const CollectiveShape& s, Bytes size) {
  CollectivePlan plan;
  plan.choice = price_collective(links, s, size);
  plan.host = links.host(s);
  const Protocol p = plan.choice.protocol;
  plan.parts = gpu_time_parts(links, s, size, plan.choice.algorithm, p);
  const bool across = s.nodes() > 1;
  const ProtocolRegime& intra = !across ? regime_or_widest(links.intra, p) : widest(links.intra);
  const ProtocolRegime& inter = across ? regime_or_widest(links.inter, p) : widest(links.inter);
  plan.cap_intra = intra.bandwidth;
  plan.cap_inter = inter.bandwidth;
  return plan;
}

}  // namespace xattn
