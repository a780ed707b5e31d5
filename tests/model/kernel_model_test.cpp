// The compute model of attention kernels (docs/model.md §3, eq. 3-4b) by hand arithmetic:
// GQA packing, split-KV, the kernel calls of each causal ring layout, the tiles a causal
// mask leaves, the backward's separate passes and fused accumulators.
#include <gtest/gtest.h>

#include <cmath>

#include "model/kernel_model.hpp"
#include "model/presets.hpp"

namespace xattn {
namespace {

const GpuSpec& a100() { return *find_gpu("a100-80gb"); }
const GpuSpec& h100() { return *find_gpu("h100-sxm"); }

// One block of Llama-3.2-11B-Vision's cross-attention (32 query heads, 8 key/value heads,
// d = 128): `rows` query rows against `cols` keys.
BlockDims llama(std::int64_t rows, std::int64_t cols) { return BlockDims{1, 32.0, 8.0, 128, rows, cols}; }

Flops fwd_flops(const BlockDims& b) { return Flops(4.0 * 32 * 128 * static_cast<double>(b.rows) * static_cast<double>(b.cols)); }

TEST(KernelModel, FamilyByGpu) {
  EXPECT_EQ(default_kernel_family(a100()), KernelFamily::flash_attention_2);
  EXPECT_EQ(default_kernel_family(*find_gpu("a30-24gb")), KernelFamily::flash_attention_2);
  EXPECT_EQ(default_kernel_family(h100()), KernelFamily::flash_attention_3);
  EXPECT_EQ(default_kernel_family(*find_gpu("h200")), KernelFamily::flash_attention_3);
  EXPECT_EQ(parse_kernel_family("cudnn"), KernelFamily::cudnn);
  EXPECT_FALSE(parse_kernel_family("flash-attention-4").has_value());
}

TEST(KernelModel, GqaPackingFillsTheRowsOfATileWithAGroupsHeads) {
  // FlashAttention-3 on an H100, forward, a 63-row block: one 128-row tile holds 63 rows,
  // 49% of it (eq. 3a). Packing the H/H_kv = 4 query heads of a key/value head gives 252
  // rows of work in two tiles (252/256 = 98%), better by more than FA3's 10% threshold,
  // for the 8 key/value heads.
  const BlockDims b = llama(63, 176 * 64);
  const KernelCost k = kernel_cost(h100(), ComputeCalibration{}, DType::bf16, BlockPass::fwd, b, fwd_flops(b));
  EXPECT_TRUE(k.packed);
  EXPECT_EQ(k.rows, 252);
  // 176-key tiles, 64 of them: the keys fill their tiles; the rows fill 252/256.
  EXPECT_NEAR(k.fill, 252.0 / 256.0, 1e-12);
  // 8 heads x 2 row tiles = 16 thread blocks on 132 SMs: split-KV (eq. 3b). FA3's
  // heuristic: waves = 16·s/132, best 1 (s = 33: 528/132 = 4 whole waves); s = 7 reaches
  // 112/132 = 0.848, s = 8 128/132 = 0.970, the first at 85% of the best.
  EXPECT_EQ(k.splits, 8);
  EXPECT_NEAR(k.occupancy, 128.0 / 132.0, 1e-12);
  // FlashAttention-2 packs only a one-row query block (decoding): 63 rows stay 63.
  ComputeCalibration fa2;
  fa2.kernel = KernelFamily::flash_attention_2;
  EXPECT_FALSE(kernel_cost(h100(), fa2, DType::bf16, BlockPass::fwd, b, fwd_flops(b)).packed);
  const BlockDims one = llama(1, 4096);
  const KernelCost decode = kernel_cost(a100(), fa2, DType::bf16, BlockPass::fwd, one, fwd_flops(one));
  EXPECT_TRUE(decode.packed);
  EXPECT_EQ(decode.rows, 4);
  // Causal calls and the backward are never packed.
  BlockDims causal = llama(63, 63);
  causal.mask = Mask::causal;
  causal.pairs = 63.0 * 64 / 2;
  EXPECT_FALSE(kernel_cost(h100(), ComputeCalibration{}, DType::bf16, BlockPass::fwd, causal, Flops(1e9)).packed);
}

TEST(KernelModel, SplitKvForShortQueryBlocksOnFlashAttention2) {
  // LV-XAttn's forward block of the README's job: 63 query rows against 76,848 keys, 32
  // heads, on an A100 (108 SMs). FlashAttention-2 (flash_api.cpp) counts 64-row tiles:
  // 32 thread blocks, fewer than 0.8 x 216 slots (two per SM). Splits of the 601 key tiles
  // of 128: waves 32·s/216 — s = 5: 0.74, s = 6: 0.889 >= 0.85 x 1.0 (s = 27 fills 4
  // waves): 6 splits, 192 thread blocks.
  EXPECT_EQ(split_kv_heuristic(32, 216, 601, 128, true, false), 6);
  const BlockDims b = llama(63, 76848);
  const KernelCost k = kernel_cost(a100(), ComputeCalibration{}, DType::fp16, BlockPass::fwd, b, fwd_flops(b));
  EXPECT_EQ(k.splits, 6);
  EXPECT_EQ(k.ctas, 192);
  EXPECT_NEAR(k.occupancy, 192.0 / 216.0, 1e-12);
  // The split kernel's 64 x 128 tiles: 63/64 of the rows, 76,848 of 76,928 keys.
  EXPECT_NEAR(k.fill, 63.0 * 76848 / (64.0 * 76928), 1e-12);
  // Each split loops over 76,928 / 6 keys: amortization against kv_half = 128.
  const double span = 76928.0 / 6;
  EXPECT_NEAR(k.amortization, span / (span + 128), 1e-12);
  EXPECT_NEAR(k.efficiency, 0.73 * k.fill * k.occupancy * k.amortization, 1e-12);
  // Two launches (the split kernel and the combine, 4 µs each); the combine reads the
  // six fp32 partials (O and LSE) and writes O and LSE: 6·32·63·129·4 + 32·63·(256 + 4).
  EXPECT_EQ(k.launches, 2);
  const double partials = 6.0 * 32 * 63 * 129 * 4;
  EXPECT_NEAR(k.pass_bytes.value(), partials + 32.0 * 63 * (128 * 2 + 4), 1e-6);
  const BytesPerSecond hbm = a100().hbm * 0.8;
  const double compute = fwd_flops(b).value() / (312e12 * k.efficiency);
  const double kernel_bytes = 32.0 * 63 * 128 * 2 + 2.0 * 8 * 76848 * 128 * 2 + partials;
  EXPECT_NEAR(k.time.value(),
              8e-6 + std::max(compute, kernel_bytes / hbm.value()) + k.pass_bytes.value() / hbm.value(), 1e-12);
  // The old rule, a 63-row block as half of a 128-row tile, is what the split avoids:
  // this call runs at 0.63 of peak, not 0.73 x 63/128 = 0.36.
  EXPECT_GT(k.efficiency, 0.6);
  // Enough query rows for the SMs: no split.
  const BlockDims many = llama(8192, 8192);
  EXPECT_EQ(kernel_cost(a100(), ComputeCalibration{}, DType::fp16, BlockPass::fwd, many, fwd_flops(many)).splits, 1);
}

TEST(KernelModel, CausalCallsComputeTheTilesTheDiagonalTouches) {
  // A causal call of 256 x 256 on 128 x 64 tiles: row tile 0 reaches key 127 (2 key
  // tiles), row tile 1 key 255 (4): 6 tiles of 8,192 = 49,152 computed for 256·257/2 =
  // 32,896 pairs.
  EXPECT_DOUBLE_EQ(call_area(256, 256, 128, 64, true), 6.0 * 8192);
  // Uneven: 200 rows, tiles 128 x 64: 2 + ceil(200/64) = 2 + 4 = 6 tiles.
  EXPECT_DOUBLE_EQ(call_area(200, 200, 128, 64, true), 6.0 * 8192);
  // Dense: the whole grid, rounded up to tiles.
  EXPECT_DOUBLE_EQ(call_area(200, 100, 128, 64, false), 256.0 * 128);
  // The periodic sum agrees with counting tile by tile (FA3's 128 x 176 and 192 x 128).
  for (auto [M, N] : {std::pair{128, 176}, std::pair{192, 128}, std::pair{80, 128}}) {
    for (std::int64_t n : {1, 79, 1000, 8191, 65536}) {
      double tiles = 0;
      for (std::int64_t i = 0; i * M < n; ++i) tiles += static_cast<double>((std::min((i + 1) * M, n) - 1) / N + 1);
      EXPECT_DOUBLE_EQ(call_area(n, n, M, N, true), tiles * M * N) << M << "x" << N << " n=" << n;
    }
  }
  // Bottom-right alignment for rows < keys: 64 queries seeing keys up to i + 64 of 128.
  EXPECT_DOUBLE_EQ(call_area(64, 128, 64, 64, true), 2.0 * 4096);
}

TEST(KernelModel, RingLayoutsCallsByHand) {
  // Self-attention, 32 heads (8 key/value), d = 128, FlashAttention-2 on an A100, ring
  // of 8 with S = 65,536: n = 8192 tokens per rank. One call per ring step:
  const ComputeCalibration cal;
  // contiguous and striped: a causal call over n x n. 128 x 64 tiles: 64 row tiles,
  // row tile i reaching 2(i+1) key tiles: Σ 2i = 64·65 = 4,160 tiles of 8,192.
  BlockDims diag = llama(8192, 8192);
  diag.mask = Mask::causal;
  diag.pairs = 8192.0 * 8193 / 2;
  const KernelCost c = kernel_cost(a100(), cal, DType::bf16, BlockPass::fwd, diag, Flops(4.0 * 32 * 128 * diag.pairs));
  EXPECT_TRUE(c.causal_call);
  EXPECT_NEAR(c.fill, diag.pairs / (4160.0 * 8192), 1e-12);
  // Each row tile loops over 4,160·64 / 64 = 4,160 keys on average.
  EXPECT_NEAR(c.amortization, 4160.0 / (4160 + 128), 1e-12);
  EXPECT_NEAR(c.efficiency, 0.73 * c.fill * c.amortization, 1e-12);  // 2048 thread blocks: occupancy 1
  // zigzag: chunks of c = 4096; keys from an earlier rank: all 8192 rows against the
  // first 4096 keys, one unmasked call; from a later rank: the second 4096 rows against
  // all 8192 keys. Both do 8192·4096 pairs.
  BlockDims zz = llama(8192, 8192);
  zz.mask = Mask::causal;
  zz.pairs = 8192.0 * 4096;
  zz.call = BlockCall::kv_first_half;
  const KernelCost kv_half = kernel_cost(a100(), cal, DType::bf16, BlockPass::fwd, zz, Flops(4.0 * 32 * 128 * zz.pairs));
  EXPECT_EQ(kv_half.call_rows, 8192);
  EXPECT_EQ(kv_half.call_cols, 4096);
  EXPECT_FALSE(kv_half.causal_call);
  EXPECT_NEAR(kv_half.efficiency, 0.73 * 4096.0 / 4224, 1e-12);  // whole tiles, 2048 blocks
  zz.call = BlockCall::q_second_half;
  const KernelCost q_half = kernel_cost(a100(), cal, DType::bf16, BlockPass::fwd, zz, Flops(4.0 * 32 * 128 * zz.pairs));
  EXPECT_EQ(q_half.call_rows, 4096);
  EXPECT_EQ(q_half.call_cols, 8192);
  // 32 row tiles x 32 heads = 1,024 thread blocks (over 0.8 x 216: no split), each over
  // all 8192 keys: better amortized than the other half.
  EXPECT_NEAR(q_half.efficiency, 0.73 * 8192.0 / 8320, 1e-12);
  // The half calls run unmasked at 0.708-0.719 of peak, the causal call at 0.697: for the
  // same pairs, a zigzag step is cheaper than a striped one.
  EXPECT_LT(std::max(kv_half.time, q_half.time).value(), c.time.value() * (zz.pairs / diag.pairs));
}

TEST(KernelModel, BackwardPassesOfEachFamily) {
  // LV-XAttn's backward block: 63 query rows, 76,848 keys, GQA 4:1, fp16, A100.
  const BlockDims b = llama(63, 76848);
  const Flops f(2.5 * fwd_flops(b).value());
  const KernelCost fa2 = kernel_cost(a100(), ComputeCalibration{}, DType::fp16, BlockPass::bwd, b, f);
  // 64 x 128 tiles: 601 key tiles x 32 query heads = 19,232 thread blocks (occupancy 1);
  // each loops over one 64-row tile: amortization 64/(64 + 64).
  EXPECT_EQ(fa2.ctas, 601 * 32);
  EXPECT_NEAR(fa2.amortization, 0.5, 1e-12);
  EXPECT_NEAR(fa2.efficiency, 0.63 * (63.0 * 76848) / (64.0 * 76928) * 0.5, 1e-12);
  // Five launches: rowsum(dO∘O), the kernel, dQ's fp32 convert, and the two sums of
  // dK, dV over each group of 4 query heads (flash_api.cpp mha_bwd).
  EXPECT_EQ(fa2.launches, 5);
  const double q_side = 32.0 * 63 * 128 * 2, kv_side = 2.0 * 8 * 76848 * 128 * 2;
  const double expanded = 2.0 * 32 * 76848 * 128 * 2;
  EXPECT_NEAR(fa2.pass_bytes.value(),
              (2 * q_side + 32.0 * 63 * 4) + (32.0 * 63 * 128 * 4 + q_side) + (expanded + kv_side), 1e-3);
  // FlashAttention-3 on an H100: fp32 dK, dV accumulators converted by two kernels.
  const KernelCost fa3 = kernel_cost(h100(), ComputeCalibration{}, DType::fp16, BlockPass::bwd, b, f);
  EXPECT_EQ(fa3.launches, 5);
  EXPECT_NEAR(fa3.pass_bytes.value(),
              (2 * q_side + 32.0 * 63 * 4) + (32.0 * 63 * 128 * 4 + q_side) + (2.0 * 8 * 76848 * 128 * 4 + kv_side), 1e-3);
  // 80-row backward tiles (d = 128, unmasked): 63/80 of a tile, q_half 80.
  EXPECT_NEAR(fa3.amortization, 0.5, 1e-12);
  // cuDNN (assumed): one launch, no passes.
  ComputeCalibration cudnn;
  cudnn.kernel = KernelFamily::cudnn;
  const KernelCost c = kernel_cost(h100(), cudnn, DType::fp16, BlockPass::bwd, b, f);
  EXPECT_EQ(c.launches, 1);
  EXPECT_DOUBLE_EQ(c.pass_bytes.value(), 0.0);
}

TEST(KernelModel, AccumulatorsSeparateFusedOrEager) {
  ComputeCalibration cal;
  cal.elementwise_overhead = microseconds(5);
  // A separate pass over 1e9 elements of a 2-byte accumulator: read the partial and the
  // accumulator, write it: 6e9 bytes (eq. 5), one fixed cost.
  const Bytes bytes(6e9);
  const double hbm = a100().hbm.value() * 0.8;
  for (AccumulateKind k : {AccumulateKind::merge, AccumulateKind::add})
    EXPECT_NEAR(accumulate_time(a100(), cal, bytes, k, 2).value(), 5e-6 + 6e9 / hbm, 1e-15);
  // Fused into the kernel's epilogue: the extra read of the accumulator only, no launch.
  cal.accumulate = AccumulatePass::fused;
  EXPECT_NEAR(accumulate_time(a100(), cal, bytes, AccumulateKind::add, 2).value(), 2e9 / hbm, 1e-15);
  // Eager PyTorch on an fp32 accumulator (ring-flash-attention): a merge 34 bytes per
  // element in four kernels, an add 10 bytes in one.
  cal.accumulate = AccumulatePass::eager;
  EXPECT_NEAR(accumulate_time(a100(), cal, bytes, AccumulateKind::merge, 2).value(), 20e-6 + 34e9 / hbm, 1e-15);
  EXPECT_NEAR(accumulate_time(a100(), cal, bytes, AccumulateKind::add, 2).value(), 5e-6 + 10e9 / hbm, 1e-15);
}

TEST(KernelModel, ATableOverridesEverythingButLaunchAndBytes) {
  // A measured table (xattn calibrate gpu) prices a covered call at its own efficiency,
  // with one launch and eq. 4b's bytes: no packing, no split, no extra passes.
  ComputeCalibration cal;
  cal.table = {{BlockPass::fwd, 128, 32, 1024, 0.25}, {BlockPass::fwd, 128, 32, 65536, 0.25},
               {BlockPass::fwd, 128, 1024, 1024, 0.25}, {BlockPass::fwd, 128, 1024, 65536, 0.25}};
  cal.launch_overhead = microseconds(10);
  const BlockDims b = llama(63, 76848);
  const KernelCost k = kernel_cost(h100(), cal, DType::bf16, BlockPass::fwd, b, fwd_flops(b));
  EXPECT_TRUE(k.from_table);
  EXPECT_FALSE(k.packed);
  EXPECT_EQ(k.splits, 1);
  EXPECT_NEAR(k.time.value(), 10e-6 + fwd_flops(b).value() / (989e12 * 0.25), 1e-12);
}

TEST(KernelModel, AMeasuredCallShapeIsChargedAsMeasuredAndOnlyThatShape) {
  // compute.attention_table (written by `xattn import kineto`, docs/model.md eq. 3f): a
  // call of exactly the measured shape costs FLOPs / (efficiency · peak), nothing added —
  // the measurement stands for its launches and passes. A100 bf16 peak 312 TFLOP/s
  // (datasheet). Llama's 4096 x 4096 forward block at 0.5: 4·32·128·4096² FLOPs =
  // 2.749e11 over 156e12 FLOP/s = 1.762 ms.
  ComputeCalibration cal;
  cal.attention_table = {AttentionPoint{BlockPass::fwd, 128, 4096, 4096, false, 0.5, 4}};
  const BlockDims b = llama(4096, 4096);
  const KernelCost k = kernel_cost(a100(), cal, DType::bf16, BlockPass::fwd, b, fwd_flops(b));
  EXPECT_TRUE(k.from_table);
  EXPECT_NEAR(k.time.value(), 4.0 * 32 * 128 * 4096.0 * 4096.0 / (312e12 * 0.5), 1e-12);
  // The backward pass, another head dimension, a causal call or another shape is not the
  // measured one: the kernel model prices it as before.
  const ComputeCalibration plain;
  const BlockDims other = llama(4096, 8192);
  EXPECT_FALSE(kernel_cost(a100(), cal, DType::bf16, BlockPass::bwd, b, fwd_flops(b) * 2.5).from_table);
  EXPECT_FALSE(kernel_cost(a100(), cal, DType::bf16, BlockPass::fwd, other, fwd_flops(other)).from_table);
  EXPECT_DOUBLE_EQ(kernel_cost(a100(), cal, DType::bf16, BlockPass::fwd, other, fwd_flops(other)).time.value(),
                   kernel_cost(a100(), plain, DType::bf16, BlockPass::fwd, other, fwd_flops(other)).time.value());
  BlockDims causal = b;
  causal.mask = Mask::causal;
  causal.pairs = 4096.0 * 4097.0 / 2;
  EXPECT_FALSE(kernel_cost(a100(), cal, DType::bf16, BlockPass::fwd, causal, fwd_flops(b) * 0.5).from_table);
  cal.attention_table.push_back(AttentionPoint{BlockPass::fwd, 128, 4096, 4096, true, 0.4, 4});
  EXPECT_TRUE(kernel_cost(a100(), cal, DType::bf16, BlockPass::fwd, causal, fwd_flops(b) * 0.5).from_table);
  // It takes precedence over a grid table covering the same pass and head dimension.
  cal.table = {{BlockPass::fwd, 128, 32, 1024, 0.25}, {BlockPass::fwd, 128, 32, 65536, 0.25},
               {BlockPass::fwd, 128, 8192, 1024, 0.25}, {BlockPass::fwd, 128, 8192, 65536, 0.25}};
  EXPECT_DOUBLE_EQ(kernel_cost(a100(), cal, DType::bf16, BlockPass::fwd, b, fwd_flops(b)).efficiency, 0.5);
  EXPECT_DOUBLE_EQ(kernel_cost(a100(), cal, DType::bf16, BlockPass::fwd, other, fwd_flops(other)).efficiency, 0.25);
}

TEST(KernelModel, FlatEfficiencyIsPureFlops) {
  const ComputeCalibration flat = flat_efficiency(0.5);
  for (BlockPass p : {BlockPass::fwd, BlockPass::bwd}) {
    const BlockDims b = llama(63, 76848);
    const KernelCost k = kernel_cost(a100(), flat, DType::fp16, p, b, fwd_flops(b));
    EXPECT_DOUBLE_EQ(k.efficiency, 0.5);
    EXPECT_EQ(k.launches, 1);
  }
}

}  // namespace
}  // namespace xattn
