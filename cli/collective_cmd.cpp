// `xattn collective`: predicted time, algbw and busbw of one NCCL collective per message
// size, in nccl-tests' columns so that a prediction and a measurement line up column for
// column. Link figures come from calibration files (merged in order) over a cluster
// preset's nominal ones. The default engine is the ring closed form
// (model/collective_model.hpp): `calibrate nccl-tests` fits its parameters through that
// model, so they are effective figures (zero per-hop latencies with the cost moved to a
// base latency, say) that reproduce the logs through it. `--engine sim` runs each ring
// step as flows on the cluster's topology (sim/collective_sim.hpp): the same answer on
// NVSwitch with rail NICs, and the topology's own cost where the closed form is blind —
// PCIe host bridges, shared or oversubscribed NICs.
#include <cctype>
#include <charconv>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "model/collective_model.hpp"
#include "model/core/error.hpp"
#include "model/presets.hpp"
#include "model/scenario.hpp"
#include "sim/collective_sim.hpp"
#include "model/scenario/calibration_file.hpp"

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
  std::string engine = "ring";
  std::string out_path;
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
  return static_cast<double>(v) * mult;
}

// nccl-tests rounds a size down to whole elements, and for collectives that split the
// buffer over ranks to a multiple of ranks elements.
double round_size(NcclCollective op, int ranks, double bytes) {
  double unit = kTypeBytes;
  if (op == NcclCollective::all_gather || op == NcclCollective::reduce_scatter || op == NcclCollective::all_to_all)
    unit *= ranks;
  return std::floor(bytes / unit) * unit;
}

