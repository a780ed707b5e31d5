// Helpers for tests that start real processes (rendezvous_test.cpp, run_launch_test.cpp):
// start a program with exactly the environment a test chooses (nothing inherited but PATH,
// HOME and the sanitizers' options, so that a launcher's variables around the test run
// cannot leak in), collect
// its exit code, stdout and stderr, and kill it if it outlives its limit.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>
#include <fcntl.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace xattn::test {

struct Child {
  pid_t pid = -1;
  std::string out_path, err_path;
};

struct Finished {
  int code = -1;        // exit code; -1 when killed by a signal
  bool killed = false;  // outlived its limit
  std::string out, err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Starts argv[0] (a path) with `env` (plus PATH and HOME from this process), its stdout
// and stderr going to files `stem`.out and `stem`.err.
inline Child start_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                           const std::string& stem) {
  Child c;
  c.out_path = stem + ".out";
  c.err_path = stem + ".err";
  std::vector<std::string> env_text;
  // The sanitizers' options too, and the sanitizer stage's preload that keeps Open MPI's
  // plugins mapped for the leak check (the sanitizer build's children must report, and
  // suppress, as the test does: .ci/stages/20-sanitizers.sh); they launch nothing.
  for (const char* keep : {"PATH", "HOME", "ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS", "LD_PRELOAD"})
    if (const char* v = std::getenv(keep); v != nullptr && env.find(keep) == env.end()) env_text.push_back(std::string(keep) + "=" + v);
  for (const auto& [k, v] : env) env_text.push_back(k + "=" + v);
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (auto& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, c.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, c.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int rc = posix_spawn(&c.pid, args[0], &fa, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
  return c;
}

// Waits for the child, killing it after `limit`.
inline Finished finish_process(Child& c, std::chrono::milliseconds limit) {
  Finished f;
  const auto until = std::chrono::steady_clock::now() + limit;
  int status = 0;
  for (;;) {
    const pid_t p = ::waitpid(c.pid, &status, WNOHANG);
    if (p == c.pid) break;
    if (std::chrono::steady_clock::now() > until) {
      ::kill(c.pid, SIGKILL);
      ::waitpid(c.pid, &status, 0);
      f.killed = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  f.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  f.out = slurp(c.out_path);
  f.err = slurp(c.err_path);
  return f;
}

// A TCP port nothing listens on right now (the kernel's choice; another process could
// take it before the test does, which is unlikely within milliseconds).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("no free TCP port");
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace xattn::test
