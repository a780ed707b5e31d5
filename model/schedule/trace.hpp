// Exports of a Timeline for people and tools:
//  * Chrome-trace JSON (ARCHITECTURE.md, "Traces"), which Perfetto opens: one process per
//    rank, one thread per stream, one complete ("X") event per op from the moment it was
//    posted to its end, ts/dur in microseconds; each event's args carry the stable op id
//    "rank/index", the op kind, bytes and FLOPs; each transfer is also drawn as a flow
//    arrow from its Send to its Recv; `metadata` names mechanism, pass, P and scenario.
//  * CSV, one row per op, with units in the column names.
// And the way back: a Chrome trace written by chrome_trace_json — simulated, or measured
// by the GPU backend (engine "measured", with the run's settings in its metadata) — read
// into a Timeline of the same Schedule, op by op, for validation (docs/validation.md).
#pragma once

#include <string>
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

// What a trace's metadata says: the schedule to rebuild (mechanism, pass, P) and where it
// came from. `all` is the whole metadata object, with a measured run's settings (transport,
// link_bandwidth_GBps, compute_placement, compute_order, overrides, ...).
struct TraceMetadata {
  std::string mechanism;
  std::string pass;
  int ranks = 0;
  std::string scenario;
  std::string engine;
  nlohmann::json all;
};

// Parses the JSON of a trace file; `source` names it in errors. Throws InputError
// (model/error.hpp) for text that is not JSON (truncated files included) or has no
// traceEvents array or metadata object.
[[nodiscard]] nlohmann::json parse_trace(const std::string& text, const std::string& source);
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
