// Exports of a Timeline for people and tools:
//  * Chrome-trace JSON (ARCHITECTURE.md, "Traces"), which Perfetto opens: one process per
//    rank, one thread per stream, one complete ("X") event per op from the moment it was
//    posted to its end, ts/dur in microseconds; each event's args carry the stable op id
//    "rank/index", the op kind, bytes and FLOPs; each transfer is also drawn as a flow
//    arrow from its Send to its Recv; `metadata` names mechanism, pass, P and scenario.
//  * CSV, one row per op, with units in the column names.
// And the way back: a Chrome trace written by chrome_trace_json — simulated, or measured
// by the GPU backend (engine "measured", with the run's settings in its metadata:
// RunSettings, written by run_settings_json) — read into its typed metadata
// (trace_metadata) and a Timeline of the same Schedule, op by op, for validation
// (docs/validation.md).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/schedule/schedule.hpp"
#include "model/schedule/timeline.hpp"

namespace xattn {

struct TraceInfo {
  TraceInfo() = default;
  explicit TraceInfo(std::string scenario_name, std::string engine_name = "event", std::vector<int> only_ranks = {})
      : scenario(std::move(scenario_name)), engine(std::move(engine_name)), ranks(std::move(only_ranks)) {}
  std::string scenario;  // its name (or path)
  std::string engine = "event";
  // Only these ranks' processes, ops and the arrows between them (empty: every rank). A
  // 1024-GPU run holds millions of ops, more than Perfetto opens; the metadata then lists
  // them as `ranks_traced`, and such a partial trace cannot be read back for validation.
  std::vector<int> ranks;
};

// Both throw std::invalid_argument when a rank asked for is not in the schedule.
[[nodiscard]] std::string chrome_trace_json(const Schedule& s, const Timeline& t, const TraceInfo& info);
[[nodiscard]] std::string ops_csv(const Schedule& s, const Timeline& t, const std::vector<int>& only_ranks = {});

// ---- how a measured run was made ---------------------------------------------------------

// How a measured run moved its messages.
enum class RunTransport {
  loopback,  // every rank on one GPU, messages through pinned host memory (docs/gpu_backend.md)
  nccl,      // one rank per GPU
  scenario,  // none recorded (a simulated trace): the scenario's own machine
};
// Where a measured run's compute ran: each rank on its own stream, or every rank's compute
// on one device stream, one op at a time, in a recorded order.
enum class ComputePlacement { per_rank_streams, one_device_stream };

[[nodiscard]] std::string_view to_string(RunTransport t);
[[nodiscard]] std::string_view to_string(ComputePlacement p);

// What `xattn run` records in its trace's metadata besides the trace's own keys: all that
// `xattn validate` needs to simulate the same machine (docs/validation.md §1-2), and the
// run's own figures. One writer (run_settings_json) and one reader (trace_metadata).
struct RunSettings {
  RunTransport transport = RunTransport::loopback;
  // The loopback's link, per ordered rank pair and direction, and whether the copies were
  // paced to it; the defaults are `xattn run`'s (--link-bandwidth, --link-latency).
  double link_bandwidth_GBps = 10.0;
  double link_latency_us = 10.0;
  bool link_paced = true;
  // The loopback serves one rank pair's messages first come first served (the simulator
  // then does too: SimOptions::fifo_pairs). False where the trace does not say so.
  bool fifo_pairs = false;
  std::optional<ComputePlacement> placement;  // not recorded: nullopt
  std::vector<OpId> compute_order;            // one_device_stream: the order the device ran the compute ops
  std::optional<int> accumulator_bytes;       // not recorded: the scenario's
  int ranks_per_device = 0;                   // the reader's default: every rank on one device (P)
  std::string device;                         // the GPU's name as the driver gives it
  std::string dtype;
  int processes = 1;
  std::string launch;     // single, tcp, mpi
  std::string launcher;   // the launcher that started the processes, when one did
  std::string time_origin;  // nccl: what time 0 of each GPU is
  int reps = 0;
  int warmup = 0;
  std::string reported_run;  // which of the timed runs the trace holds
  std::vector<double> makespans_s;  // every timed run
  double compute_s = 0.0;
  double exposed_comm_s = 0.0;
  std::vector<std::string> overrides;  // the --set KEY=VALUE list the scenario was run with
};

// The settings as metadata keys (transport, link_bandwidth_GBps, ..., fifo_pairs,
// compute_placement, compute_order, overrides, ...), to merge into a trace's `metadata`.
[[nodiscard]] nlohmann::json run_settings_json(const RunSettings& run);

// What a trace's metadata says: the schedule to rebuild (mechanism, pass, P), where it came
// from, and — for a measured run — how it was made.
struct TraceMetadata {
  std::string mechanism;
  std::string pass;
  int ranks = 0;
  std::string scenario;
  std::string engine;  // "event", "measured"
  double makespan_us = 0.0;
  bool link_shared = false;
  std::optional<std::vector<int>> ranks_traced;  // written with --ranks: only these ranks
  RunSettings run;  // defaults where the trace records nothing (a simulated trace)
};

// Parses the JSON of a trace file; `source` names it in errors. Throws InputError
// (model/error.hpp) for text that is not JSON (truncated files included) or has no
// traceEvents array or metadata object.
[[nodiscard]] nlohmann::json parse_trace(const std::string& text, const std::string& source);
// The metadata of a parsed trace, typed. Throws InputError naming the source and the field
// (metadata.KEY) for a key that is missing or of the wrong type, or a value it does not know.
// Traces written before a key existed are read as they were meant (see the .cpp).
[[nodiscard]] TraceMetadata trace_metadata(const nlohmann::json& doc, const std::string& source);

// The Timeline a trace records for `s`: every op's complete ("X") event, matched by its
// args.id "rank/index": posted = ts, start = ts + args.waited_us, end = ts + dur, rounded
// to the nearest picosecond (the exporter writes full double precision, so a simulated
// timeline comes back exactly). Makespan and per-rank compute busy time are recomputed;
// links and the critical path are not in a trace and stay empty. Throws InputError naming
// the source, the field and the op id when the trace does not match the schedule (an op
// missing, duplicated, unknown, of another kind, on another rank's process, or with a
// negative or non-finite time) or its metadata names another mechanism, pass or P.
[[nodiscard]] Timeline read_chrome_trace(const nlohmann::json& doc, const Schedule& s, const std::string& source);

}  // namespace xattn
