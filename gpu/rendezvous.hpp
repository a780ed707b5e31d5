// The bootstrap of a multi-process GPU run (issue 6). Once every process knows its rank
// (launch.hpp), the processes must exchange a few bytes before and after the run: NCCL's
// 128-byte unique id from rank 0 to everyone (ncclCommInitRank needs it), whether every
// process set up its GPU (so that one failure ends every process with the same message
// instead of leaving the others waiting in NCCL), and each rank's measured op times back
// to rank 0, which writes the one trace. Host-only (no CUDA), so that the exchange is
// tested across real processes on machines without a GPU.
//
// Two implementations of one small interface:
//  * tcp — rank 0 listens on the rendezvous port (MASTER_PORT, all interfaces), every
//    other rank connects to MASTER_ADDR:MASTER_PORT, says who it is and keeps the
//    connection for the run: a star, torchrun's convention, and nothing on disk, so no
//    file from an earlier run can be mistaken for this one's. Every wait has a deadline
//    (TcpOptions::timeout) and fails with a message naming the ranks that are missing; a
//    process that starts with another world size, a rank another process already has, or
//    another protocol version is turned away, and rank 0 then tells every rank why.
//    Connections that do not speak the protocol (a port scanner) are dropped and ignored.
//  * mpi — MPI_COMM_WORLD (MPI_Bcast, MPI_Gatherv), when xattn was built with MPI.
//
// Every operation is collective: every process calls the same operations in the same
// order. Messages are byte strings (std::string used as a byte container).
#pragma once

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "gpu/launch.hpp"

namespace xattn::gpu {

// The rendezvous failed: a peer did not come, went away, or said something impossible.
struct RendezvousError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Bootstrap {
 public:
  virtual ~Bootstrap() = default;
  [[nodiscard]] int rank() const { return rank_; }
  [[nodiscard]] int world() const { return world_; }
  [[nodiscard]] int local_rank() const { return local_rank_; }  // -1: unknown
  [[nodiscard]] virtual std::string describe() const = 0;      // "tcp rendezvous at host:port"

  // Rank 0's `bytes` to every rank (the argument is ignored elsewhere); returns them.
  virtual std::string broadcast(std::string bytes) = 0;
  // Every rank's `mine`, in rank order, at rank 0; an empty vector elsewhere.
  virtual std::vector<std::string> gather(std::string mine) = 0;
  // Every rank's `mine`, in rank order, at every rank.
  std::vector<std::string> all_gather(std::string mine);
  void barrier() { (void)all_gather(std::string()); }

 protected:
  Bootstrap(int rank, int world, int local_rank) : rank_(rank), world_(world), local_rank_(local_rank) {}

 private:
  int rank_;
  int world_;
  int local_rank_;
};

struct TcpOptions {
  TcpAddress address;                              // where rank 0 listens and the others connect
  std::chrono::milliseconds timeout{300'000};      // for joining, and for each operation
};

// Joins the TCP rendezvous as `rank` of `world`: rank 0 listens and waits for the
// others, the others connect (retrying until rank 0 listens). Returns once every rank has
// joined. Throws RendezvousError.
[[nodiscard]] std::unique_ptr<Bootstrap> tcp_bootstrap(int rank, int world, int local_rank, const TcpOptions& o);

// Whether this xattn was built with MPI (XATTN_HAVE_MPI), and the MPI bootstrap: calls
// MPI_Init unless MPI is initialized already (and MPI_Finalize when destroyed, if it
// called MPI_Init); rank and world from MPI_COMM_WORLD, the rank on the node from
// MPI_Comm_split_type(MPI_COMM_TYPE_SHARED). Throws RendezvousError without MPI.
[[nodiscard]] bool mpi_built();
[[nodiscard]] std::unique_ptr<Bootstrap> mpi_bootstrap();

// Byte strings packed into one (and back), for all_gather and for callers that send
// several strings at once. unpack throws RendezvousError for bytes pack did not write.
[[nodiscard]] std::string pack(const std::vector<std::string>& parts);
[[nodiscard]] std::vector<std::string> unpack(std::string_view bytes);

// The same job on every rank: every rank passes a description of what it is about to run
// (mechanism, pass, P, reps, ...). Returns "" at every rank when all match, otherwise, at
// every rank, one message naming the ranks whose description differs from rank 0's.
[[nodiscard]] std::string find_job_mismatch(Bootstrap& b, const std::string& job);

}  // namespace xattn::gpu
