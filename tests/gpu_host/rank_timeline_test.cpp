// One trace from many processes (gpu/rank_timeline.hpp): the rendezvous starts are evened
// out, and slices that do not fit the schedule are refused by name. That a simulated
// timeline sliced per process and merged comes back whole is in
// tests/integration/rank_timeline_merge_test.cpp (it needs the simulator).
#include <gtest/gtest.h>

#include "gpu/rank_timeline.hpp"
#include "model/schedule/builders.hpp"
#include "model/schedule/trace.hpp"

namespace xattn::gpu {
namespace {

constexpr std::int64_t us = 1'000'000;

std::string error_of(const Schedule& s, std::vector<RankTimes> parts) {
  try {
    (void)merge_rank_times(s, std::move(parts));
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

// Two ranks: rank 0 computes then sends "a" to rank 1, which receives it then computes.
Schedule two_rank_exchange() {
  Schedule s;
  s.programs.resize(2);
  s.programs[1].rank = 1;
  ComputeOp c;
  c.kind = ComputeKind::fill_zero;
  c.src = "a";
  c.dst = "a";
  SendOp snd;
  snd.peer = 1;
  snd.tag = "x";
  snd.parts = {{"a", Bytes(64)}};
  RecvOp rcv;
  rcv.peer = 0;
  rcv.tag = "x";
  rcv.parts = {{"a", Bytes(64)}};
  s.programs[0].ops = {Op{c, compute_stream, {}, 0, "fill"}, Op{snd, comm_stream(0), {0}, 0, "send"}};
  s.programs[1].ops = {Op{rcv, comm_stream(0), {}, 0, "recv"}, Op{c, compute_stream, {0}, 0, "fill"}};
  return s;
}

OpTimes times(std::int64_t posted, std::int64_t start, std::int64_t end) {
  return OpTimes{Time::ps(posted * us), Time::ps(start * us), Time::ps(end * us)};
}

TEST(RankTimeline, AMatchedPairStartsWhenItsLaterSideWasReady) {
  // Rank 0's send was ready at 10 us, rank 1's receive at 30 us (each process saw only its
  // own side); the data moved 30..50. Expected: both sides start at 30; posted times stay.
  // Rank 0 computed 0..10, rank 1 50..60: makespan 60, compute 10 us each.
  const Schedule s = two_rank_exchange();
  std::vector<RankTimes> parts{{0, {{times(0, 0, 10), times(10, 10, 50)}}}, {1, {{times(25, 30, 50), times(50, 50, 60)}}}};
  const auto merged = merge_rank_times(s, parts);
  ASSERT_EQ(merged.size(), 1u);
  const Timeline& t = merged[0];
  EXPECT_EQ(t.at({0, 1}).start, Time::ps(30 * us));
  EXPECT_EQ(t.at({1, 0}).start, Time::ps(30 * us));
  EXPECT_EQ(t.at({0, 1}).posted, Time::ps(10 * us));
  EXPECT_EQ(t.at({1, 0}).posted, Time::ps(25 * us));
  EXPECT_EQ(t.makespan, Time::ps(60 * us));
  EXPECT_EQ(t.compute_busy, (std::vector<Time>{Time::ps(10 * us), Time::ps(10 * us)}));
}

TEST(RankTimeline, AStartNeverMovesPastItsOpsEnd) {
  // Clock skew between processes can put one side's start after the other side's end
  // (rank 1 ready at 40 us by its clock, rank 0's send over at 35 us by its own).
  // Expected: the send starts at its end (35), never after it.
  const Schedule s = two_rank_exchange();
  std::vector<RankTimes> parts{{0, {{times(0, 0, 10), times(10, 10, 35)}}}, {1, {{times(40, 40, 50), times(50, 50, 60)}}}};
  const auto t = merge_rank_times(s, parts)[0];
  EXPECT_EQ(t.at({0, 1}).start, Time::ps(35 * us));
  EXPECT_EQ(t.at({1, 0}).start, Time::ps(40 * us));
}

TEST(RankTimeline, CollectiveMembersStartTogether) {
  // An all-gather over 3 ranks whose members were ready at 5, 20 and 12 us. Expected: all
  // three start at 20.
  Schedule s;
  s.programs.resize(3);
  for (int r = 0; r < 3; ++r) {
    s.programs[static_cast<std::size_t>(r)].rank = r;
    CollectiveOp c;
    c.kind = CollectiveKind::all_gather;
    c.group = {0, 1, 2};
    c.tag = "g";
    c.input = "in";
    c.output = "out";
    c.bytes_to = {Bytes(8), Bytes(8), Bytes(8)};
    s.programs[static_cast<std::size_t>(r)].ops.push_back(Op{c, comm_stream(0), {}, 0, "gather"});
  }
  std::vector<RankTimes> parts{{0, {{times(5, 5, 30)}}}, {1, {{times(20, 20, 30)}}}, {2, {{times(12, 12, 31)}}}};
  const auto t = merge_rank_times(s, parts)[0];
  for (int r = 0; r < 3; ++r) EXPECT_EQ(t.at({r, 0}).start, Time::ps(20 * us)) << r;
  EXPECT_EQ(t.makespan, Time::ps(31 * us));
}

TEST(RankTimeline, SlicesThatDoNotFitAreRefusedByName) {
  const Schedule s = two_rank_exchange();
  const RankTimes r0{0, {{times(0, 0, 10), times(10, 10, 50)}}};
  const RankTimes r1{1, {{times(25, 30, 50), times(50, 50, 60)}}};
  EXPECT_EQ(error_of(s, {r0}), "no op times from rank(s) 1");
  EXPECT_EQ(error_of(s, {r0, r0, r1}), "op times of rank 0 arrived twice");
  EXPECT_EQ(error_of(s, {r0, r1, RankTimes{2, {}}}), "op times of rank 2, but the schedule has ranks 0..1");
  RankTimes short1 = r1;
  short1.runs[0].pop_back();
  EXPECT_EQ(error_of(s, {r0, short1}), "rank 1 sent 1 op times in run 0; its program has 2 ops");
  RankTimes two_runs = r1;
  two_runs.runs.push_back(two_runs.runs[0]);
  EXPECT_EQ(error_of(s, {r0, two_runs}), "rank 1 sent 2 runs, rank 0 sent 1");
  EXPECT_THROW((void)slice_rank({Timeline{}}, 0), std::invalid_argument);
}

TEST(RankTimeline, BytesThatEncodeDidNotWriteAreRefused) {
  const RankTimes t{3, {{times(1, 2, 3), times(4, 5, 6)}, {times(7, 8, 9), times(10, 11, 12)}}};
  const std::string bytes = encode_rank_times(t);
  const RankTimes back = decode_rank_times(bytes);
  EXPECT_EQ(back.rank, 3);
  ASSERT_EQ(back.runs.size(), 2u);
  EXPECT_EQ(back.runs[1][1].end, Time::ps(12 * us));
  EXPECT_THROW((void)decode_rank_times(bytes.substr(0, bytes.size() - 1)), std::invalid_argument);
  EXPECT_THROW((void)decode_rank_times(bytes + "x"), std::invalid_argument);
  EXPECT_THROW((void)decode_rank_times("XTRX" + bytes.substr(4)), std::invalid_argument);
  std::string v2 = bytes;
  v2[7] = 2;  // format version 2
  try {
    (void)decode_rank_times(v2);
    ADD_FAILURE() << "version 2 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "op times: format version 2, this xattn reads 1");
  }
}

}  // namespace
}  // namespace xattn::gpu
