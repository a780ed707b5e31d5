// Exports of a Timeline for people and tools:
//  * Chrome-trace JSON (ARCHITECTURE.md, "Traces"), which Perfetto opens: one process per
//    rank, one thread per stream, one complete ("X") event per op from the moment it was
//    posted to its end, ts/dur in microseconds; each event's args carry the stable op id
//    "rank/index", the op kind, bytes and FLOPs; each transfer is also drawn as a flow
//    arrow from its Send to its Recv; `metadata` names mechanism, pass, P and scenario.
//  * CSV, one row per op, with units in the column names.
#pragma once

#include <string>

#include "model/schedule/schedule.hpp"
#include "sim/timeline.hpp"

namespace xattn::sim {

struct TraceInfo {
  std::string scenario;  // its name (or path)
  std::string engine = "event";
};

[[nodiscard]] std::string chrome_trace_json(const Schedule& s, const Timeline& t, const TraceInfo& info);
[[nodiscard]] std::string ops_csv(const Schedule& s, const Timeline& t);

}  // namespace xattn::sim
