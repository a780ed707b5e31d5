// `xattn run SCENARIO`: one mechanism and pass of a scenario, built into its Schedule for
// P ranks and run on the GPU (gpu/executor.hpp) warmup + reps times; prints the measured
// makespan, compute and exposed communication, and writes the median run's timeline as a
// Chrome trace whose metadata holds everything needed to simulate the same run again.
//
// Exit codes: 0 ran; 2 bad input (scenario, options, a schedule this shape cannot have);
// 3 no GPU here, no NCCL for --transport nccl, or a build without CUDA (nothing wrong with
// the input: run it where there is a GPU); 1 a CUDA/NCCL failure.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/app.hpp"
#include "cli/command.hpp"
#include "cli/output.hpp"
#include "cli/scenario_input.hpp"
#include "model/error.hpp"
#include "model/schedule/builders.hpp"
#include "sim/trace.hpp"

#ifdef XATTN_HAVE_GPU
#include "gpu/executor.hpp"
#endif

namespace xattn::cli {
namespace {

constexpr int exit_no_gpu = 3;

struct RunOptions {
  std::string scenario;
  std::string mechanism;
  std::string pass = "fwd";
  std::string transport = "loopback";
  int ranks = 0;  // 0: the scenario's
  std::string trace_path;
  std::string dtype;
  double bandwidth_GBps = 10.0;
  double latency_us = 10.0;
  bool no_pace = false;
  std::string compute = "serial";  // the placement the simulator reproduces (docs/validation.md §6)
  int reps = 5;
  int warmup = 1;
  std::string format = "table";
  std::vector<std::string> overrides;
};

#ifdef XATTN_HAVE_GPU

struct Measured {
  Schedule schedule;
  sim::Timeline timeline;  // the median-makespan run
  std::vector<double> makespans_s;
  std::vector<OpId> order;
  std::string device;
};

nlohmann::json order_json(const std::vector<OpId>& order) {
  nlohmann::json a = nlohmann::json::array();
  for (const OpId& id : order) a.push_back(id.str());
  return a;
}

int run_run(const RunOptions& o, Io& io) {
  ProblemList problems;
  std::vector<Mechanism> mechanisms;
  std::vector<Pass> passes;
  problems.check([&] { mechanisms = parse_mechanisms({o.mechanism}, Origin{"--mechanism " + o.mechanism}, "mechanism"); });
  problems.check([&] { passes = parse_passes({o.pass}, Origin{"--pass " + o.pass}, "pass"); });
  std::vector<std::string> overrides = o.overrides;
  if (!o.dtype.empty()) overrides.push_back("workload.dtype=" + o.dtype);
  ScenarioSpec spec;
  Scenario scenario;
  problems.check([&] {
    spec = load_spec_with_overrides(o.scenario, overrides);
    scenario = resolve(spec);
  });
  if (o.ranks < 0) problems.add(Problem{Origin{"--ranks"}, "ranks", "needs P >= 1"});
  if (o.reps < 1) problems.add(Problem{Origin{"--reps"}, "reps", "needs at least 1 timed run"});
  if (o.warmup < 0) problems.add(Problem{Origin{"--warmup"}, "warmup", "cannot be negative"});
  if (!(o.bandwidth_GBps > 0)) problems.add(Problem{Origin{"--link-bandwidth"}, "link-bandwidth", "needs a positive GB/s"});
  if (o.latency_us < 0) problems.add(Problem{Origin{"--link-latency"}, "link-latency", "cannot be negative"});
  if (!o.trace_path.empty()) problems.check([&] { check_output_path(o.trace_path, "--trace"); });
  problems.throw_if_any();

  const Mechanism& m = mechanisms.front();
  const Pass pass = passes.front();
  if (scenario.shape.dtype == DType::fp32)
    throw InputError(Origin{"workload.dtype"}, "dtype", "the GPU kernels run fp16 or bf16 activations: --dtype fp16|bf16");
  BuildOptions b;
  b.shape = scenario.shape;
  b.ranks = o.ranks > 0 ? o.ranks : scenario.ranks();
  b.media_items = scenario.frames;
  b.accumulator_bytes = scenario.accumulator_bytes();
  Measured r;
  try {
    r.schedule = build_schedule(m, pass, b);
  } catch (const InfeasibleSchedule& why) {
    throw InputError(Origin{"--mechanism " + o.mechanism}, "mechanism", why.what());
  }

  gpu::ExecOptions e;
  e.transport = o.transport == "nccl" ? gpu::TransportKind::nccl : gpu::TransportKind::loopback;
  e.link = gpu::LoopbackOptions{o.bandwidth_GBps, o.latency_us, !o.no_pace};
  e.placement = o.compute == "serial" ? gpu::ComputePlacement::one_device_stream : gpu::ComputePlacement::per_rank_streams;
  std::vector<sim::Timeline> runs;
  try {
    gpu::Executor ex(r.schedule, e);
    for (int i = 0; i < o.warmup; ++i) (void)ex.run();
    for (int i = 0; i < o.reps; ++i) runs.push_back(ex.run());
    r.order = ex.compute_order();
    r.device = ex.device_name();
  } catch (const gpu::GpuUnavailable& why) {
    io.err << "xattn run: " << why.what() << '\n';
    return exit_no_gpu;
  } catch (const std::invalid_argument& why) {
    throw InputError(Origin{"command line"}, "run", why.what());
  }
  // The run with the median makespan (the lower median for an even count) is reported.
  std::vector<std::size_t> idx(runs.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t c) { return runs[a].makespan < runs[c].makespan; });
  r.timeline = runs[idx[(idx.size() - 1) / 2]];
  for (const auto& t : runs) r.makespans_s.push_back(t.makespan.seconds().value());

