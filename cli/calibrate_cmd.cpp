// `xattn calibrate nccl-tests LOG... --out CALIB.yaml`: fits link parameters to nccl-tests
// logs (model/link_fit.hpp), prints the fit table, and writes a Calibration file any
// scenario can include. `calibrate` is a command group; the GPU backend's `calibrate gpu`
// joins it through calibrate_group().
//
// `xattn calibrate gpu --out CALIB.yaml`: times the attention block kernels over a q_rows x
// kv_rows grid, the elementwise kernels and the loopback link on this machine's GPU
// (gpu/calibrate.hpp, gpu/transport.hpp measure_link), turns the times into an efficiency
// table, launch overhead, memory efficiency and link alpha-beta (model/gpu_calibration.hpp)
// and writes them as a Calibration file. Exit 3 without a GPU or in a build without CUDA.
#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/app.hpp"
#include "cli/command.hpp"
#include "cli/output.hpp"
#include "model/core/error.hpp"
#include "model/calib/fit_plot.hpp"
#include "model/calib/link_fit.hpp"
#include "model/calib/nccl_tests.hpp"
#include "model/calib/gpu_calibration.hpp"
#include "model/presets.hpp"
#include "model/scenario/calibration_file.hpp"

#ifdef XATTN_HAVE_PNG
#include "gui/png/png_export.hpp"
#endif
#ifdef XATTN_HAVE_GPU
#include "gpu/calibrate.hpp"
#include "gpu/transport.hpp"
#endif

