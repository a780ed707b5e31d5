// MPI_COMM_WORLD as a process group (process_group.hpp), compiled only when CMake found
// MPI (XATTN_HAVE_MPI). Messages carry bytes; a length travels first, so a message may
// exceed an int's count of bytes only by being sent in pieces, which sweep and plan never
// need (a chunk of CSV rows, a partial plan result).
#include <mpi.h>

#include <climits>

#include <fmt/format.h>

#include "sim/process_group.hpp"

namespace xattn::sim {
namespace {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw ProcessGroupError(fmt::format("{}: {}", what, std::string(text, static_cast<std::size_t>(len))));
}

int count_of(std::size_t n) {
  if (n > static_cast<std::size_t>(INT_MAX)) throw ProcessGroupError("an MPI message of more than 2 GiB");
  return static_cast<int>(n);
}

constexpr int kTag = 18;  // issue 18's messages

class MpiWorld final : public ProcessGroup {
 public:
  MpiWorld(int rank, int size, bool finalize) : ProcessGroup(rank, size), finalize_(finalize) {}
  ~MpiWorld() override {
    int done = 0;
    MPI_Finalized(&done);
    if (finalize_ && !done) MPI_Finalize();
  }
  MpiWorld(const MpiWorld&) = delete;
  MpiWorld& operator=(const MpiWorld&) = delete;

  std::string describe() const override { return fmt::format("MPI, {} ranks", size()); }

  void send(int to, std::string_view bytes) override {
    unsigned long long n = bytes.size();
    check(MPI_Send(&n, 1, MPI_UNSIGNED_LONG_LONG, to, kTag, MPI_COMM_WORLD), "MPI_Send");
    check(MPI_Send(bytes.data(), count_of(bytes.size()), MPI_BYTE, to, kTag, MPI_COMM_WORLD), "MPI_Send");
  }

  std::string receive(int from) override {
    unsigned long long n = 0;
    check(MPI_Recv(&n, 1, MPI_UNSIGNED_LONG_LONG, from, kTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
    std::string bytes(static_cast<std::size_t>(n), '\0');
    check(MPI_Recv(bytes.data(), count_of(bytes.size()), MPI_BYTE, from, kTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
          "MPI_Recv");
    return bytes;
  }

  std::vector<std::string> gather(std::string_view mine) override {
    if (!root()) {
      send(0, mine);
      return {};
    }
    std::vector<std::string> all;
    all.emplace_back(mine);
    for (int r = 1; r < size(); ++r) all.push_back(receive(r));
    return all;
  }

 private:
  bool finalize_;
};

}  // namespace

std::unique_ptr<ProcessGroup> join_mpi() {
  int ready = 0;
  MPI_Initialized(&ready);
  bool here = false;
  if (!ready) {
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    here = true;
  }
  // Errors come back as return codes instead of aborting the job, so they carry our message.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rank = 0, size = 1;
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &size), "MPI_Comm_size");
  return std::make_unique<MpiWorld>(rank, size, here);
}

}  // namespace xattn::sim
