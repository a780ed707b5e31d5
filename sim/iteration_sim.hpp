// One training step in the event engine (issue 17; ITERATION.md §7.1, the per-GPU
// program): the vision encoder, projector, every LM unit's GEMMs around the self- and
// cross-attention Schedules the mechanism builders make, the LM head and loss, the
// backward with its recomputation, the FSDP/ZeRO/DDP collectives and the optimizer, run on
// the cluster's network so that the sharding traffic contends with the sequence-parallel
// transfers where they share NICs and NVLink.
//
// What runs is exactly the closed form's step (model/iteration_work.hpp: the closed form
// records its pieces as it prices them) and every compute op is priced by the same model/
// functions; what differs is that here the pieces overlap as NCCL and FSDP make them:
//
//  * streams per rank: `compute`; the sequence-parallel point-to-point of the attention
//    Schedules on their own communication streams (`sp0`, `sp1`, ...); one FIFO `dp`
//    stream for every collective of the sharding group, in issue order (ITERATION.md §4.2);
//  * FSDP forward prefetch (docs/model.md eq. 30): unit i+1's all-gather is issued when
//    unit i starts (the rate limiter: unit i-1 done); in the paper harness after unit i's
//    last host synchronisation. BACKWARD_PRE (eq. 31): before unit i's backward the
//    reduce-scatter of the unit before it and the all-gather of the unit after it are
//    issued, in that order; the last reduce-scatters and the root units' follow the last
//    unit. ZeRO-1/2 and DDP reduce their gradient buckets as the backward produces them;
//  * HostSync (paper harness): an op that waits for every stream of the rank, then the host
//    cost; nothing later is issued before it ends;
//  * the collectives run as NCCL lays them (one ring channel per NIC, CollectiveOp::nccl)
//    and are priced by the collective model's own terms (plan_collective).
//
// The step is built and simulated segment by segment (one LM unit's forward or backward
// at a time: execute_streaming), so memory follows a few layers' ops, not the step's tens
// of millions. Passes: `fwd` and `bwd` are one micro-step's phases (the last micro-step's
// backward, which synchronises gradients under DDP and ZeRO-1), `fwd+bwd` the whole step —
// the closed form's definitions (docs/model.md §13.3).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/iteration.hpp"
#include "model/scenario.hpp"
#include "model/schedule/schedule.hpp"
#include "model/schedule/timeline.hpp"
#include "model/step_part.hpp"
#include "sim/executor.hpp"

namespace xattn::sim {

// The streams of a step, by slot (structure.hpp): compute, the attention Schedules'
// communication streams, the sharding group's FIFO.
inline constexpr int step_dp_comm = 4;  // the dp stream is comm4 (slot 5)
// "compute", "sp0" .. "sp3", "dp" by slot; commN beyond.
[[nodiscard]] std::string step_stream_name(int slot);

struct IterationSimOptions {
  SimOptions sim;
  // Keep these ranks' ops and times (for a trace, --ops, the Gantt view); empty: keep none.
  std::vector<int> record_ranks;
};

// Where the time of the critical rank (the one that finished last) went, one row per
// phase: a part and direction ("self-attention bwd"), or a sharding collective
// ("all-gather"). Busy times are the union of the row's ops' intervals on each kind of
// stream; `exposed_s` is the time the compute stream waited with this row's op the last
// thing it waited for (a host sync counts as its attention's; the tail after the last
// compute op goes to what ended last).
struct PhaseRow {
  std::string phase;
  StepPart part = StepPart::none;
  double compute_s = 0, sp_s = 0, dp_s = 0, exposed_s = 0;
  std::uint64_t ops = 0;
};

struct IterationSimResult {
  IterationEstimate estimate;   // the contract's fields from the event run; memory is the closed form's
  // What only the event engine knows.
  bool link_shared = false;     // a link carried transfers of two GPU pairs at once
  std::string busiest_link;
  double busiest_utilization = 0;
  // A link that carried sequence-parallel and sharding traffic at once: the one that did
  // so longest, and that time over the step.
  std::string mixed_link;
  double mixed_share = 0;
  double mixed_s = 0;
  std::uint64_t events = 0, messages = 0, ops = 0, peak_live_ops = 0;
  int segments = 0;
  int critical_rank = 0;
  std::vector<PhaseRow> phases;  // of the critical rank
  // record_ranks: their ops (programs of other ranks empty) and times.
  Schedule recorded;
  Timeline recorded_timeline;
};

// The engine a step runs on: `base` with the sharding collectives priced by the collective
// model (NCCL's fixed cost, host floor and caps), and compute priced as the closed form
// prices it. For running whole_step() with execute(), as simulate_iteration() does.
struct StepEngine {
  SimOptions sim;
  ComputeCostModel cost;
};
[[nodiscard]] StepEngine step_engine(const Scenario& s, const std::optional<Mechanism>& cross, const SimOptions& base = {});

// The whole step's program at once, every segment appended in order (transfer-group
// numbers made unique per rank): what the streamed run executes, for checking it against
// execute() and check_schedule() on small set-ups. Throws InfeasibleSchedule where a
// mechanism cannot run.
[[nodiscard]] Schedule whole_step(const Scenario& s, const std::optional<Mechanism>& cross, Pass pass);

// One cross-attention mechanism (nullopt for a decoder-only model), one pass. Infeasible
// (with the reason) where the closed form is; throws SimulationError for a program that
// cannot run to the end.
[[nodiscard]] IterationSimResult simulate_iteration(const Scenario& s, const std::optional<Mechanism>& cross, Pass pass,
                                                    const IterationSimOptions& options = {});

}  // namespace xattn::sim
