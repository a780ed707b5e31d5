// A calibration fitted to PyTorch profiler traces (issue 19, docs/kineto.md §6): the
// figures the closed form and the simulator read (model/calibration.hpp), each from the
// kernels that support it, and nothing the traces cannot tell.
//
//  - compute.gemm_table: per GEMM shape (batch 1), FLOPs over time of its calls at the
//    GPU's peak for the dtype (docs/model.md eq. 22); compute.gemm_efficiency: the same
//    over the shapes above the roofline's ridge, for shapes the table does not hold.
//  - compute.launch_overhead_us: the median gap between back-to-back kernels on a stream
//    when the next one was already queued (the GPU's own cost of starting a kernel).
//  - compute.memory_efficiency and elementwise_overhead_us: elementwise calls, time =
//    fixed + bytes / (η_mem · HBM), least squares over the calls (eq. 5).
//  - compute.attention_table: per attention call shape (pass, head dim, query rows x key
//    rows, causal or not), FLOPs over the time of its calls at the GPU's peak (eq. 3f).
//  - compute.{fwd,bwd}_max_d{64,128} and compute.kernel: per pass and head-dimension class,
//    the attention family's peak fraction that makes its kernel model (eq. 3-4b) add up to
//    the measured calls' time: for the shapes the table does not hold.
//  - links: NCCL kernels with their recorded size and group, turned into nccl-tests rows
//    (median time per size) and fitted as `xattn calibrate nccl-tests` fits logs.
//
// The fit is replayed: every figure fed back through the model, against the kernels it
// came from (ReplayRow).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model/calibration.hpp"
#include "model/calib/kineto.hpp"
#include "model/calib/link_fit.hpp"
#include "model/hardware.hpp"

namespace xattn {

struct KinetoFitOptions {
  std::string gpu;        // GPU preset; empty: the preset matching the trace's device name
  int gpus_per_node = 0;  // for the link class of each collective; 0: the GPUs a trace lists
  int nics_per_node = 0;  // for the link fit (0: one per GPU)
};

// One figure written, with what supports it.
struct FitEntry {
  std::string key;    // the calibration key: compute.gemm_table, compute.launch_overhead_us, links...
  std::string what;   // the shape, pass or collective it is for
  double value = 0;   // in the key's unit
  std::int64_t kernels = 0;
  std::string basis;  // how it was found
  // The value as the file writes it: a number, or for compute.kernel the family's name.
  [[nodiscard]] std::string value_text() const;
};

// What the traces could not tell, and why.
struct LeftOut {
  std::string key;
  std::string why;
};

// The fitted calibration fed back through the model against the kernels it came from.
struct ReplayRow {
  std::string what;  // "gemm", "gemm 4096x2048x6144", "attention fwd d128", ...
  std::int64_t calls = 0;
  double measured_s = 0, predicted_s = 0;
  [[nodiscard]] double error() const { return measured_s > 0 ? predicted_s / measured_s - 1.0 : 0.0; }
};

struct KinetoFit {
  Calibration calibration;
  std::string gpu_preset;  // the GPU the efficiencies are fractions of ("" when unknown)
  std::vector<FitEntry> entries;
  std::vector<LeftOut> left_out;
  std::vector<ReplayRow> replay;  // per class first ("gemm", "attention", "elementwise"), then per entry
  std::optional<LinkFit> links;
  std::vector<std::string> notes;
};

// Throws InputError for a GPU preset that does not exist.
[[nodiscard]] KinetoFit fit_kineto(const std::vector<KinetoTrace>& traces, const KinetoFitOptions& options = {});

// The calibration's compute figures fed back through the model for the kernels of the
// traces (what fit_kineto reports as `replay`, callable with any calibration).
[[nodiscard]] std::vector<ReplayRow> replay_kineto(const Calibration& cal, const GpuSpec& gpu,
                                                   const std::vector<KinetoTrace>& traces);

// The calibration file: the figures fitted, each entry's support in a comment and in
// `notes`, what was left out and why.
[[nodiscard]] std::string kineto_calibration_yaml(const KinetoFit& fit, const std::vector<std::string>& sources);

}  // namespace xattn
