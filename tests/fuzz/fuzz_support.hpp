// What every libFuzzer harness shares: where the source tree is (seed files and the
// scenarios relative paths in fuzzed input resolve against), a private scratch folder
// for harnesses that must hand a parser a file, and the rule that decides what is a
// finding. A parser may refuse its input only with an InputError (bad input, exit 2) or
// an EnvironmentError (too large for this machine, exit 3); anything else that escapes —
// another exception, a crash, a sanitizer report, a leak, a hang — is a finding, and the
// harness lets it escape so that libFuzzer stops and saves the input.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "model/core/error.hpp"

namespace xattn::fuzz {

inline const std::string kSourceDir = XATTN_SOURCE_DIR;

inline std::string text_of(const std::uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// Runs `body`; an InputError or EnvironmentError is the parser refusing the input, as it
// may. Anything else propagates (a finding).
template <class F>
void refusals_allowed(F&& body) {
  try {
    body();
  } catch (const InputError&) {
  } catch (const EnvironmentError&) {
  }
}

// A folder of this process's own under the system's temporary folder, made once.
inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("xattn-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

// Writes `text` to `name` in the scratch folder and returns its path.
inline std::string scratch_file(const std::string& name, const std::string& text) {
  const std::string path = (scratch() / name).string();
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  return path;
}

}  // namespace xattn::fuzz
