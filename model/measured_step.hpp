// A training step as a profiler measured it, phase by phase (issue 19, docs/kineto.md §5):
// what `xattn validate --measured-kineto` puts beside the closed form's step. The reading
// and classifying of the traces is model/calib/kineto.hpp's; the comparison is
// sim/kineto_compare.hpp's. This is only the vocabulary both share, so that the simulator
// room can compare a measurement without knowing where it came from.
//
// Every time is one optimizer step of one GPU: per profiler step (ProfilerStep#N) the
// figure of each rank, then the median over the steps, then the median over the ranks.
#pragma once

#include <string>
#include <vector>

#include "model/core/units.hpp"

namespace xattn {

// The kernel time of one phase of a step. `busy` counts a moment once however many
// kernels run in it (the union of their intervals); `kernel_sum` adds the kernels' own
// durations. `present` is false when the trace had nothing of this phase.
struct MeasuredPhase {
  Seconds busy;
  Seconds kernel_sum;
  double kernels = 0;  // kernels per step (median over ranks; may be fractional)
  bool present = false;
};

struct MeasuredStep {
  std::vector<std::string> sources;  // the trace files, in rank order
  int ranks = 0;                     // traces read
  int world_size = 0;                // what the traces say (distributedInfo); 0: not said
  int steps = 0;                     // profiler steps per rank (the fewest of any rank)
  bool step_annotated = true;        // false: no ProfilerStep#N, the whole trace is one step
  std::string device;                // the GPU's name as the trace records it

  Seconds step;  // wall time of a step (the ProfilerStep annotation), else the GPU span

  // Compute kernels by layer kind and pass. `gemm` holds GEMMs (projections, MLP, LM head,
  // vision tower), `attention` the attention kernels, `other` elementwise, normalisation,
  // loss and every kernel of no known family.
  MeasuredPhase fwd_gemm, fwd_attention, fwd_other;
  MeasuredPhase bwd_gemm, bwd_attention, bwd_other;
  MeasuredPhase fwd_compute, bwd_compute;  // all compute kernels of the pass (busy)
  MeasuredPhase optimizer;                 // kernels launched by Optimizer.step, or optimizer kernels by name
  MeasuredPhase comm;                      // NCCL kernels, overlapped or not
  Seconds comm_exposed;                    // NCCL running and no compute kernel
  Seconds idle;                            // no kernel at all: host, data loading, launch gaps

  std::vector<std::string> notes;  // how the figures were found, what could not be told
};

}  // namespace xattn
