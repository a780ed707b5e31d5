// The planner (issue 18; docs/plan.md): the fastest, cheapest or highest-throughput
// training set-up that fits, found by searching every GPU count (whole nodes), sequence-
// parallel degree and data-parallel replicas at the scenario's fixed global batch, every
// cross- and self-attention mechanism that can run, every sharding stage, checkpointing
// mode and LV-XAttn's recomputation, each evaluated with the closed form of one training
// step (model/iteration.hpp) on worker threads and, under mpirun, on several processes
// (process_group.hpp). Mechanisms that another mechanism beats in every term the step reads
// (model/iteration.hpp, AttentionTerms) are pruned: exact, because the step's time and
// memory never decrease in those terms.
//
// The answer is explained: the winner's largest terms, the runner-up and the best plan of
// each other mechanism with how much slower, the value of a workload or link figure at
// which another mechanism would overtake the winner (found by bisection), and what one
// node more or fewer saves and costs. Also here: the largest workload for which some plan
// fits (--maximize), the break-even map of the best cross-attention mechanism over two
// fields, and the best static plan against a per-length mechanism policy for a data set of
// mixed video lengths.
//
// Every plan carries `set`: the KEY=VALUE overrides that reproduce it with
// `xattn simulate SCENARIO --scope iteration --set ...`, exactly (the search evaluates the
// resolved Scenario those overrides give, field for field).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/core/error.hpp"
#include "model/core/units.hpp"
#include "model/iteration.hpp"
#include "model/mechanism.hpp"
#include "model/scenario/scenario_file.hpp"
#include "model/training.hpp"
#include "sim/process_group.hpp"

namespace xattn::sim {

// What "best" means (issue 18 §1): `time` the seconds of one step; `cost` GPU-hours per N
// steps (GPUs x step time x N / 3600, and money with a price per GPU-hour); `throughput`
// samples of the global batch per second per GPU. Cost and throughput rank plans alike
// (both are GPUs x step time); they are reported in their own units.
enum class PlanObjective { time, cost, throughput };
[[nodiscard]] std::string_view to_string(PlanObjective o);
[[nodiscard]] std::optional<PlanObjective> parse_plan_objective(std::string_view name);

// What the search varies. An empty list means every valid choice; a list given is checked
// (an unknown or impossible value is an InputError naming `option`).
struct PlanSpace {
  std::vector<int> gpus;                   // GPU counts, whole nodes; empty: one node up to the scenario's nodes
  std::optional<std::pair<int, int>> gpu_range;  // instead: every whole-node count from .first to .second GPUs
  std::vector<int> sp;                     // sequence-parallel degrees; empty: every one that divides
  std::vector<Mechanism> cross_attention;  // empty: lv-xattn, ring, ulysses, startrail:c=C, usp:u=U (every valid C, U)
  std::vector<Mechanism> self_attention;   // empty: ring-zigzag, ring-stripe, ring, ulysses, startrail:c=C, usp:u=U
  std::vector<Sharding> sharding;          // empty: none, zero1, zero2, zero3
  std::vector<Checkpointing> checkpointing;  // empty: none, after-attention, full
  std::vector<bool> recompute;             // empty: false, and true where it changes something (docs/plan.md)
};

struct PlanRequest {
  ScenarioSpec spec;                     // the scenario file as read, before the overrides below
  std::vector<std::string> overrides;    // the user's --set KEY=VALUE, first in every plan's `set`
  std::optional<int> gpus_per_node;      // --gpus-per-node: cluster.gpus_per_node for every plan
  PlanSpace space;
  PlanObjective objective = PlanObjective::time;
  std::optional<double> price_per_gpu_hour;  // USD; cost_usd when given
  std::int64_t iterations = 1;               // the steps GPU-hours and cost are counted for
  int top = 5;                               // plans listed, best first
  std::optional<double> max_time_s;          // plans whose step is slower are not candidates
};

// Threads, processes, pruning, progress.
struct PlanOptions {
  int jobs = 1;                  // worker threads per process (>= 1)
  bool prune = true;             // false: evaluate every feasible plan (benchmarks, brute-force tests)
  bool explain = true;           // compute the explanation (re-evaluations at rank 0)
  ProcessGroup* group = nullptr; // several processes (mpirun); null: this one alone
  std::function<void(std::size_t done, std::size_t total)> progress;  // optional, from the calling thread
  const std::atomic<bool>* cancel = nullptr;  // optional: stop early; the result says cancelled
};

// Identifies a plan in the enumeration order: ties between equal objectives go to the
// smaller, so the answer does not depend on threads, processes or evaluation order.
struct PlanChoice {
  int gpus = 0, sp = 0, cross = 0, self = 0, sharding = 0, checkpointing = 0, recompute = 0;
  friend auto operator<=>(const PlanChoice&, const PlanChoice&) = default;
};

// A plan re-run in the event engine (--confirm event; docs/plan.md, "Confirming in the event
// engine"): its step through its `set`, as `xattn simulate -e event --scope iteration` runs it.
struct PlanConfirmation {
  bool ran = false;       // the event engine ran the step to the end
  std::string error;      // otherwise why not: the engine's own message
  Seconds closed_form;    // the plan's time_s
  Seconds event;          // the event engine's step time
  double difference_s = 0;    // event - closed form
  double difference_rel = 0;  // (event - closed form) / closed form
  std::string verdict;        // the closed form "agrees", is "optimistic" or "pessimistic" (runner.hpp)
  std::string mixed_link;     // a link that carried sequence-parallel and sharding traffic at once, the longest
  double mixed_share = 0;     // the time it did / the step
};

struct Plan {
  PlanChoice choice;
  int gpus = 0, nodes = 0, sp = 0, dp = 0;
  std::int64_t global_batch = 0, micro_steps = 0;
  std::optional<Mechanism> cross_attention;  // nullopt: the model has none
  Mechanism self_attention;
  Sharding sharding = Sharding::zero3;
  Checkpointing checkpointing = Checkpointing::full;
  bool recompute = false;
  Seconds time;                     // one training step
  double gpu_hours = 0;             // gpus x time x iterations / 3600
  std::optional<double> cost_usd;   // gpu_hours x price, when priced
  double samples_per_s_per_gpu = 0; // global_batch / time / gpus
  double tokens_per_s = 0;
  double mfu = 0;
  Bytes peak_memory;
  bool fits = false;
  IterationBreakdown breakdown;
  std::vector<std::string> set;     // KEY=VALUE overrides that reproduce it (filled for the plans reported)
  std::optional<PlanConfirmation> event;  // with --confirm event (the top plans only)

