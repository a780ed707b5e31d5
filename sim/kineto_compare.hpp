// The closed form's training step beside a measured one (issue 19, `xattn validate
// --measured-kineto`, docs/kineto.md §7): the step the scenario describes is estimated
// (model/iteration.hpp, forward, backward and the whole step) and put next to the step a
// profiler measured (model/measured_step.hpp, read from Kineto traces by model/calib/),
// phase by phase — forward and backward compute per layer kind, exposed communication,
// the optimizer, the step — with each phase's relative error and, for a phase one side
// cannot give, why.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model/iteration.hpp"
#include "model/measured_step.hpp"
#include "model/scenario.hpp"

namespace xattn::sim {

// One phase of the step. A phase is matched when both sides have it (measured > 0);
// error = predicted / measured - 1.
struct ComparedPhase {
  std::string phase;
  std::optional<double> measured_s;
  std::optional<double> predicted_s;
  std::string why;  // an unmatched phase: why one side has nothing to say
  [[nodiscard]] bool matched() const { return measured_s && predicted_s && *measured_s > 0; }
  [[nodiscard]] std::optional<double> error() const {
    if (!matched()) return std::nullopt;
    return *predicted_s / *measured_s - 1.0;
  }
};

struct StepComparison {
  std::string cross_attention;  // the mechanism estimated ("none" for a decoder-only model)
  std::string self_attention;
  std::int64_t micro_steps = 1;
  std::vector<ComparedPhase> rows;   // in the order of docs/kineto.md §7
  int matched = 0;
  double median_abs_error = 0;  // over the matched phases
  double max_abs_error = 0;
  std::string max_phase;        // the phase of the largest |error|
  std::vector<std::string> notes;
};

// Throws InputError when the scenario's step cannot be estimated (the mechanism cannot run
// the shape), naming the scenario file.
[[nodiscard]] StepComparison compare_step(const Scenario& s, const MeasuredStep& measured);

}  // namespace xattn::sim
