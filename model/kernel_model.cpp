// The compute model of attention kernels (docs/model.md §3). The defaults of each kernel
// family, and the public measurement or source file each one comes from, are in
// family_figures() and kernel_params() below; what is an assumption says so. Numbers in
// comments, "(eq. N)", are docs/model.md's.
#include "model/kernel_model.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

namespace xattn {
namespace {

using i64 = std::int64_t;

double d(i64 x) { return static_cast<double>(x); }

// Peak fraction of the main loop (eq. 3), by family and GPU generation.
struct Figures {
  double fwd_d64, fwd_d128, bwd_d64, bwd_d128;
};

Figures family_figures(KernelFamily f, GpuArch arch) {
  // FlashAttention-2 on an A100 (Dao 2023, arXiv 2307.08691, §4.1): the forward reaches up
  // to 73% of the A100's peak and the backward up to 63% (head dimension 128, long
  // sequences). The head-dimension-64 figures are our reading of the paper's plots (its
  // d = 64 curves sit lower): 0.60 and 0.50.
  constexpr Figures fa2_ampere{0.60, 0.73, 0.50, 0.63};
  // FlashAttention-2 on an H100: "only 35% utilization" (Shah et al. 2024, FlashAttention-3,
  // arXiv 2407.08608, abstract); ring-flash-attention's README measures FA2's causal 8K
  // forward + backward on an H800 at 29% for the backward. d = 64: 0.85 times those.
  constexpr Figures fa2_hopper{0.30, 0.35, 0.26, 0.30};
  // FlashAttention-3 on an H100 (Shah et al. 2024): FP16 forward up to 740 TFLOP/s, 75% of
  // the 989 TFLOP/s peak (head dimension 128); head dimension 64 about 500 TFLOP/s (our
  // reading of its forward plot); the backward 1.5-1.75x FlashAttention-2's, so about
  // 0.30 x 1.65 = 0.50 at d = 128 and 0.40 at d = 64.
  constexpr Figures fa3_hopper{0.50, 0.75, 0.40, 0.50};
  // cuDNN's fused attention: no per-shape measurement we can cite; the FlashAttention-3
  // paper's plots put cuDNN's H100 forward below FA3's. Assumptions, reported uncalibrated.
  constexpr Figures cudnn_hopper{0.50, 0.62, 0.40, 0.48};
  switch (f) {
    case KernelFamily::flash_attention_2: return arch == GpuArch::hopper ? fa2_hopper : fa2_ampere;
    // FlashAttention-3 is written for Hopper; elsewhere its Ampere path is taken to run as
    // FlashAttention-2 does (an assumption).
    case KernelFamily::flash_attention_3: return arch == GpuArch::hopper ? fa3_hopper : fa2_ampere;
    case KernelFamily::cudnn: return arch == GpuArch::hopper ? cudnn_hopper : fa2_ampere;
  }
  return fa2_ampere;
}

// A tile by head dimension: d <= 64, <= 96, <= 128, larger.
struct Tile {
  i64 rows, cols;
};

Tile family_tile(KernelFamily f, BlockPass pass, i64 head_dim, bool causal) {
  const int cls = head_dim <= 64 ? 0 : head_dim <= 96 ? 1 : head_dim <= 128 ? 2 : 3;
  switch (f) {
    case KernelFamily::flash_attention_2:
      // csrc/flash_attn/src/flash_fwd_launch_template.h and flash_bwd_launch_template.h,
      // sm80: forward 128 x 128 (d <= 64), 128 x 64 (d <= 128 and above); backward
      // 128 x 128 (d <= 64), 64 x 128 above.
      if (pass == BlockPass::fwd) return cls == 0 ? Tile{128, 128} : Tile{128, 64};
      return cls == 0 ? Tile{128, 128} : Tile{64, 128};
    case KernelFamily::flash_attention_3:
      // hopper/tile_size.h (tile_size_fwd_sm90) and hopper/flash_bwd_launch_template.h:
      // forward 192 x 192 (d <= 64; causal 192 x 128), 192 x 144 (d <= 96; causal 192 x
      // 128), 128 x 176 (d <= 128; causal 128 x 128), 128 x 112 above; backward 128 x 128
      // (d <= 64), 64 x 128 (d <= 96), 80 x 128 (d <= 128; causal 64 x 128), 64 x 96 above.
      if (pass == BlockPass::fwd) {
        switch (cls) {
          case 0: return {192, causal ? 128 : 192};
          case 1: return {192, causal ? 128 : 144};
          case 2: return {128, causal ? 128 : 176};
          default: return {128, 112};
        }
      }
      switch (cls) {
        case 0: return {128, 128};
        case 1: return {64, 128};
        case 2: return {causal ? 64 : 80, 128};
        default: return {64, 96};
      }
    case KernelFamily::cudnn:
      // cuDNN's kernels are closed: 128 x 128 forward and 64 x 128 backward tiles are an
      // assumption (those of the open kernels above).
      return pass == BlockPass::fwd ? Tile{128, 128} : Tile{64, 128};
  }
  return {128, 128};
}

// Σ_{k=1}^{n} ceil(k·a/b) for positive a, b, in O(b / gcd(a, b)): the terms repeat with
// period b' = b / g, each period adding a' = a / g to every term.
double sum_ceil(i64 n, i64 a, i64 b) {
  if (n <= 0) return 0.0;
  const i64 g = std::gcd(a, b);
  const i64 ap = a / g, bp = b / g;
  auto partial = [&](i64 m) {  // Σ_{r=1}^{m} ceil(r·a'/b'), m <= b'
    double s = 0;
    for (i64 r = 1; r <= m; ++r) s += d((r * ap + bp - 1) / bp);
    return s;
  };
  const i64 Q = n / bp, rem = n % bp;
  return d(ap) * d(bp) * d(Q) * d(Q - 1) / 2.0 + d(Q) * partial(bp) + d(rem) * d(Q) * d(ap) + partial(rem);
}

}  // namespace

std::string_view to_string(KernelFamily f) {
  switch (f) {
    case KernelFamily::flash_attention_2: return "flash-attention-2";
    case KernelFamily::flash_attention_3: return "flash-attention-3";
    case KernelFamily::cudnn: return "cudnn";
  }
  return "?";
}

std::optional<KernelFamily> parse_kernel_family(std::string_view s) {
  for (KernelFamily f : {KernelFamily::flash_attention_2, KernelFamily::flash_attention_3, KernelFamily::cudnn})
    if (s == to_string(f)) return f;
  if (s == "fa2") return KernelFamily::flash_attention_2;
  if (s == "fa3") return KernelFamily::flash_attention_3;
  return std::nullopt;
}

std::string_view to_string(AccumulatePass a) {
  switch (a) {
    case AccumulatePass::separate: return "separate";
    case AccumulatePass::fused: return "fused";
    case AccumulatePass::eager: return "eager";
  }
  return "?";
}

std::optional<AccumulatePass> parse_accumulate_pass(std::string_view s) {
  if (s == "separate") return AccumulatePass::separate;
  if (s == "fused") return AccumulatePass::fused;
  if (s == "eager") return AccumulatePass::eager;
  return std::nullopt;
}

GpuArch gpu_arch(const GpuSpec& gpu) {
  const std::string_view n = gpu.name;
  for (std::string_view h : {"h100", "h200", "h800", "gh200"})
    if (n.substr(0, h.size()) == h) return GpuArch::hopper;
  return GpuArch::ampere;
}

KernelFamily default_kernel_family(const GpuSpec& gpu) {
  return gpu_arch(gpu) == GpuArch::hopper ? KernelFamily::flash_attention_3 : KernelFamily::flash_attention_2;
}

KernelFamily kernel_family(const GpuSpec& gpu, const ComputeCalibration& cal) {
  return cal.kernel.value_or(default_kernel_family(gpu));
}

KernelParams kernel_params(const GpuSpec& gpu, const ComputeCalibration& cal, BlockPass pass, std::int64_t head_dim,
                           bool causal) {
  KernelParams p;
  p.family = kernel_family(gpu, cal);
  const Figures fig = family_figures(p.family, gpu_arch(gpu));
  const bool small = head_dim <= 96;
  if (pass == BlockPass::fwd)
    p.e_max = small ? cal.fwd_max_d64.value_or(fig.fwd_d64) : cal.fwd_max_d128.value_or(fig.fwd_d128);
  else
    p.e_max = small ? cal.bwd_max_d64.value_or(fig.bwd_d64) : cal.bwd_max_d128.value_or(fig.bwd_d128);
  const Tile t = family_tile(p.family, pass, head_dim, causal);
  p.tile_rows = (pass == BlockPass::fwd ? cal.fwd_tile_rows : cal.bwd_tile_rows).value_or(t.rows);
  p.tile_cols = (pass == BlockPass::fwd ? cal.fwd_tile_cols : cal.bwd_tile_cols).value_or(t.cols);
  // eq. 3e. Forward: a thread block loads its queries and writes O and LSE once around a
  // loop over the keys; we keep 128 key rows for half efficiency (docs/model.md §3 derives
  // it from an A100's per-SM bandwidth and FLOP rate). Backward: it loads a key/value tile
  // and writes dK, dV once around a loop over the query rows: half efficiency at one
  // query tile (an assumption of the same size: ~2 µs of prologue and epilogue against
  // ~0.09 µs of the five products per query row on an A100).
  p.loop_half = pass == BlockPass::fwd ? cal.kv_half.value_or(128.0) : cal.q_half.value_or(d(t.rows));
  p.launch = cal.launch_overhead.value_or(microseconds(4));
  switch (p.family) {
    case KernelFamily::flash_attention_2:
      // flash_api.cpp: set_params_splitkv runs num_splits_heuristic on every forward
      // without dropout, with 64-row query tiles, key tiles of 256 (d <= 64), 128
      // (d <= 128) or 64 columns, and twice the SM count ("128 threads per block"): two
      // thread blocks per SM. The backward's 8-warp blocks run one per SM.
      p.ctas_per_sm = pass == BlockPass::fwd ? 2 : 1;
      p.split_kv = true;
      p.split_rows = 64;
      p.split_cols = head_dim <= 64 ? 256 : head_dim <= 128 ? 128 : 64;
      p.split_ctas_per_sm = 2;
      p.split_needs_new_chunk = true;
      // mha_fwd swaps the query heads of a group into the row dimension only for a
      // one-row query block (seqlenq_ngroups_swapped).
      p.gqa_pack_single_row = true;
      // mha_bwd: dot_do_o computes rowsum(dO∘O), dQ accumulates in fp32 (dq_accum) and a
      // kernel converts it; under GQA dK, dV are written per query head (dk_expanded) and
      // at::sum_out adds each group.
      p.delta_pass = true;
      p.dq_convert_pass = true;
      p.gqa_gradients = GqaGradients::expanded_sum;
      break;
    case KernelFamily::flash_attention_3:
      // hopper/heuristics.h: num_splits_heuristic on the SM count (one 3-warpgroup thread
      // block per SM), no split over 4 key tiles or fewer; should_pack_gqa packs a group's
      // query heads when that fills tiles better by 10%. The backward
      // (flash_bwd_launch_template.h): preprocess (rowsum(dO∘O)), the main kernel, a dQ
      // convert, and under GQA fp32 dK, dV accumulators converted by two more kernels.
      p.ctas_per_sm = 1;
      p.split_kv = true;
      p.split_rows = p.tile_rows;
      p.split_cols = p.tile_cols;
      p.split_ctas_per_sm = 1;
      p.split_min_blocks = true;
      p.gqa_packing = true;
      p.delta_pass = true;
      p.dq_convert_pass = true;
      p.gqa_gradients = GqaGradients::fp32_convert;
      break;
    case KernelFamily::cudnn:
      // Assumptions: one launch per call, GQA handled natively, no split-KV.
      p.ctas_per_sm = 1;
      break;
  }
  if (cal.split_kv) p.split_kv = *cal.split_kv;
  if (cal.gqa_packing) {
    p.gqa_packing = *cal.gqa_packing;
    p.gqa_pack_single_row = false;
  }
  return p;
}

int split_kv_heuristic(std::int64_t blocks, std::int64_t slots, std::int64_t key_tiles, int max_splits,
                       bool needs_new_chunk, bool min_blocks) {
  if (blocks <= 0 || slots <= 0 || key_tiles <= 0) return 1;
  if (d(blocks) >= 0.8 * d(slots)) return 1;
  if (min_blocks && key_tiles <= 4) return 1;
  const i64 most = std::min<i64>({max_splits, slots, key_tiles});
  auto eligible = [&](i64 s) {
    return !needs_new_chunk || s == 1 || (key_tiles + s - 1) / s != (key_tiles + s - 2) / (s - 1);
  };
  auto efficiency = [&](i64 s) {
    const double waves = d(blocks * s) / d(slots);
    return waves / std::ceil(waves);
  };
  double best = 0.0;
  for (i64 s = 1; s <= most; ++s)
    if (eligible(s)) best = std::max(best, efficiency(s));
  for (i64 s = 1; s <= most; ++s)
    if (eligible(s) && efficiency(s) >= 0.85 * best) return static_cast<int>(s);
  return 1;
}

double call_area(std::int64_t rows, std::int64_t cols, std::int64_t tile_rows, std::int64_t tile_cols, bool causal) {
  if (rows <= 0 || cols <= 0) return 0.0;
  const i64 M = std::max<i64>(tile_rows, 1), N = std::max<i64>(tile_cols, 1);
  const i64 row_tiles = (rows + M - 1) / M, col_tiles = (cols + N - 1) / N;
  if (!causal) return d(row_tiles * M) * d(col_tiles * N);
  // Query i sees keys 0 .. i + off (FlashAttention aligns the diagonal bottom-right).
  const i64 off = cols - rows;
  double tiles = 0.0;
  if (off == 0) {
    // Row tile i (full) reaches key (i+1)·M − 1: ceil((i+1)·M / N) key tiles.
    const i64 full = rows / M;
    tiles = sum_ceil(full, M, N);
    if (rows % M != 0) tiles += d((rows - 1) / N + 1);
  } else {
    for (i64 i = 0; i < row_tiles; ++i) {
      const i64 last = std::min(cols - 1, std::min((i + 1) * M, rows) - 1 + off);
      if (last >= 0) tiles += d(std::min(last / N + 1, col_tiles));
    }
  }
  return tiles * d(M) * d(N);
}

KernelCost kernel_cost(const GpuSpec& gpu, const ComputeCalibration& cal, DType dtype, BlockPass pass,
                       const BlockDims& dims, Flops flops) {
  KernelCost k;
  if (dims.rows <= 0 || dims.cols <= 0 || flops.value() <= 0) return k;
  const double pairs = dims.pairs < 0 ? d(dims.rows) * d(dims.cols) : dims.pairs;
  // eq. 3c: the call. A zigzag step's allowed half is one unmasked call of half the rows
  // or half the keys; a whole block is one call, with the kernel's causal mask when the
  // block's mask is causal and leaves pairs out.
  i64 R = dims.rows, C = dims.cols;
  bool causal = false;
  if (dims.call == BlockCall::kv_first_half) C = std::max<i64>(1, std::llround(pairs / d(R)));
  else if (dims.call == BlockCall::q_second_half) R = std::max<i64>(1, std::llround(pairs / d(C)));
  else causal = dims.mask == Mask::causal && pairs < d(R) * d(C);
  k.call_rows = R;
  k.call_cols = C;
  k.causal_call = causal;

  const double B = d(dims.batch), D = d(dims.head_dim), b = bytes_per_element(dtype);
  const double h = dims.heads, hkv = dims.kv_heads;
  const BytesPerSecond hbm = gpu.hbm * cal.hbm_efficiency();
  const FlopsPerSecond peak = gpu.peak(dtype);

  if (const AttentionPoint* m = cal.attention_point(pass, dims.head_dim, R, C, causal)) {
    // eq. 3f: a measured call shape (compute.attention_table, `xattn import kineto`) is
    // charged as measured, its efficiency standing for the whole call.
    k.from_table = true;
    k.efficiency = m->efficiency;
    k.compute = flops / (peak * k.efficiency);
    k.time = k.compute;
    return k;
  }
  if (cal.table_covers(pass, dims.head_dim)) {
    // A measured table (xattn calibrate gpu) prices the call as it was measured: its
    // efficiency at the call's rows and keys, eq. 4b's bytes, one launch.
    k.from_table = true;
    k.efficiency = cal.efficiency(pass, dims.head_dim, R, C);
    const double q_side = B * h * d(R) * D * b;
    const double kv_side = 2.0 * B * hkv * d(C) * D * b;
    const double bytes = pass == BlockPass::fwd ? 2.0 * q_side + kv_side + B * h * d(R) * 4.0
                                                : 3.0 * q_side + 2.0 * kv_side + B * h * d(R) * (4.0 + 4.0 * D);
    k.kernel_bytes = Bytes(bytes);
    k.compute = flops / (peak * k.efficiency);
    k.time = max(k.compute, elementwise_time(gpu, cal, k.kernel_bytes)) + cal.launch_overhead.value_or(microseconds(4));
    return k;
  }

  const KernelParams p = kernel_params(gpu, cal, pass, dims.head_dim, causal);
  k.e_max = p.e_max;
  // eq. 3a: GQA packing puts the g = H/H_kv query heads of a key/value head into the row
  // dimension of one tile: g·R rows of work for H_kv heads (forward, unmasked calls).
  const double g = hkv > 0 ? h / hkv : 1.0;
  const i64 gi = std::max<i64>(1, std::llround(g));
  if (pass == BlockPass::fwd && !causal && gi > 1) {
    if (p.gqa_packing) {
      auto fill = [&](i64 rows) { return d(rows) / d((rows + p.tile_rows - 1) / p.tile_rows * p.tile_rows); };
      k.packed = fill(R) < 0.9 * fill(R * gi);
    } else if (p.gqa_pack_single_row && R == 1) {
      k.packed = true;
    }
  }
  const i64 Re = k.packed ? R * gi : R;
  const double He = k.packed ? hkv : h;
  k.rows = Re;
  i64 M = p.tile_rows, N = p.tile_cols;
  int cps = p.ctas_per_sm;
  // eq. 3b: split-KV. Too few thread blocks for the SMs: the keys are cut into s splits,
  // each a thread block, and a combine kernel merges the s partial outputs.
  if (pass == BlockPass::fwd && p.split_kv && gpu.sms > 0) {
    const i64 blocks = dims.batch * static_cast<i64>(He) * ((Re + p.split_rows - 1) / p.split_rows);
    const i64 key_tiles = (C + p.split_cols - 1) / p.split_cols;
    const int s = split_kv_heuristic(blocks, static_cast<i64>(gpu.sms) * p.split_ctas_per_sm, key_tiles, 128,
                                     p.split_needs_new_chunk, p.split_min_blocks);
    if (s > 1) {
      k.splits = s;
      M = p.split_rows;
      N = p.split_cols;
      cps = p.split_ctas_per_sm;
    }
  }
  // eq. 3c: the tiles the call computes (per batch and head) against the pairs it needs.
  const double area = causal ? call_area(R, C, M, N, true) : call_area(Re, C, M, N, false);
  const double useful = causal ? pairs : d(Re) * d(C);
  k.fill = area > 0 ? std::min(1.0, useful / area) : 1.0;
  // eq. 3d, 3e: thread blocks in flight, and each one's prologue and epilogue against its
  // loop (forward: the keys of its split; backward: the query rows of its key tile).
  double span = 0.0;
  if (pass == BlockPass::fwd) {
    const i64 row_tiles = causal ? (R + M - 1) / M : (Re + M - 1) / M;
    k.ctas = dims.batch * static_cast<i64>(He) * row_tiles * k.splits;
    span = area / (d(row_tiles) * d(M)) / d(k.splits);
  } else {
    const i64 col_tiles = (C + N - 1) / N;
    k.ctas = dims.batch * static_cast<i64>(h) * col_tiles;
    span = area / (d(col_tiles) * d(N));
  }
  const double slots = d(gpu.sms) * cps;
  k.occupancy = slots > 0 ? std::min(1.0, d(k.ctas) / slots) : 1.0;
  k.amortization = p.loop_half > 0 ? span / (span + p.loop_half) : 1.0;
  k.efficiency = std::clamp(p.e_max * k.fill * k.occupancy * k.amortization, 1e-6, 1.0);
  k.compute = flops / (peak * k.efficiency);

  // eq. 4b: HBM traffic of the main kernel and of the family's separate passes.
  const double q_side = B * h * d(R) * D * b;
  const double kv_side = 2.0 * B * hkv * d(C) * D * b;
  double kernel_bytes = 0.0, pass_bytes = 0.0;
  int launches = 1;
  if (pass == BlockPass::fwd) {
    kernel_bytes = q_side + kv_side;
    if (k.splits > 1) {
      // Each split writes its fp32 partial O and LSE; the combine reads them and writes O.
      const double partials = d(k.splits) * B * h * d(R) * (D + 1.0) * 4.0;
      kernel_bytes += partials;
      pass_bytes += partials + q_side + B * h * d(R) * 4.0;
      ++launches;
    } else {
      kernel_bytes += q_side + B * h * d(R) * 4.0;
    }
  } else {
    kernel_bytes = 3.0 * q_side + 2.0 * kv_side + B * h * d(R) * (4.0 + 4.0 * D);
    if (p.delta_pass) {
      pass_bytes += 2.0 * q_side + B * h * d(R) * 4.0;  // read dO and O, write rowsum(dO∘O)
      ++launches;
    }
    if (p.dq_convert_pass) {
      pass_bytes += B * h * d(R) * D * 4.0 + q_side;  // read fp32 dQ, write dQ
      ++launches;
    }
    if (gi > 1 && p.gqa_gradients == GqaGradients::expanded_sum) {
      // dK, dV written for every query head, then summed per group.
      const double expanded = 2.0 * B * h * d(C) * D * b;
      kernel_bytes += expanded - kv_side;
      pass_bytes += expanded + kv_side;
      launches += 2;
    } else if (gi > 1 && p.gqa_gradients == GqaGradients::fp32_convert) {
      pass_bytes += 2.0 * B * hkv * d(C) * D * 4.0 + kv_side;  // read fp32 dK, dV, write them
      launches += 2;
    }
  }
  k.kernel_bytes = Bytes(kernel_bytes);
  k.pass_bytes = Bytes(pass_bytes);
  k.launches = launches;
  k.time = p.launch * static_cast<double>(launches) + max(k.compute, k.kernel_bytes / hbm) + k.pass_bytes / hbm;
  return k;
}

Seconds block_time(const GpuSpec& gpu, const ComputeCalibration& cal, DType dtype, BlockPass pass,
                   const BlockDims& dims, Flops flops) {
  return kernel_cost(gpu, cal, dtype, pass, dims, flops).time;
}

Seconds elementwise_time(const GpuSpec& gpu, const ComputeCalibration& cal, Bytes bytes) {
  return cal.elementwise_fixed() + bytes / (gpu.hbm * cal.hbm_efficiency());
}

Seconds roofline_time(const GpuSpec& gpu, const ComputeCalibration& cal, DType dtype, Flops flops, Bytes bytes) {
  if (flops.value() <= 0 && bytes.value() <= 0) return Seconds(0);
  const Seconds math = flops / (gpu.peak(dtype) * cal.gemm_fraction());
  const Seconds memory = bytes / (gpu.hbm * cal.hbm_efficiency());
  return max(math, memory);
}

Seconds encoder_time(const GpuSpec& gpu, DType dtype, Flops flops, double efficiency) {
  return flops / (gpu.peak(dtype) * efficiency);
}

Seconds accumulate_time(const GpuSpec& gpu, const ComputeCalibration& cal, Bytes separate_bytes, AccumulateKind kind,
                        int accumulator_bytes) {
  const BytesPerSecond hbm = gpu.hbm * cal.hbm_efficiency();
  switch (cal.accumulate.value_or(AccumulatePass::separate)) {
    case AccumulatePass::separate: return elementwise_time(gpu, cal, separate_bytes);
    case AccumulatePass::fused: return separate_bytes / 3.0 / hbm;
    case AccumulatePass::eager: {
      // ring-flash-attention (utils.py, update_out_and_lse; zigzag_ring_flash_attn.py):
      // the running O is fp32 and each operation is its own kernel — the partial cast to
      // fp32 (read 2, write 4 bytes per element), two scaled products (read 4, write 4
      // each), their sum (read 8, write 4): 34 bytes per element of O. A gradient add
      // (dq += dq_buffer, fp32 += the kernel's 16-bit partial): read 4 and 2, write 4.
      // Elements: eq. 5's bytes over three accumulator elements (the merge's per-row LSE
      // term, 4 bytes against d·b_a, is left in: under 2% at d = 128).
      const double elements = separate_bytes.value() / (3.0 * std::max(accumulator_bytes, 1));
      const bool merge = kind == AccumulateKind::merge;
      return cal.elementwise_fixed() * (merge ? 4.0 : 1.0) + Bytes(elements * (merge ? 34.0 : 10.0)) / hbm;
    }
  }
  return elementwise_time(gpu, cal, separate_bytes);
}

ComputeCalibration flat_efficiency(double e) {
  ComputeCalibration c;
  c.kernel = KernelFamily::cudnn;
  c.fwd_max_d64 = c.fwd_max_d128 = c.bwd_max_d64 = c.bwd_max_d128 = e;
  c.fwd_tile_rows = c.fwd_tile_cols = c.bwd_tile_rows = c.bwd_tile_cols = 1;
  c.kv_half = c.q_half = 0.0;
  c.split_kv = false;
  c.gqa_packing = false;
  c.launch_overhead = Seconds(0);
  return c;
}

}  // namespace xattn
