// From `xattn calibrate gpu`'s timings to a Calibration (docs/calibration.md, "calibrate
// gpu"). The GPU side (gpu/calibrate.hpp) only times kernels; everything that turns times
// into model figures lives here, free of CUDA, so that it is tested on any machine.
//
// What the simulator charges (docs/model.md eq. 3-5, model/analytic.hpp) and how each
// figure is read back from a measurement so that the simulator reproduces it:
//  * an attention block: max(FLOPs / (peak · e), bytes / (HBM · m)) + launch_overhead. With
//    L = launch_overhead, a block of the grid measured at time t gets
//        e = FLOPs / ((t − L) · peak)
//    so the simulator gives back t exactly at every grid point where the block is compute
//    bound; between grid points e is interpolated. FLOPs are the Schedule builders' own:
//    the attention op of a one-rank no-comm schedule of that block (4·B·H·d·q·kv forward,
//    2.5 times that backward). L is the time of the smallest block timed (a launch with
//    almost no work), capped below every grid time so that e stays finite.
//  * an elementwise op: elementwise_overhead + bytes / (HBM · m) (docs/model.md eq. 5): the
//    two-parameter fit (fixed cost, bandwidth) that minimizes the squared relative error
//    over the sizes timed (those the mechanisms' merges move); with a single size, or a
//    fit whose fixed cost comes out negative, m alone from the zero-intercept fit.
//  * a point-to-point message: latency + bytes / bandwidth, fitted by least squares on the
//    relative error, written as the intra-node link (the loopback transport's link).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/calibration.hpp"
#include "model/hardware.hpp"
#include "model/types.hpp"
#include "model/core/units.hpp"

namespace xattn {

// One attention-block shape the sweep times; all heads and the batch in one launch.
struct BlockTiming {
  BlockPass pass = BlockPass::fwd;
  std::int64_t batch = 1, heads = 0, kv_heads = 0, head_dim = 0;
  std::int64_t q_rows = 0, kv_rows = 0;
  Seconds time;  // median over the repetitions
};

// One elementwise launch: the bytes it reads and writes, and its median time.
struct ElementwiseTiming {
  std::string kernel;  // "merge", "accumulate", ...
  Bytes bytes;
  Seconds time;
};

// One message size on the link: median time of one message.
struct MessageTiming {
  Bytes bytes;
  Seconds time;
};

struct GpuTimings {
  std::string device;  // as CUDA names it
  GpuSpec gpu;         // the preset whose peak the efficiencies are fractions of
  DType dtype = DType::bf16;
  std::vector<BlockTiming> blocks;        // a full q_rows x kv_rows grid per (pass, head_dim)
  std::optional<BlockTiming> launch_probe;  // a block with almost no work
  std::vector<ElementwiseTiming> elementwise;
  std::vector<MessageTiming> link;        // empty: no link measured
  std::string link_description;           // "loopback paced to 10 GB/s, 10 us", ...
};

// One grid point as the summary shows it.
struct BlockFitRow {
  BlockTiming timing;
  Flops flops;
  double efficiency = 0.0;  // written to the table (clamped into (0, 1])
  Seconds simulated;        // what the simulator charges with the new calibration
  bool memory_bound = false;
};

struct PointFitRow {
  std::string what;
  Bytes bytes;
  Seconds measured, fitted;
};

struct GpuCalibration {
  Calibration calibration;  // compute (table, launch overhead, memory efficiency), intra-node link
  std::vector<BlockFitRow> blocks;
  std::vector<PointFitRow> elementwise;
  Seconds elementwise_intercept;  // the two-parameter fit's fixed cost (compute.elementwise_overhead when positive)
  std::vector<PointFitRow> link;
  std::vector<std::string> notes;
};

// Throws std::invalid_argument for timings that cannot make a calibration (an incomplete
// grid, a non-positive time, no blocks).
[[nodiscard]] GpuCalibration calibration_from_timings(const GpuTimings& t);

// Latency + bytes / bandwidth minimizing the squared relative error; needs two sizes or
// more. A negative latency becomes 0 (and the bandwidth is refitted).
[[nodiscard]] LinkSpec fit_latency_bandwidth(const std::vector<MessageTiming>& samples);

// The calibration file (calibration_io's format, readable by `calibration:` and
// --calibration), with a comment header saying what was measured on which device.
[[nodiscard]] std::string gpu_calibration_yaml(const GpuTimings& t, const GpuCalibration& c);

// The summary: nccl-tests style, a '#' header, a units row and fixed columns.
[[nodiscard]] std::string gpu_calibration_table(const GpuTimings& t, const GpuCalibration& c);


}  // namespace xattn
