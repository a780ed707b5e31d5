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
#include <functional>
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

// How a CollectiveOp::nccl collective is priced on top of its ring steps' time on the wire
// (model/link_cost.hpp, plan_collective): a fixed cost paid once after the last step, the
// host's launch work as a floor on the whole call, and the caps of its flows by link class.
struct NcclCost {
  Time fixed;
  Time host;
  double cap_intra = 0.0, cap_inter = 0.0;  // B/s (0: the links' own)
};
// `size_bytes`: the collective's buffer as nccl-tests counts it (an all-gather's output,
// a reduce-scatter's input, an all-reduce's buffer) over `members` GPUs.
using NcclPricing = std::function<NcclCost(CollectiveKind kind, int members, double size_bytes)>;

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
  // CollectiveOp::nccl collectives: their fixed cost and caps (unset: none, the links' rates).
  NcclPricing nccl_cost;
  // The bytes a run may use (runner.hpp, check_event_run_fits); nullopt: what this process
  // can still allocate (model/core/memory.hpp). Tests set it to check the refusal.
  std::optional<std::uint64_t> memory_available;
};

// The schedule cannot run to the end (a transfer without its partner, a cycle of waits).
class SimulationError : public std::runtime_error {
 public:
  explicit SimulationError(const std::string& what) : std::runtime_error(what) {}
};

// ---- streaming: a program too large to hold at once --------------------------------------

// A program handed out in segments (a training step, one layer's phase at a time:
// sim/iteration_sim.hpp). Segment k holds ops of every rank; an op's `deps` are indices in
// the rank's whole program (earlier segments' ops included), and its Send/Recv partners
// and collective instances lie in the same segment. The stream slots (structure.hpp) a
// segment uses are the same on every rank, so that the executor knows which later
// segment a stream that ran dry must wait for.
class SegmentSource {
 public:
  virtual ~SegmentSource() = default;
  [[nodiscard]] virtual int ranks() const = 0;
  [[nodiscard]] virtual int segments() const = 0;
  // Bit i: slot i has ops in segment k. (Not `slots`: Qt defines that as a macro.)
  [[nodiscard]] virtual std::uint32_t stream_slots(int k) const = 0;
  [[nodiscard]] virtual Schedule build(int k) = 0;
};

// What a streaming run tells its caller as it goes (the executor keeps no per-op record
// once a segment is done). The sink sees each rich op once, as its segment is appended
// (while it is in cache), and says in an 8-bit tag what it wants to know of it later:
// starts and completions hand that tag back, so that a run of millions of ops does not
// reread each op's 184 bytes from memory when it completes.
class OpSink {
 public:
  virtual ~OpSink() = default;
  // Op `index` (its place in the rank's whole program) of `rank` was appended.
  virtual std::uint8_t appended(int rank, int index, const Op& op) = 0;
  // A compute op of `rank`, tagged `tag`, starts at `now`; the rank had no compute op
  // running since `idle_since` (== now when it follows straight on); `cause` is the tag of
  // the op whose completion let it start (nullopt at time 0, or when that op is dropped).
  virtual void compute_started(int rank, std::uint8_t tag, Time idle_since, Time now,
                               std::optional<std::uint8_t> cause) = 0;
  // An op completed; `slot` is its stream's (structure.hpp, stream_slot). `op` is still
  // held, but reading it costs a cache miss: a sink reads it only where it needs more than
  // the tag (keeping a rank's ops for a trace).
  virtual void completed(int rank, int index, int slot, std::uint8_t tag, const OpTimes& times, const Op& op) = 0;
};

struct StreamRun {
  Timeline timeline;            // no per-op times and no critical path: the sink saw them
  std::uint64_t ops = 0;        // simulated, all ranks
  std::uint64_t messages = 0;   // point-to-point transfers
  std::uint64_t peak_live_ops = 0;  // the most ops held at once (the segments ranks were in)
  int segments = 0;
};

// Builds and runs the source's segments as ranks reach them and drops each once all its
// ops are done: memory follows the few segments in flight, not the program. The run is
// the one execute() would give the whole program (same event order, same times).
// Device sharing (SimOptions::device_of) is not available here.
[[nodiscard]] StreamRun execute_streaming(SegmentSource& source, Network& network, const ComputeCostModel& cost,
                                          const SimOptions& options, OpSink& sink);

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
