// The collective model worked by hand: the ring's step counts and the hops a chunk crosses
// between nodes, NCCL's tree across nodes, bytes on the wire, which link class gates, NIC
// sharing, the host's launch work against the GPUs', protocol and algorithm choice, lone
// messages, and nccl-tests' size/busbw definitions; nccl_choice, the tuner's walk both
// engines choose through, on made-up GPU times.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

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
  NcclCollectiveModel m(l);
  // 8 GPUs: 2(n-1) = 14 hops; each rank sends 2(n-1)/n = 1.75 of the buffer:
  // 10 + 14 * 2 = 38 us fixed, 1.75e8 B / 100 GB/s = 1750 us. The host's 5 us overlap it.
  CollectiveEstimate e = m.estimate(shape(NcclCollective::all_reduce, 8, 8), Bytes(1e8));
  EXPECT_NEAR(to_microseconds(e.time), 38 + 1750, 1e-9);
  EXPECT_EQ(e.bottleneck, LinkClass::intra_node);
  EXPECT_EQ(e.algorithm, Algorithm::ring);  // no tree inside one node
  EXPECT_FALSE(e.host_bound);
  // All-gather: n-1 = 7 hops and 7/8 of the (total) buffer.
  EXPECT_NEAR(to_microseconds(m.estimate(shape(NcclCollective::all_gather, 8, 8), Bytes(1e8)).time),
              10 + 7 * 2 + 875, 1e-9);
  // Broadcast: a chain of n-1 hops moving the whole buffer.
  EXPECT_NEAR(to_microseconds(m.estimate(shape(NcclCollective::broadcast, 8, 8), Bytes(1e8)).time),
              10 + 7 * 2 + 1000, 1e-9);
  // One rank: nothing moves, the call still costs the host its launch.
  EXPECT_NEAR(to_microseconds(m.estimate(shape(NcclCollective::all_reduce, 1, 1), Bytes(1e8)).time), 5, 1e-12);
}

TEST(CollectiveModel, ACallTakesTheLongerOfTheHostAndTheGpus) {
  // One process launching on each of its GPUs in turn: 5 us + 6 us per GPU. On 8 GPUs the
  // host needs 53 us, more than the GPUs' 38 us for 8 B: the call is host-bound. Launched by
  // MPI (one process per GPU) the host needs 5 + 6 = 11 us and the GPUs' 38 us show.
  CollectiveLinks l;
  l.intra = {simple(2, 100, 10)};
  l.inter = l.intra;
  l.overhead_single_process = microseconds(5);
  l.overhead_mpi = microseconds(5);
  l.overhead_per_gpu = microseconds(6);
  NcclCollectiveModel m(l);
  CollectiveEstimate e = m.estimate(shape(NcclCollective::all_reduce, 8, 8), Bytes(8));
  EXPECT_NEAR(to_microseconds(e.time), 53, 1e-9);
  EXPECT_TRUE(e.host_bound);
  CollectiveEstimate mpi = m.estimate(shape(NcclCollective::all_reduce, 8, 8, LaunchMode::mpi), Bytes(8));
  EXPECT_NEAR(to_microseconds(mpi.time), 38 + 1.75 * 8 / 1e5, 1e-9);
  EXPECT_FALSE(mpi.host_bound);
}

