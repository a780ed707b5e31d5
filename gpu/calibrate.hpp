// Kernel timings for `xattn calibrate gpu` (issue 6, "Calibration"): the attention block
// kernels of gpu/attention.hpp over a q_rows x kv_rows grid, forward and backward, and
// the elementwise kernels the schedules use (merge, accumulate), each timed with CUDA
// events around one launch — as the executor times every op — after warm-up launches,
// the median of the repetitions kept. Turning times into efficiencies and fits is host
// code (model/gpu_calibration.hpp); the link is timed by gpu::measure_link (transport.hpp).
//
// C++17 and no CUDA include, like every gpu/ header used from the CLI.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gpu/attention.hpp"

namespace xattn::gpu {

struct KernelSweep {
  ElemType dtype = ElemType::bf16;
  std::int64_t batch = 1;
  std::int64_t heads = 32;
  std::int64_t kv_heads = 8;
  std::vector<std::int64_t> head_dims{128};
  std::vector<std::int64_t> q_rows;   // grid rows (each a block's query rows)
  std::vector<std::int64_t> kv_rows;  // grid columns (each a block's key/value rows)
  bool backward = true;               // also time the backward kernel over the grid
  int warmup = 3;
  int reps = 10;
  int device = 0;
};

struct BlockTime {
  bool backward = false;
  std::int64_t head_dim = 0, q_rows = 0, kv_rows = 0;
  double seconds = 0.0;  // median of one launch
};

struct ElementwiseTime {
  std::string kernel;      // "merge" or "accumulate"
  std::int64_t bytes = 0;  // read and written, as the schedules count them (ComputeOp::touched)
  double seconds = 0.0;
};

struct KernelTimes {
  std::string device;  // CUDA's name of the GPU
  std::vector<BlockTime> blocks;
  BlockTime probe;     // a forward block of 64 x 64 rows, one head: the launch's fixed cost
  std::vector<ElementwiseTime> elementwise;
};

// Runs the sweep on GPU `sweep.device`. `progress` (may be empty) receives one line per
// shape timed. Throws GpuUnavailable (no GPU), GpuError (a CUDA or kernel failure, with
// what was being timed) and std::invalid_argument (a shape the kernels do not support).
[[nodiscard]] KernelTimes time_kernels(const KernelSweep& sweep, const std::function<void(const std::string&)>& progress);

}  // namespace xattn::gpu
