// The enqueue walk (see walk.hpp) over the schedule's structure (model/schedule/
// structure.hpp). Moved out of executor.cpp so that the walk is host code, shared by the
// single- and the multi-process executor and tested without a GPU.
#include "gpu/walk.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>
#include <tuple>

#include "gpu/errors.hpp"

namespace xattn::gpu {

ScheduleStructure walk_structure(const Schedule& s) {
  ScheduleStructure st(s);
  if (!st.ok()) throw std::invalid_argument(st.summary());
  return st;
}

// ---- the host-side walk that enqueues in a valid order ----------------------------------

Walker::Walker(const Schedule& s, const ScheduleStructure& st, bool one_device, const std::vector<OpId>* order)
    : s_(s), st_(st), one_device_(one_device), order_(order) {
  const auto P = static_cast<std::size_t>(st.ranks());
  done_.resize(P); posted_.resize(P); moved_.resize(P); head_.resize(P);
  for (std::size_t r = 0; r < P; ++r) {
    const std::size_t n = s.programs[r].ops.size();
    done_[r].assign(n, 0); posted_[r].assign(n, 0); moved_[r].assign(n, 0);
    for (const ScheduleStructure::StreamUse& u : st.streams(static_cast<int>(r))) head_[r].push_back(u.first);
  }
  coll_posted_.assign(static_cast<std::size_t>(st.instance_count()), 0);
  coll_run_.assign(static_cast<std::size_t>(st.instance_count()), 0);
}

std::vector<OpId> Walker::walk(WalkCallbacks& cb) {
  for (bool progress = true; progress;) {
    progress = false;
    for (int r = 0; r < st_.ranks(); ++r)
      for (int k = 0; k < static_cast<int>(head_[static_cast<std::size_t>(r)].size()); ++k) {
        if (one_device_ && st_.streams(r)[static_cast<std::size_t>(k)].slot == stream_slot(compute_stream)) continue;
        while (advance(r, k, cb)) progress = true;
      }
    if (one_device_)
      while (advance_device(cb)) progress = true;
  }
  for (int r = 0; r < st_.ranks(); ++r)
    for (std::size_t i = 0; i < done_[static_cast<std::size_t>(r)].size(); ++i)
      if (!done_[static_cast<std::size_t>(r)][i])
        throw GpuError("the schedule cannot be enqueued: op " + OpId{r, static_cast<int>(i)}.str() +
                       " (" + s_.op(OpId{r, static_cast<int>(i)}).describe() +
                       ") never becomes ready (a cycle of waits, or a compute order that waits for a later op)");
  return used_;
}

bool Walker::deps_done(OpId id) const {
  for (int d : s_.op(id).deps)
    if (!done_[static_cast<std::size_t>(id.rank)][static_cast<std::size_t>(d)]) return false;
  return true;
}

bool Walker::advance(int r, int k, WalkCallbacks& cb) {
  int& at = head_[static_cast<std::size_t>(r)][static_cast<std::size_t>(k)];
  if (at < 0) return false;
  const OpId head{r, at};
  const Op& op = s_.op(head);
  switch (op.kind()) {
    case OpKind::compute:
      if (!deps_done(head)) return false;
      cb.compute(head);
      done(head) = 1;
      at = st_.next(head);
      return true;
    case OpKind::send:
    case OpKind::recv: {
      // The transfer group run that starts here, posted as one.
      const int last = st_.run_last(head);
      std::vector<int> members{head.index};
      while (members.back() != last) members.push_back(st_.next(OpId{r, members.back()}));
      bool changed = false;
      if (!posted(head)) {
        for (int m : members)
          if (!deps_done(OpId{r, m})) return false;
        cb.post(r, members);
        for (int m : members) posted(OpId{r, m}) = 1;
        changed = true;
      }
      bool all = true;
      for (int m : members) {
        const OpId me{r, m};
        if (moved(me)) continue;
        const OpId other = st_.partner(me);
        if (!posted(other)) { all = false; continue; }
        const bool is_send = s_.op(me).kind() == OpKind::send;
        cb.transfer(is_send ? me : other, is_send ? other : me);
        moved(me) = moved(other) = 1;
        changed = true;
      }
      if (!all) return changed;
      cb.complete(r, members);
      for (int m : members) done(OpId{r, m}) = 1;
      at = st_.next(OpId{r, last});
      return true;
    }
    case OpKind::collective: {
      const int ci = st_.instance(head);
      bool changed = false;
      if (!posted(head)) {
        if (!deps_done(head)) return false;
        cb.post(r, {head.index});
        posted(head) = 1;
        ++coll_posted_[static_cast<std::size_t>(ci)];
        changed = true;
      }
      if (!coll_run_[static_cast<std::size_t>(ci)]) {
        if (coll_posted_[static_cast<std::size_t>(ci)] < static_cast<int>(st_.members(ci).size())) return changed;
        cb.collective(ci);
        coll_run_[static_cast<std::size_t>(ci)] = 1;
      }
      cb.complete(r, {head.index});
      done(head) = 1;
      at = st_.next(head);
      return true;
    }
  }
  return false;
}

// The head compute op of rank r (its next one in program order), or -1.
int Walker::rank_head(int r) {
  if (rank_compute_pos_.empty()) rank_compute_pos_.assign(static_cast<std::size_t>(st_.ranks()), 0);
  const auto& ops = s_.programs[static_cast<std::size_t>(r)].ops;
  std::size_t& i = rank_compute_pos_[static_cast<std::size_t>(r)];
  while (i < ops.size() && (ops[i].kind() != OpKind::compute || done_[static_cast<std::size_t>(r)][i])) ++i;
  return i < ops.size() ? static_cast<int>(i) : -1;
}

bool Walker::advance_device(WalkCallbacks& cb) {
  OpId next{-1, -1};
  if (order_ != nullptr && !order_->empty()) {
    if (device_pos_ >= order_->size()) return false;
    next = (*order_)[device_pos_];
    if (!deps_done(next)) return false;
  } else {
    // Among the ranks' next compute ops that may run, the lowest (round, rank, index);
    // an op outside the rounds (-1) counts as its rank's latest round so far.
    std::tuple<int, int, int> best{std::numeric_limits<int>::max(), 0, 0};
    for (int r = 0; r < st_.ranks(); ++r) {
      const int i = rank_head(r);
      if (i < 0 || !deps_done(OpId{r, i})) continue;
      int round = s_.op(OpId{r, i}).round;
      if (round < 0)
        for (int j = i; j >= 0 && round < 0; --j) round = s_.programs[static_cast<std::size_t>(r)].ops[static_cast<std::size_t>(j)].round;
      std::tuple<int, int, int> key{round, r, i};
      if (next.rank < 0 || key < best) { best = key; next = OpId{r, i}; }
    }
    if (next.rank < 0) return false;
  }
  cb.compute(next);
  done(next) = 1;
  used_.push_back(next);
  ++device_pos_;
  return true;
}

void validate_compute_order(const Schedule& s, const std::vector<OpId>& order) {
  std::vector<int> last(static_cast<std::size_t>(s.ranks()), -1);
  std::size_t total = 0;
  for (const auto& p : s.programs)
    for (const auto& op : p.ops) total += op.kind() == OpKind::compute ? 1 : 0;
  for (const OpId& id : order) {
    if (id.rank < 0 || id.rank >= s.ranks() || id.index < 0 ||
        id.index >= static_cast<int>(s.programs[static_cast<std::size_t>(id.rank)].ops.size()))
      throw std::invalid_argument("compute order names op " + id.str() + ", which the schedule does not have");
    if (s.op(id).kind() != OpKind::compute)
      throw std::invalid_argument("compute order names op " + id.str() + ", which is not a compute op");
    int& l = last[static_cast<std::size_t>(id.rank)];
    if (id.index == l) throw std::invalid_argument("compute order names op " + id.str() + " twice");
    if (id.index < l)
      throw std::invalid_argument("compute order puts op " + id.str() + " after op " + OpId{id.rank, l}.str() +
                                  ": each rank's compute ops must keep their program order");
    l = id.index;
  }
  if (order.size() != total)
    throw std::invalid_argument("compute order names " + std::to_string(order.size()) + " ops; the schedule has " +
                                std::to_string(total) + " compute ops");
}


std::vector<OpId> default_compute_order(const Schedule& s) {
  const ScheduleStructure st = walk_structure(s);
  Walker w(s, st, true, nullptr);
  WalkCallbacks none;
  return w.walk(none);
}

bool CommStep::involves(int rank) const {
  if (collective < 0) return send.rank == rank || recv.rank == rank;
  return std::any_of(members.begin(), members.end(), [&](const OpId& m) { return m.rank == rank; });
}

std::vector<CommStep> comm_steps(const Schedule& s) {
  struct Record : WalkCallbacks {
    const ScheduleStructure& st;
    std::vector<CommStep> steps;
    explicit Record(const ScheduleStructure& structure) : st(structure) {}
    void transfer(OpId send, OpId recv) override { steps.push_back(CommStep{send, recv, -1, {}}); }
    void collective(int ci) override {
      const auto members = st.members(ci);
      steps.push_back(CommStep{{-1, -1}, {-1, -1}, ci, std::vector<OpId>(members.begin(), members.end())});
    }
  };
  const ScheduleStructure st = walk_structure(s);
  Record rec(st);
  Walker w(s, st, false, nullptr);
  w.walk(rec);
  return rec.steps;
}

}  // namespace xattn::gpu