  const double makespan = r.timeline.makespan.seconds().value();
  const double compute = r.timeline.max_compute_busy().seconds().value();
  const double exposed = makespan - compute;
  nlohmann::json settings = {
      {"transport", std::string(gpu::to_string(e.transport))},
      {"link_bandwidth_GBps", o.bandwidth_GBps},
      {"link_latency_us", o.latency_us},
      {"link_paced", !o.no_pace},
      {"loopback_link_model", "one FIFO link per ordered rank pair, through pinned host memory"},
      {"compute_placement", std::string(gpu::to_string(e.placement))},
      {"dtype", std::string(to_string(scenario.shape.dtype))},
      {"accumulator_bytes", b.accumulator_bytes},
      {"device", r.device},
      {"ranks_per_device", e.transport == gpu::TransportKind::loopback ? b.ranks : 1},
      {"reps", o.reps},
      {"warmup", o.warmup},
      {"reported_run", "median makespan of the reps"},
      {"makespans_s", r.makespans_s},
      {"compute_s", compute},
      {"exposed_comm_s", exposed},
      {"overrides", overrides},
  };
  if (e.placement == gpu::ComputePlacement::one_device_stream) settings["compute_order"] = order_json(r.order);

  std::string trace;
  if (!o.trace_path.empty()) {
    nlohmann::json doc = nlohmann::json::parse(sim::chrome_trace_json(r.schedule, r.timeline, sim::TraceInfo{scenario.name, "measured"}));
    for (auto& [k, v] : settings.items()) doc["metadata"][k] = v;
    trace = doc.dump(1) + "\n";
  }
  if (o.format == "json") {
    nlohmann::json out = {{"scenario", scenario.name},     {"mechanism", m.name()},
                          {"pass", std::string(to_string(pass))}, {"P", b.ranks},
                          {"engine", "measured"},          {"time_s", makespan}};
    for (auto& [k, v] : settings.items()) out[k] = v;
    io.out << out.dump(1) << '\n';
  } else {
    io.out << fmt::format("# xattn run: {} {} P={} on {} ({} transport{}, {} compute)\n", m.name(), to_string(pass), b.ranks,
                          r.device, gpu::to_string(e.transport),
                          e.transport == gpu::TransportKind::loopback
                              ? (o.no_pace ? ", unpaced" : fmt::format(" at {} GB/s, {} us", o.bandwidth_GBps, o.latency_us))
                              : std::string(),
                          o.compute);
    io.out << fmt::format("# median of {} runs after {} warm-up\n", o.reps, o.warmup);
    io.out << fmt::format("{:>12} {:>12} {:>16} {:>12} {:>12}\n", "makespan", "compute", "exposed_comm", "min", "max");
    io.out << fmt::format("{:>12} {:>12} {:>16} {:>12} {:>12}\n", "ms", "ms", "ms", "ms", "ms");
    const auto [lo, hi] = std::minmax_element(r.makespans_s.begin(), r.makespans_s.end());
    io.out << fmt::format("{:>12.4f} {:>12.4f} {:>16.4f} {:>12.4f} {:>12.4f}\n", makespan * 1e3, compute * 1e3, exposed * 1e3,
                          *lo * 1e3, *hi * 1e3);
  }
  if (!o.trace_path.empty()) write_file_atomically(o.trace_path, trace);
  return 0;
}

#else

int run_run(const RunOptions&, Io& io) {
  io.err << "xattn run: this xattn was built without CUDA, so it cannot run on a GPU; rebuild where the CUDA\n"
            "toolkit is installed (cmake -DXATTN_GPU=ON) and run it on a machine with a GPU\n";
  return exit_no_gpu;
}

#endif

}  // namespace

