// Static checks: broken schedules are refused with the right message.
#include <gtest/gtest.h>

#include "model/schedule/builders.hpp"
#include "model/schedule/checks.hpp"

namespace xattn {
namespace {

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

}  // namespace
}  // namespace xattn
