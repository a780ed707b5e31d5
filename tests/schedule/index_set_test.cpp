// IndexSet and the layouts: block sizes, zigzag/striped membership, exact mask pair counts.
#include <gtest/gtest.h>

#include "model/schedule/index_set.hpp"
#include "model/schedule/layout.hpp"

namespace xattn {
namespace {

TEST(IndexSet, MergesAdjacentRangesAndCounts) {
  IndexSet s;
  s.add(10, 12);
  s.add(0, 5);
  s.add(5, 7);  // adjacent to [0,5): merged
  EXPECT_EQ(s.ranges().size(), 2u);
  EXPECT_EQ(s.size(), 9);
  EXPECT_EQ(s.count_below(6), 6);   // 0..5
  EXPECT_EQ(s.count_in(4, 11), 4);  // 4,5,6,10
  EXPECT_TRUE(s.contains(11));
  EXPECT_FALSE(s.contains(7));
  EXPECT_EQ(s.str(), "[0,7)+[10,12)");
}

TEST(Layout, UnevenContiguousBlocksDifferByAtMostOne) {
  // 10 tokens over 4 ranks: 3, 3, 2, 2 (the first 10 mod 4 = 2 blocks hold one more).
  EXPECT_EQ(contiguous_block(10, 4, 0), IndexSet::range(0, 3));
  EXPECT_EQ(contiguous_block(10, 4, 1), IndexSet::range(3, 6));
  EXPECT_EQ(contiguous_block(10, 4, 3), IndexSet::range(8, 10));
}

TEST(Layout, ZigzagHoldsChunksRAnd2PMinus1MinusR) {
  // 8 tokens, P = 2: chunks of 2; rank 0 holds chunks 0 and 3, rank 1 chunks 1 and 2.
  IndexSet r0 = layout_block(Layout::zigzag, 8, 2, 0);
  IndexSet want;
  want.add(0, 2);
  want.add(6, 8);
  EXPECT_EQ(r0, want);
  EXPECT_EQ(layout_block(Layout::zigzag, 8, 2, 1), IndexSet::range(2, 6));
}

TEST(Layout, StripedHoldsEveryPthToken) {
  IndexSet s = layout_block(Layout::striped, 10, 3, 1);  // 1, 4, 7
  EXPECT_EQ(s.to_vector(), (std::vector<std::int64_t>{1, 4, 7}));
}

TEST(Mask, CausalPairsOfADiagonalBlockAreATriangle) {
  // n(n+1)/2 pairs for a diagonal block of n = 5 tokens; none above the diagonal.
  MaskSpec m{Mask::causal, 10, 10, 1};
  EXPECT_EQ(m.allowed_pairs(IndexSet::range(0, 5), IndexSet::range(0, 5)), 15);
  EXPECT_EQ(m.allowed_pairs(IndexSet::range(0, 5), IndexSet::range(5, 10)), 0);
  EXPECT_EQ(m.allowed_pairs(IndexSet::range(5, 10), IndexSet::range(0, 5)), 25);
}

TEST(Mask, MediaLocalTextSpanSeesOneItem) {
  // 6 text tokens, 9 visual tokens, 3 items: span i = text {2i, 2i+1}, item i = visual
  // {3i .. 3i+2}; each text token sees 3 keys: 18 pairs in all.
  MaskSpec m{Mask::media_local, 6, 9, 3};
  EXPECT_TRUE(m.allows(2, 3));
  EXPECT_FALSE(m.allows(2, 2));
  EXPECT_EQ(m.allowed_pairs(IndexSet::range(0, 6), IndexSet::range(0, 9)), 18);
  EXPECT_EQ(m.allowed_pairs(IndexSet::range(0, 2), IndexSet::range(3, 9)), 0);
}

}  // namespace
}  // namespace xattn
