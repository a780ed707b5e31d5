// The numerical reference's building blocks against values worked out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "model/schedule/reference/attention.hpp"

namespace xattn::reference {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(Reference, DenseAttentionOfOneQueryAndTwoKeys) {
  // d = 1, scale 1: q = 1, keys 0 and ln 3 · 1 → logits 0, ln 3; softmax (1/4, 3/4);
  // values 4 and 8 → O = 1 + 6 = 7; LSE = log(1 + 3) = log 4.
  AttentionProblem p;
  p.shape.heads = 1;
  p.shape.kv_heads = 1;
  p.shape.head_dim = 1;
  p.shape.q_tokens = 1;
  p.shape.kv_tokens = 2;
  p.mask = MaskSpec{Mask::dense, 1, 2, 1};
  p.q = {Eigen::MatrixXd::Constant(1, 1, 1.0)};
  Eigen::MatrixXd k(2, 1), v(2, 1);
  k << 0.0, std::log(3.0);
  v << 4.0, 8.0;
  p.k = {k};
  p.v = {v};
  p.dout = {Eigen::MatrixXd::Constant(1, 1, 1.0)};
  AttentionResult r = dense_attention(p);
  EXPECT_NEAR(r.o[0](0, 0), 7.0, 1e-14);
  EXPECT_NEAR(r.lse(0, 0), std::log(4.0), 1e-14);
  // dV = P^T dO = (1/4, 3/4).
  EXPECT_NEAR(r.dv[0](0, 0), 0.25, 1e-14);
  EXPECT_NEAR(r.dv[0](1, 0), 0.75, 1e-14);
}

TEST(Reference, MergeLseIsStableAndTreatsMinusInfinityAsEmpty) {
  // log(e^1000 + e^1000) = 1000 + log 2, where e^1000 overflows a double.
  EXPECT_NEAR(merge_lse(1000.0, 1000.0), 1000.0 + std::log(2.0), 1e-12);
  EXPECT_EQ(merge_lse(-kInf, 5.0), 5.0);
  EXPECT_EQ(merge_lse(-kInf, -kInf), -kInf);
}

TEST(Reference, BlockForwardOfAnEmptyBlockIsZeroWithMinusInfinity) {
  // Causal: queries 0..1 against keys 2..3 see nothing.
  BlockContext c{MaskSpec{Mask::causal, 4, 4, 1}, 1, 1.0};
  Tile q = Tile::zeros({0, 1}, {0}, 2, 1.0), k = Tile::zeros({2, 3}, {0}, 2, 1.0);
  Tile o, lse;
  block_forward(c, q, k, k, o, lse);
  EXPECT_EQ(lse.data[0](0, 0), -kInf);
  EXPECT_EQ(o.data[0].cwiseAbs().maxCoeff(), 0.0);
}

TEST(Reference, MergingTwoHalvesEqualsTheWholeBlock) {
  // Keys split in two halves and merged must equal one block over all keys.
  BlockContext c{MaskSpec{Mask::dense, 3, 6, 1}, 1, 0.5};
  Tile q = Tile::zeros({0, 1, 2}, {0}, 2), k = Tile::zeros({0, 1, 2, 3, 4, 5}, {0}, 2), v = k;
  q.data[0] << 1, 2, -1, 0.5, 3, -2;
  k.data[0] << 0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 0.7, 0.8, -0.9, 1.0, 1.1, -1.2;
  v.data[0] << 1, 0, 0, 1, 1, 1, 2, 0, 0, 2, -1, 1;
  Tile o, lse, o1, l1, o2, l2;
  block_forward(c, q, k, v, o, lse);
  block_forward(c, q, select(k, Axis::tokens, IndexSet::range(0, 3)), select(v, Axis::tokens, IndexSet::range(0, 3)), o1, l1);
  block_forward(c, q, select(k, Axis::tokens, IndexSet::range(3, 6)), select(v, Axis::tokens, IndexSet::range(3, 6)), o2, l2);
  merge_into(o1, l1, o2, l2);
  EXPECT_LE((o1.data[0] - o.data[0]).cwiseAbs().maxCoeff(), 1e-15);
  EXPECT_LE((l1.data[0] - lse.data[0]).cwiseAbs().maxCoeff(), 1e-15);
}

}  // namespace
}  // namespace xattn::reference

#include "model/schedule/reference/executor.hpp"
#include "model/schedule/checks.hpp"

namespace xattn::reference {
namespace {

// An all-reduce written by hand over 3 ranks: rank r holds a 1-row tile of value r+1;
// every rank must end with 1 + 2 + 3 = 6 (a collective the builders do not use yet).
TEST(Reference, AllReduceSumsOnEveryMember) {
  Schedule s;
  s.programs.resize(3);
  s.inputs = {"x"};
  s.outputs = {"y"};
  std::vector<RankState> state(3);
  for (int r = 0; r < 3; ++r) {
    s.programs[static_cast<std::size_t>(r)].rank = r;
    CollectiveOp c;
    c.kind = CollectiveKind::all_reduce;
    c.group = {0, 1, 2};
    c.tag = std::string("sum");  // moved in: literal assignment trips a GCC 12 -Wrestrict false positive
    c.input = std::string("x");
    c.output = std::string("y");
    c.bytes_to = {Bytes(8), Bytes(8), Bytes(8)};
    c.bytes_to[static_cast<std::size_t>(r)] = Bytes(0);
    ProgramBuilder(s).collective(r, c, comm_stream(0), -1, "all-reduce");
    state[static_cast<std::size_t>(r)]["x"] = Tile::zeros({0}, {0}, 1, r + 1.0);
  }
  ASSERT_TRUE(check_schedule(s).ok()) << check_schedule(s).str();
  execute(s, state);
  for (int r = 0; r < 3; ++r) EXPECT_EQ(state[static_cast<std::size_t>(r)]["y"].data[0](0, 0), 6.0);
}

}  // namespace
}  // namespace xattn::reference
