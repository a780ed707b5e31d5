// `xattn verify` and `xattn schedule`, driven in-process on argument vectors.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/app.hpp"

namespace xattn::cli {
namespace {

struct CliRun {
  int code;
  std::string out, err;
};

CliRun run(std::vector<std::string> args) {
  args.insert(args.begin(), "xattn");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  int code = run_cli(static_cast<int>(argv.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

TEST(VerifyCommand, JsonReportsEveryTensorBelowTheTolerance) {
  // Expected: exit 0 and the five errors <= 1e-10 (the schedule is exact).
  CliRun r = run({"verify", "--mechanism", "startrail:c=2", "--ranks", "8", "--mask", "causal", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["mechanism"], "startrail:c=2");
  EXPECT_EQ(j["ranks"], 8);
  for (const char* t : {"O", "LSE", "dQ", "dK", "dV"}) EXPECT_LE(j["max_abs_error"][t].get<double>(), 1e-10) << t;
}

TEST(VerifyCommand, AMechanismThatCannotRunTheShapeIsBadInput) {
  // Ulysses over 3 ranks with 8 heads: 8 is not divisible by 3. Expected: exit 2 and why.
  CliRun r = run({"verify", "--mechanism", "ulysses", "--ranks", "3"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("divisible by 3"), std::string::npos) << r.err;
  EXPECT_EQ(run({"verify", "--mechanism", "nonsense"}).code, 2);
  EXPECT_EQ(run({"verify", "--mechanism", "no-comm"}).code, 2);
}

TEST(ScheduleCommand, PrintsOneRanksProgramAndItsChecks) {
  const std::string scenario = std::string(XATTN_SOURCE_DIR) + "/scenarios/llama32v-16xa100.yaml";
  CliRun r = run({"schedule", scenario, "--mechanism", "lv-xattn", "--rank", "3"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("# lv-xattn fwd, rank 3 of 16"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3/0"), std::string::npos);
  EXPECT_NE(r.out.find("send 'fwd.lv.q0' to rank 4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("static checks: ok"), std::string::npos);
  EXPECT_EQ(run({"schedule", scenario, "--mechanism", "ring", "--rank", "99"}).code, 2);
}

}  // namespace
}  // namespace xattn::cli
