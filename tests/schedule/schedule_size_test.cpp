// schedule_size (builders.hpp) against the builders themselves: the bound on one rank's
// ops must hold for every mechanism, pass, mask and P that builds, or a run the machine
// cannot hold would not be refused before it is built; and it must stay within a small
// factor of the truth (here 3x from P = 8 up), or runs that fit would be refused.
#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "model/schedule/builders.hpp"

namespace xattn {
namespace {

TEST(ScheduleSize, BoundsEveryBuilderAndStaysClose) {
  int checked = 0;
  for (const char* name : {"lv-xattn", "ring", "ulysses", "no-comm", "ring-zigzag", "ring-stripe", "startrail:c=2",
                           "startrail:c=4", "usp:u=2", "usp:u=4"}) {
    const Mechanism m = *parse_mechanism(name);
    for (Pass pass : {Pass::fwd, Pass::bwd, Pass::fwd_bwd})
      for (Mask mask : {Mask::dense, Mask::causal})
        for (int P : {1, 2, 3, 4, 8, 16, 32, 64}) {
          BuildOptions b;
          b.shape.heads = 64;
          b.shape.kv_heads = 64;
          b.shape.head_dim = 64;
          b.shape.q_tokens = 4096;
          b.shape.kv_tokens = 4096;
          b.shape.mask = mask;
          b.ranks = P;
          Schedule s;
          try {
            s = build_schedule(m, pass, b);
          } catch (const InfeasibleSchedule&) {
            continue;  // this mechanism cannot run this P or mask
          }
          std::size_t most = 0, all = 0;
          for (const Program& p : s.programs) {
            most = std::max(most, p.ops.size());
            all += p.ops.size();
          }
          const ScheduleSize z = schedule_size(m, pass, P);
          const std::string what = std::string(name) + " " + std::string(to_string(pass)) + " " +
                                   std::string(to_string(mask)) + " P=" + std::to_string(P);
          EXPECT_GE(z.ops_per_rank, static_cast<std::int64_t>(most)) << what;
          EXPECT_GE(z.ops, static_cast<std::int64_t>(all)) << what;
          ++checked;
        }
  }
  EXPECT_GT(checked, 300);  // the loops above did build schedules
}

TEST(ScheduleSize, CountsTheAllToAllsInFlight) {
  // Ulysses re-shards heads with one all-to-all over all P ranks: P(P-1) messages at once;
  // USP's all-to-alls run within groups of u: P(u-1); the ring family has none.
  EXPECT_EQ(schedule_size(*parse_mechanism("ulysses"), Pass::fwd, 1024).all_to_all_flows, 1024 * 1023);
  EXPECT_EQ(schedule_size(*parse_mechanism("usp:u=8"), Pass::fwd, 1024).all_to_all_flows, 1024 * 7);
  EXPECT_EQ(schedule_size(*parse_mechanism("ring"), Pass::fwd, 1024).all_to_all_flows, 0);
  // At the largest cluster xattn accepts (2^20 GPUs), a ring schedule has about 2^44 ops:
  // the count itself must not wrap.
  EXPECT_EQ(schedule_size(*parse_mechanism("ring"), Pass::fwd_bwd, 1 << 20).ops,
            std::int64_t{2} * (8 * (std::int64_t{1} << 20) + 16) * (std::int64_t{1} << 20));
}

}  // namespace
}  // namespace xattn
