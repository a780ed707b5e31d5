// The collective model's fit: logs of a known machine reproduced and its figures found,
// all-gather and sendrecv logs fitted alongside, the Azure NDv4 logs reproduced within
// issue 5's goals and predicted held out within issue 14's (one size of node from two
// smaller ones, two nodes from one), the report of what the logs identified and what was
// derived, the calibration file round trip and the plot.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "tests/calib/calib_test_util.hpp"
#include "model/core/error.hpp"
#include "model/calib/fit_plot.hpp"
#include "model/calib/link_fit.hpp"
#include "model/presets.hpp"
#include "model/scenario.hpp"
#include "model/scenario/calibration_file.hpp"

#include <fmt/format.h>

namespace xattn {
namespace {

using calib_test::fixture;

// A log as nccl-tests would print it for the model `m` on this shape: sizes 8 B .. 1 GiB.
NcclLog synthetic_log(const NcclCollectiveModel& m, NcclCollective op, int gpus, int per_node, LaunchMode launch) {
  NcclLog log;
  log.source = fmt::format("synthetic_{}_{}gpu.log", to_string(op), gpus);
  log.op = op;
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
    if (op == NcclCollective::all_gather && row.size.value() < gpus * 4) continue;
    row.count = static_cast<std::int64_t>(row.size.value()) / 4;
    row.type = "float";
    NcclMeasure me{m.estimate(s, row.size).time, std::nullopt, std::nullopt};
    row.out_of_place = me;
    row.in_place = me;
    log.rows.push_back(row);
  }
  return log;
}

NcclLog synthetic_log(const NcclCollectiveModel& m, int gpus, int per_node, LaunchMode launch) {
  return synthetic_log(m, NcclCollective::all_reduce, gpus, per_node, launch);
}

const ProtocolRegime& find(const std::vector<ProtocolRegime>& rs, Protocol p) {
  for (const auto& r : rs)
    if (r.protocol == p) return r;
  ADD_FAILURE() << "no regime " << to_string(p);
  return rs.front();
}

const FitParameter& parameter(const LinkFit& fit, const std::string& name) {
  for (const auto& p : fit.parameters)
    if (p.name == name) return p;
  ADD_FAILURE() << "no parameter " << name;
  return fit.parameters.front();
}

// A machine shaped like NCCL's own cost model and the NDv4 fit: LL has the lowest latency
// and bandwidth, Simple the highest bandwidth and the largest base latency; the host
// launches at 1 us plus 4 us per GPU it drives; NCCL's tree runs small sizes across nodes.
CollectiveLinks truth() {
  CollectiveLinks t;
  auto regime = [](Protocol p, double lat, double bw, double base, double local) {
    ProtocolRegime r{p, microseconds(lat), gigabytes_per_second(bw), microseconds(base)};
    r.local_bandwidth = gigabytes_per_second(local);
    return r;
  };
  t.intra = {regime(Protocol::ll, 0.6, 8, 8, 400), regime(Protocol::ll128, 1.5, 60, 25, 400),
             regime(Protocol::simple, 3.0, 280, 48, 700)};
  t.inter = {regime(Protocol::ll, 4.0, 0.5, 8, 400), regime(Protocol::ll128, 6.0, 5, 25, 400),
             regime(Protocol::simple, 12.0, 18, 48, 700)};
  const double tree[3] = {10, 12, 14};
  for (int p = 0; p < 3; ++p) t.inter[static_cast<std::size_t>(p)].tree_latency = microseconds(tree[p]);
  t.overhead_single_process = microseconds(1);
  t.overhead_mpi = microseconds(1);
  t.overhead_per_gpu = microseconds(4);
  return t;
}

TEST(LinkFit, ReproducesLogsOfAKnownMachineAndFindsItsFigures) {
  // Logs of 2, 4 and 8 GPUs in one process and 16 and 32 GPUs by MPI, made by the model
  // itself: the fit must reproduce every row, and where the logs identify a figure, find it.
  const NcclCollectiveModel m(truth());
  std::vector<NcclLog> logs = {synthetic_log(m, 2, 2, LaunchMode::single_process),
                               synthetic_log(m, 4, 4, LaunchMode::single_process),
                               synthetic_log(m, 8, 8, LaunchMode::single_process),
                               synthetic_log(m, 16, 8, LaunchMode::mpi), synthetic_log(m, 32, 8, LaunchMode::mpi)};
  LinkFit fit = fit_links(logs);
  EXPECT_LT(fit.mape, 0.02);
  EXPECT_LT(fit.max_error, 0.10);
  const Calibration& c = fit.calibration;
  ASSERT_TRUE(c.launch.per_gpu);
  EXPECT_NEAR(to_microseconds(*c.launch.per_gpu), 4, 0.2);
  // The large-message figures: what decides bandwidth-bound predictions at any scale.
  EXPECT_NEAR(find(c.intra_node.protocols, Protocol::simple).bandwidth / gigabytes_per_second(280), 1.0, 0.05);
  EXPECT_NEAR(find(c.inter_node.protocols, Protocol::simple).bandwidth / gigabytes_per_second(18), 1.0, 0.03);
  // Two node counts: the tree's level latency for LL is measured, not assumed.
  const FitParameter& level = parameter(fit, "inter_node ll tree_latency_us");
  EXPECT_EQ(level.how, Identification::identified);
  EXPECT_NEAR(level.value, 10, 1.0);
  // And the model extrapolates: 128 GPUs, small and large, within a few percent.
  const NcclCollectiveModel fitted(CollectiveLinks::from(FitOptions().cluster, c));
  CollectiveShape s;
  s.op = NcclCollective::all_reduce;
  s.gpus = 128;
  s.gpus_per_node = 8;
  s.nics_per_node = 8;
  s.launch = LaunchMode::mpi;
  for (double bytes : {1024.0, 1048576.0, 1073741824.0})
    EXPECT_NEAR(fitted.estimate(s, Bytes(bytes)).time / m.estimate(s, Bytes(bytes)).time, 1.0, 0.06) << bytes;
}

TEST(LinkFit, FitsAllGatherAndSendRecvLogsAlongsideAndWritesLoneMessageRegimes) {
  // all_gather and sendrecv logs share the links' figures with all_reduce; sendrecv's own
  // fixed cost per message is fitted, and the file gets lone-message (p2p) regimes.
  CollectiveLinks t = truth();
  const NcclCollectiveModel m(t);
  std::vector<NcclLog> logs = {synthetic_log(m, 2, 2, LaunchMode::single_process),
                               synthetic_log(m, 4, 4, LaunchMode::single_process),
                               synthetic_log(m, NcclCollective::all_gather, 8, 8, LaunchMode::single_process),
                               synthetic_log(m, NcclCollective::sendrecv, 8, 8, LaunchMode::mpi)};
  LinkFit fit = fit_links(logs);
  EXPECT_LT(fit.mape, 0.05);
  EXPECT_FALSE(fit.calibration.intra_node.p2p.empty());
  bool derived_rs = false, derived_ag = false;
  for (const auto& n : fit.notes) {
    derived_rs = derived_rs || n.rfind("reduce_scatter: no reduce_scatter_perf log", 0) == 0;
    derived_ag = derived_ag || n.rfind("all_gather: no", 0) == 0;
  }
  EXPECT_TRUE(derived_rs);
  EXPECT_FALSE(derived_ag);
}

std::vector<NcclLog> ndv4_logs(std::initializer_list<int> gpus) {
  std::vector<NcclLog> logs;
  for (int g : gpus) logs.push_back(read_nccl_tests_file(fixture(g)));
  return logs;
}

// The measured quality of a calibration on a log it was not fitted to: mean |error| over
// all sizes and over sizes >= 1 MiB, against the faster of out-of-place and in-place.
std::pair<double, double> held_out(const Calibration& cal, int gpus) {
  const NcclLog log = read_nccl_tests_file(fixture(gpus));
  const NcclCollectiveModel m(CollectiveLinks::from(FitOptions().cluster, cal));
  const CollectiveShape s = shape_of(log);
  double all = 0, large = 0;
  int n = 0, nl = 0;
  for (const auto& row : log.rows) {
    const double t = std::min(row.out_of_place->time.value(), row.in_place->time.value());
    const double e = std::abs(m.estimate(s, row.size).time.value() - t) / t;
    all += e;
    ++n;
    if (row.size.value() >= 1048576.0) {
      large += e;
      ++nl;
    }
  }
  return {all / n, large / nl};
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
  // Physical figures: NVLink's large-message figure near its 300 GB/s nominal, the per-NIC
  // one under the 25 GB/s line rate; the host launches about 4 us per GPU it drives.
  const Calibration& c = fit.calibration;
  EXPECT_GT(to_gigabytes_per_second(*c.intra_node.bandwidth), 240);
  EXPECT_LE(to_gigabytes_per_second(*c.intra_node.bandwidth), 300);
  EXPECT_GT(to_gigabytes_per_second(*c.inter_node.bandwidth), 12);
  EXPECT_LT(to_gigabytes_per_second(*c.inter_node.bandwidth), 25);
  ASSERT_TRUE(c.launch.per_gpu);
  EXPECT_NEAR(to_microseconds(*c.launch.per_gpu), 3.7, 0.5);
  // No latency per hop or per tree level is ever 0, whatever the logs could identify.
  for (const auto* link : {&c.intra_node, &c.inter_node})
    for (const auto& r : link->protocols) {
      EXPECT_GT(r.latency, Seconds(0));
      if (r.tree_latency) {
        EXPECT_GT(*r.tree_latency, Seconds(0));
      }
    }
}

TEST(LinkFit, HeldOutInsideANodeFitTwoAndFourGpusPredictEight) {
  // Issue 14's first goal: fitted on the 2- and 4-GPU logs only, the 8-GPU log (not fitted)
  // is predicted with mean |error| <= 10% over all sizes and <= 7% over sizes >= 1 MiB
  // (the ring-only fit managed 27.6% and 10.6%).
  const auto [all, large] = held_out(fit_links(ndv4_logs({2, 4})).calibration, 8);
  EXPECT_LE(all, 0.10);
  EXPECT_LE(large, 0.07);
}

TEST(LinkFit, HeldOutAcrossNodesFitOneNodePredictTwo) {
  // Issue 14's second goal: fitted on the 2-, 4- and 8-GPU logs (one node), the 16-GPU log
  // (two nodes) is predicted with the cluster's NIC figures as the only inter-node
  // information, <= 15% over sizes >= 1 MiB. The NIC figure is Azure's own for NCCL on
  // this VM (18.0 GB/s per NIC, the azure-ndv4 preset); measured here: 4.0% over sizes
  // >= 1 MiB and 9.6% over all sizes (docs/validation.md §7). Small sizes stay 8-29% fast:
  // NCCL's tree level latency (5 us for LL) is half this network's.
  const LinkFit fit = fit_links(ndv4_logs({2, 4, 8}));
  const auto [all, large] = held_out(fit.calibration, 16);
  EXPECT_LE(large, 0.15);
  EXPECT_LE(all, 0.12);
  // The Simple figure per NIC is the preset's 18.0 GB/s, a prior (nothing across nodes was fitted).
  ASSERT_TRUE(fit.calibration.inter_node.bandwidth);
  EXPECT_NEAR(to_gigabytes_per_second(*fit.calibration.inter_node.bandwidth), 18.0, 0.5);
  // Every inter-node figure is a prior there, and says so.
  for (const auto& p : fit.parameters)
    if (p.name.rfind("inter_node", 0) == 0) {
      EXPECT_EQ(p.how, Identification::prior) << p.name;
    }
}

TEST(LinkFit, WithoutTheVendorsNcclFigureTheNicPriorIsALineRateShare) {
  // One node's logs say nothing across nodes: the Simple figure per NIC is its prior.
  // azure-ndv4 carries Azure's 18.0 GB/s; dgx-h100 publishes none, so the prior is its
  // 50 GB/s line rate x 0.76 (between the 0.72 and 0.80 Azure's health checks ask of NCCL
  // on NDv4 and NDv5) = 38 GB/s. The LL and LL128 ties pull on it a little: 2%.
  FitOptions o;
  o.cluster = find_cluster("dgx-h100")->cluster;
  const LinkFit h100 = fit_links(ndv4_logs({2, 4, 8}), o);
  ASSERT_TRUE(h100.calibration.inter_node.bandwidth);
  EXPECT_NEAR(to_gigabytes_per_second(*h100.calibration.inter_node.bandwidth), 38.0, 0.8);
  const LinkFit ndv4 = fit_links(ndv4_logs({2, 4, 8}));
  EXPECT_NEAR(to_gigabytes_per_second(*ndv4.calibration.inter_node.bandwidth), 18.0, 0.4);
  bool named = false;
  for (const auto& p : h100.parameters)
    if (p.name == "inter_node simple bandwidth_GBps") named = p.prior_source.find("x 0.76") != std::string::npos;
  EXPECT_TRUE(named);
}

TEST(LinkFit, SaysWhatTheLogsIdentifiedAndWhatWasDerived) {
  LinkFit fit = fit_links(ndv4_logs({1, 2, 4, 8, 16}));
  bool tree = false, single_gpu = false, derived_sendrecv = false, derived_ag = false;
  for (const auto& n : fit.notes) {
    tree = tree || (n.find("all_reduce_16gpu.log") != std::string::npos && n.find("tree") != std::string::npos);
    single_gpu = single_gpu || n.find("all_reduce_1gpu.log") != std::string::npos;
    derived_sendrecv = derived_sendrecv || n.rfind("sendrecv: no sendrecv_perf log", 0) == 0;
    derived_ag = derived_ag || n.rfind("all_gather: no all_gather_perf log", 0) == 0;
  }
  EXPECT_TRUE(tree);
  EXPECT_TRUE(single_gpu);
  EXPECT_TRUE(derived_sendrecv);
  EXPECT_TRUE(derived_ag);
  EXPECT_FALSE(fit.logs[0].used);  // one GPU: nothing to fit
  // Two sizes of ring inside the node measure NVLink's LL hop; the 16-GPU log, with the base
  // latency shared with the node's logs, measures the tree's level across nodes (about 10 us,
  // twice NCCL's table: a slower network than NCCL's test machines).
  EXPECT_EQ(parameter(fit, "intra_node ll latency_us").how, Identification::identified);
  const FitParameter& level = parameter(fit, "inter_node ll tree_latency_us");
  EXPECT_EQ(level.how, Identification::identified);
  EXPECT_GT(level.value, 7);
  EXPECT_LT(level.value, 13);
  EXPECT_GT(level.sigma, 0);
  // The MPI host cost is never measured here (every MPI log is GPU-bound): a prior.
  EXPECT_EQ(parameter(fit, "launch mpi_us").how, Identification::prior);
}

TEST(LinkFit, CalibrationFileRoundTripsAndPredictsTheSame) {
  LinkFit fit = fit_links(ndv4_logs({2, 4, 8, 16}));
  calib_test::TempDir dir;
  std::string path = dir.write("ndv4.yaml", links_calibration_to_yaml(fit.calibration));
  Calibration back = load_calibration(path);
  // Only links were written: compute keeps its defaults.
  EXPECT_EQ(back.compute.fwd_max_d128, ComputeCalibration{}.fwd_max_d128);
  Cluster nominal;
  NcclCollectiveModel a(CollectiveLinks::from(nominal, fit.calibration));
  NcclCollectiveModel b(CollectiveLinks::from(nominal, back));
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