TEST(CollectiveModel, RingAcrossNodesIsGatedByTheNicsTogether) {
  CollectiveLinks l;
  l.intra = {simple(2, 300)};
  l.inter = {simple(1, 20)};
  l.overhead_mpi = microseconds(30);
  NcclCollectiveModel m(l);
  // 16 GPUs on 2 nodes, 8 NICs each. A chunk's path of 30 hops crosses ceil(30 * 2 / 16) =
  // 4 node boundaries: 26 hops at 2 us and 4 at 1 us, 56 us. 1.875e9 B per rank through 8
  // NICs of 20 GB/s = 11718.75 us (the NVLink part, 6250 us, hides under it). The host's
  // 30 us overlap. NCCL's tree: over 2 nodes each of the two trees is a root and a leaf, so
  // a node's NICs carry S = 1e9 B each way, 6250 us; the chain inside the node, 2e9 B
  // through one GPU's 300 GB/s, 6667 us, gates; over the tree's 0.92: 7246.4 us, plus
  // 2(7 x 2 + 1 x 1) = 30 us. Faster than the ring, but NCCL's tuner counts 2S through the
  // NICs (2e9 / (8 x 20 GB/s x 0.92) = 13587 us, + 30) and runs the ring: so does the model.
  auto s = shape(NcclCollective::all_reduce, 16, 8, LaunchMode::mpi);
  CollectiveEstimate e = m.estimate(s, Bytes(1e9));
  EXPECT_EQ(e.bottleneck, LinkClass::inter_node);
  EXPECT_EQ(e.algorithm, Algorithm::ring);
  EXPECT_NEAR(to_microseconds(e.time), 56 + 11718.75, 1e-6);
  EXPECT_NEAR(to_microseconds(m.time_with(s, Bytes(1e9), Algorithm::tree, Protocol::simple)), 30 + 2e9 / 300e3 / 0.92,
              1e-6);
  EXPECT_NEAR(to_microseconds(gpu_time(l, s, Bytes(1e9), Algorithm::tree, Protocol::simple, true)), 30 + 12500 / 0.92,
              1e-6);
  // The bytes through a node's NICs: S over 2 nodes, 1.5 S over 3, 2 S from 4 on; the tuner
  // counts 2 S everywhere.
  for (const auto& [nodes, load] : {std::pair{2, 1.0}, {3, 1.5}, {4, 2.0}, {16, 2.0}}) {
    const CollectiveTerms t = collective_terms(shape(NcclCollective::all_reduce, 8 * nodes, 8), Bytes(1e6),
                                               Algorithm::tree, Protocol::simple);
    EXPECT_DOUBLE_EQ(t.wire.value(), 1e6 * load) << nodes;
    ASSERT_TRUE(t.tuner_wire);
    EXPECT_DOUBLE_EQ(t.tuner_wire->value(), 2e6) << nodes;
  }
  // With half the NICs the inter-node part takes twice as long.
  s.nics_per_node = 4;
  EXPECT_NEAR(to_microseconds(m.estimate(s, Bytes(1e9)).time), 56 + 23437.5, 1e-6);
  // If NVLink were the slower (100 GB/s per GPU: 18750 us), it would gate instead.
  l.intra = {simple(2, 100)};
  NcclCollectiveModel slow_nvlink(l);
  s.nics_per_node = 8;
  EXPECT_NEAR(to_microseconds(slow_nvlink.estimate(s, Bytes(1e9)).time), 56 + 18750, 1e-6);
  // Busbw of a ring across nodes does not fall with more nodes: the same per-rank rate.
  auto s4 = shape(NcclCollective::all_reduce, 32, 8, LaunchMode::mpi);
  double busbw16 = predict_row(m, s, Bytes(16e9)).busbw_GBps;
  double busbw32 = predict_row(m, s4, Bytes(16e9)).busbw_GBps;
  EXPECT_NEAR(busbw32 / busbw16, 1.0, 0.01);
  EXPECT_NEAR(busbw16, 160, 1.0);  // 8 NICs x 20 GB/s
}

TEST(CollectiveModel, TreeAcrossNodesByHand) {
  // LL only: inside 0.5 us per hop at 20 GB/s, across 3 us per ring hop and 10 us per tree
  // level at 5 GB/s per NIC; base 6 us (the tree's 6.2: NCCL's baseLat differ by 0.2 us).
  CollectiveLinks l;
  l.intra = {{Protocol::ll, microseconds(0.5), gigabytes_per_second(20), microseconds(6)}};
  ProtocolRegime across{Protocol::ll, microseconds(3), gigabytes_per_second(5), microseconds(6)};
  across.tree_latency = microseconds(10);
  l.inter = {across};
  NcclCollectiveModel m(l);
  // 32 GPUs on 4 nodes, 8 KiB. Tree: 6.2 + 2 (7 x 0.5 + 2 x 10) = 53.2 us; the wire, 2 x 8192 B
  // through one GPU's 20 GB/s (slower than 8 NICs x 5 GB/s), 0.8192 us, over NCCL's
  // efficiency for LL at 8 KiB, 0.92 x 0.7: 1.27205 us. Ring: 62 hops, ceil(62 x 4 / 32) = 8
  // of them between nodes: 6 + 54 x 0.5 + 8 x 3 = 57 us, plus 0.79 us of wire. The tree wins.
  auto s = shape(NcclCollective::all_reduce, 32, 8, LaunchMode::mpi);
  EXPECT_NEAR(tree_efficiency(Protocol::ll, Bytes(8192)), 0.92 * 0.7, 1e-12);
  EXPECT_NEAR(to_microseconds(m.time_with(s, Bytes(8192), Algorithm::tree, Protocol::ll)), 53.2 + 0.8192 / 0.644, 1e-9);
  EXPECT_NEAR(to_microseconds(m.time_with(s, Bytes(8192), Algorithm::ring, Protocol::ll)), 57 + 0.7936, 1e-9);
  CollectiveEstimate e = m.estimate(s, Bytes(8192));
  EXPECT_EQ(e.algorithm, Algorithm::tree);
  // The tree's latency grows by one level up and one down per doubling of nodes: 20 us;
  // the ring's by the hops of the longer ring.
  auto s64 = shape(NcclCollective::all_reduce, 64, 8, LaunchMode::mpi);
  EXPECT_NEAR(to_microseconds(m.time_with(s64, Bytes(8192), Algorithm::tree, Protocol::ll) -
                              m.time_with(s, Bytes(8192), Algorithm::tree, Protocol::ll)),
              20, 1e-9);
  // No tree inside one node, nor for the other collectives.
  EXPECT_FALSE(std::isfinite(m.time_with(shape(NcclCollective::all_reduce, 8, 8), Bytes(8192), Algorithm::tree,
                                         Protocol::ll).value()));
  EXPECT_FALSE(std::isfinite(m.time_with(shape(NcclCollective::all_gather, 32, 8), Bytes(8192), Algorithm::tree,
                                         Protocol::ll).value()));
}

