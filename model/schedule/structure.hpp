// The structure of a Schedule under the semantics of schedule.hpp, built once and read by
// every executor (sim/executor.cpp, gpu/walk.cpp and gpu/executor.cpp) and by the static
// checks (checks.cpp): which stream each op runs on and its neighbours there, the transfer
// group run it belongs to, the Recv each Send matches, and which ops form one collective.
// Before it existed each of them rebuilt this with its own rule for matching; now there is
// one rule, written here and in docs/schedules.md §1 "Matching".
//
// THE RULE (FIFO matching, as MPI's non-overtaking order and NCCL's per-pair issue order):
//  * Send/Recv: the k-th Send with key (src, dst, tag) in program order on rank src
//    matches the k-th Recv with the same key in program order on rank dst (TransferKey,
//    schedule.hpp). A key may repeat: its ops pair off in order. A Send or Recv left over
//    (more of one side than of the other) is unmatched, a problem.
//  * Collectives: the k-th Collective with tag T in a rank's program is that rank's op of
//    instance (T, k). The instance's kind and group are those of its first op in
//    (rank, index) order; an op of the instance that differs in kind or group is a
//    problem (and not a member), as is an op whose group leaves out its own rank, or a
//    rank of the group that never posts the instance.
//  * Transfer groups: a run is a maximal sequence of consecutive ops on one stream of a
//    rank that are Sends or Recvs with the same group number >= 0; every other op is a run
//    of its own. A group number names one run per rank: a second run with the number of
//    an earlier one (the group is not contiguous on one stream) is a problem.
//  * Streams: slot 0 is the compute stream, slot 1 + i communication stream i; slots run
//    to 255 (comm0 … comm254). Any other stream is a problem (and the op is put on slot 0
//    so that the rest stays well formed).
// Sizes are not compared here: a matched pair of different sizes is the static checks'
// finding (checks.hpp); the structure only says who pairs with whom.
//
// Compact by design: a 1024-GPU Ring fwd+bwd has 11.5 million ops, so everything per op is
// a flat array indexed by offset(rank) + index (int32 op indices within a rank's
// program): 17 bytes per op, 13 without prev() (StructureDetail::lean, what the
// simulator builds); instances keep their members in one flat array. No strings, no
// per-op heap objects. It keeps a reference to the Schedule (partner()'s rank and
// describe() read it), which must outlive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "model/schedule/schedule.hpp"

namespace xattn {

// Stream slots: 0 is the compute stream, 1 + i communication stream i; -1 for a stream no
// rank may have (a compute stream other than the one, a communication stream outside
// comm0 … comm254).
inline constexpr int max_stream_slots = 256;
[[nodiscard]] constexpr int stream_slot(const Stream& s) {
  if (s.kind == StreamKind::compute) return s.index == 0 ? 0 : -1;
  return s.index >= 0 && s.index < max_stream_slots - 1 ? 1 + s.index : -1;
}
[[nodiscard]] constexpr Stream slot_stream(int slot) { return slot == 0 ? compute_stream : comm_stream(slot - 1); }

// Something the rule refuses. Sorted by (kind, op, rank) in problems(), so the first is
// the same on every run.
struct StructureProblem {
  enum class Kind : std::uint8_t {
    bad_stream,             // op: runs on a stream without a slot (stream_slot() is -1)
    group_not_contiguous,   // op: first op of a run whose group number an earlier run of the rank has
    unmatched_send,         // op: a Send with no k-th Recv
    unmatched_recv,         // op: a Recv with no k-th Send
    collective_outside_group,  // op: a Collective whose group leaves out its own rank
    collective_differs,     // op: differs in kind or group from `other`, its instance's first op
    collective_missing,     // op: an instance's first op; `rank` of its group never posts it
  };
  Kind kind = Kind::unmatched_send;
  OpId op;
  OpId other{-1, -1};
  int rank = -1;
  int ordinal = 0;  // collectives: k in (tag, k), 0 for the first instance of the tag
};

// What to build: everything, or all but prev() (one int32 per op less, for a reader that
// only walks streams forwards).
enum class StructureDetail { full, lean };

class ScheduleStructure {
 public:
  // Never throws on a bad schedule: what the rule refuses is in problems(). Op indices,
  // peers and group ranks are taken as given; check_schedule() reports the out-of-range
  // ones, and a peer outside the schedule leaves its op unmatched.
  explicit ScheduleStructure(const Schedule& s, StructureDetail detail = StructureDetail::full)
      : ScheduleStructure(s, detail, {}) {}
  // The same, calling `rank_done(*this, r)` as soon as rank r's ops are scanned, while they
  // are still in cache (the simulator reads them there rather than from memory a second
  // time): the rank's streams, stream neighbours and runs are final then; matches,
  // instances and problems only once the constructor has returned.
  using RankDone = std::function<void(const ScheduleStructure&, int)>;
  ScheduleStructure(const Schedule& s, StructureDetail detail, const RankDone& rank_done);

