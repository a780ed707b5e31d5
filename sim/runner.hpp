// The runner: the one entry point the front ends call to evaluate a Scenario for one
// mechanism and pass with an engine — the closed form (model/analytic.hpp: microseconds),
// the event-driven simulator (the mechanism's Schedule built for the scenario and run on its
// cluster: link contention, listed machines, ranks out of step), or both side by side —
// and the figures they show: time, compute, exposed communication, memory and whether it
// fits; for the event engine also whether a link was shared, the busiest link and its
// utilisation, the events it took, and how far the closed form is from it.
//
// The event engine's result is an Estimate like the closed form's, so both can be reported
// alike: time, compute and exposed communication come from the Timeline; FLOPs and bytes
// per rank from the Schedule; memory is the closed form's (docs/model.md §8 — the
// simulator does not track buffers).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/analytic.hpp"
#include "model/iteration.hpp"
#include "model/scenario.hpp"
#include "model/schedule/schedule.hpp"
#include "model/schedule/timeline.hpp"
#include "sim/executor.hpp"
#include "sim/iteration_sim.hpp"

namespace xattn::sim {

// Which model produces the figures. `both` gives two evaluations, analytic then event.
enum class Engine { analytic, event, both };

[[nodiscard]] std::string_view to_string(Engine e);
// "analytic", "event" or "both"; nullopt for anything else.
[[nodiscard]] std::optional<Engine> parse_engine(std::string_view name);

// ---- the event engine alone ------------------------------------------------------------

struct EventResult {
  Estimate estimate;         // feasible = false (with the reason) when no schedule can be built
  bool link_shared = false;  // a link carried transfers of two GPU pairs at once: the closed form is blind to it
  Schedule schedule;         // what ran (empty when infeasible)
  Timeline timeline;
};

// Scenario -> Schedule -> Timeline -> Estimate, with the whole Schedule and Timeline (for
// traces and the dashboard's Gantt view).
[[nodiscard]] EventResult simulate_scenario(const Scenario& s, const Mechanism& m, Pass pass,
                                            const SimOptions& options = {});

// ---- what a run needs --------------------------------------------------------------------

// The memory the event engine needs for one run of `m` on `cluster`, from the schedule's
// size before it is built (model/schedule/builders.hpp, schedule_size): its ops, the
// simulator's records and the Timeline of each, the flows of its largest all-to-all, and
// the cluster's links (docs/limits.md, "Memory").
[[nodiscard]] double event_run_bytes(const Cluster& cluster, const Mechanism& m, Pass pass);
// Refuses a run that would not fit in `available` bytes (nullopt: what this process can
// still allocate): EnvironmentError, exit 3, naming the closed form as the alternative.
void check_event_run_fits(const Cluster& cluster, const Mechanism& m, Pass pass,
                          std::optional<std::uint64_t> available = std::nullopt);
// The same for a training step (evaluate_iteration, Engine::event). The step is streamed
// layer by layer, but each layer is held whole while it runs: its attention schedule (the
// cross-attention mechanism's, or the self-attention one's for a model without cross-
// attention) on each of the dp SP groups of sp ranks, with its Timeline. That alone is the
// least the run needs; a step that would not fit even that is refused before it is built.
void check_event_step_fits(const Scenario& s, const std::optional<Mechanism>& cross, Pass pass,
                           std::optional<std::uint64_t> available = std::nullopt);

// ---- one evaluation, any engine ----------------------------------------------------------

// What only the event engine knows about its run (the Timeline): whether a link carried
// transfers of two GPU pairs at once (contention the closed form cannot see), the link
// that was busiest, and how many events the run took.
struct EventStats {
  bool link_shared = false;
  std::string busiest_link;        // empty when no link carried anything
  double busiest_utilization = 0;  // its busy time / the makespan
  std::uint64_t events = 0;
};

// An event evaluation against the closed form's of the same mechanism and pass: the
// relative difference of their times, (event - analytic) / analytic, and what it says of
// the closed form: within 1% it agrees; above, it is optimistic (the simulator found the
// layer slower: shared links, ranks out of step); below, pessimistic.
struct EngineDifference {
  double time_diff_s = 0.0;
  double time_diff_rel = 0.0;
  std::string_view closed_form;  // "agrees", "optimistic", "pessimistic"
};

// One engine's answer for one mechanism and pass.
struct Evaluation {
  Engine engine = Engine::analytic;  // analytic or event, never both
  Estimate estimate;
  std::optional<EventStats> event;              // event evaluations that ran (feasible)
  std::optional<EngineDifference> vs_analytic;  // Engine::both: the event one, beside a feasible closed form
};

struct EvaluateOptions {
  SimOptions sim;              // the event engine's knobs (network model, jitter, straggler, ...)
  bool keep_timeline = false;  // keep the event run's Schedule and Timeline in the result
};

struct Evaluated {
  std::vector<Evaluation> evaluations;  // one per engine; Engine::both: analytic, then event
  // With keep_timeline, an event engine and a schedule that could be built: what ran, and when.
  Schedule schedule;
  Timeline timeline;
};

// Never throws for a mechanism that cannot run: its evaluations say feasible = false and
// why. Throws InputError naming the input responsible when the run is longer than the
// event engine's clock holds (ClockOverflow), EnvironmentError when it would not fit in
// memory, and sim::SimulationError only for a schedule that cannot run to the end (a
// builder's bug).
[[nodiscard]] Evaluated evaluate(const Scenario& s, const Mechanism& m, Pass pass, Engine engine,
                                 const EvaluateOptions& options = {});

// ---- one training step, any engine (docs/model.md §13, sim/iteration_sim.hpp) ------------

// What only the event engine knows about a step: EventStats, and the link that carried
// sequence-parallel and sharding traffic at once the longest (the contention the closed
// form cannot see, which `-e both` names as the cause where the engines differ), the
// point-to-point messages, the critical rank and where its time went, phase by phase.
struct StepStats {
  EventStats link;
  std::string mixed_link;   // empty when no link carried both kinds of traffic at once
  double mixed_share = 0;   // the time it did / the step's time
  std::uint64_t messages = 0, ops = 0;
  int segments = 0;
  int critical_rank = 0;
  std::vector<PhaseRow> phases;
};

struct IterationEvaluation {
  Engine engine = Engine::analytic;  // analytic or event, never both
  IterationEstimate estimate;
  std::optional<StepStats> event;               // event evaluations that ran (feasible)
  std::optional<EngineDifference> vs_analytic;  // Engine::both: the event one, beside a feasible closed form
};

struct IterationEvaluateOptions {
  SimOptions sim;
  std::vector<int> record_ranks;  // the event run keeps these ranks' ops and times (traces, Gantt)
};

struct IterationEvaluated {
  std::vector<IterationEvaluation> evaluations;  // Engine::both: analytic, then event
  // With record_ranks and an event run that could be built: the recorded ranks' ops (the
  // other ranks' programs empty) and their times.
  Schedule schedule;
  Timeline timeline;
};

// `cross`: the cross-attention mechanism (nullopt for a decoder-only model). Never throws
// for a set-up that cannot run (feasible = false and why); throws SimulationError only for
// a step that cannot run to the end.
[[nodiscard]] IterationEvaluated evaluate_iteration(const Scenario& s, const std::optional<Mechanism>& cross, Pass pass,
                                                    Engine engine, const IterationEvaluateOptions& options = {});

// The fastest feasible estimate that fits; -1 when none does. no-comm is the floor the
// ring family cannot beat, not a mechanism one can run: it is never the answer.
[[nodiscard]] int fastest_fitting(const std::vector<Estimate>& estimates);
// The same for whole training steps (estimate_iteration_all): the fastest feasible step
// whose whole step fits; a no-comm cross-attention excluded, a decoder-only step (no
// cross-attention) not.
[[nodiscard]] int fastest_fitting(const std::vector<IterationEstimate>& steps);

}  // namespace xattn::sim
