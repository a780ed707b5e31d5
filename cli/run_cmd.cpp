// `xattn run SCENARIO`: one mechanism and pass of a scenario, built into its Schedule for
// P ranks and run on the GPU (gpu/executor.hpp) warmup + reps times; prints the measured
// makespan, compute and exposed communication, and writes the median run's timeline as a
// Chrome trace whose metadata (RunSettings, model/schedule/trace.hpp) holds everything
// needed to simulate the same run again.
//
// One process or one per rank. With --transport nccl, a process that a launcher started
// as one of several (mpirun, srun, torchrun: gpu/launch.hpp) runs only its own rank on
// its node's GPU; the processes meet through MPI or a TCP rendezvous (gpu/rendezvous.hpp),
// check that they run the same job, run it, and send their op times to rank 0, which alone
// prints the result and writes the trace (gpu/rank_timeline.hpp).
//
// Exit codes: 0 ran; 2 bad input (scenario, options, a schedule this shape cannot have, a
// world size that is not the schedule's ranks, processes started with different
// arguments); 3 no GPU here, no NCCL for --transport nccl, or a build without CUDA
// (nothing wrong with the input: run it where there is a GPU); 1 a CUDA/NCCL failure or a
// rendezvous that failed (a process missing, gone, or unreachable).
#include <algorithm>
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
#include "cli/scenario_input.hpp"
#include "gpu/errors.hpp"
#include "gpu/launch.hpp"
#include "gpu/rendezvous.hpp"
#include "model/core/error.hpp"
#include "model/core/limits.hpp"
#include "model/core/memory.hpp"
#include "model/schedule/builders.hpp"
#include "model/schedule/trace.hpp"

#ifdef XATTN_HAVE_GPU
#include "gpu/executor.hpp"
#include "gpu/rank_timeline.hpp"
#include "model/scenario/scenario_file.hpp"
#endif

