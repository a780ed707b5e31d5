// The processes one sweep or one plan is shared among (issue 18 §4). Started by `mpirun -n
// N` in a build with MPI, the N processes form one group: each evaluates its share of the
// points and rank 0 gathers the rest and writes the single output, identical to what one
// process writes. Started alone, the group is that process. Started by a launcher with
// more than one rank in a build without MPI, joining refuses, naming the missing part:
// otherwise every rank would write the whole output.
//
// Only rank 0 writes; a rank that fails exits non-zero and the launcher ends the job
// (mpirun does), so a rank waiting on it never hangs. MPI is called from the thread that
// joined only (MPI_THREAD_FUNNELED); the workers of each process never touch it.
#pragma once

#include <cstdlib>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace xattn::sim {

// A problem of the environment, not of the input (the CLI exits 3): started by mpirun in
// a build without MPI, or MPI failing.
class ProcessGroupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// How many processes a launcher says it started this one among: Open MPI's
// OMPI_COMM_WORLD_SIZE, or a PMI launcher's PMI_SIZE (MPICH, Intel MPI, Slurm's PMI);
// 1 when neither is set. `getenv` is injectable for tests.
[[nodiscard]] int launched_ranks(const std::function<const char*(const char*)>& getenv = [](const char* n) {
  return std::getenv(n);
});

// Whether this build can join processes through MPI.
[[nodiscard]] bool built_with_mpi();

class ProcessGroup {
 public:
  ProcessGroup(int rank, int size) : rank_(rank), size_(size) {}
  virtual ~ProcessGroup() = default;
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  [[nodiscard]] int rank() const { return rank_; }
  [[nodiscard]] int size() const { return size_; }
  [[nodiscard]] bool root() const { return rank_ == 0; }
  // "1 process" or "MPI, 3 ranks".
  [[nodiscard]] virtual std::string describe() const = 0;

  // Point to point, delivered in order between each pair of ranks.
  virtual void send(int to, std::string_view bytes) = 0;
  [[nodiscard]] virtual std::string receive(int from) = 0;
  // Every rank's bytes at rank 0, in rank order; an empty list on the other ranks.
  [[nodiscard]] virtual std::vector<std::string> gather(std::string_view mine) = 0;
  // Rank 0's bytes on every rank (what the others pass is ignored).
  [[nodiscard]] std::string broadcast(std::string_view at_root) {
    if (size_ == 1) return std::string(at_root);
    if (root()) {
      for (int r = 1; r < size_; ++r) send(r, at_root);
      return std::string(at_root);
    }
    return receive(0);
  }

 private:
  int rank_, size_;
};

// Chunks 0..n-1 dealt round-robin to the ranks (chunk c to rank c % size), each rank
// producing its own in increasing order: at rank 0, `write` sees every chunk's bytes in
// chunk order, so the output is the one a single process writes. Rank 0 receives a
// peer's chunk only when every earlier chunk is written, and each rank sends its chunks
// in order, so nothing waits in a cycle.
class OrderedGather {
 public:
  using Write = std::function<void(std::string_view bytes)>;
  OrderedGather(ProcessGroup& group, std::size_t chunks, Write write);

  // Whether chunk c is this rank's to produce.
  [[nodiscard]] bool mine(std::size_t c) const { return c % static_cast<std::size_t>(group_.size()) == static_cast<std::size_t>(group_.rank()); }
  // This rank's chunk c, its chunks in increasing order: written at rank 0 (after the
  // peers' earlier chunks), sent to rank 0 elsewhere. (Not `emit`: Qt defines that as a
  // macro, and the dashboard includes this header through sim/plan.hpp.)
  void put(std::size_t c, std::string_view bytes);
  // Rank 0: receives and writes the peers' chunks not yet written. Elsewhere: nothing.
  void finish();

 private:
  void write_peers_before(std::size_t c);
  ProcessGroup& group_;
  std::size_t chunks_;
  std::size_t next_ = 0;  // rank 0: the next chunk to write
  Write write_;
};

// The group of this process alone.
[[nodiscard]] std::unique_ptr<ProcessGroup> single_process();

// The group this process was started in: MPI_COMM_WORLD when the build has MPI and a
// launcher started more than one rank; this process alone otherwise. Throws
// ProcessGroupError when a launcher started several ranks and the build has no MPI.
[[nodiscard]] std::unique_ptr<ProcessGroup> join_processes();

// The message join_processes() refuses with, for `ranks` launched without MPI.
[[nodiscard]] std::string without_mpi_message(int ranks);

}  // namespace xattn::sim
