// The collective model's choice between NCCL's ring and tree against NCCL's own tuning
// model, at the sizes and scales of the nccl-tests fixtures (8 B to 16 GiB; 2, 4, 8 GPUs in
// one NDv4 node, 16 to 128 GPUs on 2 to 16 nodes).
//
// The reference below is NCCL's model as NVIDIA/nccl src/graph/tuning.cc (2.18/2.19)
// computes it for all-reduce — ncclTopoTuneModel's latency and bandwidth per algorithm and
// protocol, ncclTopoGetAlgoTime's time — written out here from its description in
// docs/calibration.md, for an NDv4-like machine: ring and tree graphs of 8 channels at
// 24 GB/s each, an Ampere GPU, an Intel CPU. Our model is given the same figures (the
// ring's bus bandwidth per protocol as regime bandwidths, NCCL's hop latencies and base
// latencies). The two are not the same formula — NCCL's tree has its own bandwidth caps and
// intra-node step latencies, its inter-node rings pay a proxy overhead per step, and its
// ring Simple pays 1.4x latency across nodes — so near a crossover they may pick
// differently; wherever NCCL's own model prefers one algorithm clearly, ours must pick it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "model/collective_model.hpp"
#include "model/link_cost.hpp"

namespace xattn {
namespace {

constexpr int kChannels = 8;
constexpr double kChannelBw = 24.0;  // GB/s per channel, inside and across nodes
constexpr int kPerNode = 8;

// NCCL 2.18/2.19 tables (us, GB/s); protocol order LL, LL128, Simple.
constexpr double kBaseTree[3] = {6.8, 14.0, 0};
constexpr double kBaseRing[3] = {6.6, 14.0, 8.4};
constexpr double kNvlTree[3] = {0.6, 1.25, 4.0};
constexpr double kNvlRing[3] = {0.6, 1.9, 3.4};
constexpr double kNetTree[3] = {5.0, 8.5, 14.0};
constexpr double kNetRing[3] = {2.7, 4.0, 14.0};
constexpr double kLlMaxBw[3] = {87.7, 39.0, 20.4};  // Ampere in one node; Intel CPU at 2 and 4+ nodes
constexpr double kPerChTreeBw[3] = {24.0, 23.6, 17.8};  // Ampere, 1 / 2 / 4+ nodes
constexpr double kPerChLl128Bw = 20.0;
constexpr double kTreeCorrection[3][23] = {
    {1.0, 1.0, 1.0, 1.0, .9, .8, .7, .7, .7, .7, .6, .5, .4, .4, .5, .6, .7, .8, .9, 1.0, 1.0, 1.0, 1.0},
    {1.0, 1.0, 1.0, 1.0, 1.0, .9, .8, .8, .8, .7, .6, .6, .6, .6, .6, .6, .8, .9, .9, .9, .9, 1.0, 1.0},
    {.9, .9, .9, .9, .9, .9, .9, .8, .7, .6, .6, .5, .5, .5, .5, .6, .7, .8, .7, .7, .8, .9, .9}};

int log2i(double v) {
  int l = 0;
  while (v >= 2) {
    v /= 2;
    ++l;
  }
  return l;
}

// The ring's bus bandwidth per protocol in NCCL's model, GB/s.
double ring_bus_bw(int p, int nodes) {
  const double bus = kChannels * kChannelBw;
  const int scale = nodes <= 2 ? nodes - 1 : 2;
  if (p == 0) return std::min(kLlMaxBw[scale], bus / 4);
  if (p == 1) return std::min(bus * 0.92, kChannels * kPerChLl128Bw);
  return bus;
}

struct Choice {
  Algorithm algorithm = Algorithm::ring;
  double best_ring = std::numeric_limits<double>::infinity();  // us
  double best_tree = std::numeric_limits<double>::infinity();
};

// NCCL's predicted time of an all-reduce of `bytes` on n ranks, per algorithm and protocol.
Choice nccl_choice(int n, double bytes) {
  const int nodes = (n + kPerNode - 1) / kPerNode;
  const int ppn = n / nodes;
  const int scale = nodes <= 2 ? nodes - 1 : 2;
  const double bus = kChannels * kChannelBw;
  const int nsteps = 2 * (n - 1);
  const int inter_steps = nodes > 1 ? 2 * nodes : 0;
  Choice c;
  for (int p = 0; p < 3; ++p) {
    // Ring.
    double ring_bw = ring_bus_bw(p, nodes) * n / nsteps;
    const double net_overhead = nodes > 1 ? (p == 2 ? 3.0 : 1.0) : 0.0;
    double ring_lat = kBaseRing[p] + (nsteps - inter_steps) * std::max(kNvlRing[p], net_overhead) +
                      inter_steps * kNetRing[p];
    if (p == 2 && nodes > 1 && bytes / (kChannels * n) >= 64) ring_lat *= 1.4;  // plateau
    c.best_ring = std::min(c.best_ring, ring_lat + bytes / (1000 * ring_bw));
    // Tree.
    double tree_bus = std::min(bus * 0.92, kChannels * kPerChTreeBw[scale]);
    if (p == 0) tree_bus = std::min(tree_bus / 3.8, kLlMaxBw[scale]);
    if (p == 1) tree_bus = std::min(tree_bus * (nodes == 1 ? 7.0 / 9.0 : 120.0 / 128.0), kChannels * kPerChLl128Bw);
    double tree_bw = tree_bus * 0.5;
    const int l = log2i(std::floor(bytes / 64));
    if (l < 23) tree_bw *= kTreeCorrection[p][l];
    const double tree_lat = kBaseTree[p] + 2 * ((ppn - 1) * kNvlTree[p] + log2i(nodes) * kNetTree[p]);
    c.best_tree = std::min(c.best_tree, tree_lat + bytes / (1000 * tree_bw));
  }
  c.algorithm = c.best_tree < c.best_ring ? Algorithm::tree : Algorithm::ring;
  return c;
}

// Our model with NCCL's figures for this node count: each protocol's ring bus bandwidth
// per GPU inside a node and per NIC (8 per node) across, NCCL's ring hop latencies, tree
// level latencies and ring base latencies.
CollectiveLinks nccl_figures(int nodes) {
  CollectiveLinks l;
  const Protocol protocols[3] = {Protocol::ll, Protocol::ll128, Protocol::simple};
  for (int p = 0; p < 3; ++p) {
    const double bw = ring_bus_bw(p, nodes);
    l.intra.push_back({protocols[p], microseconds(kNvlRing[p]), gigabytes_per_second(bw), microseconds(kBaseRing[p])});
    ProtocolRegime across{protocols[p], microseconds(kNetRing[p]), gigabytes_per_second(bw / kPerNode),
                          microseconds(kBaseRing[p])};
    across.tree_latency = microseconds(kNetTree[p]);
    l.inter.push_back(across);
  }
  return l;
}

TEST(NcclTuning, RingOrTreeAsNcclsOwnModelChoosesAtTheFixturesSizesAndScales) {
  int compared = 0, near_crossover = 0, trees = 0;
  for (int n : {2, 4, 8, 16, 32, 64, 128}) {
    const int nodes = (n + kPerNode - 1) / kPerNode;
    NcclCollectiveModel ours(nccl_figures(nodes));
    CollectiveShape s;
    s.op = NcclCollective::all_reduce;
    s.gpus = n;
    s.gpus_per_node = std::min(n, kPerNode);
    s.nics_per_node = kPerNode;
    s.launch = nodes > 1 ? LaunchMode::mpi : LaunchMode::single_process;
    for (int e = 3; e <= 34; ++e) {
      const double bytes = std::ldexp(1.0, e);
      const Choice nccl = nccl_choice(n, bytes);
      const double margin = std::max(nccl.best_ring, nccl.best_tree) / std::min(nccl.best_ring, nccl.best_tree);
      SCOPED_TRACE(testing::Message() << n << " GPUs, " << bytes << " B: NCCL ring " << nccl.best_ring << " us, tree "
                                      << nccl.best_tree << " us");
      if (nodes == 1) {
        // NCCL's own model never prefers the chain its tree is inside one node; ours has none.
        EXPECT_EQ(nccl.algorithm, Algorithm::ring);
        EXPECT_EQ(ours.estimate(s, Bytes(bytes)).algorithm, Algorithm::ring);
        continue;
      }
      if (margin < 1.3) {
        ++near_crossover;
        continue;
      }
      ++compared;
      trees += nccl.algorithm == Algorithm::tree;
      EXPECT_EQ(ours.estimate(s, Bytes(bytes)).algorithm, nccl.algorithm);
    }
  }
  // Most points are clear-cut, and both algorithms occur among them.
  EXPECT_GT(compared, 2 * near_crossover);
  EXPECT_GT(trees, 10);
  EXPECT_GT(compared - trees, 10);
}

TEST(NcclTuning, TheTreeWinsSmallAndMediumSizesAcrossNodesAndTheRingLargeOnes) {
  // In NCCL's model and ours: at 16 to 128 GPUs the tree below 1 MiB, the ring at 1 GiB.
  for (int n : {16, 32, 64, 128}) {
    const int nodes = n / kPerNode;
    NcclCollectiveModel ours(nccl_figures(nodes));
    CollectiveShape s;
    s.op = NcclCollective::all_reduce;
    s.gpus = n;
    s.gpus_per_node = kPerNode;
    s.nics_per_node = kPerNode;
    s.launch = LaunchMode::mpi;
    for (double small : {1024.0, 65536.0}) {
      EXPECT_EQ(nccl_choice(n, small).algorithm, Algorithm::tree) << n << " " << small;
      EXPECT_EQ(ours.estimate(s, Bytes(small)).algorithm, Algorithm::tree) << n << " " << small;
    }
    EXPECT_EQ(nccl_choice(n, 1073741824.0).algorithm, Algorithm::ring) << n;
    EXPECT_EQ(ours.estimate(s, Bytes(1073741824.0)).algorithm, Algorithm::ring) << n;
  }
}

}  // namespace
}  // namespace xattn
