// `xattn sweep`'s output: the sweep engine's points (sim/sweep.hpp) of a SweepPlan
// (model/scenario/sweep_file.hpp) as CSV, one row per point x mechanism x pass, in grid
// order (docs/sweep.md).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "model/scenario/sweep_file.hpp"
#include "sim/sweep.hpp"

namespace xattn::cli {

// The CSV header row (with its newline): point, the grid fields, mechanism, pass, feasible,
// time_s, compute_s, exposed_comm_s, peak_memory_bytes, fits, reason; with the event
// engine, link_shared (a link carried two GPU pairs' transfers at once) before reason.
[[nodiscard]] std::string sweep_csv_header(const SweepPlan& plan);

// Called with consecutive pieces of CSV text (whole rows), in grid order, from the thread
// that called write_sweep_csv.
using CsvSink = std::function<void(std::string_view rows)>;

// Runs the sweep (sim::run_sweep) and hands its rows, without the header, to `sink` in
// grid order; the text does not depend on the options' jobs or chunk size. A point that did
// not resolve gives rows with feasible=false and its problems as the reason.
sim::SweepOutcome write_sweep_csv(const SweepPlan& plan, const sim::SweepOptions& options, const CsvSink& sink);

}  // namespace xattn::cli
