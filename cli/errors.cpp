// Errors to exit codes and messages, in one place (errors.hpp).
#include "cli/errors.hpp"

#include <new>
#include <stdexcept>

#include "cli/app.hpp"
#include "gpu/errors.hpp"
#include "gpu/launch.hpp"
#include "gpu/rendezvous.hpp"
#include "model/core/error.hpp"
#include "model/core/time.hpp"
#include "model/schedule/builders.hpp"
#include "model/schedule/checks.hpp"
#include "sim/executor.hpp"
#include "sim/process_group.hpp"

namespace xattn::cli {

int report_error(const std::exception_ptr& error, std::ostream& err, std::string_view who) noexcept {
  try {
    try {
      std::rethrow_exception(error);
    } catch (const InputError& e) {
      for (const auto& p : e.problems()) err << p.str() << '\n';
      if (e.problems().empty()) err << e.what() << '\n';
      return exit_bad_input;
    } catch (const InfeasibleSchedule& e) {
      err << who << ": the mechanism cannot run this shape: " << e.what() << '\n';
      return exit_bad_input;
    } catch (const ClockOverflow& e) {
      err << who << ": " << e.what() << "; the closed form (--engine analytic) has no such limit\n";
      return exit_bad_input;
    } catch (const gpu::LaunchError& e) {
      err << who << ": the launcher's environment: " << e.what() << '\n';
      return exit_bad_input;
    } catch (const EnvironmentError& e) {
      err << who << ": " << e.what() << '\n';
      return exit_environment;
    } catch (const gpu::GpuUnavailable& e) {
      err << who << ": " << e.what() << '\n';
      return exit_environment;
    } catch (const sim::ProcessGroupError& e) {  // the launcher's processes (MPI) of a sweep or plan
      err << who << ": " << e.what() << '\n';
      return exit_environment;
    } catch (const gpu::RendezvousError& e) {
      err << who << ": the processes of the run could not meet: " << e.what() << '\n';
      return exit_environment;
    } catch (const std::bad_alloc&) {
      err << who << ": not enough memory for this run (the closed form, --engine analytic, needs almost none)\n";
      return exit_environment;
    } catch (const sim::SimulationError& e) {
      err << who << ": internal error: the simulator could not finish a schedule xattn built (please report it): "
          << e.what() << '\n';
      return exit_failure;
    } catch (const ScheduleError& e) {
      err << who << ": internal error: a built schedule fails its checks (please report it): " << e.what() << '\n';
      return exit_failure;
    } catch (const gpu::GpuError& e) {
      err << who << ": a CUDA or NCCL call failed: " << e.what() << '\n';
      return exit_failure;
    } catch (const std::exception& e) {
      err << who << ": error: " << e.what() << '\n';
      return exit_failure;
    } catch (...) {
      err << who << ": error: unknown failure\n";
      return exit_failure;
    }
  } catch (...) {  // writing the message failed (the stream threw): the code still stands
    return exit_failure;
  }
}

}  // namespace xattn::cli
