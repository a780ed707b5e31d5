// Calibration: how fast this hardware really is. Compute efficiency (achieved fraction of
// peak for one attention block, by pass, head dim and block shape) and alpha-beta per link
// class. Defaults come from published FlashAttention-2 figures (docs/model.md, §3); a
// measured table (from `xattn calibrate gpu`) or fitted links (`xattn calibrate
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

struct ComputeCalibration {
  // Parametric model (docs/model.md, eq. 3): e = e_max(pass, d) * tile(q_rows) * kv/(kv + kv_half).
  double fwd_max_d64 = 0.60;
  double fwd_max_d128 = 0.72;
  double bwd_max_d64 = 0.50;
  double bwd_max_d128 = 0.60;
  std::int64_t fwd_tile_rows = 128;  // query rows per thread block, forward
  std::int64_t bwd_tile_rows = 64;   // query rows per thread block, backward
  double kv_half = 128.0;            // KV rows at which the block reaches half its e_max
  Seconds launch_overhead = microseconds(4);  // per attention-block kernel
  double memory_efficiency = 0.8;    // elementwise merge/accumulate: fraction of HBM peak
  Seconds elementwise_overhead;      // elementwise merge/accumulate: fixed cost per kernel (default 0)
  double gemm_efficiency = 0.75;     // projections repeated by recomputation
  // Compute slowed by communication on the same GPU (the event simulator, docs/model.md
  // §9): while a rank has a transfer or collective in flight, its compute runs (1 + this)
  // times slower — NCCL's kernels take SMs and HBM bandwidth from it. 0 (default): none.
  double comm_interference = 0.0;

  // A measured table overrides the parametric model for the (pass, head_dim) it covers.
  // Points for one (pass, head_dim) must form a full grid over q_rows x kv_rows.
  std::vector<EfficiencyPoint> table;

  // Achieved fraction of peak, in (0, 1].
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

struct Calibration {
  ComputeCalibration compute;
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
