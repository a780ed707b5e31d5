// Calibration: how fast this hardware really is. Compute efficiency (achieved fraction of
// peak for one attention block, by pass, head dim and block shape) and alpha-beta per link
// class. Defaults come from published FlashAttention-2 figures (docs/model.md, §3); a
// measured table (from `xattn calibrate gpu`) or fitted links (`xattn calibrate
// nccl-tests`) replace them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/hardware.hpp"
#include "model/types.hpp"
#include "model/units.hpp"

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
  double gemm_efficiency = 0.75;     // projections repeated by recomputation

  // A measured table overrides the parametric model for the (pass, head_dim) it covers.
  // Points for one (pass, head_dim) must form a full grid over q_rows x kv_rows.
  std::vector<EfficiencyPoint> table;

  // Achieved fraction of peak, in (0, 1].
  [[nodiscard]] double efficiency(BlockPass pass, std::int64_t head_dim, std::int64_t q_rows,
                                  std::int64_t kv_rows) const;
};

// Optional replacements for the cluster's nominal link figures.
struct LinkCalibration {
  std::optional<Seconds> latency;
  std::optional<BytesPerSecond> bandwidth;
};

struct Calibration {
  ComputeCalibration compute;
  LinkCalibration intra_node;
  LinkCalibration inter_node;
  std::vector<std::string> sources;  // files merged into this calibration, in order

  // The link of this class as the model should use it: nominal figures from the cluster,
  // replaced field by field by the calibration.
  [[nodiscard]] LinkSpec link(const Cluster& cluster, LinkClass c) const;
};

// Checks that a table is usable (full grids, efficiencies in (0, 1]); returns a message or
// an empty string.
[[nodiscard]] std::string validate_table(const std::vector<EfficiencyPoint>& table);

}  // namespace xattn
