// The compute model of attention kernels (docs/model.md §3, eq. 3-4b): what one call of a
// FlashAttention-2, FlashAttention-3 or cuDNN attention kernel costs on a GPU, following
// what those kernels do — their tiles, GQA packing, split-KV for short query blocks, the
// tiles a causal mask leaves, the thread blocks in flight, the extra passes of their
// backward and a launch per kernel. Each family's defaults, and the public measurement
// they come from, are in kernel_model.cpp. The closed form (model/analytic) and the event
// simulator (sim/compute_cost) both charge every attention block through kernel_cost(), so
// the two engines price a compute op identically.
#pragma once

#include <cstdint>

#include "model/calibration.hpp"
#include "model/hardware.hpp"
#include "model/types.hpp"
#include "model/core/units.hpp"

namespace xattn {

// The shape of one attention block as the time formulas need it: `rows` query rows
// against `cols` key rows per head, for `heads` query heads and `kv_heads` key/value
// heads; `pairs` of its rows x cols (query, key) pairs allowed by the mask (a negative
// value: all of them), and which part of it one kernel call computes.
struct BlockDims {
  std::int64_t batch = 1;
  double heads = 0, kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t rows = 0, cols = 0;
  double pairs = -1;
  Mask mask = Mask::dense;
  BlockCall call = BlockCall::whole;
};

// The GPU generation a kernel family's defaults depend on (by preset name: h100*, h200*,
// h800* are Hopper; everything else, custom GPUs included, Ampere).
enum class GpuArch { ampere, hopper };
[[nodiscard]] GpuArch gpu_arch(const GpuSpec& gpu);

// The family people run on this GPU: FlashAttention-3 on Hopper, FlashAttention-2 else.
[[nodiscard]] KernelFamily default_kernel_family(const GpuSpec& gpu);
// The calibration's family, or the GPU's default.
[[nodiscard]] KernelFamily kernel_family(const GpuSpec& gpu, const ComputeCalibration& cal);

// How a backward kernel of a family produces the key/value gradients under GQA (H > H_kv).
enum class GqaGradients : std::uint8_t {
  native,         // written per key/value head by the kernel itself
  expanded_sum,   // written per query head, then summed per group by a separate pass (FA2)
  fp32_convert,   // accumulated in fp32 per key/value head, then converted by a pass (FA3)
};

// Every figure the model uses for one call of one pass, resolved: the calibration's value
// where it sets one, else the family's default for this GPU, head dimension and mask.
struct KernelParams {
  KernelFamily family = KernelFamily::flash_attention_2;
  double e_max = 0.0;                 // eq. 3: peak fraction of the main loop
  std::int64_t tile_rows = 1, tile_cols = 1;
  double loop_half = 0.0;             // eq. 3e: kv_half (forward) or q_half (backward)
  int ctas_per_sm = 1;                // thread blocks one SM runs at once
  bool split_kv = false;              // forward only (eq. 3b)
  std::int64_t split_rows = 0, split_cols = 0;  // the split kernel's tile
  int split_ctas_per_sm = 1;
  bool split_needs_new_chunk = false; // FA2: a split count must change the keys per split
  bool split_min_blocks = false;      // FA3: never split 4 key tiles or fewer
  bool gqa_packing = false;           // pack when it fills tiles better (FA3's rule, eq. 3a)
  bool gqa_pack_single_row = false;   // FA2: pack only a one-row query block (decoding)
  bool delta_pass = false;            // backward: rowsum(dO∘O) by a kernel of its own
  bool dq_convert_pass = false;       // backward: dQ accumulated in fp32, then converted
  GqaGradients gqa_gradients = GqaGradients::native;
  Seconds launch;                     // per kernel launched
};

[[nodiscard]] KernelParams kernel_params(const GpuSpec& gpu, const ComputeCalibration& cal, BlockPass pass,
                                         std::int64_t head_dim, bool causal);

// The parametric efficiency pieces of one call and its time (docs/model.md eq. 3-4b).
struct KernelCost {
  Seconds time;              // launches + max(compute, kernel HBM traffic) + separate passes
  double efficiency = 0.0;   // the main kernel's achieved fraction of peak
  double e_max = 0.0, fill = 1.0, occupancy = 1.0, amortization = 1.0;
  std::int64_t call_rows = 0, call_cols = 0;  // the call (after the zigzag half, before packing)
  std::int64_t rows = 0;     // rows of one tile column after GQA packing
  bool packed = false;       // GQA packing applied
  bool causal_call = false;  // the kernel's causal mask (tiles above the diagonal skipped)
  int splits = 1;            // split-KV
  std::int64_t ctas = 0;     // thread blocks launched for the main kernel
  int launches = 1;
  Seconds compute;           // FLOPs / (peak · efficiency)
  Bytes kernel_bytes;        // HBM traffic of the main kernel (eq. 4b)
  Bytes pass_bytes;          // HBM traffic of its separate passes (combine, convert, sums)
  bool from_table = false;   // a measured efficiency table or call shape priced it
};

// docs/model.md eq. 3-4b: one attention block doing `flops` FLOPs (the Schedule's: its
// allowed pairs), run as the family's kernel call(s).
[[nodiscard]] KernelCost kernel_cost(const GpuSpec& gpu, const ComputeCalibration& cal, DType dtype, BlockPass pass,
                                     const BlockDims& dims, Flops flops);
[[nodiscard]] Seconds block_time(const GpuSpec& gpu, const ComputeCalibration& cal, DType dtype, BlockPass pass,
                                 const BlockDims& dims, Flops flops);

// docs/model.md eq. 5: an elementwise pass (merge, rescale, accumulate) over `bytes` of
// HBM traffic.
[[nodiscard]] Seconds elementwise_time(const GpuSpec& gpu, const ComputeCalibration& cal, Bytes bytes);

// docs/model.md eq. 22 (ITERATION.md §2.4): a GEMM doing `flops` (2·M·K·N) on operands of
// `bytes` (K·N + M·K + M·N elements) on the roofline: the larger of its math at η_gemm of
// peak and its bytes at η_mem of HBM. gemm_time (model/iteration.hpp) and the event
// engine's GEMM ops (sim/compute_cost.hpp) both price through it.
[[nodiscard]] Seconds roofline_time(const GpuSpec& gpu, const ComputeCalibration& cal, DType dtype, Flops flops,
                                    Bytes bytes);
// docs/model.md eq. 19: a whole frozen encoder's forward of `flops` at `efficiency` of peak
// (η_vision: its GEMMs and its masked SDPA blended).
[[nodiscard]] Seconds encoder_time(const GpuSpec& gpu, DType dtype, Flops flops, double efficiency);

// docs/model.md eq. 5a: folding a partial into a running accumulator — a merge of (O, LSE)
// or an add of a gradient — `separate_bytes` being what one separate pass moves (read two,
// write one, eq. 5) with accumulators of `accumulator_bytes` per element: that pass; fused
// into the kernel's epilogue, a third of the bytes and no launch; eager (unfused PyTorch
// on an fp32 accumulator), 34 bytes per element for a merge in four kernels, 10 for an add.
enum class AccumulateKind : std::uint8_t { merge, add };
[[nodiscard]] Seconds accumulate_time(const GpuSpec& gpu, const ComputeCalibration& cal, Bytes separate_bytes,
                                      AccumulateKind kind, int accumulator_bytes);

// FlashAttention's split-KV heuristic (flash_api.cpp and hopper/heuristics.h,
// num_splits_heuristic): the fewest splits that reach 85% of the best wave efficiency,
// when `blocks` thread blocks fill less than 80% of `slots`. Exposed for tests.
[[nodiscard]] int split_kv_heuristic(std::int64_t blocks, std::int64_t slots, std::int64_t key_tiles, int max_splits,
                                     bool needs_new_chunk, bool min_blocks);

// Tiles of tile_rows x tile_cols a call of rows x cols computes (docs/model.md eq. 3c),
// times the tile's area: the whole grid when dense; with the kernel's causal mask (query
// i sees keys up to i + cols - rows, as FlashAttention aligns it) only the tiles that hold
// an allowed pair.
[[nodiscard]] double call_area(std::int64_t rows, std::int64_t cols, std::int64_t tile_rows, std::int64_t tile_cols,
                               bool causal);

// A calibration in which every attention block runs at the flat fraction `e` of peak: an
// ideal kernel (cuDNN's family, which has no separate passes) with tiles of one row and
// one key, no split-KV, no GQA packing, no loop amortization and no launch cost. For hand
// arithmetic (tests) and what-ifs.
[[nodiscard]] ComputeCalibration flat_efficiency(double e);

}  // namespace xattn
