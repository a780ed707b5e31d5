// The links part of calibration files: protocol regimes and launch overheads read,
// merged per key in file order, written back, and rejected with file:line:field.
#include <gtest/gtest.h>

#include "tests/calib/calib_test_util.hpp"
#include "model/core/error.hpp"
#include "model/calib/link_fit.hpp"
#include "model/scenario.hpp"
#include "model/scenario/calibration_file.hpp"

namespace xattn {
namespace {

const ProtocolRegime* find(const LinkCalibration& l, Protocol p) {
  for (const auto& r : l.protocols)
    if (r.protocol == p) return &r;
  return nullptr;
}

TEST(CalibrationLinks, LaterFilesReplaceTheRegimesTheyNameAndKeepTheOthers) {
  calib_test::TempDir dir;
  std::string a = dir.write("a.yaml", R"(links:
  launch_overhead_us: {mpi: 30}
  intra_node:
    bandwidth_GBps: 200
    protocols:
      simple: {latency_us: 1.5, bandwidth_GBps: 200, base_latency_us: 50}
      ll: {latency_us: 1, bandwidth_GBps: 10}
)");
  std::string b = dir.write("b.yaml", R"(links:
  launch_overhead_us: {single_process: 5}
  intra_node:
    protocols:
      ll: {latency_us: 2, bandwidth_GBps: 12, base_latency_us: 3}
)");
  Calibration c;
  apply_calibration_file(c, a);
  apply_calibration_file(c, b);
  ASSERT_EQ(c.intra_node.protocols.size(), 2u);
  EXPECT_EQ(c.intra_node.protocols.front().protocol, Protocol::ll);  // kept in protocol order
  const ProtocolRegime* ll = find(c.intra_node, Protocol::ll);
  const ProtocolRegime* simple = find(c.intra_node, Protocol::simple);
  ASSERT_TRUE(ll && simple);
  EXPECT_DOUBLE_EQ(to_microseconds(ll->latency), 2);
  EXPECT_DOUBLE_EQ(to_gigabytes_per_second(ll->bandwidth), 12);
  EXPECT_DOUBLE_EQ(to_microseconds(ll->base_latency), 3);
  EXPECT_DOUBLE_EQ(to_microseconds(simple->base_latency), 50);
  EXPECT_DOUBLE_EQ(to_gigabytes_per_second(*c.intra_node.bandwidth), 200);
  EXPECT_DOUBLE_EQ(to_microseconds(*c.launch.mpi), 30);
  EXPECT_DOUBLE_EQ(to_microseconds(*c.launch.single_process), 5);

  // Written back (whole calibration, or links only) and read again: the same figures.
  for (const std::string& text : {calibration_to_yaml(c), links_calibration_to_yaml(c)}) {
    Calibration back = load_calibration(dir.write("back.yaml", text));
    ASSERT_EQ(back.intra_node.protocols.size(), 2u);
    // (Equal up to the rounding of converting to microseconds and back.)
    EXPECT_NEAR(to_microseconds(find(back.intra_node, Protocol::ll)->base_latency), 3, 1e-9);
    EXPECT_NEAR(to_gigabytes_per_second(find(back.intra_node, Protocol::simple)->bandwidth), 200, 1e-9);
    EXPECT_NEAR(to_microseconds(*back.launch.mpi), 30, 1e-9);
    EXPECT_NEAR(to_microseconds(*back.launch.single_process), 5, 1e-9);
  }
  // The links-only form says nothing about compute.
  EXPECT_EQ(links_calibration_to_yaml(c).find("compute"), std::string::npos);
}

TEST(CalibrationLinks, TreeLocalHostPerGpuAndLoneMessageFiguresRoundTrip) {
  // The collective model's own figures: a tree level's latency and the local traffic per
  // regime, the host's cost per GPU it drives, and lone-message (p2p) regimes.
  calib_test::TempDir dir;
  std::string a = dir.write("a.yaml", R"(links:
  launch_overhead_us: {single_process: 1, per_gpu: 3.7}
  inter_node:
    protocols:
      ll: {latency_us: 3, bandwidth_GBps: 0.5, base_latency_us: 8, tree_latency_us: 10, local_bandwidth_GBps: 400}
    p2p:
      simple: {latency_us: 9, bandwidth_GBps: 18}
)");
  Calibration c = load_calibration(a);
  ASSERT_TRUE(c.launch.per_gpu);
  EXPECT_DOUBLE_EQ(to_microseconds(*c.launch.per_gpu), 3.7);
  const ProtocolRegime* ll = find(c.inter_node, Protocol::ll);
  ASSERT_TRUE(ll && ll->tree_latency && ll->local_bandwidth);
  EXPECT_DOUBLE_EQ(to_microseconds(*ll->tree_latency), 10);
  EXPECT_DOUBLE_EQ(to_gigabytes_per_second(*ll->local_bandwidth), 400);
  ASSERT_EQ(c.inter_node.p2p.size(), 1u);
  EXPECT_DOUBLE_EQ(to_microseconds(c.inter_node.p2p[0].latency), 9);
  Calibration back = load_calibration(dir.write("back.yaml", links_calibration_to_yaml(c)));
  EXPECT_NEAR(to_microseconds(*back.launch.per_gpu), 3.7, 1e-9);
  EXPECT_NEAR(to_microseconds(*find(back.inter_node, Protocol::ll)->tree_latency), 10, 1e-9);
  EXPECT_NEAR(to_gigabytes_per_second(*find(back.inter_node, Protocol::ll)->local_bandwidth), 400, 1e-9);
  ASSERT_EQ(back.inter_node.p2p.size(), 1u);
  EXPECT_NEAR(to_gigabytes_per_second(back.inter_node.p2p[0].bandwidth), 18, 1e-9);
  // A lone message has no base, tree or local figure of its own: those keys are refused.
  std::string bad = dir.write("bad.yaml", R"(links:
  intra_node:
    p2p:
      ll: {latency_us: 3, bandwidth_GBps: 2, base_latency_us: 1}
    protocols:
      ll: {latency_us: 3, bandwidth_GBps: 2, tree_latency_us: -1, local_bandwidth_GBps: 0}
)");
  try {
    (void)load_calibration(bad);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    std::string all;
    for (const auto& pr : e.problems()) all += pr.str() + "\n";
    EXPECT_NE(all.find("links.intra_node.p2p.ll.base_latency_us"), std::string::npos) << all;
    EXPECT_NE(all.find("links.intra_node.protocols.ll.tree_latency_us: must not be negative"), std::string::npos) << all;
    EXPECT_NE(all.find("links.intra_node.protocols.ll.local_bandwidth_GBps: must be positive"), std::string::npos) << all;
  }
}

TEST(CalibrationLinks, BadRegimesNameFileLineAndField) {
  calib_test::TempDir dir;
  std::string p = dir.write("bad.yaml", R"(links:
  launch_overhead_us: {mpi: -3, slurm: 2}
  inter_node:
    protocols:
      ll: {latency_us: 1}
      tree: {latency_us: 1, bandwidth_GBps: 2}
      simple: {latency_us: 1, bandwidth_GBps: 2, base_latency_us: -1}
)");
  try {
    (void)load_calibration(p);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    std::string all;
    for (const auto& pr : e.problems()) all += pr.str() + "\n";
    EXPECT_NE(all.find("bad.yaml:2:"), std::string::npos) << all;
    EXPECT_NE(all.find("links.launch_overhead_us.mpi: must not be negative"), std::string::npos) << all;
    EXPECT_NE(all.find("links.launch_overhead_us.slurm"), std::string::npos) << all;
    EXPECT_NE(all.find("bad.yaml:5:"), std::string::npos) << all;
    EXPECT_NE(all.find("links.inter_node.protocols.ll: a protocol regime needs both"), std::string::npos) << all;
    EXPECT_NE(all.find("links.inter_node.protocols.tree"), std::string::npos) << all;
    EXPECT_NE(all.find("links.inter_node.protocols.simple.base_latency_us: must not be negative"),
              std::string::npos)
        << all;
  }
}

}  // namespace
}  // namespace xattn
