// Static checks of a Schedule under the semantics of schedule.hpp, and the order in which
// an executor may carry it out. The checks: every op's dependencies are earlier ops of its
// program; transfer groups are contiguous on one stream; every Send has its matching Recv
// and every Recv its Send (the k-th of a (source, destination, tag) key pairs with the
// k-th: structure.hpp), of the same size part by part; every Collective instance (the
// k-th op with a tag on each rank) is posted by every rank of its group, all with one
// kind and group; the whole thing cannot deadlock (the event graph of posts, completions,
// transfers and collectives is acyclic); no two ops of a rank that touch one buffer, one
// of them writing it, may run at the same time (a buffer is not overwritten while a
// transfer reads it); nothing is read before it is written or given as an input; every
// output is produced.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "model/schedule/schedule.hpp"

namespace xattn {

struct CheckResult {
  std::vector<std::string> problems;  // one sentence each, naming ops by "rank/index"
  [[nodiscard]] bool ok() const { return problems.empty(); }
  [[nodiscard]] std::string str() const;  // all problems, one per line
};

[[nodiscard]] CheckResult check_schedule(const Schedule& s);

// A schedule that fails its checks: a bug in a builder (or a hand-written schedule).
class ScheduleError : public std::runtime_error {
 public:
  explicit ScheduleError(const std::string& what) : std::runtime_error(what) {}
};

// One step of an execution that follows the semantics: a compute op, a matched transfer
// (send and recv), or a collective (one op per member, in group order).
struct ExecutionStep {
  enum class Kind { compute, transfer, collective } kind = Kind::compute;
  std::vector<OpId> ops;
};

// Steps in an order every executor may follow (a topological order of the event graph).
// Throws ScheduleError listing the problems when the checks fail.
[[nodiscard]] std::vector<ExecutionStep> execution_order(const Schedule& s);

}  // namespace xattn
