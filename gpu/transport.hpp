// Transports of the GPU backend (issue 6, "Transports and executor"): how the bytes of a
// Send/Recv pair or a collective move between ranks, and what one message costs.
//
//  * loopback — P virtual ranks on ONE GPU. A device-to-device copy runs at TB/s and would
//    make every schedule compute-bound, so a loopback message goes through pinned host
//    memory (device-to-host into a staging buffer, then host-to-device into the receiver:
//    a real PCIe round) and is paced to a chosen link: it takes
//        latency + bytes / bandwidth
//    or the real copies' time when that is longer. A 1-thread "mark" kernel stamps
//    %globaltimer before the copies, a 1-thread "pace" kernel spins (__nanosleep) after
//    them until the stamp plus that duration. docs/gpu_backend.md has the details.
//  * nccl — one rank per GPU, NCCL loaded with dlopen at run time (nccl_loader.hpp), so
//    that xattn starts on machines without NCCL.
//
// This header needs no CUDA include; the functions throw GpuUnavailable when there is no
// GPU (or no NCCL for the nccl transport) and GpuError when CUDA or NCCL fails.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gpu/errors.hpp"

namespace xattn::gpu {

enum class TransportKind { loopback, nccl };
[[nodiscard]] std::string_view to_string(TransportKind k);

// The link a loopback transport imitates. Bandwidth is per direction (GB = 1e9 bytes).
struct LoopbackOptions {
  double bandwidth_GBps = 10.0;
  double latency_us = 10.0;
  bool pace = true;  // false: raw pinned-host round trip, as fast as PCIe goes
};

// How long a paced loopback message of `bytes` is made to take, in nanoseconds:
// latency + bytes / bandwidth (0 when not paced: the copies take what they take).
[[nodiscard]] std::int64_t paced_duration_ns(const LoopbackOptions& o, std::int64_t bytes);

// One point of a link measurement: the median over the repetitions of one message size.
struct LinkSample {
  std::int64_t bytes = 0;
  double seconds = 0.0;
};

// Times point-to-point messages of each size (reps timed repetitions after one warm-up)
// on the first GPU: loopback between two virtual ranks on that GPU (paced as `o` says),
// or NCCL send/recv of the GPU to itself (o is then ignored). For `xattn calibrate gpu`.
[[nodiscard]] std::vector<LinkSample> measure_link(TransportKind kind, const LoopbackOptions& o,
                                                   const std::vector<std::int64_t>& sizes, int reps);

// NCCL self test on the first GPU: ncclSend and ncclRecv of `bytes` to itself inside one
// group; checks that the bytes arrived. Returns the time of one round in seconds.
[[nodiscard]] double nccl_self_test(std::int64_t bytes);

// ---- building blocks the executor enqueues (stream: a cudaStream_t as void*) ----------

// A 1-thread kernel that writes %globaltimer (ns) to *slot (device memory).
void enqueue_mark(std::int64_t* slot, void* stream);
// A 1-thread kernel that spins (__nanosleep) until %globaltimer >= *slot + ns.
void enqueue_pace(const std::int64_t* slot, std::int64_t ns, void* stream);
// The mark of a message on a shared link: the link serves its messages one after the
// other (first marked, first served). With now = %globaltimer, it takes
// wire = max(now, *link_free) + wire_ns, sets *link_free = wire and *slot = wire +
// latency_ns, so enqueue_pace(slot, 0) then waits for the message's end.
void enqueue_mark_link(std::int64_t* slot, std::int64_t* link_free, std::int64_t wire_ns, std::int64_t latency_ns,
                       void* stream);

}  // namespace xattn::gpu
