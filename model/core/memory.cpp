// The memory a run may use (memory.hpp): /proc/meminfo, the cgroup v2 limit and RLIMIT_AS.
#include "model/core/memory.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "model/core/error.hpp"

namespace xattn {
namespace {

// "MemAvailable:   12345 kB" -> bytes.
std::optional<std::uint64_t> meminfo_available() {
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream fields(line.substr(13));
    std::uint64_t kib = 0;
    if (fields >> kib) return kib * 1024;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> read_number(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return std::nullopt;
  try {
    return std::stoull(text);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The room left under this process's cgroup v2 memory limit, if it has one.
std::optional<std::uint64_t> cgroup_room() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) != 0) continue;  // the unified (v2) hierarchy
    const std::string dir = "/sys/fs/cgroup" + line.substr(3);
    const auto limit = read_number(dir + "/memory.max");
    const auto used = read_number(dir + "/memory.current");
    if (limit && used) return *limit > *used ? *limit - *used : 0;
    if (limit) return limit;
  }
  return std::nullopt;
}

// What RLIMIT_AS leaves: the limit less the process's mapped size (/proc/self/statm).
std::optional<std::uint64_t> address_space_room() {
  rlimit r{};
  if (::getrlimit(RLIMIT_AS, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return std::nullopt;
  std::ifstream in("/proc/self/statm");
  std::uint64_t pages = 0;
  if (!(in >> pages)) return static_cast<std::uint64_t>(r.rlim_cur);
  const std::uint64_t mapped = pages * 4096;
  return r.rlim_cur > mapped ? static_cast<std::uint64_t>(r.rlim_cur) - mapped : 0;
}

}  // namespace

std::optional<std::uint64_t> available_memory_bytes() {
  std::optional<std::uint64_t> least;
  for (const auto& v : {meminfo_available(), cgroup_room(), address_space_room()})
    if (v) least = least ? std::min(*least, *v) : *v;
  return least;
}

void check_memory(std::uint64_t needed, const std::string& what, const std::string& alternative,
                  std::optional<std::uint64_t> available) {
  if (!available) available = available_memory_bytes();
  if (!available || needed <= *available) return;
  throw EnvironmentError(what, fmt::format("needs about {} of memory and this machine has {} available; {}",
                                           bytes_text(static_cast<double>(needed)),
                                           bytes_text(static_cast<double>(*available)), alternative));
}

std::string bytes_text(double bytes) {
  if (bytes >= 1099511627776.0) return fmt::format("{:.3g} TiB", bytes / 1099511627776.0);
  if (bytes >= 1073741824.0) return fmt::format("{:.3g} GiB", bytes / 1073741824.0);
  if (bytes >= 1048576.0) return fmt::format("{:.3g} MiB", bytes / 1048576.0);
  return fmt::format("{:.0f} B", bytes);
}

}  // namespace xattn
