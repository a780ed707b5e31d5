// Calibration files: the format `xattn calibrate` writes and scenarios name under
// `calibration:` (docs/calibration.md). Reading, merging and writing them.
#pragma once

#include <string>

#include "model/calibration.hpp"

namespace xattn {

// Calibration files: the format `xattn calibrate` writes (docs/calibration.md). A file
// sets only the keys it names; several files apply in order, later ones winning per key
// (a measured table replaces the earlier table's points of the same pass and head dim).
void apply_calibration_file(Calibration& c, const std::string& path);
// The same from text already read; `path` names it in errors and records it as a source.
void apply_calibration_text(Calibration& c, const std::string& text, const std::string& path);
[[nodiscard]] Calibration load_calibration(const std::string& path);  // defaults + one file
[[nodiscard]] std::string calibration_to_yaml(const Calibration& c);

// Only the `links:` part of a calibration (launch overheads and link classes), as
// `xattn calibrate nccl-tests` writes it: merging it into a scenario leaves the compute
// calibration of earlier files alone.
[[nodiscard]] std::string links_calibration_to_yaml(const Calibration& c);

}  // namespace xattn
