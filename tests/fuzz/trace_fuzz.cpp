// Fuzzes the measured-trace reader as `xattn validate --measured` uses it
// (sim/validation.hpp, model/schedule/trace.hpp): the input is written to a file and
// validated against the shipped loopback scenario (scenarios/loopback-h100.yaml), so the
// whole path runs — JSON, metadata (mechanism, pass, P, the run's settings and
// overrides), the schedule rebuilt, every event matched to its op, the run simulated and
// compared.
#include <cstddef>
#include <cstdint>

#include "sim/validation.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace xattn;
  static const std::string scenario = fuzz::kSourceDir + "/scenarios/loopback-h100.yaml";
  const std::string path = fuzz::scratch_file("trace.json", fuzz::text_of(data, size));
  fuzz::refusals_allowed([&] {
    ValidationCase c;
    c.measured = path;
    c.scenario = scenario;
    (void)sim::validate_case(c, sim::ValidationOptions{});
  });
  return 0;
}
