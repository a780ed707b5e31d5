// Calibration: how fast this hardware really is. Compute (the attention kernel family and
// its figures, elementwise passes) and alpha-beta per link class. Defaults come from
// published kernel measurements (docs/model.md §3, model/kernel_model.hpp); a calibration
// file, a measured table (from `xattn calibrate gpu`) or fitted links (`xattn calibrate
// nccl-tests`) replace them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/hardware.hpp"
#include "model/types.hpp"
#include "model/core/units.hpp"

namespace xattn {

// Which kind of attention block kernel: forward, or backward (dQ, dK, dV).
enum class BlockPass { fwd, bwd };

// One measured point: achieved fraction of the GPU's peak for a block of
// q_rows x kv_rows (per head, all heads and batch together) at this head dim.
struct EfficiencyPoint {
  BlockPass pass = BlockPass::fwd;
  std::int64_t head_dim = 0;
  std::int64_t q_rows = 0;
  std::int64_t kv_rows = 0;
  double efficiency = 0.0;
};

// One GEMM shape as measured (a profiler trace, `xattn import kineto`): M x K by K x N ran
// at `efficiency` of the GPU's peak for the dtype, FLOPs over time of `kernels` calls
// together. gemm_time (model/iteration.hpp, docs/model.md eq. 22) charges exactly this
// shape 2MKN / (efficiency · F), the measurement standing for both roofline terms; any
// other shape keeps the roofline.
struct GemmPoint {
  std::int64_t m = 0, k = 0, n = 0;
  double efficiency = 0.0;
  int kernels = 0;  // calls behind the figure (0: not said)
};

// One attention call shape as measured (a profiler trace, `xattn import kineto`): calls of
// `pass` with q_rows query rows against kv_rows key rows per head at head dimension
// head_dim, under the kernel's causal mask or none, ran at `efficiency` of the GPU's peak
// for the dtype: their FLOPs (eq. 2, the allowed pairs) over the time of their kernels,
// `kernels` kernels together. kernel_cost (model/kernel_model.hpp, docs/model.md eq. 3f)
// charges a call of exactly this shape FLOPs / (efficiency · F), the measurement standing
// for the whole call (its launches, extra passes and bytes); any other shape keeps the
// grid table or the kernel family's model. Batch and heads are not part of the shape: the
// fraction is per FLOP.
struct AttentionPoint {
  BlockPass pass = BlockPass::fwd;
  std::int64_t head_dim = 0, q_rows = 0, kv_rows = 0;
  bool causal = false;
  double efficiency = 0.0;
  int kernels = 0;  // kernels behind the figure (0: not said)
};

// Which family of attention kernels runs the blocks (docs/model.md §3): each has its own
// tiles, peak efficiencies, split-KV and GQA rules and its own extra passes. By default
// FlashAttention-2 on Ampere GPUs (A100, A30) and FlashAttention-3 on Hopper (H100, H200):
// the kernels people run there (model/kernel_model.hpp cites the figures of each).
enum class KernelFamily : std::uint8_t { flash_attention_2, flash_attention_3, cudnn };

[[nodiscard]] std::string_view to_string(KernelFamily f);
[[nodiscard]] std::optional<KernelFamily> parse_kernel_family(std::string_view s);

// How a ring step folds a block's partial result into its running accumulator (the (O,
// LSE) merge of the forward, the dQ or dK, dV add of the backward; docs/model.md eq. 5):
// a separate elementwise kernel (read the partial and the accumulator, write the
// accumulator), or fused into the attention kernel's epilogue (it reads the accumulator and
// writes the sum: one third of the bytes and no launch of its own), or eager: unfused
// PyTorch operations on an fp32 accumulator, as ring-flash-attention writes them.
enum class AccumulatePass : std::uint8_t { separate, fused, eager };

[[nodiscard]] std::string_view to_string(AccumulatePass a);
[[nodiscard]] std::optional<AccumulatePass> parse_accumulate_pass(std::string_view s);

// Compute calibration. Every optional field left unset takes the kernel family's default
// for the GPU (model/kernel_model.hpp, docs/model.md §3): a calibration file sets only the
// fields it names, and the unset ones are what a result reports as `uncalibrated`.
struct ComputeCalibration {
  std::optional<KernelFamily> kernel;      // default: by GPU (default_kernel_family)
  // Peak fraction of the main kernel by pass and head dimension (d <= 96: the d64 figure).
  std::optional<double> fwd_max_d64, fwd_max_d128, bwd_max_d64, bwd_max_d128;
  // Tile of one thread block: query rows x key columns, forward and backward; when set,
  // for every head dimension and mask.
  std::optional<std::int64_t> fwd_tile_rows, fwd_tile_cols, bwd_tile_rows, bwd_tile_cols;
  // Length of a thread block's main loop (key columns in the forward, query rows in the
  // backward) at which its prologue and epilogue halve its efficiency (eq. 3e).
  std::optional<double> kv_half, q_half;
  std::optional<bool> split_kv;            // split the keys of short query blocks (eq. 3b)
  std::optional<bool> gqa_packing;         // pack a KV head's query heads into one tile (eq. 3a)
  std::optional<AccumulatePass> accumulate;
  std::optional<Seconds> launch_overhead;  // per kernel launch (and the stream wait before it)
  std::optional<double> memory_efficiency;      // elementwise passes: fraction of HBM peak (0.8)
  std::optional<Seconds> elementwise_overhead;  // elementwise passes: fixed cost per kernel (0)
  std::optional<double> gemm_efficiency;        // projections repeated by recomputation (0.75)
  // Compute slowed by communication on the same GPU (the event simulator, docs/model.md
  // §9): while a rank has a transfer or collective in flight, its compute runs (1 + this)
  // times slower — NCCL's kernels take SMs and HBM bandwidth from it. 0 (default): none.
  double comm_interference = 0.0;

