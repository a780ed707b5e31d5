// The process group (process_group.hpp): one process, or MPI_COMM_WORLD in a build with
// MPI (process_group_mpi.cpp).
#include "sim/process_group.hpp"

#include <charconv>
#include <utility>

#include <fmt/format.h>

namespace xattn::sim {

#ifdef XATTN_HAVE_MPI
std::unique_ptr<ProcessGroup> join_mpi();  // process_group_mpi.cpp
#endif

namespace {

class SingleProcess final : public ProcessGroup {
 public:
  SingleProcess() : ProcessGroup(0, 1) {}
  std::string describe() const override { return "1 process"; }
  void send(int, std::string_view) override { throw ProcessGroupError("a single process has no peer to send to"); }
  std::string receive(int) override { throw ProcessGroupError("a single process has no peer to receive from"); }
  std::vector<std::string> gather(std::string_view mine) override { return {std::string(mine)}; }
};

int count_of(const char* text) {
  if (text == nullptr || *text == '\0') return 0;
  std::string_view v(text);
  int n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  return ec == std::errc() && end == v.data() + v.size() && n > 0 ? n : 0;
}

}  // namespace

int launched_ranks(const std::function<const char*(const char*)>& getenv) {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (int n = count_of(getenv(name)); n > 0) return n;
  return 1;
}

bool built_with_mpi() {
#ifdef XATTN_HAVE_MPI
  return true;
#else
  return false;
#endif
}

std::string without_mpi_message(int ranks) {
  return fmt::format(
      "started by mpirun as one of {} ranks, but this xattn was built without its optional MPI part: every rank "
      "would write the whole output. Install MPI (apt-get install libopenmpi-dev openmpi-bin), reconfigure and "
      "rebuild, or run one process (-j N uses the cores of one machine)",
      ranks);
}

OrderedGather::OrderedGather(ProcessGroup& group, std::size_t chunks, Write write)
    : group_(group), chunks_(chunks), write_(std::move(write)) {}

void OrderedGather::write_peers_before(std::size_t c) {
  const auto size = static_cast<std::size_t>(group_.size());
  for (; next_ < c; ++next_) {
    if (mine(next_)) throw ProcessGroupError(fmt::format("chunk {} of rank 0 was not produced in order", next_));
    write_(group_.receive(static_cast<int>(next_ % size)));
  }
}

void OrderedGather::put(std::size_t c, std::string_view bytes) {
  if (!group_.root()) {
    group_.send(0, bytes);
    return;
  }
  write_peers_before(c);
  write_(bytes);
  next_ = c + 1;
}

void OrderedGather::finish() {
  if (group_.root()) write_peers_before(chunks_);
}

std::unique_ptr<ProcessGroup> single_process() { return std::make_unique<SingleProcess>(); }

std::unique_ptr<ProcessGroup> join_processes() {
  const int ranks = launched_ranks();
  if (ranks <= 1) return single_process();
#ifdef XATTN_HAVE_MPI
  return join_mpi();
#else
  throw ProcessGroupError(without_mpi_message(ranks));
#endif
}

}  // namespace xattn::sim
