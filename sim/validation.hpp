// Validation: the simulator against measured runs (issue 6, docs/validation.md). For each
// measured trace (written by `xattn run --trace`), the schedule it ran is rebuilt
// (mechanism, pass and P from its metadata; the scenario file given here with the --set
// overrides the run recorded), simulated with the calibration given here on the machine the
// run used — the loopback cluster with every rank on one device (compute one op at a time:
// in the recorded order for one device stream, first ready first for per-rank streams), or
// the scenario's cluster for NCCL runs — and the two timelines are compared op by op: the
// relative error of each compute op's duration, by kind, of each message's time, and of
// the makespan. A set of traces gets one report each and medians over the set, against the
// issue's goals (per-op compute error <= 10% median, end-to-end <= 5% median, over >= 12
// cases). `xattn validate` parses its options, calls these and prints.
#pragma once

#include <string>
#include <vector>

#include "model/calibration.hpp"
#include "model/hardware.hpp"
#include "model/scenario.hpp"
#include "model/schedule/schedule.hpp"
#include "model/schedule/timeline.hpp"
#include "model/scenario/validation_set_file.hpp"
#include "model/schedule/trace.hpp"
#include "sim/executor.hpp"

namespace xattn::sim {

// The goals (docs/validation.md).
inline constexpr double goal_compute_pct = 10.0;   // median over the cases of the per-op compute |error|
inline constexpr double goal_makespan_pct = 5.0;   // median over the cases of the makespan |error|
inline constexpr int goal_min_cases = 12;

// Where the loopback link's figures come from: the calibration's intra_node link where it
// sets one, else what the run recorded; or always what the run recorded.
enum class LinkFrom { calibration, trace };
[[nodiscard]] std::string_view to_string(LinkFrom f);

struct ValidationOptions {
  std::string gpu;  // GPU preset to simulate; empty: the one matching the trace's device, else the scenario's
  LinkFrom link_from = LinkFrom::calibration;
  bool keep_simulated = false;  // keep the rebuilt Schedule and the simulated Timeline in the report
};

// Relative errors (simulated / measured - 1) of one group of ops: a kind, all compute ops,
// the attention blocks, or all messages.
struct ErrorStats {
  std::string kind;
  int ops = 0;
  int skipped = 0;                          // measured duration 0: no relative error
  double measured_s = 0, simulated_s = 0;   // sums
  double median_abs = 0, max_abs = 0, median = 0;
  std::vector<double> errors;
};

// Two timelines of one schedule compared op by op; a message counts once, at its Send.
struct TimelineDiff {
  std::vector<ErrorStats> by_kind;          // compute kinds, then "send", then collectives, as first met
  ErrorStats compute, attention, transfer;  // attention: the attention blocks among the compute ops
  double makespan_measured_s = 0, makespan_simulated_s = 0;
  double compute_busy_measured_s = 0, compute_busy_simulated_s = 0;
  [[nodiscard]] double makespan_error() const { return makespan_simulated_s / makespan_measured_s - 1.0; }
};
[[nodiscard]] TimelineDiff diff_timelines(const Schedule& s, const Timeline& measured, const Timeline& simulated);

// One measured trace against the simulator.
struct CaseReport {
  ValidationCase c;
  TraceMetadata meta;      // what the trace says: mechanism, pass, P, and how the run was made
  std::string gpu_preset;  // the GPU simulated
  // The link simulated (the loopback's, or the cluster's intra-node link) and where its
  // figures came from; whether a rank pair's messages went one after the other.
  double link_latency_us = 0, link_bandwidth_GBps = 0;
  LinkFrom link_source = LinkFrom::calibration;
  bool fifo_pairs = false;
  TimelineDiff diff;
  std::vector<std::string> notes;
  // With keep_simulated: the schedule rebuilt and its simulated run.
  Schedule schedule;
  Timeline simulated;
};

// Reads the trace, the scenario and the calibration files, simulates the run and compares.
// Throws InputError naming the file and the field for bad input (a file missing, a trace
// that does not match its schedule, settings that cannot be simulated).
[[nodiscard]] CaseReport validate_case(const ValidationCase& c, const ValidationOptions& options);
// Every case; the problems of all of them are thrown together.
[[nodiscard]] std::vector<CaseReport> validate_cases(const std::vector<ValidationCase>& cases,
                                                     const ValidationOptions& options);

// A set of cases summarised against the goals.
struct SetSummary {
  int cases = 0;
  double compute_median_abs = 0;         // median over the cases of each case's median |error|
  double compute_pooled_median_abs = 0;  // median |error| over every compute op of every case
  double attention_median_abs = 0;       // median over the cases of the attention blocks' median |error|
  double makespan_median_abs = 0, makespan_max_abs = 0;
  std::vector<ErrorStats> by_kind;  // pooled over the cases
  bool goals_met = false;
};
[[nodiscard]] SetSummary summarize_set(const std::vector<CaseReport>& reports);


}  // namespace xattn::sim
