// The schedule's structure and the enqueue walk (see walk.hpp). Moved out of executor.cpp
// so that the walk is host code, shared by the single- and the multi-process executor and
// tested without a GPU.
#include "gpu/walk.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>

#include "gpu/errors.hpp"

namespace xattn::gpu {

// ---- the schedule's structure, precomputed ----------------------------------------------

ScheduleStructure::ScheduleStructure(const Schedule& s) : P(s.ranks()) {
  streams.resize(static_cast<std::size_t>(P));
  stream_of.resize(static_cast<std::size_t>(P));
  seq.resize(static_cast<std::size_t>(P));
  group_size.resize(static_cast<std::size_t>(P));
  partner.resize(static_cast<std::size_t>(P));
  send_slot.resize(static_cast<std::size_t>(P));
  coll_of.resize(static_cast<std::size_t>(P));
  std::map<std::tuple<int, int, std::string>, std::vector<OpId>> sends, recvs;
  std::map<std::pair<std::string, std::vector<int>>, int> coll_index;
  for (int r = 0; r < P; ++r) {
    const auto& ops = s.programs[static_cast<std::size_t>(r)].ops;
    const std::size_t n = ops.size();
    stream_of[static_cast<std::size_t>(r)].assign(n, 0);
    group_size[static_cast<std::size_t>(r)].assign(n, 1);
    partner[static_cast<std::size_t>(r)].assign(n, OpId{-1, -1});
    send_slot[static_cast<std::size_t>(r)].assign(n, 0);
    coll_of[static_cast<std::size_t>(r)].assign(n, -1);
    auto& st = streams[static_cast<std::size_t>(r)];
    for (std::size_t i = 0; i < n; ++i) {
      const Op& op = ops[i];
      auto it = std::find(st.begin(), st.end(), op.stream);
      int sid = static_cast<int>(it - st.begin());
      if (it == st.end()) { st.push_back(op.stream); seq[static_cast<std::size_t>(r)].emplace_back(); }
      stream_of[static_cast<std::size_t>(r)][i] = sid;
      seq[static_cast<std::size_t>(r)][static_cast<std::size_t>(sid)].push_back(static_cast<int>(i));
      if (op.kind() == OpKind::send)
        sends[{r, op.transfer()->peer, std::string(op.transfer()->tag)}].push_back(OpId{r, static_cast<int>(i)});
      if (op.kind() == OpKind::recv)
        recvs[{op.transfer()->peer, r, std::string(op.transfer()->tag)}].push_back(OpId{r, static_cast<int>(i)});
      if (const CollectiveOp* c = op.collective()) {
        auto key = std::make_pair(std::string(c->tag), c->group);
        auto [ci, fresh] = coll_index.emplace(key, static_cast<int>(colls.size()));
        if (fresh) colls.push_back(Coll{std::vector<OpId>(c->group.size(), OpId{-1, -1})});
        auto pos = std::find(c->group.begin(), c->group.end(), r);
        if (pos == c->group.end()) throw std::invalid_argument("collective " + std::string(c->tag) + " of rank " + std::to_string(r) + " excludes it");
        colls[static_cast<std::size_t>(ci->second)].members[static_cast<std::size_t>(pos - c->group.begin())] = OpId{r, static_cast<int>(i)};
        coll_of[static_cast<std::size_t>(r)][i] = ci->second;
      }
    }
    // Transfer groups: consecutive transfers on one stream with one group number >= 0.
    for (const auto& q : seq[static_cast<std::size_t>(r)]) {
      for (std::size_t a = 0; a < q.size();) {
        const Op& op = ops[static_cast<std::size_t>(q[a])];
        std::size_t b = a + 1;
        if (op.transfer() != nullptr && op.transfer()->group >= 0)
          while (b < q.size() && ops[static_cast<std::size_t>(q[b])].transfer() != nullptr &&
                 ops[static_cast<std::size_t>(q[b])].transfer()->group == op.transfer()->group)
            ++b;
        group_size[static_cast<std::size_t>(r)][static_cast<std::size_t>(q[a])] = static_cast<int>(b - a);
        int k = 0;
        for (std::size_t m = a; m < b; ++m)
          if (ops[static_cast<std::size_t>(q[m])].kind() == OpKind::send) send_slot[static_cast<std::size_t>(r)][static_cast<std::size_t>(q[m])] = k++;
        a = b;
      }
    }
  }
  for (auto& [key, list] : sends) {
    auto it = recvs.find(key);
    const std::size_t matched = it == recvs.end() ? 0 : it->second.size();
    if (matched != list.size())
      throw std::invalid_argument("send " + list.front().str() + " (tag " + std::get<2>(key) + ") has no matching receive");
    for (std::size_t k = 0; k < list.size(); ++k) {
      OpId a = list[k], b = it->second[k];
      partner[static_cast<std::size_t>(a.rank)][static_cast<std::size_t>(a.index)] = b;
      partner[static_cast<std::size_t>(b.rank)][static_cast<std::size_t>(b.index)] = a;
    }
  }
  for (auto& [key, list] : recvs)
    for (const OpId& id : list)
      if (partner[static_cast<std::size_t>(id.rank)][static_cast<std::size_t>(id.index)].rank < 0)
        throw std::invalid_argument("receive " + id.str() + " (tag " + std::get<2>(key) + ") has no matching send");
  for (const auto& c : colls)
    for (const auto& m : c.members)
      if (m.rank < 0) throw std::invalid_argument("a collective misses a member's op");
}

// ---- the host-side walk that enqueues in a valid order ----------------------------------

Walker::Walker(const Schedule& s, const ScheduleStructure& st, bool one_device, const std::vector<OpId>* order)
    : s_(s), st_(st), one_device_(one_device), order_(order) {
  const auto P = static_cast<std::size_t>(st.P);
  done_.resize(P); posted_.resize(P); moved_.resize(P); pos_.resize(P);
  for (std::size_t r = 0; r < P; ++r) {
    const std::size_t n = s.programs[r].ops.size();
    done_[r].assign(n, 0); posted_[r].assign(n, 0); moved_[r].assign(n, 0);
    pos_[r].assign(st.seq[r].size(), 0);
  }
  coll_posted_.assign(st.colls.size(), 0);
  coll_run_.assign(st.colls.size(), 0);
}

std::vector<OpId> Walker::walk(WalkCallbacks& cb) {
  for (bool progress = true; progress;) {
    progress = false;
    for (int r = 0; r < st_.P; ++r)
      for (int sid = 0; sid < static_cast<int>(st_.seq[static_cast<std::size_t>(r)].size()); ++sid) {
        if (one_device_ && st_.streams[static_cast<std::size_t>(r)][static_cast<std::size_t>(sid)].kind == StreamKind::compute) continue;
        while (advance(r, sid, cb)) progress = true;
      }
    if (one_device_)
      while (advance_device(cb)) progress = true;
  }
  for (int r = 0; r < st_.P; ++r)
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

bool Walker::advance(int r, int sid, WalkCallbacks& cb) {
  const auto& q = st_.seq[static_cast<std::size_t>(r)][static_cast<std::size_t>(sid)];
  std::size_t& p = pos_[static_cast<std::size_t>(r)][static_cast<std::size_t>(sid)];
  if (p >= q.size()) return false;
  const OpId head{r, q[p]};
  const Op& op = s_.op(head);
  switch (op.kind()) {
    case OpKind::compute:
      if (!deps_done(head)) return false;
      cb.compute(head);
      done(head) = 1;
      ++p;
      return true;
    case OpKind::send:
    case OpKind::recv: {
      const int n = st_.group_size[static_cast<std::size_t>(r)][static_cast<std::size_t>(head.index)];
      std::vector<int> members(q.begin() + static_cast<std::ptrdiff_t>(p), q.begin() + static_cast<std::ptrdiff_t>(p) + n);
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
        const OpId other = st_.partner[static_cast<std::size_t>(r)][static_cast<std::size_t>(m)];
        if (!posted(other)) { all = false; continue; }
        const bool is_send = s_.op(me).kind() == OpKind::send;
        cb.transfer(is_send ? me : other, is_send ? other : me);
        moved(me) = moved(other) = 1;
        changed = true;
      }
      if (!all) return changed;
      cb.complete(r, members);
      for (int m : members) done(OpId{r, m}) = 1;
      p += static_cast<std::size_t>(n);
      return true;
    }
    case OpKind::collective: {
      const int ci = st_.coll_of[static_cast<std::size_t>(r)][static_cast<std::size_t>(head.index)];
      bool changed = false;
      if (!posted(head)) {
        if (!deps_done(head)) return false;
        cb.post(r, {head.index});
        posted(head) = 1;
        ++coll_posted_[static_cast<std::size_t>(ci)];
        changed = true;
      }
      if (!coll_run_[static_cast<std::size_t>(ci)]) {
        if (coll_posted_[static_cast<std::size_t>(ci)] < static_cast<int>(st_.colls[static_cast<std::size_t>(ci)].members.size())) return changed;
        cb.collective(ci);
        coll_run_[static_cast<std::size_t>(ci)] = 1;
      }
      cb.complete(r, {head.index});
      done(head) = 1;
      ++p;
      return true;
    }
  }
  return false;
}

// The head compute op of rank r (its next one in program order), or -1.
int Walker::rank_head(int r) {
  if (rank_compute_pos_.empty()) rank_compute_pos_.assign(static_cast<std::size_t>(st_.P), 0);
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
    for (int r = 0; r < st_.P; ++r) {
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
  ScheduleStructure st(s);
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
      steps.push_back(CommStep{{-1, -1}, {-1, -1}, ci, st.colls[static_cast<std::size_t>(ci)].members});
    }
  };
  ScheduleStructure st(s);
  Record rec(st);
  Walker w(s, st, false, nullptr);
  w.walk(rec);
  return rec.steps;
}

}  // namespace xattn::gpu
