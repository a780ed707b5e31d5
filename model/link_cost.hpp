// What a hop, a lone message and a collective cost: the one place where a link class's
// nominal figures (the cluster's LinkSpec) meet its calibration (LinkCalibration:
// latency/bandwidth overrides, NCCL protocol regimes, lone-message regimes). The closed
// form (model/analytic.cpp), the simulator's network (sim/network.cpp, plan_transfer), the
// collective model behind `xattn collective` (NcclCollectiveModel, and the simulator's
// SimCollectiveModel for everything but its ring steps' bandwidth) and the nccl-tests fit
// all price through it, so that the engines agree on the same hop (docs/model.md §4, eq. 6;
// docs/calibration.md, "Protocol regimes" and "The collective model").
//
// The rule, in three steps:
//  1. The link's figures: the nominal LinkSpec, replaced field by field by the
//     calibration's `latency`/`bandwidth` (calibrated_link). This is what a link of the
//     simulator's topology carries.
//  2. The regimes a message may run: the calibrated protocol regimes, each no wider than
//     the link (a regime never moves bytes faster than the wire it runs on); without
//     regimes, one Simple regime with the link's figures and no base latency
//     (link_regimes). A hop of n bytes runs the regime with the smallest
//     latency + n / bandwidth, as NCCL's tuner picks the protocol it predicts fastest
//     (price_hop); a collective pays its regime's base latency once on top of its hops.
//  3. A collective: every (algorithm, protocol) NCCL may run is priced from its terms
//     (collective_terms, model/collective_model.hpp) and the regimes, and the fastest is
//     the one NCCL's tuner picks; the call takes the larger of that and the host's launch
//     work (price_collective).
#pragma once

#include <limits>
#include <optional>
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

// The regimes a lone point-to-point message may run (NCCL send/recv): the calibrated
// lone-message regimes `p2p` when there are any; else derived from the collective regimes
// of the class (LL and Simple, the protocols NCCL's send/recv uses): a message pays the
// smallest base latency of the class (a kernel's fixed cost), one hop, and the local
// traffic with the wire, latency = base_min + hop latency, 1/bandwidth = 1/bandwidth +
// 1/local_bandwidth. Without calibrated regimes: the link itself, as price_hop.
[[nodiscard]] std::vector<ProtocolRegime> message_regimes(std::span<const ProtocolRegime> p2p,
                                                          std::span<const ProtocolRegime> collective);
// One lone message of n bytes on a link class, from its nominal figures and calibration:
// the fastest of message_regimes for n, its whole fixed cost in `latency`, base 0.
[[nodiscard]] HopPrice price_message(const LinkSpec& nominal, const LinkCalibration& cal, Bytes n);

// The GPUs' time of one collective on `links` under algorithm a and protocol p, as
// NCCL_ALGO and NCCL_PROTO forcing them would run it: the base latency of the bottleneck
// class's regime for p (the tree's offset by NCCL's), the hops and tree levels at their
// regimes' latencies, the wire at the bandwidth of the bottleneck (the NICs of a node
// together across nodes, unless one GPU's intra-node links are slower), divided by the
// algorithm's efficiency, and the local traffic (docs/calibration.md, "The collective
// model"). Infinity where NCCL does not run a on this shape or the class has no regime
// for p; zero for one rank.
// `tuner`: as NCCL's tuner counts the bytes (CollectiveTerms::tuner_wire), for the choice.
[[nodiscard]] Seconds gpu_time(const CollectiveLinks& links, const CollectiveShape& s, Bytes size, Algorithm a,
                               Protocol p, bool tuner = false);