int run_collective(const CollectiveOptions& o, Io& io) {
  ProblemList problems;
  auto op = parse_collective_op(o.op);
  if (!op)
    problems.add(Problem{Origin{"--op " + o.op}, "op", fmt::format("unknown collective (known: {})", collective_names())});
  const ClusterPreset* preset = find_cluster(o.cluster);
  if (preset == nullptr)
    problems.add(Problem{Origin{"--cluster " + o.cluster}, "cluster", fmt::format("unknown cluster preset (known: {})", cluster_names())});
  if (o.gpus_per_node > 0 && o.gpus % o.gpus_per_node != 0 && o.gpus > o.gpus_per_node)
    problems.add(Problem{Origin{fmt::format("--gpus {}", o.gpus)}, "gpus",
                        fmt::format("{} GPUs do not fill whole nodes of {}", o.gpus, o.gpus_per_node)});
  std::optional<LaunchMode> launch;
  if (o.launch != "auto") {
    launch = parse_launch_mode(o.launch);
    if (!launch) problems.add(Problem{Origin{"--launch " + o.launch}, "launch", "expected auto, mpi or single_process"});
  }
  std::vector<double> sizes;
  for (const auto& s : o.sizes) {
    auto v = parse_size(s);
    if (!v || *v <= 0) problems.add(Problem{Origin{"--sizes " + s}, "sizes", "expected a positive size in bytes, e.g. 8, 64K, 1M, 16G"});
    else sizes.push_back(*v);
  }
  if (o.sizes.empty())
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
  shape.gpus = o.gpus;
  shape.gpus_per_node = o.gpus_per_node > 0 ? std::min(o.gpus_per_node, o.gpus) : std::min(preset->cluster.gpus_per_node, o.gpus);
  shape.nics_per_node = o.nics_per_node > 0 ? o.nics_per_node : shape.gpus_per_node;
  // Default: one process per GPU (MPI) across nodes, one process for all GPUs inside one,
  // as nccl-tests is usually run and as the reference logs were.
  shape.launch = launch ? *launch : shape.nodes() > 1 ? LaunchMode::mpi : LaunchMode::single_process;
  std::unique_ptr<CollectiveModel> model;
  if (o.engine == "sim") model = std::make_unique<sim::SimCollectiveModel>(preset->cluster, cal);
  else model = std::make_unique<RingCollectiveModel>(CollectiveLinks::from(preset->cluster, cal));
  const bool simulated = o.engine == "sim" && sim::SimCollectiveModel::simulates(shape.op);

  std::vector<CollectiveRow> rows;
  for (double s : sizes) {
    double b = round_size(shape.op, shape.gpus, s);
    if (b <= 0) continue;
    rows.push_back(predict_row(*model, shape, Bytes(b), kTypeBytes));
  }

  std::string text;
  if (o.format == "json") {
    nlohmann::json j{{"op", std::string(to_string(shape.op))},
                     {"gpus", shape.gpus},
                     {"gpus_per_node", shape.gpus_per_node},
                     {"nodes", shape.nodes()},
                     {"nics_per_node", shape.nics_per_node},
                     {"launch", std::string(to_string(shape.launch))},
                     {"engine", simulated ? "sim" : "ring"},
                     {"calibration", o.calibrations},
                     {"rows", nlohmann::json::array()}};
    for (const auto& r : rows)
      j["rows"].push_back({{"size_bytes", static_cast<std::int64_t>(r.size.value())},
                           {"count", r.count},
                           {"type", "float"},
                           {"time_us", r.time.value() * 1e6},
                           {"algbw_GBps", r.algbw_GBps},
                           {"busbw_GBps", r.busbw_GBps},
                           {"protocol", std::string(to_string(r.protocol))}});
    text = j.dump(2) + "\n";
  } else {
    fmt::memory_buffer b;
    auto out = std::back_inserter(b);
    fmt::format_to(out, "# xattn collective: {} on {} GPUs ({} node(s) x {}, {} NIC(s) per node), launch {}\n",
                   to_string(shape.op), shape.gpus, shape.nodes(), shape.gpus_per_node, shape.nics_per_node,
                   to_string(shape.launch));
    fmt::format_to(out, "# predicted by {} (docs/calibration.md); links: {}\n#\n",
                   simulated ? "ring steps on the simulator's flow network of " + o.cluster : std::string("the ring model"),
                   o.calibrations.empty() ? "nominal figures of " + o.cluster : fmt::format("{}", fmt::join(o.calibrations, ", ")));
    fmt::format_to(out, "# {:>10}  {:>12}  {:>8}  {:>7}  {:>7}  {:>6}  {:>6}  {:>8}\n", "size", "count", "type",
                   "redop", "time", "algbw", "busbw", "protocol");
    fmt::format_to(out, "# {:>10}  {:>12}  {:>8}  {:>7}  {:>7}  {:>6}  {:>6}  {:>8}\n", "(B)", "(elements)", "", "",
                   "(us)", "(GB/s)", "(GB/s)", "");
    const bool reduces = shape.op == NcclCollective::all_reduce || shape.op == NcclCollective::reduce_scatter ||
                         shape.op == NcclCollective::reduce;
    for (const auto& r : rows) {
      double us = r.time.value() * 1e6;
      fmt::format_to(out, "  {:>10.0f}  {:>12}  {:>8}  {:>7}  {:>7}  {:>6.2f}  {:>6.2f}  {:>8}\n", r.size.value(),
                     r.count, "float", reduces ? "sum" : "none",
                     us < 10000 ? fmt::format("{:.2f}", us) : fmt::format("{:.0f}", us), r.algbw_GBps, r.busbw_GBps,
                     to_string(r.protocol));
    }
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
  sub->add_option("-n,--gpus", o->gpus, "Ranks taking part")->required()->type_name("N")->check(CLI::PositiveNumber);
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
                  "ring (default: the closed form the fit uses) or sim (each ring step as flows on the cluster's topology)")
      ->type_name("ENGINE")
      ->check(CLI::IsMember({"sim", "ring"}))
      ->capture_default_str();
  sub->add_option("-o,--out", o->out_path, "Write the output to FILE (whole or not at all) instead of stdout")
      ->type_name("FILE");
  sub->footer("Example: xattn collective --calibration ndv4.yaml --op all_reduce --gpus 32 --gpus-per-node 8");
  commands.add(sub, [o](Io& io) { return run_collective(*o, io); });
}

}  // namespace xattn::cli