TEST(CollectiveModel, RingPathCrossesEachNodeBoundaryOfEachRevolution) {
  // A chunk's 2(n-1) hops go twice round the ring less two hops: ceil(2(n-1) N / n) of
  // them cross nodes, 2N for NCCL's all-reduce; n-1 hops of all-gather cross ceil((n-1) N / n).
  for (int nodes : {2, 4, 16}) {
    auto s = shape(NcclCollective::all_reduce, 8 * nodes, 8);
    CollectiveTerms t = collective_terms(s, Bytes(1e6));
    EXPECT_EQ(t.inter_hops, 2 * nodes);
    EXPECT_EQ(t.intra_hops + t.inter_hops, 2 * (8 * nodes - 1));
    CollectiveTerms g = collective_terms(shape(NcclCollective::all_gather, 8 * nodes, 8), Bytes(1e6));
    EXPECT_EQ(g.inter_hops, nodes);
  }
  EXPECT_EQ(collective_terms(shape(NcclCollective::all_reduce, 8, 8), Bytes(1e6)).inter_hops, 0);
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

TEST(CollectiveModel, LoneMessagesAreTheirOwnRegimesOrDerived) {
  // Derived from the collective regimes: the smallest base latency (LL's 4 us: a kernel's
  // fixed cost), one hop, and the local traffic with the wire; LL128 is not one of
  // send/recv's protocols.
  ProtocolRegime ll{Protocol::ll, microseconds(1), gigabytes_per_second(10), microseconds(4)};
  ProtocolRegime ll128{Protocol::ll128, microseconds(1), gigabytes_per_second(50), microseconds(9)};
  ProtocolRegime sim = simple(2, 200, 30);
  sim.local_bandwidth = gigabytes_per_second(800);
  LinkCalibration cal;
  cal.protocols = {ll, ll128, sim};
  const LinkSpec link{gigabytes_per_second(300), microseconds(5)};
  std::vector<ProtocolRegime> derived = message_regimes(cal.p2p, cal.protocols);
  ASSERT_EQ(derived.size(), 2u);
  EXPECT_EQ(derived[1].protocol, Protocol::simple);
  EXPECT_NEAR(to_microseconds(derived[1].latency), 4 + 2, 1e-12);
  EXPECT_NEAR(to_gigabytes_per_second(derived[1].bandwidth), 1 / (1 / 200.0 + 1 / 800.0), 1e-9);
  // 1 MB: LL 5 + 100 us; Simple 6 + 1e6 / 160 GB/s = 12.25 us.
  HopPrice p = price_message(link, cal, Bytes(1e6));
  EXPECT_EQ(p.protocol, Protocol::simple);
  EXPECT_NEAR(to_microseconds(p.time(Bytes(1e6))), 12.25, 1e-9);
  EXPECT_EQ(p.base_latency, Seconds(0));
  // Calibrated lone-message regimes (from sendrecv logs) are taken as they are.
  cal.p2p = {ProtocolRegime{Protocol::simple, microseconds(9), gigabytes_per_second(100), Seconds(0)}};
  EXPECT_NEAR(to_microseconds(price_message(link, cal, Bytes(1e6)).time(Bytes(1e6))), 9 + 10, 1e-9);
  // sendrecv in the collective model reads the same regimes: one message per rank.
  CollectiveLinks l;
  l.intra = cal.protocols;
  l.inter = cal.protocols;
  l.intra_p2p = cal.p2p;
  NcclCollectiveModel m(l);
  CollectiveEstimate e = m.estimate(shape(NcclCollective::sendrecv, 8, 8), Bytes(1e6));
  EXPECT_EQ(e.algorithm, Algorithm::p2p);
  EXPECT_NEAR(to_microseconds(e.time), 19, 1e-9);
  // Without any calibration a lone message is the link itself, as price_hop prices it.
  LinkCalibration none;
  EXPECT_EQ(price_message(link, none, Bytes(4096)).time(Bytes(4096)), price_hop(link, none, Bytes(4096)).time(Bytes(4096)));
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
  EXPECT_EQ(nominal.overhead_per_gpu, Seconds(0));

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

TEST(CollectiveModel, NcclChoiceTakesTheFirstSmallestGpuTimeAgainstTheHost) {
  // A made-up GPU time per (algorithm, protocol): 10 us everywhere but tree/LL128 and
  // p2p/Simple at 4 us (a tie: tree is tried first, so it wins) and ring/Simple at 6 us.
  auto gpu = [](Algorithm a, Protocol p) {
    if ((a == Algorithm::tree && p == Protocol::ll128) || (a == Algorithm::p2p && p == Protocol::simple))
      return microseconds(4);
    if (a == Algorithm::ring && p == Protocol::simple) return microseconds(6);
    return microseconds(10);
  };
  const CollectiveShape across = shape(NcclCollective::all_reduce, 16, 8);
  const CollectiveEstimate e = nccl_choice(across, microseconds(1), gpu, gpu);
  EXPECT_EQ(e.algorithm, Algorithm::tree);
  EXPECT_EQ(e.protocol, Protocol::ll128);
  EXPECT_NEAR(e.time.value(), 4e-6, 1e-15);
  EXPECT_FALSE(e.host_bound);
  EXPECT_EQ(e.bottleneck, LinkClass::inter_node);  // 2 nodes
  // Simple forced (NCCL_PROTO): the tie's other half, p2p at 4 us, beats ring's 6 us.
  const CollectiveEstimate simple_only = nccl_choice(across, microseconds(1), gpu, gpu, Protocol::simple);
  EXPECT_EQ(simple_only.algorithm, Algorithm::p2p);
  EXPECT_NEAR(simple_only.time.value(), 4e-6, 1e-15);
  // A host slower than every GPU time: the call is the host's 20 us, host-bound.
  const CollectiveEstimate slow_host = nccl_choice(shape(NcclCollective::all_gather, 8, 8), microseconds(20), gpu, gpu);
  EXPECT_NEAR(slow_host.time.value(), 20e-6, 1e-15);
  EXPECT_TRUE(slow_host.host_bound);
  EXPECT_EQ(slow_host.bottleneck, LinkClass::intra_node);  // one node
  // Nothing runs (every time infinite): infinity, and a sendrecv reports p2p.
  const auto never = [](Algorithm, Protocol) { return Seconds(std::numeric_limits<double>::infinity()); };
  const CollectiveEstimate none = nccl_choice(shape(NcclCollective::sendrecv, 2, 2), microseconds(1), never, never);
  EXPECT_TRUE(std::isinf(none.time.value()));
  EXPECT_EQ(none.algorithm, Algorithm::p2p);
  // The tuner ranks, the GPUs' time prices: a tuner that counts tree/LL128 at 12 us and
  // p2p/Simple at 8 picks ring/Simple (6 us in its count, as in `gpu`), and the call takes
  // ring/Simple's GPU time, here 7 us, not the 4 us tree/LL128 would have taken.
  auto tuner = [&](Algorithm a, Protocol p) {
    if (a == Algorithm::tree && p == Protocol::ll128) return microseconds(12);
    if (a == Algorithm::p2p && p == Protocol::simple) return microseconds(8);
    return gpu(a, p);
  };
  auto priced = [&](Algorithm a, Protocol p) {
    return a == Algorithm::ring && p == Protocol::simple ? microseconds(7) : gpu(a, p);
  };
  const CollectiveEstimate by_tuner = nccl_choice(across, microseconds(1), priced, tuner, Protocol::ll128);
  EXPECT_EQ(by_tuner.algorithm, Algorithm::ring);  // ring/LL128 10 us < tree/LL128 12 us in the tuner's count
  EXPECT_NEAR(by_tuner.time.value(), 10e-6, 1e-15);
  const CollectiveEstimate any = nccl_choice(across, microseconds(1), priced, tuner);
  EXPECT_EQ(any.algorithm, Algorithm::ring);
  EXPECT_EQ(any.protocol, Protocol::simple);
  EXPECT_NEAR(any.time.value(), 7e-6, 1e-15);
}

}  // namespace
}  // namespace xattn
