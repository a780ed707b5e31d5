// Runs a Schedule over a network and produces its Timeline, following exactly the
// execution semantics written at the top of model/schedule/schedule.hpp: in-order streams,
// dependencies, transfer groups posted together, rendezvous Send/Recv (a transfer starts
// once both sides are posted), collectives that start when every member has posted and
// complete on all members together. Compute ops take their time from the closed form's
// block-time formulas (compute_cost.hpp); collectives run as NCCL runs them: ring
// all-gather and reduce-scatter (P−1 steps, each member forwarding to the next once it
// has received the previous step), ring all-reduce (both, 2(P−1) steps), all-to-all as
// every pairwise message posted at once.
//
// Deterministic: every event is keyed by what it is (event_queue.hpp), and the optional
// compute jitter draws from a hash of (seed, rank, op index), not from a stream whose
// values depend on the order ops happen to run.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/calibration.hpp"
#include "model/hardware.hpp"
#include "model/schedule/schedule.hpp"
#include "sim/compute_cost.hpp"
#include "sim/device_share.hpp"
#include "sim/network.hpp"
#include "model/schedule/timeline.hpp"
#include "sim/topology.hpp"

namespace xattn::sim {

struct SimOptions {
  NetworkModel network = NetworkModel::flow;
  TopologyOptions topology;
  // Compute noise: every compute op's time is multiplied by a factor drawn uniformly from
  // [1 − jitter, 1 + jitter]; the straggler rank's compute is also multiplied by
  // straggler_factor. Both off by default.
  double jitter = 0.0;
  int straggler = -1;
  double straggler_factor = 1.0;
  std::uint64_t seed = 1;
  // Several ranks on one GPU (device_share.hpp): device_of[r] is the device rank r runs on
  // (empty: every rank its own GPU). Ranks that share a device run their compute ops one
  // at a time, by `sharing`; in_order takes its order per device from `compute_order`
  // (empty: device_compute_order of a run without sharing).
  std::vector<int> device_of;
  DeviceSharing sharing = DeviceSharing::in_order;
  std::vector<std::vector<OpId>> compute_order;
  // simulate(): messages between one ordered GPU pair one after the other (make_fifo_pairs),
  // as the GPU backend's loopback transport serves them. Off: they share the pair's links.
  bool fifo_pairs = false;
  // The bytes a run may use (runner.hpp, check_event_run_fits); nullopt: what this process
  // can still allocate (model/core/memory.hpp). Tests set it to check the refusal.
  std::optional<std::uint64_t> memory_available;
};

// The schedule cannot run to the end (a transfer without its partner, a cycle of waits).
class SimulationError : public std::runtime_error {
 public:
  explicit SimulationError(const std::string& what) : std::runtime_error(what) {}
};

// Runs `s` on `network` (which holds the topology), timing compute with `cost`. With
// in-order device sharing, `options.compute_order` must be set (simulate() makes one).
[[nodiscard]] Timeline execute(const Schedule& s, Network& network, const ComputeCostModel& cost,
                               const SimOptions& options = {});

// Convenience: the topology and network of `cluster` with `calibration`, and compute on its
// GPU. `accumulator_bytes`: 0 for the activation dtype's. In-order device sharing without
// a compute order takes device_compute_order of a first run without sharing.
[[nodiscard]] Timeline simulate(const Schedule& s, const Cluster& cluster, const Calibration& calibration,
                                const SimOptions& options = {}, int accumulator_bytes = 0);

}  // namespace xattn::sim
