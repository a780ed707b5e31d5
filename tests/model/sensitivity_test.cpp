// Uncalibrated inputs and the ±20% sensitivity report (model/sensitivity.hpp,
// docs/model.md §15) by hand arithmetic.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "model/analytic.hpp"
#include "model/presets.hpp"
#include "model/scenario.hpp"
#include "model/sensitivity.hpp"

namespace xattn {
namespace {

constexpr Mechanism kLv{MechanismKind::lv_xattn, 0};
constexpr Mechanism kRing{MechanismKind::ring, 0};

// LV-XAttn and Ring on one node of 4 GPUs at a flat 50% of 100 TFLOP/s (analytic_test's
// arithmetic): blocks of 256 x 4096 for 8 heads take 85.89934592 µs; Ring's 4,194,304-byte
// key/value block crosses a 50 GB/s link in 10 + 83.88608 µs, just slower than a block.
Scenario close_race() {
  Scenario s;
  s.model.name = "test";
  s.model.heads = 8;
  s.model.kv_heads = 2;
  s.model.head_dim = 128;
  s.model.text_hidden = s.model.visual_hidden = 1024;
  s.model.cross_attention_layers = 1;
  s.shape = AttentionShape{1, 8, 2, 128, 1024, 16384, DType::fp16, Mask::dense};
  s.cluster.gpu = GpuSpec{"test-gpu", FlopsPerSecond(100e12), FlopsPerSecond(10e12), BytesPerSecond(1e24),
                          gigabytes(80), 100};
  s.cluster.nodes = 1;
  s.cluster.gpus_per_node = 4;
  s.cluster.nics_per_node = 4;
  s.cluster.intra = LinkSpec{gigabytes_per_second(50), microseconds(10)};
  s.cluster.inter = s.cluster.intra;
  s.calibration.compute = flat_efficiency(0.5);
  s.mechanisms = {kLv, kRing};
  return s;
}

bool has(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

TEST(Uncalibrated, DefaultsAreListedByTheirKeys) {
  // The README's cluster with no calibration: FlashAttention-2 chosen by the GPU, its
  // figures, and the preset's nominal links inside and between nodes.
  Scenario s = close_race();
  s.calibration = Calibration{};
  s.cluster = find_cluster("lvxattn-16xa100")->cluster;
  const auto u = uncalibrated_inputs(s, {Pass::fwd, Pass::bwd, Pass::fwd_bwd});
  for (const char* key : {"compute.kernel", "compute.fwd_max_d128", "compute.bwd_max_d128", "compute.kv_half",
                          "compute.q_half", "compute.launch_overhead_us", "compute.memory_efficiency",
                          "compute.fwd_tile_rows", "compute.bwd_tile_cols", "compute.split_kv", "compute.gqa_packing",
                          "compute.accumulate", "cluster.intra_node.bandwidth_GBps", "cluster.intra_node.latency_us",
                          "cluster.inter_node.bandwidth_GBps", "cluster.inter_node.latency_us"})
    EXPECT_TRUE(has(u, key)) << key;
  // A datasheet figure is not a default the model chose.
  EXPECT_FALSE(has(u, "cluster.gpu_hbm_GBps"));
  // The forward alone does not use the backward's figures.
  const auto f = uncalibrated_inputs(s, {Pass::fwd});
  EXPECT_FALSE(has(f, "compute.bwd_max_d128"));
  EXPECT_FALSE(has(f, "compute.q_half"));
  // What a calibration sets is no longer listed.
  s.calibration.compute.fwd_max_d128 = 0.7;
  s.calibration.inter_node.bandwidth = gigabytes_per_second(23);
  const auto c = uncalibrated_inputs(s, {Pass::fwd});
  EXPECT_FALSE(has(c, "compute.fwd_max_d128"));
  EXPECT_FALSE(has(c, "cluster.inter_node.bandwidth_GBps"));
  EXPECT_TRUE(has(c, "cluster.inter_node.latency_us"));
  // A measured table for the forward at d = 128 replaces the parametric model there.
  s.calibration.compute.table = {{BlockPass::fwd, 128, 64, 1024, 0.3}};
  const auto t = uncalibrated_inputs(s, {Pass::fwd});
  for (const char* key : {"compute.kernel", "compute.kv_half", "compute.fwd_tile_rows", "compute.split_kv"})
    EXPECT_FALSE(has(t, key)) << key;
  // One node, one GPU: no link in play.
  s.cluster.nodes = 1;
  s.cluster.gpus_per_node = 1;
  s.cluster.nics_per_node = 1;
  EXPECT_FALSE(has(uncalibrated_inputs(s, {Pass::fwd}), "cluster.intra_node.latency_us"));
}

TEST(Sensitivity, TimesAtBothEndsByHand) {
  const Scenario s = close_race();
  const auto rows = sensitivity(s, {Pass::fwd});
  auto row = [&](const std::string& input, const Mechanism& m) {
    for (const auto& r : rows)
      if (r.input == input && r.mechanism == m.name()) return r;
    ADD_FAILURE() << "no row " << input << " " << m.name();
    return SensitivityRow{};
  };
  const double blk = 4.0 * 8 * 256 * 4096 * 128 / 50e12;
  // LV-XAttn's forward is compute-bound (eq. 8a): its four blocks scale with 1/e, the
  // exposed accumulator hop (10 µs + 532,480 B at 50 GB/s) does not.
  const double tail = 10e-6 + 532480 / 50e9;
  const SensitivityRow e = row("compute.fwd_max_d128", kLv);
  EXPECT_DOUBLE_EQ(e.change, 0.2);
  EXPECT_NEAR(e.time_low.value(), 4 * blk / 0.8 + tail, 1e-12);
  EXPECT_NEAR(e.time_high.value(), 4 * blk / 1.2 + tail, 1e-12);
  // Ring's forward waits for the key/value block in three rounds (eq. 8c): 10 µs +
  // 4,194,304 B at 40 or 60 GB/s. At 60 GB/s the block (85.9 µs) is longer than the hop
  // (79.9 µs): Ring becomes compute-bound, four blocks, and overtakes LV-XAttn, whose tail
  // hop stays exposed: the ranking changes.
  const SensitivityRow bw = row("cluster.intra_node.bandwidth_GBps", kRing);
  EXPECT_NEAR(bw.time_low.value(), 3 * (10e-6 + 4194304 / 40e9) + blk, 1e-12);
  EXPECT_NEAR(bw.time_high.value(), 4 * blk, 1e-12);
  EXPECT_TRUE(bw.ranking_changes);
  EXPECT_TRUE(row("cluster.intra_node.bandwidth_GBps", kLv).ranking_changes);
  // The launch overhead is 0 here: ±20% of nothing changes nothing, and no ranking.
  const SensitivityRow l = row("compute.launch_overhead_us", kRing);
  EXPECT_DOUBLE_EQ(l.time_low.value(), estimate(s, kRing, Pass::fwd).time.value());
  EXPECT_FALSE(l.ranking_changes);
  // One row per input in play, mechanism and pass.
  EXPECT_EQ(rows.size(), model_inputs(s, {Pass::fwd}).size() * 2);
}

TEST(Sensitivity, EfficienciesStayFractions) {
  // An efficiency of 0.9 at +20% would be 1.08 of peak: it stops at 1.
  Scenario s = close_race();
  s.calibration.compute.fwd_max_d128 = 0.9;
  for (const ModelInput& in : model_inputs(s, {Pass::fwd}))
    if (in.name == "compute.fwd_max_d128") {
      Scenario hi = s;
      in.scale(hi, 1.2);
      EXPECT_DOUBLE_EQ(*hi.calibration.compute.fwd_max_d128, 1.0);
    }
}

}  // namespace
}  // namespace xattn
