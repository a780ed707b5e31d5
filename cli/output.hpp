// Writing results: files appear whole or not at all, and CSV/field values are spelled the
// same way by every command.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "model/scenario.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn::cli {

// A file written under a temporary name in the same folder and renamed onto `path` by
// commit(). Destroyed without commit() (an error, an exception), it removes the temporary
// file, so a failed command leaves nothing partially written behind. An output never
// damages what it replaces: a symlink is followed to the file it names, which is replaced
// (the link stays); a special file — a device, a FIFO, /dev/stdout — is written in place,
// never renamed over (ARCHITECTURE.md, "Contracts").
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);  // throws EnvironmentError (exit 3) if it cannot create
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  void write(std::string_view bytes);  // throws EnvironmentError naming the path on a write error
  void commit();                       // flush, close and rename onto the final path

  [[nodiscard]] const std::string& temp_path() const { return temp_path_; }

 private:
  std::string path_;
  std::string target_path_;  // path_ with its symlinks followed: what the rename replaces
  std::string temp_path_;
  bool in_place_ = false;    // a special file, written directly
  std::FILE* file_ = nullptr;
  bool committed_ = false;
  int cleanup_slot_ = -1;    // where the signal handler finds temp_path_ (output.cpp)
};

// Checks, before any work is done, that `path` can be created: its folder exists and is a
// folder. Throws InputError naming `option` (e.g. "--out") otherwise.
void check_output_path(const std::string& path, const std::string& option);

// Writes `content` to `path` through an AtomicFile.
void write_file_atomically(const std::string& path, std::string_view content);
// Writes several outputs of one command (path, content; an empty path is skipped): every
// one is written in full to its temporary file before the first is renamed into place,
// so an error while writing leaves none of them (at most 8 at once).
void write_files_atomically(const std::vector<std::pair<std::string, std::string_view>>& outputs);

// A CSV cell: quoted (RFC 4180) only when it holds a comma, quote or line break.
void append_csv_cell(fmt::memory_buffer& out, std::string_view text);

// A field value as it is written in YAML or after --set KEY=: 12, 2.5, true, fp16,
// [a, b] lists joined with ';' (so the value stays one CSV cell).
void append_field_value(fmt::memory_buffer& out, const FieldValue& v);
[[nodiscard]] std::string field_value_text(const FieldValue& v);

}  // namespace xattn::cli
