// The executor on schedules small enough to time by hand: rendezvous transfers, transfer
// groups, ring all-gather and reduce-scatter, all-to-all, the critical path, deadlock
// detection, and bit-for-bit reproducibility (also when the schedule and the topology are
// set up in a different order, and with seeded compute jitter).
#include <algorithm>
#include <vector>

#include <gtest/gtest.h>

#include "model/presets.hpp"
#include "model/schedule/builders.hpp"
#include "sim/executor.hpp"
#include "tests/sim/sim_test_util.hpp"

namespace xattn::sim {
namespace {

using test::copy_op;
using test::empty_schedule;
using test::unit_cost;
using test::us;

// Two GPUs joined by one link each way: 1 GB/s, 1 us latency.
Topology pair_topology(bool reversed = false) {
  Topology t(2);
  Link a{"0->1", gigabytes_per_second(1), Time::ps(us), LinkClass::intra_node};
  Link b{"1->0", gigabytes_per_second(1), Time::ps(us), LinkClass::intra_node};
  int la = 0, lb = 0;
  if (reversed) {
    lb = t.add_link(b);
    la = t.add_link(a);
  } else {
    la = t.add_link(a);
    lb = t.add_link(b);
  }
  t.set_route(0, 1, {la});
  t.set_route(1, 0, {lb});
  return t;
}

// Rank 0 computes x (1 us), sends it (1 MB) to rank 1, which then computes on it (2 us).
Schedule compute_send_compute(bool rank1_first) {
  Schedule s = empty_schedule(2);
  ProgramBuilder b(s);
  auto rank0 = [&] {
    b.compute(0, copy_op("in", "x", 1e6), 0, "make x");
    b.send(0, 1, "x", {{"x", Bytes(1e6)}}, comm_stream(0), -1, 0);
  };
  auto rank1 = [&] {
    b.recv(1, 0, "x", {{"x", Bytes(1e6)}}, comm_stream(0), -1, 0);
    b.compute(1, copy_op("x", "y", 2e6), 0, "use x");
  };
  if (rank1_first) {
    rank1();
    rank0();
  } else {
    rank0();
    rank1();
  }
  return s;
}

TEST(Executor, RendezvousTransferWaitsForBothSides) {
  // The send is posted at 1 us (after its compute); the recv at 0. The transfer takes
  // 1 us + 1e6 B / 1e9 B/s = 1001 us, from 1 us to 1002 us; rank 1's compute then runs
  // 2 us: makespan 1004 us.
  auto net = make_network(NetworkModel::flow, pair_topology(), nullptr);
  Schedule s = compute_send_compute(false);
  Timeline t = execute(s, *net, unit_cost());
  EXPECT_EQ(t.at({0, 0}).end, Time::ps(1 * us));
  EXPECT_EQ(t.at({0, 1}).posted, Time::ps(1 * us));
  EXPECT_EQ(t.at({1, 0}).posted, Time());
  EXPECT_EQ(t.at({1, 0}).start, Time::ps(1 * us));
  EXPECT_EQ(t.at({1, 0}).end, Time::ps(1002 * us));
  EXPECT_EQ(t.at({1, 1}).end, Time::ps(1004 * us));
  EXPECT_EQ(t.makespan, Time::ps(1004 * us));
  EXPECT_EQ(t.compute_busy[0], Time::ps(1 * us));
  EXPECT_EQ(t.compute_busy[1], Time::ps(2 * us));
  EXPECT_EQ(t.max_compute_busy(), Time::ps(2 * us));
  EXPECT_EQ(t.exposed_comm(), Time::ps(1002 * us));
  // Critical path: make x -> send -> recv -> use x.
  ASSERT_EQ(t.critical_path.size(), 4u);
  EXPECT_EQ(t.critical_path[0].op, (OpId{0, 0}));
  EXPECT_EQ(t.critical_path[1].op, (OpId{0, 1}));
  EXPECT_EQ(t.critical_path[2].op, (OpId{1, 0}));
  EXPECT_EQ(t.critical_path[3].op, (OpId{1, 1}));
  EXPECT_EQ(t.critical_path[1].link, 0);  // the send crossed link "0->1"
  EXPECT_DOUBLE_EQ(t.links[0].bytes, 1e6);
  EXPECT_EQ(t.links[0].busy, Time::ps(1000 * us));  // the latency phase does not occupy the link
  EXPECT_FALSE(t.link_shared);
}

TEST(Executor, SameResultWhateverOrderTheSetupWasDoneIn) {
  // The same schedule with rank 1's program written first, and the topology with its
  // links created in the other order: every op time is identical, bit for bit.
  auto net_a = make_network(NetworkModel::flow, pair_topology(false), nullptr);
  auto net_b = make_network(NetworkModel::flow, pair_topology(true), nullptr);
  Timeline a = execute(compute_send_compute(false), *net_a, unit_cost());
  Timeline b = execute(compute_send_compute(true), *net_b, unit_cost());
  ASSERT_EQ(a.ops.size(), b.ops.size());
  for (std::size_t r = 0; r < a.ops.size(); ++r)
    for (std::size_t i = 0; i < a.ops[r].size(); ++i) {
      EXPECT_EQ(a.ops[r][i].posted, b.ops[r][i].posted);
      EXPECT_EQ(a.ops[r][i].start, b.ops[r][i].start);
      EXPECT_EQ(a.ops[r][i].end, b.ops[r][i].end);
    }
  EXPECT_EQ(a.makespan, b.makespan);
  EXPECT_EQ(a.events, b.events);
}

TEST(Executor, GroupedExchangeDoesNotDeadlock) {
  // Both ranks send 1 MB to each other and receive, grouped on one stream: both transfers
  // run at once on their own links, 1 us + 1 ms each. Without the group (send first,
  // then recv, on one in-order stream, strict rendezvous) neither recv is ever posted: the
  // simulator reports the deadlock.
  for (bool grouped : {true, false}) {
    Schedule s = empty_schedule(2);
    ProgramBuilder b(s);
    for (int r = 0; r < 2; ++r) {
      const int g = grouped ? b.next_group(r) : -1;
      b.send(r, 1 - r, "to" + std::to_string(1 - r), {{"mine", Bytes(1e6)}}, comm_stream(0), g, 0);
      b.recv(r, 1 - r, "to" + std::to_string(r), {{"theirs", Bytes(1e6)}}, comm_stream(0), g, 0);
    }
    auto net = make_network(NetworkModel::flow, pair_topology(), nullptr);
    if (grouped) {
      Timeline t = execute(s, *net, unit_cost());
      EXPECT_EQ(t.makespan, Time::ps(1001 * us));
      EXPECT_EQ(t.at({0, 1}).end, Time::ps(1001 * us));
    } else {
      EXPECT_THROW((void)execute(s, *net, unit_cost()), SimulationError);
    }
  }
}

TEST(Executor, UnmatchedSendIsReported) {
  Schedule s = empty_schedule(2);
  ProgramBuilder b(s);
  b.send(0, 1, "lonely", {{"x", Bytes(1)}}, comm_stream(0), -1, 0);
  auto net = make_network(NetworkModel::flow, pair_topology(), nullptr);
  EXPECT_THROW((void)execute(s, *net, unit_cost()), SimulationError);
}

// A cluster of one node with 4 GPUs on an NVLink switch: 100 GB/s per port and
// direction, 2 us latency.
Cluster four_gpus() {
  Cluster c;
  c.nodes = 1;
  c.gpus_per_node = 4;
  c.intra_kind = IntraFabric::nvlink_switch;
  c.intra = LinkSpec{gigabytes_per_second(100), microseconds(2)};
  c.inter = LinkSpec{gigabytes_per_second(25), microseconds(5)};
  c.gpu.hbm = BytesPerSecond(1e12);
  c.gpu.peak_fp16 = FlopsPerSecond(1e15);
  return c;
}

Schedule one_collective(CollectiveKind kind, double bytes_per_peer) {
  Schedule s = empty_schedule(4);
  ProgramBuilder b(s);
  for (int r = 0; r < 4; ++r) {
    CollectiveOp c;
    c.kind = kind;
    c.group = {0, 1, 2, 3};
    c.tag = "c";
    c.input = "in";
    c.output = "out";
    for (int j = 0; j < 4; ++j) c.bytes_to.push_back(Bytes(j == r ? 0.0 : bytes_per_peer));
    b.collective(r, std::move(c), comm_stream(0), -1, "collective");
  }
  return s;
}

TEST(Executor, RingAllGatherAndReduceScatterTakePMinusOneSteps) {
  // Ring over 4 GPUs, 1 MB pieces: 3 steps, each one hop of 2 us + 1e6 / 1e11 s = 12 us;
  // every port carries one flow at a time. 36 us, for both collectives.
  for (CollectiveKind k : {CollectiveKind::all_gather, CollectiveKind::reduce_scatter}) {
    Calibration cal;
    Timeline t = simulate(one_collective(k, 1e6), four_gpus(), cal);
    EXPECT_EQ(t.makespan, Time::ps(36 * us)) << to_string(k);
    for (int r = 0; r < 4; ++r) EXPECT_EQ(t.at({r, 0}).end, Time::ps(36 * us));
    EXPECT_FALSE(t.link_shared);
    // Each up-port carried 3 pieces.
    EXPECT_DOUBLE_EQ(t.links[0].bytes, 3e6);
  }
}

TEST(Executor, ACollectivePaysItsRegimesBaseLatencyOnce) {
  // The ring all-gather above (3 steps of 2 us + 1e6 B / 100 GB/s = 12 us: 36 us), with
  // one calibrated Simple regime of the same hop figures and a 20 us base latency, the
  // once-per-collective cost of NCCL's model (calibration.hpp, ProtocolRegime): 56 us on
  // every member. All-to-all (32 us above) likewise: 52 us.
  Calibration cal;
  cal.intra_node.protocols = {ProtocolRegime{Protocol::simple, microseconds(2), gigabytes_per_second(100), microseconds(20)}};
  Timeline t = simulate(one_collective(CollectiveKind::all_gather, 1e6), four_gpus(), cal);
  EXPECT_EQ(t.makespan, Time::ps(56 * us));
  for (int r = 0; r < 4; ++r) EXPECT_EQ(t.at({r, 0}).end, Time::ps(56 * us));
  Timeline a = simulate(one_collective(CollectiveKind::all_to_all, 1e6), four_gpus(), cal);
  EXPECT_EQ(a.makespan, Time::ps(52 * us));
  // Without the base latency the regime changes nothing here: 36 us, as without regimes.
  cal.intra_node.protocols.front().base_latency = Seconds(0);
  EXPECT_EQ(simulate(one_collective(CollectiveKind::all_gather, 1e6), four_gpus(), cal).makespan, Time::ps(36 * us));
}

TEST(Executor, RingAllReduceTakesTwiceThePMinusOneSteps) {
  // All-reduce of 4 MB over 4 GPUs: bytes_to = 2·4 MB / 4 = 2 MB per peer; the ring moves
  // 1 MB pieces in 2 x 3 steps of 2 us + 1e6 / 1e11 s = 12 us each: 72 us.
  Calibration cal;
  Timeline t = simulate(one_collective(CollectiveKind::all_reduce, 2e6), four_gpus(), cal);
  EXPECT_EQ(t.makespan, Time::ps(72 * us));
  EXPECT_DOUBLE_EQ(t.links[0].bytes, 6e6);
}

TEST(Executor, AllToAllSharesEachPortThreeWays) {
  // Every GPU sends 1 MB to each of the 3 others at once. Each up-port and down-port
  // carries 3 flows: 100/3 GB/s each, so every flow takes 2 us + 30 us = 32 us
  // (docs/model.md eq. 12 gives the same: 2 us + 3 x 1 MB / 100 GB/s).
  Calibration cal;
  Timeline t = simulate(one_collective(CollectiveKind::all_to_all, 1e6), four_gpus(), cal);
  EXPECT_NEAR(static_cast<double>(t.makespan.ps()), 32.0 * us, 2.0);
  EXPECT_TRUE(t.link_shared);
  EXPECT_EQ(t.links[0].max_flows, 3);
}

AttentionShape small_shape() {
  AttentionShape a;
  a.heads = 8;
  a.kv_heads = 2;
  a.head_dim = 64;
  a.q_tokens = 65536;  // 8192 query rows per rank: compute outweighs the K, V transfers
  a.kv_tokens = 4096;
  return a;
}

Cluster two_nodes() {
  Cluster c = four_gpus();
  c.nodes = 2;
  c.nics_per_node = 4;
  c.gpu.peak_fp16 = teraflops_per_second(312);
  c.gpu.hbm = gigabytes_per_second(2000);
  return c;
}

TEST(Executor, RingWithJitterIsReproducibleAndAStragglerHoldsEveryoneBack) {
  BuildOptions o;
  o.shape = small_shape();
  o.ranks = 8;
  Schedule s = build_schedule(*parse_mechanism("ring"), Pass::fwd_bwd, o);
  Calibration cal;
  SimOptions noisy;
  noisy.jitter = 0.2;
  noisy.seed = 7;
  Timeline a = simulate(s, two_nodes(), cal, noisy);
  Timeline b = simulate(s, two_nodes(), cal, noisy);
  for (std::size_t r = 0; r < a.ops.size(); ++r)
    for (std::size_t i = 0; i < a.ops[r].size(); ++i) ASSERT_EQ(a.ops[r][i].end, b.ops[r][i].end);
  SimOptions other = noisy;
  other.seed = 8;
  EXPECT_NE(simulate(s, two_nodes(), cal, other).makespan, a.makespan);

  // A straggler: rank 3 computes at half speed. In lock step every rank finishes later,
  // and the makespan grows by most of the straggler's extra compute.
  Timeline base = simulate(s, two_nodes(), cal);
  SimOptions slow;
  slow.straggler = 3;
  slow.straggler_factor = 2.0;
  Timeline st = simulate(s, two_nodes(), cal, slow);
  const Time extra = st.compute_busy[3] - base.compute_busy[3];
  EXPECT_GT(st.makespan, base.makespan + Time::ps(extra.ps() / 2));
  for (int r = 0; r < 8; ++r) {
    const auto& ops = st.ops[static_cast<std::size_t>(r)];
    const auto& bops = base.ops[static_cast<std::size_t>(r)];
    EXPECT_GT(ops.back().end, bops.back().end) << "rank " << r;
  }
}

// Rank 0 computes (1e9 bytes touched: 1000 us alone) while it sends 1e5 B to rank 1 on its
// communication stream (1 us + 1e5 B / 1 GB/s = 101 us), both from time 0.
Schedule compute_beside_send() {
  Schedule s = empty_schedule(2);
  ProgramBuilder b(s);
  b.compute(0, copy_op("in", "x", 1e9), 0, "compute");
  b.send(0, 1, "y", {{"y", Bytes(1e5)}}, comm_stream(0), -1, 0);
  b.recv(1, 0, "y", {{"y", Bytes(1e5)}}, comm_stream(0), -1, 0);
  return s;
}

TEST(Executor, CommunicationSlowsOverlappingComputeByTheInterferenceFactor) {
  // Without interference the compute ends at 1000 us. With comm_interference 0.5, compute
  // runs at 1/1.5 of its speed while the send is in flight: by 101 us it has done
  // 101 / 1.5 = 67.333 us of work, and the 932.667 us left run at full speed after the
  // send: it ends at 101 + 932.667 = 1033.667 us. The send itself is not slowed.
  ComputeCostModel cost = unit_cost();
  auto plain_net = make_network(NetworkModel::flow, pair_topology(), nullptr);
  Timeline plain = execute(compute_beside_send(), *plain_net, cost);
  EXPECT_EQ(plain.at({0, 0}).end, Time::ps(1000 * us));
  EXPECT_EQ(plain.at({0, 1}).end, Time::ps(101 * us));

  cost.calibration.comm_interference = 0.5;
  auto net = make_network(NetworkModel::flow, pair_topology(), nullptr);
  Timeline slowed = execute(compute_beside_send(), *net, cost);
  EXPECT_EQ(slowed.at({0, 1}).end, Time::ps(101 * us));
  EXPECT_NEAR(static_cast<double>(slowed.at({0, 0}).end.ps()), 1033.666667 * us, 2.0);
  EXPECT_EQ(slowed.compute_busy[0], slowed.at({0, 0}).end - slowed.at({0, 0}).start);
  EXPECT_EQ(slowed.makespan, slowed.at({0, 0}).end);
  // Rank 1 receives but computes nothing: nothing to slow there.
  EXPECT_EQ(slowed.compute_busy[1], Time());
}

TEST(Executor, InterferenceSlowsRingComputeOnlyWhereItOverlapsTransfers) {
  // A real Ring forward on 4 GPUs: with interference every compute op lasts at least as
  // long as without, at most (1 + f) times as long, and the run ends no earlier.
  Cluster c = find_cluster("dgx-h100")->cluster;
  c.gpus_per_node = 4;
  BuildOptions o;
  o.shape.heads = 32;
  o.shape.kv_heads = 8;
  o.shape.head_dim = 128;
  o.shape.q_tokens = 4096;
  o.shape.kv_tokens = 65536;
  o.ranks = 4;
  const Schedule s = build_schedule(*parse_mechanism("ring"), Pass::fwd, o);
  Calibration cal;
  Timeline plain = simulate(s, c, cal);
  cal.compute.comm_interference = 0.2;
  Timeline slowed = simulate(s, c, cal);
  EXPECT_GT(slowed.makespan, plain.makespan);
  for (int r = 0; r < 4; ++r)
    for (std::size_t i = 0; i < s.programs[static_cast<std::size_t>(r)].ops.size(); ++i) {
      if (s.programs[static_cast<std::size_t>(r)].ops[i].kind() != OpKind::compute) continue;
      const OpId id{r, static_cast<int>(i)};
      const double a = static_cast<double>((plain.at(id).end - plain.at(id).start).ps());
      const double b = static_cast<double>((slowed.at(id).end - slowed.at(id).start).ps());
      EXPECT_GE(b, a - 1.0) << id.str();
      EXPECT_LE(b, 1.2 * a + 1.0) << id.str();
    }
}

}  // namespace
}  // namespace xattn::sim
