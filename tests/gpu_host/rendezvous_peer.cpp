// One process of a rendezvous test (rendezvous_test.cpp starts several): it learns its
// rank from the launcher's variables (gpu/launch.hpp) and meets the others over TCP
// (MASTER_ADDR, MASTER_PORT) or MPI (--mpi, under mpiexec), then runs the operations named
// on its command line, in order, printing what it got, one line each, prefixed with
// "rank R:" so that the lines of processes sharing one stdout (mpiexec) stay apart.
//
//   rendezvous_peer [--mpi] [--timeout-ms N] [--die-after K] [--job TEXT] OP...
//   OP: id         rank 0 makes a 128-byte id (what ncclGetUniqueId makes) and broadcasts it;
//                  every rank prints it in hex
//       gather     every rank sends "from R"; rank 0 prints them
//       allgather  every rank sends "R^2 = R*R"; every rank prints them
//       barrier    prints "barrier"
//       job        find_job_mismatch with --job (default "same"); prints the verdict
// --die-after K ends the process abruptly (_exit(7), sockets unclosed) after K operations.
// Exit codes: 0 done, 1 a rendezvous error (its message on stderr), 2 bad arguments.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "gpu/launch.hpp"
#include "gpu/rendezvous.hpp"

namespace {

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace xattn::gpu;
  bool use_mpi = false;
  long timeout_ms = 10'000;
  int die_after = -1;
  std::string job = "same";
  std::vector<std::string> ops;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--mpi") use_mpi = true;
    else if (a == "--timeout-ms" && i + 1 < argc) timeout_ms = std::atol(argv[++i]);
    else if (a == "--die-after" && i + 1 < argc) die_after = std::atoi(argv[++i]);
    else if (a == "--job" && i + 1 < argc) job = argv[++i];
    else if (a == "id" || a == "gather" || a == "allgather" || a == "barrier" || a == "job") ops.push_back(a);
    else {
      std::cerr << "rendezvous_peer: unknown argument " << a << '\n';
      return 2;
    }
  }
  try {
    std::unique_ptr<Bootstrap> b;
    if (use_mpi) {
      b = mpi_bootstrap();
    } else {
      const Environment env = process_environment();
      const auto launch = detect_launch(env);
      const auto address = tcp_address_from_env(env);
      if (!launch || !address) {
        std::cerr << "rendezvous_peer: needs a launcher's rank and world size, MASTER_ADDR and MASTER_PORT\n";
        return 2;
      }
      TcpOptions o;
      o.address = *address;
      o.timeout = std::chrono::milliseconds(timeout_ms);
      b = tcp_bootstrap(launch->rank, launch->world, launch->local_rank, o);
    }
    const int r = b->rank();
    std::cout << "rank " << r << ": joined " << b->world() << " local " << b->local_rank() << std::endl;
    int done = 0;
    for (const std::string& op : ops) {
      if (done++ == die_after) {
        std::cout << "rank " << r << ": dying" << std::endl;
        ::_exit(7);
      }
      if (op == "id") {
        std::string id;
        if (r == 0)
          for (int i = 0; i < 128; ++i) id.push_back(static_cast<char>((i * 37 + 11 + ::getpid()) & 0xff));
        std::cout << "rank " << r << ": id " << hex(b->broadcast(id)) << std::endl;
      } else if (op == "gather") {
        auto all = b->gather("from " + std::to_string(r));
        if (r == 0) std::cout << "rank " << r << ": gather " << joined(all) << std::endl;
      } else if (op == "allgather") {
        auto all = b->all_gather(std::to_string(r) + "^2 = " + std::to_string(r * r));
        std::cout << "rank " << r << ": allgather " << joined(all) << std::endl;
      } else if (op == "barrier") {
        b->barrier();
        std::cout << "rank " << r << ": barrier" << std::endl;
      } else if (op == "job") {
        std::cout << "rank " << r << ": job [" << find_job_mismatch(*b, job) << "]" << std::endl;
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
