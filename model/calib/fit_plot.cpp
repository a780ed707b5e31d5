// The fit's SVG plot (fit_plot.hpp): bus bandwidth on a linear axis against size on a
// log2 axis, measured rows as dots and the fitted model as one line per log.
#include "model/calib/fit_plot.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

#include <fmt/format.h>

namespace xattn {

std::string fit_plot_svg(const LinkFit& fit) {
  constexpr double W = 960, H = 560, left = 70, right = 300, top = 40, bottom = 60;
  const double pw = W - left - right, ph = H - top - bottom;
  double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin, ymax = 1;
  for (const auto& r : fit.rows) {
    xmin = std::min(xmin, std::log2(r.size.value()));
    xmax = std::max(xmax, std::log2(r.size.value()));
    ymax = std::max({ymax, r.measured_busbw_GBps, r.fitted_busbw_GBps});
  }
  if (!std::isfinite(xmin)) {
    xmin = 3;
    xmax = 30;
  }
  if (xmax <= xmin) xmax = xmin + 1;
  // A round upper limit: 1, 2 or 5 times a power of ten.
  double step = std::pow(10.0, std::floor(std::log10(ymax / 5)));
  for (double k : {1.0, 2.0, 5.0, 10.0})
    if (ymax / (k * step) <= 6) {
      step *= k;
      break;
    }
  ymax = std::ceil(ymax * 1.05 / step) * step;
  auto px = [&](double bytes) { return left + (std::log2(bytes) - xmin) / (xmax - xmin) * pw; };
  auto py = [&](double gbps) { return top + ph - gbps / ymax * ph; };
  static const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"};

  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"22\" font-size=\"15\">nccl-tests: measured (dots) vs fitted (lines) bus bandwidth</text>\n",
      W, H, left);
  for (double y = 0; y <= ymax + 1e-9; y += step) {
    s += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>\n", left, py(y),
                     left + pw, py(y));
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{:g}</text>\n", left - 6, py(y) + 4, y);
  }
  for (int e = static_cast<int>(std::ceil(xmin)); e <= static_cast<int>(std::floor(xmax)); ++e) {
    if (e % 4 != 0) continue;
    double b = std::ldexp(1.0, e);
    s += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#eee\"/>\n", px(b), top,
                     top + ph);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", px(b), top + ph + 18,
                     size_text(b));
  }
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n", left, top,
                   pw, ph);
  s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">message size (nccl-tests size, bytes)</text>\n",
                   left + pw / 2, H - 18);
  s += fmt::format(
      "<text x=\"18\" y=\"{:.1f}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {:.1f})\">bus bandwidth (GB/s)</text>\n",
      top + ph / 2, top + ph / 2);
  int shown = 0;
  for (std::size_t li = 0; li < fit.logs.size(); ++li) {
    const LogQuality& q = fit.logs[li];
    if (!q.used) continue;
    const char* colour = colours[static_cast<std::size_t>(shown) % std::size(colours)];
    std::string line;
    for (const auto& r : fit.rows) {
      if (r.log != li) continue;
      line += fmt::format("{:.1f},{:.1f} ", px(r.size.value()), py(r.fitted_busbw_GBps));
      s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", px(r.size.value()),
                       py(r.measured_busbw_GBps), colour);
    }
    s += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>\n", line, colour);
    const double ly = top + 10 + shown * 36;
    s += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"{}\"/>\n", left + pw + 20, ly, colour);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n", left + pw + 30, ly + 4, log_name(q.source));
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#555\">{} GPUs, {}: MAPE {:.1f}%, max {:.1f}%</text>\n",
                     left + pw + 30, ly + 19, q.shape.gpus, to_string(q.shape.launch), q.mape * 100,
                     q.max_error * 100);
    ++shown;
  }
  s += "</svg>\n";
  return s;
}

}  // namespace xattn
