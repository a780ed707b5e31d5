// How long one NCCL collective takes on a cluster shape, modelled on NCCL's own tuning
// model (NVIDIA/nccl src/graph/tuning.cc, 2.18/2.19): for each algorithm NCCL may run and
// each protocol, a base latency, a latency per step or tree level, and the bytes over a
// bandwidth; NCCL runs the (algorithm, protocol) it predicts fastest, and so does this
// model. docs/calibration.md, "The collective model", derives every term.
//
// Algorithms (NCCL 2.18/2.19 on A100-class clusters without NVLS or SHARP):
//  - ring, for every collective: all-reduce is a reduce-scatter then an all-gather around
//    a ring, 2(n-1) steps, each rank sending 2(n-1)/n of the buffer; all-gather and
//    reduce-scatter are n-1 steps moving (n-1)/n of the (total) buffer; broadcast and
//    reduce a pipelined chain of n-1 hops; all-to-all every pair at once; sendrecv one
//    message per rank. A chunk's latency is the sum of the hops it crosses on its way
//    round the ring (the ones between nodes at the inter-node latency); its bandwidth is
//    the NICs' of a node together across nodes (one ring channel per NIC).
//  - tree, for all-reduce across nodes: NCCL's double binary tree over the nodes, a chain
//    inside each node; latency 2((g-1) intra hops + log2(N) tree levels), the whole buffer
//    up and down: at most 2S each way through a node's NICs (an inner node of one tree,
//    a leaf of the other), S over 2 nodes, 1.5S over 3. NCCL's tuner counts 2S always, and
//    it is the tuner that picks the algorithm: the choice uses its count, the time ours.
// A call takes the larger of the host's launch work and the GPUs' (nccl-tests issues calls
// back to back); the GPUs' time adds the kernel's own memory traffic (S / local
// bandwidth). Sizes and bus bandwidths follow nccl-tests' definitions (doc/PERFORMANCE.md
// in github.com/NVIDIA/nccl-tests). The regimes come from the nominal figures and the
// calibration through model/link_cost.hpp (link_regimes), and the time of a collective is
// price_collective there: the pricing every engine shares.
//
// `CollectiveModel` is the interface; `NcclCollectiveModel` is the closed form above, and
// the event-driven simulator implements it too (sim/collective_sim.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "model/calibration.hpp"
#include "model/hardware.hpp"
#include "model/collective.hpp"
#include "model/core/units.hpp"

namespace xattn {

// NCCL's algorithms this model prices (NCCL_ALGO): the ring for every collective, the
// double binary tree for all-reduce across nodes. `p2p` is a lone send/recv (sendrecv).
enum class Algorithm { ring, tree, p2p };

[[nodiscard]] std::string_view to_string(Algorithm a);

// Where a collective runs: n = gpus ranks placed in order, gpus_per_node per node.
struct CollectiveShape {
  NcclCollective op = NcclCollective::all_reduce;
  int gpus = 1;
  int gpus_per_node = 1;
  int nics_per_node = 1;  // inter-node lanes of one node
  LaunchMode launch = LaunchMode::single_process;

  [[nodiscard]] int nodes() const { return (gpus + gpus_per_node - 1) / gpus_per_node; }
  // GPUs whose kernels one process launches: all of them in one process, else one.
  [[nodiscard]] int gpus_per_process() const { return launch == LaunchMode::mpi ? 1 : gpus; }
};

// The link figures the model uses: per link class, one or more protocol regimes (latency
// per hop, bandwidth per GPU inside a node, per NIC across nodes, base latency, tree level
// latency, local bandwidth), lone-message regimes where calibrated, and the host's work
// per call by launch mode.
struct CollectiveLinks {
  std::vector<ProtocolRegime> intra;  // never empty
  std::vector<ProtocolRegime> inter;  // never empty
  std::vector<ProtocolRegime> intra_p2p;  // may be empty: derived from `intra`
  std::vector<ProtocolRegime> inter_p2p;  // may be empty: derived from `inter`
  Seconds overhead_single_process;
  Seconds overhead_mpi;
  Seconds overhead_per_gpu;  // added per GPU one process drives

