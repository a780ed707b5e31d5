// The link fit: known parameters recovered from synthetic logs, the Azure NDv4 logs
// reproduced within the issue's goals, the ring-disagreement notes, the calibration file
// round trip and the plot.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "tests/calib/calib_test_util.hpp"
#include "model/core/error.hpp"
#include "model/calib/fit_plot.hpp"
#include "model/calib/link_fit.hpp"
#include "model/scenario.hpp"
#include "model/scenario/calibration_file.hpp"

namespace xattn {
namespace {

using calib_test::fixture;

ProtocolRegime regime(Protocol p, double latency_us, double bw_GBps, double base_us) {
  return {p, microseconds(latency_us), gigabytes_per_second(bw_GBps), microseconds(base_us)};
}

// A log as nccl-tests would print it for `links` on this shape: sizes 8 B .. 1 GiB.
NcclLog synthetic_log(const RingCollectiveModel& m, int gpus, int per_node, LaunchMode launch) {
  NcclLog log;
  log.source = "synthetic_" + std::to_string(gpus) + "gpu.log";
  log.op = NcclCollective::all_reduce;
  for (int r = 0; r < gpus; ++r) {
    NcclDevice d;
    d.rank = r;
    d.host = "node-" + std::to_string(r / per_node);
    d.pid = launch == LaunchMode::mpi ? 1000 + r : 1000;
    d.device = r % per_node;
    d.gpu = "A100-SXM4-40GB";
    log.devices.push_back(d);
  }
  log.gpus_per_thread = launch == LaunchMode::mpi ? 1 : gpus;
  CollectiveShape s;
  s.op = log.op;
  s.gpus = gpus;
  s.gpus_per_node = per_node;
  s.nics_per_node = per_node;
  s.launch = launch;
  for (int e = 3; e <= 30; ++e) {
    NcclRow row;
    row.line = e;
    row.size = Bytes(std::ldexp(1.0, e));
    row.count = static_cast<std::int64_t>(row.size.value()) / 4;
    row.type = "float";
    NcclMeasure me{m.estimate(s, row.size).time, std::nullopt, std::nullopt};
    row.out_of_place = me;
    row.in_place = me;
    log.rows.push_back(row);
  }
  return log;
}

const ProtocolRegime& find(const std::vector<ProtocolRegime>& rs, Protocol p) {
  for (const auto& r : rs)
    if (r.protocol == p) return r;
  ADD_FAILURE() << "no regime " << to_string(p);
  return rs.front();
}

TEST(LinkFit, RecoversKnownParametersWithinOnePercent) {
  // Parameters shaped like NCCL's own cost model: LL has the lowest latency and bandwidth,
  // Simple the highest bandwidth and the largest fixed cost; every regime wins somewhere
  // at two ring sizes or more, so that each is identifiable.
  CollectiveLinks truth;
  truth.intra = {regime(Protocol::ll, 1.5, 10, 0), regime(Protocol::ll128, 1.0, 80, 15),
                 regime(Protocol::simple, 0.5, 220, 60)};
  truth.inter = {regime(Protocol::ll, 0.5, 1, 0), regime(Protocol::ll128, 1.0, 8, 15),
                 regime(Protocol::simple, 2.0, 16, 20)};
  truth.overhead_single_process = microseconds(5);
  truth.overhead_mpi = microseconds(10);
  RingCollectiveModel m(truth);
  std::vector<NcclLog> logs = {synthetic_log(m, 2, 2, LaunchMode::single_process),
                               synthetic_log(m, 4, 4, LaunchMode::single_process),
                               synthetic_log(m, 8, 8, LaunchMode::single_process),
                               synthetic_log(m, 16, 8, LaunchMode::mpi), synthetic_log(m, 32, 8, LaunchMode::mpi)};
  LinkFit fit = fit_links(logs);
  const Calibration& c = fit.calibration;
  ASSERT_TRUE(c.launch.single_process && c.launch.mpi);
  EXPECT_NEAR(to_microseconds(*c.launch.single_process), 5, 0.05);
  EXPECT_NEAR(to_microseconds(*c.launch.mpi), 10, 0.10);
  for (auto [fitted, expected] : {std::pair{&c.intra_node.protocols, &truth.intra},
                                  std::pair{&c.inter_node.protocols, &truth.inter}}) {
    ASSERT_EQ(fitted->size(), 3u);
    for (const auto& want : *expected) {
      SCOPED_TRACE(std::string(to_string(want.protocol)));
      const ProtocolRegime& got = find(*fitted, want.protocol);
      EXPECT_NEAR(got.latency / want.latency, 1.0, 0.01);
      EXPECT_NEAR(got.bandwidth / want.bandwidth, 1.0, 0.01);
      EXPECT_NEAR(to_microseconds(got.base_latency), to_microseconds(want.base_latency),
                  0.01 * std::max(1.0, to_microseconds(want.base_latency)));
    }
  }
  // The large-message figures are Simple's: what the closed-form model reads.
  EXPECT_NEAR(*c.intra_node.bandwidth / gigabytes_per_second(220), 1.0, 0.01);
  EXPECT_NEAR(*c.inter_node.bandwidth / gigabytes_per_second(16), 1.0, 0.01);
  EXPECT_LT(fit.max_error, 0.01);
}

std::vector<NcclLog> ndv4_logs(std::initializer_list<int> gpus) {
  std::vector<NcclLog> logs;
  for (int g : gpus) logs.push_back(read_nccl_tests_file(fixture(g)));
  return logs;
}

TEST(LinkFit, ReproducesTheNdv4LogsWithinTheIssuesGoals) {
  // Goal (issue 5): one calibration fitted on the 2-, 4-, 8- and 16-GPU logs reproduces
  // each with MAPE <= 10% over all sizes and <= 7% over sizes >= 1 MiB.
  LinkFit fit = fit_links(ndv4_logs({2, 4, 8, 16}));
  ASSERT_EQ(fit.logs.size(), 4u);
  for (const auto& q : fit.logs) {
    SCOPED_TRACE(q.source);
    EXPECT_TRUE(q.used);
    EXPECT_GT(q.rows, 20);
    EXPECT_GT(q.rows_large, 10);
    EXPECT_LE(q.mape, 0.10);
    EXPECT_LE(q.mape_large, 0.07);
  }
  // Per-row errors are what the summary says they are.
  double sum = 0;
  for (const auto& r : fit.rows) sum += std::abs(r.error);
  EXPECT_NEAR(sum / fit.rows.size(), fit.mape, 1e-12);
  // Both launch modes are in the calibration, and differ.
  ASSERT_TRUE(fit.calibration.launch.single_process && fit.calibration.launch.mpi);
  EXPECT_GT(*fit.calibration.launch.mpi, *fit.calibration.launch.single_process);
  // Physical figures: the large-message NVLink figure is near the ~230 GB/s busbw the
  // 8-GPU log reaches (300 GB/s nominal), the per-NIC one under the 25 GB/s line rate.
  EXPECT_GT(to_gigabytes_per_second(*fit.calibration.intra_node.bandwidth), 190);
  EXPECT_LT(to_gigabytes_per_second(*fit.calibration.intra_node.bandwidth), 260);
  EXPECT_GT(to_gigabytes_per_second(*fit.calibration.inter_node.bandwidth), 12);
  EXPECT_LT(to_gigabytes_per_second(*fit.calibration.inter_node.bandwidth), 25);
}

TEST(LinkFit, SaysWhereTheDataDisagreeWithARing) {
  // At 16 GPUs, 1 KiB takes 34.7 us: less than the 26 NVLink hops of a ring would at the
  // LL latency the single-node logs show. NCCL ran a tree there; the report says so.
  LinkFit fit = fit_links(ndv4_logs({1, 2, 4, 8, 16}));
  bool tree = false, single_gpu = false;
  for (const auto& n : fit.notes) {
    tree = tree || (n.find("all_reduce_16gpu.log") != std::string::npos && n.find("tree") != std::string::npos);
    single_gpu = single_gpu || n.find("all_reduce_1gpu.log") != std::string::npos;
  }
  EXPECT_TRUE(tree);
  EXPECT_TRUE(single_gpu);
  EXPECT_FALSE(fit.logs[0].used);  // one GPU: nothing to fit
}

TEST(LinkFit, CalibrationFileRoundTripsAndPredictsTheSame) {
  LinkFit fit = fit_links(ndv4_logs({2, 4, 8, 16}));
  calib_test::TempDir dir;
  std::string path = dir.write("ndv4.yaml", links_calibration_to_yaml(fit.calibration));
  Calibration back = load_calibration(path);
  // Only links were written: compute keeps its defaults.
  EXPECT_EQ(back.compute.fwd_max_d128, ComputeCalibration{}.fwd_max_d128);
  Cluster nominal;
  RingCollectiveModel a(CollectiveLinks::from(nominal, fit.calibration));
  RingCollectiveModel b(CollectiveLinks::from(nominal, back));
  for (int gpus : {8, 16, 64}) {
    CollectiveShape s = shape_of(read_nccl_tests_file(fixture(16)));
    s.gpus = gpus;
    for (double bytes : {8.0, 65536.0, 1e8, 1.6e10})
      EXPECT_NEAR(b.estimate(s, Bytes(bytes)).time / a.estimate(s, Bytes(bytes)).time, 1.0, 1e-9);
  }
}

TEST(LinkFit, NothingToFitIsAnInputError) {
  EXPECT_THROW((void)fit_links(ndv4_logs({1})), InputError);
  EXPECT_THROW((void)fit_links({}), InputError);
}

TEST(LinkFit, PlotHasOneCurveAndOneDotPerRowForEveryLog) {
  LinkFit fit = fit_links(ndv4_logs({1, 2, 16}));
  std::string svg = fit_plot_svg(fit);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  auto count = [&](const std::string& what) {
    std::size_t n = 0;
    for (auto p = svg.find(what); p != std::string::npos; p = svg.find(what, p + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("<polyline"), 2u);                   // the two logs with communication
  EXPECT_EQ(count("<circle"), fit.rows.size() + 2u);  // one dot per row, one per legend entry
  EXPECT_NE(svg.find("all_reduce_16gpu.log"), std::string::npos);
}

}  // namespace
}  // namespace xattn