void add_run(CLI::App& app, Commands& commands) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* sub = app.add_subcommand("run", "Run one mechanism and pass of a scenario on the GPU and measure it");
  sub->add_option("SCENARIO", o->scenario, "Scenario YAML file (shape: workload.*; use --set to make it small)")
      ->required()
      ->type_name("FILE");
  sub->add_option("-m,--mechanism", o->mechanism, "Mechanism to run. Known:\n" + mechanism_names())
      ->required()
      ->type_name("NAME");
  sub->add_option("-p,--pass", o->pass, "Pass: fwd (default), bwd or fwd+bwd")
      ->type_name("PASS")
      ->check(CLI::IsMember({"fwd", "bwd", "fwd+bwd"}));
  sub->add_option("--transport", o->transport,
                  "loopback (default: every rank on one GPU, messages through pinned host memory paced to\n"
                  "--link-bandwidth/--link-latency) or nccl (one rank per GPU)")
      ->type_name("KIND")
      ->check(CLI::IsMember({"loopback", "nccl"}));
  sub->add_option("-P,--ranks", o->ranks, "Ranks P (default: the scenario's GPUs)")->type_name("P");
  sub->add_option("--trace", o->trace_path, "Write the median run as Chrome-trace JSON (Perfetto), with its settings")
      ->type_name("FILE.json");
  sub->add_option("--dtype", o->dtype, "Activation dtype: fp16 or bf16 (default: the scenario's)")
      ->type_name("DTYPE")
      ->check(CLI::IsMember({"fp16", "bf16"}));
  sub->add_option("--link-bandwidth", o->bandwidth_GBps, "Loopback link bandwidth per direction, GB/s (default 10)")
      ->type_name("GBps");
  sub->add_option("--link-latency", o->latency_us, "Loopback link latency, us (default 10)")->type_name("us");
  sub->add_flag("--no-pace", o->no_pace, "Loopback: raw pinned-host copies, no pacing");
  sub->add_option("--compute", o->compute,
                  "serial (default: all ranks' compute on one stream, one op at a time, in a topological\n"
                  "(round, rank, index) order; what `xattn validate` reproduces) or per-rank (each rank its own\n"
                  "compute stream: kernels of different ranks share the SMs)")
      ->type_name("MODE")
      ->check(CLI::IsMember({"per-rank", "serial"}));
  sub->add_option("--reps", o->reps, "Timed runs (default 5); the median-makespan run is reported")->type_name("N");
  sub->add_option("--warmup", o->warmup, "Untimed runs first (default 1)")->type_name("N");
  sub->add_option("-f,--format", o->format, "Output: table (default) or json")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"table", "json"}));
  sub->add_option("-s,--set", o->overrides, set_option_help())->type_name("KEY=VALUE");
  sub->footer(
      "Needs a GPU (exit code 3 without one). Example:\n"
      "  xattn run scenarios/llama32v-16xa100.yaml -m lv-xattn -p fwd -P 4 --set workload.text_tokens=1024 \\\n"
      "      --set workload.frames=4 --trace measured.json");
  commands.add(sub, [o](Io& io) { return run_run(*o, io); });
}

}  // namespace xattn::cli