  // Nominal cluster figures (one Simple regime per class, no host cost), refined by the
  // calibration: its regimes when it has them (none wider than the class's link), else
  // its latency/bandwidth (link_regimes, model/link_cost.hpp).
  [[nodiscard]] static CollectiveLinks from(const Cluster& nominal, const Calibration& cal);
  // The host's work for one call of this shape.
  [[nodiscard]] Seconds host(const CollectiveShape& s) const {
    return (s.launch == LaunchMode::mpi ? overhead_mpi : overhead_single_process) +
           overhead_per_gpu * static_cast<double>(s.gpus_per_process());
  }
};

// The NIC a collective across nodes sees: with nothing calibrated across nodes, what NCCL
// carries through it where the cluster publishes that (Cluster::nccl_per_nic), not the line
// rate; else the cluster's NIC, which the calibration refines.
[[nodiscard]] LinkSpec collective_nic(const Cluster& nominal, const Calibration& cal);

// The regime of protocol p among `rs`, or null; the widest of a non-empty `rs`.
[[nodiscard]] const ProtocolRegime* find_regime(const std::vector<ProtocolRegime>& rs, Protocol p);
[[nodiscard]] const ProtocolRegime& widest(const std::vector<ProtocolRegime>& rs);

// NCCL's tuning constants this model takes over (NVIDIA/nccl src/graph/tuning.cc, 2.18/2.19;
// docs/calibration.md, "NCCL's tuning model"):
//  - the tree's base latency against the ring's, per protocol (baseLat: tree 6.8, 14, 0 us
//    against ring 6.6, 14, 8.4 us for LL, LL128, Simple);
//  - the tree's bandwidth: 0.92 of the links', times NCCL's correction for medium sizes
//    (treeCorrectionFactor, by protocol and log2 of size / 64 B).
[[nodiscard]] Seconds tree_base_offset(Protocol p);
[[nodiscard]] double tree_efficiency(Protocol p, Bytes size);

// The decomposition of one collective under one algorithm and protocol: what the fit
// needs to stay linear in the link parameters. The GPUs' time is
//   base + intra_hops * latency_intra + inter_hops * latency_inter + tree_levels * tree_latency
//        + max(wire / (lanes * bw_bottleneck), intra_wire / bw_intra) / efficiency + size / local_bw
// with the figures of the protocol's regimes (price_collective, link_cost.hpp).
struct CollectiveTerms {
  LinkClass bottleneck = LinkClass::intra_node;
  double intra_hops = 0;   // latency-bound hops inside nodes on a chunk's path
  double inter_hops = 0;   // ... between nodes
  double tree_levels = 0;  // tree levels crossed, up and down: 2 floor(log2 N)
  Bytes wire;              // bytes through the busiest link of the bottleneck class
  // The bytes NCCL's tuner counts there, where they differ: it converts a tree's bus
  // bandwidth to algorithm bandwidth by 1/2 at every node count (2S), while over 2 nodes a
  // node's NICs carry S each way and over 3 1.5S (docs/calibration.md, "This model").
  std::optional<Bytes> tuner_wire;
  double lanes = 1;        // parallel links sharing `wire` (NICs of a node across nodes)
  Bytes intra_wire;        // bytes through one GPU's intra-node links, for collectives spanning nodes
  double efficiency = 1;   // fraction of the links' bandwidth the algorithm reaches (tree < 1)
  Seconds base_offset;     // added to the ring's base latency (tree: NCCL's difference)
  bool communicates = true;  // false for one rank: no traffic
  bool available = true;     // false where NCCL does not run this algorithm
};

[[nodiscard]] CollectiveTerms collective_terms(const CollectiveShape& s, Bytes size, Algorithm a, Protocol p);
// The decomposition under the algorithm every collective has: the ring (a lone message for
// sendrecv), Simple.
[[nodiscard]] inline CollectiveTerms collective_terms(const CollectiveShape& s, Bytes size) {
  return collective_terms(s, size, s.op == NcclCollective::sendrecv ? Algorithm::p2p : Algorithm::ring,
                          Protocol::simple);
}

// nccl-tests' bus-bandwidth factor: busbw = algbw * factor (doc/PERFORMANCE.md).
[[nodiscard]] double busbw_factor(NcclCollective op, int ranks);
// nccl-tests' "count" column for a size in bytes of elements of `type_bytes`.
[[nodiscard]] std::int64_t element_count(NcclCollective op, int ranks, Bytes size, int type_bytes);

struct CollectiveEstimate {
  Seconds time;
  Protocol protocol = Protocol::simple;
  LinkClass bottleneck = LinkClass::intra_node;
  Algorithm algorithm = Algorithm::ring;
  bool host_bound = false;  // the host's launch work took longer than the GPUs'
};

// The interface the CLI and the fit use.
class CollectiveModel {
 public:
  virtual ~CollectiveModel() = default;
  [[nodiscard]] virtual CollectiveEstimate estimate(const CollectiveShape& s, Bytes size) const = 0;
};

// The closed form described at the top of this file (price_collective, link_cost.hpp).
class NcclCollectiveModel final : public CollectiveModel {
 public:
  explicit NcclCollectiveModel(CollectiveLinks links) : links_(std::move(links)) {}
  [[nodiscard]] CollectiveEstimate estimate(const CollectiveShape& s, Bytes size) const override;
  // The time under one protocol (NCCL_PROTO forcing it; the fastest algorithm), and under
  // one algorithm and protocol (NCCL_ALGO and NCCL_PROTO both), for the fit and the report.
  [[nodiscard]] Seconds time_with(const CollectiveShape& s, Bytes size, Protocol p) const;
  [[nodiscard]] Seconds time_with(const CollectiveShape& s, Bytes size, Algorithm a, Protocol p) const;
  [[nodiscard]] const CollectiveLinks& links() const { return links_; }

 private:
  CollectiveLinks links_;
};

// The closed form's former name, from when it priced the ring only.
using RingCollectiveModel = NcclCollectiveModel;

// One predicted row, in nccl-tests' columns.
struct CollectiveRow {
  Bytes size;
  std::int64_t count = 0;
  Seconds time;
  double algbw_GBps = 0;
  double busbw_GBps = 0;
  Protocol protocol = Protocol::simple;
  Algorithm algorithm = Algorithm::ring;
  bool host_bound = false;
};

[[nodiscard]] CollectiveRow predict_row(const CollectiveModel& m, const CollectiveShape& s, Bytes size,
                                        int type_bytes = 4);

}  // namespace xattn
