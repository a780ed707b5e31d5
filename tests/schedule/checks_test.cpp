// Static checks: every built schedule passes; broken schedules are refused with a message
// that names the problem and the op ("rank/index").
#include <gtest/gtest.h>

#include "model/schedule/builders.hpp"
#include "model/schedule/checks.hpp"

namespace xattn {
namespace {

bool mentions(const CheckResult& r, const std::string& what) {
  for (const std::string& p : r.problems)
    if (p.find(what) != std::string::npos) return true;
  return false;
}

TEST(Checks, EveryBuiltScheduleIsValid) {
  AttentionShape sh;
  sh.heads = 8;
  sh.kv_heads = 2;
  sh.q_tokens = 17;
  sh.kv_tokens = 23;
  BuildOptions o{sh, 8, 2, {}, 0};
  for (const char* m : {"lv-xattn", "ring", "ulysses", "no-comm", "startrail:c=2", "usp:u=2", "usp:u=4"})
    for (Pass p : {Pass::fwd, Pass::bwd, Pass::fwd_bwd}) {
      CheckResult r = check_schedule(build_schedule(*parse_mechanism(m), p, o));
      EXPECT_TRUE(r.ok()) << m << " " << to_string(p) << ":\n" << r.str();
    }
}

// A two-rank exchange written by hand (no dependency inference): each rank sends its
// buffer "a" to the other and receives the other's into `recv_into`.
Schedule exchange(bool grouped, const std::string& recv_into = "b") {
  Schedule s;
  s.programs.resize(2);
  s.inputs = {"a"};
  s.outputs = {"b"};
  for (int r = 0; r < 2; ++r) {
    Program& p = s.programs[static_cast<std::size_t>(r)];
    p.rank = r;
    const int g = grouped ? 0 : -1;
    SendOp snd;
    snd.peer = 1 - r;
    snd.tag = "x";
    snd.parts = {{"a", Bytes(64)}};
    snd.group = g;
    RecvOp rcv;
    rcv.peer = 1 - r;
    rcv.tag = "x";
    rcv.parts = {{recv_into, Bytes(64)}};
    rcv.group = g;
    p.ops.push_back(Op{snd, comm_stream(0), {}, 0, "send"});
    p.ops.push_back(Op{rcv, comm_stream(0), {}, 0, "recv"});
  }
  return s;
}

TEST(Checks, SendThenRecvOnOneStreamWithoutAGroupDeadlocks) {
  // Strict rendezvous on one in-order stream: both ranks wait in their send for a recv the
  // other has not posted yet. Expected: "deadlock", naming both blocked recvs.
  CheckResult r = check_schedule(exchange(false));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(mentions(r, "deadlock")) << r.str();
  EXPECT_TRUE(mentions(r, "0/1 (recv 'x' from 1)")) << r.str();
}

TEST(Checks, TheSameExchangePostedAsAGroupIsValid) {
  CheckResult r = check_schedule(exchange(true));
  EXPECT_TRUE(r.ok()) << r.str();
}

TEST(Checks, ReceivingIntoTheBufferBeingSentIsARace) {
  // Single buffering: the recv overwrites "a" while the send of the same group reads it.
  CheckResult r = check_schedule(exchange(true, "a"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(mentions(r, "overwrites buffer 'a' while 0/0 (send 'x' to 1) may still be reading it")) << r.str();
}

TEST(Checks, UnmatchedAndMismatchedTransfersAreNamed) {
  AttentionShape sh;
  sh.q_tokens = 7;
  sh.kv_tokens = 7;
  Schedule s = build_schedule(*parse_mechanism("ring"), Pass::fwd, BuildOptions{sh, 3, 1, {}, 0});
  // Rank 1's first op is the round-0 recv of the prefetch group (op 1): change its size.
  auto& recv = std::get<RecvOp>(s.programs[1].ops[1].body);
  recv.parts[0].size = Bytes(1);
  CheckResult r = check_schedule(s);
  EXPECT_TRUE(mentions(r, "size mismatch for tag 'fwd.ring.kv0' from 0 to 1")) << r.str();
  // Now a tag nobody sends.
  recv.tag = "nobody";
  r = check_schedule(s);
  EXPECT_TRUE(mentions(r, "1/1 (recv 'nobody' from 0) has no matching send")) << r.str();
  EXPECT_TRUE(mentions(r, "0/0 (send 'fwd.ring.kv0' to 1) has no matching recv on rank 1")) << r.str();
}

TEST(Checks, ACollectiveSomeMemberNeverPostsIsNamed) {
  AttentionShape sh;
  sh.heads = 4;
  sh.kv_heads = 4;
  sh.q_tokens = 8;
  sh.kv_tokens = 8;
  Schedule s = build_schedule(*parse_mechanism("ulysses"), Pass::fwd, BuildOptions{sh, 2, 1, {}, 0});
  std::get<CollectiveOp>(s.programs[1].ops[0].body).tag = "elsewhere";
  CheckResult r = check_schedule(s);
  EXPECT_TRUE(mentions(r, "collective 'fwd.usp.g0.q' (all_to_all over 2 ranks): rank 1 of its group never posts it"))
      << r.str();
}

TEST(Checks, ReadingABufferNobodyWroteIsNamed) {
  Schedule s;
  s.programs.resize(1);
  ComputeOp c;
  c.kind = ComputeKind::copy;
  c.src = "ghost";
  c.dst = "out";
  ProgramBuilder(s).compute(0, c, 0, "copy");
  CheckResult r = check_schedule(s);
  EXPECT_TRUE(mentions(r, "0/0 (copy) reads buffer 'ghost' of rank 0 before anything writes it")) << r.str();
}

TEST(Checks, ADependencyOnALaterOpIsRefused) {
  Schedule s = exchange(true);
  s.programs[0].ops[0].deps.push_back(1);
  CheckResult r = check_schedule(s);
  EXPECT_TRUE(mentions(r, "0/0 (send 'x' to 1) depends on 0/1, which is not an earlier op of rank 0")) << r.str();
}

TEST(Checks, AMissingOutputIsNamed) {
  Schedule s = exchange(true);
  s.outputs.push_back("o");  // nobody writes "o"
  CheckResult r = check_schedule(s);
  EXPECT_TRUE(mentions(r, "rank 0 never produces output 'o'")) << r.str();
}

TEST(Checks, ExecutionOrderRefusesABrokenScheduleWithAllItsProblems) {
  EXPECT_THROW((void)execution_order(exchange(false)), ScheduleError);
}

}  // namespace
}  // namespace xattn
