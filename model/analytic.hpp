// The closed-form model: time and memory of one attention layer under each mechanism, in
// well under a microsecond per configuration. Every formula is derived in docs/model.md
// and cited by its number here and in analytic.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/kernel_model.hpp"  // block_time, elementwise_time: the cost of each compute op
#include "model/mechanism.hpp"
#include "model/scenario.hpp"
#include "model/core/units.hpp"

namespace xattn {

// Per GPU, for one pass of one layer, weights excluded (docs/model.md, §6).
struct MemoryBreakdown {
  Bytes inputs;   // this rank's share of Q, K, V (and O, dO, LSE for the backward)
  Bytes outputs;  // what the pass produces (O and LSE; dQ, dK, dV)
  Bytes buffers;  // blocks and accumulators in flight (double buffers), kernel partials
  Bytes saved;    // what the training backward keeps for every cross-attention layer
  [[nodiscard]] Bytes total() const { return inputs + outputs + buffers + saved; }
};

// One ring-family round group: `count` identical rounds, each costing the larger of its
// compute and its transfers (docs/model.md, eq. 7).
struct RoundGroup {
  int count = 0;
  Seconds compute;   // attention block + merge/accumulate on the busiest rank
  Seconds transfer;  // the messages that must arrive within the round, on the slowest hop
  Flops flops;       // per rank, per round
  Bytes bytes;       // sent per rank, per round
  int messages = 0;  // sent per rank, per round
};

struct Estimate {
  Mechanism mechanism;
  Pass pass = Pass::fwd;
  bool feasible = true;
  std::string reason;        // why not, when !feasible

  Seconds time;              // end to end
  Seconds compute;           // the busiest rank's compute
  Seconds exposed_comm;      // time - compute
  Flops flops_per_rank;      // busiest rank
  Bytes bytes_per_rank;      // sent by the busiest rank
  int rounds = 0;            // ring rounds (0 for all-to-all)
  MemoryBreakdown memory;
  bool fits = true;          // memory.total() <= GPU memory - reserved
};

// One mechanism, one pass. Never throws for a mechanism that cannot run: it returns
// feasible = false with the reason.
[[nodiscard]] Estimate estimate(const Scenario& s, const Mechanism& m, Pass pass);

// One attention layer that is not the scenario's own: the whole-iteration model
// (model/iteration.hpp) prices each self- and cross-attention layer of the model with it,
// on the sequence-parallel group's GPUs, without copying the Scenario. The cluster's
// calibration, the model's projection widths (eq. 14) and the accumulator dtype are the
// scenario's.
struct LayerQuery {
  AttentionShape shape;
  const Cluster* group = nullptr;  // the GPUs the layer runs on; null: the scenario's cluster
  bool recompute = false;          // eq. 14: keep input, O and LSE; re-project in the backward
};

// The same estimate as above for `layer` in place of the scenario's shape, cluster and
// recompute flag; estimate(s, m, pass) equals this with {s.shape, nullptr, s.recompute}.
[[nodiscard]] Estimate estimate(const Scenario& s, const LayerQuery& layer, const Mechanism& m, Pass pass);

// Every mechanism of the scenario, for each pass given.
[[nodiscard]] std::vector<Estimate> estimate_all(const Scenario& s, const std::vector<Pass>& passes);

// The per-round structure behind a ring-family estimate (LV-XAttn, Ring, no-comm), for
// tests and for cross-checking against the Schedule. Empty for all-to-all.
[[nodiscard]] std::vector<RoundGroup> round_groups(const Scenario& s, const Mechanism& m, Pass pass);

}  // namespace xattn
