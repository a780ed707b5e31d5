// The whole `xattn` command line as one function, so that tests drive it in-process on
// argument vectors and main() is a one-liner.
#pragma once

#include <ostream>

namespace xattn::cli {

// Exit codes: 0 success (and --help, --version); 1 an unexpected failure; 2 bad input —
// a command-line parse error or an xattn::InputError (file, line and field on stderr);
// 3 the environment (no GPU, not enough memory, an output that cannot be written, a part
// this build lacks). Which error is which: cli/errors.hpp, the one place that decides.
enum ExitCode : int { exit_ok = 0, exit_failure = 1, exit_bad_input = 2, exit_environment = 3 };

// Parses argv (argv[0] is the program name) and runs the chosen subcommand, writing
// results to `out` and diagnostics to `err`. Never throws, never calls exit().
int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

// "xattn 0.1.0" and the optional parts this binary was built with, one per line.
[[nodiscard]] const char* version_text();

}  // namespace xattn::cli