namespace xattn::cli {
namespace {

struct RunOptions {
  std::string scenario;
  std::string mechanism;
  std::string pass = "fwd";
  std::string transport = "loopback";
  int ranks = 0;  // 0: the scenario's
  std::string trace_path;
  std::string dtype;
  double bandwidth_GBps = RunSettings{}.link_bandwidth_GBps;  // the defaults a trace without them is read with
  double latency_us = RunSettings{}.link_latency_us;
  bool no_pace = false;
  std::string compute;  // empty: serial for loopback (what the simulator reproduces, docs/validation.md §6), per-rank for nccl
  int reps = 5;
  int warmup = 1;
  std::string format = "table";
  std::vector<std::string> overrides;
  std::string launch = "auto";
  std::string rendezvous;  // HOST:PORT; empty: MASTER_ADDR and MASTER_PORT
  double rendezvous_timeout_s = 300;
};

// How this process takes part: alone (every rank here), or as one rank of a world of
// processes that meet over TCP or MPI.
struct LaunchPlan {
  enum class Kind { single, tcp, mpi };
  Kind kind = Kind::single;
  std::optional<gpu::LaunchEnv> env;  // tcp, and mpi when the launcher's variables are set
  gpu::TcpOptions tcp;
};

[[maybe_unused]] std::string_view to_string(LaunchPlan::Kind k) {
  return k == LaunchPlan::Kind::tcp ? "tcp" : k == LaunchPlan::Kind::mpi ? "mpi" : "single";
}

// Decided before any GPU, network or MPI call, from the options and the environment.
// Throws InputError (exit 2) for a combination that cannot work.
LaunchPlan plan_launch(const RunOptions& o, const gpu::Environment& env, int ranks) {
  LaunchPlan plan;
  const Origin launch_origin{"--launch " + o.launch};
  if (o.transport != "nccl") {
    if (o.launch == "tcp" || o.launch == "mpi")
      throw InputError(launch_origin, "launch",
                       "the loopback transport runs every rank in one process; one process per rank needs --transport nccl");
    return plan;  // loopback ignores the launcher: every process runs the whole schedule
  }
  if (o.launch == "single") return plan;
  std::optional<gpu::LaunchEnv> launched;
  try {
    launched = gpu::detect_launch(env);
  } catch (const gpu::LaunchError& e) {
    throw InputError(Origin{"environment"}, "launch", e.what());
  }
  if (o.launch == "mpi") {
    if (!gpu::mpi_built())
      throw InputError(launch_origin, "launch",
                       "this xattn was built without MPI (install an MPI, e.g. libopenmpi-dev, and rebuild), or use "
                       "--launch tcp");
    plan.kind = LaunchPlan::Kind::mpi;
    plan.env = launched;
    return plan;
  }
  if (o.launch == "tcp" && !launched)
    throw InputError(launch_origin, "launch",
                     "no launcher's variables found: a process of a multi-process run needs its rank and the world "
                     "size (XATTN_RANK and XATTN_WORLD, or those of mpirun, srun or torchrun: docs/gpu_backend.md)");
  if (!launched || (o.launch == "auto" && launched->world == 1)) return plan;  // one process over the visible GPUs
  plan.env = launched;
  if (launched->world != ranks)
    throw InputError(Origin{"--ranks"}, "ranks",
                     fmt::format("the schedule has {} ranks, but this process is {}: start one process per rank, "
                                 "or pass -P {}",
                                 ranks, launched->describe(), launched->world));
  if (o.launch == "auto" && gpu::mpi_built() &&
      (launched->launcher == gpu::Launcher::open_mpi || launched->launcher == gpu::Launcher::pmi)) {
    plan.kind = LaunchPlan::Kind::mpi;
    return plan;
  }
  plan.kind = LaunchPlan::Kind::tcp;
  try {
    if (!o.rendezvous.empty()) {
      plan.tcp.address = gpu::parse_tcp_address(o.rendezvous, "--rendezvous");
    } else if (auto a = gpu::tcp_address_from_env(env)) {
      plan.tcp.address = *a;
    } else {
      throw InputError(Origin{"--rendezvous"}, "rendezvous",
                       fmt::format("this process is {}, and the processes meet at rank 0's TCP port: set MASTER_ADDR and "
                                   "MASTER_PORT (the host of rank 0 and a free port) or pass --rendezvous HOST:PORT",
                                   launched->describe()));
    }
  } catch (const gpu::LaunchError& e) {
    throw InputError(Origin{o.rendezvous.empty() ? "environment" : "--rendezvous " + o.rendezvous}, "rendezvous", e.what());
  }
  plan.tcp.timeout = std::chrono::milliseconds(static_cast<long long>(o.rendezvous_timeout_s * 1e3));
  return plan;
}

// What every process of a multi-process run must agree on, in words.
[[maybe_unused]] std::string job_key(const RunOptions& o, const Schedule& s, const std::string& compute) {
  std::size_t ops = 0;
  for (const auto& p : s.programs) ops += p.ops.size();
  const AttentionShape& a = s.shape;
  return fmt::format("{} {} P={} ops={} B={} H={} H_kv={} d={} S_q={} S_kv={} {} reps={} warmup={} compute={} transport={}",
                     s.mechanism.name(), to_string(s.pass), s.ranks(), ops, a.batch, a.heads, a.kv_heads, a.head_dim,
                     a.q_tokens, a.kv_tokens, to_string(a.dtype), o.reps, o.warmup, compute, o.transport);
}

#ifdef XATTN_HAVE_GPU

struct Measured {
  Schedule schedule;
  Timeline timeline;  // the median-makespan run
  std::vector<double> makespans_s;
  std::vector<OpId> order;
  std::string device;
};

#endif

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
  if (o.ranks > limits::max_gpus)
    problems.add(Problem{Origin{"--ranks"}, "ranks",
                         fmt::format("{} is beyond the largest cluster xattn accepts, {} (docs/limits.md)", o.ranks,
                                     limits::max_gpus)});
  if (o.reps < 1) problems.add(Problem{Origin{"--reps"}, "reps", "needs at least 1 timed run"});
  if (o.warmup < 0) problems.add(Problem{Origin{"--warmup"}, "warmup", "cannot be negative"});
  if (!(o.bandwidth_GBps > 0)) problems.add(Problem{Origin{"--link-bandwidth"}, "link-bandwidth", "needs a positive GB/s"});
  if (o.latency_us < 0) problems.add(Problem{Origin{"--link-latency"}, "link-latency", "cannot be negative"});
  if (!(o.rendezvous_timeout_s > 0))
    problems.add(Problem{Origin{"--rendezvous-timeout"}, "rendezvous-timeout", "needs a positive number of seconds"});
  const std::string compute = !o.compute.empty() ? o.compute : o.transport == "nccl" ? "per-rank" : "serial";
  if (o.transport == "nccl" && compute == "serial")
    problems.add(Problem{Origin{"--compute serial"}, "compute",
                         "one device compute stream is for ranks sharing one GPU (loopback); NCCL runs one rank per GPU: "
                         "--compute per-rank"});
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
  Schedule schedule;
  const ScheduleSize size = schedule_size(m, pass, b.ranks);
  check_memory(static_cast<std::uint64_t>(std::min(size.bytes(), 1.8e19)),
               fmt::format("the {} schedule on {} ranks (up to {} ops)", m.name(), b.ranks, size.ops),
               "run fewer ranks (-P)");
  try {
    schedule = build_schedule(m, pass, b);
  } catch (const InfeasibleSchedule& why) {
    throw InputError(Origin{"--mechanism " + o.mechanism}, "mechanism", why.what());
  }
  const LaunchPlan plan = plan_launch(o, gpu::process_environment(), b.ranks);
  // In a multi-process run only rank 0 writes the trace, and checks its path after the
  // processes have met (so that they all stop together when it is wrong).
  const bool one_process = plan.kind == LaunchPlan::Kind::single;
  if (!o.trace_path.empty() && one_process) check_output_path(o.trace_path, "--trace");

#ifndef XATTN_HAVE_GPU
  (void)schedule;
  (void)compute;
  (void)io;
  throw EnvironmentError("run", "this xattn was built without CUDA, so it cannot run on a GPU; rebuild where the CUDA "
                                "toolkit is installed (cmake -DXATTN_GPU=ON) and run it on a machine with a GPU");
#else
  // ---- the processes meet (one process per rank) ----
  std::unique_ptr<gpu::Bootstrap> boot;
  {  // a RendezvousError is the environment's (exit 3, cli/errors.hpp)
    if (plan.kind == LaunchPlan::Kind::tcp)
      boot = gpu::tcp_bootstrap(plan.env->rank, plan.env->world, plan.env->local_rank, plan.tcp);
    else if (plan.kind == LaunchPlan::Kind::mpi)
      boot = gpu::mpi_bootstrap();
    if (boot) {
      if (boot->world() != b.ranks)
        throw InputError(Origin{"--ranks"}, "ranks",
                         fmt::format("the schedule has {} ranks, but {} holds {} processes: start one process per rank, "
                                     "or pass -P {}",
                                     b.ranks, boot->describe(), boot->world(), boot->world()));
      const std::string mismatch = gpu::find_job_mismatch(*boot, job_key(o, schedule, compute));
      std::string trace_problem;
      if (boot->rank() == 0 && !o.trace_path.empty()) {
        try {
          check_output_path(o.trace_path, "--trace");
        } catch (const InputError& e) {
          for (const auto& p : e.problems()) trace_problem += p.str();
        }
      }
      trace_problem = boot->broadcast(trace_problem);
      if (!mismatch.empty()) throw InputError(Origin{"command line"}, "run", mismatch);
      if (!trace_problem.empty()) throw InputError(Origin{"--trace " + o.trace_path}, "trace", "rank 0: " + trace_problem);
    }
  }

