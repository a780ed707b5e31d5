// The MPI bootstrap (see rendezvous.hpp), compiled only when CMake found MPI
// (XATTN_HAVE_MPI). MPI's collectives have no deadlines: a rank that never arrives is
// left to the launcher (mpirun ends the job when one process exits with an error).
#include <mpi.h>

#include <climits>

#include <fmt/format.h>

#include "gpu/rendezvous.hpp"

namespace xattn::gpu {
namespace {

void mpi_check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw RendezvousError(fmt::format("{}: {}", what, std::string(text, static_cast<std::size_t>(len))));
}

int count_of(std::size_t n) {
  if (n > static_cast<std::size_t>(INT_MAX)) throw RendezvousError("an MPI message of more than 2 GiB");
  return static_cast<int>(n);
}

struct World {
  int rank = 0, size = 1, local = -1;
  bool initialized_here = false;
};

World start_mpi() {
  World w;
  int ready = 0;
  MPI_Initialized(&ready);
  if (!ready) {
    mpi_check(MPI_Init(nullptr, nullptr), "MPI_Init");
    w.initialized_here = true;
  }
  // Errors come back as return codes instead of aborting the job, so they carry our message.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  mpi_check(MPI_Comm_rank(MPI_COMM_WORLD, &w.rank), "MPI_Comm_rank");
  mpi_check(MPI_Comm_size(MPI_COMM_WORLD, &w.size), "MPI_Comm_size");
  MPI_Comm node = MPI_COMM_NULL;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w.rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
    MPI_Comm_rank(node, &w.local);
    MPI_Comm_free(&node);
  }
  return w;
}

class MpiBootstrap final : public Bootstrap {
 public:
  explicit MpiBootstrap(World w) : Bootstrap(w.rank, w.size, w.local), finalize_(w.initialized_here) {}
  ~MpiBootstrap() override {
    int done = 0;
    MPI_Finalized(&done);
    if (finalize_ && !done) MPI_Finalize();
  }
  MpiBootstrap(const MpiBootstrap&) = delete;
  MpiBootstrap& operator=(const MpiBootstrap&) = delete;

  std::string describe() const override { return "MPI (MPI_COMM_WORLD)"; }

  std::string broadcast(std::string bytes) override {
    unsigned long long n = bytes.size();
    mpi_check(MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD), "MPI_Bcast");
    bytes.resize(static_cast<std::size_t>(n));
    mpi_check(MPI_Bcast(bytes.data(), count_of(bytes.size()), MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Bcast");
    return bytes;
  }

  std::vector<std::string> gather(std::string mine) override {
    int n = count_of(mine.size());
    std::vector<int> sizes(rank() == 0 ? static_cast<std::size_t>(world()) : 0);
    mpi_check(MPI_Gather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Gather");
    std::vector<int> offsets(sizes.size());
    std::size_t total = 0;
    for (std::size_t r = 0; r < sizes.size(); ++r) {
      offsets[r] = count_of(total);
      total += static_cast<std::size_t>(sizes[r]);
    }
    (void)count_of(total);
    std::string all(total, '\0');
    mpi_check(MPI_Gatherv(mine.data(), n, MPI_BYTE, all.data(), sizes.data(), offsets.data(), MPI_BYTE, 0, MPI_COMM_WORLD),
              "MPI_Gatherv");
    std::vector<std::string> out;
    for (std::size_t r = 0; r < sizes.size(); ++r)
      out.push_back(all.substr(static_cast<std::size_t>(offsets[r]), static_cast<std::size_t>(sizes[r])));
    return out;
  }

 private:
  bool finalize_;
};

}  // namespace

bool mpi_built() { return true; }

std::unique_ptr<Bootstrap> mpi_bootstrap() { return std::make_unique<MpiBootstrap>(start_mpi()); }

}  // namespace xattn::gpu
