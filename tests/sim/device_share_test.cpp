// Several ranks on one GPU (sim/device_share.hpp): hand-timed schedules for the two
// sharing policies (a device runs one compute op at a time; in_order blocks behind the
// head of its order like one CUDA stream, fifo takes ops as they become ready), the
// placement checks, and real LV-XAttn, Ring and Ulysses schedules run with every rank on
// one device: they never deadlock, their makespan covers all of the device's compute, no
// two compute ops of one device overlap, and device_compute_order is a dependency order.
#include <algorithm>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "model/presets.hpp"
#include "model/schedule/builders.hpp"
#include "sim/device_share.hpp"
#include "sim/executor.hpp"
#include "tests/sim/sim_test_util.hpp"

namespace xattn::sim {
namespace {

using test::empty_schedule;
using test::unit_cost;
using test::us;

// A copy that lasts `microseconds_long` under unit_cost() (1e6 bytes per microsecond).
ComputeOp copy_op(const std::string& src, const std::string& dst, double microseconds_long) {
  return test::copy_op(src, dst, microseconds_long * 1e6);
}

// Every ordered pair of ranks joined by its own link: 1 GB/s, 1 us latency.
Topology mesh(int ranks) {
  Topology t(ranks);
  for (int a = 0; a < ranks; ++a)
    for (int b = 0; b < ranks; ++b)
      if (a != b)
        t.set_route(a, b, {t.add_link(Link{fmt::format("{}->{}", a, b), gigabytes_per_second(1), Time::ps(us),
                                            LinkClass::intra_node})});
  return t;
}

Timeline run(const Schedule& s, const SimOptions& o) {
  auto net = make_network(NetworkModel::flow, mesh(s.ranks()), nullptr);
  return execute(s, *net, unit_cost(), o);
}

// Rank 0 computes X0 (1 us) then X1 (2 us); rank 1 computes Y0 (3 us) then Y1 (4 us).
Schedule two_by_two() {
  Schedule s = empty_schedule(2);
  ProgramBuilder b(s);
  b.compute(0, copy_op("in", "x0", 1), 0, "X0");
  b.compute(0, copy_op("x0", "x1", 2), 0, "X1");
  b.compute(1, copy_op("in", "y0", 3), 0, "Y0");
  b.compute(1, copy_op("y0", "y1", 4), 0, "Y1");
  return s;
}

TEST(DeviceShare, WithoutSharingTheRanksOverlap) {
  // Each rank on its own GPU: rank 0 ends at 3 us, rank 1 at 7 us.
  const Timeline t = run(two_by_two(), {});
  EXPECT_EQ(t.makespan, Time::ps(7 * us));
}

TEST(DeviceShare, FifoRunsOneOpAtATimeInTheOrderTheyBecomeReady) {
  // One device. At 0 both X0 and Y0 are ready: rank 0 first, X0 0..1. Y0 (ready since 0)
  // goes before X1 (ready at 1): 1..4. X1 4..6, Y1 (ready at 4) 6..10. The makespan is
  // the sum of all compute, and each rank's busy time is its own ops only.
  SimOptions o;
  o.device_of = {0, 0};
  o.sharing = DeviceSharing::fifo;
  const Timeline t = run(two_by_two(), o);
  EXPECT_EQ(t.at({0, 0}).start, Time());
  EXPECT_EQ(t.at({1, 0}).start, Time::ps(1 * us));
  EXPECT_EQ(t.at({1, 0}).posted, Time());
  EXPECT_EQ(t.at({0, 1}).start, Time::ps(4 * us));
  EXPECT_EQ(t.at({1, 1}).start, Time::ps(6 * us));
  EXPECT_EQ(t.makespan, Time::ps(10 * us));
  EXPECT_EQ(t.compute_busy[0], Time::ps(3 * us));
  EXPECT_EQ(t.compute_busy[1], Time::ps(7 * us));
  // Critical path: X0 -> Y0 -> X1 -> Y1, each waiting for the device.
  ASSERT_EQ(t.critical_path.size(), 4u);
  EXPECT_EQ(t.critical_path[0].op, (OpId{0, 0}));
  EXPECT_EQ(t.critical_path[1].op, (OpId{1, 0}));
  EXPECT_EQ(t.critical_path[2].op, (OpId{0, 1}));
  EXPECT_EQ(t.critical_path[3].op, (OpId{1, 1}));
}

TEST(DeviceShare, InOrderRunsTheGivenOrder) {
  // The order Y0, Y1, X0, X1: 0..3, 3..7, 7..8, 8..10.
  SimOptions o;
  o.device_of = {0, 0};
  o.compute_order = {{{1, 0}, {1, 1}, {0, 0}, {0, 1}}};
  const Timeline t = run(two_by_two(), o);
  EXPECT_EQ(t.at({1, 1}).start, Time::ps(3 * us));
  EXPECT_EQ(t.at({0, 0}).start, Time::ps(7 * us));
  EXPECT_EQ(t.at({0, 0}).posted, Time());  // ready at once, held back by the order
  EXPECT_EQ(t.at({0, 1}).end, Time::ps(10 * us));
  EXPECT_EQ(t.makespan, Time::ps(10 * us));
}

// Rank 2 (its own device) computes 10 us, then sends 1 kB to rank 0 (1 us + 1 us on the
// link: lands at 12 us). Rank 0 computes A (1 us) on what it received; rank 1 computes C
// (1 us) from the start. Ranks 0 and 1 share device 0.
Schedule head_of_line() {
  Schedule s = empty_schedule(3);
  ProgramBuilder b(s);
  b.compute(2, copy_op("in", "z", 10), 0, "Z");
  b.send(2, 0, "z", {{"z", Bytes(1000)}}, comm_stream(0), -1, 0);
  b.recv(0, 2, "z", {{"z", Bytes(1000)}}, comm_stream(0), -1, 0);
  b.compute(0, copy_op("z", "a", 1), 0, "A");
  b.compute(1, copy_op("in", "c", 1), 0, "C");
  return s;
}

TEST(DeviceShare, InOrderHeadOfLineBlocksAReadyOp) {
  // Order A, C: A cannot run before 12 us, and C, ready at 0, waits behind it like a
  // kernel queued after a stalled one on the same stream: A 12..13, C 13..14.
  SimOptions o;
  o.device_of = {0, 0, 1};
  o.compute_order = {{{0, 1}, {1, 0}}, {{2, 0}}};
  const Timeline t = run(head_of_line(), o);
  EXPECT_EQ(t.at({0, 1}).start, Time::ps(12 * us));
  EXPECT_EQ(t.at({1, 0}).posted, Time());
  EXPECT_EQ(t.at({1, 0}).start, Time::ps(13 * us));
  EXPECT_EQ(t.makespan, Time::ps(14 * us));
  // Under fifo, C runs at once and A at 12 us: makespan 13 us.
  o.sharing = DeviceSharing::fifo;
  const Timeline f = run(head_of_line(), o);
  EXPECT_EQ(f.at({1, 0}).start, Time());
  EXPECT_EQ(f.makespan, Time::ps(13 * us));
}

TEST(DeviceShare, DeviceComputeOrderFollowsTheIndependentStartTimes) {
  // Without sharing: Z 0, C 0, A 12. Device 0 holds ranks 0 and 1: C (started at 0)
  // before A (12); device 1 holds Z.
  const Schedule s = head_of_line();
  const Timeline alone = run(s, {});
  const auto order = device_compute_order(s, alone, {0, 0, 1});
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(order[0], (std::vector<OpId>{{1, 0}, {0, 1}}));
  EXPECT_EQ(order[1], (std::vector<OpId>{{2, 0}}));
  // Ties by rank, then index: X0 and Y0 both start at 0.
  const Schedule tb = two_by_two();
  EXPECT_EQ(device_compute_order(tb, run(tb, {}), {0, 0})[0], (std::vector<OpId>{{0, 0}, {1, 0}, {0, 1}, {1, 1}}));
  EXPECT_THROW((void)device_compute_order(s, alone, {0, 0}), std::invalid_argument);
}

TEST(DeviceShare, BadPlacementsAndOrdersAreRefused) {
  const Schedule s = two_by_two();
  SimOptions o;
  o.device_of = {0};  // one entry for two ranks
  o.sharing = DeviceSharing::fifo;
  EXPECT_THROW((void)run(s, o), SimulationError);
  o.device_of = {0, -1};
  EXPECT_THROW((void)run(s, o), SimulationError);
  o.device_of = {0, 0};
  o.sharing = DeviceSharing::in_order;
  o.compute_order = {};  // in_order needs an order
  EXPECT_THROW((void)run(s, o), SimulationError);
  o.compute_order = {{{0, 0}, {1, 0}, {0, 1}}};  // Y1 missing
  EXPECT_THROW((void)run(s, o), SimulationError);
  o.compute_order = {{{0, 0}, {1, 0}, {0, 1}, {1, 1}, {0, 0}}};  // X0 twice
  EXPECT_THROW((void)run(s, o), SimulationError);
  o.compute_order = {{{0, 0}, {1, 0}, {0, 1}, {1, 7}}};  // no such op
  EXPECT_THROW((void)run(s, o), SimulationError);
  // X1 before X0: the stream never posts X1 first, so the device waits forever.
  o.compute_order = {{{0, 1}, {0, 0}, {1, 0}, {1, 1}}};
  EXPECT_THROW((void)run(s, o), SimulationError);
}

// Real schedules on a loopback cluster of P virtual ranks of one H100.
struct RealCase {
  const char* mechanism;
  Pass pass;
  int ranks;
};

Schedule real_schedule(const RealCase& c) {
  BuildOptions b;
  b.shape.batch = 1;
  b.shape.heads = 8;
  b.shape.kv_heads = 8;
  b.shape.head_dim = 128;
  b.shape.q_tokens = 2048;
  b.shape.kv_tokens = 8192;
  b.shape.dtype = DType::bf16;
  b.ranks = c.ranks;
  return build_schedule(*parse_mechanism(c.mechanism), c.pass, b);
}

TEST(DeviceShare, RealSchedulesOnOneDeviceNeverDeadlockAndCoverAllCompute) {
  const GpuSpec gpu = *find_gpu("h100-sxm");
  const Calibration cal;
  int checked = 0;
  for (const char* mech : {"lv-xattn", "ring", "ulysses", "no-comm"})
    for (Pass pass : {Pass::fwd, Pass::bwd, Pass::fwd_bwd})
      for (int P : {2, 4, 8}) {
        const RealCase c{mech, pass, P};
        const Schedule s = real_schedule(c);
        const Cluster cluster = loopback_cluster(gpu, P, LinkSpec{gigabytes_per_second(100), microseconds(10)});
        const std::string what = fmt::format("{} {} P={}", mech, to_string(pass), P);
        const Timeline alone = simulate(s, cluster, cal);
        for (int devices : {1, 2}) {
          std::vector<int> device_of(static_cast<std::size_t>(P));
          for (int r = 0; r < P; ++r) device_of[static_cast<std::size_t>(r)] = r % devices;
          // The order is a dependency order: every rank's compute ops keep program order.
          const auto order = device_compute_order(s, alone, device_of);
          for (const auto& list : order)
            for (std::size_t k = 1; k < list.size(); ++k)
              if (list[k].rank == list[k - 1].rank) {
                ASSERT_LT(list[k - 1].index, list[k].index) << what;
              }
          for (DeviceSharing sharing : {DeviceSharing::in_order, DeviceSharing::fifo}) {
            SimOptions o;
            o.device_of = device_of;
            o.sharing = sharing;
            Timeline t;
            ASSERT_NO_THROW(t = simulate(s, cluster, cal, o)) << what;
            // No two compute ops of one device overlap, and the makespan covers them all.
            for (int d = 0; d < devices; ++d) {
              std::vector<std::pair<Time, Time>> spans;
              Time busy;
              for (int r = d; r < P; r += devices) {
                busy += t.compute_busy[static_cast<std::size_t>(r)];
                const auto& ops = s.programs[static_cast<std::size_t>(r)].ops;
                for (std::size_t i = 0; i < ops.size(); ++i)
                  if (ops[i].kind() == OpKind::compute) {
                    const OpTimes& x = t.ops[static_cast<std::size_t>(r)][i];
                    spans.emplace_back(x.start, x.end);
                    EXPECT_EQ(x.end - x.start, alone.ops[static_cast<std::size_t>(r)][i].end -
                                                   alone.ops[static_cast<std::size_t>(r)][i].start)
                        << what << ": sharing changes when an op runs, not how long";
                  }
              }
              std::sort(spans.begin(), spans.end());
              for (std::size_t k = 1; k < spans.size(); ++k) ASSERT_LE(spans[k - 1].second, spans[k].first) << what;
              EXPECT_GE(t.makespan, busy) << what;
              if (devices == 1 && P > 1) {
                EXPECT_GT(t.makespan, alone.makespan) << what;
              }
            }
            EXPECT_GE(t.makespan, alone.makespan) << what;
            ASSERT_FALSE(t.critical_path.empty());
            EXPECT_EQ(t.critical_path.back().end, t.makespan) << what;
            ++checked;
          }
        }
      }
  EXPECT_EQ(checked, 4 * 3 * 3 * 2 * 2);
}

TEST(DeviceShare, OwnDevicePerRankInOrderEqualsNoSharing) {
  // Each rank alone on its device with the order of a run without sharing: nothing can
  // change, bit for bit.
  const Schedule s = real_schedule({"lv-xattn", Pass::fwd_bwd, 4});
  const Cluster cluster =
      loopback_cluster(*find_gpu("h100-sxm"), 4, LinkSpec{gigabytes_per_second(100), microseconds(10)});
  const Calibration cal;
  const Timeline alone = simulate(s, cluster, cal);
  SimOptions o;
  o.device_of = {0, 1, 2, 3};
  const Timeline t = simulate(s, cluster, cal, o);
  EXPECT_EQ(t.makespan, alone.makespan);
  for (int r = 0; r < 4; ++r)
    for (std::size_t i = 0; i < t.ops[static_cast<std::size_t>(r)].size(); ++i) {
      EXPECT_EQ(t.ops[static_cast<std::size_t>(r)][i].start, alone.ops[static_cast<std::size_t>(r)][i].start);
      EXPECT_EQ(t.ops[static_cast<std::size_t>(r)][i].end, alone.ops[static_cast<std::size_t>(r)][i].end);
    }
}

}  // namespace
}  // namespace xattn::sim
