// Atomic output files and the spelling of CSV cells and field values (output.hpp).
#include "cli/output.hpp"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <type_traits>
#include <variant>

#include "model/core/error.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn::cli {
namespace {

// Ctrl-C or a kill during a long sweep must not leave the temporary file behind either.
// A signal handler can only reach global state, so the one temporary being written (the
// CLI writes one output file at a time) is kept here, in a fixed buffer that the handler
// reads without allocating; the handler removes it and re-raises the signal.
char g_interrupt_unlink_path[4096];
volatile sig_atomic_t g_interrupt_unlink_armed = 0;

extern "C" void unlink_and_reraise(int sig) {
  if (g_interrupt_unlink_armed) ::unlink(g_interrupt_unlink_path);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void arm_interrupt_cleanup(const std::string& path) {
  if (path.size() >= sizeof g_interrupt_unlink_path) return;  // not worth failing over
  std::memcpy(g_interrupt_unlink_path, path.c_str(), path.size() + 1);
  g_interrupt_unlink_armed = 1;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old_action {};
    ::sigaction(sig, nullptr, &old_action);
    if (old_action.sa_handler == SIG_DFL) ::signal(sig, unlink_and_reraise);  // leave others' handlers alone
  }
}

void disarm_interrupt_cleanup() { g_interrupt_unlink_armed = 0; }

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  temp_path_ = path_ + ".tmp-XXXXXX";
  int fd = ::mkstemp(temp_path_.data());
  if (fd < 0)
    throw std::runtime_error(fmt::format("cannot create {}: {}", temp_path_, std::strerror(errno)));
  file_ = ::fdopen(fd, "wb");
  if (file_ == nullptr) {
    ::close(fd);
    ::unlink(temp_path_.c_str());
    throw std::runtime_error(fmt::format("cannot open {}: {}", temp_path_, std::strerror(errno)));
  }
  arm_interrupt_cleanup(temp_path_);
}

AtomicFile::~AtomicFile() {
  disarm_interrupt_cleanup();
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_) ::unlink(temp_path_.c_str());
}

void AtomicFile::write(std::string_view bytes) {
  if (bytes.empty()) return;
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size())
    throw std::runtime_error(fmt::format("cannot write {}: {}", temp_path_, std::strerror(errno)));
}

void AtomicFile::commit() {
  // mkstemp creates the file 0600; give it the permissions an ordinary new file gets.
  mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(::fileno(file_), 0666 & ~mask);
  int rc = std::fclose(file_);
  file_ = nullptr;
  if (rc != 0) throw std::runtime_error(fmt::format("cannot write {}: {}", temp_path_, std::strerror(errno)));
  disarm_interrupt_cleanup();
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0)
    throw std::runtime_error(fmt::format("cannot rename {} to {}: {}", temp_path_, path_, std::strerror(errno)));
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
