// Atomic output files and the spelling of CSV cells and field values (output.hpp).
#include "cli/output.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <variant>

#include "model/core/error.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn::cli {
namespace {

// Ctrl-C or a kill during a long sweep must not leave the temporary files behind either,
// nor a crash (a failed assertion's abort, a fault). A signal handler can only reach
// global state, so the temporaries being written (a command writes a few outputs at once,
// write_files_atomically) are kept here, in fixed slots that the handler reads without
// allocating; the handler removes them and re-raises the signal, so the process still
// ends as it would have.
constexpr int kCleanupSlots = 8;
char g_interrupt_unlink_path[kCleanupSlots][4096];
volatile sig_atomic_t g_interrupt_unlink_armed[kCleanupSlots] = {};

extern "C" void unlink_and_reraise(int sig) {
  for (int i = 0; i < kCleanupSlots; ++i)
    if (g_interrupt_unlink_armed[i]) ::unlink(g_interrupt_unlink_path[i]);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

// The slot now holding `path` (-1: none free, or a path too long: not worth failing over).
int arm_interrupt_cleanup(const std::string& path) {
  if (path.size() >= sizeof g_interrupt_unlink_path[0]) return -1;
  int slot = 0;
  while (slot < kCleanupSlots && g_interrupt_unlink_armed[slot]) ++slot;
  if (slot == kCleanupSlots) return -1;
  std::memcpy(g_interrupt_unlink_path[slot], path.c_str(), path.size() + 1);
  g_interrupt_unlink_armed[slot] = 1;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGFPE, SIGSEGV, SIGBUS, SIGILL}) {
    struct sigaction old_action {};
    ::sigaction(sig, nullptr, &old_action);
    if (old_action.sa_handler == SIG_DFL) ::signal(sig, unlink_and_reraise);  // leave others' handlers alone
  }
  return slot;
}

void disarm_interrupt_cleanup(int slot) {
  if (slot >= 0) g_interrupt_unlink_armed[slot] = 0;
}

// Where a write to `path` really lands, and how (output.hpp, "AtomicFile"): a symlink is
// followed link by link to the file it names (so the link stays a link); a path that is
// not a regular file once followed (a device, a FIFO, a socket) or that leads into /dev or
// /proc (/dev/stdout, /dev/fd/N, /proc/self/fd/N) is written in place, never replaced.
struct OutputTarget {
  std::string path;
  bool in_place = false;
};

OutputTarget output_target(const std::string& path) {
  namespace fs = std::filesystem;
  auto special_dir = [](const fs::path& p) {
    const std::string s = p.lexically_normal().generic_string();
    return s.rfind("/dev/", 0) == 0 || s.rfind("/proc/", 0) == 0;
  };
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) return {path, true};
  fs::path p = path;
  for (int hops = 0; hops < 40; ++hops) {  // as many links as the kernel follows (ELOOP)
    if (special_dir(fs::absolute(p))) return {path, true};
    std::error_code ec;
    if (!fs::is_symlink(fs::symlink_status(p, ec))) return {p.string(), false};
    fs::path next = fs::read_symlink(p, ec);
    if (ec) return {p.string(), false};
    p = next.is_absolute() ? next : p.parent_path() / next;
  }
  throw EnvironmentError(path, "cannot write it: too many levels of symbolic links");
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  const OutputTarget target = output_target(path_);
  if (target.in_place) {
    // Nothing to rename onto a device or a pipe: write it directly; an error is still an
    // error (ENOSPC from /dev/full), but there is no temporary file to leave behind.
    int fd = ::open(path_.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) throw EnvironmentError(path_, fmt::format("cannot open it for writing: {}", std::strerror(errno)));
    file_ = ::fdopen(fd, "wb");
    if (file_ == nullptr) {
      const int e = errno;
      ::close(fd);
      throw EnvironmentError(path_, fmt::format("cannot open it for writing: {}", std::strerror(e)));
    }
    in_place_ = true;
    return;
  }
  target_path_ = target.path;
  temp_path_ = target_path_ + ".tmp-XXXXXX";
  int fd = ::mkstemp(temp_path_.data());
  if (fd < 0)
    throw EnvironmentError(path_, fmt::format("cannot create its temporary file {}: {}", temp_path_, std::strerror(errno)));
  file_ = ::fdopen(fd, "wb");
  if (file_ == nullptr) {
    const int e = errno;
    ::close(fd);
    ::unlink(temp_path_.c_str());
    throw EnvironmentError(path_, fmt::format("cannot open its temporary file {}: {}", temp_path_, std::strerror(e)));
  }
  cleanup_slot_ = arm_interrupt_cleanup(temp_path_);
}

