// SVG to PNG with Qt, for the command line's plots (issue 5: "a plot ... as SVG, and PNG if
// the GUI build is present"). Built only with the dashboard (XATTN_HAVE_GUI); the CLI calls
// it when `--plot` names a .png file. Works without a display: when no Qt application
// exists yet it makes a temporary one on the offscreen platform.
#pragma once

#include <string>

namespace xattn::gui {

// The PNG bytes of `svg` rendered `width_px` wide on white, or an empty string with
// `error` set (invalid SVG, nothing rendered).
[[nodiscard]] std::string svg_to_png(const std::string& svg, std::string& error, int width_px = 1600);

}  // namespace xattn::gui
