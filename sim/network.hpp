// The network model behind one contract, as SimGrid's network models are: the executor
// starts transfers, asks when the network next changes (next_event_after) and lets it
// advance to that time, collecting the transfers that completed. Two models implement it:
//
//  * AlphaBetaNetwork — every transfer takes latency + bytes / bandwidth of its route's
//    slowest link, as if alone (the closed form's eq. 6). The fast path and the
//    cross-check; it still reports which links two transfers used at the same time.
//  * FlowNetwork — transfers are flows along their routes; flows that share a link share
//    its bandwidth max-min fairly (progressive filling), recomputed when a flow starts or
//    ends, for the connected set of flows that share links with it (transitively) and
//    no others.
//
// A transfer first waits its route's latency, then moves its bytes. When the link class
// has NCCL protocol regimes calibrated (LinkCalibration::protocols), the regime that is
// fastest for the message size sets the latency and caps the flow's rate — chosen and
// priced by price_hop (model/link_cost.hpp), the function the closed form prices its hops
// with — except on a listed machine (Topology::listed), whose links' own figures are final.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "model/calibration.hpp"
#include "model/core/time.hpp"
#include "sim/topology.hpp"

namespace xattn::sim {

struct LinkStats {
  double bytes = 0.0;  // carried in all
  Time busy;           // time with at least one transfer on it
  int max_flows = 0;   // most transfers on it at once
  Time mixed;          // time it carried sequence-parallel and sharding traffic at once (FlowSpec::traffic)
};

// What a transfer is, for the network: whose traffic (a training step's sequence-parallel
// point-to-point against its FSDP/ZeRO/DDP collectives, so that a link carrying both at
// once is seen), and how it is priced. `wire_only`: no latency phase and no protocol
// regime, only the bytes, at most `cap` B/s (0: the route's) — the steps of a collective
// that NCCL runs, whose fixed costs the collective model adds once (CollectiveOp::nccl).
enum class Traffic : std::uint8_t { other, sequence_parallel, sharding };
struct FlowSpec {
  Traffic traffic = Traffic::other;
  bool wire_only = false;
  double cap = 0.0;
};

enum class NetworkModel { alpha_beta, flow };

class Network {
 public:
  virtual ~Network() = default;
  // Starts moving `bytes` from GPU `src` to GPU `dst` at `now`; `id` comes back when it
  // is done. `now` is never earlier than the last time the network advanced to.
  void start(Time now, int src, int dst, double bytes, std::uint64_t id) { start(now, src, dst, bytes, id, FlowSpec{}); }
  virtual void start(Time now, int src, int dst, double bytes, std::uint64_t id, const FlowSpec& spec) = 0;
  // The earliest time >= now at which something happens in the network (a transfer ends
  // or leaves its latency phase); Time::never() when idle.
  [[nodiscard]] virtual Time next_event_after(Time now) = 0;
  // Moves the network from `now` to `now + dt`, appending the ids of the transfers that
  // completed by then, in the order they completed (ties: by id).
  virtual void advance(Time now, Time dt, std::vector<std::uint64_t>& done) = 0;

  // Usage per link (index = link id), closed at `end`.
  [[nodiscard]] virtual std::vector<LinkStats> link_stats(Time end) const = 0;
  // Whether any link ever carried, at the same time, two transfers between different
  // (source, destination) pairs: contention the closed form does not see. (Two transfers
  // between the same pair of GPUs share one pipe; the closed form already adds them up.)
  [[nodiscard]] virtual bool any_link_shared() const = 0;
  [[nodiscard]] virtual const Topology& topology() const = 0;
  // The fixed cost a collective pays once on top of its hops when they go src -> dst with
  // messages of `bytes` (the protocol regime's base latency, ProtocolRegime); zero unless
  // protocol regimes are calibrated.
  [[nodiscard]] virtual Time collective_base_latency(int src, int dst, double bytes) const {
    (void)src, (void)dst, (void)bytes;
    return Time();
  }
};

// The route and timing parameters of one transfer, shared by both models: the route's
// own figures, with the calibrated protocol regime price_hop picks applied (see above).
struct TransferPlan {
  Route route;
  Time latency;
  double cap = 0.0;  // B/s: the regime's bandwidth, or the route's slowest link
  Time base_latency;  // the regime's once-per-collective cost (zero without regimes)
};
[[nodiscard]] TransferPlan plan_transfer(const Topology& t, const Calibration* cal, int src, int dst, double bytes);
// The same for a transfer of this kind: wire-only transfers keep the route and take no
// latency, no regime and the spec's cap.
[[nodiscard]] TransferPlan plan_transfer(const Topology& t, const Calibration* cal, int src, int dst, double bytes,
                                         const FlowSpec& spec);

// `cal` may be null (the links' own figures only); when set it must outlive the network.
[[nodiscard]] std::unique_ptr<Network> make_network(NetworkModel model, Topology topology, const Calibration* cal);

// Messages between one ordered GPU pair go one after the other, first started first
// served, over `inner`: a message started while another of its pair is in flight or
// waiting starts when the last of those ends. This is how the GPU backend's loopback
// transport serves a pair's link (docs/gpu_backend.md); real links interleave concurrent
// messages, which `inner`'s max-min sharing models. (The loopback pipelines one message's
// latency under the next one's bytes; this serializes whole messages, latency included.)
[[nodiscard]] std::unique_ptr<Network> make_fifo_pairs(std::unique_ptr<Network> inner);

}  // namespace xattn::sim