  gpu::ExecOptions e;
  e.transport = o.transport == "nccl" ? gpu::TransportKind::nccl : gpu::TransportKind::loopback;
  e.link = gpu::LoopbackOptions{o.bandwidth_GBps, o.latency_us, !o.no_pace};
  e.placement = compute == "serial" ? gpu::ComputePlacement::one_device_stream : gpu::ComputePlacement::per_rank_streams;
  e.bootstrap = boot.get();
  std::vector<Timeline> runs;
  Measured r;
  r.schedule = std::move(schedule);
  std::vector<int> local_ranks;
  try {
    gpu::Executor ex(r.schedule, e);
    for (int i = 0; i < o.warmup; ++i) (void)ex.run();
    for (int i = 0; i < o.reps; ++i) runs.push_back(ex.run());
    r.order = ex.compute_order();
    r.device = ex.device_name();
    local_ranks = ex.local_ranks();
  } catch (const gpu::GpuUnavailable& why) {  // which rank could not run, in a run of several processes
    if (!boot) throw;
    throw gpu::GpuUnavailable(fmt::format("rank {}: {}", boot->rank(), why.what()));
  } catch (const std::invalid_argument& why) {
    throw InputError(Origin{"command line"}, "run", why.what());
  }

  // ---- every rank's op times, merged at rank 0 ----
  std::vector<gpu::RankTimes> parts;
  for (int rank : local_ranks) parts.push_back(gpu::slice_rank(runs, rank));
  if (boot) {
    const std::vector<std::string> all = boot->gather(gpu::encode_rank_times(parts.front()));
    if (boot->rank() != 0) return 0;  // rank 0 reports for everyone
    parts.clear();
    for (const std::string& bytes : all) parts.push_back(gpu::decode_rank_times(bytes));
  }
  runs = gpu::merge_rank_times(r.schedule, std::move(parts));

