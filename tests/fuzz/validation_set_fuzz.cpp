// Fuzzes the validation set-file reader (model/scenario/validation_set_file.hpp, `xattn
// validate --set-file`): YAML read as if it were tests/data/h100-validation/fuzz.yaml, so
// that the cases it lists name the shipped traces.
#include <cstddef>
#include <cstdint>

#include "model/scenario/validation_set_file.hpp"
#include "tests/fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace xattn;
  static const std::string source = fuzz::kSourceDir + "/tests/data/h100-validation/fuzz.yaml";
  fuzz::refusals_allowed([&] { (void)parse_validation_set(fuzz::text_of(data, size), source, ""); });
  return 0;
}
