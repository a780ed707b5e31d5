// Reading what a command is given: the library's readers (a scenario file plus --set
// overrides, mechanism and pass names: model/scenario/scenario_input.hpp) and the help text
// every command's --set shares.
#pragma once

#include <string>

#include "model/scenario/scenario_input.hpp"

namespace xattn::cli {

// Help-text lines: a few --set examples and where to find every key.
[[nodiscard]] std::string set_option_help();

}  // namespace xattn::cli
