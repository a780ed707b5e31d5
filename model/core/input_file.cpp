// Bounded whole-file reads (input_file.hpp).
#include "model/core/input_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "model/core/error.hpp"
#include "model/core/memory.hpp"

namespace xattn {

std::string read_input_file(const std::string& path, const std::string& field, std::size_t max_bytes) {
  const Origin origin{path};
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    throw InputError(origin, field, fmt::format("cannot open: {}", e == ENOENT ? "no such file" : std::strerror(e)));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw InputError(origin, field, "is a folder, not a file");
    if (S_ISREG(st.st_mode) && static_cast<std::uint64_t>(st.st_size) > max_bytes)
      throw InputError(origin, field, fmt::format("{} is larger than this kind of file may be ({})",
                                                  bytes_text(static_cast<double>(st.st_size)),
                                                  bytes_text(static_cast<double>(max_bytes))));
  }
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw InputError(origin, field, fmt::format("cannot read: {}", std::strerror(errno)));
    }
    if (n == 0) break;
    if (text.size() + static_cast<std::size_t>(n) > max_bytes)
      throw InputError(origin, field, fmt::format("holds more than this kind of file may ({}): is it the right file?",
                                                  bytes_text(static_cast<double>(max_bytes))));
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return text;
}

}  // namespace xattn
