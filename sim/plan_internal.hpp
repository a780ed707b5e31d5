// What the planner's source files share (plan.cpp: the search; plan_explain.cpp: the
// explanation; plan_explore.cpp: maximize, the break-even map, mixed lengths). Not part of
// the library's interface: plan.hpp is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sim/plan.hpp"

namespace xattn::sim::plan_detail {

// A GPU count and a sequence-parallel degree: the mechanisms that can run there, their
// terms, and the ones the dominance prune keeps.
struct Branch {
  int gi = 0;  // index into Prepared::gpu_counts and ::bases
  int gpus = 0, sp = 0, dp = 0;
  bool valid = false;  // sp divides, no straddling, the global batch splits
  std::vector<Mechanism> cross, self;
  std::vector<AttentionTerms> cross_terms, self_terms;
  std::vector<int> cross_keep, self_keep;  // indices; cross_keep = {-1} for a model without cross-attention
};

// The request made concrete: the scenario with its overrides, one resolved Scenario per
// GPU count (cluster.nodes set, the layout left to the search), the branches.
struct Prepared {
  ScenarioSpec spec;                    // the file with the user's overrides and --gpus-per-node
  std::vector<std::string> base_set;    // those overrides, first in every `set`
  Scenario scenario;                    // spec resolved as written
  int per_node = 1;
  std::int64_t batch = 1, global_batch = 1;
  bool multimodal = false, paper = false;
  PlanObjective objective = PlanObjective::time;
  std::int64_t iterations = 1;
  std::optional<double> price;
  std::optional<double> max_time_s;
  int top = 5;
  std::vector<int> gpu_counts;
  std::vector<Scenario> bases;  // per GPU count
  std::vector<Sharding> shardings;
  std::vector<std::pair<Checkpointing, bool>> ck_rc;  // checkpointing x recompute, without duplicates
  std::vector<Branch> branches;
};

// One unit of work: a branch and one of its self-attention mechanisms.
struct Item {
  std::size_t branch = 0;
  int self = 0;
};

// What one worker, process or the whole search found.
struct Partial {
  PlanTally tally;
  std::vector<Plan> top;                             // best first
  std::map<int, Plan> fastest;                       // per GPU count
  std::map<std::pair<int, int>, Plan> per_mechanism; // best per cross mechanism (self for a decoder-only model)

  void offer(const Plan& plan, std::size_t top_k, PlanObjective o);
  void merge(const Partial& other, std::size_t top_k, PlanObjective o);
  [[nodiscard]] std::string serialize(bool cancelled) const;
  [[nodiscard]] static Partial deserialize(const std::string& bytes, std::size_t top_k, PlanObjective o, bool& cancelled);
};

std::vector<Mechanism> cross_candidates(int sp);
std::vector<Mechanism> self_candidates(int sp);
std::string bool_text(bool b);

Prepared prepare(const PlanRequest& r);
void price_branches(Prepared& p, bool prune, PlanTally& tally);
std::vector<Item> items_of(const Prepared& p);
// Evaluates this process's share of the items on threads; true when cancelled early.
bool run_items(const Prepared& p, const std::vector<Item>& items, const PlanOptions& o, Partial& out);
void set_layout(Scenario& s, const Branch& b, std::int64_t global_batch);
bool better(const Plan& a, const Plan& b, PlanObjective o);
bool faster(const Plan& a, const Plan& b);
std::pair<int, int> mechanism_key(const Mechanism& m);
std::vector<std::string> plan_set(const Prepared& p, const Plan& plan);
Plan make_plan(const Prepared& p, const Branch& b, const IterationEstimate& e, const PlanChoice& choice, const Scenario& s);
// The branch of a plan's GPU count and degree.
const Branch& branch_of(const Prepared& p, const Plan& plan);

// plan_explain.cpp
PlanExplanation explain(const Prepared& p, const Partial& all, const Plan& best);

}  // namespace xattn::sim::plan_detail
