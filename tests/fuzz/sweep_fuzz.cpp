// Fuzzes the sweep-file reader (model/scenario/sweep_file.hpp): YAML read as if it were
// scenarios/sweeps/fuzz.yaml (so `base: ../llama32v-16xa100.yaml` names a shipped
// scenario), ranges expanded, every grid value parsed; then the first points of the grid
// are set on the base and resolved, as the sweep engine's workers do.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "model/scenario/sweep_file.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace xattn;
  static const std::string source = fuzz::kSourceDir + "/scenarios/sweeps/fuzz.yaml";
  fuzz::refusals_allowed([&] {
    const SweepPlan plan = parse_sweep(fuzz::text_of(data, size), source);
    const std::size_t points = std::min<std::size_t>(plan.points(), 8);
    for (std::size_t p = 0; p < points; ++p) {
      ScenarioSpec spec = plan.base;
      const auto at = plan.coordinates(p);
      for (std::size_t a = 0; a < plan.axes.size(); ++a) plan.axes[a].field->set(spec, plan.axes[a].values[at[a]]);
      fuzz::refusals_allowed([&] { (void)resolve(spec); });  // a point may not resolve: a row with its problems
    }
  });
  return 0;
}
