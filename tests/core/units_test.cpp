// Units: arithmetic between quantities gives the right type and value.
#include <gtest/gtest.h>

#include <type_traits>

#include "model/core/units.hpp"

namespace xattn {
namespace {

TEST(Units, BytesOverRateIsSeconds) {
  // 1 GB at 25 GB/s takes 1/25 s = 0.04 s.
  Seconds t = gigabytes(1) / gigabytes_per_second(25);
  static_assert(std::is_same_v<decltype(t), Seconds>);
  EXPECT_DOUBLE_EQ(t.value(), 0.04);
}

TEST(Units, FlopsOverRateIsSeconds) {
  // 312e12 FLOPs at 312 TFLOP/s is one second.
  Seconds t = Flops(312e12) / teraflops_per_second(312);
  EXPECT_DOUBLE_EQ(t.value(), 1.0);
}

TEST(Units, ConversionsUseDecimalGigabytesAndBinaryGibibytes) {
  EXPECT_DOUBLE_EQ(gigabytes(1).value(), 1e9);
  EXPECT_DOUBLE_EQ(gibibytes(1).value(), 1073741824.0);
  EXPECT_DOUBLE_EQ(microseconds(5).value(), 5e-6);
  EXPECT_DOUBLE_EQ(to_microseconds(Seconds(2e-6)), 2.0);
}

TEST(Units, LikeQuantitiesAddCompareAndDivide) {
  Seconds a(1.5), b(0.5);
  EXPECT_DOUBLE_EQ((a + b).value(), 2.0);
  EXPECT_DOUBLE_EQ(a / b, 3.0);  // a plain ratio
  EXPECT_TRUE(b < a);
  EXPECT_DOUBLE_EQ(max(a, b).value(), 1.5);
}

// Bytes + Seconds must not compile.
template <class A, class B>
concept Addable = requires(A a, B b) { a + b; };
static_assert(!Addable<Bytes, Seconds>);
static_assert(!Addable<Flops, Bytes>);
static_assert(Addable<Bytes, Bytes>);

}  // namespace
}  // namespace xattn
