// The closed form (model/analytic, round_groups) against the Schedule's own summaries: for
// lv-xattn, ring and no-comm, in every round, the busiest rank's FLOPs, the most bytes a
// rank sends and the messages it sends must be the same numbers, and the total bytes per
// rank (rounds plus the exposed tail) must equal estimate().bytes_per_rank. Expected
// values: the schedule's (summarize), so that the two can never drift apart (issue 3).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "model/analytic.hpp"
#include "model/scenario.hpp"
#include "model/schedule/builders.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn {
namespace {

Scenario scenario(const std::vector<std::string>& overrides) {
  return load_scenario(std::string(XATTN_SOURCE_DIR) + "/scenarios/llama32v-16xa100.yaml", overrides);
}

void expect_same(const Scenario& sc, const char* mech, Pass pass) {
  SCOPED_TRACE(fmt::format("{} {} P={} S_q={} S_kv={} mask={}", mech, to_string(pass), sc.ranks(), sc.shape.q_tokens,
                           sc.shape.kv_tokens, to_string(sc.shape.mask)));
  const Mechanism m = *parse_mechanism(mech);
  BuildOptions b;
  b.shape = sc.shape;
  b.ranks = sc.ranks();
  b.accumulator_bytes = sc.accumulator_bytes();
  Schedule s = build_schedule(m, pass, b);
  ScheduleSummary sum = summarize(s, &sc.cluster);
  std::vector<RoundGroup> groups = round_groups(sc, m, pass);
  std::vector<RoundGroup> rounds;  // one entry per round
  for (const RoundGroup& g : groups)
    for (int i = 0; i < g.count; ++i) rounds.push_back(g);
  ASSERT_EQ(static_cast<int>(rounds.size()), sum.round_count);
  for (std::size_t t = 0; t < rounds.size(); ++t) {
    SCOPED_TRACE(fmt::format("round {}", t));
    EXPECT_NEAR(rounds[t].flops.value(), sum.rounds[t].flops.value(), 1e-9 * sum.rounds[t].flops.value());
    EXPECT_NEAR(rounds[t].bytes.value(), sum.rounds[t].bytes.value(), 1e-9 * sum.rounds[t].bytes.value() + 1e-9);
    EXPECT_EQ(rounds[t].messages, sum.rounds[t].messages);
  }
  Estimate e = estimate(sc, m, pass);
  EXPECT_NEAR(e.bytes_per_rank.value(), sum.max_bytes_sent().value(), 1e-9 * e.bytes_per_rank.value() + 1e-9);
  EXPECT_NEAR(e.flops_per_rank.value(), sum.max_flops().value(), 1e-9 * e.flops_per_rank.value());
}

TEST(ClosedForm, PerRoundFlopsBytesAndMessagesEqualTheSchedule) {
  // Token counts divisible by P: every block is ceil(S/P), as the closed form assumes.
  for (const auto& over : std::vector<std::vector<std::string>>{
           {},                                                         // 16 GPUs, 1008 x 1,229,568
           {"workload.frames=4", "workload.text_tokens=64"},           // small
           {"cluster.nodes=1", "cluster.gpus_per_node=1", "cluster.inter_node.nics_per_node=1"},  // P = 1
           {"workload.accumulator_dtype=fp32"},                        // fp32 accumulators travel
           {"cluster.nodes=2", "workload.frames=8", "workload.text_tokens=128"}}) {
    Scenario sc = scenario(over);
    for (const char* m : {"lv-xattn", "ring", "no-comm"})
      for (Pass p : {Pass::fwd, Pass::bwd}) expect_same(sc, m, p);
  }
}

// The mechanisms without round groups (all-to-all, StarTrail, USP) and the causal layouts:
// the closed form's bytes per rank (estimate) equal the most bytes a rank of the schedule
// sends, its rounds the schedule's (0 for all-to-all), and its FLOPs the busiest rank's.
// Both count a causal diagonal block of n tokens as n(n+1)/2 pairs; StarTrail's and USP's
// causal blocks mix several chunks, which the closed form counts as whole-block fractions,
// so for them the FLOPs agree within 1% rather than exactly.
TEST(ClosedForm, TotalBytesAndFlopsOfTheOtherMechanismsEqualTheSchedule) {
  struct Setup {
    std::vector<std::string> overrides;
    std::vector<const char*> mechanisms;
  };
  const std::vector<Setup> setups{
      {{}, {"ulysses", "usp:u=2", "usp:u=4", "startrail:c=1", "startrail:c=2", "startrail:c=4"}},
      {{"workload.accumulator_dtype=fp32"}, {"usp:u=2", "startrail:c=2", "startrail:c=4"}},
      {{"workload.mask=causal", "workload.frames=1", "workload.tokens_per_frame=1024", "workload.text_tokens=1024"},
       {"ring-zigzag", "ring-stripe", "ulysses", "usp:u=4", "startrail:c=2"}}};
  for (const Setup& su : setups) {
    Scenario sc = scenario(su.overrides);
    for (const char* name : su.mechanisms) {
      const Mechanism m = *parse_mechanism(name);
      for (Pass pass : {Pass::fwd, Pass::bwd}) {
        SCOPED_TRACE(fmt::format("{} {} mask={}", name, to_string(pass), to_string(sc.shape.mask)));
        Estimate e = estimate(sc, m, pass);
        ASSERT_TRUE(e.feasible) << e.reason;
        BuildOptions b;
        b.shape = sc.shape;
        b.ranks = sc.ranks();
        b.accumulator_bytes = sc.accumulator_bytes();
        ScheduleSummary sum = summarize(build_schedule(m, pass, b), &sc.cluster);
        EXPECT_NEAR(e.bytes_per_rank.value(), sum.max_bytes_sent().value(), 1e-9 * e.bytes_per_rank.value());
        EXPECT_EQ(e.rounds, sum.round_count);
        const bool mixed_chunks = m.kind == MechanismKind::startrail || m.kind == MechanismKind::usp;
        const double tolerance = sc.shape.mask == Mask::causal && mixed_chunks ? 1e-2 : 1e-9;
        EXPECT_NEAR(e.flops_per_rank.value(), sum.max_flops().value(), tolerance * e.flops_per_rank.value());
      }
    }
  }
}

// The zigzag layout's kernel calls (docs/model.md eq. 3c, 10): the closed form prices every
// round after the first as the slower of two half calls, which is what the Schedule tags:
// on ring position i, keys of an earlier position j < i as BlockCall::kv_first_half, of a
// later one as BlockCall::q_second_half, each with exactly half of the block's pairs;
// the diagonal block (j = i) and every block of the other layouts as one whole call.
TEST(ClosedForm, ZigzagStepsAreTaggedWithTheHalfCallTheClosedFormPrices) {
  Scenario sc = scenario({"workload.mask=causal", "workload.frames=1", "workload.tokens_per_frame=4096",
                          "workload.text_tokens=4096", "cluster.nodes=2"});
  for (const char* name : {"ring-zigzag", "ring-stripe", "ring"})
    for (Pass pass : {Pass::fwd, Pass::bwd}) {
      SCOPED_TRACE(fmt::format("{} {}", name, to_string(pass)));
      BuildOptions b;
      b.shape = sc.shape;
      b.ranks = sc.ranks();
      const Schedule s = build_schedule(*parse_mechanism(name), pass, b);
      int halves = 0;
      for (const auto& prog : s.programs)
        for (const Op& op : prog.ops) {
          const ComputeOp* c = op.compute();
          if (!c || (c->kind != ComputeKind::attention_forward && c->kind != ComputeKind::attention_backward)) continue;
          const BlockShape& blk = c->block;
          if (std::string(name) != "ring-zigzag" || blk.q_block == blk.kv_block) {
            EXPECT_EQ(c->call, BlockCall::whole);
            continue;
          }
          ++halves;
          EXPECT_EQ(c->call, blk.kv_block < blk.q_block ? BlockCall::kv_first_half : BlockCall::q_second_half);
          EXPECT_EQ(2 * blk.allowed_pairs, blk.q_rows * blk.kv_rows);
        }
      // P - 1 later rounds on each of the P ranks.
      if (std::string(name) == "ring-zigzag") {
        EXPECT_EQ(halves, sc.ranks() * (sc.ranks() - 1));
      }
    }
}

}  // namespace
}  // namespace xattn
