// The enqueue walk (gpu/walk.hpp) seen from one process per rank: every process walks the
// whole schedule and issues only its own rank's share. These tests check, for the
// builders' schedules, that each rank's share holds every op of that rank once and in
// stream order, and that the ranks' NCCL call orders — slices of one global sequence —
// cannot deadlock when every communicator runs its calls in issue order.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "gpu/errors.hpp"
#include "gpu/walk.hpp"
#include "model/schedule/builders.hpp"

namespace xattn::gpu {
namespace {

struct Built {
  std::string name;
  Schedule s;
};

// Small enough to build every mechanism at P = 8 in a blink; GQA (8 query heads, 2 KV).
AttentionShape tiny_shape() {
  AttentionShape sh;
  sh.heads = 8;
  sh.kv_heads = 2;
  sh.head_dim = 16;
  sh.q_tokens = 48;
  sh.kv_tokens = 96;
  return sh;
}

// The builders' schedules at P = 2, 3, 4, 8 where each mechanism allows it, all passes.
std::vector<Built> schedules() {
  std::vector<Built> out;
  const AttentionShape sh = tiny_shape();
  for (int P : {2, 3, 4, 8})
    for (const char* m : {"lv-xattn", "ring", "ulysses", "startrail:c=2", "usp:u=2"})
      for (Pass p : {Pass::fwd, Pass::bwd, Pass::fwd_bwd}) {
        BuildOptions o{sh, P, 2, {}, 0};
        try {
          out.push_back({std::string(m) + " " + std::string(to_string(p)) + " P=" + std::to_string(P),
                         build_schedule(*parse_mechanism(m), p, o)});
        } catch (const InfeasibleSchedule&) {  // e.g. Ulysses at P = 3, StarTrail c=2 at P = 2
        }
      }
  return out;
}

// Runs the ranks' slices of `steps` the way NCCL runs calls on per-rank communicators in
// issue order: a step runs when it heads the queue of every rank it involves. Returns the
// number of steps that ran before nothing could.
std::size_t run_in_issue_order(const std::vector<std::vector<std::size_t>>& queues, std::size_t steps,
                               const std::vector<CommStep>& all) {
  std::vector<std::size_t> head(queues.size(), 0);
  std::size_t ran = 0;
  for (bool progress = true; progress && ran < steps;) {
    progress = false;
    for (std::size_t r = 0; r < queues.size(); ++r) {
      if (head[r] >= queues[r].size()) continue;
      const std::size_t k = queues[r][head[r]];
      bool ready = true;
      for (std::size_t q = 0; q < queues.size(); ++q)
        if (all[k].involves(static_cast<int>(q)) && (head[q] >= queues[q].size() || queues[q][head[q]] != k)) ready = false;
      if (!ready) continue;
      for (std::size_t q = 0; q < queues.size(); ++q)
        if (all[k].involves(static_cast<int>(q))) ++head[q];
      ++ran;
      progress = true;
    }
  }
  return ran;
}

std::vector<std::vector<std::size_t>> slices(const std::vector<CommStep>& steps, int P) {
  std::vector<std::vector<std::size_t>> q(static_cast<std::size_t>(P));
  for (std::size_t k = 0; k < steps.size(); ++k)
    for (int r = 0; r < P; ++r)
      if (steps[k].involves(r)) q[static_cast<std::size_t>(r)].push_back(k);
  return q;
}

TEST(Walk, CommStepsHoldEveryTransferAndCollectiveOnceAndAreTheSameEveryTime) {
  const std::vector<Built> all = schedules();
  ASSERT_EQ(all.size(), 48u);  // 60 combinations, 12 infeasible (Ulysses, StarTrail, USP at P = 2 or 3)
  for (const Built& b : all) {
    const std::vector<CommStep> steps = comm_steps(b.s);
    std::set<OpId> seen;
    for (const CommStep& c : steps) {
      if (c.collective < 0) {
        EXPECT_EQ(b.s.op(c.send).kind(), OpKind::send) << b.name;
        EXPECT_EQ(b.s.op(c.recv).kind(), OpKind::recv) << b.name;
        EXPECT_TRUE(seen.insert(c.send).second) << b.name << " " << c.send.str();
        EXPECT_TRUE(seen.insert(c.recv).second) << b.name << " " << c.recv.str();
      } else {
        for (const OpId& m : c.members) EXPECT_TRUE(seen.insert(m).second) << b.name << " " << m.str();
      }
    }
    std::size_t comm_ops = 0;
    for (const auto& p : b.s.programs)
      for (const auto& op : p.ops) comm_ops += op.kind() == OpKind::compute ? 0 : 1;
    EXPECT_EQ(seen.size(), comm_ops) << b.name;
    // Deterministic: every process computes the same sequence.
    const std::vector<CommStep> again = comm_steps(b.s);
    ASSERT_EQ(again.size(), steps.size()) << b.name;
    for (std::size_t k = 0; k < steps.size(); ++k) {
      EXPECT_EQ(again[k].send, steps[k].send) << b.name;
      EXPECT_EQ(again[k].collective, steps[k].collective) << b.name;
    }
  }
}

TEST(Walk, EveryRanksIssueOrderRunsToTheEndWithoutDeadlock) {
  // Expected: with each rank running its slice strictly in order, every step runs.
  for (const Built& b : schedules()) {
    const std::vector<CommStep> steps = comm_steps(b.s);
    EXPECT_EQ(run_in_issue_order(slices(steps, b.s.ranks()), steps.size(), steps), steps.size()) << b.name;
  }
}

TEST(Walk, TheDeadlockCheckFindsAnIssueOrderThatIsNotASliceOfOneSequence) {
  // The check above can fail: rank 1 of a 4-rank ring issuing its first two transfers in
  // the opposite order (receive from rank 0 after sending to rank 2, while rank 2 first
  // sends elsewhere) is no longer a slice of one global sequence, and gets stuck.
  const AttentionShape sh = tiny_shape();
  const Schedule s = build_schedule(*parse_mechanism("ring"), Pass::fwd, BuildOptions{sh, 4, 2, {}, 0});
  const std::vector<CommStep> steps = comm_steps(s);
  auto q = slices(steps, 4);
  bool found = false;
  for (int r = 0; r < 4 && !found; ++r) {
    auto& mine = q[static_cast<std::size_t>(r)];
    for (std::size_t i = 0; i + 1 < mine.size() && !found; ++i) {
      std::swap(mine[i], mine[i + 1]);
      if (run_in_issue_order(q, steps.size(), steps) < steps.size()) found = true;
      else std::swap(mine[i], mine[i + 1]);
    }
  }
  EXPECT_TRUE(found) << "no swap of two neighbouring calls of one rank deadlocks a 4-rank ring";
}

TEST(Walk, OneRanksShareHoldsEachOfItsOpsOnceInStreamOrder) {
  // What the process of rank r enqueues: its compute ops, its posts and completions, its
  // side of every transfer and its member of every collective. Expected: every op of rank
  // r exactly once, and on each stream in program order.
  struct Share : WalkCallbacks {
    const Schedule& s;
    const ScheduleStructure& st;
    int r;
    std::vector<int> order;  // op indices of rank r, as their work is enqueued
    Share(const Schedule& sched, const ScheduleStructure& structure, int rank) : s(sched), st(structure), r(rank) {}
    void compute(OpId id) override {
      if (id.rank == r) order.push_back(id.index);
    }
    void transfer(OpId send, OpId recv) override {
      if (send.rank == r) order.push_back(send.index);
      if (recv.rank == r) order.push_back(recv.index);
    }
    void collective(int ci) override {
      for (const OpId& m : st.members(ci))
        if (m.rank == r) order.push_back(m.index);
    }
  };
  for (const Built& b : schedules()) {
    const ScheduleStructure st = walk_structure(b.s);
    for (int r = 0; r < b.s.ranks(); ++r) {
      Share share(b.s, st, r);
      Walker w(b.s, st, false, nullptr);
      w.walk(share);
      const auto& ops = b.s.programs[static_cast<std::size_t>(r)].ops;
      std::vector<int> sorted = share.order;
      std::sort(sorted.begin(), sorted.end());
      std::vector<int> all(ops.size());
      for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
      ASSERT_EQ(sorted, all) << b.name << " rank " << r;
      // Stream order: within a stream, indices rise (a transfer group's members may be
      // issued in any order among themselves, but never before an earlier op's).
      std::map<int, int> last_group_start;  // local stream -> index of the earliest op still allowed
      std::map<int, int> last;
      for (int i : share.order) {
        const int sid = st.slot(OpId{r, i});
        auto it = last.find(sid);
        if (it != last.end() && i < it->second) {
          // Allowed only inside one transfer group.
          const Op& a = ops[static_cast<std::size_t>(i)];
          const Op& c = ops[static_cast<std::size_t>(it->second)];
          ASSERT_TRUE(a.transfer() && c.transfer() && a.transfer()->group >= 0 && a.transfer()->group == c.transfer()->group)
              << b.name << " rank " << r << ": op " << i << " after op " << it->second << " on one stream";
        }
        last[sid] = std::max(it == last.end() ? i : it->second, i);
      }
    }
  }
}

TEST(Walk, AnUnmatchedSendIsRefusedNamingIt) {
  Schedule s;
  s.programs.resize(2);
  s.programs[1].rank = 1;
  SendOp snd;
  snd.peer = 1;
  snd.tag = "x";
  snd.parts = {{"a", Bytes(64)}};
  s.programs[0].ops.push_back(Op{snd, comm_stream(0), {}, 0, "send"});
  try {
    (void)comm_steps(s);
    ADD_FAILURE() << "an unmatched send was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("send 0/0 (tag x) has no matching receive"), std::string::npos) << e.what();
  }
}

TEST(Walk, DefaultComputeOrderIsValidAndValidationRefusesARepeat) {
  const AttentionShape sh = tiny_shape();
  const Schedule s = build_schedule(*parse_mechanism("lv-xattn"), Pass::fwd, BuildOptions{sh, 3, 2, {}, 0});
  std::vector<OpId> order = default_compute_order(s);
  EXPECT_NO_THROW(validate_compute_order(s, order));
  ASSERT_GE(order.size(), 2u);
  order[1] = order[0];
  EXPECT_THROW(validate_compute_order(s, order), std::invalid_argument);
}

}  // namespace
}  // namespace xattn::gpu
