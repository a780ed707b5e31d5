// How much memory a run may use: what the machine has free for this process, read before
// a large run is built so that it is refused with a clear message (EnvironmentError, exit
// 3) instead of growing until the kernel kills it or new throws std::bad_alloc
// (docs/limits.md, "Memory").
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace xattn {

// The bytes this process can still allocate: the least of the memory the kernel reports
// available (MemAvailable in /proc/meminfo), the room left under the cgroup's limit
// (memory.max − memory.current, cgroup v2) and the address-space limit (RLIMIT_AS) less
// what the process maps already. nullopt when none of them can be read.
[[nodiscard]] std::optional<std::uint64_t> available_memory_bytes();

// Throws EnvironmentError naming `what` when `needed` bytes exceed `available` (or, when
// `available` is nullopt, available_memory_bytes()); `alternative` says what to do instead
// (for the event engine: the closed form). Does nothing when nothing can be read.
void check_memory(std::uint64_t needed, const std::string& what, const std::string& alternative,
                  std::optional<std::uint64_t> available = std::nullopt);

// "12.3 GiB", "512 MiB": a byte count for messages.
[[nodiscard]] std::string bytes_text(double bytes);

}  // namespace xattn