  // A measured table overrides the parametric model for the (pass, head_dim) it covers.
  // Points for one (pass, head_dim) must form a full grid over q_rows x kv_rows.
  std::vector<EfficiencyPoint> table;

  // Measured GEMM shapes (docs/model.md eq. 22): each replaces the roofline for its shape.
  std::vector<GemmPoint> gemm_table;
  // The measured point of exactly this shape, or nullptr (never allocates).
  [[nodiscard]] const GemmPoint* gemm_point(double m, double k, double n) const;

  // Measured attention call shapes (docs/model.md eq. 3f): each replaces the grid table and
  // the kernel model for its shape.
  std::vector<AttentionPoint> attention_table;
  // The measured point of exactly this call, or nullptr (never allocates).
  [[nodiscard]] const AttentionPoint* attention_point(BlockPass pass, std::int64_t head_dim, std::int64_t q_rows,
                                                      std::int64_t kv_rows, bool causal) const;

  // The defaults of the fields above that are not the kernel family's (docs/model.md §3).
  static constexpr double kMemoryEfficiency = 0.8;  // streaming kernels reach ~80% of HBM peak
  static constexpr double kGemmEfficiency = 0.75;
  [[nodiscard]] double hbm_efficiency() const { return memory_efficiency.value_or(kMemoryEfficiency); }
  [[nodiscard]] Seconds elementwise_fixed() const { return elementwise_overhead.value_or(Seconds(0)); }
  [[nodiscard]] double gemm_fraction() const { return gemm_efficiency.value_or(kGemmEfficiency); }

  // Whether the measured table covers this pass and head dimension.
  [[nodiscard]] bool table_covers(BlockPass pass, std::int64_t head_dim) const;

