// Reading PyTorch profiler traces (the Chrome-trace JSON that Kineto writes, plain or
// gzip; one file per rank) and classifying their GPU kernels (issue 19, docs/kineto.md).
//
// A trace is read as a stream (nlohmann's SAX interface, zlib underneath) in two passes:
// the first keeps the GPU kernels (a few dozen bytes each), the host launches they came
// from, the profiler steps and the optimizer's and autograd's time on each thread; the
// second keeps only the CPU ops that launched a kernel, with the input shapes the profiler
// recorded (record_shapes=True). Memory therefore grows with the number of kernels, never
// with the CPU-side events that make up most of a trace. A malformed or truncated file is
// an InputError naming the file, the line and the JSON path.
//
// Each kernel is put in a class by its name (and, for NCCL, by the communication metadata
// PyTorch attaches): gemm (cuBLAS, cuBLASLt, CUTLASS), attention (FlashAttention 2 and 3,
// cuDNN, PyTorch's fused SDPA kernels), nccl, elementwise (PyTorch's elementwise,
// reduction, normalisation and optimizer kernels, Triton), other. Its FLOPs or bytes come
// from the launching CPU op's recorded shapes when there are any; its phase (forward,
// backward, optimizer) from the thread and time it was launched at.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/calibration.hpp"
#include "model/collective.hpp"
#include "model/measured_step.hpp"
#include "model/types.hpp"