  [[nodiscard]] int ranks() const { return static_cast<int>(offset_.size()) - 1; }
  [[nodiscard]] int op_count(int rank) const {
    return static_cast<int>(offset_[static_cast<std::size_t>(rank) + 1] - offset_[static_cast<std::size_t>(rank)]);
  }

  // ---- streams ---------------------------------------------------------------------------
  [[nodiscard]] int slot(OpId id) const { return slot_[at(id)]; }
  [[nodiscard]] Stream stream(OpId id) const { return slot_stream(slot(id)); }
  // The previous (StructureDetail::full only) and the next op on the same stream of the
  // rank (-1: none).
  [[nodiscard]] int prev(OpId id) const { return prev_[at(id)]; }
  [[nodiscard]] int next(OpId id) const { return next_[at(id)]; }
  // The slots a rank uses, in the order of their first op, and that first op.
  struct StreamUse {
    std::int32_t first = -1;
    std::int32_t slot = 0;
  };
  [[nodiscard]] std::span<const StreamUse> streams(int rank) const {
    return {stream_use_.data() + stream_at_[static_cast<std::size_t>(rank)],
            stream_use_.data() + stream_at_[static_cast<std::size_t>(rank) + 1]};
  }
  // 1 + the largest slot the rank uses (0 for an empty program).
  [[nodiscard]] int stream_count(int rank) const;

  // ---- transfer group runs ---------------------------------------------------------------
  // The first and last op index of the op's run (the op itself for an op alone); the
  // members are first, next(first), … up to last.
  [[nodiscard]] bool run_head(OpId id) const { return run_[at(id)] >= id.index; }
  [[nodiscard]] int run_first(OpId id) const { return run_head(id) ? id.index : run_[at(id)]; }
  [[nodiscard]] int run_last(OpId id) const {
    const std::int32_t r = run_[at(id)];
    return r >= id.index ? r : run_[at(OpId{id.rank, r})];
  }
  // Members of the run that starts at `head` (a run head), in stream order.
  [[nodiscard]] int run_size(OpId head) const;

  // ---- matching --------------------------------------------------------------------------
  // A Send or Recv: its partner's index in the peer's program; a Collective: its instance;
  // -1 when unmatched (and for compute ops).
  [[nodiscard]] int match(OpId id) const { return match_[at(id)]; }
  // A Send's Recv or a Recv's Send; {-1, -1} when unmatched.
  [[nodiscard]] OpId partner(OpId id) const;
  // A Collective's instance, -1 when it is not a member of one (a problem says why).
  [[nodiscard]] int instance(OpId id) const { return match_[at(id)]; }
  [[nodiscard]] int instance_count() const { return static_cast<int>(instance_at_.size()) - 1; }
  // The instance's ops in group order ({-1, -1} where a member never posts it).
  [[nodiscard]] std::span<const OpId> members(int instance) const {
    return {members_.data() + instance_at_[static_cast<std::size_t>(instance)],
            members_.data() + instance_at_[static_cast<std::size_t>(instance) + 1]};
  }
  // The first op of the instance in (rank, index) order: it fixes the kind and group.
  [[nodiscard]] OpId instance_first(int instance) const { return instance_first_[static_cast<std::size_t>(instance)]; }
  // k in (tag, k).
  [[nodiscard]] int instance_ordinal(int instance) const { return instance_ordinal_[static_cast<std::size_t>(instance)]; }

  // ---- what the rule refuses ---------------------------------------------------------------
  [[nodiscard]] const std::vector<StructureProblem>& problems() const { return problems_; }
  [[nodiscard]] bool ok() const { return problems_.empty(); }
  // One sentence naming the ops ("send 0/0 (tag x) has no matching receive on rank 1").
  [[nodiscard]] std::string describe(const StructureProblem& p) const;
  // The first problem's sentence, and how many more there are; empty when ok().
  [[nodiscard]] std::string summary() const;

 private:
  const Schedule* s_;
  std::vector<std::int64_t> offset_;  // per rank, and one past the last: where its ops start
  std::vector<std::uint8_t> slot_;
  std::vector<std::int32_t> prev_, next_, match_;  // prev_ empty when lean
  // A run's first op holds the index of its last op (itself when alone), every other
  // member the index of the first: run_[i] >= i exactly at a run's first op.
  std::vector<std::int32_t> run_;
  std::vector<std::int64_t> stream_at_;  // per rank + 1: its slice of stream_use_
  std::vector<StreamUse> stream_use_;
  std::vector<std::int64_t> instance_at_;  // per instance + 1: its slice of members_
  std::vector<OpId> members_;
  std::vector<OpId> instance_first_;
  std::vector<std::int32_t> instance_ordinal_;
  std::vector<StructureProblem> problems_;

  [[nodiscard]] std::size_t at(OpId id) const {
    return static_cast<std::size_t>(offset_[static_cast<std::size_t>(id.rank)] + id.index);
  }
  void build(const Schedule& s, StructureDetail detail, const RankDone& rank_done);
};

}  // namespace xattn
