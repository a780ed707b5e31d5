// `xattn sweep SWEEP.yaml`: the closed form (or the event engine) over a Cartesian grid of scenario
// fields, one CSV row per point x mechanism x pass (docs/sweep.md). The sweep file is read
// by load_sweep (model/scenario/sweep_file.hpp), evaluated by the sweep engine
// (sim/sweep.hpp) and written as CSV (cli/sweep.hpp); this file parses the options. Under
// `mpirun -n N` (a build with MPI) the chunks of points are dealt to the ranks and rank 0
// writes them in grid order (sim/process_group.hpp), the same bytes one process writes.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "cli/sweep.hpp"
#include "model/scenario/sweep_file.hpp"
#include "sim/process_group.hpp"

namespace xattn::cli {
namespace {

struct SweepCommandOptions {
  std::string sweep;
  std::string out_path;
  int jobs = 0;  // 0: one per hardware thread
  std::vector<std::string> overrides;
  std::string engine;  // --engine: empty keeps the sweep file's
};

// A one-line progress bar redrawn in place on a terminal, at most ten times a second.
class ProgressBar {
 public:
  explicit ProgressBar(std::ostream& err) : err_(err), start_(Clock::now()), last_(start_) {}

  void update(std::size_t done, std::size_t total) {
    auto now = Clock::now();
    if (done < total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    constexpr int kWidth = 40;
    double f = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
    int filled = static_cast<int>(f * kWidth);
    double seconds = std::chrono::duration<double>(now - start_).count();
    err_ << fmt::format("\r[{:<{}}] {:5.1f}%  {}/{} points  {:.1f} s", std::string(static_cast<std::size_t>(filled), '#'),
                        kWidth, f * 100, done, total, seconds)
         << std::flush;
    if (done >= total) err_ << '\n';
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::ostream& err_;
  Clock::time_point start_, last_;
};

int run_sweep_command(const SweepCommandOptions& o, Io& io) {
  if (!o.out_path.empty()) check_output_path(o.out_path, "--out");  // before a long sweep, not after
  SweepPlan plan = load_sweep(o.sweep, o.overrides, o.engine);
  // A ProcessGroupError is the environment's (exit 3, cli/errors.hpp).
  const std::unique_ptr<sim::ProcessGroup> group = sim::join_processes();
  sim::SweepOptions options;
  options.jobs = o.jobs > 0 ? o.jobs : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (group->size() > 1) {
    // Chunk c is rank c % N's (sim/sweep.hpp deals them the same way OrderedGather does).
    options.shard = static_cast<std::size_t>(group->rank());
    options.shards = static_cast<std::size_t>(group->size());
    const std::size_t chunk = std::max<std::size_t>(1, options.chunk_points);
    const std::size_t chunks = (plan.points() + chunk - 1) / chunk;
    std::size_t next = options.shard;  // the chunk the sink's next call holds
    if (!group->root()) {
      sim::OrderedGather gather(*group, chunks, [](std::string_view) {});
      write_sweep_csv(plan, options, [&](std::string_view rows) {
        gather.put(next, rows);
        next += options.shards;
      });
      return 0;
    }
    auto shared = [&](auto&& write) {
      sim::OrderedGather gather(*group, chunks, write);
      write_sweep_csv(plan, options, [&](std::string_view rows) {
        gather.put(next, rows);
        next += options.shards;
      });
      gather.finish();
    };
    if (o.out_path.empty()) {
      io.out << sweep_csv_header(plan);
      shared([&](std::string_view rows) { io.out.write(rows.data(), static_cast<std::streamsize>(rows.size())); });
      io.out << std::flush;
    } else {
      AtomicFile file(o.out_path);
      file.write(sweep_csv_header(plan));
      shared([&](std::string_view rows) { file.write(rows); });
      file.commit();
    }
    io.err << fmt::format("xattn sweep: {}: {} points, {} rows{}\n", group->describe(), plan.points(), plan.rows(),
                          o.out_path.empty() ? std::string() : " written to " + o.out_path);
    return 0;
  }
  std::optional<ProgressBar> bar;
  if (io.err_is_terminal) {
    bar.emplace(io.err);
    options.progress = [&](std::size_t done, std::size_t total) { bar->update(done, total); };
  }

  if (o.out_path.empty()) {
    io.out << sweep_csv_header(plan);
    write_sweep_csv(plan, options,
                    [&](std::string_view rows) { io.out.write(rows.data(), static_cast<std::streamsize>(rows.size())); });
    io.out << std::flush;
  } else {
    AtomicFile file(o.out_path);  // removed again if anything below throws
    file.write(sweep_csv_header(plan));
    write_sweep_csv(plan, options, [&](std::string_view rows) { file.write(rows); });
    file.commit();
    io.err << fmt::format("xattn sweep: {} rows ({} points x {} mechanisms x {} passes) written to {}\n", plan.rows(),
                          plan.points(), plan.mechanisms.size(), plan.passes.size(), o.out_path);
  }
  return 0;
}

}  // namespace

void add_sweep(CLI::App& app, Commands& commands) {
  auto o = std::make_shared<SweepCommandOptions>();
  CLI::App* sub = app.add_subcommand(
      "sweep", "A model over a grid of scenario fields: one CSV row per point, mechanism and pass");
  sub->add_option("SWEEP", o->sweep, "Sweep YAML file (docs/sweep.md), e.g. scenarios/sweeps/llama32v-frames.yaml")
      ->required()
      ->type_name("FILE");
  sub->add_option("-o,--out", o->out_path, "Write the CSV to FILE (whole or not at all); default: stdout")
      ->type_name("FILE");
  sub->add_option("-j,--jobs", o->jobs, "Worker threads (default: one per hardware thread); the output does not depend on it")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  sub->add_option("-e,--engine", o->engine,
                  "analytic (the closed form, default) or event (the event-driven simulator: link contention,\n"
                  "listed machines; seconds per point at thousands of GPUs); overrides the file's `engine:`")
      ->type_name("ENGINE");
  sub->add_option("-s,--set", o->overrides,
                  "Override a base-scenario field for every point, after the sweep file's `set` (repeatable),\n"
                  "e.g. cluster.inter_node.bandwidth_GBps=50; a grid field cannot be overridden.")
      ->type_name("KEY=VALUE");
  sub->footer(
      "The sweep file's `scope:` says what a row covers: iteration (default; one training step) or\n"
      "layer (one attention layer). CSV columns at layer scope: point, one per grid field,\n"
      "mechanism, pass, feasible, time_s, compute_s, exposed_comm_s, peak_memory_bytes, fits, reason\n"
      "(with --engine event, link_shared before reason); at iteration scope: point, the grid\n"
      "fields, mechanism, self_attention, pass, feasible, time_s, compute_s, exposed_comm_s,\n"
      "tokens_per_s, mfu, peak_memory_bytes, fits, reason. A point whose scenario does not resolve\n"
      "(e.g. a degree that does not divide) gives rows with feasible=false and the reason.\n"
      "Under `mpirun -n N` (a build with MPI) the points are shared among the ranks; rank 0 writes.\n"
      "Example: xattn sweep scenarios/sweeps/llama32v-frames.yaml --out frames.csv");
  commands.add(sub, [o](Io& io) { return run_sweep_command(*o, io); });
}

}  // namespace xattn::cli
