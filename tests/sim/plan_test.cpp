// The planner (sim/plan.hpp; docs/plan.md) against brute force: on small spaces the
// search's best and its fastest plan per GPU count equal the best over every combination
// of the space, enumerated here independently and evaluated through each combination's
// overrides (set, resolve, estimate_iteration: what `xattn simulate --scope iteration
// --set ...` evaluates); every reported plan's `set` reproduces its figures exactly; the
// frontier has no dominated point; pruning changes nothing but the count; the answer does
// not depend on threads or on how many processes share the work; --maximize returns a
// value that fits while value + 1 does not; the break-even map's cuts are where it says;
// the per-length policy is never slower than the static plan it can switch from; bad
// options name the option.
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "model/iteration.hpp"
#include "model/scenario/scenario_file.hpp"
#include "sim/plan.hpp"

namespace xattn::sim {
namespace {

const std::string kScenario = std::string(XATTN_SOURCE_DIR) + "/scenarios/llama32v-16xa100.yaml";

// The LV-XAttn paper's cluster (4 nodes x 4 A100-80GB) with 64 images, 1008 text tokens
// and a global batch of 4: plans of 4, 8 and 16 GPUs with up to 4 replicas.
PlanRequest small_request() {
  PlanRequest r;
  r.spec = load_scenario_spec(kScenario);
  r.overrides = {"workload.frames=64", "training.global_batch=4"};
  r.space.gpus = {4, 8, 16};
  return r;
}

// Every plan of the raw space, without any of the search's rules: each GPU count, each
// degree 1..GPUs, each mechanism name, each sharding, checkpointing and recompute, priced
// through its overrides when they resolve.
struct BruteForce {
  double best = INFINITY;
  std::map<int, double> fastest;  // per GPU count
  std::size_t resolved = 0, feasible = 0, fitting = 0;
};

std::vector<std::string> mechanism_names(int sp, bool cross) {
  std::vector<std::string> out = cross ? std::vector<std::string>{"lv-xattn", "ring", "ulysses"}
                                       : std::vector<std::string>{"ring", "ring-zigzag", "ring-stripe", "ulysses"};
  for (int c = 2; c <= sp; ++c)
    if (sp % (c * c) == 0) out.push_back("startrail:c=" + std::to_string(c));
  for (int u = 2; u < sp; ++u)
    if (sp % u == 0) out.push_back("usp:u=" + std::to_string(u));
  return out;
}

BruteForce brute_force(const PlanRequest& r, int per_node) {
  BruteForce out;
  ScenarioSpec spec = r.spec;
  for (const auto& o : r.overrides) apply_override(spec, o);
  const bool multimodal = resolve(spec).model.arch.multimodal();
  const std::int64_t global_batch = resolve(spec).training.global_batch;
  for (int g : r.space.gpus)
    for (int sp = 1; sp <= g; ++sp) {
      if (g % sp != 0) continue;
      const std::vector<std::string> crosses = multimodal ? mechanism_names(sp, true) : std::vector<std::string>{""};
      for (const auto& cross : crosses)
        for (const auto& self : mechanism_names(sp, false))
          for (const char* sharding : {"none", "zero1", "zero2", "zero3"})
            for (const char* ck : {"none", "after-attention", "full"})
              for (const char* rc : {"false", "true"}) {
                std::vector<std::string> set{"cluster.nodes=" + std::to_string(g / per_node),
                                             "training.sp=" + std::to_string(sp),
                                             "training.dp=" + std::to_string(g / sp),
                                             "training.global_batch=" + std::to_string(global_batch),
                                             "training.self_attention=" + self,
                                             std::string("training.sharding=") + sharding,
                                             std::string("training.checkpointing=") + ck,
                                             std::string("workload.recompute=") + rc};
                if (multimodal) set.push_back("mechanisms=" + cross);
                std::optional<Scenario> s;
                try {
                  s.emplace(plan_scenario(spec, set));
                } catch (const InputError&) {
                  continue;
                }
                ++out.resolved;
                const std::optional<Mechanism> m = multimodal ? std::optional(s->mechanisms.front()) : std::nullopt;
                const IterationEstimate e = estimate_iteration(*s, m, Pass::fwd_bwd);
                if (!e.feasible) continue;
                ++out.feasible;
                if (!e.fits) continue;
                ++out.fitting;
                out.best = std::min(out.best, e.time.value());
                auto [it, fresh] = out.fastest.emplace(g, e.time.value());
                if (!fresh) it->second = std::min(it->second, e.time.value());
              }
    }
  return out;
}

// What `xattn simulate SCENARIO --scope iteration --set ...` gives for a plan's `set`.
IterationEstimate through_set(const PlanRequest& r, const Plan& p) {
  const Scenario s = plan_scenario(r.spec, p.set);
  std::optional<Mechanism> cross;
  if (s.model.arch.multimodal()) cross = s.mechanisms.front();
  return estimate_iteration(s, cross, Pass::fwd_bwd);
}

void expect_reproduced(const PlanRequest& r, const Plan& p) {
  SCOPED_TRACE(::testing::Message() << p.gpus << " GPUs sp " << p.sp << " " << p.cross_attention_name() << " "
                                    << p.self_attention.name());
  ASSERT_FALSE(p.set.empty());
  const IterationEstimate e = through_set(r, p);
  ASSERT_TRUE(e.feasible) << e.reason;
  EXPECT_EQ(e.time.value(), p.time.value());
  EXPECT_EQ(e.peak_memory.value(), p.peak_memory.value());
  EXPECT_EQ(e.fits, p.fits);
  EXPECT_EQ(e.layout.sp, p.sp);
  EXPECT_EQ(e.layout.dp, p.dp);
  EXPECT_EQ(e.layout.gpus, p.gpus);
}

TEST(Plan, BestEqualsBruteForceOverTheWholeSpace) {
  const PlanRequest r = small_request();
  const BruteForce brute = brute_force(r, 4);
  ASSERT_GT(brute.fitting, 100u);
  PlanOptions o;
  o.jobs = 2;
  const PlanResult result = plan_search(r, o);
  ASSERT_TRUE(result.best);
  // The same number to the last bit: both priced the same resolved scenario.
  EXPECT_EQ(result.best->time.value(), brute.best);
  // The frontier's points are the fastest plans of their GPU counts.
  for (const Plan& f : result.frontier) EXPECT_EQ(f.time.value(), brute.fastest.at(f.gpus)) << f.gpus;
  // Every plan reported reproduces through its `set`.
  for (const Plan& p : result.top) expect_reproduced(r, p);
  for (const Plan& p : result.frontier) expect_reproduced(r, p);
  expect_reproduced(r, *result.best);
  // The counts add up; the pruned and infeasible plans were not evaluated.
  const PlanTally& t = result.tally;
  EXPECT_EQ(t.considered, t.infeasible + t.pruned + t.evaluated);
  EXPECT_GT(t.pruned, 0u);
  EXPECT_LE(t.fitting, t.evaluated);
}

TEST(Plan, DecoderOnlyBestEqualsBruteForce) {
  // Llama-3-8B at 16K tokens on 4 and 8 A100s, global batch 2: self-attention is the only
  // mechanism; recomputation of cross-attention does not exist.
  PlanRequest r = small_request();
  r.overrides = {"workload.model=llama-3-8b", "workload.frames=0", "workload.text_tokens=16384", "training.global_batch=2"};
  r.space.gpus = {4, 8};
  const BruteForce brute = brute_force(r, 4);
  ASSERT_GT(brute.fitting, 10u);
  const PlanResult result = plan_search(r);
  ASSERT_TRUE(result.best);
  EXPECT_EQ(result.best->time.value(), brute.best);
  EXPECT_FALSE(result.best->cross_attention);
  EXPECT_FALSE(result.best->recompute);
  for (const Plan& p : result.top) expect_reproduced(r, p);
}

TEST(Plan, PruningIsExact) {
  // With and without the dominance prune: the same best, top list and frontier; fewer
  // evaluations with it.
  const PlanRequest r = small_request();
  PlanOptions all;
  all.prune = false;
  const PlanResult every = plan_search(r, all);
  const PlanResult pruned = plan_search(r);
  ASSERT_TRUE(every.best && pruned.best);
  EXPECT_EQ(every.best->time.value(), pruned.best->time.value());
  EXPECT_EQ(every.tally.pruned, 0u);
  EXPECT_LT(pruned.tally.evaluated, every.tally.evaluated);
  EXPECT_EQ(every.tally.considered, pruned.tally.considered);
  ASSERT_EQ(every.frontier.size(), pruned.frontier.size());
  for (std::size_t i = 0; i < every.frontier.size(); ++i)
    EXPECT_EQ(every.frontier[i].time.value(), pruned.frontier[i].time.value());
}

TEST(Plan, TheFrontierHasNoDominatedPoint) {
  PlanRequest r = small_request();
  r.objective = PlanObjective::cost;
  r.price_per_gpu_hour = 2.5;
  r.iterations = 1000;
  const PlanResult result = plan_search(r);
  ASSERT_GE(result.frontier.size(), 1u);
  for (const Plan& a : result.frontier)
    for (const Plan& b : result.frontier) {
      if (&a == &b) continue;
      const bool dominated = b.time <= a.time && b.gpu_hours <= a.gpu_hours && (b.time < a.time || b.gpu_hours < a.gpu_hours);
      EXPECT_FALSE(dominated) << a.gpus << " GPUs is dominated by " << b.gpus;
    }
  // GPU-hours ascending, time descending; cost = GPU-hours x price; GPU-hours = GPUs x
  // time x 1000 steps / 3600.
  for (std::size_t i = 1; i < result.frontier.size(); ++i) {
    EXPECT_GT(result.frontier[i].gpu_hours, result.frontier[i - 1].gpu_hours);
    EXPECT_LT(result.frontier[i].time, result.frontier[i - 1].time);
  }
  const Plan& best = *result.best;
  EXPECT_DOUBLE_EQ(best.gpu_hours, best.gpus * best.time.value() * 1000 / 3600);
  ASSERT_TRUE(best.cost_usd);
  EXPECT_DOUBLE_EQ(*best.cost_usd, best.gpu_hours * 2.5);
  // The cheapest plan is on the frontier, at its cheap end.
  EXPECT_EQ(result.frontier.front().gpu_hours, best.gpu_hours);
  // Throughput ranks as cost does: samples per second per GPU = global batch / time / GPUs.
  r.objective = PlanObjective::throughput;
  const PlanResult tp = plan_search(r);
  EXPECT_EQ(tp.best->gpu_hours, best.gpu_hours);
  EXPECT_DOUBLE_EQ(tp.best->samples_per_s_per_gpu, 4.0 / tp.best->time.value() / tp.best->gpus);
}

TEST(Plan, TheAnswerDoesNotDependOnThreads) {
  const PlanRequest r = small_request();
  PlanOptions one, four;
  four.jobs = 4;
  const PlanResult a = plan_search(r, one), b = plan_search(r, four);
  ASSERT_EQ(a.top.size(), b.top.size());
  for (std::size_t i = 0; i < a.top.size(); ++i) {
    EXPECT_EQ(a.top[i].choice, b.top[i].choice);
    EXPECT_EQ(a.top[i].set, b.top[i].set);
  }
  EXPECT_EQ(a.tally.evaluated, b.tally.evaluated);
  EXPECT_EQ(a.explanation.text, b.explanation.text);
}

// Ranks in one process: each gather sends to a shared mailbox; the ranks other than 0 run
// first, then rank 0 collects, as MPI would deliver.
struct Mailbox {
  std::map<int, std::vector<std::string>> to;  // by destination rank
};

class FakeGroup final : public ProcessGroup {
 public:
  FakeGroup(int rank, int size, Mailbox& box) : ProcessGroup(rank, size), box_(box) {}
  std::string describe() const override { return "fake"; }
  void send(int, std::string_view bytes) override { box_.to[0].emplace_back(bytes); }
  std::string receive(int) override {
    auto& q = box_.to[0];
    std::string front = q.front();
    q.erase(q.begin());
    return front;
  }
  std::vector<std::string> gather(std::string_view mine) override {
    if (rank() != 0) {
      send(0, mine);
      return {};
    }
    std::vector<std::string> all{std::string(mine)};
    for (auto& m : box_.to[0]) all.push_back(m);
    box_.to[0].clear();
    return all;
  }

