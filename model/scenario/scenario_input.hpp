// Reading what a front end is given: a scenario file plus --set overrides, and mechanism
// and pass names — every problem collected and thrown together as one InputError. The
// command line, sweep files, validation and the dashboard all read their input this way.
#pragma once

#include <string>
#include <vector>

#include "model/mechanism.hpp"
#include "model/scenario.hpp"
#include "model/scenario/scenario_file.hpp"
#include "model/types.hpp"

namespace xattn {

// load_scenario_spec(path), then each "KEY=VALUE" with apply_override, in order. Throws
// InputError listing every bad override at once (or the file's own problems).
[[nodiscard]] ScenarioSpec load_spec_with_overrides(const std::string& path, const std::vector<std::string>& overrides);

// Applies each "KEY=VALUE"; throws one InputError with every bad one.
void apply_overrides(ScenarioSpec& spec, const std::vector<std::string>& overrides);

// Parses mechanism names given at `origin` (e.g. "--mechanism"); throws InputError naming
// every unknown one and listing mechanism_names().
[[nodiscard]] std::vector<Mechanism> parse_mechanisms(const std::vector<std::string>& names, const Origin& origin,
                                                      const std::string& field);

// "fwd", "bwd", "fwd+bwd"; throws InputError for anything else.
[[nodiscard]] std::vector<Pass> parse_passes(const std::vector<std::string>& names, const Origin& origin,
                                             const std::string& field);

}  // namespace xattn
