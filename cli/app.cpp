// `xattn`: builds the CLI11 application, registers every subcommand from one list, parses,
// runs the chosen subcommand and hands any error to the one mapping to exit codes
// (errors.hpp).
#include "cli/app.hpp"

#include <unistd.h>

#include <cstdio>
#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/command.hpp"
#include "cli/errors.hpp"

namespace xattn::cli {

#ifndef XATTN_VERSION
#define XATTN_VERSION "unknown"
#endif

const char* version_text() {
  return "xattn " XATTN_VERSION "\n"
         "  engines: analytic (closed form), event (event-driven simulator)\n"
#ifdef XATTN_HAVE_GPU
         "  GPU backend (CUDA/NCCL): built, CUDA " XATTN_CUDA_VERSION "\n"
#else
         "  GPU backend (CUDA/NCCL): not built (no CUDA toolkit at configure time)\n"
#endif
#ifdef XATTN_HAVE_MPI
         "  MPI: built (mpirun-launched runs)\n"
#else
         "  MPI: not built (apt-get install libopenmpi-dev, then reconfigure)\n"
#endif
#ifdef XATTN_HAVE_GUI
         "  dashboard (xattn-gui, Qt6): built";
#else
         "  dashboard (xattn-gui, Qt6): not built (Qt6 Widgets/Charts not found at configure time)";
#endif
}

const CommandRun* Commands::chosen() const {
  for (const auto& e : entries_)
    if (e.sub->parsed()) return &e.run;
  return nullptr;
}

namespace {

// The one place a subcommand is registered: add a line here for each new command file.
void register_commands(CLI::App& app, Commands& commands) {
  add_simulate(app, commands);
  add_sweep(app, commands);
  add_presets(app, commands);
  add_fields(app, commands);
  add_verify(app, commands);
  add_schedule(app, commands);
  add_calibrate_nccl(app, commands);
  add_collective(app, commands);
  add_run(app, commands);
  add_validate(app, commands);
  add_calibrate_gpu(app, commands);
  add_reproduce(app, commands);
  add_plan(app, commands);
  add_import(app, commands);
}

}  // namespace

int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  std::string who = "xattn";  // the command chosen, once parsed: messages name it
  try {
    CLI::App app{
        "xattn: how long distributed attention (LV-XAttn, Ring Attention, all-to-all) takes on "
        "a GPU cluster,\nand how much memory it needs, for multimodal LLMs with long visual inputs.",
        "xattn"};
    app.set_version_flag("--version", std::string(version_text()), "Print the version and the optional parts built in");
    app.require_subcommand(1);
    app.footer(
        "Run `xattn COMMAND --help` for a command's options.\n"
        "Example: xattn simulate scenarios/llama32v-16xa100.yaml --set workload.frames=384");

    Commands commands;
    register_commands(app, commands);

    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      // --help and --version are "errors" with exit code 0; every other parse error is bad
      // input and exits 2 (CLI11's own codes vary by kind).
      int code = app.exit(e, out, err);
      return code == 0 ? exit_ok : exit_bad_input;
    }

    for (const CLI::App* level = &app; !level->get_subcommands().empty();) {
      level = level->get_subcommands().front();
      who += " " + level->get_name();
    }
    const CommandRun* run = commands.chosen();
    if (run == nullptr) {  // require_subcommand makes this unreachable; be safe anyway
      err << app.help();
      return exit_bad_input;
    }
    Io io{out, err, &err == &std::cerr && ::isatty(STDERR_FILENO) == 1};
    return (*run)(io);
  } catch (...) {
    return report_error(std::current_exception(), err, who);  // the one mapping (errors.hpp)
  }
}

}  // namespace xattn::cli
