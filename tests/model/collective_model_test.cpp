// The ring collective model worked by hand: step counts, bytes on the wire, which link
// class gates, NIC sharing, protocol choice, and nccl-tests' size/busbw definitions.
#include <gtest/gtest.h>

#include <cmath>

#include "model/collective_model.hpp"
#include "model/link_cost.hpp"
#include "model/presets.hpp"

namespace xattn {
namespace {

ProtocolRegime simple(double latency_us, double bw_GBps, double base_us = 0) {
  return {Protocol::simple, microseconds(latency_us), gigabytes_per_second(bw_GBps), microseconds(base_us)};
}

CollectiveShape shape(NcclCollective op, int gpus, int per_node, LaunchMode launch = LaunchMode::single_process) {
  CollectiveShape s;
  s.op = op;
  s.gpus = gpus;
  s.gpus_per_node = per_node;
  s.nics_per_node = per_node;
  s.launch = launch;
  return s;
}

TEST(CollectiveModel, BusBandwidthFactorsAreNcclTests) {
  EXPECT_DOUBLE_EQ(busbw_factor(NcclCollective::all_reduce, 16), 2.0 * 15 / 16);
  EXPECT_DOUBLE_EQ(busbw_factor(NcclCollective::all_gather, 8), 7.0 / 8);
  EXPECT_DOUBLE_EQ(busbw_factor(NcclCollective::reduce_scatter, 8), 7.0 / 8);
  EXPECT_DOUBLE_EQ(busbw_factor(NcclCollective::all_to_all, 4), 3.0 / 4);
  EXPECT_DOUBLE_EQ(busbw_factor(NcclCollective::sendrecv, 4), 1.0);
  EXPECT_DOUBLE_EQ(busbw_factor(NcclCollective::broadcast, 4), 1.0);
  // nccl-tests prints the per-rank count for collectives that split the buffer.
  EXPECT_EQ(element_count(NcclCollective::all_gather, 8, Bytes(1048576), 4), 32768);
  EXPECT_EQ(element_count(NcclCollective::all_reduce, 8, Bytes(1048576), 4), 262144);
}

TEST(CollectiveModel, RingAllReduceInsideOneNodeByHand) {
  CollectiveLinks l;
  l.intra = {simple(2, 100, 10)};
  l.inter = {simple(5, 25)};
  l.overhead_single_process = microseconds(5);
  RingCollectiveModel m(l);
  // 8 GPUs: 2(n-1) = 14 hops; each rank sends 2(n-1)/n = 1.75 of the buffer:
  // 5 + 10 + 14 * 2 = 43 us fixed, 1.75e8 B / 100 GB/s = 1750 us.
  CollectiveEstimate e = m.estimate(shape(NcclCollective::all_reduce, 8, 8), Bytes(1e8));
  EXPECT_NEAR(to_microseconds(e.time), 43 + 1750, 1e-9);
  EXPECT_EQ(e.bottleneck, LinkClass::intra_node);
  // All-gather: n-1 = 7 hops and 7/8 of the (total) buffer.
  EXPECT_NEAR(to_microseconds(m.estimate(shape(NcclCollective::all_gather, 8, 8), Bytes(1e8)).time),
              5 + 10 + 7 * 2 + 875, 1e-9);
  // Broadcast: a chain of n-1 hops moving the whole buffer.
  EXPECT_NEAR(to_microseconds(m.estimate(shape(NcclCollective::broadcast, 8, 8), Bytes(1e8)).time),
              5 + 10 + 7 * 2 + 1000, 1e-9);
  // One rank: nothing moves, the call still costs its overhead.
  EXPECT_NEAR(to_microseconds(m.estimate(shape(NcclCollective::all_reduce, 1, 1), Bytes(1e8)).time), 5, 1e-12);
}

TEST(CollectiveModel, RingAcrossNodesIsGatedByTheNicsTogether) {
  CollectiveLinks l;
  l.intra = {simple(2, 300)};
  l.inter = {simple(1, 20)};
  l.overhead_mpi = microseconds(30);
  RingCollectiveModel m(l);
  // 16 GPUs on 2 nodes, 8 NICs each: 30 hops at the inter-node latency; 1.875e9 B per rank
  // through 8 NICs of 20 GB/s = 11718.75 us (the NVLink part, 6250 us, hides under it).
  auto s = shape(NcclCollective::all_reduce, 16, 8, LaunchMode::mpi);
  CollectiveEstimate e = m.estimate(s, Bytes(1e9));
  EXPECT_EQ(e.bottleneck, LinkClass::inter_node);
  EXPECT_NEAR(to_microseconds(e.time), 30 + 30 * 1 + 11718.75, 1e-6);
  // With half the NICs the inter-node part takes twice as long.
  s.nics_per_node = 4;
  EXPECT_NEAR(to_microseconds(m.estimate(s, Bytes(1e9)).time), 30 + 30 + 23437.5, 1e-6);
  // If NVLink were the slower (100 GB/s per GPU: 18750 us), it would gate instead.
  l.intra = {simple(2, 100)};
  RingCollectiveModel slow_nvlink(l);
  s.nics_per_node = 8;
  EXPECT_NEAR(to_microseconds(slow_nvlink.estimate(s, Bytes(1e9)).time), 30 + 30 + 18750, 1e-6);
  // Busbw of a ring across nodes does not fall with more nodes: the same per-rank rate.
  auto s4 = shape(NcclCollective::all_reduce, 32, 8, LaunchMode::mpi);
  double busbw16 = predict_row(m, s, Bytes(16e9)).busbw_GBps;
  double busbw32 = predict_row(m, s4, Bytes(16e9)).busbw_GBps;
  EXPECT_NEAR(busbw32 / busbw16, 1.0, 0.01);
  EXPECT_NEAR(busbw16, 160, 1.0);  // 8 NICs x 20 GB/s
}

TEST(CollectiveModel, AllToAllSharesTheNodesNicsAndSendRecvUsesOne) {
  CollectiveLinks l;
  l.intra = {simple(0, 300)};
  l.inter = {simple(0, 25)};
  RingCollectiveModel m(l);
  // 16 GPUs, 8 per node: each node sends 8 GPUs x 8 remote peers x S/16 = 6.4e9 B for
  // S = 1.6e9, over 8 NICs of 25 GB/s: 32000 us (the NVLink part, 7/16 S / 300 GB/s =
  // 2333 us, runs alongside).
  EXPECT_NEAR(to_microseconds(m.estimate(shape(NcclCollective::all_to_all, 16, 8), Bytes(1.6e9)).time), 32000, 1e-6);
  // sendrecv between two nodes: one message, one NIC: 1e9 B / 25 GB/s.
  EXPECT_NEAR(to_microseconds(m.estimate(shape(NcclCollective::sendrecv, 2, 1), Bytes(1e9)).time), 40000, 1e-6);
}

TEST(CollectiveModel, FastestProtocolWinsAtEachSize) {
  CollectiveLinks l;
  l.intra = {{Protocol::ll, microseconds(1), gigabytes_per_second(10), Seconds(0)}, simple(1, 200, 20)};
  l.inter = l.intra;
  RingCollectiveModel m(l);
  auto s = shape(NcclCollective::all_reduce, 2, 2);
  // 2 GPUs: the wire carries the buffer once. LL: 2 + S/10 GB/s; Simple: 22 + S/200 GB/s;
  // they cross where S (1/10 - 1/200) GB/s = 20 us, S = 210526 B.
  EXPECT_EQ(m.estimate(s, Bytes(8)).protocol, Protocol::ll);
  EXPECT_EQ(m.estimate(s, Bytes(200000)).protocol, Protocol::ll);
  EXPECT_EQ(m.estimate(s, Bytes(220000)).protocol, Protocol::simple);
  EXPECT_NEAR(to_microseconds(m.time_with(s, Bytes(1e6), Protocol::ll)), 2 + 100, 1e-9);
  // A protocol the calibration does not have is never chosen.
  EXPECT_FALSE(std::isfinite(m.time_with(s, Bytes(8), Protocol::ll128).value()));
}

TEST(CollectiveModel, LinksComeFromTheClusterRefinedByTheCalibration) {
  const Cluster& ndv4 = find_cluster("azure-ndv4")->cluster;
  Calibration none;
  CollectiveLinks nominal = CollectiveLinks::from(ndv4, none);
  ASSERT_EQ(nominal.intra.size(), 1u);
  EXPECT_EQ(nominal.intra[0].bandwidth, ndv4.intra.bandwidth);
  EXPECT_EQ(nominal.inter[0].latency, ndv4.inter.latency);
  EXPECT_EQ(nominal.overhead_mpi, Seconds(0));

  Calibration cal;
  cal.inter_node.bandwidth = gigabytes_per_second(16);
  cal.intra_node.protocols = {simple(1, 220, 50)};
  cal.launch.single_process = microseconds(5);
  CollectiveLinks l = CollectiveLinks::from(ndv4, cal);
  EXPECT_EQ(l.inter[0].bandwidth, gigabytes_per_second(16));
  EXPECT_EQ(l.inter[0].latency, ndv4.inter.latency);
  EXPECT_EQ(l.intra[0].base_latency, microseconds(50));
  // The MPI overhead was not measured: it takes the single-process one.
  EXPECT_EQ(l.overhead_mpi, microseconds(5));

  // price_hop (link_cost.hpp): the fastest regime, else the nominal link with overrides.
  EXPECT_NEAR(to_microseconds(price_hop(ndv4.intra, cal.intra_node, Bytes(220e3)).time(Bytes(220e3))), 1 + 1, 1e-9);
  EXPECT_NEAR(to_microseconds(price_hop(ndv4.inter, cal.inter_node, Bytes(16e3)).time(Bytes(16e3))),
              to_microseconds(ndv4.inter.latency) + 1, 1e-9);
}

TEST(CollectiveModel, PredictedRowsFollowNcclTestsDefinitions) {
  CollectiveLinks l;
  l.intra = {simple(1, 100)};
  l.inter = l.intra;
  RingCollectiveModel m(l);
  auto s = shape(NcclCollective::all_reduce, 4, 4);
  CollectiveRow r = predict_row(m, s, Bytes(4e8));
  EXPECT_EQ(r.count, 100000000);
  EXPECT_NEAR(r.algbw_GBps, 4e8 / r.time.value() * 1e-9, 1e-12);
  EXPECT_NEAR(r.busbw_GBps, r.algbw_GBps * 1.5, 1e-12);
}

}  // namespace
}  // namespace xattn
