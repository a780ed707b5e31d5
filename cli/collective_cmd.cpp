// `xattn collective`: predicted time, algbw and busbw of one NCCL collective per message
// size, in nccl-tests' columns so that a prediction and a measurement line up column for
// column, with the algorithm and protocol NCCL would pick. Link figures come from
// calibration files (merged in order) over a cluster preset's nominal ones. The default
// engine is the closed form (model/collective_model.hpp: NCCL's ring and tree, each with
// its protocols, and NCCL's choice between them), the model `calibrate nccl-tests` fits.
// `--engine sim` times each ring step's wire as flows on the cluster's topology
// (sim/collective_sim.hpp): the same answer on NVSwitch with rail NICs, and the topology's
// own cost where the closed form is blind — PCIe host bridges, shared or oversubscribed
// NICs; the tree, broadcast, reduce and sendrecv stay the closed form's there.
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "model/collective_model.hpp"
#include "model/core/error.hpp"
#include "model/core/limits.hpp"
#include "model/presets.hpp"
#include "model/scenario.hpp"
#include "sim/collective_sim.hpp"
#include "model/scenario/calibration_file.hpp"
#include "model/calib/nccl_tests.hpp"

namespace xattn::cli {
namespace {

struct CollectiveOptions {
  std::vector<std::string> calibrations;
  std::string cluster = "azure-ndv4";
  std::string op = "all_reduce";
  int gpus = 0;
  int gpus_per_node = 0;
  int nics_per_node = 0;
  std::string launch = "auto";
  std::vector<std::string> sizes;
  std::string format = "table";
  std::string engine = "analytic";
  std::string out_path;
  std::string measured_path;
  bool op_given = false;
};

constexpr int kTypeBytes = 4;  // float, as nccl-tests' default

// "8", "1K", "64M", "16G" (binary multiples, as nccl-tests' -b/-e read them).
std::optional<double> parse_size(std::string_view s) {
  double mult = 1;
  if (!s.empty()) {
    switch (std::toupper(static_cast<unsigned char>(s.back()))) {
      case 'K': mult = 1024.0; break;
      case 'M': mult = 1048576.0; break;
      case 'G': mult = 1073741824.0; break;
      case 'T': mult = 1099511627776.0; break;
      default: break;
    }
    if (mult > 1) s.remove_suffix(1);
  }
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < 0) return std::nullopt;
  return static_cast<double>(v) * mult;  // exact below 2^53; beyond the limit anyway above it
}

// nccl-tests rounds a size down to whole elements, and for collectives that split the
// buffer over ranks to a multiple of ranks elements.
double round_size(NcclCollective op, int ranks, double bytes) {
  double unit = kTypeBytes;
  if (op == NcclCollective::all_gather || op == NcclCollective::reduce_scatter || op == NcclCollective::all_to_all)
    unit *= ranks;
  return std::floor(bytes / unit) * unit;
}

// One measured row of a log given with --measured: the faster of out-of-place and
// in-place (interference only ever slows a run; held-out logs carry warm-up outliers).
struct Measured {
  double size = 0;
  double time_us = 0;
};

int run_collective(const CollectiveOptions& o, Io& io) {
  ProblemList problems;
  std::optional<NcclLog> log;
  if (!o.measured_path.empty()) {
    problems.check([&] {
      log = read_nccl_tests_file(o.measured_path, o.op_given ? parse_collective_op(o.op) : std::nullopt);
    });
  }
  auto op = log ? std::optional<NcclCollective>(log->op) : parse_collective_op(o.op);
  if (!op)
    problems.add(Problem{Origin{"--op " + o.op}, "op", fmt::format("unknown collective (known: {})", collective_names())});
  const ClusterPreset* preset = find_cluster(o.cluster);
  if (preset == nullptr)
    problems.add(Problem{Origin{"--cluster " + o.cluster}, "cluster", fmt::format("unknown cluster preset (known: {})", cluster_names())});
  for (const auto& [count, option, most] : {std::tuple{o.gpus, "--gpus", limits::max_gpus},
                                            std::tuple{o.gpus_per_node, "--gpus-per-node", limits::max_gpus_per_node},
                                            std::tuple{o.nics_per_node, "--nics-per-node", limits::max_gpus_per_node}})
    if (count > most)
      problems.add(Problem{Origin{fmt::format("{} {}", option, count)}, std::string(option).substr(2),
                           fmt::format("{} is beyond the largest value xattn accepts, {} (docs/limits.md)", count, most)});
  const int gpus = o.gpus > 0 ? o.gpus : log ? log->ranks() : 0;
  const int per_node = o.gpus_per_node > 0 ? o.gpus_per_node : log ? log->gpus_per_node() : 0;
  if (gpus <= 0 && o.measured_path.empty())
    problems.add(Problem{Origin{"--gpus"}, "gpus", "give the number of ranks (--gpus N), or a log to compare with (--measured LOG)"});
  if (per_node > 0 && gpus % per_node != 0 && gpus > per_node)
    problems.add(Problem{Origin{fmt::format("--gpus {}", gpus)}, "gpus",
                        fmt::format("{} GPUs do not fill whole nodes of {}", gpus, per_node)});
  std::optional<LaunchMode> launch;
  if (o.launch != "auto") {
    launch = parse_launch_mode(o.launch);
    if (!launch) problems.add(Problem{Origin{"--launch " + o.launch}, "launch", "expected auto, mpi or single_process"});
  } else if (log) {
    launch = log->launch();
  }
  std::vector<double> sizes;
  for (const auto& s : o.sizes) {
    auto v = parse_size(s);
    if (!v || *v <= 0) problems.add(Problem{Origin{"--sizes " + s}, "sizes", "expected a positive size in bytes, e.g. 8, 64K, 1M, 16G"});
    else if (*v > static_cast<double>(limits::max_message_bytes))
      problems.add(Problem{Origin{"--sizes " + s}, "sizes",
                           fmt::format("{:.4g} bytes is beyond the largest message xattn accepts, 1 PiB (2^50; "
                                       "docs/limits.md)",
                                       *v)});
    else sizes.push_back(*v);
  }
  std::vector<Measured> measured;
  if (log) {
    for (const auto& row : log->rows) {
      double t = std::numeric_limits<double>::infinity();
      for (const auto* m : {&row.out_of_place, &row.in_place})
        if (*m && (*m)->time.value() > 0) t = std::min(t, (*m)->time.value());
      if (row.size.value() > 0 && std::isfinite(t)) measured.push_back({row.size.value(), t * 1e6});
    }
    if (!o.sizes.empty())
      problems.add(Problem{Origin{"--sizes"}, "sizes", "--measured takes the sizes of the log; leave --sizes out"});
  }
  if (o.sizes.empty() && !log)
    for (int e = 3; e <= 34; ++e) sizes.push_back(std::ldexp(1.0, e));  // 8 B .. 16 GiB
  Calibration cal;
  for (const auto& path : o.calibrations) {
    problems.check([&] {
      apply_calibration_file(cal, path);
    });
  }
  if (!o.out_path.empty()) {
    problems.check([&] {
      check_output_path(o.out_path, "--out");
    });
  }
  problems.throw_if_any();

  CollectiveShape shape;
  shape.op = *op;
  shape.gpus = gpus;
  shape.gpus_per_node = per_node > 0 ? std::min(per_node, gpus) : std::min(preset->cluster.gpus_per_node, gpus);
  shape.nics_per_node = o.nics_per_node > 0 ? o.nics_per_node : shape.gpus_per_node;
  // Default: one process per GPU (MPI) across nodes, one process for all GPUs inside one,
  // as nccl-tests is usually run and as the reference logs were; a log says its own.
  shape.launch = launch ? *launch : shape.nodes() > 1 ? LaunchMode::mpi : LaunchMode::single_process;
  std::unique_ptr<CollectiveModel> model;
  if (o.engine == "sim") model = std::make_unique<sim::SimCollectiveModel>(preset->cluster, cal);
  else model = std::make_unique<NcclCollectiveModel>(CollectiveLinks::from(preset->cluster, cal));
  const bool simulated = o.engine == "sim" && sim::SimCollectiveModel::simulates(shape.op);

  std::vector<CollectiveRow> rows;
  std::vector<double> errors;  // per row, with --measured
  if (log) {
    for (const Measured& m : measured) {
      rows.push_back(predict_row(*model, shape, Bytes(m.size), kTypeBytes));
      errors.push_back((rows.back().time.value() * 1e6 - m.time_us) / m.time_us);
    }
  } else {
    for (double s : sizes) {
      double b = round_size(shape.op, shape.gpus, s);
      if (b <= 0) continue;
      rows.push_back(predict_row(*model, shape, Bytes(b), kTypeBytes));
    }
  }
  // Mean |error| over all sizes and over sizes >= 1 MiB, and the largest.
  double mape = 0, mape_large = 0, max_error = 0;
  int large = 0;
  for (std::size_t i = 0; i < errors.size(); ++i) {
    const double a = std::abs(errors[i]);
    mape += a;
    max_error = std::max(max_error, a);
    if (rows[i].size.value() >= 1048576.0) {
      mape_large += a;
      ++large;
    }
  }
  if (!errors.empty()) mape /= static_cast<double>(errors.size());
  if (large > 0) mape_large /= large;

  std::string text;
  if (o.format == "json") {
    nlohmann::json j{{"op", std::string(to_string(shape.op))},
                     {"gpus", shape.gpus},
                     {"gpus_per_node", shape.gpus_per_node},
                     {"nodes", shape.nodes()},
                     {"nics_per_node", shape.nics_per_node},
                     {"launch", std::string(to_string(shape.launch))},
                     {"engine", simulated ? "sim" : "analytic"},
                     {"calibration", o.calibrations},
                     {"rows", nlohmann::json::array()}};
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const CollectiveRow& r = rows[i];
      nlohmann::json row{{"size_bytes", static_cast<std::int64_t>(r.size.value())},
                         {"count", r.count},
                         {"type", "float"},
                         {"time_us", r.time.value() * 1e6},
                         {"algbw_GBps", r.algbw_GBps},
                         {"busbw_GBps", r.busbw_GBps},
                         {"protocol", std::string(to_string(r.protocol))},
                         {"algorithm", std::string(to_string(r.algorithm))},
                         {"host_bound", r.host_bound}};
      if (log) {
        row["measured_time_us"] = measured[i].time_us;
        row["error"] = errors[i];
      }
      j["rows"].push_back(row);
    }
    if (log) {
      j["measured"] = o.measured_path;
      j["mape"] = mape;
      j["mape_ge_1MiB"] = mape_large;
      j["max_error"] = max_error;
    }
    text = j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  } else {
    fmt::memory_buffer b;
    auto out = std::back_inserter(b);
    fmt::format_to(out, "# xattn collective: {} on {} GPUs ({} node(s) x {}, {} NIC(s) per node), launch {}\n",
                   to_string(shape.op), shape.gpus, shape.nodes(), shape.gpus_per_node, shape.nics_per_node,
                   to_string(shape.launch));
    fmt::format_to(out, "# predicted by {} (docs/calibration.md); links: {}\n",
                   simulated ? "ring steps on the simulator's flow network of " + o.cluster + " (tree: the closed form)"
                             : std::string("NCCL's ring and tree, closed form"),
                   o.calibrations.empty() ? "nominal figures of " + o.cluster : fmt::format("{}", fmt::join(o.calibrations, ", ")));
    if (log)
      fmt::format_to(out, "# measured: {} (the faster of out-of-place and in-place)\n", o.measured_path);
    fmt::format_to(out, "# protocol \"host\": the host's launch work takes longer than the GPUs' (algorithm shown is "
                        "the one NCCL would run)\n#\n");
    const std::string mh = log ? fmt::format("  {:>9}  {:>7}", "measured", "error") : std::string();
    const std::string mu = log ? fmt::format("  {:>9}  {:>7}", "(us)", "(%)") : std::string();
    fmt::format_to(out, "# {:>10}  {:>12}  {:>8}  {:>7}  {:>7}  {:>6}  {:>6}  {:>8}  {:>9}{}\n", "size", "count", "type",
                   "redop", "time", "algbw", "busbw", "protocol", "algorithm", mh);
    fmt::format_to(out, "# {:>10}  {:>12}  {:>8}  {:>7}  {:>7}  {:>6}  {:>6}  {:>8}  {:>9}{}\n", "(B)", "(elements)", "",
                   "", "(us)", "(GB/s)", "(GB/s)", "", "", mu);
    const bool reduces = shape.op == NcclCollective::all_reduce || shape.op == NcclCollective::reduce_scatter ||
                         shape.op == NcclCollective::reduce;
    auto us_text = [](double us) { return us < 10000 ? fmt::format("{:.2f}", us) : fmt::format("{:.0f}", us); };
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const CollectiveRow& r = rows[i];
      const std::string m =
          log ? fmt::format("  {:>9}  {:>+7.1f}", us_text(measured[i].time_us), errors[i] * 100) : std::string();
      fmt::format_to(out, "  {:>10.0f}  {:>12}  {:>8}  {:>7}  {:>7}  {:>6.2f}  {:>6.2f}  {:>8}  {:>9}{}\n",
                     r.size.value(), r.count, "float", reduces ? "sum" : "none", us_text(r.time.value() * 1e6),
                     r.algbw_GBps, r.busbw_GBps, r.host_bound ? "host" : std::string(to_string(r.protocol)),
                     to_string(r.algorithm), m);
    }
    if (log)
      fmt::format_to(out, "# MAPE {:.1f}% over {} sizes, {:.1f}% over {} sizes >= 1 MiB; max error {:.1f}%\n", mape * 100,
                     rows.size(), mape_large * 100, large, max_error * 100);
    text = fmt::to_string(b);
  }
  if (o.out_path.empty()) io.out << text << std::flush;
  else write_file_atomically(o.out_path, text);
  return 0;
}

}  // namespace