  [[nodiscard]] std::string cross_attention_name() const { return cross_attention ? cross_attention->name() : "none"; }
};

// How many plans the search saw: considered = infeasible + pruned + evaluated.
struct PlanTally {
  std::uint64_t considered = 0;  // every combination of the space
  std::uint64_t infeasible = 0;  // a degree that does not divide, a batch that does not split, a mechanism that cannot run
  std::uint64_t pruned = 0;      // a mechanism another beats in every term (exact; docs/plan.md)
  std::uint64_t evaluated = 0;   // priced with the closed form
  std::uint64_t fitting = 0;     // evaluated and fits in memory
  std::uint64_t candidates = 0;  // fits and meets max_time_s
};

// One term of the winner's step.
struct PlanTerm {
  std::string part;  // a breakdown_s key: vision, cross_attention, sharding_comm_exposed, ...
  Seconds time;
  double share = 0;  // of the step
};

// The best plan with another mechanism, and how much worse it is by the objective.
struct PlanAlternative {
  std::string mechanism;
  Plan plan;
  double worse_by = 0;  // objective(plan) / objective(best) - 1
};

// The value of `field` at which `rival` would take over from the winner's mechanism at
// the winner's set-up, located by bisection to 1% (docs/plan.md, "What would flip it").
struct PlanFlip {
  std::string field;
  double now = 0;             // the field's value in the scenario
  std::string winner, rival;  // mechanism names
  bool found = false;         // a crossover within [low, high]
  double low = 0, high = 0;   // the values checked: now / 64 .. now x 64, less where the scenario stops resolving
  double at = 0;              // the crossover: rival is at least as fast here...
  double before = 0;          // ...and the winner faster here, within 1% of `at` (or the next whole number)
  bool rival_above = true;    // rival wins above `at` (false: below)
};

// The best plan with one node more or fewer than the winner's, and the change.
struct PlanNodeStep {
  Plan plan;
  double time_change = 0;       // its step time / the winner's - 1
  double gpu_hours_change = 0;  // its GPU-hours / the winner's - 1
};

struct PlanExplanation {
  std::vector<PlanTerm> dominant;               // the winner's largest terms, largest first
  // The nearest plan of the top ones that differs from the winner in more than the sharding
  // stage, when the nearest of all differs only in sharding and is within 0.1% (that one is
  // then `sharding_tie`: the same step, another memory footprint); otherwise the second plan.
  std::optional<Plan> runner_up;
  double runner_up_worse_by = 0;
  std::optional<Plan> sharding_tie;
  std::vector<PlanAlternative> alternatives;    // per other mechanism (cross; self for a decoder-only model), best first
  std::vector<PlanFlip> flips;
  std::optional<PlanNodeStep> fewer_nodes, more_nodes;
  std::vector<std::string> text;                // the sentences a person reads, computed from the above
};

struct PlanResult {
  bool root = true;        // false on the ranks other than 0 under MPI: nothing to report there
  int ranks = 1;
  bool cancelled = false;
  PlanObjective objective = PlanObjective::time;
  std::int64_t iterations = 1;
  std::optional<double> price_per_gpu_hour;
  std::optional<double> max_time_s;
  PlanTally tally;
  std::optional<Plan> best;
  std::vector<Plan> top;        // best first, at most request.top
  std::vector<Plan> frontier;   // step time against GPU-hours, no dominated point; GPU-hours ascending
  PlanExplanation explanation;  // of best
  bool confirmed = false;       // --confirm event: the top plans carry `event`
};

// The objective's value of a plan, smaller is better (cost and throughput: GPUs x time).
[[nodiscard]] double objective_key(const Plan& p, PlanObjective o);

// Runs the search. Throws InputError (naming the option) for a space with nothing in it,
// a bad value or an unresolvable scenario. With a process group, every rank must call it
// with the same request; only rank 0's result has the answer.
[[nodiscard]] PlanResult plan_search(const PlanRequest& request, const PlanOptions& options = {});

// The scenario a plan's `set` gives: the request's spec with the overrides applied,
// resolved (what `xattn simulate SCENARIO --set ...` evaluates).
[[nodiscard]] Scenario plan_scenario(const ScenarioSpec& spec, const std::vector<std::string>& set);

// ---- confirming in the event engine (--confirm event) -----------------------------------

// Re-runs each of result.top in the event engine (sim::evaluate_iteration, pass fwd+bwd) on
// the Scenario its `set` gives (plan_scenario(request.spec, plan.set)), `jobs` plans at a
// time; fills each plan's `event` (best's too) and adds to the explanation a sentence on how
// far the two engines differ and which plan the event engine puts first. A plan the event
// engine cannot run keeps its closed-form figures and says why in `event.error`. The order
// stays the closed form's: the search ranks plans with it, and the event figures are its
// check. Call on the root's result only (under MPI: rank 0).
void confirm_in_event_engine(const PlanRequest& request, PlanResult& result, int jobs = 1);

// ---- the largest workload that fits (--maximize) -----------------------------------------

struct MaximizeRequest {
  std::string field;                    // an integer scenario field, e.g. workload.frames
  std::int64_t bound = std::int64_t{1} << 40;  // the largest value tried
};

struct Maximized {
  std::string field;
  std::int64_t value = 0;  // some plan fits (and meets max_time_s) at value; none does at value + 1, or value is the bound
  bool at_bound = false;
  std::uint64_t searches = 0;  // plan searches run by the bisection
  PlanResult result;           // the search at `value` (its plans' `set` include FIELD=value)
};

// The largest value of the field for which some plan of the space fits (and meets
// max_time_s), by doubling then bisection; nullopt when no value from 1 up fits. Throws
// InputError naming --maximize for an unknown field, a field that is not an integer or one
// the search sets itself.
[[nodiscard]] std::optional<Maximized> maximize(const PlanRequest& request, const MaximizeRequest& what,
                                                const PlanOptions& options = {});

// ---- the break-even map -------------------------------------------------------------------

struct BreakEvenRequest {
  std::string field_x = "workload.text_tokens";
  std::string field_y = "workload.frames";
  std::optional<std::pair<double, double>> range_x, range_y;  // default: the scenario's value / 16 .. x 16
  int samples = 24;                                           // per axis, log-spaced
};

// A stretch of one column of the map where one mechanism is best.
struct BreakEvenSegment {
  double x = 0;
  double y_from = 0, y_to = 0;
  std::string best;  // a mechanism name, or "none fits"
};

// Where the best mechanism changes along y in a column, located by bisection to 1%.
struct BreakEvenBoundary {
  double x = 0;
  double y = 0;         // where `above` is best...
  double y_before = 0;  // ...and `below` here, within 1% of y (or the next whole number)
  std::string below, above;
};

struct BreakEvenMap {
  std::string field_x, field_y;
  double now_x = 0, now_y = 0;           // the scenario's own point
  std::vector<double> xs;                // the columns
  std::vector<std::string> mechanisms;   // those compared, in order
  std::vector<BreakEvenSegment> segments;
  std::vector<BreakEvenBoundary> boundaries;
  std::uint64_t evaluations = 0;
};

// The plane of two numeric fields split into regions by the fastest cross-attention
// mechanism that fits (self-attention for a decoder-only model) at the scenario's own
// set-up (the overrides applied): a log grid of columns, each cut where the best changes,
// the cut located by bisection to 1% of its value rather than read off the grid.
[[nodiscard]] BreakEvenMap break_even(const ScenarioSpec& spec, const std::vector<std::string>& overrides,
                                      const BreakEvenRequest& request, int jobs = 1);

// The map as CSV: FIELD_X,FIELD_Y_from,FIELD_Y_to,best, one row per segment.
[[nodiscard]] std::string break_even_csv(const BreakEvenMap& map);
// The map as an SVG picture: log axes, one colour per mechanism, the scenario's point.
[[nodiscard]] std::string break_even_svg(const BreakEvenMap& map);

// ---- mixed video lengths -----------------------------------------------------------------

struct LengthSample {
  std::int64_t frames = 0, text_tokens = 0;
};

// A data set's lengths: one sample per line, `frames,text_tokens`; a header line whose
// first cell is not a number, blank lines and lines starting with '#' are skipped. Throws
// InputError with the file, line and column for anything else.
[[nodiscard]] std::vector<LengthSample> load_lengths(const std::string& path);
[[nodiscard]] std::vector<LengthSample> parse_lengths(const std::string& text, const std::string& source);

struct LengthBucket {
  std::int64_t frames_from = 0, frames_to = 0;  // inclusive, over the samples in it
  std::int64_t text_from = 0, text_to = 0;
  std::string mechanism;
  std::uint64_t samples = 0;
  Seconds time;  // its share of the epoch
};

struct LengthPolicy {
  std::uint64_t samples = 0, shapes = 0;  // samples in the file, distinct (frames, text) among them
  std::uint64_t evaluations = 0;
  std::optional<Plan> static_plan;        // one set-up and one mechanism for every sample (priced at the longest)
  Seconds static_epoch;
  std::optional<Plan> policy_plan;        // the set-up of the best per-bucket policy (mechanism: the first bucket's)
  std::vector<LengthBucket> buckets;      // frames ascending
  Seconds policy_epoch;
  double gain = 0;                        // static_epoch / policy_epoch - 1
  std::vector<std::string> switchable;    // mechanisms a sample may switch between
};

// The best static plan against the best per-length policy for `samples` (docs/plan.md,
// "Mixed lengths"): the epoch is Σ over samples of the step time at that sample's shape /
// global_batch; a set-up must fit every sample. LV-XAttn, Ring and StarTrail start from and
// end in the same layout, so a policy may switch between them per sample at no cost.
[[nodiscard]] LengthPolicy length_policy(const PlanRequest& request, const std::vector<LengthSample>& samples,
                                         const PlanOptions& options = {});

}  // namespace xattn::sim
