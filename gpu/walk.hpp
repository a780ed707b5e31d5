// The host side of running a Schedule on GPUs (issue 6): the walk that visits every op in
// an order in which everything it waits for was visited before it, over the schedule's
// structure (streams, transfer groups, matched Send/Recv pairs, collective instances:
// model/schedule/structure.hpp, the one the simulator and the checks read too). The
// executor (executor.hpp) enqueues its CUDA and NCCL calls in this order. Host-only C++
// (no CUDA), so it is tested on every machine.
//
// One process or several, the walk is the same. In a multi-process run (one process per
// rank, rendezvous.hpp) every process walks the WHOLE schedule — it is deterministic and
// needs no time — and enqueues only its own rank's side of each step. So every process
// issues its NCCL calls in the order of one global sequence of transfers and collectives,
// restricted to its rank, exactly as the single-process executor issues each rank's calls
// on that rank's communicator. That is what keeps a multi-process run free of NCCL
// deadlocks: if each communicator runs its calls in issue order, the first unfinished
// step of the global sequence is the first unfinished call of every rank it involves, so
// it can always run (comm_steps() and tests/gpu_host/walk_test.cpp check the property).
#pragma once

#include <string>
#include <vector>

#include "model/schedule/schedule.hpp"
#include "model/schedule/structure.hpp"

namespace xattn::gpu {

// The schedule's structure (model/schedule/structure.hpp: streams, transfer group runs,
// matched Send/Recv pairs, collective instances, under the one rule every executor
// follows), refused with std::invalid_argument naming the first problem (a send or
// receive without a partner, a collective some member never posts or posts differently).
[[nodiscard]] ScheduleStructure walk_structure(const Schedule& s);

// What the walk reports, step by step. Every call is made once, in walk order.
struct WalkCallbacks {
  virtual ~WalkCallbacks() = default;
  virtual void compute(OpId) {}
  // A transfer group (or one collective op) of `rank` is posted: its members' deps are met.
  virtual void post(int /*rank*/, const std::vector<int>& /*members*/) {}
  // A matched pair moves: both sides are posted.
  virtual void transfer(OpId /*send*/, OpId /*recv*/) {}
  // A collective instance (ScheduleStructure::members) runs: every member is posted.
  virtual void collective(int /*instance*/) {}
  // A transfer group (or one collective op) of `rank` is complete.
  virtual void complete(int /*rank*/, const std::vector<int>& /*members*/) {}
};

class Walker {
 public:
  // one_device: every rank's compute ops run on one device stream, in `order` (nullptr or
  // empty: the lowest (round, rank, index) among those ready). `st` is walk_structure(s).
  Walker(const Schedule& s, const ScheduleStructure& st, bool one_device, const std::vector<OpId>* order);

  // Visits every op; returns the compute order used on the device stream (one_device).
  // Throws GpuError naming the first op that never becomes ready (a cycle of waits, or a
  // compute order that waits for a later op).
  std::vector<OpId> walk(WalkCallbacks& cb);

 private:
  const Schedule& s_;
  const ScheduleStructure& st_;
  bool one_device_;
  const std::vector<OpId>* order_;
  std::vector<std::vector<char>> done_, posted_, moved_;
  std::vector<std::vector<int>> head_;  // [rank][k]: the next op of the rank's k-th stream (-1: done)
  std::vector<int> coll_posted_;
  std::vector<char> coll_run_;
  std::size_t device_pos_ = 0;
  std::vector<std::size_t> rank_compute_pos_;
  std::vector<OpId> used_;

  bool deps_done(OpId id) const;
  char& done(OpId id) { return done_[static_cast<std::size_t>(id.rank)][static_cast<std::size_t>(id.index)]; }
  char& posted(OpId id) { return posted_[static_cast<std::size_t>(id.rank)][static_cast<std::size_t>(id.index)]; }
  char& moved(OpId id) { return moved_[static_cast<std::size_t>(id.rank)][static_cast<std::size_t>(id.index)]; }
  bool advance(int r, int k, WalkCallbacks& cb);
  int rank_head(int r);
  bool advance_device(WalkCallbacks& cb);
};

// Every compute op, ordered by (round, rank, index) where that keeps each rank's program
// order and the dependencies across ranks satisfiable; rounds of -1 (outside the rounds)
// sort where their rank's program puts them. A topological order of the compute ops.
[[nodiscard]] std::vector<OpId> default_compute_order(const Schedule& s);

// Throws std::invalid_argument unless `order` names every compute op of `s` exactly once
// and keeps each rank's compute ops in program order.
void validate_compute_order(const Schedule& s, const std::vector<OpId>& order);

// One communication step as the walk issues it: a matched transfer (`send` and `recv`) or
// a collective instance (`collective` >= 0, `members` its ops in group order).
struct CommStep {
  OpId send{-1, -1};
  OpId recv{-1, -1};
  int collective = -1;
  std::vector<OpId> members;
  [[nodiscard]] bool involves(int rank) const;
};

// The communication steps in walk order (per-rank compute streams, as NCCL runs use): the
// one global sequence. A rank's process issues the steps that involve it in this order.
[[nodiscard]] std::vector<CommStep> comm_steps(const Schedule& s);

}  // namespace xattn::gpu
