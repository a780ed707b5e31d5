// The schedule's structure (model/schedule/structure.hpp) on small hand-made schedules:
// stream slots and neighbours, transfer group runs, Send/Recv partners under the FIFO
// rule, collective instances, and what the rule refuses. Each expectation says why.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "model/schedule/builders.hpp"
#include "model/schedule/structure.hpp"

namespace xattn {
namespace {

using Kind = StructureProblem::Kind;

Schedule ranks(int P) {
  Schedule s;
  s.programs.resize(static_cast<std::size_t>(P));
  for (int r = 0; r < P; ++r) s.programs[static_cast<std::size_t>(r)].rank = r;
  return s;
}

// Ops appended as written: no dependency inference, so each test sees exactly its ops.
int add(Schedule& s, int rank, OpBody body, Stream stream) {
  auto& ops = s.programs[static_cast<std::size_t>(rank)].ops;
  ops.push_back(Op{std::move(body), stream, {}, -1, {}});
  return static_cast<int>(ops.size()) - 1;
}
int send(Schedule& s, int rank, int peer, const char* tag, int group = -1, Stream stream = comm_stream(0)) {
  SendOp o;
  o.peer = peer;
  o.tag = tag;
  o.parts = {{"a", Bytes(64)}};
  o.group = group;
  return add(s, rank, o, stream);
}
int recv(Schedule& s, int rank, int peer, const char* tag, int group = -1, Stream stream = comm_stream(0)) {
  RecvOp o;
  o.peer = peer;
  o.tag = tag;
  o.parts = {{"b", Bytes(64)}};
  o.group = group;
  return add(s, rank, o, stream);
}
int compute(Schedule& s, int rank) {
  ComputeOp c;
  c.kind = ComputeKind::copy;
  c.src = "a";
  c.dst = "c";
  return add(s, rank, c, compute_stream);
}
int collective(Schedule& s, int rank, const char* tag, std::vector<int> group,
               CollectiveKind kind = CollectiveKind::all_gather) {
  CollectiveOp c;
  c.kind = kind;
  c.tag = tag;
  c.group = std::move(group);
  c.input = "a";
  c.output = "g";
  c.bytes_to.assign(c.group.size(), Bytes(8));
  return add(s, rank, c, comm_stream(0));
}

std::string all(const ScheduleStructure& st) {
  std::string out;
  for (const StructureProblem& p : st.problems()) out += st.describe(p) + "\n";
  return out;
}

TEST(Structure, ATwoRankSendRecvPairArePartners) {
  // Rank 0 sends tag x to rank 1, which receives it: each is the other's partner; both
  // are alone on comm0 (slot 1), so they have no stream neighbours and form runs of one.
  Schedule s = ranks(2);
  send(s, 0, 1, "x");
  recv(s, 1, 0, "x");
  const ScheduleStructure st(s);
  EXPECT_TRUE(st.ok()) << all(st);
  EXPECT_EQ(st.partner({0, 0}), (OpId{1, 0}));
  EXPECT_EQ(st.partner({1, 0}), (OpId{0, 0}));
  EXPECT_EQ(st.match({0, 0}), 0);
  EXPECT_EQ(st.slot({0, 0}), 1);
  EXPECT_EQ(st.stream({1, 0}), comm_stream(0));
  EXPECT_EQ(st.prev({0, 0}), -1);
  EXPECT_EQ(st.next({0, 0}), -1);
  EXPECT_TRUE(st.run_head({0, 0}));
  EXPECT_EQ(st.run_first({0, 0}), 0);
  EXPECT_EQ(st.run_last({0, 0}), 0);
  EXPECT_EQ(st.run_size({0, 0}), 1);
  EXPECT_EQ(st.stream_count(0), 2);  // slots 0 (unused here) and 1
  EXPECT_EQ(st.instance_count(), 0);
}

TEST(Structure, ASendAndRecvOfOneGroupFormOneRun) {
  // Each rank: a compute op, then a send to and a receive from the other rank, posted as
  // group 0 on comm0. Expected: ops 1 and 2 form one run (first 1, last 2, two members);
  // the compute op is a run of its own on slot 0; comm0's first op is 1 and its next is 2;
  // rank 0's send pairs with rank 1's receive (both op 2 on the receiving side).
  Schedule s = ranks(2);
  for (int r = 0; r < 2; ++r) {
    compute(s, r);
    send(s, r, 1 - r, "x", 0);
    recv(s, r, 1 - r, "x", 0);
  }
  const ScheduleStructure st(s);
  ASSERT_TRUE(st.ok()) << all(st);
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(st.slot({r, 0}), 0);
    EXPECT_EQ(st.slot({r, 1}), 1);
    EXPECT_TRUE(st.run_head({r, 0}));
    EXPECT_EQ(st.run_last({r, 0}), 0);
    EXPECT_TRUE(st.run_head({r, 1}));
    EXPECT_FALSE(st.run_head({r, 2}));
    EXPECT_EQ(st.run_first({r, 2}), 1);
    EXPECT_EQ(st.run_last({r, 1}), 2);
    EXPECT_EQ(st.run_last({r, 2}), 2);
    EXPECT_EQ(st.run_size({r, 1}), 2);
    EXPECT_EQ(st.next({r, 1}), 2);
    EXPECT_EQ(st.prev({r, 2}), 1);
    EXPECT_EQ(st.prev({r, 1}), -1);  // the first op on comm0; the compute op is on another stream
    ASSERT_EQ(st.streams(r).size(), 2u);
    EXPECT_EQ(st.streams(r)[0].slot, 0);
    EXPECT_EQ(st.streams(r)[0].first, 0);
    EXPECT_EQ(st.streams(r)[1].slot, 1);
    EXPECT_EQ(st.streams(r)[1].first, 1);
    EXPECT_EQ(st.partner({r, 1}), (OpId{1 - r, 2}));
    EXPECT_EQ(st.partner({r, 2}), (OpId{1 - r, 1}));
  }
}

TEST(Structure, AThreeRankCollectiveIsOneInstanceInGroupOrder) {
  // An all-gather over the group (2, 0, 1) — group order is not rank order — posted by
  // rank 0 as its first op and by ranks 1 and 2 after a compute op. Expected: one
  // instance whose members, in group order, are 2/1, 0/0, 1/1; its first op (which fixes
  // kind and group) is 0/0, the lowest (rank, index); every member knows the instance.
  Schedule s = ranks(3);
  collective(s, 0, "g", {2, 0, 1});
  for (int r = 1; r < 3; ++r) {
    compute(s, r);
    collective(s, r, "g", {2, 0, 1});
  }
  const ScheduleStructure st(s);
  ASSERT_TRUE(st.ok()) << all(st);
  ASSERT_EQ(st.instance_count(), 1);
  const std::vector<OpId> members(st.members(0).begin(), st.members(0).end());
  EXPECT_EQ(members, (std::vector<OpId>{{2, 1}, {0, 0}, {1, 1}}));
  EXPECT_EQ(st.instance_first(0), (OpId{0, 0}));
  EXPECT_EQ(st.instance_ordinal(0), 0);
  EXPECT_EQ(st.instance({0, 0}), 0);
  EXPECT_EQ(st.instance({2, 1}), 0);
  EXPECT_EQ(st.instance({2, 0}), -1);  // a compute op
}

TEST(Structure, RepeatedKeysPairOffInProgramOrder) {
  // Rank 0 sends tag x to rank 1 three times (ops 0, 1, 2); rank 1 receives tag x from 0
  // three times with a compute op between the first two (ops 0, 2, 3). FIFO: the k-th
  // send matches the k-th receive, so 0/0-1/0, 0/1-1/2, 0/2-1/3. A collective tag used
  // twice on both ranks of a pair makes two instances, (c, 0) and (c, 1), each pairing
  // the ranks' ops of that ordinal.
  Schedule s = ranks(2);
  for (int k = 0; k < 3; ++k) send(s, 0, 1, "x");
  recv(s, 1, 0, "x");
  compute(s, 1);
  recv(s, 1, 0, "x");
  recv(s, 1, 0, "x");
  for (int r = 0; r < 2; ++r)
    for (int k = 0; k < 2; ++k) collective(s, r, "c", {0, 1});
  const ScheduleStructure st(s);
  ASSERT_TRUE(st.ok()) << all(st);
  EXPECT_EQ(st.partner({0, 0}), (OpId{1, 0}));
  EXPECT_EQ(st.partner({0, 1}), (OpId{1, 2}));
  EXPECT_EQ(st.partner({0, 2}), (OpId{1, 3}));
  EXPECT_EQ(st.partner({1, 3}), (OpId{0, 2}));
  ASSERT_EQ(st.instance_count(), 2);
  EXPECT_EQ(st.instance({0, 3}), 0);  // rank 0's first collective
  EXPECT_EQ(st.instance({0, 4}), 1);
  EXPECT_EQ(st.instance({1, 4}), 0);  // rank 1's first collective, after its four other ops
  EXPECT_EQ(st.instance({1, 5}), 1);
  EXPECT_EQ(st.instance_ordinal(1), 1);
}

TEST(Structure, AReceiveBeforeItsSendInRankOrderStillPairs) {
  // Rank 0 receives from rank 1 (rank 0 is scanned first, so the receive waits) and rank 1
  // sends twice with the tag while rank 0 receives twice: FIFO either way round.
  Schedule s = ranks(2);
  recv(s, 0, 1, "y");
  recv(s, 0, 1, "y");
  send(s, 1, 0, "y");
  send(s, 1, 0, "y");
  const ScheduleStructure st(s);
  ASSERT_TRUE(st.ok()) << all(st);
  EXPECT_EQ(st.partner({1, 0}), (OpId{0, 0}));
  EXPECT_EQ(st.partner({1, 1}), (OpId{0, 1}));
}

TEST(Structure, AnUnmatchedSendIsReportedNamingIt) {
  // Rank 0 sends tag x twice, rank 1 receives it once: the first send pairs, the second
  // has no second receive. Expected: one problem, unmatched_send at 0/1, whose sentence
  // names it, the tag and the rank that should receive it; its partner is "unmatched".
  Schedule s = ranks(2);
  send(s, 0, 1, "x");
  send(s, 0, 1, "x");
  recv(s, 1, 0, "x");
  const ScheduleStructure st(s);
  ASSERT_EQ(st.problems().size(), 1u) << all(st);
  const StructureProblem& p = st.problems()[0];
  EXPECT_EQ(p.kind, Kind::unmatched_send);
  EXPECT_EQ(p.op, (OpId{0, 1}));
  EXPECT_EQ(st.partner({0, 0}), (OpId{1, 0}));
  EXPECT_EQ(st.partner({0, 1}), (OpId{-1, -1}));
  EXPECT_EQ(st.describe(p),
            "send 0/1 (tag x) has no matching receive on rank 1 (the 2nd send with that tag: rank 1 posts fewer receives)");
  EXPECT_EQ(st.summary(), st.describe(p));
}

TEST(Structure, AnUnmatchedReceiveAndAPeerOutsideTheScheduleAreReported) {
  // A receive nobody sends, and a send to rank 7 of a 2-rank schedule (nobody there to
  // receive it): both unmatched, listed sends first.
  Schedule s = ranks(2);
  send(s, 0, 7, "far");
  recv(s, 1, 0, "nobody");
  const ScheduleStructure st(s);
  ASSERT_EQ(st.problems().size(), 2u) << all(st);
  EXPECT_EQ(st.problems()[0].kind, Kind::unmatched_send);
  EXPECT_EQ(st.problems()[1].kind, Kind::unmatched_recv);
  EXPECT_EQ(st.describe(st.problems()[1]), "receive 1/0 (tag nobody) has no matching send on rank 0");
  EXPECT_EQ(st.summary(), "send 0/0 (tag far) has no matching receive on rank 7 (and 1 more problem)");
}

TEST(Structure, CollectiveMembersThatDisagreeOrNeverPostAreReported) {
  // Tag c over (0, 1, 2): rank 1 posts it as an all-to-all instead of an all-gather, rank
  // 2 never posts it. Expected: rank 1's op differs from the instance's first op 0/0 (and
  // is not a member), and ranks 1 and 2 of the group are missing.
  Schedule s = ranks(3);
  collective(s, 0, "c", {0, 1, 2});
  collective(s, 1, "c", {0, 1, 2}, CollectiveKind::all_to_all);
  const ScheduleStructure st(s);
  ASSERT_EQ(st.problems().size(), 3u) << all(st);
  EXPECT_EQ(st.problems()[0].kind, Kind::collective_differs);
  EXPECT_EQ(st.problems()[0].op, (OpId{1, 0}));
  EXPECT_EQ(st.problems()[0].other, (OpId{0, 0}));
  EXPECT_EQ(st.problems()[1].kind, Kind::collective_missing);
  EXPECT_EQ(st.problems()[1].rank, 1);
  EXPECT_EQ(st.problems()[2].rank, 2);
  EXPECT_EQ(st.instance({1, 0}), -1);
  EXPECT_EQ(st.describe(st.problems()[2]),
            "collective 'c' (all_gather over 3 ranks, first posted by 0/0): rank 2 of its group never posts it");
}

TEST(Structure, ACollectiveOutsideItsOwnGroupIsReported) {
  Schedule s = ranks(2);
  collective(s, 0, "c", {1});
  collective(s, 1, "c", {1});
  const ScheduleStructure st(s);
  // Rank 0 posts an instance whose group is rank 1 alone: it cannot be a member. Rank 1's
  // op completes the instance, so that is the only problem.
  ASSERT_EQ(st.problems().size(), 1u) << all(st);
  EXPECT_EQ(st.problems()[0].kind, Kind::collective_outside_group);
  EXPECT_EQ(st.problems()[0].op, (OpId{0, 0}));
}

TEST(Structure, AGroupNumberUsedByTwoRunsIsReported) {
  // Group 5 on comm0, then a compute op, then group 3, then group 5 again on comm0: the
  // second run of group 5 (op 4) starts a group that is not contiguous on one stream.
  // Group 3 between them breaks comm0's run, so ops 3 and 4 are separate runs too.
  Schedule s = ranks(2);
  send(s, 0, 1, "a", 5);
  compute(s, 0);
  send(s, 0, 1, "b", 5);  // continues group 5: the compute op is on another stream
  send(s, 0, 1, "c", 3);
  send(s, 0, 1, "d", 5);
  for (const char* t : {"a", "b", "c", "d"}) recv(s, 1, 0, t);
  const ScheduleStructure st(s);
  ASSERT_EQ(st.problems().size(), 1u) << all(st);
  EXPECT_EQ(st.problems()[0].kind, Kind::group_not_contiguous);
  EXPECT_EQ(st.problems()[0].op, (OpId{0, 4}));
  EXPECT_EQ(st.run_last({0, 0}), 2);
  EXPECT_EQ(st.run_first({0, 2}), 0);
  EXPECT_EQ(st.run_size({0, 0}), 2);
  EXPECT_TRUE(st.run_head({0, 3}));
  EXPECT_TRUE(st.run_head({0, 4}));
}

TEST(Structure, AStreamOutsideTheSlotsIsReported) {
  // comm300 and comm-1 have no slot (comm0 to comm254 do), nor a second compute stream:
  // three problems, in op order.
  Schedule s = ranks(1);
  for (Stream x : {comm_stream(300), comm_stream(-1), Stream{StreamKind::compute, 1}, comm_stream(254)}) {
    compute(s, 0);
    s.programs[0].ops.back().stream = x;
  }
  const ScheduleStructure st(s);
  ASSERT_EQ(st.problems().size(), 3u) << all(st);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(st.problems()[static_cast<std::size_t>(i)].kind, Kind::bad_stream);
    EXPECT_EQ(st.problems()[static_cast<std::size_t>(i)].op, (OpId{0, i}));
  }
  EXPECT_EQ(st.slot({0, 3}), 255);
  EXPECT_EQ(st.describe(st.problems()[0]), "op 0/0 runs on stream comm300, which no rank may have (compute, comm0 to comm254)");
}

