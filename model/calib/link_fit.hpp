// Fitting link parameters to nccl-tests logs (docs/calibration.md, "Fit").
//
// Unknowns, few and physical: per launch mode a fixed cost per collective call; per link
// class (inside a node, across nodes) and NCCL protocol (LL, LL128, Simple) a latency per
// ring hop and a bandwidth (per GPU inside a node, per NIC across nodes). Each measured
// row is predicted by the ring model of collective_model.hpp; for a given assignment of
// rows to protocols the model is linear in (overhead, latency, 1/bandwidth), solved by
// non-negative least squares on relative error. The assignment is found like NCCL's
// tuner picks a protocol — the fastest one — by alternating fit and reassignment from
// several starting thresholds, keeping the best. Logs from one process driving all GPUs
// and from MPI keep separate overheads (the launch mode is part of the calibration).
#pragma once

#include <string>
#include <vector>

#include "model/calibration.hpp"
#include "model/collective_model.hpp"
#include "model/calib/nccl_tests.hpp"

namespace xattn {

struct FitOptions {
  // NICs per node for multi-node logs; 0: one per GPU (as on Azure NDv4, DGX A100/H100).
  int nics_per_node = 0;
};

// One measured row against the fitted model (out-of-place time, else in-place).
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

struct LinkFit {
  Calibration calibration;       // links and launch overheads only
  std::vector<LogQuality> logs;  // in input order
  std::vector<FitRow> rows;      // every row of every used log
  double mape = 0;               // over all rows used
  double max_error = 0;
  // Where the data disagree with a ring (tree, NVLS, ...), what could not be identified,
  // and other things a reader of the calibration should know; one sentence each.
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
