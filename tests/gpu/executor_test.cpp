// The GPU executor (gpu/executor.hpp) and its buffer inference (gpu/buffers.hpp).
// Host parts run everywhere: buffer sizes over real schedules, the causal-mask mapping,
// compute-order validation, and `xattn run` refusing without a GPU. On a GPU: every
// mechanism's fwd+bwd runs to a complete timeline, both device-sharing modes, the measured
// trace carries its settings, and LV-XAttn's and Ring's forward output equals a CPU
// reference attention.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include <nlohmann/json.hpp>

#include "gpu/attention.hpp"
#include "gpu/buffers.hpp"
#include "gpu/device.hpp"
#include "gpu/executor.hpp"
#include "model/schedule/builders.hpp"

namespace xattn::gpu {
namespace {

bool have_gpu() { return !query_devices().devices.empty(); }
#define SKIP_WITHOUT_GPU() \
  if (!have_gpu()) GTEST_SKIP() << "no GPU: " << query_devices().why_none

AttentionShape small_shape(DType t = DType::bf16) {
  AttentionShape a;
  a.batch = 1;
  a.heads = 4;
  a.kv_heads = 2;
  a.head_dim = 64;
  a.q_tokens = 96;
  a.kv_tokens = 256;
  a.dtype = t;
  return a;
}

Schedule build(const std::string& mech, Pass pass, int P, AttentionShape shape = small_shape()) {
  BuildOptions b;
  b.shape = shape;
  b.ranks = P;
  return build_schedule(*parse_mechanism(mech), pass, b);
}

struct Case {
  std::string mech;
  Pass pass;
  int P;
};
std::vector<Case> cases() {
  std::vector<Case> c;
  for (const char* m : {"lv-xattn", "ring", "ulysses"})
    for (Pass p : {Pass::fwd, Pass::bwd, Pass::fwd_bwd})
      for (int P : {2, 3, 4}) {
        if (std::string(m) == "ulysses" && P == 3) continue;  // 4 heads over 3 ranks: infeasible
        c.push_back({m, p, P});
      }
  return c;
}

TEST(BufferPlan, EveryBufferAnOpNamesHasASizeThatHoldsWhatMovesThroughIt) {
  for (const Case& k : cases()) {
    SCOPED_TRACE(k.mech + " " + std::string(to_string(k.pass)) + " P=" + std::to_string(k.P));
    const Schedule s = build(k.mech, k.pass, k.P);
    const BufferPlan plan = plan_buffers(s);
    ASSERT_EQ(plan.ranks.size(), static_cast<std::size_t>(k.P));
    for (int r = 0; r < k.P; ++r) {
      const RankBuffers& rb = plan.ranks[static_cast<std::size_t>(r)];
      for (const Op& op : s.programs[static_cast<std::size_t>(r)].ops) {
        for (const auto& n : op.reads()) ASSERT_TRUE(rb.index.count(n)) << n;
        for (const auto& n : op.writes()) ASSERT_TRUE(rb.index.count(n)) << n;
        if (const TransferOp* t = op.transfer()) {
          for (const Part& p : t->parts) EXPECT_GE(rb.at(p.buffer).bytes, static_cast<std::int64_t>(p.size.value())) << p.buffer;
        }
        if (const ComputeOp* c = op.compute(); c != nullptr && c->kind == ComputeKind::attention_forward) {
          const BlockShape& b = c->block;
          EXPECT_EQ(rb.at(c->q).bytes, b.batch * b.q_rows * b.heads * b.head_dim * 2) << c->q;
          EXPECT_EQ(rb.at(c->k).bytes, b.batch * b.kv_rows * b.kv_heads * b.head_dim * 2) << c->k;
          EXPECT_EQ(rb.at(c->lse).bytes, b.batch * b.q_rows * b.heads * 4) << c->lse;
          EXPECT_EQ(rb.at(c->lse).cls, BufferClass::stat);
          EXPECT_EQ(rb.at(c->o).cls, BufferClass::activation);
          EXPECT_EQ(rb.at(c->o).rows, b.q_rows);
        }
        if (const ComputeOp* c = op.compute(); c != nullptr && c->kind == ComputeKind::merge) {
          EXPECT_EQ(rb.at(c->o).bytes, rb.at(c->part_o).bytes);
          EXPECT_EQ(rb.at(c->part_lse).cls, BufferClass::stat);
          EXPECT_GT(rb.at(c->o).heads, 0);
        }
      }
      for (const auto& n : s.inputs)
        if (rb.index.count(n)) {
          EXPECT_TRUE(rb.at(n).input) << n;
        }
    }
  }
}

TEST(MaskMapping, CausalBlocksGetTheOffsetWhosePairCountIsAllowedPairs) {
  BlockShape b{8, 8, 1, 1, 64, 1, Mask::causal, 36};  // a diagonal block: 8·9/2 pairs
  MaskMapping m = map_mask(b);
  EXPECT_TRUE(m.causal);
  EXPECT_EQ(m.q_offset, 0);
  EXPECT_EQ(m.pairs, 36);
  b.allowed_pairs = 64;  // every pair: runs dense
  m = map_mask(b);
  EXPECT_FALSE(m.causal);
  EXPECT_EQ(m.pairs, 64);
  b.allowed_pairs = 0;  // none: skipped
  EXPECT_TRUE(map_mask(b).skip);
  b = BlockShape{4, 8, 1, 1, 64, 1, Mask::causal, 4 * 5 / 2 + 4 * 4};  // queries 4 past the keys' start
  m = map_mask(b);
  EXPECT_TRUE(m.causal);
  EXPECT_EQ(m.pairs, b.allowed_pairs);
  EXPECT_EQ(m.q_offset, 4);
  b = BlockShape{8, 8, 1, 1, 64, 1, Mask::dense, 64};
  EXPECT_FALSE(map_mask(b).causal);
}

TEST(ComputeOrder, DefaultIsAValidTopologicalOrderAndBadOrdersAreRefused) {
  for (const Case& k : cases()) {
    SCOPED_TRACE(k.mech + " " + std::string(to_string(k.pass)) + " P=" + std::to_string(k.P));
    const Schedule s = build(k.mech, k.pass, k.P);
    std::vector<OpId> order = default_compute_order(s);
    EXPECT_NO_THROW(validate_compute_order(s, order));
    // Two ops of one rank swapped: refused (program order); one dropped: refused.
    for (std::size_t i = 0; i + 1 < order.size(); ++i)
      if (order[i].rank == order[i + 1].rank) {
        std::vector<OpId> bad = order;
        std::swap(bad[i], bad[i + 1]);
        EXPECT_THROW(validate_compute_order(s, bad), std::invalid_argument);
        break;
      }
    std::vector<OpId> short_order(order.begin(), order.end() - 1);
    EXPECT_THROW(validate_compute_order(s, short_order), std::invalid_argument);
  }
  const Schedule s = build("ring", Pass::fwd, 2);
  std::vector<OpId> order = default_compute_order(s);
  order.push_back(order.front());
  EXPECT_THROW(validate_compute_order(s, order), std::invalid_argument);
}

// ---- on a GPU -----------------------------------------------------------------------------

void expect_complete(const Schedule& s, const Timeline& t) {
  ASSERT_EQ(t.ranks(), s.ranks());
  for (int r = 0; r < s.ranks(); ++r) {
    ASSERT_EQ(t.ops[static_cast<std::size_t>(r)].size(), s.programs[static_cast<std::size_t>(r)].ops.size());
    for (std::size_t i = 0; i < t.ops[static_cast<std::size_t>(r)].size(); ++i) {
      const OpTimes& o = t.ops[static_cast<std::size_t>(r)][i];
      EXPECT_GT(o.posted.ps(), 0) << r << "/" << i;
      EXPECT_GE(o.start, o.posted) << r << "/" << i;
      EXPECT_GE(o.end, o.start) << r << "/" << i;
      EXPECT_LE(o.end, t.makespan);
    }
    EXPECT_GT(t.compute_busy[static_cast<std::size_t>(r)].ps(), 0);
  }
}

TEST(Executor, RunsEveryMechanismForwardAndBackwardToACompleteTimeline) {
  SKIP_WITHOUT_GPU();
  for (const Case& k : cases()) {
    if (k.pass != Pass::fwd_bwd) continue;
    SCOPED_TRACE(k.mech + " fwd+bwd P=" + std::to_string(k.P));
    const Schedule s = build(k.mech, k.pass, k.P);
    for (ComputePlacement p : {ComputePlacement::per_rank_streams, ComputePlacement::one_device_stream}) {
      ExecOptions o;
      o.placement = p;
      o.link = LoopbackOptions{20.0, 5.0, true};
      Executor ex(s, o);
      Timeline t = ex.run();
      expect_complete(s, t);
      if (p == ComputePlacement::one_device_stream) {
        // One compute op at a time across all ranks: no two compute ops overlap.
        std::vector<std::pair<Time, Time>> spans;
        for (const OpId& id : ex.compute_order()) spans.emplace_back(t.at(id).start, t.at(id).end);
        for (std::size_t i = 1; i < spans.size(); ++i) EXPECT_GE(spans[i].first, spans[i - 1].second);
      }
      std::printf("%s fwd+bwd P=%d %s: makespan %.1f us\n", k.mech.c_str(), k.P, std::string(to_string(p)).c_str(),
                  t.makespan.microseconds());
    }
  }
}

TEST(Executor, NcclRunsOneRankAloneAndAsAWorldOfOneProcess) {
  // The NCCL paths on one GPU: a one-rank schedule (no transfers, but the origin barrier,
  // communicator set-up and the run) in one process (ncclCommInitAll), and through the
  // multi-process path with a world of one (the TCP bootstrap needs no peer;
  // ncclCommInitRank with rank 0's id, the settle step, the per-process timeline). Both
  // runs give a complete timeline of the same ops, merged the way `xattn run` merges.
  SKIP_WITHOUT_GPU();
  const Schedule s = build("lv-xattn", Pass::fwd_bwd, 1);
  TcpOptions tcp;
  tcp.address = TcpAddress{"127.0.0.1", 1};  // never used with a world of one
  auto boot = tcp_bootstrap(0, 1, 0, tcp);
  for (Bootstrap* b : {static_cast<Bootstrap*>(nullptr), boot.get()}) {
    SCOPED_TRACE(b == nullptr ? "one process" : "world of one");
    ExecOptions o;
    o.transport = TransportKind::nccl;
    o.bootstrap = b;
    try {
      Executor ex(s, o);
      (void)ex.run();
      Timeline t = ex.run();
      EXPECT_EQ(ex.local_ranks(), std::vector<int>{0});
      expect_complete(s, t);
    } catch (const GpuUnavailable& e) {
      GTEST_SKIP() << e.what();  // no NCCL library here
    }
  }
}

// Rows of a BSHD tensor [B][S][H][d] picked by token.
std::vector<float> pick(const std::vector<float>& x, std::int64_t B, std::int64_t S, std::int64_t H, std::int64_t d,
                        const std::vector<std::int64_t>& tokens) {
  std::vector<float> out;
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t t : tokens) {
      const float* row = x.data() + ((b * S + t) * H) * d;
      out.insert(out.end(), row, row + H * d);
    }
  return out;
}

TEST(Executor, ForwardOutputOfLvXattnAndRingEqualsPlainAttention) {
  SKIP_WITHOUT_GPU();
  const AttentionShape sh = small_shape(DType::bf16);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  auto rnd = [&](std::int64_t n) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (auto& x : v) x = std::round(u(rng) * 64.f) / 64.f;  // exact in bf16
    return v;
  };
  const auto Q = rnd(sh.batch * sh.q_tokens * sh.heads * sh.head_dim);
  const auto K = rnd(sh.batch * sh.kv_tokens * sh.kv_heads * sh.head_dim);
  const auto V = rnd(sh.batch * sh.kv_tokens * sh.kv_heads * sh.head_dim);
  AttnDims d;
  d.batch = sh.batch; d.q_rows = sh.q_tokens; d.kv_rows = sh.kv_tokens; d.heads = sh.heads; d.kv_heads = sh.kv_heads;
  d.head_dim = sh.head_dim;
  std::vector<float> O(Q.size()), L(static_cast<std::size_t>(sh.batch * sh.heads * sh.q_tokens));
  attention_forward_reference(d, Q.data(), K.data(), V.data(), O.data(), L.data());
  for (const char* mech : {"lv-xattn", "ring"})
    for (int P : {2, 3, 4}) {
      SCOPED_TRACE(std::string(mech) + " P=" + std::to_string(P));
      const Schedule s = build(mech, Pass::fwd, P, sh);
      Executor ex(s, ExecOptions{});
      for (int r = 0; r < P; ++r) {
        const RankData& rd = s.data[static_cast<std::size_t>(r)];
        ex.write(r, "q", pick(Q, sh.batch, sh.q_tokens, sh.heads, sh.head_dim, rd.q_tokens.to_vector()));
        ex.write(r, "k", pick(K, sh.batch, sh.kv_tokens, sh.kv_heads, sh.head_dim, rd.kv_tokens.to_vector()));
        ex.write(r, "v", pick(V, sh.batch, sh.kv_tokens, sh.kv_heads, sh.head_dim, rd.kv_tokens.to_vector()));
      }
      (void)ex.run();
      double worst = 0;
      for (int r = 0; r < P; ++r) {
        const RankData& rd = s.data[static_cast<std::size_t>(r)];
        const auto want = pick(O, sh.batch, sh.q_tokens, sh.heads, sh.head_dim, rd.q_tokens.to_vector());
        const auto got = ex.read(r, "o");
        ASSERT_GE(got.size(), want.size());
        for (std::size_t i = 0; i < want.size(); ++i) worst = std::max(worst, static_cast<double>(std::abs(got[i] - want[i])));
      }
      std::printf("%s fwd P=%d: largest |O - reference| = %.4g\n", mech, P, worst);
      EXPECT_LT(worst, 2e-2);  // bf16 output (8 bits of mantissa) of values below 1
    }
}

}  // namespace
}  // namespace xattn::gpu
