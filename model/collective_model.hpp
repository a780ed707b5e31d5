// How long one NCCL collective takes on a cluster shape, from per-link-class protocol
// regimes and a per-launch-mode fixed cost (docs/calibration.md, "Collective model").
//
// The closed form follows how NCCL runs each collective with its ring algorithm:
// all-reduce is a reduce-scatter then an all-gather around a ring, 2(n-1) steps, each rank
// sending 2(n-1)/n of the buffer; all-gather and reduce-scatter are n-1 steps moving
// (n-1)/n of the (total) buffer; broadcast and reduce are a pipelined chain, n-1 hops,
// the whole buffer through every link; all-to-all sends 1/n of the buffer to every peer at
// once, the inter-node part sharing the node's NICs; sendrecv is one message per rank.
// Every step of a ring runs at the pace of its slowest link class: a ring that spans
// nodes is timed with the inter-node regimes, its bandwidth that of the node's NICs
// together (each ring channel crosses each node boundary once, on its own NIC).
// NCCL's three protocols each have their own latency and bandwidth; like NCCL's tuner, the
// model takes the fastest for each size. Sizes and bus bandwidths follow nccl-tests'
// definitions (doc/PERFORMANCE.md in github.com/NVIDIA/nccl-tests). The regimes come from
// the nominal figures and the calibration through model/link_cost.hpp (link_regimes), and
// the time of a collective is price_collective there: the pricing every engine shares.
//
// `CollectiveModel` is the interface; the event-driven simulator can later implement it
// (or be cross-checked against `RingCollectiveModel`).
#pragma once

#include <cstdint>
#include <vector>

#include "model/calibration.hpp"
#include "model/hardware.hpp"
#include "model/collective.hpp"
#include "model/core/units.hpp"

namespace xattn {

// Where a collective runs: n = gpus ranks placed in order, gpus_per_node per node.
struct CollectiveShape {
  NcclCollective op = NcclCollective::all_reduce;
  int gpus = 1;
  int gpus_per_node = 1;
  int nics_per_node = 1;  // inter-node lanes of one node
  LaunchMode launch = LaunchMode::single_process;

  [[nodiscard]] int nodes() const { return (gpus + gpus_per_node - 1) / gpus_per_node; }
};

// The link figures the model uses: per link class, one or more protocol regimes (latency
// per hop, bandwidth per GPU inside a node, per NIC across nodes), and the fixed cost of a
// collective call per launch mode.
struct CollectiveLinks {
  std::vector<ProtocolRegime> intra;  // never empty
  std::vector<ProtocolRegime> inter;  // never empty
  Seconds overhead_single_process;
  Seconds overhead_mpi;

  // Nominal cluster figures (one Simple regime per class, no overhead), refined by the
  // calibration: its regimes when it has them (none wider than the class's link), else
  // its latency/bandwidth (link_regimes, model/link_cost.hpp).
  [[nodiscard]] static CollectiveLinks from(const Cluster& nominal, const Calibration& cal);
  [[nodiscard]] Seconds overhead(LaunchMode m) const {
    return m == LaunchMode::mpi ? overhead_mpi : overhead_single_process;
  }
};

// The regime of protocol p among `rs`, or null; the widest of a non-empty `rs`.
[[nodiscard]] const ProtocolRegime* find_regime(const std::vector<ProtocolRegime>& rs, Protocol p);
[[nodiscard]] const ProtocolRegime& widest(const std::vector<ProtocolRegime>& rs);

// The ring (or pairwise) decomposition of one collective: what the fit needs to stay
// linear in the link parameters. time = overhead + base + hops * latency + wire / (lanes
// * bw), with base, latency and bw those of link class `bottleneck` under one protocol.
struct CollectiveTerms {
  LinkClass bottleneck = LinkClass::intra_node;
  double hops = 0;     // latency-bound steps in sequence
  Bytes wire;          // bytes through the busiest link of the bottleneck class
  double lanes = 1;    // parallel links sharing `wire` (NICs of a node across nodes)
  Bytes intra_wire;    // bytes through one GPU's intra-node links, for rings spanning nodes
  bool communicates = true;  // false for one rank: no traffic
};

[[nodiscard]] CollectiveTerms collective_terms(const CollectiveShape& s, Bytes size);

// nccl-tests' bus-bandwidth factor: busbw = algbw * factor (doc/PERFORMANCE.md).
[[nodiscard]] double busbw_factor(NcclCollective op, int ranks);
// nccl-tests' "count" column for a size in bytes of elements of `type_bytes`.
[[nodiscard]] std::int64_t element_count(NcclCollective op, int ranks, Bytes size, int type_bytes);

struct CollectiveEstimate {
  Seconds time;
  Protocol protocol = Protocol::simple;
  LinkClass bottleneck = LinkClass::intra_node;
};

// The interface the CLI and the fit use.
class CollectiveModel {
 public:
  virtual ~CollectiveModel() = default;
  [[nodiscard]] virtual CollectiveEstimate estimate(const CollectiveShape& s, Bytes size) const = 0;
};

// The analytic model described at the top of this file (price_collective, link_cost.hpp).
class RingCollectiveModel final : public CollectiveModel {
 public:
  explicit RingCollectiveModel(CollectiveLinks links) : links_(std::move(links)) {}
  [[nodiscard]] CollectiveEstimate estimate(const CollectiveShape& s, Bytes size) const override;
  // The time under one protocol (NCCL_PROTO forcing it), for the fit and the report.
  [[nodiscard]] Seconds time_with(const CollectiveShape& s, Bytes size, Protocol p) const;
  [[nodiscard]] const CollectiveLinks& links() const { return links_; }

 private:
  CollectiveLinks links_;
};

// One predicted row, in nccl-tests' columns.
struct CollectiveRow {
  Bytes size;
  std::int64_t count = 0;
  Seconds time;
  double algbw_GBps = 0;
  double busbw_GBps = 0;
  Protocol protocol = Protocol::simple;
};

[[nodiscard]] CollectiveRow predict_row(const CollectiveModel& m, const CollectiveShape& s, Bytes size,
                                        int type_bytes = 4);

}  // namespace xattn
