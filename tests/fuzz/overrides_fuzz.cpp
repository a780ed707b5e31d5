// Fuzzes `--set KEY=VALUE` (model/scenario/scenario_file.hpp, apply_override): each line
// of the input is one assignment applied to the shipped scenario
// scenarios/llama32v-16xa100.yaml, which is then resolved and priced by the closed form
// for every mechanism and pass, one layer and the whole training step. This is the path
// of issue 15's section-2 findings (counts narrowed to 32 bits, products that wrapped):
// every value the reader accepts must give finite, non-negative figures.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <sstream>

#include "model/analytic.hpp"
#include "model/iteration.hpp"
#include "model/scenario/scenario_file.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace xattn;
  static const ScenarioSpec base = load_scenario_spec(fuzz::kSourceDir + "/scenarios/llama32v-16xa100.yaml");
  fuzz::refusals_allowed([&] {
    ScenarioSpec spec = base;
    std::istringstream lines(fuzz::text_of(data, size));
    int n = 0;
    for (std::string line; std::getline(lines, line) && n < 16; ++n) apply_override(spec, line);
    const Scenario s = resolve(spec);
    for (const Mechanism& m : s.mechanisms)
      for (Pass pass : {Pass::fwd, Pass::bwd, Pass::fwd_bwd}) {
        const Estimate e = estimate(s, m, pass);
        if (!e.feasible) continue;
        if (!(e.time.value() >= 0) || !std::isfinite(e.time.value()) || !(e.memory.total().value() >= 0) ||
            !std::isfinite(e.memory.total().value()))
          __builtin_trap();  // a figure that wrapped or overflowed
      }
    for (const IterationEstimate& e : estimate_iteration_all(s, {Pass::fwd_bwd})) {
      if (!e.feasible) continue;
      if (!(e.time.value() >= 0) || !std::isfinite(e.time.value()) || !(e.peak_memory.value() >= 0) ||
          !std::isfinite(e.peak_memory.value()))
        __builtin_trap();  // the training step's figures too
    }
  });
  return 0;
}