void add_collective(CLI::App& app, Commands& commands) {
  auto o = std::make_shared<CollectiveOptions>();
  CLI::App* sub = app.add_subcommand(
      "collective", "Predict an NCCL collective's time, algbw and busbw per size, in nccl-tests' columns");
  sub->add_option("-c,--calibration", o->calibrations,
                  "Calibration file(s) from `xattn calibrate`, merged in order (repeatable)")
      ->type_name("FILE");
  sub->add_option("--cluster", o->cluster, "Cluster preset whose nominal link figures fill what the calibration lacks")
      ->type_name("NAME")
      ->capture_default_str();
  sub->add_option("--op", o->op, "Collective: " + collective_names())->type_name("NAME")->capture_default_str();
  sub->add_option("-n,--gpus", o->gpus, "Ranks taking part (default with --measured: the log's)")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  sub->add_option("-g,--gpus-per-node", o->gpus_per_node, "GPUs per node (default: the cluster preset's)")
      ->type_name("G")
      ->check(CLI::PositiveNumber);
  sub->add_option("--nics-per-node", o->nics_per_node, "NICs per node (default: one per GPU)")
      ->type_name("K")
      ->check(CLI::PositiveNumber);
  sub->add_option("--launch", o->launch,
                  "auto (default: mpi across nodes, single_process inside one), mpi or single_process")
      ->type_name("MODE");
  sub->add_option("--sizes", o->sizes, "Sizes in bytes, nccl-tests' definition (K, M, G: binary); default 8 B..16 GiB by x2")
      ->type_name("SIZE")
      ->delimiter(',');
  sub->add_option("-f,--format", o->format, "Output: table (default) or json")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"table", "json"}));
  sub->add_option("--engine", o->engine,
                  "analytic (default: the closed form the fit uses; `ring`, its former name, is accepted) or sim (each "
                  "ring step's wire as flows on the cluster's topology)")
      ->type_name("ENGINE")
      ->check(CLI::IsMember({"sim", "analytic", "ring"}))
      ->capture_default_str();
  sub->add_option("-o,--out", o->out_path, "Write the output to FILE (whole or not at all) instead of stdout")
      ->type_name("FILE");
  sub->add_option("--measured", o->measured_path,
                  "An nccl-tests log to compare with: its collective, ranks, nodes, launch and sizes, with the "
                  "measured time (the faster of out-of-place and in-place) and the error beside each prediction")
      ->type_name("LOG");
  sub->footer("Example: xattn collective --calibration ndv4.yaml --op all_reduce --gpus 32 --gpus-per-node 8\n"
              "         xattn collective --calibration ndv4.yaml --measured all_reduce_32gpu.log");
  commands.add(sub, [o, sub](Io& io) {
    o->op_given = sub->count("--op") > 0;
    return run_collective(*o, io);
  });
}

}  // namespace xattn::cli
