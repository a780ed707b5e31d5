// Launcher detection from the environment (see launch.hpp).
#include "gpu/launch.hpp"

#include <charconv>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "gpu/errors.hpp"

extern char** environ;  // POSIX: the process's environment

namespace xattn::gpu {
namespace {

struct Names {
  Launcher launcher;
  const char* rank;
  const char* world;
  const char* local;
  bool strict;  // one of rank and world without the other is an error
};

constexpr Names launchers[] = {
    {Launcher::xattn, "XATTN_RANK", "XATTN_WORLD", "XATTN_LOCAL_RANK", true},
    {Launcher::open_mpi, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", true},
    {Launcher::pmi, "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", false},
    {Launcher::torchrun, "RANK", "WORLD_SIZE", "LOCAL_RANK", false},
    {Launcher::slurm, "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID", false},
};

const std::string* lookup(const Environment& env, const char* name) {
  auto it = env.find(name);
  return it == env.end() || it->second.empty() ? nullptr : &it->second;
}

int parse_count(const std::string& text, const char* name) {
  // Whole numbers only; launchers write plain decimals (surrounding blanks are tolerated).
  std::string_view v(text);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\n')) v.remove_suffix(1);
  long long n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || end != v.data() + v.size() || n < 0 || n > std::numeric_limits<int>::max())
    throw LaunchError(fmt::format("{}='{}' is not a whole number >= 0", name, text));
  return static_cast<int>(n);
}

}  // namespace

std::string_view to_string(Launcher l) {
  switch (l) {
    case Launcher::xattn: return "xattn";
    case Launcher::open_mpi: return "open_mpi";
    case Launcher::pmi: return "pmi";
    case Launcher::torchrun: return "torchrun";
    case Launcher::slurm: return "slurm";
  }
  return "?";
}

std::string LaunchEnv::describe() const {
  return fmt::format("rank {} of {} ({}: {})", rank, world, to_string(launcher), variables);
}

Environment process_environment() {
  Environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq == nullptr) continue;
    env.emplace(std::string(*e, static_cast<std::size_t>(eq - *e)), std::string(eq + 1));
  }
  return env;
}

std::optional<LaunchEnv> detect_launch(const Environment& env) {
  for (const Names& n : launchers) {
    const std::string* rank = lookup(env, n.rank);
    const std::string* world = lookup(env, n.world);
    if (rank == nullptr && world == nullptr) continue;
    if (rank == nullptr || world == nullptr) {
      if (!n.strict) continue;
      throw LaunchError(fmt::format("{} is set but {} is not: set both, or neither", rank ? n.rank : n.world,
                                    rank ? n.world : n.rank));
    }
    LaunchEnv e;
    e.launcher = n.launcher;
    e.rank = parse_count(*rank, n.rank);
    e.world = parse_count(*world, n.world);
    e.variables = fmt::format("{}={} {}={}", n.rank, *rank, n.world, *world);
    if (const std::string* local = lookup(env, n.local)) {
      e.local_rank = parse_count(*local, n.local);
      e.variables += fmt::format(" {}={}", n.local, *local);
    }
    if (e.world < 1) throw LaunchError(fmt::format("{}: a world of {} processes", e.variables, e.world));
    if (e.rank >= e.world)
      throw LaunchError(fmt::format("{}: rank {} is outside a world of {} (ranks 0..{})", e.variables, e.rank, e.world,
                                    e.world - 1));
    if (e.local_rank >= e.world)
      throw LaunchError(fmt::format("{}: rank on the node {} is outside a world of {}", e.variables, e.local_rank, e.world));
    return e;
  }
  return std::nullopt;
}

std::string TcpAddress::str() const {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

namespace {

int parse_port(std::string_view text, std::string_view what) {
  int port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || port < 1 || port > 65535)
    throw LaunchError(fmt::format("{}: '{}' is not a TCP port (1..65535)", what, text));
  return port;
}

}  // namespace

TcpAddress parse_tcp_address(std::string_view text, std::string_view what) {
  TcpAddress a;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      throw LaunchError(fmt::format("{}: '{}' is not [IPV6]:PORT", what, text));
    a.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon)
      throw LaunchError(fmt::format("{}: '{}' is not HOST:PORT", what, text));
    a.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  if (a.host.empty()) throw LaunchError(fmt::format("{}: '{}' names no host", what, text));
  a.port = parse_port(port, what);
  return a;
}

std::optional<TcpAddress> tcp_address_from_env(const Environment& env) {
  const std::string* addr = lookup(env, "MASTER_ADDR");
  const std::string* port = lookup(env, "MASTER_PORT");
  if (addr == nullptr && port == nullptr) return std::nullopt;
  if (addr == nullptr || port == nullptr)
    throw LaunchError(fmt::format("{} is set but {} is not: the TCP rendezvous needs both", addr ? "MASTER_ADDR" : "MASTER_PORT",
                                  addr ? "MASTER_PORT" : "MASTER_ADDR"));
  TcpAddress a;
  a.host = *addr;
  a.port = parse_port(*port, "MASTER_PORT");
  return a;
}

int choose_local_device(int rank, int local_rank, int visible) {
  if (visible <= 0) throw GpuUnavailable(fmt::format("rank {}: no GPU visible to this process", rank));
  if (local_rank >= 0 && local_rank < visible) return local_rank;
  if (visible == 1) return 0;
  if (local_rank < 0) return rank % visible;
  throw GpuUnavailable(fmt::format(
      "rank {} is rank {} on its node, but the node shows this process only {} GPUs: start at most {} processes per node "
      "(one per GPU)",
      rank, local_rank, visible, visible));
}

}  // namespace xattn::gpu