TEST(Structure, TheLeanStructureOfABuiltScheduleEqualsTheFullOneAndEveryPairIsMutual) {
  // A 4-rank Ring forward and backward: valid, so no problems; every Send's partner is a
  // Recv whose partner is that Send; every run head's size counts the ops that name it
  // as their first; the lean structure (no prev()) agrees on everything else, and the
  // callback sees each rank once, in order.
  AttentionShape sh;
  sh.heads = 4;
  sh.kv_heads = 2;
  sh.q_tokens = 12;
  sh.kv_tokens = 20;
  const Schedule s = build_schedule(*parse_mechanism("ring"), Pass::fwd_bwd, BuildOptions{sh, 4, 1, {}, 0});
  const ScheduleStructure full(s);
  std::vector<int> seen;
  const ScheduleStructure lean(s, StructureDetail::lean, [&](const ScheduleStructure&, int r) { seen.push_back(r); });
  ASSERT_TRUE(full.ok()) << all(full);
  EXPECT_TRUE(lean.ok());
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3}));
  int pairs = 0, grouped = 0;
  for (int r = 0; r < s.ranks(); ++r) {
    std::vector<int> members(s.programs[static_cast<std::size_t>(r)].ops.size(), 0);
    for (int i = 0; i < full.op_count(r); ++i) {
      const OpId id{r, i};
      ++members[static_cast<std::size_t>(full.run_first(id))];
      EXPECT_EQ(full.next(id), lean.next(id));
      EXPECT_EQ(full.slot(id), lean.slot(id));
      EXPECT_EQ(full.match(id), lean.match(id));
      EXPECT_EQ(full.run_first(id), lean.run_first(id));
      EXPECT_EQ(full.run_last(id), lean.run_last(id));
      if (full.next(id) >= 0) {
        EXPECT_EQ(full.prev(OpId{r, full.next(id)}), i);
      }
      if (s.op(id).kind() == OpKind::send) {
        const OpId other = full.partner(id);
        ASSERT_GE(other.rank, 0);
        EXPECT_EQ(s.op(other).kind(), OpKind::recv);
        EXPECT_EQ(full.partner(other), id);
        ++pairs;
      }
    }
    for (int i = 0; i < full.op_count(r); ++i)
      if (full.run_head({r, i})) {
        EXPECT_EQ(full.run_size({r, i}), members[static_cast<std::size_t>(i)]);
        grouped += members[static_cast<std::size_t>(i)] > 1 ? 1 : 0;
      }
  }
  EXPECT_GT(pairs, 0);
  EXPECT_GT(grouped, 0);  // the ring's send-to-next and receive-from-previous are grouped
}

}  // namespace
}  // namespace xattn
