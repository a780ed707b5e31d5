// The one place where an error becomes an exit code and a message (docs/layout.md, "Errors
// and exit codes"; docs/limits.md). Libraries throw typed errors and never exit; commands
// let them through (or catch one to add context and rethrow a typed error); run_cli hands
// whatever reaches it to report_error:
//
//   2  bad input — InputError (every problem with its file, line and field), a mechanism
//      that cannot run the shape asked for (InfeasibleSchedule), a run longer than the
//      event engine's clock (ClockOverflow), a launcher's variables that make no sense
//      (gpu::LaunchError); command-line parse errors are 2 as well (app.cpp)
//   3  the environment — EnvironmentError (an output that cannot be written, not enough
//      memory for the run, a part this build lacks), no GPU (gpu::GpuUnavailable), the
//      processes of a multi-process run that could not meet (gpu::RendezvousError,
//      sim::ProcessGroupError),
//      std::bad_alloc
//   1  anything else: xattn's own failure, reported as such — SimulationError (every
//      schedule the simulator runs comes from xattn's builders, so one that cannot run to
//      the end is a bug, not bad input), a failed static check of a built schedule
//      (ScheduleError), a CUDA or NCCL call that failed (gpu::GpuError), an exception from
//      a library a parser should have turned into an InputError
#pragma once

#include <exception>
#include <ostream>
#include <string_view>

namespace xattn::cli {

// Writes what went wrong to `err`, after `who` (the command: "xattn run", "xattn calibrate
// gpu"; "xattn" before one is known), and returns the exit code (1, 2 or 3). Never throws.
[[nodiscard]] int report_error(const std::exception_ptr& error, std::ostream& err,
                               std::string_view who = "xattn") noexcept;

}  // namespace xattn::cli
