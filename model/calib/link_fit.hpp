// Fitting the collective model's parameters to nccl-tests logs (docs/calibration.md,
// "The fit").
//
// The model is NCCL's own tuning model (model/collective_model.hpp): per launch mode a host
// cost per call and per GPU a process drives; per protocol (LL, LL128, Simple) a base
// latency and the kernel's local traffic; per link class and protocol a latency per hop
// and a bandwidth; per protocol the latency of a tree level across nodes; per protocol the
// fixed cost of a lone send/recv. A call takes the larger of the host's work and the GPUs';
// the GPUs run the (algorithm, protocol) with the smallest predicted time. For a given
// assignment of rows to "host" or to an (algorithm, protocol) the model is linear in the
// parameters, solved by non-negative least squares on relative error; the assignment is
// found as NCCL's tuner picks — the fastest — by alternating fit and reassignment from
// several starting thresholds, keeping the best.
//
// Every parameter has a physical prior (NCCL's own latency tables, the cluster's nominal
// link figures, the GPU's memory bandwidth), added to the least squares as a weak pull, and
// hop and tree-level latencies a floor (a quarter of NCCL's figure: never 0). The logs
// decide where they can; where they cannot, the prior stands, and the report says which
// (FitParameter): identified, prior, or at its floor, with a one-sigma uncertainty.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model/calibration.hpp"
#include "model/collective_model.hpp"
#include "model/calib/nccl_tests.hpp"

namespace xattn {

struct FitOptions {
  // NICs per node for multi-node logs; 0: one per GPU (as on Azure NDv4, DGX A100/H100).
  int nics_per_node = 0;
  // The figures the priors come from: what NCCL gets through a NIC (the cluster's own
  // figure, else its line rate), NVLink's bandwidth, the HBM bandwidth, NVLink or PCIe
  // inside a node (docs/calibration.md, "Priors").
  Cluster cluster;
  FitOptions();
};

// One measured row against the fitted model (the faster of out-of-place and in-place).
struct FitRow {
  std::size_t log = 0;  // index into LinkFit::logs
  int line = 0;
  Bytes size;
  std::int64_t count = 0;
  std::string type;
  Seconds measured;
  Seconds fitted;
  double measured_busbw_GBps = 0;
  double fitted_busbw_GBps = 0;
  Protocol protocol = Protocol::simple;
  Algorithm algorithm = Algorithm::ring;
  bool host_bound = false;
  double error = 0;  // (fitted - measured) / measured
};

struct LogQuality {
  std::string source;
  CollectiveShape shape;
  std::string gpu;
  int rows = 0;
  int rows_large = 0;       // rows of at least 1 MiB
  double mape = 0;          // mean |error| over all sizes, as a fraction
  double mape_large = 0;    // over sizes >= 1 MiB (0 when there are none)
  double max_error = 0;     // largest |error|
  bool used = true;         // false for single-GPU logs (no communication to fit)
};

// Where a fitted figure comes from.
enum class Identification {
  identified,  // the logs decide it (posterior sigma under half the prior's)
  prior,       // the logs say little or nothing: the prior stands
  floor,       // the logs push it below its physical floor: held there
};

[[nodiscard]] std::string_view to_string(Identification i);

// One parameter of the fit, in the unit it is written in.
struct FitParameter {
  std::string name;      // "intra_node ll latency_us", "launch per_gpu_us", ...
  double value = 0;
  double sigma = 0;      // one-sigma uncertainty (posterior; the prior's where not identified)
  std::optional<double> prior;
  std::optional<double> prior_sigma;
  std::string prior_source;  // where the prior comes from
  Identification how = Identification::prior;
};

struct LinkFit {
  Calibration calibration;       // links and launch overheads only
  std::vector<LogQuality> logs;  // in input order
  std::vector<FitRow> rows;      // every row of every used log
  double mape = 0;               // over all rows used
  double max_error = 0;
  std::vector<FitParameter> parameters;  // the figures written, with how each was decided
  // Which collectives had their own logs and which figures were derived from others, what
  // the logs could not identify, where NCCL's tree ran; one sentence each.
  std::vector<std::string> notes;
};

// Fits the logs together. Throws InputError when nothing can be fitted (no log with two
// or more ranks, or logs that disagree on basic facts).
[[nodiscard]] LinkFit fit_links(const std::vector<NcclLog>& logs, const FitOptions& options = {});

// The shape a log was measured on.
[[nodiscard]] CollectiveShape shape_of(const NcclLog& log, const FitOptions& options = {});

// How the fit's notes and plot name a log and a size: "all_reduce_16gpu.log", "1 MiB".
[[nodiscard]] std::string log_name(const std::string& source);
[[nodiscard]] std::string size_text(double bytes);

}  // namespace xattn
