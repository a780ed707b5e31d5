// Pricing a hop and a collective from nominal figures plus calibration (link_cost.hpp;
// docs/model.md §4, docs/calibration.md "Protocol regimes" and "The collective model").
#include "model/link_cost.hpp"

#include <algorithm>
#include <limits>

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

Seconds price_collective(const CollectiveLinks& links, const CollectiveShape& s, Bytes size, Protocol p) {
  const CollectiveTerms t = collective_terms(s, size);
  const Seconds overhead = links.overhead(s.launch);
  if (!t.communicates) return overhead;
  const bool across = t.bottleneck == LinkClass::inter_node;
  const ProtocolRegime* r = find_regime(across ? links.inter : links.intra, p);
  if (r == nullptr) return Seconds(std::numeric_limits<double>::infinity());
  Seconds wire = t.wire / (r->bandwidth * t.lanes);
  if (across && s.gpus_per_node > 1) {
    // The intra-node part of a ring spanning nodes runs at the same protocol; it gates
    // only when the NICs together outrun one GPU's NVLink share.
    const ProtocolRegime* ri = find_regime(links.intra, p);
    const ProtocolRegime& in = ri != nullptr ? *ri : widest(links.intra);
    wire = max(wire, t.intra_wire / in.bandwidth);
  }
  return overhead + r->base_latency + r->latency * t.hops + wire;
}

CollectiveEstimate price_collective(const CollectiveLinks& links, const CollectiveShape& s, Bytes size) {
  const CollectiveTerms t = collective_terms(s, size);
  CollectiveEstimate best{Seconds(std::numeric_limits<double>::infinity()), Protocol::simple, t.bottleneck};
  for (Protocol p : {Protocol::ll, Protocol::ll128, Protocol::simple}) {
    const Seconds time = price_collective(links, s, size, p);
    if (time < best.time) best = {time, p, t.bottleneck};
  }
  return best;
}

}  // namespace xattn
