// Scenario files, --set overrides, mechanism and pass names: every problem collected
// (scenario_input.hpp).
#include "model/scenario/scenario_input.hpp"

#include <filesystem>

#include <fmt/format.h>

namespace xattn {

void apply_overrides(ScenarioSpec& spec, const std::vector<std::string>& overrides) {
  ProblemList problems;
  for (const auto& assignment : overrides) {
    problems.check([&] {
      if (assignment.find('=') == std::string::npos)
        throw InputError(Origin{"--set " + assignment}, assignment, "expected KEY=VALUE, e.g. workload.frames=384");
      apply_override(spec, assignment);
    });
  }
  problems.throw_if_any();
}

ScenarioSpec load_spec_with_overrides(const std::string& path, const std::vector<std::string>& overrides) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError(Origin{path}, "", std::filesystem::exists(path, ec) ? "not a regular file" : "no such file");
  ScenarioSpec spec = load_scenario_spec(path);
  apply_overrides(spec, overrides);
  return spec;
}

std::vector<Mechanism> parse_mechanisms(const std::vector<std::string>& names, const Origin& origin,
                                        const std::string& field) {
  std::vector<Mechanism> out;
  ProblemList problems;
  for (const auto& n : names) {
    if (auto m = parse_mechanism(n)) {
      out.push_back(*m);
    } else {
      problems.add(
          Problem{origin, field, fmt::format("unknown mechanism '{}' (known: {})", n, mechanism_names())});
    }
  }
  problems.throw_if_any();
  return out;
}

std::vector<Pass> parse_passes(const std::vector<std::string>& names, const Origin& origin, const std::string& field) {
  std::vector<Pass> out;
  ProblemList problems;
  for (const auto& n : names) {
    if (auto p = parse_pass(n)) {
      out.push_back(*p);
    } else {
      problems.add(Problem{origin, field, fmt::format("unknown pass '{}' (known: fwd, bwd, fwd+bwd)", n)});
    }
  }
  problems.throw_if_any();
  return out;
}

}  // namespace xattn