  // The run with the median makespan (the lower median for an even count) is reported.
  std::vector<std::size_t> idx(runs.size());
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t c) { return runs[a].makespan < runs[c].makespan; });
  r.timeline = runs[idx[(idx.size() - 1) / 2]];
  for (const auto& t : runs) r.makespans_s.push_back(t.makespan.seconds().value());

  const double makespan = r.timeline.makespan.seconds().value();
  const double compute_s = r.timeline.max_compute_busy().seconds().value();
  const double exposed = makespan - compute_s;
  const int processes = boot ? boot->world() : 1;
  // How the run was made, for the trace's metadata (read back by `xattn validate`).
  RunSettings run;
  run.transport = e.transport == gpu::TransportKind::nccl ? RunTransport::nccl : RunTransport::loopback;
  run.link_bandwidth_GBps = o.bandwidth_GBps;
  run.link_latency_us = o.latency_us;
  run.link_paced = !o.no_pace;
  // The loopback's link of an ordered rank pair serves its messages first come first
  // served (docs/gpu_backend.md, "Links").
  run.fifo_pairs = run.transport == RunTransport::loopback;
  run.placement = e.placement == gpu::ComputePlacement::one_device_stream ? ComputePlacement::one_device_stream
                                                                          : ComputePlacement::per_rank_streams;
  if (run.placement == ComputePlacement::one_device_stream) run.compute_order = r.order;
  run.dtype = std::string(to_string(scenario.shape.dtype));
  run.accumulator_bytes = b.accumulator_bytes;
  run.device = r.device;
  run.ranks_per_device = e.transport == gpu::TransportKind::loopback ? b.ranks : 1;
  run.processes = processes;
  run.launch = std::string(to_string(plan.kind));
  if (plan.env) run.launcher = std::string(gpu::to_string(plan.env->launcher));
  if (e.transport == gpu::TransportKind::nccl)
    run.time_origin = processes > 1 ? "per GPU, after an NCCL all-reduce barrier; processes differ by its completion skew"
                                    : "per GPU, after an NCCL all-reduce barrier";
  run.reps = o.reps;
  run.warmup = o.warmup;
  run.reported_run = "median makespan of the reps";
  run.makespans_s = r.makespans_s;
  run.compute_s = compute_s;
  run.exposed_comm_s = exposed;
  run.overrides = overrides;
  nlohmann::json settings = run_settings_json(run);

  std::string trace;
  if (!o.trace_path.empty()) {
    nlohmann::json doc = nlohmann::json::parse(chrome_trace_json(r.schedule, r.timeline, TraceInfo{scenario.name, "measured"}));
    for (auto& [k, v] : settings.items()) doc["metadata"][k] = v;
    trace = doc.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  if (o.format == "json") {
    nlohmann::json out = {{"scenario", scenario.name},     {"mechanism", m.name()},
                          {"pass", std::string(to_string(pass))}, {"P", b.ranks},
                          {"engine", "measured"},          {"time_s", makespan}};
    for (auto& [k, v] : settings.items()) out[k] = v;
    io.out << out.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  } else {
    io.out << fmt::format("# xattn run: {} {} P={} on {} ({} transport{}{}, {} compute)\n", m.name(), to_string(pass), b.ranks,
                          r.device, gpu::to_string(e.transport),
                          e.transport == gpu::TransportKind::loopback
                              ? (o.no_pace ? ", unpaced" : fmt::format(" at {} GB/s, {} us", o.bandwidth_GBps, o.latency_us))
                              : std::string(),
                          processes > 1 ? fmt::format(", {} processes via {}", processes, to_string(plan.kind)) : std::string(),
                          compute);
    io.out << fmt::format("# median of {} runs after {} warm-up\n", o.reps, o.warmup);
    io.out << fmt::format("{:>12} {:>12} {:>16} {:>12} {:>12}\n", "makespan", "compute", "exposed_comm", "min", "max");
    io.out << fmt::format("{:>12} {:>12} {:>16} {:>12} {:>12}\n", "ms", "ms", "ms", "ms", "ms");
    const auto [lo, hi] = std::minmax_element(r.makespans_s.begin(), r.makespans_s.end());
    io.out << fmt::format("{:>12.4f} {:>12.4f} {:>16.4f} {:>12.4f} {:>12.4f}\n", makespan * 1e3, compute_s * 1e3, exposed * 1e3,
                          *lo * 1e3, *hi * 1e3);
  }
  if (!o.trace_path.empty()) write_file_atomically(o.trace_path, trace);
  return 0;
#endif
}

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
                  "--link-bandwidth/--link-latency) or nccl (one rank per GPU: in this process, or one process\n"
                  "per rank when a launcher started several: see --launch)")
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
                  "serial (the loopback default: all ranks' compute on one stream, one op at a time, in a\n"
                  "topological (round, rank, index) order; what `xattn validate` reproduces) or per-rank (the nccl\n"
                  "default: each rank its own compute stream; on one GPU, kernels of different ranks share the SMs)")
      ->type_name("MODE")
      ->check(CLI::IsMember({"per-rank", "serial"}));
  sub->add_option("--reps", o->reps, "Timed runs (default 5); the median-makespan run is reported")->type_name("N");
  sub->add_option("--warmup", o->warmup, "Untimed runs first (default 1)")->type_name("N");
  sub->add_option("-f,--format", o->format, "Output: table (default) or json")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"table", "json"}));
  sub->add_option("-s,--set", o->overrides, set_option_help())->type_name("KEY=VALUE");
  sub->add_option("--launch", o->launch,
                  "nccl: auto (default: one process per rank when a launcher started several — MPI when built with\n"
                  "it and started by mpirun, else TCP — otherwise one process over the visible GPUs), single (this\n"
                  "process runs every rank), tcp (the launcher's variables and a TCP rendezvous), mpi")
      ->type_name("HOW")
      ->check(CLI::IsMember({"auto", "single", "tcp", "mpi"}));
  sub->add_option("--rendezvous", o->rendezvous,
                  "TCP rendezvous: rank 0's host and a free port (default: $MASTER_ADDR:$MASTER_PORT)")
      ->type_name("HOST:PORT");
  sub->add_option("--rendezvous-timeout", o->rendezvous_timeout_s,
                  "Seconds to wait for the other processes, at the start and at each exchange (default 300)")
      ->type_name("S");
  sub->footer(
      "Needs a GPU (exit code 3 without one). Example:\n"
      "  xattn run scenarios/llama32v-16xa100.yaml -m lv-xattn -p fwd -P 4 --set workload.text_tokens=1024 \\\n"
      "      --set workload.frames=4 --trace measured.json\n"
      "One process per GPU (rank 0 prints and writes the trace), e.g. 2 nodes x 4 GPUs:\n"
      "  mpirun -np 8 -npernode 4 xattn run SCENARIO -m ring -P 8 --transport nccl --trace t.json\n"
      "  srun -N 2 --ntasks-per-node 4 --gpus-per-task 1 env MASTER_ADDR=node0 MASTER_PORT=29500 \\\n"
      "      xattn run SCENARIO -m ring -P 8 --transport nccl --trace t.json");
  commands.add(sub, [o](Io& io) { return run_run(*o, io); });
}

}  // namespace xattn::cli