namespace xattn::cli {
namespace {

struct CalibrateNcclOptions {
  std::vector<std::string> logs;
  std::string out_path;
  std::string plot_path;
  std::string op;
  int nics_per_node = 0;
  std::string cluster = "azure-ndv4";
  std::optional<double> nccl_per_nic_GBps;
  std::string format = "table";
};

std::string file_name(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "1.23 +- 0.05" in the parameter's unit; a prior also says what it was.
std::string parameter_text(const FitParameter& p) {
  std::string s = fmt::format("{:.4g} +- {:.2g}", p.value, p.sigma);
  if (p.prior) s += fmt::format("  (prior {:.4g} +- {:.2g}: {})", *p.prior, p.prior_sigma.value_or(0), p.prior_source);
  else if (!p.prior_source.empty()) s += fmt::format("  (prior: {})", p.prior_source);
  return s;
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
    fmt::format_to(out, "# {:>12} {:>12} {:>6} {:>10} {:>10} {:>8} {:>8} {:>7} {:>7} {:>5} {:>5}\n", "size", "count",
                   "type", "measured", "fitted", "busbw", "busbw", "error", "proto", "algo", "line");
    fmt::format_to(out, "# {:>12} {:>12} {:>6} {:>10} {:>10} {:>8} {:>8} {:>7} {:>7} {:>5} {:>5}\n", "(B)", "(elements)",
                   "", "(us)", "(us)", "(GB/s)", "fit", "(%)", "", "", "");
    for (const auto& r : fit.rows) {
      if (r.log != li) continue;
      fmt::format_to(out, "  {:>12.0f} {:>12} {:>6} {:>10.2f} {:>10.2f} {:>8.2f} {:>8.2f} {:>+7.1f} {:>7} {:>5} {:>5}\n",
                     r.size.value(), r.count, r.type, r.measured.value() * 1e6, r.fitted.value() * 1e6,
                     r.measured_busbw_GBps, r.fitted_busbw_GBps, r.error * 100,
                     r.host_bound ? "host" : std::string(to_string(r.protocol)),
                     r.host_bound ? "-" : std::string(to_string(r.algorithm)), r.line);
    }
    fmt::format_to(out, "# MAPE {:.1f}% over {} sizes, {:.1f}% over {} sizes >= 1 MiB; max error {:.1f}%\n#\n",
                   q.mape * 100, q.rows, q.mape_large * 100, q.rows_large, q.max_error * 100);
  }
  fmt::format_to(out, "# all logs: MAPE {:.1f}%, max error {:.1f}%\n", fit.mape * 100, fit.max_error * 100);
  fmt::format_to(out, "# parameters (value +- one sigma; identified: the logs decide it, prior: they do not, floor: held at "
                      "its physical floor):\n");
  for (const auto& p : fit.parameters)
    fmt::format_to(out, "#   {:<34} {:<10} {}\n", p.name, to_string(p.how), parameter_text(p));
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
                             {"protocol", std::string(to_string(r.protocol))},
                             {"algorithm", std::string(to_string(r.algorithm))},
                             {"host_bound", r.host_bound}});
      }
    }
    j["logs"].push_back(l);
  }
  j["parameters"] = nlohmann::json::array();
  for (const auto& p : fit.parameters) {
    nlohmann::json e{{"name", p.name}, {"value", p.value}, {"sigma", p.sigma}, {"how", std::string(to_string(p.how))},
                     {"prior_source", p.prior_source}};
    if (p.prior) e["prior"] = *p.prior;
    if (p.prior_sigma) e["prior_sigma"] = *p.prior_sigma;
    j["parameters"].push_back(e);
  }
  j["notes"] = fit.notes;
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// `--plot` writes SVG, or PNG when the file name says so (the dashboard's build only).
bool plot_is_png(const std::string& path) {
  return path.size() >= 4 && std::equal(path.end() - 4, path.end(), ".png", [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

int run_calibrate_nccl(const CalibrateNcclOptions& o, Io& io) {
  ProblemList problems;
  std::optional<NcclCollective> op;
  if (!o.op.empty()) {
    op = parse_collective_op(o.op);
    if (!op)
      problems.add(Problem{Origin{"--op " + o.op}, "op", fmt::format("unknown collective (known: {})", collective_names())});
  }
#ifndef XATTN_HAVE_PNG
  if (plot_is_png(o.plot_path))
    problems.add(Problem{Origin{"--plot " + o.plot_path}, "plot",
                         "PNG plots need the build with the Qt6 dashboard; write .svg (or build with qt6-svg-dev)"});
#endif
  for (const auto& output : {std::pair{o.out_path, "--out"}, std::pair{o.plot_path, "--plot"}}) {
    const std::string& path = output.first;  // not a structured binding: the lambda below captures it
    const char* const option = output.second;
    if (path.empty()) continue;
    problems.check([&] {
      check_output_path(path, option);
    });
  }
  const ClusterPreset* preset = find_cluster(o.cluster);
  if (preset == nullptr)
    problems.add(Problem{Origin{"--cluster " + o.cluster}, "cluster", fmt::format("unknown cluster preset (known: {})", cluster_names())});
  std::vector<NcclLog> logs;
  for (const auto& path : o.logs) {
    problems.check([&] {
      logs.push_back(read_nccl_tests_file(path, op));
    });
  }
  if (preset != nullptr && o.nccl_per_nic_GBps && gigabytes_per_second(*o.nccl_per_nic_GBps) > preset->cluster.inter.bandwidth)
    problems.add(Problem{Origin{fmt::format("--nccl-per-nic {}", *o.nccl_per_nic_GBps)}, "nccl-per-nic",
                         fmt::format("more than the NIC of --cluster {} carries ({} GB/s)", o.cluster,
                                     to_gigabytes_per_second(preset->cluster.inter.bandwidth))});
  problems.throw_if_any();

  FitOptions fo;
  fo.nics_per_node = o.nics_per_node;
  fo.cluster = preset->cluster;
  if (o.nccl_per_nic_GBps) fo.cluster.nccl_per_nic = gigabytes_per_second(*o.nccl_per_nic_GBps);
  LinkFit fit = fit_links(logs, fo);
  fit.calibration.sources.clear();
  // Everything is composed before anything is written; files appear whole or not at all.
  std::string yaml = "# Written by `xattn calibrate nccl-tests` from:\n";
  for (const auto& path : o.logs) yaml += "#   " + path + "\n";
  yaml += fmt::format("# fit: MAPE {:.1f}% over all rows, max error {:.1f}% (docs/calibration.md); priors from {}\n",
                      fit.mape * 100, fit.max_error * 100, o.cluster);
  yaml += "# parameters (identified: the logs decide it; prior: they do not; floor: held at its floor):\n";
  for (const auto& p : fit.parameters)
    yaml += fmt::format("#   {:<34} {:<10} {}\n", p.name, to_string(p.how), parameter_text(p));
  for (const auto& n : fit.notes) yaml += "# note: " + n + "\n";
  yaml += links_calibration_to_yaml(fit.calibration);
  std::string report = o.format == "json" ? render_fit_json(fit) : render_fit_table(fit);
  std::string plot = o.plot_path.empty() ? std::string() : fit_plot_svg(fit);
#ifdef XATTN_HAVE_PNG
  if (plot_is_png(o.plot_path)) {
    std::string why;
    plot = gui::svg_to_png(plot, why);
    if (plot.empty()) throw InputError(Origin{"--plot " + o.plot_path}, "plot", why);
  }
#endif
  write_files_atomically({{o.plot_path, plot}, {o.out_path, yaml}});
  io.out << report << std::flush;
  if (o.out_path.empty()) io.err << "xattn: no --out given: the calibration was not written\n";
  return 0;
}

// ---- calibrate gpu -----------------------------------------------------------------------

struct CalibrateGpuOptions {
  std::string out_path;
  std::string dtype = "bf16";
  std::int64_t batch = 1;
  std::int64_t heads = 32;
  std::int64_t kv_heads = 8;
  std::vector<std::int64_t> head_dims{128};
  std::vector<std::int64_t> q_rows{128, 256, 512, 1024, 2048, 4096, 8192};
  std::vector<std::int64_t> kv_rows{256, 512, 1024, 2048, 4096, 8192, 16384};
  double link_bandwidth_GBps = 10.0;
  double link_latency_us = 10.0;
  bool no_pace = false;
  bool no_link = false;
  std::vector<std::int64_t> link_sizes{4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864};
  std::string gpu;
  int reps = 10;
  int warmup = 3;
  int device = 0;
};

void check_calibrate_gpu(const CalibrateGpuOptions& o) {
  ProblemList problems;
  auto bad = [&](const std::string& option, const std::string& why) { problems.add(Problem{Origin{option}, option.substr(2), why}); };
  if (!o.out_path.empty()) problems.check([&] { check_output_path(o.out_path, "--out"); });
  if (o.heads < 1 || o.kv_heads < 1 || o.heads % o.kv_heads != 0) bad("--heads", "needs heads >= 1 and kv-heads dividing heads");
  if (o.batch < 1) bad("--batch", "needs at least 1");
  for (auto d : o.head_dims)
    if (d != 64 && d != 128) bad("--head-dim", fmt::format("{}: the kernels run head dims 64 and 128", d));
  for (auto [list, name] : {std::pair{&o.q_rows, "--q-rows"}, std::pair{&o.kv_rows, "--kv-rows"}}) {
    if (list->empty()) bad(name, "needs at least one value");
    for (auto v : *list)
      if (v < 1) bad(name, fmt::format("{} rows: must be positive", v));
  }
  if (!o.no_link) {
    if (!(o.link_bandwidth_GBps > 0)) bad("--link-bandwidth", "needs a positive GB/s");
    if (o.link_latency_us < 0) bad("--link-latency", "cannot be negative");
    if (o.link_sizes.size() < 2) bad("--link-sizes", "needs two sizes or more for a latency-bandwidth fit");
  }
  if (o.reps < 1) bad("--reps", "needs at least 1");
  if (o.warmup < 0) bad("--warmup", "cannot be negative");
  if (!o.gpu.empty() && find_gpu(o.gpu) == nullptr) bad("--gpu", fmt::format("unknown GPU preset (known: {})", gpu_names()));
  problems.throw_if_any();
}

#ifdef XATTN_HAVE_GPU

int run_calibrate_gpu(const CalibrateGpuOptions& o, Io& io) {
  check_calibrate_gpu(o);
  gpu::KernelSweep sweep;
  sweep.dtype = o.dtype == "fp16" ? gpu::ElemType::f16 : gpu::ElemType::bf16;
  sweep.batch = o.batch;
  sweep.heads = o.heads;
  sweep.kv_heads = o.kv_heads;
  sweep.head_dims = o.head_dims;
  sweep.q_rows = o.q_rows;
  sweep.kv_rows = o.kv_rows;
  sweep.reps = o.reps;
  sweep.warmup = o.warmup;
  sweep.device = o.device;
  GpuTimings t;
  t.dtype = o.dtype == "fp16" ? DType::fp16 : DType::bf16;
  try {
    io.err << fmt::format("xattn calibrate gpu: timing {} block shapes x {} passes, then {} elementwise sizes{}\n",
                          o.head_dims.size() * o.q_rows.size() * o.kv_rows.size(), 2, o.q_rows.size() * o.head_dims.size(),
                          o.no_link ? "" : ", then the loopback link");
    const gpu::KernelTimes k = gpu::time_kernels(sweep, [&](const std::string& line) { io.err << "  " << line << '\n' << std::flush; });
    t.device = k.device;
    for (const auto& b : k.blocks)
      t.blocks.push_back(BlockTiming{b.backward ? BlockPass::bwd : BlockPass::fwd, o.batch, o.heads, o.kv_heads, b.head_dim,
                                     b.q_rows, b.kv_rows, Seconds(b.seconds)});
    t.launch_probe = BlockTiming{BlockPass::fwd, 1, 1, 1, k.probe.head_dim, k.probe.q_rows, k.probe.kv_rows, Seconds(k.probe.seconds)};
    for (const auto& e : k.elementwise) t.elementwise.push_back(ElementwiseTiming{e.kernel, Bytes(static_cast<double>(e.bytes)), Seconds(e.seconds)});
    if (!o.no_link) {
      const gpu::LoopbackOptions lo{o.link_bandwidth_GBps, o.link_latency_us, !o.no_pace};
      t.link_description = o.no_pace ? std::string("loopback, unpaced pinned-host copies")
                                     : fmt::format("loopback paced to {} GB/s, {} us", o.link_bandwidth_GBps, o.link_latency_us);
      const auto samples = gpu::measure_link(gpu::TransportKind::loopback, lo, o.link_sizes, o.reps);
      for (const auto& s : samples) {
        t.link.push_back(MessageTiming{Bytes(static_cast<double>(s.bytes)), Seconds(s.seconds)});
        io.err << fmt::format("  link {} B: {:.2f} us\n", s.bytes, s.seconds * 1e6);
      }
    }
  } catch (const std::invalid_argument& why) {
    throw InputError(Origin{"command line"}, "calibrate gpu", why.what());
  }
  const GpuSpec* preset = o.gpu.empty() ? gpu_preset_for_device(t.device) : find_gpu(o.gpu);
  if (preset == nullptr)
    throw InputError(Origin{"--gpu"}, "gpu",
                     fmt::format("no GPU preset matches '{}': name the one whose peak the efficiencies are fractions of "
                                 "(known: {})",
                                 t.device, gpu_names()));
  t.gpu = *preset;
  GpuCalibration c;
  try {
    c = calibration_from_timings(t);
  } catch (const std::invalid_argument& why) {  // what this GPU measured, not what was asked
    throw EnvironmentError("calibrate gpu", fmt::format("the timings make no calibration: {}", why.what()));
  }
  const std::string yaml = gpu_calibration_yaml(t, c);
  if (!o.out_path.empty()) write_file_atomically(o.out_path, yaml);
  io.out << gpu_calibration_table(t, c) << std::flush;
  if (o.out_path.empty()) io.err << "xattn: no --out given: the calibration was not written\n";
  return 0;
}

#else

int run_calibrate_gpu(const CalibrateGpuOptions& o, Io&) {
  check_calibrate_gpu(o);
  throw EnvironmentError("calibrate gpu",
                         "this xattn was built without CUDA, so it cannot time kernels; rebuild where the CUDA toolkit "
                         "is installed (cmake -DXATTN_GPU=ON) and run it on a machine with a GPU");
}

#endif

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
      "nccl-tests", "Fit NCCL's collective model (ring, tree; LL, LL128, Simple) to nccl-tests logs; print the fit, write a calibration");
  sub->add_option("LOG", o->logs, "nccl-tests output (text, or the JSON of -J), one or more")
      ->required()
      ->type_name("FILE");
  sub->add_option("-o,--out", o->out_path, "Calibration YAML to write (whole or not at all)")->type_name("FILE");
  sub->add_option("--plot", o->plot_path, "Also write measured vs fitted bus bandwidth: SVG, or PNG for a .png name (builds with the Qt6 dashboard)")->type_name("FILE");
  sub->add_option("--op", o->op,
                  "Collective the logs measured, when neither the log nor its file name says\n(" +
                      collective_names() + ")")
      ->type_name("NAME");
  sub->add_option("--nics-per-node", o->nics_per_node,
                  "NICs per node in multi-node logs (default: one per GPU); inter-node bandwidth is per NIC")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  sub->add_option("--cluster", o->cluster,
                  "Cluster preset whose nominal figures (NVLink, NIC, HBM) give the priors the logs cannot decide")
      ->type_name("NAME")
      ->capture_default_str();
  sub->add_option("--nccl-per-nic", o->nccl_per_nic_GBps,
                  "Bus bandwidth NCCL's all-reduce gets through one NIC, GB/s (your vendor's all-reduce over the NICs\n"
                  "alone): the prior across nodes where the logs cannot decide it (default: the --cluster preset's,\n"
                  "else 0.76 of its NIC's line rate; docs/calibration.md, \"Priors\")")
      ->type_name("GBps")
      ->check(CLI::PositiveNumber);
  sub->add_option("-f,--format", o->format, "Fit report: table (default) or json")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"table", "json"}));
  sub->footer("Example: xattn calibrate nccl-tests all_reduce_8gpu.log all_reduce_16gpu.log --out ndv4.yaml --plot fit.svg");
  commands.add(sub, [o](Io& io) { return run_calibrate_nccl(*o, io); });
}

