// The bootstrap of multi-process runs (gpu/rendezvous.hpp) across real processes on this
// machine: rendezvous_peer processes started with a launcher's variables meet over TCP
// (and, when xattn was built with MPI, under mpiexec), share a 128-byte id as NCCL's
// unique id would be shared, gather and all-gather; and every way it can go wrong ends
// every process promptly with a message that says what happened.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "gpu/rendezvous.hpp"
#include "tests/gpu_host/process_util.hpp"
#include "tests/test_support.hpp"

namespace xattn::gpu {
namespace {

using namespace std::chrono_literals;
using test::Finished;

// The rest of the first line of `out` that starts with `prefix` ("" when none does).
std::string after(const std::string& out, const std::string& prefix) {
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  return "";
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A set of rendezvous_peer processes meeting on one fresh port of this machine.
struct Peers {
  test::TempDir dir;
  int port = test::free_port();
  std::vector<test::Child> kids;

  void start(int rank, int world, const std::vector<std::string>& args,
             std::map<std::string, std::string> env = {}) {
    env.emplace("RANK", std::to_string(rank));
    env.emplace("WORLD_SIZE", std::to_string(world));
    env.emplace("MASTER_ADDR", "127.0.0.1");
    env.emplace("MASTER_PORT", std::to_string(port));
    std::vector<std::string> argv{XATTN_RENDEZVOUS_PEER};
    argv.insert(argv.end(), args.begin(), args.end());
    kids.push_back(test::start_process(argv, env, dir.path("peer" + std::to_string(kids.size()))));
  }
  std::vector<Finished> finish(std::chrono::milliseconds limit = 30s) {
    std::vector<Finished> out;
    for (auto& k : kids) out.push_back(test::finish_process(k, limit));
    return out;
  }
};

std::string describe(const Finished& f) { return "exit " + std::to_string(f.code) + "\nstdout:\n" + f.out + "stderr:\n" + f.err; }

TEST(TcpRendezvous, ThreeProcessesShareA128ByteIdGatherAndAllGather) {
  // Ranks 2 and 1 start first and must retry until rank 0 listens. Expected: every rank
  // prints rank 0's id (128 bytes, 256 hex digits), rank 0 gathers "from 0..2" in rank
  // order, every rank all-gathers the same three strings, all exit 0.
  Peers p;
  const std::vector<std::string> ops{"id", "gather", "allgather", "barrier"};
  p.start(2, 3, ops);
  p.start(1, 3, ops);
  std::this_thread::sleep_for(300ms);
  p.start(0, 3, ops);
  auto f = p.finish();
  const std::string id = after(f[2].out, "rank 0: id ");
  EXPECT_EQ(id.size(), 256u) << describe(f[2]);
  for (int k = 0; k < 3; ++k) {
    const int rank = 2 - k;
    ASSERT_EQ(f[static_cast<std::size_t>(k)].code, 0) << describe(f[static_cast<std::size_t>(k)]);
    const std::string& out = f[static_cast<std::size_t>(k)].out;
    EXPECT_EQ(after(out, "rank " + std::to_string(rank) + ": joined "), "3 local -1");
    EXPECT_EQ(after(out, "rank " + std::to_string(rank) + ": id "), id);
    EXPECT_EQ(after(out, "rank " + std::to_string(rank) + ": allgather "), "0^2 = 0,1^2 = 1,2^2 = 4");
    EXPECT_TRUE(has(out, "rank " + std::to_string(rank) + ": barrier"));
  }
  EXPECT_EQ(after(f[2].out, "rank 0: gather "), "from 0,from 1,from 2");
}

TEST(TcpRendezvous, LaterRanksMayStartLateAndLocalRanksComeFromTheLauncher) {
  // Rank 0 starts first and waits; the others arrive 0.3 s later with their rank on the
  // node (LOCAL_RANK). Expected: all four meet and report the local rank they were given.
  Peers p;
  p.start(0, 4, {"id"}, {{"LOCAL_RANK", "0"}});
  std::this_thread::sleep_for(300ms);
  for (int r = 1; r < 4; ++r) p.start(r, 4, {"id"}, {{"LOCAL_RANK", std::to_string(r % 2)}});
  auto f = p.finish();
  for (int r = 0; r < 4; ++r) {
    ASSERT_EQ(f[static_cast<std::size_t>(r)].code, 0) << describe(f[static_cast<std::size_t>(r)]);
    EXPECT_EQ(after(f[static_cast<std::size_t>(r)].out, "rank " + std::to_string(r) + ": joined "),
              "4 local " + std::to_string(r % 2));
  }
}

TEST(TcpRendezvous, AMissingRankTimesOutAndIsNamed) {
  // World 3, rank 2 never starts, timeout 1.5 s. Expected: rank 0 gives up after about
  // 1.5 s naming rank 2; rank 1, already joined, is told why by rank 0 (it waits 2 s past
  // its own timeout for rank 0's word, so on a loaded machine its own clock cannot win).
  Peers p;
  p.start(0, 3, {"--timeout-ms", "1500", "id"});
  p.start(1, 3, {"--timeout-ms", "1500", "id"});
  const auto t0 = std::chrono::steady_clock::now();
  auto f = p.finish();
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(f[0].code, 1) << describe(f[0]);
  EXPECT_TRUE(has(f[0].err, "rank 0 waited 1.5 s")) << f[0].err;
  EXPECT_TRUE(has(f[0].err, "for rank(s) 2 (1 of 3 never joined)")) << f[0].err;
  EXPECT_EQ(f[1].code, 1) << describe(f[1]);
  EXPECT_TRUE(has(f[1].err, "rank 0 ended the run: rank 0 waited 1.5 s")) << f[1].err;
  EXPECT_LT(took, 10s);
}

TEST(TcpRendezvous, WithoutRank0AJoiningRankGivesUpAtItsDeadline) {
  // Nothing listens on the port. Expected: rank 1 retries for 1 s, then says it could not
  // reach rank 0 at that address, with the system's last word (connection refused).
  Peers p;
  p.start(1, 2, {"--timeout-ms", "1000", "id"});
  auto f = p.finish();
  EXPECT_EQ(f[0].code, 1) << describe(f[0]);
  EXPECT_TRUE(has(f[0].err, "rank 1 could not reach rank 0 at 127.0.0.1:" + std::to_string(p.port) + " for 1 s")) << f[0].err;
  EXPECT_TRUE(has(f[0].err, "refused")) << f[0].err;
}

TEST(TcpRendezvous, ProcessesStartedWithDifferentWorldSizesAreTurnedAway) {
  // Rank 0 thinks the world has 2 processes, rank 1 thinks 3. Expected: both fail at once,
  // both messages naming both sizes.
  Peers p;
  p.start(0, 2, {"id"});
  p.start(1, 3, {"id"});
  auto f = p.finish();
  for (const auto& x : f) {
    EXPECT_EQ(x.code, 1) << describe(x);
    EXPECT_TRUE(has(x.err, "rank 1 was started in a world of 3 processes, rank 0 in a world of 2")) << x.err;
  }
  EXPECT_TRUE(has(f[1].err, "rank 0 turned rank 1 away")) << f[1].err;
}

TEST(TcpRendezvous, TwoProcessesClaimingOneRankEndTheRun) {
  // World 3 with ranks 0, 1, 1. Expected: every process fails, saying two processes claim
  // rank 1.
  Peers p;
  p.start(0, 3, {"id"});
  p.start(1, 3, {"id"});
  p.start(1, 3, {"id"});
  auto f = p.finish();
  for (const auto& x : f) {
    EXPECT_EQ(x.code, 1) << describe(x);
    EXPECT_TRUE(has(x.err, "two processes say they are rank 1 of 3")) << x.err;
  }
}

TEST(TcpRendezvous, APeerThatDiesIsNamedWithoutWaitingForTheTimeout) {
  // Rank 2 dies abruptly after the id broadcast, before the gather; the timeout is 60 s.
  // Expected: rank 0 notices the closed connection at once and names rank 2; rank 1 hears
  // it from rank 0; well within 60 s.
  Peers p;
  const auto t0 = std::chrono::steady_clock::now();
  p.start(0, 3, {"--timeout-ms", "60000", "id", "gather"});
  p.start(1, 3, {"--timeout-ms", "60000", "id", "gather", "id"});
  p.start(2, 3, {"--timeout-ms", "60000", "--die-after", "1", "id", "gather"});
  auto f = p.finish();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);
  EXPECT_EQ(f[2].code, 7) << describe(f[2]);
  EXPECT_EQ(f[0].code, 1) << describe(f[0]);
  EXPECT_TRUE(has(f[0].err, "rank 2 closed its connection (waiting for its part of a gather)")) << f[0].err;
  EXPECT_EQ(f[1].code, 1) << describe(f[1]);
  EXPECT_TRUE(has(f[1].err, "rank 0 ended the run: rank 2 closed its connection")) << f[1].err;
}

TEST(TcpRendezvous, Rank0DyingIsReportedByTheOthers) {
  // Rank 0 dies after the id broadcast; rank 1 waits for a second broadcast. Expected:
  // rank 1 reports that rank 0 closed the connection, at once.
  Peers p;
  p.start(0, 2, {"--timeout-ms", "60000", "--die-after", "1", "id", "id"});
  p.start(1, 2, {"--timeout-ms", "60000", "id", "id"});
  auto f = p.finish(20s);
  EXPECT_EQ(f[0].code, 7) << describe(f[0]);
  EXPECT_EQ(f[1].code, 1) << describe(f[1]);
  EXPECT_TRUE(has(f[1].err, "rank 0 closed the connection while rank 1 waited for rank 0's broadcast")) << f[1].err;
}

TEST(TcpRendezvous, AStrangerOnThePortIsIgnored) {
  // Something that does not speak the protocol connects to rank 0's port and sends junk
  // before rank 1 joins. Expected: rank 0 drops it and the run goes on.
  Peers p;
  p.start(0, 2, {"id"});
  int fd = -1;
  for (int i = 0; i < 200 && fd < 0; ++i) {  // until rank 0 listens
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(p.port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      fd = -1;
      std::this_thread::sleep_for(20ms);
    }
  }
  ASSERT_GE(fd, 0);
  const std::string junk = "GET / HTTP/1.0\r\n\r\n and then some more bytes than a header";
  ASSERT_EQ(::send(fd, junk.data(), junk.size(), 0), static_cast<ssize_t>(junk.size()));
  p.start(1, 2, {"id"});
  auto f = p.finish();
  ::close(fd);
  for (const auto& x : f) EXPECT_EQ(x.code, 0) << describe(x);
}

TEST(TcpRendezvous, APortInUseIsReportedByRank0) {
  // Another socket listens on the port. Expected: rank 0 cannot listen and says so,
  // suggesting another MASTER_PORT.
  Peers p;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  a.sin_port = htons(static_cast<std::uint16_t>(p.port));
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  p.start(0, 2, {"--timeout-ms", "2000", "id"});
  auto f = p.finish();
  ::close(fd);
  EXPECT_EQ(f[0].code, 1) << describe(f[0]);
  EXPECT_TRUE(has(f[0].err, "cannot listen on TCP port " + std::to_string(p.port))) << f[0].err;
  EXPECT_TRUE(has(f[0].err, "MASTER_PORT")) << f[0].err;
}

TEST(TcpRendezvous, DifferentJobsAreFoundAndNamedAtEveryRank) {
  // Rank 1 was started with other arguments than ranks 0 and 2. Expected: every rank gets
  // the same verdict naming rank 1 and both descriptions.
  Peers p;
  p.start(0, 3, {"--job", "ring P=3", "job"});
  p.start(1, 3, {"--job", "ring P=4", "job"});
  p.start(2, 3, {"--job", "ring P=3", "job"});
  auto f = p.finish();
  const std::string verdict = "[rank 1 runs [ring P=4], rank 0 runs [ring P=3]: start every process with the same arguments]";
  for (int r = 0; r < 3; ++r) {
    ASSERT_EQ(f[static_cast<std::size_t>(r)].code, 0) << describe(f[static_cast<std::size_t>(r)]);
    EXPECT_EQ(after(f[static_cast<std::size_t>(r)].out, "rank " + std::to_string(r) + ": job "), verdict);
  }
}

TEST(TcpRendezvous, AWorldOfOneNeedsNoNetwork) {
  // One process alone: nothing listens, nothing connects; every operation returns its own
  // input. The address is never used.
  TcpOptions o;
  o.address = TcpAddress{"no-such-host.invalid", 1};
  auto b = tcp_bootstrap(0, 1, 0, o);
  EXPECT_EQ(b->broadcast("abc"), "abc");
  EXPECT_EQ(b->gather("x"), std::vector<std::string>{"x"});
  EXPECT_EQ(b->all_gather("y"), std::vector<std::string>{"y"});
  EXPECT_EQ(find_job_mismatch(*b, "j"), "");
  EXPECT_THROW((void)tcp_bootstrap(2, 2, 0, o), RendezvousError);
}

TEST(Pack, RoundTripsAndRefusesWhatItDidNotWrite) {
  const std::vector<std::string> parts{"", "a", std::string("\0\1\2", 3), std::string(1000, 'z')};
  EXPECT_EQ(unpack(pack(parts)), parts);
  EXPECT_EQ(unpack(pack({})), std::vector<std::string>{});
  std::string bytes = pack(parts);
  EXPECT_THROW((void)unpack(bytes.substr(0, bytes.size() - 1)), RendezvousError);  // cut short
  EXPECT_THROW((void)unpack(bytes + "x"), RendezvousError);                          // bytes left over
  EXPECT_THROW((void)unpack("abc"), RendezvousError);
}

TEST(MpiRendezvous, ThreeRanksUnderMpiexecShareAnIdAndGather) {
  // Built with MPI: `mpiexec -n 3 rendezvous_peer --mpi ...`. Expected: the three ranks
  // print one id and the same all-gather, rank 0 the gather in rank order; local ranks
  // 0..2 (one node).
  if (std::string(XATTN_MPIEXEC).empty()) GTEST_SKIP() << "xattn was built without MPI (apt-get install libopenmpi-dev)";
  test::TempDir dir;
  // Open MPI refuses to run as root unless told twice (the CI container runs as root),
  // refuses more processes than cores unless oversubscribed, and its shared-memory
  // single-copy mode needs ptrace rights that containers often lack.
  const std::map<std::string, std::string> env{{"OMPI_ALLOW_RUN_AS_ROOT", "1"},
                                               {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"},
                                               {"OMPI_MCA_rmaps_base_oversubscribe", "1"},
                                               {"OMPI_MCA_btl_vader_single_copy_mechanism", "none"}};
  auto kid = test::start_process({XATTN_MPIEXEC, "-n", "3", XATTN_RENDEZVOUS_PEER, "--mpi", "id", "gather", "allgather", "barrier"},
                                 env, dir.path("mpi"));
  auto f = test::finish_process(kid, 60s);
  ASSERT_EQ(f.code, 0) << describe(f);
  const std::string id = after(f.out, "rank 0: id ");
  EXPECT_EQ(id.size(), 256u) << f.out;
  for (int r = 0; r < 3; ++r) {
    const std::string me = "rank " + std::to_string(r) + ": ";
    EXPECT_EQ(after(f.out, me + "joined "), "3 local " + std::to_string(r)) << f.out;
    EXPECT_EQ(after(f.out, me + "id "), id) << f.out;
    EXPECT_EQ(after(f.out, me + "allgather "), "0^2 = 0,1^2 = 1,2^2 = 4") << f.out;
  }
  EXPECT_EQ(after(f.out, "rank 0: gather "), "from 0,from 1,from 2") << f.out;
}

}  // namespace
}  // namespace xattn::gpu
