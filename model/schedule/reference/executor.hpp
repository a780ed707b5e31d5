// The numerical reference executor: runs any Schedule over P virtual ranks in double
// precision, following the execution order of checks.hpp. Messages are tiles copied when
// a Send meets its Recv; collectives are exact. It proves a schedule computes attention:
// gather O, LSE, dQ, dK, dV from the ranks and compare with dense_attention.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "model/schedule/reference/attention.hpp"
#include "model/schedule/reference/tile.hpp"
#include "model/schedule/schedule.hpp"

namespace xattn::reference {

// Buffers of every rank, by name.
using RankState = std::map<std::string, Tile>;

// The sequence-layout inputs (q, k, v, do) of every rank, cut from the global tensors by
// the schedule's `data`.
[[nodiscard]] std::vector<RankState> scatter_inputs(const Schedule& s, const AttentionProblem& p);

// Executes the schedule on `state` (one RankState per rank; inputs the schedule needs
// must be present). Throws ScheduleError if the schedule fails its checks, and
// std::logic_error naming the op if a tile does not fit what an op expects.
void execute(const Schedule& s, std::vector<RankState>& state);

// Gathers the outputs present on the ranks (o, lse, dq, dk, dv) into global tensors.
// Every (token, head) must be held by exactly one rank; throws std::logic_error otherwise.
[[nodiscard]] AttentionResult gather_outputs(const Schedule& s, const std::vector<RankState>& state, bool forward,
                                             bool backward);

}  // namespace xattn::reference
