// What every `xattn` subcommand shares: where it writes, and how it is registered.
//
// A subcommand is one file (simulate.cpp, sweep_cmd.cpp, ...) with one entry point,
// `void add_<name>(CLI::App& app, Commands& commands)`, that declares its CLI11
// subcommand and options and hands back the function that runs it. app.cpp calls each
// entry point from one list (register_commands), so a later command is one new file and
// one new line there.
//
// Runners report bad input by throwing xattn::InputError (exit code 2) and problems of the
// machine by throwing xattn::EnvironmentError (exit code 3); every error type's code is
// decided in one place, cli/errors.hpp. They never call exit().
#pragma once

#include <functional>
#include <ostream>
#include <vector>

namespace CLI {
class App;
}

namespace xattn::cli {

// The streams a command writes to. `err_is_terminal` is true only when `err` is the
// process's stderr and that is a terminal (progress bars are drawn only then).
struct Io {
  std::ostream& out;
  std::ostream& err;
  bool err_is_terminal = false;
};

// Runs a parsed subcommand; returns its exit code (0 on success).
using CommandRun = std::function<int(Io&)>;

class Commands {
 public:
  // `sub` is the CLI11 subcommand; `run` is called when it was chosen on the command line.
  void add(CLI::App* sub, CommandRun run) { entries_.push_back({sub, std::move(run)}); }

  // The runner of the subcommand that was parsed, or nullptr when none was chosen.
  [[nodiscard]] const CommandRun* chosen() const;

 private:
  struct Entry {
    CLI::App* sub;
    CommandRun run;
  };
  std::vector<Entry> entries_;
};

// Entry points, one per subcommand file.
void add_simulate(CLI::App& app, Commands& commands);
void add_sweep(CLI::App& app, Commands& commands);
void add_presets(CLI::App& app, Commands& commands);
void add_fields(CLI::App& app, Commands& commands);
void add_verify(CLI::App& app, Commands& commands);
void add_schedule(CLI::App& app, Commands& commands);
void add_calibrate_nccl(CLI::App& app, Commands& commands);
void add_collective(CLI::App& app, Commands& commands);
void add_run(CLI::App& app, Commands& commands);
void add_validate(CLI::App& app, Commands& commands);
void add_calibrate_gpu(CLI::App& app, Commands& commands);
void add_reproduce(CLI::App& app, Commands& commands);
void add_plan(CLI::App& app, Commands& commands);
void add_import(CLI::App& app, Commands& commands);  // `import kineto` (import_cmd.cpp)

// The `calibrate` command group, created on first use: `calibrate nccl-tests` and
// `calibrate gpu` are subcommands of it (defined in calibrate_cmd.cpp).
CLI::App* calibrate_group(CLI::App& app);

}  // namespace xattn::cli
