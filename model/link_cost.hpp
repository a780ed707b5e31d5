// What a hop and a collective cost: the one place where a link class's nominal figures
// (the cluster's LinkSpec) meet its calibration (LinkCalibration: latency/bandwidth
// overrides and NCCL protocol regimes). The closed form (model/analytic.cpp), the
// simulator's network (sim/network.cpp, plan_transfer), the collective model behind
// `xattn collective` (RingCollectiveModel) and the nccl-tests fit all price through it, so
// that the engines agree on the same hop (docs/model.md §4, eq. 6; docs/calibration.md,
// "Protocol regimes").
//
// The rule, in two steps:
//  1. The link's figures: the nominal LinkSpec, replaced field by field by the
//     calibration's `latency`/`bandwidth` (calibrated_link). This is what a link of the
//     simulator's topology carries.
//  2. The regimes a message may run: the calibrated protocol regimes, each no wider than
//     the link (a regime never moves bytes faster than the wire it runs on); without
//     regimes, one Simple regime with the link's figures and no base latency
//     (link_regimes). A hop of n bytes runs the regime with the smallest
//     latency + n / bandwidth, as NCCL's tuner picks the protocol it predicts fastest
//     (price_hop); a collective pays its regime's base latency once on top of its hops.
#pragma once

#include <span>
#include <vector>

#include "model/calibration.hpp"
#include "model/collective_model.hpp"
#include "model/hardware.hpp"
#include "model/core/units.hpp"

namespace xattn {

// Step 1: the link's figures, nominal replaced field by field by the calibration.
[[nodiscard]] LinkSpec calibrated_link(const LinkSpec& nominal, const LinkCalibration& cal);

// Step 2: the regimes a message on `link` may run. `calibrated` empty: one Simple regime
// of the link's own figures, no base latency. Otherwise each calibrated regime, its
// bandwidth capped at the link's.
[[nodiscard]] std::vector<ProtocolRegime> link_regimes(const LinkSpec& link, std::span<const ProtocolRegime> calibrated);
[[nodiscard]] std::vector<ProtocolRegime> link_regimes(const LinkSpec& nominal, const LinkCalibration& cal);

// How one hop of a message is priced: the regime chosen for its size and its figures.
struct HopPrice {
  Protocol protocol = Protocol::simple;
  Seconds latency;           // per hop
  BytesPerSecond bandwidth;  // the rate one message gets on its own
  Seconds base_latency;      // once per collective that runs this regime; 0 for a lone message

  // latency + n / bandwidth: one hop, the base latency excluded.
  [[nodiscard]] Seconds time(Bytes n) const { return latency + n / bandwidth; }
};

// One hop of `n` bytes on `link` (its figures already calibrated, step 1) with these
// calibrated regimes (may be empty): the fastest regime of link_regimes(link,
// calibrated) for n (ties: the first in protocol order). Allocates nothing.
[[nodiscard]] HopPrice price_hop(const LinkSpec& link, std::span<const ProtocolRegime> calibrated, Bytes n);
// The same from the nominal figures: price_hop(calibrated_link(nominal, cal), cal.protocols, n).
[[nodiscard]] HopPrice price_hop(const LinkSpec& nominal, const LinkCalibration& cal, Bytes n);

// One collective on `links` (whose regimes come from link_regimes) under protocol p, as
// NCCL_PROTO forcing it would run: the launch overhead, p's base latency of the
// bottleneck class once, hops at p's latency and the wire at p's bandwidth
// (docs/calibration.md, "The collective model"). Infinity where the bottleneck class has
// no regime for p.
[[nodiscard]] Seconds price_collective(const CollectiveLinks& links, const CollectiveShape& s, Bytes size, Protocol p);
// The same with the protocol NCCL's tuner would pick: the fastest for this collective.
[[nodiscard]] CollectiveEstimate price_collective(const CollectiveLinks& links, const CollectiveShape& s, Bytes size);

}  // namespace xattn
