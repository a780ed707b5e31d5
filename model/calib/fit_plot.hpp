// The fit drawn for people: measured and fitted bus bandwidth against message size, one
// colour per log, as a standalone SVG document (`xattn calibrate nccl-tests --plot`).
#pragma once

#include <string>

#include "model/calib/link_fit.hpp"

namespace xattn {

[[nodiscard]] std::string fit_plot_svg(const LinkFit& fit);

}  // namespace xattn