namespace xattn {

enum class KernelClass : std::uint8_t { gemm, attention, nccl, elementwise, other };
inline constexpr int kernel_class_count = 5;

[[nodiscard]] std::string_view to_string(KernelClass c);

// Where in a training step a kernel ran, from where it was launched (docs/kineto.md §3).
enum class StepPhase : std::uint8_t { forward, backward, optimizer };
[[nodiscard]] std::string_view to_string(StepPhase p);

// What a kernel's name alone says (docs/kineto.md §2).
struct KernelName {
  KernelClass cls = KernelClass::other;
  bool optimizer = false;                       // an optimizer kernel (fused Adam, multi-tensor apply)
  std::optional<KernelFamily> family;           // attention: FlashAttention 2 or 3, cuDNN
  std::optional<BlockPass> pass;                // attention: forward or backward, when the name says
  std::optional<NcclCollective> collective;     // nccl: the collective, when the name says
  std::string algorithm, protocol;              // nccl: RING, TREE...; ll, ll128, simple (xattn's names), when the name says
};
[[nodiscard]] KernelName classify_kernel(std::string_view name);

// The launching CPU op of a GEMM, as its recorded shapes give it: batch x (M x K by K x N).
struct GemmShape {
  std::int64_t batch = 1, m = 0, k = 0, n = 0;
  [[nodiscard]] double flops() const { return 2.0 * static_cast<double>(batch) * static_cast<double>(m) * static_cast<double>(k) * static_cast<double>(n); }
};

// The launching CPU op of an attention kernel: queries of (batch, heads, q_rows, head_dim)
// against keys of (batch, kv_heads, kv_rows, head_dim).
struct AttentionCall {
  BlockPass pass = BlockPass::fwd;
  std::int64_t batch = 0, heads = 0, kv_heads = 0, q_rows = 0, kv_rows = 0, head_dim = 0;
  bool causal = false;
  bool causal_known = false;  // the op's recorded arguments said; else dense was assumed
  // FlashAttention's count (docs/model.md eq. 2): 4·B·H·d per allowed (query, key) pair in
  // the forward, 2.5 times that in the backward.
  [[nodiscard]] double pairs() const;
  [[nodiscard]] double flops() const;
};

// The communication metadata PyTorch records with a collective ("Collective name", "In msg
// nelems", "Out msg nelems", "Group size", "dtype"): nccl-tests' size (the larger of the
// input and output buffers) and the group.
struct CollectiveCall {
  NcclCollective op = NcclCollective::all_reduce;
  double size_bytes = 0;
  int group = 0;
  std::string dtype;
  std::string process_group;
};

// A CPU op that launched at least one kernel, with what its recorded shapes tell.
struct KinetoOp {
  std::string name;
  std::optional<DType> dtype;
  std::optional<GemmShape> gemm;
  std::optional<AttentionCall> attention;
  std::optional<CollectiveCall> collective;
  double bytes = 0;  // tensors read and written, estimated from the shapes (0: unknown)
};

// One GPU kernel of a trace.
struct KinetoKernel {
  std::uint32_t name = 0;  // index into KinetoTrace::names
  KernelClass cls = KernelClass::other;
  StepPhase phase = StepPhase::forward;
  std::int32_t step = -1;  // index into KinetoTrace::steps; -1 outside every step
  std::int64_t stream = 0;
  double ts_us = 0, dur_us = 0;
  double launch_us = -1;         // when the host launched it (-1: no launch in the trace)
  std::int64_t external_id = 0;  // the launching CPU op (0: not known)
  std::int32_t op = -1;          // index into KinetoTrace::ops; -1 when its op was not found
  std::int32_t collective = -1;  // index into KinetoTrace::collectives (nccl kernels)
};

struct TraceInterval {
  double ts_us = 0, end_us = 0;
  std::string name;
};

// One rank's trace, read and classified.
struct KinetoTrace {
  std::string source;
  int rank = 0;
  bool rank_known = false;  // distributedInfo.rank was there; else the file's position
  int world_size = 0;       // distributedInfo.world_size (0: not said)
  std::string device;       // deviceProperties (or computeProperties) of the device the kernels ran on
  int devices_listed = 0;   // GPUs the trace lists: usually the GPUs of the node
  std::vector<std::string> names;       // distinct kernel names
  std::vector<KernelName> name_class;   // classify_kernel of each name
  std::vector<KinetoKernel> kernels;    // in the order read
  std::vector<KinetoOp> ops;
  std::vector<CollectiveCall> collectives;
  std::vector<TraceInterval> steps;     // ProfilerStep#N, by start time
  std::int64_t memcpy_count = 0, memset_count = 0;
  double memcpy_us = 0, memset_us = 0;
  std::vector<double> launch_us;        // host cost of each kernel launch (cudaLaunchKernel and kin)
  std::vector<std::string> notes;       // what was assumed, what the trace could not tell
};

struct KinetoReadOptions {
  // The rank of a trace that does not record one (its position among the files).
  int default_rank = 0;
};

// Reads and classifies one trace. Throws InputError naming the file, the line and the JSON
// path for a file that cannot be read, malformed or truncated JSON or gzip, a trace event
// without the fields its kind needs, and a trace without GPU kernels.
[[nodiscard]] KinetoTrace read_kineto_trace(const std::string& path, const KinetoReadOptions& options = {});

// The trace files a list of paths names: a file as it is, a folder (what PyTorch's
// tensorboard_trace_handler writes into) as its *.json and *.json.gz files, by name.
// Throws InputError for a folder with none.
[[nodiscard]] std::vector<std::string> expand_kineto_paths(const std::vector<std::string>& paths);

// Several traces (one per rank; folders expanded as above): each read, ranks from the
// traces, sorted by rank. Throws one InputError with the problems of every file, and for
// two files of the same rank (a folder holding two runs).
[[nodiscard]] std::vector<KinetoTrace> read_kineto_traces(const std::vector<std::string>& paths);

// Per class, over every trace given (JSON `classes`, docs/kineto.md §4).
struct ClassSummary {
  KernelClass cls = KernelClass::other;
  std::int64_t count = 0;
  double time_s = 0;
  // FLOPs (gemm, attention) or bytes (elementwise; nccl: bus bytes, nccl-tests' busbw
  // definition) of the kernels whose launching op recorded shapes, and their time.
  double flops = 0, flops_time_s = 0;
  double bytes = 0, bytes_time_s = 0;
  std::int64_t shaped = 0;  // kernels with a known FLOP or byte count
  [[nodiscard]] std::optional<double> achieved_tflops() const;
  [[nodiscard]] std::optional<double> achieved_GBps() const;
};

// One GEMM shape (per dtype) over every trace: calls (kernels of one launching op
// together), their time and what it achieves.
struct GemmGroup {
  GemmShape shape;
  std::optional<DType> dtype;
  std::int64_t calls = 0, kernels = 0;
  double time_s = 0;
  [[nodiscard]] double tflops() const { return time_s > 0 ? static_cast<double>(calls) * shape.flops() / time_s * 1e-12 : 0; }
};

struct AttentionGroup {
  AttentionCall call;
  std::optional<DType> dtype;
  std::optional<KernelFamily> family;
  std::int64_t calls = 0, kernels = 0;
  double time_s = 0;
  [[nodiscard]] double tflops() const { return time_s > 0 ? static_cast<double>(calls) * call.flops() / time_s * 1e-12 : 0; }
};

struct CollectiveGroup {
  NcclCollective op = NcclCollective::all_reduce;
  int group = 0;
  double size_bytes = 0;
  std::int64_t calls = 0;
  std::vector<double> times_s;  // each call's kernel time
  [[nodiscard]] double median_s() const;
  [[nodiscard]] double busbw_GBps() const;  // size x busbw factor / median time
};

struct KinetoSummary {
  std::vector<std::string> sources;
  int ranks = 0;
  std::string device;
  std::vector<ClassSummary> classes;  // gemm, attention, nccl, elementwise, other
  std::int64_t optimizer_kernels = 0;
  double optimizer_s = 0;
  std::vector<GemmGroup> gemms;             // by total time, largest first
  std::vector<AttentionGroup> attentions;
  std::vector<CollectiveGroup> collectives;
  std::int64_t nccl_without_metadata = 0;   // NCCL kernels with no size or group recorded
  std::int64_t memcpy_count = 0, memset_count = 0;
  double memcpy_s = 0, memset_s = 0;
  std::optional<double> launch_median_us;   // host cost of a kernel launch, median
  std::vector<std::string> notes;
};

[[nodiscard]] KinetoSummary summarize_kineto(const std::vector<KinetoTrace>& traces);

// The step the traces measured, phase by phase (model/measured_step.hpp, docs/kineto.md §5).
[[nodiscard]] MeasuredStep measured_step(const std::vector<KinetoTrace>& traces);

// Calls: the kernels one CPU op launched, together (a cuBLAS split-K GEMM and its reduce,
// FlashAttention-2's three backward kernels). Kernels without a known op are calls alone.
struct KernelCall {
  std::size_t first = 0;              // index of its first kernel in KinetoTrace::kernels
  std::vector<std::size_t> kernels;   // all of them
  double time_s = 0;                  // their durations added
};
[[nodiscard]] std::vector<KernelCall> kernel_calls(const KinetoTrace& t, KernelClass cls);

}  // namespace xattn