 private:
  Mailbox& box_;
};

TEST(Plan, SharedAmongProcessesTheAnswerIsTheSame) {
  const PlanRequest r = small_request();
  const PlanResult single = plan_search(r);
  Mailbox box;
  std::vector<std::unique_ptr<FakeGroup>> groups;
  for (int rank = 0; rank < 3; ++rank) groups.push_back(std::make_unique<FakeGroup>(rank, 3, box));
  for (int rank : {1, 2}) {
    PlanOptions o;
    o.group = groups[static_cast<std::size_t>(rank)].get();
    EXPECT_FALSE(plan_search(r, o).root);
  }
  PlanOptions o;
  o.group = groups[0].get();
  const PlanResult shared = plan_search(r, o);
  ASSERT_TRUE(shared.root);
  EXPECT_EQ(shared.ranks, 3);
  EXPECT_EQ(shared.tally.considered, single.tally.considered);
  EXPECT_EQ(shared.tally.evaluated, single.tally.evaluated);
  EXPECT_EQ(shared.tally.fitting, single.tally.fitting);
  ASSERT_EQ(shared.top.size(), single.top.size());
  for (std::size_t i = 0; i < single.top.size(); ++i) {
    EXPECT_EQ(shared.top[i].choice, single.top[i].choice);
    EXPECT_EQ(shared.top[i].time.value(), single.top[i].time.value());
    EXPECT_EQ(shared.top[i].set, single.top[i].set);
  }
  ASSERT_EQ(shared.frontier.size(), single.frontier.size());
  EXPECT_EQ(shared.explanation.text, single.explanation.text);
}

TEST(Plan, TheExplanationIsComputed) {
  const PlanRequest r = small_request();
  const PlanResult result = plan_search(r);
  const PlanExplanation& x = result.explanation;
  ASSERT_FALSE(x.dominant.empty());
  // The dominant terms are the largest parts of the winner's breakdown, largest first.
  double sum = 0;
  for (const PlanTerm& t : x.dominant) sum += t.share;
  EXPECT_LE(sum, 1.0 + 1e-12);
  for (std::size_t i = 1; i < x.dominant.size(); ++i) EXPECT_GE(x.dominant[i - 1].time, x.dominant[i].time);
  // The runner-up: the second plan, unless that one differs from the best only in its
  // sharding stage and is within 0.1% (here: ZeRO-2 beside ZeRO-1, the same step); then that
  // one is the tie and the runner-up is the first of the top plans that differs in more.
  ASSERT_TRUE(x.runner_up);
  EXPECT_GE(x.runner_up_worse_by, 0.0);
  const Plan& second = result.top[1];
  auto sharding_only = [&](const Plan& q) {
    const Plan& b = *result.best;
    return q.gpus == b.gpus && q.sp == b.sp && q.cross_attention == b.cross_attention &&
           q.self_attention == b.self_attention && q.checkpointing == b.checkpointing && q.recompute == b.recompute;
  };
  ASSERT_TRUE(sharding_only(second) && second.time.value() <= 1.001 * result.best->time.value())
      << "the premise of this check: the space's second plan is a sharding-only tie";
  ASSERT_TRUE(x.sharding_tie);
  EXPECT_EQ(x.sharding_tie->choice, second.choice);
  EXPECT_FALSE(sharding_only(*x.runner_up));
  for (const Plan& q : result.top) {
    if (q.choice == x.runner_up->choice) break;
    EXPECT_TRUE(q.choice == result.best->choice || sharding_only(q));  // nothing nearer differs in more
  }
  EXPECT_NEAR(x.runner_up_worse_by, x.runner_up->time.value() / result.best->time.value() - 1.0, 1e-12);
  // Alternatives: one per other mechanism, each no better than the best, best first.
  for (std::size_t i = 0; i < x.alternatives.size(); ++i) {
    EXPECT_GE(x.alternatives[i].worse_by, 0.0);
    EXPECT_NE(x.alternatives[i].mechanism, result.best->cross_attention_name());
    if (i > 0) {
      EXPECT_GE(x.alternatives[i].worse_by, x.alternatives[i - 1].worse_by);
    }
    expect_reproduced(r, x.alternatives[i].plan);
  }
  // A flip that was found holds: at its value the rival is at least as fast as the winner
  // at the winner's set-up, and on the other side of 1% it is not.
  for (const PlanFlip& f : x.flips) {
    if (!f.found) continue;
    const Field* field = find_field(f.field);
    auto at = [&](double v, const std::string& m) {
      std::vector<std::string> set = result.best->set;
      set.back() = "mechanisms=" + m;
      set.push_back(f.field + "=" + (field->type == FieldType::integer ? std::to_string(std::llround(v)) : fmt::format("{}", v)));
      const Scenario s = plan_scenario(r.spec, set);
      return estimate_iteration(s, s.mechanisms.front(), Pass::fwd_bwd).time.value();
    };
    SCOPED_TRACE(f.field);
    EXPECT_LE(at(f.at, f.rival), at(f.at, f.winner));
    EXPECT_GT(at(f.before, f.rival), at(f.before, f.winner));
    const bool integer = field->type == FieldType::integer;
    EXPECT_TRUE(std::abs(f.at / f.before - 1) <= 0.01 || (integer && std::abs(f.at - f.before) <= 1)) << f.before << " " << f.at;
  }
  EXPECT_GE(x.text.size(), 3u);
}

TEST(Plan, MaximizeFindsTheLargestFrameCountThatFits) {
  // 16 GPUs only, one replica: the most images of 6404 tokens some plan fits.
  PlanRequest r = small_request();
  r.overrides = {"training.global_batch=1"};
  r.space.gpus = {16};
  const auto m = maximize(r, MaximizeRequest{"workload.frames", 1 << 20});
  ASSERT_TRUE(m);
  ASSERT_FALSE(m->at_bound);
  ASSERT_TRUE(m->result.best);
  EXPECT_EQ(m->field, "workload.frames");
  // value fits; value + 1 does not, by a search of its own.
  PlanRequest above = r;
  above.overrides.push_back("workload.frames=" + std::to_string(m->value + 1));
  EXPECT_FALSE(plan_search(above).best) << m->value + 1;
  // The plan's `set` carries the value and reproduces the plan.
  EXPECT_NE(std::find(m->result.best->set.begin(), m->result.best->set.end(),
                      "workload.frames=" + std::to_string(m->value)),
            m->result.best->set.end());
  expect_reproduced(r, *m->result.best);
  // With a time limit, fewer frames.
  r.max_time_s = m->result.best->time.value() / 2;
  const auto limited = maximize(r, MaximizeRequest{"workload.frames", 1 << 20});
  ASSERT_TRUE(limited);
  EXPECT_LT(limited->value, m->value);
  EXPECT_LE(limited->result.best->time.value(), *r.max_time_s);
}

TEST(Plan, MaximizeStopsAtTheBound) {
  PlanRequest r = small_request();
  r.space.gpus = {16};
  const auto m = maximize(r, MaximizeRequest{"workload.text_tokens", 100});
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->at_bound);
  EXPECT_EQ(m->value, 100);
}

TEST(Plan, BadOptionsNameTheOption) {
  auto option_of = [](const auto& call) {
    try {
      call();
    } catch (const InputError& e) {
      return e.problems().front().field;
    }
    return std::string("(no error)");
  };
  PlanRequest r = small_request();
  PlanRequest bad = r;
  bad.price_per_gpu_hour = -1;
  EXPECT_EQ(option_of([&] { (void)plan_search(bad); }), "--price-per-gpu-hour");
  bad = r;
  bad.space.gpus = {6};
  EXPECT_EQ(option_of([&] { (void)plan_search(bad); }), "--gpus");
  bad = r;
  bad.space.sp = {3};  // divides no GPU count: nothing to run
  EXPECT_EQ(option_of([&] { (void)plan_search(bad); }), "--sp");
  bad = r;
  bad.top = 0;
  EXPECT_EQ(option_of([&] { (void)plan_search(bad); }), "--top");
  EXPECT_EQ(option_of([&] { (void)maximize(r, MaximizeRequest{"workload.no_such_field"}); }), "--maximize");
  EXPECT_EQ(option_of([&] { (void)maximize(r, MaximizeRequest{"workload.dtype"}); }), "--maximize");
  EXPECT_EQ(option_of([&] { (void)maximize(r, MaximizeRequest{"training.sp"}); }), "--maximize");
  // A price with the time objective is fine.
  PlanRequest priced = r;
  priced.price_per_gpu_hour = 3.0;
  EXPECT_TRUE(plan_search(priced).best->cost_usd);
}

TEST(Plan, BreakEvenCutsAreWhereTheMapSaysWithinOnePercent) {
  ScenarioSpec spec = load_scenario_spec(kScenario);
  BreakEvenRequest req;
  req.range_x = std::pair{64.0, 65536.0};
  req.range_y = std::pair{2.0, 512.0};
  req.samples = 6;
  const BreakEvenMap map = break_even(spec, {}, req, 2);
  ASSERT_EQ(map.xs.size(), 6u);
  ASSERT_FALSE(map.segments.empty());
  // Each column is covered from the bottom of the range to the top without gaps.
  for (double x : map.xs) {
    double y = 2.0;
    for (const auto& s : map.segments)
      if (s.x == x) {
        EXPECT_EQ(s.y_from, y);
        y = s.y_to;
      }
    EXPECT_EQ(y, 512.0);
  }
  // Each cut: the mechanism above is the fastest that fits at the cut, the one below just
  // under it (1% down, rounded to whole frames).
  auto best_at = [&](double x, double y) {
    ScenarioSpec at = spec;
    apply_override(at, "workload.text_tokens=" + std::to_string(std::llround(x)));
    apply_override(at, "workload.frames=" + std::to_string(std::llround(y)));
    const Scenario s = resolve(at);
    std::string best = "none fits";
    double t = INFINITY;
    for (const auto& name : map.mechanisms) {
      const IterationEstimate e = estimate_iteration(s, parse_mechanism(name), Pass::fwd_bwd);
      if (e.feasible && e.fits && e.time.value() < t) {
        t = e.time.value();
        best = name;
      }
    }
    return best;
  };
  ASSERT_FALSE(map.boundaries.empty()) << "the range spans no change of mechanism";
  for (const auto& b : map.boundaries) {
    EXPECT_EQ(best_at(b.x, b.y), b.above) << b.x << "," << b.y;
    EXPECT_EQ(best_at(b.x, b.y_before), b.below) << b.x << "," << b.y_before;
    EXPECT_TRUE(b.y / b.y_before - 1 <= 0.01 || b.y - b.y_before <= 1) << b.y_before << " " << b.y;
  }
  const std::string csv = break_even_csv(map);
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "workload.text_tokens,workload.frames_from,workload.frames_to,best");
  const std::string svg = break_even_svg(map);
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
}

