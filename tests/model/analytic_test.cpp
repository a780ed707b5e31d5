// The closed-form model against hand arithmetic (docs/model.md equation numbers in the
// comments) and against the invariants every mechanism must keep.
#include <gtest/gtest.h>

#include "model/analytic.hpp"
#include "model/scenario.hpp"

namespace xattn {
namespace {

// A cluster whose numbers make the arithmetic easy: 100 TFLOP/s at a flat 50% efficiency
// (flat_efficiency: tiles of 1 row and 1 key, no loop amortization, no split-KV, no launch
// overhead), HBM so fast that the roofline and the elementwise merges cost nothing, one
// node of 4 GPUs on 10 GB/s links with 10 µs latency.
Scenario simple(int gpus_per_node = 4, int nodes = 1) {
  Scenario s;
  s.model.name = "test";
  s.model.heads = 8;
  s.model.kv_heads = 2;
  s.model.head_dim = 128;
  s.model.text_hidden = 1024;
  s.model.visual_hidden = 1024;
  s.model.cross_attention_layers = 1;
  s.batch = 1;
  s.text_tokens = 1024;
  s.frames = 16;
  s.tokens_per_frame = 1024;
  s.shape = AttentionShape{1, 8, 2, 128, 1024, 16384, DType::fp16, Mask::dense};
  s.cluster.gpu = GpuSpec{"test-gpu", FlopsPerSecond(100e12), FlopsPerSecond(10e12), BytesPerSecond(1e24),
                          gigabytes(80), 100};
  s.cluster.nodes = nodes;
  s.cluster.gpus_per_node = gpus_per_node;
  s.cluster.nics_per_node = gpus_per_node;
  s.cluster.intra = LinkSpec{gigabytes_per_second(10), microseconds(10)};
  s.cluster.inter = LinkSpec{gigabytes_per_second(10), microseconds(10)};
  s.calibration.compute = flat_efficiency(0.5);
  s.mechanisms = default_mechanisms();
  return s;
}

constexpr Mechanism kLv{MechanismKind::lv_xattn, 0};
constexpr Mechanism kRing{MechanismKind::ring, 0};
constexpr Mechanism kUlysses{MechanismKind::ulysses, 0};
constexpr Mechanism kNoComm{MechanismKind::no_comm, 0};

// P = 4: q = 1024/4 = 256 query rows and k = 16384/4 = 4096 KV rows per rank.
// Block forward FLOPs (eq. 1): 4·B·H·q·k·d = 4·1·8·256·4096·128 = 4,294,967,296;
// at 100 TFLOP/s × 0.5 (eq. 4) that is 85.89934592 µs.
constexpr double kBlockUs = 4.0 * 8 * 256 * 4096 * 128 / 50e12 * 1e6;

TEST(Analytic, LvXAttnForwardByHand) {
  Scenario s = simple();
  // eq. 8a: Q block = B·H·q·d·b = 8·256·128·2 = 524,288 B -> 10 µs + 52.4288 µs;
  // accumulator = B·H·q·(d·b + 4) = 8·256·260 = 532,480 B -> 10 µs + 53.248 µs.
  const double tq = 10 + 52.4288, ta = 10 + 53.248;
  // Round 0: max(block, tq); rounds 1-2: the Q block and the accumulator share the hop,
  // one latency and both sizes: 10 + 105.6768 µs; round 3: max(block, ta); then the last
  // accumulator comes home, exposed (eq. 7).
  const double tqa = 10 + 52.4288 + 53.248;
  const double expect = std::max(kBlockUs, tq) + 2 * std::max(kBlockUs, tqa) + std::max(kBlockUs, ta) + ta;
  Estimate e = estimate(s, kLv, Pass::fwd);
  ASSERT_TRUE(e.feasible);
  EXPECT_NEAR(e.time.value() * 1e6, expect, 1e-6);
  EXPECT_NEAR(e.compute.value() * 1e6, 4 * kBlockUs, 1e-6);
  EXPECT_NEAR(e.exposed_comm.value(), e.time.value() - e.compute.value(), 1e-15);
  // A rank sends P-1 = 3 query blocks and P = 4 accumulators.
  EXPECT_DOUBLE_EQ(e.bytes_per_rank.value(), 3 * 524288.0 + 4 * 532480.0);
  EXPECT_EQ(e.rounds, 4);
}

TEST(Analytic, RingForwardByHand) {
  Scenario s = simple();
  // eq. 8c: a K, V block = 2·B·H_kv·k·d·b = 2·2·4096·128·2 = 4,194,304 B (H_kv = 2, not
  // expanded to the 8 query heads) -> 10 µs + 419.4304 µs. Three rounds wait for it; the
  // last computes alone.
  const double tkv = 10 + 419.4304;
  Estimate e = estimate(s, kRing, Pass::fwd);
  EXPECT_NEAR(e.time.value() * 1e6, 3 * std::max(kBlockUs, tkv) + kBlockUs, 1e-6);
  EXPECT_DOUBLE_EQ(e.bytes_per_rank.value(), 3 * 4194304.0);
}

TEST(Analytic, BackwardByHand) {
  Scenario s = simple();
  // Backward blocks cost 2.5x the forward FLOPs (MECHANISMS.md).
  const double blk = 2.5 * kBlockUs;
  // eq. 8b, LV-XAttn: Q, O, dO, LSE travel together: 8·256·(3·128·2 + 4) = 1,581,056 B
  // -> 10 + 158.1056 µs; dQ accumulators one round behind: 8·256·128·2 = 524,288 B.
  const double tqodl = 10 + 158.1056, tdq = 10 + 52.4288, tqodl_dq = 10 + 158.1056 + 52.4288;
  Estimate lv = estimate(s, kLv, Pass::bwd);
  EXPECT_NEAR(lv.time.value() * 1e6,
              std::max(blk, tqodl) + 2 * std::max(blk, tqodl_dq) + std::max(blk, tdq) + tdq, 1e-6);
  // eq. 8d, Ring: K, V (4,194,304 B) and then the dK, dV accumulators (same size).
  const double tkv = 10 + 419.4304;
  Estimate ring = estimate(s, kRing, Pass::bwd);
  EXPECT_NEAR(ring.time.value() * 1e6,
              std::max(blk, tkv) + 2 * std::max(blk, 10 + 2 * 419.4304) + std::max(blk, tkv) + tkv, 1e-6);
  // fwd+bwd is the sum of the two passes.
  Estimate both = estimate(s, kRing, Pass::fwd_bwd);
  EXPECT_NEAR(both.time.value(), estimate(s, kRing, Pass::fwd).time.value() + ring.time.value(), 1e-15);
}

TEST(Analytic, UlyssesByHand) {
  Scenario s = simple();
  // P = 4 splits H = 8 into 2 heads per rank; H_kv = 2 < P, so each KV head is replicated
  // on P/H_kv = 2 ranks and every rank holds 1 KV head for the whole sequence.
  // eq. 13a: per peer, B·d·b·(q·h + 2·k·h_kv) = 128·2·(256·2 + 2·4096·1) = 2,228,224 B.
  // On an NVLink switch a GPU's 3 peers share its port: 3 × 2,228,224 B at 10 GB/s
  // = 668.4672 µs, plus one latency of 10 µs (eq. 12).
  const double a2a_qkv = 10 + 3 * 2228224 / 10e3;
  // O back: 128·2·256·2 = 131,072 B per peer -> 10 + 39.3216 µs.
  const double a2a_o = 10 + 3 * 131072 / 10e3;
  // Local attention over everything for 2 heads: 4·2·1024·16384·128 FLOPs at 50 TFLOP/s.
  const double attn = 4.0 * 2 * 1024 * 16384 * 128 / 50e12 * 1e6;
  Estimate e = estimate(s, kUlysses, Pass::fwd);
  ASSERT_TRUE(e.feasible) << e.reason;
  EXPECT_NEAR(e.time.value() * 1e6, a2a_qkv + attn + a2a_o, 1e-6);
  EXPECT_NEAR(e.compute.value() * 1e6, attn, 1e-6);
}

TEST(Analytic, UlyssesIsRefusedWithAReasonWhenHeadsDoNotSplit) {
  Scenario s = simple(3);  // P = 3 does not divide H = 8
  Estimate e = estimate(s, kUlysses, Pass::fwd);
  EXPECT_FALSE(e.feasible);
  EXPECT_NE(e.reason.find("H = 8 is not divisible by P = 3"), std::string::npos) << e.reason;
  // The other mechanisms still run.
  EXPECT_TRUE(estimate(s, kLv, Pass::fwd).feasible);
}

TEST(Analytic, UlyssesAcrossNodesSharesTheNics) {
  // 2 nodes x 2 GPUs, one NIC per node: each node sends g·(P-g)·m = 2·2·m through 1 NIC,
  // twice what one NIC per GPU would carry (eq. 12).
  Scenario one_nic = simple(2, 2);
  one_nic.cluster.nics_per_node = 1;
  one_nic.cluster.intra.bandwidth = gigabytes_per_second(1000);  // keep the NIC the bottleneck
  Scenario two_nics = one_nic;
  two_nics.cluster.nics_per_node = 2;
  const double m = 2228224;  // per-peer bytes, as above
  double t1 = estimate(one_nic, kUlysses, Pass::fwd).time.value();
  double t2 = estimate(two_nics, kUlysses, Pass::fwd).time.value();
  // Difference in the QKV all-to-all alone: 4m/10 GB/s - 2m/10 GB/s; the O all-to-all adds
  // the same with 131,072 B.
  EXPECT_NEAR(t1 - t2, 2 * m / 10e9 + 2 * 131072 / 10e9, 1e-12);
}

TEST(Analytic, UspByHand) {
  // usp:u=2 on one node of 4: two all-to-all groups of 2, then U = 2 rings of R = 2 ranks
  // (eq. 17). Each rank then holds 4 query heads and max(2/2, 1) = 1 KV head.
  Scenario s = simple();
  const Mechanism usp{MechanismKind::usp, 2};
  // eq. 13a in a group of 2: per peer 128·2·(256·4 + 2·4096·1) = 2,359,296 B, one peer:
  // 10 µs + 235.9296 µs; O back: 128·2·256·4 = 262,144 B -> 10 + 26.2144 µs.
  const double a2a = 10 + 235.9296 + 10 + 26.2144;
  // The ring: blocks of ceil(1024/2) = 512 x ceil(16384/2) = 8192 rows for 4 heads,
  // 4·4·512·8192·128 FLOPs at 50 TFLOP/s; a K, V block of 2·1·8192·128·2 = 4,194,304 B
  // stays on the node: 10 + 419.4304 µs. Round 0 waits for it; round 1 computes alone.
  const double blk = 4.0 * 4 * 512 * 8192 * 128 / 50e12 * 1e6;
  const double ring = std::max(blk, 10 + 419.4304) + blk;
  Estimate e = estimate(s, usp, Pass::fwd);
  ASSERT_TRUE(e.feasible) << e.reason;
  EXPECT_NEAR(e.time.value() * 1e6, a2a + ring, 1e-6);
  EXPECT_EQ(e.rounds, 2);
}

TEST(Analytic, UspDegeneratesToRingAndUlysses) {
  // u = 1 is Ring Attention; u = P is Ulysses (MECHANISMS.md, "Ulysses x Ring").
  for (int nodes : {1, 2}) {
    Scenario s = simple(4, nodes);
    for (Pass p : {Pass::fwd, Pass::bwd}) {
      EXPECT_NEAR(estimate(s, Mechanism{MechanismKind::usp, 1}, p).time.value(),
                  estimate(s, kRing, p).time.value(), 1e-12);
      EXPECT_NEAR(estimate(s, Mechanism{MechanismKind::usp, s.ranks()}, p).time.value(),
                  estimate(s, kUlysses, p).time.value(), 1e-12);
    }
  }
  // A degree that does not divide P, or groups that straddle nodes, are refused.
  Scenario s = simple(4, 2);
  EXPECT_FALSE(estimate(s, Mechanism{MechanismKind::usp, 3}, Pass::fwd).feasible);
  Estimate e = estimate(simple(3, 4), Mechanism{MechanismKind::usp, 4}, Pass::fwd);  // 4 ranks over nodes of 3
  EXPECT_FALSE(e.feasible);
  EXPECT_NE(e.reason.find("straddle"), std::string::npos) << e.reason;
}

TEST(Analytic, StarTrailForwardByHand) {
  // startrail:c=2 on one node of 4 (docs/schedules.md §7): 2 teams of 2, n = 4/2² = 1 team
  // per group, so the sub-rings have one rank and nothing rotates (eq. 18).
  Scenario s = simple();
  const Mechanism st{MechanismKind::startrail, 2};
  // (1) team all-gathers, one ring step each: Q shard 8·256·128·2 = 524,288 B
  // (10 + 52.4288 µs), K and V shards 2·4096·128·2 = 2,097,152 B (10 + 209.7152 µs each).
  const double gather = (10 + 52.4288) + 2 * (10 + 209.7152);
  // (2) redistribution: positions 1 and 2 swap their team's K, V (0 and 3 keep theirs):
  // 2·2·4096·2·128·2 = 8,388,608 B -> 10 + 838.8608 µs.
  const double redis = 10 + 838.8608;
  // (3) one block of the team's 512 queries against 8192 keys: 4·8·512·8192·128 FLOPs.
  const double blk = 4.0 * 8 * 512 * 8192 * 128 / 50e12 * 1e6;
  // (4) all-gather LSE, shard 2·256·8·4 = 16,384 B (10 + 1.6384 µs); sum reduce-scatter O,
  // shard 256·8·128·2 = 524,288 B (10 + 52.4288 µs).
  const double combine = (10 + 1.6384) + (10 + 52.4288);
  Estimate e = estimate(s, st, Pass::fwd);
  ASSERT_TRUE(e.feasible) << e.reason;
  EXPECT_NEAR(e.time.value() * 1e6, gather + redis + blk + combine, 1e-6);
  // C = 1 is Ring Attention (MECHANISMS.md).
  EXPECT_NEAR(estimate(s, Mechanism{MechanismKind::startrail, 1}, Pass::fwd).time.value(),
              estimate(s, kRing, Pass::fwd).time.value(), 1e-12);
  // C² must divide P and C <= sqrt(P).
  EXPECT_FALSE(estimate(s, Mechanism{MechanismKind::startrail, 3}, Pass::fwd).feasible);
  EXPECT_TRUE(estimate(s, st, Pass::bwd).feasible);
}

TEST(Analytic, StarTrailMovesAboutOneCthOfRingsKeyValueBytes) {
  // MECHANISMS.md: point to point, StarTrail's forward sends n·2C·s_kv·H_kv·d elements,
  // 1/C of Ring's 2(P-1)·s_kv·H_kv·d over a ring, in P/C² messages. With cross-attention
  // the team gathers are small next to that.
  Scenario s = simple(4, 4);  // P = 16, C = 4 -> n = 1; C = 2 -> n = 4
  s.shape.q_tokens = 256;
  s.shape.kv_tokens = 16 * 4096;
  const double ring = estimate(s, kRing, Pass::fwd).bytes_per_rank.value();
  const double st2 = estimate(s, Mechanism{MechanismKind::startrail, 2}, Pass::fwd).bytes_per_rank.value();
  // Ring: 15 blocks of 2·2·4096·128·2 = 4,194,304 B. StarTrail c=2: K, V gathered once
  // in the team (2·2,097,152 B), then n = 4 messages of 2·4,194,304 B, plus small Q, LSE
  // and O traffic: 4,194,304·(1 + 8) plus about 2% for the queries.
  EXPECT_NEAR(ring, 15 * 4194304.0, 1);
  EXPECT_NEAR(st2 / ring, 9.0 / 15.0, 0.02);
}

TEST(Analytic, StarTrailWithOneMemberPerTeamSendsWhatRingSends) {
  // c = 1: every redistribution target is the rank itself, so the forward sends exactly
  // Ring's P-1 key/value blocks (found by the schedule cross-check).
  Scenario s = simple();
  EXPECT_DOUBLE_EQ(estimate(s, Mechanism{MechanismKind::startrail, 1}, Pass::fwd).bytes_per_rank.value(),
                   estimate(s, kRing, Pass::fwd).bytes_per_rank.value());
}

TEST(Analytic, MediaLocalMaskIsRefusedWithAReason) {
  Scenario s = simple();
  s.shape.mask = Mask::media_local;
  Estimate e = estimate(s, kLv, Pass::fwd);
  EXPECT_FALSE(e.feasible);
  EXPECT_NE(e.reason.find("media-local"), std::string::npos) << e.reason;
}

TEST(Analytic, SlowestHopGatesTheRing) {
  // 2 nodes x 2 GPUs: the ring crosses nodes twice; with a 5 GB/s NIC each KV round takes
  // 10 µs + 4,194,304 B / 5 GB/s = 848.8608 µs even though NVLink is fast.
  Scenario s = simple(2, 2);
  s.cluster.intra.bandwidth = gigabytes_per_second(300);
  s.cluster.inter.bandwidth = gigabytes_per_second(5);
  const double tkv = 10 + 838.8608;
  EXPECT_NEAR(estimate(s, kRing, Pass::fwd).time.value() * 1e6, 3 * tkv + kBlockUs, 1e-6);
}

TEST(Analytic, CausalContiguousRingIsGatedByTheBusiestRank) {
  // Self-attention, S = 4096 over P = 4: blocks of n = 1024 tokens. Round 0 is the
  // diagonal block: n(n+1)/2 of n² pairs, 1025/2048 of a block. In every later round some
  // rank holds a full block (eq. 9), so the lock-step compute is 1025/2048 + 3 blocks
  // against about 2 blocks of useful work per rank: efficiency near P/(2P-1) = 4/7.
  Scenario s = simple();
  s.shape.q_tokens = s.shape.kv_tokens = 4096;
  s.shape.mask = Mask::causal;
  const double full = 4.0 * 8 * 1024 * 1024 * 128 / 50e12;
  const double diagonal = 1025.0 / 2048.0;
  Estimate nc = estimate(s, kNoComm, Pass::fwd);
  EXPECT_NEAR(nc.compute.value(), (diagonal + 3) * full, 1e-12);
  // Zigzag balances (eq. 10): round 0 has the same n(n+1)/2 pairs, every later round
  // exactly half a block on every rank.
  Estimate zz = estimate(s, Mechanism{MechanismKind::ring_zigzag, 0}, Pass::fwd);
  ASSERT_TRUE(zz.feasible) << zz.reason;
  EXPECT_NEAR(zz.compute.value(), (diagonal + 3 * 0.5) * full, 1e-12);
  // Striped (eq. 11): rank r's n tokens against the visiting ones: at most n(n+1)/2 pairs.
  Estimate st = estimate(s, Mechanism{MechanismKind::ring_stripe, 0}, Pass::fwd);
  EXPECT_NEAR(st.compute.value(), 4 * full * diagonal, 1e-12);
  // The balanced layouts are refused for dense cross-attention.
  EXPECT_FALSE(estimate(simple(), Mechanism{MechanismKind::ring_zigzag, 0}, Pass::fwd).feasible);
}

TEST(Analytic, OneRankHasNoCommunication) {
  Scenario s = simple(1);
  for (Mechanism m : {kLv, kRing, kUlysses, kNoComm}) {
    Estimate e = estimate(s, m, Pass::fwd_bwd);
    ASSERT_TRUE(e.feasible) << m.name();
    EXPECT_DOUBLE_EQ(e.exposed_comm.value(), 0.0) << m.name();
    EXPECT_DOUBLE_EQ(e.bytes_per_rank.value(), 0.0) << m.name();
  }
}

TEST(Analytic, UnevenBlocksUseTheLargestRank) {
  // 1000 text tokens over 3 ranks: the busiest holds ceil(1000/3) = 334 rows.
  Scenario s = simple(3);
  s.shape.q_tokens = 1000;
  s.shape.kv_tokens = 9000;  // 3000 rows each
  Estimate e = estimate(s, kNoComm, Pass::fwd);
  EXPECT_NEAR(e.compute.value(), 3 * 4.0 * 8 * 334 * 3000 * 128 / 50e12, 1e-12);
}

TEST(Analytic, LvXAttnPerRoundBytesDoNotDependOnKvTokensAndRingsNotOnQueryTokens) {
  Scenario a = simple(), b = simple();
  b.shape.kv_tokens *= 8;
  auto bytes = [](const Scenario& s, Mechanism m) { return round_groups(s, m, Pass::fwd)[1].bytes.value(); };
  EXPECT_DOUBLE_EQ(bytes(a, kLv), bytes(b, kLv));
  EXPECT_NE(bytes(a, kRing), bytes(b, kRing));
  Scenario c = simple();
  c.shape.q_tokens *= 8;
  EXPECT_DOUBLE_EQ(bytes(a, kRing), bytes(c, kRing));
  EXPECT_NE(bytes(a, kLv), bytes(c, kLv));
}

TEST(Analytic, RoundGroupsAddUpToTheEstimate) {
  // Bytes a rank sends over the rounds plus the exposed tail equal the total: in LV-XAttn
  // each rank receives what its predecessor sends, P-1 query blocks and P accumulators.
  Scenario s = simple();
  double sum = 0;
  for (const auto& g : round_groups(s, kLv, Pass::fwd)) sum += g.bytes.value() * g.count;
  const double q_block = 524288, acc = 532480;
  EXPECT_DOUBLE_EQ(sum + acc, estimate(s, kLv, Pass::fwd).bytes_per_rank.value());
  EXPECT_DOUBLE_EQ(sum + acc, 3 * q_block + 4 * acc);
}

TEST(Analytic, MemoryByHandAndRecomputationSaves) {
  Scenario s = simple();
  s.model.cross_attention_layers = 3;
  // LV-XAttn forward (eq. 15a): inputs Q_i (8·256·128·2 = 524,288) + K_i, V_i
  // (2·2·4096·128·2 = 4,194,304); outputs O_i + LSE_i = 8·256·(256 + 4) = 532,480.
  Estimate f = estimate(s, kLv, Pass::fwd);
  EXPECT_DOUBLE_EQ(f.memory.inputs.value(), 524288.0 + 4194304.0);
  EXPECT_DOUBLE_EQ(f.memory.outputs.value(), 532480.0);
  EXPECT_DOUBLE_EQ(f.memory.saved.value(), 0.0);  // inference keeps nothing
  // Training keeps, for each of the other 2 layers (eq. 16): the input 256·1024·2 =
  // 524,288; Q, O, LSE 8·256·(2·256 + 4) = 1,056,768; K, V 4,194,304; plus the shared
  // visual features 4096·1024·2 = 8,388,608.
  Estimate b = estimate(s, kLv, Pass::bwd);
  EXPECT_DOUBLE_EQ(b.memory.saved.value(), 2 * (524288.0 + 1056768.0 + 4194304.0) + 8388608.0);
  // With recomputation only the input, O and LSE stay: 524,288 + 8·256·260 per layer.
  s.recompute = true;
  Estimate r = estimate(s, kLv, Pass::bwd);
  EXPECT_DOUBLE_EQ(r.memory.saved.value(), 2 * (524288.0 + 532480.0) + 8388608.0);
  // ... and the backward pays for re-projecting Q (2·256·1024·8·128 FLOPs) and K, V
  // (2·2·4096·1024·2·128) at 75% of 100 TFLOP/s.
  const double re = (2.0 * 256 * 1024 * 8 * 128 + 4.0 * 4096 * 1024 * 2 * 128) / 75e12;
  EXPECT_NEAR(r.time.value() - b.time.value(), re, 1e-12);
}

TEST(Analytic, FitsComparesAgainstCapacityMinusReserved) {
  Scenario s = simple();
  Estimate e = estimate(s, kRing, Pass::fwd);
  EXPECT_TRUE(e.fits);
  s.memory_reserved = s.cluster.gpu.memory - e.memory.total() * 0.5;
  EXPECT_FALSE(estimate(s, kRing, Pass::fwd).fits);
}

TEST(Analytic, Fp32AccumulatorsDoubleTheirBytes) {
  Scenario s = simple();
  double act = round_groups(s, kLv, Pass::fwd)[2].bytes.value();  // last round: accumulator only
  s.accumulator = AccumulatorDType::fp32;
  double fp32 = round_groups(s, kLv, Pass::fwd)[2].bytes.value();
  // O: 8·256·128 elements at 2 vs 4 bytes; LSE 8·256·4 bytes either way.
  EXPECT_DOUBLE_EQ(act, 8 * 256 * (128 * 2 + 4.0));
  EXPECT_DOUBLE_EQ(fp32, 8 * 256 * (128 * 4 + 4.0));
}

}  // namespace
}  // namespace xattn
