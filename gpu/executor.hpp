// Runs a Schedule on GPUs and measures it (issue 6, "Transports and executor"), following
// the execution semantics at the top of model/schedule/schedule.hpp:
//  * per rank, one CUDA stream per schedule stream (compute, comm0, comm1, ...); an op's
//    deps become cudaStreamWaitEvent on the end events of the ops it waits for;
//  * a transfer group is posted together: its stream waits for every member's deps and
//    records the members' "posted" events;
//  * a matched Send/Recv pair (source, destination, tag) is ONE transfer, enqueued on a
//    high-priority transfer stream once both sides are posted (it waits on both posted
//    events) and completing both; the group's stream then waits for all its members;
//  * a collective starts when every member has posted and completes on all together.
// Everything is enqueued from the host up front, in an order in which every event waited
// on has already been recorded (a host-side pass over the programs, like the simulator's
// but without time: walk.hpp), then the host synchronizes once. No host polling.
//
// Ranks and GPUs: the loopback transport puts all P ranks on one GPU (transport.hpp). NCCL
// runs one rank per GPU, in one of two ways with the same per-op code:
//  * one process: rank r on GPU r of this process (P <= visible GPUs, ncclCommInitAll);
//  * one process per rank (ExecOptions::bootstrap, from mpirun, srun, torchrun: launch.hpp,
//    rendezvous.hpp): this process runs rank bootstrap->rank() on its node's GPU
//    (choose_local_device), with ncclCommInitRank and the unique id rank 0 broadcasts.
//    Every process walks the whole schedule and enqueues only its own rank's ops and its
//    own side of each transfer and collective; where one process would make a stream wait
//    for the other side's event, NCCL's own rendezvous does the waiting. Before NCCL is
//    initialized the processes settle: if one could not set up (no GPU, no NCCL, out of
//    memory, two ranks on one GPU), every process throws, naming that rank.
//
// Device sharing (P virtual ranks on one GPU share its SMs):
//  * ComputePlacement::per_rank_streams — every rank has its own compute stream: kernels of
//    different ranks may run at the same time;
//  * ComputePlacement::one_device_stream — all ranks' compute ops run on ONE stream of the
//    GPU, one at a time, in a given order (from the simulator, sim::device_compute_order,
//    or default_compute_order()). Communication always runs on per-rank streams.
//
// Timing: a CUDA event (timing enabled) is recorded when an op is posted, when it starts
// and when it ends; after the run they become a Timeline (times relative to one
// origin event recorded before anything else; with NCCL, per GPU, right after an
// all-reduce barrier over all ranks), which chrome_trace_json exports with the same op
// ids as a simulated trace. run() returns this process's ranks only; rank_timeline.hpp
// merges the processes' op times into whole timelines. NVTX: streams are named ("r2 compute", "r2 comm0",
// "r2 xfer comm0.0"), and each op's enqueue is an NVTX range in the domain "xattn" named
// by its op id and label, so Nsight Systems shows which host call enqueued which kernel.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gpu/buffers.hpp"
#include "gpu/rendezvous.hpp"
#include "gpu/transport.hpp"
#include "gpu/walk.hpp"
#include "model/schedule/schedule.hpp"
#include "model/schedule/timeline.hpp"

namespace xattn::gpu {

enum class ComputePlacement { per_rank_streams, one_device_stream };
[[nodiscard]] std::string_view to_string(ComputePlacement p);

struct ExecOptions {
  TransportKind transport = TransportKind::loopback;
  LoopbackOptions link;  // loopback only
  ComputePlacement placement = ComputePlacement::per_rank_streams;
  std::vector<OpId> compute_order;  // one_device_stream; empty: default_compute_order(s)
  std::uint64_t seed = 1;           // random inputs
  int device = 0;                   // loopback: the GPU every rank runs on
  // nccl, one process per rank: the bootstrap of this process (not owned; it must outlive
  // the Executor and world() must equal the schedule's ranks). nullptr: one process runs
  // every rank.
  Bootstrap* bootstrap = nullptr;
};

// default_compute_order() and validate_compute_order() are in gpu/walk.hpp.

// How an attention block's mask maps onto the kernel (attention.hpp): dense, causal with
// offsets whose allowed-pair count equals block.allowed_pairs, or skipped (no pairs).
struct MaskMapping {
  bool skip = false;
  bool causal = false;
  std::int64_t q_offset = 0;  // kv_offset is 0
  std::int64_t pairs = 0;     // pairs the kernel computes (== allowed_pairs unless approximated)
};
[[nodiscard]] MaskMapping map_mask(const BlockShape& b);

class Executor {
 public:
  // Allocates every local rank's buffers (plan_buffers), streams and events. Throws
  // GpuUnavailable (no GPU, no NCCL, too few GPUs, two ranks on one GPU), GpuError,
  // std::invalid_argument (a bad compute order, a world that is not the schedule's ranks),
  // RendezvousError (a multi-process bootstrap that failed).
  Executor(const Schedule& s, ExecOptions options);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Fills the inputs with fresh random data (seeded: the same every time) and runs the
  // schedule once; returns the measured timeline of this process's ranks (another
  // process's rank has no ops in it). Throws GpuError.
  Timeline run();

  // Host access to a rank's buffer as floats (activations converted from their dtype),
  // for tests; write() replaces the random inputs until the next fill (run() refills only
  // buffers not written this way).
  [[nodiscard]] std::vector<float> read(int rank, const std::string& buffer) const;
  void write(int rank, const std::string& buffer, const std::vector<float>& values);

  [[nodiscard]] const BufferPlan& plan() const;
  [[nodiscard]] const std::vector<OpId>& compute_order() const;  // one_device_stream: what ran
  [[nodiscard]] std::string device_name() const;
  // Per rank, its GPU's name ("" for another process's rank, except after a multi-process
  // set-up, which shares every rank's); and the ranks this process runs.
  [[nodiscard]] std::vector<std::string> rank_devices() const;
  [[nodiscard]] const std::vector<int>& local_ranks() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xattn::gpu