TEST(Plan, LengthsParseWithFileLineAndColumn) {
  const auto ok = parse_lengths("frames,text_tokens\n# a comment\n12, 512\n\n48,1024\n", "d.csv");
  ASSERT_EQ(ok.size(), 2u);
  EXPECT_EQ(ok[1].frames, 48);
  EXPECT_EQ(ok[1].text_tokens, 1024);
  try {
    (void)parse_lengths("12,512\n12;512\nx,5\n", "d.csv");
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    ASSERT_EQ(e.problems().size(), 2u);
    EXPECT_EQ(e.problems()[0].origin.line, 2);
    EXPECT_EQ(e.problems()[1].origin.line, 3);
    EXPECT_EQ(e.problems()[1].field, "frames");
  }
}

TEST(Plan, APerLengthPolicyIsNeverSlowerThanItsStaticPlan) {
  // Short and long videos on 16 GPUs: the epoch under the policy is the sum over samples of
  // step time / global batch, and switching per bucket between LV-XAttn, Ring and
  // StarTrail is never slower than keeping one of them.
  PlanRequest r = small_request();
  r.overrides = {"training.global_batch=1"};
  r.space.gpus = {16};
  r.space.sharding = {Sharding::zero3};
  r.space.checkpointing = {Checkpointing::full};
  std::vector<LengthSample> samples;
  for (int i = 0; i < 6; ++i) samples.push_back({4, 8192});
  for (int i = 0; i < 3; ++i) samples.push_back({96, 1024});
  samples.push_back({192, 1008});
  const LengthPolicy p = length_policy(r, samples);
  EXPECT_EQ(p.samples, 10u);
  EXPECT_EQ(p.shapes, 3u);
  ASSERT_TRUE(p.static_plan && p.policy_plan);
  EXPECT_GT(p.policy_epoch.value(), 0.0);
  double bucket_sum = 0;
  std::uint64_t bucket_samples = 0;
  for (const auto& b : p.buckets) {
    bucket_sum += b.time.value();
    bucket_samples += b.samples;
  }
  EXPECT_NEAR(bucket_sum, p.policy_epoch.value(), 1e-12 * p.policy_epoch.value());
  EXPECT_EQ(bucket_samples, 10u);
  const std::string m = p.static_plan->cross_attention_name();
  if (m == "lv-xattn" || m == "ring" || m.starts_with("startrail")) {
    EXPECT_LE(p.policy_epoch.value(), p.static_epoch.value());
  }
  // The static epoch is Σ step time x samples / global batch at the static set-up.
  double epoch = 0;
  for (const auto& [frames, text, n] : {std::tuple{4, 8192, 6}, std::tuple{96, 1024, 3}, std::tuple{192, 1008, 1}}) {
    std::vector<std::string> set = p.static_plan->set;
    set.push_back("workload.frames=" + std::to_string(frames));
    set.push_back("workload.text_tokens=" + std::to_string(text));
    const Scenario s = plan_scenario(r.spec, set);
    epoch += n * estimate_iteration(s, s.mechanisms.front(), Pass::fwd_bwd).time.value();
  }
  EXPECT_NEAR(epoch, p.static_epoch.value(), 1e-12 * epoch);
}