  // Achieved fraction of peak of one dense block of q_rows x kv_rows per head, in (0, 1]:
  // the table where it covers the block, else the parametric model of eq. 3 without a GPU
  // (no occupancy, no split-KV: model/kernel_model.hpp has the whole call), with the
  // family's defaults on an Ampere GPU where a field is unset.
  [[nodiscard]] double efficiency(BlockPass pass, std::int64_t head_dim, std::int64_t q_rows,
                                  std::int64_t kv_rows) const;
};

// NCCL's three wire protocols (NCCL docs, "Environment Variables", NCCL_PROTO): LL
// (8-byte stores carrying a flag: lowest latency, half the bandwidth), LL128 (128-byte
// lines with a flag: near-full bandwidth on NVLink) and Simple (bulk copies with
// fences: full bandwidth, highest latency).
enum class Protocol { ll, ll128, simple };

[[nodiscard]] std::string_view to_string(Protocol p);
[[nodiscard]] std::optional<Protocol> parse_protocol(std::string_view s);

// How a link class behaves under one protocol, as in NCCL's own cost model
// (NVIDIA/nccl src/graph/tuning.cc, 2.18/2.19: baseLat + steps x hwLat + size / bw):
// a ring hop of n bytes takes latency + n / bandwidth, and a collective using the protocol
// pays base_latency once on top of its hops. docs/calibration.md, "Protocol regimes" and
// "The collective model". Fitted by `xattn calibrate nccl-tests`; the fastest regime for a
// given message is the one that is used (price_hop, model/link_cost.hpp).
//
// Two figures only collectives read (model/link_cost.hpp, price_collective):
//  - tree_latency: on the inter-node class, the latency of one level of NCCL's double
//    binary tree across nodes, paid going up and again coming down (all-reduce). Absent:
//    the class's hop latency.
//  - local_bandwidth: the rate at which a collective kernel reads its input and writes its
//    output in the GPU's own memory, whatever the ring size; a collective of S bytes pays
//    S / local_bandwidth once. Absent: nothing.
struct ProtocolRegime {
  Protocol protocol = Protocol::simple;
  Seconds latency;       // per hop
  BytesPerSecond bandwidth;
  Seconds base_latency;  // once per collective
  std::optional<Seconds> tree_latency = std::nullopt;            // per tree level, each way (inter-node class)
  std::optional<BytesPerSecond> local_bandwidth = std::nullopt;  // once per collective, on the whole buffer
};

// Optional replacements for the cluster's nominal link figures. `latency`/`bandwidth` are
// the large-message (Simple) figures; `protocols`, when not empty, refine them per
// protocol, one entry per protocol at most, in the order ll, ll128, simple. How a hop is
// priced from these and the nominal figures: model/link_cost.hpp.
//
// `p2p`, when not empty: one lone point-to-point message (NCCL send/recv, nccl-tests'
// sendrecv) per protocol: `latency` is the whole fixed cost of a message (its kernel and
// its hop), `bandwidth` its rate, `base_latency` unused. From `sendrecv_perf` logs, or
// derived from the collective regimes by the fit when there are none (the calibration
// file says which). price_message (model/link_cost.hpp) reads it.
struct LinkCalibration {
  std::optional<Seconds> latency;
  std::optional<BytesPerSecond> bandwidth;
  std::vector<ProtocolRegime> protocols;
  std::vector<ProtocolRegime> p2p;
};

// How the collectives were launched: one process driving every GPU of the node (nccl-tests
// `-g N`), or one process per GPU (MPI). The fixed cost per collective differs.
enum class LaunchMode { single_process, mpi };

[[nodiscard]] std::string_view to_string(LaunchMode m);
[[nodiscard]] std::optional<LaunchMode> parse_launch_mode(std::string_view s);

// The host's share of one collective call (launching its kernels), per launch mode. In
// nccl-tests, calls follow each other without waiting, so the host's and the GPUs' work
// overlap and a call takes the larger of the two (docs/calibration.md, "The collective
// model"). One process that drives several GPUs launches a kernel on each, one after the
// other: per_gpu is what each of them adds (one process per GPU: one).
struct LaunchCalibration {
  std::optional<Seconds> single_process;
  std::optional<Seconds> mpi;
  std::optional<Seconds> per_gpu;

  [[nodiscard]] std::optional<Seconds> overhead(LaunchMode m) const {
    return m == LaunchMode::mpi ? mpi : single_process;
  }
};

// Figures of the whole training step that no kernel or link measurement gives
// (docs/model.md §14), read from a calibration file's `iteration:` keys. Unset, the
// default in model/training.hpp's IterationKnobs is used and a result at iteration scope
// names the key as uncalibrated (docs/model.md §15).
struct IterationCalibration {
  std::optional<double> vision_efficiency;     // iteration.vision_efficiency: η_vision, in (0, 1]
  std::optional<Seconds> host_sync;            // iteration.host_sync_us: one torch.cuda.synchronize()
  std::optional<double> zero_bucket_elements;  // iteration.zero_bucket_elements: DeepSpeed reduce_bucket_size
  std::optional<double> ddp_bucket_bytes;      // iteration.ddp_bucket_bytes: DDP bucket_cap_mb, in bytes
};

struct Calibration {
  ComputeCalibration compute;
  IterationCalibration iteration;  // the training step's own figures
  LinkCalibration intra_node;
  LinkCalibration inter_node;
  std::vector<std::string> sources;  // files merged into this calibration, in order
  LaunchCalibration launch;          // host cost per collective call, by launch mode

  // The link of this class as the model should use it: nominal figures from the cluster,
  // replaced field by field by the calibration (calibrated_link, model/link_cost.hpp).
  // Its protocol regimes are not applied here: price_hop does that per message size.
  [[nodiscard]] LinkSpec link(const Cluster& cluster, LinkClass c) const;
};

// Checks that a table is usable (full grids, efficiencies in (0, 1]); returns a message or
// an empty string.
[[nodiscard]] std::string validate_table(const std::vector<EfficiencyPoint>& table);

}  // namespace xattn
