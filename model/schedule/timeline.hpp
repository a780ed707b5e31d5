// What a simulation produces (ARCHITECTURE.md, "one schedule, three executors"): when
// every op of every rank started and ended, how every link was used, and the figures the
// CLI reports — makespan, per-rank compute busy time, exposed communication and the
// critical path. A measured run on GPUs fills the same op times, so the two diff op by op.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/hardware.hpp"
#include "model/schedule/schedule.hpp"
#include "model/core/time.hpp"

namespace xattn {

struct OpTimes {
  Time posted;  // reached the head of its stream with its dependencies met
  Time start;   // began: compute ran; a transfer or collective moved data (all sides posted)
  Time end;
};

struct LinkUsage {
  std::string name;
  LinkClass link_class = LinkClass::intra_node;
  double bytes = 0.0;
  Time busy;          // time with at least one transfer on it
  int max_flows = 0;  // most transfers on it at once (alpha-beta: 2 means "two or more")
  Time mixed;         // time it carried a training step's sequence-parallel and sharding traffic at once
};

// One step of the critical path: an op, and for a transfer the slowest link of its route
// (-1 otherwise).
struct CriticalStep {
  OpId op;
  OpKind kind = OpKind::compute;
  Time start, end;
  int link = -1;
};

struct Timeline {
  std::vector<std::vector<OpTimes>> ops;  // [rank][op index]
  Time makespan;
  std::vector<Time> compute_busy;         // per rank: time its compute ops ran
  std::vector<LinkUsage> links;           // index = link id of the topology
  bool link_shared = false;               // a link carried transfers of two GPU pairs at once (network.hpp)
  std::vector<CriticalStep> critical_path;  // first op first; ends with the op that ended last
  std::uint64_t events = 0;               // events the engine processed
  std::uint64_t messages = 0;             // point-to-point transfers the engine moved

  [[nodiscard]] int ranks() const { return static_cast<int>(ops.size()); }
  [[nodiscard]] const OpTimes& at(OpId id) const {
    return ops[static_cast<std::size_t>(id.rank)][static_cast<std::size_t>(id.index)];
  }
  // The busiest rank's compute, and the rest of the makespan (ARCHITECTURE.md contract:
  // exposed_comm_s = time_s - compute_s).
  [[nodiscard]] Time max_compute_busy() const {
    Time m;
    for (Time t : compute_busy) m = max(m, t);
    return m;
  }
  [[nodiscard]] Time exposed_comm() const { return makespan - max_compute_busy(); }
};

}  // namespace xattn
