// Compute efficiency: the parametric model (docs/model.md, eq. 3) and measured tables.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "model/calibration.hpp"
#include "model/core/error.hpp"
#include "model/scenario.hpp"
#include "model/scenario/calibration_file.hpp"

namespace xattn {
namespace {

TEST(ComputeEfficiency, ParametricModelByHand) {
  // Defaults: FlashAttention-2 on an Ampere GPU (docs/model.md §3): forward e_max(d=128)
  // 0.73 on tiles of 128 rows x 64 keys, kv_half 128; backward e_max 0.63 on tiles of 64
  // rows x 128 keys, q_half one tile (64 rows). No GPU: no occupancy, no split-KV.
  ComputeCalibration c;
  // 63 query rows fill 63/128 of one tile; 4096 keys (64 whole key tiles) reach
  // 4096/(4096+128) of e_max: 0.73 * 63/128 * 4096/4224 = 0.348408...
  EXPECT_NEAR(c.efficiency(BlockPass::fwd, 128, 63, 4096), 0.73 * 63.0 / 128.0 * 4096.0 / 4224.0, 1e-12);
  // Backward: 63 rows use 63/64 of a tile, and a thread block's loop over its query rows
  // is one tile of 64 rows, as long as its prologue and epilogue: 0.63 * 63/64 * 64/128.
  EXPECT_NEAR(c.efficiency(BlockPass::bwd, 128, 63, 4096), 0.63 * 63.0 / 64.0 * 0.5, 1e-12);
  // Head dim 64 takes the d=64 figures on 128 x 128 tiles: 0.60 * (256/256) * 1024/1152.
  EXPECT_NEAR(c.efficiency(BlockPass::fwd, 64, 256, 1024), 0.60 * 1024.0 / 1152.0, 1e-12);
}

TEST(ComputeEfficiency, ShortQueryBlocksDoNotFillTheGpu) {
  ComputeCalibration c;
  // A 63-row block must be less efficient than a 128-row one against the same KV.
  EXPECT_LT(c.efficiency(BlockPass::fwd, 128, 63, 76848), c.efficiency(BlockPass::fwd, 128, 128, 76848));
}

TEST(ComputeEfficiency, TableInterpolatesInLogSpaceAndClamps) {
  ComputeCalibration c;
  c.table = {{BlockPass::fwd, 128, 64, 1024, 0.2}, {BlockPass::fwd, 128, 64, 4096, 0.4},
             {BlockPass::fwd, 128, 256, 1024, 0.3}, {BlockPass::fwd, 128, 256, 4096, 0.6}};
  ASSERT_EQ(validate_table(c.table), "");
  // Grid points are returned exactly.
  EXPECT_DOUBLE_EQ(c.efficiency(BlockPass::fwd, 128, 64, 1024), 0.2);
  // q = 128 is halfway between 64 and 256 in log2; kv = 2048 halfway between 1024 and 4096:
  // the mean of the four corners, (0.2 + 0.4 + 0.3 + 0.6) / 4 = 0.375.
  EXPECT_NEAR(c.efficiency(BlockPass::fwd, 128, 128, 2048), 0.375, 1e-12);
  // Beyond the grid the edge value holds.
  EXPECT_DOUBLE_EQ(c.efficiency(BlockPass::fwd, 128, 1024, 65536), 0.6);
  // Passes and head dims the table does not cover fall back to the parametric model.
  // (FlashAttention-2's backward: 0.63 on one 64-row tile, half of it amortization.)
  EXPECT_NEAR(c.efficiency(BlockPass::bwd, 128, 64, 4096), 0.63 * 0.5, 1e-12);
}

TEST(ComputeEfficiency, IncompleteGridIsRejected) {
  std::vector<EfficiencyPoint> t = {{BlockPass::fwd, 128, 64, 1024, 0.2},
                                    {BlockPass::fwd, 128, 64, 4096, 0.4},
                                    {BlockPass::fwd, 128, 256, 1024, 0.3}};
  EXPECT_NE(validate_table(t).find("full q_rows x kv_rows grid"), std::string::npos);
  t.push_back({BlockPass::fwd, 128, 256, 4096, 1.5});
  EXPECT_NE(validate_table(t).find("outside (0, 1]"), std::string::npos);
}

class CalibrationFiles : public ::testing::Test {
 protected:
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("xattn_calib_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                               "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
  void SetUp() override { std::filesystem::create_directories(dir); }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string write(const std::string& name, const std::string& text) {
    auto p = dir / name;
    std::ofstream(p) << text;
    return p.string();
  }
};

TEST_F(CalibrationFiles, LaterFilesWinPerKey) {
  std::string a = write("a.yaml", "compute:\n  fwd_max_d128: 0.5\n  kv_half: 64\nlinks:\n  inter_node: {latency_us: 12, bandwidth_GBps: 20}\n");
  std::string b = write("b.yaml", "compute:\n  fwd_max_d128: 0.6\nlinks:\n  inter_node: {bandwidth_GBps: 22}\n");
  Calibration c;
  apply_calibration_file(c, a);
  apply_calibration_file(c, b);
  EXPECT_DOUBLE_EQ(*c.compute.fwd_max_d128, 0.6);  // b wins
  EXPECT_DOUBLE_EQ(*c.compute.kv_half, 64.0);      // only a set it
  EXPECT_DOUBLE_EQ(c.inter_node.latency->value(), 12e-6);
  EXPECT_DOUBLE_EQ(c.inter_node.bandwidth->value(), 22e9);
  EXPECT_EQ(c.sources.size(), 2u);
}

TEST_F(CalibrationFiles, WrittenCalibrationReadsBackEqual) {
  Calibration c;
  c.compute.fwd_max_d64 = 0.55;
  c.compute.table = {{BlockPass::bwd, 64, 32, 512, 0.25}};
  c.compute.comm_interference = 0.15;
  c.intra_node.latency = microseconds(7);
  std::string p = write("out.yaml", calibration_to_yaml(c));
  Calibration back = load_calibration(p);
  EXPECT_DOUBLE_EQ(*back.compute.fwd_max_d64, 0.55);
  EXPECT_DOUBLE_EQ(back.compute.comm_interference, 0.15);
  ASSERT_EQ(back.compute.table.size(), 1u);
  EXPECT_DOUBLE_EQ(back.compute.table[0].efficiency, 0.25);
  EXPECT_EQ(back.compute.table[0].pass, BlockPass::bwd);
  EXPECT_NEAR(back.intra_node.latency->value(), 7e-6, 1e-15);
  EXPECT_FALSE(back.inter_node.bandwidth.has_value());
}

TEST_F(CalibrationFiles, GemmTableReadsBackAndALaterFileReplacesItsShapes) {
  // compute.gemm_table as `xattn import kineto` writes it: each measured shape with its
  // efficiency and the kernels behind it.
  Calibration c;
  c.compute.gemm_table = {GemmPoint{4096, 2048, 6144, 0.62, 8}, GemmPoint{4096, 6144, 2048, 0.58, 8}};
  Calibration back = load_calibration(write("fit.yaml", calibration_to_yaml(c)));
  ASSERT_EQ(back.compute.gemm_table.size(), 2u);
  const GemmPoint* p = back.compute.gemm_point(4096, 2048, 6144);
  ASSERT_NE(p, nullptr);
  EXPECT_DOUBLE_EQ(p->efficiency, 0.62);
  EXPECT_EQ(p->kernels, 8);
  EXPECT_EQ(back.compute.gemm_point(2048, 4096, 6144), nullptr);
  // A later file replaces the shape it names and keeps the other.
  apply_calibration_file(back, write("later.yaml", "compute:\n  gemm_table:\n    - {m: 4096, k: 2048, n: 6144, efficiency: 0.5}\n"));
  ASSERT_EQ(back.compute.gemm_table.size(), 2u);
  EXPECT_DOUBLE_EQ(back.compute.gemm_point(4096, 2048, 6144)->efficiency, 0.5);
  EXPECT_DOUBLE_EQ(back.compute.gemm_point(4096, 6144, 2048)->efficiency, 0.58);
}

TEST_F(CalibrationFiles, AttentionTableReadsBackAndALaterFileReplacesItsShapes) {
  // compute.attention_table as `xattn import kineto` writes it: each measured call shape
  // (pass, head dim, query x key rows, causal) with its efficiency and kernels.
  Calibration c;
  c.compute.attention_table = {AttentionPoint{BlockPass::fwd, 128, 4096, 4096, true, 0.5, 8},
                               AttentionPoint{BlockPass::bwd, 128, 4096, 4096, true, 0.4, 24}};
  Calibration back = load_calibration(write("fit.yaml", calibration_to_yaml(c)));
  ASSERT_EQ(back.compute.attention_table.size(), 2u);
  const AttentionPoint* p = back.compute.attention_point(BlockPass::bwd, 128, 4096, 4096, true);
  ASSERT_NE(p, nullptr);
  EXPECT_DOUBLE_EQ(p->efficiency, 0.4);
  EXPECT_EQ(p->kernels, 24);
  EXPECT_EQ(back.compute.attention_point(BlockPass::bwd, 128, 4096, 4096, false), nullptr);
  // A later file replaces the shape it names (causal left out: false, a new shape) and keeps the others.
  apply_calibration_file(back, write("later.yaml", "compute:\n  attention_table:\n"
                                                   "    - {pass: fwd, head_dim: 128, q_rows: 4096, kv_rows: 4096, causal: true, efficiency: 0.45}\n"
                                                   "    - {pass: fwd, head_dim: 64, q_rows: 512, kv_rows: 2048, efficiency: 0.3}\n"));
  ASSERT_EQ(back.compute.attention_table.size(), 3u);
  EXPECT_DOUBLE_EQ(back.compute.attention_point(BlockPass::fwd, 128, 4096, 4096, true)->efficiency, 0.45);
  EXPECT_DOUBLE_EQ(back.compute.attention_point(BlockPass::bwd, 128, 4096, 4096, true)->efficiency, 0.4);
  ASSERT_NE(back.compute.attention_point(BlockPass::fwd, 64, 512, 2048, false), nullptr);
}

TEST_F(CalibrationFiles, BadAttentionTablePointsNameTheirLine) {
  const std::string p = write("bad-attn.yaml",
                              "compute:\n  attention_table:\n"
                              "    - {pass: fwd, head_dim: 128, q_rows: 4096, kv_rows: 4096, efficiency: 1.5}\n"
                              "    - {pass: sideways, head_dim: 128, q_rows: 4096, kv_rows: 4096, efficiency: 0.5}\n"
                              "    - {pass: bwd, head_dim: 128, q_rows: 0, kv_rows: 4096, efficiency: 0.5}\n"
                              "    - {pass: bwd, head_dim: 128, q_rows: 8, kv_rows: 4096, efficiency: 0.5, tile: 4}\n");
  try {
    (void)load_calibration(p);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    ASSERT_EQ(e.problems().size(), 4u);
    EXPECT_EQ(e.problems()[0].origin.line, 3);
    EXPECT_EQ(e.problems()[0].field, "compute.attention_table[].efficiency");
    EXPECT_EQ(e.problems()[1].origin.line, 4);
    EXPECT_EQ(e.problems()[1].field, "compute.attention_table[].pass");
    EXPECT_EQ(e.problems()[2].origin.line, 5);
    EXPECT_EQ(e.problems()[3].origin.line, 6);
  }
}

TEST_F(CalibrationFiles, BadGemmTablePointsNameTheirLine) {
  const std::string p = write("bad-gemm.yaml",
                              "compute:\n  gemm_table:\n    - {m: 4096, k: 2048, n: 6144, efficiency: 1.5}\n"
                              "    - {m: 0, k: 2048, n: 6144, efficiency: 0.5}\n    - {m: 1, k: 2, efficiency: 0.5}\n");
  try {
    (void)load_calibration(p);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    ASSERT_EQ(e.problems().size(), 3u);
    EXPECT_EQ(e.problems()[0].origin.line, 3);
    EXPECT_EQ(e.problems()[0].field, "compute.gemm_table[].efficiency");
    EXPECT_EQ(e.problems()[1].origin.line, 4);
    EXPECT_EQ(e.problems()[2].origin.line, 5);
  }
}

TEST_F(CalibrationFiles, ASectionThatIsNoMappingIsBadInput) {
  // compute: given a figure, not its keys (found by calibration_fuzz: reading a key of it
  // threw yaml-cpp's own BadSubscript, which is no InputError).
  std::string p = write("scalar.yaml", "compute: 0.8\n");
  try {
    (void)load_calibration(p);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    ASSERT_EQ(e.problems().size(), 1u);
    EXPECT_EQ(e.problems()[0].origin.line, 1);
    EXPECT_EQ(e.problems()[0].field, "compute");
    EXPECT_NE(std::string(e.what()).find("expected a mapping with keys: kernel"), std::string::npos) << e.what();
  }
  // links: likewise (its reader subscripted the scalar for launch_overhead_us).
  p = write("links.yaml", "links: [1, 2]\n");
  try {
    (void)load_calibration(p);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    ASSERT_EQ(e.problems().size(), 1u);
    EXPECT_EQ(e.problems()[0].field, "links");
    EXPECT_NE(std::string(e.what()).find("expected a mapping with keys: intra_node"), std::string::npos) << e.what();
  }
}

TEST_F(CalibrationFiles, BadValuesNameFileLineAndField) {
  std::string p = write("bad.yaml", "compute:\n  fwd_max_d128: 1.7\n  bogus: 3\nlinks:\n  inter_node: {bandwidth_GBps: -1}\n");
  try {
    (void)load_calibration(p);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    ASSERT_EQ(e.problems().size(), 3u);  // all problems at once
    std::string all = e.what();
    EXPECT_NE(all.find(p + ":2:"), std::string::npos) << all;  // fwd_max_d128 on line 2
    EXPECT_NE(all.find("compute.fwd_max_d128"), std::string::npos);
    EXPECT_NE(all.find("compute.bogus"), std::string::npos);
    EXPECT_NE(all.find("links.inter_node.bandwidth_GBps"), std::string::npos);
  }
}

}  // namespace
}  // namespace xattn
