// Fuzzes the scenario reader (model/scenario/scenario_file.hpp): YAML text, with listed
// links and routes and model mappings, read as if it were scenarios/fuzz.yaml (so that a
// calibration file it names resolves as a shipped scenario's would), resolved against
// the presets, priced by the closed form (each mechanism's layer, and the whole training
// step), written back and read again. Any accepted scenario must resolve again from what
// to_yaml writes, and the closed form must run on it without undefined behaviour (the
// sanitizers watch).
#include <cstddef>
#include <cstdint>

#include "model/analytic.hpp"
#include "model/iteration.hpp"
#include "model/scenario/scenario_file.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace xattn;
  static const std::string source = fuzz::kSourceDir + "/scenarios/fuzz.yaml";
  fuzz::refusals_allowed([&] {
    const Scenario s = resolve(parse_scenario_spec(fuzz::text_of(data, size), source));
    for (const Mechanism& m : s.mechanisms) (void)estimate(s, m, Pass::fwd_bwd);
    (void)estimate_iteration_all(s, {Pass::fwd_bwd});
    const Scenario again = resolve(parse_scenario_spec(to_yaml(s), source));
    if (again.ranks() != s.ranks() || again.shape.q_tokens != s.shape.q_tokens ||
        again.shape.kv_tokens != s.shape.kv_tokens)
      __builtin_trap();  // the writer and the reader disagree
  });
  return 0;
}
