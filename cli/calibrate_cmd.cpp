// `xattn calibrate nccl-tests LOG... --out CALIB.yaml`: fits link parameters to nccl-tests
// logs (model/link_fit.hpp), prints the fit table, and writes a Calibration file any
// scenario can include. `calibrate` is a command group; the GPU backend's `calibrate gpu`
// joins it through calibrate_group().
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "model/error.hpp"
#include "model/link_fit.hpp"
#include "model/nccl_tests.hpp"

namespace xattn::cli {
namespace {

struct CalibrateNcclOptions {
  std::vector<std::string> logs;
  std::string out_path;
  std::string plot_path;
  std::string op;
  int nics_per_node = 0;
  std::string format = "table";
};

std::string file_name(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string render_fit_table(const LinkFit& fit) {
  fmt::memory_buffer b;
  auto out = std::back_inserter(b);
  for (std::size_t li = 0; li < fit.logs.size(); ++li) {
    const LogQuality& q = fit.logs[li];
    if (!q.used) continue;
    fmt::format_to(out, "# {}: {}, {} GPUs on {} node(s) x {}, {}, {}\n", file_name(q.source), to_string(q.shape.op),
                   q.shape.gpus, q.shape.nodes(), q.shape.gpus_per_node, to_string(q.shape.launch),
                   q.gpu.empty() ? "GPU unknown" : q.gpu);
    fmt::format_to(out, "# {:>12} {:>12} {:>6} {:>10} {:>10} {:>8} {:>8} {:>7} {:>7} {:>5}\n", "size", "count", "type",
                   "measured", "fitted", "busbw", "busbw", "error", "proto", "line");
    fmt::format_to(out, "# {:>12} {:>12} {:>6} {:>10} {:>10} {:>8} {:>8} {:>7} {:>7} {:>5}\n", "(B)", "(elements)", "",
                   "(us)", "(us)", "(GB/s)", "fit", "(%)", "", "");
    for (const auto& r : fit.rows) {
      if (r.log != li) continue;
      fmt::format_to(out, "  {:>12.0f} {:>12} {:>6} {:>10.2f} {:>10.2f} {:>8.2f} {:>8.2f} {:>+7.1f} {:>7} {:>5}\n",
                     r.size.value(), r.count, r.type, r.measured.value() * 1e6, r.fitted.value() * 1e6,
                     r.measured_busbw_GBps, r.fitted_busbw_GBps, r.error * 100, to_string(r.protocol), r.line);
    }
    fmt::format_to(out, "# MAPE {:.1f}% over {} sizes, {:.1f}% over {} sizes >= 1 MiB; max error {:.1f}%\n#\n",
                   q.mape * 100, q.rows, q.mape_large * 100, q.rows_large, q.max_error * 100);
  }
  fmt::format_to(out, "# all logs: MAPE {:.1f}%, max error {:.1f}%\n", fit.mape * 100, fit.max_error * 100);
  const Calibration& c = fit.calibration;
  if (c.launch.single_process)
    fmt::format_to(out, "# launch overhead, single process: {:.2f} us\n", c.launch.single_process->value() * 1e6);
  if (c.launch.mpi) fmt::format_to(out, "# launch overhead, MPI: {:.2f} us\n", c.launch.mpi->value() * 1e6);
  for (auto [name, link, per] : {std::tuple{"intra_node", &c.intra_node, "per GPU"},
                                 std::tuple{"inter_node", &c.inter_node, "per NIC"}}) {
    for (const auto& r : link->protocols)
      fmt::format_to(out, "# {} {:>6}: {:.3f} us per hop + {:.2f} us per collective, {:.1f} GB/s {}\n", name,
                     to_string(r.protocol), r.latency.value() * 1e6, r.base_latency.value() * 1e6,
                     r.bandwidth.value() * 1e-9, per);
  }
  for (const auto& n : fit.notes) fmt::format_to(out, "# note: {}\n", n);
  return fmt::to_string(b);
}

std::string render_fit_json(const LinkFit& fit) {
  nlohmann::json j;
  j["mape"] = fit.mape;
  j["max_error"] = fit.max_error;
  j["logs"] = nlohmann::json::array();
  for (std::size_t li = 0; li < fit.logs.size(); ++li) {
    const LogQuality& q = fit.logs[li];
    nlohmann::json l{{"source", q.source},         {"op", std::string(to_string(q.shape.op))},
                     {"gpus", q.shape.gpus},        {"gpus_per_node", q.shape.gpus_per_node},
                     {"nodes", q.shape.nodes()},    {"launch", std::string(to_string(q.shape.launch))},
                     {"gpu", q.gpu},                {"used", q.used}};
    if (q.used) {
      l["mape"] = q.mape;
      l["mape_ge_1MiB"] = q.mape_large;
      l["max_error"] = q.max_error;
      l["rows"] = nlohmann::json::array();
      for (const auto& r : fit.rows) {
        if (r.log != li) continue;
        l["rows"].push_back({{"line", r.line},
                             {"size_bytes", r.size.value()},
                             {"measured_time_us", r.measured.value() * 1e6},
                             {"fitted_time_us", r.fitted.value() * 1e6},
                             {"measured_busbw_GBps", r.measured_busbw_GBps},
                             {"fitted_busbw_GBps", r.fitted_busbw_GBps},
                             {"error", r.error},
                             {"protocol", std::string(to_string(r.protocol))}});
      }
    }
    j["logs"].push_back(l);
  }
  j["notes"] = fit.notes;
  return j.dump(2) + "\n";
}

int run_calibrate_nccl(const CalibrateNcclOptions& o, Io& io) {
  ProblemList problems;
  std::optional<NcclCollective> op;
  if (!o.op.empty()) {
    op = parse_collective_op(o.op);
    if (!op)
      problems.add(Problem{Origin{"--op " + o.op}, "op", fmt::format("unknown collective (known: {})", collective_names())});
  }
  for (const auto& [path, option] : {std::pair{o.out_path, "--out"}, std::pair{o.plot_path, "--plot"}}) {
    if (path.empty()) continue;
    problems.check([&] {
      check_output_path(path, option);
    });
  }
  std::vector<NcclLog> logs;
  for (const auto& path : o.logs) {
    problems.check([&] {
      logs.push_back(read_nccl_tests_file(path, op));
    });
  }
  problems.throw_if_any();

  LinkFit fit = fit_links(logs, FitOptions{o.nics_per_node});
  fit.calibration.sources.clear();
  // Everything is composed before anything is written; files appear whole or not at all.
  std::string yaml = "# Written by `xattn calibrate nccl-tests` from:\n";
  for (const auto& path : o.logs) yaml += "#   " + path + "\n";
  yaml += fmt::format("# fit: MAPE {:.1f}% over all rows, max error {:.1f}% (docs/calibration.md)\n", fit.mape * 100,
                      fit.max_error * 100);
  yaml += links_calibration_to_yaml(fit.calibration);
  std::string report = o.format == "json" ? render_fit_json(fit) : render_fit_table(fit);
  std::string svg = o.plot_path.empty() ? std::string() : fit_plot_svg(fit);
  if (!o.plot_path.empty()) write_file_atomically(o.plot_path, svg);
  if (!o.out_path.empty()) write_file_atomically(o.out_path, yaml);
  io.out << report << std::flush;
  if (o.out_path.empty()) io.err << "xattn: no --out given: the calibration was not written\n";
  return 0;
}

}  // namespace

CLI::App* calibrate_group(CLI::App& app) {
  for (CLI::App* s : app.get_subcommands([](CLI::App*) { return true; }))
    if (s->get_name() == "calibrate") return s;
  CLI::App* group = app.add_subcommand("calibrate", "Measure or fit hardware figures into a Calibration file");
  group->require_subcommand(1);
  return group;
}

void add_calibrate_nccl(CLI::App& app, Commands& commands) {
  auto o = std::make_shared<CalibrateNcclOptions>();
  CLI::App* sub = calibrate_group(app)->add_subcommand(
      "nccl-tests", "Fit link latency/bandwidth per protocol to nccl-tests logs; print the fit, write a calibration");
  sub->add_option("LOG", o->logs, "nccl-tests output (text, or the JSON of -J), one or more")
      ->required()
      ->type_name("FILE");
  sub->add_option("-o,--out", o->out_path, "Calibration YAML to write (whole or not at all)")->type_name("FILE");
  sub->add_option("--plot", o->plot_path, "Also write measured vs fitted bus bandwidth as SVG")->type_name("FILE");
  sub->add_option("--op", o->op,
                  "Collective the logs measured, when neither the log nor its file name says\n(" +
                      collective_names() + ")")
      ->type_name("NAME");
  sub->add_option("--nics-per-node", o->nics_per_node,
                  "NICs per node in multi-node logs (default: one per GPU); inter-node bandwidth is per NIC")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  sub->add_option("-f,--format", o->format, "Fit report: table (default) or json")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"table", "json"}));
  sub->footer("Example: xattn calibrate nccl-tests all_reduce_8gpu.log all_reduce_16gpu.log --out ndv4.yaml --plot fit.svg");
  commands.add(sub, [o](Io& io) { return run_calibrate_nccl(*o, io); });
}

}  // namespace xattn::cli