// The same in its parts: what does not depend on the links' bandwidth (base latency, hops,
// tree levels, local traffic) and the time on the wire. The simulator times the wire of a
// ring on its network and takes the rest from here (sim/collective_sim.hpp).
struct GpuTimeParts {
  Seconds fixed;  // base latency, hop and tree-level latencies, local traffic
  Seconds wire;   // bytes over the bottleneck's bandwidth, divided by the algorithm's efficiency
  [[nodiscard]] Seconds total() const { return fixed + wire; }
};
[[nodiscard]] GpuTimeParts gpu_time_parts(const CollectiveLinks& links, const CollectiveShape& s, Bytes size,
                                          Algorithm a, Protocol p, bool tuner = false);
// The call: the larger of the host's launch work (links.host) and the GPUs' time.
[[nodiscard]] Seconds price_collective(const CollectiveLinks& links, const CollectiveShape& s, Bytes size, Algorithm a,
                                       Protocol p);
// Under protocol p (NCCL_PROTO), the algorithm NCCL would pick for it.
[[nodiscard]] Seconds price_collective(const CollectiveLinks& links, const CollectiveShape& s, Bytes size, Protocol p);
// With the algorithm and protocol NCCL's tuner would pick: the smallest GPUs' time.
[[nodiscard]] CollectiveEstimate price_collective(const CollectiveLinks& links, const CollectiveShape& s, Bytes size);

// Step 3's choice, whoever times the GPUs: of every algorithm (ring, tree, p2p) and
// protocol (LL, LL128, Simple) — or only protocol `only` (NCCL_PROTO) — the pair whose
// time as NCCL's tuner counts it, tuner_time(a, p), is smallest, the first tried on a tie;
// the call takes the larger of that pair's GPUs' time gpu_time(a, p) and the host's launch
// work `host` (docs/calibration.md, "The collective model"). The closed form
// (price_collective, on gpu_time) and the simulator (sim::SimCollectiveModel, its ring's
// wire on the network) both choose through it.
template <class GpuTime, class TunerTime>
[[nodiscard]] CollectiveEstimate nccl_choice(const CollectiveShape& s, Seconds host, GpuTime&& gpu_time,
                                             TunerTime&& tuner_time, std::optional<Protocol> only = std::nullopt) {
  CollectiveEstimate best{Seconds(std::numeric_limits<double>::infinity()), Protocol::simple,
                          s.nodes() > 1 ? LinkClass::inter_node : LinkClass::intra_node,
                          s.op == NcclCollective::sendrecv ? Algorithm::p2p : Algorithm::ring, false};
  Seconds best_gpu(std::numeric_limits<double>::infinity());
  for (Algorithm a : {Algorithm::ring, Algorithm::tree, Algorithm::p2p})
    for (Protocol p : {Protocol::ll, Protocol::ll128, Protocol::simple}) {
      if (only && p != *only) continue;
      const Seconds g = tuner_time(a, p);
      if (g < best_gpu) {
        best_gpu = g;
        best.protocol = p;
        best.algorithm = a;
      }
    }
  if (best_gpu < Seconds(std::numeric_limits<double>::infinity())) best_gpu = gpu_time(best.algorithm, best.protocol);
  best.time = max(host, best_gpu);
  best.host_bound = host > best_gpu;
  return best;
}

// How the event engine runs one collective as NCCL would (CollectiveOp::nccl,
// sim/executor.hpp): NCCL's choice of algorithm and protocol (price_collective), what of
// its GPUs' time does not depend on the wire (GpuTimeParts::fixed: paid once, after the
// last step), the host's launch work, and the rates the ring steps' flows are capped at by
// link class — the chosen protocol's regime on the bottleneck class, the other class's
// widest — as the simulator's collective model runs them (sim/collective_sim.hpp). Its
// ring steps are then timed on the network; a tree NCCL would pick is run as the ring.
struct CollectivePlan {
  CollectiveEstimate choice;
  GpuTimeParts parts;  // of the chosen algorithm and protocol
  Seconds host;
  BytesPerSecond cap_intra, cap_inter;
};
[[nodiscard]] CollectivePlan plan_collective(const CollectiveLinks& links, const CollectiveShape& s, Bytes size);

}  // namespace xattn
