// Who this process is in a multi-process GPU run (issue 6): its rank, the number of
// processes and its rank on its node, read from the environment its launcher set. One
// process runs one rank of the schedule on one GPU. Host-only (no CUDA).
//
// Launchers, first match wins:
//
//   launcher   rank                   world size              rank on the node
//   xattn      XATTN_RANK             XATTN_WORLD             XATTN_LOCAL_RANK
//   open_mpi   OMPI_COMM_WORLD_RANK   OMPI_COMM_WORLD_SIZE    OMPI_COMM_WORLD_LOCAL_RANK
//   pmi        PMI_RANK               PMI_SIZE                MPI_LOCALRANKID
//   torchrun   RANK                   WORLD_SIZE              LOCAL_RANK
//   slurm      SLURM_PROCID           SLURM_STEP_NUM_TASKS    SLURM_LOCALID
//
// xattn's own names come first (a wrapper script may set them to override anything).
// open_mpi is Open MPI's mpirun; pmi is the Hydra mpiexec of MPICH and Intel MPI;
// torchrun is torchrun, torch.distributed.launch and the launchers that imitate them.
// Launchers nest — srun starts one torchrun per node, mpirun runs inside a Slurm
// allocation — and the innermost one started this process, while Slurm's variables are
// inherited by everything in the allocation: Slurm comes last. Slurm's world size is
// SLURM_STEP_NUM_TASKS, which only srun's tasks see: a batch script itself runs with
// SLURM_PROCID=0 and SLURM_NTASKS=N, and must not be taken for rank 0 of N.
//
// A launcher counts when its rank and world size are both set (and not empty). For xattn
// and open_mpi one without the other is an error (a wrapper half-configured); for the
// others, whose names are generic, it is ignored. The rank on the node is optional.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace xattn::gpu {

enum class Launcher { xattn, open_mpi, pmi, torchrun, slurm };
[[nodiscard]] std::string_view to_string(Launcher l);

struct LaunchEnv {
  Launcher launcher = Launcher::xattn;
  int rank = 0;
  int world = 1;
  int local_rank = -1;    // -1: the launcher did not say
  std::string variables;  // the variables read, with their values, for messages
  // "rank 1 of 4 (open_mpi: OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=4)"
  [[nodiscard]] std::string describe() const;
};

// The environment as name -> value; process_environment() reads this process's.
using Environment = std::map<std::string, std::string, std::less<>>;
[[nodiscard]] Environment process_environment();

// A launcher's variables that do not make sense: not a whole number, a rank outside the
// world, one half of a pair. The message names the variables and their values.
struct LaunchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The launcher that started this process, or nullopt when none did (a plain shell).
// Throws LaunchError.
[[nodiscard]] std::optional<LaunchEnv> detect_launch(const Environment& env);

// Where rank 0 of a TCP rendezvous listens (rendezvous.hpp).
struct TcpAddress {
  std::string host;
  int port = 0;
  [[nodiscard]] std::string str() const;  // "host:port", "[::1]:port"
};

// "HOST:PORT" or "[IPV6]:PORT", port 1..65535. Throws LaunchError naming `what`.
[[nodiscard]] TcpAddress parse_tcp_address(std::string_view text, std::string_view what);

// MASTER_ADDR and MASTER_PORT (torchrun's names), or nullopt when neither is set. Throws
// LaunchError when only one is, or the port is not a port.
[[nodiscard]] std::optional<TcpAddress> tcp_address_from_env(const Environment& env);

// The GPU a process uses among the `visible` ones of its node: its rank on the node when
// that is known and a visible GPU; GPU 0 when only one is visible (the launcher gave each
// process its own, as srun --gpus-per-task=1 does); rank modulo visible when the rank on
// the node is unknown. Throws GpuUnavailable (gpu/errors.hpp) when no GPU is visible, or
// the rank on the node has no GPU of its own.
[[nodiscard]] int choose_local_device(int rank, int local_rank, int visible);

}  // namespace xattn::gpu
