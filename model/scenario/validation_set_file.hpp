// Validation set files (`xattn validate --set-file SET.yaml`, docs/validation.md): which
// measured traces to check, with the scenario each run used and the calibration files to
// simulate it with. Reading them is a file format like any other scenario input; what a
// case is checked against is sim/validation's.
#pragma once

#include <string>
#include <vector>

namespace xattn {

// One measured trace, the scenario file its run used and the calibration files to
// simulate it with (empty: the scenario's own).
struct ValidationCase {
  std::string measured;
  std::string scenario;
  std::vector<std::string> calibrations;
};

// A set file (docs/validation.md): a YAML mapping with `cases:` (trace files, or mappings
// with measured/scenario/calibration) and an optional `scenario:` and `calibration:` for
// all of them; paths relative to the set file. `scenario`: the one to use where the file
// names none. Throws InputError naming the set file, line and field.
[[nodiscard]] std::vector<ValidationCase> read_validation_set(const std::string& path, const std::string& scenario);
// The same from the file's text already read; `path` names it and anchors relative paths.
[[nodiscard]] std::vector<ValidationCase> parse_validation_set(const std::string& text, const std::string& path,
                                                               const std::string& scenario);

}  // namespace xattn
