// The closed form of one training iteration (issue 16; docs/model.md §10-§14): the
// per-GPU program of ITERATION.md §7.1 — vision encoder, projector, every LM layer (its
// GEMMs on the §2.4 roofline, its self- and cross-attention through the layer model of
// model/analytic.hpp on the sequence-parallel group), the LM head and loss, the backward
// with recomputation and pass counting, the FSDP/ZeRO/DDP collectives priced by the
// calibrated collective model with the overlap FSDP really gets, gradient accumulation and
// the optimizer step — and the memory of the whole step. Each distinct layer kind is priced
// once; nothing on the evaluation path allocates (a few microseconds per configuration).
//
// The result carries the fields of ARCHITECTURE.md's `scope: "iteration"` contract, so a
// front end prints it as it is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/calibration.hpp"
#include "model/core/units.hpp"
#include "model/hardware.hpp"
#include "model/mechanism.hpp"
#include "model/scenario.hpp"
#include "model/types.hpp"

namespace xattn {

// The critical path of a phase or step split by what it was spent on (docs/model.md §13).
// An attention part includes its own exposed sequence-parallel transfers and host
// synchronisation; sharding_comm_exposed is the FSDP/ZeRO/DP traffic nothing hid. The
// parts sum to the time.
struct IterationBreakdown {
  Seconds vision;                 // the vision encoder (forward; backward when it trains)
  Seconds projector;              // projector or resampler
  Seconds self_attention;         // the self-attention mechanism, recomputation included
  Seconds cross_attention;        // the cross-attention mechanism and its q, k, v projections
  Seconds mlp;                    // MLPs (and OpenFlamingo's xattn FFN)
  Seconds other_gemm;             // other projections: self-attention q, k, v, o; cross o_proj; gates
  Seconds lm_head;                // LM head and loss
  Seconds sharding_comm_exposed;  // FSDP/ZeRO/DDP collectives nothing hid
  Seconds optimizer;              // the optimizer step

  [[nodiscard]] Seconds total() const {
    return vision + projector + self_attention + cross_attention + mlp + other_gemm + lm_head +
           sharding_comm_exposed + optimizer;
  }
};

// Per GPU, at the step's peak (docs/model.md §12).
struct IterationMemory {
  Bytes parameters;   // parameter shards, unsharded root units, FSDP units gathered in flight
  Bytes gradients;    // gradient shards (or full gradients), and those not yet reduce-scattered
  Bytes optimizer;    // fp32 master weights and Adam moments
  Bytes activations;  // what the layers keep for the backward, and the visual states
  Bytes transient;    // the largest working set at the peak: vision forward, logits, recompute, mechanism buffers
  [[nodiscard]] Bytes total() const { return parameters + gradients + optimizer + activations + transient; }
};

// The set-up an iteration runs under, every default filled in (docs/model.md §13.1).
struct IterationLayout {
  int gpus = 1;
  int sp = 1;                      // sequence-parallel degree: the mechanisms run on sp GPUs
  int dp = 1;                      // data-parallel replicas
  std::int64_t global_batch = 1;   // samples per optimizer step
  std::int64_t micro_steps = 1;    // global_batch / (batch x dp): gradient accumulation
};

[[nodiscard]] IterationLayout iteration_layout(const Scenario& s);

struct IterationEstimate {
  std::optional<Mechanism> cross_attention;  // the mechanism compared; nullopt: the model has none
  Mechanism self_attention;                  // what the LM's self-attention ran with
  Pass pass = Pass::fwd_bwd;                 // fwd, bwd: one micro-step's phase; fwd+bwd: the step
  bool feasible = true;
  std::string reason;                        // why not, when !feasible

  Seconds time;                // the phase, or the whole step
  Seconds compute;             // the busiest GPU's compute
  Seconds exposed_comm;        // time - compute: transfers, collectives and host waits nothing hid
  IterationBreakdown breakdown;
  double tokens_per_s = 0;     // text + visual tokens of the global batch per second of step
  double mfu = 0;              // model FLOPs / (time x GPUs x peak)
  Flops model_flops;           // of this phase or step, all GPUs, forward and backward without recomputation
  Flops flops_per_gpu;         // executed by the busiest GPU, recomputation included
  IterationMemory memory;      // the whole step's, whichever the pass
  Bytes peak_memory;
  bool fits = true;            // peak <= GPU memory - cluster.memory_reserved_GB
  IterationLayout layout;

  // "none" for a model without cross-attention layers.
  [[nodiscard]] std::string cross_attention_name() const { return cross_attention ? cross_attention->name() : "none"; }
};

// One cross-attention mechanism (nullopt for a decoder-only model), one pass. Never throws
// for a mechanism that cannot run: it returns feasible = false with the reason.
[[nodiscard]] IterationEstimate estimate_iteration(const Scenario& s, const std::optional<Mechanism>& cross,
                                                   Pass pass);

// What a front end prints: for a multimodal model every mechanism of the scenario, for a
// decoder-only model the one entry "none"; each for every pass given.
[[nodiscard]] std::vector<IterationEstimate> estimate_iteration_all(const Scenario& s, const std::vector<Pass>& passes);

// What the step reads from one attention mechanism on the sequence-parallel group
// (docs/model.md §11-§12): the layer model's forward and backward times, the
// communication LV-XAttn's recomputation (or the paper's wrapper) repeats, and the working
// sets. The step's time is nondecreasing in each time and its peak memory in each working
// set (docs/plan.md, "Pruning"), so a mechanism no worse than another in every term is at
// least as good in every training set-up that differs in the mechanism alone.
struct AttentionTerms {
  bool feasible = true;
  std::string reason;      // why not, when !feasible
  Seconds fwd, bwd;        // one call's forward and backward (eq. 21)
  Seconds recompute_comm;  // repeated by the recomputation, when the set-up recomputes (eq. 24)
  Bytes working_fwd, working_bwd;  // inputs + outputs + buffers (eq. 28)
};

// The scenario's self-attention (training.self_attention) and one cross-attention
// mechanism, as estimate_iteration prices them; never throw for a mechanism that cannot
// run. cross_attention_terms is infeasible for a model without cross-attention layers.
[[nodiscard]] AttentionTerms self_attention_terms(const Scenario& s);
[[nodiscard]] AttentionTerms cross_attention_terms(const Scenario& s, const Mechanism& cross);

// docs/model.md eq. 22 (ITERATION.md §2.4): one GEMM of M x K by K x N on the roofline:
// max(2MKN / (η_gemm·F), (KN + MK + MN)·b / (η_mem·W)); a shape the calibration's
// gemm_table measured is charged 2MKN / (η_measured·F) instead.
[[nodiscard]] Seconds gemm_time(const GpuSpec& gpu, const ComputeCalibration& cal, DType dtype, double M, double K,
                                double N);
// Its two operands of the roofline (roofline_time, model/kernel_model.hpp): 2·M·K·N FLOPs,
// and the bytes of the weight, the input and the output.
[[nodiscard]] Flops gemm_flops(double M, double K, double N);
[[nodiscard]] Bytes gemm_bytes(DType dtype, double M, double K, double N);

}  // namespace xattn
