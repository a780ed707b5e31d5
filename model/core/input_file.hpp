// Reading an input file whole, with a bound: every file xattn reads (scenarios, sweeps,
// calibration and set files, nccl-tests logs, traces) comes through here, so that a
// path that names a folder, a missing file or something endless (/dev/zero, a pipe that
// never closes its end) is an InputError naming the file, never a hang or an exhausted
// machine (docs/limits.md, "Files").
#pragma once

#include <cstddef>
#include <string>

namespace xattn {

// 64 MiB: a scenario, sweep, calibration or set file, an nccl-tests log.
inline constexpr std::size_t kMaxInputFileBytes = std::size_t{64} << 20;
// 2 GiB: a measured or simulated trace (about ten million ops).
inline constexpr std::size_t kMaxTraceFileBytes = std::size_t{2} << 30;

// The whole content of `path`. Throws InputError(Origin{path}, field, why) when it does
// not exist, is a folder, cannot be read, or holds more than `max_bytes`.
[[nodiscard]] std::string read_input_file(const std::string& path, const std::string& field,
                                          std::size_t max_bytes = kMaxInputFileBytes);

}  // namespace xattn
