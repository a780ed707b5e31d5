// `xattn calibrate gpu`'s host side (model/gpu_calibration.hpp) on synthetic timings made
// from known figures: the efficiency table, launch overhead, memory efficiency and link
// alpha-beta come back, the simulator's block time reproduces every measured grid time,
// and the written file passes validate_table and reads back to the same calibration.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "model/analytic.hpp"
#include "model/calib/gpu_calibration.hpp"
#include "model/presets.hpp"
#include "model/scenario.hpp"
#include "tests/test_support.hpp"
#include "model/scenario/calibration_file.hpp"

namespace xattn {
namespace {

constexpr double kLaunch = 5e-6;  // s

// The builders' FLOPs, restated from docs/model.md eq. 1: 4·B·H·d·q·kv forward, 2.5x that
// backward.
double flops(BlockPass p, std::int64_t q, std::int64_t kv) {
  const double f = 4.0 * 1 * 32 * 128 * static_cast<double>(q) * static_cast<double>(kv);
  return p == BlockPass::fwd ? f : 2.5 * f;
}

// A made-up efficiency surface, growing with the block.
double true_efficiency(BlockPass p, std::int64_t q, std::int64_t kv) {
  const double base = p == BlockPass::fwd ? 0.7 : 0.5;
  return base * (static_cast<double>(q) / (q + 256.0)) * (static_cast<double>(kv) / (kv + 512.0));
}

GpuTimings synthetic() {
  GpuTimings t;
  t.device = "NVIDIA H100 80GB HBM3";
  t.gpu = *find_gpu("h100-sxm");
  t.dtype = DType::bf16;
  const double peak = t.gpu.peak(t.dtype).value();
  for (BlockPass p : {BlockPass::fwd, BlockPass::bwd})
    for (std::int64_t q : {512, 1024, 2048})
      for (std::int64_t kv : {1024, 4096, 16384})
        t.blocks.push_back(BlockTiming{p, 1, 32, 8, 128, q, kv,
                                       Seconds(flops(p, q, kv) / (peak * true_efficiency(p, q, kv)) + kLaunch)});
  t.launch_probe = BlockTiming{BlockPass::fwd, 1, 1, 1, 128, 64, 64, Seconds(kLaunch)};
  // Elementwise at 70% of HBM, no fixed cost.
  for (double bytes : {1e6, 4e6, 16e6, 64e6})
    t.elementwise.push_back(ElementwiseTiming{"merge", Bytes(bytes), Seconds(bytes / (t.gpu.hbm.value() * 0.7))});
  // A link of 12 us + n / 8 GB/s.
  for (double bytes : {4096.0, 65536.0, 1048576.0, 16777216.0})
    t.link.push_back(MessageTiming{Bytes(bytes), Seconds(12e-6 + bytes / 8e9)});
  t.link_description = "loopback paced to 8 GB/s, 12 us";
  return t;
}

TEST(GpuCalibration, RecoversTheFiguresTheTimingsWereMadeFrom) {
  const GpuTimings t = synthetic();
  const GpuCalibration c = calibration_from_timings(t);
  EXPECT_NEAR(c.calibration.compute.launch_overhead->value(), kLaunch, 1e-15);
  ASSERT_EQ(c.calibration.compute.table.size(), 18u);
  for (const auto& p : c.calibration.compute.table)
    EXPECT_NEAR(p.efficiency, true_efficiency(p.pass, p.q_rows, p.kv_rows), 1e-9) << p.q_rows << "x" << p.kv_rows;
  EXPECT_EQ(validate_table(c.calibration.compute.table), "");
  // The simulator's block time (docs/model.md eq. 3-4b) gives back every measured time.
  for (const auto& row : c.blocks) {
    EXPECT_FALSE(row.memory_bound);
    EXPECT_NEAR(row.flops.value(), flops(row.timing.pass, row.timing.q_rows, row.timing.kv_rows), 1.0);
    const BlockDims dims{1, 32, 8, 128, row.timing.q_rows, row.timing.kv_rows};
    const Seconds sim = block_time(t.gpu, c.calibration.compute, t.dtype, row.timing.pass, dims, row.flops);
    EXPECT_NEAR(sim.value() / row.timing.time.value(), 1.0, 1e-9);
  }
  EXPECT_NEAR(*c.calibration.compute.memory_efficiency, 0.7, 1e-9);
  EXPECT_NEAR(c.elementwise_intercept.value(), 0.0, 1e-12);
  ASSERT_TRUE(c.calibration.intra_node.latency && c.calibration.intra_node.bandwidth);
  EXPECT_NEAR(c.calibration.intra_node.latency->value(), 12e-6, 1e-12);
  EXPECT_NEAR(c.calibration.intra_node.bandwidth->value(), 8e9, 1e-3);
}

TEST(GpuCalibration, TheFileReadsBackToTheSameCalibration) {
  const GpuTimings t = synthetic();
  const GpuCalibration c = calibration_from_timings(t);
  const std::string yaml = gpu_calibration_yaml(t, c);
  EXPECT_NE(yaml.find("NVIDIA H100 80GB HBM3"), std::string::npos);
  test::TempDir dir;
  const Calibration back = load_calibration(dir.write("h100.yaml", yaml));
  ASSERT_EQ(back.compute.table.size(), c.calibration.compute.table.size());
  for (std::size_t i = 0; i < back.compute.table.size(); ++i) {
    EXPECT_EQ(back.compute.table[i].q_rows, c.calibration.compute.table[i].q_rows);
    EXPECT_EQ(back.compute.table[i].kv_rows, c.calibration.compute.table[i].kv_rows);
    EXPECT_NEAR(back.compute.table[i].efficiency, c.calibration.compute.table[i].efficiency, 1e-6);
  }
  EXPECT_NEAR(back.compute.launch_overhead->value(), kLaunch, 1e-12);
  EXPECT_NEAR(*back.compute.memory_efficiency, 0.7, 1e-6);
  EXPECT_NEAR(back.intra_node.bandwidth->value(), 8e9, 1e3);
  EXPECT_NEAR(back.intra_node.latency->value(), 12e-6, 1e-11);
  // The summary table: header, units row, one row per grid block.
  const std::string table = gpu_calibration_table(t, c);
  EXPECT_NE(table.find("(GFLOP)"), std::string::npos);
  EXPECT_NE(table.find("launch overhead 5.00 us"), std::string::npos) << table;
}

TEST(GpuCalibration, FixedCostsAndBadTimings) {
  // Elementwise kernels with a 3 us fixed cost: the two-parameter fit finds it.
  GpuTimings t = synthetic();
  for (auto& e : t.elementwise) e.time = e.time + Seconds(3e-6);
  const GpuCalibration c = calibration_from_timings(t);
  EXPECT_NEAR(c.elementwise_intercept.value(), 3e-6, 1e-9);
  // ... and the model now charges it: the fixed cost and the true efficiency come back.
  EXPECT_NEAR(c.calibration.compute.elementwise_overhead->value(), 3e-6, 1e-9);
  EXPECT_NEAR(*c.calibration.compute.memory_efficiency, 0.7, 1e-6);
  // A probe slower than the grid's fastest block is capped below it.
  t.launch_probe->time = Seconds(1.0);
  EXPECT_LT(calibration_from_timings(t).calibration.compute.launch_overhead->value(), 1.0);
  // An incomplete grid, a non-positive time, nothing timed.
  GpuTimings hole = synthetic();
  hole.blocks.pop_back();
  EXPECT_THROW((void)calibration_from_timings(hole), std::invalid_argument);
  GpuTimings zero = synthetic();
  zero.blocks.front().time = Seconds(0);
  EXPECT_THROW((void)calibration_from_timings(zero), std::invalid_argument);
  EXPECT_THROW((void)calibration_from_timings(GpuTimings{}), std::invalid_argument);
  EXPECT_THROW((void)fit_latency_bandwidth({{Bytes(1), Seconds(1)}}), std::invalid_argument);
}

TEST(GpuCalibration, DeviceNamesMapToPresets) {
  EXPECT_EQ(gpu_preset_for_device("NVIDIA H100 80GB HBM3")->name, "h100-sxm");
  EXPECT_EQ(gpu_preset_for_device("NVIDIA H200")->name, "h200");
  EXPECT_EQ(gpu_preset_for_device("NVIDIA A100-SXM4-80GB")->name, "a100-80gb");
  EXPECT_EQ(gpu_preset_for_device("NVIDIA A100-PCIE-40GB")->name, "a100-40gb");
  EXPECT_EQ(gpu_preset_for_device("NVIDIA H100 PCIe"), nullptr);  // another peak than the SXM part
  EXPECT_EQ(gpu_preset_for_device("Tesla T4"), nullptr);
}

}  // namespace
}  // namespace xattn
