// The event engine at the level the CLI speaks: one mechanism and pass of a Scenario,
// built into its Schedule (model/schedule/builders.hpp) and simulated on the scenario's
// cluster. The result is an Estimate like the closed form's (engine "event"), so both can
// be reported side by side: time, compute and exposed communication come from the
// Timeline; FLOPs and bytes per rank from the Schedule; memory is the closed form's
// (docs/model.md §8 — the simulator does not track buffers).
#pragma once

#include <string>

#include "model/analytic.hpp"
#include "model/scenario.hpp"
#include "model/schedule/schedule.hpp"
#include "sim/executor.hpp"
#include "model/schedule/timeline.hpp"

namespace xattn::sim {

struct EventResult {
  Estimate estimate;         // feasible = false (with the reason) when no schedule can be built
  bool link_shared = false;  // a link carried transfers of two GPU pairs at once: the closed form is blind to it
  Schedule schedule;         // what ran (empty when infeasible)
  Timeline timeline;
};

[[nodiscard]] EventResult simulate_scenario(const Scenario& s, const Mechanism& m, Pass pass,
                                            const SimOptions& options = {});

}  // namespace xattn::sim