void add_calibrate_gpu(CLI::App& app, Commands& commands) {
  auto o = std::make_shared<CalibrateGpuOptions>();
  CLI::App* sub = calibrate_group(app)->add_subcommand(
      "gpu", "Time the attention and elementwise kernels and the loopback link on this GPU; write a calibration");
  sub->add_option("-o,--out", o->out_path, "Calibration YAML to write (whole or not at all)")->type_name("FILE");
  sub->add_option("--dtype", o->dtype, "Activation dtype: bf16 (default) or fp16")
      ->type_name("DTYPE")
      ->check(CLI::IsMember({"bf16", "fp16"}));
  sub->add_option("--batch", o->batch, "Batch of every timed block (default 1)")->type_name("B");
  sub->add_option("--heads", o->heads, "Query heads of every timed block (default 32)")->type_name("H");
  sub->add_option("--kv-heads", o->kv_heads, "Key/value heads (default 8)")->type_name("Hk");
  sub->add_option("--head-dim", o->head_dims, "Head dim(s): 64, 128 (default 128)")->type_name("d")->delimiter(',');
  sub->add_option("--q-rows", o->q_rows, "Query rows of the grid (default 128,256,...,8192)")->type_name("LIST")->delimiter(',');
  sub->add_option("--kv-rows", o->kv_rows, "Key/value rows of the grid (default 256,512,...,16384)")
      ->type_name("LIST")
      ->delimiter(',');
  sub->add_option("--link-bandwidth", o->link_bandwidth_GBps, "Loopback pacing bandwidth, GB/s (default 10; as `xattn run`)")
      ->type_name("GBps");
  sub->add_option("--link-latency", o->link_latency_us, "Loopback pacing latency, us (default 10; as `xattn run`)")
      ->type_name("us");
  sub->add_flag("--no-pace", o->no_pace, "Time raw pinned-host copies instead of a paced link");
  sub->add_flag("--no-link", o->no_link, "Do not time the link (the calibration then has compute figures only)");
  sub->add_option("--link-sizes", o->link_sizes, "Message sizes in bytes (default 4 KiB ... 64 MiB)")
      ->type_name("LIST")
      ->delimiter(',');
  sub->add_option("--gpu", o->gpu, "GPU preset whose peak the efficiencies are fractions of (default: the device's)")
      ->type_name("PRESET");
  sub->add_option("--reps", o->reps, "Timed launches per shape; the median is kept (default 10)")->type_name("N");
  sub->add_option("--warmup", o->warmup, "Untimed launches first (default 3)")->type_name("N");
  sub->add_option("--device", o->device, "CUDA device index (default 0)")->type_name("N");
  sub->footer(
      "Needs a GPU (exit code 3 without one). Example:\n"
      "  xattn calibrate gpu --out h100.yaml --heads 32 --kv-heads 8 --head-dim 128 --link-bandwidth 10 --link-latency 10");
  commands.add(sub, [o](Io& io) { return run_calibrate_gpu(*o, io); });
}

}  // namespace xattn::cli
