// One price for a calibrated hop (model/link_cost.hpp): price_hop picks the protocol regime
// that is fastest for the message size, and the closed form (model/analytic.cpp) and the
// event simulator (sim/network.cpp, plan_transfer) both price a hop with it, so on the
// same calibrated hop they give the same time, in every regime.
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "model/analytic.hpp"
#include "model/link_cost.hpp"
#include "model/presets.hpp"
#include "model/scenario.hpp"
#include "model/schedule/builders.hpp"
#include "sim/executor.hpp"
#include "tests/sim/sim_test_util.hpp"

namespace xattn::sim {
namespace {

// Three regimes, each the fastest for some sizes. With n in bytes and times in us
// (5 GB/s = 5000 B/us):
//   LL     2 us + n / 5000
//   LL128  4 us + n / 20000
//   Simple 10 us + n / 40000
// LL = LL128 where 2 + n/5000 = 4 + n/20000, n·3/20000 = 2: n = 13,333 B;
// LL128 = Simple where 4 + n/20000 = 10 + n/40000, n/40000 = 6: n = 240,000 B
// (LL = Simple at n = 45,714 B, inside LL128's range, so LL128 wins between).
// So LL below 13,333 B, LL128 from there to 240,000 B, Simple above.
std::vector<ProtocolRegime> three_regimes() {
  return {ProtocolRegime{Protocol::ll, microseconds(2), gigabytes_per_second(5), microseconds(1)},
          ProtocolRegime{Protocol::ll128, microseconds(4), gigabytes_per_second(20), microseconds(7)},
          ProtocolRegime{Protocol::simple, microseconds(10), gigabytes_per_second(40), microseconds(30)}};
}

struct Case {
  double bytes;
  Protocol protocol;
  double time_us;  // by hand, from the table above
};

// One size well inside each regime: 4096 B = 16 key rows, 102,400 B = 400, 4,096,000 B =
// 16,000 of a K, V block (2 · 1 head · 64 · 2 bytes = 256 B per row).
const std::vector<Case> kCases = {
    {4096, Protocol::ll, 2 + 4096.0 / 5000},               // 2.8192 us
    {102400, Protocol::ll128, 4 + 102400.0 / 20000},       // 9.12 us
    {4096000, Protocol::simple, 10 + 4096000.0 / 40000},   // 112.4 us
};

TEST(Pricing, EachRegimeIsTheFastestInItsRangeOfSizes) {
  // The link (100 GB/s, 1 us) is wider than every regime: the regimes' own figures apply,
  // the link's latency gives way to the regime's.
  const LinkSpec link{gigabytes_per_second(100), microseconds(1)};
  LinkCalibration cal;
  cal.protocols = three_regimes();
  for (const Case& c : kCases) {
    const HopPrice p = price_hop(link, cal, Bytes(c.bytes));
    EXPECT_EQ(p.protocol, c.protocol) << c.bytes;
    EXPECT_NEAR(to_microseconds(p.time(Bytes(c.bytes))), c.time_us, 1e-9) << c.bytes;
  }
  // The base latency comes with the regime: paid once per collective, never per hop.
  EXPECT_NEAR(to_microseconds(price_hop(link, cal, Bytes(4096)).base_latency), 1, 1e-12);
  EXPECT_NEAR(to_microseconds(price_hop(link, cal, Bytes(4096000)).base_latency), 30, 1e-12);
  // Either side of the crossovers.
  EXPECT_EQ(price_hop(link, cal, Bytes(13000)).protocol, Protocol::ll);
  EXPECT_EQ(price_hop(link, cal, Bytes(13700)).protocol, Protocol::ll128);
  EXPECT_EQ(price_hop(link, cal, Bytes(239000)).protocol, Protocol::ll128);
  EXPECT_EQ(price_hop(link, cal, Bytes(241000)).protocol, Protocol::simple);

  // No regime is faster than the wire it runs on: on a 25 GB/s link Simple moves 4 MB in
  // 10 + 4,096,000 / 25,000 = 173.84 us, not 112.4.
  const HopPrice narrow = price_hop(LinkSpec{gigabytes_per_second(25), microseconds(1)}, cal, Bytes(4096000));
  EXPECT_EQ(narrow.protocol, Protocol::simple);
  EXPECT_NEAR(to_microseconds(narrow.time(Bytes(4096000))), 173.84, 1e-9);

  // Without regimes: the nominal link, its figures replaced field by field.
  LinkCalibration plain;
  plain.bandwidth = gigabytes_per_second(50);
  const HopPrice p = price_hop(link, plain, Bytes(1e6));
  EXPECT_EQ(p.protocol, Protocol::simple);
  EXPECT_NEAR(to_microseconds(p.time(Bytes(1e6))), 1 + 20, 1e-9);
  EXPECT_EQ(p.base_latency, Seconds(0));
}

// Two GPUs joined by one link class, the three regimes calibrated on it: inside a node
// (1 node x 2 GPUs) or across nodes (2 nodes x 1 GPU). Nominal links are wider than every
// regime and have latencies of their own, which the regimes replace.
Scenario two_gpus(LinkClass lc) {
  Scenario s;
  s.cluster = find_cluster("azure-ndv4")->cluster;
  s.cluster.nodes = lc == LinkClass::intra_node ? 1 : 2;
  s.cluster.gpus_per_node = lc == LinkClass::intra_node ? 2 : 1;
  s.cluster.nics_per_node = 1;
  s.cluster.intra = LinkSpec{gigabytes_per_second(100), microseconds(1)};
  s.cluster.inter = LinkSpec{gigabytes_per_second(100), microseconds(3)};
  (lc == LinkClass::intra_node ? s.calibration.intra_node : s.calibration.inter_node).protocols = three_regimes();
  s.shape.heads = 1;
  s.shape.kv_heads = 1;
  s.shape.head_dim = 64;
  s.shape.dtype = DType::fp16;
  s.shape.q_tokens = 1024;
  return s;
}

// The simulator's time for one message of `bytes` from rank 0 to rank 1.
Seconds simulated_message(const Scenario& s, double bytes) {
  Schedule sch = test::empty_schedule(2);
  ProgramBuilder b(sch);
  b.send(0, 1, "x", {{"x", Bytes(bytes)}}, comm_stream(0), -1, 0);
  b.recv(1, 0, "x", {{"x", Bytes(bytes)}}, comm_stream(0), -1, 0);
  return simulate(sch, s.cluster, s.calibration).makespan.seconds();
}

TEST(Pricing, ClosedFormAndSimulatorAgreeOnACalibratedHop) {
  // The closed form's hop: Ring Attention's forward on 2 ranks prefetches one K, V block
  // in round 0 (eq. 8c); its round group carries that transfer's time and bytes. The
  // simulator moves the same bytes between the same two GPUs. Both must pick the case's
  // regime and agree within 0.1% (picosecond rounding is all that may separate them).
  const Mechanism ring = *parse_mechanism("ring");
  for (LinkClass lc : {LinkClass::intra_node, LinkClass::inter_node}) {
    for (const Case& c : kCases) {
      Scenario s = two_gpus(lc);
      s.shape.kv_tokens = 2 * static_cast<std::int64_t>(c.bytes / 256);
      const std::vector<RoundGroup> groups = round_groups(s, ring, Pass::fwd);
      ASSERT_FALSE(groups.empty());
      ASSERT_DOUBLE_EQ(groups[0].bytes.value(), c.bytes);
      const Seconds closed = groups[0].transfer;
      const Seconds event = simulated_message(s, c.bytes);
      const std::string what = fmt::format("{} {} B: closed form {:.6g} us, event {:.6g} us",
                                           lc == LinkClass::intra_node ? "intra" : "inter", c.bytes,
                                           to_microseconds(closed), to_microseconds(event));
      EXPECT_NEAR(to_microseconds(closed), c.time_us, 1e-9) << what;
      EXPECT_LT(std::abs(event / closed - 1.0), 1e-3) << what;
    }
  }
}

}  // namespace
}  // namespace xattn::sim
