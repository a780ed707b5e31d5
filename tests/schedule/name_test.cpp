// Name (interned 4-byte buffer names and tags) and SmallVec (in-place small lists): the
// two compact building blocks of an Op. Expected values follow from their contracts in
// name.hpp and small_vec.hpp.
#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "model/schedule/name.hpp"
#include "model/schedule/schedule.hpp"
#include "model/schedule/small_vec.hpp"

namespace xattn {
namespace {

TEST(Name, EqualExactlyWhenTheTextsAreEqual) {
  const Name a("ring.k0"), b(std::string("ring.k0")), c("ring.k1");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.id(), b.id());
  EXPECT_NE(a, c);
  EXPECT_EQ(a.str(), "ring.k0");
  EXPECT_EQ(c.view(), "ring.k1");
  EXPECT_EQ(sizeof(Name), 4U);  // the point of interning: an op names ten buffers
}

TEST(Name, EmptyTextIsTheNullName) {
  const Name none, blank("");
  EXPECT_TRUE(none.empty());
  EXPECT_TRUE(blank.empty());
  EXPECT_EQ(none, blank);
  EXPECT_EQ(none.id(), 0U);
  EXPECT_EQ(none.str(), "");
  EXPECT_EQ(none.size(), 0U);
}

TEST(Name, OrdersByTextNotByInterningOrder) {
  // Interned in reverse alphabetical order; sorting must still give alphabetical order.
  const Name z("name_test.zeta"), m("name_test.mu"), a("name_test.alpha");
  std::vector<Name> names{z, a, m};
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names[0], a);
  EXPECT_EQ(names[1], m);
  EXPECT_EQ(names[2], z);
  EXPECT_GT(z, a);
}

TEST(Name, PoolCountsEachTextOnce) {
  const std::size_t before = Name::pool_size();
  const Name first("name_test.counted");
  const std::size_t after_first = Name::pool_size();
  const Name again("name_test.counted");
  EXPECT_EQ(after_first, before + 1);
  EXPECT_EQ(Name::pool_size(), after_first);
  EXPECT_EQ(first, again);
}

TEST(Name, ThreadsInterningTheSameTextsAgree) {
  // Four threads intern the same 3000 texts (crossing the pool's 4096-entry chunks once
  // the other tests' names are counted) in different orders; every thread must get the
  // same Name for the same text, and read the text back.
  constexpr int texts = 3000, threads = 4;
  std::vector<std::vector<Name>> got(threads, std::vector<Name>(texts));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (int k = 0; k < texts; ++k) {
        const int i = t % 2 == 0 ? k : texts - 1 - k;
        got[static_cast<std::size_t>(t)][static_cast<std::size_t>(i)] = Name("name_test.thread." + std::to_string(i));
      }
    });
  for (auto& th : pool) th.join();
  for (int i = 0; i < texts; ++i) {
    const Name n = got[0][static_cast<std::size_t>(i)];
    EXPECT_EQ(n.str(), "name_test.thread." + std::to_string(i));
    for (int t = 1; t < threads; ++t) EXPECT_EQ(got[static_cast<std::size_t>(t)][static_cast<std::size_t>(i)], n);
  }
}

TEST(SmallVec, StaysInPlaceUpToItsCapacityThenMovesToTheHeap) {
  SmallVec<int, 4> v;
  EXPECT_EQ(sizeof(v), 24U);  // four ints in place, or the heap pointer: one or the other
  for (int i = 0; i < 4; ++i) v.push_back(i);
  EXPECT_EQ(v.capacity(), 4U);
  const int* in_place = v.data();
  EXPECT_TRUE(in_place >= reinterpret_cast<const int*>(&v) && in_place < reinterpret_cast<const int*>(&v + 1));
  v.push_back(4);  // the fifth: grows to the heap, keeping the first four
  EXPECT_EQ(v.capacity(), 8U);
  EXPECT_EQ(v.size(), 5U);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(v[static_cast<std::size_t>(i)], i);
  for (int i = 5; i < 20; ++i) v.push_back(i);
  EXPECT_EQ(v.size(), 20U);
  EXPECT_EQ(v.back(), 19);
}

TEST(SmallVec, CopiesAndMovesKeepTheValues) {
  SmallVec<int, 2> small{7, 8};
  SmallVec<int, 2> big{1, 2, 3, 4, 5};
  SmallVec<int, 2> small_copy(small), big_copy(big);
  EXPECT_EQ(small_copy, small);
  EXPECT_EQ(big_copy, big);
  big_copy[0] = 99;  // a copy owns its own heap block
  EXPECT_EQ(big[0], 1);

  SmallVec<int, 2> moved(std::move(big));
  EXPECT_EQ(moved, (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_TRUE(big.empty());  // NOLINT(bugprone-use-after-move): the contract says empty
  EXPECT_EQ(big.capacity(), 2U);
  big.push_back(6);  // a moved-from list is usable again
  EXPECT_EQ(big, (std::vector<int>{6}));

  moved = std::move(small);  // heap to in-place: the old block is released (ASan would see a leak)
  EXPECT_EQ(moved, (std::vector<int>{7, 8}));
  moved = big_copy;          // in-place to heap by copy
  EXPECT_EQ(moved, (std::vector<int>{99, 2, 3, 4, 5}));
  moved = {4};
  EXPECT_EQ(moved, (std::vector<int>{4}));
}

TEST(Boxed, CopiesItsValueAndStaysEmptyWhenUnset) {
  Boxed<IndexSet> none;
  EXPECT_FALSE(none);
  Boxed<IndexSet> rows = IndexSet::range(3, 7);
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows->size(), 4);
  Boxed<IndexSet> copy = rows;  // a deep copy: its own set, equal to the first
  ASSERT_TRUE(copy);
  EXPECT_EQ(*copy, *rows);
  EXPECT_NE(&*copy, &*rows);
  copy = none;
  EXPECT_FALSE(copy);
  EXPECT_TRUE(rows);
  Boxed<IndexSet> moved = std::move(rows);
  EXPECT_EQ(moved->size(), 4);
  EXPECT_EQ(sizeof(Boxed<IndexSet>), sizeof(void*));
}

TEST(Op, PacksIntoFewBytes) {
  // The figure behind the 1024-GPU scale goal (issue 4): a Ring fwd+bwd schedule there is
  // 11.5 million ops. 192 bytes bounds today's layout (184 with GCC 12 on x86-64);
  // growing past it costs gigabytes and seconds of page zeroing at that scale.
  EXPECT_LE(sizeof(Op), 192U);
  EXPECT_LE(sizeof(ComputeOp), 144U);
}

}  // namespace
}  // namespace xattn
