// The largest inputs xattn accepts (docs/limits.md): every integer and number read from a
// scenario, a sweep, a calibration file or the command line is checked against these,
// in its full type, before anything narrows it or multiplies with it. Within them, no
// count, byte total or FLOP total can overflow the integer types that hold it, and the
// closed form's doubles stay finite; beyond them the input is refused (InputError, exit
// 2, with the file, line and field).
//
// Where a limit has a precedent in the field's own tools it follows it: sequence lengths
// are 32-bit in FlashAttention's and cuDNN's attention APIs (int seqlen), ranks are `int`
// in NCCL and MPI. The rest leave room far beyond any machine or model built so far (the
// largest clusters reported in 2024 have about 10^5 GPUs).
#pragma once

#include <cstdint>

namespace xattn::limits {

// ---- the cluster ----
inline constexpr std::int64_t max_gpus = std::int64_t{1} << 20;           // P = nodes × GPUs per node
inline constexpr std::int64_t max_nodes = max_gpus;
inline constexpr std::int64_t max_gpus_per_node = 1024;
// ---- the workload ----
inline constexpr std::int64_t max_tokens = 2147483647;                   // S_q and S_kv: int32, as FlashAttention
inline constexpr std::int64_t max_batch = std::int64_t{1} << 20;          // B, samples per SP group
inline constexpr std::int64_t max_global_batch = std::int64_t{1} << 40;   // samples per optimizer step
inline constexpr std::int64_t max_heads = 65536;                          // H, H_kv
inline constexpr std::int64_t max_head_dim = 65536;                       // d
inline constexpr std::int64_t max_hidden = std::int64_t{1} << 24;         // hidden sizes, FFN widths
inline constexpr std::int64_t max_layers = 65536;                         // layers of any kind
inline constexpr std::int64_t max_vocabulary = std::int64_t{1} << 31;
// Elements of the largest activation (B × S × H × d for Q, K, V, O of one SP group):
// 2^50, so that its bytes (up to 8 per element) stay below 2^53, exact in a double.
inline constexpr double max_tensor_elements = 1125899906842624.0;  // 2^50
// ---- figures (doubles: finite, and within these) ----
inline constexpr double max_bandwidth_GBps = 1e6;  // 1 PB/s per link: HBM3e is about 8 TB/s
inline constexpr double min_bandwidth_GBps = 1e-6; // 1 kB/s
inline constexpr double max_latency_us = 1e6;      // one second per hop
inline constexpr double max_tflops = 1e6;          // an exaflop per GPU
inline constexpr double max_memory_GB = 1e6;       // a petabyte per GPU
inline constexpr double max_factor = 1e6;          // a ratio or slow-down (oversubscription, straggler)
inline constexpr std::int64_t max_message_bytes = std::int64_t{1} << 50;  // one collective or transfer: 1 PiB

}  // namespace xattn::limits