AtomicFile::~AtomicFile() {
  if (in_place_) {
    if (file_ != nullptr) std::fclose(file_);
    return;
  }
  disarm_interrupt_cleanup(cleanup_slot_);
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_) ::unlink(temp_path_.c_str());
}

void AtomicFile::write(std::string_view bytes) {
  if (bytes.empty()) return;
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size())
    throw EnvironmentError(path_, fmt::format("cannot write it: {}", std::strerror(errno)));
}

void AtomicFile::commit() {
  if (in_place_) {
    const int rc = std::fclose(file_);
    file_ = nullptr;
    if (rc != 0) throw EnvironmentError(path_, fmt::format("cannot write it: {}", std::strerror(errno)));
    committed_ = true;
    return;
  }
  // mkstemp creates the file 0600; give it the permissions an ordinary new file gets, or
  // keep those of the file it replaces.
  mode_t mask = ::umask(0);
  ::umask(mask);
  struct stat old {};
  const mode_t mode = ::stat(target_path_.c_str(), &old) == 0 ? (old.st_mode & 07777) : (0666 & ~mask);
  ::fchmod(::fileno(file_), mode);
  int rc = std::fclose(file_);
  file_ = nullptr;
  if (rc != 0) throw EnvironmentError(path_, fmt::format("cannot write it: {}", std::strerror(errno)));
  if (std::rename(temp_path_.c_str(), target_path_.c_str()) != 0)
    throw EnvironmentError(path_, fmt::format("cannot rename {} onto it: {}", temp_path_, std::strerror(errno)));
  disarm_interrupt_cleanup(cleanup_slot_);
  committed_ = true;
}

void check_output_path(const std::string& path, const std::string& option) {
  namespace fs = std::filesystem;
  Origin origin{option + " " + path};
  std::error_code ec;
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  if (!fs::is_directory(dir, ec)) throw InputError(origin, option, fmt::format("no such folder: {}", dir.string()));
  if (fs::is_directory(path, ec)) throw InputError(origin, option, "is a folder, not a file");
}

void write_file_atomically(const std::string& path, std::string_view content) {
  AtomicFile f(path);
  f.write(content);
  f.commit();
}

void write_files_atomically(const std::vector<std::pair<std::string, std::string_view>>& outputs) {
  std::vector<std::unique_ptr<AtomicFile>> files;
  for (const auto& [path, content] : outputs) {
    if (path.empty()) continue;
    files.push_back(std::make_unique<AtomicFile>(path));
    files.back()->write(content);
  }
  for (auto& f : files) f->commit();
}

void append_csv_cell(fmt::memory_buffer& out, std::string_view text) {
  if (text.find_first_of(",\"\n\r") == std::string_view::npos) {
    out.append(text);
    return;
  }
  out.push_back('"');
  for (char c : text) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

void append_field_value(fmt::memory_buffer& out, const FieldValue& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::int64_t>) {
          fmt::format_to(std::back_inserter(out), "{}", x);
        } else if constexpr (std::is_same_v<T, double>) {
          fmt::format_to(std::back_inserter(out), "{}", x);
        } else if constexpr (std::is_same_v<T, bool>) {
          out.append(std::string_view(x ? "true" : "false"));
        } else if constexpr (std::is_same_v<T, std::string>) {
          out.append(x);
        } else {
          for (std::size_t i = 0; i < x.size(); ++i) {
            if (i > 0) out.push_back(';');
            out.append(x[i]);
          }
        }
      },
      v);
}

std::string field_value_text(const FieldValue& v) {
  fmt::memory_buffer b;
  append_field_value(b, v);
  return fmt::to_string(b);
}

}  // namespace xattn::cli
