// NCCL collectives timed on the simulator's network model (issue 5, "Predict": `xattn
// collective` "uses the simulator's network model for the cluster"). The decomposition is
// the ring one of model/collective_model.hpp — all-reduce 2(n−1) ring steps, all-gather and
// reduce-scatter n−1, sendrecv one message per rank, all-to-all every pair at once — but
// each step's messages run as flows over the cluster's topology (sim/topology.hpp), so
// routes, shared NICs, PCIe bridges and fat-tree uplinks cost what they cost instead of
// what the closed form's lanes assume.
//
// A ring spanning nodes runs as K channels (K = NICs per node), each entering node j at
// local GPU s_j and leaving it from s_j − 1 towards the same local GPU of the next node —
// the rotation NCCL's ring search produces on rail-optimised clusters — so that channel k
// leaves every node through its own NIC; the buffer is split evenly over the channels.
// Inside one node there is one channel. Every step of a ring moves the same pieces over
// the same routes, shifted by one rank, and starts when the previous step has finished on
// every rank: the network is simulated for one step and the step time multiplied.
//
// Protocols: for each calibrated regime (LL, LL128, Simple) the step runs with that
// regime's per-hop latency and bandwidth cap; the collective pays the launch overhead of
// its launch mode and the regime's base latency once; the fastest regime is the one NCCL's
// tuner would pick. Broadcast and reduce (pipelined chains) are left to the ring model.
#pragma once

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
  // The time under one protocol (NCCL_PROTO forcing it); infinity when not calibrated.
  [[nodiscard]] Seconds time_with(const CollectiveShape& s, Bytes size, Protocol p) const;
  // Whether this model times `op` itself (false: it defers to the ring model).
  [[nodiscard]] static bool simulates(NcclCollective op);

 private:
  Cluster nominal_;
  Calibration cal_;
  RingCollectiveModel ring_;
};

}  // namespace xattn::sim
