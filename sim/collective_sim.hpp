// NCCL collectives timed on the simulator's network model (issue 5, "Predict": `xattn
// collective` "uses the simulator's network model for the cluster"). The ring's steps —
// all-reduce 2(n−1), all-gather and reduce-scatter n−1, sendrecv one message per rank,
// all-to-all every pair at once — run as flows over the cluster's topology
// (sim/topology.hpp), so routes, shared NICs, PCIe bridges and fat-tree uplinks cost what
// they cost instead of what the closed form's lanes assume.
//
// A ring spanning nodes runs as K channels (K = NICs per node), each entering node j at
// local GPU s_j and leaving it from s_j − 1 towards the same local GPU of the next node —
// the rotation NCCL's ring search produces on rail-optimised clusters — so that channel k
// leaves every node through its own NIC; the buffer is split evenly over the channels.
// Inside one node there is one channel. Every step of a ring moves the same pieces over
// the same routes, shifted by one rank, and starts when the previous step has finished on
// every rank: the network is simulated for one step and the step time multiplied.
//
// What the network decides is the ring's time on the wire: each step's flows carry no
// latency, each capped at the bandwidth of the protocol's regime on its class (the
// bottleneck class's regime; the other class at its link's own rate, as in the closed
// form). Everything else — base latency, the hops and tree levels a chunk crosses, the
// local traffic, the host's launch work and NCCL's choice of algorithm and protocol — is
// priced by model/link_cost.hpp, the same function the closed form uses (gpu_time_parts).
//
// Ring only: NCCL's tree (all-reduce across nodes), broadcast and reduce (pipelined chains)
// and sendrecv's lone messages are left to the closed form; they are not laid on the
// topology, so on a machine whose topology the closed form cannot see (PCIe bridges,
// oversubscribed uplinks) their time is the closed form's. Where the tree, as NCCL's tuner
// counts its bytes, is faster than the simulated ring, the tree's closed-form time is the
// answer, as NCCL would run it.
#pragma once

#include <optional>

#include "model/calibration.hpp"
#include "model/collective_model.hpp"
#include "model/hardware.hpp"

namespace xattn::sim {

class SimCollectiveModel final : public CollectiveModel {
 public:
  // `nominal`: the cluster whose topology the collective runs on (its node count and GPUs
  // per node are replaced by each shape's); `cal`: its calibration.
  SimCollectiveModel(Cluster nominal, Calibration cal);
  [[nodiscard]] CollectiveEstimate estimate(const CollectiveShape& s, Bytes size) const override;
  // The call under one protocol (NCCL_PROTO forcing it; the fastest algorithm), and under one
  // algorithm and protocol; infinity when not calibrated or not run by NCCL.
  [[nodiscard]] Seconds time_with(const CollectiveShape& s, Bytes size, Protocol p) const;
  [[nodiscard]] Seconds time_with(const CollectiveShape& s, Bytes size, Algorithm a, Protocol p) const;
  // Whether the network times `op`'s ring itself (false: the closed form answers).
  [[nodiscard]] static bool simulates(NcclCollective op);

 private:
  // The GPUs' time of (a, p): the ring's wire from the network, the rest from link_cost.
  [[nodiscard]] Seconds gpu_time(const CollectiveShape& s, Bytes size, Algorithm a, Protocol p) const;
  // NCCL's choice, only under protocol `only` when given (time_with, estimate).
  [[nodiscard]] CollectiveEstimate choose(const CollectiveShape& s, Bytes size, std::optional<Protocol> only) const;
  Cluster nominal_;
  Calibration cal_;
  CollectiveLinks links_;
};

}  // namespace xattn::sim
