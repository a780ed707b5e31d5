// Fuzzes the calibration-file reader (model/scenario/calibration_file.hpp): YAML with
// compute figures, a measured kernel table, link classes and protocol regimes, applied
// over the defaults, written back and read again: what the writer writes must read back.
#include <cstddef>
#include <cstdint>

#include "model/scenario/calibration_file.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace xattn;
  fuzz::refusals_allowed([&] {
    Calibration c;
    apply_calibration_text(c, fuzz::text_of(data, size), "fuzz-calibration.yaml");
    Calibration again;
    apply_calibration_text(again, calibration_to_yaml(c), "fuzz-calibration-written.yaml");
  });
  return 0;
}