TEST(ProcessGroup, LaunchersAreReadFromTheEnvironment) {
  auto env = [](std::map<std::string, std::string> vars) {
    return [vars](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  };
  EXPECT_EQ(launched_ranks(env({})), 1);
  EXPECT_EQ(launched_ranks(env({{"OMPI_COMM_WORLD_SIZE", "3"}})), 3);
  EXPECT_EQ(launched_ranks(env({{"PMI_SIZE", "4"}})), 4);
  EXPECT_EQ(launched_ranks(env({{"PMI_SIZE", "four"}})), 1);
  EXPECT_NE(without_mpi_message(3).find("MPI"), std::string::npos);
  EXPECT_NE(without_mpi_message(3).find("3 ranks"), std::string::npos);
  const auto alone = single_process();
  EXPECT_EQ(alone->size(), 1);
  EXPECT_EQ(alone->gather("x"), std::vector<std::string>{"x"});
}

TEST(ProcessGroup, OrderedGatherWritesChunksInOrder) {
  // Three ranks, seven chunks dealt round-robin: rank 0 writes 0..6 in order whatever the
  // peers sent first.
  Mailbox box;
  FakeGroup r1(1, 3, box), r2(2, 3, box), r0(0, 3, box);
  // The fake's receive ignores the sender: post the peers' chunks in the order rank 0
  // will ask for them (1, 2, 4, 5), as MPI's per-pair ordering guarantees for real ranks.
  std::vector<std::string> written;
  OrderedGather g1(r1, 7, nullptr), g2(r2, 7, nullptr);
  g1.put(1, "c1");
  g2.put(2, "c2");
  g1.put(4, "c4");
  g2.put(5, "c5");
  OrderedGather g0(r0, 7, [&](std::string_view b) { written.emplace_back(b); });
  for (std::size_t c : {0u, 3u, 6u}) {
    ASSERT_TRUE(g0.mine(c));
    g0.put(c, fmt::format("c{}", c));
  }
  g0.finish();
  EXPECT_EQ(written, (std::vector<std::string>{"c0", "c1", "c2", "c3", "c4", "c5", "c6"}));
}

}  // namespace
}  // namespace xattn::sim
